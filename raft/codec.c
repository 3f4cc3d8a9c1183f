/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The wire encoding of Raft messages and log entries (raft/codec.h). The
 * encoding is canonical: every input that decodes re-encodes to the very
 * same bytes, which is what the fuzz target checks. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "raft/byteorder.h"
#include "raft/codec.h"

/* Type-specific parts after the common header, when they have a fixed size:
 * APPEND_RESP reject, index, hint_term, prev_index, round; PREVOTE and VOTE
 * index, hint_term, transfer; their responses reject; SNAPSHOT_RESP
 * snap_index, index, offset, done, reject, round. */
#define APPEND_RESP_BYTES 33u
#define VOTE_BYTES 17u
#define VOTE_RESP_BYTES 1u
#define SNAPSHOT_RESP_BYTES 34u

_Static_assert(RAFT_CODEC_HEADER_BYTES == 1 + 1 + 1 + 4 + 4 + 8,
	       "header layout");
_Static_assert(RAFT_CODEC_ENTRY_HEADER_BYTES == 8 + 8 + 1 + 1 + 4,
	       "entry header layout");
_Static_assert(RAFT_CODEC_APPEND_FIXED_BYTES == 4 * 8 + 4, "append layout");
_Static_assert(RAFT_CODEC_SNAPSHOT_FIXED_BYTES == 6 * 8 + 1 + 2 + 4,
	       "snapshot layout");
_Static_assert(RAFT_CODEC_CONFIG_MAX_BYTES <= UINT16_MAX,
	       "a configuration's length fits its u16 prefix");
_Static_assert(RAFT_CODEC_HEADER_BYTES + RAFT_CODEC_SNAPSHOT_FIXED_BYTES +
		       RAFT_CODEC_CONFIG_MAX_BYTES + RAFT_CODEC_MAX_PAYLOAD <=
		   RAFT_CODEC_MAX_MESSAGE_BYTES,
	       "the largest SNAPSHOT fits the stated maximum");
_Static_assert(RAFT_CODEC_MAX_MESSAGE_BYTES < INT32_MAX,
	       "sizes fit every frame length field");
_Static_assert(RAFT_VERSION_MIN >= 1 && RAFT_VERSION_MAX <= UINT8_MAX &&
		   RAFT_CODEC_FORMAT >= RAFT_VERSION_MIN &&
		   RAFT_CODEC_FORMAT <= RAFT_VERSION_MAX,
	       "the format written is one this build reads");

const char *raft_codec_strerror(int rv)
{
	switch (rv) {
	case RAFT_CODEC_OK:
		return "ok";
	case RAFT_CODEC_ETRUNCATED:
		return "message truncated";
	case RAFT_CODEC_ETRAILING:
		return "trailing bytes after the message";
	case RAFT_CODEC_EFORMAT:
		return "unknown message format version";
	case RAFT_CODEC_ETYPE:
		return "unknown message type";
	case RAFT_CODEC_ETOOBIG:
		return "count or length over the protocol's limits";
	case RAFT_CODEC_EFIELD:
		return "field value out of range";
	case RAFT_CODEC_ECONFIG:
		return "invalid configuration in snapshot";
	case RAFT_CODEC_ENOMEM:
		return "out of memory";
	case RAFT_CODEC_EINVAL:
		return "message cannot be encoded";
	case RAFT_CODEC_ENOSPACE:
		return "output buffer too small";
	default:
		return "unknown codec error";
	}
}

static bool node_id_valid(raft_id id)
{
	return id != 0 && id <= RAFT_MAX_NODE_ID;
}

/* Fields sent as one byte that only ever hold 0 or 1: anything else is
 * rejected so that the encoding stays canonical. */
static bool flag_valid(uint8_t v)
{
	return v <= 1;
}

/* ---- entries ---- */

static bool entry_encodable(const struct raft_entry *e)
{
	return e->len <= RAFT_MAX_ENTRY_BYTES &&
	       (e->len == 0 || e->data != NULL) && e->version != 0;
}

size_t raft_codec_entry_size(const struct raft_entry *e)
{
	return RAFT_CODEC_ENTRY_HEADER_BYTES + (size_t)e->len;
}

static void put_entry(struct byte_writer *w, const struct raft_entry *e)
{
	put_u64(w, e->term);
	put_u64(w, e->index);
	put_u8(w, e->type);
	put_u8(w, e->version);
	put_u32(w, e->len);
	put_bytes(w, e->data, e->len);
}

int raft_codec_entry_encode(const struct raft_entry *e, uint8_t *buf,
			    size_t len)
{
	if (!entry_encodable(e))
		return RAFT_CODEC_EINVAL;
	if (len < raft_codec_entry_size(e))
		return RAFT_CODEC_ENOSPACE;
	struct byte_writer w;
	byte_writer_init(&w, buf, len);
	put_entry(&w, e);
	assert(w.ok);
	return RAFT_CODEC_OK;
}

/* Reads one entry; `budget` is what is left of the payload allowance of the
 * enclosing message. The length is checked against the input and the limits
 * before the copy is allocated. */
static int get_entry(struct byte_reader *r, struct raft_entry *e,
		     uint64_t *budget)
{
	memset(e, 0, sizeof(*e));
	e->term = get_u64(r);
	e->index = get_u64(r);
	e->type = get_u8(r);
	e->version = get_u8(r);
	e->len = get_u32(r);
	if (!r->ok)
		return RAFT_CODEC_ETRUNCATED;
	/* Unknown types and newer versions are kept as opaque bytes. */
	if (e->version == 0)
		return RAFT_CODEC_EFIELD;
	if (e->len > RAFT_MAX_ENTRY_BYTES || e->len > *budget)
		return RAFT_CODEC_ETOOBIG;
	const uint8_t *src = get_bytes(r, e->len);
	if (src == NULL)
		return RAFT_CODEC_ETRUNCATED;
	*budget -= e->len;
	if (e->len == 0)
		return RAFT_CODEC_OK;
	e->data = malloc(e->len);
	if (e->data == NULL)
		return RAFT_CODEC_ENOMEM;
	memcpy(e->data, src, e->len);
	return RAFT_CODEC_OK;
}

int raft_codec_entry_decode(const uint8_t *buf, size_t len,
			    struct raft_entry *e, size_t *used)
{
	struct byte_reader r;
	struct raft_entry tmp;
	uint64_t budget = RAFT_MAX_ENTRY_BYTES;
	byte_reader_init(&r, buf, len);
	int rv = get_entry(&r, &tmp, &budget);
	if (rv == RAFT_CODEC_OK && used == NULL && r.pos != len)
		rv = RAFT_CODEC_ETRAILING;
	if (rv != RAFT_CODEC_OK) {
		free(tmp.data);
		memset(e, 0, sizeof(*e));
		return rv;
	}
	if (used != NULL)
		*used = r.pos;
	*e = tmp;
	return RAFT_CODEC_OK;
}

void raft_codec_entry_free(struct raft_entry *e)
{
	free(e->data);
	memset(e, 0, sizeof(*e));
}

/* ---- messages ---- */

/* Sets *size to the encoded size of m's type-specific part; false when m
 * cannot be encoded. Every check of what is encodable lives here. */
static bool body_size(const struct raft_message *m, size_t *size)
{
	switch (m->type) {
	case RAFT_MSG_APPEND: {
		if (m->n_entries > RAFT_CODEC_MAX_ENTRIES ||
		    (m->n_entries > 0 && m->entries == NULL))
			return false;
		uint64_t payload = 0;
		*size = RAFT_CODEC_APPEND_FIXED_BYTES;
		for (uint32_t i = 0; i < m->n_entries; i++) {
			const struct raft_entry *e = &m->entries[i];
			/* Entries follow prev_index without a gap; the receiver
			 * relies on it, so the sender checks it too. */
			if (!entry_encodable(e) ||
			    e->index != m->prev_index + 1 + i || e->index == 0)
				return false;
			payload += e->len;
			*size += raft_codec_entry_size(e);
		}
		return payload <= RAFT_CODEC_MAX_PAYLOAD;
	}
	case RAFT_MSG_APPEND_RESP:
		*size = APPEND_RESP_BYTES;
		return flag_valid(m->reject);
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		*size = VOTE_BYTES;
		return flag_valid(m->transfer);
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		*size = VOTE_RESP_BYTES;
		return flag_valid(m->reject);
	case RAFT_MSG_SNAPSHOT:
		if (m->config == NULL || m->config->n > RAFT_MAX_SERVERS ||
		    !flag_valid(m->done) || m->len > RAFT_CODEC_MAX_PAYLOAD ||
		    (m->len > 0 && m->data == NULL))
			return false;
		*size = RAFT_CODEC_SNAPSHOT_FIXED_BYTES +
			raft_config_encoded_size(m->config) + m->len;
		return true;
	case RAFT_MSG_SNAPSHOT_RESP:
		*size = SNAPSHOT_RESP_BYTES;
		return flag_valid(m->done) && flag_valid(m->reject);
	case RAFT_MSG_TIMEOUT_NOW:
		*size = 0;
		return true;
	default:
		return false;
	}
}

size_t raft_codec_message_size(const struct raft_message *m)
{
	size_t body;
	if (!node_id_valid(m->from) || !node_id_valid(m->to) ||
	    !body_size(m, &body))
		return 0;
	return RAFT_CODEC_HEADER_BYTES + body;
}

int raft_codec_encode_message(const struct raft_message *m, uint8_t *buf,
			      size_t len)
{
	size_t size = raft_codec_message_size(m);
	if (size == 0)
		return RAFT_CODEC_EINVAL;
	if (len < size)
		return RAFT_CODEC_ENOSPACE;

	struct byte_writer w;
	byte_writer_init(&w, buf, size);
	put_u8(&w, RAFT_CODEC_FORMAT);
	put_u8(&w, m->type);
	put_u8(&w, m->version);
	put_u32(&w, m->from);
	put_u32(&w, m->to);
	put_u64(&w, m->term);

	switch (m->type) {
	case RAFT_MSG_APPEND:
		put_u64(&w, m->prev_index);
		put_u64(&w, m->prev_term);
		put_u64(&w, m->commit);
		put_u64(&w, m->round);
		put_u32(&w, m->n_entries);
		for (uint32_t i = 0; i < m->n_entries; i++)
			put_entry(&w, &m->entries[i]);
		break;
	case RAFT_MSG_APPEND_RESP:
		put_u8(&w, m->reject);
		put_u64(&w, m->index);
		put_u64(&w, m->hint_term);
		put_u64(&w, m->prev_index);
		put_u64(&w, m->round);
		break;
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		put_u64(&w, m->index);
		put_u64(&w, m->hint_term);
		put_u8(&w, m->transfer);
		break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		put_u8(&w, m->reject);
		break;
	case RAFT_MSG_SNAPSHOT: {
		size_t clen = raft_config_encoded_size(m->config);
		put_u64(&w, m->snap_index);
		put_u64(&w, m->snap_term);
		put_u64(&w, m->snap_size);
		put_u64(&w, m->offset);
		put_u64(&w, m->commit);
		put_u64(&w, m->round);
		put_u8(&w, m->done);
		put_u16(&w, (uint16_t)clen);
		if (w.ok && w.len - w.pos >= clen) {
			raft_config_encode(m->config, w.p + w.pos);
			w.pos += clen;
		}
		put_u32(&w, m->len);
		put_bytes(&w, m->data, m->len);
		break;
	}
	case RAFT_MSG_SNAPSHOT_RESP:
		put_u64(&w, m->snap_index);
		put_u64(&w, m->index);
		put_u64(&w, m->offset);
		put_u8(&w, m->done);
		put_u8(&w, m->reject);
		put_u64(&w, m->round);
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		break;
	}
	/* The size computed above is exactly what was written. */
	assert(w.ok && w.pos == size);
	return RAFT_CODEC_OK;
}

void raft_codec_message_free(struct raft_message *m)
{
	if (m->entries != NULL)
		for (uint32_t i = 0; i < m->n_entries; i++)
			free(m->entries[i].data);
	free(m->entries);
	free(m->config);
	free((void *)m->data);
	memset(m, 0, sizeof(*m));
}

static int get_flag(struct byte_reader *r, uint8_t *out)
{
	*out = get_u8(r);
	if (!r->ok)
		return RAFT_CODEC_ETRUNCATED;
	return flag_valid(*out) ? RAFT_CODEC_OK : RAFT_CODEC_EFIELD;
}

static int decode_append(struct byte_reader *r, struct raft_message *m)
{
	m->prev_index = get_u64(r);
	m->prev_term = get_u64(r);
	m->commit = get_u64(r);
	m->round = get_u64(r);
	uint32_t n = get_u32(r);
	if (!r->ok)
		return RAFT_CODEC_ETRUNCATED;
	if (n > RAFT_CODEC_MAX_ENTRIES)
		return RAFT_CODEC_ETOOBIG;
	/* Each entry takes at least its header: a count the input cannot hold
	 * is refused before anything is allocated for it. */
	if ((uint64_t)n * RAFT_CODEC_ENTRY_HEADER_BYTES > r->len - r->pos)
		return RAFT_CODEC_ETRUNCATED;
	if (n == 0)
		return RAFT_CODEC_OK;
	m->entries = calloc(n, sizeof(*m->entries));
	if (m->entries == NULL)
		return RAFT_CODEC_ENOMEM;
	uint64_t budget = RAFT_CODEC_MAX_PAYLOAD;
	for (uint32_t i = 0; i < n; i++) {
		/* Counted as it goes, so that freeing stops at the last one. */
		m->n_entries = i + 1;
		int rv = get_entry(r, &m->entries[i], &budget);
		if (rv != RAFT_CODEC_OK)
			return rv;
		if (m->entries[i].index != m->prev_index + 1 + i ||
		    m->entries[i].index == 0)
			return RAFT_CODEC_EFIELD;
	}
	return RAFT_CODEC_OK;
}

static int decode_snapshot(struct byte_reader *r, struct raft_message *m)
{
	m->snap_index = get_u64(r);
	m->snap_term = get_u64(r);
	m->snap_size = get_u64(r);
	m->offset = get_u64(r);
	m->commit = get_u64(r);
	m->round = get_u64(r);
	int rv = get_flag(r, &m->done);
	if (rv != RAFT_CODEC_OK)
		return rv;
	uint16_t clen = get_u16(r);
	if (!r->ok)
		return RAFT_CODEC_ETRUNCATED;
	if (clen > RAFT_CODEC_CONFIG_MAX_BYTES)
		return RAFT_CODEC_ETOOBIG;
	const uint8_t *cbuf = get_bytes(r, clen);
	if (cbuf == NULL)
		return RAFT_CODEC_ETRUNCATED;
	struct raft_config config;
	if (raft_config_decode(cbuf, clen, &config) != RAFT_OK)
		return RAFT_CODEC_ECONFIG;
	m->len = get_u32(r);
	if (!r->ok)
		return RAFT_CODEC_ETRUNCATED;
	if (m->len > RAFT_CODEC_MAX_PAYLOAD)
		return RAFT_CODEC_ETOOBIG;
	const uint8_t *data = get_bytes(r, m->len);
	if (data == NULL)
		return RAFT_CODEC_ETRUNCATED;
	m->config = malloc(sizeof(*m->config));
	if (m->config == NULL)
		return RAFT_CODEC_ENOMEM;
	*m->config = config;
	if (m->len > 0) {
		uint8_t *copy = malloc(m->len);
		if (copy == NULL)
			return RAFT_CODEC_ENOMEM;
		memcpy(copy, data, m->len);
		m->data = copy;
	}
	return RAFT_CODEC_OK;
}

static int decode_body(struct byte_reader *r, struct raft_message *m)
{
	int rv;
	switch (m->type) {
	case RAFT_MSG_APPEND:
		return decode_append(r, m);
	case RAFT_MSG_APPEND_RESP:
		rv = get_flag(r, &m->reject);
		m->index = get_u64(r);
		m->hint_term = get_u64(r);
		m->prev_index = get_u64(r);
		m->round = get_u64(r);
		break;
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		m->index = get_u64(r);
		m->hint_term = get_u64(r);
		rv = get_flag(r, &m->transfer);
		break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		rv = get_flag(r, &m->reject);
		break;
	case RAFT_MSG_SNAPSHOT:
		return decode_snapshot(r, m);
	case RAFT_MSG_SNAPSHOT_RESP:
		m->snap_index = get_u64(r);
		m->index = get_u64(r);
		m->offset = get_u64(r);
		rv = get_flag(r, &m->done);
		if (rv == RAFT_CODEC_OK)
			rv = get_flag(r, &m->reject);
		m->round = get_u64(r);
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		return RAFT_CODEC_OK;
	default:
		return RAFT_CODEC_ETYPE;
	}
	/* A short input fails every later read, so "truncated" wins over a
	 * field error found on the way. */
	if (!r->ok)
		return RAFT_CODEC_ETRUNCATED;
	return rv;
}

int raft_codec_decode_message(const uint8_t *buf, size_t len,
			      struct raft_message *out)
{
	struct byte_reader r;
	struct raft_message m;
	int rv;

	memset(&m, 0, sizeof(m));
	memset(out, 0, sizeof(*out));
	byte_reader_init(&r, buf, len);

	uint8_t format = get_u8(&r);
	if (!r.ok)
		return RAFT_CODEC_ETRUNCATED;
	if (format < RAFT_VERSION_MIN || format > RAFT_VERSION_MAX)
		return RAFT_CODEC_EFORMAT;
	m.type = get_u8(&r);
	if (!r.ok)
		return RAFT_CODEC_ETRUNCATED;
	if (m.type == 0 || m.type > RAFT_MSG_TYPE_MAX)
		return RAFT_CODEC_ETYPE;
	/* Any advertised version is fine: a newer peer says so here. */
	m.version = get_u8(&r);
	m.from = get_u32(&r);
	m.to = get_u32(&r);
	m.term = get_u64(&r);
	if (!r.ok)
		return RAFT_CODEC_ETRUNCATED;
	if (!node_id_valid(m.from) || !node_id_valid(m.to))
		return RAFT_CODEC_EFIELD;

	rv = decode_body(&r, &m);
	if (rv == RAFT_CODEC_OK && r.pos != len)
		rv = RAFT_CODEC_ETRAILING;
	if (rv != RAFT_CODEC_OK) {
		raft_codec_message_free(&m);
		return rv;
	}
	*out = m;
	return RAFT_CODEC_OK;
}
