/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The transport's cryptography, all through OpenSSL's libcrypto: nonces,
 * the handshake proof, per-link session keys and frame tags. */
#ifndef TRANSPORT_CRYPTO_H
#define TRANSPORT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_LEN 32u
#define CRYPTO_TAG_LEN 32u
#define CRYPTO_HASH_LEN 32u

/* Cryptographically strong random bytes; false if the RNG failed. */
bool transport__tcrypto_random(void *out, size_t len);

/* SHA-256 of a || b (the handshake transcript: dialer's then acceptor's
 * hello). */
bool transport__tcrypto_transcript(const uint8_t *a, size_t a_len,
				   const uint8_t *b, size_t b_len,
				   uint8_t out[CRYPTO_HASH_LEN]);

/* HMAC-SHA256(key, data). */
bool transport__tcrypto_hmac(const uint8_t *key, size_t key_len,
			     const uint8_t *data, size_t len,
			     uint8_t out[CRYPTO_TAG_LEN]);

/* Per-link keys, one per direction:
 *   HKDF-SHA256(ikm = secret, salt = dialer nonce | acceptor nonce,
 *               info = "mqttha-session-v1" | transcript)
 * gives 64 bytes; the first 32 key dialer-to-acceptor frames, the rest
 * acceptor-to-dialer frames. */
bool transport__tcrypto_session_keys(const uint8_t *secret, size_t secret_len,
				     const uint8_t *dialer_nonce,
				     const uint8_t *acceptor_nonce,
				     size_t nonce_len,
				     const uint8_t transcript[CRYPTO_HASH_LEN],
				     uint8_t d2a[CRYPTO_KEY_LEN],
				     uint8_t a2d[CRYPTO_KEY_LEN]);

/* The tag of one frame: HMAC-SHA256(key, header | payload). The header
 * carries the sequence number, so a replayed or reordered frame fails. */
bool transport__tcrypto_frame_tag(const uint8_t key[CRYPTO_KEY_LEN],
				  const uint8_t *header, size_t header_len,
				  const uint8_t *payload, size_t len,
				  uint8_t out[CRYPTO_TAG_LEN]);

/* The same tag with a key set up once per link direction, which saves the
 * per-frame algorithm lookup. */
struct tcrypto_mac;
struct tcrypto_mac *
transport__tcrypto_mac_new(const uint8_t key[CRYPTO_KEY_LEN]);
bool transport__tcrypto_mac_frame(struct tcrypto_mac *m, const uint8_t *header,
				  size_t header_len, const uint8_t *payload,
				  size_t len, uint8_t out[CRYPTO_TAG_LEN]);
void transport__tcrypto_mac_free(struct tcrypto_mac *m);

/* Constant-time equality (CRYPTO_memcmp). */
bool transport__tcrypto_equal(const void *a, const void *b, size_t len);

/* Wipes key material. */
void transport__tcrypto_wipe(void *p, size_t len);

#endif
