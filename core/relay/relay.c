#include "relay/relay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <time.h>

#include "auth/scope.h"
#include "base/addr.h"
#include "base/idmap.h"
#include "base/log.h"
#include "h3/wt_binding.h"
#include "hook/hook.h"
#include "http/http_server.h"
#include "moq/quic_binding.h"
#include "moq/session.h"
#include "origin/origin.h"
#include "quic/quic.h"
#include "relay/links.h"
#include "tls/tls.h"
#include "ws/ws_binding.h"
#include "ws/ws_handshake.h"
#include "builtin.h"

/* ALPNs the relay answers, in its order of preference ("h3": WebTransport over HTTP/3). */
static const char *const relay_alpns[] = {"moq-lite-05", "moq-lite-04", "moq-lite-03", "moql", "h3"};
/* Protocols the relay chooses from a WebTransport client's wt-available-protocols, in its order of
 * preference; none of them offered (or no header) means the setup exchange ("moql"). The WebSocket
 * subprotocols "qmux-01.<p>" and "qmux-00.<p>" are offered for each of them, in this order. */
static const char *const relay_wt_protocols[] = {"moq-lite-05", "moq-lite-04", "moq-lite-03", "moql"};
#define RELAY_MOQ_ALPNS (sizeof relay_wt_protocols / sizeof relay_wt_protocols[0])

struct relay {
  uv_loop_t *loop;            /* borrowed */
  const relay_config *cfg;    /* borrowed */
  tls_identity identity;      /* owned (empty when borrowed from worker 0) */
  const tls_identity *id;     /* the certificate: &identity, or worker 0's */
  unsigned worker, workers;   /* this relay is worker `worker` of `workers` */
  tls_ctx *tls;               /* owned */
  tls_ctx *client_tls;        /* owned: for links to other relays */
  links *links;               /* owned: outbound links, remote broadcasts */
  quic_endpoint *quic;        /* owned */
  http_server *http;          /* owned */
  ws_options ws_opts;         /* limits of WebSocket sessions */
  struct ws_peer *ws_peers;   /* owned list: open WebSocket sessions */
  int shutting_down;
  origin *origin;             /* owned: every broadcast of every session */
  uint64_t hop_id;            /* this relay's hop id in announcements */
  hook_chain *hooks;          /* owned: the plugins, in configuration order */
  origin_watch *bc_watch;     /* owned: broadcast up/down events for the plugins */
  idmap sessions;             /* session id -> relay_session (borrowed) */
  session_quota own_quota;    /* the session limits, when alone */
  session_quota *quota;       /* &own_quota, or the one the workers share */
  int own_quota_init;
  uint64_t next_session_id;
  size_t n_sessions;
  uv_timer_t *trim;           /* owned: gives freed heap back to the system now and then */
  stats_board *stats;         /* borrowed: the workers' figures (NULL when alone) */
  int cluster_shared;         /* one of several workers in a cluster: remote broadcasts, markers and
                                 what links import are shared with every worker (see links.h) */
  uv_timer_t *stats_pub;      /* owned: publishes this worker's figures there (workers 1..n-1) */
  int pending_closes;
  void (*done)(void *);
  void *done_arg;
};

/* ------------------------------------------------------------------------------------------ */
/* Sessions */

/* A session as the relay holds it, whatever its transport: what admission decided. */
typedef struct relay_session {
  relay *r;
  uint64_t id;
  moq_session **session;    /* the binding's session field (NULL once the session is gone) */
  const char *log_id;       /* borrowed from the transport connection, set when the session starts */
  const char *transport;    /* "quic" or "websocket" (static) */
  const char *protocol;     /* borrowed: ALPN or subprotocol */
  char remote[80];
  quic_conn *qc;            /* QUIC (raw or WebTransport; client certificates), else NULL */
  hook_session hs;          /* what plugins see */
  int deciding;             /* admission waits for a plugin */
  int admitted;
  int cluster_peer;
  int counted;              /* counted in per_address under remote */
  uv_timer_t *expiry;       /* owned (closed with the session): the token's exp */
  uv_timer_t *wake;         /* owned (closed with the session): the session's want_wakeup */
} relay_session;

/* A raw QUIC session (the binding first: it is what the QUIC side hands back). */
typedef struct quic_peer {
  moq_quic_binding b;
  relay_session p;
} quic_peer;

/* A WebTransport session (HTTP/3 on the QUIC port). */
typedef struct wt_peer {
  moq_wt_binding b;
  relay_session p;
} wt_peer;

/* A WebSocket session. */
typedef struct ws_peer {
  moq_ws_binding b;
  relay_session p;
  struct ws_peer *next, *prev; /* the relay's list, to close them at shutdown */
} ws_peer;

typedef struct gate_ctx { /* one pending announce, subscribe or route decision */
  relay_session *rs;
  uint64_t ticket;
  char *route_path; /* owned: the broadcast asked for, for a route decision; NULL for the others */
} gate_ctx;

static moq_session *rs_session(const relay_session *rs) { return rs->session ? *rs->session : NULL; }

static void timer_closed(uv_handle_t *h) { free(h); }

/* Stops one of our malloc'd timers and frees it once libuv has closed it; *t becomes NULL. */
static void timer_free(uv_timer_t **t) {
  if (!*t) return;
  uv_timer_stop(*t);
  uv_close((uv_handle_t *)*t, timer_closed);
  *t = NULL;
}

/* (Re)starts one of rs's timers, made on first use (nothing when memory is short): fire in ms. */
static void rs_timer_start(relay_session *rs, uv_timer_t **t, uv_timer_cb fire, uint64_t ms) {
  if (!*t) {
    if (!(*t = malloc(sizeof **t))) return;
    uv_timer_init(rs->r->loop, *t);
    (*t)->data = rs;
  }
  uv_timer_start(*t, fire, ms, 0);
}

static void expiry_fire(uv_timer_t *t) {
  relay_session *rs = t->data;
  LOG_INF("session_expired", "conn=%s id=%llu", rs->log_id, (unsigned long long)rs->id);
  if (rs_session(rs)) moq_session_close(rs_session(rs), MOQ_CODE_UNAUTHORIZED, "token expired");
}

static void expiry_set(relay_session *rs, int64_t expires) {
  if (expires <= 0) return;
  int64_t now = (int64_t)time(NULL);
  uint64_t ms = expires > now ? (uint64_t)(expires - now) * 1000 : 0;
  rs_timer_start(rs, &rs->expiry, expiry_fire, ms);
}

static void wake_fire(uv_timer_t *t) {
  relay_session *rs = t->data;
  if (rs_session(rs)) moq_session_wakeup(rs_session(rs));
}

static void session_want_wakeup(moq_session *s, uint64_t delay_ms, void *ud) {
  relay_session *rs = ud;
  rs_timer_start(rs, &rs->wake, wake_fire, delay_ms); /* out of memory: it waits for the session's end */
}

static void refuse(relay_session *rs, uint64_t code, const char *reason, const char *plugin) {
  char qp[300], qr[300];
  char slashed[1100];
  snprintf(slashed, sizeof slashed, "/%s", rs->hs.path);
  LOG_INF("session_refused", "conn=%s path=%s reason=%s%s%s", rs->log_id,
          log_quote(qp, sizeof qp, slashed), log_quote(qr, sizeof qr, reason),
          plugin ? " plugin=" : "", plugin ? plugin : "");
  if (rs_session(rs)) moq_session_close(rs_session(rs), code ? code : MOQ_CODE_UNAUTHORIZED, reason);
}

/* Accepts the session with grants relative to root. */
static void admit(relay_session *rs, const char *root, char *const *pub, size_t n_pub, char *const *sub,
                  size_t n_sub, int flags, int64_t expires, const char *by) {
  moq_grants g = {.publish = (const char *const *)pub, .n_publish = n_pub,
                  .subscribe = (const char *const *)sub, .n_subscribe = n_sub};
  if (rs->hs.info.role == 1) g.n_subscribe = 0; /* lite-05 Role: a publisher only */
  if (rs->hs.info.role == 2) g.n_publish = 0;   /* a subscriber only */
  if (expires > 0 && expires <= (int64_t)time(NULL)) {
    refuse(rs, MOQ_CODE_UNAUTHORIZED, "token expired", NULL);
    return;
  }
  rs->admitted = 1;
  rs->cluster_peer = (flags & MOQ_GRANT_CLUSTER) != 0;
  char worker[24] = "";
  if (rs->r->workers > 1) snprintf(worker, sizeof worker, " worker=%u", rs->r->worker);
  LOG_INF("session_accepted", "conn=%s id=%llu root=%s publish=%zu subscribe=%zu by=%s%s%s",
          rs->log_id, (unsigned long long)rs->id, root[0] ? root : "/", g.n_publish,
          g.n_subscribe, by, rs->cluster_peer ? " cluster=1" : "", worker);
  if (rs->cluster_peer) moq_session_set_cluster(rs_session(rs), 1); /* one hop: see links.h */
  if (moq_session_accept(rs_session(rs), root, &g)) {
    moq_session_close(rs_session(rs), MOQ_CODE_UNAUTHORIZED, "cannot accept");
    return;
  }
  expiry_set(rs, expires);
  moq_event ev = {.size = sizeof ev, .type = MOQ_EVENT_SESSION_OPEN, .session = &rs->hs.info};
  hook_emit(rs->r->hooks, &ev);
  if (rs->cluster_peer) {
    ev.type = MOQ_EVENT_PEER_UP;
    ev.peer = rs->hs.info.n_peer_names ? rs->hs.info.peer_names[0] : NULL;
    hook_emit(rs->r->hooks, &ev);
  }
}

/* Grants scoped as the reference relay does: put/get relative to claim_root, against the path. */
static void admit_scoped(relay_session *rs, const char *claim_root, const char *const *put, size_t n_put,
                         const char *const *get, size_t n_get, int flags, int64_t expires, const char *by) {
  scope_result res;
  int rv = scope_apply(rs->hs.path, claim_root, put, n_put, get, n_get, &res);
  if (rv != SCOPE_OK) {
    refuse(rs, MOQ_CODE_UNAUTHORIZED,
           rv == SCOPE_ERR_NOMEM  ? "out of memory"
           : rv == SCOPE_ERR_ROOT ? "the path is outside the token's root"
           : strcmp(by, "public") == 0 ? "no access to this path without a token"
                                       : "the token grants nothing under this path",
           NULL);
    return;
  }
  admit(rs, res.root, res.publish, res.n_publish, res.subscribe, res.n_subscribe, flags, expires, by);
  scope_result_free(&res);
}

/* The relay's own rule when no plugin gave grants. allow: a plugin said ALLOW without grants. */
static void admit_default(relay_session *rs, int allow, const char *by) {
  relay *r = rs->r;
  const moq_claims *c = rs->hs.info.claims;
  if (c) {
    admit_scoped(rs, c->root, c->put, c->n_put, c->get, c->n_get, c->cluster ? MOQ_GRANT_CLUSTER : 0, c->exp,
                 by ? by : "token");
    return;
  }
  static char *const everything[] = {""};
  if (allow) {
    admit(rs, rs->hs.path, everything, 1, everything, 1, 0, 0, by);
    return;
  }
  if (rs->hs.jwt) { /* a token nobody could check: refused, as the reference relay does */
    refuse(rs, MOQ_CODE_UNAUTHORIZED, "a token was given but no auth key is configured", NULL);
    return;
  }
  if (rs->hs.info.peer_verified) { /* mTLS: full access under the path, a cluster peer */
    admit(rs, rs->hs.path, everything, 1, everything, 1, MOQ_GRANT_CLUSTER, 0, "certificate");
    return;
  }
  const char *const *pub = (const char *const *)r->cfg->auth_public.items;
  size_t n_pub = r->cfg->auth_public.len;
  if (!n_pub) {
    refuse(rs, MOQ_CODE_UNAUTHORIZED, "a token is required", NULL);
    return;
  }
  admit_scoped(rs, "", pub, n_pub, pub, n_pub, 0, 0, "public");
}

static void apply_admission(relay_session *rs, const hook_verdict *v) {
  rs->deciding = 0;
  if (!rs_session(rs)) return;
  if (v->answer == MOQ_HOOK_DENY) {
    refuse(rs, v->code, v->reason ? v->reason : "refused", v->plugin);
  } else if (v->answer == MOQ_HOOK_ALLOW && v->grants.set) {
    const hook_grants *g = &v->grants; /* like token claims: relative to g->root, scoped to the path */
    admit_scoped(rs, g->root, (const char *const *)g->publish, g->n_publish, (const char *const *)g->subscribe,
                 g->n_subscribe, g->flags, g->expires, v->plugin);
  } else {
    admit_default(rs, v->answer == MOQ_HOOK_ALLOW, v->plugin);
  }
}

static void admission_done(void *ud, const hook_verdict *v) {
  if (v) apply_admission(ud, v);
}

/* Admission: the session's path (and query) is known. */
static void session_path(moq_session *s, const char *path_and_query, int role, void *ud) {
  relay_session *rs = ud;
  hook_session_free(&rs->hs);
  if (hook_session_init(&rs->hs, rs->id, rs->transport, rs->protocol, rs->remote, path_and_query, role)) {
    char qp[300];
    size_t n = strcspn(path_and_query, "?"); /* never the query: it may hold a token */
    char path[300];
    snprintf(path, sizeof path, "%.*s", (int)(n < sizeof path ? n : sizeof path - 1), path_and_query);
    LOG_INF("session_refused", "conn=%s path=%s reason=\"not a valid path\"", rs->log_id,
            log_quote(qp, sizeof qp, path));
    moq_session_close(s, MOQ_CODE_UNAUTHORIZED, "invalid path");
    return;
  }
  tls_peer peer;
  if (rs->qc && quic_conn_peer_cert(rs->qc, &peer) == 0 && peer.present) {
    const char *names[TLS_PEER_MAX_NAMES];
    for (size_t i = 0; i < peer.n_names; i++) names[i] = peer.names[i];
    if (hook_session_set_peer(&rs->hs, names, peer.n_names, peer.fingerprint, 1)) {
      moq_session_close(s, MOQ_CODE_UNAUTHORIZED, "out of memory");
      return;
    }
  }
  hook_verdict v;
  rs->deciding = 1;
  if (hook_ask_session(rs->r->hooks, &rs->hs, &v, admission_done, rs) == MOQ_HOOK_PENDING) return;
  apply_admission(rs, &v);
  hook_verdict_free(&v);
}

/* A broadcast that is not here: plugins may say where it lives. */
static int route_apply(relay_session *rs, const char *path, const hook_verdict *v) {
  if (v->answer != MOQ_HOOK_ALLOW) return MOQ_GATE_DENY;
  if (v->route_url && rs->r->links) {
    if (!remote_publish_routed(rs->r->links, path, v->route_url)) return MOQ_GATE_ALLOW; /* here meanwhile */
    LOG_INF("routed", "id=%llu path=%s plugin=%s", (unsigned long long)rs->id, path, v->plugin ? v->plugin : "-");
  }
  return MOQ_GATE_ALLOW;
}

/* What the session layer is told for a plugin verdict: announce and subscribe gates let plugins
 * refuse what the grants allow; a route verdict may also fetch the broadcast from elsewhere. */
static int gate_verdict(relay_session *rs, const char *route_path, const hook_verdict *v) {
  if (route_path) return route_apply(rs, route_path, v);
  if (v->answer == MOQ_HOOK_DENY) {
    if (v->plugin) LOG_INF("plugin_denied", "id=%llu plugin=%s", (unsigned long long)rs->id, v->plugin);
    return MOQ_GATE_DENY;
  }
  return MOQ_GATE_ALLOW;
}

static void gate_ctx_free(gate_ctx *g) {
  free(g->route_path);
  free(g);
}

/* A verdict that was PENDING arrives (v NULL: the question was cancelled with the session). */
static void gate_done(void *ud, const hook_verdict *v) {
  gate_ctx *g = ud;
  if (v && rs_session(g->rs))
    moq_session_answer(rs_session(g->rs), g->ticket, gate_verdict(g->rs, g->route_path, v) != MOQ_GATE_DENY);
  gate_ctx_free(g);
}

/* Asks the hook chain about an announce (track_name NULL, route 0), a subscribe, or where a missing
 * broadcast lives (route 1); answers now or returns MOQ_GATE_PENDING and answers by ticket later. */
static int gate(relay_session *rs, const char *path, const char *track_name, int route, uint64_t ticket) {
  if (route ? !hook_chain_routes(rs->r->hooks) : !hook_chain_count(rs->r->hooks))
    return route ? MOQ_GATE_DENY : MOQ_GATE_ALLOW;
  gate_ctx *g = calloc(1, sizeof *g);
  if (!g || (route && !(g->route_path = strdup(path)))) {
    free(g);
    return MOQ_GATE_DENY;
  }
  g->rs = rs;
  g->ticket = ticket;
  hook_verdict v;
  int a = route        ? hook_ask_route(rs->r->hooks, &rs->hs, path, &v, gate_done, g)
          : track_name ? hook_ask_subscribe(rs->r->hooks, &rs->hs, path, track_name, &v, gate_done, g)
                       : hook_ask_announce(rs->r->hooks, &rs->hs, path, &v, gate_done, g);
  if (a == MOQ_HOOK_PENDING) return MOQ_GATE_PENDING;
  int answer = gate_verdict(rs, g->route_path, &v);
  hook_verdict_free(&v);
  gate_ctx_free(g);
  return answer;
}

static int session_announce(moq_session *s, const char *path, uint64_t ticket, void *ud) {
  return gate(ud, path, NULL, 0, ticket);
}

static int session_subscribe(moq_session *s, const char *path, const char *track_name, uint64_t ticket, void *ud) {
  return gate(ud, path, track_name, 0, ticket);
}

static int session_route(moq_session *s, const char *path, uint64_t ticket, void *ud) {
  return gate(ud, path, NULL, 1, ticket);
}

static const moq_session_events session_events = {.on_path = session_path,
                                                  .on_announce = session_announce,
                                                  .on_subscribe = session_subscribe,
                                                  .on_route = session_route,
                                                  .want_wakeup = session_want_wakeup};

/* The session settings every transport shares: the configured limits. */
static void session_config(const relay *r, moq_session_config *sc, moq_limits *ml) {
  const relay_limits *l = &r->cfg->limits;
  moq_limits_default(ml);
  ml->max_message = (size_t)l->message_size;
  ml->max_path = (size_t)l->path_length;
  ml->max_segments = (size_t)l->path_segments;
  ml->max_frame = l->frame_size;
  sc->limits = ml;
  sc->max_queued = (size_t)l->subscriber_queue;
  sc->slow_ms = l->subscriber_patience_ms;
  sc->max_subscriptions = (size_t)l->subscriptions;
  sc->max_announce_interests = (size_t)l->announce_interests;
}

/* FNV-1a of an address without its port: the key of the per-address session count. */
static uint64_t addr_key(const char *peer_addr) {
  size_t n = strlen(peer_addr);
  const char *colon = strrchr(peer_addr, ':');
  if (colon && (peer_addr[0] == '[' || !memchr(peer_addr, ':', (size_t)(colon - peer_addr)))) n = (size_t)(colon - peer_addr);
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)peer_addr[i]) * 1099511628211ULL;
  return h | 1;
}

/* Counts a new session from remote; 0, or -1 when a session limit is reached (logged). */
static int sessions_admit(relay *r, const char *peer_addr, const char *transport) {
  const relay_limits *l = &r->cfg->limits;
  const char *which = session_quota_take(r->quota, addr_key(peer_addr), l->sessions, l->sessions_per_address);
  if (which) {
    LOG_INF("session_refused", "remote=%s transport=%s reason=\"limit %s reached\"", peer_addr, transport, which);
    return -1;
  }
  return 0;
}

static void sessions_release(relay *r, const char *peer_addr) { session_quota_give(r->quota, addr_key(peer_addr)); }

/* A new session of any transport: an id, and a place in the relay's table. 0 or -1. */
static int rs_init(relay *r, relay_session *rs, moq_session **session, const char *transport) {
  rs->r = r;
  rs->session = session;
  rs->transport = transport;
  rs->protocol = "";
  rs->log_id = "-";
  rs->id = ++r->next_session_id * r->workers + r->worker; /* unique across workers */
  if (idmap_put(&r->sessions, rs->id, rs)) return -1;
  r->n_sessions++;
  return 0;
}

/* The session is gone: events for the plugins, then its state. */
static void rs_release(relay_session *rs, uint64_t code, const char *reason) {
  relay *r = rs->r;
  if (rs->counted) sessions_release(r, rs->remote);
  r->n_sessions--;
  idmap_del(&r->sessions, rs->id);
  hook_cancel_session(r->hooks, &rs->hs);
  if (rs->admitted) {
    moq_event ev = {.size = sizeof ev, .type = MOQ_EVENT_SESSION_CLOSED, .session = &rs->hs.info,
                    .code = code, .reason = reason};
    hook_emit(r->hooks, &ev);
    if (rs->cluster_peer) {
      ev.type = MOQ_EVENT_PEER_DOWN;
      ev.peer = rs->hs.info.n_peer_names ? rs->hs.info.peer_names[0] : NULL;
      hook_emit(r->hooks, &ev);
    }
  }
  timer_free(&rs->expiry);
  timer_free(&rs->wake);
  hook_session_free(&rs->hs);
}

static void session_ready(moq_quic_binding *b) {
  quic_peer *qp = (quic_peer *)b;
  relay *r = b->owner;
  quic_conn *c = b->conn;
  qp->p.log_id = quic_conn_log_id(c);
  qp->p.protocol = quic_conn_alpn(c);
  qp->p.qc = c;
  addr_format((const struct sockaddr *)&quic_conn_remote(c)->ss, qp->p.remote, sizeof qp->p.remote);
  moq_session_config sc = {.is_server = 1, .alpn = quic_conn_alpn(c), .hop_id = r->hop_id,
                           .log_id = quic_conn_log_id(c)};
  moq_limits ml;
  session_config(r, &sc, &ml);
  moq_transport tr;
  moq_quic_transport(&tr, c);
  b->session = moq_session_new(&sc, &tr, r->origin, &session_events, &qp->p);
  LOG_INF("session_open", "conn=%s id=%llu remote=%s transport=quic alpn=%s", quic_conn_log_id(c),
          (unsigned long long)qp->p.id, qp->p.remote, quic_conn_alpn(c));
}

static void session_gone(moq_quic_binding *b, const quic_close_info *info) {
  quic_peer *qp = (quic_peer *)b;
  qp->p.qc = NULL;
  rs_release(&qp->p, info ? info->code : 0, info ? info->reason : NULL);
  free(qp);
}

/* ------------------------------------------------------------------------------------------ */
/* WebTransport sessions: ALPN "h3" on the QUIC port. The CONNECT's :path (with its query) is the
 * session's path, admitted like the others; the moq version is the relay's first choice among the
 * client's wt-available-protocols, or the setup exchange when it offers none of them. */

static void wt_request_cb(moq_wt_binding *b, const wt_request *req) {
  relay *r = b->owner;
  if (r->shutting_down) {
    wt_session_refuse(b->conn, 503, "the relay is shutting down");
    return;
  }
  const char *chosen = NULL;
  for (size_t i = 0; i < sizeof relay_wt_protocols / sizeof relay_wt_protocols[0] && !chosen; i++)
    for (size_t k = 0; k < req->n_protocols && !chosen; k++)
      if (strcmp(relay_wt_protocols[i], req->protocols[k]) == 0) chosen = relay_wt_protocols[i];
  wt_session_accept(b->conn, chosen);
}

static void wt_session_ready_cb(moq_wt_binding *b) {
  wt_peer *wp = (wt_peer *)b;
  relay *r = b->owner;
  wt_session *ws = b->conn;
  quic_conn *c = wt_session_conn(ws);
  wp->p.log_id = quic_conn_log_id(c);
  wp->p.protocol = moq_wt_alpn(ws);
  wp->p.qc = c;
  addr_format((const struct sockaddr *)&quic_conn_remote(c)->ss, wp->p.remote, sizeof wp->p.remote);
  moq_session_config sc = {.is_server = 1, .alpn = moq_wt_alpn(ws), .path = wt_session_path(ws),
                           .hop_id = r->hop_id, .log_id = quic_conn_log_id(c)};
  moq_transport tr;
  moq_wt_transport(&tr, ws);
  b->session = moq_session_new(&sc, &tr, r->origin, &session_events, &wp->p);
  char path[300], pq[300];
  size_t n = strcspn(wt_session_path(ws), "?"); /* never the query: it may hold a token */
  if (n >= sizeof path) n = sizeof path - 1;
  memcpy(path, wt_session_path(ws), n);
  path[n] = 0;
  const char *proto = wt_session_protocol(ws);
  LOG_INF("session_open", "conn=%s id=%llu remote=%s transport=webtransport protocol=%s path=%s",
          quic_conn_log_id(c), (unsigned long long)wp->p.id, wp->p.remote, proto[0] ? proto : "none",
          log_quote(pq, sizeof pq, path));
}

static void wt_session_gone_cb(moq_wt_binding *b, const wt_close_info *info) {
  wt_peer *wp = (wt_peer *)b;
  wp->p.qc = NULL;
  rs_release(&wp->p, info ? info->code : 0, info ? info->reason : NULL);
  free(wp);
}

/* A connection's handshake completed: run raw QUIC or HTTP/3 on it, by ALPN. */
static void accept_ready(quic_conn *c, void *ud) {
  relay *r = ud;
  char peer[80];
  addr_format((const struct sockaddr *)&quic_conn_remote(c)->ss, peer, sizeof peer);
  int h3 = strcmp(quic_conn_alpn(c), "h3") == 0;
  if (sessions_admit(r, peer, h3 ? "webtransport" : "quic")) {
    quic_conn_close(c, h3 ? 0x107 /* H3_EXCESSIVE_LOAD */ : MOQ_CODE_BOUNDS, "too many sessions");
    return;
  }
  if (h3) {
    wt_peer *wp = calloc(1, sizeof *wp);
    if (!wp || rs_init(r, &wp->p, &wp->b.session, "webtransport")) {
      free(wp);
      sessions_release(r, peer);
      quic_conn_close(c, 0x102 /* H3_INTERNAL_ERROR */, "out of memory");
      return;
    }
    snprintf(wp->p.remote, sizeof wp->p.remote, "%s", peer);
    wp->p.counted = 1;
    wp->b.request = wt_request_cb;
    wp->b.ready = wt_session_ready_cb;
    wp->b.closed = wt_session_gone_cb;
    wp->b.owner = r;
    if (!(wp->b.conn = wt_session_server(r->loop, c, &moq_wt_handler, &wp->b))) {
      rs_release(&wp->p, 0, NULL);
      free(wp);
    }
    return;
  }
  quic_peer *qp = calloc(1, sizeof *qp);
  if (!qp || rs_init(r, &qp->p, &qp->b.session, "quic")) {
    free(qp);
    sessions_release(r, peer);
    quic_conn_close(c, 0, "out of memory");
    return;
  }
  snprintf(qp->p.remote, sizeof qp->p.remote, "%s", peer);
  qp->p.counted = 1;
  qp->b.ready = session_ready;
  qp->b.closed = session_gone;
  qp->b.owner = r;
  quic_conn_set_handler(c, &moq_quic_handler, &qp->b);
  moq_quic_handler.on_ready(c, &qp->b);
}

/* Until the handshake completes a connection has nothing of ours. */
static const quic_conn_handler accept_handler = {.on_ready = accept_ready};

static void on_accept(void *ud, quic_conn *c) { quic_conn_set_handler(c, &accept_handler, ud); }

/* core->session_close for plugins. */
static int close_session_by_id(void *ud, uint64_t id, uint64_t code, const char *reason) {
  relay *r = ud;
  relay_session *rs = idmap_get(&r->sessions, id);
  if (!rs || !rs_session(rs)) return -1;
  LOG_INF("session_closed_by_plugin", "id=%llu code=%llu", (unsigned long long)id, (unsigned long long)code);
  moq_session_close(rs_session(rs), code, reason);
  return 0;
}

static void broadcast_changed(void *ud, const broadcast *b, int active) {
  relay *r = ud;
  moq_event ev = {.size = sizeof ev, .type = active ? MOQ_EVENT_BROADCAST_UP : MOQ_EVENT_BROADCAST_DOWN,
                  .path = broadcast_path(b)};
  hook_emit(r->hooks, &ev);
}

/* ------------------------------------------------------------------------------------------ */
/* WebSocket sessions: an upgrade on any path of the HTTP listener; the URL path and query are the
 * session's path. The subprotocol (ws_handshake.h) fixes the framing and, for "qmux-0N.<alpn>", the
 * moq version as an ALPN does; the bare ones ("qmux-01", "qmux-00", "webtransport") name no moq
 * version, and the client runs the legacy setup exchange. */

static void part_closed(void *arg);

static void ws_session_ready(moq_ws_binding *b) {
  ws_peer *wp = (ws_peer *)b;
  relay *r = b->owner;
  ws_conn *c = b->conn;
  wp->p.log_id = ws_conn_log_id(c);
  const char *alpn = ws_conn_alpn(c) ? ws_conn_alpn(c) : MOQ_ALPN_LEGACY;
  wp->p.protocol = alpn;
  snprintf(wp->p.remote, sizeof wp->p.remote, "%s", ws_conn_remote(c));
  moq_session_config sc = {.is_server = 1, .alpn = alpn, .path = ws_conn_path(c), .hop_id = r->hop_id,
                           .log_id = ws_conn_log_id(c)};
  moq_limits ml;
  session_config(r, &sc, &ml);
  moq_transport tr;
  moq_ws_transport(&tr, c);
  b->session = moq_session_new(&sc, &tr, r->origin, &session_events, &wp->p);
  char path[300], pq[300];
  size_t n = strcspn(ws_conn_path(c), "?"); /* never the query: it may hold a token */
  if (n >= sizeof path) n = sizeof path - 1;
  memcpy(path, ws_conn_path(c), n);
  path[n] = 0;
  LOG_INF("session_open", "conn=%s id=%llu remote=%s transport=websocket protocol=%s alpn=%s path=%s",
          ws_conn_log_id(c), (unsigned long long)wp->p.id, ws_conn_remote(c),
          ws_conn_protocol(c)[0] ? ws_conn_protocol(c) : "none", alpn, log_quote(pq, sizeof pq, path));
}

static void ws_session_gone(moq_ws_binding *b, const ws_close_info *info) {
  ws_peer *wp = (ws_peer *)b;
  relay *r = b->owner;
  if (wp->prev) wp->prev->next = wp->next;
  else r->ws_peers = wp->next;
  if (wp->next) wp->next->prev = wp->prev;
  rs_release(&wp->p, info ? info->code : 0, info ? info->reason : NULL);
  free(wp);
  if (r->shutting_down && !r->ws_peers) part_closed(r);
}

static int on_http_upgrade(void *ud, const http_request *req, uv_tcp_t *conn, const uint8_t *extra,
                           size_t extra_len) {
  relay *r = ud;
  ws_handshake hs;
  if (r->shutting_down) return -1;
  if (!ws_handshake_is_websocket(req)) return 1; /* another protocol: answered as a plain request */
  if (ws_handshake_check(req, relay_wt_protocols, RELAY_MOQ_ALPNS, &hs) != 0) {
    char pq[300], rq[200];
    LOG_INF("ws_refused", "remote=%s path=%s status=%d reason=%s", req->remote_str,
            log_quote(pq, sizeof pq, req->path), hs.status, log_quote(rq, sizeof rq, hs.reason));
    return 1; /* on_http_request answers with the refusal */
  }
  if (sessions_admit(r, req->remote_str, "websocket")) return -1;
  ws_peer *wp = calloc(1, sizeof *wp);
  if (!wp || rs_init(r, &wp->p, &wp->b.session, "websocket")) {
    free(wp);
    sessions_release(r, req->remote_str);
    return -1;
  }
  snprintf(wp->p.remote, sizeof wp->p.remote, "%s", req->remote_str);
  wp->p.counted = 1;
  wp->b.ready = ws_session_ready;
  wp->b.closed = ws_session_gone;
  wp->b.owner = r;
  ws_conn *c = ws_conn_accept(r->loop, conn, req, &hs, extra, extra_len, &r->ws_opts, &moq_ws_handler, &wp->b);
  if (!c) { /* out of memory: the connection was closed */
    rs_release(&wp->p, 0, NULL);
    free(wp);
    return 0;
  }
  wp->b.conn = c;
  wp->next = r->ws_peers;
  if (r->ws_peers) r->ws_peers->prev = wp;
  r->ws_peers = wp;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP */

/* This worker's figures for GET /stats. */
static void relay_stats_now(const relay *r, relay_stats *st) {
  memset(st, 0, sizeof *st);
  size_t pos = 0;
  uint64_t key;
  void *val;
  moq_session_counts one;
  while (idmap_next(&r->sessions, &pos, &key, &val)) {
    relay_session *rs = val;
    moq_session *ms = rs_session(rs);
    st->sessions++;
    st->admitted += rs->admitted != 0;
    if (!ms) continue;
    moq_session_counts_get(ms, &one);
    st->streams += one.streams;
    st->subscriptions += one.subscriptions;
    st->consumes += one.consumes;
  }
  quic_endpoint_counts qc;
  quic_endpoint_counts_get(r->quic, &qc);
  st->datagrams_sent = qc.datagrams_sent;
  st->datagrams_received = qc.datagrams_received;
  st->acks_held = qc.acks_held;
  st->pacing_idle = qc.pacing_idle;
  st->pacing_now = qc.pacing_now;
  st->egress_delay = qc.egress_delay;
}

/* GET /stats' egress_delay_us: count, percentiles (each its bucket's upper edge, so at most 25 %
 * high) and the buckets that hold any, as [lower edge in us, count]. */
static void put_egress_delay(char *out, size_t cap, const delay_hist *h) {
  size_t n = (size_t)snprintf(out, cap, "{\"count\":%llu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"max\":%llu,\"buckets\":[",
                              (unsigned long long)delay_hist_count(h), (unsigned long long)delay_hist_pct(h, 50),
                              (unsigned long long)delay_hist_pct(h, 90), (unsigned long long)delay_hist_pct(h, 99),
                              (unsigned long long)delay_hist_pct(h, 100));
  const char *sep = "";
  for (unsigned i = 0; i < DELAY_HIST_BUCKETS && n < cap; i++) {
    if (!h->n[i]) continue;
    n += (size_t)snprintf(out + n, cap - n, "%s[%llu,%llu]", sep, (unsigned long long)delay_hist_lower(i),
                          (unsigned long long)h->n[i]);
    sep = ",";
  }
  if (n < cap) snprintf(out + n, cap - n, "]}");
}

static void stats_publish_fire(uv_timer_t *t) {
  relay *r = t->data;
  relay_stats st;
  relay_stats_now(r, &st);
  stats_board_publish(r->stats, r->worker, &st);
}

static int on_http_request(void *ud, const http_request *req, http_response *resp) {
  relay *r = ud;
  static const char text[] = "text/plain; charset=utf-8";
  if (ws_handshake_is_websocket(req)) { /* a WebSocket handshake that was refused: say why */
    ws_handshake hs;
    if (ws_handshake_check(req, relay_wt_protocols, RELAY_MOQ_ALPNS, &hs) != 0) {
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
    resp->body = (const uint8_t *)r->id->fingerprint;
    resp->body_len = strlen(r->id->fingerprint);
    http_response_add_header(resp, "Access-Control-Allow-Origin", "*");
    http_response_add_header(resp, "Cache-Control", "no-store");
    return 0;
  }
  if (strcmp(req->path, "/stats") == 0) { /* what the relay holds now, for monitoring and the soak test */
    relay_stats st;
    relay_stats_now(r, &st);
    if (r->stats) stats_board_add_others(r->stats, r->worker, &st); /* the other workers' last figures */
    char delays[DELAY_HIST_BUCKETS * 48 + 160];
    put_egress_delay(delays, sizeof delays, &st.egress_delay);
    size_t cap = 640 + sizeof delays;
    char *body = malloc(cap);
    if (!body) return -1;
    snprintf(body, cap,
             "{\"sessions\":%llu,\"admitted\":%llu,\"streams\":%llu,\"subscriptions\":%llu,\"consumes\":%llu,"
             "\"broadcasts\":%zu,\"worker\":%u,\"workers\":%u,\"datagrams_sent\":%llu,"
             "\"datagrams_received\":%llu,\"acks_held\":%llu,\"pacing_idle\":%llu,\"pacing_now\":%llu,"
             "\"egress_delay_us\":%s}\n",
             (unsigned long long)st.sessions, (unsigned long long)st.admitted, (unsigned long long)st.streams,
             (unsigned long long)st.subscriptions, (unsigned long long)st.consumes, origin_count(r->origin),
             r->worker, r->workers, (unsigned long long)st.datagrams_sent,
             (unsigned long long)st.datagrams_received, (unsigned long long)st.acks_held,
             (unsigned long long)st.pacing_idle, (unsigned long long)st.pacing_now, delays);
    resp->status = 200;
    resp->content_type = "application/json";
    resp->body = (const uint8_t *)body;
    resp->body_len = strlen(body);
    resp->body_owned = 1;
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
  void *harg;
  hook_http_fn hfn = hook_http_find(r->hooks, req->path, &harg);
  if (hfn) {
    const char *ct = "application/json";
    char *body = hfn(harg, &ct);
    if (body) {
      resp->status = 200;
      resp->content_type = ct;
      resp->body = (const uint8_t *)body;
      resp->body_len = strlen(body);
      resp->body_owned = 1;
      http_response_add_header(resp, "Access-Control-Allow-Origin", "*");
      http_response_add_header(resp, "Cache-Control", "no-store");
      return 0;
    }
    resp->status = 500;
    resp->content_type = text;
    resp->body = (const uint8_t *)"plugin error\n";
    resp->body_len = 13;
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

/* Frames are large and come and go with viewers: glibc keeps freed heap pages of its arenas unless
 * asked. Every 10 s, hand them back so the relay's memory follows its load. Not in a build whose
 * sanitizer brings its own allocator (ASan, TSan): glibc's arenas may then never have been set up,
 * and malloc_trim reads their null top chunk (a SEGV in mtrim under --enable-asan). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RELAY_TRIM_HEAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RELAY_TRIM_HEAP 0
#endif
#endif
#ifndef RELAY_TRIM_HEAP
#define RELAY_TRIM_HEAP 1
#endif
static void trim_fire(uv_timer_t *t) { malloc_trim(0); }

static void free_relay(relay *r) {
  timer_free(&r->trim);
  timer_free(&r->stats_pub);
  origin_watch_free(r->bc_watch);
  links_free(r->links);
  r->links = NULL;
  hook_chain_free(r->hooks);
  idmap_free(&r->sessions);
  if (r->own_quota_init) session_quota_destroy(&r->own_quota);
  origin_free(r->origin);
  tls_ctx_free(r->tls);
  tls_ctx_free(r->client_tls);
  tls_identity_free(&r->identity);
  free(r);
}

/* ------------------------------------------------------------------------------------------ */
/* Links for plugins (hook API 1.1) */

typedef struct plugin_link { /* a plugin's link: its callback, in the plugin's types */
  relay *r;
  rlink *l;
  void (*on_state)(void *arg, moq_link *l, int up, const char *reason);
  void *arg;
} plugin_link;

static void plugin_link_state(void *arg, rlink *l, int up, const char *reason) {
  plugin_link *pl = arg;
  if (pl->on_state) pl->on_state(pl->arg, (moq_link *)pl, up, reason);
}

static moq_link *op_link_open(void *ud, const char *url, int flags,
                              void (*on_state)(void *arg, moq_link *l, int up, const char *reason), void *arg) {
  relay *r = ud;
  if (!r->links) return NULL;
  plugin_link *pl = calloc(1, sizeof *pl);
  if (!pl) return NULL;
  pl->r = r;
  pl->on_state = on_state;
  pl->arg = arg;
  char err[300];
  if (!(pl->l = link_open(r->links, url, (flags & MOQ_LINK_CONSUME) != 0, plugin_link_state, pl, err, sizeof err))) {
    LOG_WRN("link_failed", "url=%s reason=\"%s\"", url, err);
    free(pl);
    return NULL;
  }
  return (moq_link *)pl;
}

static void op_link_close(void *ud, moq_link *ml) {
  plugin_link *pl = (plugin_link *)ml;
  link_close(pl->l);
  free(pl);
}

static moq_remote *op_remote_publish(void *ud, const char *path, const char *url) {
  relay *r = ud;
  return r->links ? (moq_remote *)remote_publish(r->links, path, url) : NULL;
}

static void op_remote_unpublish(void *ud, moq_remote *mr) {
  relay *r = ud;
  if (r->links) remote_unpublish((remote *)mr);
}

static moq_marker *op_marker_publish(void *ud, const char *path) {
  relay *r = ud;
  return (moq_marker *)marker_publish(r->origin, path, r->cluster_shared);
}

static void op_marker_unpublish(void *ud, moq_marker *m) { marker_unpublish((marker *)m); }

static size_t op_links_json(void *ud, char *buf, size_t len) {
  relay *r = ud;
  if (r->links) return links_json(r->links, buf, len);
  if (len) snprintf(buf, len, "[]");
  return 2;
}

/* The plugin chain: the JWT plugin when a key is configured, then [[plugin]] and --plugin in
 * order, then one Lua plugin per script. */
static int load_plugins(relay *r, char *err, size_t errlen) {
  const relay_config *cfg = r->cfg;
  hook_chain_ops ops = {.session_close = close_session_by_id,
                        .link_open = op_link_open,
                        .link_close = op_link_close,
                        .remote_publish = op_remote_publish,
                        .remote_unpublish = op_remote_unpublish,
                        .marker_publish = op_marker_publish,
                        .marker_unpublish = op_marker_unpublish,
                        .links_json = op_links_json,
                        .ud = r};
  if (!(r->hooks = hook_chain_new(r->loop, &ops))) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (cfg->auth_key || cfg->auth_key_dir) {
    const char *keys[] = {cfg->auth_key ? "key" : "key_dir"};
    const char *values[] = {cfg->auth_key ? cfg->auth_key : cfg->auth_key_dir};
    moq_plugin_config pc = {.keys = keys, .values = values, .n = 1,
                            .source = cfg->auth_key ? "--auth-key" : "--auth-key-dir"};
    if (hook_chain_load(r->hooks, "builtin:jwt", moq_plugin_jwt_init, &pc, err, errlen)) return -1;
  }
  for (size_t i = 0; i < cfg->n_plugins; i++) {
    const plugin_conf *p = &cfg->plugins[i];
    moq_plugin_config pc = {.keys = (const char *const *)p->keys.items,
                            .values = (const char *const *)p->values.items, .n = p->keys.len, .source = p->source};
    char perr[600];
    if (hook_chain_load(r->hooks, p->path, NULL, &pc, perr, sizeof perr)) {
      snprintf(err, errlen, "plugin (%s): %s", p->source, perr);
      return -1;
    }
  }
  if (cfg->cluster_node) {
    const char *keys[64], *values[64];
    size_t n = 0;
    char linger[32];
    snprintf(linger, sizeof linger, "%llu", (unsigned long long)cfg->cluster_linger_ms);
    keys[n] = "node", values[n++] = cfg->cluster_node;
    if (cfg->cluster_token) keys[n] = "token", values[n++] = cfg->cluster_token;
    keys[n] = "linger_ms", values[n++] = linger;
    /* With several workers, each admits the registrations of its own sessions (the root side), and
     * worker 0 alone dials the roots and publishes the other nodes' broadcasts for all (the leaf
     * side): plugins/cluster/cluster.c. */
    char worker[16];
    snprintf(worker, sizeof worker, "%u", r->worker);
    keys[n] = "worker", values[n++] = worker;
    for (size_t i = 0; i < cfg->cluster_roots.len && n < 64; i++) keys[n] = "root", values[n++] = cfg->cluster_roots.items[i];
    moq_plugin_config pc = {.keys = keys, .values = values, .n = n, .source = "[cluster]"};
    if (hook_chain_load(r->hooks, "builtin:cluster", moq_plugin_cluster_init, &pc, err, errlen)) return -1;
  }
  for (size_t i = 0; i < cfg->lua_scripts.len; i++) {
    char budget[32];
    snprintf(budget, sizeof budget, "%llu", (unsigned long long)cfg->lua_budget);
    const char *keys[] = {"script", "budget"};
    const char *values[] = {cfg->lua_scripts.items[i], budget};
    moq_plugin_config pc = {.keys = keys, .values = values, .n = 2, .source = "--lua"};
    if (hook_chain_load(r->hooks, "builtin:lua", moq_plugin_lua_init, &pc, err, errlen)) return -1;
  }
  return 0;
}

int relay_reload(relay *r, char *err, size_t errlen) { return hook_chain_reload(r->hooks, err, errlen); }

relay *relay_new(uv_loop_t *loop, const relay_config *cfg, char *err, size_t errlen) {
  return relay_new_worker(loop, cfg, NULL, err, errlen);
}

relay *relay_new_worker(uv_loop_t *loop, const relay_config *cfg, const relay_worker_spec *spec, char *err,
                        size_t errlen) {
  relay *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  r->loop = loop;
  r->cfg = cfg;
  r->worker = spec ? spec->index : 0;
  r->workers = spec && spec->count ? spec->count : 1;
  r->cluster_shared = cfg->cluster_node && r->workers > 1;
  r->id = &r->identity;
  idmap_init(&r->sessions);
  if (spec && spec->quota) {
    r->quota = spec->quota;
  } else {
    if (session_quota_init(&r->own_quota)) {
      snprintf(err, errlen, "out of memory");
      free(r);
      return NULL;
    }
    r->own_quota_init = 1;
    r->quota = &r->own_quota;
  }
  ws_options_default(&r->ws_opts);
  r->ws_opts.idle_timeout_ms = cfg->quic_idle_timeout_ms; /* the same timers and limits as QUIC */
  r->ws_opts.keep_alive_ms = cfg->quic_keep_alive_ms;
  r->ws_opts.max_streams = (size_t)cfg->quic_max_streams;
  if (load_plugins(r, err, errlen)) goto fail;
  origin_limits ol;
  origin_limits_default(&ol);
  ol.cache_ms = cfg->cache_duration_ms;
  ol.cache_track_bytes = (size_t)cfg->cache_track_bytes;
  ol.cache_total_bytes = cfg->limits.cache_capacity;
  r->origin = origin_new(&ol, NULL, NULL);
  if (!r->origin) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (hook_chain_count(r->hooks) && !(r->bc_watch = origin_watch_new(r->origin, "", 0, broadcast_changed, r))) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  /* A random hop id below 2^53 (older JS clients read hop ids as doubles), never 0. */
  uint8_t rnd[8];
  quic_random(rnd, sizeof rnd);
  for (size_t i = 0; i < 8; i++) r->hop_id = r->hop_id << 8 | rnd[i];
  r->hop_id = (r->hop_id & ((1ULL << 53) - 1)) | 1;
  if (spec && spec->hop_id) r->hop_id = spec->hop_id;
  if (spec && spec->identity) {
    r->id = spec->identity;
  } else if (cfg->tls_generate.len > 0) {
    if (tls_identity_generate(&r->identity, (const char *const *)cfg->tls_generate.items, cfg->tls_generate.len,
                              err, errlen))
      goto fail;
  } else if (tls_identity_load(&r->identity, cfg->tls_cert, cfg->tls_key, err, errlen)) {
    goto fail;
  }
  r->tls = tls_server_ctx_new(r->id, relay_alpns, sizeof relay_alpns / sizeof relay_alpns[0], cfg->tls_root,
                              err, errlen);
  if (!r->tls) goto fail;

  struct sockaddr_storage ss;
  socklen_t sl;
  char aerr[256];
  if (spec && spec->bind) {
    memcpy(&ss, &spec->bind->ss, spec->bind->len);
    sl = spec->bind->len;
  } else if (addr_parse(cfg->server_bind, &ss, &sl, aerr, sizeof aerr)) {
    snprintf(err, errlen, "server bind \"%s\": %s", cfg->server_bind, aerr);
    goto fail;
  }
  quic_settings qs;
  quic_settings_default(&qs);
  qs.idle_timeout_ms = cfg->quic_idle_timeout_ms;
  qs.keep_alive_ms = cfg->quic_keep_alive_ms;
  qs.max_streams_bidi = cfg->quic_max_streams;
  qs.max_streams_uni = cfg->quic_max_streams;
  qs.handshake_timeout_ms = cfg->limits.handshake_timeout_ms;
  qs.reuse_port = r->workers > 1;
  qs.rx_timestamps = 1; /* egress_delay_us counts from each frame's kernel arrival */
  char qerr[256];
  r->quic = quic_endpoint_new(loop, (struct sockaddr *)&ss, sl, r->tls, &qs, on_accept, r, qerr, sizeof qerr);
  if (!r->quic) {
    snprintf(err, errlen, "server bind %s: %s", cfg->server_bind, qerr);
    goto fail;
  }
  char qaddr[80];
  addr_format((const struct sockaddr *)&quic_endpoint_local(r->quic)->ss, qaddr, sizeof qaddr);

  /* Links to other relays dial from this endpoint with the client TLS settings. */
  tls_client_options co = {.verify = cfg->client_tls_disable_verify ? TLS_VERIFY_NONE
                                     : cfg->client_tls_root          ? TLS_VERIFY_CA_FILE
                                                                     : TLS_VERIFY_SYSTEM,
                           .ca_file = cfg->client_tls_root,
                           .cert_file = cfg->client_tls_cert,
                           .key_file = cfg->client_tls_key};
  char terr[300];
  if (!(r->client_tls = tls_client_ctx_new(&co, terr, sizeof terr))) {
    snprintf(err, errlen, "client TLS (--client-tls-*): %s", terr);
    goto fail_quic;
  }
  /* malloc_trim works on every arena of the process: worker 0 trims for all */
  if (RELAY_TRIM_HEAP && (!spec || spec->index == 0) && (r->trim = malloc(sizeof *r->trim))) {
    uv_timer_init(loop, r->trim);
    uv_timer_start(r->trim, trim_fire, 10000, 10000);
    uv_unref((uv_handle_t *)r->trim); /* never keeps the loop alive */
  }
  r->stats = spec ? spec->stats : NULL;
  if (r->stats && r->worker > 0) {
    if (!(r->stats_pub = malloc(sizeof *r->stats_pub))) {
      snprintf(err, errlen, "out of memory");
      goto fail_quic;
    }
    uv_timer_init(loop, r->stats_pub);
    r->stats_pub->data = r;
    uv_timer_start(r->stats_pub, stats_publish_fire, STATS_PUBLISH_MS, STATS_PUBLISH_MS);
    uv_unref((uv_handle_t *)r->stats_pub);
  }
  links_config lc = {.loop = loop, .ep = r->quic, .tls = r->client_tls, .o = r->origin, .hop_id = r->hop_id,
                     .linger_ms = cfg->cluster_linger_ms, .shared = r->cluster_shared};
  if (!(r->links = links_new(&lc))) {
    snprintf(err, errlen, "out of memory");
    goto fail_quic;
  }

  char haddr[80] = "-";
  if (cfg->web_http_listen && (!spec || spec->http)) {
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
    /* The listener's deadline for a request (a WebSocket upgrade included) is the handshake
     * limit: a TCP connection that never finishes its request is closed after it. */
    http_server_options ho;
    http_server_options_default(&ho);
    uint64_t hto = cfg->limits.handshake_timeout_ms;
    ho.idle_timeout_ms = hto > UINT_MAX ? UINT_MAX : (unsigned)hto;
    http_server_set_options(r->http, &ho);
    struct sockaddr_storage hs;
    if (http_server_local_addr(r->http, &hs) == 0) addr_format((struct sockaddr *)&hs, haddr, sizeof haddr);
  }
  const char *host = cfg->tls_generate.len ? cfg->tls_generate.items[0] : "localhost";
  int port = relay_quic_port(r);
  if (r->worker == 0)
    LOG_INF("listening", "quic=%s http=%s url=https://%s:%d/ fingerprint=%s workers=%u", qaddr, haddr, host, port,
            r->id->fingerprint, r->workers);
  else
    LOG_INF("worker_listening", "worker=%u quic=%s", r->worker, qaddr);
  return r;
fail_quic:
  quic_endpoint_shutdown(r->quic, 0, "startup failed", NULL, NULL);
  r->quic = NULL;
fail:
  free_relay(r);
  return NULL;
}

const char *relay_fingerprint(const relay *r) { return r->id->fingerprint; }

const tls_identity *relay_identity(const relay *r) { return r->id; }

uint64_t relay_hop_id(const relay *r) { return r->hop_id; }

origin *relay_origin(relay *r) { return r->origin; }

quic_endpoint *relay_endpoint(relay *r) { return r->quic; }

size_t relay_session_count(const relay *r) { return r->n_sessions; }

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
  if (r->stats_pub) uv_timer_stop(r->stats_pub); /* the endpoint goes below: the last figures stand */
  origin_watch_free(r->bc_watch); /* no broadcast events while the sessions close */
  r->bc_watch = NULL;
  /* Plugins stop first, closing their links, remote broadcasts and markers; then the links go (the
   * endpoint's shutdown releases their connections), then the sessions. */
  hook_chain_free(r->hooks);
  r->hooks = NULL;
  links_free(r->links);
  r->links = NULL;
  size_t n_ws = 0;
  for (ws_peer *wp = r->ws_peers; wp; wp = wp->next) n_ws++;
  LOG_INF("shutdown", "sessions=%zu websocket=%zu", quic_endpoint_conn_count(r->quic), n_ws);
  for (ws_peer *wp = r->ws_peers; wp; wp = wp->next) ws_conn_close(wp->b.conn, 0, "relay shutting down");
  if (r->http) http_server_close(r->http, part_closed, r);
  r->http = NULL;
  quic_endpoint_shutdown(r->quic, 0, "relay shutting down", part_closed, r);
  r->quic = NULL;
}
