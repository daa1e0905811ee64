#include "relay/relay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "base/log.h"
#include "http/http_server.h"
#include "quic/quic.h"
#include "tls/tls.h"

/* ALPNs the relay answers, in its order of preference. */
static const char *const relay_alpns[] = {"moq-lite-05", "moq-lite-04", "moq-lite-03", "moql"};

struct relay {
  uv_loop_t *loop;            /* borrowed */
  const relay_config *cfg;    /* borrowed */
  tls_identity identity;      /* owned */
  tls_ctx *tls;               /* owned */
  quic_endpoint *quic;        /* owned */
  http_server *http;          /* owned */
  int pending_closes;
  void (*done)(void *);
  void *done_arg;
};

/* ------------------------------------------------------------------------------------------ */
/* Sessions (the moq layer plugs in here) */

static void session_ready(quic_conn *c, void *ud) {
  (void)ud;
  char addr[64];
  addr_format((const struct sockaddr *)&quic_conn_remote(c)->ss, addr, sizeof addr);
  LOG_INF("session_open", "conn=%s remote=%s alpn=%s", quic_conn_log_id(c), addr, quic_conn_alpn(c));
}

static void session_closed(quic_conn *c, const quic_close_info *info, void *ud) {
  (void)info;
  (void)ud;
  LOG_DBG("session_closed", "conn=%s", quic_conn_log_id(c));
}

static const quic_conn_handler session_handler = {
    .on_ready = session_ready,
    .on_closed = session_closed,
};

static void on_accept(void *ud, quic_conn *c) { quic_conn_set_handler(c, &session_handler, ud); }

/* ------------------------------------------------------------------------------------------ */
/* HTTP */

static int on_http_request(void *ud, const http_request *req, http_response *resp) {
  relay *r = ud;
  static const char text[] = "text/plain; charset=utf-8";
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
    resp->status = 405;
    resp->content_type = text;
    resp->body = (const uint8_t *)"method not allowed\n";
    resp->body_len = strlen((const char *)resp->body);
    http_response_add_header(resp, "Allow", "GET, HEAD");
    return 0;
  }
  if (strcmp(req->path, "/certificate.sha256") == 0 || strcmp(req->path, "/fingerprint") == 0) {
    resp->status = 200;
    resp->content_type = text;
    resp->body = (const uint8_t *)r->identity.fingerprint;
    resp->body_len = strlen(r->identity.fingerprint);
    http_response_add_header(resp, "Access-Control-Allow-Origin", "*");
    http_response_add_header(resp, "Cache-Control", "no-store");
    return 0;
  }
  if (strcmp(req->path, "/health") == 0) {
    resp->status = 200;
    resp->content_type = text;
    resp->body = (const uint8_t *)"ok\n";
    resp->body_len = 3;
    return 0;
  }
  resp->status = 404;
  resp->content_type = text;
  resp->body = (const uint8_t *)"not found\n";
  resp->body_len = 10;
  http_response_add_header(resp, "Access-Control-Allow-Origin", "*");
  return 0;
}

static const http_server_callbacks http_callbacks = {.on_request = on_http_request};

/* ------------------------------------------------------------------------------------------ */
/* Life cycle */

static void free_relay(relay *r) {
  tls_ctx_free(r->tls);
  tls_identity_free(&r->identity);
  free(r);
}

relay *relay_new(uv_loop_t *loop, const relay_config *cfg, char *err, size_t errlen) {
  relay *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  r->loop = loop;
  r->cfg = cfg;
  if (cfg->tls_generate.len > 0) {
    if (tls_identity_generate(&r->identity, (const char *const *)cfg->tls_generate.items, cfg->tls_generate.len,
                              err, errlen))
      goto fail;
  } else if (tls_identity_load(&r->identity, cfg->tls_cert, cfg->tls_key, err, errlen)) {
    goto fail;
  }
  r->tls = tls_server_ctx_new(&r->identity, relay_alpns, sizeof relay_alpns / sizeof relay_alpns[0], cfg->tls_root,
                              err, errlen);
  if (!r->tls) goto fail;

  struct sockaddr_storage ss;
  socklen_t sl;
  char aerr[256];
  if (addr_parse(cfg->server_bind, &ss, &sl, aerr, sizeof aerr)) {
    snprintf(err, errlen, "server bind \"%s\": %s", cfg->server_bind, aerr);
    goto fail;
  }
  quic_settings qs;
  quic_settings_default(&qs);
  qs.idle_timeout_ms = cfg->quic_idle_timeout_ms;
  qs.keep_alive_ms = cfg->quic_keep_alive_ms;
  qs.max_streams_bidi = cfg->quic_max_streams;
  qs.max_streams_uni = cfg->quic_max_streams;
  char qerr[256];
  r->quic = quic_endpoint_new(loop, (struct sockaddr *)&ss, sl, r->tls, &qs, on_accept, r, qerr, sizeof qerr);
  if (!r->quic) {
    snprintf(err, errlen, "server bind %s: %s", cfg->server_bind, qerr);
    goto fail;
  }
  char qaddr[80];
  addr_format((const struct sockaddr *)&quic_endpoint_local(r->quic)->ss, qaddr, sizeof qaddr);

  char haddr[80] = "-";
  if (cfg->web_http_listen) {
    if (addr_parse(cfg->web_http_listen, &ss, &sl, aerr, sizeof aerr)) {
      snprintf(err, errlen, "web http listen \"%s\": %s", cfg->web_http_listen, aerr);
      goto fail_quic;
    }
    char herr[256];
    r->http = http_server_new(loop, (struct sockaddr *)&ss, &http_callbacks, r, herr, sizeof herr);
    if (!r->http) {
      snprintf(err, errlen, "web http listen %s: %s", cfg->web_http_listen, herr);
      goto fail_quic;
    }
    struct sockaddr_storage hs;
    if (http_server_local_addr(r->http, &hs) == 0) addr_format((struct sockaddr *)&hs, haddr, sizeof haddr);
  }
  const char *host = cfg->tls_generate.len ? cfg->tls_generate.items[0] : "localhost";
  int port = relay_quic_port(r);
  LOG_INF("listening", "quic=%s http=%s url=https://%s:%d/ fingerprint=%s", qaddr, haddr, host, port,
          r->identity.fingerprint);
  return r;
fail_quic:
  quic_endpoint_shutdown(r->quic, 0, "startup failed", NULL, NULL);
  r->quic = NULL;
fail:
  free_relay(r);
  return NULL;
}

const char *relay_fingerprint(const relay *r) { return r->identity.fingerprint; }

int relay_quic_port(const relay *r) {
  const udp_addr *a = quic_endpoint_local(r->quic);
  if (a->ss.ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

static void part_closed(void *arg) {
  relay *r = arg;
  if (--r->pending_closes > 0) return;
  void (*done)(void *) = r->done;
  void *done_arg = r->done_arg;
  free_relay(r);
  if (done) done(done_arg);
}

void relay_shutdown(relay *r, void (*done)(void *), void *arg) {
  r->done = done;
  r->done_arg = arg;
  r->pending_closes = 1 + (r->http ? 1 : 0);
  LOG_INF("shutdown", "sessions=%zu", quic_endpoint_conn_count(r->quic));
  if (r->http) http_server_close(r->http, part_closed, r);
  r->http = NULL;
  quic_endpoint_shutdown(r->quic, 0, "relay shutting down", part_closed, r);
  r->quic = NULL;
}
