/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Fuzzes the transport's stream frame decoder. The first input byte picks
 * the decoder's limits (payload limit, tag length of protocol 1 or 2, or
 * none) and how the rest is split into reads, so splits and limits are
 * explored together with the bytes. Every decoded frame must
 * respect the limits it was decoded under. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_decoder d;
	struct frame_view f;
	uint8_t ctl;
	size_t chunk;
	size_t pos;
	uint32_t max_payload;
	size_t tag_len;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	chunk = (size_t)(ctl & 0x1f) + 1;
	max_payload =
	    (ctl & 0x20) ? FRAME_MAX_HANDSHAKE_PAYLOAD : FRAME_MAX_PAYLOAD;
	/* A tagged link's tag length follows its protocol version; bit 0x10
	 * also varies the chunk size, which is independent of it. */
	tag_len = (ctl & 0x40)
		      ? ((ctl & 0x10) ? FRAME_TAG_LEN_V2 : FRAME_TAG_LEN_V1)
		      : 0;
	if (ctl & 0x80)
		chunk = size > 0 ? size : 1; /* one read */

	transport__frame_decoder_init(&d, max_payload, tag_len);
	pos = 0;
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		size_t off = 0;

		while (off < n) {
			size_t used = 0;
			int rv = transport__frame_decoder_feed(
			    &d, data + pos + off, n - off, &used, &f);

			if (used > n - off)
				abort();
			off += used;
			if (rv < 0)
				goto out;
			if (rv == 1) {
				if (f.header.version != FRAME_VERSION ||
				    f.header.flags != 0 ||
				    f.header.length > max_payload ||
				    f.tag_len != tag_len ||
				    (tag_len > 0 && f.tag == NULL))
					abort();
				/* Touch every byte so ASan checks bounds. */
				volatile uint8_t sink = 0;
				for (uint32_t i = 0; i < f.header.length; i++)
					sink ^= f.payload[i];
				for (size_t i = 0; i < f.tag_len; i++)
					sink ^= f.tag[i];
				(void)sink;
			} else if (off != n) {
				abort(); /* "need more" must consume all */
			}
		}
		pos += n;
	}
out:
	transport__frame_decoder_free(&d);
	return 0;
}
