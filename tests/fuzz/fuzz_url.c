/* fuzz_url: url_parse (core/base/url.h), which reads relay URLs from the configuration, the command
 * line and plugins (cluster roots, route answers).
 * On success the parts obey their contracts (lowercase scheme, a host, a port from 1 to 65535, a path
 * starting with '/'), url_path_and_query fits a big enough buffer and refuses a small one, and printing
 * the parts back as a URL parses to the same parts. A refusal always says why. */
#include "fuzz.h"

#include <ctype.h>

#include "base/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;
  char *text = fuzz_strdup(data, size);
  url u;
  char err[256] = "";
  int rc = url_parse(text, &u, err, sizeof err);
  if (rc != 0) {
    FUZZ_CHECK(rc == -1 && err[0] != '\0');
    free(text);
    return 0;
  }
  FUZZ_CHECK(u.scheme[0] != '\0' && u.host[0] != '\0');
  for (const char *s = u.scheme; *s; s++) FUZZ_CHECK(!isupper((unsigned char)*s));
  FUZZ_CHECK(u.port >= 1 && u.port <= 65535);
  FUZZ_CHECK(u.path[0] == '/');
  FUZZ_CHECK(strpbrk(u.path, "?#") == NULL && strchr(u.query, '#') == NULL);

  size_t pl = strlen(u.path), ql = strlen(u.query);
  size_t need = pl + (ql ? 1 + ql : 0) + 1;
  char *pq = malloc(need);
  FUZZ_CHECK(pq != NULL);
  FUZZ_CHECK(url_path_and_query(&u, pq, need - 1) == -1);
  FUZZ_CHECK(url_path_and_query(&u, pq, need) == 0 && strlen(pq) == need - 1);

  /* print and parse again */
  int bracket = text[strlen(u.scheme) + 3] == '['; /* an [IPv6] host: no ']' inside */
  if (!bracket) FUZZ_CHECK(strpbrk(u.host, ":/?#") == NULL);
  size_t cap = strlen(u.scheme) + strlen(u.host) + pl + ql + 32;
  char *again = malloc(cap);
  FUZZ_CHECK(again != NULL);
  snprintf(again, cap, "%s://%s%s%s:%d%s", u.scheme, bracket ? "[" : "", u.host, bracket ? "]" : "", u.port, pq);
  url v;
  FUZZ_CHECK(url_parse(again, &v, err, sizeof err) == 0);
  FUZZ_CHECK(strcmp(u.scheme, v.scheme) == 0 && strcmp(u.host, v.host) == 0 && u.port == v.port);
  FUZZ_CHECK(strcmp(u.path, v.path) == 0 && strcmp(u.query, v.query) == 0);
  free(again);
  free(pq);
  free(text);
  return 0;
}
