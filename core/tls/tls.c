#include "tls/tls.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct tls_ctx {
  WOLFSSL_CTX *ssl_ctx;         /* owned */
  const char *const *alpn;      /* borrowed: server preference list */
  size_t n_alpn;
  int is_client;
  tls_verify_mode verify;
  uint8_t pin[32];              /* TLS_VERIFY_FINGERPRINT */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int tls_global_init(void) { return wolfSSL_Init() == WOLFSSL_SUCCESS ? 0 : -1; }

void tls_global_cleanup(void) { wolfSSL_Cleanup(); }

static void blob_free(tls_blob *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

static int blob_copy(tls_blob *b, const void *data, size_t len) {
  b->data = malloc(len + 1); /* +1: PEM text stays NUL-terminated */
  if (!b->data) return -1;
  memcpy(b->data, data, len);
  b->data[len] = 0;
  b->len = len;
  return 0;
}

void tls_identity_free(tls_identity *id) {
  blob_free(&id->cert_pem);
  blob_free(&id->key_pem);
  blob_free(&id->leaf_der);
  memset(id->fingerprint, 0, sizeof id->fingerprint);
}

int tls_sha256_hex(const uint8_t *der, size_t len, char out[65]) {
  uint8_t digest[WC_SHA256_DIGEST_SIZE];
  if (wc_Sha256Hash(der, (word32)len, digest) != 0) return -1;
  for (size_t i = 0; i < sizeof digest; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
  return 0;
}

/* Reads a whole file (at most 1 MiB) into b. */
static int read_file(const char *path, tls_blob *b, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  uint8_t *buf = malloc(1 << 20);
  size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
  int bad = !buf || ferror(f) || !feof(f);
  fclose(f);
  if (bad) {
    set_err(err, errlen, "%s: cannot read (or larger than 1 MiB)", path);
    free(buf);
    return -1;
  }
  int rv = blob_copy(b, buf, n);
  free(buf);
  if (rv) set_err(err, errlen, "out of memory");
  return rv;
}

/* Derives leaf_der and fingerprint from cert_pem. */
static int identity_finish(tls_identity *id, const char *what, char *err, size_t errlen) {
  size_t cap = id->cert_pem.len + 16;
  uint8_t *der = malloc(cap);
  if (!der) return -1;
  int n = wc_CertPemToDer(id->cert_pem.data, (int)id->cert_pem.len, der, (int)cap, CERT_TYPE);
  if (n <= 0) {
    free(der);
    set_err(err, errlen, "%s: no PEM certificate found", what);
    return -1;
  }
  id->leaf_der.data = der;
  id->leaf_der.len = (size_t)n;
  return tls_sha256_hex(der, (size_t)n, id->fingerprint);
}

/* Checks that the key matches the leaf, by loading both into a throwaway server context. */
static int identity_check(const tls_identity *id, const char *what, char *err, size_t errlen) {
  WOLFSSL_CTX *c = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
  if (!c) return -1;
  int ok = wolfSSL_CTX_use_certificate_chain_buffer_format(c, id->cert_pem.data, (long)id->cert_pem.len,
                                                           WOLFSSL_FILETYPE_PEM) == WOLFSSL_SUCCESS;
  if (!ok) {
    set_err(err, errlen, "%s: the certificate chain cannot be loaded", what);
  } else if (wolfSSL_CTX_use_PrivateKey_buffer(c, id->key_pem.data, (long)id->key_pem.len,
                                               WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
    set_err(err, errlen, "%s: the private key cannot be loaded", what);
    ok = 0;
  } else if (wolfSSL_CTX_check_private_key(c) != WOLFSSL_SUCCESS) {
    set_err(err, errlen, "%s: the private key does not match the certificate", what);
    ok = 0;
  }
  wolfSSL_CTX_free(c);
  return ok ? 0 : -1;
}

int tls_identity_load(tls_identity *id, const char *cert_file, const char *key_file, char *err,
                      size_t errlen) {
  memset(id, 0, sizeof *id);
  if (read_file(cert_file, &id->cert_pem, err, errlen) || read_file(key_file, &id->key_pem, err, errlen) ||
      identity_finish(id, cert_file, err, errlen)) {
    tls_identity_free(id);
    return -1;
  }
  char what[512];
  snprintf(what, sizeof what, "%s and %s", cert_file, key_file);
  if (identity_check(id, what, err, errlen)) {
    tls_identity_free(id);
    return -1;
  }
  return 0;
}

/* DER UTCTime (or GeneralizedTime past 2049) of t, as a full TLV, into out; returns its length. */
static int der_time(time_t t, uint8_t *out) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char s[80];
  int year = tm.tm_year + 1900;
  if (year < 2050) {
    snprintf(s, sizeof s, "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    out[0] = 0x17; /* UTCTime */
  } else {
    snprintf(s, sizeof s, "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    out[0] = 0x18; /* GeneralizedTime */
  }
  size_t n = strlen(s);
  out[1] = (uint8_t)n;
  memcpy(out + 2, s, n);
  return (int)n + 2;
}

/* Appends one GeneralName (DNS name, or IP address for an IP literal) to the altNames DER. */
static int alt_name_append(uint8_t *buf, size_t cap, size_t *len, const char *name) {
  uint8_t ip[16];
  uint8_t tag;
  const uint8_t *val;
  size_t vlen;
  if (inet_pton(AF_INET, name, ip) == 1) {
    tag = 0x87, val = ip, vlen = 4;
  } else if (inet_pton(AF_INET6, name, ip) == 1) {
    tag = 0x87, val = ip, vlen = 16;
  } else {
    tag = 0x82, val = (const uint8_t *)name, vlen = strlen(name);
  }
  if (vlen > 127 || *len + 2 + vlen > cap) return -1;
  buf[(*len)++] = tag;
  buf[(*len)++] = (uint8_t)vlen;
  memcpy(buf + *len, val, vlen);
  *len += vlen;
  return 0;
}

static int valid_name(const char *n) {
  if (!*n || strlen(n) > 127) return 0;
  for (const char *p = n; *p; p++)
    if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == ':' || *p == '*' || *p == '_'))
      return 0;
  return 1;
}

int tls_identity_generate(tls_identity *id, const char *const *names, size_t n_names, char *err,
                          size_t errlen) {
  memset(id, 0, sizeof *id);
  if (n_names == 0) {
    set_err(err, errlen, "--tls-generate: at least one host name is needed");
    return -1;
  }
  for (size_t i = 0; i < n_names; i++) {
    if (!valid_name(names[i])) {
      set_err(err, errlen, "--tls-generate: \"%s\" is not a host name or IP address", names[i]);
      return -1;
    }
  }
  int rv = -1;
  WC_RNG rng;
  ecc_key key;
  Cert *cert = NULL;
  uint8_t *der = NULL, *pem = NULL;
  int rng_ok = 0, key_ok = 0;
  if (wc_InitRng(&rng) != 0) goto out;
  rng_ok = 1;
  if (wc_ecc_init(&key) != 0) goto out;
  key_ok = 1;
  if (wc_ecc_make_key_ex(&rng, 32, &key, ECC_SECP256R1) != 0) goto out;

  cert = malloc(sizeof *cert);
  if (!cert || wc_InitCert(cert) != 0) goto out;
  cert->sigType = CTC_SHA256wECDSA;
  cert->isCA = 0;
  cert->selfSigned = 1;
  snprintf(cert->subject.commonName, CTC_NAME_SIZE, "%s", names[0]);
  snprintf(cert->subject.org, CTC_NAME_SIZE, "moq-relay self-signed");
  /* Browsers accept a pinned certificate hash only for validity <= 14 days. */
  time_t now = time(NULL);
  cert->beforeDateSz = der_time(now - 86400, cert->beforeDate);
  cert->afterDateSz = der_time(now + 13 * 86400, cert->afterDate);
  uint8_t alt[CTC_MAX_ALT_SIZE];
  size_t alt_len = 0;
  for (size_t i = 0; i < n_names; i++) {
    if (alt_name_append(alt + 2, sizeof alt - 4, &alt_len, names[i])) {
      set_err(err, errlen, "--tls-generate: too many or too long names");
      goto out_quiet;
    }
  }
  /* SEQUENCE OF GeneralName, with a one- or two-byte length. */
  if (alt_len < 128) {
    cert->altNames[0] = 0x30;
    cert->altNames[1] = (uint8_t)alt_len;
    memcpy(cert->altNames + 2, alt + 2, alt_len);
    cert->altNamesSz = (int)alt_len + 2;
  } else {
    cert->altNames[0] = 0x30;
    cert->altNames[1] = 0x81;
    cert->altNames[2] = (uint8_t)alt_len;
    memcpy(cert->altNames + 3, alt + 2, alt_len);
    cert->altNamesSz = (int)alt_len + 3;
  }
  cert->keyUsage = KEYUSE_DIGITAL_SIG;
  cert->extKeyUsage = EXTKEYUSE_SERVER_AUTH | EXTKEYUSE_CLIENT_AUTH;

  enum { DER_CAP = 4096, PEM_CAP = 8192 };
  der = malloc(DER_CAP);
  pem = malloc(PEM_CAP);
  if (!der || !pem) goto out;
  if (wc_MakeCert_ex(cert, der, DER_CAP, ECC_TYPE, &key, &rng) < 0) goto out;
  int der_len = wc_SignCert_ex(cert->bodySz, cert->sigType, der, DER_CAP, ECC_TYPE, &key, &rng);
  if (der_len <= 0) goto out;
  int pem_len = wc_DerToPem(der, (word32)der_len, pem, PEM_CAP, CERT_TYPE);
  if (pem_len <= 0 || blob_copy(&id->cert_pem, pem, (size_t)pem_len)) goto out;
  if (blob_copy(&id->leaf_der, der, (size_t)der_len)) goto out;
  int key_der_len = wc_EccKeyToDer(&key, der, DER_CAP);
  if (key_der_len <= 0) goto out;
  pem_len = wc_DerToPem(der, (word32)key_der_len, pem, PEM_CAP, ECC_PRIVATEKEY_TYPE);
  if (pem_len <= 0 || blob_copy(&id->key_pem, pem, (size_t)pem_len)) goto out;
  if (tls_sha256_hex(id->leaf_der.data, id->leaf_der.len, id->fingerprint)) goto out;
  rv = 0;
out:
  if (rv) set_err(err, errlen, "--tls-generate: certificate generation failed");
out_quiet:
  if (der) memset(der, 0, DER_CAP);
  if (pem) memset(pem, 0, PEM_CAP);
  free(der);
  free(pem);
  free(cert);
  if (key_ok) wc_ecc_free(&key);
  if (rng_ok) wc_FreeRng(&rng);
  if (rv) tls_identity_free(id);
  return rv;
}

static int write_file(const char *path, const tls_blob *b, int mode, char *err, size_t errlen) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  size_t off = 0;
  while (off < b->len) {
    ssize_t n = write(fd, b->data + off, b->len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      set_err(err, errlen, "%s: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
    off += (size_t)n;
  }
  if (fchmod(fd, (mode_t)mode) != 0 || close(fd) != 0) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

int tls_identity_save(const tls_identity *id, const char *cert_file, const char *key_file, char *err,
                      size_t errlen) {
  if (write_file(cert_file, &id->cert_pem, 0644, err, errlen)) return -1;
  return write_file(key_file, &id->key_pem, 0600, err, errlen);
}

int tls_alpn_encode(const char *const *alpn, size_t n, uint8_t *out, size_t outlen) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(alpn[i]);
    if (l == 0 || l > 255 || o + 1 + l > outlen) return -1;
    out[o++] = (uint8_t)l;
    memcpy(out + o, alpn[i], l);
    o += l;
  }
  return (int)o;
}

int tls_fingerprint_parse(const char *text, uint8_t out[32]) {
  size_t n = 0;
  int hi = -1;
  for (const char *p = text; *p; p++) {
    if (*p == ':') continue;
    int v;
    if (*p >= '0' && *p <= '9') v = *p - '0';
    else if (*p >= 'a' && *p <= 'f') v = *p - 'a' + 10;
    else if (*p >= 'A' && *p <= 'F') v = *p - 'A' + 10;
    else return -1;
    if (hi < 0) {
      hi = v;
    } else {
      if (n >= 32) return -1;
      out[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  return n == 32 && hi < 0 ? 0 : -1;
}

/* Server ALPN choice: the first of our list that the client offers (server preference). */
static int alpn_select(WOLFSSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  const tls_ctx *t = arg;
  for (size_t i = 0; i < t->n_alpn; i++) {
    size_t l = strlen(t->alpn[i]);
    for (unsigned int o = 0; o < inlen;) {
      unsigned int pl = in[o];
      if (o + 1 + pl > inlen) break;
      if (pl == l && memcmp(in + o + 1, t->alpn[i], l) == 0) {
        *out = in + o + 1;
        *outlen = (unsigned char)pl;
        return SSL_TLSEXT_ERR_OK;
      }
      o += 1 + pl;
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL; /* QUIC requires no_application_protocol */
}

tls_ctx *tls_server_ctx_new(const tls_identity *id, const char *const *alpn, size_t n_alpn,
                            const char *client_ca_file, char *err, size_t errlen) {
  tls_ctx *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->alpn = alpn;
  t->n_alpn = n_alpn;
  t->ssl_ctx = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
  if (!t->ssl_ctx) {
    set_err(err, errlen, "TLS: cannot create a server context");
    goto fail;
  }
  if (ngtcp2_crypto_wolfssl_configure_server_context(t->ssl_ctx) != 0) {
    set_err(err, errlen, "TLS: ngtcp2 cannot configure the server context");
    goto fail;
  }
  if (wolfSSL_CTX_use_certificate_chain_buffer_format(t->ssl_ctx, id->cert_pem.data, (long)id->cert_pem.len,
                                                      WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS ||
      wolfSSL_CTX_use_PrivateKey_buffer(t->ssl_ctx, id->key_pem.data, (long)id->key_pem.len,
                                        WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
    set_err(err, errlen, "TLS: the certificate or key cannot be used");
    goto fail;
  }
  wolfSSL_CTX_set_alpn_select_cb(t->ssl_ctx, alpn_select, t);
  if (client_ca_file) {
    if (wolfSSL_CTX_load_verify_locations(t->ssl_ctx, client_ca_file, NULL) != WOLFSSL_SUCCESS) {
      set_err(err, errlen, "%s: cannot load client CA certificates", client_ca_file);
      goto fail;
    }
    /* Client certificates are optional; one that is given must chain to the CA. */
    wolfSSL_CTX_set_verify(t->ssl_ctx, WOLFSSL_VERIFY_PEER, NULL);
  } else {
    wolfSSL_CTX_set_verify(t->ssl_ctx, WOLFSSL_VERIFY_NONE, NULL);
  }
  return t;
fail:
  tls_ctx_free(t);
  return NULL;
}

/* Client verify callback: pins the leaf's SHA-256, or accepts anything. */
static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store) {
  const tls_ctx *t = store ? store->userCtx : NULL;
  if (!t) return preverify;
  if (t->verify == TLS_VERIFY_NONE) return 1;
  if (t->verify != TLS_VERIFY_FINGERPRINT) return preverify;
  if (store->error_depth > 0) return 1; /* only the leaf counts */
  WOLFSSL_X509 *x = wolfSSL_X509_STORE_CTX_get_current_cert(store);
  int len = 0;
  const unsigned char *der = x ? wolfSSL_X509_get_der(x, &len) : NULL;
  uint8_t digest[WC_SHA256_DIGEST_SIZE];
  if (!der || len <= 0 || wc_Sha256Hash(der, (word32)len, digest) != 0) return 0;
  return memcmp(digest, t->pin, sizeof digest) == 0;
}

tls_ctx *tls_client_ctx_new(const tls_client_options *opt, char *err, size_t errlen) {
  tls_ctx *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->is_client = 1;
  t->verify = opt->verify;
  t->ssl_ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
  if (!t->ssl_ctx || ngtcp2_crypto_wolfssl_configure_client_context(t->ssl_ctx) != 0) {
    set_err(err, errlen, "TLS: cannot create a client context");
    goto fail;
  }
  switch (opt->verify) {
  case TLS_VERIFY_SYSTEM:
    if (wolfSSL_CTX_load_system_CA_certs(t->ssl_ctx) != WOLFSSL_SUCCESS) {
      set_err(err, errlen, "TLS: cannot load the system's CA certificates");
      goto fail;
    }
    break;
  case TLS_VERIFY_CA_FILE:
    if (!opt->ca_file ||
        wolfSSL_CTX_load_verify_locations(t->ssl_ctx, opt->ca_file, NULL) != WOLFSSL_SUCCESS) {
      set_err(err, errlen, "%s: cannot load CA certificates", opt->ca_file ? opt->ca_file : "(none)");
      goto fail;
    }
    break;
  case TLS_VERIFY_FINGERPRINT:
    if (!opt->fingerprint || tls_fingerprint_parse(opt->fingerprint, t->pin)) {
      set_err(err, errlen, "--tls-fingerprint: expected 64 hex digits (SHA-256), got \"%s\"",
              opt->fingerprint ? opt->fingerprint : "");
      goto fail;
    }
    break;
  case TLS_VERIFY_NONE:
    break;
  }
  wolfSSL_CTX_SetCertCbCtx(t->ssl_ctx, t);
  wolfSSL_CTX_set_verify(t->ssl_ctx, WOLFSSL_VERIFY_PEER, verify_cb);
  if (opt->cert_file) {
    if (wolfSSL_CTX_use_certificate_chain_file(t->ssl_ctx, opt->cert_file) != WOLFSSL_SUCCESS ||
        !opt->key_file ||
        wolfSSL_CTX_use_PrivateKey_file(t->ssl_ctx, opt->key_file, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
      set_err(err, errlen, "%s: cannot load the client certificate or its key", opt->cert_file);
      goto fail;
    }
  }
  return t;
fail:
  tls_ctx_free(t);
  return NULL;
}

void tls_ctx_free(tls_ctx *t) {
  if (!t) return;
  if (t->ssl_ctx) wolfSSL_CTX_free(t->ssl_ctx);
  free(t);
}

void *tls_ctx_native(tls_ctx *t) { return t->ssl_ctx; }

int tls_ctx_checks_host(const tls_ctx *t) {
  return t->is_client && (t->verify == TLS_VERIFY_SYSTEM || t->verify == TLS_VERIFY_CA_FILE);
}

int tls_peer_read(void *ssl, tls_peer *out) {
  memset(out, 0, sizeof *out);
  if (!ssl) return -1;
  WOLFSSL_X509 *x = wolfSSL_get_peer_certificate((WOLFSSL *)ssl);
  if (!x) return 0;
  int rv = -1, der_len = 0;
  const unsigned char *der = wolfSSL_X509_get_der(x, &der_len);
  if (!der || der_len <= 0 || tls_sha256_hex(der, (size_t)der_len, out->fingerprint)) goto done;
  WOLF_STACK_OF(WOLFSSL_GENERAL_NAME) *names = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  int n = names ? wolfSSL_sk_GENERAL_NAME_num(names) : 0;
  for (int i = 0; i < n && out->n_names < TLS_PEER_MAX_NAMES; i++) {
    WOLFSSL_GENERAL_NAME *gn = wolfSSL_sk_GENERAL_NAME_value(names, i);
    if (!gn || gn->type != 2 /* GEN_DNS */ || !gn->d.dNSName) continue;
    const unsigned char *s = wolfSSL_ASN1_STRING_data(gn->d.dNSName);
    int len = wolfSSL_ASN1_STRING_length(gn->d.dNSName);
    if (!s || len <= 0 || len >= (int)sizeof out->names[0] || memchr(s, 0, (size_t)len)) continue;
    memcpy(out->names[out->n_names], s, (size_t)len);
    out->names[out->n_names][len] = 0;
    out->n_names++;
  }
  if (names) wolfSSL_GENERAL_NAMES_free(names);
  out->present = 1;
  rv = 0;
done:
  wolfSSL_X509_free(x);
  return rv;
}
