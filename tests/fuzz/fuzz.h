/* fuzz: what every libFuzzer harness in tests/fuzz shares. A harness defines LLVMFuzzerTestOneInput, is
 * built with clang -fsanitize=fuzzer,address,undefined against the sources it exercises (never against
 * the gcc-built libmoqcore.a), frees everything it allocates per input and checks cheap invariants with
 * FUZZ_CHECK, which aborts (a crash libFuzzer saves and reports) naming the broken invariant. */
#ifndef MOQ_TESTS_FUZZ_H
#define MOQ_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with the file, line and condition when cond is false (never compiled out, unlike assert). */
#define FUZZ_CHECK(cond)                                                                                   \
  do {                                                                                                     \
    if (!(cond)) {                                                                                         \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);                         \
      abort();                                                                                             \
    }                                                                                                      \
  } while (0)

/* A reader over the fuzzer's bytes: harnesses take selector bytes from the front, the rest is input. */
typedef struct fuzz_in {
  const uint8_t *p; /* borrowed: the fuzzer's input */
  size_t len;
} fuzz_in;

/* The next byte, or 0 once the input is used up. */
static inline uint8_t fuzz_u8(fuzz_in *in) {
  if (in->len == 0) return 0;
  in->len--;
  return *in->p++;
}

/* A malloc()ed exact-size copy of p[0..n), so that a read past n trips ASan (for n == 0 too: ASan's
 * malloc(0) gives a pointer with no byte behind it). */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t n) {
  uint8_t *d = malloc(n);
  if (!d) abort();
  memcpy(d, p, n);
  return d;
}

/* A malloc()ed NUL-terminated copy of p[0..n). */
static inline char *fuzz_strdup(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) abort();
  if (n) memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* An independent strict UTF-8 validator (RFC 3629 table 4), to check the relay's own against. */
static inline bool fuzz_utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t k;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c <= 0x7f) k = 0;
    else if (c >= 0xc2 && c <= 0xdf) k = 1;
    else if (c == 0xe0) k = 2, lo = 0xa0;
    else if (c >= 0xe1 && c <= 0xec) k = 2;
    else if (c == 0xed) k = 2, hi = 0x9f;
    else if (c >= 0xee && c <= 0xef) k = 2;
    else if (c == 0xf0) k = 3, lo = 0x90;
    else if (c >= 0xf1 && c <= 0xf3) k = 3;
    else if (c == 0xf4) k = 3, hi = 0x8f;
    else return false;
    if (n - i - 1 < k) return false;
    for (size_t j = 1; j <= k; j++) {
      uint8_t cc = s[i + j];
      if (j == 1 ? (cc < lo || cc > hi) : (cc < 0x80 || cc > 0xbf)) return false;
    }
    i += k + 1;
  }
  return true;
}

#endif
