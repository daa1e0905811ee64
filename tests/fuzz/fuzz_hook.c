/* fuzz_hook: what the hook layer (core/hook/hook.h) parses out of a connecting peer's URL:
 * hook_session_init's path normalisation, query split and ?jwt= extraction (percent-decoding), and the
 * segment prefix test plugins call (core->path_has_prefix).
 *
 * Input: up to the first 0xff byte, the URL path with ?query; after it, a prefix. Checked: a session is
 * refused only for a path that cannot be normalised into its buffer; its path is what moq_path_normalize
 * gives, its query the bytes after the first '?', its jwt the first non-empty jwt= parameter decoded by
 * an independent decoder here; hook_path_has_prefix agrees with moq_path_has_prefix on normalised paths;
 * hook_session_free leaves nothing behind. */
#include "fuzz.h"

#include "hook/hook.h"
#include "moq/lite.h"

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* application/x-www-form-urlencoded value s[0..n): '+' is a space, %XX a byte (a broken escape stays). */
static char *decode(const char *s, size_t n) {
  char *o = malloc(n + 1);
  FUZZ_CHECK(o != NULL);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
      o[k++] = (char)(hexv(s[i + 1]) << 4 | hexv(s[i + 2]));
      i += 2;
    } else {
      o[k++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  o[k] = '\0';
  return o;
}

/* The first jwt= parameter of query q that decodes to a non-empty C string (a value like %00 does
 * not count); NULL if none. */
static char *find_jwt(const char *q) {
  while (*q) {
    size_t n = strcspn(q, "&");
    if (n > 4 && memcmp(q, "jwt=", 4) == 0) {
      char *v = decode(q + 4, n - 4);
      if (v[0]) return v;
      free(v);
    }
    q += n;
    if (*q == '&') q++;
  }
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;
  const uint8_t *sep = memchr(data, 0xff, size);
  size_t alen = sep ? (size_t)(sep - data) : size;
  char *pq = fuzz_strdup(data, alen);
  char *prefix = fuzz_strdup(sep ? sep + 1 : data, sep ? size - alen - 1 : 0);
  /* the C strings end at the first NUL, as they would coming from the relay */

  hook_session hs;
  int rc = hook_session_init(&hs, 7, "webtransport", "moq-lite-05", "192.0.2.1:4443", pq, (int)(size % 3));
  size_t plen = strcspn(pq, "?");
  char norm[1100];
  int nn = plen < sizeof norm ? moq_path_normalize((moq_str){(const uint8_t *)pq, plen}, norm, sizeof norm) : -1;
  FUZZ_CHECK((rc == 0) == (nn >= 0));
  if (rc == 0) {
    FUZZ_CHECK(strcmp(hs.path, norm) == 0 && hs.info.path == hs.path);
    const char *q = pq[plen] == '?' ? pq + plen + 1 : "";
    FUZZ_CHECK(strcmp(hs.query, q) == 0 && hs.info.query == hs.query);
    char *want = find_jwt(q);
    FUZZ_CHECK((hs.jwt == NULL) == (want == NULL));
    if (want) FUZZ_CHECK(strcmp(hs.jwt, want) == 0);
    free(want);
    FUZZ_CHECK(hs.info.jwt == hs.jwt && hs.info.id == 7 && strcmp(hs.info.transport, "webtransport") == 0);
    const char *names[2] = {prefix, "node.example"};
    FUZZ_CHECK(hook_session_set_peer(&hs, names, 2, prefix, 1) == 0);
    FUZZ_CHECK(hs.info.n_peer_names == 2 && strcmp(hs.info.peer_names[0], prefix) == 0);
    hook_session_free(&hs);
    FUZZ_CHECK(hs.path == NULL && hs.jwt == NULL && hs.peer_names == NULL);
  }

  /* the prefix test plugins get, against the codec's, on normalised paths */
  char np[8200], nx[8200];
  int a = moq_path_normalize(moq_str_c(pq), np, sizeof np);
  int b = moq_path_normalize(moq_str_c(prefix), nx, sizeof nx);
  FUZZ_CHECK(a >= 0 && b >= 0);
  FUZZ_CHECK(hook_path_has_prefix(np, nx) == (int)moq_path_has_prefix(moq_str_c(np), moq_str_c(nx)));
  FUZZ_CHECK(hook_path_has_prefix(pq, "") == 1 && hook_path_has_prefix(np, np) == 1);
  (void)hook_path_has_prefix(pq, prefix);

  /* claims copies */
  moq_claims src = {0}, dst;
  const char *list[3] = {pq, prefix, NULL};
  src.root = prefix;
  src.put = list;
  src.n_put = 3;
  src.json = pq;
  FUZZ_CHECK(hook_claims_copy(&dst, &src) == 0);
  FUZZ_CHECK(strcmp(dst.root, prefix) == 0 && dst.n_put == 3 && strcmp(dst.put[2], "") == 0 && dst.n_get == 0);
  hook_claims_free(&dst);
  free(pq);
  free(prefix);
  return 0;
}
