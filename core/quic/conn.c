/* conn: one QUIC connection (server or client side): ngtcp2 callbacks, stream send queues, the
 * write loop with GSO batches, timers and the closing/draining states. */
#include "config.h"

#include "quic/quic_int.h"
#include "quic/packet_crypto.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static ngtcp2_tstamp now_ts(void) { return (ngtcp2_tstamp)uv_hrtime(); }

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return ((quic_conn *)ref->user_data)->conn; }

static void conn_schedule(quic_conn *c) {
  if (c->state <= QC_READY) quic_endpoint_want_flush(c->ep, c);
}

/* ------------------------------------------------------------------------------------------ */
/* Streams */

/* Keeps the pending list ordered by priority, highest first; equal priorities take turns. A stream
 * above every pending one (a new group: the newest goes first) is put at the head without a walk. */
static void stream_pending_add(quic_conn *c, quic_stream *s) {
  if (s->pending) return;
  s->pending = 1;
  quic_stream *after = c->pend_tail;
  if (c->pend_head && c->pend_head->prio < s->prio) after = NULL;
  while (after && after->prio < s->prio) after = after->pprev;
  s->pprev = after;
  s->pnext = after ? after->pnext : c->pend_head;
  if (s->pnext) s->pnext->pprev = s;
  else c->pend_tail = s;
  if (after) after->pnext = s;
  else c->pend_head = s;
}

static void stream_pending_del(quic_conn *c, quic_stream *s) {
  if (!s->pending) return;
  if (s->pprev) s->pprev->pnext = s->pnext;
  else c->pend_head = s->pnext;
  if (s->pnext) s->pnext->pprev = s->pprev;
  else c->pend_tail = s->pprev;
  s->pending = 0;
  s->pnext = s->pprev = NULL;
}

static void stream_drop_data(quic_stream *s) {
  s->timed_ready_ns = 0; /* never sent: not timed */
  chunk_queue_clear(&s->q);
  s->cur = NULL;
  s->base = s->sent = s->end;
}

static void stream_free(quic_conn *c, quic_stream *s) {
  if (c->last_stream == s) c->last_stream = NULL;
  stream_pending_del(c, s);
  idmap_del(&c->stream_ids, (uint64_t)s->id);
  if (s->aprev) s->aprev->anext = s->anext;
  else c->streams = s->anext;
  if (s->anext) s->anext->aprev = s->aprev;
  stream_drop_data(s);
  freelist_put(&c->stream_cache, s);
}

/* Frees every stream state (ngtcp2_conn_del does not call stream_close). */
static void free_all_streams(quic_conn *c) {
  while (c->streams) {
    quic_stream *s = c->streams;
    if (c->conn) ngtcp2_conn_set_stream_user_data(c->conn, s->id, NULL);
    stream_free(c, s);
  }
  idmap_free(&c->stream_ids);
}

/* The send state of a stream, created on demand; NULL if the stream does not exist. */
static quic_stream *stream_get(quic_conn *c, int64_t id, int create) {
  /* Writes come in runs on one stream (a frame's header, then its payload): the last one is kept. */
  if (c->last_stream && c->last_stream->id == id) return c->last_stream;
  quic_stream *s = idmap_get(&c->stream_ids, (uint64_t)id);
  if (s) c->last_stream = s;
  if (s || !create) return s;
  s = freelist_get(&c->stream_cache, sizeof *s);
  if (!s) return NULL;
  s->id = id;
  s->prio = UINT64_MAX;
  if (ngtcp2_conn_set_stream_user_data(c->conn, id, s) != 0) {
    freelist_put(&c->stream_cache, s);
    return NULL;
  }
  if (idmap_put(&c->stream_ids, (uint64_t)id, s)) {
    ngtcp2_conn_set_stream_user_data(c->conn, id, NULL);
    freelist_put(&c->stream_cache, s);
    return NULL;
  }
  s->anext = c->streams;
  if (c->streams) c->streams->aprev = s;
  c->streams = s;
  c->last_stream = s;
  return s;
}

/* Releases the data the peer acknowledged, up to stream offset upto. */
static void stream_ack(quic_stream *s, uint64_t upto) {
  if (upto <= s->base) return;
  chunk_queue_drop(&s->q, (size_t)(upto - s->base));
  s->base = upto;
  /* the send cursor's segment was released or trimmed (then it is the head): start at the head */
  if (s->cur && s->cur_base < s->base) s->cur = NULL;
}

/* Fills vec with the unsent bytes of s; returns the count. Starts at the send cursor, which it moves
 * up to the first segment with unsent bytes (acknowledged and sent segments are not walked again). */
static size_t stream_unsent(quic_stream *s, ngtcp2_vec *vec, size_t max) {
  if (!s->cur) {
    s->cur = s->q.head;
    s->cur_base = s->base;
  }
  while (s->cur && s->cur->next && s->cur_base + s->cur->len <= s->sent) { /* the last one stays */
    s->cur_base += s->cur->len;
    s->cur = s->cur->next;
  }
  size_t n = 0;
  uint64_t pos = s->cur_base;
  for (const chunk_seg *g = s->cur; g && n < max; g = g->next) {
    uint64_t gend = pos + g->len;
    if (gend > s->sent) {
      size_t skip = s->sent > pos ? (size_t)(s->sent - pos) : 0;
      vec[n].base = g->data->data + g->off + skip;
      vec[n].len = g->len - skip;
      n++;
    }
    pos = gend;
  }
  return n;
}

/* After ngtcp2 took stream bytes into a packet: the timed bytes are all in packets now. */
static void stream_check_timed(quic_conn *c, quic_stream *s, ngtcp2_tstamp ts) {
  if (s->timed_ready_ns && s->sent >= s->timed_end) {
    quic_endpoint_tx_timed(c->ep, s->timed_ready_ns, ts);
    s->timed_ready_ns = 0;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* ngtcp2 callbacks */

static int cb_rand(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx) {
  (void)rand_ctx;
  quic_random(dest, destlen);
  return 0;
}

static void cb_rand_void(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx) {
  cb_rand(dest, destlen, rand_ctx);
}

static int cb_get_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud) {
  quic_conn *c = ud;
  quic_endpoint_new_cid(c->ep, cid->data, cidlen);
  cid->datalen = cidlen;
  if (ngtcp2_crypto_generate_stateless_reset_token(token, c->ep->reset_secret, sizeof c->ep->reset_secret,
                                                   cid) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  if (quic_endpoint_add_cid(c->ep, cid->data, cid->datalen, c)) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

static int cb_remove_cid(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *ud) {
  quic_conn *c = ud;
  quic_endpoint_del_cid(c->ep, cid->data, cid->datalen);
  return 0;
}

static int cb_handshake_completed(ngtcp2_conn *conn, void *ud) {
  quic_conn *c = ud;
  char *p = NULL;
  unsigned short len = 0;
  if (wolfSSL_ALPN_GetProtocol(c->ssl, &p, &len) != WOLFSSL_SUCCESS) p = NULL;
  if (p && len < sizeof c->alpn) {
    memcpy(c->alpn, p, len);
    c->alpn[len] = 0;
  }
  if (!c->alpn[0]) {
    /* QUIC requires an application protocol (RFC 9001 8.1): a peer that offered none is refused. */
    ngtcp2_ccerr ccerr;
    ngtcp2_ccerr_default(&ccerr);
    ngtcp2_ccerr_set_tls_alert(&ccerr, 120 /* no_application_protocol */, NULL, 0);
    quic_close_info info = {.code = ccerr.error_code};
    snprintf(info.reason, sizeof info.reason, "no application protocol negotiated");
    c->state = QC_READY; /* so that the close below is sent */
    c->pending_ccerr = ccerr;
    c->pending_ccerr_set = 1;
    c->pending_info = info;
    return 0;
  }
  c->state = QC_READY;
  if (c->is_server) {
    /* What is asked of the TLS session later (the client's certificate) is kept here; the WOLFSSL
     * object itself (about 9 KB per connection with its buffers) goes when ngtcp2 returns. After
     * the handshake a server needs nothing from it: keys are updated by ngtcp2 from its own
     * secrets, and TLS 1.3 over QUIC has no client message after Finished (RFC 9001 4.4). */
    tls_peer *peer = malloc(sizeof *peer);
    if (peer) { /* without memory for it the WOLFSSL object stays, and is asked later */
      if (tls_peer_read(c->ssl, peer) == 0 && peer->present) c->peer = peer; /* -1: read as no certificate */
      else free(peer);
      c->release_tls = 1;
    }
  }
  char addr[64] = "";
  getnameinfo((const struct sockaddr *)&c->remote.ss, c->remote.len, addr, sizeof addr, NULL, 0, NI_NUMERICHOST);
  LOG_INF("quic_ready", "conn=%s side=%s remote=%s alpn=%s", c->log_id, c->is_server ? "server" : "client", addr,
          c->alpn[0] ? c->alpn : "-");
  if (!c->handler) {
    LOG_WRN("quic_unhandled", "conn=%s reason=\"no handler for this connection\"", c->log_id);
    quic_conn_close(c, 0, "not accepted");
    return 0;
  }
  if (c->handler->on_ready) c->handler->on_ready(c, c->handler_data);
  return 0;
}

/* CRYPTO data goes to wolfSSL in stream order, but never in a piece that ends inside a handshake
 * message header or right after it: wolfSSL 5.7.2 (quic_record_append) fails the handshake when one
 * call completes a header begun in an earlier call and brings no byte of the body. Chromium's
 * ClientHello arrives scrambled ("chaos protection": tiny CRYPTO frames out of order across two
 * Initial packets), so ngtcp2 may hand over 1-3 bytes that end in a header. Those bytes are held and
 * given with the next piece. */
static int cb_recv_crypto_data(ngtcp2_conn *conn, ngtcp2_encryption_level level, uint64_t offset,
                               const uint8_t *data, size_t datalen, void *ud) {
  quic_conn *c = ud;
  if (!c->ssl) { /* a client's CRYPTO data after its Finished: TLS would call it unexpected */
    ngtcp2_conn_set_tls_alert(conn, 10 /* unexpected_message */);
    return NGTCP2_ERR_CRYPTO;
  }
  if ((unsigned)level >= 4) return ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, data, datalen, ud);
  uint8_t *held = c->crypto_held[level];
  size_t hl = c->crypto_held_len[level];
  uint8_t small[512], *buf;
  size_t n = hl + datalen;
  if (hl) { /* join the held header bytes and the new data */
    buf = n <= sizeof small ? small : malloc(n);
    if (!buf) return NGTCP2_ERR_CALLBACK_FAILURE;
    memcpy(buf, held, hl);
    memcpy(buf + hl, data, datalen);
  } else {
    buf = (uint8_t *)data;
  }
  size_t pos = 0, cut = n;
  uint32_t need = c->crypto_need[level];
  while (pos < n) {
    if (need) {
      size_t adv = need < n - pos ? need : n - pos;
      pos += adv;
      need -= (uint32_t)adv;
      continue;
    }
    if (n - pos <= 4) { /* a header, with no byte after it yet: hold it */
      cut = pos;
      break;
    }
    need = (uint32_t)buf[pos + 1] << 16 | (uint32_t)buf[pos + 2] << 8 | buf[pos + 3];
    pos += 4;
  }
  c->crypto_need[level] = need;
  c->crypto_held_len[level] = (uint8_t)(n - cut);
  memmove(held, buf + cut, n - cut);
  int rv = cut ? ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, buf, cut, ud) : 0;
  if (buf != (uint8_t *)data && buf != small) free(buf);
  return rv;
}

static int cb_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t sid, uint64_t offset, const uint8_t *data,
                               size_t datalen, void *ud, void *stream_ud) {
  quic_conn *c = ud;
  int fin = (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0;
  if (c->handler && c->handler->on_stream_data && c->state <= QC_READY)
    c->handler->on_stream_data(c, sid, data, datalen, fin, c->handler_data);
  /* The layer above consumed the bytes (it copies what it keeps): open the windows again. */
  ngtcp2_conn_extend_max_stream_offset(conn, sid, datalen);
  ngtcp2_conn_extend_max_offset(conn, datalen);
  return 0;
}

static int cb_acked(ngtcp2_conn *conn, int64_t sid, uint64_t offset, uint64_t datalen, void *ud, void *stream_ud) {
  quic_stream *s = stream_ud;
  if (s) stream_ack(s, offset + datalen);
  return 0;
}

static int cb_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t sid, uint64_t app_error_code, void *ud,
                           void *stream_ud) {
  quic_conn *c = ud;
  if (stream_ud) {
    ngtcp2_conn_set_stream_user_data(conn, sid, NULL);
    stream_free(c, stream_ud);
  }
  /* The stream limit bounds streams open at once, not over the connection's life: closed peer
   * streams let the peer open others (a group per stream would stop at the limit otherwise). The
   * credit goes back a quarter of the limit at a time: one MAX_STREAMS per closed stream would make
   * the peer acknowledge a packet per group (a subscriber sends one per group it receives). */
  if (!ngtcp2_conn_is_local_stream(conn, sid)) {
    int bidi = ngtcp2_is_bidi_stream(sid);
    uint64_t limit = bidi ? c->ep->settings.max_streams_bidi : c->ep->settings.max_streams_uni;
    uint64_t *closed = bidi ? &c->peer_bidi_closed : &c->peer_uni_closed;
    if (++*closed >= (limit / 4 ? limit / 4 : 1)) {
      if (bidi) ngtcp2_conn_extend_max_streams_bidi(conn, *closed);
      else ngtcp2_conn_extend_max_streams_uni(conn, *closed);
      *closed = 0;
    }
  }
  if (c->handler && c->handler->on_stream_closed && c->state <= QC_READY)
    c->handler->on_stream_closed(c, sid, c->handler_data);
  return 0;
}

static int cb_stream_reset(ngtcp2_conn *conn, int64_t sid, uint64_t final_size, uint64_t app_error_code, void *ud,
                           void *stream_ud) {
  quic_conn *c = ud;
  if (c->handler && c->handler->on_stream_reset && c->state <= QC_READY)
    c->handler->on_stream_reset(c, sid, app_error_code, c->handler_data);
  return 0;
}

/* ngtcp2 calls this when WE stop reading a stream (ngtcp2_conn_shutdown_stream_read); a peer's
 * STOP_SENDING is answered by ngtcp2 itself with RESET_STREAM, and the stream's writes then fail
 * with NGTCP2_ERR_STREAM_SHUT_WR in quic_conn_flush. Nothing to do here. */
static int cb_stream_stop_sending(ngtcp2_conn *conn, int64_t sid, uint64_t app_error_code, void *ud,
                                  void *stream_ud) {
  return 0;
}

static int cb_extend_max_stream_data(ngtcp2_conn *conn, int64_t sid, uint64_t max_data, void *ud,
                                     void *stream_ud) {
  quic_conn *c = ud;
  quic_stream *s = stream_ud;
  if (s && !s->shut && (s->sent < s->end || (s->fin_queued && !s->fin_sent))) {
    stream_pending_add(c, s);
    conn_schedule(c);
  }
  return 0;
}

static int cb_extend_max_local_streams(ngtcp2_conn *conn, uint64_t max_streams, void *ud) {
  quic_conn *c = ud;
  if (c->handler && c->handler->on_streams_available && c->state == QC_READY)
    c->handler->on_streams_available(c, c->handler_data);
  return 0;
}

static int cb_recv_datagram(ngtcp2_conn *conn, uint32_t flags, const uint8_t *data, size_t datalen, void *ud) {
  quic_conn *c = ud;
  if (c->handler && c->handler->on_datagram && c->state <= QC_READY)
    c->handler->on_datagram(c, data, datalen, c->handler_data);
  return 0;
}

static void fill_callbacks(ngtcp2_callbacks *cb, int server) {
  memset(cb, 0, sizeof *cb);
  if (server) {
    cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  } else {
    cb->client_initial = ngtcp2_crypto_client_initial_cb;
    cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
  }
  cb->recv_crypto_data = cb_recv_crypto_data;
  cb->encrypt = packet_crypto_encrypt;
  cb->decrypt = packet_crypto_decrypt;
  cb->hp_mask = packet_crypto_hp_mask;
  cb->update_key = ngtcp2_crypto_update_key_cb;
  cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb->rand = cb_rand_void;
  cb->get_new_connection_id = cb_get_new_cid;
  cb->remove_connection_id = cb_remove_cid;
  cb->handshake_completed = cb_handshake_completed;
  cb->recv_stream_data = cb_recv_stream_data;
  cb->acked_stream_data_offset = cb_acked;
  cb->stream_close = cb_stream_close;
  cb->stream_reset = cb_stream_reset;
  cb->stream_stop_sending = cb_stream_stop_sending;
  cb->extend_max_stream_data = cb_extend_max_stream_data;
  cb->extend_max_local_streams_bidi = cb_extend_max_local_streams;
  cb->extend_max_local_streams_uni = cb_extend_max_local_streams;
  cb->recv_datagram = cb_recv_datagram;
}

static void log_ngtcp2(void *ud, const char *fmt, ...) {
  quic_conn *c = ud;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  char q[600];
  LOG_TRC("ngtcp2", "conn=%s msg=%s", c->log_id, log_quote(q, sizeof q, line));
}

static void fill_settings(quic_conn *c, ngtcp2_settings *s, ngtcp2_transport_params *p) {
  const quic_settings *qs = &c->ep->settings;
  ngtcp2_settings_default(s);
  s->initial_ts = now_ts();
  s->cc_algo = NGTCP2_CC_ALGO_CUBIC;
  s->max_window = qs->conn_window * 4;
  s->max_stream_window = qs->stream_window * 4;
  s->handshake_timeout = qs->handshake_timeout_ms * NGTCP2_MILLISECONDS;
  if (log_enabled(LOG_TRACE)) s->log_printf = log_ngtcp2;
  ngtcp2_transport_params_default(p);
  p->initial_max_streams_bidi = qs->max_streams_bidi;
  p->initial_max_streams_uni = qs->max_streams_uni;
  p->initial_max_stream_data_bidi_local = qs->stream_window;
  p->initial_max_stream_data_bidi_remote = qs->stream_window;
  p->initial_max_stream_data_uni = qs->stream_window;
  p->initial_max_data = qs->conn_window;
  p->max_idle_timeout = qs->idle_timeout_ms * NGTCP2_MILLISECONDS;
  p->active_connection_id_limit = 8;
  if (qs->enable_datagrams) p->max_datagram_frame_size = 65535;
}

/* ------------------------------------------------------------------------------------------ */
/* Life cycle */

static void arm_timer(quic_conn *c);
static void on_timer(uv_timer_t *t);
static void arm_timer_at(quic_conn *c, ngtcp2_tstamp exp);

static quic_conn *conn_alloc(quic_endpoint *ep, const udp_addr *local, const udp_addr *remote, int server) {
  quic_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->ep = ep;
  c->is_server = server;
  c->local = *local;
  c->remote = *remote;
  ngtcp2_path_storage_init(&c->path, (const struct sockaddr *)&local->ss, local->len,
                           (const struct sockaddr *)&remote->ss, remote->len, NULL);
  c->conn_ref.get_conn = get_conn;
  c->conn_ref.user_data = c;
  uv_timer_init(ep->loop, &c->timer);
  c->timer.data = c;
  return c;
}

static void set_log_id(quic_conn *c, const ngtcp2_cid *scid) {
  for (size_t i = 0; i < 8 && i < scid->datalen; i++) snprintf(c->log_id + 2 * i, 3, "%02x", scid->data[i]);
}

/* Links c into the endpoint and registers its first CID. */
static int conn_attach(quic_conn *c, const ngtcp2_cid *scid) {
  quic_endpoint *ep = c->ep;
  if (quic_endpoint_add_cid(ep, scid->data, scid->datalen, c)) return -1;
  c->next = ep->conns;
  if (ep->conns) ep->conns->prev = c;
  ep->conns = c;
  ep->n_conns++;
  set_log_id(c, scid);
  return 0;
}

int quic_conn_stash(quic_conn *c, const uint8_t *data, size_t len, size_t gso) {
  quic_stash *st = malloc(sizeof *st + len);
  if (!st) return -1;
  st->next = NULL;
  st->len = len;
  st->gso = gso;
  memcpy(st->data, data, len);
  if (c->stash_tail) c->stash_tail->next = st;
  else c->stash_head = st;
  c->stash_tail = st;
  return 0;
}

static void stash_free(quic_conn *c) {
  for (quic_stash *st = c->stash_head, *next; st; st = next) {
    next = st->next;
    free(st);
  }
  c->stash_head = c->stash_tail = NULL;
}

static void conn_free_cb(uv_handle_t *h) {
  quic_conn *c = h->data;
  free(c);
}

/* Releases everything; the struct itself goes when libuv releases the timer. */
static void conn_free(quic_conn *c) {
  if (c->state == QC_DEAD) return;
  quic_endpoint *ep = c->ep;
  c->state = QC_DEAD;
  if (c->conn) {
    size_t n = ngtcp2_conn_get_scid(c->conn, NULL);
    ngtcp2_cid *ids = n ? calloc(n, sizeof *ids) : NULL;
    if (ids) {
      ngtcp2_conn_get_scid(c->conn, ids);
      for (size_t i = 0; i < n; i++) quic_endpoint_del_cid(ep, ids[i].data, ids[i].datalen);
      free(ids);
    }
    free_all_streams(c);
  }
  freelist_clear(&c->stream_cache);
  if (c->orig_dcid.datalen) quic_endpoint_del_cid(ep, c->orig_dcid.data, c->orig_dcid.datalen);
  for (quic_dgram *d = c->dg_head, *n; d; d = n) {
    n = d->next;
    free(d);
  }
  c->dg_head = c->dg_tail = NULL;
  if (c->conn) {
    ngtcp2_conn_del(c->conn);
    c->conn = NULL;
  }
  if (c->ssl) {
    wolfSSL_free(c->ssl);
    c->ssl = NULL;
  }
  free(c->peer);
  c->peer = NULL;
  free(c->close_pkt);
  c->close_pkt = NULL;
  stash_free(c);
  quic_endpoint_conn_freed(ep, c);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, conn_free_cb);
}

static void notify_closed(quic_conn *c, const quic_close_info *info) {
  if (c->notified) return;
  c->notified = 1;
  char addr[64] = "";
  getnameinfo((const struct sockaddr *)&c->remote.ss, c->remote.len, addr, sizeof addr, NULL, 0, NI_NUMERICHOST);
  char q[160];
  LOG_INF("quic_closed", "conn=%s remote=%s by=%s idle=%d %s=%llu reason=%s", c->log_id, addr,
          info->by_peer ? "peer" : "local", info->idle, info->is_app ? "app_code" : "transport_code",
          (unsigned long long)info->code, log_quote(q, sizeof q, info->reason));
  const quic_conn_handler *h = c->handler;
  c->handler = NULL;
  if (h && h->on_closed) h->on_closed(c, info, c->handler_data);
}

void quic_conn_destroy(quic_conn *c) {
  if (c->state == QC_DEAD) return;
  quic_close_info info = {.is_app = 1, .code = 0};
  snprintf(info.reason, sizeof info.reason, "endpoint shutdown");
  notify_closed(c, &info);
  free_all_streams(c);
  conn_free(c);
}

/* Enters draining or closing: stops serving the layer above and waits 3 PTO before freeing. */
static void conn_enter_end(quic_conn *c, quic_conn_state st) {
  c->state = st;
  while (c->pend_head) stream_pending_del(c, c->pend_head);
  ngtcp2_duration pto = c->conn ? ngtcp2_conn_get_pto(c->conn) : 0;
  uint64_t ms = pto * 3 / NGTCP2_MILLISECONDS;
  if (ms < 10) ms = 10;
  quic_endpoint_deadline_cancel(c->ep, c);
  c->timer_due = c->uv_due = uv_now(c->ep->loop) + ms;
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Queues packets built outside quic_conn_flush (CONNECTION_CLOSE) behind everything c sent before. */
static int send_packets(quic_conn *c, const uint8_t *buf, size_t len, size_t gso) {
  uint8_t *p = quic_endpoint_tx_room(c->ep, len);
  memcpy(p, buf, len);
  return quic_endpoint_tx_commit(c->ep, c, len, gso);
}

/* Sends CONNECTION_CLOSE with the given error and enters the closing state. */
static void conn_close_with(quic_conn *c, const ngtcp2_ccerr *ccerr, const quic_close_info *info) {
  if (c->state >= QC_CLOSING) return;
  if (!ngtcp2_conn_in_closing_period(c->conn) && !ngtcp2_conn_in_draining_period(c->conn)) {
    uint8_t buf[1500];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->conn, &ps.path, &pi, buf, sizeof buf, ccerr, now_ts());
    if (n > 0) {
      c->close_pkt = malloc((size_t)n);
      if (c->close_pkt) {
        memcpy(c->close_pkt, buf, (size_t)n);
        c->close_pkt_len = (size_t)n;
      }
      send_packets(c, buf, (size_t)n, 0);
    }
  }
  notify_closed(c, info);
  conn_enter_end(c, QC_CLOSING);
}

/* Sends CONNECTION_CLOSE for a close the layer above asked for (from the flush, never re-entrantly). */
static void conn_close_now(quic_conn *c) {
  c->close_requested = 0;
  /* Send what is queued first (the handshake's last flight, FINs), as far as congestion allows. */
  c->closing_flush = 1;
  quic_conn_flush(c);
  c->closing_flush = 0;
  if (c->state >= QC_CLOSING) return;
  ngtcp2_ccerr ccerr;
  ngtcp2_ccerr_default(&ccerr);
  size_t rlen = strlen(c->close_reason);
  if (rlen > 100) rlen = 100;
  if (c->state == QC_HANDSHAKE) {
    /* Before the handshake an application close is sent as a transport APPLICATION_ERROR. */
    ngtcp2_ccerr_set_transport_error(&ccerr, NGTCP2_APPLICATION_ERROR, (const uint8_t *)c->close_reason, rlen);
  } else {
    ngtcp2_ccerr_set_application_error(&ccerr, c->close_code, (const uint8_t *)c->close_reason, rlen);
  }
  quic_close_info info = {.by_peer = 0, .is_app = 1, .code = c->close_code};
  snprintf(info.reason, sizeof info.reason, "%s", c->close_reason);
  conn_close_with(c, &ccerr, &info);
}

void quic_conn_close(quic_conn *c, uint64_t app_code, const char *reason) {
  if (!c || c->state >= QC_CLOSING || c->close_requested) return;
  /* Never re-entrant: the close happens on the endpoint's next flush, so a caller deep inside a
   * callback (of this connection or another) never sees the handler's on_closed under its feet. */
  c->close_requested = 1;
  c->close_code = app_code;
  snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
  quic_endpoint_want_flush(c->ep, c);
}

/* Handles a negative return of ngtcp2_conn_read_pkt / handle_expiry / write. */
static void conn_on_error(quic_conn *c, int rv) {
  quic_close_info info = {0};
  switch (rv) {
  case NGTCP2_ERR_DRAINING: {
    const ngtcp2_ccerr *e = ngtcp2_conn_get_ccerr(c->conn);
    info.by_peer = 1;
    info.is_app = e->type == NGTCP2_CCERR_TYPE_APPLICATION;
    info.code = e->error_code;
    size_t l = e->reasonlen < sizeof info.reason - 1 ? e->reasonlen : sizeof info.reason - 1;
    if (e->reason) memcpy(info.reason, e->reason, l);
    info.reason[l] = 0;
    notify_closed(c, &info);
    conn_enter_end(c, QC_DRAINING);
    return;
  }
  case NGTCP2_ERR_IDLE_CLOSE:
    info.idle = 1;
    snprintf(info.reason, sizeof info.reason, "idle timeout");
    notify_closed(c, &info);
    free_all_streams(c);
    conn_free(c);
    return;
  case NGTCP2_ERR_DROP_CONN:
  case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
    snprintf(info.reason, sizeof info.reason, "%s", ngtcp2_strerror(rv));
    notify_closed(c, &info);
    free_all_streams(c);
    conn_free(c);
    return;
  default: {
    ngtcp2_ccerr ccerr;
    ngtcp2_ccerr_default(&ccerr);
    if (rv == NGTCP2_ERR_CRYPTO)
      ngtcp2_ccerr_set_tls_alert(&ccerr, ngtcp2_conn_get_tls_alert(c->conn), NULL, 0);
    else
      ngtcp2_ccerr_set_liberr(&ccerr, rv, NULL, 0);
    info.code = ccerr.error_code;
    snprintf(info.reason, sizeof info.reason, "%s", ngtcp2_strerror(rv));
    conn_close_with(c, &ccerr, &info);
  }
  }
}

static void after_ngtcp2(quic_conn *c) {
  c->in_ngtcp2 = 0;
  if (c->release_tls && c->ssl) {
    ngtcp2_conn_set_tls_native_handle(c->conn, NULL);
    wolfSSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->pending_ccerr_set && c->state <= QC_READY) {
    c->pending_ccerr_set = 0;
    conn_close_with(c, &c->pending_ccerr, &c->pending_info);
  }
}

#ifdef HAVE_NGTCP2_EXPIRY_PARTS
/* Not in ngtcp2's public header: global functions of libngtcp2 (1.x), each one of the deadlines
 * ngtcp2_conn_get_expiry takes the earliest of (configure checks that they link). */
ngtcp2_tstamp ngtcp2_conn_ack_delay_expiry(ngtcp2_conn *conn);
ngtcp2_tstamp ngtcp2_conn_loss_detection_expiry(ngtcp2_conn *conn);
ngtcp2_tstamp ngtcp2_conn_internal_expiry(ngtcp2_conn *conn);
ngtcp2_tstamp ngtcp2_conn_lost_pkt_expiry(ngtcp2_conn *conn);
ngtcp2_tstamp ngtcp2_conn_get_idle_expiry(ngtcp2_conn *conn);

/* ngtcp2 sends the ACK of a lone ack-eliciting packet (a subscriber's PING, which ngtcp2 clients add
 * to every other ACK they send) after smoothed_rtt / 8: on any short path well before the next frame,
 * so it goes out alone, one more datagram per subscriber and frame. When the timer fires for that
 * ACK and nothing else is due, and nothing of ours waits to be sent, the ACK is held for the next
 * data to carry it, at most until 3/4 of the max_ack_delay we advertise after the packet it
 * acknowledges (RFC 9000 13.2.1 allows all of it); the ACK frame reports its real delay, which the
 * peer takes out of its RTT sample. Returns the time to hold until, or 0 (not an ACK-only expiry). */
static ngtcp2_tstamp ack_hold_deadline(quic_conn *c, ngtcp2_tstamp now) {
  if (c->state != QC_READY) return 0;
  ngtcp2_conn *conn = c->conn;
  ngtcp2_tstamp ack = ngtcp2_conn_ack_delay_expiry(conn);
  if (ack == UINT64_MAX || ack > now) return 0;
  if (ngtcp2_conn_loss_detection_expiry(conn) <= now || ngtcp2_conn_internal_expiry(conn) <= now ||
      ngtcp2_conn_lost_pkt_expiry(conn) <= now)
    return 0; /* loss recovery or ngtcp2's own timers: flush as usual */
  ngtcp2_conn_info ci;
  ngtcp2_conn_get_conn_info(conn, &ci);
  ngtcp2_duration mad = ngtcp2_conn_get_local_transport_params(conn)->max_ack_delay;
  ngtcp2_duration delay = ci.smoothed_rtt / 8 < mad ? ci.smoothed_rtt / 8 : mad; /* ngtcp2's rule */
  ngtcp2_tstamp until = ack - delay + mad * 3 / 4;
  return until > now ? until : 0;
}

/* The earliest deadline that must wake a connection holding an ACK: loss recovery, ngtcp2's own
 * timers, the idle timeout; not pacing (nothing waits to be paced) nor keep-alive (the held ACK is
 * traffic too, and goes within milliseconds). */
static ngtcp2_tstamp ack_hold_wake(quic_conn *c) {
  ngtcp2_tstamp next = ngtcp2_conn_loss_detection_expiry(c->conn);
  ngtcp2_tstamp t = ngtcp2_conn_internal_expiry(c->conn);
  if (t < next) next = t;
  t = ngtcp2_conn_lost_pkt_expiry(c->conn);
  if (t < next) next = t;
  t = ngtcp2_conn_get_idle_expiry(c->conn);
  return t < next ? t : next;
}

/* After each flush ngtcp2 sets a pacing deadline (the time the packets just sent "take" at its
 * pacing rate), and its expiry wakes the connection up. When that flush ended with nothing left in
 * ngtcp2 (tx_idle) and nothing has come in or been queued since, the wake-up can only cancel the
 * deadline: the flush it used to run wrote nothing (three quarters of a subscriber's wake-ups at
 * 60 fps). True when only that deadline can be due now: ngtcp2's other ones are in the future, and
 * its keep-alive (counted from the last packet sent, at or after the flush) cannot be due yet. */
static int pacing_only_due(quic_conn *c, ngtcp2_tstamp now) {
  if (!c->tx_idle || c->state != QC_READY || c->pend_head || c->dg_head || c->stash_head || c->close_requested)
    return 0;
  uint64_t ka = (uint64_t)c->ep->settings.keep_alive_ms * NGTCP2_MILLISECONDS;
  if (ka && now >= c->tx_idle_ts + ka) return 0;
  ngtcp2_conn *conn = c->conn;
  return ngtcp2_conn_ack_delay_expiry(conn) > now && ngtcp2_conn_loss_detection_expiry(conn) > now &&
         ngtcp2_conn_internal_expiry(conn) > now && ngtcp2_conn_lost_pkt_expiry(conn) > now &&
         ngtcp2_conn_get_idle_expiry(conn) > now;
}
#else
static ngtcp2_tstamp ack_hold_deadline(quic_conn *c, ngtcp2_tstamp now) {
  (void)c;
  (void)now;
  return 0;
}
static ngtcp2_tstamp ack_hold_wake(quic_conn *c) { return ngtcp2_conn_get_expiry(c->conn); }
static int pacing_only_due(quic_conn *c, ngtcp2_tstamp now) {
  (void)c;
  (void)now;
  return 0;
}
#endif

/* Runs ngtcp2's expired timers at now; 0, or -1 when that failed and the connection is closing. */
static int handle_expiry(quic_conn *c, ngtcp2_tstamp now) {
  c->in_ngtcp2 = 1;
  int rv = ngtcp2_conn_handle_expiry(c->conn, now);
  after_ngtcp2(c);
  if (rv == 0) return 0;
  conn_on_error(c, rv);
  return -1;
}

/* The connection's deadline: ngtcp2's expiry, or the end of the closing period. */
void quic_conn_on_deadline(quic_conn *c) {
  if (c->state == QC_CLOSING || c->state == QC_DRAINING) {
    free_all_streams(c);
    conn_free(c);
    return;
  }
  if (c->state == QC_DEAD) return;
  ngtcp2_tstamp now = now_ts();
  int pacing_only = pacing_only_due(c, now);
  ngtcp2_tstamp hold = pacing_only ? 0 : ack_hold_deadline(c, now);
  if (handle_expiry(c, now)) return; /* it cancels the expired ACK timer: the ACK waits */
  if (pacing_only && c->state == QC_READY) { /* handle_expiry cancelled the deadline; nothing to write */
    arm_timer(c);
    c->ep->counts.pacing_idle++;
    return;
  }
  if (hold && c->state == QC_READY && !c->pend_head && !c->dg_head && !c->stash_head && !c->close_requested) {
    ngtcp2_tstamp next = ack_hold_wake(c);
    arm_timer_at(c, next < hold ? next : hold);
    c->tx_idle = 0; /* ngtcp2 holds the ACK: the wake-up at the hold's end must flush */
    c->ep->counts.acks_held++;
    return;
  }
  quic_conn_flush(c);
}

/* The libuv timer: a deadline beyond the wheel's span, or the closing period. It is left running when
 * the deadline moves later or onto the wheel, and then only looks again when it fires. */
static void on_timer(uv_timer_t *t) {
  quic_conn *c = t->data;
  if (c->state < QC_CLOSING) {
    if (c->wheel_entry.set) return; /* the wheel holds the deadline now */
    uint64_t now = uv_now(c->ep->loop);
    if (c->timer_due > now) {
      c->uv_due = c->timer_due;
      uv_timer_start(&c->timer, on_timer, c->timer_due - now, 0);
      return;
    }
  }
  quic_conn_on_deadline(c);
}

/* Sets the deadline for ngtcp2 time exp, in loop milliseconds: on the endpoint's timer wheel when it
 * is within its span (most are: setting one there is O(1), where a restart of a libuv timer is a
 * removal and an insertion in its heap, at every flush of every connection), else on the libuv
 * timer, which is restarted only to fire earlier. */
static void arm_timer_at(quic_conn *c, ngtcp2_tstamp exp) {
  if (c->state >= QC_CLOSING) return; /* the closing period's timer stays */
  ngtcp2_tstamp now = now_ts();
  uint64_t ms = exp > now ? (exp - now + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS : 0;
  uint64_t due = uv_now(c->ep->loop) + ms;
  if (due == c->timer_due && c->wheel_entry.set) return;
  c->timer_due = due;
  if (quic_endpoint_deadline_set(c->ep, c, due)) return;
  quic_endpoint_deadline_cancel(c->ep, c);
  if (uv_is_active((uv_handle_t *)&c->timer) && c->uv_due <= due) return;
  c->uv_due = due;
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Arms the timer for ngtcp2's next expiry. */
static void arm_timer(quic_conn *c) { arm_timer_at(c, ngtcp2_conn_get_expiry(c->conn)); }


/* ------------------------------------------------------------------------------------------ */
/* Server and client construction */

static int make_ssl(quic_conn *c, tls_ctx *tls) {
  c->ssl = wolfSSL_new(tls_ctx_native(tls));
  if (!c->ssl) return -1;
  wolfSSL_set_app_data(c->ssl, &c->conn_ref);
  if (c->is_server) wolfSSL_set_accept_state(c->ssl);
  else wolfSSL_set_connect_state(c->ssl);
  return 0;
}

quic_conn *quic_conn_new_server(quic_endpoint *ep, const udp_addr *local, const udp_addr *remote,
                                const ngtcp2_pkt_hd *hd) {
  quic_conn *c = conn_alloc(ep, local, remote, 1);
  if (!c) return NULL;
  ngtcp2_callbacks cb;
  fill_callbacks(&cb, 1);
  ngtcp2_settings s;
  ngtcp2_transport_params p;
  fill_settings(c, &s, &p);
  p.original_dcid = hd->dcid;
  p.original_dcid_present = 1;
  c->orig_dcid = hd->dcid;
  ngtcp2_cid scid;
  scid.datalen = QUIC_SCID_LEN;
  quic_endpoint_new_cid(ep, scid.data, scid.datalen);
  p.stateless_reset_token_present = 1;
  ngtcp2_crypto_generate_stateless_reset_token(p.stateless_reset_token, ep->reset_secret, sizeof ep->reset_secret,
                                               &scid);
  if (ngtcp2_conn_server_new(&c->conn, &hd->scid, &scid, &c->path.path, hd->version, &cb, &s, &p, NULL, c) != 0)
    goto fail;
  if (make_ssl(c, ep->server_tls)) goto fail;
  ngtcp2_conn_set_tls_native_handle(c->conn, c->ssl);
  if (ep->settings.keep_alive_ms)
    ngtcp2_conn_set_keep_alive_timeout(c->conn, ep->settings.keep_alive_ms * NGTCP2_MILLISECONDS);
  if (conn_attach(c, &scid)) goto fail;
  if (quic_endpoint_add_cid(ep, hd->dcid.data, hd->dcid.datalen, c)) {
    c->orig_dcid.datalen = 0;
    conn_free(c);
    return NULL;
  }
  return c;
fail:
  if (c->conn) ngtcp2_conn_del(c->conn);
  if (c->ssl) wolfSSL_free(c->ssl);
  c->conn = NULL;
  c->ssl = NULL;
  uv_close((uv_handle_t *)&c->timer, conn_free_cb);
  return NULL;
}

quic_conn *quic_endpoint_connect(quic_endpoint *ep, const struct sockaddr *remote, socklen_t remotelen,
                                 tls_ctx *client_tls, const char *host, const char *const *alpn, size_t n_alpn,
                                 const quic_conn_handler *handler, void *handler_data, char *err,
                                 size_t errlen) {
  udp_addr r, l;
  memcpy(&r.ss, remote, remotelen);
  r.len = remotelen;
  /* The source address the kernel would pick for this destination, with our port. */
  l = *udp_socket_local(ep->sock);
  int probe = socket(remote->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (probe >= 0) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (connect(probe, remote, remotelen) == 0 && getsockname(probe, (struct sockaddr *)&ss, &sl) == 0 &&
        ss.ss_family == l.ss.ss_family) {
      if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&l.ss)->sin_addr = ((struct sockaddr_in *)&ss)->sin_addr;
      else
        ((struct sockaddr_in6 *)&l.ss)->sin6_addr = ((struct sockaddr_in6 *)&ss)->sin6_addr;
    }
    close(probe);
  }
  if (remote->sa_family != l.ss.ss_family) {
    snprintf(err, errlen, "the endpoint's address family does not match the remote address");
    return NULL;
  }
  quic_conn *c = conn_alloc(ep, &l, &r, 0);
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  c->handler = handler;
  c->handler_data = handler_data;
  ngtcp2_callbacks cb;
  fill_callbacks(&cb, 0);
  ngtcp2_settings s;
  ngtcp2_transport_params p;
  fill_settings(c, &s, &p);
  ngtcp2_cid scid, dcid;
  scid.datalen = QUIC_SCID_LEN;
  quic_endpoint_new_cid(ep, scid.data, scid.datalen);
  dcid.datalen = QUIC_SCID_LEN;
  quic_random(dcid.data, dcid.datalen);
  /* wolfSSL takes the offer as a comma-separated list. */
  char offer[256];
  size_t ol = 0;
  for (size_t i = 0; i < n_alpn; i++) {
    size_t al = strlen(alpn[i]);
    if (al == 0 || al > 255 || strchr(alpn[i], ',') || ol + al + 2 > sizeof offer) {
      snprintf(err, errlen, "invalid ALPN list");
      goto fail;
    }
    if (ol) offer[ol++] = ',';
    memcpy(offer + ol, alpn[i], al);
    ol += al;
  }
  offer[ol] = 0;
  if (ol == 0) {
    snprintf(err, errlen, "no ALPN to offer");
    goto fail;
  }
  if (ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &c->path.path, NGTCP2_PROTO_VER_V1, &cb, &s, &p, NULL, c) != 0) {
    snprintf(err, errlen, "cannot create the QUIC connection");
    goto fail;
  }
  if (make_ssl(c, client_tls)) {
    snprintf(err, errlen, "cannot create the TLS session");
    goto fail;
  }
  if (wolfSSL_UseALPN(c->ssl, offer, (unsigned)ol, WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
    snprintf(err, errlen, "cannot offer ALPN %s", offer);
    goto fail;
  }
  if (host && *host) {
    unsigned char ipbuf[16];
    int is_ip = inet_pton(AF_INET, host, ipbuf) == 1 || inet_pton(AF_INET6, host, ipbuf) == 1;
    if (!is_ip) wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, host, (unsigned short)strlen(host));
    if (tls_ctx_checks_host(client_tls)) {
      int ok = is_ip ? wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(wolfSSL_get0_param(c->ssl), host) == WOLFSSL_SUCCESS
                     : wolfSSL_check_domain_name(c->ssl, host) == WOLFSSL_SUCCESS;
      if (!ok) {
        snprintf(err, errlen, "cannot set the expected host name");
        goto fail;
      }
    }
    snprintf(c->sni, sizeof c->sni, "%s", host);
  }
  ngtcp2_conn_set_tls_native_handle(c->conn, c->ssl);
  if (ep->settings.keep_alive_ms)
    ngtcp2_conn_set_keep_alive_timeout(c->conn, ep->settings.keep_alive_ms * NGTCP2_MILLISECONDS);
  if (conn_attach(c, &scid)) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  quic_conn_flush(c);
  return c;
fail:
  if (c->conn) ngtcp2_conn_del(c->conn);
  if (c->ssl) wolfSSL_free(c->ssl);
  c->conn = NULL;
  c->ssl = NULL;
  uv_close((uv_handle_t *)&c->timer, conn_free_cb);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* I/O */

void quic_conn_read(quic_conn *c, const udp_addr *local, const udp_addr *remote, const uint8_t *data, size_t len,
                    uint8_t ecn) {
  if (c->state == QC_DEAD) return;
  if (c->state == QC_CLOSING) {
    if (c->close_pkt) send_packets(c, c->close_pkt, c->close_pkt_len, 0);
    return;
  }
  if (c->state == QC_DRAINING) return;
  ngtcp2_path path = {
      .local = {.addr = (struct sockaddr *)&local->ss, .addrlen = local->len},
      .remote = {.addr = (struct sockaddr *)&remote->ss, .addrlen = remote->len},
  };
  ngtcp2_pkt_info pi = {.ecn = ecn};
  c->tx_idle = 0;
  c->in_ngtcp2 = 1;
  int rv = ngtcp2_conn_read_pkt(c->conn, &path, &pi, data, len, now_ts());
  after_ngtcp2(c);
  if (rv != 0) {
    LOG_DBG("quic_read_error", "conn=%s error=\"%s\"", c->log_id, ngtcp2_strerror(rv));
    if (c->state <= QC_READY) conn_on_error(c, rv);
    return;
  }
  conn_schedule(c);
}

/* Sends what a full socket buffer left in the stash, oldest first; returns 0 when it is gone. */
static int flush_stash(quic_conn *c) {
  while (c->stash_head) {
    quic_stash *st = c->stash_head;
    if (quic_endpoint_send_now(c->ep, &c->local, &c->remote, st->data, st->len, st->gso) == UDP_SEND_BLOCKED) {
      quic_endpoint_wait_writable(c->ep, c);
      return -1;
    }
    c->stash_head = st->next; /* sent, or refused for good (as a lost packet) */
    if (!c->stash_head) c->stash_tail = NULL;
    free(st);
  }
  return 0;
}

void quic_conn_flush(quic_conn *c) {
  if (c->state >= QC_CLOSING) return;
  if (c->close_requested && !c->closing_flush) {
    conn_close_now(c);
    return;
  }
  if (flush_stash(c)) return;
  /* Each packet gets room for ngtcp2's largest: it writes packets of the path's validated size, but
   * a PMTUD probe is larger, and it is skipped when it does not fit (then the path stays at 1200). */
  size_t mtu = ngtcp2_conn_get_max_tx_udp_payload_size(c->conn);
  /* Packets are written straight into the endpoint's send arena, one GSO batch per window. */
  uint8_t *buf = quic_endpoint_tx_room(c->ep, QUIC_TX_WINDOW);
  if (mtu > 1500) mtu = 1500;
  size_t used = 0, npkts = 0, gso = 0, written = 0;
  int drained = 0;
  ngtcp2_tstamp ts = now_ts();
  ngtcp2_pkt_info pi;
  int budget = 64 * QUIC_TX_BATCH; /* packets per flush; the timer or next event continues */
  for (;;) {
    quic_stream *s = c->pend_head;
    ngtcp2_vec vec[16];
    size_t nvec = 0;
    uint32_t flags = 0;
    int64_t sid = -1;
    quic_dgram *dg = NULL;
    if (c->dg_head && c->state == QC_READY) {
      dg = c->dg_head;
    } else if (s) {
      sid = s->id;
      nvec = stream_unsent(s, vec, 16);
      uint64_t unsent = 0;
      for (size_t i = 0; i < nvec; i++) unsent += vec[i].len;
      if (s->fin_queued && s->sent + unsent == s->end) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      if (s->pnext) flags |= NGTCP2_WRITE_STREAM_FLAG_MORE;
    }
    ngtcp2_ssize ndatalen = -1;
    ngtcp2_ssize n;
    size_t room = mtu;
    if (dg) {
      int accepted = 0;
      ngtcp2_vec dv = {.base = dg->data, .len = dg->len};
      n = ngtcp2_conn_writev_datagram(c->conn, &c->path.path, &pi, buf + used, room, &accepted,
                                      NGTCP2_WRITE_DATAGRAM_FLAG_MORE, 0, &dv, 1, ts);
      if (accepted || n == NGTCP2_ERR_INVALID_ARGUMENT || n < 0) {
        /* sent, or can never be sent (too large / not allowed by the peer): drop it */
        c->dg_head = dg->next;
        if (!c->dg_head) c->dg_tail = NULL;
        free(dg);
      }
      if (n == NGTCP2_ERR_WRITE_MORE) continue;
      if (n == NGTCP2_ERR_INVALID_ARGUMENT || n == NGTCP2_ERR_INVALID_STATE) continue;
    } else {
      n = ngtcp2_conn_writev_stream(c->conn, &c->path.path, &pi, buf + used, room, &ndatalen, flags, sid,
                                    nvec ? vec : NULL, nvec, ts);
    }
    if (n < 0) {
      if (n == NGTCP2_ERR_WRITE_MORE) {
        if (s && ndatalen >= 0) {
          s->sent += (uint64_t)ndatalen;
          stream_check_timed(c, s, ts);
          if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && s->sent == s->end) s->fin_sent = 1;
          if (s->sent == s->end && (!s->fin_queued || s->fin_sent)) stream_pending_del(c, s);
          else { /* round-robin: give the next stream a turn */
            stream_pending_del(c, s);
            stream_pending_add(c, s);
          }
        }
        continue;
      }
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
        if (s) {
          if (n != NGTCP2_ERR_STREAM_DATA_BLOCKED) s->shut = 1;
          stream_pending_del(c, s); /* back on the list when the peer extends the window */
        }
        continue;
      }
      conn_on_error(c, (int)n);
      return;
    }
    if (s && !dg && ndatalen >= 0) {
      s->sent += (uint64_t)ndatalen;
      stream_check_timed(c, s, ts);
      if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && s->sent == s->end) s->fin_sent = 1;
      if (s->sent == s->end && (!s->fin_queued || s->fin_sent)) stream_pending_del(c, s);
    }
    if (n == 0) { /* nothing more to send now (congestion, pacing or flow control) */
      drained = 1;
      break;
    }
    written++;
    if (npkts > 0 && (size_t)n > gso) {
      /* Longer than the batch's segments (a PMTUD probe, or a full packet after a short one): the
       * batch goes without it, and it starts the next. */
      uint8_t *pkt = buf + used;
      int rv = quic_endpoint_tx_commit(c->ep, c, used, npkts > 1 ? gso : 0);
      buf = quic_endpoint_tx_room(c->ep, QUIC_TX_WINDOW);
      if (buf != pkt) memmove(buf, pkt, (size_t)n);
      used = npkts = 0;
      if (rv == UDP_SEND_BLOCKED) { /* stashed behind the batch, as the loop's last */
        quic_endpoint_tx_commit(c->ep, c, (size_t)n, 0);
        break;
      }
    }
    /* GSO batch: equal-size packets; a shorter one ends the batch. */
    if (npkts == 0) gso = (size_t)n;
    used += (size_t)n;
    npkts++;
    if ((size_t)n < gso || npkts == QUIC_TX_BATCH || used + mtu > QUIC_TX_WINDOW) {
      int rv = quic_endpoint_tx_commit(c->ep, c, used, npkts > 1 ? gso : 0);
      used = npkts = 0;
      if (rv == UDP_SEND_BLOCKED) break;
      buf = quic_endpoint_tx_room(c->ep, QUIC_TX_WINDOW);
    }
    if (--budget == 0) {
      conn_schedule(c);
      break;
    }
  }
  if (used) quic_endpoint_tx_commit(c->ep, c, used, npkts > 1 ? gso : 0);
  /* ngtcp2 sets its pacing deadline only here, after the loop: a loop that wrote packets and then
   * got 0 was not held back by pacing, so ngtcp2 had nothing else to send (see pacing_only_due). */
  c->tx_idle = drained && written > 0 && !c->stash_head;
  c->tx_idle_ts = ts;
  ngtcp2_conn_update_pkt_tx_time(c->conn, ts);
  /* Once the lateness ngtcp2 compensates for has reached a millisecond (our timers' resolution), it
   * takes the whole wait away: the deadline is now. The wake-up for it would only drop it; drop it
   * here instead, at the time ngtcp2 set it for. */
  ngtcp2_tstamp exp = ngtcp2_conn_get_expiry(c->conn);
  if (exp <= ts && pacing_only_due(c, ts)) {
    if (handle_expiry(c, ts) || c->state != QC_READY) return; /* closing: its own timer runs */
    c->ep->counts.pacing_now++;
    exp = ngtcp2_conn_get_expiry(c->conn);
  }
  arm_timer_at(c, exp);
}

/* ------------------------------------------------------------------------------------------ */
/* The API for the layer above */

void quic_conn_set_handler(quic_conn *c, const quic_conn_handler *handler, void *user_data) {
  c->handler = handler;
  c->handler_data = user_data;
}

const char *quic_conn_alpn(const quic_conn *c) { return c->alpn; }

int quic_conn_peer_cert(const quic_conn *c, tls_peer *out) {
  if (c->ssl) return tls_peer_read(c->ssl, out);
  if (c->peer) *out = *c->peer;
  else memset(out, 0, sizeof *out);
  return 0;
}
const char *quic_conn_sni(const quic_conn *c) { return c->sni; }
const udp_addr *quic_conn_remote(const quic_conn *c) { return &c->remote; }
int quic_conn_is_server(const quic_conn *c) { return c->is_server; }
const char *quic_conn_log_id(const quic_conn *c) { return c->log_id; }

int64_t quic_conn_open_bidi(quic_conn *c) {
  if (c->state != QC_READY) return QUIC_ERR_CLOSED;
  int64_t sid;
  int rv = ngtcp2_conn_open_bidi_stream(c->conn, &sid, NULL);
  if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) return QUIC_ERR_STREAM_LIMIT;
  return rv ? QUIC_ERR_NOMEM : sid;
}

int64_t quic_conn_open_uni(quic_conn *c) {
  if (c->state != QC_READY) return QUIC_ERR_CLOSED;
  int64_t sid;
  int rv = ngtcp2_conn_open_uni_stream(c->conn, &sid, NULL);
  if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) return QUIC_ERR_STREAM_LIMIT;
  return rv ? QUIC_ERR_NOMEM : sid;
}

static quic_stream *writable_stream(quic_conn *c, int64_t sid, int *err) {
  if (c->state != QC_READY) {
    *err = QUIC_ERR_CLOSED;
    return NULL;
  }
  quic_stream *s = stream_get(c, sid, 1);
  if (!s || s->shut || s->fin_queued) {
    *err = QUIC_ERR_NO_STREAM;
    return NULL;
  }
  return s;
}

int quic_conn_write(quic_conn *c, int64_t sid, chunk *data, size_t off, size_t len) {
  int err = 0;
  quic_stream *s = writable_stream(c, sid, &err);
  if (!s) return err;
  if (len == 0) return 0;
  if (chunk_queue_push(&s->q, data, off, len)) return QUIC_ERR_NOMEM;
  s->end += len;
  stream_pending_add(c, s);
  conn_schedule(c);
  return 0;
}

int quic_conn_write_copy(quic_conn *c, int64_t sid, const void *data, size_t len) {
  chunk *k = chunk_from(data, len);
  if (!k) return QUIC_ERR_NOMEM;
  int rv = quic_conn_write(c, sid, k, 0, len);
  chunk_unref(k);
  return rv;
}

int quic_conn_finish(quic_conn *c, int64_t sid) {
  int err = 0;
  quic_stream *s = writable_stream(c, sid, &err);
  if (!s) return err;
  s->fin_queued = 1;
  stream_pending_add(c, s);
  conn_schedule(c);
  return 0;
}

int quic_conn_reset_stream(quic_conn *c, int64_t sid, uint64_t code) {
  if (c->state != QC_READY) return QUIC_ERR_CLOSED;
  quic_stream *s = stream_get(c, sid, 0);
  if (s) {
    s->shut = 1;
    stream_pending_del(c, s);
    stream_drop_data(s);
  }
  if (ngtcp2_conn_shutdown_stream_write(c->conn, 0, sid, code) != 0) return QUIC_ERR_NO_STREAM;
  conn_schedule(c);
  return 0;
}

int quic_conn_stop_sending(quic_conn *c, int64_t sid, uint64_t code) {
  if (c->state != QC_READY) return QUIC_ERR_CLOSED;
  if (ngtcp2_conn_shutdown_stream_read(c->conn, 0, sid, code) != 0) return QUIC_ERR_NO_STREAM;
  conn_schedule(c);
  return 0;
}

int quic_conn_set_priority(quic_conn *c, int64_t sid, uint64_t prio) {
  if (c->state != QC_READY) return QUIC_ERR_CLOSED;
  quic_stream *s = stream_get(c, sid, 1);
  if (!s) return QUIC_ERR_NO_STREAM;
  s->prio = prio;
  if (s->pending) { /* re-sort */
    stream_pending_del(c, s);
    stream_pending_add(c, s);
  }
  return 0;
}

size_t quic_conn_stream_queued(quic_conn *c, int64_t sid) {
  if (c->state != QC_READY) return 0;
  quic_stream *s = stream_get(c, sid, 0);
  return s ? (size_t)(s->end - s->base) : 0;
}

void quic_conn_time_egress(quic_conn *c, int64_t sid, uint64_t ready_ns) {
  if (c->state != QC_READY || !ready_ns) return;
  quic_stream *s = stream_get(c, sid, 0);
  if (!s || s->timed_ready_ns || s->shut || s->sent >= s->end) return;
  s->timed_ready_ns = ready_ns;
  s->timed_end = s->end;
}

int quic_conn_send_datagram(quic_conn *c, const void *data, size_t len) {
  if (c->state != QC_READY) return QUIC_ERR_CLOSED;
  quic_dgram *d = malloc(sizeof *d + len);
  if (!d) return QUIC_ERR_NOMEM;
  d->next = NULL;
  d->len = len;
  memcpy(d->data, data, len);
  if (c->dg_tail) c->dg_tail->next = d;
  else c->dg_head = d;
  c->dg_tail = d;
  conn_schedule(c);
  return 0;
}
