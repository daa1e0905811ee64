/* jwt_auth: the relay's tokens, compatible with moq-dev's moq-token and @moq/token.
 * Keys are JWK files (JSON, or that JSON base64url-encoded): oct (HS256/384/512), EC P-256/P-384
 * (ES256/ES384), OKP Ed25519 (EdDSA) and RSA (RS256/384/512, PS256/384/512). HS, RS and ES tokens
 * are checked by libjwt; EdDSA and PS, which libjwt 1.10 lacks, with libcrypto directly. Claims:
 * root, put, get (a string or an array), cluster, exp, iat. No global state. */
#ifndef MOQ_PLUGINS_JWT_AUTH_H
#define MOQ_PLUGINS_JWT_AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct jwt_key jwt_key;

#define JWT_MAX_GRANTS 64

/* Claims of a verified token (all owned). */
typedef struct jwt_claims {
  char *root;
  char *put[JWT_MAX_GRANTS];
  size_t n_put;
  char *get[JWT_MAX_GRANTS];
  size_t n_get;
  int cluster;
  int64_t exp, iat; /* 0 = absent */
  char *json;       /* the payload */
} jwt_claims;

/* Reads a JWK from text (JSON or base64url JSON). name is used in messages. NULL with err set. */
jwt_key *jwt_key_parse(const char *name, const char *text, size_t len, char *err, size_t errlen);
/* Reads a JWK file. */
jwt_key *jwt_key_load(const char *path, char *err, size_t errlen);
void jwt_key_free(jwt_key *k);
/* The key's algorithm ("HS256", "ES256", "EdDSA", ...), kid (NULL if none), and whether it can sign. */
const char *jwt_key_alg(const jwt_key *k);
const char *jwt_key_kid(const jwt_key *k);
int jwt_key_private(const jwt_key *k);

/* The kid in a token's header (copied into out), or "" if none. 0, or -1 if the token is malformed. */
int jwt_token_kid(const char *token, char *out, size_t outlen);
/* Verifies token with k at time now (unix seconds): signature, alg equal to the key's, exp, claims.
 * Returns 0 with out filled (free with jwt_claims_free), or -1 with the reason in err. */
int jwt_verify(const jwt_key *k, const char *token, int64_t now, jwt_claims *out, char *err, size_t errlen);
void jwt_claims_free(jwt_claims *c);

/* Signs claims with k (private). Returns a malloc()ed compact token, or NULL with err. */
char *jwt_sign(const jwt_key *k, const jwt_claims *c, char *err, size_t errlen);
/* Generates a key for alg (HS256.., ES256, ES384, EdDSA, RS*, PS*) with kid (may be NULL). Writes the
 * private JWK JSON and the public one (NULL for HS*: the secret is the only key) as malloc()ed
 * strings. 0 or -1 with err. */
int jwt_generate(const char *alg, const char *kid, char **priv_json, char **pub_json, char *err, size_t errlen);

#endif
