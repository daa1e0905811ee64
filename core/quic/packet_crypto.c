#include "quic/packet_crypto.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include <ngtcp2/ngtcp2_crypto.h>

#include <string.h>

enum { TAG_LEN = 16 }; /* every QUIC AEAD (RFC 9001 5.3) */

/* The AES state inside one of the cipher contexts ngtcp2_crypto_wolfssl made, when it is AES-GCM
 * (gcm) or AES-CTR (header protection); NULL for anything else. */
static Aes *aes_of(void *native, int gcm) {
  WOLFSSL_EVP_CIPHER_CTX *ctx = native;
  if (!ctx) return NULL;
  if (gcm) return ctx->cipherType == AES_128_GCM_TYPE || ctx->cipherType == AES_256_GCM_TYPE ? &ctx->cipher.aes : NULL;
  return ctx->cipherType == AES_128_CTR_TYPE || ctx->cipherType == AES_256_CTR_TYPE ? &ctx->cipher.aes : NULL;
}

/* The key of a ChaCha20-Poly1305 context (wolfSSL keeps a copy for re-initialisation), or NULL. */
static const uint8_t *chacha_key_of(void *native) {
  WOLFSSL_EVP_CIPHER_CTX *ctx = native;
  return ctx && ctx->cipherType == CHACHA20_POLY1305_TYPE && ctx->keyLen == CHACHA20_POLY1305_AEAD_KEYSIZE
             ? ctx->key
             : NULL;
}

int packet_crypto_encrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead, const ngtcp2_crypto_aead_ctx *aead_ctx,
                          const uint8_t *plaintext, size_t plaintextlen, const uint8_t *nonce, size_t noncelen,
                          const uint8_t *aad, size_t aadlen) {
  Aes *aes = aes_of(aead_ctx->native_handle, 1);
  if (!aes) {
    const uint8_t *key = chacha_key_of(aead_ctx->native_handle);
    if (!key || noncelen != CHACHA20_POLY1305_AEAD_IV_SIZE)
      return ngtcp2_crypto_encrypt_cb(dest, aead, aead_ctx, plaintext, plaintextlen, nonce, noncelen, aad, aadlen);
    if (wc_ChaCha20Poly1305_Encrypt(key, nonce, aad, (word32)aadlen, plaintext, (word32)plaintextlen, dest,
                                    dest + plaintextlen) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }
  if (wc_AesGcmEncrypt(aes, dest, plaintext, (word32)plaintextlen, nonce, (word32)noncelen, dest + plaintextlen,
                       TAG_LEN, aad, (word32)aadlen) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int packet_crypto_decrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead, const ngtcp2_crypto_aead_ctx *aead_ctx,
                          const uint8_t *ciphertext, size_t ciphertextlen, const uint8_t *nonce, size_t noncelen,
                          const uint8_t *aad, size_t aadlen) {
  if (ciphertextlen < TAG_LEN) return NGTCP2_ERR_DECRYPT;
  size_t len = ciphertextlen - TAG_LEN;
  Aes *aes = aes_of(aead_ctx->native_handle, 1);
  if (!aes) {
    /* wolfSSL 5.7.2's EVP ChaCha20-Poly1305 decryption, which ngtcp2's backend uses, computes the tag
     * but never compares it: a forged packet would be accepted. The one-shot call verifies it. */
    const uint8_t *key = chacha_key_of(aead_ctx->native_handle);
    if (!key || noncelen != CHACHA20_POLY1305_AEAD_IV_SIZE)
      return ngtcp2_crypto_decrypt_cb(dest, aead, aead_ctx, ciphertext, ciphertextlen, nonce, noncelen, aad, aadlen);
    if (wc_ChaCha20Poly1305_Decrypt(key, nonce, aad, (word32)aadlen, ciphertext, (word32)len, ciphertext + len,
                                    dest) != 0)
      return NGTCP2_ERR_DECRYPT;
    return 0;
  }
  if (wc_AesGcmDecrypt(aes, dest, ciphertext, (word32)len, nonce, (word32)noncelen, ciphertext + len, TAG_LEN, aad,
                       (word32)aadlen) != 0)
    return NGTCP2_ERR_DECRYPT;
  return 0;
}

int packet_crypto_hp_mask(uint8_t *dest, const ngtcp2_crypto_cipher *hp, const ngtcp2_crypto_cipher_ctx *hp_ctx,
                          const uint8_t *sample) {
  Aes *aes = aes_of(hp_ctx->native_handle, 0);
  if (!aes) return ngtcp2_crypto_hp_mask_cb(dest, hp, hp_ctx, sample);
  /* AES header protection is AES-ECB of the sample (RFC 9001 5.4.3): the first block of AES-CTR
   * with the sample as counter block, which is what the context was made for.
   * wolfSSL's AES-NI path mallocs an aligned copy of any input not on a 16-byte boundary, and the
   * sample sits at an arbitrary offset in the packet: hand it an aligned block (in place). */
  _Alignas(16) uint8_t block[AES_BLOCK_SIZE];
  memcpy(block, sample, AES_BLOCK_SIZE);
  if (wc_AesEncryptDirect(aes, block, block) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  memcpy(dest, block, 5);
  return 0;
}
