/* session: streams, version negotiation (lite-05 SETUP, lite-01/02 legacy setup), dispatch by
 * stream type, and the session's life cycle. */
#include "moq/session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"

uint64_t sess_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t sess_now_ms(void) { return sess_now_ns() / 1000000; }

static int is_uni(int64_t sid) { return (sid & 2) != 0; }
static int is_local(const moq_session *s, int64_t sid) { return ((sid & 1) != 0) == (s->cfg.is_server != 0); }

/* ------------------------------------------------------------------------------------------ */
/* Streams */

mstream *sess_stream(moq_session *s, int64_t sid, int create) {
  mstream *st = idmap_get(&s->streams, (uint64_t)sid);
  if (st || !create) return st;
  st = freelist_get(&s->stream_cache, sizeof *st);
  if (!st) return NULL;
  st->id = sid;
  moq_buf_init(&st->rx);
  if (idmap_put(&s->streams, (uint64_t)sid, st)) {
    freelist_put(&s->stream_cache, st);
    return NULL;
  }
  return st;
}

mstream *sess_open(moq_session *s, int bidi, stream_kind kind, void *obj) {
  int64_t sid = bidi ? s->tr.open_bidi(s->tr.ctx) : s->tr.open_uni(s->tr.ctx);
  if (sid < 0) return NULL;
  mstream *st = sess_stream(s, sid, 1);
  if (!st) {
    s->tr.reset(s->tr.ctx, sid, MOQ_CODE_CANCEL);
    return NULL;
  }
  st->kind = kind;
  st->obj = obj;
  return st;
}

void sess_stream_free(moq_session *s, mstream *st) {
  idmap_del(&s->streams, (uint64_t)st->id);
  moq_buf_free(&st->rx);
  freelist_put(&s->stream_cache, st);
}

int sess_send(moq_session *s, int64_t sid, const moq_buf *b) {
  if (b->len == 0) return 0;
  chunk *c = chunk_from(b->data, b->len);
  if (!c) return -1;
  int rv = s->tr.write(s->tr.ctx, sid, c, 0, b->len);
  chunk_unref(c);
  return rv;
}

void sess_reset(moq_session *s, int64_t sid, uint64_t code) {
  mstream *st = sess_stream(s, sid, 0);
  if (st) st->fin_out = 1;
  s->tr.reset(s->tr.ctx, sid, code);
  if (!is_uni(sid) || !is_local(s, sid)) s->tr.stop(s->tr.ctx, sid, code);
}

void sess_fin(moq_session *s, int64_t sid) {
  mstream *st = sess_stream(s, sid, 0);
  if (st) {
    if (st->fin_out) return;
    st->fin_out = 1;
  }
  s->tr.finish(s->tr.ctx, sid);
}

void sess_fail(moq_session *s, uint64_t code, const char *why) {
  if (s->closing) return;
  LOG_WRN("session_error", "session=%s code=%llu reason=\"%s\"", s->log_id, (unsigned long long)code, why);
  moq_session_close(s, code, why);
}

int sess_rel_to_global(const moq_session *s, const char *rel, char *out, size_t outlen) {
  return moq_path_join(moq_str_c(s->root), moq_str_c(rel), out, outlen) < 0 ? -1 : 0;
}

int sess_may(char *const *list, size_t n, const char *path) {
  for (size_t i = 0; i < n; i++)
    if (moq_path_has_prefix(moq_str_c(path), moq_str_c(list[i]))) return 1;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Life cycle */

moq_session *moq_session_new(const moq_session_config *cfg, const moq_transport *tr, origin *o,
                             const moq_session_events *ev, void *user_data) {
  moq_session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *cfg;
  if (cfg->limits) s->limits = *cfg->limits;
  else moq_limits_default(&s->limits);
  if (!s->cfg.max_streams_pending) s->cfg.max_streams_pending = 16;
  if (!s->cfg.slow_ms) s->cfg.slow_ms = 2000;
  if (!s->cfg.max_queued) s->cfg.max_queued = 4u << 20;
  if (!s->cfg.end_grace_ms) s->cfg.end_grace_ms = 250;
  if (!s->cfg.max_subscriptions) s->cfg.max_subscriptions = 1024;
  if (!s->cfg.max_announce_interests) s->cfg.max_announce_interests = 64;
  s->cfg.log_id = NULL;
  s->cfg.path = NULL;
  s->cfg.alpn = NULL;
  snprintf(s->log_id, sizeof s->log_id, "%s", cfg->log_id ? cfg->log_id : "-");
  s->tr = *tr;
  s->o = o;
  s->ev = ev;
  s->user_data = user_data;
  s->legacy_sid = -1;
  idmap_init(&s->streams);
  idmap_init(&s->up_by_id);
  moq_version v;
  int rv = cfg->alpn ? moq_version_from_alpn(cfg->alpn, strlen(cfg->alpn), &v) : MOQ_ERR_VERSION;
  if (rv == 1) {
    s->version = v;
  } else if (rv == 0) {
    s->legacy = 1;
  } else {
    free(s);
    return NULL;
  }
  s->root = strdup("");
  if (cfg->path && !cfg->is_server) s->peer_path = strdup(cfg->path); /* client: what we will send */
  if (cfg->path && cfg->is_server) s->url_path = strdup(cfg->path);     /* server: the request's URL */
  return s;
}

static void free_list(char **l, size_t n) {
  for (size_t i = 0; i < n; i++) free(l[i]);
  free(l);
}

static int copy_list(char ***dst, size_t *n, const char *const *src, size_t count) {
  char **l = count ? calloc(count, sizeof *l) : NULL;
  if (count && !l) return -1;
  for (size_t i = 0; i < count; i++) {
    char norm[1100];
    if (moq_path_normalize(moq_str_c(src[i]), norm, sizeof norm) < 0 || !(l[i] = strdup(norm))) {
      free_list(l, i);
      return -1;
    }
  }
  free_list(*dst, *n);
  *dst = l;
  *n = count;
  return 0;
}

int moq_session_set_grants(moq_session *s, const char *root, const moq_grants *g) {
  char norm[1100];
  if (moq_path_normalize(moq_str_c(root ? root : ""), norm, sizeof norm) < 0) return -1;
  char *r = strdup(norm);
  if (!r) return -1;
  free(s->root);
  s->root = r;
  if (copy_list(&s->publish, &s->n_publish, g->publish, g->n_publish) ||
      copy_list(&s->subscribe, &s->n_subscribe, g->subscribe, g->n_subscribe))
    return -1;
  return 0;
}

static void process_all(moq_session *s);

/* The session is live: ask the peer for what it may publish, then handle what waited. */
static void go_live(moq_session *s) {
  if (s->accepted || s->closing) return;
  s->accepted = 1;
  LOG_INF("session_ready", "session=%s version=%s root=%s", s->log_id, moq_version_name(s->version),
          s->root[0] ? s->root : "/");
  if (s->cfg.is_server)
    for (size_t i = 0; i < s->n_publish; i++) moq_session_consume(s, s->publish[i], NULL, NULL);
  if (s->ev && s->ev->on_ready) s->ev->on_ready(s, s->user_data);
  if (!s->closing) process_all(s);
}

int moq_session_accept(moq_session *s, const char *root, const moq_grants *grants) {
  if (moq_session_set_grants(s, root, grants)) return -1;
  if (s->version) go_live(s);
  return 0;
}

moq_version moq_session_version(const moq_session *s) { return s->version; }
const char *moq_session_root(const moq_session *s) { return s->root; }

size_t moq_session_unacked(moq_session *s) {
  size_t total = 0, pos = 0;
  uint64_t key;
  void *val;
  while (idmap_next(&s->streams, &pos, &key, &val)) total += s->tr.queued(s->tr.ctx, (int64_t)key);
  return total;
}

void moq_session_counts_get(const moq_session *s, moq_session_counts *out) {
  memset(out, 0, sizeof *out);
  out->streams = idmap_size(&s->streams);
  for (const serve_sub *x = s->serves; x; x = x->next) out->subscriptions++;
  for (const consume *c = s->consumes; c; c = c->next) out->consumes++;
}

void moq_session_answer(moq_session *s, uint64_t ticket, int allow) {
  if (s->closing || !ticket) return;
  consume_answer(s, ticket, allow);
  serve_answer(s, ticket, allow);
}

void moq_session_close(moq_session *s, uint64_t code, const char *reason) {
  if (s->closing) return;
  s->closing = 1;
  s->tr.close(s->tr.ctx, code, reason);
}

/* Server: the peer's path is known (lite-05 SETUP, legacy PATH, or none): decide. */
static void path_known(moq_session *s, const char *path, int role) {
  if (!s->cfg.is_server) return;
  if (s->ev && s->ev->on_path) {
    s->ev->on_path(s, path, role, s->user_data);
  } else if (s->version) {
    go_live(s);
  }
}

/* lite-05: each side opens one uni stream with SETUP, then FIN. */
static void send_setup(moq_session *s) {
  mstream *st = sess_open(s, 0, SK_IDLE, NULL);
  if (!st) {
    sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "cannot open the setup stream");
    return;
  }
  moq_buf b;
  moq_buf_init(&b);
  moq_setup m = {0};
  if (!s->cfg.is_server && s->peer_path) {
    m.has_path = 1;
    m.path = moq_str_c(s->peer_path);
  }
  if (moq_uni_type_encode(&b, s->version, MOQ_UNI_SETUP) < 0 || moq_setup_encode(&b, s->version, &m) < 0 ||
      sess_send(s, st->id, &b)) {
    moq_buf_free(&b);
    sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "cannot send SETUP");
    return;
  }
  moq_buf_free(&b);
  sess_fin(s, st->id);
}

/* lite-01/02 client: the first bidi stream carries CLIENT_SETUP. */
static void send_client_setup(moq_session *s) {
  mstream *st = sess_open(s, 1, SK_LEGACY_SETUP, NULL);
  if (!st) {
    sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "cannot open the setup stream");
    return;
  }
  s->legacy_sid = st->id;
  uint64_t versions[] = {moq_version_code(MOQ_LITE_02), moq_version_code(MOQ_LITE_01)};
  moq_legacy_params p = {0};
  p.has_max_request_id = 1;
  p.max_request_id = 0xffffffffu;
  p.has_implementation = 1;
  p.implementation = moq_str_c("moq-relay");
  if (s->peer_path && *s->peer_path) {
    p.has_path = 1;
    p.path = moq_str_c(s->peer_path);
  }
  moq_buf b;
  moq_buf_init(&b);
  if (moq_client_setup_encode(&b, versions, 2, &p) < 0 || sess_send(s, st->id, &b))
    sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "cannot send CLIENT_SETUP");
  moq_buf_free(&b);
}

void moq_session_start(moq_session *s) {
  if (s->started) return;
  s->started = 1;
  if (s->legacy) {
    if (!s->cfg.is_server) send_client_setup(s);
    return; /* the server waits for CLIENT_SETUP */
  }
  if (s->version == MOQ_LITE_05) {
    send_setup(s);
    if (!s->cfg.is_server) go_live(s);
    return; /* the server waits for the client's SETUP (it carries the path) */
  }
  /* lite-03/04: nothing to exchange; raw QUIC carries no path, so the root is "/" (or the URL's). */
  if (s->cfg.is_server) path_known(s, s->url_path ? s->url_path : "/", 0);
  else go_live(s);
}

static void free_streams(moq_session *s) {
  size_t pos = 0;
  uint64_t key;
  void *val;
  while (idmap_next(&s->streams, &pos, &key, &val)) {
    mstream *st = val;
    moq_buf_free(&st->rx);
    free(st);
  }
  idmap_free(&s->streams);
}

void moq_session_on_transport_closed(moq_session *s, uint64_t code, const char *reason) {
  s->closing = 1;
  LOG_INF("session_closed", "session=%s code=%llu", s->log_id, (unsigned long long)code);
  if (s->ev && s->ev->on_closed) s->ev->on_closed(s, code, reason, s->user_data);
  serve_free_all(s);
  consume_free_all(s);
  free_streams(s);
  freelist_clear(&s->stream_cache);
  freelist_clear(&s->out_cache);
  idmap_free(&s->up_by_id);
  free_list(s->publish, s->n_publish);
  free_list(s->subscribe, s->n_subscribe);
  free(s->root);
  free(s->peer_path);
  free(s->url_path);
  free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* Setup streams */

static void consume_rx(mstream *st, size_t n) {
  memmove(st->rx.data, st->rx.data + n, st->rx.len - n);
  st->rx.len -= n;
}

/* lite-01/02: CLIENT_SETUP / SERVER_SETUP, then SESSION_INFO messages on the same stream. */
static int legacy_data(moq_session *s, mstream *st) {
  const char *why = "";
  while (st->rx.len) {
    if (!s->version) {
      if (s->cfg.is_server) {
        moq_client_setup cs;
        int n = moq_client_setup_decode(st->rx.data, st->rx.len, &s->limits, &cs, &why);
        if (n == MOQ_NEED_MORE) return 0;
        if (n < 0) return sess_fail(s, MOQ_CODE_DECODE, why), -1;
        moq_version v;
        if (moq_client_setup_select(&cs, &v) != 0)
          return sess_fail(s, MOQ_CODE_VERSION, "no moq-lite version offered in CLIENT_SETUP"), -1;
        char path[1100];
        snprintf(path, sizeof path, "%s", s->url_path ? s->url_path : "/"); /* the URL's, if any */
        if (cs.params.has_path && cs.params.path.len < sizeof path) {
          memcpy(path, cs.params.path.p, cs.params.path.len);
          path[cs.params.path.len] = 0;
        }
        consume_rx(st, (size_t)n);
        s->version = v;
        moq_buf b;
        moq_buf_init(&b);
        int rv = moq_server_setup_encode(&b, moq_version_code(v), NULL);
        if (rv >= 0) rv = sess_send(s, st->id, &b);
        moq_buf_free(&b);
        if (rv < 0) return sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "cannot send SERVER_SETUP"), -1;
        path_known(s, path, 0);
      } else {
        moq_server_setup ss;
        int n = moq_server_setup_decode(st->rx.data, st->rx.len, &s->limits, &ss, &why);
        if (n == MOQ_NEED_MORE) return 0;
        if (n < 0) return sess_fail(s, MOQ_CODE_DECODE, why), -1;
        moq_version v;
        if (moq_version_from_code(ss.version, &v) != 0 || v > MOQ_LITE_02)
          return sess_fail(s, MOQ_CODE_VERSION, "the server chose a version we did not offer"), -1;
        consume_rx(st, (size_t)n);
        s->version = v;
        go_live(s);
      }
      continue;
    }
    moq_session_info_msg info;
    int n = moq_session_info_decode(s->version, st->rx.data, st->rx.len, &s->limits, &info, &why);
    if (n == MOQ_NEED_MORE) return 0;
    if (n < 0) return sess_fail(s, MOQ_CODE_DECODE, why), -1;
    consume_rx(st, (size_t)n);
  }
  return 0;
}

/* lite-05: the peer's SETUP (once). */
static int setup_data(moq_session *s, mstream *st) {
  const char *why = "";
  if (st->obj) { /* already read: anything more is a violation */
    if (st->rx.len) return sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "bytes after SETUP"), -1;
    return 0;
  }
  moq_setup m;
  int n = moq_setup_decode(s->version, st->rx.data, st->rx.len, &s->limits, &m, &why);
  if (n == MOQ_NEED_MORE) {
    if (st->fin_in) return sess_fail(s, MOQ_CODE_DECODE, "SETUP cut short"), -1;
    return 0;
  }
  if (n < 0) return sess_fail(s, MOQ_CODE_DECODE, why), -1;
  st->obj = st; /* mark as read */
  char path[2048];
  snprintf(path, sizeof path, "%s", s->url_path ? s->url_path : "/");
  if (m.has_path) {
    if (!s->cfg.is_server) return sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "SETUP Path from a server"), -1;
    if (m.path.len >= sizeof path) return sess_fail(s, MOQ_CODE_DECODE, "SETUP Path too long"), -1;
    memcpy(path, m.path.p, m.path.len);
    path[m.path.len] = 0;
    if (path[0] == 0) strcpy(path, "/");
  }
  consume_rx(st, (size_t)n);
  path_known(s, path, m.has_role ? (int)m.role : 0);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Dispatch */

/* A peer-opened stream's first bytes: its type. Returns 0 (maybe waiting), or -1 when handled by reset. */
static int read_type(moq_session *s, mstream *st) {
  if (s->legacy && !s->version && !is_uni(st->id)) {
    st->kind = SK_LEGACY_SETUP; /* the setup stream has no type */
    s->legacy_sid = st->id;
    return 0;
  }
  if (!s->version) return 0; /* wait for the setup */
  const char *why = "";
  uint64_t type;
  int n = is_uni(st->id) ? moq_uni_type_decode(s->version, st->rx.data, st->rx.len, &type, &why)
                         : moq_bidi_type_decode(s->version, st->rx.data, st->rx.len, &type, &why);
  if (n == MOQ_NEED_MORE) return 0;
  if (n < 0) {
    LOG_DBG("stream_unknown", "session=%s stream=%lld type=%llu", s->log_id, (long long)st->id,
            (unsigned long long)type);
    sess_reset(s, st->id, MOQ_CODE_UNEXPECTED_STREAM);
    st->kind = SK_IDLE;
    st->rx.len = 0;
    return -1;
  }
  consume_rx(st, (size_t)n);
  if (is_uni(st->id)) {
    if (type == MOQ_UNI_SETUP) {
      if (s->cfg.is_server ? s->accepted || s->peer_path : 0) {
        sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "a second SETUP stream");
        return -1;
      }
      st->kind = SK_SETUP_IN;
    } else {
      st->kind = SK_GROUP_IN;
      group_in *gi = calloc(1, sizeof *gi);
      if (!gi) return sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "out of memory"), -1;
      moq_frame_reader_init(&gi->fr, s->version, &s->limits);
      st->obj = gi;
    }
    return 0;
  }
  switch (type) {
  case MOQ_BIDI_ANNOUNCE: st->kind = SK_ANNOUNCE_SERVE; break;
  case MOQ_BIDI_SUBSCRIBE: st->kind = SK_SUBSCRIBE_SERVE; break;
  case MOQ_BIDI_TRACK: st->kind = SK_TRACK_SERVE; break;
  case MOQ_BIDI_PROBE:
    st->kind = SK_IDLE; /* held open: resetting it is fatal for the JS clients */
    break;
  case MOQ_BIDI_GOAWAY:
    LOG_INF("goaway", "session=%s", s->log_id);
    st->kind = SK_IDLE;
    break;
  default: /* fetch and the legacy session type are not served */
    sess_reset(s, st->id, MOQ_CODE_UNEXPECTED_STREAM);
    st->kind = SK_IDLE;
    st->rx.len = 0;
    return -1;
  }
  return 0;
}

/* Parses what a stream holds. */
static void process(moq_session *s, mstream *st) {
  if (s->closing) return;
  if (st->kind == SK_NEW) {
    if (!st->rx.len && !st->fin_in) return;
    if (read_type(s, st) < 0 || st->kind == SK_NEW) return;
  }
  /* Until the session is accepted only the setup streams are read. */
  if (!s->accepted && st->kind != SK_LEGACY_SETUP && st->kind != SK_SETUP_IN) return;
  int rv = 0;
  switch (st->kind) {
  case SK_LEGACY_SETUP: rv = legacy_data(s, st); break;
  case SK_SETUP_IN: rv = setup_data(s, st); break;
  case SK_ANNOUNCE_SERVE:
    if (!st->obj) rv = serve_announce_open(s, st);
    else if (st->rx.len) st->rx.len = 0; /* nothing is expected from the peer here */
    break;
  case SK_SUBSCRIBE_SERVE: rv = st->obj ? serve_subscribe_more(s, st) : serve_subscribe_open(s, st); break;
  case SK_TRACK_SERVE:
    if (!st->obj) rv = serve_track_open(s, st);
    break;
  case SK_ANNOUNCE_CONSUME: rv = consume_data(s, st); break;
  case SK_SUBSCRIBE_UP: rv = up_data(s, st); break;
  case SK_GROUP_IN:
    if (st->rx.len) {
      moq_buf held = st->rx;
      moq_buf_init(&st->rx);
      rv = group_in_data(s, st, held.data, held.len);
      moq_buf_free(&held);
    }
    break;
  case SK_TRACK_UP:
  case SK_IDLE:
  case SK_GROUP_OUT:
  case SK_NEW:
    st->rx.len = 0;
    break;
  }
  (void)rv;
}

static void process_all(moq_session *s) {
  /* Collect first: processing may add or remove streams. */
  size_t n = idmap_size(&s->streams), k = 0, pos = 0;
  int64_t *ids = n ? malloc(n * sizeof *ids) : NULL;
  uint64_t key;
  void *val;
  while (ids && idmap_next(&s->streams, &pos, &key, &val)) ids[k++] = (int64_t)key;
  for (size_t i = 0; i < k && !s->closing; i++) {
    mstream *st = sess_stream(s, ids[i], 0);
    if (!st) continue;
    process(s, st);
    st = sess_stream(s, ids[i], 0);
    if (st && st->fin_in && st->kind == SK_GROUP_IN && s->accepted) group_in_end(s, st, 0);
  }
  free(ids);
}

void moq_session_on_stream_data(moq_session *s, int64_t sid, const uint8_t *data, size_t len, int fin) {
  if (s->closing) return;
  mstream *st = sess_stream(s, sid, 0);
  if (!st) {
    if (is_local(s, sid)) return; /* a stream of ours we already forgot */
    st = sess_stream(s, sid, 1);
    if (!st) {
      sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "out of memory");
      return;
    }
  }
  if (st->kind == SK_NEW && !st->rx.len && len > 8) {
    /* A new stream: its type (one varint) is all it takes to know what it is. Only that much goes
     * into the stream's buffer, so the first frame of a group reaches group_in_data below without a
     * packet-sized heap copy (whose malloc also made glibc consolidate its free lists per group). */
    moq_session_on_stream_data(s, sid, data, 8, 0);
    st = sess_stream(s, sid, 0);
    if (!st || s->closing) return;
    data += 8;
    len -= 8;
  }
  if (st->kind == SK_GROUP_IN && s->accepted && !st->rx.len) {
    group_in_data(s, st, data, len); /* payload goes straight into chunks */
  } else if (len) {
    if (st->rx.len + len > s->limits.max_message + 64 && st->kind != SK_GROUP_IN && st->kind != SK_NEW &&
        st->kind != SK_IDLE) {
      sess_fail(s, MOQ_CODE_DECODE, "message larger than the limit");
      return;
    }
    if (moq_buf_append(&st->rx, data, len) < 0) {
      sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "out of memory");
      return;
    }
    process(s, st);
  }
  st = sess_stream(s, sid, 0);
  if (!st || s->closing) return;
  if (fin) {
    st->fin_in = 1;
    if (st->kind == SK_NEW) process(s, st);
    if (!s->accepted) return;
    switch (st->kind) {
    case SK_GROUP_IN: group_in_end(s, st, 0); break;
    case SK_ANNOUNCE_SERVE:
    case SK_SUBSCRIBE_SERVE:
    case SK_TRACK_SERVE: serve_stream_gone(s, st, 0); break;
    case SK_ANNOUNCE_CONSUME:
    case SK_SUBSCRIBE_UP: consume_stream_gone(s, st, 0, 0); break;
    case SK_IDLE:
      if (!is_uni(sid)) sess_fin(s, sid); /* probe, goaway: finish ours too */
      break;
    case SK_SETUP_IN: process(s, st); break;
    default: break;
    }
  }
}

void moq_session_on_stream_reset(moq_session *s, int64_t sid, uint64_t code) {
  mstream *st = sess_stream(s, sid, 0);
  if (!st || s->closing) return;
  st->fin_in = 1;
  switch (st->kind) {
  case SK_GROUP_IN: group_in_end(s, st, 1); break;
  case SK_ANNOUNCE_SERVE:
  case SK_SUBSCRIBE_SERVE:
  case SK_TRACK_SERVE: serve_stream_gone(s, st, 1); break;
  case SK_ANNOUNCE_CONSUME:
  case SK_SUBSCRIBE_UP: consume_stream_gone(s, st, 1, code); break;
  case SK_LEGACY_SETUP: sess_fail(s, MOQ_CODE_PROTOCOL_VIOLATION, "the session stream was reset"); break;
  default: break;
  }
}

void moq_session_on_stream_stop(moq_session *s, int64_t sid, uint64_t code) {
  mstream *st = sess_stream(s, sid, 0);
  if (!st || s->closing) return;
  st->fin_out = 1;
  switch (st->kind) {
  case SK_ANNOUNCE_SERVE:
  case SK_SUBSCRIBE_SERVE:
  case SK_TRACK_SERVE: serve_stream_gone(s, st, 1); break;
  case SK_ANNOUNCE_CONSUME:
  case SK_SUBSCRIBE_UP: consume_stream_gone(s, st, 1, code); break;
  default: break;
  }
}

void moq_session_on_stream_closed(moq_session *s, int64_t sid) {
  mstream *st = sess_stream(s, sid, 0);
  if (!st) return;
  switch (st->kind) { /* group records are released even while the session closes */
  case SK_GROUP_OUT: serve_group_stream_closed(s, st); return; /* frees st */
  case SK_GROUP_IN: group_in_end(s, st, !st->fin_in); break;
  default: break;
  }
  if (!s->closing) {
    switch (st->kind) {
    case SK_ANNOUNCE_SERVE:
    case SK_SUBSCRIBE_SERVE:
    case SK_TRACK_SERVE: serve_stream_gone(s, st, 1); break;
    case SK_ANNOUNCE_CONSUME:
    case SK_SUBSCRIBE_UP: consume_stream_gone(s, st, 0, 0); break;
    default: break;
    }
  }
  st = sess_stream(s, sid, 0);
  if (st) sess_stream_free(s, st);
}

void moq_session_on_streams_available(moq_session *s) {
  if (s->closing) return;
  consume_retry_pending(s);
  serve_retry_pending(s);
}

void moq_session_wakeup(moq_session *s) {
  if (s->closing) return;
  serve_wakeup(s);
}
