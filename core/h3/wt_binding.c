#include "h3/wt_binding.h"

static int64_t t_open_bidi(void *ctx) { return wt_session_open_bidi(ctx); }
static int64_t t_open_uni(void *ctx) { return wt_session_open_uni(ctx); }
static int t_write(void *ctx, int64_t sid, chunk *c, size_t off, size_t len) {
  return wt_session_write(ctx, sid, c, off, len);
}
static int t_finish(void *ctx, int64_t sid) { return wt_session_finish(ctx, sid); }
static int t_reset(void *ctx, int64_t sid, uint64_t code) { return wt_session_reset_stream(ctx, sid, code); }
static int t_stop(void *ctx, int64_t sid, uint64_t code) { return wt_session_stop_sending(ctx, sid, code); }
static size_t t_queued(void *ctx, int64_t sid) { return wt_session_stream_queued(ctx, sid); }
static int t_prio(void *ctx, int64_t sid, uint64_t prio) { return wt_session_set_priority(ctx, sid, prio); }
static void t_close(void *ctx, uint64_t code, const char *reason) { wt_session_close(ctx, code, reason); }
static void t_time_egress(void *ctx, int64_t sid, uint64_t ready_ns) { wt_session_time_egress(ctx, sid, ready_ns); }
static uint64_t t_arrival_ns(void *ctx) {
  (void)ctx;
  return quic_rx_arrival_ns(); /* WebTransport streams are read under the QUIC connection's datagram */
}

void moq_wt_transport(moq_transport *tr, wt_session *s) {
  tr->open_bidi = t_open_bidi;
  tr->open_uni = t_open_uni;
  tr->write = t_write;
  tr->finish = t_finish;
  tr->reset = t_reset;
  tr->stop = t_stop;
  tr->queued = t_queued;
  tr->set_priority = t_prio;
  tr->close = t_close;
  tr->time_egress = t_time_egress;
  tr->arrival_ns = t_arrival_ns;
  tr->ctx = s;
}

const char *moq_wt_alpn(const wt_session *s) {
  const char *p = wt_session_protocol(s);
  return p[0] ? p : MOQ_ALPN_LEGACY;
}

static void on_request(wt_session *s, const wt_request *req, void *ud) {
  moq_wt_binding *b = ud;
  b->conn = s;
  if (b->request) b->request(b, req);
  else wt_session_accept(s, NULL);
}

static void on_ready(wt_session *s, void *ud) {
  moq_wt_binding *b = ud;
  b->conn = s;
  if (b->ready) b->ready(b);
  if (b->session) moq_session_start(b->session);
  else wt_session_close(s, MOQ_CODE_VERSION, "no session for this protocol");
}

static void on_data(wt_session *s, int64_t sid, const uint8_t *data, size_t len, int fin, void *ud) {
  moq_wt_binding *b = ud;
  if (b->session) moq_session_on_stream_data(b->session, sid, data, len, fin);
}

static void on_reset(wt_session *s, int64_t sid, uint64_t code, void *ud) {
  moq_wt_binding *b = ud;
  if (b->session) moq_session_on_stream_reset(b->session, sid, code);
}

static void on_stop(wt_session *s, int64_t sid, uint64_t code, void *ud) {
  moq_wt_binding *b = ud;
  if (b->session) moq_session_on_stream_stop(b->session, sid, code);
}

static void on_stream_closed(wt_session *s, int64_t sid, void *ud) {
  moq_wt_binding *b = ud;
  if (b->session) moq_session_on_stream_closed(b->session, sid);
}

static void on_streams_available(wt_session *s, void *ud) {
  moq_wt_binding *b = ud;
  if (b->session) moq_session_on_streams_available(b->session);
}

static void on_closed(wt_session *s, const wt_close_info *info, void *ud) {
  moq_wt_binding *b = ud;
  if (b->session) {
    moq_session *ms = b->session;
    b->session = NULL;
    moq_session_on_transport_closed(ms, info->code, info->reason);
  }
  b->conn = NULL;
  if (b->closed) b->closed(b, info);
}

const wt_handler moq_wt_handler = {
    .on_request = on_request,
    .on_ready = on_ready,
    .on_stream_data = on_data,
    .on_stream_reset = on_reset,
    .on_stream_stop = on_stop,
    .on_stream_closed = on_stream_closed,
    .on_streams_available = on_streams_available,
    .on_closed = on_closed,
};
