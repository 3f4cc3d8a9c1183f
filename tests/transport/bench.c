/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Loopback throughput of one link, per security mode and, in secret mode,
 * per protocol version: frames/s and MB/s from node 1 to node 2 on one
 * loop, the best of ROUNDS runs of each mode taken in turn. Then the frame
 * protection alone, per frame, on one core: protocol 1 (copy, HMAC-SHA256),
 * protocol 2 (AES-256-GCM encrypting while it copies) and, for comparison,
 * GMAC only (copy, AES-GCM over the payload as additional data). Numbers
 * only, never a pass/fail.
 *   transport_bench CERT_DIR [FRAMES] [PAYLOAD_BYTES] [ROUNDS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tests/transport/harness.h"
#include "transport/crypto.h"
#include "transport/frame.h"

static const char *cert_dir;

static void with_cert(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", cert_dir, name);
}

struct bench_mode {
	const char *name;
	bool secret;
	bool tls;
	uint16_t proto_max;
};

static const struct bench_mode modes[] = {
    {"plaintext", false, false, TRANSPORT_PROTO_MAX},
    {"secret v1", true, false, 1},
    {"secret v2", true, false, 2},
    {"tls", false, true, TRANSPORT_PROTO_MAX},
    {"tls+secret", true, true, TRANSPORT_PROTO_MAX},
};
#define MODES (sizeof(modes) / sizeof(modes[0]))

static double bench_link(const struct bench_mode *mode, unsigned frames,
			 size_t size)
{
	static struct node a, b;
	struct transport_options oa = node_opts(&a, 1);
	struct transport_options ob = node_opts(&b, 2);
	char ca[600], c1[600], k1[600], c2[600], k2[600];
	struct node *nodes[2] = {&a, &b};
	uint8_t *payload = calloc(1, size);
	unsigned sent = 0;
	uint64_t start, end;

	oa.log = ob.log = NULL;
	oa.queue_max_frames = ob.queue_max_frames = 65536;
	oa.queue_max_bytes = ob.queue_max_bytes = 64u * 1024u * 1024u;
	oa.proto_max = ob.proto_max = mode->proto_max;
	if (mode->tls) {
		with_cert(ca, sizeof(ca), "ca.crt");
		with_cert(c1, sizeof(c1), "node1.crt");
		with_cert(k1, sizeof(k1), "node1.key");
		with_cert(c2, sizeof(c2), "node2.crt");
		with_cert(k2, sizeof(k2), "node2.key");
		oa.tls_ca_file = ob.tls_ca_file = ca;
		oa.tls_cert_file = c1;
		oa.tls_key_file = k1;
		ob.tls_cert_file = c2;
		ob.tls_key_file = k2;
	}
	if (!mode->secret) {
		oa.secret = ob.secret = NULL;
		oa.secret_len = ob.secret_len = 0;
		oa.insecure_plaintext = ob.insecure_plaintext = true;
	}
	if (payload == NULL || node_start(&a, &oa) != 0 ||
	    node_start(&b, &ob) != 0) {
		fprintf(stderr, "%s: cannot start\n", mode->name);
		exit(1);
	}
	mesh(nodes, 2);
	if (!wait_linked(&a, &b, 5000)) {
		fprintf(stderr, "%s: no link\n", mode->name);
		exit(1);
	}
	start = uv_hrtime();
	while (b.recv_count < frames) {
		while (sent < frames &&
		       transport_send(a.t, 2, 16, payload, size) == 0)
			sent++;
		uv_run(&test_loop, UV_RUN_ONCE);
	}
	end = uv_hrtime();
	node_free(&a);
	node_free(&b);
	free(payload);
	return (double)frames / ((double)(end - start) / 1e9);
}

/* ---- the frame protection alone ---- */

enum protection { PROT_HMAC, PROT_GCM, PROT_GMAC };
static const char *const protection_names[] = {"v1 copy + HMAC-SHA256",
					       "v2 AES-GCM encrypt into copy",
					       "GMAC only + copy (not used)"};

/* GMAC of header | payload with the payload as additional data: the
 * protocol 2 variant that would authenticate without encrypting. */
static void gmac_frame(EVP_CIPHER_CTX *ctx, int enc, const uint8_t *nonce,
		       const uint8_t *hdr, const uint8_t *payload, size_t len,
		       uint8_t *tag)
{
	int n = 0;

	if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, hdr, FRAME_HEADER_LEN) != 1 ||
	    (len > 0 &&
	     EVP_CipherUpdate(ctx, NULL, &n, payload, (int)len) != 1)) {
		fprintf(stderr, "GMAC failed\n");
		exit(1);
	}
	if (!enc &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
		exit(1);
	if (EVP_CipherFinal_ex(ctx, tag, &n) != 1 ||
	    (enc &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)) {
		fprintf(stderr, "GMAC final failed\n");
		exit(1);
	}
}

/* Frames/s of sealing and opening frames of size bytes, as a link does:
 * the sender copies the payload from its queue into the output buffer,
 * the receiver checks (and decrypts) it in the decoder's buffer. */
static double bench_protection(enum protection prot, size_t size,
			       unsigned frames)
{
	static const uint8_t key[CRYPTO_KEY_LEN] =
	    "bench-session-key-32-bytes-long";
	static const uint8_t fixed[CRYPTO_GCM_FIXED_LEN] = {'D', 0, 0, 0};
	uint8_t *src = calloc(1, size + 1);
	uint8_t *frame = malloc(FRAME_HEADER_LEN + size + FRAME_TAG_MAX);
	struct tcrypto_mac *mac_s = transport__tcrypto_mac_new(key);
	struct tcrypto_mac *mac_r = transport__tcrypto_mac_new(key);
	struct tcrypto_aead *seal =
	    transport__tcrypto_aead_new(key, fixed, true);
	struct tcrypto_aead *open =
	    transport__tcrypto_aead_new(key, fixed, false);
	EVP_CIPHER_CTX *gs = EVP_CIPHER_CTX_new();
	EVP_CIPHER_CTX *gr = EVP_CIPHER_CTX_new();
	uint8_t nonce[12] = {'D'};
	uint8_t tag[FRAME_TAG_MAX];
	uint64_t start, end;

	if (src == NULL || frame == NULL || mac_s == NULL || mac_r == NULL ||
	    seal == NULL || open == NULL || gs == NULL || gr == NULL ||
	    EVP_EncryptInit_ex(gs, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(gr, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
		fprintf(stderr, "cannot set up the protection benchmark\n");
		exit(1);
	}
	start = uv_hrtime();
	for (uint64_t seq = 0; seq < frames; seq++) {
		struct frame_header h = {FRAME_VERSION, 16, 0, (uint32_t)size,
					 seq};
		uint8_t *hdr = frame;
		uint8_t *body = frame + FRAME_HEADER_LEN;
		bool ok = true;

		transport__frame_header_encode(hdr, &h);
		memcpy(nonce + 4, &seq, 8);
		switch (prot) {
		case PROT_HMAC:
			memcpy(body, src, size);
			ok = transport__tcrypto_mac_frame(mac_s, hdr,
							  FRAME_HEADER_LEN,
							  body, size, tag) &&
			     transport__tcrypto_mac_frame(
				 mac_r, hdr, FRAME_HEADER_LEN, body, size, tag);
			break;
		case PROT_GCM:
			ok = transport__tcrypto_aead_seal(seal, seq, hdr,
							  FRAME_HEADER_LEN, src,
							  body, size, tag) &&
			     transport__tcrypto_aead_open(
				 open, seq, hdr, FRAME_HEADER_LEN, body, size,
				 tag) == TCRYPTO_OPEN_OK;
			break;
		case PROT_GMAC:
			memcpy(body, src, size);
			gmac_frame(gs, 1, nonce, hdr, body, size, tag);
			gmac_frame(gr, 0, nonce, hdr, body, size, tag);
			break;
		}
		if (!ok) {
			fprintf(stderr, "%s failed\n", protection_names[prot]);
			exit(1);
		}
	}
	end = uv_hrtime();
	transport__tcrypto_mac_free(mac_s);
	transport__tcrypto_mac_free(mac_r);
	transport__tcrypto_aead_free(seal);
	transport__tcrypto_aead_free(open);
	EVP_CIPHER_CTX_free(gs);
	EVP_CIPHER_CTX_free(gr);
	free(src);
	free(frame);
	return (double)frames / ((double)(end - start) / 1e9);
}

int main(int argc, char **argv)
{
	double best[MODES] = {0};
	double prot_best[3] = {0};
	unsigned frames, rounds, prot_frames;
	size_t size;

	if (argc < 2) {
		fprintf(stderr,
			"usage: %s CERT_DIR [FRAMES] [BYTES] [ROUNDS]\n",
			argv[0]);
		return 2;
	}
	cert_dir = argv[1];
	frames = argc > 2 ? (unsigned)atoi(argv[2]) : 100000;
	size = argc > 3 ? (size_t)atol(argv[3]) : 1024;
	rounds = argc > 4 ? (unsigned)atoi(argv[4]) : 1;
	if (frames == 0 || rounds == 0 || size > TRANSPORT_MAX_PAYLOAD) {
		fprintf(stderr, "FRAMES and ROUNDS above 0, BYTES at most %u\n",
			TRANSPORT_MAX_PAYLOAD);
		return 2;
	}
	uv_loop_init(&test_loop);
	printf("transport loopback, %u frames of %zu bytes, one link, best of "
	       "%u\n",
	       frames, size, rounds);
	for (unsigned r = 0; r < rounds; r++)
		for (size_t i = 0; i < MODES; i++) {
			double fps = bench_link(&modes[i], frames, size);

			if (fps > best[i])
				best[i] = fps;
		}
	for (size_t i = 0; i < MODES; i++)
		printf("%-11s %10.0f frames/s %8.1f MB/s  %.2f x plaintext\n",
		       modes[i].name, best[i], best[i] * (double)size / 1e6,
		       best[i] / best[0]);
	printf("secret v2 (AES-256-GCM) / secret v1 (HMAC-SHA256): %.2f x\n",
	       best[2] / best[1]);

	/* About 256 MB through each protection per round. */
	prot_frames = (unsigned)(256u * 1024u * 1024u / (size + 64));
	if (prot_frames < 16)
		prot_frames = 16;
	printf("frame protection alone, seal and open, %u frames of %zu "
	       "bytes, best of %u\n",
	       prot_frames, size, rounds);
	for (unsigned r = 0; r < rounds; r++)
		for (int p = 0; p < 3; p++) {
			double fps = bench_protection((enum protection)p, size,
						      prot_frames);

			if (fps > prot_best[p])
				prot_best[p] = fps;
		}
	for (int p = 0; p < 3; p++)
		printf("%-29s %10.0f frames/s %8.1f MB/s  %.2f x v1\n",
		       protection_names[p], prot_best[p],
		       prot_best[p] * (double)size / 1e6,
		       prot_best[p] / prot_best[0]);
	uv_loop_close(&test_loop);
	return 0;
}
