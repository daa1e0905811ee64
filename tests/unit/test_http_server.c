/* Unit tests for http/http_server: a real server on 127.0.0.1:0 in a libuv loop on the test
 * thread, driven by a client thread using blocking sockets. The client records what it saw;
 * the assertions run on the test thread after the loop has finished. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "http/http_server.h"

#define BIG_BODY 16384

typedef struct fx fx;
struct fx {
  uv_loop_t loop;
  http_server *srv;
  uv_async_t async;
  pthread_t th;
  int port;
  void (*client)(fx *);
  int signalled;           /* the client has already woken the loop for closing */
  int closed_done;         /* http_server_close called its done */
  int with_upgrade;        /* register on_upgrade */
  int upgrade_rc;          /* what on_upgrade returns */
  int upgrade_calls;
  uint8_t extra[256];      /* owned: copy of the bytes handed to on_upgrade */
  size_t extra_len;
  int use_opts;
  http_server_options opts;
  int requests;            /* on_request calls (atomic: read from the client thread) */
  int seen_mid;            /* requests handled when the backpressure client looked */
  char *got;               /* owned (malloc): what the client received */
  size_t got_len;
  int got_eof;             /* the client saw the server close */
  char *got2;              /* owned (malloc): a second connection's bytes */
  size_t got2_len;
  int got2_eof;
  double elapsed;          /* seconds, for the timeout test */
};

/* ---- server side ------------------------------------------------------------------------- */

static int on_request(void *ud, const http_request *req, http_response *resp) {
  fx *f = ud;
  __atomic_fetch_add(&f->requests, 1, __ATOMIC_SEQ_CST);
  if (strcmp(req->path, "/health") == 0) {
    resp->content_type = "text/plain";
    resp->body = (const uint8_t *)"ok\n";
    resp->body_len = 3;
  } else if (strcmp(req->path, "/certificate.sha256") == 0) {
    resp->content_type = "text/plain";
    resp->body = (const uint8_t *)"0123456789abcdef";
    resp->body_len = 16;
    ck_assert_int_eq(http_response_add_header(resp, "Access-Control-Allow-Origin", "*"), 0);
  } else if (strcmp(req->path, "/big") == 0) {
    uint8_t *b = malloc(BIG_BODY);
    memset(b, 'x', BIG_BODY);
    resp->body = b;
    resp->body_len = BIG_BODY;
    resp->body_owned = 1;
  } else if (strcmp(req->path, "/echo") == 0) {
    const char *o = http_request_header(req, "ORIGIN"), *e = http_request_header(req, "x-empty");
    const char *t = http_request_header(req, "x-two");
    char *b = malloc(512);
    int n = snprintf(b, 512, "%s %s q=%s origin=%s empty=[%s] two=%s body=%zu", req->method,
                     req->path, req->query, o ? o : "-", e ? e : "-", t ? t : "-", req->body_len);
    resp->body = (const uint8_t *)b;
    resp->body_len = (size_t)n;
    resp->body_owned = 1;
    char local[16];
    snprintf(local, sizeof local, "%d", 7); /* header values are copied at once */
    ck_assert_int_eq(http_response_add_header(resp, "X-Local", local), 0);
    ck_assert_int_eq(http_response_add_header(resp, "Content-Length", "1"), -1);
    ck_assert_int_eq(http_response_add_header(resp, "X-Bad", "a\r\nb"), -1);
  } else if (strcmp(req->path, "/fail") == 0) {
    return -1;
  } else {
    resp->status = 404;
    resp->body = (const uint8_t *)"not found\n";
    resp->body_len = 10;
  }
  return 0;
}

typedef struct up_write {
  uv_write_t req;
  char data[512];
} up_write;

static void on_up_written(uv_write_t *req, int status) {
  http_server_free_detached((uv_tcp_t *)req->handle);
  free(req);
}

static int on_upgrade(void *ud, const http_request *req, uv_tcp_t *conn, const uint8_t *extra,
                      size_t extra_len) {
  fx *f = ud;
  f->upgrade_calls++;
  if (f->upgrade_rc) return f->upgrade_rc;
  ck_assert_ptr_nonnull(http_request_header(req, "upgrade"));
  f->extra_len = extra_len < sizeof f->extra ? extra_len : sizeof f->extra;
  memcpy(f->extra, extra, f->extra_len);
  /* act like the WebSocket module: answer 101, echo the early bytes, close */
  up_write *w = malloc(sizeof *w);
  const char *h = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
  size_t hl = strlen(h);
  memcpy(w->data, h, hl);
  memcpy(w->data + hl, f->extra, f->extra_len);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)(hl + f->extra_len));
  ck_assert_int_eq(uv_write(&w->req, (uv_stream_t *)conn, &b, 1, on_up_written), 0);
  return 0;
}

static void on_closed(void *arg) { ((fx *)arg)->closed_done++; }

static void on_async(uv_async_t *a) {
  fx *f = a->data;
  uv_close((uv_handle_t *)a, NULL);
  http_server_close(f->srv, on_closed, f);
}

static void *client_main(void *arg) {
  fx *f = arg;
  f->client(f);
  if (!f->signalled) uv_async_send(&f->async);
  return NULL;
}

static void run(fx *f, void (*client)(fx *)) {
  ck_assert_int_eq(uv_loop_init(&f->loop), 0);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  http_server_callbacks cb = {.on_request = on_request,
                              .on_upgrade = f->with_upgrade ? on_upgrade : NULL};
  char err[256];
  f->srv = http_server_new(&f->loop, (const struct sockaddr *)&a, &cb, f, err, sizeof err);
  ck_assert_msg(f->srv != NULL, "%s", err);
  if (f->use_opts) ck_assert_int_eq(http_server_set_options(f->srv, &f->opts), 0);
  struct sockaddr_storage ss;
  ck_assert_int_eq(http_server_local_addr(f->srv, &ss), 0);
  f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  ck_assert_int_ne(f->port, 0);
  uv_async_init(&f->loop, &f->async, on_async);
  f->async.data = f;
  f->client = client;
  ck_assert_int_eq(pthread_create(&f->th, NULL, client_main, f), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  pthread_join(f->th, NULL);
  ck_assert_int_eq(f->closed_done, 1);
  ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static void fx_free(fx *f) {
  free(f->got);
  free(f->got2);
}

/* ---- client side ------------------------------------------------------------------------- */

static int cl_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void cl_send(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static void cl_sends(int fd, const char *s) { cl_send(fd, s, strlen(s)); }

/* Reads until EOF (sets *eof), error or timeout; returns a malloc'd NUL-terminated buffer. */
static char *cl_read_all(int fd, size_t *len, int *eof) {
  size_t cap = 65536, n = 0;
  char *b = malloc(cap + 1);
  *eof = 0;
  for (;;) {
    if (n == cap) b = realloc(b, (cap *= 2) + 1);
    ssize_t r = recv(fd, b + n, cap - n, 0);
    if (r == 0 || (r < 0 && errno == ECONNRESET)) *eof = 1;
    if (r <= 0) break;
    n += (size_t)r;
  }
  b[n] = '\0';
  *len = n;
  return b;
}

/* Reads exactly one response (head, then Content-Length bytes unless head_only) into buf. */
static size_t cl_read_response(int fd, char *buf, size_t cap, int head_only) {
  size_t n = 0;
  for (;;) {
    buf[n] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (end) {
      const char *cl = strstr(buf, "Content-Length: ");
      size_t want = (size_t)(end + 4 - buf) + (cl && !head_only ? strtoul(cl + 16, NULL, 10) : 0);
      if (n >= want) return n;
    }
    if (n + 1 >= cap) return n;
    ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
    if (r <= 0) return n;
    n += (size_t)r;
  }
}

/* Removes "Date: ...\r\n" lines in place so responses can be compared exactly. */
static void strip_date(char *s, size_t *len) {
  char *d;
  while ((d = strstr(s, "\r\nDate: ")) != NULL) {
    char *e = strstr(d + 2, "\r\n");
    memmove(d, e, strlen(e) + 1);
  }
  *len = strlen(s);
}

/* One connection: send req, read to EOF (the request ends with Connection: close). */
static void exchange(fx *f, const char *req, size_t req_len) {
  int fd = cl_connect(f->port);
  if (fd < 0) return;
  cl_send(fd, req, req_len);
  f->got = cl_read_all(fd, &f->got_len, &f->got_eof);
  close(fd);
}

static const char *g_req; /* the request of the current simple test (set before run) */
static size_t g_req_len;

static void client_simple(fx *f) { exchange(f, g_req, g_req_len); }

static void run_simple(fx *f, const char *req, size_t len) {
  g_req = req;
  g_req_len = len;
  run(f, client_simple);
}

#define HEALTH_OK "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
#define HEALTH_OK_CLOSE \
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n" \
  "Connection: close\r\n\r\nok\n"

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(test_get_exact) {
  fx f = {0};
  const char *req = "GET /certificate.sha256 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  run_simple(&f, req, strlen(req));
  ck_assert_int_eq(f.got_eof, 1);
  ck_assert_ptr_nonnull(strstr(f.got, "\r\nDate: "));
  strip_date(f.got, &f.got_len);
  ck_assert_str_eq(f.got, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
                          "Connection: close\r\nAccess-Control-Allow-Origin: *\r\n\r\n"
                          "0123456789abcdef");
  fx_free(&f);
}
END_TEST

START_TEST(test_head) {
  fx f = {0};
  const char *req = "HEAD /health HTTP/1.1\r\nConnection: close\r\n\r\n";
  run_simple(&f, req, strlen(req));
  strip_date(f.got, &f.got_len);
  ck_assert_str_eq(f.got, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                          "Connection: close\r\n\r\n");
  fx_free(&f);
}
END_TEST

static void client_keepalive(fx *f) {
  int fd = cl_connect(f->port);
  char buf[4096];
  f->got = calloc(1, 8192);
  cl_sends(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  size_t n = cl_read_response(fd, buf, sizeof buf, 0);
  memcpy(f->got, buf, n);
  f->got_len = n;
  cl_sends(fd, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
  n = cl_read_response(fd, buf, sizeof buf, 1);
  memcpy(f->got + f->got_len, buf, n);
  f->got_len += n;
  cl_sends(fd, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  size_t rest_len;
  char *rest = cl_read_all(fd, &rest_len, &f->got_eof);
  memcpy(f->got + f->got_len, rest, rest_len);
  f->got_len += rest_len;
  free(rest);
  close(fd);
}

START_TEST(test_keepalive_head_404) {
  fx f = {0};
  run(&f, client_keepalive);
  ck_assert_int_eq(f.got_eof, 1);
  ck_assert_int_eq(f.requests, 3);
  strip_date(f.got, &f.got_len);
  ck_assert_str_eq(f.got, HEALTH_OK "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 3\r\n\r\n"
                          "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n"
                          "\r\nnot found\n");
  fx_free(&f);
}
END_TEST

START_TEST(test_pipelined_with_body) {
  fx f = {0};
  const char *req = "GET /health HTTP/1.1\r\n\r\n"
                    "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                    "POST /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n0\r\n\r\n"
                    "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"
                    "GET /health HTTP/1.1\r\n\r\n"; /* after close: never answered */
  run_simple(&f, req, strlen(req));
  ck_assert_int_eq(f.got_eof, 1);
  ck_assert_int_eq(f.requests, 4);
  strip_date(f.got, &f.got_len);
  ck_assert_str_eq(f.got, HEALTH_OK "HTTP/1.1 200 OK\r\nContent-Length: 45\r\nX-Local: 7\r\n\r\n"
                          "POST /echo q= origin=- empty=[-] two=- body=5" HEALTH_OK
                              HEALTH_OK_CLOSE);
  fx_free(&f);
}
END_TEST

START_TEST(test_request_fields) {
  fx f = {0};
  const char *req = "GET /echo?token=secret&x=1 HTTP/1.1\r\nOrigin: https://o.example\r\n"
                    "X-Empty:\r\nX-Two:  2 \r\n\r\n"
                    "GET http://host.example:80/echo?a=b#frag HTTP/1.1\r\n"
                    "Connection: close\r\n\r\n";
  run_simple(&f, req, strlen(req));
  ck_assert_ptr_nonnull(strstr(f.got, "\r\n\r\nGET /echo q=token=secret&x=1 "
                                      "origin=https://o.example empty=[] two=2 body=0"));
  ck_assert_ptr_nonnull(strstr(f.got, "\r\n\r\nGET /echo q=a=b origin=- empty=[-] two=- body=0"));
  fx_free(&f);
}
END_TEST

static void client_trickle(fx *f) { /* one byte per segment: every parser callback is split */
  int fd = cl_connect(f->port);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (size_t i = 0; i < g_req_len; i++) {
    cl_send(fd, g_req + i, 1);
    usleep(500);
  }
  f->got = cl_read_all(fd, &f->got_len, &f->got_eof);
  close(fd);
}

START_TEST(test_request_trickled) {
  fx f = {0};
  g_req = "POST /echo?k=v HTTP/1.1\r\nOrigin: o\r\nX-Empty: \r\nX-Two: 2\r\nConnection: close\r\n"
          "Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
  g_req_len = strlen(g_req);
  run(&f, client_trickle);
  ck_assert_int_eq(f.got_eof, 1);
  ck_assert_ptr_nonnull(strstr(f.got, "\r\n\r\nPOST /echo q=k=v origin=o empty=[] two=2 body=4"));
  fx_free(&f);
}
END_TEST

START_TEST(test_malformed) {
  fx f = {0};
  const char *req = "GET /health HTTP/1.1\r\n\r\nBLAH\x01 / HTTP/1.1\r\n\r\n";
  run_simple(&f, req, strlen(req));
  ck_assert_int_eq(f.got_eof, 1);
  strip_date(f.got, &f.got_len);
  ck_assert_str_eq(f.got, HEALTH_OK "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n");
  fx_free(&f);
}
END_TEST

START_TEST(test_http10_and_500) {
  fx f = {0};
  const char *req = "GET /health HTTP/1.0\r\n\r\n";
  run_simple(&f, req, strlen(req));
  ck_assert_int_eq(f.got_eof, 1);
  strip_date(f.got, &f.got_len);
  ck_assert_str_eq(f.got, HEALTH_OK_CLOSE);
  fx_free(&f);
  fx g = {0};
  req = "GET /fail HTTP/1.1\r\n\r\n";
  run_simple(&g, req, strlen(req));
  ck_assert_int_eq(g.got_eof, 1);
  ck_assert_ptr_nonnull(strstr(g.got, "HTTP/1.1 500 Internal Server Error\r\n"));
  fx_free(&g);
}
END_TEST

START_TEST(test_oversized_head) {
  fx f = {0};
  size_t big = 20000;
  char *req = malloc(big + 64);
  int n = sprintf(req, "GET /health HTTP/1.1\r\nX-Big: ");
  memset(req + n, 'a', big);
  strcpy(req + n + big, "\r\n\r\n");
  run_simple(&f, req, strlen(req));
  ck_assert_int_eq(f.got_eof, 1);
  ck_assert_int_eq(f.requests, 0);
  ck_assert_ptr_nonnull(strstr(f.got, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  ck_assert_ptr_nonnull(strstr(f.got, "Connection: close\r\n"));
  free(req);
  fx_free(&f);
}
END_TEST

START_TEST(test_body_too_large) {
  fx f = {0};
  const char *req = "POST /health HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc";
  run_simple(&f, req, strlen(req));
  ck_assert_int_eq(f.got_eof, 1);
  ck_assert_int_eq(f.requests, 0);
  ck_assert_ptr_nonnull(strstr(f.got, "HTTP/1.1 413 Payload Too Large\r\n"));
  fx_free(&f);
}
END_TEST

static const char up_extra[] = "\x81\x05hello\x00\x01\xff tail";
#define UP_REQ "GET /moq?token=t HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n" \
               "Upgrade: websocket\r\nSec-WebSocket-Key: abc\r\n\r\n"

static void client_upgrade(fx *f) {
  char req[512];
  size_t n = strlen("GET /health HTTP/1.1\r\n\r\n" UP_REQ);
  memcpy(req, "GET /health HTTP/1.1\r\n\r\n" UP_REQ, n);
  memcpy(req + n, up_extra, sizeof up_extra - 1);
  exchange(f, req, n + sizeof up_extra - 1);
}

START_TEST(test_upgrade_handover) {
  fx f = {.with_upgrade = 1};
  run(&f, client_upgrade);
  ck_assert_int_eq(f.upgrade_calls, 1);
  ck_assert_int_eq(f.requests, 1);
  ck_assert_uint_eq(f.extra_len, sizeof up_extra - 1);
  ck_assert_mem_eq(f.extra, up_extra, f.extra_len);
  ck_assert_int_eq(f.got_eof, 1);
  strip_date(f.got, &f.got_len); /* no NUL before the echoed extra, so strlen works up to it */
  const char *h = HEALTH_OK "HTTP/1.1 101 Switching Protocols\r\n\r\n";
  ck_assert_mem_eq(f.got, h, strlen(h));
  fx_free(&f);
  /* the echoed bytes, binary included, follow the 101 */
  fx g = {.with_upgrade = 1};
  run(&g, client_upgrade);
  const char *p = memmem(g.got, g.got_len, "Protocols\r\n\r\n", 13);
  ck_assert_ptr_nonnull(p);
  p += 13;
  ck_assert_uint_eq((size_t)(g.got + g.got_len - p), sizeof up_extra - 1);
  ck_assert_mem_eq(p, up_extra, sizeof up_extra - 1);
  fx_free(&g);
}
END_TEST

START_TEST(test_upgrade_refused_or_absent) {
  fx f = {.with_upgrade = 1, .upgrade_rc = -1};
  const char *req = UP_REQ;
  run_simple(&f, req, strlen(req));
  ck_assert_int_eq(f.upgrade_calls, 1);
  ck_assert_int_eq(f.got_eof, 1);
  ck_assert_ptr_nonnull(strstr(f.got, "HTTP/1.1 400 Bad Request\r\n"));
  fx_free(&f);
  /* a positive answer: on_request answers the request (here 404), then the connection closes */
  fx r = {.with_upgrade = 1, .upgrade_rc = 1};
  run_simple(&r, req, strlen(req));
  ck_assert_int_eq(r.upgrade_calls, 1);
  ck_assert_int_eq(r.requests, 1);
  ck_assert_int_eq(r.got_eof, 1);
  ck_assert_ptr_nonnull(strstr(r.got, "HTTP/1.1 404 Not Found\r\n"));
  ck_assert_ptr_nonnull(strstr(r.got, "Connection: close\r\n"));
  fx_free(&r);
  /* without on_upgrade: a normal response, and the connection keeps speaking HTTP/1.1 */
  fx g = {0};
  req = "GET /health HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n";
  run_simple(&g, req, strlen(req));
  ck_assert_int_eq(g.requests, 2);
  strip_date(g.got, &g.got_len);
  ck_assert_str_eq(g.got, HEALTH_OK HEALTH_OK_CLOSE);
  fx_free(&g);
}
END_TEST

static void client_close_open(fx *f) {
  int a = cl_connect(f->port), b = cl_connect(f->port);
  char buf[1024];
  cl_sends(a, "GET /health HTTP/1.1\r\n\r\n");
  cl_read_response(a, buf, sizeof buf, 0);
  cl_sends(b, "GET /heal");
  usleep(100 * 1000);
  f->signalled = 1;
  uv_async_send(&f->async); /* close the server while both are open */
  f->got = cl_read_all(a, &f->got_len, &f->got_eof);
  f->got2 = cl_read_all(b, &f->got2_len, &f->got2_eof);
  close(a);
  close(b);
}

START_TEST(test_close_with_open_connections) {
  fx f = {0};
  run(&f, client_close_open);
  ck_assert_int_eq(f.got_eof, 1);
  ck_assert_int_eq(f.got2_eof, 1);
  ck_assert_uint_eq(f.got_len, 0);
  ck_assert_uint_eq(f.got2_len, 0);
  fx_free(&f);
}
END_TEST

static void client_limits(fx *f) {
  int a = cl_connect(f->port);
  char buf[1024];
  cl_sends(a, "GET /health HTTP/1.1\r\n\r\n");
  cl_read_response(a, buf, sizeof buf, 0);
  int b = cl_connect(f->port); /* over max_connections: closed at once */
  if (b >= 0) {
    f->got2 = cl_read_all(b, &f->got2_len, &f->got2_eof);
    close(b);
  }
  struct timespec t0, t1; /* then a sits idle until the server times it out */
  clock_gettime(CLOCK_MONOTONIC, &t0);
  f->got = cl_read_all(a, &f->got_len, &f->got_eof);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  f->elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  close(a);
}

START_TEST(test_max_connections_and_idle) {
  fx f = {.use_opts = 1};
  http_server_options_default(&f.opts);
  f.opts.max_connections = 1;
  f.opts.idle_timeout_ms = 300;
  run(&f, client_limits);
  ck_assert_int_eq(f.got2_eof, 1);
  ck_assert_uint_eq(f.got2_len, 0);
  ck_assert_int_eq(f.got_eof, 1);
  ck_assert_uint_eq(f.got_len, 0);
  ck_assert(f.elapsed < 3.0);
  fx_free(&f);
}
END_TEST

#define BP_COUNT 600

static void client_backpressure(fx *f) {
  int fd = cl_connect(f->port);
  const char *one = "GET /big HTTP/1.1\r\n\r\n";
  size_t ol = strlen(one);
  const char *last = "GET /big HTTP/1.1\r\nConnection: close\r\n\r\n";
  char *req = malloc(ol * BP_COUNT + strlen(last) + 1);
  for (int i = 0; i < BP_COUNT - 1; i++) memcpy(req + (size_t)i * ol, one, ol);
  strcpy(req + (size_t)(BP_COUNT - 1) * ol, last);
  cl_sends(fd, req);
  free(req);
  usleep(500 * 1000); /* not reading: the server must stop answering */
  f->seen_mid = __atomic_load_n(&f->requests, __ATOMIC_SEQ_CST);
  f->got = cl_read_all(fd, &f->got_len, &f->got_eof);
  close(fd);
}

START_TEST(test_backpressure) {
  fx f = {.use_opts = 1};
  http_server_options_default(&f.opts);
  f.opts.max_output = 4 * BIG_BODY;
  run(&f, client_backpressure);
  ck_assert_int_lt(f.seen_mid, BP_COUNT);
  ck_assert_int_eq(f.requests, BP_COUNT);
  ck_assert_int_eq(f.got_eof, 1);
  int count = 0;
  for (const char *p = f.got; (p = memmem(p, f.got_len - (size_t)(p - f.got), "HTTP/1.1 200", 12));
       p += 12)
    count++;
  ck_assert_int_eq(count, BP_COUNT);
  fx_free(&f);
}
END_TEST

START_TEST(test_bind_error) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct sockaddr_in a;
  uv_ip4_addr("192.0.2.1", 1, &a); /* not a local address */
  http_server_callbacks cb = {.on_request = on_request};
  char err[256] = "";
  const struct sockaddr *sa = (const struct sockaddr *)&a;
  ck_assert_ptr_null(http_server_new(&loop, sa, &cb, NULL, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "192.0.2.1:1"));
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  log_set_level(LOG_WARN);
  Suite *s = suite_create("http_server");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_get_exact);
  tcase_add_test(tc, test_head);
  tcase_add_test(tc, test_keepalive_head_404);
  tcase_add_test(tc, test_pipelined_with_body);
  tcase_add_test(tc, test_request_fields);
  tcase_add_test(tc, test_request_trickled);
  tcase_add_test(tc, test_malformed);
  tcase_add_test(tc, test_http10_and_500);
  tcase_add_test(tc, test_oversized_head);
  tcase_add_test(tc, test_body_too_large);
  tcase_add_test(tc, test_upgrade_handover);
  tcase_add_test(tc, test_upgrade_refused_or_absent);
  tcase_add_test(tc, test_close_with_open_connections);
  tcase_add_test(tc, test_max_connections_and_idle);
  tcase_add_test(tc, test_backpressure);
  tcase_add_test(tc, test_bind_error);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
