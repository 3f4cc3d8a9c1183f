/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Tests that failed against the core when they were written; each is
 * described in the report to the core's author, who commits this file with
 * the fix. core.mk builds it whenever it exists.
 */
#include "tests/raft/unit.h"

#define E 1000

/* raft.h lists the writes of an update as "truncate, append entries, store
 * term/vote", and the storage layer's guide does them in that order. A
 * crash between the append and the term leaves entries of a term newer
 * than the stored one; the node must still start (its term is at least
 * that of its newest entry, and it cannot have voted in that term: a vote
 * leaves only after its write). */
static void test_restart_with_entries_newer_than_stored_term(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term old = TERM(c, 3);
	h_isolate(c, 3);
	h_elect(c, 2);
	raft_index x = propose(c, 2, "x");
	h_run(c, 300);
	h_heal(c);
	h_run(c, 300);
	raft_term t = TERM(c, 2);
	assert_true(t > old);
	assert_int_equal(LAST(c, 3), x);
	/* The term write of that update never reached the disk. */
	h_crash(c, 3);
	h_node(c, 3)->disk.term = old;
	h_node(c, 3)->disk.vote = 0;
	h_restart(c, 3);
	assert_true(TERM(c, 3) >= t);
	assert_int_equal(LAST(c, 3), x);
	raft_index y = propose(c, 2, "y");
	h_run(c, 300);
	assert_int_equal(COMMIT(c, 3), y);
	h_free(c);
}

/* The same right after raft_bootstrap: the configuration entry (term 1)
 * is on disk, the term write (1) is not. */
static void test_restart_after_bootstrap_entry_without_term(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_crash(c, 3);
	h_node(c, 3)->disk.term = 0;
	h_node(c, 3)->disk.vote = 0;
	h_restart(c, 3);
	assert_true(raft_has_config(h_raft(c, 3)));
	assert_true(TERM(c, 3) >= 1);
	h_run(c, 5 * E);
	raft_id l = h_leader(c);
	assert_int_not_equal(l, 0);
	raft_index x = propose(c, l, "x");
	h_run(c, 300);
	assert_int_equal(COMMIT(c, 3), x);
	h_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    TEST(test_restart_with_entries_newer_than_stored_term),
	    TEST(test_restart_after_bootstrap_entry_without_term),
	};
	return cmocka_run_group_tests_name("raft-core-bugs", tests, NULL, NULL);
}
