/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The access-control data in the Raft-side state: access-control records
 * (type 10) applied to two states leave them equal to each other and to
 * the leader's working copy; a change the apply refuses is a no-op on both
 * that still applies, with its outcome; the feature-level gate; malformed
 * and newer records stop; snapshot section 4 from level 3 (round trip,
 * frozen capture, refusals, a level-2 snapshot byte for byte as before);
 * and allocation failures (malloc, calloc, realloc and strdup of the code
 * under test, see alloc_fail.h) leaving the state as it was.
 */
#include "tests/plugin/dynsec_test.h"

#include <zlib.h>

#include "plugin/state.h"
#include "plugin/state_snapshot.h"
#include "tests/plugin/alloc_fail.h"

char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s);

char *__wrap_strdup(const char *s)
{
	return alloc_should_fail() ? NULL : __real_strdup(s);
}

static void apply_ok(struct ha_state *s, uint64_t index, const uint8_t *rec,
		     size_t len)
{
	char why[300] = "";
	int rv = ha_state_apply(s, index, rec, len, why, sizeof(why));
	if (rv != HA_APPLY_OK)
		fail_msg("apply %llu: %d %s", (unsigned long long)index, rv,
			 why);
}

static void raise_level(struct ha_state *s, uint32_t level)
{
	uint8_t rec[] = {HA_REC_TYPE_FEATURE_LEVEL, 1, (uint8_t)level, 0, 0, 0};
	apply_ok(s, 1, rec, sizeof(rec));
}

static struct ha_state *state_at(uint32_t level)
{
	struct ha_state *s = ha_state_new(1);
	assert_non_null(s);
	if (level > 1)
		raise_level(s, level);
	return s;
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

static void assert_same_snapshot(const struct ha_state *a,
				 const struct ha_state *b)
{
	size_t la, lb;
	uint8_t *ba = snapshot_of(a, &la), *bb = snapshot_of(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	free(ba);
	free(bb);
}

/* The record of one command run on the leader's working copy (NULL when
 * it was rejected there). */
static uint8_t *change(struct ha_dynsec *work, const char *cmd, size_t *len)
{
	uint8_t *rec = NULL;
	json_t *reply = run(work, cmd, &rec, len);
	json_decref(reply);
	return rec;
}

static const char *const commands[] = {
    "{\"command\": \"createRole\", \"rolename\": \"r\", \"acls\": "
    "[{\"acltype\": \"publishClientSend\", \"topic\": \"a/#\", \"allow\": "
    "true}]}",
    "{\"command\": \"createClient\", \"username\": \"u\", \"password\": "
    "\"secret\", \"roles\": [{\"rolename\": \"r\", \"priority\": 2}]}",
    "{\"command\": \"createGroup\", \"groupname\": \"g\"}",
    "{\"command\": \"addGroupClient\", \"groupname\": \"g\", \"username\": "
    "\"u\"}",
    "{\"command\": \"addGroupRole\", \"groupname\": \"g\", \"rolename\": "
    "\"r\"}",
    "{\"command\": \"setAnonymousGroup\", \"groupname\": \"g\"}",
    "{\"command\": \"addRoleACL\", \"rolename\": \"r\", \"acltype\": "
    "\"subscribePattern\", \"topic\": \"b/+\", \"allow\": false}",
    "{\"command\": \"setDefaultACLAccess\", \"acls\": [{\"acltype\": "
    "\"subscribe\", \"allow\": true}]}",
    "{\"command\": \"createClient\", \"username\": \"v\"}",
    "{\"command\": \"disableClient\", \"username\": \"v\"}",
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Every change of commands[], from the leader's copy, in order. */
struct changes {
	uint8_t *rec[N_COMMANDS];
	size_t len[N_COMMANDS];
	struct ha_dynsec *work;
};

static void make_changes(struct changes *c)
{
	c->work = ha_dynsec_new();
	assert_non_null(c->work);
	for (size_t i = 0; i < N_COMMANDS; i++) {
		c->rec[i] = change(c->work, commands[i], &c->len[i]);
		if (c->rec[i] == NULL)
			fail_msg("command %zu rejected: %s", i, commands[i]);
	}
}

static void free_changes(struct changes *c)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		free(c->rec[i]);
	ha_dynsec_free(c->work);
}

static void test_apply_two_states(void **unused)
{
	(void)unused;
	struct changes c;
	make_changes(&c);
	struct ha_state *a = state_at(3), *b = state_at(3);
	for (size_t i = 0; i < N_COMMANDS; i++) {
		apply_ok(a, 10 + i, c.rec[i], c.len[i]);
		apply_ok(b, 10 + i, c.rec[i], c.len[i]);
		assert_int_equal(a->access_control_outcome.index, 10 + i);
		assert_int_equal(a->access_control_outcome.result,
				 HA_DYNSEC_OK);
		assert_null(a->access_control_outcome.error);
		assert_same_snapshot(a, b);
	}
	assert_true(ha_dynsec_equal(a->access_control, c.work));
	assert_true(ha_dynsec_equal(b->access_control, c.work));
	/* The data serves: the user logs in with its password. */
	assert_int_equal(
	    ha_dynsec_authenticate(a->access_control, "u", "secret", "any"),
	    HA_DYNSEC_AUTH_OK);
	assert_int_equal(ha_dynsec_acl_check(b->access_control,
					     HA_DYNSEC_ACCESS_PUB_SEND, "u",
					     "any", "a/x"),
			 HA_DYNSEC_ACL_ALLOW);

	/* An import replaces everything, on both alike. */
	struct ha_dynsec *file = state_from(
	    "{\"clients\": [{\"username\": \"only\"}], \"defaultACLAccess\": "
	    "[{\"acltype\": \"publishClientSend\", \"allow\": true}]}");
	uint8_t *imp;
	size_t imp_len;
	assert_int_equal(ha_dynsec_import_record(file, &imp, &imp_len),
			 HA_DYNSEC_OK);
	apply_ok(a, 50, imp, imp_len);
	apply_ok(b, 50, imp, imp_len);
	assert_same_snapshot(a, b);
	assert_int_equal(a->access_control->n_clients, 1);
	assert_null(ha_dynsec_find_client(a->access_control, "u"));
	free(imp);
	ha_dynsec_free(file);

	ha_state_free(a);
	ha_state_free(b);
	free_changes(&c);
}

/* A change that no longer fits (here: made twice) is refused by every
 * node alike: applied as a no-op, its sentence kept for the requester. */
static void test_refused_is_noop(void **unused)
{
	(void)unused;
	struct changes c;
	make_changes(&c);
	struct ha_state *a = state_at(3), *b = state_at(3);
	for (size_t i = 0; i < N_COMMANDS; i++) {
		apply_ok(a, 10 + i, c.rec[i], c.len[i]);
		apply_ok(b, 10 + i, c.rec[i], c.len[i]);
	}
	size_t before_len;
	uint8_t *before = snapshot_of(a, &before_len);

	/* createClient u again, and a deletion of what is not there. */
	struct ha_dynsec *stale = ha_dynsec_new();
	assert_non_null(stale);
	size_t del_len;
	uint8_t *del = change(stale,
			      "{\"command\": \"createClient\", \"username\": "
			      "\"w\"}",
			      &del_len);
	assert_non_null(del);
	free(del);
	del = change(stale,
		     "{\"command\": \"deleteClient\", \"username\": "
		     "\"w\"}",
		     &del_len);
	assert_non_null(del);

	struct ha_state *both[] = {a, b};
	for (int k = 0; k < 2; k++) {
		char why[300] = "";
		assert_int_equal(ha_state_apply(both[k], 30, c.rec[1], c.len[1],
						why, sizeof(why)),
				 HA_APPLY_OK);
		assert_int_equal(both[k]->access_control_outcome.index, 30);
		assert_int_equal(both[k]->access_control_outcome.result,
				 HA_DYNSEC_REJECTED);
		assert_string_equal(both[k]->access_control_outcome.error,
				    "Client already exists");
		assert_int_equal(
		    ha_state_apply(both[k], 31, del, del_len, why, sizeof(why)),
		    HA_APPLY_OK);
		assert_int_equal(both[k]->access_control_outcome.index, 31);
		assert_int_equal(both[k]->access_control_outcome.result,
				 HA_DYNSEC_REJECTED);
		assert_string_equal(both[k]->access_control_outcome.error,
				    "Client not found");
		size_t now_len;
		uint8_t *now = snapshot_of(both[k], &now_len);
		assert_int_equal(now_len, before_len);
		assert_memory_equal(now, before, now_len);
		free(now);
	}
	/* The next change that fits is OK again. */
	apply_ok(a, 32, c.rec[0] /* createRole r: exists */, c.len[0]);
	assert_int_equal(a->access_control_outcome.result, HA_DYNSEC_REJECTED);
	free(del);
	ha_dynsec_free(stale);
	free(before);
	ha_state_free(a);
	ha_state_free(b);
	free_changes(&c);
}

/* Below level 3 no node applies one: a level-2 snapshot has no place for
 * its data. At 3 it applies. */
static void test_level_gate(void **unused)
{
	(void)unused;
	struct changes c;
	make_changes(&c);
	for (uint32_t level = 1; level <= 2; level++) {
		struct ha_state *s = state_at(level);
		size_t before_len;
		uint8_t *before = snapshot_of(s, &before_len);
		char why[300];
		assert_int_equal(
		    ha_state_apply(s, 12, c.rec[0], c.len[0], why, sizeof(why)),
		    HA_APPLY_MALFORMED);
		char expected[300];
		snprintf(expected, sizeof(expected),
			 "record type 10 (access-control data) at index 12 is "
			 "malformed: committed at feature level %u, below 3",
			 (unsigned)level);
		assert_string_equal(why, expected);
		assert_int_equal(s->access_control_outcome.index, 0);
		size_t now_len;
		uint8_t *now = snapshot_of(s, &now_len);
		assert_int_equal(now_len, before_len);
		assert_memory_equal(now, before, now_len);
		free(now);
		free(before);

		raise_level(s, 3);
		apply_ok(s, 13, c.rec[0], c.len[0]);
		assert_non_null(ha_dynsec_find_role(s->access_control, "r"));
		ha_state_free(s);
	}
	free_changes(&c);
}

/* A record the dynsec decoder refuses stops applying; one from a newer
 * version too. Nothing changes. */
static void test_apply_stops(void **unused)
{
	(void)unused;
	struct ha_state *s = state_at(3);
	size_t before_len;
	uint8_t *before = snapshot_of(s, &before_len);
	char why[300];

	/* createRole of r with a byte after its end. */
	const uint8_t trailing[] = {0x0a, 0x01, 0x13, 0x04, 0x00,
				    0x01, 0x00, 0x72, 0x00};
	assert_int_equal(
	    ha_state_apply(s, 40, trailing, sizeof(trailing), why, sizeof(why)),
	    HA_APPLY_MALFORMED);
	assert_string_equal(why, "record type 10 (access-control data) at "
				 "index 40 is malformed: bytes after the end "
				 "of the record");
	const uint8_t body_less[] = {0x0a, 0x01};
	assert_int_equal(ha_state_apply(s, 41, body_less, sizeof(body_less),
					why, sizeof(why)),
			 HA_APPLY_MALFORMED);
	assert_string_equal(why, "record type 10 (access-control data) at "
				 "index 41 is malformed: truncated");
	/* A change code this version does not know. */
	const uint8_t unknown_change[] = {0x0a, 0x01, 0x19, 0x00, 0x00};
	assert_int_equal(ha_state_apply(s, 42, unknown_change,
					sizeof(unknown_change), why,
					sizeof(why)),
			 HA_APPLY_NEWER);
	assert_string_equal(why, "record type 10 (access-control data) version "
				 "1 at index 42 needs a newer mosquitto_ha on "
				 "this node: an access-control change this "
				 "code does not know");
	const uint8_t newer[] = {0x0a, 0x02, 0x13, 0x04,
				 0x00, 0x01, 0x00, 0x72};
	assert_int_equal(
	    ha_state_apply(s, 43, newer, sizeof(newer), why, sizeof(why)),
	    HA_APPLY_NEWER);
	assert_string_equal(why, "record type 10 (access-control data) version "
				 "2 at index 43 needs a newer mosquitto_ha on "
				 "this node");

	size_t now_len;
	uint8_t *now = snapshot_of(s, &now_len);
	assert_int_equal(now_len, before_len);
	assert_memory_equal(now, before, now_len);
	assert_int_equal(s->access_control_outcome.index, 0);
	free(now);
	free(before);
	ha_state_free(s);
}

static uint32_t crc_of(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

/* Level 2 writes the three sections of before, byte for byte; level 3 adds
 * section 4 (the empty access-control state: 23 bytes). */
static void test_snapshot_bytes(void **unused)
{
	(void)unused;
	struct ha_state *s = state_at(2);
	size_t len;
	uint8_t *buf = snapshot_of(s, &len);
	const uint8_t level2[] = {
	    'M',  'H',	'A',  'S',  2,		      /* magic, version */
	    1,	  1,	0,    0,    0, 0, 0, 0, 0, 0, /* flags: none */
	    2,	  4,	0,    0,    0, 0, 0, 0, 0, 2, 0, 0, 0, /* level 2 */
	    3,	  8,	0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0,	  0,	0,    0,    /* no retained messages */
	    0x04, 0xbe, 0xd9, 0x99, /* CRC32 0x99d9be04 */
	};
	assert_int_equal(crc_of(level2, sizeof(level2) - 4), 0x99d9be04);
	assert_int_equal(len, sizeof(level2));
	assert_memory_equal(buf, level2, len);
	free(buf);

	raise_level(s, 3);
	buf = snapshot_of(s, &len);
	const uint8_t level3[] = {
	    'M',  'H',	'A',  'S',  2,		      /* magic, version */
	    1,	  1,	0,    0,    0, 0, 0, 0, 0, 0, /* flags: none */
	    2,	  4,	0,    0,    0, 0, 0, 0, 0, 3, 0, 0, 0, /* level 3 */
	    3,	  8,	0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0,	  0,	0,    0,		   /* no retained messages */
	    4,	  23,	0,    0,    0, 0, 0, 0, 0, /* access control */
	    1,	  0,	0,			   /* version, access, anon */
	    0,	  0,	0,    0,    0, 0, 0, 0, 0, 0, 0, 0, /* no entries */
	    0,	  0,	0,    0,    0, 0, 0, 0,		    /* change index 0 */
	    0x79, 0xfb, 0x0c, 0x67, /* CRC32 0x670cfb79 */
	};
	assert_int_equal(crc_of(level3, sizeof(level3) - 4), 0x670cfb79);
	assert_int_equal(len, sizeof(level3));
	assert_memory_equal(buf, level3, len);
	free(buf);
	ha_state_free(s);
}

static void test_snapshot_round_trip(void **unused)
{
	(void)unused;
	struct changes c;
	make_changes(&c);
	struct ha_state *s = state_at(3);
	for (size_t i = 0; i < N_COMMANDS; i++)
		apply_ok(s, 10 + i, c.rec[i], c.len[i]);
	s->access_control->v21 = true;

	/* A capture stays frozen while applies go on. */
	size_t len;
	uint8_t *buf = snapshot_of(s, &len);
	struct ha_state_frozen *f = ha_state_capture(s);
	assert_non_null(f);
	uint8_t *more;
	size_t more_len;
	struct ha_dynsec *work = c.work;
	more = change(work,
		      "{\"command\": \"deleteClient\", \"username\": "
		      "\"u\"}",
		      &more_len);
	assert_non_null(more);
	apply_ok(s, 30, more, more_len);
	free(more);
	uint8_t *frozen;
	size_t frozen_len;
	assert_int_equal(ha_state_serialize(f, &frozen, &frozen_len), 0);
	ha_state_release(f);
	assert_int_equal(frozen_len, len);
	assert_memory_equal(frozen, buf, len);
	free(frozen);

	/* Restored: the same data, the same bytes again. */
	struct ha_state *r;
	char why[300] = "";
	assert_int_equal(ha_state_restore(buf, len, 7, &r, why, sizeof(why)),
			 HA_SNAP_OK);
	assert_int_equal(r->feature_level, 3);
	assert_int_equal(r->access_control->n_clients, 2);
	assert_int_equal(
	    ha_dynsec_authenticate(r->access_control, "u", "secret", NULL),
	    HA_DYNSEC_AUTH_OK);
	size_t again_len;
	uint8_t *again = snapshot_of(r, &again_len);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, buf, len);
	free(again);
	ha_state_free(r);

	/* Into the live state: replaced, the broker's version kept. */
	assert_int_equal(ha_state_restore_into(s, buf, len, why, sizeof(why)),
			 HA_SNAP_OK);
	assert_true(s->access_control->v21);
	assert_non_null(ha_dynsec_find_client(s->access_control, "u"));
	again = snapshot_of(s, &again_len);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, buf, len);
	free(again);
	free(buf);
	ha_state_free(s);
	free_changes(&c);
}

/* A version 2 snapshot assembled by hand: sections, then the CRC. */
struct builder {
	uint8_t buf[4096];
	size_t len;
};

static void put(struct builder *b, const void *p, size_t n)
{
	assert_true(b->len + n <= sizeof(b->buf));
	if (n == 0)
		return;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void put_le(struct builder *b, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t byte = (uint8_t)(v >> (8 * i));
		put(b, &byte, 1);
	}
}

/* Sections 1 to 3 of an empty state at level. */
static void start(struct builder *b, uint32_t level)
{
	static const uint8_t no_flags[] = {0};
	static const uint8_t no_messages[8] = {0};
	b->len = 0;
	put(b, "MHAS", 4);
	put_le(b, 2, 1);
	put_le(b, 1, 1);
	put_le(b, 1, 8);
	put(b, no_flags, 1);
	put_le(b, 2, 1);
	put_le(b, 4, 8);
	put_le(b, level, 4);
	put_le(b, 3, 1);
	put_le(b, 8, 8);
	put(b, no_messages, 8);
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

static void expect_restore(const struct builder *b, int result,
			   const char *line)
{
	struct ha_state *r = NULL;
	char why[300] = "";
	int rv = ha_state_restore(b->buf, b->len, 1, &r, why, sizeof(why));
	if (rv != result)
		fail_msg("restore: %d, expected %d (%s)", rv, result, why);
	if (result == HA_SNAP_OK) {
		assert_non_null(r);
		ha_state_free(r);
		return;
	}
	assert_null(r);
	assert_string_equal(why, line);
}

static void test_snapshot_refusals(void **unused)
{
	(void)unused;
	struct builder b;
	struct ha_dynsec *empty = ha_dynsec_new();
	assert_non_null(empty);
	uint8_t *body;
	size_t body_len;
	assert_int_equal(ha_dynsec_section_encode(empty, &body, &body_len),
			 HA_DYNSEC_OK);
	ha_dynsec_free(empty);

	start(&b, 3);
	section(&b, 4, body, body_len);
	finish(&b);
	expect_restore(&b, HA_SNAP_OK, NULL);

	/* Section 4 exactly from level 3. */
	start(&b, 2);
	section(&b, 4, body, body_len);
	finish(&b);
	expect_restore(&b, HA_SNAP_MALFORMED,
		       "snapshot: access-control section at feature level 2");
	start(&b, 3);
	finish(&b);
	expect_restore(&b, HA_SNAP_MALFORMED, "snapshot: a section is missing");

	/* A section 5 after it: from a newer node. */
	start(&b, 3);
	section(&b, 4, body, body_len);
	section(&b, 5, "x", 1);
	finish(&b);
	expect_restore(&b, HA_SNAP_NEWER,
		       "snapshot section type 5 needs a newer mosquitto_ha on "
		       "this node");
	start(&b, 2);
	section(&b, 5, "x", 1);
	finish(&b);
	expect_restore(&b, HA_SNAP_NEWER,
		       "snapshot section type 5 needs a newer mosquitto_ha on "
		       "this node");

	/* Its body: a newer version, a malformed one. */
	body[0] = 2;
	start(&b, 3);
	section(&b, 4, body, body_len);
	finish(&b);
	expect_restore(&b, HA_SNAP_NEWER,
		       "snapshot: access-control section version 2 needs a "
		       "newer mosquitto_ha on this node");
	body[0] = 1;
	start(&b, 3);
	section(&b, 4, body, body_len - 1);
	finish(&b);
	struct ha_state *r = NULL;
	char why[300] = "";
	assert_int_equal(
	    ha_state_restore(b.buf, b.len, 1, &r, why, sizeof(why)),
	    HA_SNAP_MALFORMED);
	assert_null(r);
	assert_non_null(strstr(why, "snapshot: access-control section is "
				    "malformed: "));
	start(&b, 3);
	section(&b, 4, NULL, 0);
	finish(&b);
	assert_int_equal(
	    ha_state_restore(b.buf, b.len, 1, &r, why, sizeof(why)),
	    HA_SNAP_MALFORMED);
	free(body);
}

static void test_out_of_memory(void **unused)
{
	(void)unused;
	struct changes c;
	make_changes(&c);
	struct ha_state *s = state_at(3);
	for (size_t i = 0; i + 1 < N_COMMANDS; i++)
		apply_ok(s, 10 + i, c.rec[i], c.len[i]);
	size_t expected_len;
	uint8_t *expected = snapshot_of(s, &expected_len);

	/* Apply: fails at every allocation, then succeeds. */
	char why[300];
	size_t last = N_COMMANDS - 1;
	long steps = 0;
	for (long n = 0;; n++) {
		alloc_fail_after(n);
		int rv = ha_state_apply(s, 99, c.rec[last], c.len[last], why,
					sizeof(why));
		if (!alloc_fail_off()) {
			assert_int_equal(rv, HA_APPLY_OK);
			break;
		}
		steps++;
		assert_int_equal(rv, HA_APPLY_ENOMEM);
		assert_string_equal(why, "out of memory applying the "
					 "access-control change at index 99");
		size_t now_len;
		uint8_t *now = snapshot_of(s, &now_len);
		assert_int_equal(now_len, expected_len);
		assert_memory_equal(now, expected, now_len);
		free(now);
	}
	assert_true(steps > 0);
	assert_true(ha_dynsec_equal(s->access_control, c.work));
	free(expected);
	expected = snapshot_of(s, &expected_len);

	/* Capture and serialize. */
	for (long n = 0;; n++) {
		alloc_fail_after(n);
		struct ha_state_frozen *f = ha_state_capture(s);
		uint8_t *buf = NULL;
		size_t len;
		int rv = f == NULL ? -1 : ha_state_serialize(f, &buf, &len);
		ha_state_release(f);
		if (!alloc_fail_off()) {
			assert_int_equal(rv, 0);
			assert_int_equal(len, expected_len);
			assert_memory_equal(buf, expected, len);
			free(buf);
			break;
		}
		assert_int_equal(rv, -1);
	}

	/* Restore into a state that holds other data: unchanged on failure. */
	struct ha_state *other = state_at(3);
	apply_ok(other, 5, c.rec[0], c.len[0]);
	size_t other_len;
	uint8_t *other_bytes = snapshot_of(other, &other_len);
	for (long n = 0;; n++) {
		alloc_fail_after(n);
		int rv = ha_state_restore_into(other, expected, expected_len,
					       NULL, 0);
		if (!alloc_fail_off()) {
			assert_int_equal(rv, HA_SNAP_OK);
			break;
		}
		assert_int_equal(rv, HA_SNAP_ENOMEM);
		size_t now_len;
		uint8_t *now = snapshot_of(other, &now_len);
		assert_int_equal(now_len, other_len);
		assert_memory_equal(now, other_bytes, now_len);
		free(now);
	}
	assert_same_snapshot(other, s);
	free(other_bytes);
	ha_state_free(other);
	free(expected);
	ha_state_free(s);

	for (long n = 0;; n++) {
		alloc_fail_after(n);
		s = ha_state_new(1);
		if (!alloc_fail_off())
			break;
		assert_null(s);
	}
	assert_non_null(s->access_control);
	ha_state_free(s);
	free_changes(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_apply_two_states),
	    cmocka_unit_test(test_refused_is_noop),
	    cmocka_unit_test(test_level_gate),
	    cmocka_unit_test(test_apply_stops),
	    cmocka_unit_test(test_snapshot_bytes),
	    cmocka_unit_test(test_snapshot_round_trip),
	    cmocka_unit_test(test_snapshot_refusals),
	    cmocka_unit_test(test_out_of_memory),
	};
	return cmocka_run_group_tests_name("plugin state access control", tests,
					   NULL, NULL);
}
