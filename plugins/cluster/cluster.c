/* cluster plugin: relays of several regions as one, on the hook API only (moq-relay/plugin.h 1.1).
 *
 * Roots and leaves, as moq-dev's relay first designed it, without its single root and full mesh:
 * - A leaf dials every root (cluster.root, one or more) with ?register=NODE and its cluster token
 *   (or its mTLS certificate), publishes its local broadcasts to them and imports theirs.
 * - A root admits a registration only from a cluster peer (a token with the cluster claim, or a
 *   certificate whose first DNS name is NODE or NODE's host), and publishes markers (empty
 *   broadcasts) that its leaves see: internal/roots/ROOT/nodes/NODE for each member and
 *   internal/roots/ROOT/broadcasts/NODE/PATH for each broadcast a member announces.
 * - From those markers a leaf publishes every other node's broadcasts as remote broadcasts: seen by
 *   its subscribers at once, fetched from the owning node over a link opened only while someone
 *   watches, one hop, closed after the linger time. No leaf-to-leaf link exists while idle.
 * - A lost root: markers it gave stay until it returns and has resynchronised (a few seconds), so
 *   flows between leaves go on; with several roots, the others still announce everything. A leaf
 *   redials a lost root with backoff (0.5 s doubling to 10 s, forever).
 * GET /cluster describes the node, its roots, members, remote broadcasts and links as JSON.
 *
 * With several workers (core/worker) the relay loads one instance per worker, told its "worker"
 * number. Each admits the registrations of its own sessions and publishes their markers, which the
 * relay shares with every worker (the root side). Worker 0 alone dials the roots and publishes the
 * other nodes' broadcasts, which the relay also shares (the leaf side); the others ignore markers of
 * other roots. Worker 0 answers GET /cluster, and lists the members from the markers this node
 * published on any worker. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

#define RESYNC_MS 5000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000
#define PREFIX "internal/roots/"

typedef struct cluster cluster;

/* A leaf's connection to one root. */
typedef struct root_conn {
  cluster *c;
  char *name;            /* HOST:PORT (or as configured) */
  char *url;             /* what is dialed */
  moq_link *link;
  int up;
  int down_since_up;     /* lost after having been up: its markers are kept */
  uint64_t backoff_ms;
  moq_timer *retry;
  moq_timer *resync;
  struct root_conn *next;
} root_conn;

/* One marker a root gave: NODE has PATH (leaf side). */
typedef struct contrib {
  char *root, *node, *path;
  int stale;             /* its root came back and has not announced it again yet */
  struct contrib *next;
} contrib;

/* A broadcast of another node published here (leaf side). */
typedef struct rbc {
  char *node, *path;
  int refs;              /* contributions */
  moq_remote *remote;
  struct rbc *next;
} rbc;

/* A node a root told us about (for /cluster). */
typedef struct known {
  char *root, *node;
  struct known *next;
} known;

/* Root side: a registered member and its markers. */
typedef struct mbc {
  char *path;
  moq_marker *marker;
  struct mbc *next;
} mbc;

typedef struct member {
  uint64_t session;
  char *node;
  moq_marker *marker;
  mbc *bcs;
  struct member *next;
} member;

struct cluster {
  const moq_core *core;
  moq_plugin_host *h;
  char *node;            /* this relay */
  char *token;           /* owned: the JWT text, or NULL (mTLS) */
  root_conn *roots;
  contrib *contribs;
  rbc *rbcs;
  known *knowns;
  member *members;       /* registered on this worker */
  contrib *own;          /* this node's markers, from any worker: NODE (path NULL) or NODE's PATH */
  int leaf_side;         /* dials the roots and publishes remote broadcasts (worker 0) */
  moq_timer *start;
};

static void logf_(cluster *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(cluster *c, int level, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  c->core->log(c->h, level, msg);
}

/* The value of key in a raw query (decoded %XX not needed: node names are plain). */
static int query_get(const char *q, const char *key, char *out, size_t outlen) {
  size_t kl = strlen(key);
  while (q && *q) {
    size_t n = strcspn(q, "&");
    if (n > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
      size_t vl = n - kl - 1;
      if (vl >= outlen) return -1;
      memcpy(out, q + kl + 1, vl);
      out[vl] = 0;
      return 0;
    }
    q += n;
    if (*q == '&') q++;
  }
  return -1;
}

/* A node name: HOST:PORT without '/', '?', '&', '#' or spaces. */
static int node_name_ok(const char *n) {
  if (!*n || strlen(n) > 200) return 0;
  for (const char *p = n; *p; p++)
    if (*p == '/' || *p == '?' || *p == '&' || *p == '#' || *p == ' ' || *p == '%' || (unsigned char)*p < 0x20) return 0;
  return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Root side */

static member *member_of(cluster *c, uint64_t session) {
  for (member *m = c->members; m; m = m->next)
    if (m->session == session) return m;
  return NULL;
}

/* Admission: a registration must come from a cluster peer naming itself truthfully. */
static int cl_session(void *state, const moq_session_info *s, moq_request *req) {
  cluster *c = state;
  char node[256];
  if (query_get(s->query, "register", node, sizeof node)) return MOQ_HOOK_PASS;
  const char *why = NULL;
  if (!node_name_ok(node)) {
    why = "register: not a node name (HOST:PORT)";
  } else if (s->claims) {
    if (!s->claims->cluster) why = "a token without the cluster claim cannot register";
  } else if (s->peer_verified && s->n_peer_names) {
    const char *san = s->peer_names[0];
    size_t n = strlen(san);
    int ok = strcmp(node, san) == 0;
    if (!ok && strncmp(node, san, n) == 0 && node[n] == ':' && node[n + 1]) {
      ok = 1;
      for (const char *p = node + n + 1; *p; p++)
        if (*p < '0' || *p > '9') ok = 0;
    }
    if (!ok) why = "register: the name is not the certificate's first DNS name";
  } else {
    why = "registration needs a cluster token or a cluster certificate";
  }
  if (why) {
    c->core->set_reason(req, MOQ_ERROR_UNAUTHORIZED, why);
    logf_(c, MOQ_LOG_INFO, "refused registration of %s from %s: %s", node, s->remote, why);
    return MOQ_HOOK_DENY;
  }
  return MOQ_HOOK_PASS; /* the token or certificate decides the grants, as a cluster peer */
}

static void member_add(cluster *c, const moq_session_info *s) {
  char node[256], path[600];
  if (query_get(s->query, "register", node, sizeof node) || !node_name_ok(node)) return;
  member *m = calloc(1, sizeof *m);
  if (!m || !(m->node = strdup(node))) {
    free(m);
    return;
  }
  m->session = s->id;
  snprintf(path, sizeof path, PREFIX "%s/nodes/%s", c->node, node);
  m->marker = c->core->marker_publish(c->h, path);
  m->next = c->members;
  c->members = m;
  logf_(c, MOQ_LOG_INFO, "registered %s (session %llu)", node, (unsigned long long)s->id);
}

static void mbc_free(cluster *c, mbc *b) {
  c->core->marker_unpublish(c->h, b->marker);
  free(b->path);
  free(b);
}

static void member_remove(cluster *c, uint64_t session) {
  for (member **p = &c->members; *p; p = &(*p)->next) {
    member *m = *p;
    if (m->session != session) continue;
    *p = m->next;
    logf_(c, MOQ_LOG_INFO, "unregistered %s", m->node);
    while (m->bcs) {
      mbc *b = m->bcs;
      m->bcs = b->next;
      mbc_free(c, b);
    }
    c->core->marker_unpublish(c->h, m->marker);
    free(m->node);
    free(m);
    return;
  }
}

/* A member announces path: the other leaves learn it from a marker. */
static int cl_announce(void *state, const moq_session_info *s, const char *path, moq_request *req) {
  cluster *c = state;
  member *m = member_of(c, s->id);
  if (!m || strncmp(path, "internal/", 9) == 0) return MOQ_HOOK_PASS;
  for (mbc *b = m->bcs; b; b = b->next)
    if (strcmp(b->path, path) == 0) return MOQ_HOOK_PASS;
  char mp[1500];
  snprintf(mp, sizeof mp, PREFIX "%s/broadcasts/%s/%s", c->node, m->node, path);
  mbc *b = calloc(1, sizeof *b);
  if (!b || !(b->path = strdup(path))) {
    free(b);
    return MOQ_HOOK_PASS;
  }
  b->marker = c->core->marker_publish(c->h, mp);
  b->next = m->bcs;
  m->bcs = b;
  return MOQ_HOOK_PASS;
}

/* A broadcast ended: drop the markers of whoever announced it. */
static void root_broadcast_down(cluster *c, const char *path) {
  for (member *m = c->members; m; m = m->next) {
    for (mbc **p = &m->bcs; *p; p = &(*p)->next) {
      if (strcmp((*p)->path, path) != 0) continue;
      mbc *b = *p;
      *p = b->next;
      mbc_free(c, b);
      break;
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Leaf side: remote broadcasts from markers */

static void rbc_ref(cluster *c, const char *node, const char *path, int delta) {
  rbc **p = &c->rbcs;
  while (*p && !(strcmp((*p)->node, node) == 0 && strcmp((*p)->path, path) == 0)) p = &(*p)->next;
  rbc *r = *p;
  if (!r) {
    if (delta < 0) return;
    r = calloc(1, sizeof *r);
    if (!r || !(r->node = strdup(node)) || !(r->path = strdup(path))) {
      if (r) free(r->node);
      free(r);
      return;
    }
    r->next = c->rbcs;
    c->rbcs = r;
    p = &c->rbcs;
  }
  r->refs += delta;
  if (r->refs > 0 && !r->remote) {
    char url[300];
    snprintf(url, sizeof url, "moql://%s/%s%s", node, c->token ? "?jwt=" : "", c->token ? c->token : "");
    r->remote = c->core->remote_publish(c->h, path, url);
    logf_(c, r->remote ? MOQ_LOG_INFO : MOQ_LOG_WARN, "%s %s from %s", r->remote ? "remote broadcast" : "cannot publish",
          path, node);
  }
  if (r->refs <= 0) {
    for (p = &c->rbcs; *p != r; p = &(*p)->next) {
    }
    *p = r->next;
    if (r->remote) {
      c->core->remote_unpublish(c->h, r->remote);
      logf_(c, MOQ_LOG_INFO, "remote broadcast %s from %s is gone", path, node);
    }
    free(r->node);
    free(r->path);
    free(r);
  }
}

static root_conn *root_named(cluster *c, const char *name) {
  for (root_conn *rc = c->roots; rc; rc = rc->next)
    if (strcmp(rc->name, name) == 0) return rc;
  return NULL;
}

/* internal/roots/ROOT/KIND/NODE[/PATH]: splits into its parts (in buf). */
static int parse_marker(const char *path, char *buf, size_t len, char **root, char **kind, char **node,
                        char **rest) {
  if (strncmp(path, PREFIX, strlen(PREFIX)) != 0 || strlen(path) >= len) return -1;
  strcpy(buf, path + strlen(PREFIX));
  *root = buf;
  char *p = strchr(buf, '/');
  if (!p) return -1;
  *p++ = 0;
  *kind = p;
  if (!(p = strchr(p, '/'))) return -1;
  *p++ = 0;
  *node = p;
  p = strchr(p, '/');
  if (p) *p++ = 0;
  *rest = p;
  return **root && **node ? 0 : -1;
}

static void contrib_add(cluster *c, const char *root, const char *node, const char *path) {
  for (contrib *k = c->contribs; k; k = k->next) {
    if (strcmp(k->root, root) == 0 && strcmp(k->node, node) == 0 && strcmp(k->path, path) == 0) {
      k->stale = 0; /* announced again after its root came back */
      return;
    }
  }
  contrib *k = calloc(1, sizeof *k);
  if (!k || !(k->root = strdup(root)) || !(k->node = strdup(node)) || !(k->path = strdup(path))) {
    if (k) {
      free(k->root);
      free(k->node);
    }
    free(k);
    return;
  }
  k->next = c->contribs;
  c->contribs = k;
  rbc_ref(c, node, path, 1);
}

static void contrib_free(cluster *c, contrib **p) {
  contrib *k = *p;
  *p = k->next;
  rbc_ref(c, k->node, k->path, -1);
  free(k->root);
  free(k->node);
  free(k->path);
  free(k);
}

static void contrib_remove(cluster *c, const char *root, const char *node, const char *path) {
  for (contrib **p = &c->contribs; *p; p = &(*p)->next) {
    contrib *k = *p;
    if (strcmp(k->root, root) == 0 && strcmp(k->node, node) == 0 && strcmp(k->path, path) == 0) {
      contrib_free(c, p);
      return;
    }
  }
}

static void known_set(cluster *c, const char *root, const char *node, int on) {
  for (known **p = &c->knowns; *p; p = &(*p)->next) {
    known *k = *p;
    if (strcmp(k->root, root) == 0 && strcmp(k->node, node) == 0) {
      if (!on) {
        *p = k->next;
        free(k->root);
        free(k->node);
        free(k);
      }
      return;
    }
  }
  if (!on) return;
  known *k = calloc(1, sizeof *k);
  if (!k || !(k->root = strdup(root)) || !(k->node = strdup(node))) {
    if (k) free(k->root);
    free(k);
    return;
  }
  k->next = c->knowns;
  c->knowns = k;
}

static void own_free(contrib **p) {
  contrib *k = *p;
  *p = k->next;
  free(k->node);
  free(k->path);
  free(k);
}

/* One of this node's markers, published on any worker, came (up) or went: for GET /cluster. */
static void own_set(cluster *c, const char *node, const char *path, int up) {
  for (contrib **p = &c->own; *p; p = &(*p)->next) {
    contrib *k = *p;
    if (strcmp(k->node, node) != 0 || !k->path != !path || (path && strcmp(k->path, path) != 0)) continue;
    if (!up) own_free(p);
    return;
  }
  if (!up) return;
  contrib *k = calloc(1, sizeof *k);
  if (!k || !(k->node = strdup(node)) || (path && !(k->path = strdup(path)))) {
    if (k) free(k->node);
    free(k);
    return;
  }
  k->next = c->own;
  c->own = k;
}

static void marker_event(cluster *c, const char *path, int up) {
  char buf[1500], *root, *kind, *node, *rest;
  if (parse_marker(path, buf, sizeof buf, &root, &kind, &node, &rest)) return;
  if (strcmp(root, c->node) == 0) { /* our own markers (we are a root) */
    if (strcmp(kind, "nodes") == 0 && !rest) own_set(c, node, NULL, up);
    else if (strcmp(kind, "broadcasts") == 0 && rest && *rest) own_set(c, node, rest, up);
    return;
  }
  if (!c->leaf_side) return; /* worker 0 learns the other nodes' broadcasts for every worker */
  root_conn *rc = root_named(c, root);
  if (!up && rc && !rc->up) return;       /* the root is lost: keep what it told us */
  if (strcmp(kind, "nodes") == 0 && !rest) {
    known_set(c, root, node, up);
    if (up && rc && strcmp(node, c->node) == 0) { /* the root admitted our registration */
      rc->backoff_ms = BACKOFF_MIN_MS;
      logf_(c, MOQ_LOG_INFO, "registered with root %s", rc->name);
    }
  } else if (strcmp(kind, "broadcasts") == 0 && rest && *rest && strcmp(node, c->node) != 0) {
    if (up) contrib_add(c, root, node, rest);
    else contrib_remove(c, root, node, rest);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Leaf side: links to the roots */

static void root_dial(root_conn *rc);

static void retry_fire(void *arg) {
  root_conn *rc = arg;
  rc->c->core->timer_stop(rc->retry);
  rc->retry = NULL;
  root_dial(rc);
}

/* Drops what a root that came back did not announce again. */
static void resync_fire(void *arg) {
  root_conn *rc = arg;
  cluster *c = rc->c;
  c->core->timer_stop(rc->resync);
  rc->resync = NULL;
  for (contrib **p = &c->contribs; *p;) {
    if ((*p)->stale && strcmp((*p)->root, rc->name) == 0) contrib_free(c, p);
    else p = &(*p)->next;
  }
}

static void root_state(void *arg, moq_link *l, int up, const char *reason) {
  root_conn *rc = arg;
  cluster *c = rc->c;
  if (up) {
    rc->up = 1; /* registered once the root announces our node marker (marker_event) */
    logf_(c, MOQ_LOG_DEBUG, "connected to root %s", rc->name);
    if (rc->down_since_up) { /* mark its old markers until it has announced them again */
      for (contrib *k = c->contribs; k; k = k->next)
        if (strcmp(k->root, rc->name) == 0) k->stale = 1;
      if (rc->resync) c->core->timer_stop(rc->resync);
      rc->resync = c->core->timer_start(c->h, RESYNC_MS, 0, resync_fire, rc);
    }
    return;
  }
  if (rc->up) rc->down_since_up = 1;
  rc->up = 0;
  c->core->link_close(c->h, rc->link);
  rc->link = NULL;
  logf_(c, MOQ_LOG_WARN, "root %s lost (%s); redialing in %llu ms", rc->name, reason ? reason : "?",
        (unsigned long long)rc->backoff_ms);
  rc->retry = c->core->timer_start(c->h, rc->backoff_ms, 0, retry_fire, rc);
  rc->backoff_ms = rc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff_ms * 2;
}

static void root_dial(root_conn *rc) {
  cluster *c = rc->c;
  rc->link = c->core->link_open(c->h, rc->url, MOQ_LINK_CONSUME, root_state, rc);
  if (!rc->link) {
    logf_(c, MOQ_LOG_WARN, "cannot dial root %s; retrying in %llu ms", rc->name, (unsigned long long)rc->backoff_ms);
    rc->retry = c->core->timer_start(c->h, rc->backoff_ms, 0, retry_fire, rc);
    rc->backoff_ms = rc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff_ms * 2;
  }
}

static void start_fire(void *arg) {
  cluster *c = arg;
  c->core->timer_stop(c->start);
  c->start = NULL;
  for (root_conn *rc = c->roots; rc; rc = rc->next) root_dial(rc);
}

/* ------------------------------------------------------------------------------------------ */
/* Events, /cluster, life cycle */

static void cl_event(void *state, const moq_event *ev) {
  cluster *c = state;
  switch (ev->type) {
  case MOQ_EVENT_PEER_UP: member_add(c, ev->session); break;
  case MOQ_EVENT_PEER_DOWN: member_remove(c, ev->session->id); break;
  case MOQ_EVENT_BROADCAST_UP:
    if (ev->path && strncmp(ev->path, PREFIX, strlen(PREFIX)) == 0) marker_event(c, ev->path, 1);
    break;
  case MOQ_EVENT_BROADCAST_DOWN:
    if (!ev->path) break;
    if (strncmp(ev->path, PREFIX, strlen(PREFIX)) == 0) marker_event(c, ev->path, 0);
    else root_broadcast_down(c, ev->path);
    break;
  default: break;
  }
}

/* JSON string escaping for names and paths. */
static void put_str(char **buf, size_t *len, size_t *cap, const char *s) {
  size_t need = strlen(s) * 6 + 3;
  if (*len + need + 1 > *cap) {
    size_t nc = (*cap + need) * 2;
    char *nb = realloc(*buf, nc);
    if (!nb) return;
    *buf = nb;
    *cap = nc;
  }
  char *o = *buf + *len;
  *o++ = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      *o++ = '\\';
      *o++ = (char)*p;
    } else if (*p < 0x20) {
      o += sprintf(o, "\\u%04x", *p);
    } else {
      *o++ = (char)*p;
    }
  }
  *o++ = '"';
  *o = 0;
  *len = (size_t)(o - *buf);
}

static void put_raw(char **buf, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s);
  if (*len + n + 1 > *cap) {
    size_t nc = (*cap + n + 1) * 2;
    char *nb = realloc(*buf, nc);
    if (!nb) return;
    *buf = nb;
    *cap = nc;
  }
  memcpy(*buf + *len, s, n + 1);
  *len += n;
}

static char *cluster_json(void *arg, const char **content_type) {
  cluster *c = arg;
  size_t len = 0, cap = 1024;
  char *b = malloc(cap);
  if (!b) return NULL;
  b[0] = 0;
  put_raw(&b, &len, &cap, "{\"node\":");
  put_str(&b, &len, &cap, c->node);
  put_raw(&b, &len, &cap, ",\"roots\":[");
  for (root_conn *rc = c->roots; rc; rc = rc->next) {
    put_raw(&b, &len, &cap, rc == c->roots ? "{\"name\":" : ",{\"name\":");
    put_str(&b, &len, &cap, rc->name);
    put_raw(&b, &len, &cap, rc->up ? ",\"state\":\"up\"}" : ",\"state\":\"down\"}");
  }
  put_raw(&b, &len, &cap, "],\"members\":[");
  int first = 1;
  for (contrib *m = c->own; m; m = m->next) { /* every worker's members, from their markers */
    if (m->path) continue;
    put_raw(&b, &len, &cap, first ? "{\"node\":" : ",{\"node\":");
    first = 0;
    put_str(&b, &len, &cap, m->node);
    put_raw(&b, &len, &cap, ",\"broadcasts\":[");
    int firstb = 1;
    for (contrib *x = c->own; x; x = x->next) {
      if (!x->path || strcmp(x->node, m->node) != 0) continue;
      if (!firstb) put_raw(&b, &len, &cap, ",");
      firstb = 0;
      put_str(&b, &len, &cap, x->path);
    }
    put_raw(&b, &len, &cap, "]}");
  }
  put_raw(&b, &len, &cap, "],\"nodes\":[");
  for (known *k = c->knowns; k; k = k->next) {
    put_raw(&b, &len, &cap, k == c->knowns ? "{\"node\":" : ",{\"node\":");
    put_str(&b, &len, &cap, k->node);
    put_raw(&b, &len, &cap, ",\"root\":");
    put_str(&b, &len, &cap, k->root);
    put_raw(&b, &len, &cap, "}");
  }
  put_raw(&b, &len, &cap, "],\"remote_broadcasts\":[");
  for (rbc *r = c->rbcs; r; r = r->next) {
    put_raw(&b, &len, &cap, r == c->rbcs ? "{\"path\":" : ",{\"path\":");
    put_str(&b, &len, &cap, r->path);
    put_raw(&b, &len, &cap, ",\"node\":");
    put_str(&b, &len, &cap, r->node);
    put_raw(&b, &len, &cap, "}");
  }
  put_raw(&b, &len, &cap, "],\"links\":");
  char links[8192];
  size_t need = c->core->links_json(c->h, links, sizeof links);
  put_raw(&b, &len, &cap, need < sizeof links ? links : "[]");
  put_raw(&b, &len, &cap, "}\n");
  *content_type = "application/json";
  return b;
}

static void cl_fini(void *state) {
  cluster *c = state;
  /* The relay stopped every timer already. */
  while (c->roots) {
    root_conn *rc = c->roots;
    c->roots = rc->next;
    if (rc->link) c->core->link_close(c->h, rc->link);
    free(rc->name);
    free(rc->url);
    free(rc);
  }
  while (c->contribs) {
    contrib *k = c->contribs;
    c->contribs = k->next;
    free(k->root);
    free(k->node);
    free(k->path);
    free(k);
  }
  while (c->rbcs) {
    rbc *r = c->rbcs;
    c->rbcs = r->next;
    if (r->remote) c->core->remote_unpublish(c->h, r->remote);
    free(r->node);
    free(r->path);
    free(r);
  }
  while (c->knowns) known_set(c, c->knowns->root, c->knowns->node, 0);
  while (c->members) member_remove(c, c->members->session);
  while (c->own) own_free(&c->own);
  free(c->node);
  free(c->token);
  free(c);
}

/* Reads the token file (one JWT, surrounding whitespace ignored). */
static char *read_token(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "cluster token %s: cannot open", path);
    return NULL;
  }
  char buf[16384];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *s = buf;
  while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++;
  size_t l = strlen(s);
  while (l && (s[l - 1] == ' ' || s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == '\t')) s[--l] = 0;
  if (!l || strchr(s, '&') || strchr(s, ' ')) {
    snprintf(err, errlen, "cluster token %s: expected one JWT", path);
    return NULL;
  }
  return strdup(s);
}

int moq_plugin_cluster_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                            char *err, size_t errlen) {
  if (MOQ_PLUGIN_API_VERSION_MAJOR(core->api_version) != MOQ_PLUGIN_API_MAJOR ||
      core->size < offsetof(moq_core, links_json) + sizeof core->links_json) {
    snprintf(err, errlen, "needs hook API 1.1 or later");
    return -1;
  }
  const char *node = core->config_get(cfg, "node");
  if (!node || !node_name_ok(node)) {
    snprintf(err, errlen, "cluster node \"%s\": expected HOST:PORT", node ? node : "");
    return -1;
  }
  cluster *c = calloc(1, sizeof *c);
  if (!c || !(c->node = strdup(node))) {
    free(c);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  c->core = core;
  c->h = h;
  const char *tok = core->config_get(cfg, "token");
  if (tok && !(c->token = read_token(tok, err, errlen))) {
    cl_fini(c);
    return -1;
  }
  const char *worker = core->config_get(cfg, "worker");
  c->leaf_side = !worker || strcmp(worker, "0") == 0;
  for (size_t i = 0; i < cfg->n && c->leaf_side; i++) {
    if (strcmp(cfg->keys[i], "root") != 0) continue;
    const char *spec = cfg->values[i];
    const char *hostport = strstr(spec, "://") ? strstr(spec, "://") + 3 : spec;
    size_t hl = strcspn(hostport, "/?");
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(hl < sizeof name ? hl : sizeof name - 1), hostport);
    if (strcmp(name, c->node) == 0 || root_named(c, name)) continue; /* this relay is that root */
    root_conn *rc = calloc(1, sizeof *rc);
    char url[17000];
    snprintf(url, sizeof url, "moql://%s/?register=%s%s%s", name, c->node, c->token ? "&jwt=" : "",
             c->token ? c->token : "");
    if (!rc || !(rc->name = strdup(name)) || !(rc->url = strdup(url))) {
      if (rc) free(rc->name);
      free(rc);
      cl_fini(c);
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    rc->c = c;
    rc->backoff_ms = BACKOFF_MIN_MS;
    rc->next = c->roots;
    c->roots = rc;
  }
  if (core->http_handle(h, "/cluster", cluster_json, c)) {
    cl_fini(c);
    snprintf(err, errlen, "GET /cluster is already served by another plugin");
    return -1;
  }
  if (c->roots) c->start = core->timer_start(h, 0, 0, start_fire, c); /* dial once the relay runs */
  memset(out, 0, sizeof *out);
  out->api_version = MOQ_PLUGIN_API_VERSION;
  out->size = sizeof *out;
  out->name = "cluster";
  out->version = core->relay_version;
  out->state = c;
  out->session = cl_session;
  out->announce = cl_announce;
  out->event = cl_event;
  out->fini = cl_fini;
  return 0;
}
