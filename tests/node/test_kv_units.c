/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Unit tests of ha-kv's pure parts: the line parser, the map with its
 * snapshot encoding and digest, and the command codec. Bad input must get
 * an error and never a crash (the sanitizers watch).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kv/command.h"
#include "kv/map.h"
#include "kv/protocol.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Parses a copy (the parser writes into its line). */
static int parse(const char *text, struct kv_parsed *p, char *why)
{
	static char line[KV_LINE_MAX + 1];
	size_t len = strlen(text);
	assert_true(len <= KV_LINE_MAX);
	memcpy(line, text, len + 1);
	return kv_parse_line(line, len, p, why, 128);
}

static void test_parse_valid(void **state)
{
	(void)state;
	struct kv_parsed p;
	char why[128];
	assert_int_equal(parse("PUT key value", &p, why), 0);
	assert_int_equal(p.verb, KV_VERB_PUT);
	assert_int_equal(p.arg_len[0], 3);
	assert_memory_equal(p.args[0], "key", 3);
	assert_memory_equal(p.args[1], "value", 5);
	assert_int_equal(parse("get   k\r", &p, why), 0);
	assert_int_equal(p.verb, KV_VERB_GET);
	assert_int_equal(p.arg_len[0], 1);
	assert_int_equal(parse("CAS k a b", &p, why), 0);
	assert_int_equal(p.verb, KV_VERB_CAS);
	assert_memory_equal(p.args[1], "a", 1);
	assert_memory_equal(p.args[2], "b", 1);
	assert_int_equal(
	    parse("CREATE 1=127.0.0.1:7001,2=127.0.0.2:7001,3=[::1]:7003", &p,
		  why),
	    0);
	assert_int_equal(p.members.n, 3);
	assert_int_equal(p.members.servers[2].id, 3);
	assert_string_equal(p.members.servers[2].address, "[::1]:7003");
	assert_int_equal(p.members.servers[0].role, RAFT_VOTER);
	assert_int_equal(parse("ADD 4 host-4.example:7000", &p, why), 0);
	assert_int_equal(p.id, 4);
	assert_string_equal(p.address, "host-4.example:7000");
	assert_int_equal(parse("TRANSFER 0", &p, why), 0);
	assert_int_equal(p.id, 0);
	assert_int_equal(parse("REMOVE 1023", &p, why), 0);
	assert_int_equal(parse("STATUS", &p, why), 0);
	assert_int_equal(parse("ping", &p, why), 0);
}

static void test_parse_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "   ",
	    "\r",
	    "NOPE",
	    "PUT",
	    "PUT k",
	    "PUT k v extra",
	    "GET",
	    "STATUS now",
	    "CAS k a",
	    "REMOVE 0",
	    "REMOVE 1024",
	    "REMOVE -1",
	    "REMOVE 1x",
	    "REMOVE 99999999999999999999",
	    "TRANSFER two",
	    "ADD 4",
	    "ADD 4 nohost",
	    "ADD 4 :7000",
	    "ADD 4 host:0",
	    "ADD 4 host:65536",
	    "ADD 4 host:70a",
	    "ADD 4 ho\"st:7000",
	    "ADD 4 [::1:7000",
	    "CREATE",
	    "CREATE 1",
	    "CREATE 1=",
	    "CREATE =a:1",
	    "CREATE 0=a:1",
	    "CREATE 1=a:1,1=b:1",
	    "CREATE 1=a:1,2=a:1",
	    "CREATE ,,,",
	    "JOIN 1=a:1,2=a:b",
	    "PUT k\x01 v",
	    "PUT k v\x7f",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kv_parsed p;
		char why[128] = "";
		if (parse(bad[i], &p, why) != -1)
			fail_msg("accepted: '%s'", bad[i]);
		assert_true(why[0] != '\0');
	}
	/* Seventeen members is one too many. */
	char line[2048] = "CREATE ";
	for (int i = 1; i <= 17; i++) {
		char m[32];
		snprintf(m, sizeof(m), "%s%d=h:%d", i > 1 ? "," : "", i, i);
		strcat(line, m);
	}
	struct kv_parsed p;
	char why[128];
	assert_int_equal(parse(line, &p, why), -1);
	/* Key and value limits. */
	static char big[KV_LINE_MAX + 1];
	memset(big, 0, sizeof(big));
	strcpy(big, "PUT ");
	memset(big + 4, 'k', KV_KEY_MAX + 1);
	strcat(big, " v");
	assert_int_equal(parse(big, &p, why), -1);
	memset(big, 0, sizeof(big));
	strcpy(big, "PUT k ");
	memset(big + 6, 'v', KV_VALUE_MAX + 1);
	assert_int_equal(parse(big, &p, why), -1);
	big[6 + KV_VALUE_MAX] = '\0';
	assert_int_equal(parse(big, &p, why), 0);
	/* A NUL byte inside the line. */
	char nul[] = "PUT k\0v";
	assert_int_equal(kv_parse_line(nul, 7, &p, why, sizeof(why)), -1);
}

static void test_parse_random_bytes(void **state)
{
	(void)state;
	static const char *const words[] = {
	    "PUT ",	 "GET ", "CAS ", "CREATE ", "JOIN ", "ADD ", "REMOVE ",
	    "TRANSFER ", "1=",	 ":",	 ",",	    " ",     "7",    "a"};
	static char line[KV_LINE_MAX + 1];
	for (int round = 0; round < 20000; round++) {
		size_t len = 0;
		size_t target = rng_next() % 200;
		while (len < target) {
			if (rng_next() % 3 == 0) {
				const char *w = words[rng_next() % 14];
				size_t wl = strlen(w);
				if (len + wl > target)
					break;
				memcpy(line + len, w, wl);
				len += wl;
			} else {
				line[len++] = (char)(rng_next() & 0xff);
			}
		}
		line[len] = '\0';
		struct kv_parsed p;
		char why[16]; /* a short reason buffer is truncated, not overrun
			       */
		if (kv_parse_line(line, len, &p, why, sizeof(why)) == 0) {
			assert_true(p.verb >= KV_VERB_PUT &&
				    p.verb <= KV_VERB_PING);
			for (int a = 0; a < 3; a++)
				assert_true(p.arg_len[a] <= KV_VALUE_MAX);
			assert_true(p.members.n <= RAFT_MAX_SERVERS);
		}
	}
}

static void test_address_split(void **state)
{
	(void)state;
	char host[RAFT_ADDRESS_MAX];
	unsigned port;
	assert_int_equal(
	    kv_address_split("127.0.0.1:80", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 80);
	assert_int_equal(
	    kv_address_split("[fe80::1]:65535", host, sizeof(host), &port), 0);
	assert_string_equal(host, "fe80::1");
	assert_int_equal(
	    kv_address_split("fe80::1:80", host, sizeof(host), &port), -1);
	assert_int_equal(kv_address_split("h:1", host, 1, &port), -1);
	char longer[RAFT_ADDRESS_MAX + 10];
	memset(longer, 'a', sizeof(longer));
	longer[sizeof(longer) - 1] = '\0';
	longer[sizeof(longer) - 3] = ':';
	assert_int_equal(kv_address_split(longer, host, sizeof(host), &port),
			 -1);
}

static void test_map_basics_and_digest(void **state)
{
	(void)state;
	struct kv_map *a = kv_map_new();
	struct kv_map *b = kv_map_new();
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(kv_map_digest(a), kv_map_digest(b));
	char key[32], value[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		snprintf(value, sizeof(value), "value%d", i);
		assert_int_equal(
		    kv_map_put(a, key, strlen(key), value, strlen(value)), 0);
	}
	for (int i = 4999; i >= 0; i--) {
		snprintf(key, sizeof(key), "key%d", i);
		snprintf(value, sizeof(value), "value%d", i);
		assert_int_equal(kv_map_put(b, key, strlen(key), "x", 1), 0);
		assert_int_equal(
		    kv_map_put(b, key, strlen(key), value, strlen(value)), 0);
	}
	assert_int_equal(kv_map_count(a), 5000);
	assert_int_equal(kv_map_count(b), 5000);
	/* Same contents, different insertion order and history. */
	assert_int_equal(kv_map_digest(a), kv_map_digest(b));
	size_t vlen;
	const char *v = kv_map_get(a, "key42", 5, &vlen);
	assert_non_null(v);
	assert_string_equal(v, "value42");
	assert_int_equal(vlen, 7);
	assert_null(kv_map_get(a, "key5000", 7, NULL));
	/* One changed value changes the digest; so does a swap of values
	 * between keys. */
	uint64_t before = kv_map_digest(b);
	assert_int_equal(kv_map_put(b, "key1", 4, "value2", 6), 0);
	assert_int_equal(kv_map_put(b, "key2", 4, "value1", 6), 0);
	assert_int_not_equal(kv_map_digest(b), before);
	/* Empty values and the limits. */
	assert_int_equal(kv_map_put(a, "empty", 5, "", 0), 0);
	v = kv_map_get(a, "empty", 5, &vlen);
	assert_non_null(v);
	assert_int_equal(vlen, 0);
	static char huge[KV_VALUE_MAX + 2];
	assert_int_equal(kv_map_put(a, "h", 1, huge, KV_VALUE_MAX + 1), -1);
	struct kv_map *c = kv_map_clone(a);
	assert_non_null(c);
	assert_int_equal(kv_map_digest(c), kv_map_digest(a));
	kv_map_free(a);
	kv_map_free(b);
	kv_map_free(c);
}

static void test_map_snapshot_round_trip_and_damage(void **state)
{
	(void)state;
	struct kv_map *m = kv_map_new();
	char key[32], value[64];
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(value, sizeof(value), "some value %d", i * 7);
		assert_int_equal(
		    kv_map_put(m, key, strlen(key), value, strlen(value)), 0);
	}
	uint8_t *buf;
	size_t len;
	assert_int_equal(kv_map_encode(m, &buf, &len), 0);
	int err;
	struct kv_map *copy = kv_map_decode(buf, len, &err);
	assert_non_null(copy);
	assert_int_equal(err, 0);
	assert_int_equal(kv_map_digest(copy), kv_map_digest(m));
	kv_map_free(copy);
	/* Every truncation fails cleanly. */
	for (size_t cut = 0; cut < len; cut++) {
		copy = kv_map_decode(buf, cut, &err);
		assert_null(copy);
		assert_int_equal(err, -2);
	}
	/* Flipped bytes: refused, or decoded into a well-formed map. */
	for (int round = 0; round < 3000; round++) {
		uint8_t *dam = malloc(len);
		assert_non_null(dam);
		memcpy(dam, buf, len);
		dam[rng_next() % len] ^= (uint8_t)(1u << (rng_next() % 8));
		copy = kv_map_decode(dam, len, &err);
		if (copy != NULL) {
			assert_int_equal(err, 0);
			assert_true(kv_map_count(copy) <= 200);
			kv_map_free(copy);
		} else {
			assert_int_equal(err, -2);
		}
		free(dam);
	}
	/* A count that promises more than the bytes hold. */
	uint8_t lie[12] = {'K',	 'V',  'S',  '1',  0xff, 0xff,
			   0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
	assert_null(kv_map_decode(lie, sizeof(lie), &err));
	/* The same key twice. */
	uint8_t twice[] = {'K', 'V', 'S', '1', 2,   0,	 0, 0, 0, 0,  0,
			   0,	1,   0,	  0,   0,   'a', 1, 0, 0, 0,  'x',
			   1,	0,   0,	  0,   'a', 1,	 0, 0, 0, 'y'};
	assert_null(kv_map_decode(twice, sizeof(twice), &err));
	assert_int_equal(err, -2);
	free(buf);
	kv_map_free(m);
}

static void test_command_round_trip_and_apply(void **state)
{
	(void)state;
	struct kv_command put = {.op = KV_OP_PUT,
				 .origin = 3,
				 .incarnation = 0x1122334455667788ull,
				 .seq = 99,
				 .key = "k",
				 .klen = 1,
				 .value = "v1",
				 .vlen = 2};
	uint8_t *buf;
	size_t len;
	assert_int_equal(kv_command_encode(&put, &buf, &len), 0);
	struct kv_command d;
	assert_int_equal(kv_command_decode(buf, len, &d), 0);
	assert_int_equal(d.op, KV_OP_PUT);
	assert_int_equal(d.origin, 3);
	assert_int_equal(d.incarnation, 0x1122334455667788ull);
	assert_int_equal(d.seq, 99);
	assert_memory_equal(d.value, "v1", 2);
	assert_null(d.old);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(kv_command_decode(buf, cut, &d), -2);
	buf[0] = KV_COMMAND_VERSION + 1;
	assert_int_equal(kv_command_decode(buf, len, &d), -2);
	free(buf);

	struct kv_map *m = kv_map_new();
	bool swapped;
	assert_int_equal(kv_command_apply(&put, m, &swapped), 0);
	assert_true(swapped);
	struct kv_command cas = put;
	cas.op = KV_OP_CAS;
	cas.old = "v0";
	cas.olen = 2;
	cas.value = "v2";
	assert_int_equal(kv_command_encode(&cas, &buf, &len), 0);
	assert_int_equal(kv_command_decode(buf, len, &d), 0);
	assert_memory_equal(d.old, "v0", 2);
	assert_int_equal(kv_command_apply(&d, m, &swapped), 0);
	assert_false(swapped);
	free(buf);
	cas.old = "v1";
	assert_int_equal(kv_command_apply(&cas, m, &swapped), 0);
	assert_true(swapped);
	size_t vlen;
	assert_string_equal(kv_map_get(m, "k", 1, &vlen), "v2");
	/* CAS on an absent key with no old value. */
	cas.key = "new";
	cas.klen = 3;
	cas.old = NULL;
	cas.olen = 0;
	assert_int_equal(kv_command_apply(&cas, m, &swapped), 0);
	assert_true(swapped);
	/* An empty key is not a command. */
	put.klen = 0;
	assert_int_equal(kv_command_encode(&put, &buf, &len), -2);
	kv_map_free(m);
}

static void test_command_random_bytes(void **state)
{
	(void)state;
	uint8_t buf[128];
	for (int round = 0; round < 50000; round++) {
		size_t len = rng_next() % sizeof(buf);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rng_next();
		if (len > 0 && rng_next() % 2)
			buf[0] = KV_COMMAND_VERSION;
		struct kv_command d;
		if (kv_command_decode(buf, len, &d) == 0) {
			assert_true(d.klen >= 1 && d.klen <= KV_KEY_MAX);
			assert_true(d.key + d.klen <= (const char *)buf + len);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_valid),
	    cmocka_unit_test(test_parse_invalid),
	    cmocka_unit_test(test_parse_random_bytes),
	    cmocka_unit_test(test_address_split),
	    cmocka_unit_test(test_map_basics_and_digest),
	    cmocka_unit_test(test_map_snapshot_round_trip_and_damage),
	    cmocka_unit_test(test_command_round_trip_and_apply),
	    cmocka_unit_test(test_command_random_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
