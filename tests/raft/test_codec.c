/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Unit tests of the wire encoding (raft/codec.c): round trips of every
 * message type, the exact byte layout, the limits, and that every truncated,
 * corrupted or absurd input is refused without a crash, a leak or an
 * allocation driven by an unchecked length.
 *
 * malloc and calloc are wrapped at link time (-Wl,--wrap=...) so that the
 * tests can count the codec's allocations and make any one of them fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raft/codec.h"
#include "tests/raft/codec_samples.h"

/* ---- allocation control ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);

static unsigned alloc_count;   /* allocations seen since the last reset */
static unsigned alloc_fail_at; /* 1-based allocation to fail; 0: none */

static bool alloc_should_fail(void)
{
	alloc_count++;
	return alloc_fail_at != 0 && alloc_count == alloc_fail_at;
}

void *__wrap_malloc(size_t size)
{
	return alloc_should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return alloc_should_fail() ? NULL : __real_calloc(n, size);
}

static void alloc_reset(unsigned fail_at)
{
	alloc_count = 0;
	alloc_fail_at = fail_at;
}

/* ---- helpers ---- */

static const struct codec_sample *samples;
static size_t n_samples;

static int setup(void **state)
{
	(void)state;
	n_samples = codec_samples(&samples);
	return 0;
}

/* Encodes m into a fresh buffer of exactly its size. */
static uint8_t *encode(const struct raft_message *m, size_t *len)
{
	*len = raft_codec_message_size(m);
	assert_true(*len >= RAFT_CODEC_HEADER_BYTES);
	assert_true(*len <= RAFT_CODEC_MAX_MESSAGE_BYTES);
	uint8_t *buf = malloc(*len);
	assert_non_null(buf);
	assert_int_equal(raft_codec_encode_message(m, buf, *len),
			 RAFT_CODEC_OK);
	return buf;
}

static bool is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* Decodes buf, expecting rv; on failure the output must be untouched zeros
 * and no allocation may be left behind (the leak checker sees to that). */
static void expect_decode(const uint8_t *buf, size_t len, int rv)
{
	struct raft_message m;
	memset(&m, 0xa5, sizeof(m));
	int got = raft_codec_decode_message(buf, len, &m);
	assert_int_equal(got, rv);
	if (got != RAFT_CODEC_OK)
		assert_true(is_zero(&m, sizeof(m)));
	raft_codec_message_free(&m);
}

/* Little-endian writers for hand-made inputs. */
static size_t le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return (size_t)n;
}

static size_t header(uint8_t *p, uint8_t type)
{
	size_t n = 0;
	p[n++] = RAFT_CODEC_FORMAT;
	p[n++] = type;
	p[n++] = 1;
	n += le(p + n, 1, 4);
	n += le(p + n, 2, 4);
	n += le(p + n, 9, 8);
	return n;
}

/* ---- round trips ---- */

static void test_round_trip_every_type(void **state)
{
	(void)state;
	bool seen[RAFT_MSG_TYPE_MAX + 1] = {false};
	for (size_t i = 0; i < n_samples; i++) {
		const struct raft_message *in = &samples[i].m;
		size_t len;
		uint8_t *buf = encode(in, &len);
		struct raft_message out;
		assert_int_equal(raft_codec_decode_message(buf, len, &out),
				 RAFT_CODEC_OK);
		if (!codec_messages_equal(in, &out))
			fail_msg("sample %s changed in a round trip",
				 samples[i].name);
		/* The copies do not point into the input. */
		memset(buf, 0, len);
		assert_true(codec_messages_equal(in, &out));
		size_t len2;
		uint8_t *buf2 = encode(&out, &len2);
		assert_int_equal(len2, len);
		raft_codec_encode_message(in, buf, len);
		assert_memory_equal(buf, buf2, len);
		raft_codec_message_free(&out);
		assert_true(is_zero(&out, sizeof(out)));
		free(buf2);
		free(buf);
		seen[in->type] = true;
	}
	for (int t = 1; t <= RAFT_MSG_TYPE_MAX; t++)
		if (!seen[t])
			fail_msg("no sample of message type %d", t);
}

/* The layout of docs/raft-encoding.md, byte by byte. */
static void test_exact_layout(void **state)
{
	(void)state;
	struct raft_message m = {.type = RAFT_MSG_VOTE,
				 .version = 1,
				 .from = 0x0102,
				 .to = 3,
				 .term = 0x1122334455667788ull,
				 .index = 5,
				 .hint_term = 0x0a0b,
				 .transfer = 1};
	/* clang-format off */
	const uint8_t want[] = {
		1, RAFT_MSG_VOTE, 1,                    /* format, type, version */
		0x02, 0x01, 0, 0,                       /* from */
		3, 0, 0, 0,                             /* to */
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* term */
		5, 0, 0, 0, 0, 0, 0, 0,                 /* index */
		0x0b, 0x0a, 0, 0, 0, 0, 0, 0,           /* hint_term */
		1,                                      /* transfer */
	};
	/* clang-format on */
	uint8_t buf[sizeof(want)];
	assert_int_equal(raft_codec_message_size(&m), sizeof(want));
	assert_int_equal(raft_codec_encode_message(&m, buf, sizeof(buf)),
			 RAFT_CODEC_OK);
	assert_memory_equal(buf, want, sizeof(want));

	struct raft_entry e = {.term = 2,
			       .index = 3,
			       .type = 4,
			       .version = 5,
			       .len = 2,
			       .data = (uint8_t[]){0xee, 0xff}};
	/* clang-format off */
	const uint8_t want_entry[] = {
		2, 0, 0, 0, 0, 0, 0, 0, /* term */
		3, 0, 0, 0, 0, 0, 0, 0, /* index */
		4, 5,                   /* type, version */
		2, 0, 0, 0,             /* len */
		0xee, 0xff,
	};
	/* clang-format on */
	uint8_t ebuf[sizeof(want_entry)];
	assert_int_equal(raft_codec_entry_size(&e), sizeof(want_entry));
	assert_int_equal(raft_codec_entry_encode(&e, ebuf, sizeof(ebuf)),
			 RAFT_CODEC_OK);
	assert_memory_equal(ebuf, want_entry, sizeof(want_entry));
}

/* An APPEND at both limits at once is exactly the stated maximum size, and
 * one byte or one entry more is refused by both sides. */
static void test_largest_append(void **state)
{
	(void)state;
	const uint32_t n = RAFT_CODEC_MAX_ENTRIES;
	const uint32_t each = RAFT_CODEC_MAX_PAYLOAD / n;
	uint8_t *payload = malloc(RAFT_CODEC_MAX_PAYLOAD);
	struct raft_entry *e = calloc(n + 1, sizeof(*e));
	assert_non_null(payload);
	assert_non_null(e);
	for (uint32_t i = 0; i < RAFT_CODEC_MAX_PAYLOAD; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	for (uint32_t i = 0; i <= n; i++)
		e[i] = (struct raft_entry){.term = 3,
					   .index = 11 + i,
					   .type = RAFT_ENTRY_COMMAND,
					   .version = 1,
					   .len = each,
					   .data = payload +
						   (size_t)(i % n) * each};
	struct raft_message m = {.type = RAFT_MSG_APPEND,
				 .version = 1,
				 .from = 1,
				 .to = 2,
				 .term = 3,
				 .prev_index = 10,
				 .prev_term = 3,
				 .n_entries = n,
				 .entries = e};
	size_t len;
	uint8_t *buf = encode(&m, &len);
	assert_int_equal(len, RAFT_CODEC_MAX_MESSAGE_BYTES);
	struct raft_message out;
	assert_int_equal(raft_codec_decode_message(buf, len, &out),
			 RAFT_CODEC_OK);
	assert_true(codec_messages_equal(&m, &out));
	raft_codec_message_free(&out);
	free(buf);

	/* One byte over the payload limit. */
	e[n - 1].len++;
	e[n - 1].data = payload + (size_t)(n - 2) * each;
	assert_int_equal(raft_codec_message_size(&m), 0);
	e[n - 1].len--;
	/* One entry over the count limit. */
	m.n_entries = n + 1;
	assert_int_equal(raft_codec_message_size(&m), 0);

	/* The decoder refuses the same, from hand-made bytes. */
	size_t big = RAFT_CODEC_HEADER_BYTES + RAFT_CODEC_APPEND_FIXED_BYTES +
		     2 * RAFT_CODEC_ENTRY_HEADER_BYTES +
		     RAFT_CODEC_MAX_PAYLOAD + 1;
	uint8_t *p = calloc(1, big);
	assert_non_null(p);
	size_t k = header(p, RAFT_MSG_APPEND);
	k += le(p + k, 10, 8);
	k += 24; /* prev_term, commit, round */
	k += le(p + k, 2, 4);
	for (uint32_t i = 0; i < 2; i++) {
		uint32_t elen = i == 0 ? RAFT_CODEC_MAX_PAYLOAD / 2
				       : RAFT_CODEC_MAX_PAYLOAD / 2 + 1;
		k += le(p + k, 3, 8);
		k += le(p + k, 11 + i, 8);
		p[k++] = RAFT_ENTRY_COMMAND;
		p[k++] = 1;
		k += le(p + k, elen, 4);
		k += elen;
	}
	assert_int_equal(k, big);
	alloc_reset(0);
	expect_decode(p, big, RAFT_CODEC_ETOOBIG);
	/* Without the extra byte it is fine. */
	le(p + k - RAFT_CODEC_MAX_PAYLOAD / 2 - 1 - 4,
	   RAFT_CODEC_MAX_PAYLOAD / 2, 4);
	expect_decode(p, big - 1, RAFT_CODEC_OK);
	free(p);
	free(e);
	free(payload);
}

/* A single entry of RAFT_MAX_ENTRY_BYTES travels; one byte more does not. */
static void test_largest_entry(void **state)
{
	(void)state;
	uint8_t *payload = calloc(1, RAFT_MAX_ENTRY_BYTES + 1);
	assert_non_null(payload);
	payload[0] = 1;
	payload[RAFT_MAX_ENTRY_BYTES - 1] = 2;
	struct raft_entry e = {.term = 1,
			       .index = 1,
			       .type = RAFT_ENTRY_COMMAND,
			       .version = 1,
			       .len = RAFT_MAX_ENTRY_BYTES,
			       .data = payload};
	struct raft_message m = {.type = RAFT_MSG_APPEND,
				 .version = 1,
				 .from = 3,
				 .to = 4,
				 .term = 1,
				 .n_entries = 1,
				 .entries = &e};
	size_t len;
	uint8_t *buf = encode(&m, &len);
	struct raft_message out;
	assert_int_equal(raft_codec_decode_message(buf, len, &out),
			 RAFT_CODEC_OK);
	assert_true(codec_messages_equal(&m, &out));
	raft_codec_message_free(&out);

	size_t elen = raft_codec_entry_size(&e);
	struct raft_entry back;
	assert_int_equal(raft_codec_entry_encode(&e, buf, elen), RAFT_CODEC_OK);
	assert_int_equal(raft_codec_entry_decode(buf, elen, &back, NULL),
			 RAFT_CODEC_OK);
	assert_int_equal(back.len, RAFT_MAX_ENTRY_BYTES);
	assert_memory_equal(back.data, payload, RAFT_MAX_ENTRY_BYTES);
	raft_codec_entry_free(&back);
	free(buf);

	e.len++;
	assert_int_equal(raft_codec_message_size(&m), 0);
	uint8_t tmp[64];
	assert_int_equal(raft_codec_entry_encode(&e, tmp, sizeof(tmp)),
			 RAFT_CODEC_EINVAL);
	free(payload);
}

/* ---- malformed input ---- */

static void test_every_truncation_rejected(void **state)
{
	(void)state;
	for (size_t i = 0; i < n_samples; i++) {
		size_t len;
		uint8_t *buf = encode(&samples[i].m, &len);
		for (size_t cut = 0; cut < len; cut++) {
			/* A copy of exactly `cut` bytes, so that the sanitizer
			 * catches a read past its end. */
			uint8_t *part = malloc(cut ? cut : 1);
			assert_non_null(part);
			memcpy(part, buf, cut);
			expect_decode(part, cut, RAFT_CODEC_ETRUNCATED);
			free(part);
		}
		free(buf);
	}
}

static bool known_error(int rv)
{
	return rv == RAFT_CODEC_ETRUNCATED || rv == RAFT_CODEC_ETRAILING ||
	       rv == RAFT_CODEC_EFORMAT || rv == RAFT_CODEC_ETYPE ||
	       rv == RAFT_CODEC_ETOOBIG || rv == RAFT_CODEC_EFIELD ||
	       rv == RAFT_CODEC_ECONFIG;
}

/* Every byte of every sample, replaced by every other value: the result is
 * refused with a decoding error, or it decodes to a message whose encoding
 * is exactly the corrupted input (the encoding is canonical). */
static void test_every_corruption_safe(void **state)
{
	(void)state;
	unsigned accepted = 0, refused = 0;
	for (size_t i = 0; i < n_samples; i++) {
		size_t len;
		uint8_t *buf = encode(&samples[i].m, &len);
		uint8_t *copy = malloc(len);
		uint8_t *again = malloc(len);
		assert_non_null(copy);
		assert_non_null(again);
		memcpy(copy, buf, len);
		for (size_t pos = 0; pos < len; pos++) {
			for (unsigned x = 1; x < 256; x++) {
				copy[pos] = buf[pos] ^ (uint8_t)x;
				struct raft_message m;
				int rv =
				    raft_codec_decode_message(copy, len, &m);
				if (rv != RAFT_CODEC_OK) {
					if (!known_error(rv))
						fail_msg(
						    "%s: byte %zu ^ %u: %d",
						    samples[i].name, pos, x,
						    rv);
					refused++;
					continue;
				}
				accepted++;
				assert_int_equal(raft_codec_message_size(&m),
						 len);
				assert_int_equal(
				    raft_codec_encode_message(&m, again, len),
				    RAFT_CODEC_OK);
				if (memcmp(again, copy, len) != 0)
					fail_msg("%s: byte %zu ^ %u re-encodes "
						 "differently",
						 samples[i].name, pos, x);
				raft_codec_message_free(&m);
			}
			copy[pos] = buf[pos];
		}
		free(again);
		free(copy);
		free(buf);
	}
	/* Both outcomes happen: field values change, structure breaks. */
	assert_true(accepted > 0);
	assert_true(refused > 0);
}

static void test_trailing_bytes_rejected(void **state)
{
	(void)state;
	for (size_t i = 0; i < n_samples; i++) {
		size_t len;
		uint8_t *buf = encode(&samples[i].m, &len);
		uint8_t *longer = malloc(len + 8);
		assert_non_null(longer);
		memcpy(longer, buf, len);
		memset(longer + len, 0, 8);
		for (size_t extra = 1; extra <= 8; extra++)
			expect_decode(longer, len + extra,
				      RAFT_CODEC_ETRAILING);
		free(longer);
		free(buf);
	}
}

/* Unknown formats and types are refused with their own codes, before any
 * other field is read. */
static void test_unknown_format_and_type(void **state)
{
	(void)state;
	uint8_t p[64];
	size_t n = header(p, RAFT_MSG_TIMEOUT_NOW);
	expect_decode(p, n, RAFT_CODEC_OK);

	const uint8_t formats[] = {0, RAFT_VERSION_MAX + 1, 0x7f, 0xff};
	for (size_t i = 0; i < sizeof(formats); i++) {
		p[0] = formats[i];
		expect_decode(p, n, RAFT_CODEC_EFORMAT);
		expect_decode(p, 1, RAFT_CODEC_EFORMAT);
	}
	p[0] = RAFT_CODEC_FORMAT;
	const uint8_t types[] = {0, RAFT_MSG_TYPE_MAX + 1, 0x80, 0xff};
	for (size_t i = 0; i < sizeof(types); i++) {
		p[1] = types[i];
		expect_decode(p, n, RAFT_CODEC_ETYPE);
		expect_decode(p, 2, RAFT_CODEC_ETYPE);
	}
	assert_int_not_equal(RAFT_CODEC_EFORMAT, RAFT_CODEC_ETYPE);

	/* Any advertised version decodes: that is how peers learn it. */
	p[1] = RAFT_MSG_TIMEOUT_NOW;
	for (unsigned v = 0; v < 256; v++) {
		struct raft_message m;
		p[2] = (uint8_t)v;
		assert_int_equal(raft_codec_decode_message(p, n, &m),
				 RAFT_CODEC_OK);
		assert_int_equal(m.version, v);
		raft_codec_message_free(&m);
	}
}

static void test_bad_fields_rejected(void **state)
{
	(void)state;
	uint8_t p[128];
	size_t n = header(p, RAFT_MSG_VOTE_RESP);
	p[n] = 2; /* reject is 0 or 1 */
	expect_decode(p, n + 1, RAFT_CODEC_EFIELD);
	p[n] = 1;
	expect_decode(p, n + 1, RAFT_CODEC_OK);

	/* Node ids: 0 is nobody, and above RAFT_MAX_NODE_ID is no one. */
	const uint32_t bad_ids[] = {0, RAFT_MAX_NODE_ID + 1, UINT32_MAX};
	for (size_t i = 0; i < 3; i++) {
		le(p + 3, bad_ids[i], 4);
		expect_decode(p, n + 1, RAFT_CODEC_EFIELD);
		le(p + 3, 1, 4);
		le(p + 7, bad_ids[i], 4);
		expect_decode(p, n + 1, RAFT_CODEC_EFIELD);
		le(p + 7, 2, 4);
	}

	/* An APPEND whose entry does not follow prev_index. */
	n = header(p, RAFT_MSG_APPEND);
	size_t at_prev = n;
	n += le(p + n, 5, 8); /* prev_index */
	n += le(p + n, 1, 8); /* prev_term */
	n += le(p + n, 0, 8); /* commit */
	n += le(p + n, 0, 8); /* round */
	n += le(p + n, 1, 4);
	size_t at_index = n + 8;
	n += le(p + n, 1, 8);
	n += le(p + n, 6, 8);
	p[n++] = RAFT_ENTRY_NOOP;
	p[n++] = 1;
	n += le(p + n, 0, 4);
	expect_decode(p, n, RAFT_CODEC_OK);
	le(p + at_index, 7, 8);
	expect_decode(p, n, RAFT_CODEC_EFIELD);
	le(p + at_index, 5, 8);
	expect_decode(p, n, RAFT_CODEC_EFIELD);
	le(p + at_index, 6, 8);
	/* Entry version 0 was never written by anyone. */
	p[at_index + 9] = 0;
	expect_decode(p, n, RAFT_CODEC_EFIELD);
	p[at_index + 9] = 1;
	/* An entry past the largest index cannot follow anything. */
	le(p + at_prev, UINT64_MAX, 8);
	le(p + at_index, 0, 8);
	expect_decode(p, n, RAFT_CODEC_EFIELD);

	/* A snapshot whose configuration does not decode. */
	struct raft_config c;
	codec_sample_config(&c, 2, false);
	struct raft_message m = {.type = RAFT_MSG_SNAPSHOT,
				 .version = 1,
				 .from = 1,
				 .to = 2,
				 .term = 1,
				 .snap_index = 9,
				 .snap_term = 1,
				 .config = &c};
	size_t len;
	uint8_t *buf = encode(&m, &len);
	expect_decode(buf, len, RAFT_CODEC_OK);
	size_t cfg_at = RAFT_CODEC_HEADER_BYTES + 6 * 8 + 1 + 2;
	buf[cfg_at] = 9; /* the configuration's own format byte */
	expect_decode(buf, len, RAFT_CODEC_ECONFIG);
	free(buf);
	c.servers[1].id = c.servers[0].id; /* duplicate id */
	buf = encode(&m, &len);
	expect_decode(buf, len, RAFT_CODEC_ECONFIG);
	free(buf);
}

/* Lengths and counts far beyond the input are refused before anything is
 * allocated. */
static void test_absurd_lengths_do_not_allocate(void **state)
{
	(void)state;
	uint8_t p[256];
	size_t n;

	/* Entry count over the limit, and within it but beyond the input. */
	const uint32_t counts[] = {UINT32_MAX, RAFT_CODEC_MAX_ENTRIES + 1,
				   RAFT_CODEC_MAX_ENTRIES, 2};
	const int count_rv[] = {RAFT_CODEC_ETOOBIG, RAFT_CODEC_ETOOBIG,
				RAFT_CODEC_ETRUNCATED, RAFT_CODEC_ETRUNCATED};
	for (size_t i = 0; i < 4; i++) {
		n = header(p, RAFT_MSG_APPEND);
		memset(p + n, 0, 32);
		n += 32;
		n += le(p + n, counts[i], 4);
		memset(p + n, 0, RAFT_CODEC_ENTRY_HEADER_BYTES);
		n += RAFT_CODEC_ENTRY_HEADER_BYTES;
		alloc_reset(0);
		expect_decode(p, n, count_rv[i]);
		assert_int_equal(alloc_count, 0);
	}

	/* Entry lengths: over the limit, and within it but beyond the input. */
	const uint32_t lens[] = {UINT32_MAX, RAFT_MAX_ENTRY_BYTES + 1,
				 RAFT_MAX_ENTRY_BYTES, 1000};
	const int len_rv[] = {RAFT_CODEC_ETOOBIG, RAFT_CODEC_ETOOBIG,
			      RAFT_CODEC_ETRUNCATED, RAFT_CODEC_ETRUNCATED};
	for (size_t i = 0; i < 4; i++) {
		uint8_t e[RAFT_CODEC_ENTRY_HEADER_BYTES + 10] = {0};
		e[8] = 1;  /* index */
		e[17] = 1; /* version */
		le(e + 18, lens[i], 4);
		alloc_reset(0);
		struct raft_entry out;
		assert_int_equal(
		    raft_codec_entry_decode(e, sizeof(e), &out, NULL),
		    len_rv[i]);
		assert_int_equal(alloc_count, 0);
		assert_null(out.data);
		size_t used = 99;
		assert_int_equal(
		    raft_codec_entry_decode(e, sizeof(e), &out, &used),
		    len_rv[i]);
		assert_int_equal(used, 99);

		/* The same entry inside an APPEND: the entries array is the
		 * only allocation, and it is freed. */
		n = header(p, RAFT_MSG_APPEND);
		memset(p + n, 0, 32);
		n += 32;
		n += le(p + n, 1, 4);
		memcpy(p + n, e, sizeof(e));
		n += sizeof(e);
		alloc_reset(0);
		expect_decode(p, n, len_rv[i]);
		assert_int_equal(alloc_count, 1);
	}

	/* Snapshot: a configuration length over the largest configuration,
	 * and a chunk length over the limit or beyond the input. */
	struct raft_config c;
	codec_sample_config(&c, 1, false);
	struct raft_message m = {.type = RAFT_MSG_SNAPSHOT,
				 .version = 1,
				 .from = 1,
				 .to = 2,
				 .term = 1,
				 .config = &c};
	size_t len;
	uint8_t *buf = encode(&m, &len);
	size_t clen_at = RAFT_CODEC_HEADER_BYTES + 6 * 8 + 1;
	size_t len_at = len - 4;
	const uint16_t clens[] = {UINT16_MAX, RAFT_CODEC_CONFIG_MAX_BYTES + 1};
	for (size_t i = 0; i < 2; i++) {
		uint16_t old = (uint16_t)(buf[clen_at] | buf[clen_at + 1] << 8);
		le(buf + clen_at, clens[i], 2);
		alloc_reset(0);
		expect_decode(buf, len, RAFT_CODEC_ETOOBIG);
		assert_int_equal(alloc_count, 0);
		le(buf + clen_at, old, 2);
	}
	const uint32_t chunk_lens[] = {UINT32_MAX, RAFT_CODEC_MAX_PAYLOAD + 1,
				       RAFT_CODEC_MAX_PAYLOAD, 1};
	const int chunk_rv[] = {RAFT_CODEC_ETOOBIG, RAFT_CODEC_ETOOBIG,
				RAFT_CODEC_ETRUNCATED, RAFT_CODEC_ETRUNCATED};
	for (size_t i = 0; i < 4; i++) {
		le(buf + len_at, chunk_lens[i], 4);
		alloc_reset(0);
		expect_decode(buf, len, chunk_rv[i]);
		assert_int_equal(alloc_count, 0);
	}
	free(buf);
	alloc_reset(0);
}

/* Every allocation of a decode can fail: the result is ENOMEM, the output
 * is zeroed and nothing leaks. */
static void test_allocation_failures(void **state)
{
	(void)state;
	for (size_t i = 0; i < n_samples; i++) {
		size_t len;
		uint8_t *buf = encode(&samples[i].m, &len);
		alloc_reset(0);
		struct raft_message m;
		assert_int_equal(raft_codec_decode_message(buf, len, &m),
				 RAFT_CODEC_OK);
		unsigned needed = alloc_count;
		raft_codec_message_free(&m);
		for (unsigned k = 1; k <= needed; k++) {
			alloc_reset(k);
			expect_decode(buf, len, RAFT_CODEC_ENOMEM);
		}
		alloc_reset(0);
		free(buf);
	}
	struct raft_entry e = {.term = 1,
			       .index = 1,
			       .version = 1,
			       .len = 3,
			       .data = (uint8_t[]){1, 2, 3}};
	uint8_t ebuf[RAFT_CODEC_ENTRY_HEADER_BYTES + 3];
	assert_int_equal(raft_codec_entry_encode(&e, ebuf, sizeof(ebuf)),
			 RAFT_CODEC_OK);
	struct raft_entry out;
	alloc_reset(1);
	assert_int_equal(
	    raft_codec_entry_decode(ebuf, sizeof(ebuf), &out, NULL),
	    RAFT_CODEC_ENOMEM);
	assert_null(out.data);
	alloc_reset(0);
}

/* ---- encoding refusals ---- */

static void test_unencodable_messages(void **state)
{
	(void)state;
	struct raft_config c;
	codec_sample_config(&c, 1, false);
	struct raft_entry e = {.term = 1, .index = 1, .version = 1};
	uint8_t buf[512];
	struct raft_message ok = {.type = RAFT_MSG_APPEND,
				  .version = 1,
				  .from = 1,
				  .to = 2,
				  .n_entries = 1,
				  .entries = &e};
	assert_true(raft_codec_message_size(&ok) > 0);

	struct raft_message m;
#define REFUSED(change)                                                        \
	do {                                                                   \
		m = ok;                                                        \
		change;                                                        \
		assert_int_equal(raft_codec_message_size(&m), 0);              \
		assert_int_equal(                                              \
		    raft_codec_encode_message(&m, buf, sizeof(buf)),           \
		    RAFT_CODEC_EINVAL);                                        \
	} while (0)
	REFUSED(m.type = 0);
	REFUSED(m.type = RAFT_MSG_TYPE_MAX + 1);
	REFUSED(m.from = 0);
	REFUSED(m.to = RAFT_MAX_NODE_ID + 1);
	REFUSED(m.entries = NULL);
	REFUSED(m.n_entries = RAFT_CODEC_MAX_ENTRIES + 1);
	REFUSED(m.prev_index = 1); /* entry 1 does not follow 1 */
	REFUSED((m.type = RAFT_MSG_APPEND_RESP, m.reject = 2));
	REFUSED((m.type = RAFT_MSG_VOTE, m.transfer = 2));
	REFUSED((m.type = RAFT_MSG_PREVOTE_RESP, m.reject = 255));
	REFUSED((m.type = RAFT_MSG_SNAPSHOT_RESP, m.done = 2));
	REFUSED((m.type = RAFT_MSG_SNAPSHOT, m.config = NULL));
	REFUSED((m.type = RAFT_MSG_SNAPSHOT, m.config = &c, m.len = 1));
	REFUSED((m.type = RAFT_MSG_SNAPSHOT, m.config = &c, m.done = 3));
	REFUSED((m.type = RAFT_MSG_SNAPSHOT, m.config = &c, m.data = buf,
		 m.len = RAFT_CODEC_MAX_PAYLOAD + 1));
	e.version = 0;
	REFUSED((void)0);
	e.version = 1;
	e.len = 4; /* no data */
	REFUSED((void)0);
	e.len = 0;
#undef REFUSED

	/* A buffer one byte short. */
	size_t need = raft_codec_message_size(&ok);
	assert_int_equal(raft_codec_encode_message(&ok, buf, need - 1),
			 RAFT_CODEC_ENOSPACE);
	assert_int_equal(raft_codec_encode_message(&ok, buf, need),
			 RAFT_CODEC_OK);
	assert_int_equal(raft_codec_entry_encode(&e, buf, 5),
			 RAFT_CODEC_ENOSPACE);
}

/* ---- single entries, as storage uses them ---- */

static void test_entries_back_to_back(void **state)
{
	(void)state;
	const struct codec_sample *s = NULL;
	for (size_t i = 0; i < n_samples; i++)
		if (samples[i].m.n_entries >= 3)
			s = &samples[i];
	assert_non_null(s);
	size_t total = 0;
	for (uint32_t i = 0; i < s->m.n_entries; i++)
		total += raft_codec_entry_size(&s->m.entries[i]);
	uint8_t *buf = malloc(total);
	assert_non_null(buf);
	size_t pos = 0;
	for (uint32_t i = 0; i < s->m.n_entries; i++) {
		assert_int_equal(raft_codec_entry_encode(
				     &s->m.entries[i], buf + pos, total - pos),
				 RAFT_CODEC_OK);
		pos += raft_codec_entry_size(&s->m.entries[i]);
	}
	pos = 0;
	for (uint32_t i = 0; i < s->m.n_entries; i++) {
		struct raft_entry e;
		size_t used;
		assert_int_equal(
		    raft_codec_entry_decode(buf + pos, total - pos, &e, &used),
		    RAFT_CODEC_OK);
		const struct raft_entry *want = &s->m.entries[i];
		assert_int_equal(used, raft_codec_entry_size(want));
		assert_int_equal(e.term, want->term);
		assert_int_equal(e.index, want->index);
		assert_int_equal(e.type, want->type);
		assert_int_equal(e.version, want->version);
		assert_int_equal(e.len, want->len);
		if (e.len > 0)
			assert_memory_equal(e.data, want->data, e.len);
		else
			assert_null(e.data);
		raft_codec_entry_free(&e);
		/* Without `used`, the entry must be all there is. */
		if (i + 1 < s->m.n_entries)
			assert_int_equal(raft_codec_entry_decode(
					     buf + pos, total - pos, &e, NULL),
					 RAFT_CODEC_ETRAILING);
		for (size_t cut = 0; cut < used; cut++) {
			uint8_t *part = malloc(cut ? cut : 1);
			assert_non_null(part);
			memcpy(part, buf + pos, cut);
			size_t part_used;
			assert_int_equal(
			    raft_codec_entry_decode(part, cut, &e, &part_used),
			    RAFT_CODEC_ETRUNCATED);
			free(part);
		}
		pos += raft_codec_entry_size(want);
	}
	free(buf);
}

/* Entries whose type or version this build does not know decode, bytes
 * intact: refusing them is the core's job at apply time. */
static void test_unknown_entries_are_opaque(void **state)
{
	(void)state;
	uint8_t data[] = {9, 8, 7};
	for (unsigned type = 0; type < 256; type += 15) {
		for (unsigned version = 1; version < 256; version += 127) {
			struct raft_entry e = {.term = 4,
					       .index = 5,
					       .type = (uint8_t)type,
					       .version = (uint8_t)version,
					       .len = 3,
					       .data = data};
			uint8_t buf[RAFT_CODEC_ENTRY_HEADER_BYTES + 3];
			assert_int_equal(
			    raft_codec_entry_encode(&e, buf, sizeof(buf)),
			    RAFT_CODEC_OK);
			struct raft_entry out;
			assert_int_equal(raft_codec_entry_decode(
					     buf, sizeof(buf), &out, NULL),
					 RAFT_CODEC_OK);
			assert_int_equal(out.type, type);
			assert_int_equal(out.version, version);
			assert_memory_equal(out.data, data, 3);
			raft_codec_entry_free(&out);
		}
	}
}

static void test_strerror(void **state)
{
	(void)state;
	const char *seen[16];
	int n = 0;
	for (int rv = RAFT_CODEC_OK; rv >= RAFT_CODEC_ENOSPACE; rv--) {
		const char *s = raft_codec_strerror(rv);
		assert_non_null(s);
		assert_string_not_equal(s, raft_codec_strerror(1));
		for (int j = 0; j < n; j++)
			assert_string_not_equal(s, seen[j]);
		seen[n++] = s;
	}
	assert_string_equal(raft_codec_strerror(-1000), raft_codec_strerror(1));
}

/* ---- every message a real core sends ---- */

/* A three-node cluster whose every message travels as bytes through the
 * codec: elections with pre-vote, replication, a lagging follower brought
 * back with a chunked snapshot, and a leadership transfer. Each message must
 * come out of decoding exactly as the core built it (so the codec carries
 * every field the core sets), and the cluster must reach its goals on the
 * decoded messages alone. */

#define CLUSTER_N 3
#define CLUSTER_SNAPSHOT_BYTES 1000u
#define CLUSTER_QUEUE_MAX 4096

struct cluster_node {
	struct raft *r;
	bool isolated;
	uint8_t snapshot[CLUSTER_SNAPSHOT_BYTES]; /* what it would store */
	uint8_t incoming[CLUSTER_SNAPSHOT_BYTES];
	unsigned commands_applied;
	bool installed;
};

struct cluster_frame {
	uint8_t *bytes;
	size_t len;
	raft_id to;
};

struct cluster {
	struct cluster_node nodes[CLUSTER_N];
	struct cluster_frame queue[CLUSTER_QUEUE_MAX];
	size_t head, tail;
	raft_time now;
	unsigned seen[RAFT_MSG_TYPE_MAX + 1];
	unsigned chunks;
};

static void cluster_process(struct cluster *c, unsigned i, int rv,
			    struct raft_update *u);

/* Encodes m as the driver would (filling a snapshot chunk from the sender's
 * file), checks that decoding gives m back, and queues the bytes. */
static void cluster_send(struct cluster *c, unsigned from,
			 const struct raft_message *m)
{
	struct raft_message send = *m;
	if (send.type == RAFT_MSG_SNAPSHOT && send.data == NULL &&
	    send.len > 0) {
		assert_true(send.offset + send.len <= CLUSTER_SNAPSHOT_BYTES);
		send.data = c->nodes[from].snapshot + send.offset;
		c->chunks++;
	}
	size_t len;
	uint8_t *bytes = encode(&send, &len);
	struct raft_message back;
	assert_int_equal(raft_codec_decode_message(bytes, len, &back),
			 RAFT_CODEC_OK);
	if (!codec_messages_equal(&send, &back))
		fail_msg("a message of type %u changed through the codec",
			 send.type);
	raft_codec_message_free(&back);
	c->seen[send.type]++;
	if (c->nodes[from].isolated || send.to == 0 || send.to > CLUSTER_N ||
	    c->nodes[send.to - 1].isolated) {
		free(bytes);
		return;
	}
	assert_true(c->tail - c->head < CLUSTER_QUEUE_MAX);
	c->queue[c->tail++ % CLUSTER_QUEUE_MAX] =
	    (struct cluster_frame){.bytes = bytes, .len = len, .to = send.to};
}

static void cluster_process(struct cluster *c, unsigned i, int rv,
			    struct raft_update *u)
{
	struct cluster_node *n = &c->nodes[i];
	(void)rv; /* a refused call still hands out an update */
	assert_null(u->error);
	for (size_t k = 0; k < u->n_send_now; k++)
		cluster_send(c, i, &u->send_now[k]);
	/* Persisting is instant here, so what waits for it goes out now. */
	raft_index persisted = 0;
	raft_term persisted_term = 0;
	if (u->n_entries > 0) {
		persisted = u->entries[u->n_entries - 1].index;
		persisted_term = u->entries[u->n_entries - 1].term;
	}
	raft_index install = 0;
	raft_term install_term = 0;
	const struct raft_snapshot_chunk *ch = u->snapshot_chunk;
	if (ch != NULL) {
		assert_true(ch->offset + ch->len <= CLUSTER_SNAPSHOT_BYTES);
		if (ch->len > 0)
			memcpy(n->incoming + ch->offset, ch->data, ch->len);
		if (ch->last) {
			install = ch->index;
			install_term = ch->term;
		}
	}
	for (size_t k = 0; k < u->n_send_after_persist; k++)
		cluster_send(c, i, &u->send_after_persist[k]);
	for (size_t k = 0; k < u->n_apply; k++)
		if (u->apply[k].type == RAFT_ENTRY_COMMAND)
			n->commands_applied++;

	struct raft_update next;
	if (persisted != 0) {
		rv = raft_persisted(n->r, c->now, persisted, persisted_term,
				    &next);
		cluster_process(c, i, rv, &next);
	}
	if (install != 0) {
		assert_memory_equal(n->incoming, c->nodes[0].snapshot,
				    CLUSTER_SNAPSHOT_BYTES);
		n->installed = true;
		rv = raft_snapshot_installed(n->r, c->now, install,
					     install_term, &next);
		assert_int_equal(rv, RAFT_OK);
		cluster_process(c, i, rv, &next);
	}
}

/* Delivers everything queued, including what the deliveries cause. */
static void cluster_deliver(struct cluster *c)
{
	unsigned budget = 100000;
	while (c->head != c->tail) {
		assert_true(budget-- > 0);
		struct cluster_frame f =
		    c->queue[c->head++ % CLUSTER_QUEUE_MAX];
		struct raft_message m;
		assert_int_equal(raft_codec_decode_message(f.bytes, f.len, &m),
				 RAFT_CODEC_OK);
		free(f.bytes);
		struct cluster_node *n = &c->nodes[f.to - 1];
		struct raft_update u;
		if (!n->isolated) {
			int rv = raft_step(n->r, c->now, &m, &u);
			raft_codec_message_free(&m);
			cluster_process(c, f.to - 1, rv, &u);
		} else {
			raft_codec_message_free(&m);
		}
	}
}

/* Runs for at most `ms` of simulated time, until done(c) holds. */
static bool cluster_run(struct cluster *c, raft_time ms,
			bool (*done)(struct cluster *c))
{
	raft_time end = c->now + ms;
	while (c->now < end) {
		if (done(c))
			return true;
		c->now += 10;
		for (unsigned i = 0; i < CLUSTER_N; i++) {
			struct raft_update u;
			int rv = raft_tick(c->nodes[i].r, c->now, &u);
			cluster_process(c, i, rv, &u);
		}
		cluster_deliver(c);
	}
	return done(c);
}

static int cluster_leader(struct cluster *c)
{
	for (unsigned i = 0; i < CLUSTER_N; i++)
		if (!c->nodes[i].isolated &&
		    raft_role(c->nodes[i].r) == RAFT_LEADER)
			return (int)i;
	return -1;
}

static bool has_leader(struct cluster *c)
{
	return cluster_leader(c) >= 0;
}

/* Every connected node has committed the leader's whole log. */
static bool caught_up(struct cluster *c)
{
	int l = cluster_leader(c);
	if (l < 0)
		return false;
	raft_index last = raft_last_index(c->nodes[l].r);
	for (unsigned i = 0; i < CLUSTER_N; i++)
		if (!c->nodes[i].isolated &&
		    (raft_commit_index(c->nodes[i].r) != last ||
		     raft_last_applied(c->nodes[i].r) != last))
			return false;
	return true;
}

static raft_id transfer_from;

static bool leader_moved(struct cluster *c)
{
	int l = cluster_leader(c);
	return l >= 0 && (raft_id)(l + 1) != transfer_from;
}

static void cluster_propose(struct cluster *c, unsigned count)
{
	for (unsigned k = 0; k < count; k++) {
		int l = cluster_leader(c);
		assert_true(l >= 0);
		char cmd[64];
		int len = snprintf(cmd, sizeof(cmd), "command %u", k);
		raft_index index;
		struct raft_update u;
		int rv = raft_propose(c->nodes[l].r, c->now, cmd, (uint32_t)len,
				      &index, &u);
		assert_int_equal(rv, RAFT_OK);
		cluster_process(c, (unsigned)l, rv, &u);
		if (k % 7 == 0)
			cluster_deliver(c);
	}
}

static void test_core_messages_survive_codec(void **state)
{
	(void)state;
	struct cluster *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct raft_options o;
	raft_options_default(&o);
	o.snapshot_chunk_bytes = 300; /* four chunks */
	o.snapshot_trailing = 0;      /* compact everything, force a snapshot */
	o.max_append_entries = 5;     /* several APPENDs per catch-up */
	struct raft_config cfg;
	codec_sample_config(&cfg, CLUSTER_N, false);
	for (unsigned i = 0; i < CLUSTER_N; i++) {
		cfg.servers[i].id = i + 1;
		cfg.servers[i].role = RAFT_VOTER;
		cfg.servers[i].promote = 0;
	}
	for (unsigned i = 0; i < CLUSTER_N; i++) {
		struct cluster_node *n = &c->nodes[i];
		struct raft_update u;
		n->r = raft_new(i + 1, &o, 1000 + i);
		assert_non_null(n->r);
		assert_int_equal(raft_start(n->r, 0, NULL, &u), RAFT_OK);
		cluster_process(c, i, RAFT_OK, &u);
		assert_int_equal(raft_bootstrap(n->r, 0, &cfg, &u), RAFT_OK);
		cluster_process(c, i, RAFT_OK, &u);
		for (unsigned b = 0; b < CLUSTER_SNAPSHOT_BYTES; b++)
			n->snapshot[b] = (uint8_t)(b * 13 + 5);
	}
	cluster_deliver(c);

	assert_true(cluster_run(c, 20000, has_leader));
	cluster_propose(c, 20);
	assert_true(cluster_run(c, 20000, caught_up));

	/* One follower falls behind a snapshot that compacts the log. */
	int l = cluster_leader(c);
	unsigned lag = ((unsigned)l + 1) % CLUSTER_N;
	c->nodes[lag].isolated = true;
	cluster_propose(c, 30);
	assert_true(cluster_run(c, 20000, caught_up));
	/* Every node's snapshot holds the same bytes, whoever ends up sending.
	 */
	for (unsigned i = 0; i < CLUSTER_N; i++) {
		struct raft_update u;
		struct raft *r = c->nodes[i].r;
		if (c->nodes[i].isolated)
			continue;
		assert_int_equal(
		    raft_snapshot_taken(r, c->now, raft_last_applied(r),
					CLUSTER_SNAPSHOT_BYTES, &u),
		    RAFT_OK);
		cluster_process(c, i, RAFT_OK, &u);
	}
	c->nodes[lag].isolated = false;
	cluster_propose(c, 5);
	assert_true(cluster_run(c, 20000, caught_up));
	assert_true(c->nodes[lag].installed);
	assert_true(c->chunks >= 4);

	/* Leadership moves by TimeoutNow. */
	l = cluster_leader(c);
	transfer_from = (raft_id)(l + 1);
	struct raft_update u;
	int rv = raft_transfer_leadership(c->nodes[l].r, c->now, 0, &u);
	assert_int_equal(rv, RAFT_OK);
	cluster_process(c, (unsigned)l, rv, &u);
	assert_true(cluster_run(c, 20000, leader_moved));
	cluster_propose(c, 5);
	assert_true(cluster_run(c, 20000, caught_up));

	for (int t = 1; t <= RAFT_MSG_TYPE_MAX; t++)
		if (c->seen[t] == 0)
			fail_msg("the cluster never sent message type %d", t);
	/* The followers that saw every command applied all of them. */
	for (unsigned i = 0; i < CLUSTER_N; i++)
		if (i != lag)
			assert_int_equal(c->nodes[i].commands_applied, 60);

	while (c->head != c->tail)
		free(c->queue[c->head++ % CLUSTER_QUEUE_MAX].bytes);
	for (unsigned i = 0; i < CLUSTER_N; i++)
		raft_free(c->nodes[i].r);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_every_type),
	    cmocka_unit_test(test_exact_layout),
	    cmocka_unit_test(test_largest_append),
	    cmocka_unit_test(test_largest_entry),
	    cmocka_unit_test(test_every_truncation_rejected),
	    cmocka_unit_test(test_every_corruption_safe),
	    cmocka_unit_test(test_trailing_bytes_rejected),
	    cmocka_unit_test(test_unknown_format_and_type),
	    cmocka_unit_test(test_bad_fields_rejected),
	    cmocka_unit_test(test_absurd_lengths_do_not_allocate),
	    cmocka_unit_test(test_allocation_failures),
	    cmocka_unit_test(test_unencodable_messages),
	    cmocka_unit_test(test_entries_back_to_back),
	    cmocka_unit_test(test_unknown_entries_are_opaque),
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_core_messages_survive_codec),
	};
	return cmocka_run_group_tests_name("raft-codec", tests, setup, NULL);
}
