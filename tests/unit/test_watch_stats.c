/* Unit tests: moq-bench's reading of a relay's GET /stats (core/bench/watch_stats): the egress-delay
 * histogram out of whole replies, and a clear error for a truncated, refused or malformed one. */
#include <check.h>
#include <string.h>

#include "bench/watch_stats.h"

static const char ok_body[] =
    "{\"sessions\":0,\"pacing_now\":3,\"egress_delay_us\":{\"count\":7,\"p50\":320,\"p90\":448,\"p99\":512,"
    "\"max\":512,\"buckets\":[[0,1],[256,4],[448,2]]}}\n";

/* A reply as the relay's HTTP server sends it: status, headers with Content-Length, the body. */
static size_t make_reply(char *out, size_t cap, const char *status, const char *body) {
  return (size_t)snprintf(out, cap, "HTTP/1.1 %s\r\nContent-Type: application/json\r\ncontent-length: %zu\r\n\r\n%s",
                          status, strlen(body), body);
}

START_TEST(test_parse_reply) {
  char r[1024], err[200];
  size_t n = make_reply(r, sizeof r, "200 OK", ok_body);
  delay_hist h;
  ck_assert_msg(watch_stats_parse(r, n, &h, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(delay_hist_count(&h), 7);
  ck_assert_uint_eq(h.n[0], 1);
  ck_assert_uint_eq(h.n[delay_hist_bucket(256)], 4);
  ck_assert_uint_eq(h.n[delay_hist_bucket(448)], 2);
  ck_assert_uint_eq(delay_hist_pct(&h, 50), 320); /* the bucket [256, 320) */
  /* an empty histogram is a histogram */
  n = make_reply(r, sizeof r, "200 OK", "{\"egress_delay_us\":{\"count\":0,\"buckets\":[]}}");
  ck_assert_msg(watch_stats_parse(r, n, &h, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(delay_hist_count(&h), 0);
}
END_TEST

/* Each case: a reply, and words its error must contain. */
START_TEST(test_parse_errors) {
  static const struct {
    const char *status, *body, *why;
  } cases[] = {
      {"404 Not Found", "not found\n", "answered \"HTTP/1.1 404"},
      {"200 OK", "{\"sessions\":1}", "no egress_delay_us"},
      {"200 OK", "{\"egress_delay_us\":3}", "no egress_delay_us"},
      {"200 OK", "{\"egress_delay_us\":{\"buckets\":{}}}", "buckets: expected an array"},
      {"200 OK", "{\"egress_delay_us\":{\"buckets\":[[256]]}}", "buckets[0]: expected [lower, count]"},
      {"200 OK", "{\"egress_delay_us\":{\"buckets\":[[0,1],[256,\"4\"]]}}", "buckets[1]: expected [lower, count]"},
      {"200 OK", "{\"egress_delay_us\":{\"buckets\":[[256,-1]]}}", "buckets[0]: expected [lower, count]"},
      {"200 OK", "{\"egress_delay_us\":{\"buckets\":[[300,1]]}}", "300 is not a bucket's lower edge"},
      {"200 OK", "{\"egress_delay_us\":{\"buckets\":[[256,1]]", "not JSON"},
  };
  char r[1024], err[200];
  delay_hist h;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = make_reply(r, sizeof r, cases[i].status, cases[i].body);
    err[0] = 0;
    ck_assert_msg(watch_stats_parse(r, n, &h, err, sizeof err) == -1, "case %zu parsed", i);
    ck_assert_msg(strstr(err, cases[i].why) != NULL, "case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].why);
    ck_assert_uint_eq(delay_hist_count(&h), 0); /* nothing half-filled */
  }
  /* cut anywhere before the end of its headers, or not HTTP at all */
  size_t n = make_reply(r, sizeof r, "200 OK", ok_body);
  const char *hdr_end = strstr(r, "\r\n\r\n");
  for (size_t cut = 0; cut < (size_t)(hdr_end - r) + 3; cut++) {
    ck_assert_msg(watch_stats_parse(r, cut, &h, err, sizeof err) == -1, "cut at %zu parsed", cut);
    ck_assert_msg(strstr(err, "ended before its headers") != NULL, "cut at %zu: %s", cut, err);
  }
  /* cut inside the body: shorter than its Content-Length */
  for (size_t cut = (size_t)(hdr_end - r) + 4; cut < n; cut++) {
    ck_assert_msg(watch_stats_parse(r, cut, &h, err, sizeof err) == -1, "cut at %zu parsed", cut);
    ck_assert_msg(strstr(err, "bytes into a") != NULL, "cut at %zu: %s", cut, err);
  }
  static const char junk[] = "SSH-2.0-OpenSSH\r\n\r\n{}";
  ck_assert_int_eq(watch_stats_parse(junk, sizeof junk - 1, &h, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "not an HTTP reply") != NULL, "%s", err);
}
END_TEST

START_TEST(test_init_address) {
  watch_stats w;
  char err[200];
  uv_loop_t *loop = uv_default_loop();
  ck_assert_msg(watch_stats_init(&w, loop, "127.0.0.1:4443", err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(w.addr.ss_family, AF_INET);
  ck_assert_msg(watch_stats_init(&w, loop, "[::1]:4443", err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(w.addr.ss_family, AF_INET6);
  static const char *const bad[] = {"127.0.0.1", ":4443", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
                                    "127.0.0.1:44x", "[::1]4443", "[::1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(watch_stats_init(&w, loop, bad[i], err, sizeof err) == -1, "\"%s\" accepted", bad[i]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("watch_stats");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_parse_reply);
  tcase_add_test(tc, test_parse_errors);
  tcase_add_test(tc, test_init_address);
  suite_add_tcase(s, tc);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? 1 : 0;
}
