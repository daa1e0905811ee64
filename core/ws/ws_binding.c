#include "ws/ws_binding.h"

static int64_t t_open_bidi(void *ctx) { return ws_conn_open_bidi(ctx); }
static int64_t t_open_uni(void *ctx) { return ws_conn_open_uni(ctx); }
static int t_write(void *ctx, int64_t sid, chunk *c, size_t off, size_t len) {
  return ws_conn_write(ctx, sid, c, off, len);
}
static int t_finish(void *ctx, int64_t sid) { return ws_conn_finish(ctx, sid); }
static int t_reset(void *ctx, int64_t sid, uint64_t code) { return ws_conn_reset_stream(ctx, sid, code); }
static int t_stop(void *ctx, int64_t sid, uint64_t code) { return ws_conn_stop_sending(ctx, sid, code); }
static size_t t_queued(void *ctx, int64_t sid) { return ws_conn_stream_queued(ctx, sid); }
static int t_prio(void *ctx, int64_t sid, uint64_t prio) { return ws_conn_set_priority(ctx, sid, prio); }
static void t_close(void *ctx, uint64_t code, const char *reason) { ws_conn_close(ctx, code, reason); }

void moq_ws_transport(moq_transport *tr, ws_conn *c) {
  tr->open_bidi = t_open_bidi;
  tr->open_uni = t_open_uni;
  tr->write = t_write;
  tr->finish = t_finish;
  tr->reset = t_reset;
  tr->stop = t_stop;
  tr->queued = t_queued;
  tr->set_priority = t_prio;
  tr->close = t_close;
  tr->time_egress = NULL; /* not measured over WebSocket */
  tr->arrival_ns = NULL;
  tr->ctx = c;
}

static void on_ready(ws_conn *c, void *ud) {
  moq_ws_binding *b = ud;
  b->conn = c;
  if (b->ready) b->ready(b);
  if (b->session) moq_session_start(b->session);
  else ws_conn_close(c, 9 /* Version */, "no session for this protocol");
}

static void on_data(ws_conn *c, int64_t sid, const uint8_t *data, size_t len, int fin, void *ud) {
  moq_ws_binding *b = ud;
  if (b->session) moq_session_on_stream_data(b->session, sid, data, len, fin);
}

static void on_reset(ws_conn *c, int64_t sid, uint64_t code, void *ud) {
  moq_ws_binding *b = ud;
  if (b->session) moq_session_on_stream_reset(b->session, sid, code);
}

static void on_stop(ws_conn *c, int64_t sid, uint64_t code, void *ud) {
  moq_ws_binding *b = ud;
  if (b->session) moq_session_on_stream_stop(b->session, sid, code);
}

static void on_stream_closed(ws_conn *c, int64_t sid, void *ud) {
  moq_ws_binding *b = ud;
  if (b->session) moq_session_on_stream_closed(b->session, sid);
}

static void on_streams_available(ws_conn *c, void *ud) {
  moq_ws_binding *b = ud;
  if (b->session) moq_session_on_streams_available(b->session);
}

static void on_closed(ws_conn *c, const ws_close_info *info, void *ud) {
  moq_ws_binding *b = ud;
  if (b->session) {
    moq_session *s = b->session;
    b->session = NULL;
    moq_session_on_transport_closed(s, info->code, info->reason);
  }
  b->conn = NULL;
  if (b->closed) b->closed(b, info);
}

const ws_conn_handler moq_ws_handler = {
    .on_ready = on_ready,
    .on_stream_data = on_data,
    .on_stream_reset = on_reset,
    .on_stream_stop = on_stop,
    .on_stream_closed = on_stream_closed,
    .on_streams_available = on_streams_available,
    .on_closed = on_closed,
};
