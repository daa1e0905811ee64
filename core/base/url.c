#include "base/url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int url_parse(const char *text, url *u, char *err, size_t errlen) {
  memset(u, 0, sizeof *u);
  const char *p = strstr(text, "://");
  if (!p || p == text || (size_t)(p - text) >= sizeof u->scheme) {
    snprintf(err, errlen, "\"%s\": expected SCHEME://HOST[:PORT]/PATH (e.g. moql://localhost:4443/anon)", text);
    return -1;
  }
  for (size_t i = 0; text + i < p; i++) u->scheme[i] = (char)tolower((unsigned char)text[i]);
  const char *h = p + 3, *hend;
  if (*h == '[') {
    hend = strchr(h, ']');
    if (!hend) {
      snprintf(err, errlen, "\"%s\": unterminated [IPv6] host", text);
      return -1;
    }
    if ((size_t)(hend - h - 1) >= sizeof u->host) goto toolong;
    memcpy(u->host, h + 1, (size_t)(hend - h - 1));
    hend++;
  } else {
    hend = h + strcspn(h, ":/?#");
    if ((size_t)(hend - h) >= sizeof u->host) goto toolong;
    memcpy(u->host, h, (size_t)(hend - h));
  }
  if (!u->host[0]) {
    snprintf(err, errlen, "\"%s\": no host", text);
    return -1;
  }
  u->port = strcmp(u->scheme, "http") == 0 ? 80 : 443;
  const char *rest = hend;
  if (*rest == ':') {
    char *end;
    long port = strtol(rest + 1, &end, 10);
    if (end == rest + 1 || port < 1 || port > 65535 || (*end && !strchr("/?#", *end))) {
      snprintf(err, errlen, "\"%s\": the port must be a number from 1 to 65535", text);
      return -1;
    }
    u->port = (int)port;
    rest = end;
  } else if (*rest && !strchr("/?#", *rest)) {
    snprintf(err, errlen, "\"%s\": unexpected '%c' after the host", text, *rest);
    return -1;
  }
  size_t plen = strcspn(rest, "?#");
  if (plen >= sizeof u->path - 1) goto toolong;
  if (plen == 0 || rest[0] != '/') {
    u->path[0] = '/';
    memcpy(u->path + 1, rest, plen);
  } else {
    memcpy(u->path, rest, plen);
  }
  if (rest[plen] == '?') {
    size_t qlen = strcspn(rest + plen + 1, "#");
    if (qlen >= sizeof u->query) goto toolong;
    memcpy(u->query, rest + plen + 1, qlen);
  }
  return 0;
toolong:
  snprintf(err, errlen, "\"%.60s...\": too long", text);
  return -1;
}

int url_path_and_query(const url *u, char *out, size_t outlen) {
  int n = u->query[0] ? snprintf(out, outlen, "%s?%s", u->path, u->query) : snprintf(out, outlen, "%s", u->path);
  return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
