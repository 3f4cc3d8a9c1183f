/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Fuzzes the handshake parser: the input is a frame stream as a peer sends
 * it during the handshake. Each HELLO payload is decoded; any hello that
 * decodes must encode back to exactly the same bytes (one meaning per
 * message), and the proof input built from it must fit its buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/frame.h"
#include "transport/handshake.h"
#include "transport/transport.h"

static void check_hello(const uint8_t *payload, size_t len)
{
	struct hs_hello h;
	uint8_t again[HS_HELLO_MAX_LEN];
	uint8_t input[HS_AUTH_INPUT_MAX];
	uint8_t transcript[HS_TRANSCRIPT_LEN] = {0};
	int n;

	if (transport__hs_hello_decode(payload, len, &h) != HS_OK)
		return;
	n = transport__hs_hello_encode(&h, again, sizeof(again));
	if (n < 0 || (size_t)n != len || memcmp(again, payload, len) != 0)
		abort();
	if (transport__hs_auth_input(input, 'D', 1, &h, &h, transcript) >
	    sizeof(input))
		abort();
	/* Whatever a peer announces, the agreed version is one we speak. */
	n = transport__hs_common_version(
	    h.proto_min, h.proto_max, TRANSPORT_PROTO_MIN, TRANSPORT_PROTO_MAX);
	if (n != 0 &&
	    (n < (int)TRANSPORT_PROTO_MIN || n > (int)TRANSPORT_PROTO_MAX ||
	     n < h.proto_min || n > h.proto_max))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_decoder d;
	struct frame_view f;
	size_t used;
	int rv;

	/* The raw bytes as a hello payload, then as a handshake stream. */
	check_hello(data, size);
	transport__frame_decoder_init(&d, FRAME_MAX_HANDSHAKE_PAYLOAD, 0);
	while (size > 0) {
		rv = transport__frame_decoder_feed(&d, data, size, &used, &f);
		data += used;
		size -= used;
		if (rv < 0)
			break;
		if (rv == 1 && f.header.type == FRAME_HELLO)
			check_hello(f.payload, f.header.length);
	}
	transport__frame_decoder_free(&d);
	return 0;
}
