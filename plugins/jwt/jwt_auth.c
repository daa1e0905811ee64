#include "jwt/jwt_auth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY_FILE (64 * 1024)
#define MAX_TOKEN 16384

typedef enum { KT_OCT, KT_EC, KT_OKP, KT_RSA } key_type;

struct jwt_key {
  key_type type;
  char alg[16];
  char *kid;            /* owned or NULL */
  int has_private;
  uint8_t *secret;      /* owned: oct */
  size_t secret_len;
  EVP_PKEY *pkey;       /* owned: EC, OKP, RSA */
  char *pem;            /* owned: PEM for libjwt signing (private if available, else public) */
  size_t pem_len;
  char *pub_pem;        /* owned: public PEM for libjwt verification */
  size_t pub_pem_len;
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* base64url */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const uint8_t *in, size_t n) {
  char *out = malloc(n / 3 * 4 + 5), *o = out;
  if (!out) return NULL;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *o++ = b64url[v >> 18 & 63];
    *o++ = b64url[v >> 12 & 63];
    *o++ = b64url[v >> 6 & 63];
    *o++ = b64url[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    *o++ = b64url[v >> 18 & 63];
    *o++ = b64url[v >> 12 & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    *o++ = b64url[v >> 18 & 63];
    *o++ = b64url[v >> 12 & 63];
    *o++ = b64url[v >> 6 & 63];
  }
  *o = 0;
  return out;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

/* Decodes base64url (padding and the standard alphabet tolerated) into a malloc()ed buffer. */
static uint8_t *b64url_decode(const char *in, size_t n, size_t *outlen) {
  while (n && in[n - 1] == '=') n--;
  if (n % 4 == 1) return NULL;
  uint8_t *out = malloc(n / 4 * 3 + 3);
  if (!out) return NULL;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_value(in[i]);
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  *outlen = o;
  return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Keys */

void jwt_key_free(jwt_key *k) {
  if (!k) return;
  free(k->kid);
  if (k->secret) OPENSSL_cleanse(k->secret, k->secret_len);
  free(k->secret);
  EVP_PKEY_free(k->pkey);
  if (k->pem) OPENSSL_cleanse(k->pem, k->pem_len);
  free(k->pem);
  free(k->pub_pem);
  free(k);
}

const char *jwt_key_alg(const jwt_key *k) { return k->alg; }
const char *jwt_key_kid(const jwt_key *k) { return k->kid; }
int jwt_key_private(const jwt_key *k) { return k->type == KT_OCT || k->has_private; }

static int alg_known(const char *alg, key_type t) {
  static const char *const oct[] = {"HS256", "HS384", "HS512"};
  static const char *const rsa[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"};
  switch (t) {
  case KT_OCT:
    for (size_t i = 0; i < 3; i++)
      if (!strcmp(alg, oct[i])) return 1;
    return 0;
  case KT_RSA:
    for (size_t i = 0; i < 6; i++)
      if (!strcmp(alg, rsa[i])) return 1;
    return 0;
  case KT_EC: return !strcmp(alg, "ES256") || !strcmp(alg, "ES384");
  case KT_OKP: return !strcmp(alg, "EdDSA");
  }
  return 0;
}

/* A base64url member of a JWK as bytes. */
static uint8_t *member_bytes(json_t *o, const char *name, size_t *len) {
  const char *s = json_string_value(json_object_get(o, name));
  return s ? b64url_decode(s, strlen(s), len) : NULL;
}

static BIGNUM *member_bn(json_t *o, const char *name) {
  size_t n;
  uint8_t *b = member_bytes(o, name, &n);
  if (!b) return NULL;
  BIGNUM *bn = BN_bin2bn(b, (int)n, NULL);
  OPENSSL_cleanse(b, n);
  free(b);
  return bn;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld, int priv) {
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
  EVP_PKEY *pkey = NULL;
  if (ctx && EVP_PKEY_fromdata_init(ctx) == 1)
    EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey;
}

static int load_ec(jwt_key *k, json_t *o, const char *name, char *err, size_t errlen) {
  const char *crv = json_string_value(json_object_get(o, "crv"));
  size_t clen = crv && !strcmp(crv, "P-256") ? 32 : crv && !strcmp(crv, "P-384") ? 48 : 0;
  if (!clen) return fail(err, errlen, "%s: EC key: \"crv\" must be \"P-256\" or \"P-384\"", name);
  if (!k->alg[0]) snprintf(k->alg, sizeof k->alg, "%s", clen == 32 ? "ES256" : "ES384");
  if (strcmp(k->alg, clen == 32 ? "ES256" : "ES384"))
    return fail(err, errlen, "%s: EC key on %s cannot use \"alg\" %s", name, crv, k->alg);
  size_t xl, yl;
  uint8_t *x = member_bytes(o, "x", &xl), *y = member_bytes(o, "y", &yl);
  BIGNUM *d = member_bn(o, "d");
  int rv = -1;
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  uint8_t pub[1 + 2 * 48];
  if (!x || !y || xl != clen || yl != clen) {
    fail(err, errlen, "%s: EC key: \"x\" and \"y\" must be %zu-byte base64url values", name, clen);
    goto out;
  }
  pub[0] = 4;
  memcpy(pub + 1, x, clen);
  memcpy(pub + 1 + clen, y, clen);
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, clen == 32 ? "P-256" : "P-384", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * clen) ||
      (d && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d))) {
    fail(err, errlen, "%s: out of memory", name);
    goto out;
  }
  if (!(k->pkey = from_params("EC", bld, d != NULL))) {
    fail(err, errlen, "%s: EC key: not a valid point on %s", name, crv);
    goto out;
  }
  k->has_private = d != NULL;
  rv = 0;
out:
  OSSL_PARAM_BLD_free(bld);
  free(x);
  free(y);
  BN_clear_free(d);
  return rv;
}

static int load_rsa(jwt_key *k, json_t *o, const char *name, char *err, size_t errlen) {
  if (!k->alg[0]) snprintf(k->alg, sizeof k->alg, "RS256");
  static const char *const members[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
  static const char *const params[] = {OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
                                       OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
                                       OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
                                       OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
  BIGNUM *bn[8] = {0};
  int rv = -1, n_have = 0;
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  for (size_t i = 0; i < 8; i++) {
    bn[i] = member_bn(o, members[i]);
    if (bn[i]) n_have++;
    if (bn[i] && bld && !OSSL_PARAM_BLD_push_BN(bld, params[i], bn[i])) goto out;
  }
  if (!bn[0] || !bn[1]) {
    fail(err, errlen, "%s: RSA key: \"n\" and \"e\" are required", name);
    goto out;
  }
  if (bn[2] && n_have != 8) {
    fail(err, errlen, "%s: RSA private key: give all of d, p, q, dp, dq and qi", name);
    goto out;
  }
  if (BN_num_bits(bn[0]) < 2048) {
    fail(err, errlen, "%s: RSA key: at least 2048 bits are required", name);
    goto out;
  }
  if (!bld || !(k->pkey = from_params("RSA", bld, bn[2] != NULL))) {
    fail(err, errlen, "%s: RSA key: not a valid key", name);
    goto out;
  }
  k->has_private = bn[2] != NULL;
  rv = 0;
out:
  OSSL_PARAM_BLD_free(bld);
  for (size_t i = 0; i < 8; i++) BN_clear_free(bn[i]);
  return rv;
}

static int load_okp(jwt_key *k, json_t *o, const char *name, char *err, size_t errlen) {
  const char *crv = json_string_value(json_object_get(o, "crv"));
  if (!crv || strcmp(crv, "Ed25519")) return fail(err, errlen, "%s: OKP key: \"crv\" must be \"Ed25519\"", name);
  if (!k->alg[0]) snprintf(k->alg, sizeof k->alg, "EdDSA");
  size_t xl = 0, dl = 0;
  uint8_t *x = member_bytes(o, "x", &xl), *d = member_bytes(o, "d", &dl);
  int rv = -1;
  if (d && dl == 32) {
    k->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, 32);
    k->has_private = 1;
  } else if (x && xl == 32 && !d) {
    k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
  }
  if (!k->pkey) fail(err, errlen, "%s: OKP key: \"x\" (and \"d\" if private) must be 32-byte base64url values", name);
  else rv = 0;
  free(x);
  if (d) OPENSSL_cleanse(d, dl);
  free(d);
  return rv;
}

static char *pem_of(EVP_PKEY *pk, int priv, size_t *len) {
  BIO *bio = BIO_new(BIO_s_mem());
  if (!bio) return NULL;
  int ok = priv ? PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(bio, pk);
  char *data, *out = NULL;
  long n = BIO_get_mem_data(bio, &data);
  if (ok && n > 0 && (out = malloc((size_t)n + 1))) {
    memcpy(out, data, (size_t)n);
    out[n] = 0;
    *len = (size_t)n;
  }
  BIO_free(bio);
  return out;
}

/* The PEMs libjwt reads: the private key signs, the public key verifies (libjwt reads a
 * verification key as a public key only). */
static int make_pem(jwt_key *k) {
  if (!(k->pub_pem = pem_of(k->pkey, 0, &k->pub_pem_len))) return -1;
  if (!k->has_private) return 0;
  return (k->pem = pem_of(k->pkey, 1, &k->pem_len)) ? 0 : -1;
}

jwt_key *jwt_key_parse(const char *name, const char *text, size_t len, char *err, size_t errlen) {
  while (len && (text[0] == ' ' || text[0] == '\n' || text[0] == '\r' || text[0] == '\t')) {
    text++;
    len--;
  }
  while (len && (text[len - 1] == ' ' || text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == '\t'))
    len--;
  uint8_t *decoded = NULL;
  size_t dlen = 0;
  if (len && text[0] != '{') { /* base64url-encoded JSON, as the reference tools may write */
    decoded = b64url_decode(text, len, &dlen);
    if (!decoded || !dlen || decoded[0] != '{') {
      free(decoded);
      fail(err, errlen, "%s: not a JWK (expected a JSON object, or one encoded in base64url)", name);
      return NULL;
    }
    text = (const char *)decoded;
    len = dlen;
  }
  json_error_t je;
  json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (decoded) {
    OPENSSL_cleanse(decoded, dlen);
    free(decoded);
  }
  if (!o || !json_is_object(o)) {
    if (o) fail(err, errlen, "%s: not a JWK (expected a JSON object)", name);
    else fail(err, errlen, "%s:%d: not valid JSON: %s", name, je.line, je.text);
    json_decref(o);
    return NULL;
  }
  jwt_key *k = calloc(1, sizeof *k);
  if (!k) {
    json_decref(o);
    fail(err, errlen, "%s: out of memory", name);
    return NULL;
  }
  const char *kty = json_string_value(json_object_get(o, "kty"));
  const char *alg = json_string_value(json_object_get(o, "alg"));
  const char *kid = json_string_value(json_object_get(o, "kid"));
  if (!kty || !strcmp(kty, "oct")) k->type = KT_OCT; /* a missing kty is oct, as the reference reads it */
  else if (!strcmp(kty, "EC")) k->type = KT_EC;
  else if (!strcmp(kty, "OKP")) k->type = KT_OKP;
  else if (!strcmp(kty, "RSA")) k->type = KT_RSA;
  else {
    fail(err, errlen, "%s: \"kty\" \"%s\" is not supported (oct, EC, OKP or RSA)", name, kty);
    goto bad;
  }
  if (alg && strlen(alg) < sizeof k->alg) snprintf(k->alg, sizeof k->alg, "%s", alg);
  else if (alg) {
    fail(err, errlen, "%s: unknown \"alg\"", name);
    goto bad;
  }
  if (kid && !(k->kid = strdup(kid))) goto nomem;
  int rv;
  switch (k->type) {
  case KT_OCT:
    if (!k->alg[0]) snprintf(k->alg, sizeof k->alg, "HS256");
    k->secret = member_bytes(o, "k", &k->secret_len);
    if (!k->secret || k->secret_len < 32) {
      fail(err, errlen, "%s: oct key: \"k\" must be a base64url secret of at least 32 bytes", name);
      goto bad;
    }
    rv = 0;
    break;
  case KT_EC: rv = load_ec(k, o, name, err, errlen); break;
  case KT_OKP: rv = load_okp(k, o, name, err, errlen); break;
  default: rv = load_rsa(k, o, name, err, errlen); break;
  }
  if (rv) goto bad;
  if (!alg_known(k->alg, k->type)) {
    fail(err, errlen, "%s: \"alg\" %s does not fit a key of type %s", name, k->alg, kty ? kty : "oct");
    goto bad;
  }
  if (k->pkey && make_pem(k)) goto nomem;
  json_decref(o);
  return k;
nomem:
  fail(err, errlen, "%s: out of memory", name);
bad:
  json_decref(o);
  jwt_key_free(k);
  return NULL;
}

jwt_key *jwt_key_load(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  char *buf = malloc(MAX_KEY_FILE + 1);
  size_t n = buf ? fread(buf, 1, MAX_KEY_FILE + 1, f) : 0;
  fclose(f);
  jwt_key *k = NULL;
  if (!buf) fail(err, errlen, "%s: out of memory", path);
  else if (n > MAX_KEY_FILE) fail(err, errlen, "%s: too large for a key file", path);
  else k = jwt_key_parse(path, buf, n, err, errlen);
  if (buf) OPENSSL_cleanse(buf, n < MAX_KEY_FILE ? n : MAX_KEY_FILE);
  free(buf);
  return k;
}

/* ------------------------------------------------------------------------------------------ */
/* Tokens */

typedef struct parts {
  const char *h, *p, *s; /* header, payload, signature (base64url) */
  size_t hl, pl, sl;
} parts;

static int split(const char *token, parts *out) {
  const char *d1 = strchr(token, '.');
  const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '.')) return -1;
  out->h = token;
  out->hl = (size_t)(d1 - token);
  out->p = d1 + 1;
  out->pl = (size_t)(d2 - d1 - 1);
  out->s = d2 + 1;
  out->sl = strlen(d2 + 1);
  return out->hl && out->pl ? 0 : -1;
}

static json_t *decode_json(const char *b64, size_t n) {
  size_t len;
  uint8_t *raw = b64url_decode(b64, n, &len);
  if (!raw) return NULL;
  json_t *o = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
  free(raw);
  if (o && !json_is_object(o)) {
    json_decref(o);
    return NULL;
  }
  return o;
}

int jwt_token_kid(const char *token, char *out, size_t outlen) {
  parts p;
  if (strlen(token) > MAX_TOKEN || split(token, &p)) return -1;
  json_t *h = decode_json(p.h, p.hl);
  if (!h) return -1;
  const char *kid = json_string_value(json_object_get(h, "kid"));
  snprintf(out, outlen, "%s", kid ? kid : "");
  json_decref(h);
  return 0;
}

static const EVP_MD *alg_md(const char *alg) {
  if (!strcmp(alg + 2, "256")) return EVP_sha256();
  if (!strcmp(alg + 2, "384")) return EVP_sha384();
  if (!strcmp(alg + 2, "512")) return EVP_sha512();
  return NULL;
}

/* EdDSA and PS*: libcrypto directly. */
static int verify_evp(const jwt_key *k, const parts *p) {
  size_t sl;
  uint8_t *sig = b64url_decode(p->s, p->sl, &sl);
  if (!sig) return -1;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  int ok = 0;
  int eddsa = !strcmp(k->alg, "EdDSA");
  if (ctx && EVP_DigestVerifyInit(ctx, &pctx, eddsa ? NULL : alg_md(k->alg), NULL, k->pkey) == 1) {
    if (eddsa || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0))
      ok = EVP_DigestVerify(ctx, sig, sl, (const uint8_t *)p->h, p->hl + 1 + p->pl) == 1;
  }
  EVP_MD_CTX_free(ctx);
  free(sig);
  return ok ? 0 : -1;
}

static int sign_evp(const jwt_key *k, const char *input, size_t n, uint8_t **sig, size_t *sl) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  int eddsa = !strcmp(k->alg, "EdDSA"), ok = 0;
  *sig = NULL;
  if (ctx && EVP_DigestSignInit(ctx, &pctx, eddsa ? NULL : alg_md(k->alg), NULL, k->pkey) == 1 &&
      (eddsa || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0)) &&
      EVP_DigestSign(ctx, NULL, sl, (const uint8_t *)input, n) == 1 && (*sig = malloc(*sl)) &&
      EVP_DigestSign(ctx, *sig, sl, (const uint8_t *)input, n) == 1)
    ok = 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    free(*sig);
    *sig = NULL;
  }
  return ok ? 0 : -1;
}

static int uses_evp(const char *alg) { return !strcmp(alg, "EdDSA") || !strncmp(alg, "PS", 2); }

void jwt_claims_free(jwt_claims *c) {
  free(c->root);
  for (size_t i = 0; i < c->n_put; i++) free(c->put[i]);
  for (size_t i = 0; i < c->n_get; i++) free(c->get[i]);
  free(c->json);
  memset(c, 0, sizeof *c);
}

/* "put"/"get": a string or an array of strings. */
static int read_paths(json_t *o, const char *name, char **out, size_t *n, char *err, size_t errlen) {
  json_t *v = json_object_get(o, name);
  *n = 0;
  if (!v || json_is_null(v)) return 0;
  if (json_is_string(v)) {
    if (!(out[0] = strdup(json_string_value(v)))) return fail(err, errlen, "out of memory");
    *n = 1;
    return 0;
  }
  if (!json_is_array(v)) return fail(err, errlen, "claim \"%s\" must be a string or an array of strings", name);
  if (json_array_size(v) > JWT_MAX_GRANTS) return fail(err, errlen, "claim \"%s\" has too many paths", name);
  for (size_t i = 0; i < json_array_size(v); i++) {
    const char *s = json_string_value(json_array_get(v, i));
    if (!s) return fail(err, errlen, "claim \"%s\" must be a string or an array of strings", name);
    if (!(out[*n] = strdup(s))) return fail(err, errlen, "out of memory");
    (*n)++;
  }
  return 0;
}

static int read_time(json_t *o, const char *name, int64_t *out, char *err, size_t errlen) {
  json_t *v = json_object_get(o, name);
  *out = 0;
  if (!v || json_is_null(v)) return 0;
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return 0;
  }
  if (!json_is_real(v)) return fail(err, errlen, "claim \"%s\" must be a number of seconds", name);
  /* converting a double outside int64_t's range is undefined behaviour: refuse it (2^63 is exact) */
  double d = json_real_value(v);
  if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0))
    return fail(err, errlen, "claim \"%s\" is out of range", name);
  *out = (int64_t)d;
  return 0;
}

static int claims_from_json(json_t *o, jwt_claims *c, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  json_t *root = json_object_get(o, "root");
  if (root && !json_is_string(root) && !json_is_null(root))
    return fail(err, errlen, "claim \"root\" must be a string");
  json_t *cl = json_object_get(o, "cluster");
  if (cl && !json_is_boolean(cl) && !json_is_null(cl)) return fail(err, errlen, "claim \"cluster\" must be a boolean");
  if (!(c->root = strdup(root && json_is_string(root) ? json_string_value(root) : ""))) goto nomem;
  c->cluster = cl && json_is_true(cl);
  if (read_paths(o, "put", c->put, &c->n_put, err, errlen) || read_paths(o, "get", c->get, &c->n_get, err, errlen) ||
      read_time(o, "exp", &c->exp, err, errlen) || read_time(o, "iat", &c->iat, err, errlen)) {
    jwt_claims_free(c);
    return -1;
  }
  if (!(c->json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS))) goto nomem;
  return 0;
nomem:
  jwt_claims_free(c);
  return fail(err, errlen, "out of memory");
}

int jwt_verify(const jwt_key *k, const char *token, int64_t now, jwt_claims *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  parts p;
  if (strlen(token) > MAX_TOKEN) return fail(err, errlen, "the token is too long");
  if (split(token, &p)) return fail(err, errlen, "not a JWT (expected three base64url parts)");
  json_t *h = decode_json(p.h, p.hl);
  if (!h) return fail(err, errlen, "the token header is not base64url JSON");
  const char *alg = json_string_value(json_object_get(h, "alg"));
  int same = alg && !strcmp(alg, k->alg);
  char seen[32];
  snprintf(seen, sizeof seen, "%s", alg ? alg : "none");
  json_decref(h);
  if (!same) return fail(err, errlen, "the token's algorithm %s is not the key's %s", seen, k->alg);
  if (uses_evp(k->alg)) {
    if (verify_evp(k, &p)) return fail(err, errlen, "bad signature");
  } else {
    jwt_t *j = NULL;
    const uint8_t *key = k->type == KT_OCT ? k->secret : (const uint8_t *)k->pub_pem;
    int klen = (int)(k->type == KT_OCT ? k->secret_len : k->pub_pem_len);
    int rv = jwt_decode(&j, token, key, klen);
    if (rv || !j) return fail(err, errlen, "bad signature");
    jwt_free(j);
  }
  json_t *payload = decode_json(p.p, p.pl);
  if (!payload) return fail(err, errlen, "the token payload is not base64url JSON");
  char cerr[200] = "";
  int rv = claims_from_json(payload, out, cerr, sizeof cerr);
  json_decref(payload);
  if (rv) return fail(err, errlen, "%s", cerr);
  if (out->exp && out->exp < now) {
    jwt_claims_free(out);
    return fail(err, errlen, "the token has expired");
  }
  if (!out->n_put && !out->n_get) {
    jwt_claims_free(out);
    return fail(err, errlen, "the token grants neither put nor get");
  }
  return 0;
}

static json_t *paths_json(char *const *l, size_t n) {
  if (n == 1) return json_string(l[0]);
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++) json_array_append_new(a, json_string(l[i]));
  return a;
}

char *jwt_sign(const jwt_key *k, const jwt_claims *c, char *err, size_t errlen) {
  if (!jwt_key_private(k)) {
    fail(err, errlen, "the key is a public key: signing needs the private one");
    return NULL;
  }
  if (!c->n_put && !c->n_get) {
    fail(err, errlen, "a token must grant publish (put) or subscribe (get) paths");
    return NULL;
  }
  json_t *o = json_object();
  if (!o) goto nomem;
  json_object_set_new(o, "root", json_string(c->root ? c->root : ""));
  if (c->n_put) json_object_set_new(o, "put", paths_json(c->put, c->n_put));
  if (c->n_get) json_object_set_new(o, "get", paths_json(c->get, c->n_get));
  if (c->cluster) json_object_set_new(o, "cluster", json_true());
  if (c->exp) json_object_set_new(o, "exp", json_integer(c->exp));
  if (c->iat) json_object_set_new(o, "iat", json_integer(c->iat));
  char *token = NULL;
  if (uses_evp(k->alg)) {
    json_t *h = json_pack("{s:s,s:s}", "alg", k->alg, "typ", "JWT");
    if (h && k->kid) json_object_set_new(h, "kid", json_string(k->kid));
    char *hs = h ? json_dumps(h, JSON_COMPACT) : NULL, *ps = json_dumps(o, JSON_COMPACT);
    char *hb = hs ? b64url_encode((uint8_t *)hs, strlen(hs)) : NULL;
    char *pb = ps ? b64url_encode((uint8_t *)ps, strlen(ps)) : NULL;
    size_t n = hb && pb ? strlen(hb) + 1 + strlen(pb) : 0;
    char *input = n ? malloc(n + 1) : NULL;
    uint8_t *sig = NULL;
    size_t sl = 0;
    if (input) snprintf(input, n + 1, "%s.%s", hb, pb);
    if (input && sign_evp(k, input, n, &sig, &sl) == 0) {
      char *sb = b64url_encode(sig, sl);
      if (sb && (token = malloc(n + 2 + strlen(sb)))) sprintf(token, "%s.%s", input, sb);
      free(sb);
    }
    free(sig);
    free(input);
    free(hb);
    free(pb);
    free(hs);
    free(ps);
    json_decref(h);
  } else {
    jwt_t *j = NULL;
    char *ps = json_dumps(o, JSON_COMPACT);
    const uint8_t *key = k->type == KT_OCT ? k->secret : (const uint8_t *)k->pem;
    int klen = (int)(k->type == KT_OCT ? k->secret_len : k->pem_len);
    if (ps && jwt_new(&j) == 0 && jwt_add_grants_json(j, ps) == 0 &&
        jwt_set_alg(j, jwt_str_alg(k->alg), key, klen) == 0 && (!k->kid || jwt_add_header(j, "kid", k->kid) == 0))
      token = jwt_encode_str(j);
    jwt_free(j);
    free(ps);
  }
  json_decref(o);
  if (!token) fail(err, errlen, "signing with %s failed", k->alg);
  return token;
nomem:
  fail(err, errlen, "out of memory");
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Generation */

static int set_b64(json_t *o, const char *name, const uint8_t *b, size_t n) {
  char *s = b64url_encode(b, n);
  int rv = s ? json_object_set_new(o, name, json_string(s)) : -1;
  free(s);
  return rv;
}

static int set_bn(json_t *o, const char *name, EVP_PKEY *pk, const char *param, size_t pad) {
  BIGNUM *bn = NULL;
  if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1) return -1;
  size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
  uint8_t *b = malloc(n ? n : 1);
  int rv = -1;
  if (b && BN_bn2binpad(bn, b, (int)n) >= 0) rv = set_b64(o, name, b, n);
  if (b) OPENSSL_cleanse(b, n);
  free(b);
  BN_clear_free(bn);
  return rv;
}

int jwt_generate(const char *alg, const char *kid, char **priv_json, char **pub_json, char *err, size_t errlen) {
  *priv_json = *pub_json = NULL;
  json_t *priv = json_object(), *pub = NULL;
  EVP_PKEY *pk = NULL;
  int rv = -1;
  if (!priv) return fail(err, errlen, "out of memory");
  json_object_set_new(priv, "alg", json_string(alg));
  if (!strncmp(alg, "HS", 2) && alg_known(alg, KT_OCT)) {
    uint8_t secret[64];
    size_t n = !strcmp(alg, "HS256") ? 32 : !strcmp(alg, "HS384") ? 48 : 64;
    if (RAND_bytes(secret, (int)n) != 1 || set_b64(priv, "k", secret, n)) goto out;
    OPENSSL_cleanse(secret, sizeof secret);
    json_object_set_new(priv, "kty", json_string("oct"));
  } else if (!strcmp(alg, "ES256") || !strcmp(alg, "ES384")) {
    int p256 = !strcmp(alg, "ES256");
    size_t clen = p256 ? 32 : 48;
    if (!(pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", p256 ? "P-256" : "P-384"))) goto out;
    uint8_t point[1 + 2 * 48];
    size_t plen = 0;
    if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &plen) != 1 ||
        plen != 1 + 2 * clen)
      goto out;
    json_object_set_new(priv, "kty", json_string("EC"));
    json_object_set_new(priv, "crv", json_string(p256 ? "P-256" : "P-384"));
    if (set_b64(priv, "x", point + 1, clen) || set_b64(priv, "y", point + 1 + clen, clen)) goto out;
    pub = json_deep_copy(priv);
    if (set_bn(priv, "d", pk, OSSL_PKEY_PARAM_PRIV_KEY, clen)) goto out;
  } else if (!strcmp(alg, "EdDSA")) {
    uint8_t raw[32];
    size_t n = sizeof raw;
    if (!(pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"))) goto out;
    json_object_set_new(priv, "kty", json_string("OKP"));
    json_object_set_new(priv, "crv", json_string("Ed25519"));
    if (EVP_PKEY_get_raw_public_key(pk, raw, &n) != 1 || set_b64(priv, "x", raw, n)) goto out;
    pub = json_deep_copy(priv);
    n = sizeof raw;
    if (EVP_PKEY_get_raw_private_key(pk, raw, &n) != 1 || set_b64(priv, "d", raw, n)) goto out;
    OPENSSL_cleanse(raw, sizeof raw);
  } else if (alg_known(alg, KT_RSA)) {
    if (!(pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048))) goto out;
    json_object_set_new(priv, "kty", json_string("RSA"));
    if (set_bn(priv, "n", pk, OSSL_PKEY_PARAM_RSA_N, 0) || set_bn(priv, "e", pk, OSSL_PKEY_PARAM_RSA_E, 0)) goto out;
    pub = json_deep_copy(priv);
    if (set_bn(priv, "d", pk, OSSL_PKEY_PARAM_RSA_D, 0) || set_bn(priv, "p", pk, OSSL_PKEY_PARAM_RSA_FACTOR1, 0) ||
        set_bn(priv, "q", pk, OSSL_PKEY_PARAM_RSA_FACTOR2, 0) ||
        set_bn(priv, "dp", pk, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0) ||
        set_bn(priv, "dq", pk, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0) ||
        set_bn(priv, "qi", pk, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0))
      goto out;
  } else {
    fail(err, errlen, "unknown algorithm %s (HS256, HS384, HS512, ES256, ES384, EdDSA, RS256..512, PS256..512)", alg);
    json_decref(priv);
    return -1;
  }
  if (kid) json_object_set_new(priv, "kid", json_string(kid));
  if (pub && kid) json_object_set_new(pub, "kid", json_string(kid));
  json_t *ops = json_pack("[ss]", "sign", "verify");
  json_object_set_new(priv, "key_ops", ops);
  if (pub) json_object_set_new(pub, "key_ops", json_pack("[s]", "verify"));
  *priv_json = json_dumps(priv, JSON_COMPACT | JSON_SORT_KEYS);
  if (pub) *pub_json = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
  rv = *priv_json && (!pub || *pub_json) ? 0 : -1;
out:
  if (rv) {
    free(*priv_json);
    free(*pub_json);
    *priv_json = *pub_json = NULL;
    fail(err, errlen, "generating a %s key failed", alg);
  }
  EVP_PKEY_free(pk);
  json_decref(priv);
  json_decref(pub);
  return rv;
}
