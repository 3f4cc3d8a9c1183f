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
#define CRYPTO_GCM_TAG_LEN 16u
/* The AES-GCM nonce: a fixed part naming the direction, then the frame's
 * sequence number. */
#define CRYPTO_GCM_FIXED_LEN 4u
#define CRYPTO_GCM_NONCE_LEN 12u

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

/*
 * Frame protection of protocol 2: AES-256-GCM with the session key of one
 * direction, set up once per link direction. Per frame:
 *   nonce = fixed (4 bytes) | seq (u64 little-endian)
 *   additional data = the frame header (type, length and seq authenticated)
 *   payload encrypted, then a 16-byte tag.
 * A (key, nonce) pair must never be used twice: the caller gives every frame
 * of a link direction its own sequence number and never wraps it.
 */
enum tcrypto_open_result {
	TCRYPTO_OPEN_OK = 0,
	TCRYPTO_OPEN_FORGED = 1, /* the tag does not match: forged, corrupted,
				    or under another key or nonce */
	TCRYPTO_OPEN_FAILED = 2, /* libcrypto failed */
};
struct tcrypto_aead;
/* encrypt: true for the sending direction, false for the receiving one. */
struct tcrypto_aead *
transport__tcrypto_aead_new(const uint8_t key[CRYPTO_KEY_LEN],
			    const uint8_t fixed[CRYPTO_GCM_FIXED_LEN],
			    bool encrypt);
/* Encrypts len bytes from `in` into `out` (which may be `in`, not partly
 * overlapping it) and writes the tag. */
bool transport__tcrypto_aead_seal(struct tcrypto_aead *a, uint64_t seq,
				  const uint8_t *header, size_t header_len,
				  const uint8_t *in, uint8_t *out, size_t len,
				  uint8_t tag[CRYPTO_GCM_TAG_LEN]);
/* Checks the tag and decrypts buf in place. Unless TCRYPTO_OPEN_OK, buf
 * holds no usable plaintext. */
enum tcrypto_open_result
transport__tcrypto_aead_open(struct tcrypto_aead *a, uint64_t seq,
			     const uint8_t *header, size_t header_len,
			     uint8_t *buf, size_t len,
			     const uint8_t tag[CRYPTO_GCM_TAG_LEN]);
void transport__tcrypto_aead_free(struct tcrypto_aead *a);

/* The reason of the last libcrypto failure on this thread, for a log line;
 * empties the thread's error queue (which TLS on the same thread reads). */
void transport__tcrypto_last_error(char *out, size_t len);

/* Constant-time equality (CRYPTO_memcmp). */
bool transport__tcrypto_equal(const void *a, const void *b, size_t len);

/* Wipes key material. */
void transport__tcrypto_wipe(void *p, size_t len);

#endif
