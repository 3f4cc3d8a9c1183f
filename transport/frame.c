/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Frame codec: header encoding and an incremental stream decoder that
 * survives any split of the byte stream and any hostile input. */
#include "transport/frame.h"

#include <stdlib.h>
#include <string.h>

#include "raft/byteorder.h"

/* Larger bodies are freed after use so one big frame does not pin memory. */
#define FRAME_KEEP_CAP (64u * 1024u)

const char *transport__frame_strerror(int err)
{
	switch (err) {
	case FRAME_OK:
		return "ok";
	case FRAME_EVERSION:
		return "unknown frame version";
	case FRAME_EFLAGS:
		return "reserved frame flags set";
	case FRAME_ETOOBIG:
		return "frame too large";
	case FRAME_ETYPE:
		return "invalid frame type";
	case FRAME_ENOMEM:
		return "out of memory";
	case FRAME_ESHORT:
		return "short frame header";
	}
	return "unknown frame error";
}

void transport__frame_header_encode(uint8_t out[FRAME_HEADER_LEN],
				    const struct frame_header *h)
{
	out[0] = h->version;
	out[1] = h->type;
	le16_store(out + 2, h->flags);
	le32_store(out + 4, h->length);
	le64_store(out + 8, h->seq);
}

int transport__frame_header_decode(const uint8_t *buf, size_t len,
				   uint32_t max_payload,
				   struct frame_header *out)
{
	struct frame_header h;

	if (len < FRAME_HEADER_LEN)
		return FRAME_ESHORT;
	h.version = buf[0];
	h.type = buf[1];
	h.flags = le16_load(buf + 2);
	h.length = le32_load(buf + 4);
	h.seq = le64_load(buf + 8);
	if (h.version != FRAME_VERSION)
		return FRAME_EVERSION;
	if (h.flags != 0)
		return FRAME_EFLAGS;
	if (h.type == 0)
		return FRAME_ETYPE;
	if (h.length > max_payload || h.length > FRAME_MAX_PAYLOAD)
		return FRAME_ETOOBIG;
	*out = h;
	return FRAME_OK;
}

void transport__frame_decoder_init(struct frame_decoder *d,
				   uint32_t max_payload, size_t tag_len)
{
	memset(d, 0, sizeof(*d));
	d->max_payload = max_payload;
	d->tag_len = tag_len;
}

void transport__frame_decoder_free(struct frame_decoder *d)
{
	free(d->body);
	d->body = NULL;
	d->body_cap = 0;
}

/* Makes room for the body of the frame whose header was just read. */
static int frame_decoder_reserve(struct frame_decoder *d, size_t need)
{
	uint8_t *body;

	if (need <= d->body_cap)
		return FRAME_OK;
	body = malloc(need);
	if (body == NULL)
		return FRAME_ENOMEM;
	free(d->body);
	d->body = body;
	d->body_cap = need;
	return FRAME_OK;
}

/* Called before a new frame starts: forgets the previous one. */
static void frame_decoder_reset(struct frame_decoder *d)
{
	d->header_have = 0;
	d->body_need = 0;
	d->body_have = 0;
	if (d->body_cap > FRAME_KEEP_CAP)
		transport__frame_decoder_free(d);
}

int transport__frame_decoder_feed(struct frame_decoder *d, const uint8_t *in,
				  size_t len, size_t *used,
				  struct frame_view *out)
{
	size_t pos = 0;
	size_t n;
	int rv;

	*used = 0;
	if (d->failed)
		return d->failed;
	/* The previous call returned a frame: its memory may now be reused. */
	if (d->header_have == FRAME_HEADER_LEN && d->body_have == d->body_need)
		frame_decoder_reset(d);

	if (d->header_have < FRAME_HEADER_LEN) {
		n = FRAME_HEADER_LEN - d->header_have;
		if (n > len)
			n = len;
		memcpy(d->header + d->header_have, in, n);
		d->header_have += n;
		pos += n;
		if (d->header_have < FRAME_HEADER_LEN) {
			*used = pos;
			return 0;
		}
		rv = transport__frame_header_decode(d->header, FRAME_HEADER_LEN,
						    d->max_payload, &d->h);
		if (rv == FRAME_OK) {
			d->body_need = (size_t)d->h.length + d->tag_len;
			rv = frame_decoder_reserve(d, d->body_need);
		}
		if (rv != FRAME_OK) {
			d->failed = rv;
			*used = pos;
			return rv;
		}
		d->body_have = 0;
	}

	n = d->body_need - d->body_have;
	if (n > len - pos)
		n = len - pos;
	if (n > 0) {
		memcpy(d->body + d->body_have, in + pos, n);
		d->body_have += n;
		pos += n;
	}
	*used = pos;
	if (d->body_have < d->body_need)
		return 0;

	out->header = d->h;
	out->raw_header = d->header;
	/* A zero-length frame may have no buffer; never hand out NULL. */
	out->payload = d->body != NULL ? d->body : d->header;
	out->tag_len = d->body_need - d->h.length;
	out->tag = out->tag_len > 0 ? d->body + d->h.length : NULL;
	return 1;
}
