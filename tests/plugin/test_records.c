/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The record layer: formats byte for byte, round trips, every truncation
 * and every invalid field refused with the right result, the size limit on
 * both sides, the feature levels, and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/records.h"
#include "tests/plugin/alloc_fail.h"

static struct ha_bytes str(const char *s)
{
	return (struct ha_bytes){(const uint8_t *)s, strlen(s)};
}

static bool bytes_eq(struct ha_bytes a, const char *s)
{
	return a.len == strlen(s) && memcmp(a.data, s, a.len) == 0;
}

static const struct ha_user_property props[] = {
    {{(const uint8_t *)"k", 1}, {(const uint8_t *)"v", 1}},
};

/* The example of docs/records.md. */
static const uint8_t small_set[] = {
    0x03, 0x01,				     /* retained set, version 1 */
    0x03, 0x00,				     /* node 3 */
    0x09, 0,	0,    0,    0,	  0,   0, 0, /* incarnation */
    0x0a, 0,	0,    0,    0,	  0,   0, 0, /* captured at */
    0x01,				     /* QoS 1 */
    0,	  0,	0,    0,    0,	  0,   0, 0, /* never expires */
    0x03, 0x00, 'a',  '/',  'b',	     /* topic */
    0x01,				     /* flags: payload format */
    0x01,				     /* UTF-8 */
    0x01, 0x00, 0x00, 0x00,		     /* one user property */
    0x01, 0x00, 'k',  0x01, 0x00, 'v',	     /* k=v */
    0x02, 0x00, 0x00, 0x00, 'h',  'i',	     /* payload */
};

static struct ha_record small_set_record(void)
{
	struct ha_record r = {.type = HA_REC_TYPE_RETAIN_SET};
	struct ha_retain_set *m = &r.u.retain_set;
	m->origin = (struct ha_origin){3, 9, 10};
	m->topic = str("a/b");
	m->qos = 1;
	m->has_payload_format = true;
	m->payload_format = 1;
	m->user_properties = props;
	m->n_user_properties = 1;
	m->payload = str("hi");
	return r;
}

/* Encodes r, which must succeed. */
static uint8_t *encode_ok(const struct ha_record *r, size_t *len)
{
	uint8_t *buf = NULL;
	const char *why = NULL;
	int rv = ha_record_encode(r, &buf, len, &why);
	if (rv != HA_REC_OK)
		fail_msg("encode: %d %s", rv, why ? why : "");
	assert_int_equal(ha_record_encoded_size(r, NULL), *len);
	return buf;
}

/* Decodes buf, re-encodes it, and expects the same bytes. */
static void expect_round_trip(const uint8_t *buf, size_t len)
{
	struct ha_record d;
	size_t len2;
	int rv = ha_record_decode(buf, len, &d);
	if (rv != HA_REC_OK)
		fail_msg("decode: %d %s", rv, d.reason ? d.reason : "");
	uint8_t *again = encode_ok(&d, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);
	free(again);
}

static void expect_malformed(const uint8_t *buf, size_t len, const char *why)
{
	struct ha_record d;
	assert_int_equal(ha_record_decode(buf, len, &d), HA_REC_MALFORMED);
	assert_non_null(d.reason);
	if (why != NULL)
		assert_string_equal(d.reason, why);
}

static void test_delete_cluster(void **state)
{
	(void)state;
	struct ha_record d;
	const uint8_t legacy[] = {0x01};
	assert_int_equal(ha_record_decode(legacy, 1, &d), HA_REC_OK);
	assert_int_equal(d.type, HA_REC_TYPE_DELETE_CLUSTER);
	assert_true(d.legacy);

	struct ha_record r = {.type = HA_REC_TYPE_DELETE_CLUSTER};
	size_t len;
	uint8_t *buf = encode_ok(&r, &len);
	const uint8_t expected[] = {0x01, 0x01};
	assert_int_equal(len, 2);
	assert_memory_equal(buf, expected, 2);
	assert_int_equal(ha_record_decode(buf, len, &d), HA_REC_OK);
	assert_false(d.legacy);
	free(buf);

	const uint8_t trailing[] = {0x01, 0x01, 0x00};
	expect_malformed(trailing, 3, "bytes after the end of the record");
	const uint8_t v0[] = {0x01, 0x00};
	expect_malformed(v0, 2, "version 0");
	const uint8_t v2[] = {0x01, 0x02};
	assert_int_equal(ha_record_decode(v2, 2, &d), HA_REC_NEWER_VERSION);
	expect_malformed(NULL, 0, "empty record");
}

static void test_feature_level(void **state)
{
	(void)state;
	struct ha_record r = {.type = HA_REC_TYPE_FEATURE_LEVEL,
			      .u.feature_level = 0x01020304};
	size_t len;
	uint8_t *buf = encode_ok(&r, &len);
	/* Little-endian: the lowest byte first. */
	const uint8_t expected[] = {0x02, 0x01, 0x04, 0x03, 0x02, 0x01};
	assert_int_equal(len, sizeof(expected));
	assert_memory_equal(buf, expected, len);
	expect_round_trip(buf, len);
	for (size_t n = 1; n < len; n++)
		expect_malformed(buf, n, NULL);
	free(buf);

	const uint8_t zero[] = {0x02, 0x01, 0, 0, 0, 0};
	expect_malformed(zero, sizeof(zero), "feature level 0");
	const uint8_t newer[] = {0x02, 0x02, 1, 0, 0, 0, 0xff};
	struct ha_record d;
	assert_int_equal(ha_record_decode(newer, sizeof(newer), &d),
			 HA_REC_NEWER_VERSION);
	r.u.feature_level = 0;
	assert_int_equal(ha_record_encode(&r, &buf, &len, NULL),
			 HA_REC_MALFORMED);
}

static void test_retain_set_bytes(void **state)
{
	(void)state;
	struct ha_record r = small_set_record();
	size_t len;
	uint8_t *buf = encode_ok(&r, &len);
	assert_int_equal(len, sizeof(small_set));
	assert_memory_equal(buf, small_set, len);
	free(buf);

	struct ha_record d;
	assert_int_equal(ha_record_decode(small_set, sizeof(small_set), &d),
			 HA_REC_OK);
	const struct ha_retain_set *m = &d.u.retain_set;
	assert_int_equal(d.version, 1);
	assert_int_equal(m->origin.node_id, 3);
	assert_int_equal(m->origin.incarnation, 9);
	assert_int_equal(m->origin.captured_ms, 10);
	assert_int_equal(m->qos, 1);
	assert_int_equal(m->expiry_ms, 0);
	assert_true(bytes_eq(m->topic, "a/b"));
	assert_true(m->has_payload_format);
	assert_int_equal(m->payload_format, 1);
	assert_false(m->has_content_type);
	assert_false(m->has_response_topic);
	assert_false(m->has_correlation_data);
	assert_int_equal(m->n_user_properties, 1);
	assert_null(m->user_properties);
	assert_true(bytes_eq(m->payload, "hi"));
	/* Zero-copy: the fields point into the input. */
	assert_ptr_equal(m->topic.data, small_set + 31);
	assert_int_equal(ha_record_topic_offset(HA_REC_TYPE_RETAIN_SET), 31);
	expect_round_trip(small_set, sizeof(small_set));
}

static void test_retain_set_all_properties(void **state)
{
	(void)state;
	static const struct ha_user_property many[] = {
	    {{(const uint8_t *)"b", 1}, {(const uint8_t *)"2", 1}},
	    {{(const uint8_t *)"a", 1}, {(const uint8_t *)"1", 1}},
	    {{(const uint8_t *)"b", 1}, {(const uint8_t *)"", 0}},
	    {{(const uint8_t *)"", 0}, {(const uint8_t *)"\xc3\xa9", 2}},
	};
	const uint8_t corr[] = {0x00, 0xff, 0x00};
	struct ha_record r = {.type = HA_REC_TYPE_RETAIN_SET};
	struct ha_retain_set *m = &r.u.retain_set;
	m->origin = (struct ha_origin){65535, UINT64_MAX, 1700000000000ull};
	m->topic = str("sensors/\xe2\x82\xac/temp");
	m->qos = 2;
	m->expiry_ms = 1700000060000ull;
	m->has_payload_format = true;
	m->payload_format = 0;
	m->has_content_type = true;
	m->content_type = str("application/json");
	m->has_response_topic = true;
	m->response_topic = str("replies/x");
	m->has_correlation_data = true;
	m->correlation_data = (struct ha_bytes){corr, sizeof(corr)};
	m->user_properties = many;
	m->n_user_properties = 4;
	uint8_t payload[300];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	m->payload = (struct ha_bytes){payload, sizeof(payload)};

	size_t len;
	uint8_t *buf = encode_ok(&r, &len);
	/* The u64 times, lowest byte first. */
	const uint8_t captured_le[] = {0x00, 0x68, 0xe5, 0xcf,
				       0x8b, 0x01, 0x00, 0x00};
	const uint8_t expiry_le[] = {0x60, 0x52, 0xe6, 0xcf,
				     0x8b, 0x01, 0x00, 0x00};
	assert_memory_equal(buf + 12, captured_le, 8);
	assert_memory_equal(buf + 21, expiry_le, 8);
	struct ha_record d;
	assert_int_equal(ha_record_decode(buf, len, &d), HA_REC_OK);
	const struct ha_retain_set *o = &d.u.retain_set;
	assert_int_equal(o->origin.node_id, 65535);
	assert_true(o->origin.incarnation == UINT64_MAX);
	assert_true(o->expiry_ms == 1700000060000ull);
	assert_int_equal(o->qos, 2);
	assert_true(o->has_payload_format && o->payload_format == 0);
	assert_true(bytes_eq(o->content_type, "application/json"));
	assert_true(bytes_eq(o->response_topic, "replies/x"));
	assert_int_equal(o->correlation_data.len, 3);
	assert_memory_equal(o->correlation_data.data, corr, 3);
	assert_int_equal(o->payload.len, sizeof(payload));
	assert_memory_equal(o->payload.data, payload, sizeof(payload));
	/* User properties in order, repeats kept. */
	struct ha_bytes cursor = o->user_properties_raw;
	struct ha_user_property p;
	for (size_t i = 0; i < 4; i++) {
		assert_true(ha_user_property_next(&cursor, &p));
		assert_int_equal(p.name.len, many[i].name.len);
		assert_memory_equal(p.name.data, many[i].name.data, p.name.len);
		assert_int_equal(p.value.len, many[i].value.len);
		assert_memory_equal(p.value.data, many[i].value.data,
				    p.value.len);
	}
	assert_false(ha_user_property_next(&cursor, &p));
	expect_round_trip(buf, len);

	/* Every proper prefix is refused, and so is a byte more. */
	for (size_t n = 0; n < len; n++)
		expect_malformed(buf, n, NULL);
	uint8_t *longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	longer[len] = 0;
	expect_malformed(longer, len + 1, "bytes after the end of the record");
	free(longer);
	free(buf);
}

static void test_retain_set_minimal(void **state)
{
	(void)state;
	struct ha_record r = {.type = HA_REC_TYPE_RETAIN_SET};
	r.u.retain_set.topic = str("t");
	size_t len;
	uint8_t *buf = encode_ok(&r, &len);
	/* 2 + 18 origin + 1 qos + 8 expiry + 3 topic + 1 flags + 4 + 4 */
	assert_int_equal(len, 41);
	assert_int_equal(len, HA_RETAIN_SET_MIN_BYTES);
	expect_round_trip(buf, len);
	free(buf);
}

/* Encoding refuses each invalid field; decoding refuses the same bytes. */
static void expect_invalid(struct ha_record r, size_t patch_at,
			   const uint8_t *patch, size_t patch_len,
			   const char *why)
{
	const char *reason = NULL;
	uint8_t *buf;
	size_t len;
	assert_int_equal(ha_record_encode(&r, &buf, &len, &reason),
			 HA_REC_MALFORMED);
	assert_string_equal(reason, why);
	if (patch == NULL)
		return;
	/* The small record with bytes replaced. */
	uint8_t bad[sizeof(small_set)];
	memcpy(bad, small_set, sizeof(bad));
	memcpy(bad + patch_at, patch, patch_len);
	expect_malformed(bad, sizeof(bad), why);
}

static void test_retain_set_invalid(void **state)
{
	(void)state;
	struct ha_record r;
	const uint8_t qos3[] = {3};
	r = small_set_record();
	r.u.retain_set.qos = 3;
	expect_invalid(r, 20, qos3, 1, "QoS above 2");

	const uint8_t plus[] = {'+'}, hash[] = {'#'}, nul[] = {0},
		      bad_utf8[] = {0xc0}, pf2[] = {2};
	r = small_set_record();
	r.u.retain_set.topic = str("a/+");
	expect_invalid(r, 33, plus, 1, "invalid topic");
	r.u.retain_set.topic = str("a/#");
	expect_invalid(r, 33, hash, 1, "invalid topic");
	r.u.retain_set.topic = (struct ha_bytes){(const uint8_t *)"a\0b", 3};
	expect_invalid(r, 32, nul, 1, "invalid topic");
	r.u.retain_set.topic = str("a\xc0\x80");
	expect_invalid(r, 32, bad_utf8, 1, "invalid topic");
	r.u.retain_set.topic = str("");
	expect_invalid(r, 0, NULL, 0, "invalid topic");

	r = small_set_record();
	r.u.retain_set.payload_format = 2;
	expect_invalid(r, 35, pf2, 1, "payload format indicator above 1");
}

static void test_retain_set_invalid_properties(void **state)
{
	(void)state;
	struct ha_record r = small_set_record();
	const char *reason;
	uint8_t *buf;
	size_t len;

	r.u.retain_set.has_content_type = true;
	r.u.retain_set.content_type =
	    (struct ha_bytes){(const uint8_t *)"a\0", 2};
	assert_int_equal(ha_record_encode(&r, &buf, &len, &reason),
			 HA_REC_MALFORMED);
	assert_string_equal(reason, "invalid content type");

	r = small_set_record();
	r.u.retain_set.has_response_topic = true;
	r.u.retain_set.response_topic = str("r/#");
	assert_int_equal(ha_record_encode(&r, &buf, &len, &reason),
			 HA_REC_MALFORMED);
	assert_string_equal(reason, "invalid response topic");

	static const struct ha_user_property surrogate[] = {
	    {{(const uint8_t *)"\xed\xa0\x80", 3}, {(const uint8_t *)"", 0}},
	};
	r = small_set_record();
	r.u.retain_set.user_properties = surrogate;
	assert_int_equal(ha_record_encode(&r, &buf, &len, &reason),
			 HA_REC_MALFORMED);
	assert_string_equal(reason, "invalid user property");

	/* A raw list whose count does not match. */
	r = small_set_record();
	r.u.retain_set.user_properties = NULL;
	r.u.retain_set.user_properties_raw =
	    (struct ha_bytes){small_set + 40, 6};
	r.u.retain_set.n_user_properties = 2;
	assert_int_equal(ha_record_encode(&r, &buf, &len, &reason),
			 HA_REC_MALFORMED);
	r.u.retain_set.n_user_properties = 1;
	assert_int_equal(ha_record_encode(&r, &buf, &len, &reason), HA_REC_OK);
	assert_int_equal(len, sizeof(small_set));
	assert_memory_equal(buf, small_set, len);
	free(buf);

	/* Decoding: unknown flag bits, a count larger than the list. */
	uint8_t bad[sizeof(small_set)];
	memcpy(bad, small_set, sizeof(bad));
	bad[34] = 0x11;
	expect_malformed(bad, sizeof(bad), "unknown property flags");
	memcpy(bad, small_set, sizeof(bad));
	bad[36] = 0x10; /* a count of 16 */
	expect_malformed(bad, sizeof(bad),
			 "invalid or truncated user property");
	memcpy(bad, small_set, sizeof(bad));
	bad[42] = 0; /* the name "k" becomes NUL */
	expect_malformed(bad, sizeof(bad),
			 "invalid or truncated user property");
}

static void test_retain_delete(void **state)
{
	(void)state;
	struct ha_record r = {.type = HA_REC_TYPE_RETAIN_DELETE};
	r.u.retain_delete.origin = (struct ha_origin){1, 2, 3};
	r.u.retain_delete.topic = str("x/y");
	size_t len;
	uint8_t *buf = encode_ok(&r, &len);
	const uint8_t expected[] = {0x04, 0x01, 1, 0, 2,   0,	0,  0, 0,
				    0,	  0,	0, 3, 0,   0,	0,  0, 0,
				    0,	  0,	3, 0, 'x', '/', 'y'};
	assert_int_equal(len, sizeof(expected));
	assert_memory_equal(buf, expected, len);
	assert_int_equal(ha_record_topic_offset(HA_REC_TYPE_RETAIN_DELETE),
			 len - 3);
	expect_round_trip(buf, len);
	for (size_t n = 0; n < len; n++)
		expect_malformed(buf, n, NULL);
	free(buf);
	r.u.retain_delete.topic = str("x/+");
	assert_int_equal(ha_record_encode(&r, &buf, &len, NULL),
			 HA_REC_MALFORMED);
}

/* The whole record may be HA_RECORD_MAX bytes, not one more. */
static void test_size_limit(void **state)
{
	(void)state;
	struct ha_record r = {.type = HA_REC_TYPE_RETAIN_SET};
	r.u.retain_set.topic = str("t");
	size_t overhead = 41;
	uint8_t *payload = calloc(1, HA_RECORD_MAX);
	assert_non_null(payload);
	r.u.retain_set.payload =
	    (struct ha_bytes){payload, HA_RECORD_MAX - overhead};
	size_t len;
	uint8_t *buf = encode_ok(&r, &len);
	assert_int_equal(len, HA_RECORD_MAX);
	struct ha_record d;
	assert_int_equal(ha_record_decode(buf, len, &d), HA_REC_OK);
	free(buf);

	r.u.retain_set.payload.len++;
	assert_int_equal(ha_record_encoded_size(&r, NULL), HA_RECORD_MAX + 1);
	const char *why;
	assert_int_equal(ha_record_encode(&r, &buf, &len, &why),
			 HA_REC_TOO_BIG);
	/* A huge length does not wrap around. */
	r.u.retain_set.payload.len = SIZE_MAX - 10;
	assert_true(ha_record_encoded_size(&r, NULL) > HA_RECORD_MAX);

	uint8_t *big = calloc(1, HA_RECORD_MAX + 1);
	assert_non_null(big);
	big[0] = HA_REC_TYPE_RETAIN_SET;
	big[1] = 1;
	expect_malformed(big, HA_RECORD_MAX + 1,
			 "larger than the maximum record size");
	free(big);
	free(payload);
}

static void test_unknown_types(void **state)
{
	(void)state;
	struct ha_record d;
	for (unsigned t = 0; t < 256; t++) {
		if ((t >= 1 && t <= 4) || t == HA_REC_TYPE_ACCESS_CONTROL)
			continue;
		uint8_t rec[] = {(uint8_t)t, 1, 0xaa};
		assert_int_equal(ha_record_decode(rec, sizeof(rec), &d),
				 HA_REC_UNKNOWN_TYPE);
		assert_int_equal(ha_record_decode(rec, 1, &d),
				 HA_REC_UNKNOWN_TYPE);
	}
	char line[200];
	const uint8_t session[] = {5, 1, 0};
	int rv = ha_record_decode(session, sizeof(session), &d);
	ha_record_describe(rv, session, sizeof(session), &d, 12, line,
			   sizeof(line));
	assert_string_equal(line, "record type 5 (session) version 1 at index "
				  "12 needs a newer mosquitto_ha on this node");
	const uint8_t newer[] = {3, 7};
	rv = ha_record_decode(newer, sizeof(newer), &d);
	assert_int_equal(rv, HA_REC_NEWER_VERSION);
	ha_record_describe(rv, newer, sizeof(newer), &d, 99, line,
			   sizeof(line));
	assert_string_equal(line,
			    "record type 3 (retained message set) version 7 at "
			    "index 99 needs a newer mosquitto_ha on this node");
	const uint8_t bad[] = {3, 1, 0};
	rv = ha_record_decode(bad, sizeof(bad), &d);
	ha_record_describe(rv, bad, sizeof(bad), &d, 5, line, sizeof(line));
	assert_string_equal(line, "record type 3 (retained message set) at "
				  "index 5 is malformed: retained message "
				  "truncated");

	struct ha_record w = {.type = HA_REC_TYPE_SESSION};
	uint8_t *buf;
	size_t len;
	assert_int_equal(ha_record_encode(&w, &buf, &len, NULL),
			 HA_REC_UNKNOWN_TYPE);
}

/* Type 10: this layer checks the framing and hands the body on as it is
 * (the dynsec decoder reads it on apply: test_state_dynsec.c). */
static void test_access_control_framing(void **state)
{
	(void)state;
	struct ha_record d;
	const uint8_t create_role[] = {0x0a, 0x01, 0x13, 0x04,
				       0x00, 0x01, 0x00, 0x72};
	assert_int_equal(ha_record_decode(create_role, sizeof(create_role), &d),
			 HA_REC_OK);
	assert_int_equal(d.type, HA_REC_TYPE_ACCESS_CONTROL);
	assert_int_equal(d.version, 1);
	assert_int_equal(d.u.access_control.len, sizeof(create_role) - 2);
	assert_ptr_equal(d.u.access_control.data, create_role + 2);
	uint8_t *buf;
	size_t len;
	assert_int_equal(ha_record_encode(&d, &buf, &len, NULL), HA_REC_OK);
	assert_int_equal(len, sizeof(create_role));
	assert_memory_equal(buf, create_role, len);
	free(buf);

	const uint8_t newer[] = {0x0a, 0x02, 0x13};
	char line[200];
	int rv = ha_record_decode(newer, sizeof(newer), &d);
	assert_int_equal(rv, HA_REC_NEWER_VERSION);
	ha_record_describe(rv, newer, sizeof(newer), &d, 7, line, sizeof(line));
	assert_string_equal(line, "record type 10 (access-control data) "
				  "version 2 at index 7 needs a newer "
				  "mosquitto_ha on this node");
	const uint8_t version0[] = {0x0a, 0x00};
	expect_malformed(version0, sizeof(version0), "version 0");
	const uint8_t no_version[] = {0x0a};
	expect_malformed(no_version, sizeof(no_version), "no version byte");

	struct ha_record w = {.type = HA_REC_TYPE_ACCESS_CONTROL};
	w.u.access_control.len = 3; /* no data */
	assert_int_equal(ha_record_encode(&w, &buf, &len, NULL),
			 HA_REC_MALFORMED);
}

static void test_levels(void **state)
{
	(void)state;
	assert_true(ha_record_writable(HA_REC_TYPE_DELETE_CLUSTER, 1));
	assert_false(ha_record_writable(HA_REC_TYPE_RETAIN_SET, 1));
	assert_false(ha_record_writable(HA_REC_TYPE_RETAIN_DELETE, 1));
	assert_false(ha_record_writable(HA_REC_TYPE_FEATURE_LEVEL, 1));
	assert_true(ha_record_writable(HA_REC_TYPE_RETAIN_SET, 2));
	assert_true(ha_record_writable(HA_REC_TYPE_RETAIN_DELETE, 2));
	/* Access control from level 3: not at 2, at 3 and above. */
	assert_int_equal(ha_record_type_level(HA_REC_TYPE_ACCESS_CONTROL), 3);
	assert_false(ha_record_writable(HA_REC_TYPE_ACCESS_CONTROL, 2));
	assert_true(ha_record_writable(HA_REC_TYPE_ACCESS_CONTROL, 3));
	assert_true(ha_record_writable(HA_REC_TYPE_ACCESS_CONTROL, UINT32_MAX));
	assert_int_equal(HA_FEATURE_LEVEL_MAX, 3);
	for (unsigned t = HA_REC_TYPE_SESSION; t <= HA_REC_TYPE_WILL; t++)
		assert_false(ha_record_writable((uint8_t)t, UINT32_MAX));
	for (unsigned t = 0; t < 256; t++)
		assert_true(ha_record_type_level((uint8_t)t) <=
			    HA_FEATURE_LEVEL_MAX);
}

static void test_utf8(void **state)
{
	(void)state;
	struct {
		const char *s;
		bool ok;
	} cases[] = {
	    {"plain", true},
	    {"\xc3\xa9", true},
	    {"\xe2\x82\xac", true},
	    {"\xf0\x9f\x98\x80", true},
	    {"\xf4\x8f\xbf\xbf", true},	 /* U+10FFFF */
	    {"\xf4\x90\x80\x80", false}, /* above U+10FFFF */
	    {"\xc0\xaf", false},	 /* overlong */
	    {"\xe0\x80\xaf", false},	 /* overlong */
	    {"\xed\xa0\x80", false},	 /* surrogate */
	    {"\xc3", false},		 /* truncated */
	    {"\x80", false},		 /* continuation first */
	    {"\xff", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(ha_utf8_valid((const uint8_t *)cases[i].s,
					       strlen(cases[i].s)),
				 cases[i].ok);
	assert_false(ha_utf8_valid((const uint8_t *)"a\0b", 3));
}

static void test_encode_out_of_memory(void **state)
{
	(void)state;
	struct ha_record r = small_set_record();
	uint8_t *buf;
	size_t len;
	alloc_fail_after(0);
	int rv = ha_record_encode(&r, &buf, &len, NULL);
	assert_true(alloc_fail_off());
	assert_int_equal(rv, HA_REC_ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_delete_cluster),
	    cmocka_unit_test(test_feature_level),
	    cmocka_unit_test(test_retain_set_bytes),
	    cmocka_unit_test(test_retain_set_all_properties),
	    cmocka_unit_test(test_retain_set_minimal),
	    cmocka_unit_test(test_retain_set_invalid),
	    cmocka_unit_test(test_retain_set_invalid_properties),
	    cmocka_unit_test(test_retain_delete),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_unknown_types),
	    cmocka_unit_test(test_access_control_framing),
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_encode_out_of_memory),
	};
	return cmocka_run_group_tests_name("plugin records", tests, NULL, NULL);
}
