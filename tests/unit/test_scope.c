/* Unit tests: grant scoping (moq-relay-protocol.md 3.4 worked examples) and URL parsing. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "auth/scope.h"
#include "base/url.h"

static const char *put_demo[] = {"my-stream"};
static const char *get_all[] = {""};

START_TEST(test_token_root_equals_path) {
  scope_result r;
  ck_assert_int_eq(scope_apply("/demo", "demo", put_demo, 1, get_all, 1, &r), SCOPE_OK);
  ck_assert_str_eq(r.root, "demo");
  ck_assert_uint_eq(r.n_publish, 1);
  ck_assert_str_eq(r.publish[0], "my-stream");
  ck_assert_uint_eq(r.n_subscribe, 1);
  ck_assert_str_eq(r.subscribe[0], "");
  scope_result_free(&r);
}
END_TEST

START_TEST(test_path_above_root) {
  scope_result r;
  ck_assert_int_eq(scope_apply("/", "demo", put_demo, 1, get_all, 1, &r), SCOPE_OK);
  ck_assert_str_eq(r.root, "");
  ck_assert_str_eq(r.publish[0], "demo/my-stream");
  ck_assert_str_eq(r.subscribe[0], "demo");
  scope_result_free(&r);
}
END_TEST

START_TEST(test_path_below_root) {
  scope_result r;
  ck_assert_int_eq(scope_apply("/demo/room", "demo", put_demo, 1, get_all, 1, &r), SCOPE_OK);
  ck_assert_str_eq(r.root, "demo/room");
  ck_assert_uint_eq(r.n_publish, 0); /* my-stream is not under demo/room: dropped */
  ck_assert_uint_eq(r.n_subscribe, 1);
  ck_assert_str_eq(r.subscribe[0], ""); /* everything under demo/room */
  scope_result_free(&r);
}
END_TEST

START_TEST(test_unrelated_path) {
  scope_result r;
  ck_assert_int_eq(scope_apply("/other", "demo", put_demo, 1, get_all, 1, &r), SCOPE_ERR_ROOT);
  ck_assert_ptr_null(r.root);
  /* segment-aware: "demos" is not under "demo" */
  ck_assert_int_eq(scope_apply("/demos", "demo", put_demo, 1, get_all, 1, &r), SCOPE_ERR_ROOT);
}
END_TEST

START_TEST(test_public_prefixes) {
  const char *pub[] = {"anon"};
  scope_result r;
  /* token-less: root "" and the public prefixes both ways */
  ck_assert_int_eq(scope_apply("/anon", "", pub, 1, pub, 1, &r), SCOPE_OK);
  ck_assert_str_eq(r.publish[0], "");
  ck_assert_str_eq(r.subscribe[0], "");
  scope_result_free(&r);
  ck_assert_int_eq(scope_apply("/", "", pub, 1, pub, 1, &r), SCOPE_OK);
  ck_assert_str_eq(r.publish[0], "anon");
  scope_result_free(&r);
  ck_assert_int_eq(scope_apply("/anon/room/", "", pub, 1, pub, 1, &r), SCOPE_OK);
  ck_assert_str_eq(r.root, "anon/room");
  ck_assert_str_eq(r.subscribe[0], "");
  scope_result_free(&r);
  ck_assert_int_eq(scope_apply("/other", "", pub, 1, pub, 1, &r), SCOPE_ERR_EMPTY);
  ck_assert_int_eq(scope_apply("/anonymous", "", pub, 1, pub, 1, &r), SCOPE_ERR_EMPTY);
  const char *everything[] = {""};
  ck_assert_int_eq(scope_apply("/x/y", "", everything, 1, everything, 1, &r), SCOPE_OK);
  ck_assert_str_eq(r.publish[0], "");
  scope_result_free(&r);
}
END_TEST

START_TEST(test_url) {
  url u;
  char err[256], pq[4000];
  ck_assert_int_eq(url_parse("moql://localhost:4443/anon/room?jwt=abc", &u, err, sizeof err), 0);
  ck_assert_str_eq(u.scheme, "moql");
  ck_assert_str_eq(u.host, "localhost");
  ck_assert_int_eq(u.port, 4443);
  ck_assert_str_eq(u.path, "/anon/room");
  ck_assert_str_eq(u.query, "jwt=abc");
  ck_assert_int_eq(url_path_and_query(&u, pq, sizeof pq), 0);
  ck_assert_str_eq(pq, "/anon/room?jwt=abc");
  ck_assert_int_eq(url_parse("MOQL://[::1]:5/", &u, err, sizeof err), 0);
  ck_assert_str_eq(u.scheme, "moql");
  ck_assert_str_eq(u.host, "::1");
  ck_assert_int_eq(u.port, 5);
  ck_assert_str_eq(u.path, "/");
  ck_assert_int_eq(url_parse("https://relay.example", &u, err, sizeof err), 0);
  ck_assert_int_eq(u.port, 443);
  ck_assert_str_eq(u.path, "/");
  ck_assert_int_eq(url_parse("http://relay.example?x=1", &u, err, sizeof err), 0);
  ck_assert_int_eq(u.port, 80);
  ck_assert_str_eq(u.query, "x=1");
  ck_assert_int_eq(url_parse("localhost:4443", &u, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "expected SCHEME://HOST"));
  ck_assert_int_eq(url_parse("moql://:4443/", &u, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "no host"));
  ck_assert_int_eq(url_parse("moql://h:0/", &u, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "port"));
  ck_assert_int_eq(url_parse("moql://h:99999/", &u, err, sizeof err), -1);
  ck_assert_int_eq(url_parse("moql://h:12x/", &u, err, sizeof err), -1);
  ck_assert_int_eq(url_parse("moql://[::1/", &u, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "unterminated"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("scope");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_token_root_equals_path);
  tcase_add_test(tc, test_path_above_root);
  tcase_add_test(tc, test_path_below_root);
  tcase_add_test(tc, test_unrelated_path);
  tcase_add_test(tc, test_public_prefixes);
  tcase_add_test(tc, test_url);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
