/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * What a random schedule rarely reaches, staged step by step: a response
 * from an older term reaching a leader that was elected again meanwhile,
 * snapshots asked for at other indexes than the applied one, snapshot chunks
 * as the leader contact that keeps a voter's promise, and the lease ending
 * before a TimeoutNow leaves (both ways one leaves: a transfer and a removed
 * leader handing over).
 *
 * The lease test reads the core's own lease, not only raft_lease_until():
 * the API hides the lease during any transfer, so only the core's state
 * shows that it ended rather than being hidden.
 */
#include "raft/core.h"
#include "tests/raft/unit.h"

#define E 1000
#define HB 100

/* The queued response from `from` to `to` that acknowledges the most,
 * copied (a response carries no pointers) and removed from the queue. */
static struct raft_message take_newest_ack(struct h_cluster *c, raft_id from,
					   raft_id to)
{
	struct raft_message best;
	memset(&best, 0, sizeof(best));
	for (size_t i = 0; i < c->n_queue; i++) {
		const struct raft_message *m = &c->queue[i].m;
		if (m->type == RAFT_MSG_APPEND_RESP && m->from == from &&
		    m->to == to && !m->reject && m->index >= best.index)
			best = *m;
	}
	assert_int_equal(best.type, RAFT_MSG_APPEND_RESP);
	h_drop(c, RAFT_MSG_APPEND_RESP, from, to);
	return best;
}

/* Node 1 leads term t1 and gets entries onto node 2 only; node 2's
 * acknowledgement is held back. Node 3 wins term t2 without node 2 and
 * overwrites those entries on node 1; node 1 wins term t3. Then the old
 * acknowledgement arrives: it speaks of entries node 1 no longer holds. It
 * must move neither node 2's match (so it cannot help commit), nor the
 * commit index, nor the lease. */
static void test_stale_ack_after_reelection_changes_nothing(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(5, NULL);
	h_elect(c, 1);
	raft_term t1 = TERM(c, 1);
	raft_index k = LAST(c, 1);
	for (raft_id id = 3; id <= 5; id++)
		h_cut(c, 1, id);
	propose(c, 1, "x");
	propose(c, 1, "y");
	raft_index z = propose(c, 1, "z");
	while (h_deliver(c, RAFT_MSG_APPEND, 1, 2))
		;
	assert_int_equal(LAST(c, 2), z);
	struct raft_message stale = take_newest_ack(c, 2, 1);
	assert_int_equal(stale.term, t1);
	assert_int_equal(stale.index, z);
	assert_true(stale.round > 0);
	h_drop(c, 0, 1, 0);

	/* Term t2: node 3 leads with 4 and 5 and replaces x on node 1. */
	h_isolate(c, 2);
	h_elect(c, 3);
	raft_term t2 = TERM(c, 3);
	assert_true(t2 > t1);
	h_heal(c);
	h_isolate(c, 2);
	h_run(c, 500);
	assert_int_equal(ROLE(c, 3), RAFT_LEADER);
	assert_int_equal(LAST(c, 1), k + 1);
	assert_int_equal(raft_term_at(h_raft(c, 1), k + 1), t2);

	/* Term t3: node 1 again, its own appends still queued. */
	assert_true(h_campaign(c, 1));
	assert_true(TERM(c, 1) > t2);
	raft_index commit = COMMIT(c, 1);
	assert_true(commit < k + 2);
	assert_int_equal(raft_lease_until(h_raft(c, 1)), 0);
	h_drop(c, 0, 1, 0);

	assert_int_equal(h_step(c, &stale), RAFT_OK);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(COMMIT(c, 1), commit);
	assert_int_equal(raft_lease_until(h_raft(c, 1)), 0);
	/* The leader still probes node 2 from its own log, not past z. */
	struct raft *r1 = h_raft(c, 1);
	const struct progress *p2 = raft__progress_find(r1, 2);
	assert_non_null(p2);
	assert_true(p2->match < k + 1);

	/* Entry z' of term t3 at z's index reaches node 3 only: with node 1
	 * that is two of five, not a majority, unless node 2's stale
	 * acknowledgement were counted. */
	raft_index z3 = propose(c, 1, "w");
	assert_int_equal(z3, z);
	h_cut(c, 1, 4);
	h_cut(c, 1, 5);
	for (int i = 0; i < 5; i++) {
		h_tick(c, 1, HB / 2);
		h_deliver_all(c);
	}
	assert_int_equal(LAST(c, 3), z3);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	assert_true(COMMIT(c, 1) < k + 2);
	assert_int_equal(raft_lease_until(h_raft(c, 1)), 0);
	h_free(c);
}

/* raft_snapshot_taken refuses an index past what the state machine
 * applied, even one the log holds; it takes one below it. */
static void test_snapshot_taken_refuses_index_past_applied(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	for (int i = 0; i < 6; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	raft_index applied = h_node(c, 1)->applied;
	assert_int_equal(applied, LAST(c, 1));
	/* An entry beyond the applied index, not committed. */
	h_isolate(c, 1);
	raft_index extra = propose(c, 1, "uncommitted");
	assert_int_equal(extra, applied + 1);
	assert_non_null(raft_entry_at(h_raft(c, 1), extra));
	struct h_node *n1 = h_node(c, 1);
	struct raft_update u;
	assert_int_equal(
	    raft_snapshot_taken(h_raft(c, 1), n1->now, extra, 32, &u),
	    RAFT_EINVAL);
	assert_int_equal(raft_snapshot_index(h_raft(c, 1)), 0);
	/* Below the applied index: taken, with that entry's term. */
	raft_index below = applied - 2;
	raft_term below_term = raft_term_at(h_raft(c, 1), below);
	assert_int_equal(
	    raft_snapshot_taken(h_raft(c, 1), n1->now, below, 32, &u), RAFT_OK);
	assert_int_equal(raft_snapshot_index(h_raft(c, 1)), below);
	assert_int_equal(raft_snapshot_term(h_raft(c, 1)), below_term);
	/* Then one at the applied index moves it on; past it, still no. */
	assert_int_equal(
	    raft_snapshot_taken(h_raft(c, 1), n1->now, applied, 32, &u),
	    RAFT_OK);
	assert_int_equal(raft_snapshot_index(h_raft(c, 1)), applied);
	assert_int_equal(
	    raft_snapshot_taken(h_raft(c, 1), n1->now, extra, 32, &u),
	    RAFT_EINVAL);
	h_free(c);
}

/* A node receiving the snapshot from its leader hears from it with every
 * chunk: each one starts a new no-vote window, not only the first one, which
 * made it follow that leader. */
static void test_snapshot_chunk_is_leader_contact(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_crash(c, 3);
	for (int i = 0; i < 10; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	propose(c, 1, "after");
	h_run(c, 300);
	h_restart(c, 3);
	/* Past the window of its restart. */
	h_advance(c, 3, E + 1);
	/* The leader resends the chunks that went to the crashed node. */
	for (int i = 0; i < 5 && h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3) < 2; i++)
		h_tick(c, 1, HB);
	assert_true(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3) >= 2);
	h_drop(c, RAFT_MSG_APPEND, 1, 3);
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3));
	assert_int_equal(raft_leader(h_raft(c, 3)), 1);
	h_advance(c, 3, 600);
	h_drop(c, RAFT_MSG_APPEND, 1, 3);
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3));
	assert_true(h_node(c, 3)->chunks_written >= 2);
	/* 1200 ms after the first chunk, 600 after the second. */
	h_advance(c, 3, 600);
	raft_term t = TERM(c, 3);
	struct raft_message v = h_msg(RAFT_MSG_VOTE, 2, 3, t + 1);
	v.index = LAST(c, 2);
	v.hint_term = raft_term_at(h_raft(c, 2), v.index);
	h_step(c, &v);
	assert_int_equal(h_pending(c, RAFT_MSG_VOTE_RESP, 3, 2), 0);
	assert_int_equal(TERM(c, 3), t);
	/* An election timeout after the second chunk, the promise is over. */
	h_advance(c, 3, 401);
	h_step(c, &v);
	struct raft_message *resp = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2);
	assert_non_null(resp);
	assert_false(resp->reject);
	h_free(c);
}

/* The lease ends before a TimeoutNow leaves, in the core itself, and no
 * acknowledged round brings it back; while the transfer only waits for the
 * target to catch up, the lease is merely withheld. */
static void test_lease_ends_before_timeout_now_leaves(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	struct raft *r1 = h_raft(c, 1);
	h_cut(c, 1, 3);
	propose(c, 1, "x");
	h_tick(c, 1, HB);
	h_deliver_all(c);
	assert_true(r1->lease_until > h_node(c, 1)->now);
	assert_int_equal(h_transfer(c, 1, 3), RAFT_OK);
	/* Node 3 lacks x: no TimeoutNow yet, the lease is only withheld. */
	assert_int_equal(h_pending(c, RAFT_MSG_TIMEOUT_NOW, 1, 3), 0);
	assert_int_equal(raft_lease_until(r1), 0);
	assert_true(r1->lease_until > h_node(c, 1)->now);
	h_heal(c);
	/* Deliver one message at a time until the TimeoutNow is out. */
	for (int i = 0; i < 50 && h_pending(c, RAFT_MSG_TIMEOUT_NOW, 1, 3) == 0;
	     i++) {
		if (c->n_queue == 0)
			h_tick(c, 1, HB / 2);
		else
			h_deliver_nth(c, 0, false);
	}
	assert_int_equal(h_pending(c, RAFT_MSG_TIMEOUT_NOW, 1, 3), 1);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(r1->lease_until, 0);
	/* Rounds acknowledged after it do not bring the lease back. */
	h_drop(c, RAFT_MSG_TIMEOUT_NOW, 1, 3);
	h_tick(c, 1, HB);
	h_deliver_all(c);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(r1->lease_until, 0);
	assert_int_equal(raft_lease_until(r1), 0);
	h_free(c);
}

/* A leader removed from the configuration hands over with a TimeoutNow:
 * in the update that sends it, it is no longer leader and holds no lease. */
static void test_removed_leader_lease_ends_before_timeout_now(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	struct raft *r1 = h_raft(c, 1);
	assert_true(raft_lease_until(r1) > h_node(c, 1)->now);
	assert_int_equal(h_remove(c, 1, 1), RAFT_OK);
	for (int i = 0; i < 50 && h_pending(c, RAFT_MSG_TIMEOUT_NOW, 1, 0) == 0;
	     i++) {
		assert_true(c->n_queue > 0);
		assert_true(r1->lease_until == 0 || ROLE(c, 1) == RAFT_LEADER);
		h_deliver_nth(c, 0, false);
	}
	assert_int_equal(h_pending(c, RAFT_MSG_TIMEOUT_NOW, 1, 0), 1);
	assert_int_not_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(r1->lease_until, 0);
	assert_int_equal(raft_lease_until(r1), 0);
	h_free(c);
}

int main(void)
{
	h_plant_bug_from_env();
	const struct CMUnitTest tests[] = {
	    TEST(test_stale_ack_after_reelection_changes_nothing),
	    TEST(test_snapshot_taken_refuses_index_past_applied),
	    TEST(test_snapshot_chunk_is_leader_contact),
	    TEST(test_lease_ends_before_timeout_now_leaves),
	    TEST(test_removed_leader_lease_ends_before_timeout_now),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
