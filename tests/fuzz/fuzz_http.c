/* fuzz_http: the HTTP/1.1 request path of core/http/http_server.c (http-parser driven by our request
 * assembly: head buffer, header list, target split, limits, pipelining, backpressure, upgrades) and the
 * WebSocket handshake checks of core/ws/ws_handshake.c that answer upgrade requests.
 *
 * No socket is opened. The harness includes http_server.c itself and replaces the libuv stream calls it
 * makes (uv_read_start/stop, uv_write, uv_shutdown, uv_accept, uv_tcp_getpeername, uv_tcp_nodelay) with
 * fakes: "reads" hand the input to the server's own read callback in pieces, "writes" are collected and
 * completed between pieces. Handles, timers and closes are real libuv on a private loop, so the
 * connection's whole lifetime (drain, close, hand-over) runs as in the relay.
 *
 * Input: byte 0 holds flags (on_upgrade present, upgrades refused, writes failing, small limits, IPv6
 * peer), byte 1 the response the handler gives, byte 2 seeds the piece sizes; the rest is what the
 * client sends. Checked: every request the handler sees obeys http_request's contract, every response
 * written is a well-formed head (CRLF lines, no header injection) followed by at most Content-Length
 * bytes, and once the peer is gone every connection is freed (LeakSanitizer checks the memory). */
#include "fuzz.h"

#include <uv.h>

static int fake_write(uv_write_t *req, uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs,
                      uv_write_cb cb);
static int fake_shutdown(uv_shutdown_t *req, uv_stream_t *handle, uv_shutdown_cb cb);
static int fake_read_start(uv_stream_t *stream, uv_alloc_cb alloc_cb, uv_read_cb read_cb);
static int fake_read_stop(uv_stream_t *stream);
static int fake_accept(uv_stream_t *server, uv_stream_t *client);
static int fake_getpeername(const uv_tcp_t *handle, struct sockaddr *name, int *namelen);
static int fake_nodelay(uv_tcp_t *handle, int enable);

#define uv_write fake_write
#define uv_shutdown fake_shutdown
#define uv_read_start fake_read_start
#define uv_read_stop fake_read_stop
#define uv_accept fake_accept
#define uv_tcp_getpeername fake_getpeername
#define uv_tcp_nodelay fake_nodelay
#include "http/http_server.c"
#undef uv_write
#undef uv_shutdown
#undef uv_read_start
#undef uv_read_stop
#undef uv_accept
#undef uv_tcp_getpeername
#undef uv_tcp_nodelay

#include "base/log.h"
#include "ws/ws_handshake.h"

static const char *const fuzz_alpns[] = {"moq-lite-04", "moql"};

enum {
  F_ON_UPGRADE = 0x01,    /* the server has an on_upgrade callback */
  F_REFUSE_UPGRADE = 0x02, /* on_upgrade answers -1 (400) for valid handshakes */
  F_WRITE_FAILS = 0x04,    /* writes complete with EPIPE */
  F_SMALL = 0x08,          /* small head, body and output limits */
  F_IPV6 = 0x10,           /* the peer is an IPv6 address (0x20: an IPv4-mapped one) */
  F_IPV4_MAPPED = 0x20,
};

#define MAX_PENDING 4096

/* The fakes' state for the current input. */
static struct {
  uv_loop_t loop;
  http_server *srv;
  uint8_t flags, answer;
  /* reading */
  uv_stream_t *reader;
  uv_alloc_cb alloc_cb;
  uv_read_cb read_cb;
  /* writes and shutdowns not yet completed */
  uv_write_t *writes[MAX_PENDING];
  uv_write_cb write_cbs[MAX_PENDING];
  size_t nwrites;
  uv_shutdown_t *shutdown;
  uv_shutdown_cb shutdown_cb;
  size_t upgrades;
} st;

/* ---- fakes ---- */

/* Checks one response the server writes. */
static void check_response(const char *p, size_t n) {
  FUZZ_CHECK(n >= 12 && memcmp(p, "HTTP/1.1 ", 9) == 0);
  const char *end = NULL;
  for (size_t i = 0; i + 4 <= n; i++)
    if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
      end = p + i;
      break;
    }
  FUZZ_CHECK(end != NULL);
  size_t head = (size_t)(end - p) + 2; /* the head with its last CRLF */
  for (size_t i = 0; i < head; i++) {
    if (p[i] == '\r') FUZZ_CHECK(p[i + 1] == '\n');
    if (p[i] == '\n') FUZZ_CHECK(i > 0 && p[i - 1] == '\r');
    FUZZ_CHECK(p[i] != '\0');
  }
  size_t clen = 0;
  const char *cl = NULL;
  for (const char *q = p; q < end; q++)
    if ((size_t)(end - q) > 18 && strncasecmp(q, "\r\nContent-Length: ", 18) == 0) {
      FUZZ_CHECK(cl == NULL); /* stated once */
      cl = q + 18;
    }
  if (cl) clen = strtoul(cl, NULL, 10);
  size_t body = n - head - 2;
  FUZZ_CHECK(body == 0 || body == clen); /* HEAD, 204 and 304 send none */
}

static int fake_write(uv_write_t *req, uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs,
                      uv_write_cb cb) {
  FUZZ_CHECK(handle != NULL && nbufs == 1);
  check_response(bufs[0].base, bufs[0].len);
  FUZZ_CHECK(st.nwrites < MAX_PENDING);
  st.writes[st.nwrites] = req;
  st.write_cbs[st.nwrites++] = cb;
  return 0;
}

static int fake_shutdown(uv_shutdown_t *req, uv_stream_t *handle, uv_shutdown_cb cb) {
  FUZZ_CHECK(st.shutdown == NULL && handle != NULL);
  st.shutdown = req;
  st.shutdown_cb = cb;
  return 0;
}

static int fake_read_start(uv_stream_t *stream, uv_alloc_cb alloc_cb, uv_read_cb read_cb) {
  FUZZ_CHECK(st.reader == NULL);
  st.reader = stream;
  st.alloc_cb = alloc_cb;
  st.read_cb = read_cb;
  return 0;
}

static int fake_read_stop(uv_stream_t *stream) {
  FUZZ_CHECK(st.reader == stream);
  st.reader = NULL;
  return 0;
}

static int fake_accept(uv_stream_t *server, uv_stream_t *client) { return 0; }

static int fake_getpeername(const uv_tcp_t *handle, struct sockaddr *name, int *namelen) {
  if (st.flags & (F_IPV6 | F_IPV4_MAPPED)) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(51000);
    inet_pton(AF_INET6, (st.flags & F_IPV4_MAPPED) ? "::ffff:192.0.2.7" : "2001:db8::7", &a.sin6_addr);
    memcpy(name, &a, sizeof a);
  } else {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(51000);
    inet_pton(AF_INET, "192.0.2.7", &a.sin_addr);
    memcpy(name, &a, sizeof a);
  }
  return 0;
}

static int fake_nodelay(uv_tcp_t *handle, int enable) { return 0; }

/* Completes the queued writes, then a queued shutdown (callbacks may queue more). */
static void complete_io(void) {
  size_t guard = 0;
  while (st.nwrites || st.shutdown) {
    FUZZ_CHECK(++guard < 100000);
    if (st.nwrites) {
      uv_write_t *req = st.writes[0];
      uv_write_cb cb = st.write_cbs[0];
      memmove(st.writes, st.writes + 1, (st.nwrites - 1) * sizeof st.writes[0]);
      memmove(st.write_cbs, st.write_cbs + 1, (st.nwrites - 1) * sizeof st.write_cbs[0]);
      st.nwrites--;
      cb(req, (st.flags & F_WRITE_FAILS) ? UV_EPIPE : 0);
      continue;
    }
    uv_shutdown_t *req = st.shutdown;
    st.shutdown = NULL;
    st.shutdown_cb(req, 0);
  }
}

/* ---- the server's callbacks ---- */

static void check_request(const http_request *req) {
  FUZZ_CHECK(req->method && req->path && req->query && req->remote && req->remote_str);
  FUZZ_CHECK(strpbrk(req->path, "?#") == NULL); /* the query and fragment are split off */
  FUZZ_CHECK(strchr(req->query, '#') == NULL);
  FUZZ_CHECK(req->header_count <= MAX_HEADERS && (req->header_count == 0 || req->headers));
  size_t head_max = st.srv->opts.max_head;
  for (size_t i = 0; i < req->header_count; i++) {
    FUZZ_CHECK(req->headers[i].name && req->headers[i].value);
    FUZZ_CHECK(strlen(req->headers[i].name) < head_max && strlen(req->headers[i].value) < head_max);
    size_t vl = strlen(req->headers[i].value);
    if (vl) FUZZ_CHECK(req->headers[i].value[vl - 1] != ' ' && req->headers[i].value[vl - 1] != '\t');
    FUZZ_CHECK(http_request_header(req, req->headers[i].name) != NULL);
  }
  FUZZ_CHECK(req->body_len <= st.srv->opts.max_body);
  FUZZ_CHECK(strcmp(req->remote_str, "?") != 0);
}

static int on_request(void *ud, const http_request *req, http_response *resp) {
  check_request(req);
  if (ws_handshake_is_websocket(req)) { /* the relay's answer to a WebSocket it does not take */
    ws_handshake h;
    if (ws_handshake_check(req, fuzz_alpns, 2, &h) == 0) {
      FUZZ_CHECK(h.status == 101 && strlen(h.accept) == 28);
      resp->status = 404;
      return 0;
    }
    FUZZ_CHECK(h.status == 400 || h.status == 405 || h.status == 426);
    ws_handshake_refusal(&h, resp);
    return 0;
  }
  /* a header from the request echoed back: http_response_add_header must refuse CR/LF and the rest */
  if (req->header_count) {
    const http_header *h = &req->headers[req->header_count - 1];
    int rc = http_response_add_header(resp, h->name, h->value);
    if (rc == 0) FUZZ_CHECK(strpbrk(h->name, "\r\n: \t") == NULL && strpbrk(h->value, "\r\n") == NULL);
  }
  switch (st.answer % 8) {
  case 0:
    resp->content_type = "text/plain";
    resp->body = (const uint8_t *)"ok\n";
    resp->body_len = 3;
    break;
  case 1: { /* an owned body, as big as the path */
    size_t n = strlen(req->path);
    char *b = malloc(n + 1);
    FUZZ_CHECK(b != NULL);
    memcpy(b, req->path, n + 1);
    resp->body = (const uint8_t *)b;
    resp->body_len = n;
    resp->body_owned = 1;
    break;
  }
  case 2: resp->status = 204; break;
  case 3: resp->close = 1; break;
  case 4: return -1; /* handler failure: 500 */
  case 5: resp->status = 1000; break; /* out of range: 500 */
  case 6: { /* a large owned body: backpressure on small limits */
    char *b = malloc(700);
    FUZZ_CHECK(b != NULL);
    memset(b, 'x', 700);
    resp->body = (const uint8_t *)b;
    resp->body_len = 700;
    resp->body_owned = 1;
    resp->content_type = "bad\r\ntype"; /* refused by the server */
    break;
  }
  default: resp->status = 304; break;
  }
  return 0;
}

static int on_upgrade(void *ud, const http_request *req, uv_tcp_t *conn, const uint8_t *extra, size_t extra_len) {
  check_request(req);
  FUZZ_CHECK(conn != NULL && (extra_len == 0 || extra != NULL));
  ws_handshake h;
  if (ws_handshake_check(req, fuzz_alpns, 2, &h) != 0) return 1; /* on_request writes the refusal */
  char out[512];
  size_t n = ws_handshake_response(&h, out, sizeof out);
  FUZZ_CHECK(n > 0 && strstr(out, h.accept) != NULL);
  FUZZ_CHECK(ws_handshake_response(&h, out, n) == 0);
  if (st.flags & F_REFUSE_UPGRADE) return -1;
  st.upgrades++;
  http_server_free_detached(conn);
  return 0;
}

/* ---- driver ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  log_set_level(LOG_ERROR);
  FUZZ_CHECK(uv_loop_init(&st.loop) == 0);
  st.srv = calloc(1, sizeof *st.srv);
  FUZZ_CHECK(st.srv != NULL);
  st.srv->loop = &st.loop;
  st.srv->listener.data = st.srv; /* never opened: only on_connection's argument */
  return 0;
}

static uint32_t next_rand(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  http_server *srv = st.srv;
  st.flags = data[0];
  st.answer = data[1];
  uint32_t seed = data[2] | 0x100u;
  data += 3;
  size -= 3;
  st.reader = NULL;
  st.nwrites = 0;
  st.shutdown = NULL;
  st.upgrades = 0;

  http_server_callbacks cb = {.on_request = on_request, .on_upgrade = (st.flags & F_ON_UPGRADE) ? on_upgrade : NULL};
  srv->cb = cb;
  http_server_options_default(&srv->opts);
  if (st.flags & F_SMALL) {
    http_server_options o = srv->opts;
    o.max_head = 128;
    o.max_body = 16;
    o.max_output = 1024;
    FUZZ_CHECK(http_server_set_options(srv, &o) == 0);
  }

  on_connection((uv_stream_t *)&srv->listener, 0);
  FUZZ_CHECK(srv->nconns == 1 && st.reader != NULL);

  /* the client's bytes, in pieces, while the server reads */
  size_t off = 0;
  while (off < size) {
    complete_io();
    if (st.reader && uv_is_closing((uv_handle_t *)st.reader)) st.reader = NULL; /* closed */
    if (!st.reader) break; /* closed, handed over, or paused with nothing left to write */
    uv_buf_t buf;
    st.alloc_cb((uv_handle_t *)st.reader, 65536, &buf);
    FUZZ_CHECK(buf.base != NULL && buf.len > 0);
    size_t n = 1 + next_rand(&seed) % 600;
    if (n > size - off) n = size - off;
    if (n > buf.len) n = buf.len;
    memcpy(buf.base, data + off, n);
    st.read_cb(st.reader, (ssize_t)n, &buf);
    off += n;
  }
  /* the client closes its side */
  complete_io();
  if (st.reader && uv_is_closing((uv_handle_t *)st.reader)) st.reader = NULL;
  if (st.reader) {
    uv_buf_t none = uv_buf_init(NULL, 0);
    st.read_cb(st.reader, UV_EOF, &none);
  }
  complete_io();
  /* whatever is still open goes, as when the relay stops */
  for (http_conn *c = srv->conns; c; c = c->next) conn_close(c);
  for (int i = 0; i < 100 && (srv->conns || st.nwrites || st.shutdown || uv_loop_alive(&st.loop)); i++) {
    complete_io();
    uv_run(&st.loop, UV_RUN_NOWAIT);
  }
  FUZZ_CHECK(srv->conns == NULL && srv->nconns == 0 && st.nwrites == 0 && !uv_loop_alive(&st.loop));
  st.reader = NULL;
  return 0;
}
