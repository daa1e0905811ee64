/* wt_session: HTTP/3 control, QPACK, extended CONNECT and the WebTransport session on a quic_conn. */
#include "h3/wt_session.h"

#include <nghttp3/nghttp3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/idmap.h"
#include "base/log.h"
#include "base/varint.h"
#include "h3/h3_fields.h"
#include "h3/h3_frame.h"

#define MAX_CONTROL_FRAME 16384     /* SETTINGS, GOAWAY, ... on the control stream */
#define MAX_HEADERS_FRAME 65536     /* one HEADERS frame */
#define MAX_CAPSULE 65536
#define LINGER_MS 1000              /* after a local close: wait this long at most for the capsule's ack */

typedef enum stream_kind {
  SK_NEW = 0,     /* the stream header is still being read */
  SK_CONTROL,     /* the peer's control stream */
  SK_QPACK_ENC,   /* the peer's QPACK encoder stream */
  SK_QPACK_DEC,   /* the peer's QPACK decoder stream */
  SK_IGNORE,      /* refused or unknown: bytes are dropped */
  SK_REQUEST,     /* server: a request stream before its HEADERS were read */
  SK_SESSION,     /* the CONNECT stream of our session (both sides): response, then capsules */
  SK_WT,          /* a peer's WebTransport stream of our session: bytes go to the handler */
  SK_HELD,        /* a peer's WebTransport stream waiting for its session */
} stream_kind;

/* What we know of one peer-initiated stream (and of the client's CONNECT stream). Owned by the
 * session's table. */
typedef struct wt_stream {
  int64_t id;
  stream_kind kind;
  uint8_t *buf;          /* owned: header bytes, frames being read, or held data */
  size_t len, cap;
  uint64_t frame_left;   /* payload bytes of the current DATA / unknown frame still to come */
  int frame_data;        /* that frame is DATA (its payload is capsules) */
  uint8_t *cbuf;         /* owned: capsule bytes (SK_SESSION) */
  size_t clen, ccap;
  uint64_t session_id;   /* SK_HELD */
  int fin_in;            /* SK_HELD: the peer finished it */
  int reset_in;          /* SK_HELD: the peer reset it, with reset_code */
  uint64_t reset_code;
  int got_headers;       /* SK_SESSION at the client: the final response arrived */
} wt_stream;

typedef enum wt_state {
  WS_IDLE = 0,   /* HTTP/3 up, no session yet (server: no CONNECT; client: waiting for SETTINGS) */
  WS_REQUESTED,  /* server: on_request delivered, no answer yet; client: CONNECT sent */
  WS_OPEN,       /* the session is established */
  WS_CLOSED,     /* on_closed delivered (or about to be, from the timer) */
} wt_state;

struct wt_session {
  uv_loop_t *loop;           /* borrowed */
  quic_conn *conn;           /* borrowed; NULL once the connection is gone */
  int is_server;
  const wt_handler *h;       /* borrowed */
  void *ud;
  wt_state state;
  int64_t session_id;        /* the CONNECT stream, -1 before */
  int64_t ctrl_out, enc_out, dec_out;
  int peer_ctrl_seen, peer_enc_seen, peer_dec_seen;
  int have_settings;
  h3_settings peer;
  nghttp3_qpack_encoder *enc; /* owned */
  nghttp3_qpack_decoder *dec; /* owned */
  idmap streams;             /* stream id -> wt_stream (owned) */
  size_t held_streams, held_bytes;
  char protocol[64];
  char *path;                /* owned */
  char *authority;           /* owned (client) */
  char **offer;              /* owned (client): the protocols offered */
  size_t n_offer;
  uv_timer_t timer;          /* owned handle: deferred on_closed, then the linger before closing */
  int timer_on;
  int notify_pending;        /* on_closed waits for the timer */
  wt_close_info pending;
  int linger;                /* close the connection once the session stream is acknowledged */
  uint64_t linger_start;
  char close_reason[128];
  int freed;                 /* the connection is gone: free once the timer handle is released */
};

static const nghttp3_mem *mem(void) { return nghttp3_mem_default(); }
static void client_send_connect(wt_session *s);

/* ------------------------------------------------------------------------------------------ */
/* Small helpers */

static int is_local(const wt_session *s, int64_t sid) { return (sid & 1) == (s->is_server ? 1 : 0); }
static int is_uni(int64_t sid) { return (sid & 2) != 0; }

static int buf_append(uint8_t **b, size_t *len, size_t *cap, const uint8_t *data, size_t n) {
  if (*len + n > *cap) {
    size_t c = *cap ? *cap : 256;
    while (c < *len + n) c *= 2;
    uint8_t *nb = realloc(*b, c);
    if (!nb) return -1;
    *b = nb;
    *cap = c;
  }
  if (n) memcpy(*b + *len, data, n);
  *len += n;
  return 0;
}

static void buf_consume(uint8_t *b, size_t *len, size_t n) {
  memmove(b, b + n, *len - n);
  *len -= n;
}

static void stream_free(wt_session *s, wt_stream *st) {
  if (st->kind == SK_HELD) {
    s->held_streams--;
    s->held_bytes -= st->len;
  }
  idmap_del(&s->streams, (uint64_t)st->id);
  free(st->buf);
  free(st->cbuf);
  free(st);
}

static wt_stream *stream_new(wt_session *s, int64_t sid) {
  wt_stream *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->id = sid;
  if (idmap_put(&s->streams, (uint64_t)sid, st)) {
    free(st);
    return NULL;
  }
  return st;
}

static void conn_error(wt_session *s, uint64_t code, const char *why) {
  char q[200];
  LOG_INF("h3_error", "conn=%s code=0x%llx reason=%s", s->conn ? quic_conn_log_id(s->conn) : "-",
          (unsigned long long)code, log_quote(q, sizeof q, why));
  if (s->conn) quic_conn_close(s->conn, code, why);
}

static int write_copy(wt_session *s, int64_t sid, const void *data, size_t len) {
  return s->conn ? quic_conn_write_copy(s->conn, sid, data, len) : QUIC_ERR_CLOSED;
}

static void notify_closed(wt_session *s, const wt_close_info *info) {
  if (s->state == WS_CLOSED) return;
  s->state = WS_CLOSED;
  s->notify_pending = 0;
  char q[160];
  LOG_DBG("wt_closed", "conn=%s by=%s code=%llu status=%d reason=%s", s->conn ? quic_conn_log_id(s->conn) : "-",
          info->by_peer ? "peer" : "local", (unsigned long long)info->code, info->status,
          log_quote(q, sizeof q, info->reason));
  if (s->h->on_closed) s->h->on_closed(s, info, s->ud);
}

static void on_timer(uv_timer_t *t);

static void timer_start(wt_session *s, uint64_t ms) {
  s->timer_on = 1;
  uv_timer_start(&s->timer, on_timer, ms, 0);
}

/* on_closed on the next loop turn (never from inside a call of the layer above). */
static void close_later(wt_session *s, int by_peer, int status, uint64_t code, const char *reason) {
  if (s->state == WS_CLOSED) return;
  s->state = WS_CLOSED;
  s->notify_pending = 1;
  memset(&s->pending, 0, sizeof s->pending);
  s->pending.by_peer = by_peer;
  s->pending.status = status;
  s->pending.code = code;
  snprintf(s->pending.reason, sizeof s->pending.reason, "%s", reason ? reason : "");
  timer_start(s, 0);
}

/* Closes the connection once the session stream's last bytes are acknowledged (or after LINGER_MS). */
static void linger_then_close(wt_session *s, const char *reason) {
  if (s->linger || !s->conn) return;
  s->linger = 1;
  s->linger_start = uv_now(s->loop);
  snprintf(s->close_reason, sizeof s->close_reason, "%s", reason ? reason : "");
  if (!s->notify_pending) timer_start(s, 20);
}

static void on_timer(uv_timer_t *t) {
  wt_session *s = t->data;
  s->timer_on = 0;
  if (s->notify_pending) {
    wt_close_info info = s->pending;
    s->state = WS_IDLE; /* so that notify_closed delivers it */
    notify_closed(s, &info);
  }
  if (!s->conn || !s->linger) return;
  size_t queued = s->session_id >= 0 ? quic_conn_stream_queued(s->conn, s->session_id) : 0;
  if (queued == 0 || uv_now(s->loop) - s->linger_start >= LINGER_MS) {
    s->linger = 0;
    quic_conn_close(s->conn, H3_NO_ERROR, s->close_reason);
    return;
  }
  timer_start(s, 20);
}

/* ------------------------------------------------------------------------------------------ */
/* Sending HTTP/3 */

static int send_settings(wt_session *s) {
  int64_t ids[3];
  for (int i = 0; i < 3; i++) {
    ids[i] = quic_conn_open_uni(s->conn);
    if (ids[i] < 0) return -1;
  }
  s->ctrl_out = ids[0];
  s->enc_out = ids[1];
  s->dec_out = ids[2];
  h3_settings st = {.h3_datagram = 1, .h3_datagram_draft04 = 1, .enable_webtransport = 1};
  if (s->is_server) {
    st.enable_connect_protocol = 1;
    st.wt_max_sessions = 1;
    st.wt_max_sessions_draft = 1;
  }
  uint8_t b[160];
  b[0] = H3_UNI_CONTROL;
  uint8_t grease[1];
  quic_random(grease, 1);
  int n = h3_settings_encode(b + 1, sizeof b - 1, &st, 1 + grease[0] % 60);
  if (n < 0) return -1;
  uint8_t enc = H3_UNI_QPACK_ENCODER, dec = H3_UNI_QPACK_DECODER;
  if (write_copy(s, s->ctrl_out, b, 1 + (size_t)n) || write_copy(s, s->enc_out, &enc, 1) ||
      write_copy(s, s->dec_out, &dec, 1))
    return -1;
  /* Critical streams are never finished; the highest priority is their default. */
  return 0;
}

/* Sends a HEADERS frame with fields nva on sid. 0 or -1. */
static int send_headers(wt_session *s, int64_t sid, const nghttp3_nv *nva, size_t n) {
  nghttp3_buf pbuf, rbuf, ebuf;
  nghttp3_buf_init(&pbuf);
  nghttp3_buf_init(&rbuf);
  nghttp3_buf_init(&ebuf);
  int rv = -1;
  if (nghttp3_qpack_encoder_encode(s->enc, &pbuf, &rbuf, &ebuf, sid, nva, n) == 0) {
    size_t plen = nghttp3_buf_len(&pbuf), rlen = nghttp3_buf_len(&rbuf);
    uint8_t hdr[16];
    int hl = h3_frame_hdr_encode(hdr, sizeof hdr, H3_FRAME_HEADERS, plen + rlen);
    uint8_t *frame = malloc((size_t)hl + plen + rlen);
    if (hl > 0 && frame) {
      memcpy(frame, hdr, (size_t)hl);
      if (plen) memcpy(frame + hl, pbuf.pos, plen);
      if (rlen) memcpy(frame + hl + plen, rbuf.pos, rlen);
      rv = write_copy(s, sid, frame, (size_t)hl + plen + rlen) ? -1 : 0;
    }
    free(frame);
    /* Our encoder has no dynamic table: it never writes encoder instructions. */
    if (nghttp3_buf_len(&ebuf)) write_copy(s, s->enc_out, ebuf.pos, nghttp3_buf_len(&ebuf));
  }
  nghttp3_buf_free(&pbuf, mem());
  nghttp3_buf_free(&rbuf, mem());
  nghttp3_buf_free(&ebuf, mem());
  return rv;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP3_NV_FLAG_NONE}

/* Sends a DATA frame holding data[0..len). */
static int send_data(wt_session *s, int64_t sid, const void *data, size_t len) {
  uint8_t *frame = malloc(16 + len);
  if (!frame) return -1;
  int hl = h3_frame_hdr_encode(frame, 16, H3_FRAME_DATA, len);
  int rv = -1;
  if (hl > 0) {
    if (len) memcpy(frame + hl, data, len);
    rv = write_copy(s, sid, frame, (size_t)hl + len) ? -1 : 0;
  }
  free(frame);
  return rv;
}

/* A complete response with a text body, then FIN; the rest of the request is not read. */
static void respond(wt_session *s, int64_t sid, int status, const char *allow, const char *body, int peer_done) {
  char st[8];
  snprintf(st, sizeof st, "%d", status);
  char len[24];
  snprintf(len, sizeof len, "%zu", strlen(body));
  nghttp3_nv nva[5] = {NV(":status", st), NV("content-type", "text/plain; charset=utf-8"),
                       NV("content-length", len), NV("access-control-allow-origin", "*")};
  size_t n = 4;
  if (allow) nva[n++] = (nghttp3_nv)NV("allow", allow);
  if (send_headers(s, sid, nva, n) == 0 && send_data(s, sid, body, strlen(body)) == 0 && s->conn)
    quic_conn_finish(s->conn, sid);
  if (!peer_done && s->conn) quic_conn_stop_sending(s->conn, sid, H3_NO_ERROR);
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding field sections */

/* Decodes a HEADERS payload with QPACK. 0, or -1 after closing the connection. */
static int decode_fields(wt_session *s, int64_t sid, const uint8_t *p, size_t len, h3_fields *f) {
  const char *why = "";
  int rv = h3_fields_decode(s->dec, sid, p, len, f, &why);
  if (rv < 0) conn_error(s, H3_QPACK_DECOMPRESSION_FAILED, why);
  /* Section acknowledgements, if the decoder has any (never with our zero-capacity table). */
  size_t dl = rv == 0 ? nghttp3_qpack_decoder_get_decoder_streamlen(s->dec) : 0;
  if (dl) {
    nghttp3_buf db;
    uint8_t *space = malloc(dl);
    if (space) {
      db.begin = db.pos = db.last = space;
      db.end = space + dl;
      nghttp3_qpack_decoder_write_decoder(s->dec, &db);
      write_copy(s, s->dec_out, db.pos, nghttp3_buf_len(&db));
      free(space);
    }
  }
  return rv;
}

/* ------------------------------------------------------------------------------------------ */
/* The session */

static void deliver(wt_session *s, int64_t sid, const uint8_t *data, size_t len, int fin) {
  if (s->state == WS_OPEN && s->h->on_stream_data && (len || fin)) s->h->on_stream_data(s, sid, data, len, fin, s->ud);
}

static uint64_t code_from_h3(uint64_t h3) {
  uint32_t c;
  return h3_wt_code_from_h3(h3, &c) == 0 ? c : h3;
}

static uint64_t code_to_h3(uint64_t code) { return h3_wt_code_to_h3(code > 0xffffffffu ? 0xffffffffu : (uint32_t)code); }

/* The session is established: tell the owner, then replay the streams that waited for it. */
static void session_open(wt_session *s) {
  s->state = WS_OPEN;
  LOG_DBG("wt_open", "conn=%s session=%lld protocol=%s", quic_conn_log_id(s->conn), (long long)s->session_id,
          s->protocol[0] ? s->protocol : "-");
  if (s->h->on_ready) s->h->on_ready(s, s->ud);
  size_t n = idmap_size(&s->streams), k = 0, pos = 0;
  int64_t *ids = n ? malloc(n * sizeof *ids) : NULL;
  uint64_t key;
  void *val;
  while (ids && idmap_next(&s->streams, &pos, &key, &val))
    if (((wt_stream *)val)->kind == SK_HELD) ids[k++] = (int64_t)key;
  for (size_t i = 0; i < k && s->state == WS_OPEN; i++) {
    wt_stream *st = idmap_get(&s->streams, (uint64_t)ids[i]);
    if (!st || st->kind != SK_HELD) continue;
    if (st->session_id != (uint64_t)s->session_id) {
      quic_conn_stop_sending(s->conn, st->id, H3_WT_BUFFERED_STREAM_REJECTED);
      if (!is_uni(st->id)) quic_conn_reset_stream(s->conn, st->id, H3_WT_BUFFERED_STREAM_REJECTED);
      s->held_streams--;
      s->held_bytes -= st->len;
      st->kind = SK_IGNORE;
      st->len = 0;
      continue;
    }
    s->held_streams--;
    s->held_bytes -= st->len;
    st->kind = SK_WT;
    uint8_t *held = st->buf;
    size_t hl = st->len;
    st->buf = NULL;
    st->len = st->cap = 0;
    int fin = st->fin_in, reset = st->reset_in;
    uint64_t code = st->reset_code;
    deliver(s, ids[i], held, hl, fin);
    free(held);
    if (reset && s->state == WS_OPEN && s->h->on_stream_reset) s->h->on_stream_reset(s, ids[i], code, s->ud);
  }
  free(ids);
}

/* Capsules on the CONNECT stream. */
static void session_capsules(wt_session *s, wt_stream *st) {
  while (st->clen && s->state != WS_CLOSED) {
    h3_capsule c;
    int rv = h3_capsule_decode(st->cbuf, st->clen, MAX_CAPSULE, &c);
    if (rv == H3_NEED_MORE) return;
    if (rv < 0) {
      conn_error(s, H3_MESSAGE_ERROR, "capsule too large");
      return;
    }
    if (c.type == H3_CAPSULE_CLOSE_WT_SESSION) {
      uint32_t code;
      const uint8_t *reason;
      size_t rlen;
      if (h3_close_session_decode(c.payload, c.len, &code, &reason, &rlen) < 0) {
        conn_error(s, H3_MESSAGE_ERROR, "malformed CLOSE_WEBTRANSPORT_SESSION");
        return;
      }
      wt_close_info info = {.by_peer = 1, .code = code};
      size_t l = rlen < sizeof info.reason - 1 ? rlen : sizeof info.reason - 1;
      memcpy(info.reason, reason, l);
      info.reason[l] = 0;
      quic_conn_finish(s->conn, s->session_id);
      notify_closed(s, &info);
      linger_then_close(s, "session closed");
      return;
    }
    if (c.type == H3_CAPSULE_DRAIN_WT_SESSION) LOG_DBG("wt_drain", "conn=%s", quic_conn_log_id(s->conn));
    buf_consume(st->cbuf, &st->clen, c.used); /* unknown capsules are skipped */
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Requests and responses */

static void on_request_headers(wt_session *s, wt_stream *st, const h3_fields *f, int fin) {
  int64_t sid = st->id;
  st->kind = SK_IGNORE; /* unless it becomes the session's CONNECT stream below */
  char q[300];
  LOG_DBG("h3_request", "conn=%s stream=%lld method=%s protocol=%s", quic_conn_log_id(s->conn), (long long)sid,
          log_quote(q, sizeof q, f->method), f->protocol[0] ? f->protocol : "-");
  h3_request_verdict v;
  h3_request_classify(f, &v);
  if (v.status) {
    respond(s, sid, v.status, v.allow, v.body, fin);
    return;
  }
  if (s->state != WS_IDLE) {
    respond(s, sid, 429, NULL, "one WebTransport session per connection\n", fin);
    return;
  }
  if (fin) {
    respond(s, sid, 400, NULL, "the CONNECT stream was finished\n", 1);
    return;
  }
  s->session_id = sid;
  st->kind = SK_SESSION;
  free(s->path);
  s->path = strdup(f->path);
  if (!s->path) {
    conn_error(s, H3_INTERNAL_ERROR, "out of memory");
    return;
  }
  wt_request req = {.path = s->path, .authority = f->authority, .origin = f->origin};
  char pbuf[1024];
  int n = h3_fields_protocols(f, pbuf, sizeof pbuf, req.protocols, WT_MAX_PROTOCOLS);
  if (n < 0) {
    LOG_DBG("wt_protocols_ignored", "conn=%s reason=\"wt-available-protocols has too many members\"",
            quic_conn_log_id(s->conn));
    n = 0;
  }
  req.n_protocols = (size_t)n;
  s->state = WS_REQUESTED;
  if (s->h->on_request) s->h->on_request(s, &req, s->ud);
  else wt_session_refuse(s, 404, "no WebTransport service here");
}

/* Client: the response to our CONNECT. */
static void on_response_headers(wt_session *s, wt_stream *st, const h3_fields *f) {
  int status = atoi(f->status);
  if (status >= 100 && status < 200) return; /* interim */
  st->got_headers = 1;
  if (status < 200 || status > 299) {
    char why[64];
    snprintf(why, sizeof why, "the server answered the CONNECT with HTTP status %d", status);
    close_later(s, 1, status, 0, why);
    linger_then_close(s, "refused");
    return;
  }
  s->protocol[0] = 0;
  if (f->wt_protocol[0]) {
    char p[sizeof s->protocol];
    int n = h3_sf_string_parse(f->wt_protocol, strlen(f->wt_protocol), p, sizeof p);
    if (n < 0) snprintf(p, sizeof p, "%s", f->wt_protocol); /* a bare token: accepted from a lax server */
    for (size_t i = 0; i < s->n_offer; i++)
      if (strcmp(s->offer[i], p) == 0) snprintf(s->protocol, sizeof s->protocol, "%s", p);
  }
  session_open(s);
}

/* Frames on a request / CONNECT stream, or on the control stream. data is appended to st->buf. */
static void read_frames(wt_session *s, wt_stream *st, const uint8_t *data, size_t len, int fin) {
  if (buf_append(&st->buf, &st->len, &st->cap, data, len)) {
    conn_error(s, H3_INTERNAL_ERROR, "out of memory");
    return;
  }
  size_t pos = 0;
  while (s->conn && st->kind != SK_IGNORE && !(st->kind == SK_SESSION && s->state == WS_CLOSED)) {
    size_t avail = st->len - pos;
    if (st->frame_left) { /* payload of a DATA or unknown frame, streamed */
      size_t n = avail < st->frame_left ? avail : (size_t)st->frame_left;
      if (!n) break;
      if (st->frame_data && st->kind == SK_SESSION) {
        if (st->clen + n > MAX_CAPSULE + 16 || buf_append(&st->cbuf, &st->clen, &st->ccap, st->buf + pos, n)) {
          conn_error(s, H3_EXCESSIVE_LOAD, "capsule data too large");
          return;
        }
      }
      pos += n;
      st->frame_left -= n;
      if (st->frame_data && st->kind == SK_SESSION) session_capsules(s, st);
      continue;
    }
    h3_frame_hdr fh;
    if (h3_frame_hdr_decode(st->buf + pos, avail, &fh) < 0) break;
    int control = st->kind == SK_CONTROL;
    if (control && !s->have_settings && fh.type != H3_FRAME_SETTINGS) {
      conn_error(s, H3_MISSING_SETTINGS, "the control stream must begin with SETTINGS");
      return;
    }
    if (control && (fh.type == H3_FRAME_DATA || fh.type == H3_FRAME_HEADERS || fh.type == H3_FRAME_PUSH_PROMISE)) {
      conn_error(s, H3_FRAME_UNEXPECTED, "DATA or HEADERS on the control stream");
      return;
    }
    if (!control && (fh.type == H3_FRAME_SETTINGS || fh.type == H3_FRAME_GOAWAY || fh.type == H3_FRAME_MAX_PUSH_ID ||
                     fh.type == H3_FRAME_CANCEL_PUSH || fh.type == H3_FRAME_PUSH_PROMISE)) {
      conn_error(s, H3_FRAME_UNEXPECTED, "a control frame on a request stream");
      return;
    }
    int whole = fh.type == H3_FRAME_HEADERS || fh.type == H3_FRAME_SETTINGS || fh.type == H3_FRAME_GOAWAY ||
                fh.type == H3_FRAME_MAX_PUSH_ID || fh.type == H3_FRAME_CANCEL_PUSH ||
                (fh.type == H3_CAPSULE_CLOSE_WT_SESSION && st->kind == SK_SESSION);
    if (!whole) { /* DATA, or unknown / GREASE: streamed or skipped */
      if (fh.type == H3_FRAME_DATA && st->kind == SK_REQUEST) {
        conn_error(s, H3_FRAME_UNEXPECTED, "DATA before HEADERS");
        return;
      }
      pos += fh.hdr_len;
      st->frame_left = fh.len;
      st->frame_data = fh.type == H3_FRAME_DATA;
      continue;
    }
    uint64_t max = fh.type == H3_FRAME_HEADERS ? MAX_HEADERS_FRAME : MAX_CONTROL_FRAME;
    if (fh.len > max) {
      conn_error(s, H3_EXCESSIVE_LOAD, "frame too large");
      return;
    }
    if (avail - fh.hdr_len < fh.len) break;
    const uint8_t *payload = st->buf + pos + fh.hdr_len;
    size_t plen = (size_t)fh.len;
    pos += fh.hdr_len + plen;
    if (fh.type == H3_FRAME_SETTINGS) {
      const char *why = "";
      if (s->have_settings) {
        conn_error(s, H3_FRAME_UNEXPECTED, "a second SETTINGS frame");
        return;
      }
      if (h3_settings_decode(payload, plen, &s->peer, &why) < 0) {
        conn_error(s, H3_SETTINGS_ERROR, why);
        return;
      }
      s->have_settings = 1;
      nghttp3_qpack_encoder_set_max_dtable_capacity(s->enc, 0);
      LOG_DBG("h3_settings", "conn=%s webtransport=%d connect_protocol=%llu", quic_conn_log_id(s->conn),
              h3_settings_webtransport(&s->peer), (unsigned long long)s->peer.enable_connect_protocol);
      if (!s->is_server && s->state == WS_IDLE) {
        /* the CONNECT goes once the server said it takes extended CONNECT and WebTransport */
        client_send_connect(s);
      }
    } else if (fh.type == H3_FRAME_GOAWAY) {
      LOG_DBG("h3_goaway", "conn=%s", quic_conn_log_id(s->conn));
    } else if (fh.type == H3_FRAME_HEADERS) {
      h3_fields f;
      if (decode_fields(s, st->id, payload, plen, &f)) return;
      size_t rest = st->len - pos;
      if (st->kind == SK_REQUEST) {
        buf_consume(st->buf, &st->len, pos);
        pos = 0;
        on_request_headers(s, st, &f, fin && rest == 0);
        st = idmap_get(&s->streams, (uint64_t)st->id);
        if (!st) return;
        continue;
      }
      if (st->kind == SK_SESSION && !s->is_server && !st->got_headers) on_response_headers(s, st, &f);
      /* trailers: ignored */
    } else if (fh.type == H3_CAPSULE_CLOSE_WT_SESSION) { /* a bare capsule, as some peers send it */
      uint8_t cap[16 + 1028];
      int hl = h3_frame_hdr_encode(cap, sizeof cap, fh.type, plen);
      if (hl > 0 && (size_t)hl + plen <= sizeof cap) {
        if (buf_append(&st->cbuf, &st->clen, &st->ccap, cap, (size_t)hl) == 0 &&
            buf_append(&st->cbuf, &st->clen, &st->ccap, payload, plen) == 0)
          session_capsules(s, st);
      }
    }
  }
  if (st->kind == SK_IGNORE) {
    st->len = 0;
    return;
  }
  buf_consume(st->buf, &st->len, pos);
  if (st->len > MAX_HEADERS_FRAME + 16) conn_error(s, H3_EXCESSIVE_LOAD, "too many bytes buffered on a stream");
}

static void client_send_connect(wt_session *s) {
  if (!s->conn || s->state != WS_IDLE || !s->have_settings) return;
  if (!h3_settings_webtransport(&s->peer) || s->peer.enable_connect_protocol != 1) {
    close_later(s, 1, 0, 0, "the server does not offer WebTransport (HTTP/3 SETTINGS)");
    linger_then_close(s, "no WebTransport");
    return;
  }
  int64_t sid = quic_conn_open_bidi(s->conn);
  wt_stream *st = sid >= 0 ? stream_new(s, sid) : NULL;
  if (!st) {
    close_later(s, 0, 0, 0, "cannot open the CONNECT stream");
    linger_then_close(s, "no stream");
    return;
  }
  st->kind = SK_SESSION;
  s->session_id = sid;
  char list[1024] = "";
  size_t ll = 0;
  for (size_t i = 0; i < s->n_offer; i++) {
    char q[96];
    if (h3_sf_string_quote(s->offer[i], q, sizeof q) < 0) continue;
    int n = snprintf(list + ll, sizeof list - ll, "%s%s", ll ? ", " : "", q);
    if (n < 0 || (size_t)n >= sizeof list - ll) break;
    ll += (size_t)n;
  }
  nghttp3_nv nva[8] = {NV(":method", "CONNECT"), NV(":protocol", "webtransport"), NV(":scheme", "https"),
                       NV(":authority", s->authority), NV(":path", s->path),
                       NV("sec-webtransport-http3-draft02", "1")};
  size_t n = 6;
  if (ll) nva[n++] = (nghttp3_nv)NV("wt-available-protocols", list);
  if (send_headers(s, sid, nva, n)) {
    close_later(s, 0, 0, 0, "cannot send the CONNECT request");
    linger_then_close(s, "no request");
    return;
  }
  s->state = WS_REQUESTED;
}

/* ------------------------------------------------------------------------------------------ */
/* A peer's stream: its header, then its kind's reading */

static void reject_stream(wt_session *s, wt_stream *st, uint64_t code) {
  quic_conn_stop_sending(s->conn, st->id, code);
  if (!is_uni(st->id)) quic_conn_reset_stream(s->conn, st->id, code);
  st->kind = SK_IGNORE;
  st->len = 0;
}

/* A WebTransport stream of session_id begins; rest[0..n) follows its header. */
static void wt_stream_begins(wt_session *s, wt_stream *st, uint64_t session_id, const uint8_t *rest, size_t n, int fin) {
  if (s->state == WS_OPEN && session_id == (uint64_t)s->session_id) {
    st->kind = SK_WT;
    deliver(s, st->id, rest, n, fin);
    return;
  }
  int may_come = s->state == WS_IDLE || s->state == WS_REQUESTED;
  if (!s->is_server && s->session_id >= 0 && session_id != (uint64_t)s->session_id) may_come = 0;
  if (!may_come || s->held_streams >= WT_HELD_STREAMS || s->held_bytes + n > WT_HELD_BYTES) {
    reject_stream(s, st, H3_WT_BUFFERED_STREAM_REJECTED);
    return;
  }
  st->kind = SK_HELD;
  st->session_id = session_id;
  st->fin_in = fin;
  s->held_streams++;
  s->held_bytes += n;
  if (n && rest != st->buf) memmove(st->buf, rest, n); /* rest points into st->buf */
  st->len = n;
}

/* The first bytes of a peer stream: what kind it is. */
static void stream_header(wt_session *s, wt_stream *st, int fin) {
  h3_stream_hdr hd;
  int rv = h3_stream_hdr_decode(st->buf, st->len, is_uni(st->id), &hd);
  if (rv == H3_NEED_MORE) {
    if (fin || st->len > 16) st->kind = SK_IGNORE;
    return;
  }
  if (rv < 0) {
    conn_error(s, H3_ID_ERROR, "a WebTransport stream names a session id that cannot be one");
    return;
  }
  const uint8_t *rest = st->buf + hd.used;
  size_t n = st->len - hd.used;
  if (!is_uni(st->id)) {
    if (hd.type == H3_FRAME_WT_STREAM) {
      wt_stream_begins(s, st, hd.session_id, rest, n, fin);
    } else if (!s->is_server) {
      reject_stream(s, st, H3_STREAM_CREATION_ERROR); /* a server's bidi stream is WebTransport only */
    } else {
      st->kind = SK_REQUEST;
      size_t len = st->len;
      st->len = 0;
      uint8_t *b = st->buf;
      st->buf = NULL;
      st->cap = 0;
      read_frames(s, st, b, len, fin);
      free(b);
    }
    return;
  }
  switch (hd.type) {
  case H3_UNI_CONTROL:
  case H3_UNI_QPACK_ENCODER:
  case H3_UNI_QPACK_DECODER: {
    int *seen = hd.type == H3_UNI_CONTROL ? &s->peer_ctrl_seen
                : hd.type == H3_UNI_QPACK_ENCODER ? &s->peer_enc_seen : &s->peer_dec_seen;
    if (*seen) {
      conn_error(s, H3_STREAM_CREATION_ERROR, "a second control or QPACK stream");
      return;
    }
    *seen = 1;
    st->kind = hd.type == H3_UNI_CONTROL ? SK_CONTROL : hd.type == H3_UNI_QPACK_ENCODER ? SK_QPACK_ENC : SK_QPACK_DEC;
    uint8_t *b = st->buf;
    st->buf = NULL;
    st->len = st->cap = 0;
    if (st->kind == SK_CONTROL) {
      read_frames(s, st, rest, n, fin);
    } else if (n) {
      nghttp3_ssize r = st->kind == SK_QPACK_ENC ? nghttp3_qpack_decoder_read_encoder(s->dec, rest, n)
                                                  : nghttp3_qpack_encoder_read_decoder(s->enc, rest, n);
      if (r < 0)
        conn_error(s, st->kind == SK_QPACK_ENC ? H3_QPACK_ENCODER_STREAM_ERROR : H3_QPACK_DECODER_STREAM_ERROR,
                   nghttp3_strerror((int)r));
    }
    free(b);
    if (fin) conn_error(s, H3_CLOSED_CRITICAL_STREAM, "a critical stream was closed");
    return;
  }
  case H3_UNI_WT: wt_stream_begins(s, st, hd.session_id, rest, n, fin); return;
  default:
    if (hd.type == H3_UNI_PUSH && s->is_server) {
      conn_error(s, H3_STREAM_CREATION_ERROR, "a client opened a push stream");
      return;
    }
    /* unknown and GREASE types, and pushes (we never allowed any: no MAX_PUSH_ID) */
    reject_stream(s, st, H3_STREAM_CREATION_ERROR);
    return;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* The QUIC connection's events */

static void q_ready(quic_conn *c, void *ud) {
  wt_session *s = ud;
  s->conn = c;
  if (send_settings(s)) {
    conn_error(s, H3_INTERNAL_ERROR, "cannot open the control streams");
    return;
  }
  if (!s->is_server) client_send_connect(s);
}

static void q_data(quic_conn *c, int64_t sid, const uint8_t *data, size_t len, int fin, void *ud) {
  wt_session *s = ud;
  wt_stream *st = idmap_get(&s->streams, (uint64_t)sid);
  if (!st) {
    if (is_local(s, sid)) { /* a WebTransport bidi stream of ours */
      deliver(s, sid, data, len, fin);
      return;
    }
    st = stream_new(s, sid);
    if (!st) {
      conn_error(s, H3_INTERNAL_ERROR, "out of memory");
      return;
    }
  }
  switch (st->kind) {
  case SK_WT: deliver(s, sid, data, len, fin); return;
  case SK_IGNORE: return;
  case SK_NEW:
    if (buf_append(&st->buf, &st->len, &st->cap, data, len)) {
      conn_error(s, H3_INTERNAL_ERROR, "out of memory");
      return;
    }
    stream_header(s, st, fin);
    break;
  case SK_HELD:
    if (s->held_bytes + len > WT_HELD_BYTES) {
      s->held_streams--;
      s->held_bytes -= st->len;
      reject_stream(s, st, H3_WT_BUFFERED_STREAM_REJECTED);
      return;
    }
    if (buf_append(&st->buf, &st->len, &st->cap, data, len)) {
      conn_error(s, H3_INTERNAL_ERROR, "out of memory");
      return;
    }
    s->held_bytes += len;
    st->fin_in |= fin;
    return;
  case SK_CONTROL:
    read_frames(s, st, data, len, fin);
    if (fin) conn_error(s, H3_CLOSED_CRITICAL_STREAM, "the control stream was closed");
    return;
  case SK_QPACK_ENC:
  case SK_QPACK_DEC: {
    nghttp3_ssize r = st->kind == SK_QPACK_ENC ? nghttp3_qpack_decoder_read_encoder(s->dec, data, len)
                                                : nghttp3_qpack_encoder_read_decoder(s->enc, data, len);
    if (r < 0)
      conn_error(s, st->kind == SK_QPACK_ENC ? H3_QPACK_ENCODER_STREAM_ERROR : H3_QPACK_DECODER_STREAM_ERROR,
                 nghttp3_strerror((int)r));
    if (fin) conn_error(s, H3_CLOSED_CRITICAL_STREAM, "a QPACK stream was closed");
    return;
  }
  case SK_REQUEST:
  case SK_SESSION:
    read_frames(s, st, data, len, fin);
    break;
  }
  st = idmap_get(&s->streams, (uint64_t)sid);
  if (fin && st && st->kind == SK_SESSION && sid == s->session_id) {
    /* the peer finished the CONNECT stream: the session is over */
    if (s->state == WS_OPEN || s->state == WS_REQUESTED) {
      wt_close_info info = {.by_peer = 1};
      snprintf(info.reason, sizeof info.reason, "the peer finished the CONNECT stream");
      quic_conn_finish(s->conn, sid);
      notify_closed(s, &info);
      linger_then_close(s, "session finished");
    }
  }
}

static void q_reset(quic_conn *c, int64_t sid, uint64_t code, void *ud) {
  wt_session *s = ud;
  wt_stream *st = idmap_get(&s->streams, (uint64_t)sid);
  if (!st) {
    if (is_local(s, sid) && s->state == WS_OPEN && s->h->on_stream_reset && !is_uni(sid))
      s->h->on_stream_reset(s, sid, code_from_h3(code), s->ud);
    return;
  }
  switch (st->kind) {
  case SK_WT:
    if (s->state == WS_OPEN && s->h->on_stream_reset) s->h->on_stream_reset(s, sid, code_from_h3(code), s->ud);
    return;
  case SK_HELD:
    st->reset_in = 1;
    st->reset_code = code_from_h3(code);
    return;
  case SK_CONTROL:
  case SK_QPACK_ENC:
  case SK_QPACK_DEC: conn_error(s, H3_CLOSED_CRITICAL_STREAM, "a critical stream was reset"); return;
  case SK_SESSION:
    if (sid == s->session_id && s->state != WS_CLOSED) {
      wt_close_info info = {.by_peer = 1, .code = code};
      snprintf(info.reason, sizeof info.reason, "the peer reset the CONNECT stream");
      quic_conn_reset_stream(c, sid, H3_REQUEST_CANCELLED);
      notify_closed(s, &info);
      linger_then_close(s, "session reset");
    }
    return;
  default: return;
  }
}

static void q_closed_stream(quic_conn *c, int64_t sid, void *ud) {
  wt_session *s = ud;
  wt_stream *st = idmap_get(&s->streams, (uint64_t)sid);
  int wt;
  if (st) {
    wt = st->kind == SK_WT;
    stream_free(s, st);
  } else {
    wt = is_local(s, sid) && sid != s->ctrl_out && sid != s->enc_out && sid != s->dec_out && sid != s->session_id;
  }
  if (wt && s->state == WS_OPEN && s->h->on_stream_closed) s->h->on_stream_closed(s, sid, s->ud);
}

static void q_streams_available(quic_conn *c, void *ud) {
  wt_session *s = ud;
  if (s->state == WS_OPEN && s->h->on_streams_available) s->h->on_streams_available(s, s->ud);
}

static void q_datagram(quic_conn *c, const uint8_t *data, size_t len, void *ud) {
  wt_session *s = ud;
  uint64_t sid;
  const uint8_t *p;
  size_t n;
  if (h3_datagram_decode(data, len, &sid, &p, &n) < 0) return;
  if (s->state == WS_OPEN && sid == (uint64_t)s->session_id && s->h->on_datagram) s->h->on_datagram(s, p, n, s->ud);
}

static void free_cb(uv_handle_t *h) {
  wt_session *s = h->data;
  free(s);
}

static void session_free(wt_session *s) {
  size_t pos = 0;
  uint64_t key;
  void *val;
  while (idmap_next(&s->streams, &pos, &key, &val)) {
    wt_stream *st = val;
    free(st->buf);
    free(st->cbuf);
    free(st);
  }
  idmap_free(&s->streams);
  nghttp3_qpack_encoder_del(s->enc);
  nghttp3_qpack_decoder_del(s->dec);
  free(s->path);
  free(s->authority);
  for (size_t i = 0; i < s->n_offer; i++) free(s->offer[i]);
  free(s->offer);
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, free_cb);
}

static void q_closed(quic_conn *c, const quic_close_info *qi, void *ud) {
  wt_session *s = ud;
  s->conn = NULL;
  if (s->state != WS_CLOSED || s->notify_pending) {
    wt_close_info info;
    if (s->notify_pending) {
      info = s->pending;
    } else {
      memset(&info, 0, sizeof info);
      info.by_peer = qi->by_peer;
      info.idle = qi->idle;
      info.code = qi->code;
      snprintf(info.reason, sizeof info.reason, "%s", qi->reason);
    }
    s->state = WS_IDLE;
    notify_closed(s, &info);
  }
  session_free(s);
}

const quic_conn_handler wt_quic_handler = {
    .on_ready = q_ready,
    .on_stream_data = q_data,
    .on_stream_reset = q_reset,
    .on_stream_closed = q_closed_stream,
    .on_streams_available = q_streams_available,
    .on_datagram = q_datagram,
    .on_closed = q_closed,
};

/* ------------------------------------------------------------------------------------------ */
/* Construction */

static wt_session *session_alloc(uv_loop_t *loop, int server, const wt_handler *h, void *ud) {
  wt_session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->loop = loop;
  s->is_server = server;
  s->h = h;
  s->ud = ud;
  s->session_id = s->ctrl_out = s->enc_out = s->dec_out = -1;
  idmap_init(&s->streams);
  uint8_t seed[8];
  quic_random(seed, sizeof seed);
  uint64_t sd = 0;
  for (int i = 0; i < 8; i++) sd = sd << 8 | seed[i];
  if (nghttp3_qpack_encoder_new2(&s->enc, 0, sd, mem()) != 0 || nghttp3_qpack_decoder_new(&s->dec, 0, 0, mem()) != 0) {
    nghttp3_qpack_encoder_del(s->enc);
    free(s);
    return NULL;
  }
  uv_timer_init(loop, &s->timer);
  s->timer.data = s;
  return s;
}

wt_session *wt_session_server(uv_loop_t *loop, quic_conn *c, const wt_handler *handler, void *user_data) {
  wt_session *s = session_alloc(loop, 1, handler, user_data);
  if (!s) {
    quic_conn_close(c, H3_INTERNAL_ERROR, "out of memory");
    return NULL;
  }
  quic_conn_set_handler(c, &wt_quic_handler, s);
  q_ready(c, s);
  return s;
}

wt_session *wt_session_client(uv_loop_t *loop, const char *authority, const char *path,
                              const char *const *protocols, size_t n_protocols, const wt_handler *handler,
                              void *user_data) {
  wt_session *s = session_alloc(loop, 0, handler, user_data);
  if (!s) return NULL;
  s->authority = strdup(authority);
  s->path = strdup(path);
  s->offer = n_protocols ? calloc(n_protocols, sizeof *s->offer) : NULL;
  int bad = !s->authority || !s->path || (n_protocols && !s->offer);
  for (size_t i = 0; !bad && i < n_protocols; i++) {
    if (!(s->offer[i] = strdup(protocols[i]))) bad = 1;
    else s->n_offer++;
  }
  if (bad) {
    session_free(s);
    return NULL;
  }
  return s;
}

void wt_session_client_attach(wt_session *s, quic_conn *c) {
  if (!c) {
    session_free(s);
    return;
  }
  s->conn = c;
}

/* ------------------------------------------------------------------------------------------ */
/* The API */

int wt_session_accept(wt_session *s, const char *protocol) {
  if (!s->is_server || s->state != WS_REQUESTED || !s->conn) return WT_ERR_CLOSED;
  snprintf(s->protocol, sizeof s->protocol, "%s", protocol ? protocol : "");
  char quoted[sizeof s->protocol + 8];
  nghttp3_nv nva[3] = {NV(":status", "200"), NV("sec-webtransport-http3-draft", "draft02")};
  size_t n = 2;
  if (s->protocol[0] && h3_sf_string_quote(s->protocol, quoted, sizeof quoted) > 0)
    nva[n++] = (nghttp3_nv)NV("wt-protocol", quoted);
  if (send_headers(s, s->session_id, nva, n)) return WT_ERR_NOMEM;
  session_open(s);
  return 0;
}

void wt_session_refuse(wt_session *s, int status, const char *reason) {
  if (!s->is_server || s->state != WS_REQUESTED || !s->conn) return;
  char body[200];
  snprintf(body, sizeof body, "%s\n", reason ? reason : "refused");
  respond(s, s->session_id, status, NULL, body, 0);
  close_later(s, 0, status, 0, reason);
  linger_then_close(s, "refused");
}

const char *wt_session_protocol(const wt_session *s) { return s->protocol; }
const char *wt_session_path(const wt_session *s) { return s->path ? s->path : "/"; }
int64_t wt_session_id(const wt_session *s) { return s->session_id; }
quic_conn *wt_session_conn(const wt_session *s) { return s->conn; }

static int64_t open_stream(wt_session *s, int uni) {
  if (s->state != WS_OPEN || !s->conn) return WT_ERR_CLOSED;
  int64_t sid = uni ? quic_conn_open_uni(s->conn) : quic_conn_open_bidi(s->conn);
  if (sid == QUIC_ERR_STREAM_LIMIT) return WT_ERR_STREAM_LIMIT;
  if (sid < 0) return WT_ERR_CLOSED;
  uint8_t hdr[16];
  int n = h3_stream_hdr_encode(hdr, sizeof hdr, uni, (uint64_t)s->session_id);
  if (n < 0 || quic_conn_write_copy(s->conn, sid, hdr, (size_t)n)) return WT_ERR_NOMEM;
  return sid;
}

int64_t wt_session_open_bidi(wt_session *s) { return open_stream(s, 0); }
int64_t wt_session_open_uni(wt_session *s) { return open_stream(s, 1); }

static int map_err(int rv) {
  switch (rv) {
  case 0: return 0;
  case QUIC_ERR_NO_STREAM: return WT_ERR_NO_STREAM;
  case QUIC_ERR_NOMEM: return WT_ERR_NOMEM;
  case QUIC_ERR_STREAM_LIMIT: return WT_ERR_STREAM_LIMIT;
  default: return WT_ERR_CLOSED;
  }
}

int wt_session_write(wt_session *s, int64_t sid, chunk *data, size_t off, size_t len) {
  if (!s->conn) return WT_ERR_CLOSED;
  return map_err(quic_conn_write(s->conn, sid, data, off, len));
}

void wt_session_time_egress(wt_session *s, int64_t sid, uint64_t ready_ns) {
  if (s->conn) quic_conn_time_egress(s->conn, sid, ready_ns);
}

int wt_session_finish(wt_session *s, int64_t sid) {
  if (!s->conn) return WT_ERR_CLOSED;
  return map_err(quic_conn_finish(s->conn, sid));
}

int wt_session_reset_stream(wt_session *s, int64_t sid, uint64_t code) {
  if (!s->conn) return WT_ERR_CLOSED;
  return map_err(quic_conn_reset_stream(s->conn, sid, code_to_h3(code)));
}

int wt_session_stop_sending(wt_session *s, int64_t sid, uint64_t code) {
  if (!s->conn) return WT_ERR_CLOSED;
  return map_err(quic_conn_stop_sending(s->conn, sid, code_to_h3(code)));
}

int wt_session_set_priority(wt_session *s, int64_t sid, uint64_t prio) {
  if (!s->conn) return WT_ERR_CLOSED;
  return map_err(quic_conn_set_priority(s->conn, sid, prio));
}

size_t wt_session_stream_queued(wt_session *s, int64_t sid) {
  return s->conn ? quic_conn_stream_queued(s->conn, sid) : 0;
}

int wt_session_send_datagram(wt_session *s, const void *data, size_t len) {
  if (s->state != WS_OPEN || !s->conn) return WT_ERR_CLOSED;
  uint8_t *d = malloc(8 + len);
  if (!d) return WT_ERR_NOMEM;
  int n = h3_datagram_prefix_encode(d, 8, (uint64_t)s->session_id);
  int rv = WT_ERR_CLOSED;
  if (n > 0) {
    if (len) memcpy(d + n, data, len);
    rv = map_err(quic_conn_send_datagram(s->conn, d, (size_t)n + len));
  }
  free(d);
  return rv;
}

void wt_session_close(wt_session *s, uint64_t code, const char *reason) {
  if (s->state == WS_CLOSED || !s->conn) return;
  if (s->state == WS_OPEN) {
    uint8_t cap[1100];
    uint32_t c = code > 0xffffffffu ? 0xffffffffu : (uint32_t)code;
    int n = h3_close_session_encode(cap, sizeof cap, c, reason, reason ? strlen(reason) : 0);
    if (n > 0) send_data(s, s->session_id, cap, (size_t)n);
    quic_conn_finish(s->conn, s->session_id);
    close_later(s, 0, 0, code, reason);
    linger_then_close(s, reason);
    return;
  }
  if (s->state == WS_REQUESTED && s->is_server) {
    wt_session_refuse(s, 403, reason && *reason ? reason : "refused");
    return;
  }
  close_later(s, 0, 0, code, reason);
  linger_then_close(s, reason);
}
