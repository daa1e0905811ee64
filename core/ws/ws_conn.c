/* ws_conn: the WebSocket session: reading through wslay, stream state, the send scheduler, timers and
 * the close sequence. */
#include "ws/ws_conn.h"

#include <wslay/wslay.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/idmap.h"
#include "base/log.h"
#include "base/varint.h"
#include "qmux/qmux_frame.h"
#include "ws/ws_frame.h"

/* QUIC transport error codes, reported in ws_close_info and sent in APPLICATION_CLOSE when the peer
 * breaks the framing (the "webtransport" encoding has no transport close of its own). */
enum {
  WS_CODE_STREAM_LIMIT = 0x04,
  WS_CODE_STREAM_STATE = 0x05,
  WS_CODE_FRAME_ENCODING = 0x07,
  WS_CODE_PROTOCOL_VIOLATION = 0x0a,
};

#define WS_READ_BUF (64 * 1024)
#define WS_WRITE_IOV 128  /* buffers per write request */
#define WS_WRITE_MSGS 32  /* stream messages per write request */
#define WS_MSG_HDR (WS_MESSAGE_HEADER_MAX + QMUX_STREAM_HEADER_MAX)

typedef enum { SEND_OPEN, SEND_FIN_QUEUED, SEND_DONE } send_state;
typedef enum { RECV_OPEN, RECV_FIN, RECV_RESET, RECV_STOPPED } recv_state;

typedef struct ws_stream {
  int64_t id;
  uint64_t prio;
  chunk_queue q;         /* owned: data not yet handed to the socket (q.len bytes) */
  send_state send;       /* SEND_DONE from the start for the peer's uni streams */
  recv_state recv;       /* RECV_FIN from the start for our uni streams */
  int pending;           /* in the send list */
  int done;              /* both sides done: in the done list, reported and freed on the next turn */
  int local;             /* opened by us */
  int blocked;           /* QMux: out of the peer's stream credit, off the send list until MAX_STREAM_DATA */
  uint64_t sent_off;     /* QMux: bytes handed to the socket (the next STREAM offset) */
  uint64_t send_max;     /* QMux: the peer's MAX_STREAM_DATA */
  uint64_t recv_off;     /* QMux: bytes received */
  uint64_t recv_max;     /* QMux: the MAX_STREAM_DATA we gave */
  struct ws_stream *pnext, *pprev; /* send list */
  struct ws_stream *dnext;         /* done list */
} ws_stream;

/* A growable byte buffer (owned data). */
typedef struct wbuf {
  uint8_t *data;
  size_t len, cap;
} wbuf;

/* One libuv write: headers and control bytes it owns, stream data it holds chunk references to. */
typedef struct ws_write {
  uv_write_t req;
  ws_conn *c;
  size_t bytes;
  unsigned nbufs, nrefs, nmsgs;
  uv_buf_t bufs[WS_WRITE_IOV];
  chunk *refs[WS_WRITE_IOV]; /* owned references to the chunks bufs point into */
  uint8_t *ctl;              /* owned: control bytes (bufs[0] when present) */
  uint8_t hdr[WS_WRITE_MSGS][WS_MSG_HDR];
} ws_write;

typedef enum { WC_OPEN, WC_CLOSING, WC_CLOSED } conn_state;

struct ws_conn {
  uv_loop_t *loop;             /* borrowed */
  uv_tcp_t *tcp;               /* owned (malloc, from the HTTP server): freed by its close callback */
  uv_idle_t idle;              /* deferred work: on_ready, flushing, stream closes, the close sequence */
  uv_timer_t timer;            /* keep-alive and idle timeout, then the linger deadline */
  int handles;                 /* libuv handles not yet closed (tcp, idle, timer) */
  int handles_closing;
  wslay_event_context_ptr ws;  /* owned */
  ws_options opts;
  const ws_conn_handler *h;    /* borrowed */
  void *user_data;
  char *path;                  /* owned: URL path and query */
  char remote[64];
  char log_id[16];
  conn_state state;
  int reading;                 /* reading was started (on the first loop turn) */
  int ready_sent;
  int closed_sent;             /* on_closed was called */
  ws_close_info close;
  ws_framing framing;
  char protocol[64];           /* the negotiated subprotocol ("" for none) */
  char alpn[32];               /* the moq ALPN of "qmux-0N.<alpn>" ("" for none) */
  size_t payload_max;          /* largest STREAM payload we send in one message */
  /* QMux flow control (unused with the "webtransport" framing) */
  int params_received;         /* the peer's QX_TRANSPORT_PARAMETERS arrived */
  qmux_params peer;            /* the peer's transport parameters */
  uint64_t send_data, send_max_data;     /* stream bytes sent / the peer's MAX_DATA */
  uint64_t recv_data, recv_max_data;     /* stream bytes received / the MAX_DATA we gave */
  uint64_t peer_streams_limit[2];        /* the peer's MAX_STREAMS bidi / uni: our opens stay below */
  uint64_t our_streams_limit[2];         /* the MAX_STREAMS we gave */
  uint64_t peer_streams_closed[2];       /* the peer's streams that are closed (or were skipped) */
  /* reading */
  uint8_t *rbuf;               /* owned: libuv reads into it */
  wbuf early;                  /* owned: bytes read before the handover, fed after on_ready */
  const uint8_t *in;           /* borrowed: input being fed to wslay */
  size_t in_len;
  uint64_t last_rx_ms;
  int ping_out;                /* a keep-alive ping is unanswered */
  /* streams */
  idmap streams;               /* id -> ws_stream (owned) */
  int64_t next_local[2];       /* our next bidi (0) / uni (1) id */
  int64_t next_peer[2];        /* the peer's next new bidi / uni id; below: opened or closed */
  size_t n_local, n_peer;      /* open (not done) streams by initiator */
  int local_blocked;           /* an open failed for the limit */
  ws_stream *send_head, *send_tail; /* streams with something to send, highest priority first */
  ws_stream *done_head;
  /* writing */
  wbuf ctl;                    /* owned: whole WebSocket messages sent before stream data */
  size_t inflight;             /* bytes in write requests not yet completed */
  size_t writes;               /* write requests not yet completed */
};

static void kick(ws_conn *c);
static void fail(ws_conn *c, uint64_t code, const char *why);

static uint64_t now_ms(ws_conn *c) { return uv_now(c->loop); }

/* ------------------------------------------------------------------------------------------ */
/* Buffers */

static int wbuf_append(wbuf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

static void wbuf_free(wbuf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

/* Queues one whole binary message holding frame[0..len) as control output. */
static int queue_control(ws_conn *c, const uint8_t *frame, size_t len) {
  uint8_t hdr[WS_MESSAGE_HEADER_MAX];
  size_t hl = ws_frame_message_header(hdr, WSLAY_BINARY_FRAME, len);
  if (c->ctl.len + hl + len > c->opts.max_control) {
    fail(c, WS_CODE_PROTOCOL_VIOLATION, "the peer does not read its control frames");
    return -1;
  }
  if (wbuf_append(&c->ctl, hdr, hl) || wbuf_append(&c->ctl, frame, len)) return -1;
  kick(c);
  return 0;
}

static int is_qmux(const ws_conn *c) { return c->framing != WS_FRAMING_WEBTRANSPORT; }

/* Queues one QMux control frame (qmux_frame_encode) as its own message. */
static int queue_qmux(ws_conn *c, const qmux_frame *f) {
  uint8_t b[QMUX_CONTROL_FRAME_MAX];
  size_t n = qmux_frame_encode(b, f);
  return n ? queue_control(c, b, n) : 0;
}

/* RESET_STREAM or STOP_SENDING in the session's framing. */
static int queue_stream_control(ws_conn *c, uint8_t type, int64_t sid, uint64_t code, uint64_t final_size) {
  if (is_qmux(c)) {
    qmux_frame f = {.type = type, .stream_id = (uint64_t)sid, .code = code, .value = final_size};
    return queue_qmux(c, &f);
  }
  uint8_t r[WS_CONTROL_FRAME_MAX];
  size_t n = ws_frame_stream_control(r, type, (uint64_t)sid, code);
  return n ? queue_control(c, r, n) : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Streams */

static int kind_of(int64_t sid) { return (sid & 2) ? 1 : 0; }
static int is_local(int64_t sid) { return (sid & 1) != 0; }

static void send_list_add(ws_conn *c, ws_stream *s) {
  if (s->pending) return;
  s->pending = 1;
  ws_stream *after = c->send_tail;
  while (after && after->prio < s->prio) after = after->pprev;
  s->pprev = after;
  s->pnext = after ? after->pnext : c->send_head;
  if (s->pnext) s->pnext->pprev = s;
  else c->send_tail = s;
  if (after) after->pnext = s;
  else c->send_head = s;
}

static void send_list_del(ws_conn *c, ws_stream *s) {
  if (!s->pending) return;
  if (s->pprev) s->pprev->pnext = s->pnext;
  else c->send_head = s->pnext;
  if (s->pnext) s->pnext->pprev = s->pprev;
  else c->send_tail = s->pprev;
  s->pending = 0;
  s->pnext = s->pprev = NULL;
}

static void drop_data(ws_stream *s) { chunk_queue_clear(&s->q); }

static ws_stream *stream_new(ws_conn *c, int64_t sid, int local) {
  ws_stream *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->id = sid;
  s->prio = UINT64_MAX;
  s->local = local;
  if (idmap_put(&c->streams, (uint64_t)sid, s)) {
    free(s);
    return NULL;
  }
  if (kind_of(sid)) { /* uni: only one side exists */
    if (local) s->recv = RECV_FIN;
    else s->send = SEND_DONE;
  }
  if (is_qmux(c)) {
    s->recv_max = c->opts.qmux_max_stream_data; /* the same window for every kind of stream */
    s->send_max = kind_of(sid) ? c->peer.initial_max_stream_data_uni
                  : local      ? c->peer.initial_max_stream_data_bidi_remote
                               : c->peer.initial_max_stream_data_bidi_local;
  }
  if (local) c->n_local++;
  else c->n_peer++;
  return s;
}

/* Both directions done: the stream is reported closed and freed on the next turn. */
static void maybe_done(ws_conn *c, ws_stream *s) {
  if (s->done || s->send != SEND_DONE || s->recv == RECV_OPEN) return;
  s->done = 1;
  if (s->local) c->n_local--; /* no longer open, though freed only on the next turn */
  else c->n_peer--;
  if (!s->local && is_qmux(c)) { /* give the peer a new stream for each closed one, in batches */
    int k = kind_of(s->id);
    c->peer_streams_closed[k]++;
    uint64_t limit = c->peer_streams_closed[k] + c->opts.max_streams;
    uint64_t batch = c->opts.max_streams / 8 ? c->opts.max_streams / 8 : 1;
    if (limit >= c->our_streams_limit[k] + batch) {
      c->our_streams_limit[k] = limit;
      qmux_frame f = {.type = k ? QMUX_MAX_STREAMS_UNI : QMUX_MAX_STREAMS_BIDI, .value = limit};
      queue_qmux(c, &f);
    }
  }
  send_list_del(c, s);
  drop_data(s);
  s->dnext = c->done_head;
  c->done_head = s;
  kick(c);
}

static void stream_free(ws_conn *c, ws_stream *s) {
  idmap_del(&c->streams, (uint64_t)s->id);
  send_list_del(c, s);
  drop_data(s);
  free(s);
}

static void free_all_streams(ws_conn *c) {
  size_t pos = 0;
  uint64_t key;
  void *val;
  while (idmap_next(&c->streams, &pos, &key, &val)) {
    ws_stream *s = val;
    drop_data(s);
    free(s);
  }
  idmap_free(&c->streams);
  c->send_head = c->send_tail = c->done_head = NULL;
  c->n_local = c->n_peer = 0;
}

/* Reports and frees the streams that closed. */
static void report_done(ws_conn *c) {
  while (c->done_head && c->state == WC_OPEN) {
    ws_stream *s = c->done_head;
    c->done_head = s->dnext;
    int64_t sid = s->id;
    stream_free(c, s);
    if (c->h && c->h->on_stream_closed) c->h->on_stream_closed(c, sid, c->user_data);
  }
  if (c->local_blocked && c->state == WC_OPEN && c->n_local < c->opts.max_streams &&
      (!is_qmux(c) || ((uint64_t)c->next_local[0] >> 2) < c->peer_streams_limit[0] ||
       ((uint64_t)c->next_local[1] >> 2) < c->peer_streams_limit[1])) {
    c->local_blocked = 0;
    if (c->h && c->h->on_streams_available) c->h->on_streams_available(c, c->user_data);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Writing */

static void on_write(uv_write_t *req, int status) {
  ws_write *w = req->data;
  ws_conn *c = w->c;
  c->inflight -= w->bytes;
  c->writes--;
  for (unsigned i = 0; i < w->nrefs; i++) chunk_unref(w->refs[i]);
  free(w->ctl);
  free(w);
  if (status < 0 && status != UV_ECANCELED && c->state == WC_OPEN) {
    c->close.by_peer = 1;
    snprintf(c->close.reason, sizeof c->close.reason, "write failed: %s", uv_strerror(status));
    LOG_INF("ws_write_failed", "conn=%s error=\"%s\"", c->log_id, uv_strerror(status));
    c->state = WC_CLOSING;
    wslay_event_shutdown_write(c->ws);
    wslay_event_shutdown_read(c->ws);
  }
  kick(c);
}

/* Appends one stream message from s to w: the header, then slices of s's queue as buffers of w.
 * Returns 0, or -1 if w has no room left for it. */
static int emit_message(ws_conn *c, ws_write *w, ws_stream *s) {
  if (w->nmsgs == WS_WRITE_MSGS || w->nbufs + 2 > WS_WRITE_IOV) return -1;
  /* The payload: at most payload_max, within the peer's flow control credit (QMux), and no more
   * slices than w has buffers for. */
  size_t limit = c->payload_max;
  if (is_qmux(c) && s->q.len) {
    uint64_t conn_credit = c->send_max_data - c->send_data, stream_credit = s->send_max - s->sent_off;
    if (stream_credit == 0) { /* wait for MAX_STREAM_DATA; the others go on */
      s->blocked = 1;
      send_list_del(c, s);
      return 0;
    }
    if (conn_credit == 0) return -1; /* wait for MAX_DATA */
    if (stream_credit < limit) limit = (size_t)stream_credit;
    if (conn_credit < limit) limit = (size_t)conn_credit;
  }
  size_t room = WS_WRITE_IOV - w->nbufs - 1, payload = 0;
  for (chunk_seg *g = s->q.head; g && room && payload < limit; g = g->next, room--)
    payload += g->len;
  if (payload > limit) payload = limit;
  if (payload == 0 && s->q.len) return -1;
  int fin = payload == s->q.len && s->send == SEND_FIN_QUEUED;
  if (payload == 0 && !fin) { /* nothing to send after all */
    send_list_del(c, s);
    return 0;
  }
  uint8_t sh[QMUX_STREAM_HEADER_MAX];
  size_t shl = is_qmux(c) ? qmux_frame_stream_header(sh, (uint64_t)s->id, s->sent_off, payload, fin)
                          : ws_frame_stream_header(sh, (uint64_t)s->id, fin);
  s->sent_off += payload;
  c->send_data += payload;
  uint8_t *hdr = w->hdr[w->nmsgs++];
  size_t mhl = ws_frame_message_header(hdr, WSLAY_BINARY_FRAME, shl + payload);
  memcpy(hdr + mhl, sh, shl);
  w->bufs[w->nbufs++] = uv_buf_init((char *)hdr, (unsigned)(mhl + shl));
  w->bytes += mhl + shl + payload;
  size_t left = payload;
  for (chunk_seg *g = s->q.head; left; g = g->next) { /* the write takes its own references */
    size_t take = g->len < left ? g->len : left;
    w->bufs[w->nbufs++] = uv_buf_init((char *)g->data->data + g->off, (unsigned)take);
    w->refs[w->nrefs++] = chunk_ref(g->data);
    left -= take;
  }
  chunk_queue_drop(&s->q, payload);
  send_list_del(c, s);
  if (fin) {
    s->send = SEND_DONE;
    maybe_done(c, s);
  } else if (s->q.len || s->send == SEND_FIN_QUEUED) {
    send_list_add(c, s); /* behind the streams of the same priority: they take turns */
  }
  return 0;
}

static ssize_t wslay_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud) {
  ws_conn *c = ud;
  if (wbuf_append(&c->ctl, data, len)) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

/* Hands control output, then stream messages by priority, to libuv, up to max_inflight bytes. */
static void flush(ws_conn *c) {
  if (c->state == WC_CLOSED || !c->tcp || uv_is_closing((uv_handle_t *)c->tcp)) return;
  if (wslay_event_want_write(c->ws)) wslay_event_send(c->ws); /* pongs, the close frame */
  while (c->inflight < c->opts.max_inflight) {
    int data = c->state == WC_OPEN && c->send_head;
    if (!c->ctl.len && !data) break;
    ws_write *w = calloc(1, sizeof *w);
    if (!w) {
      fail(c, WS_CODE_PROTOCOL_VIOLATION, "out of memory");
      return;
    }
    w->c = c;
    w->req.data = w;
    if (c->ctl.len) {
      w->ctl = c->ctl.data;
      w->bufs[w->nbufs++] = uv_buf_init((char *)c->ctl.data, (unsigned)c->ctl.len);
      w->bytes += c->ctl.len;
      memset(&c->ctl, 0, sizeof c->ctl);
    }
    while (c->state == WC_OPEN && c->send_head && c->inflight + w->bytes < c->opts.max_inflight)
      if (emit_message(c, w, c->send_head) < 0) break;
    if (!w->nbufs) {
      free(w);
      break;
    }
    int rv = uv_write(&w->req, (uv_stream_t *)c->tcp, w->bufs, w->nbufs, on_write);
    if (rv < 0) {
      for (unsigned i = 0; i < w->nrefs; i++) chunk_unref(w->refs[i]);
      free(w->ctl);
      free(w);
      if (c->state == WC_OPEN) {
        c->close.by_peer = 1;
        snprintf(c->close.reason, sizeof c->close.reason, "write failed: %s", uv_strerror(rv));
        c->state = WC_CLOSING;
      }
      wslay_event_shutdown_write(c->ws);
      return;
    }
    c->inflight += w->bytes;
    c->writes++;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Closing */

static void on_handle_closed(uv_handle_t *h) {
  ws_conn *c = h->data;
  if (h == (uv_handle_t *)c->tcp) {
    free(c->tcp);
    c->tcp = NULL;
  }
  if (--c->handles > 0) return;
  free_all_streams(c);
  wslay_event_context_free(c->ws);
  wbuf_free(&c->ctl);
  wbuf_free(&c->early);
  free(c->rbuf);
  free(c->path);
  free(c);
}

static void close_handles(ws_conn *c) {
  if (c->handles_closing) return;
  c->handles_closing = 1;
  uv_idle_stop(&c->idle);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->idle, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_linger(uv_timer_t *t) {
  ws_conn *c = t->data;
  if (c->writes) LOG_DBG("ws_linger_expired", "conn=%s unwritten=%zu", c->log_id, c->inflight);
  close_handles(c);
}

/* The close sequence, from the idle step: tell the layer above, write the close frames, close. */
static void closing_step(ws_conn *c) {
  if (!c->closed_sent) {
    c->closed_sent = 1;
    uv_read_stop((uv_stream_t *)c->tcp);
    char rq[160];
    LOG_INF("ws_closed", "conn=%s by_peer=%d code=%llu reason=%s", c->log_id, c->close.by_peer,
            (unsigned long long)c->close.code, log_quote(rq, sizeof rq, c->close.reason));
    free_all_streams(c); /* their queued data will not be sent */
    if (c->h && c->h->on_closed) c->h->on_closed(c, &c->close, c->user_data);
    c->h = NULL;
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_linger, c->opts.linger_ms, 0);
  }
  flush(c);
  if (!c->writes && !c->ctl.len && !wslay_event_want_write(c->ws)) close_handles(c);
}

/* Starts the close: APPLICATION_CLOSE (unless the peer closed), then a WebSocket close. */
static void begin_close(ws_conn *c, int by_peer, int app, uint64_t code, const char *reason, uint16_t ws_code) {
  if (c->state != WC_OPEN) return;
  c->state = WC_CLOSING;
  c->close.by_peer = by_peer;
  c->close.code = code;
  snprintf(c->close.reason, sizeof c->close.reason, "%s", reason ? reason : "");
  if (!by_peer && !wslay_event_get_close_sent(c->ws)) {
    uint8_t f[140];
    size_t n = is_qmux(c) ? qmux_frame_close(f, sizeof f, app, code, reason)
                          : ws_frame_application_close(f, sizeof f, code, reason);
    uint8_t hdr[WS_MESSAGE_HEADER_MAX];
    size_t hl = ws_frame_message_header(hdr, WSLAY_BINARY_FRAME, n);
    if (n) {
      wbuf_append(&c->ctl, hdr, hl);
      wbuf_append(&c->ctl, f, n);
    }
  }
  char r[124];
  snprintf(r, sizeof r, "%s", ws_code == 1000 ? "" : reason ? reason : "");
  wslay_event_queue_close(c->ws, ws_code, (const uint8_t *)r, strlen(r)); /* fails harmlessly if sent */
  wslay_event_shutdown_read(c->ws);
  kick(c);
}

/* The peer broke the protocol: log it and close this session only. */
static void fail(ws_conn *c, uint64_t code, const char *why) {
  if (c->state != WC_OPEN) return;
  LOG_WRN("ws_protocol_error", "conn=%s remote=%s code=%llu reason=\"%s\"", c->log_id, c->remote,
          (unsigned long long)code, why);
  begin_close(c, 0, 0, code, why, WSLAY_CODE_PROTOCOL_ERROR);
}

void ws_conn_close(ws_conn *c, uint64_t code, const char *reason) {
  begin_close(c, 0, 1, code, reason, WSLAY_CODE_NORMAL_CLOSURE);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading */

/* Which side may send on a stream: the peer on its own streams and on our bidi streams. */
static int peer_may_send(int64_t sid) { return !is_local(sid) || !kind_of(sid); }
/* We may send on ours and on the peer's bidi streams. */
static int we_may_send(int64_t sid) { return is_local(sid) || !kind_of(sid); }

/* The stream a peer frame names: existing, newly opened by the peer (create), or NULL for a stream
 * already closed (the frame is dropped). Sets *bad (and *code) for an id the peer may not use. */
static ws_stream *peer_stream(ws_conn *c, int64_t sid, int create, const char **bad, uint64_t *code) {
  ws_stream *s = idmap_get(&c->streams, (uint64_t)sid);
  if (s) return s->done ? NULL : s;
  int k = kind_of(sid);
  *code = WS_CODE_STREAM_STATE;
  if (is_local(sid)) {
    if (sid >= c->next_local[k]) *bad = "a frame for a stream we never opened";
    return NULL;
  }
  if (sid < c->next_peer[k]) return NULL; /* closed */
  if (is_qmux(c) && ((uint64_t)sid >> 2) >= c->our_streams_limit[k]) {
    *code = WS_CODE_STREAM_LIMIT;
    *bad = "a stream beyond the MAX_STREAMS we gave";
    return NULL;
  }
  /* Ids skipped over (QUIC opens them implicitly) are closed at once, and so is this one if the
   * frame does not open it: the peer gets them back in MAX_STREAMS. */
  c->peer_streams_closed[k] += (uint64_t)(sid - c->next_peer[k]) / 4 + (create ? 0 : 1);
  c->next_peer[k] = sid + 4;
  if (!create) return NULL;
  if (c->n_peer >= c->opts.max_streams) {
    *code = WS_CODE_STREAM_LIMIT;
    *bad = "too many open streams";
    return NULL;
  }
  s = stream_new(c, sid, 0);
  if (!s) *bad = "out of memory";
  return s;
}

/* QMux: the peer's data took len bytes of our window; extend it once half is used. */
static void grant_credit(ws_conn *c, ws_stream *s, size_t len) {
  uint64_t window = c->opts.qmux_max_data;
  if (c->recv_max_data - c->recv_data < window / 2) {
    c->recv_max_data = c->recv_data + window;
    qmux_frame f = {.type = QMUX_MAX_DATA, .value = c->recv_max_data};
    if (queue_qmux(c, &f)) return;
  }
  window = c->opts.qmux_max_stream_data;
  if (s && s->recv == RECV_OPEN && s->recv_max - s->recv_off < window / 2) {
    s->recv_max = s->recv_off + window;
    qmux_frame f = {.type = QMUX_MAX_STREAM_DATA, .stream_id = (uint64_t)s->id, .value = s->recv_max};
    queue_qmux(c, &f);
  }
  (void)len;
}

/* STREAM: has_offset/offset only with QMux (where data must arrive in order). */
static void on_stream_frame(ws_conn *c, int64_t sid, const uint8_t *data, size_t len, int fin, int has_offset,
                            uint64_t offset) {
  if (!peer_may_send(sid)) return fail(c, WS_CODE_STREAM_STATE, "data on a stream the peer may not write");
  const char *bad = NULL;
  uint64_t code = 0;
  ws_stream *s = peer_stream(c, sid, 1, &bad, &code);
  if (bad) return fail(c, code, bad);
  if (is_qmux(c)) {
    if (c->recv_data + len > c->recv_max_data) return fail(c, QMUX_ERR_CODE_FLOW_CONTROL, "data beyond MAX_DATA");
    c->recv_data += len;
    if (s) { /* flow control by the highest offset, as QUIC; then the order a reliable stream keeps */
      uint64_t at = has_offset ? offset : s->recv_off;
      if (at + len > s->recv_max) return fail(c, QMUX_ERR_CODE_FLOW_CONTROL, "data beyond MAX_STREAM_DATA");
      if (at != s->recv_off && s->recv != RECV_STOPPED)
        return fail(c, WS_CODE_PROTOCOL_VIOLATION, "STREAM data out of order");
      s->recv_off += len;
    }
    grant_credit(c, s, len);
    if (c->state != WC_OPEN) return;
  }
  if (!s) return;
  if (s->recv == RECV_STOPPED) return; /* we asked it to stop: what was in flight is dropped */
  if (s->recv != RECV_OPEN) return fail(c, WS_CODE_STREAM_STATE, "data after the end of a stream");
  if (fin) s->recv = RECV_FIN;
  if (c->h && c->h->on_stream_data) c->h->on_stream_data(c, sid, data, len, fin, c->user_data);
  if (fin) maybe_done(c, s);
}

static void on_reset_frame(ws_conn *c, int64_t sid, uint64_t err) {
  if (!peer_may_send(sid)) return fail(c, WS_CODE_STREAM_STATE, "RESET_STREAM for a stream the peer may not write");
  const char *bad = NULL;
  uint64_t code = 0;
  ws_stream *s = peer_stream(c, sid, 0, &bad, &code);
  if (bad) return fail(c, code, bad);
  if (!s || s->recv == RECV_FIN || s->recv == RECV_RESET) return;
  int tell = s->recv == RECV_OPEN;
  s->recv = RECV_RESET;
  if (tell && c->h && c->h->on_stream_reset) c->h->on_stream_reset(c, sid, err, c->user_data);
  maybe_done(c, s);
}

static void on_stop_frame(ws_conn *c, int64_t sid, uint64_t err) {
  if (!we_may_send(sid)) return fail(c, WS_CODE_STREAM_STATE, "STOP_SENDING for a stream only the peer writes");
  const char *bad = NULL;
  uint64_t code = 0;
  ws_stream *s = peer_stream(c, sid, 0, &bad, &code);
  if (bad) return fail(c, code, bad);
  if (!s || s->send == SEND_DONE) return;
  /* Answered as QUIC does: our side is reset with the same code. */
  drop_data(s);
  send_list_del(c, s);
  s->send = SEND_DONE;
  if (queue_stream_control(c, WS_FRAME_RESET_STREAM, sid, err, s->sent_off)) return;
  if (c->h && c->h->on_stream_stop) c->h->on_stream_stop(c, sid, err, c->user_data);
  maybe_done(c, s);
}

static void close_by_peer(ws_conn *c, uint64_t code, const uint8_t *data, size_t len) {
  char reason[128];
  size_t n = len < sizeof reason - 1 ? len : sizeof reason - 1;
  memcpy(reason, data, n);
  reason[n] = 0;
  begin_close(c, 1, 1, code, reason, WSLAY_CODE_NORMAL_CLOSURE);
}

/* One message in the "webtransport" framing: one frame. */
static void on_webtransport_message(ws_conn *c, const uint8_t *msg, size_t len) {
  ws_frame f;
  int rv = ws_frame_decode(msg, len, &f);
  if (rv != WS_FRAME_OK) {
    char why[64];
    snprintf(why, sizeof why, "%s (type 0x%02x)", ws_frame_error_name(rv), len ? msg[0] : 0);
    return fail(c, WS_CODE_FRAME_ENCODING, why);
  }
  switch (f.type) {
  case WS_FRAME_STREAM: on_stream_frame(c, (int64_t)f.stream_id, f.data, f.len, f.fin, 0, 0); break;
  case WS_FRAME_RESET_STREAM: on_reset_frame(c, (int64_t)f.stream_id, f.code); break;
  case WS_FRAME_STOP_SENDING: on_stop_frame(c, (int64_t)f.stream_id, f.code); break;
  case WS_FRAME_APPLICATION_CLOSE: close_by_peer(c, f.code, f.data, f.len); break;
  }
}

/* Our opens blocked on the peer's MAX_STREAMS may go on. */
static void streams_raised(ws_conn *c) {
  if (c->local_blocked) kick(c); /* report_done tells the layer above */
}

/* The peer's transport parameters: the credit our sending starts with. Then the session is ready. */
static void on_params(ws_conn *c, const qmux_frame *f) {
  if (c->params_received) return fail(c, WS_CODE_PROTOCOL_VIOLATION, "a second QX_TRANSPORT_PARAMETERS");
  if (qmux_params_decode(f->data, f->len, &c->peer) != QMUX_OK)
    return fail(c, QMUX_ERR_CODE_TRANSPORT_PARAMETER, "malformed QX_TRANSPORT_PARAMETERS");
  if (c->framing == WS_FRAMING_QMUX01 && c->peer.max_record_size < QMUX_DEFAULT_MAX_RECORD_SIZE)
    return fail(c, QMUX_ERR_CODE_TRANSPORT_PARAMETER, "max_record_size below 16382");
  c->params_received = 1;
  c->send_max_data = c->peer.initial_max_data;
  c->peer_streams_limit[0] = c->peer.initial_max_streams_bidi;
  c->peer_streams_limit[1] = c->peer.initial_max_streams_uni;
  if (c->framing == WS_FRAMING_QMUX01 && c->peer.max_record_size - QMUX_STREAM_HEADER_MAX < c->payload_max)
    c->payload_max = (size_t)(c->peer.max_record_size - QMUX_STREAM_HEADER_MAX);
  LOG_DBG("qmux_params", "conn=%s max_data=%llu stream_data=%llu/%llu/%llu streams=%llu/%llu record=%llu", c->log_id,
          (unsigned long long)c->peer.initial_max_data, (unsigned long long)c->peer.initial_max_stream_data_bidi_local,
          (unsigned long long)c->peer.initial_max_stream_data_bidi_remote,
          (unsigned long long)c->peer.initial_max_stream_data_uni, (unsigned long long)c->peer.initial_max_streams_bidi,
          (unsigned long long)c->peer.initial_max_streams_uni, (unsigned long long)c->peer.max_record_size);
  if (!c->ready_sent) {
    c->ready_sent = 1;
    if (c->h && c->h->on_ready) c->h->on_ready(c, c->user_data);
  }
}

static void on_max_stream_data(ws_conn *c, int64_t sid, uint64_t max) {
  if (!we_may_send(sid)) return fail(c, WS_CODE_STREAM_STATE, "MAX_STREAM_DATA for a stream only the peer writes");
  const char *bad = NULL;
  uint64_t code = 0;
  ws_stream *s = peer_stream(c, sid, 0, &bad, &code);
  if (bad) return fail(c, code, bad);
  if (!s || max <= s->send_max) return;
  s->send_max = max;
  if (s->blocked) {
    s->blocked = 0;
    if (s->q.len || s->send == SEND_FIN_QUEUED) send_list_add(c, s);
    kick(c);
  }
}

/* One QMux frame; returns 0 to go on with the message, -1 to stop (the session is closing). */
static int on_qmux_frame(ws_conn *c, const qmux_frame *f) {
  if (!c->params_received && f->type != QMUX_TRANSPORT_PARAMETERS) {
    fail(c, WS_CODE_PROTOCOL_VIOLATION, "the first frame is not QX_TRANSPORT_PARAMETERS");
    return -1;
  }
  int64_t sid = (int64_t)f->stream_id;
  switch (f->type) {
  case QMUX_PADDING: break;
  case QMUX_STREAM: on_stream_frame(c, sid, f->data, f->len, f->fin, f->has_offset, f->offset); break;
  case QMUX_RESET_STREAM:
  case QMUX_RESET_STREAM_AT: on_reset_frame(c, sid, f->code); break;
  case QMUX_STOP_SENDING: on_stop_frame(c, sid, f->code); break;
  case QMUX_MAX_DATA:
    if (f->value > c->send_max_data) {
      c->send_max_data = f->value;
      kick(c);
    }
    break;
  case QMUX_MAX_STREAM_DATA: on_max_stream_data(c, sid, f->value); break;
  case QMUX_MAX_STREAMS_BIDI:
  case QMUX_MAX_STREAMS_UNI: {
    int k = f->type == QMUX_MAX_STREAMS_UNI;
    if (f->value > c->peer_streams_limit[k]) {
      c->peer_streams_limit[k] = f->value;
      streams_raised(c);
    }
    break;
  }
  case QMUX_DATA_BLOCKED:
  case QMUX_STREAMS_BLOCKED_BIDI:
  case QMUX_STREAMS_BLOCKED_UNI: break; /* informational: our credit follows what we consume */
  case QMUX_STREAM_DATA_BLOCKED:
    if (!peer_may_send(sid)) fail(c, WS_CODE_STREAM_STATE, "STREAM_DATA_BLOCKED for a stream only we write");
    break;
  case QMUX_CONNECTION_CLOSE:
  case QMUX_APPLICATION_CLOSE: close_by_peer(c, f->code, f->data, f->len); break;
  case QMUX_DATAGRAM: fail(c, WS_CODE_PROTOCOL_VIOLATION, "a DATAGRAM, which we did not allow"); break;
  default:
    if (f->type == QMUX_TRANSPORT_PARAMETERS) {
      on_params(c, f);
    } else if (f->type == QMUX_PING_REQUEST) {
      qmux_frame r = {.type = QMUX_PING_RESPONSE, .value = f->value};
      queue_qmux(c, &r);
    } else if (f->type == QMUX_PING_RESPONSE) {
      /* we send no QX_PING: a response is unsolicited but harmless */
    }
    break;
  }
  return c->state == WC_OPEN ? 0 : -1;
}

/* One message in a QMux framing: frames until its end (draft-01: one record; draft-00: one frame,
 * but more are accepted). */
static void on_qmux_message(ws_conn *c, const uint8_t *msg, size_t len) {
  if (len == 0) return fail(c, WS_CODE_FRAME_ENCODING, "an empty message");
  while (len && c->state == WC_OPEN) {
    qmux_frame f;
    size_t used = 0;
    int rv = qmux_frame_decode(msg, len, &f, &used);
    if (rv != QMUX_OK) {
      char why[80];
      uint64_t type = 0;
      size_t tl = 0;
      if (varint_decode(msg, len, &type, &tl) != VARINT_OK) type = msg[0];
      snprintf(why, sizeof why, "%s (frame type 0x%llx)", qmux_frame_error_name(rv), (unsigned long long)type);
      return fail(c, WS_CODE_FRAME_ENCODING, why);
    }
    if (on_qmux_frame(c, &f)) return;
    msg += used;
    len -= used;
  }
}

static void on_message(ws_conn *c, const uint8_t *msg, size_t len) {
  if (is_qmux(c)) on_qmux_message(c, msg, len);
  else on_webtransport_message(c, msg, len);
}

static void wslay_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud) {
  ws_conn *c = ud;
  if (c->state != WC_OPEN) return;
  switch (arg->opcode) {
  case WSLAY_BINARY_FRAME: on_message(c, arg->msg, arg->msg_length); break;
  case WSLAY_TEXT_FRAME: fail(c, WS_CODE_PROTOCOL_VIOLATION, "a text message"); break;
  case WSLAY_CONNECTION_CLOSE: {
    char reason[64];
    snprintf(reason, sizeof reason, "websocket close %u", arg->status_code);
    begin_close(c, 1, 1, 0, reason, arg->status_code ? arg->status_code : WSLAY_CODE_NORMAL_CLOSURE);
    break;
  }
  case WSLAY_PONG: c->ping_out = 0; break;
  default: break; /* pings are answered by wslay */
  }
  if (c->state != WC_OPEN) wslay_event_shutdown_read(ctx);
}

static ssize_t wslay_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud) {
  ws_conn *c = ud;
  if (!c->in_len) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = c->in_len < len ? c->in_len : len;
  memcpy(buf, c->in, n);
  c->in += n;
  c->in_len -= n;
  return (ssize_t)n;
}

static int wslay_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud) {
  memset(buf, 0, len); /* servers do not mask */
  return 0;
}

static const struct wslay_event_callbacks wslay_callbacks = {
    .recv_callback = wslay_recv_cb,
    .send_callback = wslay_send_cb,
    .genmask_callback = wslay_genmask_cb,
    .on_msg_recv_callback = wslay_msg_cb,
};

/* Feeds received bytes to wslay (which calls wslay_msg_cb for each complete message). */
static void feed(ws_conn *c, const uint8_t *data, size_t len) {
  if (c->state != WC_OPEN) return;
  c->last_rx_ms = now_ms(c);
  c->in = data;
  c->in_len = len;
  int rv = wslay_event_recv(c->ws);
  c->in = NULL;
  c->in_len = 0;
  if (c->state == WC_OPEN && (rv != 0 || !wslay_event_get_read_enabled(c->ws))) {
    /* wslay refused the framing (unmasked or unknown frame, bad close, a message over the limit) and
     * queued a WebSocket close with its code; tell the session and finish the close. */
    wslay_event_send(c->ws); /* the close wslay queued: its code says what was wrong */
    uint16_t code = wslay_event_get_status_code_sent(c->ws);
    fail(c, WS_CODE_PROTOCOL_VIOLATION,
         rv == WSLAY_ERR_NOMEM                 ? "out of memory"
         : code == WSLAY_CODE_MESSAGE_TOO_BIG  ? "a message over the size limit"
         : code == WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA ? "invalid UTF-8 in a text or close frame"
                                               : "a WebSocket framing error");
  }
  kick(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  ws_conn *c = h->data;
  *buf = uv_buf_init((char *)c->rbuf, WS_READ_BUF);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  ws_conn *c = st->data;
  if (nread > 0) {
    feed(c, (const uint8_t *)buf->base, (size_t)nread);
  } else if (nread < 0) {
    uv_read_stop(st);
    if (c->state == WC_OPEN) {
      c->state = WC_CLOSING;
      c->close.by_peer = 1;
      snprintf(c->close.reason, sizeof c->close.reason, "%s",
               nread == UV_EOF ? "the peer closed the connection" : uv_strerror((int)nread));
      wslay_event_shutdown_read(c->ws);
    }
    kick(c);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Deferred work and timers */

static void on_idle(uv_idle_t *h) {
  ws_conn *c = h->data;
  uv_idle_stop(h);
  if (c->state == WC_OPEN && !c->reading) {
    c->reading = 1;
    if (!is_qmux(c)) { /* QMux: ready once the peer's transport parameters arrive (on_params) */
      c->ready_sent = 1;
      if (c->h && c->h->on_ready) c->h->on_ready(c, c->user_data);
    }
    if (c->state == WC_OPEN) {
      if (uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read) < 0) {
        c->state = WC_CLOSING;
        c->close.by_peer = 1;
        snprintf(c->close.reason, sizeof c->close.reason, "cannot read the connection");
      } else if (c->early.len) {
        wbuf early = c->early;
        memset(&c->early, 0, sizeof c->early);
        feed(c, early.data, early.len);
        wbuf_free(&early);
      }
    }
  }
  if (c->state == WC_OPEN) {
    report_done(c);
    flush(c);
  }
  if (c->state != WC_OPEN) closing_step(c);
}

static void kick(ws_conn *c) {
  if (!c->handles_closing) uv_idle_start(&c->idle, on_idle);
}

static void on_tick(uv_timer_t *t) {
  ws_conn *c = t->data;
  if (c->state != WC_OPEN) return;
  uint64_t quiet = now_ms(c) - c->last_rx_ms;
  if (c->opts.idle_timeout_ms && quiet >= c->opts.idle_timeout_ms) {
    LOG_INF("ws_idle_timeout", "conn=%s quiet_ms=%llu", c->log_id, (unsigned long long)quiet);
    begin_close(c, 0, 0, 0, "idle timeout", WSLAY_CODE_GOING_AWAY);
    c->close.idle = 1;
    return;
  }
  if (c->opts.keep_alive_ms && quiet >= c->opts.keep_alive_ms && !c->ping_out) {
    struct wslay_event_msg ping = {.opcode = WSLAY_PING, .msg = NULL, .msg_length = 0};
    if (wslay_event_queue_msg(c->ws, &ping) == 0) c->ping_out = 1;
    kick(c);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* The API */

void ws_options_default(ws_options *o) {
  o->max_message = 1u << 20;
  o->max_streams = 1024;
  o->max_inflight = 256u << 10;
  o->max_control = 1u << 20;
  o->idle_timeout_ms = 30000;
  o->keep_alive_ms = 5000;
  o->linger_ms = 1000;
  o->qmux_max_data = 4u << 20;
  o->qmux_max_stream_data = 1u << 20;
}

static void on_refused_close(uv_handle_t *h) { free(h); }

ws_conn *ws_conn_accept(uv_loop_t *loop, uv_tcp_t *tcp, const http_request *req, const ws_handshake *hs,
                        const uint8_t *extra, size_t extra_len, const ws_options *opts,
                        const ws_conn_handler *handler, void *user_data) {
  ws_conn *c = calloc(1, sizeof *c);
  size_t plen = strlen(req->path), qlen = strlen(req->query);
  if (!c || !(c->rbuf = malloc(WS_READ_BUF)) || !(c->path = malloc(plen + qlen + 2)) ||
      wslay_event_context_server_init(&c->ws, &wslay_callbacks, c) != 0 ||
      (extra_len && wbuf_append(&c->early, extra, extra_len))) {
    if (c) {
      if (c->ws) wslay_event_context_free(c->ws);
      wbuf_free(&c->early);
      free(c->rbuf);
      free(c->path);
      free(c);
    }
    if (!uv_is_closing((uv_handle_t *)tcp)) uv_close((uv_handle_t *)tcp, on_refused_close);
    return NULL;
  }
  c->loop = loop;
  c->tcp = tcp;
  c->opts = *opts;
  c->h = handler;
  c->user_data = user_data;
  memcpy(c->path, req->path, plen);
  c->path[plen] = 0;
  if (qlen) {
    c->path[plen] = '?';
    memcpy(c->path + plen + 1, req->query, qlen + 1);
  }
  snprintf(c->remote, sizeof c->remote, "%s", req->remote_str ? req->remote_str : "-");
  uint8_t rnd[4] = {0};
  uv_random(NULL, NULL, rnd, sizeof rnd, 0, NULL);
  snprintf(c->log_id, sizeof c->log_id, "ws-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
  idmap_init(&c->streams);
  c->next_local[0] = 1; /* server-initiated bidi */
  c->next_local[1] = 3; /* server-initiated uni */
  c->next_peer[0] = 0;
  c->next_peer[1] = 2;
  c->last_rx_ms = uv_now(loop);
  wslay_event_config_set_max_recv_msg_length(c->ws, c->opts.max_message);
  tcp->data = c;
  uv_idle_init(loop, &c->idle);
  uv_timer_init(loop, &c->timer);
  c->idle.data = c->timer.data = c;
  c->handles = 3;
  uv_tcp_nodelay(tcp, 1);
  char resp[512];
  size_t n = ws_handshake_response(hs, resp, sizeof resp);
  wbuf_append(&c->ctl, resp, n);
  c->framing = hs->framing;
  snprintf(c->protocol, sizeof c->protocol, "%s", hs->protocol);
  snprintf(c->alpn, sizeof c->alpn, "%s", hs->alpn ? hs->alpn : "");
  c->payload_max = WS_STREAM_PAYLOAD_MAX;
  if (is_qmux(c)) { /* our transport parameters: the first frame we send */
    qmux_params p = {.initial_max_data = c->opts.qmux_max_data,
                     .initial_max_stream_data_bidi_local = c->opts.qmux_max_stream_data,
                     .initial_max_stream_data_bidi_remote = c->opts.qmux_max_stream_data,
                     .initial_max_stream_data_uni = c->opts.qmux_max_stream_data,
                     .initial_max_streams_bidi = c->opts.max_streams,
                     .initial_max_streams_uni = c->opts.max_streams,
                     .max_record_size = QMUX_DEFAULT_MAX_RECORD_SIZE};
    if (c->framing == WS_FRAMING_QMUX01) {
      p.max_idle_timeout_ms = c->opts.idle_timeout_ms;
      if (c->opts.max_message > QMUX_DEFAULT_MAX_RECORD_SIZE) p.max_record_size = c->opts.max_message;
    }
    c->recv_max_data = p.initial_max_data;
    c->our_streams_limit[0] = c->our_streams_limit[1] = c->opts.max_streams;
    uint8_t f[QMUX_PARAMS_FRAME_MAX];
    size_t fl = qmux_params_encode(f, &p);
    uint8_t mh[WS_MESSAGE_HEADER_MAX];
    size_t mhl = ws_frame_message_header(mh, WSLAY_BINARY_FRAME, fl);
    wbuf_append(&c->ctl, mh, mhl);
    wbuf_append(&c->ctl, f, fl);
  }
  uint64_t tick = c->opts.keep_alive_ms ? c->opts.keep_alive_ms : c->opts.idle_timeout_ms / 2;
  if (tick) {
    if (c->opts.idle_timeout_ms && c->opts.idle_timeout_ms / 2 < tick) tick = c->opts.idle_timeout_ms / 2;
    if (tick < 10) tick = 10;
    uv_timer_start(&c->timer, on_tick, tick, tick);
  }
  kick(c);
  return c;
}

const char *ws_conn_path(const ws_conn *c) { return c->path; }
const char *ws_conn_remote(const ws_conn *c) { return c->remote; }
const char *ws_conn_log_id(const ws_conn *c) { return c->log_id; }
const char *ws_conn_protocol(const ws_conn *c) { return c->protocol; }
const char *ws_conn_alpn(const ws_conn *c) { return c->alpn[0] ? c->alpn : NULL; }

static int64_t open_stream(ws_conn *c, int k) {
  if (c->state != WC_OPEN) return WS_ERR_CLOSED;
  if (c->n_local >= c->opts.max_streams ||
      (is_qmux(c) && ((uint64_t)c->next_local[k] >> 2) >= c->peer_streams_limit[k])) {
    c->local_blocked = 1;
    return WS_ERR_STREAM_LIMIT;
  }
  int64_t sid = c->next_local[k];
  if (!stream_new(c, sid, 1)) return WS_ERR_NOMEM;
  c->next_local[k] += 4;
  return sid;
}

int64_t ws_conn_open_bidi(ws_conn *c) { return open_stream(c, 0); }
int64_t ws_conn_open_uni(ws_conn *c) { return open_stream(c, 1); }

/* A live stream we may still send on, or NULL with *err. */
static ws_stream *writable(ws_conn *c, int64_t sid, int *err) {
  if (c->state != WC_OPEN) {
    *err = WS_ERR_CLOSED;
    return NULL;
  }
  ws_stream *s = idmap_get(&c->streams, (uint64_t)sid);
  if (!s || s->done || s->send != SEND_OPEN) {
    *err = WS_ERR_NO_STREAM;
    return NULL;
  }
  return s;
}

int ws_conn_write(ws_conn *c, int64_t sid, chunk *data, size_t off, size_t len) {
  int err = 0;
  ws_stream *s = writable(c, sid, &err);
  if (!s) return err;
  if (len == 0) return 0;
  if (chunk_queue_push(&s->q, data, off, len)) return WS_ERR_NOMEM;
  send_list_add(c, s);
  kick(c);
  return 0;
}

int ws_conn_finish(ws_conn *c, int64_t sid) {
  int err = 0;
  ws_stream *s = writable(c, sid, &err);
  if (!s) return err;
  s->send = SEND_FIN_QUEUED;
  send_list_add(c, s);
  kick(c);
  return 0;
}

int ws_conn_reset_stream(ws_conn *c, int64_t sid, uint64_t code) {
  if (c->state != WC_OPEN) return WS_ERR_CLOSED;
  ws_stream *s = idmap_get(&c->streams, (uint64_t)sid);
  if (!s || s->done || s->send == SEND_DONE) return WS_ERR_NO_STREAM;
  drop_data(s);
  send_list_del(c, s);
  s->send = SEND_DONE;
  if (queue_stream_control(c, WS_FRAME_RESET_STREAM, sid, code, s->sent_off)) return WS_ERR_CLOSED;
  maybe_done(c, s);
  return 0;
}

int ws_conn_stop_sending(ws_conn *c, int64_t sid, uint64_t code) {
  if (c->state != WC_OPEN) return WS_ERR_CLOSED;
  ws_stream *s = idmap_get(&c->streams, (uint64_t)sid);
  if (!s || s->done || s->recv != RECV_OPEN) return WS_ERR_NO_STREAM;
  s->recv = RECV_STOPPED;
  if (queue_stream_control(c, WS_FRAME_STOP_SENDING, sid, code, 0)) return WS_ERR_CLOSED;
  maybe_done(c, s);
  return 0;
}

int ws_conn_set_priority(ws_conn *c, int64_t sid, uint64_t prio) {
  if (c->state != WC_OPEN) return WS_ERR_CLOSED;
  ws_stream *s = idmap_get(&c->streams, (uint64_t)sid);
  if (!s || s->done) return WS_ERR_NO_STREAM;
  s->prio = prio;
  if (s->pending) { /* re-sort */
    send_list_del(c, s);
    send_list_add(c, s);
  }
  return 0;
}

size_t ws_conn_stream_queued(ws_conn *c, int64_t sid) {
  if (c->state != WC_OPEN) return 0;
  ws_stream *s = idmap_get(&c->streams, (uint64_t)sid);
  return s ? s->q.len : 0;
}
