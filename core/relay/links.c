#include "relay/links.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/url.h"
#include "moq/quic_binding.h"
#include "moq/session.h"

/* A track of a remote broadcast: waiting for its link, or forwarded over it. */
typedef struct rtrack {
  remote *r;
  track *t;
  rlink *l;              /* the link carrying it (forwarded or waiting) */
  int forwarded;
  struct rtrack *next, *prev; /* the remote's list */
  struct rtrack *lnext;       /* the link's waiting list */
} rtrack;

struct rlink {
  moq_quic_binding b;   /* first: the binding's pointer is the link's */
  links *ls;
  char *url_text;       /* owned */
  url u;
  char path[3100];      /* path and query sent in SETUP */
  int consume;
  int on_demand;        /* opened for remote broadcasts; closes itself when idle */
  link_state_fn fn;
  void *arg;
  int up;
  int dead;             /* down for good */
  int freeing;          /* link_close was called: free once the connection is released */
  int in_callback;
  int orphan;           /* the link set is gone: not on its list */
  int notified_down;    /* the owner was told it is down */
  int connecting;       /* a QUIC connection exists (until its on_closed) */
  uv_getaddrinfo_t *gai; /* owned while resolving (freed in its callback) */
  rtrack *waiting;      /* tracks to forward once up */
  uv_timer_t *linger;   /* owned (closed on free): on-demand idle check */
  int idle_ticks;
  struct rlink *next, *prev;
};

struct remote {
  links *ls;
  char *path;           /* owned: global */
  char *url_text;       /* owned */
  broadcast *b;         /* the origin's, NULL once replaced */
  rtrack *tracks;       /* owned list */
  uv_timer_t *idle;     /* owned (routed remotes): unpublishes it when unwatched */
  int idle_ticks;
  struct remote *next, *prev;
};

struct marker {
  origin *o;
  broadcast *b;
};

struct links {
  links_config cfg;
  rlink *all;
  remote *remotes;
};

static void link_free_now(rlink *l);
static void link_maybe_free(rlink *l);

/* ------------------------------------------------------------------------------------------ */
/* Markers */

static int marker_subscribe(void *ud, track *t) { return -1; } /* no tracks: NOT_FOUND */

static void marker_replaced(void *ud) { ((marker *)ud)->b = NULL; }

marker *marker_publish(origin *o, const char *path, int shared) {
  if (origin_find(o, path)) return NULL;
  marker *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->o = o;
  broadcast_source src = {.subscribe = marker_subscribe, .replaced = marker_replaced, .user_data = m,
                          .worker_local = !shared};
  if (!(m->b = origin_publish(o, path, NULL, 0, &src))) {
    free(m);
    return NULL;
  }
  return m;
}

void marker_unpublish(marker *m) {
  if (!m) return;
  if (m->b) origin_unpublish(m->o, m->b, 0);
  free(m);
}

/* ------------------------------------------------------------------------------------------ */
/* Links */

links *links_new(const links_config *cfg) {
  links *ls = calloc(1, sizeof *ls);
  if (ls) ls->cfg = *cfg;
  return ls;
}

static void notify(rlink *l, int up, const char *reason) {
  if (!l->fn || l->freeing) return;
  l->in_callback = 1;
  l->fn(l->arg, l, up, reason);
  l->in_callback = 0;
  if (l->freeing) link_maybe_free(l);
}

static void rtrack_unlink_waiting(rtrack *rt) {
  rlink *l = rt->l;
  if (!l) return;
  for (rtrack **p = &l->waiting; *p; p = &(*p)->lnext) {
    if (*p == rt) {
      *p = rt->lnext;
      break;
    }
  }
  rt->lnext = NULL;
}

static void rtrack_free(rtrack *rt) {
  remote *r = rt->r;
  if (!rt->forwarded) rtrack_unlink_waiting(rt);
  if (rt->prev) rt->prev->next = rt->next;
  else r->tracks = rt->next;
  if (rt->next) rt->next->prev = rt->prev;
  free(rt);
}

static void fwd_ended(void *arg, track *t) {
  rtrack *rt = arg; /* the relay at the other end ended the track, or the link went down */
  rtrack_free(rt);
}

static void link_forward(rlink *l, rtrack *rt) {
  rt->l = l;
  if (!l->up || !l->b.session) {
    rt->lnext = l->waiting;
    l->waiting = rt;
    return;
  }
  if (moq_session_forward(l->b.session, rt->r->path, rt->t, fwd_ended, rt) == 0) {
    rt->forwarded = 1;
    l->idle_ticks = 0;
    return;
  }
  track *t = rt->t;
  rtrack_free(rt);
  track_finish(t, 13 /* NotFound */);
}

/* The link is down: tracks still waiting end (their subscribers may retry: a new link is dialed). */
static void fail_waiting(rlink *l) {
  while (l->waiting) {
    rtrack *rt = l->waiting;
    l->waiting = rt->lnext;
    rt->lnext = NULL;
    rt->l = NULL;
    track *t = rt->t;
    rtrack_free(rt);
    track_finish(t, 24 /* Dropped */);
  }
}

static void link_session_ready(moq_session *s, void *ud) {
  rlink *l = ud;
  l->up = 1;
  LOG_INF("link_up", "url=%s conn=%s", l->u.host, quic_conn_log_id(l->b.conn));
  if (l->consume) moq_session_consume(s, "", NULL, NULL);
  while (l->waiting) {
    rtrack *rt = l->waiting;
    l->waiting = rt->lnext;
    rt->lnext = NULL;
    link_forward(l, rt);
  }
  notify(l, 1, NULL);
}

/* The session ends: the link is down before its imports go, so the owner can tell a lost link from
 * broadcasts that ended. */
static void link_session_closed(moq_session *s, uint64_t code, const char *reason, void *ud) {
  rlink *l = ud;
  l->up = 0;
  l->dead = 1;
  if (l->notified_down) return;
  l->notified_down = 1;
  char why[200];
  snprintf(why, sizeof why, "session ended (code %llu%s%s)", (unsigned long long)code, reason && reason[0] ? ": " : "",
           reason ? reason : "");
  fail_waiting(l);
  notify(l, 0, why);
}

static const moq_session_events link_events = {.on_ready = link_session_ready, .on_closed = link_session_closed};

static void link_conn_ready(moq_quic_binding *b) {
  rlink *l = (rlink *)b;
  links *ls = l->ls;
  moq_session_config sc = {.is_server = 0, .alpn = quic_conn_alpn(b->conn), .path = l->path,
                           .hop_id = ls->cfg.hop_id, .log_id = quic_conn_log_id(b->conn),
                           .imports_shared = ls->cfg.shared};
  moq_transport tr;
  moq_quic_transport(&tr, b->conn);
  b->session = moq_session_new(&sc, &tr, ls->cfg.o, &link_events, l);
  if (!b->session) return;
  moq_session_set_cluster(b->session, 1);
  /* The peer may announce to us (we import only when consuming); it may subscribe to our own
   * broadcasts on a registration link, and to nothing on a link opened to fetch its tracks. */
  static const char *const everything[] = {""};
  moq_grants g = {.publish = everything, .n_publish = 1, .subscribe = everything, .n_subscribe = l->on_demand ? 0 : 1};
  moq_session_set_grants(b->session, "", &g);
}

static void link_conn_closed(moq_quic_binding *b, const quic_close_info *info) {
  rlink *l = (rlink *)b;
  l->connecting = 0;
  l->up = 0;
  l->dead = 1;
  char reason[200];
  if (info->idle) snprintf(reason, sizeof reason, "idle timeout");
  else if (info->is_app) snprintf(reason, sizeof reason, "closed with code %llu%s%s", (unsigned long long)info->code,
                                  info->reason[0] ? ": " : "", info->reason);
  else snprintf(reason, sizeof reason, "transport error %llu", (unsigned long long)info->code);
  LOG_INF("link_down", "url=%s:%d reason=\"%s\"", l->u.host, l->u.port, reason);
  fail_waiting(l);
  if (l->freeing) {
    link_free_now(l);
    return;
  }
  if (l->notified_down) return;
  l->notified_down = 1;
  notify(l, 0, reason);
}

static void link_dial_failed(rlink *l, const char *why) {
  l->dead = 1;
  l->notified_down = 1;
  LOG_INF("link_down", "url=%s:%d reason=\"%s\"", l->u.host, l->u.port, why);
  fail_waiting(l);
  notify(l, 0, why);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  rlink *l = req->data;
  free(req);
  l->gai = NULL;
  if (l->freeing) {
    if (res) uv_freeaddrinfo(res);
    link_free_now(l);
    return;
  }
  if (status != 0 || !res) {
    char why[300];
    snprintf(why, sizeof why, "cannot resolve %s: %s", l->u.host, uv_strerror(status));
    link_dial_failed(l, why);
    return;
  }
  /* Dial from the relay's socket: the address family must match it. */
  const struct sockaddr *local = (const struct sockaddr *)&quic_endpoint_local(l->ls->cfg.ep)->ss;
  struct addrinfo *ai = res;
  while (ai && ai->ai_family != local->sa_family) ai = ai->ai_next;
  if (!ai) {
    uv_freeaddrinfo(res);
    link_dial_failed(l, "no address of the relay's family (IPv4/IPv6) for this host");
    return;
  }
  static const char *const alpn[] = {"moq-lite-05"};
  char err[256];
  l->b.ready = link_conn_ready;
  l->b.closed = link_conn_closed;
  l->b.owner = l;
  quic_conn *c = quic_endpoint_connect(l->ls->cfg.ep, ai->ai_addr, (socklen_t)ai->ai_addrlen, l->ls->cfg.tls,
                                       l->u.host, alpn, 1, &moq_quic_handler, &l->b, err, sizeof err);
  uv_freeaddrinfo(res);
  if (!c) {
    link_dial_failed(l, err);
    return;
  }
  l->b.conn = c; /* to close it during the handshake */
  l->connecting = 1;
}

rlink *link_open(links *ls, const char *text, int consume, link_state_fn fn, void *arg, char *err, size_t errlen) {
  char full[2300];
  if (errlen) err[0] = 0;
  if (!strstr(text, "://")) snprintf(full, sizeof full, "moql://%s", text); /* HOST:PORT */
  else snprintf(full, sizeof full, "%s", text);
  rlink *l = calloc(1, sizeof *l);
  if (!l) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (url_parse(full, &l->u, err, errlen) || url_path_and_query(&l->u, l->path, sizeof l->path) ||
      !(l->url_text = strdup(text))) {
    if (!err[0]) snprintf(err, errlen, "%s: too long", text);
    free(l);
    return NULL;
  }
  l->ls = ls;
  l->consume = consume;
  l->fn = fn;
  l->arg = arg;
  l->gai = malloc(sizeof *l->gai);
  char port[16];
  snprintf(port, sizeof port, "%d", l->u.port);
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_ADDRCONFIG};
  if (l->gai) l->gai->data = l;
  if (!l->gai || uv_getaddrinfo(ls->cfg.loop, l->gai, on_resolved, l->u.host, port, &hints) != 0) {
    snprintf(err, errlen, "%s: cannot start resolving %s", text, l->u.host);
    free(l->gai);
    free(l->url_text);
    free(l);
    return NULL;
  }
  l->next = ls->all;
  if (ls->all) ls->all->prev = l;
  ls->all = l;
  LOG_INF("link_dial", "url=%s:%d path=%s%s", l->u.host, l->u.port, l->u.path, consume ? " consume=1" : "");
  return l;
}

int link_is_up(const rlink *l) { return l && l->up; }

static void linger_closed(uv_handle_t *h) { free(h); }

static void link_free_now(rlink *l) {
  if (!l->orphan) {
    links *ls = l->ls;
    if (l->prev) l->prev->next = l->next;
    else if (ls->all == l) ls->all = l->next;
    if (l->next) l->next->prev = l->prev;
  }
  if (l->linger) {
    uv_timer_stop(l->linger);
    uv_close((uv_handle_t *)l->linger, linger_closed);
  }
  free(l->url_text);
  free(l);
}

/* Frees l once nothing refers to it: no resolver request, no connection, not inside its callback. */
static void link_maybe_free(rlink *l) {
  if (l->in_callback) return; /* notify() frees it after the callback */
  if (l->gai) {
    uv_cancel((uv_req_t *)l->gai); /* on_resolved frees it */
    return;
  }
  if (l->connecting) {
    if (!l->dead) { /* still open: close it (when dead, the connection is already going) */
      if (l->b.session) moq_session_close(l->b.session, 0, "link closed");
      else if (l->b.conn) quic_conn_close(l->b.conn, 0, "link closed");
    }
    return; /* link_conn_closed frees it */
  }
  link_free_now(l);
}

void link_close(rlink *l) {
  if (!l || l->freeing) return;
  l->freeing = 1;
  fail_waiting(l);
  link_maybe_free(l);
}

/* ------------------------------------------------------------------------------------------ */
/* Remote broadcasts */

static void linger_check(uv_timer_t *t) {
  rlink *l = t->data;
  int busy = l->waiting || (l->b.session && moq_session_forwarded(l->b.session) > 0);
  if (busy || !l->up) {
    l->idle_ticks = 0;
    if (!l->dead) return;
  }
  if (l->dead || ++l->idle_ticks >= 2) { /* idle for a whole linger period */
    LOG_INF("link_linger_close", "url=%s:%d", l->u.host, l->u.port);
    link_close(l);
  }
}

static void ondemand_state(void *arg, rlink *l, int up, const char *reason) {
  if (!up) link_close(l); /* dead: tracks ended; the next subscriber dials again */
}

/* The on-demand link to url, dialed if there is none. */
static rlink *ondemand_link(links *ls, const char *url_text) {
  for (rlink *l = ls->all; l; l = l->next)
    if (l->on_demand && !l->dead && !l->freeing && strcmp(l->url_text, url_text) == 0) return l;
  char err[300] = "";
  rlink *l = link_open(ls, url_text, 0, ondemand_state, NULL, err, sizeof err);
  if (!l) {
    LOG_WRN("link_failed", "url=%s reason=\"%s\"", url_text, err);
    return NULL;
  }
  l->on_demand = 1;
  if ((l->linger = malloc(sizeof *l->linger))) {
    uv_timer_init(ls->cfg.loop, l->linger);
    l->linger->data = l;
    uint64_t half = ls->cfg.linger_ms / 2 ? ls->cfg.linger_ms / 2 : 1;
    uv_timer_start(l->linger, linger_check, half, half);
  }
  return l;
}

static int remote_subscribe(void *ud, track *t) {
  remote *r = ud;
  rlink *l = ondemand_link(r->ls, r->url_text);
  if (!l) return -1;
  rtrack *rt = calloc(1, sizeof *rt);
  if (!rt) return -1;
  rt->r = r;
  rt->t = t;
  rt->next = r->tracks;
  if (r->tracks) r->tracks->prev = rt;
  r->tracks = rt;
  link_forward(l, rt);
  return 0;
}

static void remote_unsubscribe(void *ud, track *t) {
  remote *r = ud;
  rtrack *rt = r->tracks;
  while (rt && rt->t != t) rt = rt->next;
  if (!rt) return;
  if (rt->forwarded && rt->l && rt->l->b.session) {
    rt->forwarded = 0; /* unforward may end the record through fwd_ended: detach first */
    rt->lnext = NULL;
    rlink *l = rt->l;
    rt->l = NULL;
    rtrack_free(rt);
    moq_session_unforward(l->b.session, t);
    return;
  }
  rtrack_free(rt);
}

static void remote_replaced(void *ud) { ((remote *)ud)->b = NULL; }

static remote *remote_new(links *ls, const char *path, const char *url_text, int worker_local) {
  remote *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path)) || !(r->url_text = strdup(url_text))) {
    if (r) free(r->path);
    free(r);
    return NULL;
  }
  r->ls = ls;
  broadcast_source src = {.subscribe = remote_subscribe, .unsubscribe = remote_unsubscribe,
                          .replaced = remote_replaced, .user_data = r, .via_cluster = 1,
                          .worker_local = worker_local};
  if (!(r->b = origin_publish(ls->cfg.o, path, NULL, 0, &src))) {
    free(r->url_text);
    free(r->path);
    free(r);
    return NULL;
  }
  r->next = ls->remotes;
  if (ls->remotes) ls->remotes->prev = r;
  ls->remotes = r;
  return r;
}

remote *remote_publish(links *ls, const char *path, const char *url_text) {
  return remote_new(ls, path, url_text, !ls->cfg.shared);
}

static void idle_closed(uv_handle_t *h) { free(h); }

static void remote_idle_check(uv_timer_t *t) {
  remote *r = t->data;
  if (r->tracks && r->b) {
    r->idle_ticks = 0;
    return;
  }
  if (!r->b || ++r->idle_ticks >= 2) {
    LOG_INF("route_expired", "path=%s", r->path);
    remote_unpublish(r);
  }
}

remote *remote_publish_routed(links *ls, const char *path, const char *url_text) {
  for (remote *r = ls->remotes; r; r = r->next)
    if (r->idle && r->b && strcmp(r->path, path) == 0) return r;
  if (origin_find(ls->cfg.o, path)) return NULL; /* here already: nothing to route */
  remote *r = remote_new(ls, path, url_text, 1);
  if (!r) return NULL;
  if ((r->idle = malloc(sizeof *r->idle))) {
    uv_timer_init(ls->cfg.loop, r->idle);
    r->idle->data = r;
    uint64_t half = ls->cfg.linger_ms / 2 ? ls->cfg.linger_ms / 2 : 1;
    uv_timer_start(r->idle, remote_idle_check, half, half);
  }
  return r;
}

void remote_unpublish(remote *r) {
  if (!r) return;
  links *ls = r->ls;
  if (r->idle) {
    uv_timer_stop(r->idle);
    uv_close((uv_handle_t *)r->idle, idle_closed);
  }
  if (r->b) origin_unpublish(ls->cfg.o, r->b, 0); /* unsubscribes every track */
  while (r->tracks) rtrack_free(r->tracks);
  if (r->prev) r->prev->next = r->next;
  else ls->remotes = r->next;
  if (r->next) r->next->prev = r->prev;
  free(r->path);
  free(r->url_text);
  free(r);
}

void links_free(links *ls) {
  if (!ls) return;
  while (ls->remotes) remote_unpublish(ls->remotes);
  for (rlink *l = ls->all, *next; l; l = next) {
    next = l->next;
    l->next = l->prev = NULL;
    l->orphan = 1; /* it may outlive the set until its connection or resolver is done */
    l->fn = NULL;
    link_close(l);
  }
  ls->all = NULL;
  free(ls);
}

size_t links_json(const links *ls, char *buf, size_t len) {
  size_t n = 0;
  int first = 1;
#define PUT(...)                                                                                    \
  do {                                                                                              \
    int w = snprintf(n < len ? buf + n : NULL, n < len ? len - n : 0, __VA_ARGS__);                 \
    if (w > 0) n += (size_t)w;                                                                      \
  } while (0)
  PUT("[");
  for (const rlink *l = ls->all; l; l = l->next) {
    if (l->freeing) continue;
    PUT("%s{\"host\":\"%s\",\"port\":%d,\"state\":\"%s\",\"on_demand\":%s,\"tracks\":%zu}", first ? "" : ",",
        l->u.host, l->u.port, l->up ? "up" : l->dead ? "down" : "connecting", l->on_demand ? "true" : "false",
        l->b.session ? moq_session_forwarded(l->b.session) : 0);
    first = 0;
  }
  PUT("]");
#undef PUT
  if (len) buf[n < len ? n : len - 1] = 0;
  return n;
}
