#include "base/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* Parses a decimal port 0..65535 (digits only). 0, or -1 with err. */
static int parse_port(const char *text, const char *s, uint16_t *port, char *err, size_t errlen) {
  if (*s == '\0')
    return fail(err, errlen, "expected HOST:PORT, got \"%s\" (the port is missing)", text);
  unsigned long v = 0;
  for (const char *c = s; *c; c++) {
    if (*c < '0' || *c > '9')
      return fail(err, errlen, "expected HOST:PORT with a numeric port, got \"%s\"", text);
    if (v <= 65535) v = v * 10 + (unsigned long)(*c - '0');
  }
  if (v > 65535) return fail(err, errlen, "port out of range (0 to 65535) in \"%s\"", text);
  *port = (uint16_t)v;
  return 0;
}

static int all_chars_in(const char *s, const char *set) {
  for (; *s; s++)
    if (!strchr(set, *s)) return 0;
  return 1;
}

int addr_parse(const char *text, struct sockaddr_storage *out, socklen_t *outlen, char *err,
               size_t errlen) {
  char host[256];
  const char *port_text;
  size_t hostlen;
  int bracket = 0;
  uint16_t port;
  if (!text) text = "";
  if (err && errlen) err[0] = '\0';
  memset(out, 0, sizeof *out);
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (!close || close[1] != ':')
      return fail(err, errlen, "expected [IPV6]:PORT, got \"%s\"", text);
    bracket = 1;
    hostlen = (size_t)(close - text - 1);
    memcpy(host, text + 1, hostlen < sizeof host ? hostlen : 0);
    port_text = close + 2;
  } else {
    const char *colon = strrchr(text, ':');
    if (!colon) return fail(err, errlen, "expected HOST:PORT, got \"%s\"", text);
    if (memchr(text, ':', (size_t)(colon - text)))
      return fail(err, errlen,
                  "expected HOST:PORT, got \"%s\" (write IPv6 addresses in brackets: [::1]:4443)",
                  text);
    hostlen = (size_t)(colon - text);
    memcpy(host, text, hostlen < sizeof host ? hostlen : 0);
    port_text = colon + 1;
  }
  if (hostlen == 0)
    return fail(err, errlen, "expected HOST:PORT, got \"%s\" (the host is missing)", text);
  if (hostlen >= sizeof host) return fail(err, errlen, "host name too long in \"%s\"", text);
  host[hostlen] = '\0';
  if (parse_port(text, port_text, &port, err, errlen)) return -1;

  if (!bracket && all_chars_in(host, "0123456789.")) {
    struct sockaddr_in *sin = (struct sockaddr_in *)out;
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
      return fail(err, errlen, "invalid IPv4 address \"%s\"", host);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    if (outlen) *outlen = sizeof *sin;
    return 0;
  }
  if (!bracket && !all_chars_in(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789.-_"))
    return fail(err, errlen, "invalid host name \"%s\"", host);

  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = bracket ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = bracket ? AI_NUMERICHOST : 0;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0 || !res) {
    if (res) freeaddrinfo(res);
    if (bracket)
      return fail(err, errlen, "expected an IPv6 address inside [...], got \"%s\"", host);
    return fail(err, errlen, "unknown host \"%s\" (%s)", host,
                rc ? gai_strerror(rc) : "no address");
  }
  int done = 0;
  for (struct addrinfo *ai = res; ai && !done; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET && ai->ai_addrlen == sizeof(struct sockaddr_in)) {
      memcpy(out, ai->ai_addr, sizeof(struct sockaddr_in));
      ((struct sockaddr_in *)out)->sin_port = htons(port);
      if (outlen) *outlen = sizeof(struct sockaddr_in);
      done = 1;
    } else if (ai->ai_family == AF_INET6 && ai->ai_addrlen == sizeof(struct sockaddr_in6)) {
      memcpy(out, ai->ai_addr, sizeof(struct sockaddr_in6));
      ((struct sockaddr_in6 *)out)->sin6_port = htons(port);
      if (outlen) *outlen = sizeof(struct sockaddr_in6);
      done = 1;
    }
  }
  freeaddrinfo(res);
  if (!done) return fail(err, errlen, "unknown host \"%s\" (no IPv4 or IPv6 address)", host);
  return 0;
}

int addr_format(const struct sockaddr *sa, char *out, size_t outlen) {
  char host[NI_MAXHOST];
  socklen_t len;
  unsigned port;
  if (!out || outlen == 0) return -1;
  out[0] = '\0';
  if (!sa) return -1;
  if (sa->sa_family == AF_INET) {
    len = sizeof(struct sockaddr_in);
    port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    len = sizeof(struct sockaddr_in6);
    port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  } else {
    return -1;
  }
  if (getnameinfo(sa, len, host, sizeof host, NULL, 0, NI_NUMERICHOST) != 0) return -1;
  int n = snprintf(out, outlen, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
  if (n < 0 || (size_t)n >= outlen) {
    out[0] = '\0';
    return -1;
  }
  return 0;
}
