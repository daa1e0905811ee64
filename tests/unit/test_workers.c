/* Unit tests: several workers. Connection IDs name their worker; the kernel accepts the steering
 * program, and a datagram for another worker's connection is forwarded to it; the bridge between
 * two origins (each on its own loop, both run here on one thread) announces broadcasts, feeds one
 * subscription across by reference to the same payload chunk (no copy), cancels it with the last
 * subscriber, ends stand-ins with their broadcast, and lets a newer publisher on another worker
 * replace an older one; the session quota counts the sessions of every worker; GET /stats's board
 * sums what the other workers publish; --workers 0 counts the CPUs of the affinity mask. */
#include <arpa/inet.h>
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "origin/origin.h"
#include "quic/quic_int.h"
#include "relay/quota.h"
#include "relay/stats.h"
#include "worker/bridge.h"
#include "worker/mailbox.h"
#include "worker/worker.h"
#include "source_log.h"

START_TEST(cids_name_their_worker) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  char err[256];
  quic_endpoint *ep = quic_endpoint_new(&loop, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, err, sizeof err);
  ck_assert_msg(ep != NULL, "%s", err);
  const unsigned counts[] = {2, 3, 5, 7, 64};
  for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
    unsigned n = counts[c];
    for (unsigned k = 0; k < n; k++) {
      ck_assert_int_eq(quic_endpoint_set_worker(ep, k, n, 0, NULL, NULL), 0);
      int seen_high = 0;
      for (int i = 0; i < 2000; i++) {
        uint8_t id[QUIC_SCID_LEN];
        quic_endpoint_new_cid(ep, id, sizeof id);
        ck_assert_uint_eq(quic_cid_worker(id[0], n), k);
        seen_high |= id[0] >= 128;
      }
      ck_assert_msg(seen_high || n == 64, "the first byte keeps its random high bits");
    }
  }
  quic_endpoint_set_worker(ep, 0, 1, 0, NULL, NULL);
  ck_assert_uint_eq(quic_cid_worker(0xff, 1), 0);
  quic_endpoint_shutdown(ep, 0, "", NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(steering_program_attaches) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  quic_settings qs;
  quic_settings_default(&qs);
  qs.reuse_port = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  char err[256];
  quic_endpoint *e0 = quic_endpoint_new(&loop, (struct sockaddr *)&a, sizeof a, NULL, &qs, NULL, NULL, err, sizeof err);
  ck_assert_msg(e0 != NULL, "%s", err);
  const udp_addr *bound = quic_endpoint_local(e0);
  quic_endpoint *e1 = quic_endpoint_new(&loop, (const struct sockaddr *)&bound->ss, bound->len, NULL, &qs, NULL, NULL,
                                        err, sizeof err);
  ck_assert_msg(e1 != NULL, "the second worker's socket shares the port: %s", err);
  /* 0, or the kernel's refusal (the relay then forwards in user space); never another failure */
  int rv = quic_endpoint_set_worker(e0, 0, 2, 1, NULL, NULL);
  ck_assert_msg(rv == 0 || rv == -EINVAL || rv == -ENOPROTOOPT || rv == -EPERM, "steering: %d", rv);
  quic_endpoint_shutdown(e0, 0, "", NULL, NULL);
  quic_endpoint_shutdown(e1, 0, "", NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

typedef struct fwd_log {
  int calls;
  unsigned worker;
  size_t len;
} fwd_log;

static void on_forward(void *ud, unsigned worker, const udp_addr *local, const udp_addr *remote, const uint8_t *data,
                       size_t len, uint8_t ecn) {
  fwd_log *l = ud;
  l->calls++;
  l->worker = worker;
  l->len = len;
}

START_TEST(wrong_worker_forwards) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  char err[256];
  quic_endpoint *ep = quic_endpoint_new(&loop, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, err, sizeof err);
  ck_assert_msg(ep != NULL, "%s", err);
  fwd_log l = {0};
  ck_assert_int_eq(quic_endpoint_set_worker(ep, 0, 2, 0, on_forward, &l), 0);
  udp_addr local = *quic_endpoint_local(ep), remote = local;
  uint8_t pkt[64];
  memset(pkt, 0x5a, sizeof pkt);
  pkt[0] = 0x40;           /* short header */
  pkt[1] = 0x11;           /* DCID byte 0: 17 % 2 = worker 1 */
  quic_endpoint_inject(ep, &local, &remote, pkt, sizeof pkt, 0);
  ck_assert_int_eq(l.calls, 1);
  ck_assert_uint_eq(l.worker, 1);
  ck_assert_uint_eq(l.len, sizeof pkt);
  pkt[1] = 0x12;           /* worker 0: handled here (a stateless reset for an unknown connection) */
  quic_endpoint_inject(ep, &local, &remote, pkt, sizeof pkt, 0);
  ck_assert_int_eq(l.calls, 1);
  uint8_t initial[1200] = {0xc0, 0, 0, 0, 1, 8, 0x03}; /* long header, version 1, DCID 03..: worker 1 */
  quic_endpoint_inject(ep, &local, &remote, initial, sizeof initial, 0);
  ck_assert_int_eq(l.calls, 2);
  ck_assert_uint_eq(l.worker, 1);
  quic_endpoint_shutdown(ep, 0, "", NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Two workers' bridges */

typedef struct two {
  uv_loop_t loop[2];
  mailbox box[2];
  mailbox *boxes[2];
  origin *o[2];
  bridge *br[2];
} two;

static void deliver(void *ud, mail *m) {
  bridge *br = *(bridge **)ud;
  ck_assert(bridge_is_mail(m));
  bridge_receive(br, m);
}

static void two_init(two *t) {
  origin_limits ol;
  origin_limits_default(&ol);
  for (int k = 0; k < 2; k++) {
    ck_assert_int_eq(uv_loop_init(&t->loop[k]), 0);
    ck_assert_int_eq(mailbox_init(&t->box[k], &t->loop[k], deliver, &t->br[k]), 0);
    t->boxes[k] = &t->box[k];
    t->o[k] = origin_new(&ol, NULL, NULL);
  }
  for (int k = 0; k < 2; k++) t->br[k] = bridge_new(t->o[k], (unsigned)k, 2, t->boxes);
}

/* Lets each worker handle what the other posted. */
static void pump(two *t) {
  for (int i = 0; i < 6; i++)
    for (int k = 0; k < 2; k++) uv_run(&t->loop[k], UV_RUN_NOWAIT);
}

static void two_free(two *t) {
  for (int k = 0; k < 2; k++) {
    bridge_close(t->br[k]);
    mailbox_close(&t->box[k]);
  }
  for (int k = 0; k < 2; k++) {
    uv_run(&t->loop[k], UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&t->loop[k]), 0);
    mailbox_destroy(&t->box[k]);
    bridge_free(t->br[k]);
    origin_free(t->o[k]);
  }
}

typedef struct sink_log {
  track_sink sink;
  int groups, frames, groups_done, track_done;
  uint64_t last_seq;
  chunk *last_payload; /* borrowed: compared, never used */
} sink_log;

static void on_group(void *ud, group *g) {
  sink_log *l = ud;
  l->groups++;
  l->last_seq = g->seq;
}
static void on_frame(void *ud, group *g, size_t i) {
  sink_log *l = ud;
  l->frames++;
  l->last_payload = g->frames[i].payload;
}
static void on_group_done(void *ud, group *g) { ((sink_log *)ud)->groups_done++; }
static void on_track_done(void *ud, uint64_t code) { ((sink_log *)ud)->track_done++; }
static const track_sink_ops sink_ops = {on_group, on_frame, on_group_done, on_track_done};

START_TEST(bridge_feeds_by_reference) {
  two t;
  two_init(&t);
  source_log src = {0};
  broadcast_source bs = {.subscribe = src_sub, .unsubscribe = src_unsub, .replaced = src_replaced, .user_data = &src};
  uint64_t hops[] = {7};
  broadcast *b0 = origin_publish(t.o[0], "room/a", hops, 1, &bs);
  ck_assert_ptr_nonnull(b0);
  pump(&t);
  broadcast *b1 = origin_find(t.o[1], "room/a");
  ck_assert_msg(b1 != NULL, "worker 1 shows worker 0's broadcast");
  size_t n_hops;
  ck_assert_uint_eq(broadcast_hops(b1, &n_hops)[0], 7);
  ck_assert_uint_eq(bridge_imported(t.br[1]), 1);
  ck_assert_uint_eq(bridge_imported(t.br[0]), 0);

  /* two subscribers on worker 1: one subscription on worker 0 */
  sink_log s1 = {.sink = {.ops = &sink_ops}}, s2 = {.sink = {.ops = &sink_ops}};
  s1.sink.user_data = &s1;
  s2.sink.user_data = &s2;
  ck_assert_int_eq(track_subscribe(b1, "video", &s1.sink), 0);
  ck_assert_int_eq(track_subscribe(b1, "video", &s2.sink), 0);
  pump(&t);
  ck_assert_int_eq(src.subscribes, 1);
  ck_assert_ptr_nonnull(src.last);
  ck_assert_uint_eq(bridge_exported_tracks(t.br[0]), 1);

  chunk *c = chunk_from("hello", 5);
  group *g = track_group_begin(src.last, 42);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(group_frame_append(g, c, 0), 0);
  group_finish(g, 0);
  pump(&t);
  ck_assert_int_eq(s1.groups, 1);
  ck_assert_uint_eq(s1.last_seq, 42);
  ck_assert_int_eq(s1.frames, 1);
  ck_assert_ptr_eq(s1.last_payload, c); /* the same bytes: no copy across workers */
  ck_assert_ptr_eq(s2.last_payload, c);
  ck_assert_int_eq(s1.groups_done, 1);
  ck_assert_int_eq(s2.groups_done, 1);

  /* the last subscriber on worker 1 leaving cancels the subscription on worker 0 */
  track_unsubscribe(&s1.sink);
  pump(&t);
  ck_assert_int_eq(src.unsubscribes, 0);
  track_unsubscribe(&s2.sink);
  pump(&t);
  ck_assert_int_eq(src.unsubscribes, 1);
  ck_assert_uint_eq(bridge_exported_tracks(t.br[0]), 0);

  /* the broadcast ends on worker 0: its stand-in ends on worker 1 */
  origin_unpublish(t.o[0], b0, 0);
  pump(&t);
  ck_assert_ptr_null(origin_find(t.o[1], "room/a"));
  ck_assert_uint_eq(bridge_imported(t.br[1]), 0);
  chunk_unref(c);
  two_free(&t);
}
END_TEST

START_TEST(bridge_track_ends_with_broadcast) {
  two t;
  two_init(&t);
  source_log src = {0};
  broadcast_source bs = {.subscribe = src_sub, .unsubscribe = src_unsub, .user_data = &src};
  broadcast *b0 = origin_publish(t.o[0], "x", NULL, 0, &bs);
  pump(&t);
  sink_log s = {.sink = {.ops = &sink_ops}};
  s.sink.user_data = &s;
  ck_assert_int_eq(track_subscribe(origin_find(t.o[1], "x"), "t", &s.sink), 0);
  pump(&t);
  ck_assert_int_eq(src.subscribes, 1);
  origin_unpublish(t.o[0], b0, 0);
  pump(&t);
  ck_assert_int_eq(s.track_done, 1);
  track_unsubscribe(&s.sink);
  pump(&t);
  two_free(&t);
}
END_TEST

START_TEST(bridge_newer_publisher_wins) {
  two t;
  two_init(&t);
  source_log old = {0}, newer = {0};
  broadcast_source bo = {.subscribe = src_sub, .unsubscribe = src_unsub, .replaced = src_replaced, .user_data = &old};
  broadcast_source bn = {.subscribe = src_sub, .unsubscribe = src_unsub, .replaced = src_replaced, .user_data = &newer};
  ck_assert_ptr_nonnull(origin_publish(t.o[0], "p", NULL, 0, &bo));
  pump(&t);
  broadcast *mine = origin_publish(t.o[1], "p", NULL, 0, &bn);
  ck_assert_ptr_nonnull(mine);
  pump(&t);
  ck_assert_int_eq(old.replaced, 1);
  ck_assert_int_eq(newer.replaced, 0);
  ck_assert_ptr_eq(origin_find(t.o[1], "p"), mine);
  ck_assert(broadcast_get_source(origin_find(t.o[0], "p"))->user_data != &old); /* a stand-in now */
  /* and a worker_local broadcast is never bridged */
  broadcast_source bl = {.subscribe = src_sub, .user_data = &old, .worker_local = 1};
  ck_assert_ptr_nonnull(origin_publish(t.o[0], "local", NULL, 0, &bl));
  pump(&t);
  ck_assert_ptr_null(origin_find(t.o[1], "local"));
  origin_unpublish(t.o[0], origin_find(t.o[0], "local"), 0);
  origin_unpublish(t.o[1], mine, 0);
  pump(&t);
  ck_assert_ptr_null(origin_find(t.o[0], "p"));
  two_free(&t);
}
END_TEST

START_TEST(quota_counts_every_session) {
  session_quota q;
  ck_assert_int_eq(session_quota_init(&q), 0);
  /* 3 in all, 2 per address: the workers share this one count */
  ck_assert_ptr_null(session_quota_take(&q, 11, 3, 2));
  ck_assert_ptr_null(session_quota_take(&q, 11, 3, 2));
  ck_assert_str_eq(session_quota_take(&q, 11, 3, 2), "sessions_per_address");
  ck_assert_ptr_null(session_quota_take(&q, 22, 3, 2));
  ck_assert_str_eq(session_quota_take(&q, 33, 3, 2), "sessions");
  session_quota_give(&q, 11);
  ck_assert_ptr_null(session_quota_take(&q, 33, 3, 2));
  session_quota_give(&q, 11);
  session_quota_give(&q, 22);
  session_quota_give(&q, 33);
  ck_assert_uint_eq(q.sessions, 0);
  ck_assert_uint_eq(idmap_size(&q.per_address), 0);
  session_quota_destroy(&q);
}
END_TEST

typedef struct publisher_arg {
  stats_board *b;
  unsigned worker;
  uint64_t rounds;
} publisher_arg;

static void *publish_rounds(void *arg) {
  publisher_arg *a = arg;
  for (uint64_t i = 1; i <= a->rounds; i++) {
    relay_stats st = {.sessions = i, .admitted = i, .streams = 2 * i, .pacing_idle = a->worker};
    stats_board_publish(a->b, a->worker, &st);
  }
  return NULL;
}

START_TEST(stats_board_sums_the_others) {
  stats_board b;
  ck_assert_int_eq(stats_board_init(&b, 3), 0);
  relay_stats sum = {.sessions = 5}; /* worker 0's own */
  stats_board_add_others(&b, 0, &sum);
  ck_assert_uint_eq(sum.sessions, 5); /* nothing published yet */
  /* workers 1 and 2 publish from threads of their own while worker 0 reads */
  publisher_arg a1 = {&b, 1, 200000}, a2 = {&b, 2, 100000};
  pthread_t t1, t2;
  ck_assert_int_eq(pthread_create(&t1, NULL, publish_rounds, &a1), 0);
  ck_assert_int_eq(pthread_create(&t2, NULL, publish_rounds, &a2), 0);
  for (int i = 0; i < 1000; i++) {
    relay_stats mid = {0};
    stats_board_add_others(&b, 0, &mid);
    ck_assert_uint_le(mid.sessions, 300000);
  }
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  stats_board_publish(&b, 0, &(relay_stats){.sessions = 1000}); /* left out below: worker 0 is live */
  stats_board_publish(&b, 7, &(relay_stats){.sessions = 1000}); /* no such worker: ignored */
  sum = (relay_stats){.sessions = 5, .datagrams_sent = 9};
  stats_board_add_others(&b, 0, &sum);
  ck_assert_uint_eq(sum.sessions, 5 + 200000 + 100000);
  ck_assert_uint_eq(sum.admitted, 200000 + 100000);
  ck_assert_uint_eq(sum.streams, 400000 + 200000);
  ck_assert_uint_eq(sum.pacing_idle, 1 + 2);
  ck_assert_uint_eq(sum.datagrams_sent, 9);
  relay_stats from1 = {0};
  stats_board_add_others(&b, 1, &from1); /* as seen from worker 1: 0's and 2's */
  ck_assert_uint_eq(from1.sessions, 1000 + 100000);
  stats_board_destroy(&b);
}
END_TEST

START_TEST(workers_default_counts_allowed_cpus) {
  cpu_set_t saved, one;
  ck_assert_int_eq(sched_getaffinity(0, sizeof saved, &saved), 0);
  unsigned allowed = (unsigned)CPU_COUNT(&saved);
  ck_assert_uint_eq(worker_count_for_cpus(), allowed > WORKER_MAX ? WORKER_MAX : allowed);
  int first = 0;
  while (!CPU_ISSET(first, &saved)) first++;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
  ck_assert_uint_eq(worker_count_for_cpus(), 1);
  ck_assert_int_eq(sched_setaffinity(0, sizeof saved, &saved), 0);
  ck_assert_uint_eq(worker_count_for_cpus(), allowed > WORKER_MAX ? WORKER_MAX : allowed);
}
END_TEST

int main(void) {
  Suite *s = suite_create("workers");
  TCase *tc = tcase_create("workers");
  tcase_add_test(tc, cids_name_their_worker);
  tcase_add_test(tc, steering_program_attaches);
  tcase_add_test(tc, wrong_worker_forwards);
  tcase_add_test(tc, quota_counts_every_session);
  tcase_add_test(tc, stats_board_sums_the_others);
  tcase_add_test(tc, workers_default_counts_allowed_cpus);
  tcase_add_test(tc, bridge_feeds_by_reference);
  tcase_add_test(tc, bridge_track_ends_with_broadcast);
  tcase_add_test(tc, bridge_newer_publisher_wins);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
