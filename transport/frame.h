/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The frame codec: pure code, no libuv, no OpenSSL, so the fuzzers can reach
 * it directly. A frame on the wire is
 *
 *   version u8 | type u8 | flags u16 | length u32 | seq u64 | payload | tag
 *
 * (integers little-endian). The tag is absent (0 bytes) on handshake frames
 * and on links without a session key; otherwise the link's protocol version
 * picks it: 32 bytes of HMAC-SHA256 over header and payload in protocol 1,
 * 16 bytes of AES-256-GCM tag in protocol 2, where the payload on the wire is
 * encrypted. Both sides know which from the state of the link, so it is not
 * on the wire. The version field is the frame layout's, 1 in both protocols
 * (the handshake frames, sent before a protocol is agreed, share it).
 */
#ifndef TRANSPORT_FRAME_H
#define TRANSPORT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_VERSION 1u
#define FRAME_HEADER_LEN 16u
#define FRAME_TAG_LEN_V1 32u /* HMAC-SHA256 */
#define FRAME_TAG_LEN_V2 16u /* AES-256-GCM */
#define FRAME_TAG_MAX 32u
/* The Raft core's largest entry (4 MiB) plus room for its message headers. */
#define FRAME_MAX_PAYLOAD (4u * 1024u * 1024u + 64u * 1024u)
/* Before a peer is authenticated it gets no more than this per frame. */
#define FRAME_MAX_HANDSHAKE_PAYLOAD 512u

/* Types below FRAME_TYPE_USER_MIN belong to the transport itself. */
enum frame_type {
	FRAME_HELLO = 1,
	FRAME_AUTH = 2,
	FRAME_PING = 3, /* keepalive on an idle link; empty */
	FRAME_TYPE_USER_MIN = 16,
};

enum frame_error {
	FRAME_OK = 0,
	FRAME_EVERSION = -1, /* unknown frame format version */
	FRAME_EFLAGS = -2,   /* reserved flag bits set */
	FRAME_ETOOBIG = -3,  /* length above the current limit */
	FRAME_ETYPE = -4,    /* type 0 */
	FRAME_ENOMEM = -5,
	FRAME_ESHORT = -6, /* fewer bytes than a header */
};

struct frame_header {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t length;
	uint64_t seq;
};

/* One whole frame; pointers into the decoder's buffer, valid until the next
 * call to transport__frame_decoder_feed(). The payload may be changed in
 * place (a protocol 2 link decrypts it there). */
struct frame_view {
	struct frame_header header;
	const uint8_t *raw_header; /* FRAME_HEADER_LEN bytes, as received */
	uint8_t *payload;
	const uint8_t *tag; /* tag_len bytes; NULL when tag_len is 0 */
	size_t tag_len;
};

struct frame_decoder {
	uint8_t header[FRAME_HEADER_LEN];
	size_t header_have;
	struct frame_header h;
	uint8_t *body; /* payload then tag */
	size_t body_cap;
	size_t body_need;
	size_t body_have;
	size_t tag_len; /* applies to frames whose header is not yet read */
	uint32_t max_payload; /* idem */
	int failed;	      /* a decoder that failed stays failed */
};

const char *transport__frame_strerror(int err);

void transport__frame_header_encode(uint8_t out[FRAME_HEADER_LEN],
				    const struct frame_header *h);
/* Checks version and flags and the length against max_payload. */
int transport__frame_header_decode(const uint8_t *buf, size_t len,
				   uint32_t max_payload,
				   struct frame_header *out);

void transport__frame_decoder_init(struct frame_decoder *d,
				   uint32_t max_payload, size_t tag_len);
void transport__frame_decoder_free(struct frame_decoder *d);
/* Consumes input up to the end of the next whole frame. Returns 1 with
 * *out filled when a frame is complete, 0 when all input was consumed
 * without completing one, or a negative enum frame_error. *used says how
 * many bytes of `in` were taken in every case. */
int transport__frame_decoder_feed(struct frame_decoder *d, const uint8_t *in,
				  size_t len, size_t *used,
				  struct frame_view *out);

#endif
