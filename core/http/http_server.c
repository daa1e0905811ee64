#include "http/http_server.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"

#define MAX_HEADERS 64     /* per request; more is answered 431 */
#define READ_BUF_SIZE 16384
#define LINGER_MS 2000     /* after our side is shut down, how long we wait for the peer's EOF */
#define LISTEN_BACKLOG 511

enum conn_state {
  ST_ACTIVE,    /* reading and answering requests */
  ST_UPGRADING, /* inside on_upgrade: a close is only noted */
  ST_DRAINING,  /* last response queued, write side shut down; reads are discarded */
  ST_CLOSED,    /* handles closing, or handed over */
};

enum last_cb { CB_URL, CB_FIELD, CB_VALUE };

typedef struct http_conn http_conn;

struct http_server {
  uv_loop_t *loop;              /* borrowed */
  uv_tcp_t listener;
  http_server_callbacks cb;
  void *user_data;              /* borrowed: passed to cb */
  http_server_options opts;
  http_conn *conns;             /* owned: list of open (not handed-over) connections */
  unsigned nconns;              /* connections in the list */
  unsigned nrejected;           /* rejected sockets still closing */
  int listener_open;
  int closing;
  void (*done)(void *arg);
  void *done_arg;               /* borrowed: passed to done */
};

struct http_conn {
  http_server *srv;             /* borrowed: the owner (until our handles are closed) */
  http_conn *prev, *next;
  uv_tcp_t *tcp;                /* owned (malloc) until closed or handed to on_upgrade */
  uv_timer_t timer;             /* idle / drain timeout */
  uv_shutdown_t shutdown_req;
  http_parser parser;
  enum conn_state state;
  int handles;                  /* our open libuv handles (tcp, timer) */
  size_t writes_pending;        /* uv_write requests not yet called back */
  size_t out_bytes;             /* bytes in those requests */
  int reading, paused, peer_eof, shut_done, close_requested, upgrade_pending;
  int head_done;                /* the current request's head is complete (req is valid) */
  int err_status;               /* set by a parser callback that fails: 413 or 431 */
  enum last_cb last_cb;
  char *head;                   /* owned (malloc, opts.max_head): URL and headers, NUL-separated */
  size_t head_len, head_max;
  size_t body_len;
  http_header headers[MAX_HEADERS]; /* borrowed: strings in head */
  size_t nheaders;
  http_request req;
  struct sockaddr_storage remote;
  char remote_str[64];
  size_t roff, rlen;            /* unparsed bytes rbuf[roff..rlen) kept while paused */
  char rbuf[READ_BUF_SIZE];
};

/* One queued response; freed in its write callback. */
typedef struct http_write {
  uv_write_t req;
  http_conn *conn; /* borrowed */
  size_t len;
  char data[];     /* owned: the response bytes */
} http_write;

static void conn_close(http_conn *c);
static void conn_process(http_conn *c, size_t off, size_t len);

void http_server_options_default(http_server_options *opts) {
  opts->max_head = 16 * 1024;
  opts->max_body = 64 * 1024;
  opts->max_output = 1024 * 1024;
  opts->idle_timeout_ms = 10000;
  opts->max_connections = 1024;
}

static void addr_format(const struct sockaddr *sa, char *out, size_t outlen) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) { /* a dual-stack listener's IPv4 peer */
      inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof ip);
      snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(a->sin6_port));
      return;
    }
    uv_ip6_name(a, ip, sizeof ip);
    snprintf(out, outlen, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, ip, sizeof ip);
    snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
  } else {
    snprintf(out, outlen, "?");
  }
}

/* ---- server lifetime ---------------------------------------------------------------------- */

static void server_check_done(http_server *srv) {
  if (!srv->closing || srv->listener_open || srv->nconns || srv->nrejected) return;
  void (*done)(void *) = srv->done;
  void *arg = srv->done_arg;
  free(srv);
  if (done) done(arg);
}

static void on_listener_close(uv_handle_t *h) {
  http_server *srv = h->data;
  srv->listener_open = 0;
  server_check_done(srv);
}

static void on_rejected_close(uv_handle_t *h) {
  http_server *srv = h->data;
  free(h);
  srv->nrejected--;
  server_check_done(srv);
}

/* ---- connection lifetime ------------------------------------------------------------------ */

static void conn_maybe_free(http_conn *c) {
  if (c->handles || c->writes_pending) return;
  free(c->head);
  free(c);
}

/* One of our handles finished closing. When none is left the server forgets the connection;
 * its memory goes once the last write (possibly on a handed-over socket) is called back. */
static void conn_release(http_conn *c) {
  if (--c->handles > 0) return;
  http_server *srv = c->srv;
  if (c->prev) c->prev->next = c->next;
  else srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->nconns--;
  c->srv = NULL;
  conn_maybe_free(c);
  server_check_done(srv);
}

static void on_tcp_close(uv_handle_t *h) {
  http_conn *c = h->data;
  free(h);
  c->tcp = NULL;
  conn_release(c);
}

static void on_timer_close(uv_handle_t *h) { conn_release(h->data); }

static void conn_close(http_conn *c) {
  if (c->state == ST_CLOSED) return;
  if (c->state == ST_UPGRADING) {
    c->close_requested = 1;
    return;
  }
  c->state = ST_CLOSED;
  uv_close((uv_handle_t *)c->tcp, on_tcp_close);
  uv_close((uv_handle_t *)&c->timer, on_timer_close);
}

static void on_timeout(uv_timer_t *t) {
  http_conn *c = t->data;
  LOG_DBG("http_timeout", "remote=%s state=%d", c->remote_str, (int)c->state);
  conn_close(c);
}

static void conn_arm(http_conn *c, uint64_t ms) { uv_timer_start(&c->timer, on_timeout, ms, 0); }

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  http_conn *c = h->data;
  buf->base = c->rbuf; /* reading only runs when no unparsed bytes are kept */
  buf->len = sizeof c->rbuf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_read_start(http_conn *c) {
  if (c->reading || c->peer_eof) return;
  if (uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read) != 0) {
    conn_close(c);
    return;
  }
  c->reading = 1;
}

static void conn_read_stop(http_conn *c) {
  if (!c->reading) return;
  uv_read_stop((uv_stream_t *)c->tcp);
  c->reading = 0;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  http_conn *c = req->data;
  if (c->state == ST_CLOSED) return;
  c->shut_done = 1;
  if (status < 0 || c->peer_eof) {
    conn_close(c);
    return;
  }
  unsigned idle = c->srv->opts.idle_timeout_ms;
  conn_arm(c, idle < LINGER_MS ? idle : LINGER_MS);
}

/* No more requests: shut the write side down once the queued responses are out, then wait a
 * little for the peer's EOF so that unread input does not turn our close into a reset. */
static void conn_drain(http_conn *c) {
  c->state = ST_DRAINING;
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)c->tcp, on_shutdown) != 0) {
    conn_close(c);
    return;
  }
  conn_arm(c, c->srv->opts.idle_timeout_ms);
  conn_read_start(c);
}

/* ---- responses ---------------------------------------------------------------------------- */

static void conn_resume(http_conn *c) {
  c->paused = 0;
  http_parser_pause(&c->parser, 0);
  conn_process(c, c->roff, c->rlen);
  if (c->state == ST_ACTIVE && !c->paused) conn_read_start(c);
}

static void on_write(uv_write_t *req, int status) {
  http_write *w = (http_write *)req;
  http_conn *c = w->conn;
  c->writes_pending--;
  c->out_bytes -= w->len;
  free(w);
  if (c->state == ST_CLOSED) {
    conn_maybe_free(c);
    return;
  }
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (c->state != ST_ACTIVE) return;
  conn_arm(c, c->srv->opts.idle_timeout_ms); /* the peer is making progress */
  if (c->paused && c->out_bytes <= c->srv->opts.max_output / 2) conn_resume(c);
}

static void http_date(char *out, size_t outlen) {
  static const char days[] = "SunMonTueWedThuFriSat";
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  snprintf(out, outlen, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", days + 3 * (tm.tm_wday % 7),
           tm.tm_mday, months + 3 * (tm.tm_mon % 12), tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
           tm.tm_sec);
}

static const char *reason_phrase(int status) {
  const char *r = http_status_str((enum http_status)status);
  return r[0] == '<' ? "Status" : r;
}

/* Queues one response and logs the request. Takes body when body_owned. Enters draining when
 * close is set; closes the connection if the output cap would be exceeded. */
static void conn_send(http_conn *c, int status, const char *ctype, const char *extra,
                      size_t extra_len, const uint8_t *body, size_t body_len, int body_owned,
                      int close) {
  http_server *srv = c->srv;
  int is_head = c->head_done && c->parser.method == HTTP_HEAD;
  int no_body = is_head || status == 204 || status == 304;
  if (ctype && (strlen(ctype) > 200 || strpbrk(ctype, "\r\n"))) {
    LOG_WRN("http_bad_content_type", "status=%d", status);
    ctype = NULL;
  }
  char date[40], clen[48], head[512];
  http_date(date, sizeof date);
  clen[0] = '\0';
  if (status != 204) snprintf(clen, sizeof clen, "Content-Length: %zu\r\n", body_len);
  const char *conn_hdr = close ? "Connection: close\r\n"
                         : (c->head_done && c->parser.http_major == 1 && c->parser.http_minor == 0)
                             ? "Connection: keep-alive\r\n"
                             : "";
  int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s%s%s%s", status,
                   reason_phrase(status), date, ctype ? "Content-Type: " : "", ctype ? ctype : "",
                   ctype ? "\r\n" : "", clen, conn_hdr);
  size_t send_body = no_body ? 0 : body_len;
  size_t total = (size_t)n + extra_len + 2 + send_body;
  http_write *w = NULL;
  if (n > 0 && (size_t)n < sizeof head && c->out_bytes + total <= srv->opts.max_output)
    w = malloc(sizeof *w + total);
  char path[256];
  LOG_INF("http_request", "remote=%s method=%s path=%s status=%d bytes=%zu", c->remote_str,
          c->head_done ? c->req.method : "-",
          c->head_done ? log_quote(path, sizeof path, c->req.path) : "-", status,
          w ? total : (size_t)0);
  if (!w) {
    if (body_owned) free((void *)body);
    LOG_WRN("http_output_overflow", "remote=%s queued=%zu", c->remote_str, c->out_bytes);
    conn_close(c);
    return;
  }
  w->conn = c;
  w->len = total;
  memcpy(w->data, head, (size_t)n);
  if (extra_len) memcpy(w->data + n, extra, extra_len);
  memcpy(w->data + n + extra_len, "\r\n", 2);
  if (send_body) memcpy(w->data + n + extra_len + 2, body, send_body);
  if (body_owned) free((void *)body);
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)total);
  if (uv_write(&w->req, (uv_stream_t *)c->tcp, &buf, 1, on_write) != 0) {
    free(w);
    conn_close(c);
    return;
  }
  c->writes_pending++;
  c->out_bytes += total;
  if (close) conn_drain(c);
}

static void conn_error(http_conn *c, int status) {
  const char *r = reason_phrase(status);
  char body[64];
  int n = snprintf(body, sizeof body, "%s\n", r);
  conn_send(c, status, "text/plain", NULL, 0, (const uint8_t *)body, (size_t)n, 0, 1);
}

/* ---- parser callbacks --------------------------------------------------------------------- */

static int head_put(http_conn *c, const char *at, size_t len) {
  if (len > c->head_max - c->head_len) {
    c->err_status = 431;
    return -1;
  }
  memcpy(c->head + c->head_len, at, len);
  c->head_len += len;
  return 0;
}

/* Ends the current URL, name or value with a NUL; a value loses its trailing blanks first. */
static int head_end(http_conn *c) {
  if (c->last_cb == CB_VALUE) {
    const char *v = c->headers[c->nheaders - 1].value;
    while (c->head + c->head_len > v) {
      char last = c->head[c->head_len - 1];
      if (last != ' ' && last != '\t') break;
      c->head_len--;
    }
  }
  return head_put(c, "", 1);
}

static int on_message_begin(http_parser *p) {
  http_conn *c = p->data;
  c->head_len = c->nheaders = c->body_len = 0;
  c->last_cb = CB_URL;
  c->head_done = c->err_status = 0;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) { return head_put(p->data, at, len); }

static int on_header_field(http_parser *p, const char *at, size_t len) {
  http_conn *c = p->data;
  if (c->last_cb != CB_FIELD) { /* a new header: end the URL or the previous value */
    if (c->nheaders == MAX_HEADERS) {
      c->err_status = 431;
      return -1;
    }
    if (head_end(c) != 0) return -1;
    c->headers[c->nheaders].name = c->head + c->head_len;
    c->headers[c->nheaders].value = "";
    c->nheaders++;
    c->last_cb = CB_FIELD;
  }
  return head_put(c, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  http_conn *c = p->data;
  if (c->last_cb == CB_URL) return 0; /* cannot happen: a value always follows a field */
  if (c->last_cb == CB_FIELD) {
    if (head_put(c, "", 1) != 0) return -1;
    c->headers[c->nheaders - 1].value = c->head + c->head_len;
    c->last_cb = CB_VALUE;
  }
  return head_put(c, at, len);
}

/* Splits the NUL-terminated request target in place into path and query. */
static void split_target(char *url, const char **path, const char **query) {
  char *p = url;
  *query = "";
  if (*p != '/') { /* absolute-form (or "*", or authority-form): find the path if there is one */
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, strlen(url), 0, &u) == 0 && (u.field_set & (1 << UF_SCHEMA))) {
      if (!(u.field_set & (1 << UF_PATH))) {
        *path = "/";
        return;
      }
      p = url + u.field_data[UF_PATH].off;
    }
  }
  char *end = p + strcspn(p, "?#");
  char sep = *end;
  *end = '\0';
  *path = p;
  if (sep == '?') {
    end[1 + strcspn(end + 1, "#")] = '\0';
    *query = end + 1;
  }
}

static int on_headers_complete(http_parser *p) {
  http_conn *c = p->data;
  http_server *srv = c->srv;
  if (head_end(c) != 0) return -1;
  http_request *r = &c->req;
  split_target(c->head, &r->path, &r->query);
  r->method = http_method_str((enum http_method)p->method);
  r->headers = c->headers;
  r->header_count = c->nheaders;
  r->remote = (const struct sockaddr *)&c->remote;
  r->remote_str = c->remote_str;
  r->http_major = p->http_major;
  r->http_minor = p->http_minor;
  r->keep_alive = http_should_keep_alive(p);
  r->body_len = 0;
  c->head_done = 1;
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > srv->opts.max_body) {
    c->err_status = 413;
    return -1;
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  http_conn *c = p->data;
  c->body_len += len;
  if (c->body_len > c->srv->opts.max_body) {
    c->err_status = 413;
    return -1;
  }
  return 0;
}

/* Answers the current request through on_request (close: close the connection after it). Returns 0,
 * or -1 when the connection is closing. */
static int conn_answer(http_conn *c, int close_after) {
  http_server *srv = c->srv;
  http_parser *p = &c->parser;
  http_response resp;
  memset(&resp, 0, sizeof resp);
  resp.status = 200;
  int rc = srv->cb.on_request(srv->user_data, &c->req, &resp);
  if (c->state != ST_ACTIVE) { /* closed from inside the callback */
    if (resp.body_owned) free((void *)resp.body);
    return -1;
  }
  if (rc < 0 || resp.status < 200 || resp.status > 999 || resp.extra_len > sizeof resp.extra) {
    LOG_WRN("http_handler_failed", "remote=%s rc=%d status=%d", c->remote_str, rc, resp.status);
    if (resp.body_owned) free((void *)resp.body);
    conn_error(c, 500);
    return -1;
  }
  int close = close_after || resp.close || !c->req.keep_alive || p->method == HTTP_CONNECT || srv->closing;
  conn_send(c, resp.status, resp.content_type, resp.extra, resp.extra_len, resp.body,
            resp.body_len, resp.body_owned, close);
  if (c->state != ST_ACTIVE) return -1;
  conn_arm(c, srv->opts.idle_timeout_ms); /* a fresh period for the next request */
  if (c->out_bytes > srv->opts.max_output / 2) {
    c->paused = 1; /* backpressure: parse no further until the peer has read */
    http_parser_pause(p, 1);
  }
  return 0;
}

static int on_message_complete(http_parser *p) {
  http_conn *c = p->data;
  http_server *srv = c->srv;
  c->req.body_len = c->body_len;
  if (p->upgrade && p->method != HTTP_CONNECT && srv->cb.on_upgrade) {
    c->upgrade_pending = 1; /* handed over once the parser has returned */
    return 0;
  }
  return conn_answer(c, 0);
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading ------------------------------------------------------------------------------ */

static void conn_upgrade(http_conn *c, const char *extra, size_t extra_len) {
  http_server *srv = c->srv;
  c->upgrade_pending = 0;
  conn_read_stop(c);
  uv_timer_stop(&c->timer);
  c->state = ST_UPGRADING;
  uv_tcp_t *tcp = c->tcp;
  int rc = srv->cb.on_upgrade(srv->user_data, &c->req, tcp, (const uint8_t *)extra, extra_len);
  if (rc == 0) {
    char path[256];
    LOG_INF("http_request", "remote=%s method=%s path=%s status=101 bytes=0", c->remote_str,
            c->req.method, log_quote(path, sizeof path, c->req.path));
    c->tcp = NULL; /* the callee's now; our queued writes on it are still called back */
    c->handles--;
    c->state = ST_CLOSED;
    uv_close((uv_handle_t *)&c->timer, on_timer_close);
    return;
  }
  c->state = ST_ACTIVE;
  if (c->close_requested) conn_close(c);
  else if (rc > 0) conn_answer(c, 1); /* refused: on_request answers it, then the connection closes */
  else conn_error(c, 400);
}

/* Parses rbuf[off..len): answers complete requests, pauses on backpressure, hands over upgrades. */
static void conn_process(http_conn *c, size_t off, size_t len) {
  while (off < len && c->state == ST_ACTIVE) {
    size_t n = http_parser_execute(&c->parser, &parser_settings, c->rbuf + off, len - off);
    off += n;
    if (c->state != ST_ACTIVE) return;
    if (c->upgrade_pending) {
      conn_upgrade(c, c->rbuf + off, len - off);
      return;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->parser.upgrade && e == HPE_OK) {
      /* an upgrade request answered normally: keep speaking HTTP/1.1 */
      http_parser_init(&c->parser, HTTP_REQUEST);
      continue;
    }
    if (c->parser.upgrade && e == HPE_PAUSED) {
      http_parser_init(&c->parser, HTTP_REQUEST);
      http_parser_pause(&c->parser, 1);
    }
    if (e == HPE_PAUSED) {
      c->roff = off;
      c->rlen = len;
      conn_read_stop(c);
      return;
    }
    if (e != HPE_OK || n == 0) {
      LOG_DBG("http_parse_error", "remote=%s error=%s", c->remote_str, http_errno_name(e));
      conn_error(c, c->err_status ? c->err_status : e == HPE_HEADER_OVERFLOW ? 431 : 400);
      return;
    }
  }
  c->roff = c->rlen = 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  http_conn *c = s->data;
  if (nread == 0 || c->state == ST_CLOSED) return;
  if (nread < 0) {
    if (nread != UV_EOF) {
      conn_close(c);
      return;
    }
    conn_read_stop(c);
    c->peer_eof = 1;
    if (c->state == ST_ACTIVE) conn_drain(c); /* a partial request is dropped */
    else if (c->shut_done) conn_close(c);
    return;
  }
  if (c->state == ST_ACTIVE) conn_process(c, 0, (size_t)nread);
}

/* ---- accepting ---------------------------------------------------------------------------- */

static void on_connection(uv_stream_t *ls, int status) {
  http_server *srv = ls->data;
  if (status < 0) {
    LOG_WRN("http_accept_failed", "error=%s", uv_strerror(status));
    return;
  }
  uv_tcp_t *tcp = malloc(sizeof *tcp);
  if (!tcp || uv_tcp_init(srv->loop, tcp) != 0) {
    free(tcp);
    LOG_ERR("http_accept_failed", "error=%s", "out of memory");
    return;
  }
  http_conn *c = NULL;
  int rc = uv_accept(ls, (uv_stream_t *)tcp);
  if (rc == 0 && !srv->closing && srv->nconns < srv->opts.max_connections) {
    c = calloc(1, sizeof *c);
    if (c && !(c->head = malloc(srv->opts.max_head))) {
      free(c);
      c = NULL;
    }
  }
  if (!c) {
    if (rc == 0) LOG_WRN("http_conn_rejected", "connections=%u", srv->nconns);
    tcp->data = srv;
    srv->nrejected++;
    uv_close((uv_handle_t *)tcp, on_rejected_close);
    return;
  }
  c->srv = srv;
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  c->tcp = tcp;
  tcp->data = c;
  uv_timer_init(srv->loop, &c->timer);
  c->timer.data = c;
  c->handles = 2;
  c->head_max = srv->opts.max_head;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  int alen = (int)sizeof c->remote;
  if (uv_tcp_getpeername(tcp, (struct sockaddr *)&c->remote, &alen) == 0)
    addr_format((const struct sockaddr *)&c->remote, c->remote_str, sizeof c->remote_str);
  else
    snprintf(c->remote_str, sizeof c->remote_str, "?");
  uv_tcp_nodelay(tcp, 1);
  conn_arm(c, srv->opts.idle_timeout_ms);
  conn_read_start(c);
}

/* ---- public ------------------------------------------------------------------------------- */

http_server *http_server_new(uv_loop_t *loop, const struct sockaddr *addr,
                             const http_server_callbacks *cb, void *user_data, char *err,
                             size_t errlen) {
  char where[80];
  addr_format(addr, where, sizeof where);
  if (!cb || !cb->on_request) {
    snprintf(err, errlen, "listen %s: no request callback", where);
    return NULL;
  }
  http_server *srv = calloc(1, sizeof *srv);
  if (!srv) {
    snprintf(err, errlen, "listen %s: out of memory", where);
    return NULL;
  }
  srv->loop = loop;
  srv->cb = *cb;
  srv->user_data = user_data;
  http_server_options_default(&srv->opts);
  int rc = uv_tcp_init(loop, &srv->listener);
  if (rc != 0) {
    snprintf(err, errlen, "listen %s: %s", where, uv_strerror(rc));
    free(srv);
    return NULL;
  }
  srv->listener.data = srv;
  srv->listener_open = 1;
  /* libuv sets SO_REUSEADDR; flags 0 clears IPV6_V6ONLY, so "::" also takes IPv4 */
  rc = uv_tcp_bind(&srv->listener, addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, LISTEN_BACKLOG, on_connection);
  if (rc != 0) {
    snprintf(err, errlen, "listen %s: %s", where, uv_strerror(rc));
    srv->closing = 1; /* freed by the close callback, with no done to call */
    uv_close((uv_handle_t *)&srv->listener, on_listener_close);
    return NULL;
  }
  struct sockaddr_storage bound;
  if (http_server_local_addr(srv, &bound) == 0)
    addr_format((const struct sockaddr *)&bound, where, sizeof where);
  LOG_INF("http_listen", "addr=%s", where);
  return srv;
}

int http_server_set_options(http_server *srv, const http_server_options *opts) {
  if (opts->max_head < 64 || opts->max_output < 1024 || opts->idle_timeout_ms == 0 ||
      opts->max_connections == 0)
    return -1;
  srv->opts = *opts;
  return 0;
}

int http_server_local_addr(const http_server *srv, struct sockaddr_storage *out) {
  int len = (int)sizeof *out;
  return uv_tcp_getsockname(&srv->listener, (struct sockaddr *)out, &len) == 0 ? 0 : -1;
}

void http_server_close(http_server *srv, void (*done)(void *arg), void *arg) {
  if (srv->closing) return;
  srv->closing = 1;
  srv->done = done;
  srv->done_arg = arg;
  uv_close((uv_handle_t *)&srv->listener, on_listener_close);
  for (http_conn *c = srv->conns; c; c = c->next) conn_close(c);
}

int http_response_add_header(http_response *resp, const char *name, const char *value) {
  static const char *const reserved[] = {"content-length", "connection", "transfer-encoding",
                                         "date", "content-type"};
  size_t nl = strlen(name), vl = strlen(value);
  if (nl == 0 || strpbrk(name, "\r\n: \t") || strpbrk(value, "\r\n")) return -1;
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strcasecmp(name, reserved[i]) == 0) return -1;
  if (resp->extra_len > sizeof resp->extra || nl + vl + 4 > sizeof resp->extra - resp->extra_len)
    return -1;
  char *o = resp->extra + resp->extra_len;
  memcpy(o, name, nl);
  memcpy(o + nl, ": ", 2);
  memcpy(o + nl + 2, value, vl);
  memcpy(o + nl + 2 + vl, "\r\n", 2);
  resp->extra_len += nl + vl + 4;
  return 0;
}

const char *http_request_header(const http_request *req, const char *name) {
  for (size_t i = 0; i < req->header_count; i++)
    if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
  return NULL;
}

static void on_detached_close(uv_handle_t *h) { free(h); }

void http_server_free_detached(uv_tcp_t *conn) {
  if (!uv_is_closing((uv_handle_t *)conn)) uv_close((uv_handle_t *)conn, on_detached_close);
}
