/* Unit tests: the origin: publishing, watchers, one upstream subscription per track, fan-out of
 * shared frames, the latest group for late sinks, cache eviction, frame headers per version. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "origin/origin.h"
#include "source_log.h"

static uint64_t fake_now;
static uint64_t clock_fn(void *unused) {
  (void)unused;
  return fake_now;
}

typedef struct sink_log {
  track_sink sink;
  int groups, frames, groups_done, track_done;
  uint64_t done_code;
  char data[256];
  size_t len;
  int leave_on_frame;
} sink_log;

static void on_group(void *ud, group *g) { ((sink_log *)ud)->groups++; }
static void on_frame(void *ud, group *g, size_t i) {
  sink_log *l = ud;
  l->frames++;
  memcpy(l->data + l->len, g->frames[i].payload->data, g->frames[i].payload->len);
  l->len += g->frames[i].payload->len;
  if (l->leave_on_frame) track_unsubscribe(&l->sink);
}
static void on_group_done(void *ud, group *g) { ((sink_log *)ud)->groups_done++; }
static void on_track_done(void *ud, uint64_t code) {
  sink_log *l = ud;
  l->track_done++;
  l->done_code = code;
  track_unsubscribe(&l->sink);
}
static const track_sink_ops sink_ops = {on_group, on_frame, on_group_done, on_track_done};

static void sink_init(sink_log *l) {
  memset(l, 0, sizeof *l);
  l->sink.ops = &sink_ops;
  l->sink.user_data = l;
}

static void append(group *g, const char *s, uint64_t ts) {
  chunk *c = chunk_from(s, strlen(s));
  ck_assert_int_eq(group_frame_append(g, c, ts), 0);
  chunk_unref(c);
}

typedef struct watch_log {
  char events[512];
} watch_log;
static void on_watch(void *ud, const broadcast *b, int active) {
  watch_log *w = ud;
  strcat(w->events, active ? "+" : "-");
  strcat(w->events, broadcast_path(b));
  strcat(w->events, " ");
}

START_TEST(test_publish_watch_replace) {
  origin *o = origin_new(NULL, clock_fn, NULL);
  source_log a = {0}, b = {0};
  broadcast_source sa = {.subscribe = src_sub, .unsubscribe = src_unsub, .replaced = src_replaced, .user_data = &a},
                   sb = {.subscribe = src_sub, .unsubscribe = src_unsub, .replaced = src_replaced, .user_data = &b};
  watch_log w = {""}, w2 = {""};
  broadcast *x = origin_publish(o, "room/alice", NULL, 0, &sa);
  origin_watch *ow = origin_watch_new(o, "room", 1, on_watch, &w);
  origin_watch *ow2 = origin_watch_new(o, "roo", 1, on_watch, &w2); /* segment-aware: sees nothing */
  ck_assert_str_eq(w.events, "+room/alice ");
  ck_assert_ptr_eq(origin_find(o, "room/alice"), x);
  ck_assert_ptr_null(origin_find(o, "room"));
  origin_publish(o, "roomy/bob", NULL, 0, &sb);
  ck_assert_str_eq(w.events, "+room/alice ");
  broadcast *y = origin_publish(o, "room/alice", (uint64_t[]){7}, 1, &sb); /* replaces */
  ck_assert_int_eq(a.replaced, 1);
  ck_assert_str_eq(w.events, "+room/alice -room/alice +room/alice ");
  size_t n;
  ck_assert_uint_eq(broadcast_hops(y, &n)[0], 7);
  ck_assert_uint_eq(origin_count(o), 2);
  origin_unpublish(o, y, 0);
  ck_assert_str_eq(w.events, "+room/alice -room/alice +room/alice -room/alice ");
  ck_assert_str_eq(w2.events, "");
  origin_watch_free(ow);
  origin_watch_free(ow2);
  origin_free(o);
}
END_TEST

START_TEST(test_one_upstream_and_fanout) {
  origin *o = origin_new(NULL, clock_fn, NULL);
  source_log src = {0};
  broadcast_source bs = {.subscribe = src_sub, .unsubscribe = src_unsub, .user_data = &src};
  broadcast *b = origin_publish(o, "bbb", NULL, 0, &bs);
  sink_log s1, s2, s3;
  sink_init(&s1);
  sink_init(&s2);
  sink_init(&s3);
  ck_assert_int_eq(track_subscribe(b, "video", &s1.sink), 0);
  ck_assert_int_eq(track_subscribe(b, "video", &s2.sink), 0);
  ck_assert_int_eq(src.subscribes, 1); /* one upstream for two sinks */
  track *t = src.last;
  group *g = track_group_begin(t, 0);
  ck_assert_ptr_nonnull(g);
  append(g, "hello", 90000);
  append(g, "abc", 93000);
  ck_assert_int_eq(s1.groups, 1);
  ck_assert_int_eq(s2.frames, 2);
  ck_assert_str_eq(s2.data, "helloabc");
  /* both sinks see the same chunk: no copy */
  ck_assert_uint_eq(g->frames[0].payload->refs, 1);
  /* headers: lite-01..04 length; lite-05 zigzag delta + length */
  ck_assert_uint_eq(g->frames[0].hdr_a, 1);
  ck_assert_mem_eq(g->frames[0].hdr->data, "\x05", 1);
  ck_assert_uint_eq(g->frames[0].hdr_b, 5);
  ck_assert_mem_eq(g->frames[0].hdr->data + 1, "\x80\x02\xbf\x20\x05", 5);
  ck_assert_mem_eq(g->frames[1].hdr->data + g->frames[1].hdr_a, "\x57\x70\x03", 3);
  group_finish(g, 0);
  ck_assert_int_eq(s1.groups_done, 1);
  /* a late sink starts at the latest group, with its frames */
  ck_assert_int_eq(track_subscribe(b, "video", &s3.sink), 0);
  ck_assert_int_eq(s3.groups, 1);
  ck_assert_int_eq(s3.frames, 2);
  ck_assert_int_eq(s3.groups_done, 1);
  ck_assert_int_eq(src.subscribes, 1);
  track_unsubscribe(&s1.sink);
  track_unsubscribe(&s2.sink);
  ck_assert_int_eq(src.unsubscribes, 0);
  track_unsubscribe(&s3.sink); /* the last one cancels upstream */
  ck_assert_int_eq(src.unsubscribes, 1);
  ck_assert_int_eq(track_subscribe(b, "video", &s1.sink), 0); /* a new upstream */
  ck_assert_int_eq(src.subscribes, 2);
  track_unsubscribe(&s1.sink);
  origin_unpublish(o, b, 0);
  origin_free(o);
}
END_TEST

START_TEST(test_unpublish_and_finish) {
  origin *o = origin_new(NULL, clock_fn, NULL);
  source_log src = {0};
  broadcast_source bs = {.subscribe = src_sub, .unsubscribe = src_unsub, .user_data = &src};
  broadcast *b = origin_publish(o, "bbb", NULL, 0, &bs);
  sink_log s1, s2;
  sink_init(&s1);
  sink_init(&s2);
  track_subscribe(b, "a", &s1.sink);
  track_subscribe(b, "b", &s2.sink);
  ck_assert_int_eq(src.subscribes, 2);
  track_finish(src.last, 0); /* track b ends upstream, cleanly */
  ck_assert_int_eq(s2.track_done, 1);
  ck_assert_uint_eq(s2.done_code, 0);
  ck_assert_int_eq(s1.track_done, 0);
  origin_unpublish(o, b, 24); /* the publisher went away */
  ck_assert_int_eq(s1.track_done, 1);
  ck_assert_uint_eq(s1.done_code, 24);
  ck_assert_int_eq(src.unsubscribes, 1); /* told for the track still running */
  origin_free(o);
}
END_TEST

/* The total budget over all tracks: the track being written gives up its oldest groups. */
START_TEST(test_cache_total) {
  origin_limits lim;
  origin_limits_default(&lim);
  lim.cache_ms = 100000;
  lim.cache_track_bytes = 1000;
  lim.cache_total_bytes = 12;
  origin *o = origin_new(&lim, clock_fn, NULL);
  source_log src = {0};
  broadcast_source bs = {.subscribe = src_sub, .unsubscribe = src_unsub, .user_data = &src};
  broadcast *b = origin_publish(o, "bbb", NULL, 0, &bs);
  sink_log s1, s2;
  sink_init(&s1);
  sink_init(&s2);
  track_subscribe(b, "a", &s1.sink);
  track *ta = src.last;
  track_subscribe(b, "b", &s2.sink);
  track *tb = src.last;
  fake_now = 0;
  for (uint64_t i = 0; i < 3; i++) { /* a: 8 bytes cached beyond its latest */
    group *g = track_group_begin(ta, i);
    append(g, "0123", 0);
    group_finish(g, 0);
  }
  for (uint64_t i = 0; i < 3; i++) { /* b: another 8 would make 16 > 12: b drops its own oldest */
    group *g = track_group_begin(tb, i);
    append(g, "0123", 0);
    group_finish(g, 0);
  }
  group *g = track_group_begin(tb, 3); /* the eviction runs as a group begins */
  group_finish(g, 0);
  ck_assert_ptr_nonnull(track_find_group(ta, 0)); /* a keeps its cache */
  ck_assert_ptr_nonnull(track_find_group(ta, 1));
  ck_assert_ptr_null(track_find_group(tb, 0));    /* b gave up its oldest */
  ck_assert_ptr_nonnull(track_find_group(tb, 3));
  track_unsubscribe(&s1.sink);
  track_unsubscribe(&s2.sink);
  origin_unpublish(o, b, 0);
  origin_free(o);
}
END_TEST

/* Groups arriving out of order are found by sequence and kept in order; a duplicate is refused;
 * frames that reach an older group after a newer one began count against the byte budget. */
START_TEST(test_cache_order_and_late_bytes) {
  origin_limits lim;
  origin_limits_default(&lim);
  lim.cache_ms = 100000;
  lim.cache_track_bytes = 10;
  origin *o = origin_new(&lim, clock_fn, NULL);
  source_log src = {0};
  broadcast_source bs = {.subscribe = src_sub, .unsubscribe = src_unsub, .user_data = &src};
  broadcast *b = origin_publish(o, "ooo", NULL, 0, &bs);
  sink_log s;
  sink_init(&s);
  track_subscribe(b, "v", &s.sink);
  track *t = src.last;
  fake_now = 0;
  const uint64_t order[] = {5, 3, 4, 10, 7};
  group *gs[5];
  for (int i = 0; i < 5; i++) ck_assert_ptr_nonnull(gs[i] = track_group_begin(t, order[i]));
  ck_assert_ptr_null(track_group_begin(t, 4)); /* already there */
  for (int i = 0; i < 5; i++) ck_assert_ptr_eq(track_find_group(t, order[i]), gs[i]);
  ck_assert_ptr_null(track_find_group(t, 6));
  ck_assert_ptr_null(track_find_group(t, 11));
  ck_assert_ptr_null(track_find_group(t, 0));
  ck_assert_ptr_eq(track_latest(t), gs[3]);
  uint64_t prev = UINT64_MAX;
  for (group *g = track_latest(t); g; g = g->older) { /* newest first, in sequence order */
    ck_assert_uint_lt(g->seq, prev);
    prev = g->seq;
  }
  append(gs[3], "0123456789ab", 0); /* the newest: not counted, however big */
  group *g11 = track_group_begin(t, 11); /* 10 joins the count: 12 > 10, the oldest go first */
  ck_assert_ptr_nonnull(g11);
  ck_assert_ptr_null(track_find_group(t, 3));
  ck_assert_ptr_null(track_find_group(t, 7));
  ck_assert_ptr_null(track_find_group(t, 10)); /* even 10 (12 bytes alone) */
  ck_assert_ptr_eq(track_find_group(t, 11), g11);
  group *g12 = track_group_begin(t, 12);
  append(g11, "0123", 0); /* late frames of an older group: 4 bytes */
  ck_assert_ptr_nonnull(track_group_begin(t, 13)); /* 4 <= 10: 11 stays */
  ck_assert_ptr_eq(track_find_group(t, 11), g11);
  append(g11, "0123456", 0); /* 11 bytes now */
  group *g14 = track_group_begin(t, 14);
  ck_assert_ptr_null(track_find_group(t, 11));
  ck_assert_ptr_eq(track_find_group(t, 12), g12);
  ck_assert_ptr_eq(track_find_group(t, 14), g14);
  for (int i = 0; i < 5; i++) group_finish(gs[i], 0);
  group_finish(g11, 0);
  group_finish(g12, 0);
  group_finish(track_find_group(t, 13), 0);
  group_finish(g14, 0);
  track_unsubscribe(&s.sink);
  origin_unpublish(o, b, 0);
  origin_free(o);
}
END_TEST

/* A group still arriving when it leaves the cache: ending it aborted must release the cache's
 * reference once, not twice (a subscriber's stream still holds the group). */
START_TEST(test_evict_unfinished_group) {
  origin_limits lim;
  origin_limits_default(&lim);
  lim.cache_ms = 1000;
  origin *o = origin_new(&lim, clock_fn, NULL);
  source_log src = {0};
  broadcast_source bs = {.subscribe = src_sub, .unsubscribe = src_unsub, .user_data = &src};
  broadcast *b = origin_publish(o, "bbb", NULL, 0, &bs);
  sink_log s;
  sink_init(&s);
  track_subscribe(b, "v", &s.sink);
  track *t = src.last;
  fake_now = 0;
  group *g0 = track_group_begin(t, 0); /* the source's and the cache's references */
  append(g0, "0123", 0);
  group *held = group_ref(g0);         /* a subscriber's stream */
  ck_assert_uint_eq(g0->refs, 3);
  fake_now = 5000;
  group *g1 = track_group_begin(t, 1); /* evicts g0, still unfinished */
  ck_assert_ptr_null(track_find_group(t, 0));
  ck_assert_uint_eq(g0->refs, 2);      /* only the cache's reference went */
  group_finish(g0, 0);                 /* the source */
  ck_assert_uint_eq(held->refs, 1);
  group_unref(held);                   /* the stream: the last reference */
  group_finish(g1, 0);
  track_unsubscribe(&s.sink);
  origin_unpublish(o, b, 0);
  origin_free(o);
}
END_TEST

START_TEST(test_cache_eviction) {
  origin_limits lim;
  origin_limits_default(&lim);
  lim.cache_ms = 1000;
  lim.cache_track_bytes = 10;
  origin *o = origin_new(&lim, clock_fn, NULL);
  source_log src = {0};
  broadcast_source bs = {.subscribe = src_sub, .unsubscribe = src_unsub, .user_data = &src};
  broadcast *b = origin_publish(o, "bbb", NULL, 0, &bs);
  sink_log s;
  sink_init(&s);
  track_subscribe(b, "v", &s.sink);
  track *t = src.last;
  fake_now = 0;
  for (uint64_t i = 0; i < 5; i++) {
    group *g = track_group_begin(t, i);
    append(g, "0123", 0);
    group_finish(g, 0);
  }
  /* 10 bytes for non-latest groups: the latest and two older (8 bytes) stay */
  ck_assert_ptr_nonnull(track_find_group(t, 4));
  ck_assert_ptr_nonnull(track_find_group(t, 3));
  ck_assert_ptr_nonnull(track_find_group(t, 2));
  ck_assert_ptr_null(track_find_group(t, 1));
  fake_now = 5000; /* all old: only the latest is kept */
  group *g = track_group_begin(t, 5);
  ck_assert_ptr_nonnull(g);
  ck_assert_ptr_null(track_find_group(t, 4));
  ck_assert_ptr_eq(track_latest(t), g);
  /* a duplicate sequence is refused */
  ck_assert_ptr_null(track_group_begin(t, 5));
  group_finish(g, 0);
  track_unsubscribe(&s.sink);
  origin_unpublish(o, b, 0);
  origin_free(o);
}
END_TEST

START_TEST(test_sink_leaves_inside_callback) {
  origin *o = origin_new(NULL, clock_fn, NULL);
  source_log src = {0};
  broadcast_source bs = {.subscribe = src_sub, .unsubscribe = src_unsub, .user_data = &src};
  broadcast *b = origin_publish(o, "bbb", NULL, 0, &bs);
  sink_log s1, s2;
  sink_init(&s1);
  sink_init(&s2);
  s1.leave_on_frame = 1;
  track_subscribe(b, "v", &s1.sink);
  track_subscribe(b, "v", &s2.sink);
  group *g = track_group_begin(src.last, 0);
  append(g, "x", 0);
  append(g, "y", 0);
  ck_assert_int_eq(s1.frames, 1);
  ck_assert_int_eq(s2.frames, 2);
  group_finish(g, 0);
  track_unsubscribe(&s2.sink);
  ck_assert_int_eq(src.unsubscribes, 1);
  origin_unpublish(o, b, 0);
  origin_free(o);
}
END_TEST

int main(void) {
  Suite *s = suite_create("origin");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_publish_watch_replace);
  tcase_add_test(tc, test_one_upstream_and_fanout);
  tcase_add_test(tc, test_unpublish_and_finish);
  tcase_add_test(tc, test_cache_eviction);
  tcase_add_test(tc, test_cache_total);
  tcase_add_test(tc, test_cache_order_and_late_bytes);
  tcase_add_test(tc, test_evict_unfinished_group);
  tcase_add_test(tc, test_sink_leaves_inside_callback);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
