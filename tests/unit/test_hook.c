/* Unit tests: the hook chain (core/hook): plugin loading and refusal, chaining order and the first
 * definite answer, the authenticate phase and claims, pending answers resumed later (and after
 * the session went away), grants, events, timers, config values, session info parsing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "hook/hook.h"

/* A scriptable test plugin: each instance answers what its fields say. */
typedef struct tp {
  const moq_core *core;
  moq_plugin_host *h;
  int auth_answer, session_answer, announce_answer;
  int asked_auth, asked_session, asked_announce, events, ticks;
  int grant;                 /* call core->grant on ALLOW */
  int set_claims;            /* authenticate: attach claims */
  moq_request *held;         /* a request answered later */
  const moq_claims *seen_claims;
  int fini_called;
} tp;

static tp plugins[4];
static int next_plugin;
static int tick_ms;

static int tp_authenticate(void *st, const moq_session_info *s, moq_request *req) {
  tp *p = st;
  p->asked_auth++;
  if (p->set_claims) {
    static const char *put[] = {"live"};
    moq_claims c = {.root = "demo", .put = put, .n_put = 1, .exp = 42};
    ck_assert_int_eq(p->core->set_claims(req, &c), 0);
  }
  if (p->auth_answer == MOQ_HOOK_DENY) p->core->set_reason(req, 6, "bad credentials");
  return p->auth_answer;
}

static int tp_session(void *st, const moq_session_info *s, moq_request *req) {
  tp *p = st;
  p->asked_session++;
  p->seen_claims = s->claims;
  if (p->session_answer == MOQ_HOOK_PENDING) {
    p->held = req;
    return MOQ_HOOK_PENDING;
  }
  if (p->session_answer == MOQ_HOOK_ALLOW && p->grant) {
    static const char *pub[] = {"a", "b"};
    static const char *sub[] = {""};
    ck_assert_int_eq(p->core->grant(req, "room", pub, 2, sub, 1, MOQ_GRANT_CLUSTER, 99), 0);
  }
  if (p->session_answer == MOQ_HOOK_DENY) p->core->set_reason(req, 0, "no");
  return p->session_answer;
}

static int tp_announce(void *st, const moq_session_info *s, const char *path, moq_request *req) {
  tp *p = st;
  p->asked_announce++;
  if (p->announce_answer == MOQ_HOOK_PENDING) {
    p->held = req;
    /* answering during the call is allowed: the chain takes it as the answer */
    if (strcmp(path, "now") == 0) p->core->resume(req, MOQ_HOOK_DENY);
  }
  return p->announce_answer;
}

static void tp_event(void *st, const moq_event *ev) {
  tp *p = st;
  if (ev->type == MOQ_EVENT_TICK) p->ticks++;
  else p->events++;
}

static void tp_fini(void *st) { ((tp *)st)->fini_called++; }

static int tp_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                   char *err, size_t errlen) {
  tp *p = &plugins[next_plugin++];
  p->core = core;
  p->h = h;
  memset(out, 0, sizeof *out);
  out->api_version = MOQ_PLUGIN_API_VERSION;
  out->size = sizeof *out;
  out->name = "tp";
  out->state = p;
  out->tick_ms = (uint64_t)tick_ms;
  out->authenticate = tp_authenticate;
  out->session = tp_session;
  out->announce = tp_announce;
  out->event = tp_event;
  out->fini = tp_fini;
  const char *v = core->config_get(cfg, "fail");
  if (v) {
    snprintf(err, errlen, "asked to fail: %s", v);
    return -1;
  }
  return 0;
}

static int future_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                       char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->api_version = (MOQ_PLUGIN_API_MAJOR + 1u) << 16;
  out->size = sizeof *out;
  out->name = "future";
  out->fini = tp_fini; /* must never be called */
  out->state = &plugins[3];
  return 0;
}

static uv_loop_t loop;
static hook_chain *hc;

static void setup(void) {
  memset(plugins, 0, sizeof plugins);
  next_plugin = 0;
  tick_ms = 0;
  uv_loop_init(&loop);
  hc = hook_chain_new(&loop, NULL);
}

static void teardown(void) {
  hook_chain_free(hc);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
}

static void load(int n) {
  char err[300];
  for (int i = 0; i < n; i++) ck_assert_msg(hook_chain_load(hc, "test", tp_init, NULL, err, sizeof err) == 0, "%s", err);
}

static hook_session hs;
static void session(const char *pq) {
  ck_assert_int_eq(hook_session_init(&hs, 7, "quic", "moq-lite-05", "127.0.0.1:5", pq, 0), 0);
}

static int done_calls;
static hook_verdict done_v;
static int cancel_calls;
static void on_done(void *ud, const hook_verdict *v) {
  if (!v) { /* cancelled */
    cancel_calls++;
    return;
  }
  done_calls++;
  done_v.answer = v->answer;
  done_v.code = v->code;
}

START_TEST(test_no_plugins_pass) {
  session("/room");
  hook_verdict v;
  ck_assert_int_eq(hook_ask_session(hc, &hs, &v, on_done, NULL), MOQ_HOOK_PASS);
  ck_assert_int_eq(v.answer, MOQ_HOOK_PASS);
  hook_verdict_free(&v);
  ck_assert_int_eq(hook_ask_announce(NULL, &hs, "x", &v, on_done, NULL), MOQ_HOOK_PASS);
  hook_verdict_free(&v);
  hook_session_free(&hs);
}
END_TEST

START_TEST(test_first_answer_wins) {
  load(3);
  plugins[1].session_answer = MOQ_HOOK_DENY;
  plugins[2].session_answer = MOQ_HOOK_ALLOW;
  session("/room");
  hook_verdict v;
  ck_assert_int_eq(hook_ask_session(hc, &hs, &v, on_done, NULL), MOQ_HOOK_DENY);
  ck_assert_str_eq(v.reason, "no");
  ck_assert_str_eq(v.plugin, "tp");
  ck_assert_int_eq(plugins[0].asked_session, 1);
  ck_assert_int_eq(plugins[1].asked_session, 1);
  ck_assert_int_eq(plugins[2].asked_session, 0); /* never asked after a definite answer */
  ck_assert_int_eq(plugins[0].asked_auth + plugins[1].asked_auth + plugins[2].asked_auth, 3);
  hook_verdict_free(&v);
  hook_session_free(&hs);
}
END_TEST

START_TEST(test_grants) {
  load(1);
  plugins[0].session_answer = MOQ_HOOK_ALLOW;
  plugins[0].grant = 1;
  session("/room");
  hook_verdict v;
  ck_assert_int_eq(hook_ask_session(hc, &hs, &v, on_done, NULL), MOQ_HOOK_ALLOW);
  ck_assert(v.grants.set);
  ck_assert_str_eq(v.grants.root, "room");
  ck_assert_uint_eq(v.grants.n_publish, 2);
  ck_assert_str_eq(v.grants.publish[1], "b");
  ck_assert_uint_eq(v.grants.n_subscribe, 1);
  ck_assert_int_eq(v.grants.flags, MOQ_GRANT_CLUSTER);
  ck_assert_int_eq(v.grants.expires, 99);
  hook_verdict_free(&v);
  hook_session_free(&hs);
}
END_TEST

START_TEST(test_authenticate_claims) {
  load(2);
  plugins[0].auth_answer = MOQ_HOOK_ALLOW;
  plugins[0].set_claims = 1;
  session("/demo?jwt=abc");
  hook_verdict v;
  ck_assert_int_eq(hook_ask_session(hc, &hs, &v, on_done, NULL), MOQ_HOOK_PASS);
  ck_assert_int_eq(plugins[1].asked_auth, 0); /* authenticated: the phase ends */
  ck_assert_ptr_nonnull(plugins[1].seen_claims);
  ck_assert_ptr_nonnull(hs.info.claims);
  ck_assert_str_eq(hs.info.claims->root, "demo");
  ck_assert_str_eq(hs.info.claims->put[0], "live");
  ck_assert_int_eq(hs.info.claims->exp, 42);
  hook_verdict_free(&v);
  hook_session_free(&hs);
}
END_TEST

START_TEST(test_authenticate_deny) {
  load(2);
  plugins[0].auth_answer = MOQ_HOOK_DENY;
  session("/demo?jwt=abc");
  hook_verdict v;
  ck_assert_int_eq(hook_ask_session(hc, &hs, &v, on_done, NULL), MOQ_HOOK_DENY);
  ck_assert_uint_eq(v.code, 6);
  ck_assert_str_eq(v.reason, "bad credentials");
  ck_assert_int_eq(plugins[1].asked_session, 0);
  ck_assert_int_eq(plugins[0].asked_session, 0);
  hook_verdict_free(&v);
  hook_session_free(&hs);
}
END_TEST

START_TEST(test_pending_resume) {
  load(2);
  plugins[0].session_answer = MOQ_HOOK_PENDING;
  plugins[1].session_answer = MOQ_HOOK_ALLOW;
  session("/room");
  hook_verdict v;
  done_calls = 0;
  ck_assert_int_eq(hook_ask_session(hc, &hs, &v, on_done, NULL), MOQ_HOOK_PENDING);
  ck_assert_int_eq(plugins[1].asked_session, 0);
  plugins[0].core->resume(plugins[0].held, MOQ_HOOK_PASS); /* no opinion after all: ask the next */
  ck_assert_int_eq(plugins[1].asked_session, 1);
  ck_assert_int_eq(done_calls, 1);
  ck_assert_int_eq(done_v.answer, MOQ_HOOK_ALLOW);
  hook_session_free(&hs);
}
END_TEST

START_TEST(test_pending_cancelled) {
  load(1);
  plugins[0].session_answer = MOQ_HOOK_PENDING;
  session("/room");
  hook_verdict v;
  done_calls = 0;
  ck_assert_int_eq(hook_ask_session(hc, &hs, &v, on_done, NULL), MOQ_HOOK_PENDING);
  cancel_calls = 0;
  hook_cancel_session(hc, &hs);
  ck_assert_int_eq(cancel_calls, 1); /* the owner is told once, at once */
  hook_session_free(&hs);
  plugins[0].core->resume(plugins[0].held, MOQ_HOOK_ALLOW); /* the session is gone: discarded */
  ck_assert_int_eq(done_calls, 0);
  ck_assert_int_eq(cancel_calls, 1);
}
END_TEST

START_TEST(test_pending_never_answered) {
  load(1);
  plugins[0].session_answer = MOQ_HOOK_PENDING;
  session("/room");
  hook_verdict v;
  ck_assert_int_eq(hook_ask_session(hc, &hs, &v, on_done, NULL), MOQ_HOOK_PENDING);
  hook_cancel_session(hc, &hs);
  hook_session_free(&hs);
  /* teardown frees the orphan: LeakSanitizer would see it otherwise */
}
END_TEST

START_TEST(test_resume_during_call) {
  load(1);
  plugins[0].announce_answer = MOQ_HOOK_PENDING;
  session("/room");
  hook_verdict v;
  ck_assert_int_eq(hook_ask_announce(hc, &hs, "now", &v, on_done, NULL), MOQ_HOOK_DENY);
  hook_verdict_free(&v);
  hook_session_free(&hs);
}
END_TEST

START_TEST(test_refusals) {
  char err[300];
  const char *keys[] = {"fail"}, *values[] = {"yes"};
  moq_plugin_config cfg = {.keys = keys, .values = values, .n = 1, .source = "t"};
  ck_assert_int_eq(hook_chain_load(hc, "p.so", tp_init, &cfg, err, sizeof err), -1);
  ck_assert_str_eq(err, "p.so: the plugin refused to start: asked to fail: yes");
  ck_assert_int_eq(hook_chain_load(hc, "future.so", future_init, NULL, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "built for hook API 2.0; this relay speaks 1.1"));
  ck_assert_int_eq(plugins[3].fini_called, 0);
  ck_assert_int_eq(hook_chain_load(hc, "/nonexistent/x.so", NULL, NULL, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.so: cannot load"));
  ck_assert_int_eq(hook_chain_load(hc, "libm.so.6", NULL, NULL, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "not a moq-relay plugin"));
  ck_assert_uint_eq(hook_chain_count(hc), 0);
}
END_TEST

START_TEST(test_example_so) {
  char err[300], path[512];
  snprintf(path, sizeof path, "%s/tests/plugins/example.so", TEST_BUILDDIR);
  const char *keys[] = {"deny_publish"}, *values[] = {"private"};
  moq_plugin_config cfg = {.keys = keys, .values = values, .n = 1, .source = "t"};
  ck_assert_msg(hook_chain_load(hc, path, NULL, &cfg, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(hook_chain_name(hc, 0), "example");
  session("/");
  hook_verdict v;
  ck_assert_int_eq(hook_ask_announce(hc, &hs, "private/cam", &v, on_done, NULL), MOQ_HOOK_DENY);
  hook_verdict_free(&v);
  ck_assert_int_eq(hook_ask_announce(hc, &hs, "privateer", &v, on_done, NULL), MOQ_HOOK_PASS);
  hook_verdict_free(&v);
  hook_session_free(&hs);
}
END_TEST

START_TEST(test_events_and_ticks) {
  tick_ms = 10;
  load(2);
  moq_event ev = {.size = sizeof ev, .type = MOQ_EVENT_BROADCAST_UP, .path = "a"};
  hook_emit(hc, &ev);
  ck_assert_int_eq(plugins[0].events, 1);
  ck_assert_int_eq(plugins[1].events, 1);
  uint64_t start = uv_now(&loop);
  while (plugins[0].ticks < 2 && uv_now(&loop) - start < 2000) uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_ge(plugins[0].ticks, 2);
}
END_TEST

static int timer_fired;
static void on_timer(void *arg) { timer_fired++; }

START_TEST(test_core_functions) {
  load(1);
  const moq_core *core = plugins[0].core;
  ck_assert_uint_eq(core->api_version, MOQ_PLUGIN_API_VERSION);
  ck_assert(core->size >= sizeof(moq_core));
  ck_assert(core->path_has_prefix("a/b", "a"));
  ck_assert(core->path_has_prefix("/a/b/", "a/"));
  ck_assert(!core->path_has_prefix("ab", "a"));
  ck_assert(core->path_has_prefix("anything", ""));
  ck_assert(!core->path_has_prefix("a", "a/b"));
  const char *keys[] = {"k", "k", "x"}, *values[] = {"1", "2", "3"};
  moq_plugin_config cfg = {.keys = keys, .values = values, .n = 3};
  ck_assert_str_eq(core->config_get(&cfg, "k"), "1");
  ck_assert_ptr_null(core->config_get(&cfg, "y"));
  timer_fired = 0;
  moq_timer *once = core->timer_start(plugins[0].h, 5, 0, on_timer, NULL);
  moq_timer *stopped = core->timer_start(plugins[0].h, 5, 0, on_timer, NULL);
  core->timer_stop(stopped);
  ck_assert_ptr_nonnull(once);
  uint64_t start = uv_now(&loop);
  while (timer_fired < 1 && uv_now(&loop) - start < 2000) uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(timer_fired, 1);
  core->timer_stop(once);
  ck_assert_int_eq(core->session_close(plugins[0].h, 1, 0, "x"), -1); /* no relay behind this chain */
}
END_TEST

START_TEST(test_session_info) {
  ck_assert_int_eq(hook_session_init(&hs, 3, "websocket", "moql", "[::1]:9", "/room/a/?x=1&jwt=a%2Eb+c&y", 2), 0);
  ck_assert_str_eq(hs.info.path, "room/a");
  ck_assert_str_eq(hs.info.query, "x=1&jwt=a%2Eb+c&y");
  ck_assert_str_eq(hs.info.jwt, "a.b c");
  ck_assert_str_eq(hs.info.transport, "websocket");
  ck_assert_int_eq(hs.info.role, 2);
  ck_assert_ptr_null(hs.info.claims);
  const char *names[] = {"leaf1.example", "alt"};
  ck_assert_int_eq(hook_session_set_peer(&hs, names, 2, "abcd", 1), 0);
  ck_assert_str_eq(hs.info.peer_names[0], "leaf1.example");
  ck_assert_int_eq(hs.info.peer_verified, 1);
  hook_session_free(&hs);
  ck_assert_int_eq(hook_session_init(&hs, 3, "quic", "x", "r", "/?jwt=", 0), 0);
  ck_assert_ptr_null(hs.info.jwt); /* empty: none */
  ck_assert_str_eq(hs.info.path, "");
  hook_session_free(&hs);
  ck_assert_int_eq(hook_session_init(&hs, 3, "quic", "x", "r", "/bad%zz?jwt=%4", 0), 0);
  ck_assert_str_eq(hs.info.jwt, "%4"); /* a broken escape is kept as it is */
  hook_session_free(&hs);
  ck_assert_int_eq(hook_session_init(&hs, 3, "quic", "x", "r", NULL, 0), 0);
  ck_assert_str_eq(hs.info.path, "");
  hook_session_free(&hs);
}
END_TEST

/* The public header's query decoder, used for ?jwt= and the Lua bridge's session.query. */
START_TEST(test_query_decode) {
  static const struct {
    const char *in, *out;
    size_t len;
  } v[] = {
      {"", "", 0},
      {"abc", "abc", 3},
      {"a+b", "a b", 3},
      {"%41%2e%2F", "A./", 3},
      {"%4", "%4", 2},           /* too short: kept */
      {"%zz1", "%zz1", 4},       /* not hex: kept */
      {"x%", "x%", 2},
      {"%%41", "%A", 2},         /* the first '%' is not an escape, the second is */
      {"a%00b", "a\0b", 3},     /* an escaped NUL is decoded; the length tells */
      {"%e2%82%ac", "\xe2\x82\xac", 3},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char out[16];
    size_t n = moq_query_decode(v[i].in, strlen(v[i].in), out);
    ck_assert_uint_eq(n, v[i].len);
    ck_assert_mem_eq(out, v[i].out, n);
    ck_assert_int_eq(out[n], 0);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("hook");
  TCase *tc = tcase_create("chain");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_no_plugins_pass);
  tcase_add_test(tc, test_first_answer_wins);
  tcase_add_test(tc, test_grants);
  tcase_add_test(tc, test_authenticate_claims);
  tcase_add_test(tc, test_authenticate_deny);
  tcase_add_test(tc, test_pending_resume);
  tcase_add_test(tc, test_pending_cancelled);
  tcase_add_test(tc, test_pending_never_answered);
  tcase_add_test(tc, test_resume_during_call);
  tcase_add_test(tc, test_refusals);
  tcase_add_test(tc, test_example_so);
  tcase_add_test(tc, test_events_and_ticks);
  tcase_add_test(tc, test_core_functions);
  tcase_add_test(tc, test_session_info);
  tcase_add_test(tc, test_query_decode);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

