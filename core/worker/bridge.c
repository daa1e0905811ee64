#include "worker/bridge.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/idmap.h"
#include "base/log.h"

enum {
  B_ANNOUNCE = 100, /* owner -> others: a broadcast started (active) or ended */
  B_SUBSCRIBE,      /* subscriber -> owner: feed me track `name` of broadcast `serial` */
  B_UNSUBSCRIBE,    /* subscriber -> owner: stop feeding subscription `sub` */
  B_GROUP,          /* owner -> subscriber: group `seq` began */
  B_FRAME,          /* owner -> subscriber: a frame of group `seq` */
  B_GROUP_DONE,     /* owner -> subscriber: group `seq` has no more frames */
  B_TRACK_DONE,     /* owner -> subscriber: the track ended with `code` */
};

enum { MOQ_CODE_NOT_FOUND_ = 13 }; /* moq-lite's NOT_FOUND (moq/session.h), as the owner answers it */

/* One message between bridges; the fields a kind does not use are zero. */
typedef struct bmsg {
  mail m;
  unsigned from;     /* the sending worker */
  int active, aborted, via_cluster;
  uint64_t serial;   /* the broadcast on its owning worker (its address there: an opaque name) */
  uint64_t sub;      /* the subscription, numbered by the subscribing worker */
  uint64_t seq, ts, code;
  chunk *payload;    /* owned reference */
  uint64_t *hops;    /* owned */
  size_t n_hops;
  char *path, *name; /* owned */
} bmsg;

/* A broadcast of another worker, published here. */
typedef struct imported {
  bridge *br;
  unsigned from;
  uint64_t serial;
  broadcast *b;                  /* NULL once replaced */
  struct imported *next, *prev;  /* the bridge's list */
} imported;

/* A track here fed from the worker that owns its broadcast (the stand-in track's source data). */
typedef struct inflow {
  bridge *br;
  uint64_t id;
  unsigned from;
  track *t;                      /* borrowed: until unsubscribe */
  struct {
    uint64_t seq;
    group *g;                    /* the source's reference */
  } *open;                       /* owned array: groups being fed */
  size_t n_open, cap_open;
} inflow;

/* A sink here that feeds one of this worker's tracks to another worker. */
typedef struct outflow {
  bridge *br;
  unsigned to;
  uint64_t sub;
  track_sink sink;
} outflow;

struct bridge {
  origin *o;              /* borrowed */
  unsigned index, count;
  mailbox *const *boxes;  /* borrowed */
  origin_watch *watch;    /* owned */
  imported *imports;      /* owned list */
  size_t n_imports;
  idmap inflows;          /* id -> inflow (owned) */
  idmap outflows;         /* sub << 8 | worker -> outflow (owned) */
  uint64_t next_sub;
  int closing;
};

/* ------------------------------------------------------------------------------------------ */
/* Messages */

static void bmsg_discard(mail *m) {
  bmsg *b = (bmsg *)m;
  chunk_unref(b->payload);
  free(b->hops);
  free(b->path);
  free(b->name);
  free(b);
}

static bmsg *bmsg_new(bridge *br, int kind) {
  bmsg *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->m.kind = kind;
  b->m.discard = bmsg_discard;
  b->from = br->index;
  return b;
}

/* Posts b to worker `to` (the message is freed if that worker is gone). */
static void post(bridge *br, unsigned to, bmsg *b) {
  if (mailbox_post(br->boxes[to], &b->m)) bmsg_discard(&b->m);
}

int bridge_is_mail(const mail *m) { return m->kind >= B_ANNOUNCE && m->kind <= B_TRACK_DONE; }

/* ------------------------------------------------------------------------------------------ */
/* Subscribing side: stand-in broadcasts and the tracks fed into them */

static int inflow_subscribe(void *ud, track *t);
static void inflow_unsubscribe(void *ud, track *t);

static void imported_unlink(imported *imp) {
  bridge *br = imp->br;
  if (imp->prev) imp->prev->next = imp->next;
  else br->imports = imp->next;
  if (imp->next) imp->next->prev = imp->prev;
  br->n_imports--;
  free(imp);
}

static void imported_replaced(void *ud) { imported_unlink(ud); } /* a newer publisher took the path here */

static int is_stand_in(const broadcast *b) { return broadcast_get_source(b)->subscribe == inflow_subscribe; }

static int inflow_subscribe(void *ud, track *t) {
  imported *imp = ud;
  bridge *br = imp->br;
  if (br->closing || !imp->b) return -1;
  inflow *in = calloc(1, sizeof *in);
  bmsg *m = bmsg_new(br, B_SUBSCRIBE);
  if (!in || !m || !(m->path = strdup(broadcast_path(imp->b))) || !(m->name = strdup(track_name(t)))) goto fail;
  in->br = br;
  in->id = ++br->next_sub;
  in->from = imp->from;
  in->t = t;
  if (idmap_put(&br->inflows, in->id, in)) goto fail;
  track_set_source_data(t, in);
  m->serial = imp->serial;
  m->sub = in->id;
  post(br, imp->from, m);
  return 0;
fail:
  if (m) bmsg_discard(&m->m);
  free(in);
  return -1;
}

static void inflow_finish_groups(inflow *in) {
  for (size_t i = 0; i < in->n_open; i++) group_finish(in->open[i].g, 1);
  in->n_open = 0;
}

static void inflow_unsubscribe(void *ud, track *t) {
  inflow *in = track_source_data(t);
  if (!in) return;
  bridge *br = in->br;
  inflow_finish_groups(in);
  idmap_del(&br->inflows, in->id);
  bmsg *m = bmsg_new(br, B_UNSUBSCRIBE);
  if (m) {
    m->sub = in->id;
    post(br, in->from, m);
  }
  free(in->open);
  free(in);
}

static size_t inflow_find(const inflow *in, uint64_t seq) {
  for (size_t i = 0; i < in->n_open; i++)
    if (in->open[i].seq == seq) return i;
  return SIZE_MAX;
}

static void inflow_close_group(inflow *in, size_t i, int aborted) {
  group_finish(in->open[i].g, aborted);
  in->open[i] = in->open[--in->n_open];
}

static void on_announce(bridge *br, bmsg *m) {
  broadcast *cur = origin_find(br->o, m->path);
  if (!m->active) {
    if (cur && is_stand_in(cur)) {
      imported *imp = broadcast_get_source(cur)->user_data;
      if (imp->from == m->from && imp->serial == m->serial) {
        imp->b = NULL;
        origin_unpublish(br->o, cur, 0);
        imported_unlink(imp);
      }
    }
    return;
  }
  imported *imp = calloc(1, sizeof *imp);
  if (!imp) return;
  imp->br = br;
  imp->from = m->from;
  imp->serial = m->serial;
  imp->next = br->imports;
  if (br->imports) br->imports->prev = imp;
  br->imports = imp;
  br->n_imports++;
  broadcast_source src = {.subscribe = inflow_subscribe, .unsubscribe = inflow_unsubscribe,
                          .replaced = imported_replaced, .user_data = imp, .via_cluster = m->via_cluster};
  if (!(imp->b = origin_publish(br->o, m->path, m->hops, m->n_hops, &src))) imported_unlink(imp);
}

static void on_feed(bridge *br, bmsg *m) {
  inflow *in = idmap_get(&br->inflows, m->sub);
  if (!in) return; /* unsubscribed meanwhile */
  size_t i = m->m.kind == B_TRACK_DONE ? SIZE_MAX : inflow_find(in, m->seq);
  switch (m->m.kind) {
  case B_GROUP: {
    if (i != SIZE_MAX) return;
    group *g = track_group_begin(in->t, m->seq);
    if (!g) return; /* already cached, or too old: its frames are dropped below */
    if (in->n_open == in->cap_open) {
      size_t cap = in->cap_open ? 2 * in->cap_open : 4;
      void *p = realloc(in->open, cap * sizeof *in->open);
      if (!p) {
        group_finish(g, 1);
        return;
      }
      in->open = p;
      in->cap_open = cap;
    }
    in->open[in->n_open].seq = m->seq;
    in->open[in->n_open++].g = g;
    return;
  }
  case B_FRAME:
    if (i != SIZE_MAX && group_frame_append(in->open[i].g, m->payload, m->ts)) inflow_close_group(in, i, 1);
    return;
  case B_GROUP_DONE:
    if (i != SIZE_MAX) inflow_close_group(in, i, m->aborted);
    return;
  case B_TRACK_DONE:
    inflow_finish_groups(in);
    track_finish(in->t, m->code);
    return;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Owning side: announcing, and the sinks that feed other workers */

static void watch_cb(void *ud, const broadcast *b, int active) {
  bridge *br = ud;
  const broadcast_source *src = broadcast_get_source(b);
  if (br->closing || src->subscribe == inflow_subscribe || src->worker_local) return;
  size_t n_hops;
  const uint64_t *hops = broadcast_hops(b, &n_hops);
  for (unsigned w = 0; w < br->count; w++) {
    if (w == br->index) continue;
    bmsg *m = bmsg_new(br, B_ANNOUNCE);
    if (!m || !(m->path = strdup(broadcast_path(b))) || (n_hops && !(m->hops = malloc(n_hops * sizeof *hops)))) {
      if (m) bmsg_discard(&m->m);
      LOG_WRN("bridge_failed", "path=%s reason=\"out of memory\"", broadcast_path(b));
      continue;
    }
    if (n_hops) memcpy(m->hops, hops, n_hops * sizeof *hops);
    m->n_hops = n_hops;
    m->active = active;
    m->via_cluster = src->via_cluster;
    m->serial = (uint64_t)(uintptr_t)b;
    post(br, w, m);
  }
}

static void feed(outflow *of, int kind, const group *g, chunk *payload, uint64_t ts, uint64_t code) {
  bmsg *m = bmsg_new(of->br, kind);
  if (!m) {
    chunk_unref(payload);
    return; /* out of memory: the subscriber sees a gap, as after a lost group */
  }
  m->sub = of->sub;
  if (g) {
    m->seq = g->seq;
    m->aborted = g->aborted;
  }
  m->payload = payload;
  m->ts = ts;
  m->code = code;
  post(of->br, of->to, m);
}

static void of_group(void *ud, group *g) { feed(ud, B_GROUP, g, NULL, 0, 0); }

static void of_frame(void *ud, group *g, size_t index) {
  const frame *f = &g->frames[index];
  feed(ud, B_FRAME, g, chunk_ref(f->payload), f->ts, 0);
}

static void of_group_done(void *ud, group *g) { feed(ud, B_GROUP_DONE, g, NULL, 0, 0); }

static void of_track_done(void *ud, uint64_t code) { feed(ud, B_TRACK_DONE, NULL, NULL, 0, code); }

static const track_sink_ops outflow_ops = {.on_group = of_group, .on_frame = of_frame,
                                           .on_group_done = of_group_done, .on_track_done = of_track_done};

static uint64_t outflow_key(unsigned worker, uint64_t sub) { return sub << 8 | worker; }

static void on_subscribe(bridge *br, bmsg *m) {
  broadcast *b = origin_find(br->o, m->path);
  outflow *of = NULL;
  if (b && (uint64_t)(uintptr_t)b == m->serial && !br->closing && (of = calloc(1, sizeof *of))) {
    of->br = br;
    of->to = m->from;
    of->sub = m->sub;
    of->sink.ops = &outflow_ops;
    of->sink.user_data = of;
    if (idmap_put(&br->outflows, outflow_key(of->to, of->sub), of) == 0) {
      if (track_subscribe(b, m->name, &of->sink) == 0) return;
      idmap_del(&br->outflows, outflow_key(of->to, of->sub));
    }
    free(of);
  }
  /* Gone meanwhile (its end is on the way), or no memory: the stand-in track ends. */
  bmsg *r = bmsg_new(br, B_TRACK_DONE);
  if (!r) return;
  r->sub = m->sub;
  r->code = MOQ_CODE_NOT_FOUND_;
  post(br, m->from, r);
}

static void on_unsubscribe(bridge *br, bmsg *m) {
  outflow *of = idmap_del(&br->outflows, outflow_key(m->from, m->sub));
  if (!of) return;
  track_unsubscribe(&of->sink);
  free(of);
}

/* ------------------------------------------------------------------------------------------ */

void bridge_receive(bridge *br, mail *mm) {
  bmsg *m = (bmsg *)mm;
  if (!br->closing) {
    switch (mm->kind) {
    case B_ANNOUNCE: on_announce(br, m); break;
    case B_SUBSCRIBE: on_subscribe(br, m); break;
    case B_UNSUBSCRIBE: on_unsubscribe(br, m); break;
    default: on_feed(br, m); break;
    }
  }
  bmsg_discard(mm);
}

bridge *bridge_new(origin *o, unsigned index, unsigned count, mailbox *const *boxes) {
  bridge *br = calloc(1, sizeof *br);
  if (!br) return NULL;
  br->o = o;
  br->index = index;
  br->count = count;
  br->boxes = boxes;
  idmap_init(&br->inflows);
  idmap_init(&br->outflows);
  if (!(br->watch = origin_watch_new(o, "", 1, watch_cb, br))) {
    free(br);
    return NULL;
  }
  return br;
}

size_t bridge_imported(const bridge *br) { return br->n_imports; }

size_t bridge_exported_tracks(const bridge *br) { return idmap_size(&br->outflows); }

void bridge_close(bridge *br) {
  if (br->closing) return;
  br->closing = 1;
  origin_watch_free(br->watch);
  br->watch = NULL;
  size_t pos = 0;
  uint64_t key;
  void *v;
  while (idmap_next(&br->outflows, &pos, &key, &v)) {
    outflow *of = v;
    idmap_del(&br->outflows, key);
    track_unsubscribe(&of->sink);
    free(of);
  }
  while (br->imports) {
    imported *imp = br->imports;
    broadcast *b = imp->b;
    imp->b = NULL;
    if (b) origin_unpublish(br->o, b, 0);
    imported_unlink(imp);
  }
}

void bridge_free(bridge *br) {
  if (!br) return;
  size_t pos = 0;
  uint64_t key;
  void *v;
  while (idmap_next(&br->inflows, &pos, &key, &v)) { /* tracks that outlived the shutdown */
    inflow *in = v;
    free(in->open);
    free(in);
  }
  idmap_free(&br->inflows);
  idmap_free(&br->outflows);
  free(br);
}
