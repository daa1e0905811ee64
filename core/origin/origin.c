#include "origin/origin.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/varint.h"
#include "moq/lite.h"

struct track {
  char *name;               /* owned */
  broadcast *b;             /* borrowed; NULL once unpublished */
  origin *o;                /* borrowed */
  track_sink *sinks;        /* borrowed list */
  size_t n_sinks;
  group *newest, *oldest;   /* cache, newest first; each holds one reference */
  size_t n_groups;
  size_t cached_bytes;      /* payload bytes of cached groups except the newest */
  int subscribed;           /* the source was asked */
  int finished;             /* upstream ended */
  int ending;               /* inside track_end_all: sinks leaving must not free it */
  uint64_t finish_code;
  void *source_data;
  track *next, *prev;       /* the broadcast's tracks */
};

struct broadcast {
  char *path;               /* owned */
  uint64_t *hops;           /* owned */
  size_t n_hops;
  broadcast_source src;
  origin *o;
  track *tracks;            /* owned list (tracks with sinks) */
  broadcast *hnext;         /* hash chain */
};

struct origin_watch {
  origin *o;
  char *prefix;             /* owned */
  origin_watch_cb fn;
  void *user_data;
  int dead;                 /* freed while the origin was iterating */
  origin_watch *next, *prev;
};

struct origin {
  origin_limits lim;
  uint64_t (*now_ms)(void *);
  void *clock_data;
  broadcast **buckets;      /* owned array of chains */
  size_t n_buckets, count;
  origin_watch *watches;
  uint64_t cached_total;    /* sum of the tracks' cached_bytes */
  int iterating;            /* inside a watcher callback loop */
  int dead_watches;
};

void origin_limits_default(origin_limits *l) {
  l->cache_ms = 30000;
  l->cache_track_bytes = 32u << 20;
  l->cache_total_bytes = 1ULL << 30;
  l->max_group_frames = 65536;
  l->max_group_bytes = 64u << 20;
}

static uint64_t mono_ms(void *unused) {
  (void)unused;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t hash_path(const char *p) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
  return (size_t)(h ^ (h >> 32));
}

origin *origin_new(const origin_limits *limits, uint64_t (*now_ms)(void *), void *clock_data) {
  origin *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  if (limits) o->lim = *limits;
  else origin_limits_default(&o->lim);
  o->now_ms = now_ms ? now_ms : mono_ms;
  o->clock_data = clock_data;
  o->n_buckets = 256;
  o->buckets = calloc(o->n_buckets, sizeof *o->buckets);
  if (!o->buckets) {
    free(o);
    return NULL;
  }
  return o;
}

void origin_free(origin *o) {
  if (!o) return;
  for (size_t i = 0; i < o->n_buckets; i++)
    while (o->buckets[i]) origin_unpublish(o, o->buckets[i], 0);
  while (o->watches) {
    origin_watch *w = o->watches;
    o->watches = w->next;
    free(w->prefix);
    free(w);
  }
  free(o->buckets);
  free(o);
}

size_t origin_count(const origin *o) { return o->count; }

static void grow_buckets(origin *o) {
  size_t n = o->n_buckets * 2;
  broadcast **nb = calloc(n, sizeof *nb);
  if (!nb) return;
  for (size_t i = 0; i < o->n_buckets; i++) {
    for (broadcast *b = o->buckets[i], *next; b; b = next) {
      next = b->hnext;
      size_t k = hash_path(b->path) & (n - 1);
      b->hnext = nb[k];
      nb[k] = b;
    }
  }
  free(o->buckets);
  o->buckets = nb;
  o->n_buckets = n;
}

broadcast *origin_find(const origin *o, const char *path) {
  for (broadcast *b = o->buckets[hash_path(path) & (o->n_buckets - 1)]; b; b = b->hnext)
    if (strcmp(b->path, path) == 0) return b;
  return NULL;
}

static int under(const char *path, const char *prefix) {
  return moq_path_has_prefix(moq_str_c(path), moq_str_c(prefix));
}

static void reap_watches(origin *o) {
  if (o->iterating || !o->dead_watches) return;
  for (origin_watch *w = o->watches, *next; w; w = next) {
    next = w->next;
    if (!w->dead) continue;
    if (w->prev) w->prev->next = w->next;
    else o->watches = w->next;
    if (w->next) w->next->prev = w->prev;
    free(w->prefix);
    free(w);
  }
  o->dead_watches = 0;
}

static void notify_watches(origin *o, const broadcast *b, int active) {
  o->iterating++;
  for (origin_watch *w = o->watches; w; w = w->next)
    if (!w->dead && under(b->path, w->prefix)) w->fn(w->user_data, b, active);
  o->iterating--;
  reap_watches(o);
}

broadcast *origin_publish(origin *o, const char *path, const uint64_t *hops, size_t n_hops,
                          const broadcast_source *src) {
  broadcast *old = origin_find(o, path);
  if (old) {
    LOG_INF("broadcast_replaced", "path=%s", path);
    broadcast_source prev = old->src;
    origin_unpublish(o, old, 0);
    if (prev.replaced) prev.replaced(prev.user_data);
  }
  broadcast *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->path = strdup(path);
  b->hops = n_hops ? malloc(n_hops * sizeof *hops) : NULL;
  if (!b->path || (n_hops && !b->hops)) {
    free(b->path);
    free(b->hops);
    free(b);
    return NULL;
  }
  if (n_hops) memcpy(b->hops, hops, n_hops * sizeof *hops);
  b->n_hops = n_hops;
  b->src = *src;
  b->o = o;
  if (o->count + 1 > o->n_buckets) grow_buckets(o);
  size_t k = hash_path(path) & (o->n_buckets - 1);
  b->hnext = o->buckets[k];
  o->buckets[k] = b;
  o->count++;
  LOG_INF("broadcast_start", "path=%s hops=%zu", path, n_hops);
  notify_watches(o, b, 1);
  return b;
}

static void track_end_all(track *t, uint64_t code);

void origin_unpublish(origin *o, broadcast *b, uint64_t code) {
  size_t k = hash_path(b->path) & (o->n_buckets - 1);
  for (broadcast **p = &o->buckets[k]; *p; p = &(*p)->hnext) {
    if (*p == b) {
      *p = b->hnext;
      break;
    }
  }
  o->count--;
  /* Tracks outlive the broadcast until their sinks leave. */
  while (b->tracks) {
    track *t = b->tracks;
    b->tracks = t->next;
    t->next = t->prev = NULL;
    t->b = NULL;
    if (t->subscribed && b->src.unsubscribe) b->src.unsubscribe(b->src.user_data, t); /* it is going away */
    t->subscribed = 0;
    track_end_all(t, code);
  }
  LOG_INF("broadcast_end", "path=%s", b->path);
  notify_watches(o, b, 0);
  free(b->path);
  free(b->hops);
  free(b);
}

void origin_each(const origin *o, const char *prefix, origin_watch_cb fn, void *user_data) {
  for (size_t i = 0; i < o->n_buckets; i++)
    for (broadcast *b = o->buckets[i]; b; b = b->hnext)
      if (under(b->path, prefix)) fn(user_data, b, 1);
}

origin_watch *origin_watch_new(origin *o, const char *prefix, int replay, origin_watch_cb fn, void *user_data) {
  origin_watch *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->prefix = strdup(prefix);
  if (!w->prefix) {
    free(w);
    return NULL;
  }
  w->o = o;
  w->fn = fn;
  w->user_data = user_data;
  w->next = o->watches;
  if (o->watches) o->watches->prev = w;
  o->watches = w;
  if (replay) origin_each(o, prefix, fn, user_data);
  return w;
}

void origin_watch_free(origin_watch *w) {
  if (!w) return;
  w->dead = 1;
  w->o->dead_watches = 1;
  reap_watches(w->o);
}

const char *broadcast_path(const broadcast *b) { return b->path; }

const uint64_t *broadcast_hops(const broadcast *b, size_t *n) {
  *n = b->n_hops;
  return b->hops;
}

const broadcast_source *broadcast_get_source(const broadcast *b) { return &b->src; }

/* ------------------------------------------------------------------------------------------ */
/* Groups */

group *group_ref(group *g) {
  g->refs++;
  return g;
}

void group_unref(group *g) {
  if (!g || --g->refs > 0) return;
  for (size_t i = 0; i < g->n_frames; i++) {
    chunk_unref(g->frames[i].payload);
    chunk_unref(g->frames[i].hdr);
  }
  chunk_unref(g->stream_hdr);
  free(g->frames);
  free(g);
}

/* Moves n payload bytes into (n > 0) or out of the cached_bytes of t and of the origin. */
static void cache_count(track *t, int64_t n) {
  t->cached_bytes = (size_t)((int64_t)t->cached_bytes + n);
  if (t->o) t->o->cached_total = (uint64_t)((int64_t)t->o->cached_total + n);
}

/* Takes g out of the cache list; cached_bytes (every cached group but the newest) follows: g leaves
 * it, or, when g was the newest, the next newest leaves it. */
static void cache_unlink(track *t, group *g) {
  if (g == t->newest) {
    if (g->older) cache_count(t, -(int64_t)g->older->bytes);
  } else {
    cache_count(t, -(int64_t)g->bytes);
  }
  if (g->newer) g->newer->older = g->older;
  else t->newest = g->older;
  if (g->older) g->older->newer = g->newer;
  else t->oldest = g->newer;
  g->newer = g->older = NULL;
  g->cached = 0;
  t->n_groups--;
}

static void group_end(group *g, int aborted);

/* Drops cached groups past the time and byte budget; the newest always stays. */
static void cache_evict(track *t) {
  origin *o = t->o;
  uint64_t now = o->now_ms(o->clock_data);
  while (t->oldest && t->oldest != t->newest) {
    group *g = t->oldest;
    int too_old = now - g->began_ms > o->lim.cache_ms;
    int too_big = t->cached_bytes > o->lim.cache_track_bytes ||
                  (o->lim.cache_total_bytes && o->cached_total > o->lim.cache_total_bytes);
    if (!too_old && !too_big) break;
    /* A stalled upstream group: sinks stop waiting for it. Ending it aborted already drops it from
     * the cache (and the cache's reference) when it is not the newest: release that only once. */
    if (!g->done) group_end(g, 1);
    if (g->cached) {
      cache_unlink(t, g);
      g->track = NULL;
      group_unref(g);
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Tracks */

static void track_free(track *t) {
  while (t->newest) {
    group *g = t->newest;
    cache_unlink(t, g);
    g->track = NULL;
    group_unref(g);
  }
  free(t->name);
  free(t);
}

const char *track_name(const track *t) { return t->name; }
broadcast *track_broadcast(const track *t) { return t->b; }
group *track_latest(const track *t) { return t->newest; }
void track_set_source_data(track *t, void *data) { t->source_data = data; }
void *track_source_data(const track *t) { return t->source_data; }

group *track_find_group(const track *t, uint64_t seq) {
  /* The cache is in sequence order, newest first: a new group (the common case) stops at once. */
  for (group *g = t->newest; g && g->seq >= seq; g = g->older)
    if (g->seq == seq) return g;
  return NULL;
}

static track *find_track(broadcast *b, const char *name) {
  for (track *t = b->tracks; t; t = t->next)
    if (strcmp(t->name, name) == 0) return t;
  return NULL;
}

/* Tells every sink the track ended (they may unsubscribe inside). */
static void track_end_all(track *t, uint64_t code) {
  t->finished = 1;
  t->finish_code = code;
  t->ending = 1;
  track_sink *s = t->sinks;
  while (s) {
    track_sink *next = s->next;
    if (s->ops->on_track_done) s->ops->on_track_done(s->user_data, code);
    s = next;
  }
  t->ending = 0;
  /* Sinks that stayed keep the track alive; with none left it goes now. The source no longer
   * feeds it: it ended upstream, or the broadcast's source was told. */
  if (!t->sinks) track_free(t);
}

void track_finish(track *t, uint64_t code) {
  if (t->finished) return;
  if (t->b) { /* detach from the broadcast: a new subscriber gets a new track and a new upstream */
    broadcast *b = t->b;
    if (t->prev) t->prev->next = t->next;
    else b->tracks = t->next;
    if (t->next) t->next->prev = t->prev;
    t->next = t->prev = NULL;
    t->subscribed = 0; /* the source already knows */
    t->b = NULL;
  }
  track_end_all(t, code);
}

static void sink_replay(track_sink *s, group *g) {
  if (s->ops->on_group) s->ops->on_group(s->user_data, g);
  if (!s->track) return; /* unsubscribed inside */
  for (size_t i = 0; i < g->n_frames && s->track; i++)
    if (s->ops->on_frame) s->ops->on_frame(s->user_data, g, i);
  if (g->done && s->track && s->ops->on_group_done) s->ops->on_group_done(s->user_data, g);
}

int track_subscribe(broadcast *b, const char *name, track_sink *sink) {
  track *t = find_track(b, name);
  if (!t) {
    t = calloc(1, sizeof *t);
    if (!t) return -1;
    t->name = strdup(name);
    if (!t->name) {
      free(t);
      return -1;
    }
    t->b = b;
    t->o = b->o;
    t->next = b->tracks;
    if (b->tracks) b->tracks->prev = t;
    b->tracks = t;
  }
  sink->track = t;
  sink->prev = NULL;
  sink->next = t->sinks;
  if (t->sinks) t->sinks->prev = sink;
  t->sinks = sink;
  t->n_sinks++;
  if (!t->subscribed) {
    t->subscribed = 1;
    LOG_DBG("track_upstream", "path=%s track=%s", b->path, name);
    if (b->src.subscribe(b->src.user_data, t) != 0) {
      t->subscribed = 0;
      track_finish(t, 13 /* NotFound */);
      return 0;
    }
  }
  group *latest = t->newest;
  if (latest && !latest->aborted) sink_replay(sink, latest);
  return 0;
}

void track_unsubscribe(track_sink *sink) {
  track *t = sink->track;
  if (!t) return;
  if (sink->prev) sink->prev->next = sink->next;
  else t->sinks = sink->next;
  if (sink->next) sink->next->prev = sink->prev;
  sink->next = sink->prev = NULL;
  sink->track = NULL;
  t->n_sinks--;
  if (t->sinks) return;
  if (t->b) {
    broadcast *b = t->b;
    if (t->prev) t->prev->next = t->next;
    else b->tracks = t->next;
    if (t->next) t->next->prev = t->prev;
    if (t->subscribed && b->src.unsubscribe) {
      LOG_DBG("track_cancel", "path=%s track=%s", b->path, t->name);
      b->src.unsubscribe(b->src.user_data, t);
    }
    track_free(t);
  } else if (t->finished && !t->ending) {
    track_free(t);
  }
}

group *track_group_begin(track *t, uint64_t seq) {
  if (t->finished || track_find_group(t, seq)) return NULL;
  group *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->seq = seq;
  g->track = t;
  g->refs = 2; /* the cache's and the source's (released by group_finish) */
  g->began_ms = t->o->now_ms(t->o->clock_data);
  g->cached = 1;
  /* insert in sequence order, newest first */
  group *after = NULL; /* the group that will be newer than g */
  for (group *x = t->newest; x && x->seq > seq; x = x->older) after = x;
  g->newer = after;
  g->older = after ? after->older : t->newest;
  if (g->newer) g->newer->older = g;
  else t->newest = g;
  if (g->older) g->older->newer = g;
  else t->oldest = g;
  t->n_groups++;
  if (!g->newer && g->older) cache_count(t, (int64_t)g->older->bytes); /* the old newest joins the count */
  cache_evict(t);
  if (!g->cached) { /* evicted at once: older than the cache keeps */
    group_unref(g);
    return NULL;
  }
  track_sink *s = t->sinks;
  while (s) {
    track_sink *next = s->next;
    if (s->ops->on_group) s->ops->on_group(s->user_data, g);
    s = next;
  }
  return g;
}

/* Encodes the per-version frame headers once, for every subscriber. */
static chunk *frame_headers(const group *g, uint64_t len, uint64_t ts, uint8_t *a, uint8_t *b) {
  uint8_t buf[32];
  size_t na = varint_encode(buf, sizeof buf, len);
  uint64_t prev = g->n_frames ? g->frames[g->n_frames - 1].ts : 0;
  int64_t delta = (int64_t)(ts - prev);
  size_t nb1 = varint_encode(buf + na, sizeof buf - na, moq_zigzag_encode(delta));
  size_t nb2 = varint_encode(buf + na + nb1, sizeof buf - na - nb1, len);
  if (!na || !nb1 || !nb2) return NULL;
  *a = (uint8_t)na;
  *b = (uint8_t)(nb1 + nb2);
  return chunk_from(buf, na + nb1 + nb2);
}

int group_frame_append(group *g, chunk *payload, uint64_t ts) {
  if (g->done) return -1;
  track *t = g->track;
  origin_limits *lim = t ? &t->o->lim : NULL;
  if (lim && (g->n_frames >= lim->max_group_frames || g->bytes + payload->len > lim->max_group_bytes)) {
    LOG_WRN("group_cut", "track=%s group=%llu frames=%zu bytes=%zu reason=\"group over its limits\"",
            t->name, (unsigned long long)g->seq, g->n_frames, g->bytes);
    group_end(g, 1);
    return -1;
  }
  if (g->n_frames == g->cap_frames) {
    size_t cap = g->cap_frames ? g->cap_frames * 2 : 8;
    frame *f = realloc(g->frames, cap * sizeof *f);
    if (!f) return -1;
    g->frames = f;
    g->cap_frames = cap;
  }
  frame *f = &g->frames[g->n_frames];
  f->hdr = frame_headers(g, payload->len, ts, &f->hdr_a, &f->hdr_b);
  if (!f->hdr) return -1;
  f->payload = chunk_ref(payload);
  f->ts = ts;
  size_t index = g->n_frames++;
  g->bytes += payload->len;
  if (t && g->cached && g != t->newest) cache_count(t, (int64_t)payload->len);
  if (!t) return 0;
  track_sink *s = t->sinks;
  while (s) {
    track_sink *next = s->next;
    if (s->ops->on_frame) s->ops->on_frame(s->user_data, g, index);
    s = next;
  }
  return 0;
}

/* Marks g done and tells the sinks; an incomplete old group leaves the cache. */
static void group_end(group *g, int aborted) {
  if (g->done) return;
  g->done = 1;
  g->aborted = aborted;
  track *t = g->track;
  if (!t) return;
  track_sink *s = t->sinks;
  while (s) {
    track_sink *next = s->next;
    if (s->ops->on_group_done) s->ops->on_group_done(s->user_data, g);
    s = next;
  }
  if (aborted && g->cached && g != t->newest) {
    cache_unlink(t, g);
    g->track = NULL;
    group_unref(g);
  }
}

void group_finish(group *g, int aborted) {
  group_end(g, aborted);
  group_unref(g); /* the source's reference */
}
