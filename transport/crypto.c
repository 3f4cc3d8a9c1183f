/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* libcrypto wrappers: every call's result is checked and reported as
 * false, never ignored. */
#include "transport/crypto.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "raft/byteorder.h"

#define SESSION_INFO "mqttha-session-v1"

bool transport__tcrypto_random(void *out, size_t len)
{
	return len <= 0x7fffffff && RAND_bytes(out, (int)len) == 1;
}

bool transport__tcrypto_transcript(const uint8_t *a, size_t a_len,
				   const uint8_t *b, size_t b_len,
				   uint8_t out[CRYPTO_HASH_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	bool ok;

	if (ctx == NULL)
		return false;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, a, a_len) == 1 &&
	     EVP_DigestUpdate(ctx, b, b_len) == 1 &&
	     EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == CRYPTO_HASH_LEN;
	EVP_MD_CTX_free(ctx);
	return ok;
}

bool transport__tcrypto_hmac(const uint8_t *key, size_t key_len,
			     const uint8_t *data, size_t len,
			     uint8_t out[CRYPTO_TAG_LEN])
{
	unsigned int n = 0;

	if (key_len > 0x7fffffff)
		return false;
	if (HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) == NULL)
		return false;
	return n == CRYPTO_TAG_LEN;
}

bool transport__tcrypto_session_keys(const uint8_t *secret, size_t secret_len,
				     const uint8_t *dialer_nonce,
				     const uint8_t *acceptor_nonce,
				     size_t nonce_len,
				     const uint8_t transcript[CRYPTO_HASH_LEN],
				     uint8_t d2a[CRYPTO_KEY_LEN],
				     uint8_t a2d[CRYPTO_KEY_LEN])
{
	uint8_t salt[2 * 64];
	uint8_t info[sizeof(SESSION_INFO) - 1 + CRYPTO_HASH_LEN];
	uint8_t okm[2 * CRYPTO_KEY_LEN];
	OSSL_PARAM params[5];
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx = NULL;
	bool ok = false;

	if (nonce_len > 64)
		return false;
	memcpy(salt, dialer_nonce, nonce_len);
	memcpy(salt + nonce_len, acceptor_nonce, nonce_len);
	memcpy(info, SESSION_INFO, sizeof(SESSION_INFO) - 1);
	memcpy(info + sizeof(SESSION_INFO) - 1, transcript, CRYPTO_HASH_LEN);

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf == NULL)
		return false;
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (ctx == NULL)
		return false;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_KEY, (void *)secret, secret_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt,
						      2 * nonce_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						      sizeof(info));
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, okm, sizeof(okm), params) == 1) {
		memcpy(d2a, okm, CRYPTO_KEY_LEN);
		memcpy(a2d, okm + CRYPTO_KEY_LEN, CRYPTO_KEY_LEN);
		ok = true;
	}
	OPENSSL_cleanse(okm, sizeof(okm));
	EVP_KDF_CTX_free(ctx);
	return ok;
}

bool transport__tcrypto_frame_tag(const uint8_t key[CRYPTO_KEY_LEN],
				  const uint8_t *header, size_t header_len,
				  const uint8_t *payload, size_t len,
				  uint8_t out[CRYPTO_TAG_LEN])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t n = 0;
	bool ok = false;

	if (mac == NULL)
		return false;
	ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	if (ctx == NULL)
		return false;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(ctx, key, CRYPTO_KEY_LEN, params) == 1 &&
	    EVP_MAC_update(ctx, header, header_len) == 1 &&
	    (len == 0 || EVP_MAC_update(ctx, payload, len) == 1) &&
	    EVP_MAC_final(ctx, out, &n, CRYPTO_TAG_LEN) == 1 &&
	    n == CRYPTO_TAG_LEN)
		ok = true;
	EVP_MAC_CTX_free(ctx);
	return ok;
}

struct tcrypto_mac {
	EVP_MAC_CTX *ctx;
};

struct tcrypto_mac *
transport__tcrypto_mac_new(const uint8_t key[CRYPTO_KEY_LEN])
{
	struct tcrypto_mac *m = calloc(1, sizeof(*m));
	EVP_MAC *mac;
	OSSL_PARAM params[2];

	if (m == NULL)
		return NULL;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac != NULL) {
		m->ctx = EVP_MAC_CTX_new(mac);
		EVP_MAC_free(mac);
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (m->ctx == NULL ||
	    EVP_MAC_init(m->ctx, key, CRYPTO_KEY_LEN, params) != 1) {
		transport__tcrypto_mac_free(m);
		return NULL;
	}
	return m;
}

bool transport__tcrypto_mac_frame(struct tcrypto_mac *m, const uint8_t *header,
				  size_t header_len, const uint8_t *payload,
				  size_t len, uint8_t out[CRYPTO_TAG_LEN])
{
	size_t n = 0;

	/* A NULL key re-initialises with the key already set. */
	return EVP_MAC_init(m->ctx, NULL, 0, NULL) == 1 &&
	       EVP_MAC_update(m->ctx, header, header_len) == 1 &&
	       (len == 0 || EVP_MAC_update(m->ctx, payload, len) == 1) &&
	       EVP_MAC_final(m->ctx, out, &n, CRYPTO_TAG_LEN) == 1 &&
	       n == CRYPTO_TAG_LEN;
}

void transport__tcrypto_mac_free(struct tcrypto_mac *m)
{
	if (m == NULL)
		return;
	EVP_MAC_CTX_free(m->ctx);
	free(m);
}

struct tcrypto_aead {
	EVP_CIPHER_CTX *ctx;
	uint8_t nonce[CRYPTO_GCM_NONCE_LEN]; /* fixed part, then seq */
	bool encrypt;
};

struct tcrypto_aead *
transport__tcrypto_aead_new(const uint8_t key[CRYPTO_KEY_LEN],
			    const uint8_t fixed[CRYPTO_GCM_FIXED_LEN],
			    bool encrypt)
{
	struct tcrypto_aead *a = calloc(1, sizeof(*a));
	bool ok;

	if (a == NULL)
		return NULL;
	a->encrypt = encrypt;
	memcpy(a->nonce, fixed, CRYPTO_GCM_FIXED_LEN);
	a->ctx = EVP_CIPHER_CTX_new();
	if (a->ctx == NULL) {
		free(a);
		return NULL;
	}
	/* The key schedule is computed here once; each frame then sets only
	 * its nonce. 12 bytes is GCM's default nonce length. */
	ok = EVP_CipherInit_ex(a->ctx, EVP_aes_256_gcm(), NULL, key, NULL,
			       encrypt ? 1 : 0) == 1 &&
	     EVP_CIPHER_CTX_get_iv_length(a->ctx) == CRYPTO_GCM_NONCE_LEN;
	if (!ok) {
		transport__tcrypto_aead_free(a);
		return NULL;
	}
	return a;
}

/* Starts one frame: its nonce, then the header as additional data. */
static bool aead_start(struct tcrypto_aead *a, uint64_t seq,
		       const uint8_t *header, size_t header_len)
{
	int n = 0;

	if (header_len > INT_MAX)
		return false;
	le64_store(a->nonce + CRYPTO_GCM_FIXED_LEN, seq);
	return EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, a->nonce,
				 a->encrypt ? 1 : 0) == 1 &&
	       EVP_CipherUpdate(a->ctx, NULL, &n, header, (int)header_len) ==
		   1 &&
	       n == (int)header_len;
}

bool transport__tcrypto_aead_seal(struct tcrypto_aead *a, uint64_t seq,
				  const uint8_t *header, size_t header_len,
				  const uint8_t *in, uint8_t *out, size_t len,
				  uint8_t tag[CRYPTO_GCM_TAG_LEN])
{
	int n = 0;
	int fin = 0;

	if (!a->encrypt || len > INT_MAX ||
	    !aead_start(a, seq, header, header_len))
		return false;
	if (len > 0 && (EVP_EncryptUpdate(a->ctx, out, &n, in, (int)len) != 1 ||
			n != (int)len))
		return false;
	/* GCM is a stream mode: Final writes nothing, but it is given room
	 * all the same. */
	return EVP_EncryptFinal_ex(a->ctx, out + n, &fin) == 1 && fin == 0 &&
	       EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_GET_TAG,
				   CRYPTO_GCM_TAG_LEN, tag) == 1;
}

enum tcrypto_open_result
transport__tcrypto_aead_open(struct tcrypto_aead *a, uint64_t seq,
			     const uint8_t *header, size_t header_len,
			     uint8_t *buf, size_t len,
			     const uint8_t tag[CRYPTO_GCM_TAG_LEN])
{
	int n = 0;
	int fin = 0;

	if (a->encrypt || len > INT_MAX ||
	    !aead_start(a, seq, header, header_len))
		return TCRYPTO_OPEN_FAILED;
	if (len > 0 &&
	    (EVP_DecryptUpdate(a->ctx, buf, &n, buf, (int)len) != 1 ||
	     n != (int)len))
		return TCRYPTO_OPEN_FAILED;
	if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_SET_TAG,
				CRYPTO_GCM_TAG_LEN, (void *)tag) != 1)
		return TCRYPTO_OPEN_FAILED;
	/* Final compares the tag; with a mismatch it is the only call that
	 * fails. */
	if (EVP_DecryptFinal_ex(a->ctx, buf + n, &fin) != 1) {
		ERR_clear_error();
		return TCRYPTO_OPEN_FORGED;
	}
	return fin == 0 ? TCRYPTO_OPEN_OK : TCRYPTO_OPEN_FAILED;
}

void transport__tcrypto_aead_free(struct tcrypto_aead *a)
{
	if (a == NULL)
		return;
	/* Frees and cleanses the key schedule. */
	EVP_CIPHER_CTX_free(a->ctx);
	free(a);
}

void transport__tcrypto_last_error(char *out, size_t len)
{
	unsigned long e = ERR_get_error();

	if (len == 0)
		return;
	if (e == 0)
		snprintf(out, len, "no libcrypto error recorded");
	else
		ERR_error_string_n(e, out, len);
	ERR_clear_error();
}

bool transport__tcrypto_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void transport__tcrypto_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}
