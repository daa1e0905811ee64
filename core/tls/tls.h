/* tls: wolfSSL contexts for QUIC (server and client), certificates and fingerprints.
 * The only module that includes wolfSSL headers besides quic/conn.c. */
#ifndef MOQ_TLS_TLS_H
#define MOQ_TLS_TLS_H

#include <stddef.h>
#include <stdint.h>

/* An owned byte buffer (PEM text or DER). */
typedef struct tls_blob {
  uint8_t *data; /* owned (malloc) */
  size_t len;
} tls_blob;

/* A certificate chain and its key, as loaded or generated. */
typedef struct tls_identity {
  tls_blob cert_pem;    /* owned: PEM chain, leaf first */
  tls_blob key_pem;     /* owned: PEM private key */
  tls_blob leaf_der;    /* owned: DER of the leaf certificate */
  char fingerprint[65]; /* lowercase hex SHA-256 of leaf_der, NUL-terminated */
} tls_identity;

/* How a client checks the server's certificate. */
typedef enum tls_verify_mode {
  TLS_VERIFY_SYSTEM = 0,      /* chain to the system roots, and the host name */
  TLS_VERIFY_CA_FILE = 1,     /* chain to the roots in ca_file, and the host name */
  TLS_VERIFY_FINGERPRINT = 2, /* the leaf's SHA-256 equals fingerprint (hex, any case, ':' allowed) */
  TLS_VERIFY_NONE = 3,        /* accept anything (tests, --tls-disable-verify) */
} tls_verify_mode;

typedef struct tls_client_options {
  tls_verify_mode verify;
  const char *ca_file;     /* borrowed: for TLS_VERIFY_CA_FILE */
  const char *fingerprint; /* borrowed: for TLS_VERIFY_FINGERPRINT */
  const char *cert_file;   /* borrowed: optional client certificate (mTLS) */
  const char *key_file;    /* borrowed: its key */
} tls_client_options;

/* Opaque wolfSSL context (a WOLFSSL_CTX). */
typedef struct tls_ctx tls_ctx;

/* Initializes wolfSSL once per process. Returns 0 or -1. */
int tls_global_init(void);
/* Releases wolfSSL's global state. */
void tls_global_cleanup(void);

/* Loads a PEM chain and key from files into id (validates that the key matches the leaf).
 * Returns 0, or -1 with a message naming the file in err. */
int tls_identity_load(tls_identity *id, const char *cert_file, const char *key_file, char *err,
                      size_t errlen);
/* Generates a self-signed ECDSA P-256 certificate for names (DNS names or IP literals; the first is
 * the subject CN), valid from one day ago for 14 days in all, as browsers require for hash pinning. */
int tls_identity_generate(tls_identity *id, const char *const *names, size_t n_names, char *err,
                          size_t errlen);
/* Frees what id owns. */
void tls_identity_free(tls_identity *id);
/* Writes the lowercase hex SHA-256 of der into out (65 bytes). Returns 0 or -1. */
int tls_sha256_hex(const uint8_t *der, size_t len, char out[65]);
/* Writes id's PEM certificate and key to files (key mode 0600). Returns 0 or -1 with err. */
int tls_identity_save(const tls_identity *id, const char *cert_file, const char *key_file, char *err,
                      size_t errlen);

/* Creates a QUIC server context serving id. alpn is the server's preference list, most preferred
 * first (borrowed; must outlive the context). client_ca_file (may be NULL) enables optional client
 * certificates chaining to it. Returns NULL with err on failure. */
tls_ctx *tls_server_ctx_new(const tls_identity *id, const char *const *alpn, size_t n_alpn,
                            const char *client_ca_file, char *err, size_t errlen);
/* Creates a QUIC client context. Returns NULL with err on failure. */
tls_ctx *tls_client_ctx_new(const tls_client_options *opt, char *err, size_t errlen);
/* Frees a context (after every connection using it is gone). */
void tls_ctx_free(tls_ctx *ctx);
/* The underlying WOLFSSL_CTX, for quic/conn.c. */
void *tls_ctx_native(tls_ctx *ctx);
/* True when ctx is a client context that must check the peer's host name. */
int tls_ctx_checks_host(const tls_ctx *ctx);

/* The certificate a peer presented (mTLS), read after the handshake. */
#define TLS_PEER_MAX_NAMES 16
typedef struct tls_peer {
  int present;                         /* the peer presented a certificate (and it verified) */
  char names[TLS_PEER_MAX_NAMES][256]; /* its DNS subjectAltNames, in certificate order */
  size_t n_names;
  char fingerprint[65];                /* hex SHA-256 of its DER */
} tls_peer;
/* Fills out from ssl (a WOLFSSL* of a finished handshake). Returns 0 (out->present says whether
 * there was a certificate) or -1. A certificate is only there when it chained to the server's
 * client CA: the handshake fails otherwise. */
int tls_peer_read(void *ssl, tls_peer *out);

/* Parses a hex fingerprint (64 hex digits, ':' separators allowed) into 32 bytes. 0 or -1. */
int tls_fingerprint_parse(const char *text, uint8_t out[32]);
/* Encodes a list of ALPN names into wire form (len-prefixed); returns bytes written or -1. */
int tls_alpn_encode(const char *const *alpn, size_t n, uint8_t *out, size_t outlen);

#endif
