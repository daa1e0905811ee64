/* fuzz_jwt: JWK and JWT parsing (plugins/jwt/jwt_auth.h): jwt_key_parse, jwt_token_kid, jwt_verify.
 *
 * Input: byte 0 picks what the rest is fed to:
 *   0  a JWK (JSON or base64url JSON): a key that parses answers its accessors, and a private one signs
 *      a token that it then verifies (either outcome, never a crash);
 *   1  a token's kid;
 *   2  a token verified with one of the fixed keys below (byte 1 picks it: HS256, ES256, EdDSA, RS256,
 *      PS256), at a fixed time;
 *   3  a token PAYLOAD (raw JSON bytes) that the harness signs itself with the HS256 key, so that the
 *      claims parser sees arbitrary JSON behind a valid signature: verified claims obey jwt_claims's
 *      contract, and signing them again with jwt_sign verifies to the same claims.
 * The keys are test vectors only (tests/unit/test_jwt.c, and RSA keys made with moq-token for this
 * harness); none protects anything. */
#include "fuzz.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt/jwt_auth.h"

#define NOW 1800000000

static const char hs_jwk[] =
    "{\"alg\":\"HS256\",\"kty\":\"oct\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}";
static const char hs_secret[] = "0123456789abcdef0123456789abcdef";
static const char *const pub_jwks[] = {
    hs_jwk,
    "{\"kty\":\"EC\",\"x\":\"tnnT5-HD96s1FD7FCbPE1W0EOtTpyRo9cFvRkxW5KqE\",\"y\":\"l2ABXjgkVkoF72ZuhiaRhHwx1lZFKlBsNahegnBN12M\",\"crv\":\"P-256\",\"alg\":\"ES256\"}",
    "{\"crv\":\"Ed25519\",\"x\":\"O4OLlECxPKWVxLILbIO1naQomIxCwweyjhoXwQxP2Oc\",\"kty\":\"OKP\",\"alg\":\"EdDSA\"}",
    "{\"alg\":\"RS256\",\"e\":\"AQAB\",\"kid\":\"k-RS256\",\"kty\":\"RSA\",\"n\":\"o9Aa9xfmn-XqEyPxcKFGzOyREZG9MVpP6NUf0nlND1rlsleUEI64kFsqptsMsvvSeZ_LJM115aBW-sQ2NEr53_8jZYU9KYXY1CGgu7-FuYozHnWAopfD2svck8OxumO0YOSFOQ_7lx1dnOiZZF87yOY9jzKGQ5BsqjSHzS0iR_D8-ns3P68vJVzdyek-X72v6kR0S-wBMiGAEg_-4U0OqYm8qef2r1Y0cMnr28dhyhHCFj0rCLtqThDwYpHityX4qGM6sxObH1i4WNdjUcruaphvG4uRsJuTmuFXp_K66cmJQOcSAsIoNGsxFbXyLlgu1AI7IUjEshJVZDFqAv1Mmw\"}",
    "{\"alg\":\"PS256\",\"e\":\"AQAB\",\"kid\":\"k-PS256\",\"kty\":\"RSA\",\"n\":\"5QvNYfXDB0BlbqlpB8xuQSNuIkbVX1ivNPm2IoAhCR_pdSgvzNt5cOr4B1z7j0eIwKsCox40C6KbYdbwMmk3i2NaBh4Ex9kAhycbqRiiSbmVVlGY6zFjZeF94HzWvWBGU372ltQfyxRxnGiH8B6QK6tfLjPJ4zZe2Pxv8U5CXyme_e7tn-hLBv9HcSbBoFsLFctdHjm6RsIulrKKX3Hne0VNdrJTP-tnAhY7KX2-qfbW3UvpfD_oTuLw4NDaBHyDPqZiyrtUKTgL3XW3B_4wgeLIZE1LKMgHOMSYFgzz5OByQYtCYNzjZ3n_hSBIL_RA7WIe-H5Wra1xWYbegWGZZQ\"}",
};
#define NKEYS (sizeof pub_jwks / sizeof pub_jwks[0])
static jwt_key *keys[NKEYS];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  for (size_t i = 0; i < NKEYS; i++) {
    char err[256];
    keys[i] = jwt_key_parse("fixed.jwk", pub_jwks[i], strlen(pub_jwks[i]), err, sizeof err);
    if (!keys[i]) {
      fprintf(stderr, "fuzz_jwt: fixed key %zu: %s\n", i, err);
      abort();
    }
  }
  return 0;
}

static char *b64url(const uint8_t *in, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char *out = malloc(n / 3 * 4 + 5), *o = out;
  FUZZ_CHECK(out != NULL);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    *o++ = tab[v >> 18 & 63];
    *o++ = tab[v >> 12 & 63];
    if (i + 1 < n) *o++ = tab[v >> 6 & 63];
    if (i + 2 < n) *o++ = tab[v & 63];
  }
  *o = 0;
  return out;
}

static void check_claims(const jwt_claims *c) {
  FUZZ_CHECK(c->root != NULL && c->json != NULL);
  FUZZ_CHECK(c->n_put + c->n_get > 0 && c->n_put <= JWT_MAX_GRANTS && c->n_get <= JWT_MAX_GRANTS);
  for (size_t i = 0; i < c->n_put; i++) FUZZ_CHECK(c->put[i] != NULL);
  for (size_t i = 0; i < c->n_get; i++) FUZZ_CHECK(c->get[i] != NULL);
  FUZZ_CHECK(c->cluster == 0 || c->cluster == 1);
  FUZZ_CHECK(c->exp == 0 || c->exp >= NOW);
}

static int same_claims(const jwt_claims *a, const jwt_claims *b) {
  if (strcmp(a->root, b->root) || a->n_put != b->n_put || a->n_get != b->n_get || a->cluster != b->cluster ||
      a->exp != b->exp || a->iat != b->iat)
    return 0;
  for (size_t i = 0; i < a->n_put; i++)
    if (strcmp(a->put[i], b->put[i])) return 0;
  for (size_t i = 0; i < a->n_get; i++)
    if (strcmp(a->get[i], b->get[i])) return 0;
  return 1;
}

/* A token whose payload is p[0..n), signed with the HS256 test secret. */
static char *sign_payload(const uint8_t *p, size_t n) {
  static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  char *h = b64url((const uint8_t *)hdr, sizeof hdr - 1), *pl = b64url(p, n);
  size_t in_len = strlen(h) + 1 + strlen(pl);
  char *tok = malloc(in_len + 64);
  FUZZ_CHECK(tok != NULL);
  snprintf(tok, in_len + 1, "%s.%s", h, pl);
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned ml = 0;
  FUZZ_CHECK(HMAC(EVP_sha256(), hs_secret, (int)strlen(hs_secret), (const uint8_t *)tok, in_len, mac, &ml) != NULL);
  char *s = b64url(mac, ml);
  snprintf(tok + in_len, 64, ".%s", s);
  free(s);
  free(h);
  free(pl);
  return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size > 20000) return 0;
  int mode = data[0] % 4;
  size_t pick = data[1] % NKEYS;
  const uint8_t *in = data + 2;
  size_t len = size - 2;
  char err[512] = "";
  jwt_claims c;
  switch (mode) {
  case 0: {
    jwt_key *k = jwt_key_parse("fuzz.jwk", (const char *)in, len, err, sizeof err);
    if (!k) {
      FUZZ_CHECK(strncmp(err, "fuzz.jwk", 8) == 0);
      break;
    }
    const char *alg = jwt_key_alg(k);
    FUZZ_CHECK(alg != NULL && alg[0] != '\0');
    (void)jwt_key_kid(k);
    /* a private key signs; RSA only when small enough to be quick */
    if (jwt_key_private(k) && (strncmp(alg, "RS", 2) != 0 && strncmp(alg, "PS", 2) != 0)) {
      jwt_claims cl = {0};
      char get0[] = "demo";
      cl.root = get0;
      cl.get[0] = get0;
      cl.n_get = 1;
      char *tok = jwt_sign(k, &cl, err, sizeof err);
      if (tok) {
        if (jwt_verify(k, tok, NOW, &c, err, sizeof err) == 0) {
          check_claims(&c);
          jwt_claims_free(&c);
        }
        free(tok);
      }
    }
    jwt_key_free(k);
    break;
  }
  case 1: {
    char *tok = fuzz_strdup(in, len), kid[64];
    if (jwt_token_kid(tok, kid, sizeof kid) == 0) FUZZ_CHECK(strlen(kid) < sizeof kid);
    free(tok);
    break;
  }
  case 2: {
    char *tok = fuzz_strdup(in, len);
    if (jwt_verify(keys[pick], tok, NOW, &c, err, sizeof err) == 0) {
      check_claims(&c);
      jwt_claims_free(&c);
    } else {
      FUZZ_CHECK(err[0] != '\0');
      FUZZ_CHECK(c.root == NULL && c.json == NULL && c.n_put == 0 && c.n_get == 0);
    }
    free(tok);
    break;
  }
  default: {
    char *tok = sign_payload(in, len);
    if (jwt_verify(keys[0], tok, NOW, &c, err, sizeof err) == 0) {
      check_claims(&c);
      char *again = jwt_sign(keys[0], &c, err, sizeof err);
      FUZZ_CHECK(again != NULL);
      jwt_claims c2;
      FUZZ_CHECK(jwt_verify(keys[0], again, NOW, &c2, err, sizeof err) == 0);
      FUZZ_CHECK(same_claims(&c, &c2));
      jwt_claims_free(&c2);
      free(again);
      jwt_claims_free(&c);
    } else {
      FUZZ_CHECK(err[0] != '\0');
    }
    free(tok);
    break;
  }
  }
  return 0;
}
