/* session_consume: what we ask of the peer: its announcements (published into the origin with this
 * session as their source), subscriptions to its tracks (one upstream subscription per track, made
 * when the origin asks), and the groups it sends, read into chunks once. */
#include "moq/session_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* ------------------------------------------------------------------------------------------ */
/* Imports: the peer's broadcasts in the origin */

static int src_subscribe(void *ud, track *t);
static void src_unsubscribe(void *ud, track *t);
static void src_replaced(void *ud);

static import *find_import(moq_session *s, const char *rel) {
  for (import *i = s->imports; i; i = i->next)
    if (i->b && strcmp(i->path, rel) == 0) return i;
  return NULL;
}

static void import_free(moq_session *s, import *imp) {
  if (imp->prev) imp->prev->next = imp->next;
  else s->imports = imp->next;
  if (imp->next) imp->next->prev = imp->prev;
  free(imp->path);
  free(imp);
}

/* Publishes rel (relative to the root) into the origin. */
static import *import_add(moq_session *s, consume *from, const char *rel, const uint64_t *hops, size_t n_hops) {
  char global[2200];
  if (sess_rel_to_global(s, rel, global, sizeof global)) return NULL;
  import *imp = calloc(1, sizeof *imp);
  if (!imp || !(imp->path = strdup(rel))) {
    free(imp);
    return NULL;
  }
  imp->s = s;
  imp->from = from;
  imp->next = s->imports;
  if (s->imports) s->imports->prev = imp;
  s->imports = imp;
  broadcast_source src = {.subscribe = src_subscribe, .unsubscribe = src_unsubscribe, .replaced = src_replaced,
                          .user_data = imp, .via_cluster = s->cluster,
                          /* the relay's client sessions are its links: this worker's unless shared */
                          .worker_local = !s->cfg.is_server && !s->cfg.imports_shared};
  imp->b = origin_publish(s->o, global, hops, n_hops, &src);
  if (!imp->b) {
    import_free(s, imp);
    return NULL;
  }
  return imp;
}

static void import_remove(moq_session *s, import *imp, uint64_t code) {
  if (imp->b) {
    broadcast *b = imp->b;
    imp->b = NULL;
    origin_unpublish(s->o, b, code);
  }
  import_free(s, imp);
}

static void src_replaced(void *ud) {
  import *imp = ud;
  imp->b = NULL; /* a newer publisher took the path; the announcement may still end later */
}

int sess_owns(const moq_session *s, const broadcast *b) {
  const broadcast_source *src = broadcast_get_source(b);
  return src->subscribe == src_subscribe && ((const import *)src->user_data)->s == s;
}

int sess_hides(const moq_session *s, const broadcast *b) {
  return sess_owns(s, b) || (s->cluster && broadcast_get_source(b)->via_cluster);
}

void moq_session_set_cluster(moq_session *s, int on) { s->cluster = on != 0; }

size_t moq_session_forwarded(const moq_session *s) { return s->n_forwarded; }

int moq_session_forward(moq_session *s, const char *path, track *t, void (*on_end)(void *arg, track *t),
                        void *arg) {
  char rel[1100];
  if (s->closing || moq_path_normalize(moq_str_c(path), rel, sizeof rel) < 0) return -1;
  import *imp = s->imports;
  while (imp && !(imp->forward && strcmp(imp->path, rel) == 0)) imp = imp->next;
  if (!imp) {
    imp = calloc(1, sizeof *imp);
    if (!imp || !(imp->path = strdup(rel))) {
      free(imp);
      return -1;
    }
    imp->s = s;
    imp->forward = 1;
    imp->next = s->imports;
    if (s->imports) s->imports->prev = imp;
    s->imports = imp;
  }
  if (src_subscribe(imp, t)) return -1;
  up_sub *up = track_source_data(t);
  up->fwd_end = on_end;
  up->fwd_arg = arg;
  s->n_forwarded++;
  return 0;
}

void moq_session_unforward(moq_session *s, track *t) {
  up_sub *up = track_source_data(t);
  if (!up || up->s != s) return;
  src_unsubscribe(up->imp, t);
}

broadcast *moq_session_import(moq_session *s, const char *path) {
  char rel[1100];
  if (moq_path_normalize(moq_str_c(path), rel, sizeof rel) < 0) return NULL;
  import *imp = find_import(s, rel);
  if (!imp) imp = import_add(s, NULL, rel, NULL, 0);
  return imp ? imp->b : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Upstream subscriptions */

static int up_open(moq_session *s, up_sub *up) {
  mstream *st = sess_open(s, 1, SK_SUBSCRIBE_UP, up);
  if (!st) {
    s->pending_opens = 1;
    return -1;
  }
  up->sid = st->id;
  moq_subscribe m = {0};
  m.id = up->id;
  m.path = moq_str_c(up->imp->path);
  m.track = moq_str_c(track_name(up->t));
  m.params.priority = 0;
  moq_buf b;
  moq_buf_init(&b);
  int rv = moq_bidi_type_encode(&b, s->version, MOQ_BIDI_SUBSCRIBE);
  if (rv >= 0) rv = moq_subscribe_encode(&b, s->version, &m);
  if (rv >= 0) rv = sess_send(s, st->id, &b);
  moq_buf_free(&b);
  if (rv < 0) {
    sess_reset(s, st->id, MOQ_CODE_CANCEL);
    return 0;
  }
  LOG_DBG("subscribe_upstream", "session=%s id=%llu path=%s track=%s", s->log_id, (unsigned long long)up->id,
          up->imp->path, track_name(up->t));
  return 0;
}

static int src_subscribe(void *ud, track *t) {
  import *imp = ud;
  moq_session *s = imp->s;
  if (s->closing || !s->version) return -1;
  up_sub *up = calloc(1, sizeof *up);
  if (!up) return -1;
  up->s = s;
  up->imp = imp;
  up->t = t;
  up->id = s->next_sub_id++;
  up->sid = -1;
  if (idmap_put(&s->up_by_id, up->id + 1, up)) { /* +1: the map cannot hold key 0 twice as NULL */
    free(up);
    return -1;
  }
  track_set_source_data(t, up);
  up->next = s->ups;
  if (s->ups) s->ups->prev = up;
  s->ups = up;
  up_open(s, up);
  return 0;
}

static void up_free(moq_session *s, up_sub *up) {
  if (up->imp && up->imp->forward) s->n_forwarded--;
  idmap_del(&s->up_by_id, up->id + 1);
  if (up->prev) up->prev->next = up->next;
  else s->ups = up->next;
  if (up->next) up->next->prev = up->prev;
  if (up->sid >= 0) {
    mstream *st = sess_stream(s, up->sid, 0);
    if (st) st->obj = NULL;
  }
  free(up);
}

/* The upstream subscription is over: the track ends (sinks are told) and the record goes. */
static void up_end(moq_session *s, up_sub *up) {
  track *t = up->t;
  uint64_t code = up->end_code;
  if (up->fwd_end) up->fwd_end(up->fwd_arg, t);
  track_set_source_data(t, NULL);
  up_free(s, up);
  track_finish(t, code);
}

static void src_unsubscribe(void *ud, track *t) {
  import *imp = ud;
  moq_session *s = imp->s;
  up_sub *up = track_source_data(t);
  if (!up) return;
  if (up->sid >= 0 && !s->closing) {
    mstream *st = sess_stream(s, up->sid, 0);
    if (st) st->kind = SK_IDLE;
    sess_reset(s, up->sid, MOQ_CODE_CANCEL);
  }
  up_free(s, up);
}

int up_data(moq_session *s, mstream *st) {
  up_sub *up = st->obj;
  while (st->rx.len) {
    const char *why = "";
    moq_subscribe_reply r;
    int n = moq_subscribe_reply_decode(s->version, st->rx.data, st->rx.len, &s->limits, &r, &why);
    if (n == MOQ_NEED_MORE) return 0;
    if (n < 0) {
      sess_fail(s, MOQ_CODE_DECODE, why);
      return -1;
    }
    memmove(st->rx.data, st->rx.data + n, st->rx.len - (size_t)n);
    st->rx.len -= (size_t)n;
    if (up && r.kind == MOQ_REPLY_DROP)
      LOG_DBG("groups_dropped", "session=%s id=%llu start=%llu end=%llu", s->log_id, (unsigned long long)up->id,
              (unsigned long long)r.drop_start, (unsigned long long)r.drop_end);
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Announce interests */

int consume_open_stream(moq_session *s, consume *c) {
  mstream *st = sess_open(s, 1, SK_ANNOUNCE_CONSUME, c);
  if (!st) {
    s->pending_opens = 1;
    return -1;
  }
  c->sid = st->id;
  moq_announce_request req = {.prefix = moq_str_c(c->prefix), .exclude_hop = s->cfg.hop_id};
  moq_buf b;
  moq_buf_init(&b);
  int rv = moq_bidi_type_encode(&b, s->version, MOQ_BIDI_ANNOUNCE);
  if (rv >= 0) rv = moq_announce_request_encode(&b, s->version, &req);
  if (rv >= 0) rv = sess_send(s, st->id, &b);
  moq_buf_free(&b);
  return rv < 0 ? -1 : 0;
}

int moq_session_consume(moq_session *s, const char *prefix, moq_announced_cb fn, void *user_data) {
  char norm[1100];
  if (moq_path_normalize(moq_str_c(prefix), norm, sizeof norm) < 0) return -1;
  consume *c = calloc(1, sizeof *c);
  if (!c || !(c->prefix = strdup(norm))) {
    free(c);
    return -1;
  }
  c->s = s;
  c->fn = fn;
  c->user_data = user_data;
  c->sid = -1;
  c->next = s->consumes;
  if (s->consumes) s->consumes->prev = c;
  s->consumes = c;
  if (s->accepted) consume_open_stream(s, c);
  return 0;
}

static int hops_contain(const uint64_t *hops, size_t n, uint64_t id) {
  for (size_t i = 0; id && i < n; i++)
    if (hops[i] == id) return 1;
  return 0;
}

/* Publishes an allowed announcement into the origin. */
static void announce_admit(moq_session *s, consume *c, const char *rel, const uint64_t *hops, size_t n_hops) {
  import *imp = find_import(s, rel);
  if (imp) import_remove(s, imp, 0); /* a restart: the newer one replaces it */
  if (!import_add(s, c, rel, hops, n_hops)) return;
  LOG_INF("announced", "session=%s path=%s", s->log_id, rel);
  if (c->fn) c->fn(c->user_data, rel, 1);
}

static void pending_ann_free(pending_ann *p) {
  free(p->path);
  free(p);
}

/* Drops the pending announcements of c (all of them when c is NULL), or only the one for rel. */
static void pending_ann_drop(moq_session *s, const consume *c, const char *rel) {
  for (pending_ann **pp = &s->pending_anns; *pp;) {
    pending_ann *p = *pp;
    if ((!c || p->from == c) && (!rel || strcmp(p->path, rel) == 0)) {
      *pp = p->next;
      pending_ann_free(p);
    } else {
      pp = &p->next;
    }
  }
}

void consume_answer(moq_session *s, uint64_t ticket, int allow) {
  for (pending_ann **pp = &s->pending_anns; *pp; pp = &(*pp)->next) {
    pending_ann *p = *pp;
    if (p->ticket != ticket) continue;
    *pp = p->next;
    if (allow) announce_admit(s, p->from, p->path, p->hops, p->n_hops);
    else LOG_INF("announce_denied", "session=%s path=%s", s->log_id, p->path);
    pending_ann_free(p);
    return;
  }
}

/* One announced suffix became active or ended. */
static void announced(moq_session *s, consume *c, moq_str suffix, const uint64_t *hops, size_t n_hops, int active) {
  char rel[2200];
  if (moq_path_join(moq_str_c(c->prefix), suffix, rel, sizeof rel) < 0) return;
  if (hops_contain(hops, n_hops, s->cfg.hop_id)) {
    LOG_DBG("announce_loop", "session=%s path=%s", s->log_id, rel);
    return;
  }
  pending_ann_drop(s, c, rel); /* a newer status replaces an undecided one */
  if (active) {
    int verdict = MOQ_GATE_ALLOW;
    uint64_t ticket = ++s->next_ticket;
    char global[2200];
    if (s->ev && s->ev->on_announce && sess_rel_to_global(s, rel, global, sizeof global) == 0)
      verdict = s->ev->on_announce(s, global, ticket, s->user_data);
    if (verdict == MOQ_GATE_ALLOW) {
      announce_admit(s, c, rel, hops, n_hops);
    } else if (verdict == MOQ_GATE_PENDING) {
      pending_ann *p = calloc(1, sizeof *p);
      if (!p || !(p->path = strdup(rel))) {
        free(p);
        sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "out of memory");
        return;
      }
      p->ticket = ticket;
      p->from = c;
      p->n_hops = n_hops < MOQ_MAX_HOPS ? n_hops : MOQ_MAX_HOPS;
      if (p->n_hops) memcpy(p->hops, hops, p->n_hops * sizeof *hops);
      p->next = s->pending_anns;
      s->pending_anns = p;
    } else {
      LOG_INF("announce_denied", "session=%s path=%s", s->log_id, rel);
    }
    return;
  }
  import *imp = find_import(s, rel);
  if (!imp) return; /* tolerated: dropped as a loop, denied, or still undecided */
  import_remove(s, imp, 0);
  LOG_INF("unannounced", "session=%s path=%s", s->log_id, rel);
  if (c->fn) c->fn(c->user_data, rel, 0);
}

int consume_data(moq_session *s, mstream *st) {
  consume *c = st->obj;
  while (st->rx.len && c) {
    const char *why = "";
    int n;
    if (!c->got_first && s->version <= MOQ_LITE_02) {
      moq_announce_init init;
      n = moq_announce_init_decode(s->version, st->rx.data, st->rx.len, &s->limits, &init, &why);
      if (n > 0) {
        c->got_first = 1;
        moq_str suffix;
        while (moq_str_list_next(&init.suffixes, &suffix)) announced(s, c, suffix, NULL, 0, 1);
      }
    } else if (!c->got_first && s->version >= MOQ_LITE_05) {
      moq_announce_ok ok;
      n = moq_announce_ok_decode(s->version, st->rx.data, st->rx.len, &s->limits, &ok, &why);
      if (n > 0) {
        c->got_first = 1;
        c->peer_hop = ok.hop;
      }
    } else {
      moq_announce a;
      n = moq_announce_decode(s->version, st->rx.data, st->rx.len, &s->limits, &a, &why);
      if (n > 0) {
        size_t nh = s->version == MOQ_LITE_03 ? 0 : a.hop_count; /* lite-03 carries a count, no ids */
        if (s->version >= MOQ_LITE_05 && c->peer_hop && nh < MOQ_MAX_HOPS) a.hops[nh++] = c->peer_hop;
        announced(s, c, a.suffix, a.hops, nh, a.status != MOQ_ANNOUNCE_ENDED);
      }
    }
    if (n == MOQ_NEED_MORE) return 0;
    if (n < 0) {
      sess_fail(s, MOQ_CODE_DECODE, why);
      return -1;
    }
    memmove(st->rx.data, st->rx.data + n, st->rx.len - (size_t)n);
    st->rx.len -= (size_t)n;
    c = st->obj;
  }
  return 0;
}

/* Ends every broadcast a closed announce stream brought. */
static void consume_end(moq_session *s, consume *c) {
  pending_ann_drop(s, c, NULL);
  for (import *i = s->imports, *next; i; i = next) {
    next = i->next;
    if (i->from != c) continue;
    if (c->fn) c->fn(c->user_data, i->path, 0);
    import_remove(s, i, 0);
  }
}

static void consume_free(moq_session *s, consume *c) {
  if (c->prev) c->prev->next = c->next;
  else s->consumes = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c->prefix);
  free(c);
}

void consume_stream_gone(moq_session *s, mstream *st, int reset, uint64_t code) {
  if (st->kind == SK_ANNOUNCE_CONSUME) {
    consume *c = st->obj;
    st->obj = NULL;
    st->kind = SK_IDLE;
    if (c) {
      consume_end(s, c);
      consume_free(s, c);
    }
    sess_fin(s, st->id);
  } else if (st->kind == SK_SUBSCRIBE_UP) {
    up_sub *up = st->obj;
    st->obj = NULL;
    st->kind = SK_IDLE;
    sess_fin(s, st->id);
    if (up) {
      up->sid = -1;
      /* FIN: the track ended cleanly, once the groups already on their way are in; a reset carries the
       * publisher's reason (13 = not found) and ends it now. */
      up->ended = 1;
      up->end_code = reset ? (code ? code : MOQ_CODE_CANCEL) : 0;
      if (reset || up->active_groups == 0) up_end(s, up);
    }
  }
}

void consume_retry_pending(moq_session *s) {
  if (!s->pending_opens) return;
  for (consume *c = s->consumes; c; c = c->next)
    if (c->sid < 0 && consume_open_stream(s, c) < 0) return;
  for (up_sub *u = s->ups; u; u = u->next)
    if (u->sid < 0 && up_open(s, u) < 0) return;
}

/* ------------------------------------------------------------------------------------------ */
/* Groups from the peer */

static void group_in_release(moq_session *s, group_in *gi, int aborted) {
  chunk_unref(gi->cur);
  if (gi->g) group_finish(gi->g, aborted);
  up_sub *up = gi->counted ? idmap_get(&s->up_by_id, gi->sub_id + 1) : NULL;
  free(gi);
  if (up && --up->active_groups == 0 && up->ended && !s->closing) up_end(s, up);
}

static void group_in_stop(moq_session *s, mstream *st, uint64_t code) {
  group_in *gi = st->obj;
  if (gi) group_in_release(s, gi, 1);
  st->obj = NULL;
  st->kind = SK_IDLE;
  st->rx.len = 0;
  if (!st->fin_in) s->tr.stop(s->tr.ctx, st->id, code);
}

int group_in_data(moq_session *s, mstream *st, const uint8_t *data, size_t len) {
  group_in *gi = st->obj;
  if (!gi) return 0;
  const char *why = "";
  if (!gi->have_header) {
    if (moq_buf_append(&st->rx, data, len) < 0) return -1;
    moq_group h;
    int n = moq_group_decode(s->version, st->rx.data, st->rx.len, &s->limits, &h, &why);
    if (n == MOQ_NEED_MORE) return 0;
    if (n < 0) {
      LOG_DBG("group_bad_header", "session=%s stream=%lld why=\"%s\"", s->log_id, (long long)st->id, why);
      group_in_stop(s, st, MOQ_CODE_DECODE);
      return -1;
    }
    gi->have_header = 1;
    gi->sub_id = h.subscribe_id;
    up_sub *up = idmap_get(&s->up_by_id, h.subscribe_id + 1);
    if (!up) { /* a subscription we cancelled, or never made */
      LOG_DBG("group_unknown_subscription", "session=%s stream=%lld sub=%llu", s->log_id, (long long)st->id,
              (unsigned long long)h.subscribe_id);
      group_in_stop(s, st, MOQ_CODE_CANCEL);
      return 0;
    }
    gi->g = track_group_begin(up->t, h.sequence);
    if (!gi->g) {
      group_in_stop(s, st, MOQ_CODE_CANCEL);
      return 0;
    }
    up->active_groups++;
    gi->counted = 1;
    /* the rest of the buffer is frame data */
    moq_buf held = st->rx;
    moq_buf_init(&st->rx);
    int rv = group_in_data(s, st, held.data + n, held.len - (size_t)n);
    moq_buf_free(&held);
    return rv;
  }
  size_t off = 0;
  for (;;) {
    moq_frame_event ev;
    int n = moq_frame_reader_next(&gi->fr, data + off, len - off, &ev, &why);
    if (n < 0) {
      if (n == MOQ_ERR_TOO_LARGE)
        LOG_INF("limit_reached", "session=%s limit=frame_size value=%llu stream=%lld", s->log_id,
                (unsigned long long)s->limits.max_frame, (long long)st->id);
      else
        LOG_DBG("group_bad_frame", "session=%s stream=%lld why=\"%s\"", s->log_id, (long long)st->id, why);
      group_in_stop(s, st, n == MOQ_ERR_TOO_LARGE ? MOQ_CODE_FRAME_TOO_LARGE : MOQ_CODE_DECODE);
      return -1;
    }
    off += (size_t)n;
    if (ev.kind == MOQ_FRAME_NONE) break;
    if (ev.kind == MOQ_FRAME_BEGIN) {
      gi->cur = chunk_new((size_t)ev.payload_len);
      if (!gi->cur) {
        group_in_stop(s, st, MOQ_CODE_CANCEL);
        return -1;
      }
      gi->cur_off = 0;
      gi->cur_ts = ev.timestamp;
    } else if (ev.kind == MOQ_FRAME_DATA) {
      memcpy(gi->cur->data + gi->cur_off, ev.data, ev.data_len); /* the one copy, out of QUIC */
      gi->cur_off += ev.data_len;
    } else if (ev.kind == MOQ_FRAME_END) {
      /* its egress delay (GET /stats) starts when the datagram that completes it reached this host */
      uint64_t arrived = s->tr.arrival_ns ? s->tr.arrival_ns(s->tr.ctx) : 0;
      gi->cur->ready_ns = arrived ? arrived : sess_now_ns();
      int rv = group_frame_append(gi->g, gi->cur, gi->cur_ts);
      chunk_unref(gi->cur);
      gi->cur = NULL;
      if (rv < 0) {
        group_in_stop(s, st, MOQ_CODE_CANCEL);
        return 0;
      }
    }
  }
  return 0;
}

void group_in_end(moq_session *s, mstream *st, int aborted) {
  group_in *gi = st->obj;
  if (!gi) return;
  const char *why = "";
  if (!aborted && (!gi->have_header || moq_frame_reader_finish(&gi->fr, &why) != 0)) aborted = 1;
  st->obj = NULL;
  st->kind = SK_IDLE;
  group_in_release(s, gi, aborted);
}

/* ------------------------------------------------------------------------------------------ */

void consume_free_all(moq_session *s) {
  size_t pos = 0;
  uint64_t key;
  void *val;
  while (idmap_next(&s->streams, &pos, &key, &val)) {
    mstream *st = val;
    if (st->kind == SK_GROUP_IN && st->obj) {
      group_in *gi = st->obj;
      chunk_unref(gi->cur);
      if (gi->g) group_finish(gi->g, 1);
      free(gi);
      st->obj = NULL;
    }
  }
  /* Forwarded tracks belong to other broadcasts: they end here, their owners re-subscribe. */
  for (up_sub *up = s->ups, *next; up; up = next) {
    next = up->next;
    if (up->imp && up->imp->forward) {
      up->end_code = MOQ_CODE_DROPPED;
      up_end(s, up);
    }
  }
  while (s->imports) import_remove(s, s->imports, MOQ_CODE_DROPPED);
  while (s->ups) up_free(s, s->ups);
  pending_ann_drop(s, NULL, NULL);
  while (s->consumes) consume_free(s, s->consumes);
}
