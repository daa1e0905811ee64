/* Unit tests: JWK keys and JWT tokens (plugins/jwt/jwt_auth), against vectors made with Node's
 * crypto (the same primitives @moq/token uses): HS256 with the reference key file layout (JSON and
 * base64url), ES256 and EdDSA public keys, claims as strings or arrays, expiry, tampering, algorithm
 * confusion, malformed and truncated tokens, and sign/verify round trips for every algorithm. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt/jwt_auth.h"

/* Vectors (generated once with Node 20 crypto; tokens are fixed text). */
static const char hsJwk[] = "{\"alg\":\"HS256\",\"key_ops\":[\"sign\",\"verify\"],\"kty\":\"oct\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}";
static const char hsJwkB64[] = "eyJhbGciOiJIUzI1NiIsImtleV9vcHMiOlsic2lnbiIsInZlcmlmeSJdLCJrdHkiOiJvY3QiLCJrIjoiTURFeU16UTFOamM0T1dGaVkyUmxaakF4TWpNME5UWTNPRGxoWW1Oa1pXWSJ9";
static const char hs[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb290IjoiZGVtbyIsInB1dCI6ImxpdmUiLCJnZXQiOiIiLCJpYXQiOjE3MDAwMDAwMDB9.mrHxw-3IwxmlPScpqtnrArFcTHAz6Uo47ODHjoN_qW8";
static const char hsArr[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb290IjoiIiwicHV0IjpbImEiLCJiL2MiXSwiZ2V0IjpbIngiXSwiY2x1c3RlciI6dHJ1ZSwiZXhwIjo0MTAyNDQ0ODAwfQ.WVI-BO1LWwX3ZtTUfQJgYYL47qi7QGb5OYX9Do2ClKI";
static const char hsExp[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb290IjoiIiwiZ2V0IjoiIiwiZXhwIjoxMDAwfQ.oT9Hc572C58qMYsgW574MC-Kiq1VYgWV3mLJV023Ye4";
static const char hsNone[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb290IjoiZGVtbyJ9.bIOZg-3StXJHXc8QOE5K7n1UFE4rfuF0hFFCplNsvVc";
static const char hsBadPut[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJwdXQiOjV9.mvrH4W9zV1YFblX3XBNX9qglnoFywatq9sSIov4tiBY";
static const char ecPub[] = "{\"kty\":\"EC\",\"x\":\"tnnT5-HD96s1FD7FCbPE1W0EOtTpyRo9cFvRkxW5KqE\",\"y\":\"l2ABXjgkVkoF72ZuhiaRhHwx1lZFKlBsNahegnBN12M\",\"crv\":\"P-256\",\"alg\":\"ES256\"}";
static const char es[] = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.eyJyb290IjoiciIsInB1dCI6IiJ9.W8nAnryXOCqhJqsm91t_ivIvkjCPf79Vb21am7VZPBaiZleCv1FRBK17BKAREWBYflDZBn8ObGuyNJVOBMOzcQ";
static const char edPub[] = "{\"crv\":\"Ed25519\",\"x\":\"O4OLlECxPKWVxLILbIO1naQomIxCwweyjhoXwQxP2Oc\",\"kty\":\"OKP\",\"alg\":\"EdDSA\"}";
static const char eds[] = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJyb290IjoiIiwiZ2V0IjoibGl2ZSJ9.ys4eEX5wD0crtVlisaEMN_ueqBoztCt-sbu4ecFQ0T_WIhHA_sTZoW86ep8rSzXNnxYT3fKYNLxcjYhgZEXDDg";
/* Times as JSON reals, signed with hsJwk: beyond int64_t (found by tests/fuzz/fuzz_jwt: converting them
 * was undefined behaviour), and a fraction, which is cut off. */
static const char hsExpHuge[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJnZXQiOiIiLCJleHAiOjFlMzAwfQ.h8axz8MlecRPJN7D-t_qSZVXX-JSz2l8_JeuvpQkm4M"; /* {"get":"","exp":1e300} */
static const char hsIatHuge[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJnZXQiOiIiLCJpYXQiOi0xZTE5fQ.NUBBa-UXS9TGUvEpOyUvCl3A5se195qLyS8bcEmtD_0"; /* {"get":"","iat":-1e19} */
static const char hsExpReal[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJnZXQiOiIiLCJleHAiOjQxMDI0NDQ4MDAuNX0.5Svic42qq7Rug32h7nyAdCBKxnZplXrsE7c42JN2exY"; /* {"get":"","exp":4102444800.5} */

#define NOW 1800000000

static jwt_key *parse(const char *text) {
  char err[300];
  jwt_key *k = jwt_key_parse("t.jwk", text, strlen(text), err, sizeof err);
  ck_assert_msg(k != NULL, "%s", err);
  return k;
}

static void parse_fails(const char *text, const char *expect) {
  char err[300] = "";
  jwt_key *k = jwt_key_parse("t.jwk", text, strlen(text), err, sizeof err);
  ck_assert_msg(k == NULL, "accepted %s", text);
  ck_assert_msg(strstr(err, expect) != NULL, "error \"%s\" lacks \"%s\"", err, expect);
}

static void verify_fails(const jwt_key *k, const char *token, const char *expect) {
  char err[300] = "";
  jwt_claims c;
  ck_assert_msg(jwt_verify(k, token, NOW, &c, err, sizeof err) == -1, "accepted %s", token);
  ck_assert_msg(strstr(err, expect) != NULL, "error \"%s\" lacks \"%s\"", err, expect);
}

START_TEST(test_hs256_vectors) {
  jwt_key *k = parse(hsJwk);
  ck_assert_str_eq(jwt_key_alg(k), "HS256");
  ck_assert(jwt_key_private(k));
  jwt_claims c;
  char err[300];
  ck_assert_msg(jwt_verify(k, hs, NOW, &c, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(c.root, "demo");
  ck_assert_uint_eq(c.n_put, 1);
  ck_assert_str_eq(c.put[0], "live");
  ck_assert_uint_eq(c.n_get, 1);
  ck_assert_str_eq(c.get[0], "");
  ck_assert_int_eq(c.iat, 1700000000);
  ck_assert_int_eq(c.exp, 0);
  ck_assert_int_eq(c.cluster, 0);
  jwt_claims_free(&c);
  ck_assert_msg(jwt_verify(k, hsArr, NOW, &c, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(c.root, "");
  ck_assert_uint_eq(c.n_put, 2);
  ck_assert_str_eq(c.put[1], "b/c");
  ck_assert_str_eq(c.get[0], "x");
  ck_assert_int_eq(c.cluster, 1);
  ck_assert_int_eq(c.exp, 4102444800);
  jwt_claims_free(&c);
  verify_fails(k, hsExp, "expired");
  verify_fails(k, hsNone, "neither put nor get");
  verify_fails(k, hsBadPut, "\"put\" must be a string or an array");
  jwt_key_free(k);
  /* the same key written base64url-encoded, as the reference tools may */
  k = parse(hsJwkB64);
  ck_assert_int_eq(jwt_verify(k, hs, NOW, &c, err, sizeof err), 0);
  jwt_claims_free(&c);
  jwt_key_free(k);
}
END_TEST

START_TEST(test_es256_eddsa_vectors) {
  jwt_key *k = parse(ecPub);
  ck_assert(!jwt_key_private(k));
  jwt_claims c;
  char err[300];
  ck_assert_msg(jwt_verify(k, es, NOW, &c, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(c.root, "r");
  jwt_claims_free(&c);
  char kid[32];
  ck_assert_int_eq(jwt_token_kid(es, kid, sizeof kid), 0);
  ck_assert_str_eq(kid, "k1");
  ck_assert_int_eq(jwt_token_kid(hs, kid, sizeof kid), 0);
  ck_assert_str_eq(kid, "");
  verify_fails(k, hs, "algorithm HS256 is not the key's ES256");
  jwt_claims c2 = {0};
  ck_assert_ptr_null(jwt_sign(k, &c2, err, sizeof err)); /* a public key cannot sign */
  jwt_key_free(k);
  k = parse(edPub);
  ck_assert_str_eq(jwt_key_alg(k), "EdDSA");
  ck_assert_msg(jwt_verify(k, eds, NOW, &c, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(c.get[0], "live");
  jwt_claims_free(&c);
  jwt_key_free(k);
}
END_TEST

START_TEST(test_tampering) {
  jwt_key *k = parse(hsJwk);
  char t[1024];
  /* another payload under the same signature */
  const char *dot = strchr(hs, '.');
  const char *dot2 = strchr(dot + 1, '.');
  snprintf(t, sizeof t, "%.*s.%s%s", (int)(dot - hs), hs, "eyJyb290IjoiIiwicHV0IjoiIiwiZ2V0IjoiIn0", dot2);
  verify_fails(k, t, "bad signature");
  /* alg "none" */
  snprintf(t, sizeof t, "eyJhbGciOiJub25lIn0.%.*s.", (int)(dot2 - dot - 1), dot + 1);
  verify_fails(k, t, "algorithm none");
  /* a flipped signature bit */
  snprintf(t, sizeof t, "%s", hs);
  t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
  verify_fails(k, t, "bad signature");
  /* the ES256 token against an HS256 key and the other way round */
  verify_fails(k, es, "algorithm ES256 is not the key's HS256");
  jwt_key_free(k);
}
END_TEST

START_TEST(test_malformed_tokens) {
  jwt_key *k = parse(hsJwk);
  verify_fails(k, "", "not a JWT");
  verify_fails(k, "abc", "not a JWT");
  verify_fails(k, "a.b", "not a JWT");
  verify_fails(k, "a.b.c.d", "not a JWT");
  verify_fails(k, ".b.c", "not a JWT");
  verify_fails(k, "!!!.e30.c", "header is not base64url JSON");
  verify_fails(k, "e30.e30.c", "algorithm none");          /* {} header */
  verify_fails(k, "WzFd.e30.c", "header is not base64url JSON"); /* [1]: not an object */
  /* every truncation of a valid token fails without crashing */
  size_t n = strlen(hs);
  char t[1024];
  for (size_t i = 0; i < n; i++) {
    memcpy(t, hs, i);
    t[i] = 0;
    char err[300];
    jwt_claims c;
    ck_assert_msg(jwt_verify(k, t, NOW, &c, err, sizeof err) == -1, "a token cut at %zu was accepted", i);
  }
  /* times out of int64_t's range are refused; a fraction is cut */
  verify_fails(k, hsExpHuge, "claim \"exp\" is out of range");
  verify_fails(k, hsIatHuge, "claim \"iat\" is out of range");
  jwt_claims c;
  char err[300];
  ck_assert_msg(jwt_verify(k, hsExpReal, NOW, &c, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(c.exp, 4102444800);
  jwt_claims_free(&c);
  char *huge = malloc(20000);
  memset(huge, 'a', 19999);
  huge[19999] = 0;
  verify_fails(k, huge, "too long");
  free(huge);
  jwt_key_free(k);
}
END_TEST

START_TEST(test_bad_keys) {
  parse_fails("", "not valid JSON");
  parse_fails("{", "not valid JSON");
  parse_fails("[1]", "not a JWK");
  parse_fails("not base64 at all!", "not a JWK");
  parse_fails("{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}", "at least 32 bytes");
  parse_fails("{\"kty\":\"oct\"}", "\"k\" must be");
  parse_fails("{\"kty\":\"XYZ\"}", "\"kty\" \"XYZ\" is not supported");
  parse_fails("{\"kty\":\"oct\",\"alg\":\"ES256\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}",
              "does not fit");
  parse_fails("{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}", "\"crv\" must be");
  parse_fails("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}", "32-byte");
  parse_fails("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES384\",\"x\":\"AA\",\"y\":\"AA\"}", "cannot use");
  /* a point not on the curve */
  parse_fails("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"tnnT5-HD96s1FD7FCbPE1W0EOtTpyRo9cFvRkxW5KqE\","
              "\"y\":\"AAABXjgkVkoF72ZuhiaRhHwx1lZFKlBsNahegnBN12M\"}",
              "not a valid point");
  parse_fails("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"}", "\"Ed25519\"");
  parse_fails("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}", "32-byte");
  parse_fails("{\"kty\":\"RSA\",\"e\":\"AQAB\"}", "\"n\" and \"e\"");
  parse_fails("{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", "2048 bits");
  parse_fails("{\"kty\":\"oct\",\"k\":\"x\",\"k\":\"y\"}", "not valid JSON"); /* duplicate member */
  char err[300];
  ck_assert_ptr_null(jwt_key_load("/nonexistent/key.jwk", err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/key.jwk: cannot open"));
}
END_TEST

static void round_trip(const char *alg) {
  char *priv, *pub, err[300];
  ck_assert_msg(jwt_generate(alg, "kid-1", &priv, &pub, err, sizeof err) == 0, "%s: %s", alg, err);
  jwt_key *sk = parse(priv);
  jwt_key *vk = parse(pub ? pub : priv);
  ck_assert_str_eq(jwt_key_alg(sk), alg);
  ck_assert_str_eq(jwt_key_kid(sk), "kid-1");
  jwt_claims c = {.root = "room", .n_put = 1, .n_get = 2, .exp = NOW + 60, .cluster = 1};
  c.put[0] = "cam";
  c.get[0] = "";
  c.get[1] = "other";
  char *tok = jwt_sign(sk, &c, err, sizeof err);
  ck_assert_msg(tok != NULL, "%s: %s", alg, err);
  char kid[32];
  ck_assert_int_eq(jwt_token_kid(tok, kid, sizeof kid), 0);
  ck_assert_str_eq(kid, "kid-1");
  jwt_claims out;
  ck_assert_msg(jwt_verify(vk, tok, NOW, &out, err, sizeof err) == 0, "%s: %s", alg, err);
  jwt_claims_free(&out);
  /* the private key file verifies as well (a relay may be given either) */
  ck_assert_msg(jwt_verify(sk, tok, NOW, &out, err, sizeof err) == 0, "%s with the private key: %s", alg, err);
  ck_assert_str_eq(out.root, "room");
  ck_assert_str_eq(out.put[0], "cam");
  ck_assert_uint_eq(out.n_get, 2);
  ck_assert_str_eq(out.get[1], "other");
  ck_assert_int_eq(out.cluster, 1);
  jwt_claims_free(&out);
  ck_assert_int_eq(jwt_verify(vk, tok, NOW + 120, &out, err, sizeof err), -1); /* once exp has passed */
  ck_assert_ptr_nonnull(strstr(err, "expired"));
  free(tok);
  free(priv);
  free(pub);
  jwt_key_free(sk);
  jwt_key_free(vk);
}

START_TEST(test_round_trips) {
  static const char *const algs[] = {"HS256", "HS384", "HS512", "ES256", "ES384", "EdDSA",
                                     "RS256", "PS256", "RS512", "PS384"};
  for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) round_trip(algs[i]);
  char *priv, *pub, err[300];
  ck_assert_int_eq(jwt_generate("ES512", NULL, &priv, &pub, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "unknown algorithm ES512"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("jwt");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_hs256_vectors);
  tcase_add_test(tc, test_es256_eddsa_vectors);
  tcase_add_test(tc, test_tampering);
  tcase_add_test(tc, test_malformed_tokens);
  tcase_add_test(tc, test_bad_keys);
  tcase_add_test(tc, test_round_trips);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
