/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Snapshots of the Raft-side state: see state_snapshot.h and
 * docs/records.md. Integers are little-endian (raft/byteorder.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <zlib.h>

#include "plugin/dynsec/dynsec.h"
#include "plugin/state_snapshot.h"
#include "raft/byteorder.h"

#define MAGIC_LEN 4u
#define HEADER_LEN (MAGIC_LEN + 1u)
#define SECTION_HEADER_LEN (1u + 8u)
#define CRC_LEN 4u
#define V1_DELETED 0x01u
#define FLAG_DELETED 0x01u

struct ha_state_frozen {
	bool deleted;
	uint32_t feature_level;
	const struct ha_retained_entry **entries;
	size_t n_entries;
	/* The access-control section's body, encoded at capture (the live
	 * state changes in place under later applies); NULL below level 3,
	 * where the section is not written. */
	uint8_t *access_control;
	size_t access_control_len;
};

/* The level from which a snapshot holds the access-control section: the
 * one at which its records may be written. */
static bool has_access_control(uint32_t feature_level)
{
	return ha_record_writable(HA_REC_TYPE_ACCESS_CONTROL, feature_level);
}

/* ---- capture, serialize, release ---- */

struct ha_state_frozen *ha_state_capture(const struct ha_state *s)
{
	struct ha_state_frozen *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->deleted = s->deleted;
	f->feature_level = s->feature_level;
	if (has_access_control(s->feature_level) &&
	    ha_dynsec_section_encode(s->access_control, &f->access_control,
				     &f->access_control_len) != HA_DYNSEC_OK) {
		free(f);
		return NULL;
	}
	if (ha_retained_store_share(s->retained, &f->entries, &f->n_entries) !=
	    0) {
		free(f->access_control);
		free(f);
		return NULL;
	}
	return f;
}

void ha_state_release(struct ha_state_frozen *f)
{
	if (f == NULL)
		return;
	ha_retained_entries_release(f->entries, f->n_entries);
	free(f->access_control);
	free(f);
}

/* zlib's crc32 takes an unsigned int length. */
static uint32_t crc32_of(const uint8_t *p, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	while (len > 0) {
		uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;
		crc = crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)crc;
}

int ha_state_serialize(struct ha_state_frozen *f, uint8_t **buf, size_t *len)
{
	ha_retained_entries_sort(f->entries, f->n_entries);
	uint64_t retained_len = 8;
	for (size_t i = 0; i < f->n_entries; i++) {
		size_t n;
		ha_retained_entry_record(f->entries[i], &n);
		retained_len += 4 + (uint64_t)n;
	}
	uint64_t total = HEADER_LEN + (SECTION_HEADER_LEN + 1) +
			 (SECTION_HEADER_LEN + 4) +
			 (SECTION_HEADER_LEN + retained_len) + CRC_LEN;
	if (f->access_control != NULL)
		total += SECTION_HEADER_LEN + (uint64_t)f->access_control_len;
	if (total > SIZE_MAX)
		return -1;
	uint8_t *out = malloc((size_t)total);
	if (out == NULL)
		return -1;
	struct byte_writer w;
	byte_writer_init(&w, out, (size_t)total);
	put_bytes(&w, HA_SNAPSHOT_MAGIC, MAGIC_LEN);
	put_u8(&w, HA_SNAPSHOT_VERSION);
	put_u8(&w, HA_SNAP_SECTION_FLAGS);
	put_u64(&w, 1);
	put_u8(&w, f->deleted ? FLAG_DELETED : 0);
	put_u8(&w, HA_SNAP_SECTION_FEATURE_LEVEL);
	put_u64(&w, 4);
	put_u32(&w, f->feature_level);
	put_u8(&w, HA_SNAP_SECTION_RETAINED);
	put_u64(&w, retained_len);
	put_u64(&w, f->n_entries);
	for (size_t i = 0; i < f->n_entries; i++) {
		size_t n;
		const uint8_t *rec =
		    ha_retained_entry_record(f->entries[i], &n);
		put_u32(&w, (uint32_t)n);
		put_bytes(&w, rec, n);
	}
	if (f->access_control != NULL) {
		put_u8(&w, HA_SNAP_SECTION_ACCESS_CONTROL);
		put_u64(&w, f->access_control_len);
		put_bytes(&w, f->access_control, f->access_control_len);
	}
	/* The CRC covers every byte before it, so it is computed last. */
	if (w.ok)
		put_u32(&w, crc32_of(out, w.pos));
	if (!w.ok || w.pos != w.len)
		abort(); /* the size and the writer disagree: a bug here */
	*buf = out;
	*len = (size_t)total;
	return 0;
}

/* ---- restore ---- */

__attribute__((format(printf, 4, 5))) static int
fail(int rv, char *why, size_t why_len, const char *fmt, ...)
{
	if (why != NULL && why_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return rv;
}

static int restore_retained(struct ha_state *s, struct byte_reader *r,
			    char *why, size_t why_len)
{
	const uint8_t *prev_topic = NULL;
	size_t prev_len = 0;

	uint64_t count = get_u64(r);
	if (!r->ok)
		return fail(HA_SNAP_MALFORMED, why, why_len,
			    "snapshot: retained section truncated");
	/* Size the table once, but never beyond what the section can hold. */
	uint64_t room = (r->len - r->pos) / (4 + HA_RETAIN_SET_MIN_BYTES);
	if (ha_retained_store_reserve(
		s->retained, (size_t)(count < room ? count : room)) != 0)
		return fail(HA_SNAP_ENOMEM, why, why_len,
			    "snapshot: out of memory");
	for (uint64_t i = 0; i < count; i++) {
		struct ha_record m;
		uint32_t n = get_u32(r);
		const uint8_t *rec = get_bytes(r, n);
		if (!r->ok)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: retained message %llu truncated",
				    (unsigned long long)i);
		int rv = ha_record_decode(rec, n, &m);
		if (rv == HA_REC_NEWER_VERSION || rv == HA_REC_UNKNOWN_TYPE)
			return fail(HA_SNAP_NEWER, why, why_len,
				    "snapshot: record type %u version %u needs "
				    "a newer mosquitto_ha on this node",
				    n > 0 ? rec[0] : 0u, n > 1 ? rec[1] : 0u);
		if (rv != HA_REC_OK)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: retained message %llu is "
				    "malformed: %s",
				    (unsigned long long)i, m.reason);
		if (m.type != HA_REC_TYPE_RETAIN_SET)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: record type %u in the retained "
				    "section",
				    m.type);
		const struct ha_retain_set *set = &m.u.retain_set;
		if (set->payload.len == 0)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: retained message %llu has an "
				    "empty payload",
				    (unsigned long long)i);
		if (prev_topic != NULL &&
		    ha_retained_topic_cmp(prev_topic, prev_len, set->topic.data,
					  set->topic.len) >= 0)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: retained messages not sorted "
				    "by topic, or a topic twice");
		prev_topic = set->topic.data;
		prev_len = set->topic.len;
		if (ha_retained_store_set(s->retained, rec, n,
					  (size_t)(set->topic.data - rec),
					  set->topic.len) != 0)
			return fail(HA_SNAP_ENOMEM, why, why_len,
				    "snapshot: out of memory");
	}
	if (r->pos != r->len)
		return fail(HA_SNAP_MALFORMED, why, why_len,
			    "snapshot: bytes after the retained messages");
	return HA_SNAP_OK;
}

static int restore_access_control(struct ha_state *s, struct byte_reader *r,
				  char *why, size_t why_len)
{
	/* Written from level 3 on, and only then (the feature level
	 * section comes first). */
	if (!has_access_control(s->feature_level))
		return fail(HA_SNAP_MALFORMED, why, why_len,
			    "snapshot: access-control section at feature "
			    "level %lu",
			    (unsigned long)s->feature_level);
	struct ha_dynsec *ac = NULL;
	const char *reason = NULL;
	int rv = ha_dynsec_section_decode(get_bytes(r, r->len), r->len, &ac,
					  &reason);
	if (reason == NULL)
		reason = "unreadable";
	switch (rv) {
	case HA_DYNSEC_OK:
		ha_dynsec_free(s->access_control);
		s->access_control = ac;
		return HA_SNAP_OK;
	case HA_DYNSEC_NEWER:
		return fail(HA_SNAP_NEWER, why, why_len,
			    "snapshot: access-control section version %u "
			    "needs a newer mosquitto_ha on this node",
			    r->len > 0 ? r->p[0] : 0u);
	case HA_DYNSEC_ENOMEM:
		return fail(HA_SNAP_ENOMEM, why, why_len,
			    "snapshot: out of memory");
	default:
		return fail(HA_SNAP_MALFORMED, why, why_len,
			    "snapshot: access-control section is malformed: "
			    "%s",
			    reason);
	}
}

/* r holds the whole body of the section, nothing read yet. */
static int restore_section(struct ha_state *s, uint8_t type,
			   struct byte_reader *r, char *why, size_t why_len)
{
	uint8_t flags;
	switch (type) {
	case HA_SNAP_SECTION_FLAGS:
		if (r->len != 1)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: flags section of %zu bytes",
				    r->len);
		flags = get_u8(r);
		if (flags & ~FLAG_DELETED)
			return fail(HA_SNAP_NEWER, why, why_len,
				    "snapshot: cluster flags 0x%02x need a "
				    "newer mosquitto_ha on this node",
				    flags);
		s->deleted = (flags & FLAG_DELETED) != 0;
		return HA_SNAP_OK;
	case HA_SNAP_SECTION_FEATURE_LEVEL:
		if (r->len != 4)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: feature level section of %zu "
				    "bytes",
				    r->len);
		s->feature_level = get_u32(r);
		if (s->feature_level == 0)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: feature level 0");
		if (s->feature_level > HA_FEATURE_LEVEL_MAX)
			return fail(HA_SNAP_NEWER, why, why_len,
				    "snapshot: feature level %lu needs a newer "
				    "mosquitto_ha on this node",
				    (unsigned long)s->feature_level);
		return HA_SNAP_OK;
	case HA_SNAP_SECTION_RETAINED:
		return restore_retained(s, r, why, why_len);
	default: /* HA_SNAP_SECTION_ACCESS_CONTROL */
		return restore_access_control(s, r, why, why_len);
	}
}

static int restore_v2(struct ha_state *s, const uint8_t *buf, size_t len,
		      char *why, size_t why_len)
{
	if (buf[MAGIC_LEN] > HA_SNAPSHOT_VERSION)
		return fail(HA_SNAP_NEWER, why, why_len,
			    "snapshot version %u needs a newer mosquitto_ha "
			    "on this node",
			    buf[MAGIC_LEN]);
	if (buf[MAGIC_LEN] != HA_SNAPSHOT_VERSION)
		return fail(HA_SNAP_MALFORMED, why, why_len,
			    "snapshot: version %u after the magic",
			    buf[MAGIC_LEN]);
	if (len < HEADER_LEN + CRC_LEN)
		return fail(HA_SNAP_MALFORMED, why, why_len,
			    "snapshot: truncated");
	if (le32_load(buf + len - CRC_LEN) != crc32_of(buf, len - CRC_LEN))
		return fail(HA_SNAP_MALFORMED, why, why_len,
			    "snapshot: checksum mismatch");

	struct byte_reader r;
	byte_reader_init(&r, buf + HEADER_LEN, len - HEADER_LEN - CRC_LEN);
	unsigned last = 0, sections = 0;
	while (r.pos < r.len) {
		uint8_t type = get_u8(&r);
		uint64_t n = get_u64(&r);
		if (!r.ok)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: section header truncated");
		if (type > HA_SNAP_SECTION_ACCESS_CONTROL)
			return fail(HA_SNAP_NEWER, why, why_len,
				    "snapshot section type %u needs a newer "
				    "mosquitto_ha on this node",
				    type);
		if (type <= last)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: section type %u out of order",
				    type);
		if (n > r.len - r.pos)
			return fail(HA_SNAP_MALFORMED, why, why_len,
				    "snapshot: section type %u truncated",
				    type);
		struct byte_reader section;
		byte_reader_init(&section, get_bytes(&r, (size_t)n), (size_t)n);
		int rv = restore_section(s, type, &section, why, why_len);
		if (rv != HA_SNAP_OK)
			return rv;
		last = type;
		sections++;
	}
	/* Ascending and unique: all of them when there are as many as the
	 * last type. The access-control section is there from level 3 on
	 * (its restore refused it below). */
	unsigned expected = has_access_control(s->feature_level)
				? HA_SNAP_SECTION_ACCESS_CONTROL
				: HA_SNAP_SECTION_RETAINED;
	if (sections != expected)
		return fail(HA_SNAP_MALFORMED, why, why_len,
			    "snapshot: a section is missing");
	return HA_SNAP_OK;
}

int ha_state_restore(const uint8_t *buf, size_t len, uint64_t seed,
		     struct ha_state **out, char *why, size_t why_len)
{
	*out = NULL;
	struct ha_state *s = ha_state_new(seed);
	if (s == NULL)
		return fail(HA_SNAP_ENOMEM, why, why_len,
			    "snapshot: out of memory");
	int rv;
	if (len >= 1 && buf[0] == 1) {
		/* Version 1: {1, flags}, flags bit 0 = deleted. */
		if (len != 2)
			rv = fail(HA_SNAP_MALFORMED, why, why_len,
				  "snapshot version 1 of %zu bytes", len);
		else if (buf[1] & ~V1_DELETED)
			rv = fail(HA_SNAP_MALFORMED, why, why_len,
				  "snapshot version 1 with flags 0x%02x",
				  buf[1]);
		else {
			s->deleted = (buf[1] & V1_DELETED) != 0;
			rv = HA_SNAP_OK;
		}
	} else if (len >= HEADER_LEN &&
		   memcmp(buf, HA_SNAPSHOT_MAGIC, MAGIC_LEN) == 0) {
		rv = restore_v2(s, buf, len, why, why_len);
	} else {
		rv = fail(HA_SNAP_MALFORMED, why, why_len,
			  "not a mosquitto_ha snapshot");
	}
	if (rv != HA_SNAP_OK) {
		ha_state_free(s);
		return rv;
	}
	*out = s;
	return HA_SNAP_OK;
}

int ha_state_restore_into(struct ha_state *s, const uint8_t *buf, size_t len,
			  char *why, size_t why_len)
{
	struct ha_state *fresh;
	int rv = ha_state_restore(buf, len, s->seed, &fresh, why, why_len);
	if (rv != HA_SNAP_OK)
		return rv;
	/* The broker's version is the plugin's setting, not replicated. */
	fresh->access_control->v21 = s->access_control->v21;
	ha_retained_store_free(s->retained);
	ha_dynsec_free(s->access_control);
	*s = *fresh;
	free(fresh);
	return HA_SNAP_OK;
}
