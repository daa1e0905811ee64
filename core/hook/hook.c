#include "hook/hook.h"

#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "moq/lite.h"


#define HOOK_MAX_GRANTS 64

struct moq_timer {
  uv_timer_t t;
  moq_plugin_host *h;
  void (*cb)(void *);
  void *arg;
  int stopped;
  struct moq_timer *next, *prev;
};

struct moq_plugin_host {
  hook_chain *hc;
  char *path;           /* owned: file name or "builtin:NAME" */
  void *dl;             /* dlopen handle, or NULL for a built-in */
  moq_plugin p;         /* what the plugin filled in */
  int inited;
  uv_timer_t *tick;     /* owned (closed on free) */
  struct moq_timer *timers;
  struct moq_plugin_host *next;
};

typedef enum { REQ_SESSION, REQ_ANNOUNCE, REQ_SUBSCRIBE, REQ_ROUTE } req_kind;

struct moq_request {
  hook_chain *hc;
  req_kind kind;
  hook_session *hs;     /* borrowed; NULL once cancelled */
  char *path, *track;   /* owned (announce, subscribe) */
  int authenticating;   /* session: still in the authenticate phase */
  moq_plugin_host *at;  /* the plugin being asked / awaited */
  int in_call;          /* inside a plugin callback */
  int early;            /* resume() came during the call: its answer */
  int waiting;          /* PENDING was returned; resume() continues */
  hook_verdict v;
  hook_done_fn done;
  void *ud;
  struct moq_request *next, *prev; /* the chain's pending list */
};

typedef struct http_route {
  char *path;           /* owned */
  hook_http_fn fn;
  void *arg;
  moq_plugin_host *h;
  struct http_route *next;
} http_route;

struct hook_chain {
  uv_loop_t *loop;
  http_route *routes;   /* owned list */
  hook_chain_ops ops;
  moq_plugin_host *plugins, *last;
  size_t n;
  moq_request *pending;
  moq_request *orphans;  /* cancelled, waiting for their plugin's resume */
};

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void free_list(char **l, size_t n) {
  for (size_t i = 0; i < n; i++) free(l[i]);
  free(l);
}

static int copy_list(char ***dst, size_t *n, const char *const *src, size_t count) {
  *dst = NULL;
  *n = 0;
  if (!count) return 0;
  char **l = calloc(count, sizeof *l);
  if (!l) return -1;
  for (size_t i = 0; i < count; i++) {
    if (!(l[i] = strdup(src[i] ? src[i] : ""))) {
      free_list(l, i);
      return -1;
    }
  }
  *dst = l;
  *n = count;
  return 0;
}

/* Trims leading and trailing slashes: start and length of what is left. */
static void trim_slashes(const char *p, const char **start, size_t *len) {
  while (*p == '/') p++;
  size_t n = strlen(p);
  while (n && p[n - 1] == '/') n--;
  *start = p;
  *len = n;
}

int hook_path_has_prefix(const char *path, const char *prefix) {
  const char *a, *b;
  size_t na, nb;
  trim_slashes(path ? path : "", &a, &na);
  trim_slashes(prefix ? prefix : "", &b, &nb);
  if (nb == 0) return 1;
  if (na < nb || memcmp(a, b, nb) != 0) return 0;
  return na == nb || a[nb] == '/';
}

int hook_claims_copy(moq_claims *dst, const moq_claims *src) {
  memset(dst, 0, sizeof *dst);
  char **put = NULL, **get = NULL;
  size_t n_put = 0, n_get = 0;
  char *root = strdup(src->root ? src->root : ""), *json = dup_or_null(src->json);
  if (!root || (src->json && !json) || copy_list(&put, &n_put, src->put, src->n_put) ||
      copy_list(&get, &n_get, src->get, src->n_get)) {
    free(root);
    free(json);
    free_list(put, n_put);
    return -1;
  }
  dst->root = root;
  dst->json = json;
  dst->put = (const char *const *)put;
  dst->n_put = n_put;
  dst->get = (const char *const *)get;
  dst->n_get = n_get;
  dst->cluster = src->cluster;
  dst->exp = src->exp;
  dst->iat = src->iat;
  return 0;
}

void hook_claims_free(moq_claims *c) {
  free((char *)c->root);
  free((char *)c->json);
  free_list((char **)c->put, c->n_put);
  free_list((char **)c->get, c->n_get);
  memset(c, 0, sizeof *c);
}

static void grants_free(hook_grants *g) {
  free(g->root);
  free_list(g->publish, g->n_publish);
  free_list(g->subscribe, g->n_subscribe);
  memset(g, 0, sizeof *g);
}

void hook_verdict_free(hook_verdict *v) {
  free(v->route_url);
  free(v->reason);
  free(v->plugin);
  grants_free(&v->grants);
  memset(v, 0, sizeof *v);
}

/* ------------------------------------------------------------------------------------------ */
/* Sessions */

/* Decodes a query value s[0..n) into a new string (moq_query_decode of the public header). */
static char *query_decode(const char *s, size_t n) {
  char *out = malloc(n + 1);
  if (out) moq_query_decode(s, n, out);
  return out;
}

int hook_session_init(hook_session *hs, uint64_t id, const char *transport, const char *protocol,
                      const char *remote, const char *path_and_query, int role) {
  memset(hs, 0, sizeof *hs);
  const char *pq = path_and_query ? path_and_query : "";
  size_t plen = strcspn(pq, "?");
  char norm[1100];
  if (plen >= sizeof norm || moq_path_normalize((moq_str){(const uint8_t *)pq, plen}, norm, sizeof norm) < 0)
    return -1;
  const char *q = pq[plen] == '?' ? pq + plen + 1 : "";
  hs->transport = strdup(transport ? transport : "quic");
  hs->protocol = strdup(protocol ? protocol : "");
  hs->remote = strdup(remote ? remote : "");
  hs->path = strdup(norm);
  hs->query = strdup(q);
  if (!hs->transport || !hs->protocol || !hs->remote || !hs->path || !hs->query) goto fail;
  for (const char *k = q; *k;) {
    size_t n = strcspn(k, "&");
    if (n > 4 && memcmp(k, "jwt=", 4) == 0 && !hs->jwt) {
      if (!(hs->jwt = query_decode(k + 4, n - 4))) goto fail;
      if (!hs->jwt[0]) {
        free(hs->jwt);
        hs->jwt = NULL;
      }
    }
    k += n;
    if (*k == '&') k++;
  }
  hs->info.size = sizeof hs->info;
  hs->info.id = id;
  hs->info.transport = hs->transport;
  hs->info.protocol = hs->protocol;
  hs->info.remote = hs->remote;
  hs->info.path = hs->path;
  hs->info.query = hs->query;
  hs->info.jwt = hs->jwt;
  hs->info.role = role;
  return 0;
fail:
  hook_session_free(hs);
  return -1;
}

int hook_session_set_peer(hook_session *hs, const char *const *names, size_t n, const char *fingerprint,
                          int verified) {
  free_list(hs->peer_names, hs->n_peer_names);
  free(hs->peer_fingerprint);
  hs->peer_fingerprint = NULL;
  if (copy_list(&hs->peer_names, &hs->n_peer_names, names, n)) return -1;
  if (fingerprint && !(hs->peer_fingerprint = strdup(fingerprint))) return -1;
  hs->info.peer_names = (const char *const *)hs->peer_names;
  hs->info.n_peer_names = hs->n_peer_names;
  hs->info.peer_fingerprint = hs->peer_fingerprint;
  hs->info.peer_verified = verified;
  return 0;
}

void hook_session_free(hook_session *hs) {
  free(hs->transport);
  free(hs->protocol);
  free(hs->remote);
  free(hs->path);
  free(hs->query);
  free(hs->jwt);
  free_list(hs->peer_names, hs->n_peer_names);
  free(hs->peer_fingerprint);
  hook_claims_free(&hs->claims);
  memset(hs, 0, sizeof *hs);
}

/* ------------------------------------------------------------------------------------------ */
/* Core functions given to plugins */

static void core_log(moq_plugin_host *h, int level, const char *msg) {
  log_level l = level <= MOQ_LOG_ERROR ? LOG_ERROR : level == MOQ_LOG_WARN ? LOG_WARN
                                                : level == MOQ_LOG_INFO   ? LOG_INFO
                                                                          : LOG_DEBUG;
  if (!log_enabled(l)) return;
  char q[1024];
  log_event(l, "plugin", "plugin=%s msg=%s", h && h->p.name ? h->p.name : "?", log_quote(q, sizeof q, msg ? msg : ""));
}

static const char *core_config_get(const moq_plugin_config *cfg, const char *key) {
  for (size_t i = 0; cfg && key && i < cfg->n; i++)
    if (strcmp(cfg->keys[i], key) == 0) return cfg->values[i];
  return NULL;
}

static int core_grant(moq_request *req, const char *root, const char *const *publish, size_t n_publish,
                      const char *const *subscribe, size_t n_subscribe, int flags, int64_t expires) {
  if (!req || req->kind != REQ_SESSION || n_publish > HOOK_MAX_GRANTS || n_subscribe > HOOK_MAX_GRANTS) return -1;
  char norm[1100];
  if (!root) root = req->hs ? req->hs->path : "";
  if (moq_path_normalize(moq_str_c(root), norm, sizeof norm) < 0) return -1;
  for (size_t i = 0; i < n_publish; i++)
    if (!publish[i] || moq_path_normalize(moq_str_c(publish[i]), (char[1100]){0}, 1100) < 0) return -1;
  for (size_t i = 0; i < n_subscribe; i++)
    if (!subscribe[i] || moq_path_normalize(moq_str_c(subscribe[i]), (char[1100]){0}, 1100) < 0) return -1;
  hook_grants g = {.set = 1, .flags = flags, .expires = expires};
  if (!(g.root = strdup(norm)) || copy_list(&g.publish, &g.n_publish, publish, n_publish) ||
      copy_list(&g.subscribe, &g.n_subscribe, subscribe, n_subscribe)) {
    grants_free(&g);
    return -1;
  }
  grants_free(&req->v.grants);
  req->v.grants = g;
  return 0;
}

static int core_set_claims(moq_request *req, const moq_claims *claims) {
  if (!req || req->kind != REQ_SESSION || !claims) return -1;
  if (!req->hs) return 0; /* cancelled: nobody will read them */
  moq_claims c;
  if (hook_claims_copy(&c, claims)) return -1;
  hook_claims_free(&req->hs->claims);
  req->hs->claims = c;
  req->hs->info.claims = &req->hs->claims;
  return 0;
}

static int core_route_to(moq_request *req, const char *url) {
  if (!req || req->kind != REQ_ROUTE || !url || !*url) return -1;
  char *u = strdup(url);
  if (!u) return -1;
  free(req->v.route_url);
  req->v.route_url = u;
  return 0;
}

static void core_set_reason(moq_request *req, uint64_t code, const char *reason) {
  if (!req) return;
  char *r = dup_or_null(reason);
  free(req->v.reason);
  req->v.reason = r;
  req->v.code = code;
}

static void req_continue(moq_request *req);

static void core_resume(moq_request *req, int answer) {
  if (!req) return;
  if (answer != MOQ_HOOK_ALLOW && answer != MOQ_HOOK_DENY) answer = MOQ_HOOK_PASS;
  if (req->in_call) { /* answered before the callback even returned */
    req->early = answer;
    return;
  }
  if (!req->waiting) return; /* not left pending: nothing to resume */
  req->waiting = 0;
  if (!req->hs) { /* cancelled meanwhile */
    if (req->prev) req->prev->next = req->next;
    else req->hc->orphans = req->next;
    if (req->next) req->next->prev = req->prev;
    hook_verdict_free(&req->v);
    free(req->path);
    free(req->track);
    free(req);
    return;
  }
  if (req->prev) req->prev->next = req->next;
  else req->hc->pending = req->next;
  if (req->next) req->next->prev = req->prev;
  req->next = req->prev = NULL;
  req->v.answer = answer;
  req_continue(req);
}

static void timer_closed(uv_handle_t *h) { free(h->data); }

static void timer_fire(uv_timer_t *t) {
  struct moq_timer *mt = t->data;
  if (!uv_timer_get_repeat(t)) uv_timer_stop(t);
  mt->cb(mt->arg);
}

static moq_timer *core_timer_start(moq_plugin_host *h, uint64_t ms, uint64_t repeat_ms, void (*cb)(void *),
                                   void *arg) {
  if (!h || !cb) return NULL;
  struct moq_timer *mt = calloc(1, sizeof *mt);
  if (!mt) return NULL;
  mt->h = h;
  mt->cb = cb;
  mt->arg = arg;
  uv_timer_init(h->hc->loop, &mt->t);
  mt->t.data = mt;
  uv_timer_start(&mt->t, timer_fire, ms, repeat_ms);
  mt->next = h->timers;
  if (h->timers) h->timers->prev = mt;
  h->timers = mt;
  return mt;
}

static void core_timer_stop(moq_timer *mt) {
  if (!mt || mt->stopped) return;
  mt->stopped = 1;
  moq_plugin_host *h = mt->h;
  if (mt->prev) mt->prev->next = mt->next;
  else h->timers = mt->next;
  if (mt->next) mt->next->prev = mt->prev;
  uv_timer_stop(&mt->t);
  uv_close((uv_handle_t *)&mt->t, timer_closed);
}

static uint64_t core_now_ms(void) { return uv_hrtime() / 1000000u; }

static int core_session_close(moq_plugin_host *h, uint64_t id, uint64_t code, const char *reason) {
  if (!h || !h->hc->ops.session_close) return -1;
  return h->hc->ops.session_close(h->hc->ops.ud, id, code, reason ? reason : "closed by plugin");
}

static hook_chain_ops *ops_of(moq_plugin_host *h) { return h ? &h->hc->ops : NULL; }

static moq_link *core_link_open(moq_plugin_host *h, const char *url, int flags,
                                void (*on_state)(void *arg, moq_link *l, int up, const char *reason), void *arg) {
  hook_chain_ops *o = ops_of(h);
  return o && o->link_open && url ? o->link_open(o->ud, url, flags, on_state, arg) : NULL;
}

static void core_link_close(moq_plugin_host *h, moq_link *l) {
  hook_chain_ops *o = ops_of(h);
  if (l && o && o->link_close) o->link_close(o->ud, l);
}

static moq_remote *core_remote_publish(moq_plugin_host *h, const char *path, const char *url) {
  hook_chain_ops *o = ops_of(h);
  return o && o->remote_publish && path && url ? o->remote_publish(o->ud, path, url) : NULL;
}

static void core_remote_unpublish(moq_plugin_host *h, moq_remote *r) {
  hook_chain_ops *o = ops_of(h);
  if (r && o && o->remote_unpublish) o->remote_unpublish(o->ud, r);
}

static moq_marker *core_marker_publish(moq_plugin_host *h, const char *path) {
  hook_chain_ops *o = ops_of(h);
  return o && o->marker_publish && path ? o->marker_publish(o->ud, path) : NULL;
}

static void core_marker_unpublish(moq_plugin_host *h, moq_marker *m) {
  hook_chain_ops *o = ops_of(h);
  if (m && o && o->marker_unpublish) o->marker_unpublish(o->ud, m);
}

static int core_http_handle(moq_plugin_host *h, const char *path, char *(*fn)(void *arg, const char **ct),
                            void *arg) {
  if (!h || !path || path[0] != '/' || !fn) return -1;
  void *unused;
  if (hook_http_find(h->hc, path, &unused)) return -1;
  http_route *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    return -1;
  }
  r->fn = fn;
  r->arg = arg;
  r->h = h;
  r->next = h->hc->routes;
  h->hc->routes = r;
  return 0;
}

static size_t core_links_json(moq_plugin_host *h, char *buf, size_t len) {
  hook_chain_ops *o = ops_of(h);
  if (o && o->links_json) return o->links_json(o->ud, buf, len);
  if (len) snprintf(buf, len, "[]");
  return 2;
}

hook_http_fn hook_http_find(const hook_chain *hc, const char *path, void **arg) {
  for (http_route *r = hc ? hc->routes : NULL; r; r = r->next) {
    if (strcmp(r->path, path) == 0) {
      *arg = r->arg;
      return r->fn;
    }
  }
  return NULL;
}

static const moq_core core_table = {
    .size = sizeof(moq_core),
    .api_version = MOQ_PLUGIN_API_VERSION,
    .relay_version = PACKAGE_VERSION,
    .log = core_log,
    .config_get = core_config_get,
    .grant = core_grant,
    .set_claims = core_set_claims,
    .set_reason = core_set_reason,
    .resume = core_resume,
    .timer_start = core_timer_start,
    .timer_stop = core_timer_stop,
    .now_ms = core_now_ms,
    .path_has_prefix = hook_path_has_prefix,
    .session_close = core_session_close,
    .link_open = core_link_open,
    .link_close = core_link_close,
    .remote_publish = core_remote_publish,
    .remote_unpublish = core_remote_unpublish,
    .marker_publish = core_marker_publish,
    .marker_unpublish = core_marker_unpublish,
    .http_handle = core_http_handle,
    .links_json = core_links_json,
    .route_to = core_route_to,
};

/* ------------------------------------------------------------------------------------------ */
/* The chain */

hook_chain *hook_chain_new(uv_loop_t *loop, const hook_chain_ops *ops) {
  hook_chain *hc = calloc(1, sizeof *hc);
  if (!hc) return NULL;
  hc->loop = loop;
  if (ops) hc->ops = *ops;
  return hc;
}

static void tick_fire(uv_timer_t *t) {
  moq_plugin_host *h = t->data;
  moq_event ev = {.size = sizeof ev, .type = MOQ_EVENT_TICK};
  h->p.event(h->p.state, &ev);
}

static void host_free(moq_plugin_host *h) {
  while (h->timers) core_timer_stop(h->timers);
  if (h->tick) {
    uv_timer_stop(h->tick);
    h->tick->data = h->tick;
    uv_close((uv_handle_t *)h->tick, timer_closed);
  }
  if (h->inited && h->p.fini) h->p.fini(h->p.state);
  /* A plugin's timers and ticks are closed; its code must stay mapped until the loop has run their
   * close callbacks, which live in the core: unloading now is safe. */
  if (h->dl) dlclose(h->dl);
  free(h->path);
  free(h);
}

int hook_chain_load(hook_chain *hc, const char *path, moq_plugin_init_fn init, const moq_plugin_config *cfg,
                    char *err, size_t errlen) {
  moq_plugin_host *h = calloc(1, sizeof *h);
  if (!h || !(h->path = strdup(path ? path : "builtin"))) {
    free(h);
    snprintf(err, errlen, "%s: out of memory", path ? path : "plugin");
    return -1;
  }
  h->hc = hc;
  if (!init) {
    h->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h->dl) {
      snprintf(err, errlen, "%s: cannot load: %s", path, dlerror());
      goto fail;
    }
    *(void **)&init = dlsym(h->dl, MOQ_PLUGIN_INIT_SYMBOL);
    if (!init) {
      snprintf(err, errlen, "%s: not a moq-relay plugin (it has no %s function)", path, MOQ_PLUGIN_INIT_SYMBOL);
      goto fail;
    }
  }
  moq_plugin_config empty = {.source = path};
  char perr[512] = "";
  if (init(&core_table, h, cfg ? cfg : &empty, &h->p, perr, sizeof perr) != 0) {
    snprintf(err, errlen, "%s: the plugin refused to start: %s", path, perr[0] ? perr : "no reason given");
    goto fail;
  }
  h->inited = 1;
  if (MOQ_PLUGIN_API_VERSION_MAJOR(h->p.api_version) != MOQ_PLUGIN_API_MAJOR) {
    snprintf(err, errlen, "%s: built for hook API %u.%u; this relay speaks %u.%u (the major versions must match)",
             path, MOQ_PLUGIN_API_VERSION_MAJOR(h->p.api_version), h->p.api_version & 0xffffu,
             MOQ_PLUGIN_API_MAJOR, MOQ_PLUGIN_API_MINOR);
    h->inited = 0; /* never call into a plugin of another major version */
    goto fail;
  }
  if (h->p.size < offsetof(moq_plugin, fini) + sizeof h->p.fini || !h->p.name || !h->p.name[0]) {
    snprintf(err, errlen, "%s: the plugin filled in no name or a moq_plugin of the wrong size", path);
    goto fail;
  }
  if (h->p.tick_ms && h->p.event) {
    if (!(h->tick = malloc(sizeof *h->tick))) {
      snprintf(err, errlen, "%s: out of memory", path);
      goto fail;
    }
    uv_timer_init(hc->loop, h->tick);
    h->tick->data = h;
    uv_timer_start(h->tick, tick_fire, h->p.tick_ms, h->p.tick_ms);
  }
  if (hc->last) hc->last->next = h;
  else hc->plugins = h;
  hc->last = h;
  hc->n++;
  LOG_INF("plugin_loaded", "plugin=%s version=%s from=%s", h->p.name, h->p.version ? h->p.version : "-", h->path);
  return 0;
fail:
  host_free(h);
  return -1;
}

size_t hook_chain_count(const hook_chain *hc) { return hc ? hc->n : 0; }

const char *hook_chain_name(const hook_chain *hc, size_t i) {
  for (moq_plugin_host *h = hc ? hc->plugins : NULL; h; h = h->next)
    if (i-- == 0) return h->p.name;
  return NULL;
}

int hook_chain_reload(hook_chain *hc, char *err, size_t errlen) {
  int rv = 0;
  for (moq_plugin_host *h = hc ? hc->plugins : NULL; h; h = h->next) {
    if (!h->p.reload) continue;
    char perr[512] = "";
    if (h->p.reload(h->p.state, perr, sizeof perr) != 0) {
      LOG_WRN("plugin_reload_failed", "plugin=%s reason=\"%s\"", h->p.name, perr);
      if (rv == 0) snprintf(err, errlen, "%s: %s", h->p.name, perr[0] ? perr : "reload failed");
      rv = -1;
    } else {
      LOG_INF("plugin_reloaded", "plugin=%s", h->p.name);
    }
  }
  return rv;
}

void hook_chain_free(hook_chain *hc) {
  if (!hc) return;
  /* Pending requests: the plugins that hold them are going away; nobody will resume them. */
  while (hc->pending || hc->orphans) {
    moq_request **list = hc->pending ? &hc->pending : &hc->orphans;
    moq_request *req = *list;
    *list = req->next;
    hook_verdict_free(&req->v);
    free(req->path);
    free(req->track);
    free(req);
  }
  while (hc->plugins) {
    moq_plugin_host *h = hc->plugins;
    hc->plugins = h->next;
    host_free(h);
  }
  while (hc->routes) {
    http_route *r = hc->routes;
    hc->routes = r->next;
    free(r->path);
    free(r);
  }
  free(hc);
}

/* ------------------------------------------------------------------------------------------ */
/* Running a decision */

/* The route callback exists only in plugins built for 1.1 or later. */
static int plugin_has_route(const moq_plugin_host *h) {
  return h->p.size >= offsetof(moq_plugin, route) + sizeof h->p.route && h->p.route;
}

int hook_chain_routes(const hook_chain *hc) {
  for (moq_plugin_host *h = hc ? hc->plugins : NULL; h; h = h->next)
    if (plugin_has_route(h)) return 1;
  return 0;
}

/* Asks req->at; returns its answer (PENDING if it is waiting). */
static int ask(moq_request *req) {
  moq_plugin_host *h = req->at;
  int a = MOQ_HOOK_PASS;
  req->in_call = 1;
  req->early = -1;
  switch (req->kind) {
  case REQ_SESSION:
    if (req->authenticating) {
      if (h->p.authenticate) a = h->p.authenticate(h->p.state, &req->hs->info, req);
    } else if (h->p.session) {
      a = h->p.session(h->p.state, &req->hs->info, req);
    }
    break;
  case REQ_ANNOUNCE:
    if (h->p.announce) a = h->p.announce(h->p.state, &req->hs->info, req->path, req);
    break;
  case REQ_SUBSCRIBE:
    if (h->p.subscribe) a = h->p.subscribe(h->p.state, &req->hs->info, req->path, req->track, req);
    break;
  case REQ_ROUTE:
    if (plugin_has_route(h)) a = h->p.route(h->p.state, &req->hs->info, req->path, req);
    break;
  }
  req->in_call = 0;
  if (a == MOQ_HOOK_PENDING && req->early >= 0) a = req->early;
  if (a != MOQ_HOOK_ALLOW && a != MOQ_HOOK_DENY && a != MOQ_HOOK_PENDING) a = MOQ_HOOK_PASS;
  return a;
}

/* Runs the chain from req->at until an answer, the end, or a pending plugin. Returns the final
 * answer, or MOQ_HOOK_PENDING (req is then on the pending list). */
static int run(moq_request *req) {
  while (req->at) {
    int a = ask(req);
    if (a == MOQ_HOOK_PENDING) {
      req->waiting = 1;
      req->next = req->hc->pending;
      if (req->hc->pending) req->hc->pending->prev = req;
      req->hc->pending = req;
      return MOQ_HOOK_PENDING;
    }
    if (a == MOQ_HOOK_DENY || (a == MOQ_HOOK_ALLOW && !req->authenticating)) {
      req->v.answer = a;
      free(req->v.plugin);
      req->v.plugin = dup_or_null(req->at->p.name);
      return a;
    }
    if (a == MOQ_HOOK_ALLOW || !req->at->next) {
      /* authenticate ALLOW (credentials verified) or the end of a phase */
      if (req->authenticating) {
        req->authenticating = 0;
        req->at = req->hc->plugins;
        continue;
      }
      req->at = NULL;
      break;
    }
    req->at = req->at->next;
  }
  req->v.answer = MOQ_HOOK_PASS;
  return MOQ_HOOK_PASS;
}

static void req_finish(moq_request *req) {
  hook_verdict v = req->v;
  memset(&req->v, 0, sizeof req->v);
  hook_done_fn done = req->done;
  void *ud = req->ud;
  free(req->path);
  free(req->track);
  free(req);
  done(ud, &v);
  hook_verdict_free(&v);
}

/* After a resume: the awaited plugin's answer is in req->v.answer. */
static void req_continue(moq_request *req) {
  int a = req->v.answer;
  if (a == MOQ_HOOK_DENY || (a == MOQ_HOOK_ALLOW && !req->authenticating)) {
    free(req->v.plugin);
    req->v.plugin = dup_or_null(req->at->p.name);
    req_finish(req);
    return;
  }
  if (a == MOQ_HOOK_ALLOW || !req->at->next) {
    if (req->authenticating) {
      req->authenticating = 0;
      req->at = req->hc->plugins;
    } else {
      req->at = NULL;
    }
  } else {
    req->at = req->at->next;
  }
  if (run(req) != MOQ_HOOK_PENDING) req_finish(req);
}

static int start(hook_chain *hc, moq_request *req, hook_verdict *v) {
  req->hc = hc;
  req->at = hc ? hc->plugins : NULL;
  int a = run(req);
  if (a == MOQ_HOOK_PENDING) return a;
  *v = req->v;
  free(req->path);
  free(req->track);
  free(req);
  return a;
}

static moq_request *req_new(req_kind kind, hook_session *hs, hook_done_fn done, void *ud) {
  moq_request *req = calloc(1, sizeof *req);
  if (!req) return NULL;
  req->kind = kind;
  req->hs = hs;
  req->done = done;
  req->ud = ud;
  return req;
}

int hook_ask_session(hook_chain *hc, hook_session *hs, hook_verdict *v, hook_done_fn done, void *ud) {
  memset(v, 0, sizeof *v);
  moq_request *req = req_new(REQ_SESSION, hs, done, ud);
  if (!req) {
    v->answer = MOQ_HOOK_DENY;
    v->reason = dup_or_null("out of memory");
    return MOQ_HOOK_DENY;
  }
  req->authenticating = 1;
  return start(hc, req, v);
}

static int ask_path(hook_chain *hc, req_kind kind, hook_session *hs, const char *path, const char *track,
                    hook_verdict *v, hook_done_fn done, void *ud) {
  memset(v, 0, sizeof *v);
  moq_request *req = req_new(kind, hs, done, ud);
  if (!req || !(req->path = strdup(path)) || (track && !(req->track = strdup(track)))) {
    if (req) free(req->path);
    free(req);
    v->answer = MOQ_HOOK_DENY;
    v->reason = dup_or_null("out of memory");
    return MOQ_HOOK_DENY;
  }
  return start(hc, req, v);
}

int hook_ask_announce(hook_chain *hc, hook_session *hs, const char *path, hook_verdict *v, hook_done_fn done,
                      void *ud) {
  return ask_path(hc, REQ_ANNOUNCE, hs, path, NULL, v, done, ud);
}

int hook_ask_subscribe(hook_chain *hc, hook_session *hs, const char *path, const char *track, hook_verdict *v,
                       hook_done_fn done, void *ud) {
  return ask_path(hc, REQ_SUBSCRIBE, hs, path, track, v, done, ud);
}

int hook_ask_route(hook_chain *hc, hook_session *hs, const char *path, hook_verdict *v, hook_done_fn done, void *ud) {
  return ask_path(hc, REQ_ROUTE, hs, path, NULL, v, done, ud);
}

void hook_cancel_session(hook_chain *hc, hook_session *hs) {
  if (!hc) return;
  for (moq_request *req = hc->pending, *next; req; req = next) {
    next = req->next;
    if (req->hs != hs) continue;
    if (req->prev) req->prev->next = req->next;
    else hc->pending = req->next;
    if (req->next) req->next->prev = req->prev;
    req->prev = NULL;
    req->next = hc->orphans;
    if (hc->orphans) hc->orphans->prev = req;
    hc->orphans = req;
    req->hs = NULL; /* stays allocated until the plugin resumes it */
    req->done(req->ud, NULL); /* the owner forgets it */
  }
}

void hook_emit(hook_chain *hc, const moq_event *ev) {
  for (moq_plugin_host *h = hc ? hc->plugins : NULL; h; h = h->next)
    if (h->p.event) h->p.event(h->p.state, ev);
}
