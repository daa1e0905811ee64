#include "bench/watch_stats.h"

#include <jansson.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int failf(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

int watch_stats_init(watch_stats *w, uv_loop_t *loop, const char *hostport, char *err, size_t errlen) {
  memset(w, 0, sizeof *w);
  w->loop = loop;
  char host[256];
  const char *port;
  if (hostport[0] == '[') { /* [IPv6]:PORT */
    const char *close = strchr(hostport, ']');
    if (!close || close[1] != ':' || (size_t)(close - hostport - 1) >= sizeof host)
      return failf(err, errlen, "expected HOST:PORT or [IPv6]:PORT, got \"%s\"", hostport);
    memcpy(host, hostport + 1, (size_t)(close - hostport - 1));
    host[close - hostport - 1] = 0;
    port = close + 2;
  } else {
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host)
      return failf(err, errlen, "expected HOST:PORT or [IPv6]:PORT, got \"%s\"", hostport);
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    port = colon + 1;
  }
  char *end;
  long pn = strtol(port, &end, 10);
  if (!*port || *end || pn < 1 || pn > 65535) return failf(err, errlen, "expected a port from 1 to 65535 in \"%s\"", hostport);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai != 0 || !res) return failf(err, errlen, "%s: %s", host, gai_strerror(gai));
  memcpy(&w->addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  snprintf(w->req, sizeof w->req, "GET /stats HTTP/1.1\r\nHost: %.60s\r\nConnection: close\r\n\r\n", host);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The reply */

enum { REPLY_WHOLE, REPLY_NO_HEADERS, REPLY_SHORT };

/* Splits a reply: REPLY_WHOLE with its body (Content-Length bytes after the headers; without a
 * length, the rest up to the connection's end, at_eof), else what is missing (want: the body's
 * length, for REPLY_SHORT). */
static int reply_split(const char *r, size_t len, int at_eof, const char **body, size_t *blen, size_t *want) {
  const char *hdr_end = NULL;
  for (size_t i = 0; i + 3 < len; i++)
    if (!memcmp(r + i, "\r\n\r\n", 4)) {
      hdr_end = r + i + 4;
      break;
    }
  if (!hdr_end) return REPLY_NO_HEADERS;
  size_t have = len - (size_t)(hdr_end - r);
  *body = hdr_end;
  for (const char *p = r; p < hdr_end - 4;) {
    const char *eol = memchr(p, '\n', (size_t)(hdr_end - p));
    if (!eol) break;
    if ((size_t)(eol - p) > 15 && !strncasecmp(p, "content-length:", 15)) {
      *want = (size_t)strtoull(p + 15, NULL, 10);
      if (have < *want) return REPLY_SHORT;
      *blen = *want;
      return REPLY_WHOLE;
    }
    p = eol + 1;
  }
  *want = have;
  *blen = have;
  return at_eof ? REPLY_WHOLE : REPLY_SHORT;
}

int watch_stats_parse(const char *reply, size_t len, delay_hist *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  size_t blen = 0, want = 0;
  const char *body = NULL;
  int part = reply_split(reply, len, 1, &body, &blen, &want);
  if (part == REPLY_NO_HEADERS) return failf(err, errlen, "the reply ended before its headers did (%zu bytes)", len);
  if (part == REPLY_SHORT)
    return failf(err, errlen, "the reply ended %zu bytes into a %zu-byte body", len - (size_t)(body - reply), want);
  if (len < 12 || strncmp(reply, "HTTP/1.", 7) != 0)
    return failf(err, errlen, "not an HTTP reply: \"%.20s\"", reply);
  if (strncmp(reply + 8, " 200", 4) != 0) return failf(err, errlen, "GET /stats answered \"%.30s\"", reply);
  json_error_t je;
  json_t *root = json_loadb(body, blen, 0, &je);
  if (!root) return failf(err, errlen, "the body is not JSON: %s (line %d)", je.text, je.line);
  int rv = -1;
  json_t *ed = json_object_get(root, "egress_delay_us");
  json_t *buckets = json_is_object(ed) ? json_object_get(ed, "buckets") : NULL;
  if (!json_is_object(ed)) {
    failf(err, errlen, "no egress_delay_us object in the reply (a relay older than this moq-bench?)");
  } else if (!json_is_array(buckets)) {
    failf(err, errlen, "egress_delay_us.buckets: expected an array");
  } else {
    rv = 0;
    for (size_t i = 0; i < json_array_size(buckets) && rv == 0; i++) {
      json_t *b = json_array_get(buckets, i);
      json_t *lo = json_array_get(b, 0), *n = json_array_get(b, 1);
      if (!json_is_array(b) || json_array_size(b) != 2 || !json_is_integer(lo) || !json_is_integer(n) ||
          json_integer_value(lo) < 0 || json_integer_value(n) < 0) {
        rv = failf(err, errlen, "egress_delay_us.buckets[%zu]: expected [lower, count], two integers from 0", i);
        break;
      }
      uint64_t l = (uint64_t)json_integer_value(lo);
      unsigned k = delay_hist_bucket(l);
      if (delay_hist_lower(k) != l) {
        rv = failf(err, errlen, "egress_delay_us.buckets[%zu]: %llu is not a bucket's lower edge", i,
                   (unsigned long long)l);
        break;
      }
      out->n[k] += (uint64_t)json_integer_value(n);
    }
  }
  json_decref(root);
  if (rv) memset(out, 0, sizeof *out);
  return rv;
}

/* ------------------------------------------------------------------------------------------ */
/* The GET */

static void on_closed(uv_handle_t *h) {
  ((watch_stats *)h->data)->handles--;
}

static void finish(watch_stats *w, const char *why) {
  if (w->done) return;
  w->done = 1;
  if (why) snprintf(w->err, sizeof w->err, "%s", why);
  else w->ok = watch_stats_parse(w->reply, w->len, &w->hist, w->err, sizeof w->err) == 0;
  uv_timer_stop(&w->timer);
  uv_close((uv_handle_t *)&w->tcp, on_closed);
  uv_close((uv_handle_t *)&w->timer, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf) {
  watch_stats *w = h->data;
  (void)want;
  if (!w->reply) w->reply = malloc(WATCH_STATS_MAX_REPLY + 1);
  *buf = uv_buf_init(w->reply ? w->reply + w->len : NULL, w->reply ? (unsigned)(WATCH_STATS_MAX_REPLY - w->len) : 0);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  watch_stats *w = s->data;
  (void)buf;
  if (w->done) return;
  if (n == UV_ENOBUFS || (n > 0 && w->len + (size_t)n >= WATCH_STATS_MAX_REPLY)) {
    finish(w, w->reply ? "the reply is larger than 64 KiB" : "out of memory");
    return;
  }
  if (n < 0) {
    if (n == UV_EOF) finish(w, NULL);
    else {
      char why[120];
      snprintf(why, sizeof why, "reading the reply: %s", uv_strerror((int)n));
      finish(w, why);
    }
    return;
  }
  w->len += (size_t)n;
  w->reply[w->len] = 0;
  const char *body;
  size_t blen, want;
  if (reply_split(w->reply, w->len, 0, &body, &blen, &want) == REPLY_WHOLE) finish(w, NULL);
}

static void on_write(uv_write_t *req, int status) {
  watch_stats *w = req->data;
  if (status < 0 && !w->done) {
    char why[120];
    snprintf(why, sizeof why, "sending the request: %s", uv_strerror(status));
    finish(w, why);
  }
}

static void on_connect(uv_connect_t *req, int status) {
  watch_stats *w = req->data;
  if (w->done) return;
  if (status < 0) {
    char why[120];
    snprintf(why, sizeof why, "connecting: %s", uv_strerror(status));
    finish(w, why);
    return;
  }
  uv_buf_t b = uv_buf_init(w->req, (unsigned)strlen(w->req));
  w->write.data = w;
  int rv = uv_write(&w->write, (uv_stream_t *)&w->tcp, &b, 1, on_write);
  if (rv == 0) rv = uv_read_start((uv_stream_t *)&w->tcp, on_alloc, on_read);
  if (rv < 0) {
    char why[120];
    snprintf(why, sizeof why, "sending the request: %s", uv_strerror(rv));
    finish(w, why);
  }
}

static void on_timeout(uv_timer_t *t) { finish(t->data, "no complete reply within 3 s"); }

void watch_stats_get(watch_stats *w) {
  if (w->handles || w->done) return;
  w->handles = 2;
  uv_tcp_init(w->loop, &w->tcp);
  uv_timer_init(w->loop, &w->timer);
  w->tcp.data = w->timer.data = w->connect.data = w;
  uv_timer_start(&w->timer, on_timeout, WATCH_STATS_TIMEOUT_MS, 0);
  int rv = uv_tcp_connect(&w->connect, &w->tcp, (const struct sockaddr *)&w->addr, on_connect);
  if (rv < 0) {
    char why[120];
    snprintf(why, sizeof why, "connecting: %s", uv_strerror(rv));
    finish(w, why);
  }
}

void watch_stats_free(watch_stats *w) {
  free(w->reply);
  w->reply = NULL;
  w->len = 0;
}
