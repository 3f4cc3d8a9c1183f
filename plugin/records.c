/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The record layer: see records.h and docs/records.md. Decoding checks every
 * length against what is left and every value against its range, and the
 * encoding is canonical: a record that decodes re-encodes to the same bytes
 * (but the legacy one-byte deleteCluster, which encodes in today's form).
 * Integers are little-endian, read and written with raft/byteorder.h: a
 * reader that runs short stays failed, so each step checks `ok` once. */
#include <stdio.h>
#include <stdlib.h>

#include "plugin/records.h"
#include "raft/byteorder.h"
#include "raft/raft.h"

_Static_assert(HA_RECORD_MAX <= RAFT_MAX_ENTRY_BYTES,
	       "a record must fit in one Raft entry");

/* Flags byte of a retained set: which optional properties follow. */
#define RS_PAYLOAD_FORMAT 0x01u
#define RS_CONTENT_TYPE 0x02u
#define RS_RESPONSE_TOPIC 0x04u
#define RS_CORRELATION_DATA 0x08u
#define RS_KNOWN_FLAGS 0x0fu

/* type, version, node id, incarnation, capture time */
#define ORIGIN_BYTES (2u + 8u + 8u)

bool ha_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			n = 2;
			cp = c & 0x1fu;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3;
			cp = c & 0x0fu;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4;
			cp = c & 0x07u;
			min = 0x10000;
		} else {
			return false;
		}
		if (len - i < n)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/* A topic name: 1..65535 bytes of UTF-8, no wildcards. */
static bool topic_valid(struct ha_bytes t)
{
	if (t.len < 1 || t.len > HA_TOPIC_MAX || t.data == NULL)
		return false;
	if (memchr(t.data, '+', t.len) != NULL ||
	    memchr(t.data, '#', t.len) != NULL)
		return false;
	return ha_utf8_valid(t.data, t.len);
}

static bool string_valid(struct ha_bytes s)
{
	if (s.len > HA_PROPERTY_STRING_MAX || (s.len > 0 && s.data == NULL))
		return false;
	return ha_utf8_valid(s.data, s.len);
}

static bool binary_valid(struct ha_bytes b)
{
	return b.len <= HA_PROPERTY_STRING_MAX &&
	       (b.len == 0 || b.data != NULL);
}

/* Bytes of any length (the record's size is checked as a whole). */
static bool binary_valid_any(struct ha_bytes b)
{
	return b.len == 0 || b.data != NULL;
}

/* ---- user properties: {u16 len, name, u16 len, value} each ---- */

/* A str16; false (and r failed) when it runs past the end. */
static bool read_string16(struct byte_reader *r, struct ha_bytes *out)
{
	uint16_t n = get_u16(r);
	out->data = get_bytes(r, n);
	out->len = n;
	return r->ok;
}

static bool read_user_property(struct byte_reader *r,
			       struct ha_user_property *p)
{
	return read_string16(r, &p->name) && string_valid(p->name) &&
	       read_string16(r, &p->value) && string_valid(p->value);
}

/* Reads count valid properties from r (over a buffer, not NULL); raw is
 * where they lie. */
static bool read_user_properties(struct byte_reader *r, uint32_t count,
				 struct ha_bytes *raw)
{
	size_t start = r->pos;
	for (uint32_t i = 0; i < count; i++) {
		struct ha_user_property p;
		if (!read_user_property(r, &p))
			return false;
	}
	raw->data = r->p + start;
	raw->len = r->pos - start;
	return true;
}

bool ha_user_property_next(struct ha_bytes *cursor,
			   struct ha_user_property *out)
{
	struct byte_reader r;
	if (cursor->len == 0)
		return false;
	byte_reader_init(&r, cursor->data, cursor->len);
	if (!read_user_property(&r, out))
		return false;
	cursor->data += r.pos;
	cursor->len -= r.pos;
	return true;
}

/* ---- decoding ---- */

static int malformed(struct ha_record *out, const char *why)
{
	out->reason = why;
	return HA_REC_MALFORMED;
}

static void read_origin(struct byte_reader *r, struct ha_origin *o)
{
	o->node_id = get_u16(r);
	o->incarnation = get_u64(r);
	o->captured_ms = get_u64(r);
}

static bool read_topic(struct byte_reader *r, struct ha_bytes *t)
{
	return read_string16(r, t);
}

static int decode_retain_set(struct byte_reader *r, struct ha_record *out)
{
	struct ha_retain_set *m = &out->u.retain_set;

	read_origin(r, &m->origin);
	m->qos = get_u8(r);
	m->expiry_ms = get_u64(r);
	if (!read_topic(r, &m->topic))
		return malformed(out, "retained message truncated");
	if (m->qos > 2)
		return malformed(out, "QoS above 2");
	if (!topic_valid(m->topic))
		return malformed(out, "invalid topic");
	uint8_t flags = get_u8(r);
	if (!r->ok)
		return malformed(out, "retained message truncated");
	if (flags & ~RS_KNOWN_FLAGS)
		return malformed(out, "unknown property flags");
	if (flags & RS_PAYLOAD_FORMAT) {
		m->has_payload_format = true;
		m->payload_format = get_u8(r);
		if (!r->ok)
			return malformed(out, "retained message truncated");
		if (m->payload_format > 1)
			return malformed(out,
					 "payload format indicator above 1");
	}
	if (flags & RS_CONTENT_TYPE) {
		m->has_content_type = true;
		if (!read_string16(r, &m->content_type))
			return malformed(out, "retained message truncated");
		if (!string_valid(m->content_type))
			return malformed(out, "invalid content type");
	}
	if (flags & RS_RESPONSE_TOPIC) {
		m->has_response_topic = true;
		if (!read_string16(r, &m->response_topic))
			return malformed(out, "retained message truncated");
		if (!topic_valid(m->response_topic))
			return malformed(out, "invalid response topic");
	}
	if (flags & RS_CORRELATION_DATA) {
		m->has_correlation_data = true;
		if (!read_string16(r, &m->correlation_data))
			return malformed(out, "retained message truncated");
	}
	uint32_t count = get_u32(r);
	if (!r->ok)
		return malformed(out, "retained message truncated");
	if (!read_user_properties(r, count, &m->user_properties_raw))
		return malformed(out, "invalid or truncated user property");
	m->n_user_properties = count;
	uint32_t payload_len = get_u32(r);
	m->payload.data = get_bytes(r, payload_len);
	if (!r->ok)
		return malformed(out, "retained message truncated");
	m->payload.len = payload_len;
	return HA_REC_OK;
}

static int decode_retain_delete(struct byte_reader *r, struct ha_record *out)
{
	struct ha_retain_delete *d = &out->u.retain_delete;
	read_origin(r, &d->origin);
	if (!read_topic(r, &d->topic))
		return malformed(out, "retained delete truncated");
	if (!topic_valid(d->topic))
		return malformed(out, "invalid topic");
	return HA_REC_OK;
}

static uint8_t current_version(uint8_t type)
{
	switch (type) {
	case HA_REC_TYPE_DELETE_CLUSTER:
		return HA_REC_VERSION_DELETE_CLUSTER;
	case HA_REC_TYPE_FEATURE_LEVEL:
		return HA_REC_VERSION_FEATURE_LEVEL;
	case HA_REC_TYPE_RETAIN_SET:
		return HA_REC_VERSION_RETAIN_SET;
	case HA_REC_TYPE_RETAIN_DELETE:
		return HA_REC_VERSION_RETAIN_DELETE;
	case HA_REC_TYPE_ACCESS_CONTROL:
		return HA_REC_VERSION_ACCESS_CONTROL;
	default:
		return 0; /* not read by this code */
	}
}

int ha_record_decode(const uint8_t *buf, size_t len, struct ha_record *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return malformed(out, "empty record");
	if (len > HA_RECORD_MAX)
		return malformed(out, "larger than the maximum record size");
	out->type = buf[0];
	if (len == 1 && buf[0] == HA_REC_TYPE_DELETE_CLUSTER) {
		/* The form written before records had versions. */
		out->version = HA_REC_VERSION_DELETE_CLUSTER;
		out->legacy = true;
		return HA_REC_OK;
	}
	uint8_t current = current_version(buf[0]);
	if (current == 0)
		return HA_REC_UNKNOWN_TYPE;
	if (len < 2)
		return malformed(out, "no version byte");
	out->version = buf[1];
	if (out->version == 0)
		return malformed(out, "version 0");
	if (out->version > current)
		return HA_REC_NEWER_VERSION;

	struct byte_reader r;
	byte_reader_init(&r, buf + 2, len - 2);
	int rv = HA_REC_OK;
	switch (out->type) {
	case HA_REC_TYPE_DELETE_CLUSTER:
		break;
	case HA_REC_TYPE_FEATURE_LEVEL:
		out->u.feature_level = get_u32(&r);
		if (!r.ok)
			return malformed(out, "feature level truncated");
		if (out->u.feature_level == 0)
			return malformed(out, "feature level 0");
		break;
	case HA_REC_TYPE_RETAIN_SET:
		rv = decode_retain_set(&r, out);
		break;
	case HA_REC_TYPE_RETAIN_DELETE:
		rv = decode_retain_delete(&r, out);
		break;
	case HA_REC_TYPE_ACCESS_CONTROL:
		/* Read on apply, by the dynsec decoder (records.h). */
		out->u.access_control.len = r.len;
		out->u.access_control.data = get_bytes(&r, r.len);
		break;
	}
	if (rv != HA_REC_OK)
		return rv;
	if (r.pos != r.len)
		return malformed(out, "bytes after the end of the record");
	return HA_REC_OK;
}

/* ---- encoding ---- */

/* Sizes saturate at SIZE_MAX: the caller only compares with the maximum. */
static size_t add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static bool user_properties_valid(const struct ha_retain_set *m)
{
	if (m->n_user_properties > UINT32_MAX)
		return false;
	if (m->user_properties != NULL) {
		for (size_t i = 0; i < m->n_user_properties; i++)
			if (!string_valid(m->user_properties[i].name) ||
			    !string_valid(m->user_properties[i].value))
				return false;
		return true;
	}
	/* Each property takes 4 bytes at least: none fit in an empty list. */
	if (m->user_properties_raw.len == 0)
		return m->n_user_properties == 0;
	if (m->user_properties_raw.data == NULL)
		return false;
	struct byte_reader r;
	byte_reader_init(&r, m->user_properties_raw.data,
			 m->user_properties_raw.len);
	struct ha_bytes raw;
	return read_user_properties(&r, (uint32_t)m->n_user_properties, &raw) &&
	       r.pos == r.len;
}

static size_t user_properties_size(const struct ha_retain_set *m)
{
	if (m->user_properties == NULL)
		return m->user_properties_raw.len;
	size_t n = 0;
	for (size_t i = 0; i < m->n_user_properties; i++)
		n = add_sat(n, 4 + m->user_properties[i].name.len +
				   m->user_properties[i].value.len);
	return n;
}

static size_t retain_set_size(const struct ha_retain_set *m,
			      const char **reason)
{
	const char *why = NULL;
	if (m->qos > 2)
		why = "QoS above 2";
	else if (!topic_valid(m->topic))
		why = "invalid topic";
	else if (m->has_payload_format && m->payload_format > 1)
		why = "payload format indicator above 1";
	else if (m->has_content_type && !string_valid(m->content_type))
		why = "invalid content type";
	else if (m->has_response_topic && !topic_valid(m->response_topic))
		why = "invalid response topic";
	else if (m->has_correlation_data && !binary_valid(m->correlation_data))
		why = "invalid correlation data";
	else if (!user_properties_valid(m))
		why = "invalid user property";
	else if (m->payload.len > 0 && m->payload.data == NULL)
		why = "payload without data";
	if (why != NULL) {
		if (reason != NULL)
			*reason = why;
		return 0;
	}
	size_t n = 2 + ORIGIN_BYTES + 1 + 8 + 2 + m->topic.len + 1;
	if (m->has_payload_format)
		n += 1;
	if (m->has_content_type)
		n += 2 + m->content_type.len;
	if (m->has_response_topic)
		n += 2 + m->response_topic.len;
	if (m->has_correlation_data)
		n += 2 + m->correlation_data.len;
	n = add_sat(n, 4 + user_properties_size(m));
	n = add_sat(n, 4);
	return add_sat(n, m->payload.len);
}

size_t ha_record_encoded_size(const struct ha_record *rec, const char **reason)
{
	switch (rec->type) {
	case HA_REC_TYPE_DELETE_CLUSTER:
		return 2;
	case HA_REC_TYPE_FEATURE_LEVEL:
		if (rec->u.feature_level == 0) {
			if (reason != NULL)
				*reason = "feature level 0";
			return 0;
		}
		return 2 + 4;
	case HA_REC_TYPE_RETAIN_SET:
		return retain_set_size(&rec->u.retain_set, reason);
	case HA_REC_TYPE_RETAIN_DELETE:
		if (!topic_valid(rec->u.retain_delete.topic)) {
			if (reason != NULL)
				*reason = "invalid topic";
			return 0;
		}
		return 2 + ORIGIN_BYTES + 2 + rec->u.retain_delete.topic.len;
	case HA_REC_TYPE_ACCESS_CONTROL:
		if (!binary_valid_any(rec->u.access_control)) {
			if (reason != NULL)
				*reason = "access-control body without data";
			return 0;
		}
		return add_sat(2, rec->u.access_control.len);
	default:
		if (reason != NULL)
			*reason = "a record type this code does not write";
		return 0;
	}
}

/* The writers are given the size computed above; w.ok is checked once at
 * the end. */
static void write_origin(struct byte_writer *w, const struct ha_origin *o)
{
	put_u16(w, o->node_id);
	put_u64(w, o->incarnation);
	put_u64(w, o->captured_ms);
}

size_t ha_record_topic_offset(uint8_t type)
{
	/* Type, version, origin, then for a set its QoS and expiry, then the
	 * topic's length (write_retain_set and the delete's writer). */
	if (type == HA_REC_TYPE_RETAIN_SET)
		return 2 + ORIGIN_BYTES + 1 + 8 + 2;
	if (type == HA_REC_TYPE_RETAIN_DELETE)
		return 2 + ORIGIN_BYTES + 2;
	return 0;
}

static void write_string16(struct byte_writer *w, struct ha_bytes s)
{
	put_u16(w, (uint16_t)s.len);
	put_bytes(w, s.data, s.len);
}

static void write_retain_set(struct byte_writer *w,
			     const struct ha_retain_set *m)
{
	uint8_t flags = (m->has_payload_format ? RS_PAYLOAD_FORMAT : 0) |
			(m->has_content_type ? RS_CONTENT_TYPE : 0) |
			(m->has_response_topic ? RS_RESPONSE_TOPIC : 0) |
			(m->has_correlation_data ? RS_CORRELATION_DATA : 0);
	write_origin(w, &m->origin);
	put_u8(w, m->qos);
	put_u64(w, m->expiry_ms);
	write_string16(w, m->topic);
	put_u8(w, flags);
	if (m->has_payload_format)
		put_u8(w, m->payload_format);
	if (m->has_content_type)
		write_string16(w, m->content_type);
	if (m->has_response_topic)
		write_string16(w, m->response_topic);
	if (m->has_correlation_data)
		write_string16(w, m->correlation_data);
	put_u32(w, (uint32_t)m->n_user_properties);
	if (m->user_properties != NULL) {
		for (size_t i = 0; i < m->n_user_properties; i++) {
			write_string16(w, m->user_properties[i].name);
			write_string16(w, m->user_properties[i].value);
		}
	} else {
		put_bytes(w, m->user_properties_raw.data,
			  m->user_properties_raw.len);
	}
	put_u32(w, (uint32_t)m->payload.len);
	put_bytes(w, m->payload.data, m->payload.len);
}

int ha_record_encode(const struct ha_record *rec, uint8_t **out, size_t *len,
		     const char **reason)
{
	const char *why = NULL;
	size_t size = ha_record_encoded_size(rec, &why);
	if (size == 0) {
		if (reason != NULL)
			*reason = why;
		return current_version(rec->type) == 0 ? HA_REC_UNKNOWN_TYPE
						       : HA_REC_MALFORMED;
	}
	if (size > HA_RECORD_MAX) {
		if (reason != NULL)
			*reason = "larger than the maximum record size";
		return HA_REC_TOO_BIG;
	}
	uint8_t *buf = malloc(size);
	if (buf == NULL)
		return HA_REC_ENOMEM;
	struct byte_writer w;
	byte_writer_init(&w, buf, size);
	put_u8(&w, rec->type);
	put_u8(&w, current_version(rec->type));
	switch (rec->type) {
	case HA_REC_TYPE_FEATURE_LEVEL:
		put_u32(&w, rec->u.feature_level);
		break;
	case HA_REC_TYPE_RETAIN_SET:
		write_retain_set(&w, &rec->u.retain_set);
		break;
	case HA_REC_TYPE_RETAIN_DELETE:
		write_origin(&w, &rec->u.retain_delete.origin);
		write_string16(&w, rec->u.retain_delete.topic);
		break;
	case HA_REC_TYPE_ACCESS_CONTROL:
		put_bytes(&w, rec->u.access_control.data,
			  rec->u.access_control.len);
		break;
	}
	if (!w.ok || w.pos != w.len)
		abort(); /* the size and the writer disagree: a bug here */
	*out = buf;
	*len = size;
	return HA_REC_OK;
}

/* ---- levels and names ---- */

uint32_t ha_record_type_level(uint8_t type)
{
	switch (type) {
	case HA_REC_TYPE_DELETE_CLUSTER:
		return HA_FEATURE_LEVEL_BASE;
	case HA_REC_TYPE_FEATURE_LEVEL:
	case HA_REC_TYPE_RETAIN_SET:
	case HA_REC_TYPE_RETAIN_DELETE:
		return 2;
	case HA_REC_TYPE_ACCESS_CONTROL:
		return 3;
	default:
		return 0;
	}
}

bool ha_record_writable(uint8_t type, uint32_t committed_level)
{
	uint32_t need = ha_record_type_level(type);
	return need != 0 && committed_level >= need;
}

const char *ha_record_type_name(uint8_t type)
{
	switch (type) {
	case HA_REC_TYPE_DELETE_CLUSTER:
		return "cluster delete";
	case HA_REC_TYPE_FEATURE_LEVEL:
		return "feature level";
	case HA_REC_TYPE_RETAIN_SET:
		return "retained message set";
	case HA_REC_TYPE_RETAIN_DELETE:
		return "retained message delete";
	case HA_REC_TYPE_SESSION:
		return "session";
	case HA_REC_TYPE_SUBSCRIPTION:
		return "subscription";
	case HA_REC_TYPE_CLIENT_MSG:
		return "queued client message";
	case HA_REC_TYPE_BASE_MSG:
		return "stored message";
	case HA_REC_TYPE_WILL:
		return "will";
	case HA_REC_TYPE_ACCESS_CONTROL:
		return "access-control data";
	default:
		return "unknown";
	}
}

void ha_record_describe(int status, const uint8_t *buf, size_t len,
			const struct ha_record *rec, uint64_t index, char *out,
			size_t out_len)
{
	unsigned type = len >= 1 ? buf[0] : 0;
	unsigned version = len >= 2 ? buf[1] : 0;
	switch (status) {
	case HA_REC_OK:
		snprintf(out, out_len, "record type %u (%s) at index %llu",
			 type, ha_record_type_name((uint8_t)type),
			 (unsigned long long)index);
		break;
	case HA_REC_UNKNOWN_TYPE:
	case HA_REC_NEWER_VERSION:
		snprintf(out, out_len,
			 "record type %u (%s) version %u at index %llu needs "
			 "a newer mosquitto_ha on this node",
			 type, ha_record_type_name((uint8_t)type), version,
			 (unsigned long long)index);
		break;
	default:
		snprintf(out, out_len,
			 "record type %u (%s) at index %llu is malformed: %s",
			 type, ha_record_type_name((uint8_t)type),
			 (unsigned long long)index,
			 rec != NULL && rec->reason != NULL ? rec->reason
							    : "unreadable");
		break;
	}
}
