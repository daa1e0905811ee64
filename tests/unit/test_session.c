/* Unit tests: a relay-side moq-lite session on a fake transport that records
 * what the session asks of it. Here: a track that ends cleanly ends its
 * subscribe stream only after its group streams have closed, so a client never
 * sees the end of the track before the last group. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "moq/session.h"
#include "source_log.h"

/* The fake transport: every call appended to log as "op:sid " (stream ids as
 * QUIC numbers them). */
typedef struct fake_tr {
  char log[4096];
  int64_t next_uni;
  uint8_t wire[512]; /* the bytes written on server uni streams (group streams), in order */
  size_t wire_len;
  chunk *first; /* owned reference: the chunk of the first such write (kept, so that no later
                   chunk can take its address) */
} fake_tr;

static void note(fake_tr *f, const char *op, int64_t sid) {
  size_t n = strlen(f->log);
  snprintf(f->log + n, sizeof f->log - n, "%s:%lld ", op, (long long)sid);
}
static int64_t t_open_bidi(void *ctx) {
  (void)ctx;
  return -1;
}
static int64_t t_open_uni(void *ctx) {
  fake_tr *f = ctx;
  int64_t sid = f->next_uni;
  f->next_uni += 4;
  note(f, "open", sid);
  return sid;
}
static int t_write(void *ctx, int64_t sid, chunk *c, size_t off, size_t len) {
  fake_tr *f = ctx;
  note(f, "write", sid);
  if ((sid & 3) == 3 && f->wire_len + len <= sizeof f->wire) {
    if (!f->wire_len) {
      chunk_unref(f->first);
      f->first = chunk_ref(c);
    }
    memcpy(f->wire + f->wire_len, c->data + off, len);
    f->wire_len += len;
  }
  return 0;
}
static int t_finish(void *ctx, int64_t sid) {
  note(ctx, "fin", sid);
  return 0;
}
static int t_reset(void *ctx, int64_t sid, uint64_t code) {
  (void)code;
  note(ctx, "reset", sid);
  return 0;
}
static int t_stop(void *ctx, int64_t sid, uint64_t code) {
  (void)code;
  note(ctx, "stop", sid);
  return 0;
}
static size_t t_queued(void *ctx, int64_t sid) {
  (void)ctx, (void)sid;
  return 0;
}
static void t_close(void *ctx, uint64_t code, const char *reason) {
  (void)code, (void)reason;
  note(ctx, "close", 0);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct rig {
  fake_tr f;
  origin *o;
  source_log src;
  broadcast_source bs;
  broadcast *b;
  moq_session *s;
} rig;

static uint64_t wanted_ms; /* the last want_wakeup delay (0: none asked) */
static void want_wakeup(moq_session *s, uint64_t delay_ms, void *ud) {
  (void)s, (void)ud;
  wanted_ms = delay_ms;
}
static const moq_session_events wake_events = {.want_wakeup = want_wakeup};

/* A relay session on origin o over the fake transport f (reset here). grace: the session's
 * end_grace_ms; with a grace the session may ask for wake-ups. */
static moq_session *session_on(origin *o, fake_tr *f, const char *alpn, int64_t grace) {
  memset(f, 0, sizeof *f);
  f->next_uni = 3; /* server-initiated uni */
  moq_transport tr = {.open_bidi = t_open_bidi,
                      .open_uni = t_open_uni,
                      .write = t_write,
                      .finish = t_finish,
                      .reset = t_reset,
                      .stop = t_stop,
                      .queued = t_queued,
                      .close = t_close,
                      .ctx = f};
  moq_session_config cfg = {.is_server = 1, .alpn = alpn, .log_id = "t", .end_grace_ms = grace};
  wanted_ms = 0;
  moq_session *s = moq_session_new(&cfg, &tr, o, grace ? &wake_events : NULL, NULL);
  ck_assert_ptr_nonnull(s);
  const char *all[] = {""};
  moq_grants g = {.subscribe = all, .n_subscribe = 1};
  ck_assert_int_eq(moq_session_set_grants(s, "", &g), 0);
  moq_session_start(s);
  if (strcmp(alpn, "moq-lite-05") == 0) { /* the client's SETUP on its first uni stream */
    moq_buf b;
    moq_buf_init(&b);
    moq_setup m = {.has_path = true, .path = moq_str_c("/")};
    ck_assert_int_ge(moq_uni_type_encode(&b, MOQ_LITE_05, MOQ_UNI_SETUP), 0);
    ck_assert_int_ge(moq_setup_encode(&b, MOQ_LITE_05, &m), 0);
    moq_session_on_stream_data(s, 2, b.data, b.len, 1);
    moq_buf_free(&b);
    ck_assert_int_eq(moq_session_version(s), MOQ_LITE_05);
  }
  return s;
}

/* A lite-04 or lite-05 relay session (no setup exchanged: the root is "/") with
 * the broadcast "live" in its origin, published by src. */
static void rig_start_grace(rig *r, const char *alpn, int64_t grace) {
  memset(r, 0, sizeof *r);
  r->o = origin_new(NULL, NULL, NULL);
  r->bs = (broadcast_source){
      .subscribe = src_sub, .unsubscribe = src_unsub, .replaced = src_replaced, .user_data = &r->src};
  r->b = origin_publish(r->o, "live", NULL, 0, &r->bs);
  ck_assert_ptr_nonnull(r->b);
  r->s = session_on(r->o, &r->f, alpn, grace);
}

static void rig_start(rig *r, const char *alpn) { rig_start_grace(r, alpn, 0); }

static void fake_done(fake_tr *f) {
  chunk_unref(f->first);
  f->first = NULL;
}

static void rig_stop(rig *r) {
  moq_session_on_transport_closed(r->s, 0, "done");
  origin_free(r->o);
  fake_done(&r->f);
}

/* The peer of s opens bidi stream 0 and subscribes to live/video with subscribe id `id`. */
static void subscribe_as(moq_session *s, moq_version v, uint64_t id) {
  moq_buf b;
  moq_buf_init(&b);
  moq_subscribe m = {.id = id, .path = moq_str_c("live"), .track = moq_str_c("video")};
  ck_assert_int_ge(moq_bidi_type_encode(&b, v, MOQ_BIDI_SUBSCRIBE), 0);
  ck_assert_int_ge(moq_subscribe_encode(&b, v, &m), 0);
  moq_session_on_stream_data(s, 0, b.data, b.len, 0);
  moq_buf_free(&b);
}

/* The peer opens bidi stream 0 and subscribes to live/video. */
static void subscribe(rig *r, moq_version v) {
  subscribe_as(r->s, v, 1);
  ck_assert_int_eq(r->src.subscribes, 1);
  ck_assert_ptr_nonnull(r->src.last);
}

static void publish_group(track *t, uint64_t seq, const char *payload) {
  group *g = track_group_begin(t, seq);
  ck_assert_ptr_nonnull(g);
  chunk *c = chunk_from(payload, strlen(payload));
  ck_assert_int_eq(group_frame_append(g, c, 0), 0);
  chunk_unref(c);
  group_finish(g, 0);
}

/* A lite-04 session subscribed to live/video, whose one group "alpha" is written: its stream id. */
static int64_t rig_one_group(rig *r, int64_t grace) {
  rig_start_grace(r, "moq-lite-04", grace);
  subscribe(r, MOQ_LITE_04);
  int64_t g0 = r->f.next_uni;
  publish_group(r->src.last, 0, "alpha");
  return g0;
}

static void last_group_before_end(const char *alpn, moq_version v) {
  rig r;
  rig_start(&r, alpn);
  subscribe(&r, v);
  track *t = r.src.last;
  int64_t g0 = r.f.next_uni, g1 = g0 + 4;
  char fin0[32], fin1[32];
  snprintf(fin0, sizeof fin0, "fin:%lld ", (long long)g0);
  snprintf(fin1, sizeof fin1, "fin:%lld ", (long long)g1);
  publish_group(t, 0, "alpha");
  publish_group(t, 1, "omega");
  ck_assert_ptr_nonnull(strstr(r.f.log, fin0));
  ck_assert_ptr_nonnull(strstr(r.f.log, fin1));
  r.f.log[0] = 0;
  track_finish(t, 0);
  /* Both group streams have queued FIN but are not closed: the subscribe stream
   * stays open. */
  ck_assert_ptr_null(strstr(r.f.log, "fin:0 "));
  ck_assert_ptr_null(strstr(r.f.log, "reset:0 "));
  moq_session_on_stream_closed(r.s, g1);
  ck_assert_ptr_null(strstr(r.f.log, "fin:0 "));
  moq_session_on_stream_closed(r.s, g0);
  /* lite-05 writes END before the FIN; lite-04 only finishes. */
  ck_assert_str_eq(r.f.log, v >= MOQ_LITE_05 ? "write:0 fin:0 " : "fin:0 ");
  rig_stop(&r);
}

/* What a group stream of one frame carries: the stream type and group header (subscribe id, group
 * sequence), then the frame's header (lite-05: timestamp delta 0, then the length) and payload. */
static void check_group_stream(const fake_tr *f, moq_version v, uint64_t id, uint64_t seq, const char *payload) {
  moq_buf b;
  moq_buf_init(&b);
  moq_group hdr = {.subscribe_id = id, .sequence = seq};
  ck_assert_int_ge(moq_uni_type_encode(&b, v, MOQ_UNI_GROUP), 0);
  ck_assert_int_ge(moq_group_encode(&b, v, &hdr), 0);
  if (v >= MOQ_LITE_05) ck_assert_int_eq(moq_buf_varint(&b, 0), 0);
  ck_assert_int_eq(moq_buf_varint(&b, strlen(payload)), 0);
  ck_assert_int_eq(moq_buf_append(&b, payload, strlen(payload)), 0);
  ck_assert_uint_eq(f->wire_len, b.len);
  ck_assert_mem_eq(f->wire, b.data, b.len);
  moq_buf_free(&b);
}

/* The group-stream header is encoded once per group for the subscribers of one version and
 * subscribe id, and each other subscriber gets its own. Subscribers are served newest first: d
 * (lite-05, id 1), c (lite-04, id 9), b and then the rig's session (lite-04, id 1), which shares
 * b's header. */
START_TEST(test_group_header_shared) {
  rig r;
  rig_start(&r, "moq-lite-04");
  subscribe(&r, MOQ_LITE_04);
  fake_tr fb, fc, fd;
  moq_session *b = session_on(r.o, &fb, "moq-lite-04", 0);
  subscribe_as(b, MOQ_LITE_04, 1);
  moq_session *c = session_on(r.o, &fc, "moq-lite-04", 0);
  subscribe_as(c, MOQ_LITE_04, 9);
  moq_session *d = session_on(r.o, &fd, "moq-lite-05", 0);
  subscribe_as(d, MOQ_LITE_05, 1);
  ck_assert_int_eq(r.src.subscribes, 1);
  fake_tr *all[] = {&r.f, &fb, &fc, &fd};
  for (size_t i = 0; i < 4; i++) all[i]->wire_len = 0; /* lite-05's SETUP went first */
  publish_group(r.src.last, 70000, "alpha");
  check_group_stream(&r.f, MOQ_LITE_04, 1, 70000, "alpha");
  check_group_stream(&fb, MOQ_LITE_04, 1, 70000, "alpha");
  check_group_stream(&fc, MOQ_LITE_04, 9, 70000, "alpha");
  check_group_stream(&fd, MOQ_LITE_05, 1, 70000, "alpha");
  ck_assert_ptr_nonnull(r.f.first);
  ck_assert_ptr_eq(r.f.first, fb.first); /* one header chunk for both */
  moq_session_on_transport_closed(b, 0, "done");
  moq_session_on_transport_closed(c, 0, "done");
  moq_session_on_transport_closed(d, 0, "done");
  fake_done(&fb);
  fake_done(&fc);
  fake_done(&fd);
  rig_stop(&r);
}
END_TEST

START_TEST(test_end_after_groups_lite04) { last_group_before_end("moq-lite-04", MOQ_LITE_04); }
END_TEST

START_TEST(test_end_after_groups_lite05) { last_group_before_end("moq-lite-05", MOQ_LITE_05); }
END_TEST

/* No group in flight: the end goes at once. */
START_TEST(test_end_at_once_without_groups) {
  rig r;
  rig_start(&r, "moq-lite-04");
  subscribe(&r, MOQ_LITE_04);
  r.f.log[0] = 0;
  track_finish(r.src.last, 0);
  ck_assert_str_eq(r.f.log, "fin:0 ");
  rig_stop(&r);
}
END_TEST

/* An error ends the subscription at once, without waiting for the groups. */
START_TEST(test_error_end_at_once) {
  rig r;
  rig_one_group(&r, 0);
  r.f.log[0] = 0;
  track_finish(r.src.last, MOQ_CODE_DROPPED);
  ck_assert_ptr_nonnull(strstr(r.f.log, "reset:0 "));
  rig_stop(&r);
}
END_TEST

/* The subscriber cancels while the end waits: nothing is sent for the gone
 * subscription later. */
START_TEST(test_cancel_while_end_waits) {
  rig r;
  int64_t g0 = rig_one_group(&r, 0);
  track_finish(r.src.last, 0);
  moq_session_on_stream_reset(r.s, 0, MOQ_CODE_CANCEL);
  r.f.log[0] = 0;
  moq_session_on_stream_closed(r.s, g0);
  ck_assert_str_eq(r.f.log, "");
  rig_stop(&r);
}
END_TEST

/* With an owner that can wake it, the end also waits end_grace_ms after the last group stream closed:
 * a client that holds the last group's bytes has time to parse them before the track ends. */
START_TEST(test_end_grace) {
  rig r;
  int64_t g0 = rig_one_group(&r, 40);
  track_finish(r.src.last, 0);
  r.f.log[0] = 0;
  uint64_t t0 = now_ms();
  moq_session_on_stream_closed(r.s, g0);
  ck_assert_str_eq(r.f.log, "");
  ck_assert(wanted_ms > 0 && wanted_ms <= 40);
  moq_session_wakeup(r.s); /* early: nothing yet */
  if (now_ms() - t0 < 40) ck_assert_str_eq(r.f.log, "");
  while (now_ms() - t0 <= 41) usleep(2000);
  moq_session_wakeup(r.s);
  ck_assert_str_eq(r.f.log, "fin:0 ");
  rig_stop(&r);
}
END_TEST

/* A track that ends right after its last group stream closed waits out the rest of the grace; one
 * that ends after the grace ends its subscriptions at once. */
START_TEST(test_end_grace_from_last_close) {
  rig r;
  int64_t g0 = rig_one_group(&r, 40);
  moq_session_on_stream_closed(r.s, g0);
  r.f.log[0] = 0;
  track_finish(r.src.last, 0);
  ck_assert_str_eq(r.f.log, "");
  ck_assert(wanted_ms > 0 && wanted_ms <= 40);
  rig_stop(&r);

  g0 = rig_one_group(&r, 10);
  moq_session_on_stream_closed(r.s, g0);
  usleep(15000);
  r.f.log[0] = 0;
  track_finish(r.src.last, 0);
  ck_assert_str_eq(r.f.log, "fin:0 ");
  rig_stop(&r);
}
END_TEST

int main(void) {
  Suite *s = suite_create("session");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_end_after_groups_lite04);
  tcase_add_test(tc, test_end_after_groups_lite05);
  tcase_add_test(tc, test_end_at_once_without_groups);
  tcase_add_test(tc, test_error_end_at_once);
  tcase_add_test(tc, test_cancel_while_end_waits);
  tcase_add_test(tc, test_end_grace);
  tcase_add_test(tc, test_end_grace_from_last_close);
  tcase_add_test(tc, test_group_header_shared);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
