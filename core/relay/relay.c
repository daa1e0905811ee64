#include "relay/relay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/scope.h"
#include "base/addr.h"
#include "base/log.h"
#include "http/http_server.h"
#include "moq/quic_binding.h"
#include "moq/session.h"
#include "origin/origin.h"
#include "quic/quic.h"
#include "tls/tls.h"
#include "ws/ws_binding.h"
#include "ws/ws_handshake.h"

/* ALPNs the relay answers, in its order of preference. */
static const char *const relay_alpns[] = {"moq-lite-05", "moq-lite-04", "moq-lite-03", "moql"};

/* What admission needs to know of a session, whatever its transport. */
typedef struct relay_peer {
  relay *r;
  const char *log_id; /* borrowed from the transport connection, set when the session starts */
} relay_peer;

/* A raw QUIC session (the binding first: it is what the QUIC side hands back). */
typedef struct quic_peer {
  moq_quic_binding b;
  relay_peer p;
} quic_peer;

/* A WebSocket session. */
typedef struct ws_peer {
  moq_ws_binding b;
  relay_peer p;
  struct ws_peer *next, *prev; /* the relay's list, to close them at shutdown */
} ws_peer;

struct relay {
  uv_loop_t *loop;            /* borrowed */
  const relay_config *cfg;    /* borrowed */
  tls_identity identity;      /* owned */
  tls_ctx *tls;               /* owned */
  quic_endpoint *quic;        /* owned */
  http_server *http;          /* owned */
  ws_options ws_opts;         /* limits of WebSocket sessions */
  ws_peer *ws_peers;          /* owned list: open WebSocket sessions */
  int shutting_down;
  origin *origin;             /* owned: every broadcast of every session */
  uint64_t hop_id;            /* this relay's hop id in announcements */
  size_t n_sessions;
  int pending_closes;
  void (*done)(void *);
  void *done_arg;
};

/* ------------------------------------------------------------------------------------------ */
/* Sessions */

/* Admission: the session's path (and query) against the configured access. Tokens come with the
 * auth plugins; for now public prefixes, scoped as the reference relay does. */
static void session_path(moq_session *s, const char *path_and_query, int role, void *ud) {
  relay_peer *peer = ud;
  relay *r = peer->r;
  char path[1100];
  size_t n = strcspn(path_and_query, "?");
  if (n >= sizeof path) n = sizeof path - 1;
  memcpy(path, path_and_query, n);
  path[n] = 0;
  /* A token with no key to check it against is refused, as the reference relay does. */
  const char *q = strchr(path_and_query, '?');
  for (const char *k = q; k && *k; k = strchr(k + 1, '&')) {
    if (strncmp(k + 1, "jwt=", 4) == 0 && k[5] && k[5] != '&') {
      LOG_INF("session_refused", "conn=%s reason=\"a token was given but no auth key is configured\"",
              peer->log_id);
      moq_session_close(s, MOQ_CODE_UNAUTHORIZED, "unexpected token");
      return;
    }
  }
  const char *const *pub = (const char *const *)r->cfg->auth_public.items;
  size_t n_pub = r->cfg->auth_public.len;
  scope_result res;
  int rv = scope_apply(path, "", pub, n_pub, pub, n_pub, &res);
  char qp[300];
  if (rv != SCOPE_OK) {
    LOG_INF("session_refused", "conn=%s path=%s reason=\"%s\"", peer->log_id, log_quote(qp, sizeof qp, path),
            rv == SCOPE_ERR_NOMEM ? "out of memory" : "no access to this path without a token");
    moq_session_close(s, MOQ_CODE_UNAUTHORIZED, "unauthorized");
    return;
  }
  moq_grants g = {.publish = (const char *const *)res.publish, .n_publish = res.n_publish,
                  .subscribe = (const char *const *)res.subscribe, .n_subscribe = res.n_subscribe};
  if (role == 1) g.n_subscribe = 0; /* lite-05 Role: a publisher only */
  if (role == 2) g.n_publish = 0;   /* a subscriber only */
  LOG_INF("session_accepted", "conn=%s root=%s publish=%zu subscribe=%zu", peer->log_id,
          res.root[0] ? res.root : "/", g.n_publish, g.n_subscribe);
  if (moq_session_accept(s, res.root, &g)) moq_session_close(s, MOQ_CODE_UNAUTHORIZED, "cannot accept");
  scope_result_free(&res);
}

static const moq_session_events session_events = {.on_path = session_path};

static void session_ready(moq_quic_binding *b) {
  quic_peer *qp = (quic_peer *)b;
  relay *r = b->owner;
  quic_conn *c = b->conn;
  qp->p.log_id = quic_conn_log_id(c);
  char addr[80];
  addr_format((const struct sockaddr *)&quic_conn_remote(c)->ss, addr, sizeof addr);
  moq_session_config sc = {.is_server = 1, .alpn = quic_conn_alpn(c), .hop_id = r->hop_id,
                           .log_id = quic_conn_log_id(c)};
  moq_transport tr;
  moq_quic_transport(&tr, c);
  b->session = moq_session_new(&sc, &tr, r->origin, &session_events, &qp->p);
  LOG_INF("session_open", "conn=%s remote=%s transport=quic alpn=%s", quic_conn_log_id(c), addr, quic_conn_alpn(c));
}

static void session_gone(moq_quic_binding *b, const quic_close_info *info) {
  relay *r = b->owner;
  r->n_sessions--;
  free(b);
}

static void on_accept(void *ud, quic_conn *c) {
  relay *r = ud;
  quic_peer *qp = calloc(1, sizeof *qp);
  if (!qp) {
    quic_conn_close(c, 0, "out of memory");
    return;
  }
  qp->p.r = r;
  qp->p.log_id = "-";
  moq_quic_binding *b = &qp->b;
  b->ready = session_ready;
  b->closed = session_gone;
  b->owner = r;
  r->n_sessions++;
  quic_conn_set_handler(c, &moq_quic_handler, b);
}

/* ------------------------------------------------------------------------------------------ */
/* WebSocket sessions: an upgrade on any path of the HTTP listener; the URL path and query are the
 * session's path, and the client always runs the legacy setup exchange (subprotocol "webtransport"
 * names no moq version). */

static void part_closed(void *arg);

static void ws_session_ready(moq_ws_binding *b) {
  ws_peer *wp = (ws_peer *)b;
  relay *r = b->owner;
  ws_conn *c = b->conn;
  wp->p.log_id = ws_conn_log_id(c);
  moq_session_config sc = {.is_server = 1, .alpn = MOQ_ALPN_LEGACY, .path = ws_conn_path(c), .hop_id = r->hop_id,
                           .log_id = ws_conn_log_id(c)};
  moq_transport tr;
  moq_ws_transport(&tr, c);
  b->session = moq_session_new(&sc, &tr, r->origin, &session_events, &wp->p);
  char path[300], pq[300];
  size_t n = strcspn(ws_conn_path(c), "?"); /* never the query: it may hold a token */
  if (n >= sizeof path) n = sizeof path - 1;
  memcpy(path, ws_conn_path(c), n);
  path[n] = 0;
  LOG_INF("session_open", "conn=%s remote=%s transport=websocket protocol=%s path=%s", ws_conn_log_id(c),
          ws_conn_remote(c), WS_SUBPROTOCOL, log_quote(pq, sizeof pq, path));
}

static void ws_session_gone(moq_ws_binding *b, const ws_close_info *info) {
  ws_peer *wp = (ws_peer *)b;
  relay *r = b->owner;
  if (wp->prev) wp->prev->next = wp->next;
  else r->ws_peers = wp->next;
  if (wp->next) wp->next->prev = wp->prev;
  r->n_sessions--;
  free(wp);
  if (r->shutting_down && !r->ws_peers) part_closed(r);
}

static int on_http_upgrade(void *ud, const http_request *req, uv_tcp_t *conn, const uint8_t *extra,
                           size_t extra_len) {
  relay *r = ud;
  ws_handshake hs;
  if (r->shutting_down) return -1;
  if (!ws_handshake_is_websocket(req)) return 1; /* another protocol: answered as a plain request */
  if (ws_handshake_check(req, &hs) != 0) {
    char pq[300], rq[200];
    LOG_INF("ws_refused", "remote=%s path=%s status=%d reason=%s", req->remote_str,
            log_quote(pq, sizeof pq, req->path), hs.status, log_quote(rq, sizeof rq, hs.reason));
    return 1; /* on_http_request answers with the refusal */
  }
  ws_peer *wp = calloc(1, sizeof *wp);
  if (!wp) return -1;
  wp->p.r = r;
  wp->p.log_id = "-";
  wp->b.ready = ws_session_ready;
  wp->b.closed = ws_session_gone;
  wp->b.owner = r;
  ws_conn *c = ws_conn_accept(r->loop, conn, req, &hs, extra, extra_len, &r->ws_opts, &moq_ws_handler, &wp->b);
  if (!c) { /* out of memory: the connection was closed */
    free(wp);
    return 0;
  }
  wp->b.conn = c;
  wp->next = r->ws_peers;
  if (r->ws_peers) r->ws_peers->prev = wp;
  r->ws_peers = wp;
  r->n_sessions++;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP */

static int on_http_request(void *ud, const http_request *req, http_response *resp) {
  relay *r = ud;
  static const char text[] = "text/plain; charset=utf-8";
  if (ws_handshake_is_websocket(req)) { /* a WebSocket handshake that was refused: say why */
    ws_handshake hs;
    if (ws_handshake_check(req, &hs) != 0) {
      ws_handshake_refusal(&hs, resp);
      return 0;
    }
  }
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

static const http_server_callbacks http_callbacks = {.on_request = on_http_request, .on_upgrade = on_http_upgrade};

/* ------------------------------------------------------------------------------------------ */
/* Life cycle */

static void free_relay(relay *r) {
  origin_free(r->origin);
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
  ws_options_default(&r->ws_opts);
  r->ws_opts.idle_timeout_ms = cfg->quic_idle_timeout_ms; /* the same timers and limits as QUIC */
  r->ws_opts.keep_alive_ms = cfg->quic_keep_alive_ms;
  r->ws_opts.max_streams = (size_t)cfg->quic_max_streams;
  origin_limits ol;
  origin_limits_default(&ol);
  ol.cache_ms = cfg->cache_duration_ms;
  ol.cache_track_bytes = (size_t)cfg->cache_track_bytes;
  r->origin = origin_new(&ol, NULL, NULL);
  if (!r->origin) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  /* A random hop id below 2^53 (older JS clients read hop ids as doubles), never 0. */
  uint8_t rnd[8];
  quic_random(rnd, sizeof rnd);
  for (size_t i = 0; i < 8; i++) r->hop_id = r->hop_id << 8 | rnd[i];
  r->hop_id = (r->hop_id & ((1ULL << 53) - 1)) | 1;
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
  r->pending_closes = 1 + (r->http ? 1 : 0) + (r->ws_peers ? 1 : 0);
  r->shutting_down = 1;
  size_t n_ws = 0;
  for (ws_peer *wp = r->ws_peers; wp; wp = wp->next) n_ws++;
  LOG_INF("shutdown", "sessions=%zu websocket=%zu", quic_endpoint_conn_count(r->quic), n_ws);
  for (ws_peer *wp = r->ws_peers; wp; wp = wp->next) ws_conn_close(wp->b.conn, 0, "relay shutting down");
  if (r->http) http_server_close(r->http, part_closed, r);
  r->http = NULL;
  quic_endpoint_shutdown(r->quic, 0, "relay shutting down", part_closed, r);
  r->quic = NULL;
}
