/* fuzz_path: the segment-aware path helpers of moq-lite (core/moq/lite.h) and its UTF-8 check.
 *
 * Input: two strings separated by the first 0xff byte (path, then prefix). Checked:
 *   - moq_utf8_valid agrees with an independent validator (fuzz_utf8_valid);
 *   - moq_path_normalize is idempotent, keeps the segments, never writes past outlen and refuses too
 *     small a buffer only when the result does not fit;
 *   - moq_path_join of two paths has the segments of both and the first as a prefix;
 *   - has_prefix / strip_prefix agree, and a path stripped of a prefix joins back to itself;
 *   - moq_path_check agrees with the limits it enforces. */
#include "fuzz.h"

#include <stdbool.h>

#include "moq/lite.h"

/* Checks normalize on p and returns its result in out (room for outlen). */
static int normalize(moq_str p, char *out, size_t outlen) {
  int n = moq_path_normalize(p, out, outlen);
  if (n < 0) {
    FUZZ_CHECK(n == MOQ_ERR_TOO_LARGE);
    return n;
  }
  FUZZ_CHECK((size_t)n < outlen && out[n] == '\0');
  moq_str s = {(const uint8_t *)out, (size_t)n};
  FUZZ_CHECK(moq_path_segments(s) == moq_path_segments(p));
  if (n > 0) FUZZ_CHECK(out[0] != '/' && out[n - 1] != '/');
  FUZZ_CHECK(n == 0 || strstr(out, "//") == NULL);
  /* idempotent, and exactly n + 1 bytes are enough */
  char again[2200];
  FUZZ_CHECK(moq_path_normalize(s, again, (size_t)n + 1) == n && memcmp(again, out, (size_t)n + 1) == 0);
  if (n > 0) FUZZ_CHECK(moq_path_normalize(p, again, (size_t)n) == MOQ_ERR_TOO_LARGE);
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 2000) return 0;
  const uint8_t *sep = memchr(data, 0xff, size);
  size_t alen = sep ? (size_t)(sep - data) : size;
  uint8_t *a = fuzz_dup(data, alen);
  uint8_t *b = fuzz_dup(sep ? sep + 1 : data, sep ? size - alen - 1 : 0);
  moq_str path = {a, alen}, prefix = {b, sep ? size - alen - 1 : 0};

  FUZZ_CHECK(moq_utf8_valid(data, size) == fuzz_utf8_valid(data, size));
  FUZZ_CHECK(moq_utf8_valid(path.p, path.len) == fuzz_utf8_valid(path.p, path.len));

  moq_limits lim;
  moq_limits_default(&lim);
  const char *why = NULL;
  int rc = moq_path_check(path, &lim, &why);
  bool ok = path.len <= lim.max_path && fuzz_utf8_valid(path.p, path.len) && memchr(path.p, 0, path.len) == NULL &&
            moq_path_segments(path) <= lim.max_segments;
  FUZZ_CHECK((rc == 0) == ok);
  if (rc) FUZZ_CHECK(why && (rc == MOQ_ERR_MALFORMED || rc == MOQ_ERR_TOO_LARGE));

  char np[2200], nx[2200], joined[4400];
  int npn = normalize(path, np, sizeof np);
  int nxn = normalize(prefix, nx, sizeof nx);
  FUZZ_CHECK(npn >= 0 && nxn >= 0);
  /* a buffer of any size up to 63 bytes: it works exactly when the result and its NUL fit */
  if (prefix.len) {
    char small[64];
    size_t cap = (size_t)(data[0] % sizeof small);
    int n = moq_path_normalize(prefix, small, cap);
    FUZZ_CHECK(n == (cap > (size_t)nxn ? nxn : MOQ_ERR_TOO_LARGE));
  }

  /* prefix tests */
  moq_str rest;
  bool has = moq_path_has_prefix(path, prefix);
  int sp = moq_path_strip_prefix(path, prefix, &rest);
  FUZZ_CHECK(has == (sp == 1));
  moq_str npath = {(const uint8_t *)np, (size_t)npn}, nprefix = {(const uint8_t *)nx, (size_t)nxn};
  FUZZ_CHECK(moq_path_has_prefix(npath, nprefix) == has); /* the same on the normalized forms */
  FUZZ_CHECK(moq_path_has_prefix(path, path));
  FUZZ_CHECK(moq_path_has_prefix(path, (moq_str){NULL, 0}));
  if (has) {
    FUZZ_CHECK(rest.len <= path.len && (rest.len == 0 || (rest.p >= path.p && rest.p + rest.len == path.p + path.len)));
    FUZZ_CHECK(moq_path_segments(rest) + moq_path_segments(prefix) == moq_path_segments(path));
    int jn = moq_path_join(prefix, rest, joined, sizeof joined);
    FUZZ_CHECK(jn == npn && memcmp(joined, np, (size_t)npn + 1) == 0);
  }
  /* join */
  int jn = moq_path_join(path, prefix, joined, sizeof joined);
  FUZZ_CHECK(jn >= 0 && (size_t)jn <= (size_t)npn + (size_t)nxn + 1);
  moq_str js = {(const uint8_t *)joined, (size_t)jn};
  FUZZ_CHECK(moq_path_segments(js) == moq_path_segments(path) + moq_path_segments(prefix));
  FUZZ_CHECK(moq_path_has_prefix(js, path));
  FUZZ_CHECK(moq_path_join(path, prefix, joined, (size_t)jn) == MOQ_ERR_TOO_LARGE || jn == 0);
  FUZZ_CHECK(moq_path_join(path, prefix, joined, 0) == MOQ_ERR_TOO_LARGE);
  free(a);
  free(b);
  return 0;
}
