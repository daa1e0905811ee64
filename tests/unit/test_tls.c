/* Unit tests: certificate generation, loading, fingerprints, ALPN encoding, TLS contexts. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/tls.h"

static char tmpdir[256];

static void setup(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/moq-test-tls.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
  tls_global_init();
}

static void teardown(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
  tls_global_cleanup();
}

/* Runs a shell command and returns its exit status. */
static int sh(const char *fmt, const char *a, const char *b) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, fmt, a, b);
  int rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(test_sha256_vector) {
  char hex[65];
  ck_assert_int_eq(tls_sha256_hex((const uint8_t *)"abc", 3, hex), 0);
  ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_fingerprint_parse) {
  uint8_t out[32];
  const char *hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  ck_assert_int_eq(tls_fingerprint_parse(hex, out), 0);
  ck_assert_uint_eq(out[0], 0xba);
  ck_assert_uint_eq(out[31], 0xad);
  ck_assert_int_eq(tls_fingerprint_parse("BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:"
                                         "9C:B4:10:FF:61:F2:00:15:AD",
                                         out),
                   0);
  ck_assert_uint_eq(out[1], 0x78);
  ck_assert_int_eq(tls_fingerprint_parse("ba7816", out), -1);                /* too short */
  ck_assert_int_eq(tls_fingerprint_parse("zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", out),
                   -1);                                                      /* not hex */
  ck_assert_int_eq(tls_fingerprint_parse("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad00", out),
                   -1);                                                      /* too long */
  ck_assert_int_eq(tls_fingerprint_parse("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a", out),
                   -1);                                                      /* odd */
}
END_TEST

START_TEST(test_alpn_encode) {
  const char *alpn[] = {"moq-lite-05", "moql"};
  uint8_t out[64];
  ck_assert_int_eq(tls_alpn_encode(alpn, 2, out, sizeof out), 17);
  ck_assert_mem_eq(out, "\x0bmoq-lite-05\x04moql", 17);
  ck_assert_int_eq(tls_alpn_encode(alpn, 2, out, 10), -1);
  const char *empty[] = {""};
  ck_assert_int_eq(tls_alpn_encode(empty, 1, out, sizeof out), -1);
}
END_TEST

START_TEST(test_generate) {
  tls_identity id;
  char err[256] = "";
  const char *names[] = {"localhost", "127.0.0.1", "::1"};
  ck_assert_int_eq(tls_identity_generate(&id, names, 3, err, sizeof err), 0);
  char hex[65];
  tls_sha256_hex(id.leaf_der.data, id.leaf_der.len, hex);
  ck_assert_str_eq(hex, id.fingerprint);
  char cert[300], key[300];
  snprintf(cert, sizeof cert, "%s/c.pem", tmpdir);
  snprintf(key, sizeof key, "%s/k.pem", tmpdir);
  ck_assert_int_eq(tls_identity_save(&id, cert, key, err, sizeof err), 0);
  struct stat st;
  ck_assert_int_eq(stat(key, &st), 0);
  ck_assert_uint_eq(st.st_mode & 0777, 0600);
  /* Checked by an independent parser: openssl. */
  ck_assert_int_eq(sh("openssl x509 -in %s -noout -text | grep -q 'ASN1 OID: prime256v1'%s", cert, ""), 0);
  ck_assert_int_eq(sh("openssl x509 -in %s -noout -ext subjectAltName | grep -q 'DNS:localhost, IP Address:127.0.0.1, "
                      "IP Address:0:0:0:0:0:0:0:1'%s",
                      cert, ""),
                   0);
  ck_assert_int_eq(sh("openssl x509 -in %s -noout -subject | grep -q 'CN *= *localhost'%s", cert, ""), 0);
  ck_assert_int_eq(sh("openssl x509 -in %s -noout -text | grep -q 'ecdsa-with-SHA256'%s", cert, ""), 0);
  /* self-signed and currently valid */
  ck_assert_int_eq(sh("openssl verify -CAfile %s %s >/dev/null 2>&1", cert, cert), 0);
  /* at most 14 days in all: expires within 13 days + 1 hour, not within 12 days */
  ck_assert_int_eq(sh("openssl x509 -in %s -noout -checkend 1040400 >/dev/null%s", cert, ""), 0);
  ck_assert_int_eq(sh("openssl x509 -in %s -noout -checkend 1126800 >/dev/null%s", cert, ""), 1);
  /* the served hash is the hash of the DER */
  char cmd_out[128] = "";
  char cmd[600];
  snprintf(cmd, sizeof cmd, "openssl x509 -in %s -outform DER | sha256sum | cut -c1-64", cert);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_nonnull(fgets(cmd_out, sizeof cmd_out, p));
  pclose(p);
  cmd_out[64] = 0;
  ck_assert_str_eq(cmd_out, id.fingerprint);
  /* and it loads back */
  tls_identity back;
  ck_assert_int_eq(tls_identity_load(&back, cert, key, err, sizeof err), 0);
  ck_assert_str_eq(back.fingerprint, id.fingerprint);
  tls_identity_free(&back);
  tls_identity_free(&id);
}
END_TEST

START_TEST(test_generate_errors) {
  tls_identity id;
  char err[256] = "";
  ck_assert_int_eq(tls_identity_generate(&id, NULL, 0, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "at least one host name"));
  const char *bad[] = {"local host"};
  ck_assert_int_eq(tls_identity_generate(&id, bad, 1, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "\"local host\""));
  const char *empty[] = {""};
  ck_assert_int_eq(tls_identity_generate(&id, empty, 1, err, sizeof err), -1);
}
END_TEST

START_TEST(test_load_errors) {
  tls_identity a, b, id;
  char err[512] = "";
  const char *names[] = {"localhost"};
  ck_assert_int_eq(tls_identity_generate(&a, names, 1, err, sizeof err), 0);
  ck_assert_int_eq(tls_identity_generate(&b, names, 1, err, sizeof err), 0);
  char ca[300], ka[300], cb[300], kb[300], missing[300], junk[300];
  snprintf(ca, sizeof ca, "%s/a.pem", tmpdir);
  snprintf(ka, sizeof ka, "%s/a.key", tmpdir);
  snprintf(cb, sizeof cb, "%s/b.pem", tmpdir);
  snprintf(kb, sizeof kb, "%s/b.key", tmpdir);
  snprintf(missing, sizeof missing, "%s/missing.pem", tmpdir);
  snprintf(junk, sizeof junk, "%s/junk.pem", tmpdir);
  ck_assert_int_eq(tls_identity_save(&a, ca, ka, err, sizeof err), 0);
  ck_assert_int_eq(tls_identity_save(&b, cb, kb, err, sizeof err), 0);
  FILE *f = fopen(junk, "w");
  fputs("not a certificate\n", f);
  fclose(f);
  ck_assert_int_eq(tls_identity_load(&id, missing, ka, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "missing.pem"));
  ck_assert_int_eq(tls_identity_load(&id, junk, ka, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "junk.pem"));
  ck_assert_ptr_nonnull(strstr(err, "no PEM certificate"));
  ck_assert_int_eq(tls_identity_load(&id, ca, kb, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "does not match"));
  ck_assert_int_eq(tls_identity_load(&id, ca, junk, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "private key"));
  tls_identity_free(&a);
  tls_identity_free(&b);
}
END_TEST

START_TEST(test_contexts) {
  tls_identity id;
  char err[256] = "";
  const char *names[] = {"localhost"};
  ck_assert_int_eq(tls_identity_generate(&id, names, 1, err, sizeof err), 0);
  static const char *const alpn[] = {"moq-lite-05", "moql"};
  tls_ctx *s = tls_server_ctx_new(&id, alpn, 2, NULL, err, sizeof err);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(tls_ctx_checks_host(s), 0);
  tls_ctx_free(s);
  s = tls_server_ctx_new(&id, alpn, 2, "/nonexistent/ca.pem", err, sizeof err);
  ck_assert_ptr_null(s);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/ca.pem"));
  tls_client_options o = {.verify = TLS_VERIFY_FINGERPRINT, .fingerprint = id.fingerprint};
  tls_ctx *c = tls_client_ctx_new(&o, err, sizeof err);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(tls_ctx_checks_host(c), 0);
  tls_ctx_free(c);
  o.fingerprint = "abc";
  ck_assert_ptr_null(tls_client_ctx_new(&o, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "64 hex digits"));
  tls_client_options o2 = {.verify = TLS_VERIFY_CA_FILE, .ca_file = "/nonexistent/ca.pem"};
  ck_assert_ptr_null(tls_client_ctx_new(&o2, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/ca.pem"));
  tls_identity_free(&id);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tls");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_sha256_vector);
  tcase_add_test(tc, test_fingerprint_parse);
  tcase_add_test(tc, test_alpn_encode);
  tcase_add_test(tc, test_generate);
  tcase_add_test(tc, test_generate_errors);
  tcase_add_test(tc, test_load_errors);
  tcase_add_test(tc, test_contexts);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
