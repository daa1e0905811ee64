/* Unit tests: the packet protection callbacks (core/quic/packet_crypto.c) against RFC 9001's
 * vectors and against ngtcp2's own wolfSSL callbacks on the same contexts. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/quic.h>
#include <wolfssl/wolfcrypt/memory.h>

#include <ngtcp2/ngtcp2_crypto.h>

#include "quic/packet_crypto.h"

static size_t unhex(uint8_t *out, const char *hex) {
  size_t n = 0;
  for (; hex[0] && hex[1]; hex += 2) {
    unsigned v;
    sscanf(hex, "%2x", &v);
    out[n++] = (uint8_t)v;
  }
  return n;
}

typedef struct keyset {
  ngtcp2_crypto_aead aead;
  ngtcp2_crypto_aead_ctx enc, dec;
  ngtcp2_crypto_cipher hp;
  ngtcp2_crypto_cipher_ctx hp_ctx;
} keyset;

/* The contexts as ngtcp2's wolfSSL backend makes them (wolfSSL_quic_crypt_new). */
static void keyset_init(keyset *k, const WOLFSSL_EVP_CIPHER *aead, const WOLFSSL_EVP_CIPHER *hp,
                        const char *key_hex, const char *hp_hex) {
  static const uint8_t zero_iv[16];
  uint8_t key[32], hpkey[32];
  unhex(key, key_hex);
  unhex(hpkey, hp_hex);
  memset(k, 0, sizeof *k);
  k->aead.native_handle = (void *)aead;
  k->aead.max_overhead = 16;
  k->enc.native_handle = wolfSSL_quic_crypt_new(aead, key, zero_iv, 1);
  k->dec.native_handle = wolfSSL_quic_crypt_new(aead, key, zero_iv, 0);
  k->hp.native_handle = (void *)hp;
  k->hp_ctx.native_handle = wolfSSL_quic_crypt_new(hp, hpkey, NULL, 1);
  ck_assert_ptr_nonnull(k->enc.native_handle);
  ck_assert_ptr_nonnull(k->dec.native_handle);
  ck_assert_ptr_nonnull(k->hp_ctx.native_handle);
}

static void keyset_free(keyset *k) {
  wolfSSL_EVP_CIPHER_CTX_free(k->enc.native_handle);
  wolfSSL_EVP_CIPHER_CTX_free(k->dec.native_handle);
  wolfSSL_EVP_CIPHER_CTX_free(k->hp_ctx.native_handle);
}

/* RFC 9001 A.2: the client Initial keys for DCID 0x8394c8f03e515708. */
#define INITIAL_KEY "1f369613dd76d5467730efcbe3b1a22d"
#define INITIAL_HP "9f50449e04a0e810283a1e9933adedd2"

START_TEST(test_hp_mask_aes_rfc9001) {
  keyset k;
  keyset_init(&k, wolfSSL_EVP_aes_128_gcm(), wolfSSL_EVP_aes_128_ctr(), INITIAL_KEY, INITIAL_HP);
  uint8_t sample[16], want[5], mask[16] = {0}, theirs[16] = {0};
  unhex(sample, "d1b1c98dd7689fb8ec11d242b123dc9b");
  unhex(want, "437b9aec36");
  ck_assert_int_eq(packet_crypto_hp_mask(mask, &k.hp, &k.hp_ctx, sample), 0);
  ck_assert_mem_eq(mask, want, 5);
  ck_assert_int_eq(ngtcp2_crypto_hp_mask_cb(theirs, &k.hp, &k.hp_ctx, sample), 0);
  ck_assert_mem_eq(mask, theirs, 5);
  /* again: the context is not consumed by a mask */
  memset(mask, 0, sizeof mask);
  ck_assert_int_eq(packet_crypto_hp_mask(mask, &k.hp, &k.hp_ctx, sample), 0);
  ck_assert_mem_eq(mask, want, 5);
  keyset_free(&k);
}
END_TEST

/* wolfSSL's allocations, counted while a test has its allocators installed (plain builds of
 * wolfSSL: no static-memory or debug-memory variant of the callbacks). */
static size_t wolf_allocs;
static void *count_malloc(size_t n) {
  wolf_allocs++;
  return malloc(n);
}
static void *count_realloc(void *p, size_t n) {
  wolf_allocs++;
  return realloc(p, n);
}
static void count_free(void *p) { free(p); }

START_TEST(test_hp_mask_aes_any_offset_no_alloc) {
  /* The sample sits anywhere in a packet. wolfSSL's AES-NI block function mallocs an aligned copy
   * of an unaligned input; the mask is computed once per packet sent and received, so it must not. */
  keyset k;
  keyset_init(&k, wolfSSL_EVP_aes_128_gcm(), wolfSSL_EVP_aes_128_ctr(), INITIAL_KEY, INITIAL_HP);
  uint8_t packet[64], want[5];
  unhex(want, "437b9aec36");
  ck_assert_int_eq(wolfSSL_SetAllocators(count_malloc, count_free, count_realloc), 0);
  for (size_t off = 0; off < 16; off++) {
    memset(packet, 0xee, sizeof packet);
    unhex(packet + off, "d1b1c98dd7689fb8ec11d242b123dc9b");
    uint8_t mask[16] = {0}, theirs[16] = {0};
    wolf_allocs = 0;
    ck_assert_int_eq(packet_crypto_hp_mask(mask, &k.hp, &k.hp_ctx, packet + off), 0);
    ck_assert_msg(wolf_allocs == 0, "sample at offset %zu: %zu wolfSSL allocations", off, wolf_allocs);
    ck_assert_mem_eq(mask, want, 5);
    ck_assert_int_eq(ngtcp2_crypto_hp_mask_cb(theirs, &k.hp, &k.hp_ctx, packet + off), 0);
    ck_assert_mem_eq(mask, theirs, 5);
  }
  keyset_free(&k);
}
END_TEST

START_TEST(test_hp_mask_chacha_rfc9001) {
  /* RFC 9001 A.5: ChaCha20 header protection goes to ngtcp2's callback. */
  keyset k;
  keyset_init(&k, wolfSSL_EVP_aes_128_gcm(), wolfSSL_EVP_chacha20(), INITIAL_KEY,
              "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4");
  uint8_t sample[16], want[5], mask[16] = {0};
  unhex(sample, "5e5cd55c41f69080575d7999c25a5bfb");
  unhex(want, "aefefe7d03");
  ck_assert_int_eq(packet_crypto_hp_mask(mask, &k.hp, &k.hp_ctx, sample), 0);
  ck_assert_mem_eq(mask, want, 5);
  keyset_free(&k);
}
END_TEST

START_TEST(test_retry_tag_rfc9001) {
  /* RFC 9001 A.4 / 5.8: the Retry integrity tag is AES-128-GCM over an empty plaintext. */
  keyset k;
  keyset_init(&k, wolfSSL_EVP_aes_128_gcm(), wolfSSL_EVP_aes_128_ctr(), "be0c690b9f66575a1d766b54e368c84e",
              INITIAL_HP);
  uint8_t nonce[12], aad[64], want[16], tag[16];
  unhex(nonce, "461599d35d632bf2239825bb");
  size_t aadlen = unhex(aad, "088394c8f03e515708ff000000010008f067a5502a4262b5746f6b656e");
  unhex(want, "04a265ba2eff4d829058fb3f0f2496ba");
  ck_assert_int_eq(packet_crypto_encrypt(tag, &k.aead, &k.enc, tag, 0, nonce, 12, aad, aadlen), 0);
  ck_assert_mem_eq(tag, want, 16);
  /* and it opens */
  uint8_t out[1];
  ck_assert_int_eq(packet_crypto_decrypt(out, &k.aead, &k.dec, want, 16, nonce, 12, aad, aadlen), 0);
  keyset_free(&k);
}
END_TEST

/* Seals a 1200-byte payload in place with ours and apart with ngtcp2's: the same bytes; then opens,
 * and refuses a flipped bit, a short tag and a wrong nonce. */
static void round_trip(const WOLFSSL_EVP_CIPHER *aead, const char *key_hex) {
  keyset k;
  keyset_init(&k, aead, wolfSSL_EVP_aes_128_ctr(), key_hex, INITIAL_HP);
  enum { LEN = 1200 };
  uint8_t plain[LEN], ours[LEN + 16], theirs[LEN + 16], opened[LEN], nonce[12], aad[20];
  for (size_t i = 0; i < LEN; i++) plain[i] = (uint8_t)(i * 7 + 3);
  for (size_t i = 0; i < sizeof nonce; i++) nonce[i] = (uint8_t)(0xa0 + i);
  for (size_t i = 0; i < sizeof aad; i++) aad[i] = (uint8_t)(0x40 + i);
  memcpy(ours, plain, LEN);
  ck_assert_int_eq(packet_crypto_encrypt(ours, &k.aead, &k.enc, ours, LEN, nonce, 12, aad, sizeof aad), 0);
  ck_assert_int_eq(ngtcp2_crypto_encrypt_cb(theirs, &k.aead, &k.enc, plain, LEN, nonce, 12, aad, sizeof aad), 0);
  ck_assert_mem_eq(ours, theirs, LEN + 16);
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, ours, LEN + 16, nonce, 12, aad, sizeof aad), 0);
  ck_assert_mem_eq(opened, plain, LEN);
  /* ngtcp2's decrypt agrees after ours ran on the same context */
  memset(opened, 0, LEN);
  ck_assert_int_eq(ngtcp2_crypto_decrypt_cb(opened, &k.aead, &k.dec, ours, LEN + 16, nonce, 12, aad, sizeof aad), 0);
  ck_assert_mem_eq(opened, plain, LEN);
  ours[100] ^= 1;
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, ours, LEN + 16, nonce, 12, aad, sizeof aad),
                   NGTCP2_ERR_DECRYPT);
  ours[100] ^= 1;
  ours[LEN + 15] ^= 0x80; /* the tag */
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, ours, LEN + 16, nonce, 12, aad, sizeof aad),
                   NGTCP2_ERR_DECRYPT);
  ours[LEN + 15] ^= 0x80;
  nonce[11] ^= 1;
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, ours, LEN + 16, nonce, 12, aad, sizeof aad),
                   NGTCP2_ERR_DECRYPT);
  nonce[11] ^= 1;
  /* shorter than a tag: refused, not read past */
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, ours, 15, nonce, 12, aad, sizeof aad),
                   NGTCP2_ERR_DECRYPT);
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, ours, 0, nonce, 12, aad, sizeof aad),
                   NGTCP2_ERR_DECRYPT);
  /* the good one still opens: nothing was left behind in the context */
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, ours, LEN + 16, nonce, 12, aad, sizeof aad), 0);
  keyset_free(&k);
}

START_TEST(test_aes128_gcm_matches_ngtcp2) { round_trip(wolfSSL_EVP_aes_128_gcm(), INITIAL_KEY); }
END_TEST

START_TEST(test_aes256_gcm_matches_ngtcp2) {
  round_trip(wolfSSL_EVP_aes_256_gcm(), "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
}
END_TEST

START_TEST(test_chacha20_poly1305_rfc9001) {
  /* RFC 9001 A.5: the short-header packet sealed with ChaCha20-Poly1305 (packet number 654360564,
   * header 4200bff4, payload 01 = PING): ciphertext and tag after header protection is undone. */
  keyset k;
  keyset_init(&k, wolfSSL_EVP_chacha20_poly1305(), wolfSSL_EVP_chacha20(),
              "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8",
              "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4");
  uint8_t iv[12], nonce[12], aad[4], plain[1] = {0x01}, sealed[17], want[17], theirs[17], opened[1];
  unhex(iv, "e0459b3474bdd0e44a41c144");
  unhex(aad, "4200bff4");
  unhex(want, "655e5cd55c41f69080575d7999c25a5bfb"); /* RFC 9001 A.5: protected payload */
  memcpy(nonce, iv, 12);
  uint64_t pn = 654360564;
  for (int i = 0; i < 8; i++) nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));
  ck_assert_int_eq(packet_crypto_encrypt(sealed, &k.aead, &k.enc, plain, 1, nonce, 12, aad, 4), 0);
  ck_assert_mem_eq(sealed, want, 17);
  ck_assert_int_eq(ngtcp2_crypto_encrypt_cb(theirs, &k.aead, &k.enc, plain, 1, nonce, 12, aad, 4), 0);
  ck_assert_mem_eq(sealed, theirs, 17);
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, sealed, 17, nonce, 12, aad, 4), 0);
  ck_assert_int_eq(opened[0], 0x01);
  keyset_free(&k);
}
END_TEST

START_TEST(test_chacha20_poly1305_refuses_forgeries) {
  /* wolfSSL 5.7.2's EVP path (ngtcp2's own callback) accepts these; ours must not. */
  keyset k;
  keyset_init(&k, wolfSSL_EVP_chacha20_poly1305(), wolfSSL_EVP_chacha20(),
              "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8",
              "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4");
  uint8_t buf[64 + 16], plain[64], opened[64], nonce[12] = {1, 2, 3}, aad[8] = {9};
  for (size_t i = 0; i < sizeof plain; i++) plain[i] = (uint8_t)i;
  memcpy(buf, plain, sizeof plain);
  ck_assert_int_eq(packet_crypto_encrypt(buf, &k.aead, &k.enc, buf, sizeof plain, nonce, 12, aad, sizeof aad), 0);
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, buf, sizeof buf, nonce, 12, aad, sizeof aad), 0);
  ck_assert_mem_eq(opened, plain, sizeof plain);
  buf[3] ^= 4;
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, buf, sizeof buf, nonce, 12, aad, sizeof aad),
                   NGTCP2_ERR_DECRYPT);
  buf[3] ^= 4;
  buf[sizeof buf - 1] ^= 1;
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, buf, sizeof buf, nonce, 12, aad, sizeof aad),
                   NGTCP2_ERR_DECRYPT);
  buf[sizeof buf - 1] ^= 1;
  aad[0] ^= 1;
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, buf, sizeof buf, nonce, 12, aad, sizeof aad),
                   NGTCP2_ERR_DECRYPT);
  aad[0] ^= 1;
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, buf, 10, nonce, 12, aad, sizeof aad),
                   NGTCP2_ERR_DECRYPT);
  ck_assert_int_eq(packet_crypto_decrypt(opened, &k.aead, &k.dec, buf, sizeof buf, nonce, 12, aad, sizeof aad), 0);
  keyset_free(&k);
}
END_TEST

int main(void) {
  wolfSSL_Init();
  Suite *s = suite_create("packet_crypto");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_hp_mask_aes_rfc9001);
  tcase_add_test(tc, test_hp_mask_aes_any_offset_no_alloc);
  tcase_add_test(tc, test_hp_mask_chacha_rfc9001);
  tcase_add_test(tc, test_retry_tag_rfc9001);
  tcase_add_test(tc, test_aes128_gcm_matches_ngtcp2);
  tcase_add_test(tc, test_aes256_gcm_matches_ngtcp2);
  tcase_add_test(tc, test_chacha20_poly1305_rfc9001);
  tcase_add_test(tc, test_chacha20_poly1305_refuses_forgeries);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  wolfSSL_Cleanup();
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
