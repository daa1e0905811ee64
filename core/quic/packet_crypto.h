/* packet_crypto: ngtcp2's packet protection callbacks (encrypt, decrypt, header protection mask) on
 * wolfCrypt's AES-GCM and AES block functions directly, for the contexts ngtcp2's wolfSSL backend
 * creates. ngtcp2_crypto_wolfssl goes through wolfSSL's EVP layer, which re-initialises the cipher
 * context and allocates a buffer of the packet's size for every packet (and so makes glibc consolidate
 * its free lists once per packet); these use the key schedule that context already holds and touch
 * no heap. ChaCha20-Poly1305 packets go through wolfCrypt's one-shot calls, which verify the tag (the
 * EVP path of wolfSSL 5.7.2 does not); ChaCha20 header protection goes to ngtcp2's callback.
 * Private to core/quic. */
#ifndef MOQ_QUIC_PACKET_CRYPTO_H
#define MOQ_QUIC_PACKET_CRYPTO_H

#include <ngtcp2/ngtcp2.h>

/* ngtcp2_encrypt: AEAD-seals plaintext into dest (dest may equal plaintext) with the tag after it. */
int packet_crypto_encrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead, const ngtcp2_crypto_aead_ctx *aead_ctx,
                          const uint8_t *plaintext, size_t plaintextlen, const uint8_t *nonce, size_t noncelen,
                          const uint8_t *aad, size_t aadlen);
/* ngtcp2_decrypt: opens ciphertext (tag included) into dest; NGTCP2_ERR_DECRYPT if it does not verify. */
int packet_crypto_decrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead, const ngtcp2_crypto_aead_ctx *aead_ctx,
                          const uint8_t *ciphertext, size_t ciphertextlen, const uint8_t *nonce, size_t noncelen,
                          const uint8_t *aad, size_t aadlen);
/* ngtcp2_hp_mask: the 5-byte header protection mask for a 16-byte sample. */
int packet_crypto_hp_mask(uint8_t *dest, const ngtcp2_crypto_cipher *hp, const ngtcp2_crypto_cipher_ctx *hp_ctx,
                          const uint8_t *sample);

#endif
