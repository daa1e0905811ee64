/* session_serve: what the peer asks of us, answered from the origin: announcements under a prefix,
 * subscriptions (one uni stream per group, frames written as references to the cached chunks), and
 * lite-05 TRACK_INFO. */
#include "moq/session_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* ------------------------------------------------------------------------------------------ */
/* Announcements */

static int hops_contain(const uint64_t *hops, size_t n, uint64_t id) {
  if (!id) return 0;
  for (size_t i = 0; i < n; i++)
    if (hops[i] == id) return 1;
  return 0;
}

/* Encodes one ANNOUNCE for the peer's version, with our hop where the version wants it. */
static int encode_announce(moq_session *s, moq_buf *b, const char *suffix, const uint64_t *hops, size_t n_hops,
                           int active) {
  moq_announce m = {0};
  m.status = active ? MOQ_ANNOUNCE_ACTIVE : MOQ_ANNOUNCE_ENDED;
  m.suffix = moq_str_c(suffix);
  size_t n = n_hops;
  if (n > MOQ_MAX_HOPS) n = MOQ_MAX_HOPS;
  if (n) memcpy(m.hops, hops, n * sizeof *hops);
  m.hop_count = n;
  if ((s->version == MOQ_LITE_03 || s->version == MOQ_LITE_04) && s->cfg.hop_id && n < MOQ_MAX_HOPS)
    m.hops[m.hop_count++] = s->cfg.hop_id; /* lite-03/04: the sender appends itself */
  return moq_announce_encode(b, s->version, &m);
}

/* The suffix of a global path below the announce stream's base. */
static const char *suffix_of(const serve_ann *a, const char *path, char *buf, size_t len) {
  moq_str rest;
  if (!moq_path_strip_prefix(moq_str_c(path), moq_str_c(a->base), &rest) || rest.len >= len) return NULL;
  memcpy(buf, rest.p, rest.len);
  buf[rest.len] = 0;
  return buf;
}

static void on_watch(void *ud, const broadcast *bc, int active) {
  serve_ann *a = ud;
  moq_session *s = a->s;
  if (s->closing || a->sid < 0 || sess_hides(s, bc)) return; /* never echo the peer's own broadcasts */
  const char *path = broadcast_path(bc);
  size_t n_hops;
  const uint64_t *hops = broadcast_hops(bc, &n_hops);
  if (hops_contain(hops, n_hops, a->exclude_hop) || hops_contain(hops, n_hops, s->cfg.hop_id)) return;
  char buf[1100];
  const char *suffix = suffix_of(a, path, buf, sizeof buf);
  if (!suffix) return;
  moq_buf b;
  moq_buf_init(&b);
  if (encode_announce(s, &b, suffix, hops, n_hops, active) >= 0) sess_send(s, a->sid, &b);
  moq_buf_free(&b);
  LOG_DBG("announce_sent", "session=%s path=%s active=%d", s->log_id, path, active);
}

/* Collects the current set for the initial answer. */
typedef struct ann_set {
  serve_ann *a;
  moq_buf msgs;    /* encoded ANNOUNCEs (lite-03+) */
  char **suffixes; /* lite-01/02 */
  size_t n, cap;
} ann_set;

static void collect(void *ud, const broadcast *bc, int active) {
  ann_set *set = ud;
  serve_ann *a = set->a;
  if (sess_hides(a->s, bc)) return;
  const char *path = broadcast_path(bc);
  size_t n_hops;
  const uint64_t *hops = broadcast_hops(bc, &n_hops);
  if (hops_contain(hops, n_hops, a->exclude_hop) || hops_contain(hops, n_hops, a->s->cfg.hop_id)) return;
  char buf[1100];
  const char *suffix = suffix_of(a, path, buf, sizeof buf);
  if (!suffix) return;
  if (a->s->version <= MOQ_LITE_02) {
    if (set->n == set->cap) {
      size_t cap = set->cap ? set->cap * 2 : 16;
      char **l = realloc(set->suffixes, cap * sizeof *l);
      if (!l) return;
      set->suffixes = l;
      set->cap = cap;
    }
    char *d = strdup(suffix);
    if (d) set->suffixes[set->n++] = d;
  } else if (encode_announce(a->s, &set->msgs, suffix, hops, n_hops, active) >= 0) {
    set->n++;
  }
}

int serve_announce_open(moq_session *s, mstream *st) {
  const char *why = "";
  moq_announce_request req;
  int n = moq_announce_request_decode(s->version, st->rx.data, st->rx.len, &s->limits, &req, &why);
  if (n == MOQ_NEED_MORE) return 0;
  if (n < 0) {
    sess_fail(s, MOQ_CODE_DECODE, why);
    return -1;
  }
  char prefix[1100], base[2200];
  if (moq_path_normalize(req.prefix, prefix, sizeof prefix) < 0 || sess_rel_to_global(s, prefix, base, sizeof base)) {
    sess_reset(s, st->id, MOQ_CODE_DECODE);
    st->kind = SK_IDLE;
    return -1;
  }
  memmove(st->rx.data, st->rx.data + n, st->rx.len - (size_t)n);
  st->rx.len -= (size_t)n;
  if (s->n_anns >= s->cfg.max_announce_interests) {
    LOG_INF("limit_reached", "session=%s limit=announce_interests value=%zu", s->log_id, s->cfg.max_announce_interests);
    sess_reset(s, st->id, MOQ_CODE_BOUNDS);
    st->kind = SK_IDLE;
    return 0;
  }
  serve_ann *a = calloc(1, sizeof *a);
  if (!a || !(a->prefix = strdup(prefix)) || !(a->base = strdup(base))) {
    if (a) free(a->prefix);
    free(a);
    sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "out of memory");
    return -1;
  }
  a->s = s;
  a->sid = st->id;
  a->exclude_hop = req.exclude_hop;
  st->obj = a;
  a->next = s->anns;
  if (s->anns) s->anns->prev = a;
  s->anns = a;
  s->n_anns++;

  /* What the peer may see: the whole prefix if a grant covers it, else the grants inside it. */
  char watch_bases[8][2200];
  size_t nb = 0;
  for (size_t i = 0; i < s->n_subscribe && nb < 8; i++) {
    if (moq_path_has_prefix(moq_str_c(prefix), moq_str_c(s->subscribe[i]))) {
      strcpy(watch_bases[0], base);
      nb = 1;
      break;
    }
    if (moq_path_has_prefix(moq_str_c(s->subscribe[i]), moq_str_c(prefix)) &&
        sess_rel_to_global(s, s->subscribe[i], watch_bases[nb], sizeof watch_bases[nb]) == 0)
      nb++;
  }
  ann_set set = {.a = a};
  moq_buf_init(&set.msgs);
  for (size_t i = 0; i < nb; i++) origin_each(s->o, watch_bases[i], collect, &set);
  moq_buf out;
  moq_buf_init(&out);
  int rv = 0;
  if (s->version <= MOQ_LITE_02) {
    moq_str *sv = set.n ? calloc(set.n, sizeof *sv) : NULL;
    for (size_t i = 0; i < set.n && sv; i++) sv[i] = moq_str_c(set.suffixes[i]);
    rv = moq_announce_init_encode(&out, s->version, sv, set.n);
    free(sv);
  } else if (s->version == MOQ_LITE_05) {
    moq_announce_ok ok = {.hop = s->cfg.hop_id, .active = set.n};
    rv = moq_announce_ok_encode(&out, s->version, &ok);
  }
  if (rv >= 0 && set.msgs.len) rv = moq_buf_append(&out, set.msgs.data, set.msgs.len);
  if (rv >= 0) sess_send(s, st->id, &out);
  moq_buf_free(&out);
  moq_buf_free(&set.msgs);
  for (size_t i = 0; i < set.n && s->version <= MOQ_LITE_02; i++) free(set.suffixes[i]);
  free(set.suffixes);
  for (size_t i = 0; i < nb; i++) {
    origin_watch *w = origin_watch_new(s->o, watch_bases[i], 0, on_watch, a);
    if (w) a->watches[a->n_watches++] = w;
  }
  LOG_INF("announce_request", "session=%s prefix=%s initial=%zu", s->log_id, prefix[0] ? prefix : "/", set.n);
  return 0;
}

static void serve_ann_free(moq_session *s, serve_ann *a) {
  for (size_t i = 0; i < a->n_watches; i++) origin_watch_free(a->watches[i]);
  if (a->prev) a->prev->next = a->next;
  else s->anns = a->next;
  if (a->next) a->next->prev = a->prev;
  s->n_anns--;
  free(a->prefix);
  free(a->base);
  free(a);
}

/* ------------------------------------------------------------------------------------------ */
/* Subscriptions */

static void out_unlink(serve_sub *ss, group_out *o) {
  if (o->prev) o->prev->next = o->next;
  else ss->outs = o->next;
  if (o->next) o->next->prev = o->prev;
  else ss->outs_tail = o->prev;
  ss->open_bytes -= o->bytes;
  o->bytes = 0;
  o->next = o->prev = NULL;
  o->sub = NULL;
}

/* Counts n more bytes written on o's stream. */
static void out_count(group_out *o, size_t n) {
  o->bytes += n;
  if (o->sub) o->sub->open_bytes += n;
}

static int out_header(moq_session *s, group_out *o);

static void out_end(moq_session *s, group_out *o, int reset, uint64_t code) {
  if (o->ended) return;
  if (!reset && out_header(s, o) < 0) reset = 1, code = MOQ_CODE_CANCEL;
  o->ended = 1;
  if (reset) {
    sess_reset(s, o->sid, code); /* what was queued is dropped */
    if (o->sub) o->sub->open_bytes -= o->bytes;
    o->bytes = 0;
  } else {
    sess_fin(s, o->sid);
  }
}

/* Queues the group header on o's stream, once. It goes with the first frame (or the end of the
 * group), not alone when the group begins: a lone header would cost every subscriber a packet of
 * its own, and the frame behind it would wait out the pacing delay that packet set. 0 or -1. */
static int out_header(moq_session *s, group_out *o) {
  if (o->header_sent) return 0;
  o->header_sent = 1;
  group *g = o->g;
  uint64_t sub_id = o->sub ? o->sub->id : o->sub_id;
  if (!g->stream_hdr || g->stream_hdr_version != (unsigned)s->version || g->stream_hdr_sub != sub_id) {
    /* encoded once per group for the subscribers that share this version and subscribe id */
    moq_buf b;
    moq_buf_init(&b);
    moq_group hdr = {.subscribe_id = sub_id, .sequence = g->seq};
    chunk *c = NULL;
    if (moq_uni_type_encode(&b, s->version, MOQ_UNI_GROUP) >= 0 && moq_group_encode(&b, s->version, &hdr) >= 0)
      c = chunk_from(b.data, b.len);
    moq_buf_free(&b);
    if (!c) return -1;
    chunk_unref(g->stream_hdr);
    g->stream_hdr = c;
    g->stream_hdr_version = (unsigned)s->version;
    g->stream_hdr_sub = sub_id;
  }
  if (s->tr.write(s->tr.ctx, o->sid, g->stream_hdr, 0, g->stream_hdr->len) < 0) return -1;
  out_count(o, g->stream_hdr->len);
  return 0;
}

/* Writes frames [o->next_frame, upto] of the group: the cached header slice for our version and the
 * shared payload, both by reference. live: frame upto has just arrived (not a replay from the cache
 * or a group that waited for a stream), so its egress delay is timed. */
static void out_write(moq_session *s, group_out *o, size_t upto, int live) {
  group *g = o->g;
  if (!o->ended && o->next_frame <= upto && o->next_frame < g->n_frames && out_header(s, o) < 0) {
    out_end(s, o, 1, MOQ_CODE_CANCEL);
    return;
  }
  while (!o->ended && o->next_frame <= upto && o->next_frame < g->n_frames) {
    frame *f = &g->frames[o->next_frame++];
    size_t hoff = s->version >= MOQ_LITE_05 ? f->hdr_a : 0;
    size_t hlen = s->version >= MOQ_LITE_05 ? f->hdr_b : f->hdr_a;
    if (s->tr.write(s->tr.ctx, o->sid, f->hdr, hoff, hlen) < 0 ||
        (f->payload->len && s->tr.write(s->tr.ctx, o->sid, f->payload, 0, f->payload->len) < 0)) {
      out_end(s, o, 1, MOQ_CODE_CANCEL);
      return;
    }
    out_count(o, hlen + f->payload->len);
    if (live && o->next_frame == upto + 1 && f->payload->ready_ns && s->tr.time_egress)
      s->tr.time_egress(s->tr.ctx, o->sid, f->payload->ready_ns);
  }
}

static group_out *find_out(serve_sub *ss, const group *g) {
  for (group_out *o = ss->outs; o; o = o->next)
    if (o->g == g) return o;
  return NULL;
}

static int reply_start(moq_session *s, serve_sub *ss, uint64_t seq) {
  if (ss->replied || ss->sid < 0) return 0;
  ss->replied = 1;
  if (s->version < MOQ_LITE_05) return 0;
  moq_subscribe_reply r = {.kind = MOQ_REPLY_START, .group = seq};
  moq_buf b;
  moq_buf_init(&b);
  int rv = moq_subscribe_reply_encode(&b, s->version, &r);
  if (rv >= 0) rv = sess_send(s, ss->sid, &b);
  moq_buf_free(&b);
  return rv;
}

/* A slow subscriber loses old groups, never the live edge: reset older group streams that are
 * still unsent after slow_ms, or when the subscription holds more than max_queued bytes. The walk
 * over the group streams happens only when one of the two may be the case: the oldest stream is
 * older than slow_ms, or more than max_queued bytes were written on streams still open. */
static void shed_old(moq_session *s, serve_sub *ss, const group *newest) {
  uint64_t now = sess_now_ms();
  if (!ss->outs_tail || (now - ss->outs_tail->began_ms <= s->cfg.slow_ms && ss->open_bytes <= s->cfg.max_queued))
    return;
  size_t queued = 0;
  for (group_out *o = ss->outs; o; o = o->next) queued += s->tr.queued(s->tr.ctx, o->sid);
  for (group_out *o = ss->outs; o; o = o->next) {
    if (o->g == newest || o->g->seq >= newest->seq) continue;
    size_t q = s->tr.queued(s->tr.ctx, o->sid);
    if (!q) continue;
    if (now - o->began_ms > s->cfg.slow_ms || queued > s->cfg.max_queued) {
      LOG_DBG("group_dropped", "session=%s sub=%llu group=%llu queued=%zu", s->log_id, (unsigned long long)ss->id,
              (unsigned long long)o->g->seq, q);
      o->ended = 0; /* a FIN may be queued: the reset replaces it */
      out_end(s, o, 1, MOQ_CODE_OLD);
      queued -= q < queued ? q : queued;
    }
  }
}

/* Opens the uni stream for g and writes its header and the frames it has. 0, or -1 when no stream is
 * available now (g then waits, replacing an older waiting group). */
static int start_group(moq_session *s, serve_sub *ss, group *g) {
  mstream *st = sess_open(s, 0, SK_GROUP_OUT, NULL);
  if (!st) {
    if (ss->waiting) group_unref(ss->waiting);
    ss->waiting = group_ref(g);
    s->pending_opens = 1;
    return -1;
  }
  group_out *o = freelist_get(&s->out_cache, sizeof *o);
  if (!o) {
    sess_reset(s, st->id, MOQ_CODE_CANCEL);
    return 0;
  }
  o->sub = ss;
  o->sub_id = ss->id;
  o->g = group_ref(g);
  o->sid = st->id;
  o->began_ms = sess_now_ms();
  st->obj = o;
  /* Send order: the subscriber's priority, then the newest group first (below control streams). */
  if (s->tr.set_priority)
    s->tr.set_priority(s->tr.ctx, o->sid, ((uint64_t)ss->params.priority << 48) | (g->seq & ((1ULL << 48) - 1)));
  o->next = ss->outs;
  if (ss->outs) ss->outs->prev = o;
  else ss->outs_tail = o;
  ss->outs = o;
  if (g->n_frames) out_write(s, o, g->n_frames - 1, 0);
  if (g->done) out_end(s, o, g->aborted, MOQ_CODE_DROPPED);
  shed_old(s, ss, g);
  return 0;
}

static void sink_group(void *ud, group *g) {
  serve_sub *ss = ud;
  moq_session *s = ss->s;
  if (s->closing) return;
  if (!ss->have_first) {
    ss->have_first = 1;
    ss->first_seq = g->seq;
  }
  if (g->seq < ss->first_seq) return;
  if (g->seq > ss->last_seq || !ss->replied) ss->last_seq = g->seq;
  reply_start(s, ss, g->seq);
  start_group(s, ss, g);
}

static void sink_frame(void *ud, group *g, size_t index) {
  serve_sub *ss = ud;
  if (ss->s->closing) return;
  group_out *o = find_out(ss, g);
  if (o) out_write(ss->s, o, index, 1);
}

static void sink_group_done(void *ud, group *g) {
  serve_sub *ss = ud;
  if (ss->s->closing) return;
  group_out *o = find_out(ss, g);
  if (o) out_end(ss->s, o, g->aborted, MOQ_CODE_DROPPED);
  if (ss->waiting == g && g->aborted) {
    group_unref(ss->waiting);
    ss->waiting = NULL;
  }
}

static void serve_sub_free(moq_session *s, serve_sub *ss);

/* Ends the subscribe stream of a track that ended cleanly: lite-05's END, then FIN. */
static void sub_end(moq_session *s, serve_sub *ss) {
  ss->end_pending = 0;
  if (s->version >= MOQ_LITE_05) {
    moq_subscribe_reply r = {.kind = MOQ_REPLY_END, .group = ss->replied ? ss->last_seq + 1 : 0};
    moq_buf b;
    moq_buf_init(&b);
    if (moq_subscribe_reply_encode(&b, s->version, &r) >= 0) sess_send(s, ss->sid, &b);
    moq_buf_free(&b);
  }
  sess_fin(s, ss->sid);
  LOG_DBG("subscribe_end", "session=%s sub=%llu code=0", s->log_id, (unsigned long long)ss->id);
}

/* A cleanly ended subscription ends once its group streams are closed (all their bytes delivered,
 * or reset) and end_grace_ms after the last one closed: the subscribe stream is sent before group
 * streams, and a client such as @moq/lite that sees the track end first drops the groups it has not
 * parsed yet, even those whose bytes it holds. Returns how long ss must still wait (0: no wait). */
static uint64_t sub_try_end(moq_session *s, serve_sub *ss) {
  if (!ss->end_pending || ss->outs || ss->waiting || ss->sid < 0 || s->closing) return 0;
  if (s->cfg.end_grace_ms > 0 && ss->last_closed_ms && s->ev && s->ev->want_wakeup) {
    uint64_t now = sess_now_ms(), at = ss->last_closed_ms + (uint64_t)s->cfg.end_grace_ms;
    if (now < at) return at - now;
  }
  sub_end(s, ss);
  return 0;
}

/* Ends the subscriptions whose time has come and asks to be woken for the next one. */
void serve_wakeup(moq_session *s) {
  uint64_t soonest = 0;
  for (serve_sub *ss = s->serves; ss; ss = ss->next) {
    uint64_t wait = sub_try_end(s, ss);
    if (wait && (!soonest || wait < soonest)) soonest = wait;
  }
  if (soonest) s->ev->want_wakeup(s, soonest, s->user_data);
}

static void sink_track_done(void *ud, uint64_t code) {
  serve_sub *ss = ud;
  moq_session *s = ss->s;
  track_unsubscribe(&ss->sink);
  if (s->closing || ss->sid < 0) return;
  if (code == 0) {
    ss->end_pending = 1;
    serve_wakeup(s);
  } else {
    sess_reset(s, ss->sid, code);
    LOG_DBG("subscribe_end", "session=%s sub=%llu code=%llu", s->log_id, (unsigned long long)ss->id,
            (unsigned long long)code);
  }
}

static const track_sink_ops serve_sink_ops = {
    .on_group = sink_group,
    .on_frame = sink_frame,
    .on_group_done = sink_group_done,
    .on_track_done = sink_track_done,
};

/* Ends a subscription at once: the broadcast is unknown (NOT_FOUND) or refused (UNAUTHORIZED). */
static void subscribe_refuse(moq_session *s, serve_sub *ss, const char *global, const char *name, uint64_t code) {
  LOG_INF(code == MOQ_CODE_NOT_FOUND ? "subscribe_not_found" : "subscribe_denied", "session=%s path=%s track=%s",
          s->log_id, global, name);
  mstream *st = ss->sid >= 0 ? sess_stream(s, ss->sid, 0) : NULL;
  ss->sid = -1;
  if (st) {
    sess_reset(s, st->id, code);
    st->kind = SK_IDLE;
    st->obj = NULL;
  }
  serve_sub_free(s, ss);
}

/* Serves an admitted subscription from the origin. */
static void subscribe_start(moq_session *s, serve_sub *ss, const char *global, const char *name) {
  broadcast *b = origin_find(s->o, global);
  LOG_INF("subscribe", "session=%s id=%llu path=%s track=%s", s->log_id, (unsigned long long)ss->id, global, name);
  if (s->version < MOQ_LITE_05 && ss->sid >= 0) { /* lite-01..04 answer at once */
    moq_subscribe_reply r = {.kind = MOQ_REPLY_OK, .ok = ss->params};
    r.ok.has_start = r.ok.has_end = 0;
    moq_buf out;
    moq_buf_init(&out);
    if (moq_subscribe_reply_encode(&out, s->version, &r) >= 0) sess_send(s, ss->sid, &out);
    moq_buf_free(&out);
  }
  if (!b || track_subscribe(b, name, &ss->sink) != 0) {
    sink_track_done(ss, MOQ_CODE_NOT_FOUND);
    return;
  }
  /* No group was cached: every group that begins from now on is new to this subscriber, in
   * whatever order the streams arrive. */
  if (!ss->have_first) ss->have_first = 1;
}

static int subscribe_find(moq_session *s, serve_sub *ss, const char *global, const char *name, int may_route);

int serve_subscribe_open(moq_session *s, mstream *st) {
  const char *why = "";
  moq_subscribe m;
  int n = moq_subscribe_decode(s->version, st->rx.data, st->rx.len, &s->limits, &m, &why);
  if (n == MOQ_NEED_MORE) return 0;
  if (n < 0) {
    sess_fail(s, MOQ_CODE_DECODE, why);
    return -1;
  }
  char rel[1100], global[2200], name[1100];
  if (moq_path_normalize(m.path, rel, sizeof rel) < 0 || m.track.len >= sizeof name ||
      sess_rel_to_global(s, rel, global, sizeof global)) {
    sess_reset(s, st->id, MOQ_CODE_DECODE);
    st->kind = SK_IDLE;
    return -1;
  }
  memcpy(name, m.track.p, m.track.len);
  name[m.track.len] = 0;
  /* ids are unique per session: group streams could not tell the two apart (a walk, but only per
   * SUBSCRIBE, bounded by max_subscriptions) */
  for (serve_sub *x = s->serves; x; x = x->next) {
    if (x->id == m.id) {
      LOG_INF("subscribe_id_reused", "session=%s id=%llu", s->log_id, (unsigned long long)m.id);
      sess_fail(s, MOQ_CODE_DUPLICATE, "subscribe id reused");
      return -1;
    }
  }
  if (s->n_serves >= s->cfg.max_subscriptions) {
    LOG_INF("limit_reached", "session=%s limit=subscriptions value=%zu", s->log_id, s->cfg.max_subscriptions);
    sess_reset(s, st->id, MOQ_CODE_BOUNDS);
    st->kind = SK_IDLE;
    return 0;
  }
  serve_sub *ss = calloc(1, sizeof *ss);
  if (!ss) {
    sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "out of memory");
    return -1;
  }
  ss->s = s;
  ss->sid = st->id;
  ss->id = m.id;
  ss->params = m.params;
  ss->sink.ops = &serve_sink_ops;
  ss->sink.user_data = ss;
  memmove(st->rx.data, st->rx.data + n, st->rx.len - (size_t)n);
  st->rx.len -= (size_t)n;
  st->obj = ss;
  ss->next = s->serves;
  if (s->serves) s->serves->prev = ss;
  s->serves = ss;
  s->n_serves++;

  if (!sess_may(s->subscribe, s->n_subscribe, rel)) {
    subscribe_refuse(s, ss, global, name, MOQ_CODE_NOT_FOUND);
    return 0;
  }
  return subscribe_find(s, ss, global, name, 1);
}

/* Parks ss until the owner answers ticket (route or subscribe gate). */
static int subscribe_park(moq_session *s, serve_sub *ss, const char *global, const char *name, uint64_t ticket,
                          int routing) {
  if (!(ss->gate_path = strdup(global)) || !(ss->gate_track = strdup(name))) {
    sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "out of memory");
    return -1;
  }
  ss->gate = ticket;
  ss->routing = routing;
  return 0;
}

/* The broadcast is known to exist: the owner may still refuse the subscription. */
static int subscribe_gate(moq_session *s, serve_sub *ss, const char *global, const char *name) {
  int verdict = MOQ_GATE_ALLOW;
  uint64_t ticket = ++s->next_ticket;
  if (s->ev && s->ev->on_subscribe) verdict = s->ev->on_subscribe(s, global, name, ticket, s->user_data);
  if (verdict == MOQ_GATE_DENY) subscribe_refuse(s, ss, global, name, MOQ_CODE_UNAUTHORIZED);
  else if (verdict == MOQ_GATE_PENDING) return subscribe_park(s, ss, global, name, ticket, 0);
  else subscribe_start(s, ss, global, name);
  return 0;
}

/* Looks the broadcast up; when it is not here, the owner may route it here (once). */
static int subscribe_find(moq_session *s, serve_sub *ss, const char *global, const char *name, int may_route) {
  broadcast *found = origin_find(s->o, global);
  if (found && s->cluster && broadcast_get_source(found)->via_cluster) { /* one hop inside a cluster */
    subscribe_refuse(s, ss, global, name, MOQ_CODE_NOT_FOUND);
    return 0;
  }
  if (found) return subscribe_gate(s, ss, global, name);
  if (!may_route || s->cluster || !s->ev || !s->ev->on_route) {
    subscribe_refuse(s, ss, global, name, MOQ_CODE_NOT_FOUND);
    return 0;
  }
  uint64_t ticket = ++s->next_ticket;
  int verdict = s->ev->on_route(s, global, ticket, s->user_data);
  if (verdict == MOQ_GATE_PENDING) return subscribe_park(s, ss, global, name, ticket, 1);
  if (verdict == MOQ_GATE_ALLOW) return subscribe_find(s, ss, global, name, 0);
  subscribe_refuse(s, ss, global, name, MOQ_CODE_NOT_FOUND);
  return 0;
}

void serve_answer(moq_session *s, uint64_t ticket, int allow) {
  serve_sub *ss = s->serves;
  while (ss && ss->gate != ticket) ss = ss->next;
  if (!ss) return; /* the subscription went away meanwhile */
  ss->gate = 0;
  char *path = ss->gate_path, *name = ss->gate_track;
  int routing = ss->routing;
  ss->gate_path = ss->gate_track = NULL;
  ss->routing = 0;
  if (routing && allow) subscribe_find(s, ss, path, name, 0);
  else if (routing) subscribe_refuse(s, ss, path, name, MOQ_CODE_NOT_FOUND);
  else if (!allow) subscribe_refuse(s, ss, path, name, MOQ_CODE_UNAUTHORIZED);
  else if (!origin_find(s->o, path)) subscribe_refuse(s, ss, path, name, MOQ_CODE_NOT_FOUND);
  else subscribe_start(s, ss, path, name);
  free(path);
  free(name);
}

int serve_subscribe_more(moq_session *s, mstream *st) {
  serve_sub *ss = st->obj;
  while (st->rx.len) {
    const char *why = "";
    moq_sub_params p;
    int n = moq_subscribe_update_decode(s->version, st->rx.data, st->rx.len, &s->limits, &p, &why);
    if (n == MOQ_NEED_MORE) return 0;
    if (n < 0) {
      sess_fail(s, MOQ_CODE_DECODE, why);
      return -1;
    }
    ss->params.priority = p.priority;
    if (s->version >= MOQ_LITE_03) ss->params = p;
    memmove(st->rx.data, st->rx.data + n, st->rx.len - (size_t)n);
    st->rx.len -= (size_t)n;
  }
  return 0;
}

static void serve_sub_free(moq_session *s, serve_sub *ss) {
  track_unsubscribe(&ss->sink);
  free(ss->gate_path);
  free(ss->gate_track);
  while (ss->outs) out_unlink(ss, ss->outs);
  if (ss->waiting) group_unref(ss->waiting);
  if (ss->prev || s->serves == ss) s->n_serves--;
  if (ss->prev) ss->prev->next = ss->next;
  else if (s->serves == ss) s->serves = ss->next;
  if (ss->next) ss->next->prev = ss->prev;
  free(ss);
}

/* ------------------------------------------------------------------------------------------ */
/* lite-05 TRACK */

int serve_track_open(moq_session *s, mstream *st) {
  const char *why = "";
  moq_track m;
  int n = moq_track_decode(s->version, st->rx.data, st->rx.len, &s->limits, &m, &why);
  if (n == MOQ_NEED_MORE) return 0;
  if (n < 0) {
    sess_fail(s, MOQ_CODE_DECODE, why);
    return -1;
  }
  char rel[1100], global[2200];
  st->obj = st;
  if (moq_path_normalize(m.path, rel, sizeof rel) < 0 || sess_rel_to_global(s, rel, global, sizeof global) ||
      !sess_may(s->subscribe, s->n_subscribe, rel) || !origin_find(s->o, global)) {
    sess_reset(s, st->id, MOQ_CODE_NOT_FOUND);
    return 0;
  }
  st->rx.len = 0;
  /* The publisher's values are not forwarded yet: the moq-lite defaults (timescale: milliseconds). */
  moq_track_info info = {.priority = 0, .ordered = 0, .max_latency_ms = 5000, .timescale = 1000};
  moq_buf b;
  moq_buf_init(&b);
  if (moq_track_info_encode(&b, s->version, &info) >= 0) sess_send(s, st->id, &b);
  moq_buf_free(&b);
  sess_fin(s, st->id);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Stream ends and clean-up */

void serve_stream_gone(moq_session *s, mstream *st, int by_reset) {
  switch (st->kind) {
  case SK_ANNOUNCE_SERVE:
    if (st->obj) serve_ann_free(s, st->obj);
    st->obj = NULL;
    st->kind = SK_IDLE;
    if (by_reset) sess_reset(s, st->id, MOQ_CODE_CANCEL);
    else sess_fin(s, st->id);
    break;
  case SK_SUBSCRIBE_SERVE: {
    serve_sub *ss = st->obj;
    st->obj = NULL;
    st->kind = SK_IDLE;
    if (ss) {
      for (group_out *o = ss->outs; o; o = o->next) out_end(s, o, 1, MOQ_CODE_CANCEL);
      ss->sid = -1;
      serve_sub_free(s, ss);
    }
    if (by_reset) sess_reset(s, st->id, MOQ_CODE_CANCEL);
    else sess_fin(s, st->id);
    break;
  }
  case SK_TRACK_SERVE:
    st->kind = SK_IDLE;
    break;
  default:
    break;
  }
}

void serve_group_stream_closed(moq_session *s, mstream *st) {
  group_out *o = st->obj;
  serve_sub *ss = o ? o->sub : NULL;
  if (o) {
    if (ss) {
      out_unlink(ss, o);
      ss->last_closed_ms = sess_now_ms();
    }
    group_unref(o->g);
    freelist_put(&s->out_cache, o);
  }
  sess_stream_free(s, st);
  if (ss && ss->end_pending) serve_wakeup(s);
}

void serve_retry_pending(moq_session *s) {
  if (!s->pending_opens) return;
  s->pending_opens = 0;
  for (serve_sub *ss = s->serves; ss; ss = ss->next) {
    if (!ss->waiting) continue;
    group *g = ss->waiting;
    ss->waiting = NULL;
    int rv = start_group(s, ss, g);
    group_unref(g);
    if (rv < 0) return; /* still no credit */
  }
}

void serve_free_all(moq_session *s) {
  while (s->anns) serve_ann_free(s, s->anns);
  while (s->serves) serve_sub_free(s, s->serves);
  /* group_out records belong to their streams */
  size_t pos = 0;
  uint64_t key;
  void *val;
  while (idmap_next(&s->streams, &pos, &key, &val)) {
    mstream *st = val;
    if (st->kind == SK_GROUP_OUT && st->obj) {
      group_out *o = st->obj;
      group_unref(o->g);
      free(o);
      st->obj = NULL;
    }
  }
}
