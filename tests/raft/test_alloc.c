/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Allocation failures inside the core. The binary is linked with malloc,
 * calloc and realloc wrapped; when failures are switched on, a share of
 * the core's allocations fail (the harness's own never do). The core must
 * report ENOMEM or treat the failure as a lost message, never crash, and
 * the cluster must stay safe and recover once memory is back.
 */
#include "tests/raft/unit.h"

#define E 1000

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static bool failing;
static unsigned fail_per_mille;
static uint64_t fail_rng = 1;
static unsigned long failures;

static bool should_fail(void)
{
	if (!failing || h_alloc_protected)
		return false;
	uint64_t x = fail_rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	fail_rng = x;
	if ((x * 0x2545f4914f6cdd1dull) % 1000 >= fail_per_mille)
		return false;
	failures++;
	return true;
}

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}

static void fail_allocations(unsigned per_mille)
{
	fail_per_mille = per_mille;
	failing = per_mille > 0;
}

static int stop_failing(void **state)
{
	(void)state;
	fail_allocations(0);
	return h_teardown(state);
}

/* With no memory at all, every call says so and changes nothing. */
static void test_alloc_every_call_fails_cleanly(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	fail_allocations(1000);
	assert_null(raft_new(1, &o, 1));
	fail_allocations(0);

	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_index last = LAST(c, 1);
	raft_id l = h_add_node(c);
	fail_allocations(1000);
	assert_int_equal(h_propose(c, 1, "x", NULL), RAFT_ENOMEM);
	assert_int_equal(LAST(c, 1), last);
	/* A batch is taken while the log has room: the rest is refused. */
	fail_allocations(0);
	enum { BATCH = 4096 };
	struct raft_command *batch = calloc(BATCH, sizeof(*batch));
	assert_non_null(batch);
	for (size_t i = 0; i < BATCH; i++) {
		batch[i].data = (uint8_t *)strdup("y");
		batch[i].len = 1;
		assert_non_null(batch[i].data);
	}
	fail_allocations(1000);
	size_t taken = 0;
	assert_int_equal(h_propose_batch(c, 1, batch, BATCH, NULL, &taken),
			 RAFT_ENOMEM);
	assert_true(taken < BATCH);
	assert_int_equal(LAST(c, 1), last + taken);
	last += taken;
	for (size_t i = taken; i < BATCH; i++)
		free(batch[i].data); /* not taken: still ours */
	free(batch);
	int rv = h_add_learner(c, 1, l, true);
	assert_true(rv == RAFT_ENOMEM);
	assert_int_equal(raft_config(h_raft(c, 1))->n, 3);
	rv = h_read(c, 1, 1);
	assert_true(rv == RAFT_ENOMEM || rv == RAFT_OK);
	/* A follower refuses a read as a follower, memory or not. */
	assert_int_equal(h_read(c, 2, 2), RAFT_ENOTLEADER);
	for (int i = 0; i < 30; i++) {
		for (raft_id id = 1; id <= c->n; id++)
			h_tick(c, id, 100);
		h_deliver_all(c);
	}
	fail_allocations(0);
	h_run(c, 5 * E);
	raft_id leader = h_leader(c);
	assert_int_not_equal(leader, 0);
	raft_index x;
	assert_int_equal(h_propose(c, leader, "x", &x), RAFT_OK);
	h_run(c, 500);
	for (raft_id id = 1; id <= 3; id++)
		assert_int_equal(COMMIT(c, id), x);
	h_check_no_error(c);
	h_free(c);
}

/* A raft_start that ran out of memory half-way through the log leaves the
 * node as it was: started again with memory, it takes the same log. */
static void test_alloc_start_retried(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	static uint8_t abc[] = "abc";
	struct raft_entry e[3];
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 3; i++) {
		e[i].index = (raft_index)i + 1;
		e[i].term = 1;
		e[i].type = RAFT_ENTRY_COMMAND;
		e[i].data = abc;
		e[i].len = 3;
	}
	struct raft_persisted_state st = {
	    .term = 1, .entries = e, .n_entries = 3};
	unsigned out_of_memory = 0;
	for (int k = 0; k < 40; k++) {
		struct raft *r = raft_new(1, &o, 1);
		assert_non_null(r);
		struct raft_update u;
		fail_allocations(300);
		int rv = raft_start(r, 0, &st, &u);
		fail_allocations(0);
		if (rv == RAFT_ENOMEM) {
			out_of_memory++;
			assert_int_equal(raft_start(r, 0, &st, &u), RAFT_OK);
			assert_int_equal(raft_last_index(r), 3);
		}
		raft_free(r);
	}
	assert_true(out_of_memory >= 5);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* A busy cluster with a share of the core's allocations failing. */
static void run_with_failures(uint64_t seed, unsigned per_mille)
{
	uint64_t rng = seed * 7919 + per_mille;
	fail_rng = seed * 104729 + 1;
	struct h_cluster *c = h_new_seeded(3, NULL, seed);
	h_elect(c, 1);
	fail_allocations(per_mille);
	for (int step = 0; step < 600; step++) {
		unsigned roll = (unsigned)(rnd(&rng) % 100);
		raft_id x = 1 + (raft_id)(rnd(&rng) % c->n);
		raft_id l = h_leader(c);
		if (roll < 40 && l != 0) {
			h_propose(c, l, "w", NULL);
		} else if (roll < 43 && l != 0) {
			h_read(c, l, (uint64_t)step);
		} else if (roll < 45 && h_node(c, x)->r != NULL) {
			h_snapshot(c, x);
		} else if (roll < 46) {
			h_crash(c, x);
			fail_allocations(0);
			h_restart(c, x);
			fail_allocations(per_mille);
		}
		for (raft_id id = 1; id <= c->n; id++)
			h_tick(c, id, H_STEP);
		h_deliver_all(c);
	}
	fail_allocations(0);
	h_run(c, 10 * E);
	raft_id l = h_leader(c);
	if (l == 0)
		fail_msg(
		    "seed %llu, %u per mille: no leader once memory is back",
		    (unsigned long long)seed, per_mille);
	raft_index x;
	assert_int_equal(h_propose(c, l, "final", &x), RAFT_OK);
	h_run(c, E);
	for (raft_id id = 1; id <= c->n; id++) {
		assert_int_equal(h_node(c, id)->applied, h_node(c, l)->applied);
		assert_int_equal(h_node(c, id)->hash, h_node(c, l)->hash);
	}
	h_check_no_error(c);
	h_free(c);
}

static void test_alloc_failures_keep_safety(void **state)
{
	(void)state;
	failures = 0;
	for (uint64_t seed = 1; seed <= 6; seed++) {
		run_with_failures(seed, 10);
		run_with_failures(seed, 100);
		run_with_failures(seed, 400);
	}
	assert_true(failures > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_alloc_every_call_fails_cleanly,
				      stop_failing),
	    cmocka_unit_test_teardown(test_alloc_failures_keep_safety,
				      stop_failing),
	    cmocka_unit_test_teardown(test_alloc_start_retried, stop_failing),
	};
	return cmocka_run_group_tests_name("raft-alloc", tests, NULL, NULL);
}
