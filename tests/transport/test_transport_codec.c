/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Unit tests of the transport's pure parts: frame codec, handshake
 * messages, address parsing and the cryptographic building blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "transport/crypto.h"
#include "transport/frame.h"
#include "transport/handshake.h"
#include "transport/internal.h"

static size_t encode_frame(uint8_t *out, uint8_t type, uint64_t seq,
			   const uint8_t *payload, uint32_t len, size_t tag_len)
{
	struct frame_header h = {FRAME_VERSION, type, 0, len, seq};

	transport__frame_header_encode(out, &h);
	if (len > 0)
		memcpy(out + FRAME_HEADER_LEN, payload, len);
	memset(out + FRAME_HEADER_LEN + len, 0xee, tag_len);
	return FRAME_HEADER_LEN + len + tag_len;
}

static void test_header_round_trip(void **state)
{
	struct frame_header h = {FRAME_VERSION, 77, 0, 123456,
				 0x0102030405060708ULL};
	struct frame_header back;
	uint8_t buf[FRAME_HEADER_LEN];

	(void)state;
	transport__frame_header_encode(buf, &h);
	/* Little-endian on the wire. */
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[1], 77);
	assert_int_equal(buf[4], 0x40);
	assert_int_equal(buf[8], 0x08);
	assert_int_equal(transport__frame_header_decode(
			     buf, sizeof(buf), FRAME_MAX_PAYLOAD, &back),
			 FRAME_OK);
	assert_int_equal(back.type, 77);
	assert_int_equal(back.length, 123456);
	assert_true(back.seq == h.seq);
	assert_int_equal(
	    transport__frame_header_decode(buf, 15, FRAME_MAX_PAYLOAD, &back),
	    FRAME_ESHORT);
}

static void test_header_rejects_bad_fields(void **state)
{
	struct frame_header h = {FRAME_VERSION, 20, 0, 10, 0};
	struct frame_header out;
	uint8_t buf[FRAME_HEADER_LEN];

	(void)state;
	transport__frame_header_encode(buf, &h);
	buf[0] = 2;
	assert_int_equal(
	    transport__frame_header_decode(buf, sizeof(buf), 100, &out),
	    FRAME_EVERSION);
	transport__frame_header_encode(buf, &h);
	buf[2] = 1;
	assert_int_equal(
	    transport__frame_header_decode(buf, sizeof(buf), 100, &out),
	    FRAME_EFLAGS);
	transport__frame_header_encode(buf, &h);
	buf[1] = 0;
	assert_int_equal(
	    transport__frame_header_decode(buf, sizeof(buf), 100, &out),
	    FRAME_ETYPE);
	h.length = 101;
	transport__frame_header_encode(buf, &h);
	assert_int_equal(
	    transport__frame_header_decode(buf, sizeof(buf), 100, &out),
	    FRAME_ETOOBIG);
	h.length = FRAME_MAX_PAYLOAD + 1;
	transport__frame_header_encode(buf, &h);
	assert_int_equal(
	    transport__frame_header_decode(buf, sizeof(buf), UINT32_MAX, &out),
	    FRAME_ETOOBIG);
	h.length = FRAME_MAX_PAYLOAD;
	transport__frame_header_encode(buf, &h);
	assert_int_equal(
	    transport__frame_header_decode(buf, sizeof(buf), UINT32_MAX, &out),
	    FRAME_OK);
}

/* Any split of a stream of frames decodes to the same frames. */
static void test_decoder_any_split(void **state)
{
	uint8_t stream[4096];
	uint8_t payload[300];
	size_t len = 0;
	const uint32_t sizes[] = {0, 1, 300, 17, 0, 255};

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	for (size_t i = 0; i < 6; i++)
		len += encode_frame(stream + len, (uint8_t)(16 + i), i, payload,
				    sizes[i], FRAME_TAG_LEN_V1);
	for (size_t chunk = 1; chunk <= len; chunk += (chunk < 40 ? 1 : 97)) {
		struct frame_decoder d;
		struct frame_view f;
		size_t pos = 0;
		unsigned got = 0;

		transport__frame_decoder_init(&d, 1000, FRAME_TAG_LEN_V1);
		while (pos < len) {
			size_t n = len - pos < chunk ? len - pos : chunk;
			size_t off = 0;

			while (off < n) {
				size_t used;
				int rv = transport__frame_decoder_feed(
				    &d, stream + pos + off, n - off, &used, &f);

				assert_true(rv >= 0);
				off += used;
				if (rv == 1) {
					assert_int_equal(f.header.type,
							 16 + got);
					assert_true(f.header.seq == got);
					assert_int_equal(f.header.length,
							 sizes[got]);
					assert_memory_equal(f.payload, payload,
							    sizes[got]);
					assert_int_equal(f.tag_len,
							 FRAME_TAG_LEN_V1);
					assert_int_equal(f.tag[0], 0xee);
					got++;
				} else {
					assert_int_equal(off, n);
				}
			}
			pos += n;
		}
		assert_int_equal(got, 6);
		transport__frame_decoder_free(&d);
	}
}

/* A decoder that failed stays failed, and never buffers an oversized body. */
static void test_decoder_failure_sticks(void **state)
{
	struct frame_decoder d;
	struct frame_view f;
	uint8_t buf[64];
	size_t used;
	struct frame_header h = {FRAME_VERSION, FRAME_HELLO, 0, 600, 0};

	(void)state;
	transport__frame_decoder_init(&d, FRAME_MAX_HANDSHAKE_PAYLOAD, 0);
	transport__frame_header_encode(buf, &h);
	assert_int_equal(
	    transport__frame_decoder_feed(&d, buf, FRAME_HEADER_LEN, &used, &f),
	    FRAME_ETOOBIG);
	assert_null(d.body);
	encode_frame(buf, 20, 0, buf, 4, 0);
	assert_int_equal(transport__frame_decoder_feed(&d, buf, 20, &used, &f),
			 FRAME_ETOOBIG);
	assert_int_equal(used, 0);
	transport__frame_decoder_free(&d);
}

/* The tag length applies from the next frame on, as after a handshake. */
static void test_decoder_tag_switch(void **state)
{
	struct frame_decoder d;
	struct frame_view f;
	uint8_t stream[200];
	size_t len, used;
	uint8_t p[3] = {1, 2, 3};

	(void)state;
	len = encode_frame(stream, FRAME_AUTH, 0, p, 3, 0);
	len += encode_frame(stream + len, 16, 1, p, 3, FRAME_TAG_LEN_V1);
	transport__frame_decoder_init(&d, 100, 0);
	assert_int_equal(
	    transport__frame_decoder_feed(&d, stream, len, &used, &f), 1);
	assert_int_equal(used, FRAME_HEADER_LEN + 3);
	assert_null(f.tag);
	d.tag_len = FRAME_TAG_LEN_V1;
	assert_int_equal(transport__frame_decoder_feed(&d, stream + used,
						       len - used, &used, &f),
			 1);
	assert_non_null(f.tag);
	assert_int_equal(f.header.type, 16);
	transport__frame_decoder_free(&d);
}

static struct hs_hello sample_hello(void)
{
	struct hs_hello h;

	memset(&h, 0, sizeof(h));
	h.proto_min = 1;
	h.proto_max = 4;
	h.node_id = 7;
	h.target_id = 9;
	h.mode = HS_MODE_SECRET | HS_MODE_TLS;
	h.flags = HS_FLAG_CLUSTER_ID_KNOWN;
	memset(h.cluster_id, 0xc1, sizeof(h.cluster_id));
	memset(h.nonce, 0x5a, sizeof(h.nonce));
	strcpy(h.cluster_name, "prod-eu");
	return h;
}

static void test_hello_round_trip(void **state)
{
	struct hs_hello h = sample_hello();
	struct hs_hello back;
	uint8_t buf[HS_HELLO_MAX_LEN];
	int n;

	(void)state;
	n = transport__hs_hello_encode(&h, buf, sizeof(buf));
	assert_int_equal(n, HS_HELLO_FIXED_LEN + 7);
	assert_memory_equal(buf, "MQHA", 4);
	assert_int_equal(transport__hs_hello_decode(buf, (size_t)n, &back),
			 HS_OK);
	assert_memory_equal(&back, &h, sizeof(h));
	/* Every shorter prefix and a longer buffer are refused. */
	for (int i = 0; i < n; i++)
		assert_int_not_equal(
		    transport__hs_hello_decode(buf, (size_t)i, &back), HS_OK);
	buf[n] = 0;
	assert_int_equal(transport__hs_hello_decode(buf, (size_t)n + 1, &back),
			 HS_ELENGTH);
}

static void test_hello_rejects_bad_fields(void **state)
{
	struct hs_hello h = sample_hello();
	struct hs_hello back;
	uint8_t buf[HS_HELLO_MAX_LEN];
	uint8_t bad[HS_HELLO_MAX_LEN];
	int n;

	(void)state;
	n = transport__hs_hello_encode(&h, buf, sizeof(buf));
	assert_true(n > 0);
	memcpy(bad, buf, (size_t)n);
	bad[0] = 'X';
	assert_int_equal(transport__hs_hello_decode(bad, (size_t)n, &back),
			 HS_EMAGIC);
	memcpy(bad, buf, (size_t)n);
	bad[8] = 0; /* node id 0 */
	assert_int_equal(transport__hs_hello_decode(bad, (size_t)n, &back),
			 HS_EFIELD);
	memcpy(bad, buf, (size_t)n);
	bad[4] = 9; /* min 9 > max 4 */
	assert_int_equal(transport__hs_hello_decode(bad, (size_t)n, &back),
			 HS_EFIELD);
	memcpy(bad, buf, (size_t)n);
	bad[16] |= 0x80; /* reserved mode bit */
	assert_int_equal(transport__hs_hello_decode(bad, (size_t)n, &back),
			 HS_EFIELD);
	memcpy(bad, buf, (size_t)n);
	bad[17] |= 0x02; /* reserved flag */
	assert_int_equal(transport__hs_hello_decode(bad, (size_t)n, &back),
			 HS_EFIELD);
	memcpy(bad, buf, (size_t)n);
	bad[HS_HELLO_FIXED_LEN + 2] = ' '; /* space in the name */
	assert_int_equal(transport__hs_hello_decode(bad, (size_t)n, &back),
			 HS_ENAME);
	memcpy(bad, buf, (size_t)n);
	bad[HS_HELLO_FIXED_LEN + 3] = 0; /* a NUL must not shorten the name */
	assert_int_equal(transport__hs_hello_decode(bad, (size_t)n, &back),
			 HS_ENAME);
	memcpy(bad, buf, (size_t)n);
	bad[HS_HELLO_FIXED_LEN - 1] = 8; /* name length says 8, has 7 */
	assert_int_equal(transport__hs_hello_decode(bad, (size_t)n, &back),
			 HS_ELENGTH);
	memcpy(bad, buf, (size_t)n);
	bad[HS_HELLO_FIXED_LEN - 1] = 0;
	assert_int_not_equal(
	    transport__hs_hello_decode(bad, HS_HELLO_FIXED_LEN, &back), HS_OK);
	strcpy(h.cluster_name, "");
	assert_int_equal(transport__hs_hello_encode(&h, buf, sizeof(buf)),
			 HS_ENAME);
	h = sample_hello();
	h.node_id = 0;
	assert_int_equal(transport__hs_hello_encode(&h, buf, sizeof(buf)),
			 HS_EFIELD);
	h = sample_hello();
	assert_int_equal(transport__hs_hello_encode(&h, buf, 20), HS_ELENGTH);
	assert_false(transport__hs_name_valid(
	    "0123456789012345678901234567890123456789012"
	    "3456789012345678901234"));
	assert_true(transport__hs_name_valid(
	    "01234567890123456789012345678901234567890123"
	    "45678901234567890123"));
}

static void test_common_version(void **state)
{
	(void)state;
	assert_int_equal(transport__hs_common_version(1, 1, 1, 1), 1);
	assert_int_equal(transport__hs_common_version(1, 3, 2, 5), 3);
	assert_int_equal(transport__hs_common_version(2, 5, 1, 3), 3);
	assert_int_equal(transport__hs_common_version(1, 1, 2, 3), 0);
	assert_int_equal(transport__hs_common_version(4, 6, 1, 3), 0);
}

/* The proof input differs by role and covers nonces, ids and name. */
static void test_auth_input(void **state)
{
	struct hs_hello d = sample_hello();
	struct hs_hello a = sample_hello();
	uint8_t tr[HS_TRANSCRIPT_LEN];
	uint8_t x[HS_AUTH_INPUT_MAX], y[HS_AUTH_INPUT_MAX];
	size_t nx, ny;

	(void)state;
	a.node_id = 9;
	memset(a.nonce, 0x33, sizeof(a.nonce));
	memset(tr, 0x44, sizeof(tr));
	nx = transport__hs_auth_input(x, 'D', 1, &d, &a, tr);
	ny = transport__hs_auth_input(y, 'A', 1, &d, &a, tr);
	assert_int_equal(nx, ny);
	assert_memory_not_equal(x, y, nx);
	ny = transport__hs_auth_input(y, 'D', 1, &d, &a, tr);
	assert_memory_equal(x, y, nx);
	a.nonce[31] ^= 1;
	ny = transport__hs_auth_input(y, 'D', 1, &d, &a, tr);
	assert_memory_not_equal(x, y, nx);
	assert_true(nx <= HS_AUTH_INPUT_MAX);
}

/* RFC 4231 test case 2. */
static void test_hmac_vector(void **state)
{
	const uint8_t want[32] = {
	    0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
	    0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
	    0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
	uint8_t out[32];

	(void)state;
	assert_true(transport__tcrypto_hmac(
	    (const uint8_t *)"Jefe", 4,
	    (const uint8_t *)"what do ya want for nothing?", 28, out));
	assert_memory_equal(out, want, 32);
	assert_true(transport__tcrypto_equal(out, want, 32));
	out[31] ^= 1;
	assert_false(transport__tcrypto_equal(out, want, 32));
}

static void test_session_keys_and_tags(void **state)
{
	const uint8_t secret[32] = "the-cluster-secret-of-32-bytes!";
	uint8_t n1[32], n2[32], tr[32];
	uint8_t d2a[32], a2d[32], d2a2[32], a2d2[32];
	uint8_t hdr[FRAME_HEADER_LEN], t1[32], t2[32];
	struct frame_header h = {FRAME_VERSION, 16, 0, 3, 5};

	(void)state;
	memset(n1, 1, sizeof(n1));
	memset(n2, 2, sizeof(n2));
	memset(tr, 3, sizeof(tr));
	assert_true(transport__tcrypto_session_keys(secret, 32, n1, n2, 32, tr,
						    d2a, a2d));
	assert_memory_not_equal(d2a, a2d, 32);
	assert_true(transport__tcrypto_session_keys(secret, 32, n1, n2, 32, tr,
						    d2a2, a2d2));
	assert_memory_equal(d2a, d2a2, 32);
	/* Fresh nonces give fresh keys: old frames cannot be replayed into a
	 * new link. */
	n2[0] ^= 1;
	assert_true(transport__tcrypto_session_keys(secret, 32, n1, n2, 32, tr,
						    d2a2, a2d2));
	assert_memory_not_equal(d2a, d2a2, 32);

	transport__frame_header_encode(hdr, &h);
	assert_true(transport__tcrypto_frame_tag(
	    d2a, hdr, sizeof(hdr), (const uint8_t *)"abc", 3, t1));
	h.seq = 6;
	transport__frame_header_encode(hdr, &h);
	assert_true(transport__tcrypto_frame_tag(
	    d2a, hdr, sizeof(hdr), (const uint8_t *)"abc", 3, t2));
	assert_memory_not_equal(t1, t2, 32);
	/* The per-link context gives the same tags, frame after frame. */
	{
		struct tcrypto_mac *m = transport__tcrypto_mac_new(d2a);
		uint8_t t3[32];

		assert_non_null(m);
		for (int i = 0; i < 3; i++) {
			assert_true(transport__tcrypto_mac_frame(
			    m, hdr, sizeof(hdr), (const uint8_t *)"abc", 3,
			    t3));
			assert_memory_equal(t3, t2, 32);
		}
		transport__tcrypto_mac_free(m);
	}
	assert_true(
	    transport__tcrypto_frame_tag(d2a, hdr, sizeof(hdr), NULL, 0, t2));
	assert_true(transport__tcrypto_random(n1, sizeof(n1)));
}

static const uint8_t aead_key[CRYPTO_KEY_LEN] =
    "a-32-byte-session-key-for-tests";
static const uint8_t aead_fixed[CRYPTO_GCM_FIXED_LEN] = {'D', 0, 0, 0};

/* AES-256-GCM with one fresh context for one message: an independent
 * computation to hold the per-link context against. */
static void gcm_one_shot(const uint8_t key[32], const uint8_t nonce[12],
			 const uint8_t *aad, size_t aad_len, const uint8_t *in,
			 size_t len, uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;

	assert_non_null(ctx);
	assert_int_equal(
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce), 1);
	if (aad_len > 0)
		assert_int_equal(
		    EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len), 1);
	if (len > 0) {
		assert_int_equal(EVP_EncryptUpdate(ctx, out, &n, in, (int)len),
				 1);
		assert_int_equal(n, (int)len);
	}
	assert_int_equal(EVP_EncryptFinal_ex(ctx, out + len, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(ctx);
}

/* Test cases 13 and 14 of the GCM specification (McGrew and Viega): a zero
 * key and nonce, no additional data, an empty and a 16-byte zero message. */
static void test_aead_gcm_vectors(void **state)
{
	const uint8_t zero_key[32] = {0};
	const uint8_t zero_fixed[4] = {0};
	const uint8_t tag13[16] = {0x53, 0x0f, 0x8a, 0xfb, 0xc7, 0x45,
				   0x36, 0xb9, 0xa9, 0x63, 0xb4, 0xf1,
				   0xc4, 0xcb, 0x73, 0x8b};
	const uint8_t ct14[16] = {0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60,
				  0x6b, 0x6e, 0x07, 0x4e, 0xc5, 0xd3,
				  0xba, 0xf3, 0x9d, 0x18};
	const uint8_t tag14[16] = {0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99,
				   0x6b, 0xf0, 0x26, 0x5b, 0x98, 0xb5,
				   0xd4, 0x8a, 0xb9, 0x19};
	uint8_t buf[16] = {0};
	uint8_t tag[16];
	struct tcrypto_aead *seal =
	    transport__tcrypto_aead_new(zero_key, zero_fixed, true);
	struct tcrypto_aead *open =
	    transport__tcrypto_aead_new(zero_key, zero_fixed, false);

	(void)state;
	assert_non_null(seal);
	assert_non_null(open);
	/* Sequence number 0 makes the nonce all zero. */
	assert_true(
	    transport__tcrypto_aead_seal(seal, 0, NULL, 0, NULL, buf, 0, tag));
	assert_memory_equal(tag, tag13, 16);
	assert_true(
	    transport__tcrypto_aead_seal(seal, 0, NULL, 0, buf, buf, 16, tag));
	assert_memory_equal(buf, ct14, 16);
	assert_memory_equal(tag, tag14, 16);
	assert_int_equal(
	    transport__tcrypto_aead_open(open, 0, NULL, 0, buf, 16, tag),
	    TCRYPTO_OPEN_OK);
	assert_memory_equal(buf, (uint8_t[16]){0}, 16);
	transport__tcrypto_aead_free(seal);
	transport__tcrypto_aead_free(open);
}

/* One frame under the per-link context equals a one-shot computation with
 * the nonce fixed | seq (little-endian) and the header as additional data. */
static void test_aead_known_answer(void **state)
{
	struct frame_header h = {FRAME_VERSION, 42, 0, 37,
				 0x1122334455667788ULL};
	uint8_t hdr[FRAME_HEADER_LEN];
	uint8_t nonce[CRYPTO_GCM_NONCE_LEN] = {
	    'D', 0, 0, 0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
	const uint8_t plain[37] = "replicated message, to be encrypted";
	uint8_t want[37], want_tag[16], got[37], got_tag[16];
	struct tcrypto_aead *a =
	    transport__tcrypto_aead_new(aead_key, aead_fixed, true);

	(void)state;
	assert_non_null(a);
	transport__frame_header_encode(hdr, &h);
	gcm_one_shot(aead_key, nonce, hdr, sizeof(hdr), plain, sizeof(plain),
		     want, want_tag);
	/* The context is reused: the same frame twice gives the same bytes. */
	for (int i = 0; i < 2; i++) {
		assert_true(transport__tcrypto_aead_seal(
		    a, h.seq, hdr, sizeof(hdr), plain, got, sizeof(plain),
		    got_tag));
		assert_memory_equal(got, want, sizeof(want));
		assert_memory_equal(got_tag, want_tag, sizeof(want_tag));
	}
	assert_memory_not_equal(got, plain, sizeof(plain));
	transport__tcrypto_aead_free(a);
}

/* Opens a copy of a sealed frame; the copy is decrypted in place. */
static enum tcrypto_open_result open_copy(struct tcrypto_aead *a, uint64_t seq,
					  const uint8_t *hdr, const uint8_t *ct,
					  size_t len, const uint8_t *tag,
					  uint8_t *scratch)
{
	if (len > 0)
		memcpy(scratch, ct, len);
	return transport__tcrypto_aead_open(a, seq, hdr, FRAME_HEADER_LEN,
					    scratch, len, tag);
}

/* Frames of every size round trip; any flipped bit of the header, the
 * ciphertext or the tag, another sequence number (a replayed or reordered
 * frame) or the other direction's nonce is refused. */
static void test_aead_round_trip_and_tamper(void **state)
{
	const size_t sizes[] = {0, 1, 4096, FRAME_MAX_PAYLOAD};
	const uint8_t other_fixed[CRYPTO_GCM_FIXED_LEN] = {'A', 0, 0, 0};
	struct tcrypto_aead *seal =
	    transport__tcrypto_aead_new(aead_key, aead_fixed, true);
	struct tcrypto_aead *open =
	    transport__tcrypto_aead_new(aead_key, aead_fixed, false);
	struct tcrypto_aead *other =
	    transport__tcrypto_aead_new(aead_key, other_fixed, false);
	uint8_t *plain = malloc(FRAME_MAX_PAYLOAD);
	uint8_t *ct = malloc(FRAME_MAX_PAYLOAD);
	uint8_t *scratch = malloc(FRAME_MAX_PAYLOAD);

	(void)state;
	assert_non_null(seal);
	assert_non_null(open);
	assert_non_null(other);
	assert_non_null(plain);
	assert_non_null(ct);
	assert_non_null(scratch);
	for (size_t i = 0; i < FRAME_MAX_PAYLOAD; i++)
		plain[i] = (uint8_t)(i * 7 + 3);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k];
		uint64_t seq = 10 + k;
		struct frame_header h = {FRAME_VERSION, 42, 0, (uint32_t)len,
					 seq};
		uint8_t hdr[FRAME_HEADER_LEN], bad_hdr[FRAME_HEADER_LEN];
		uint8_t tag[CRYPTO_GCM_TAG_LEN], bad_tag[CRYPTO_GCM_TAG_LEN];

		transport__frame_header_encode(hdr, &h);
		assert_true(transport__tcrypto_aead_seal(
		    seal, seq, hdr, sizeof(hdr), plain, ct, len, tag));
		/* Encrypted: no 16-byte block of the payload shows through. */
		for (size_t off = 0; off + 16 <= len; off += 16)
			assert_memory_not_equal(ct + off, plain + off, 16);
		assert_int_equal(
		    open_copy(open, seq, hdr, ct, len, tag, scratch),
		    TCRYPTO_OPEN_OK);
		if (len > 0)
			assert_memory_equal(scratch, plain, len);

		for (size_t bit = 0; bit < 8 * FRAME_HEADER_LEN; bit += 5) {
			memcpy(bad_hdr, hdr, sizeof(hdr));
			bad_hdr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(open_copy(open, seq, bad_hdr, ct, len,
						   tag, scratch),
					 TCRYPTO_OPEN_FORGED);
		}
		if (len > 0) {
			size_t where[3] = {0, len / 2, len - 1};

			for (int w = 0; w < 3; w++) {
				ct[where[w]] ^= 0x10;
				assert_int_equal(open_copy(open, seq, hdr, ct,
							   len, tag, scratch),
						 TCRYPTO_OPEN_FORGED);
				ct[where[w]] ^= 0x10;
			}
		}
		for (size_t bit = 0; bit < 8 * CRYPTO_GCM_TAG_LEN; bit += 3) {
			memcpy(bad_tag, tag, sizeof(tag));
			bad_tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(open_copy(open, seq, hdr, ct, len,
						   bad_tag, scratch),
					 TCRYPTO_OPEN_FORGED);
		}
		/* The header sequence number is covered by the tag, and the
		 * nonce follows the receiver's count: a frame opened at
		 * another position fails even with its own header. */
		assert_int_equal(
		    open_copy(open, seq + 1, hdr, ct, len, tag, scratch),
		    TCRYPTO_OPEN_FORGED);
		assert_int_equal(
		    open_copy(open, seq - 1, hdr, ct, len, tag, scratch),
		    TCRYPTO_OPEN_FORGED);
		assert_int_equal(
		    open_copy(other, seq, hdr, ct, len, tag, scratch),
		    TCRYPTO_OPEN_FORGED);
		/* A refused frame leaves the context usable. */
		assert_int_equal(
		    open_copy(open, seq, hdr, ct, len, tag, scratch),
		    TCRYPTO_OPEN_OK);
	}
	/* A context seals or opens, never both. */
	{
		uint8_t hdr[FRAME_HEADER_LEN] = {0};
		uint8_t tag[CRYPTO_GCM_TAG_LEN] = {0};

		assert_false(transport__tcrypto_aead_seal(
		    open, 1, hdr, sizeof(hdr), plain, ct, 1, tag));
		assert_int_equal(transport__tcrypto_aead_open(
				     seal, 1, hdr, sizeof(hdr), ct, 1, tag),
				 TCRYPTO_OPEN_FAILED);
	}
	free(plain);
	free(ct);
	free(scratch);
	transport__tcrypto_aead_free(seal);
	transport__tcrypto_aead_free(open);
	transport__tcrypto_aead_free(other);
}

/* The one address parser (transport/address.c), under each caller's flags. */
static void expect_address(const char *text, unsigned flags, const char *host,
			   unsigned port, enum transport_host_kind kind)
{
	struct transport_address a;
	char why[128] = "";

	if (transport_address_parse(text, flags, &a, why, sizeof(why)) != 0)
		fail_msg("'%s' refused: %s", text, why);
	assert_string_equal(a.host, host);
	assert_int_equal(a.port, port);
	assert_int_equal(a.kind, kind);
}

static void expect_refused(const char *text, unsigned flags, const char *why)
{
	struct transport_address a;
	char got[128] = "";

	if (transport_address_parse(text, flags, &a, got, sizeof(got)) == 0)
		fail_msg("'%s' accepted", text);
	assert_string_equal(got, why);
}

static void test_address_parse(void **state)
{
	const unsigned names = TRANSPORT_ADDRESS_NAMES;
	const unsigned bind =
	    TRANSPORT_ADDRESS_NAMES | TRANSPORT_ADDRESS_ANY_PORT;
	char longest[TRANSPORT_ADDRESS_MAX];
	char over[TRANSPORT_ADDRESS_MAX + 1];
	char label[80];

	(void)state;
	expect_address("127.0.0.1:7000", 0, "127.0.0.1", 7000,
		       TRANSPORT_HOST_IPV4);
	expect_address("[::1]:1", 0, "::1", 1, TRANSPORT_HOST_IPV6);
	expect_address("[fe80::1:2]:65535", 0, "fe80::1:2", 65535,
		       TRANSPORT_HOST_IPV6);
	expect_address("node-a.example:65535", names, "node-a.example", 65535,
		       TRANSPORT_HOST_NAME);
	expect_address("1node.example:08", names, "1node.example", 8,
		       TRANSPORT_HOST_NAME);
	expect_address("h:0", bind, "h", 0, TRANSPORT_HOST_NAME);
	expect_address("0.0.0.0:0", TRANSPORT_ADDRESS_ANY_PORT, "0.0.0.0", 0,
		       TRANSPORT_HOST_IPV4);

	expect_refused(NULL, names, "the address is empty");
	expect_refused("", names, "the address is empty");
	expect_refused("host", names, "no ':port'");
	expect_refused("host:", names, "no port after ':'");
	expect_refused(":7000", names, "the host is empty");
	expect_refused("[]:7000", names, "the host is empty");
	expect_refused("host:0", names, "the port must be 1 to 65535, not 0");
	expect_refused("host:65536", names, "the port 65536 is above 65535");
	expect_refused("host:000007000", names,
		       "the port 000007000 is above 65535");
	expect_refused("host:7x", names, "the port '7x' is not a number");
	expect_refused("host:-1", names, "the port '-1' is not a number");
	expect_refused("host:+1", names, "the port '+1' is not a number");
	expect_refused("host: 1", names, "the port ' 1' is not a number");
	expect_refused("::1:7000", names,
		       "an IPv6 address needs brackets: [address]:port");
	expect_refused("[::1]7000", names, "no ':port' after ']'");
	expect_refused("[::1:7000", names, "'[' without ']'");
	expect_refused("::1]:7000", names, "']' without '['");
	expect_refused("[127.0.0.1]:7000", names,
		       "brackets hold an IPv6 address only");
	expect_refused("[host]:7000", names,
		       "brackets hold an IPv6 address only");
	expect_refused("ho st:1", names,
		       "'ho st' is neither an IP address nor a host name");
	expect_refused("host_1:1", names,
		       "'host_1' is neither an IP address nor a host name");
	expect_refused("-a.example:1", names,
		       "'-a.example' is neither an IP address nor a host name");
	expect_refused("a..example:1", names,
		       "'a..example' is neither an IP address nor a host name");
	/* A name whose last label is all digits would read as a bad IPv4. */
	expect_refused("1.2.3:1", names,
		       "'1.2.3' is neither an IP address nor a host name");
	expect_refused("256.1.1.1:1", names,
		       "'256.1.1.1' is neither an IP address nor a host name");
	expect_refused("localhost:1", 0, "'localhost' is not an IP address");

	/* A label of 64 characters, then the longest text and one more. */
	char expected[128];
	memset(label, 'a', 64);
	strcpy(label + 64, ":1");
	snprintf(expected, sizeof(expected),
		 "'%.64s' is neither an IP address nor a host name", label);
	expect_refused(label, names, expected);
	memset(longest, 'a', sizeof(longest));
	for (size_t i = 60; i < sizeof(longest) - 8; i += 61)
		longest[i] = '.';
	strcpy(longest + sizeof(longest) - 7, ":65535");
	assert_int_equal(strlen(longest), TRANSPORT_ADDRESS_MAX - 1);
	longest[sizeof(longest) - 7] = '\0';
	const char *host = longest;
	longest[sizeof(longest) - 7] = ':';
	struct transport_address a;
	assert_int_equal(transport_address_parse(longest, names, &a, NULL, 0),
			 0);
	assert_int_equal(strlen(a.host), TRANSPORT_ADDRESS_MAX - 7);
	assert_memory_equal(a.host, host, TRANSPORT_ADDRESS_MAX - 7);
	memset(over, 'a', sizeof(over) - 1);
	over[sizeof(over) - 1] = '\0';
	over[sizeof(over) - 3] = ':';
	expect_refused(over, names,
		       "the address is longer than 255 characters");
	/* A host given alone (the control API) has the same limits. */
	enum transport_host_kind kind;
	assert_int_equal(transport_host_parse("fe80::1", 7, 0, &kind, NULL, 0),
			 0);
	assert_int_equal(kind, TRANSPORT_HOST_IPV6);
	assert_int_equal(transport_host_parse(over, 254, names, &kind, NULL, 0),
			 -1);
	assert_int_equal(transport_host_parse("a\0b", 3, names, &kind, NULL, 0),
			 -1);
}

/* The transport's own split into strings for getaddrinfo. */
static void test_address_split(void **state)
{
	char host[TRANSPORT_ADDRESS_MAX];
	char port[8];

	(void)state;
	assert_int_equal(transport__addr_split("[::1]:7000", host, sizeof(host),
					       port, sizeof(port), false),
			 0);
	assert_string_equal(host, "::1");
	assert_string_equal(port, "7000");
	assert_int_equal(transport__addr_split("h:0", host, sizeof(host), port,
					       sizeof(port), true),
			 0);
	assert_int_not_equal(transport__addr_split("h:0", host, sizeof(host),
						   port, sizeof(port), false),
			     0);
	assert_int_not_equal(transport__addr_split("abcdef:1", host, 4, port,
						   sizeof(port), false),
			     0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_round_trip),
	    cmocka_unit_test(test_header_rejects_bad_fields),
	    cmocka_unit_test(test_decoder_any_split),
	    cmocka_unit_test(test_decoder_failure_sticks),
	    cmocka_unit_test(test_decoder_tag_switch),
	    cmocka_unit_test(test_hello_round_trip),
	    cmocka_unit_test(test_hello_rejects_bad_fields),
	    cmocka_unit_test(test_common_version),
	    cmocka_unit_test(test_auth_input),
	    cmocka_unit_test(test_hmac_vector),
	    cmocka_unit_test(test_session_keys_and_tags),
	    cmocka_unit_test(test_aead_gcm_vectors),
	    cmocka_unit_test(test_aead_known_answer),
	    cmocka_unit_test(test_aead_round_trip_and_tamper),
	    cmocka_unit_test(test_address_parse),
	    cmocka_unit_test(test_address_split),
	};

	return cmocka_run_group_tests_name("transport codec", tests, NULL,
					   NULL);
}
