/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * One test per bug that hit real Raft implementations
 * (shared/reference/raft-lessons.md), each replaying the sequence of events
 * that exposed it.
 *
 * The disk-format bugs belong to the storage layer and are tested there, not
 * here: segment name and contents disagreeing after a kill; "entry count in
 * header too high" after a torn write; a closed segment past the last
 * snapshot after the disk filled; a snapshot without a checksum.
 *
 * The Jepsen findings are shown as far as a core without I/O can show them:
 * committed writes surviving failover and partitions with membership
 * changes, reads after a restart, stale reads from a deposed leader, and
 * split brain (two leases never overlap, even with drifting clocks).
 *
 * Built against the self-check library, RAFT_PLANTED_BUG=<n> plants one of
 * the core's known bugs (raft/bugs.h); the test named after it must fail.
 */
#include <stdlib.h>

#include "tests/raft/unit.h"

#define E 1000
#define HB 100

static struct raft_message vote_request(raft_id from, raft_id to,
					raft_term term, raft_index last_index,
					raft_term last_term)
{
	struct raft_message m = h_msg(RAFT_MSG_VOTE, from, to, term);
	m.index = last_index;
	m.hint_term = last_term;
	return m;
}

/* ---- Committing an entry of an earlier term by counting replicas ---- */

static struct h_cluster *figure;

/* Entry 4 may be offered (and refused) but never reaches a follower that
 * holds entry 3. */
static bool hold_back_entry_4(const struct raft_message *m)
{
	struct raft *to = h_node(figure, m->to)->r;
	return !(m->type == RAFT_MSG_APPEND && m->n_entries > 0 &&
		 m->prev_index + m->n_entries >= 4 && to != NULL &&
		 raft_last_index(to) >= 3);
}

/* Figure 8 of the Raft paper, on five servers. */
static void test_lesson_commit_old_term_figure8(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.max_append_entries = 1; /* one entry per message: exact control */
	struct h_cluster *c = h_new(5, &o);
	figure = c;

	/* (a) S1 leads term 2 and gets x (index 3) onto S2 only. */
	h_elect(c, 1);
	raft_term t2 = TERM(c, 1);
	for (raft_id id = 3; id <= 5; id++)
		h_cut(c, 1, id);
	raft_index x = propose(c, 1, "x");
	assert_int_equal(x, 3);
	h_deliver_all(c);
	assert_int_equal(LAST(c, 2), 3);

	/* (b) S5 wins term 3 with S3 and S4 and appends its no-op at 3,
	 * which goes nowhere. */
	h_isolate(c, 1);
	for (raft_id id = 3; id <= 5; id++)
		h_cut(c, 2, id);
	assert_true(h_campaign(c, 5));
	h_drop(c, 0, 0, 0);
	raft_term t3 = TERM(c, 5);
	assert_int_equal(raft_term_at(h_raft(c, 5), 3), t3);

	/* (c) S5 dies; S1 wins a later term and spreads x to a majority, but
	 * not yet an entry of its own term. */
	h_crash(c, 5);
	h_heal(c);
	assert_true(h_campaign(c, 1));
	assert_true(TERM(c, 1) > t3);
	h_deliver_filtered(c, hold_back_entry_4);
	for (raft_id id = 2; id <= 4; id++)
		assert_int_equal(raft_term_at(h_raft(c, id), 3), t2);
	/* Four of five hold x, yet it is not committed. */
	assert_int_equal(COMMIT(c, 1), 2);

	/* (d) S1 dies; S5 comes back and wins with a more up-to-date log,
	 * overwriting x everywhere. Had x been committed, this would lose it.
	 */
	h_crash(c, 1);
	h_restart(c, 5);
	assert_true(h_campaign(c, 5));
	h_run(c, 2 * E);
	assert_int_equal(h_leader(c), 5);
	for (raft_id id = 2; id <= 5; id++) {
		assert_int_not_equal(raft_term_at(h_raft(c, id), 3), t2);
		assert_true(h_node(c, id)->applied >= 3);
		assert_int_equal(h_node(c, id)->n_commands, 0);
	}
	h_free(c);
}

/* ---- A membership change before the new leader's first commit ---- */

static void test_lesson_membership_change_before_noop(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	raft_id l = h_add_node(c);
	assert_true(h_campaign(c, 1));
	/* The no-op of the term is appended but not committed. */
	assert_int_equal(raft_entry_at(h_raft(c, 1), LAST(c, 1))->type,
			 RAFT_ENTRY_NOOP);
	assert_int_equal(h_add_learner(c, 1, l, true), RAFT_EBUSY);
	assert_int_equal(h_remove(c, 1, 3), RAFT_EBUSY);
	assert_int_equal(raft_config(h_raft(c, 1))->n, 3);
	h_deliver_all(c);
	assert_true(COMMIT(c, 1) >= LAST(c, 1));
	/* Now one change, and only one until it commits. */
	assert_int_equal(h_add_learner(c, 1, l, true), RAFT_OK);
	assert_int_equal(h_remove(c, 1, 3), RAFT_EBUSY);
	h_run(c, E);
	assert_int_equal(
	    raft_config_voters(raft_committed_config(h_raft(c, 1))), 4);
	h_free(c);
}

/* ---- A removed node that keeps starting elections ---- */

static void check_removed_node_harmless(bool pre_vote)
{
	struct raft_options o;
	h_options(&o);
	o.pre_vote = pre_vote;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);
	/* Node 3 is away while it is removed: it never learns. */
	h_isolate(c, 3);
	assert_int_equal(h_remove(c, 1, 3), RAFT_OK);
	h_run(c, 300);
	assert_null(raft_config_find(raft_committed_config(h_raft(c, 1)), 3));
	h_heal(c);
	h_run(c, 10 * E);
	assert_true(raft_has_config(h_raft(c, 3)));
	assert_int_equal(h_leader(c), 1);
	assert_int_equal(TERM(c, 1), t);
	assert_int_equal(TERM(c, 2), t);
	raft_index x = propose(c, 1, "still fine");
	h_run(c, 300);
	assert_int_equal(COMMIT(c, 2), x);
	h_free(c);
}

static void test_lesson_removed_node_does_not_disrupt(void **state)
{
	(void)state;
	check_removed_node_harmless(true);
	check_removed_node_harmless(false);
}

/* ---- Pre-vote with check-quorum: no node stuck at a lower term ---- */

/* Node 1 is gone; node 2 has the newer log, node 3 the higher term (it
 * answered a transfer campaign that failed). Neither wins alone; node 2
 * must learn node 3's term from its pre-vote rejection and win. */
static void test_lesson_prevote_checkquorum_no_stuck_term(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_isolate(c, 3);
	propose(c, 1, "x");
	h_run(c, 300);
	h_crash(c, 1);
	h_heal(c);
	raft_term t = TERM(c, 2);
	struct raft_message m = vote_request(1, 3, t + 7, 1, 1);
	m.transfer = 1;
	h_step(c, &m);
	h_drop(c, 0, 0, 0);
	assert_int_equal(TERM(c, 3), t + 7);
	assert_true(LAST(c, 2) > LAST(c, 3));

	h_run(c, 10 * E);
	assert_int_equal(h_leader(c), 2);
	assert_true(TERM(c, 2) > t + 7);
	raft_index y = propose(c, 2, "y");
	h_run(c, 300);
	assert_int_equal(COMMIT(c, 3), y);
	assert_string_equal(h_node(c, 3)->last_command, "y");

	/* The other way round: the node with the lower term is the one that
	 * must win; it learns nothing from being ignored, so it must be
	 * answered. */
	struct h_cluster *d = h_new(3, NULL);
	h_elect(d, 1);
	h_isolate(d, 3);
	h_elect(d, 2); /* term up by one on 1 and 2 */
	h_crash(d, 2);
	h_heal(d);
	assert_true(TERM(d, 1) > TERM(d, 3));
	h_run(d, 10 * E);
	assert_true(h_leader(d) == 1 || h_leader(d) == 3);
	h_free(d);
	h_free(c);
}

/* A pre-candidate forgets its old leader: it must not keep answering as a
 * follower of a leader it no longer hears. */
static void test_lesson_precandidate_forgets_stale_leader(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	assert_int_equal(raft_leader(h_raft(c, 2)), 1);
	h_crash(c, 1);
	h_tick(c, 2, 2 * E);
	assert_non_null(h_peek(c, RAFT_MSG_PREVOTE, 2, 3));
	assert_int_equal(raft_leader(h_raft(c, 2)), 0);
	/* And node 3, whose timer has not fired, grants it. */
	h_advance(c, 3, 2 * E);
	h_deliver_all(c);
	h_run(c, 200);
	assert_int_equal(h_leader(c), 2);
	h_free(c);
}

/* ---- Snapshot install and a follower crash ---- */

static void lagging_follower(struct h_cluster *c, raft_id f)
{
	h_elect(c, 1);
	h_crash(c, f);
	for (int i = 0; i < 10; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	propose(c, 1, "after");
	h_run(c, 300);
	h_restart(c, f);
}

static void test_lesson_snapshot_install_follower_crash_not_stuck(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	lagging_follower(c, 3);
	for (int i = 0; i < 1000 && h_node(c, 3)->chunks_written < 2; i++)
		if (!h_deliver(c, 0, 0, 0))
			h_tick(c, 1, 10);
	h_crash(c, 3); /* mid-transfer, and away for a while */
	h_run(c, 5 * E);
	h_restart(c, 3);
	h_run(c, E);
	assert_int_equal(h_node(c, 3)->installs, 1);
	/* The leader replicates to it again, it is not parked in snapshot
	 * state. */
	raft_index y = propose(c, 1, "y");
	h_run(c, 300);
	assert_int_equal(LAST(c, 3), y);
	assert_string_equal(h_node(c, 3)->last_command, "y");
	assert_int_equal(h_node(c, 3)->hash, h_node(c, 1)->hash);
	h_free(c);
}

/* ---- A follower behind compaction looping on snapshot installs ---- */

static void test_lesson_follower_behind_compaction_no_loop(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	lagging_follower(c, 3);
	/* The leader keeps writing and compacting while node 3 catches up. */
	unsigned snapshots = 1;
	for (int step = 0; step < 30; step++) {
		propose(c, 1, "w");
		h_run(c, HB);
		if (step % 5 == 4 && h_snapshot(c, 1) == RAFT_OK)
			snapshots++;
	}
	h_run(c, 2 * E);
	struct h_node *n3 = h_node(c, 3);
	assert_true(n3->installs >= 1);
	assert_true(n3->installs <= snapshots);
	assert_int_equal(n3->applied, h_node(c, 1)->applied);
	assert_int_equal(n3->hash, h_node(c, 1)->hash);
	/* Once caught up it follows by AppendEntries alone. */
	unsigned installs = n3->installs;
	for (int i = 0; i < 5; i++)
		propose(c, 1, "more");
	h_run(c, E);
	assert_int_equal(n3->installs, installs);
	assert_int_equal(n3->applied, h_node(c, 1)->applied);
	h_free(c);
}

/* ---- Commit before persist (single node) ---- */

static void test_lesson_single_node_commit_only_after_persist(void **state)
{
	(void)state;
	struct h_cluster *c = h_new_blank(1, NULL);
	h_slow_disk(c, 1, true);
	struct raft_config cfg;
	h_config_of(1, &cfg);
	assert_int_equal(h_bootstrap(c, 1, &cfg), RAFT_OK);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(COMMIT(c, 1), 0);
	h_flush(c, 1);
	raft_index noop = LAST(c, 1);
	assert_int_equal(COMMIT(c, 1), noop);

	raft_index x = propose(c, 1, "x");
	h_tick(c, 1, HB);
	assert_int_equal(COMMIT(c, 1), noop);
	assert_int_equal(h_node(c, 1)->n_commands, 0);
	/* The process dies before the write is durable: x was never
	 * reported committed, so losing it breaks no promise. */
	h_restart(c, 1);
	assert_int_not_equal(raft_entry_at(h_raft(c, 1), x)->type,
			     RAFT_ENTRY_COMMAND);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER); /* again, in a new term */
	h_flush(c, 1);
	x = propose(c, 1, "x");
	assert_int_not_equal(COMMIT(c, 1), x);
	h_flush(c, 1);
	assert_int_equal(COMMIT(c, 1), x);
	assert_string_equal(h_node(c, 1)->last_command, "x");
	h_free(c);
}

/* ---- Acknowledgements and votes sent before fsync ---- */

static void test_lesson_acks_and_votes_wait_for_persist(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);
	h_slow_disk(c, 2, true);
	raft_index x = propose(c, 1, "x");
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	assert_int_equal(LAST(c, 2), x);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND_RESP, 2, 1), 0);
	h_flush(c, 2);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND_RESP, 2, 1), 1);
	h_slow_disk(c, 2, false);
	h_drop(c, 0, 0, 0);

	h_slow_disk(c, 3, true);
	h_advance(c, 3, E);
	struct raft_message m = vote_request(2, 3, t + 1, x, t);
	h_step(c, &m);
	assert_int_equal(h_pending(c, RAFT_MSG_VOTE_RESP, 3, 2), 0);
	h_flush(c, 3);
	struct raft_message *r = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2);
	assert_non_null(r);
	assert_false(r->reject);
	assert_int_equal(h_node(c, 3)->disk.vote, 2);
	assert_int_equal(h_node(c, 3)->disk.term, t + 1);
	h_free(c);
}

/* ---- Two votes in one term ---- */

static void test_lesson_vote_once_per_term_across_restart(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_advance(c, 3, E);
	struct raft_message a = vote_request(1, 3, 5, 1, 1);
	struct raft_message b = vote_request(2, 3, 5, 1, 1);

	/* A vote whose write was lost was never sent: voting again is fine. */
	h_slow_disk(c, 3, true);
	h_step(c, &a);
	assert_int_equal(h_pending(c, RAFT_MSG_VOTE_RESP, 3, 1), 0);
	h_crash(c, 3);
	h_slow_disk(c, 3, false);
	h_restart(c, 3);
	h_advance(c, 3, E);
	h_step(c, &b);
	struct raft_message *r = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2);
	assert_non_null(r);
	assert_false(r->reject);

	/* A vote that was sent is remembered across the restart. */
	h_crash(c, 3);
	h_restart(c, 3);
	h_advance(c, 3, E);
	h_drop(c, 0, 0, 0);
	h_step(c, &a);
	r = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 1);
	assert_non_null(r);
	assert_true(r->reject);
	h_step(c, &b);
	assert_false(h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2)->reject);
	h_free(c);
}

/* ---- A leader that goes on without a quorum ---- */

static void test_lesson_leader_steps_down_without_quorum(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(5, NULL);
	h_elect(c, 1);
	/* A minority side: the leader and one follower. */
	for (raft_id id = 3; id <= 5; id++) {
		h_cut(c, 1, id);
		h_cut(c, 2, id);
	}
	h_run(c, 2 * E);
	assert_int_not_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(raft_lease_until(h_raft(c, 1)), 0);
	assert_int_equal(h_read(c, 1, 1), RAFT_ENOTLEADER);
	raft_id l = h_leader(c);
	assert_true(l >= 3);
	h_free(c);
}

/* ---- Learners counted toward commit ---- */

static void test_lesson_learner_not_in_quorum(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(2, NULL);
	h_elect(c, 1);
	raft_id a = h_add_node(c);
	raft_id b = h_add_node(c);
	assert_int_equal(h_add_learner(c, 1, a, false), RAFT_OK);
	h_run(c, 300);
	assert_int_equal(h_add_learner(c, 1, b, false), RAFT_OK);
	h_run(c, 300);
	raft_index before = COMMIT(c, 1);
	h_cut(c, 1, 2);
	/* Leader and two learners: three of four servers, one of two
	 * voters. */
	raft_index x = propose(c, 1, "x");
	h_run(c, 500);
	assert_int_equal(LAST(c, a), x);
	assert_int_equal(LAST(c, b), x);
	assert_int_equal(COMMIT(c, 1), before);
	assert_int_equal(h_node(c, a)->n_commands, 0);
	h_free(c);
}

/* ---- A conflicting suffix kept ---- */

static void test_lesson_conflicting_suffix_truncated(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_isolate(c, 1);
	for (int i = 0; i < 3; i++)
		propose(c, 1, "lost");
	h_drop(c, 0, 0, 0);
	h_elect(c, 2);
	propose(c, 2, "kept");
	h_run(c, 300);
	h_heal(c);
	h_run(c, E);
	/* Log matching: same index and term everywhere. */
	for (raft_index i = 1; i <= LAST(c, 2); i++)
		assert_int_equal(raft_term_at(h_raft(c, 1), i),
				 raft_term_at(h_raft(c, 2), i));
	assert_int_equal(LAST(c, 1), LAST(c, 2));
	assert_int_equal(h_node(c, 1)->disk.n, LAST(c, 2));
	assert_string_equal(h_node(c, 1)->last_command, "kept");
	assert_int_equal(h_node(c, 1)->n_commands, 1);
	h_free(c);
}

/* ---- Jepsen: total data loss on failover ---- */

static void test_lesson_jepsen_failover_keeps_committed_writes(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(5, NULL);
	h_elect(c, 1);
	for (int i = 0; i < 20; i++) {
		propose(c, 1, "w");
		h_run(c, 20);
	}
	h_run(c, 300);
	uint64_t hash = h_node(c, 1)->hash;
	assert_int_equal(h_node(c, 1)->n_commands, 20);
	h_crash(c, 1);
	h_crash(c, 2);
	h_run(c, 5 * E);
	raft_id l = h_leader(c);
	assert_true(l >= 3);
	propose(c, l, "after");
	h_run(c, 300);
	for (raft_id id = 3; id <= 5; id++)
		assert_int_equal(h_node(c, id)->n_commands, 21);
	/* The failed nodes come back to the same history. */
	h_restart(c, 1);
	h_restart(c, 2);
	h_run(c, E);
	assert_int_equal(h_node(c, 1)->n_commands, 21);
	assert_int_equal(h_node(c, 2)->hash, h_node(c, l)->hash);
	assert_int_not_equal(hash, h_node(c, l)->hash);
	h_free(c);
}

/* ---- Jepsen: lost updates under partition plus membership change ---- */

struct ack {
	raft_index index;
	raft_term term;
};

/* Proposes on whoever leads; the write is acknowledged once that leader
 * applied it in the term it was proposed in. */
static void write_some(struct h_cluster *c, struct ack *acks, size_t *n,
		       int count)
{
	for (int i = 0; i < count; i++) {
		raft_id l = h_leader(c);
		if (l != 0) {
			raft_index idx;
			raft_term t = TERM(c, l);
			if (h_propose(c, l, "w", &idx) == RAFT_OK) {
				h_run(c, 50);
				if (h_raft(c, l) != NULL && TERM(c, l) == t &&
				    h_node(c, l)->applied >= idx &&
				    h_node(c, l)->applied_term[idx] == t)
					acks[(*n)++] = (struct ack){idx, t};
				continue;
			}
		}
		h_run(c, 50);
	}
}

static void test_lesson_jepsen_lost_update_partition_membership(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(5, NULL);
	struct ack acks[256];
	size_t n = 0;
	h_elect(c, 1);
	write_some(c, acks, &n, 5);

	/* The leader ends up in a minority with node 2 while nodes 3-5 elect
	 * a new leader and remove node 2. */
	for (raft_id a = 1; a <= 2; a++)
		for (raft_id b = 3; b <= 5; b++)
			h_cut(c, a, b);
	for (int i = 0; i < 3; i++)
		propose(c, 1, "minority");
	h_run(c, 4 * E);
	raft_id l = h_leader(c);
	assert_true(l >= 3);
	write_some(c, acks, &n, 5);
	assert_int_equal(h_remove(c, l, 2), RAFT_OK);
	h_run(c, 500);

	/* A new node joins; the old leader rejoins; more writes. */
	raft_id fresh = h_add_node(c);
	h_cut(c, fresh, 2);
	assert_int_equal(h_add_learner(c, l, fresh, true), RAFT_OK);
	write_some(c, acks, &n, 5);
	h_heal(c);
	h_isolate(c, 2);
	write_some(c, acks, &n, 5);
	h_crash(c, l);
	h_run(c, 4 * E);
	write_some(c, acks, &n, 5);
	h_restart(c, l);
	h_run(c, 2 * E);

	raft_id final = h_leader(c);
	assert_int_not_equal(final, 0);
	assert_true(n >= 15);
	for (raft_id id = 1; id <= c->n; id++) {
		if (id == 2)
			continue; /* removed while away */
		struct raft *r = h_raft(c, id);
		assert_int_equal(raft_last_applied(r),
				 raft_last_applied(h_raft(c, final)));
		for (size_t k = 0; k < n; k++)
			assert_int_equal(raft_term_at(r, acks[k].index),
					 acks[k].term);
	}
	h_check_no_error(c);
	h_free(c);
}

/* ---- Jepsen: empty reads after a restart ---- */

static void test_lesson_jepsen_no_empty_read_after_restart(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_index last = 0;
	for (int i = 0; i < 5; i++)
		last = propose(c, 1, "w");
	h_run(c, 300);
	for (raft_id id = 1; id <= 3; id++)
		h_restart(c, id);
	h_elect(c, 2);
	assert_int_equal(h_read(c, 2, 42), RAFT_OK);
	h_deliver_all(c);
	h_run(c, 100);
	int status = -1;
	raft_index index = 0;
	assert_true(h_read_answered(h_node(c, 2), 42, &status, &index));
	assert_int_equal(status, RAFT_OK);
	assert_true(index >= last);
	/* The read is served once applied up to index: all writes are in. */
	assert_true(h_node(c, 2)->applied >= index);
	assert_int_equal(h_node(c, 2)->n_commands, 5);
	h_free(c);
}

/* ---- Jepsen: stale reads from a deposed leader ---- */

static void test_lesson_jepsen_stale_read_deposed_leader(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	propose(c, 1, "old");
	h_run(c, 300);
	h_isolate(c, 1);
	h_run(c, 3 * E);
	raft_id l = h_leader(c);
	assert_true(l == 2 || l == 3);
	raft_index w = propose(c, l, "new");
	h_run(c, 300);
	assert_int_equal(COMMIT(c, l), w);
	/* The old leader stepped down and serves no reads. */
	assert_int_equal(h_read(c, 1, 9), RAFT_ENOTLEADER);
	assert_int_equal(raft_lease_until(h_raft(c, 1)), 0);
	h_free(c);
}

/* A read issued while the old leader still believes it leads is never
 * confirmed by the side that elected someone else. */
static void test_lesson_jepsen_read_during_partition(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_isolate(c, 1);
	assert_int_equal(h_read(c, 1, 3), RAFT_OK);
	h_run(c, 3 * E);
	int status = RAFT_OK;
	assert_true(h_read_answered(h_node(c, 1), 3, &status, NULL));
	assert_int_not_equal(status, RAFT_OK);
	h_free(c);
}

/* ---- Split brain: leases with clock drift ---- */

static bool holds_lease(struct h_cluster *c, raft_id id)
{
	struct h_node *nd = h_node(c, id);
	return nd->r != NULL && nd->now < raft_lease_until(nd->r);
}

/* Real time moves in 20 ms steps; the old leader's clock runs 5% slow and
 * the others' 5% fast, the worst the options allow. At no step may two
 * nodes hold a lease. */
static void check_leases_never_overlap(uint64_t seed)
{
	struct h_cluster *c = h_new_seeded(3, NULL, seed);
	h_elect(c, 1);
	h_run(c, 300);
	h_isolate(c, 1);
	bool new_leader = false;
	for (int step = 0; step < 200; step++) {
		h_tick(c, 1, 19);
		h_tick(c, 2, 21);
		h_tick(c, 3, 21);
		h_deliver_all(c);
		unsigned holders = 0;
		for (raft_id id = 1; id <= 3; id++)
			holders += holds_lease(c, id);
		if (holders > 1)
			fail_msg("seed %llu step %d: two leases at once",
				 (unsigned long long)seed, step);
		new_leader =
		    new_leader || holds_lease(c, 2) || holds_lease(c, 3);
	}
	assert_true(new_leader);
	h_free(c);
}

static void test_lesson_jepsen_split_brain_leases_never_overlap(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 20; seed++)
		check_leases_never_overlap(seed);
}

/* ---- A lease that ignores clock drift ---- */

static void test_lesson_lease_accounts_for_drift(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	assert_true(h_campaign(c, 1));
	raft_time sent = h_node(c, 1)->now;
	h_deliver_all(c);
	raft_time lease = raft_lease_until(h_raft(c, 1)) - sent;
	/* E(1 - rho)/(1 + rho) with rho = 5%: 904 ms of the leader's clock. */
	assert_int_equal(lease, 904);
	h_free(c);

	struct raft_options o;
	h_options(&o);
	o.max_clock_drift_ppm = 0;
	c = h_new(3, &o);
	assert_true(h_campaign(c, 1));
	sent = h_node(c, 1)->now;
	h_deliver_all(c);
	assert_int_equal(raft_lease_until(h_raft(c, 1)) - sent, E);
	h_free(c);
}

int main(void)
{
	h_plant_bug_from_env();
	const struct CMUnitTest tests[] = {
	    TEST(test_lesson_commit_old_term_figure8),
	    TEST(test_lesson_membership_change_before_noop),
	    TEST(test_lesson_removed_node_does_not_disrupt),
	    TEST(test_lesson_prevote_checkquorum_no_stuck_term),
	    TEST(test_lesson_precandidate_forgets_stale_leader),
	    TEST(test_lesson_snapshot_install_follower_crash_not_stuck),
	    TEST(test_lesson_follower_behind_compaction_no_loop),
	    TEST(test_lesson_single_node_commit_only_after_persist),
	    TEST(test_lesson_acks_and_votes_wait_for_persist),
	    TEST(test_lesson_vote_once_per_term_across_restart),
	    TEST(test_lesson_leader_steps_down_without_quorum),
	    TEST(test_lesson_learner_not_in_quorum),
	    TEST(test_lesson_conflicting_suffix_truncated),
	    TEST(test_lesson_jepsen_failover_keeps_committed_writes),
	    TEST(test_lesson_jepsen_lost_update_partition_membership),
	    TEST(test_lesson_jepsen_no_empty_read_after_restart),
	    TEST(test_lesson_jepsen_stale_read_deposed_leader),
	    TEST(test_lesson_jepsen_read_during_partition),
	    TEST(test_lesson_jepsen_split_brain_leases_never_overlap),
	    TEST(test_lesson_lease_accounts_for_drift),
	};
	return cmocka_run_group_tests_name("raft-lessons", tests, NULL, NULL);
}
