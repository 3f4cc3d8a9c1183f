/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The Raft-side state: applying each record (and stopping, unchanged, at
 * one it cannot apply, with the line the log gets), snapshots byte for
 * byte, round trips, a capture that stays frozen while applies go on,
 * version 1 snapshots, every refusal of a bad or newer snapshot, 200,000
 * messages, and allocation failures.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <zlib.h>

#include "plugin/state.h"
#include "plugin/state_snapshot.h"
#include "tests/plugin/alloc_fail.h"

/* An encoded retained set (free()). */
static uint8_t *retain_set(const char *topic, const char *payload,
			   uint64_t expiry, size_t *len)
{
	struct ha_record r = {.type = HA_REC_TYPE_RETAIN_SET};
	r.u.retain_set.origin = (struct ha_origin){1, 42, 1000};
	r.u.retain_set.topic =
	    (struct ha_bytes){(const uint8_t *)topic, strlen(topic)};
	r.u.retain_set.payload =
	    (struct ha_bytes){(const uint8_t *)payload, strlen(payload)};
	r.u.retain_set.qos = 1;
	r.u.retain_set.expiry_ms = expiry;
	uint8_t *buf;
	assert_int_equal(ha_record_encode(&r, &buf, len, NULL), HA_REC_OK);
	return buf;
}

static uint8_t *retain_delete(const char *topic, size_t *len)
{
	struct ha_record r = {.type = HA_REC_TYPE_RETAIN_DELETE};
	r.u.retain_delete.origin = (struct ha_origin){2, 43, 2000};
	r.u.retain_delete.topic =
	    (struct ha_bytes){(const uint8_t *)topic, strlen(topic)};
	uint8_t *buf;
	assert_int_equal(ha_record_encode(&r, &buf, len, NULL), HA_REC_OK);
	return buf;
}

static void apply_ok(struct ha_state *s, uint64_t index, const uint8_t *rec,
		     size_t len)
{
	char why[200] = "";
	int rv = ha_state_apply(s, index, rec, len, why, sizeof(why));
	if (rv != HA_APPLY_OK)
		fail_msg("apply %llu: %d %s", (unsigned long long)index, rv,
			 why);
}

static void apply_set(struct ha_state *s, const char *topic,
		      const char *payload)
{
	size_t len;
	uint8_t *rec = retain_set(topic, payload, 0, &len);
	apply_ok(s, 1, rec, len);
	free(rec);
}

/* The payload retained on topic, or NULL. */
static const char *payload_of(const struct ha_state *s, const char *topic,
			      char *out, size_t out_len)
{
	const struct ha_retained_entry *e = ha_retained_store_get(
	    s->retained, (const uint8_t *)topic, strlen(topic));
	if (e == NULL)
		return NULL;
	size_t len;
	const uint8_t *rec = ha_retained_entry_record(e, &len);
	struct ha_record d;
	assert_int_equal(ha_record_decode(rec, len, &d), HA_REC_OK);
	snprintf(out, out_len, "%.*s", (int)d.u.retain_set.payload.len,
		 (const char *)d.u.retain_set.payload.data);
	return out;
}

static uint8_t *snapshot_of(const struct ha_state *s, size_t *len)
{
	struct ha_state_frozen *f = ha_state_capture(s);
	assert_non_null(f);
	uint8_t *buf;
	assert_int_equal(ha_state_serialize(f, &buf, len), 0);
	ha_state_release(f);
	return buf;
}

static void test_apply(void **state)
{
	(void)state;
	struct ha_state *s = ha_state_new(1);
	assert_non_null(s);
	char got[64];
	assert_int_equal(s->feature_level, 1);

	apply_set(s, "a", "1");
	apply_set(s, "b", "2");
	apply_set(s, "a", "11");
	assert_string_equal(payload_of(s, "a", got, sizeof(got)), "11");
	assert_int_equal(ha_retained_store_count(s->retained), 2);
	size_t len;
	uint8_t *rec = retain_delete("a", &len);
	apply_ok(s, 2, rec, len);
	apply_ok(s, 3, rec, len); /* deleting nothing is fine */
	free(rec);
	assert_null(payload_of(s, "a", got, sizeof(got)));
	apply_set(s, "b", ""); /* an empty payload deletes */
	assert_null(payload_of(s, "b", got, sizeof(got)));
	assert_int_equal(ha_retained_store_count(s->retained), 0);

	const uint8_t level2[] = {2, 1, 2, 0, 0, 0};
	const uint8_t level1[] = {2, 1, 1, 0, 0, 0};
	apply_ok(s, 4, level2, sizeof(level2));
	assert_int_equal(s->feature_level, 2);
	apply_ok(s, 5, level1, sizeof(level1)); /* never lowered */
	assert_int_equal(s->feature_level, 2);

	assert_false(s->deleted);
	const uint8_t legacy_delete[] = {1};
	apply_ok(s, 6, legacy_delete, 1);
	assert_true(s->deleted);
	ha_state_free(s);

	s = ha_state_new(1);
	assert_non_null(s);
	const uint8_t new_delete[] = {1, 1};
	apply_ok(s, 1, new_delete, 2);
	assert_true(s->deleted);
	ha_state_free(s);
}

/* What cannot be applied stops, with one line, and changes nothing. */
static void test_apply_stops(void **state)
{
	(void)state;
	struct ha_state *s = ha_state_new(1);
	assert_non_null(s);
	apply_set(s, "keep", "v");
	size_t before_len;
	uint8_t *before = snapshot_of(s, &before_len);
	char why[200];

	const uint8_t session[] = {5, 1, 0, 0};
	assert_int_equal(
	    ha_state_apply(s, 17, session, sizeof(session), why, sizeof(why)),
	    HA_APPLY_NEWER);
	assert_string_equal(why, "record type 5 (session) version 1 at index "
				 "17 needs a newer mosquitto_ha on this node");
	const uint8_t newer_set[] = {3, 2, 0xff};
	assert_int_equal(ha_state_apply(s, 18, newer_set, sizeof(newer_set),
					why, sizeof(why)),
			 HA_APPLY_NEWER);
	assert_string_equal(why,
			    "record type 3 (retained message set) version 2 at "
			    "index 18 needs a newer mosquitto_ha on this node");
	const uint8_t level4[] = {2, 1, 4, 0, 0, 0};
	assert_int_equal(
	    ha_state_apply(s, 19, level4, sizeof(level4), why, sizeof(why)),
	    HA_APPLY_NEWER);
	assert_string_equal(why, "feature level 4 at index 19 needs a newer "
				 "mosquitto_ha on this node");
	const uint8_t bad[] = {4, 1, 0};
	assert_int_equal(
	    ha_state_apply(s, 20, bad, sizeof(bad), why, sizeof(why)),
	    HA_APPLY_MALFORMED);
	assert_string_equal(why, "record type 4 (retained message delete) at "
				 "index 20 is malformed: retained delete "
				 "truncated");
	assert_int_equal(ha_state_apply(s, 21, NULL, 0, NULL, 0),
			 HA_APPLY_MALFORMED);

	size_t after_len;
	uint8_t *after = snapshot_of(s, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	free(before);
	free(after);
	ha_state_free(s);
}

static uint32_t crc_of(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

/* An empty state, byte for byte (the example of docs/records.md). */
static void test_snapshot_bytes(void **state)
{
	(void)state;
	struct ha_state *s = ha_state_new(1);
	assert_non_null(s);
	s->deleted = true;
	size_t len;
	uint8_t *buf = snapshot_of(s, &len);
	uint8_t expected[] = {
	    'M',  'H',	'A',  'S',  2,			 /* magic, version */
	    1,	  1,	0,    0,    0, 0, 0, 0, 0, 0x01, /* flags: deleted */
	    2,	  4,	0,    0,    0, 0, 0, 0, 0, 1,	 0, 0, 0, /* level 1 */
	    3,	  8,	0,    0,    0, 0, 0, 0, 0, 0,	 0, 0, 0,
	    0,	  0,	0,    0,    /* none */
	    0x36, 0xd4, 0x20, 0xec, /* CRC32 0xec20d436 */
	};
	/* The CRC above is zlib's crc32 of the bytes before it. */
	assert_int_equal(crc_of(expected, sizeof(expected) - 4), 0xec20d436);
	assert_int_equal(len, sizeof(expected));
	assert_memory_equal(buf, expected, len);
	free(buf);
	ha_state_free(s);
}

static void test_snapshot_round_trip(void **state)
{
	(void)state;
	struct ha_state *s = ha_state_new(1);
	assert_non_null(s);
	const uint8_t level2[] = {2, 1, 2, 0, 0, 0};
	apply_ok(s, 1, level2, sizeof(level2));
	apply_set(s, "z", "last");
	apply_set(s, "a/b", "first");
	apply_set(s, "a", "zero");
	size_t len;
	uint8_t *buf = snapshot_of(s, &len);

	struct ha_state *r;
	char why[200];
	assert_int_equal(ha_state_restore(buf, len, 77, &r, why, sizeof(why)),
			 HA_SNAP_OK);
	assert_false(r->deleted);
	assert_int_equal(r->feature_level, 2);
	char got[64];
	assert_string_equal(payload_of(r, "a/b", got, sizeof(got)), "first");
	assert_string_equal(payload_of(r, "z", got, sizeof(got)), "last");
	assert_int_equal(ha_retained_store_count(r->retained), 3);
	/* Same state, same bytes, whatever the hash seed. */
	size_t len2;
	uint8_t *buf2 = snapshot_of(r, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(buf2, buf, len);
	free(buf2);
	ha_state_free(r);

	/* restore_into replaces; a refused snapshot leaves it as it was. */
	struct ha_state *t = ha_state_new(2);
	assert_non_null(t);
	apply_set(t, "other", "x");
	buf[len - 1] ^= 1;
	assert_int_equal(ha_state_restore_into(t, buf, len, why, sizeof(why)),
			 HA_SNAP_MALFORMED);
	assert_string_equal(why, "snapshot: checksum mismatch");
	assert_string_equal(payload_of(t, "other", got, sizeof(got)), "x");
	buf[len - 1] ^= 1;
	assert_int_equal(ha_state_restore_into(t, buf, len, why, sizeof(why)),
			 HA_SNAP_OK);
	assert_null(payload_of(t, "other", got, sizeof(got)));
	assert_string_equal(payload_of(t, "a", got, sizeof(got)), "zero");
	assert_int_equal(t->seed, 2);
	ha_state_free(t);
	free(buf);
	ha_state_free(s);
}

/* A capture is the state at capture time, while applies go on. */
static void test_capture_frozen(void **state)
{
	(void)state;
	struct ha_state *s = ha_state_new(1);
	assert_non_null(s);
	apply_set(s, "a", "1");
	apply_set(s, "b", "2");
	size_t expected_len;
	uint8_t *expected = snapshot_of(s, &expected_len);

	struct ha_state_frozen *f = ha_state_capture(s);
	assert_non_null(f);
	apply_set(s, "a", "changed");
	apply_set(s, "c", "3");
	size_t len;
	uint8_t *rec = retain_delete("b", &len);
	apply_ok(s, 9, rec, len);
	free(rec);
	const uint8_t del[] = {1};
	apply_ok(s, 10, del, 1);
	ha_state_free(s); /* even the state may go first */

	uint8_t *buf;
	assert_int_equal(ha_state_serialize(f, &buf, &len), 0);
	ha_state_release(f);
	assert_int_equal(len, expected_len);
	assert_memory_equal(buf, expected, len);
	free(buf);
	free(expected);
}

struct serializer {
	struct ha_state_frozen *frozen;
	uint8_t *buf;
	size_t len;
	int rv;
};

static void *serialize_thread(void *arg)
{
	struct serializer *w = arg;
	w->rv = ha_state_serialize(w->frozen, &w->buf, &w->len);
	ha_state_release(w->frozen);
	return NULL;
}

/* Serialize and release run on another thread while applies replace and
 * delete the very messages captured (the sanitizer catches a record freed
 * too early). */
static void test_serialize_while_applying(void **state)
{
	(void)state;
	struct ha_state *s = ha_state_new(1);
	assert_non_null(s);
	char topic[32], payload[32];
	for (int i = 0; i < 2000; i++) {
		snprintf(topic, sizeof(topic), "t/%d", i);
		apply_set(s, topic, "before");
	}
	size_t expected_len;
	uint8_t *expected = snapshot_of(s, &expected_len);
	struct serializer w = {.frozen = ha_state_capture(s)};
	assert_non_null(w.frozen);
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, serialize_thread, &w),
			 0);
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 2000; i++) {
			snprintf(topic, sizeof(topic), "t/%d", i);
			snprintf(payload, sizeof(payload), "r%d", round);
			if ((i + round) % 3 == 0) {
				size_t len;
				uint8_t *rec = retain_delete(topic, &len);
				apply_ok(s, 1, rec, len);
				free(rec);
			} else {
				apply_set(s, topic, payload);
			}
		}
	}
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(w.rv, 0);
	assert_int_equal(w.len, expected_len);
	assert_memory_equal(w.buf, expected, expected_len);
	free(w.buf);
	free(expected);
	ha_state_free(s);
}

static void expect_restore(const uint8_t *buf, size_t len, int result,
			   const char *why_expected)
{
	struct ha_state *r = NULL;
	char why[200] = "";
	int rv = ha_state_restore(buf, len, 1, &r, why, sizeof(why));
	if (rv != result)
		fail_msg("restore: %d, expected %d (%s)", rv, result, why);
	if (result == HA_SNAP_OK) {
		assert_non_null(r);
		ha_state_free(r);
	} else {
		assert_null(r);
		assert_string_equal(why, why_expected);
	}
}

static void test_snapshot_v1(void **state)
{
	(void)state;
	const uint8_t alive[] = {1, 0}, deleted[] = {1, 1};
	struct ha_state *r;
	assert_int_equal(ha_state_restore(alive, 2, 1, &r, NULL, 0),
			 HA_SNAP_OK);
	assert_false(r->deleted);
	assert_int_equal(r->feature_level, 1);
	assert_int_equal(ha_retained_store_count(r->retained), 0);
	ha_state_free(r);
	assert_int_equal(ha_state_restore(deleted, 2, 1, &r, NULL, 0),
			 HA_SNAP_OK);
	assert_true(r->deleted);
	/* Written again as version 2, it restores the same. */
	size_t len;
	uint8_t *buf = snapshot_of(r, &len);
	ha_state_free(r);
	assert_int_equal(ha_state_restore(buf, len, 1, &r, NULL, 0),
			 HA_SNAP_OK);
	assert_true(r->deleted);
	ha_state_free(r);
	free(buf);

	const uint8_t flags2[] = {1, 2}, short1[] = {1}, long1[] = {1, 0, 0};
	expect_restore(flags2, 2, HA_SNAP_MALFORMED,
		       "snapshot version 1 with flags 0x02");
	expect_restore(short1, 1, HA_SNAP_MALFORMED,
		       "snapshot version 1 of 1 bytes");
	expect_restore(long1, 3, HA_SNAP_MALFORMED,
		       "snapshot version 1 of 3 bytes");
	expect_restore(NULL, 0, HA_SNAP_MALFORMED,
		       "not a mosquitto_ha snapshot");
	const uint8_t junk[] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
	expect_restore(junk, sizeof(junk), HA_SNAP_MALFORMED,
		       "not a mosquitto_ha snapshot");
}

/* A version 2 snapshot assembled by hand: sections, then the CRC. */
struct builder {
	uint8_t buf[4096];
	size_t len;
};

static void put(struct builder *b, const void *p, size_t n)
{
	assert_true(b->len + n <= sizeof(b->buf));
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

/* v in n bytes, little-endian, written out by hand. */
static void put_le(struct builder *b, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t byte = (uint8_t)(v >> (8 * i));
		put(b, &byte, 1);
	}
}

static void start(struct builder *b, uint8_t version)
{
	b->len = 0;
	put(b, "MHAS", 4);
	put_le(b, version, 1);
}

static void section(struct builder *b, uint8_t type, const void *body, size_t n)
{
	put_le(b, type, 1);
	put_le(b, n, 8);
	put(b, body, n);
}

static void finish(struct builder *b)
{
	put_le(b, crc_of(b->buf, b->len), 4);
}

static const uint8_t no_flags[] = {0};
static const uint8_t level1[] = {1, 0, 0, 0};
static const uint8_t no_messages[] = {0, 0, 0, 0, 0, 0, 0, 0};

/* Retained section with the given records, in the given order. */
static size_t retained_body(uint8_t *out, size_t cap, const char **topics,
			    size_t n)
{
	size_t len = 0;
	uint64_t count = n;
	for (int i = 0; i < 8; i++)
		out[len++] = (uint8_t)(count >> (8 * i));
	for (size_t i = 0; i < n; i++) {
		size_t rl;
		uint8_t *rec = retain_set(topics[i], "v", 0, &rl);
		assert_true(len + 4 + rl <= cap);
		for (int k = 0; k < 4; k++)
			out[len++] = (uint8_t)(rl >> (8 * k));
		memcpy(out + len, rec, rl);
		len += rl;
		free(rec);
	}
	return len;
}

static void test_snapshot_refusals(void **state)
{
	(void)state;
	struct builder b;
	uint8_t body[1024];
	size_t n;

	/* The reference: valid. */
	start(&b, 2);
	section(&b, 1, no_flags, 1);
	section(&b, 2, level1, 4);
	section(&b, 3, no_messages, 8);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_OK, NULL);
	/* Every byte flipped is caught. */
	for (size_t i = 5; i < b.len; i++) {
		b.buf[i] ^= 0x40;
		struct ha_state *r;
		assert_int_not_equal(
		    ha_state_restore(b.buf, b.len, 1, &r, NULL, 0), HA_SNAP_OK);
		b.buf[i] ^= 0x40;
	}
	for (size_t cut = 0; cut < b.len; cut++) {
		struct ha_state *r;
		assert_int_not_equal(
		    ha_state_restore(b.buf, cut, 1, &r, NULL, 0), HA_SNAP_OK);
	}

	start(&b, 3);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_NEWER,
		       "snapshot version 3 needs a newer mosquitto_ha on this "
		       "node");

	/* A section from a newer node. */
	start(&b, 2);
	section(&b, 1, no_flags, 1);
	section(&b, 2, level1, 4);
	section(&b, 3, no_messages, 8);
	section(&b, 5, "x", 1);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_NEWER,
		       "snapshot section type 5 needs a newer mosquitto_ha on "
		       "this node");

	start(&b, 2);
	section(&b, 2, level1, 4);
	section(&b, 1, no_flags, 1);
	section(&b, 3, no_messages, 8);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_MALFORMED,
		       "snapshot: section type 1 out of order");

	start(&b, 2);
	section(&b, 1, no_flags, 1);
	section(&b, 3, no_messages, 8);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_MALFORMED,
		       "snapshot: a section is missing");

	const uint8_t flags_new[] = {0x02};
	start(&b, 2);
	section(&b, 1, flags_new, 1);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_NEWER,
		       "snapshot: cluster flags 0x02 need a newer "
		       "mosquitto_ha on this node");

	const uint8_t level4[] = {4, 0, 0, 0};
	start(&b, 2);
	section(&b, 1, no_flags, 1);
	section(&b, 2, level4, 4);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_NEWER,
		       "snapshot: feature level 4 needs a newer mosquitto_ha "
		       "on this node");

	const char *sorted[] = {"a", "b"};
	n = retained_body(body, sizeof(body), sorted, 2);
	start(&b, 2);
	section(&b, 1, no_flags, 1);
	section(&b, 2, level1, 4);
	section(&b, 3, body, n);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_OK, NULL);

	const char *unsorted[] = {"b", "a"};
	n = retained_body(body, sizeof(body), unsorted, 2);
	start(&b, 2);
	section(&b, 1, no_flags, 1);
	section(&b, 2, level1, 4);
	section(&b, 3, body, n);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_MALFORMED,
		       "snapshot: retained messages not sorted by topic, or a "
		       "topic twice");

	const char *twice[] = {"a", "a"};
	n = retained_body(body, sizeof(body), twice, 2);
	start(&b, 2);
	section(&b, 1, no_flags, 1);
	section(&b, 2, level1, 4);
	section(&b, 3, body, n);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_MALFORMED,
		       "snapshot: retained messages not sorted by topic, or a "
		       "topic twice");

	/* A record of a newer version inside the section. */
	n = retained_body(body, sizeof(body), sorted, 1);
	body[8 + 4 + 1] = 9;
	start(&b, 2);
	section(&b, 1, no_flags, 1);
	section(&b, 2, level1, 4);
	section(&b, 3, body, n);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_NEWER,
		       "snapshot: record type 3 version 9 needs a newer "
		       "mosquitto_ha on this node");

	/* A count larger than what follows. */
	n = retained_body(body, sizeof(body), sorted, 1);
	body[0] = 2; /* the count's lowest byte */
	start(&b, 2);
	section(&b, 1, no_flags, 1);
	section(&b, 2, level1, 4);
	section(&b, 3, body, n);
	finish(&b);
	expect_restore(b.buf, b.len, HA_SNAP_MALFORMED,
		       "snapshot: retained message 1 truncated");
}

static void test_many(void **state)
{
	(void)state;
	enum { N = 200000 };
	struct ha_state *s = ha_state_new(1);
	assert_non_null(s);
	char topic[33], payload[65];
	memset(payload, 'p', 64);
	payload[64] = '\0';
	for (int i = 0; i < N; i++) {
		snprintf(topic, sizeof(topic), "building/floor/room/%012d", i);
		size_t len;
		uint8_t *rec = retain_set(topic, payload, 0, &len);
		apply_ok(s, (uint64_t)i + 1, rec, len);
		free(rec);
	}
	struct timespec t0, t1, t2, t3;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct ha_state_frozen *f = ha_state_capture(s);
	assert_non_null(f);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint8_t *buf;
	size_t len;
	assert_int_equal(ha_state_serialize(f, &buf, &len), 0);
	ha_state_release(f);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	struct ha_state *r;
	assert_int_equal(ha_state_restore(buf, len, 5, &r, NULL, 0),
			 HA_SNAP_OK);
	clock_gettime(CLOCK_MONOTONIC, &t3);
	assert_int_equal(ha_retained_store_count(r->retained), N);
#define MS(a, b)                                                               \
	((double)((b).tv_sec - (a).tv_sec) * 1e3 +                             \
	 (double)((b).tv_nsec - (a).tv_nsec) / 1e6)
	printf("    200000 messages (sanitized build): capture %.1f ms, "
	       "serialize %.1f ms, restore %.1f ms; snapshot %.1f bytes per "
	       "message\n",
	       MS(t0, t1), MS(t1, t2), MS(t2, t3), (double)len / N);
	ha_state_free(r);
	free(buf);
	ha_state_free(s);
}

static void test_out_of_memory(void **state)
{
	(void)state;
	struct ha_state *s = ha_state_new(1);
	assert_non_null(s);
	for (int i = 0; i < 20; i++) {
		char topic[16];
		snprintf(topic, sizeof(topic), "t/%d", i);
		apply_set(s, topic, "value");
	}
	size_t expected_len;
	uint8_t *expected = snapshot_of(s, &expected_len);

	/* Apply: fails at every allocation, then succeeds. */
	size_t len;
	uint8_t *rec = retain_set("t/new", "v", 0, &len);
	char why[200];
	for (long n = 0;; n++) {
		alloc_fail_after(n);
		int rv = ha_state_apply(s, 99, rec, len, why, sizeof(why));
		if (!alloc_fail_off()) {
			assert_int_equal(rv, HA_APPLY_OK);
			break;
		}
		assert_int_equal(rv, HA_APPLY_ENOMEM);
		assert_string_equal(why, "out of memory applying the retained "
					 "message at index 99");
		size_t now_len;
		uint8_t *now = snapshot_of(s, &now_len);
		assert_int_equal(now_len, expected_len);
		assert_memory_equal(now, expected, now_len);
		free(now);
	}
	free(rec);
	free(expected);
	expected = snapshot_of(s, &expected_len);

	/* Capture, serialize, restore. */
	for (long n = 0;; n++) {
		alloc_fail_after(n);
		struct ha_state_frozen *f = ha_state_capture(s);
		uint8_t *buf = NULL;
		int rv = f == NULL ? -1 : ha_state_serialize(f, &buf, &len);
		ha_state_release(f);
		if (!alloc_fail_off()) {
			assert_int_equal(rv, 0);
			free(buf);
			break;
		}
		assert_int_equal(rv, -1);
	}
	for (long n = 0;; n++) {
		alloc_fail_after(n);
		int rv =
		    ha_state_restore_into(s, expected, expected_len, NULL, 0);
		if (!alloc_fail_off()) {
			assert_int_equal(rv, HA_SNAP_OK);
			break;
		}
		assert_int_equal(rv, HA_SNAP_ENOMEM);
		size_t now_len;
		uint8_t *now = snapshot_of(s, &now_len);
		assert_int_equal(now_len, expected_len);
		assert_memory_equal(now, expected, now_len);
		free(now);
	}
	free(expected);
	ha_state_free(s);
	for (long n = 0;; n++) {
		alloc_fail_after(n);
		s = ha_state_new(1);
		if (!alloc_fail_off())
			break;
		assert_null(s);
	}
	ha_state_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_apply),
	    cmocka_unit_test(test_apply_stops),
	    cmocka_unit_test(test_snapshot_bytes),
	    cmocka_unit_test(test_snapshot_round_trip),
	    cmocka_unit_test(test_capture_frozen),
	    cmocka_unit_test(test_serialize_while_applying),
	    cmocka_unit_test(test_snapshot_v1),
	    cmocka_unit_test(test_snapshot_refusals),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_out_of_memory),
	};
	return cmocka_run_group_tests_name("plugin state", tests, NULL, NULL);
}
