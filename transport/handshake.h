/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Handshake messages: pure building and parsing, no I/O, no OpenSSL (the MAC
 * itself is computed in crypto.c over the input built here).
 *
 * HELLO payload (little-endian):
 *   magic "MQHA" | proto_min u16 | proto_max u16 | node_id u32 |
 *   target_id u32 | mode u8 | flags u8 | cluster_id[16] | nonce[32] |
 *   name_len u8 | cluster name (1..64 bytes, printable ASCII)
 * AUTH payload: a 32-byte HMAC-SHA256 (see transport__hs_auth_input()).
 */
#ifndef TRANSPORT_HANDSHAKE_H
#define TRANSPORT_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_MAGIC "MQHA"
#define HS_NONCE_LEN 32u
#define HS_CLUSTER_ID_LEN 16u
#define HS_NAME_MAX 64u
#define HS_MAC_LEN 32u
#define HS_HELLO_FIXED_LEN (4u + 2u + 2u + 4u + 4u + 1u + 1u + 16u + 32u + 1u)
#define HS_HELLO_MAX_LEN (HS_HELLO_FIXED_LEN + HS_NAME_MAX)
#define HS_TRANSCRIPT_LEN 32u /* SHA-256 of both hellos */
/* Large enough for every field transport__hs_auth_input() writes. */
#define HS_AUTH_INPUT_MAX 256u

/* Security mode bits: both sides must announce the same mode. */
enum hs_mode {
	HS_MODE_PLAINTEXT = 0,
	HS_MODE_SECRET = 1,
	HS_MODE_TLS = 2,
};

enum hs_flags {
	HS_FLAG_CLUSTER_ID_KNOWN = 1,
};

enum hs_error {
	HS_OK = 0,
	HS_ELENGTH = -1, /* wrong length for the message */
	HS_EMAGIC = -2,	 /* not a hello of this protocol */
	HS_EFIELD = -3,	 /* a field out of range (ids, versions, flags) */
	HS_ENAME = -4,	 /* cluster name empty, too long or not printable */
};

struct hs_hello {
	uint16_t proto_min;
	uint16_t proto_max;
	uint32_t node_id;   /* the sender */
	uint32_t target_id; /* who the sender means to reach; 0 = any */
	uint8_t mode;	    /* enum hs_mode bits */
	uint8_t flags;	    /* enum hs_flags bits */
	uint8_t cluster_id[HS_CLUSTER_ID_LEN];
	uint8_t nonce[HS_NONCE_LEN];
	char cluster_name[HS_NAME_MAX + 1];
};

const char *transport__hs_strerror(int err);

/* Whether a cluster name can be carried in a hello. */
bool transport__hs_name_valid(const char *name);

/* Writes the hello into out (at least HS_HELLO_MAX_LEN bytes) and returns
 * its length, or a negative enum hs_error if a field cannot be encoded. */
int transport__hs_hello_encode(const struct hs_hello *h, uint8_t *out,
			       size_t cap);
int transport__hs_hello_decode(const uint8_t *buf, size_t len,
			       struct hs_hello *out);

/* The highest protocol version both ranges contain, or 0 if none. */
uint16_t transport__hs_common_version(uint16_t a_min, uint16_t a_max,
				      uint16_t b_min, uint16_t b_max);

/*
 * The bytes each side MACs with the cluster secret to prove it holds it:
 *   "mqttha-auth-v1" | role ('D' dialer or 'A' acceptor) | version u16 |
 *   dialer id u32 | acceptor id u32 | dialer nonce | acceptor nonce |
 *   name_len u8 | cluster name | transcript (SHA-256 of both hellos)
 * The role byte keeps one side's proof from being reflected back as the
 * other's; the transcript binds modes, versions and cluster ids.
 * Returns the length written (at most HS_AUTH_INPUT_MAX).
 */
size_t transport__hs_auth_input(uint8_t out[HS_AUTH_INPUT_MAX], char role,
				uint16_t version, const struct hs_hello *dialer,
				const struct hs_hello *acceptor,
				const uint8_t transcript[HS_TRANSCRIPT_LEN]);

#endif
