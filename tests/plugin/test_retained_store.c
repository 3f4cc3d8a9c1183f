/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The retained-message map: set, replace, delete and lookup against a
 * reference model through many random operations (deletes shift entries
 * back, across the end of the table too), 200,000 messages, sorted and
 * shared views that outlive changes and the store itself, and every
 * allocation failure leaving the store as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "plugin/records.h"
#include "plugin/retained_store.h"
#include "tests/plugin/alloc_fail.h"

/* Records here are "<topic>=<value>": the store does not read them. */
static int set_kv(struct ha_retained_store *s, const char *topic,
		  const char *value)
{
	char rec[256];
	int n = snprintf(rec, sizeof(rec), "%s=%s", topic, value);
	assert_true(n > 0 && (size_t)n < sizeof(rec));
	return ha_retained_store_set(s, (const uint8_t *)rec, (size_t)n, 0,
				     strlen(topic));
}

/* The value stored for topic, or NULL. */
static const char *get_kv(const struct ha_retained_store *s, const char *topic,
			  char *out, size_t out_len)
{
	const struct ha_retained_entry *e =
	    ha_retained_store_get(s, (const uint8_t *)topic, strlen(topic));
	if (e == NULL)
		return NULL;
	size_t len, tlen;
	const uint8_t *rec = ha_retained_entry_record(e, &len);
	const uint8_t *t = ha_retained_entry_topic(e, &tlen);
	assert_int_equal(tlen, strlen(topic));
	assert_memory_equal(t, topic, tlen);
	assert_ptr_equal(t, rec);
	assert_true(len > tlen && rec[tlen] == '=');
	snprintf(out, out_len, "%.*s", (int)(len - tlen - 1),
		 (const char *)rec + tlen + 1);
	return out;
}

static bool del(struct ha_retained_store *s, const char *topic)
{
	return ha_retained_store_delete(s, (const uint8_t *)topic,
					strlen(topic));
}

static void test_basics(void **state)
{
	(void)state;
	char v[64];
	struct ha_retained_store *s = ha_retained_store_new(1);
	assert_non_null(s);
	assert_int_equal(ha_retained_store_count(s), 0);
	assert_null(get_kv(s, "a", v, sizeof(v)));
	assert_false(del(s, "a"));

	assert_int_equal(set_kv(s, "a", "1"), 0);
	assert_int_equal(set_kv(s, "b", "22"), 0);
	assert_int_equal(ha_retained_store_count(s), 2);
	assert_int_equal(ha_retained_store_record_bytes(s), 3 + 4);
	assert_string_equal(get_kv(s, "a", v, sizeof(v)), "1");
	assert_int_equal(set_kv(s, "a", "333"), 0); /* replace */
	assert_int_equal(ha_retained_store_count(s), 2);
	assert_int_equal(ha_retained_store_record_bytes(s), 5 + 4);
	assert_string_equal(get_kv(s, "a", v, sizeof(v)), "333");
	/* A topic is a byte string: a prefix is another topic. */
	assert_null(get_kv(s, "", v, sizeof(v)));
	assert_int_equal(set_kv(s, "ab", "x"), 0);
	assert_string_equal(get_kv(s, "a", v, sizeof(v)), "333");
	assert_true(del(s, "a"));
	assert_false(del(s, "a"));
	assert_null(get_kv(s, "a", v, sizeof(v)));
	assert_string_equal(get_kv(s, "ab", v, sizeof(v)), "x");
	assert_int_equal(ha_retained_store_count(s), 2);
	assert_int_equal(ha_retained_store_record_bytes(s), 4 + 4);

	/* A topic outside its record is refused. */
	assert_int_equal(
	    ha_retained_store_set(s, (const uint8_t *)"ab", 2, 1, 2), -1);
	ha_retained_store_free(s);
}

/* Random operations on up to 40 topics in a small table, checked after
 * each one against an array of what every topic holds. */
static void test_model(void **state)
{
	(void)state;
	enum { TOPICS = 40, OPS = 20000 };
	int model[TOPICS];
	for (size_t i = 0; i < TOPICS; i++)
		model[i] = -1;
	struct ha_retained_store *s = ha_retained_store_new(7);
	assert_non_null(s);
	srand(12345);
	size_t present = 0;
	char topic[32], value[32], got[32];
	for (int op = 0; op < OPS; op++) {
		int k = rand() % TOPICS;
		snprintf(topic, sizeof(topic), "t/%d", k);
		if (rand() % 2 == 0) {
			snprintf(value, sizeof(value), "%d", op);
			assert_int_equal(set_kv(s, topic, value), 0);
			present += model[k] < 0;
			model[k] = op;
		} else {
			assert_int_equal(del(s, topic), model[k] >= 0);
			present -= model[k] >= 0;
			model[k] = -1;
		}
		assert_int_equal(ha_retained_store_count(s), present);
		for (int j = 0; j < TOPICS; j++) {
			snprintf(topic, sizeof(topic), "t/%d", j);
			const char *g = get_kv(s, topic, got, sizeof(got));
			if (model[j] < 0) {
				assert_null(g);
			} else {
				assert_non_null(g);
				assert_int_equal(atoi(g), model[j]);
			}
		}
	}
	/* The walk visits each entry once. */
	size_t cursor = 0, walked = 0;
	const struct ha_retained_entry *e;
	while (ha_retained_store_next(s, &cursor, &e))
		walked++;
	assert_int_equal(walked, present);
	ha_retained_store_free(s);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 200,000 messages of a 64-byte payload on a 32-byte topic. */
static void test_many(void **state)
{
	(void)state;
	enum { N = 200000 };
	struct ha_retained_store *s = ha_retained_store_new(99);
	assert_non_null(s);
	char topic[33], rec[32 + 1 + 64];
	memset(rec, 'p', sizeof(rec));
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++) {
		snprintf(topic, sizeof(topic), "building/floor/room/%012d", i);
		assert_int_equal(strlen(topic), 32);
		memcpy(rec, topic, 32);
		assert_int_equal(ha_retained_store_set(s, (const uint8_t *)rec,
						       sizeof(rec), 0, 32),
				 0);
	}
	double insert = seconds_since(&t0);
	assert_int_equal(ha_retained_store_count(s), N);
	assert_int_equal(ha_retained_store_record_bytes(s),
			 (uint64_t)N * sizeof(rec));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++) {
		snprintf(topic, sizeof(topic), "building/floor/room/%012d", i);
		assert_non_null(
		    ha_retained_store_get(s, (const uint8_t *)topic, 32));
	}
	double lookup = seconds_since(&t0);
	printf("    200000 messages (sanitized build): insert %.3f s, "
	       "lookup %.3f s; store memory %.1f bytes per message "
	       "(record %zu bytes)\n",
	       insert, lookup, (double)ha_retained_store_memory(s) / N,
	       sizeof(rec));

	const struct ha_retained_entry **sorted;
	size_t n;
	assert_int_equal(ha_retained_store_sorted(s, &sorted, &n), 0);
	assert_int_equal(n, N);
	for (size_t i = 1; i < n; i++) {
		size_t a_len, b_len;
		const uint8_t *a =
		    ha_retained_entry_topic(sorted[i - 1], &a_len);
		const uint8_t *b = ha_retained_entry_topic(sorted[i], &b_len);
		assert_true(ha_retained_topic_cmp(a, a_len, b, b_len) < 0);
	}
	ha_retained_entries_release(sorted, n);

	for (int i = 0; i < N; i += 2) {
		snprintf(topic, sizeof(topic), "building/floor/room/%012d", i);
		assert_true(del(s, topic));
	}
	assert_int_equal(ha_retained_store_count(s), N / 2);
	for (int i = 0; i < N; i++) {
		snprintf(topic, sizeof(topic), "building/floor/room/%012d", i);
		assert_true(
		    (ha_retained_store_get(s, (const uint8_t *)topic, 32) !=
		     NULL) == (i % 2 == 1));
	}
	/* Deleting the rest gives the table back. */
	uint64_t full = ha_retained_store_memory(s);
	for (int i = 1; i < N; i += 2) {
		snprintf(topic, sizeof(topic), "building/floor/room/%012d", i);
		assert_true(del(s, topic));
	}
	assert_int_equal(ha_retained_store_count(s), 0);
	assert_true(ha_retained_store_memory(s) < full / 1000);
	ha_retained_store_free(s);
}

/* A shared view keeps its entries, whatever the store does after. */
static void test_shared_view(void **state)
{
	(void)state;
	struct ha_retained_store *s = ha_retained_store_new(3);
	assert_non_null(s);
	assert_int_equal(set_kv(s, "c", "3"), 0);
	assert_int_equal(set_kv(s, "a", "1"), 0);
	assert_int_equal(set_kv(s, "b", "2"), 0);
	const struct ha_retained_entry **view;
	size_t n;
	assert_int_equal(ha_retained_store_sorted(s, &view, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(set_kv(s, "a", "changed"), 0);
	assert_true(del(s, "b"));
	ha_retained_store_free(s);
	const char *expected[] = {"a=1", "b=2", "c=3"};
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const uint8_t *rec = ha_retained_entry_record(view[i], &len);
		assert_int_equal(len, 3);
		assert_memory_equal(rec, expected[i], 3);
	}
	ha_retained_entries_release(view, n);

	s = ha_retained_store_new(3);
	assert_non_null(s);
	assert_int_equal(ha_retained_store_share(s, &view, &n), 0);
	assert_null(view);
	assert_int_equal(n, 0);
	ha_retained_entries_release(view, n);
	ha_retained_store_free(s);
}

static void expect_contents(const struct ha_retained_store *s, int upto)
{
	char topic[16], got[16];
	assert_int_equal(ha_retained_store_count(s), (size_t)upto);
	for (int i = 0; i < upto; i++) {
		snprintf(topic, sizeof(topic), "t%d", i);
		assert_non_null(get_kv(s, topic, got, sizeof(got)));
		assert_int_equal(atoi(got), i);
	}
}

static void test_out_of_memory(void **state)
{
	(void)state;
	for (long n = 0;; n++) {
		alloc_fail_after(n);
		struct ha_retained_store *s = ha_retained_store_new(5);
		bool injected = alloc_fail_off();
		if (!injected) {
			assert_non_null(s);
			ha_retained_store_free(s);
			break;
		}
		assert_null(s);
	}

	struct ha_retained_store *s = ha_retained_store_new(5);
	assert_non_null(s);
	char topic[16], value[16], got[16];
	/* Inserts through several growths, each first failing at every
	 * allocation it makes. */
	for (int i = 0; i < 100; i++) {
		snprintf(topic, sizeof(topic), "t%d", i);
		snprintf(value, sizeof(value), "%d", i);
		for (long n = 0;; n++) {
			alloc_fail_after(n);
			int rv = set_kv(s, topic, value);
			if (!alloc_fail_off()) {
				assert_int_equal(rv, 0);
				break;
			}
			assert_int_equal(rv, -1);
			expect_contents(s, i);
			snprintf(topic, sizeof(topic), "t%d", i);
		}
	}
	/* A failed reservation changes nothing; a granted one means no
	 * growth for that many. */
	alloc_fail_after(0);
	assert_int_equal(ha_retained_store_reserve(s, 1000), -1);
	assert_true(alloc_fail_off());
	expect_contents(s, 100);
	assert_int_equal(ha_retained_store_reserve(s, 1000), 0);
	uint64_t reserved = ha_retained_store_memory(s);
	assert_int_equal(ha_retained_store_reserve(s, 10), 0);
	assert_true(ha_retained_store_memory(s) == reserved);
	/* A failed replace keeps the old value. */
	alloc_fail_after(0);
	assert_int_equal(set_kv(s, "t7", "70"), -1);
	assert_true(alloc_fail_off());
	assert_string_equal(get_kv(s, "t7", got, sizeof(got)), "7");
	expect_contents(s, 100);

	const struct ha_retained_entry **view;
	size_t count;
	alloc_fail_after(0);
	assert_int_equal(ha_retained_store_sorted(s, &view, &count), -1);
	assert_true(alloc_fail_off());
	/* No reference was left behind: freeing frees everything (the
	 * sanitizer would report a leak otherwise). */
	ha_retained_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basics),
	    cmocka_unit_test(test_model),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_shared_view),
	    cmocka_unit_test(test_out_of_memory),
	};
	return cmocka_run_group_tests_name("plugin retained store", tests, NULL,
					   NULL);
}
