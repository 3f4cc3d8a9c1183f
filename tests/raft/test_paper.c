/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * One test per rule of section 5 of the Raft paper ("In Search of an
 * Understandable Consensus Algorithm"), then the extensions the core
 * implements: pre-vote, check-quorum, the no-op at term start, the leader
 * lease, ReadIndex, leadership transfer, membership, snapshots, bootstrap
 * and entry versions. Each test names the rule it shows.
 */
#include "tests/raft/unit.h"

#define E 1000 /* election timeout of h_options() */
#define HB 100 /* heartbeat interval */

static struct raft_options opts_no_prevote(void)
{
	struct raft_options o;
	h_options(&o);
	o.pre_vote = false;
	return o;
}

static struct raft_message vote_request(raft_id from, raft_id to,
					raft_term term, raft_index last_index,
					raft_term last_term)
{
	struct raft_message m = h_msg(RAFT_MSG_VOTE, from, to, term);
	m.index = last_index;
	m.hint_term = last_term;
	return m;
}

/* Heartbeat rounds from the leader, delivered. */
static void heartbeats(struct h_cluster *c, raft_id leader, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		h_tick(c, leader, HB);
		h_deliver_all(c);
	}
}

/* ---- 5.1 Raft basics: terms ---- */

/* "If a server receives a request with a stale term number, it rejects the
 * request", and tells the sender its current term. */
static void test_5_1_stale_term_rejected(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 2);

	struct raft_message m = h_msg(RAFT_MSG_APPEND, 3, 2, t - 1);
	m.prev_index = 1;
	m.prev_term = 1;
	h_step(c, &m);
	assert_int_equal(TERM(c, 2), t);
	assert_int_equal(raft_leader(h_raft(c, 2)), 1);
	struct raft_message *resp = h_peek(c, RAFT_MSG_APPEND_RESP, 2, 3);
	assert_non_null(resp);
	assert_true(resp->reject);
	assert_int_equal(resp->term, t);

	/* A stale vote request is refused as well, once the voter no longer
	 * hears from its leader. */
	h_advance(c, 2, E);
	m = vote_request(3, 2, t - 1, 10, t - 1);
	h_step(c, &m);
	resp = h_peek(c, RAFT_MSG_VOTE_RESP, 2, 3);
	assert_non_null(resp);
	assert_true(resp->reject);
	assert_int_equal(TERM(c, 2), t);
	assert_int_equal(raft_voted_for(h_raft(c, 2)), 1); /* from term t */
	h_free(c);
}

/* "If one server's current term is smaller than the other's, then it
 * updates its current term to the larger value" (and persists it). */
static void test_5_1_higher_term_adopted(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 2);

	struct raft_message m = h_msg(RAFT_MSG_APPEND_RESP, 3, 2, t + 3);
	h_step(c, &m);
	assert_int_equal(TERM(c, 2), t + 3);
	assert_int_equal(raft_voted_for(h_raft(c, 2)), 0);
	assert_int_equal(raft_leader(h_raft(c, 2)), 0);
	assert_int_equal(h_node(c, 2)->disk.term, t + 3);
	h_free(c);
}

/* "If a candidate or leader discovers that its term is out of date, it
 * immediately reverts to follower state." */
static void test_5_1_leader_steps_down_on_higher_term(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);

	struct raft_message m = h_msg(RAFT_MSG_APPEND_RESP, 2, 1, t + 1);
	m.reject = 1;
	h_step(c, &m);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	assert_int_equal(TERM(c, 1), t + 1);
	assert_int_equal(h_node(c, 1)->disk.term, t + 1);
	h_free(c);
}

static void test_5_1_candidate_steps_down_on_higher_term(void **state)
{
	(void)state;
	struct raft_options o = opts_no_prevote();
	struct h_cluster *c = h_new(3, &o);
	h_advance(c, 1, E);
	h_tick(c, 1, 2 * E);
	assert_int_equal(ROLE(c, 1), RAFT_CANDIDATE);
	raft_term t = TERM(c, 1);

	struct raft_message m = h_msg(RAFT_MSG_APPEND, 2, 1, t + 1);
	m.prev_index = 1;
	m.prev_term = 1;
	h_step(c, &m);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	assert_int_equal(TERM(c, 1), t + 1);
	assert_int_equal(raft_leader(h_raft(c, 1)), 2);
	h_free(c);
}

/* ---- 5.2 Leader election ---- */

/* "If a follower receives no communication over a period of time called the
 * election timeout, then it ... begins an election": it increments its term,
 * votes for itself (durably) and asks every other server for its vote. */
static void test_5_2_follower_starts_election_after_timeout(void **state)
{
	(void)state;
	struct raft_options o = opts_no_prevote();
	struct h_cluster *c = h_new(3, &o);
	h_tick(c, 1, E - 1); /* the timeout is at least E */
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	assert_int_equal(h_pending(c, 0, 1, 0), 0);

	h_tick(c, 1, E);
	assert_int_equal(ROLE(c, 1), RAFT_CANDIDATE);
	assert_int_equal(TERM(c, 1), 2);
	assert_int_equal(raft_voted_for(h_raft(c, 1)), 1);
	assert_int_equal(h_node(c, 1)->disk.term, 2);
	assert_int_equal(h_node(c, 1)->disk.vote, 1);
	struct raft_message *v = h_peek(c, RAFT_MSG_VOTE, 1, 2);
	assert_non_null(v);
	assert_int_equal(v->term, 2);
	assert_int_equal(v->index, 1);
	assert_int_equal(v->hint_term, 1);
	assert_non_null(h_peek(c, RAFT_MSG_VOTE, 1, 3));
	h_free(c);
}

/* "A candidate wins an election if it receives votes from a majority of the
 * servers in the full cluster for the same term." */
static void test_5_2_candidate_wins_with_majority(void **state)
{
	(void)state;
	struct raft_options o = opts_no_prevote();
	struct h_cluster *c = h_new(5, &o);
	for (raft_id id = 1; id <= 5; id++)
		h_advance(c, id, E);
	h_tick(c, 1, 2 * E);
	assert_int_equal(ROLE(c, 1), RAFT_CANDIDATE);

	assert_true(h_deliver(c, RAFT_MSG_VOTE, 1, 2));
	assert_true(h_deliver(c, RAFT_MSG_VOTE_RESP, 2, 1));
	assert_int_equal(ROLE(c, 1), RAFT_CANDIDATE); /* 2 of 5 */
	/* The same vote twice still counts once. */
	struct raft_message dup = h_msg(RAFT_MSG_VOTE_RESP, 2, 1, TERM(c, 1));
	h_step(c, &dup);
	assert_int_equal(ROLE(c, 1), RAFT_CANDIDATE);

	assert_true(h_deliver(c, RAFT_MSG_VOTE, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_VOTE_RESP, 3, 1));
	assert_int_equal(ROLE(c, 1), RAFT_LEADER); /* 3 of 5 */
	h_free(c);
}

/* "Each server will vote for at most one candidate in a given term, on a
 * first-come-first-served basis", and the vote survives a restart. */
static void test_5_2_follower_votes_once_per_term(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_advance(c, 3, E);

	struct raft_message from1 = vote_request(1, 3, 2, 1, 1);
	struct raft_message from2 = vote_request(2, 3, 2, 1, 1);
	h_step(c, &from1);
	struct raft_message *r = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 1);
	assert_non_null(r);
	assert_false(r->reject);
	assert_int_equal(h_node(c, 3)->disk.vote, 1);
	assert_int_equal(h_node(c, 3)->disk.term, 2);

	h_step(c, &from2);
	r = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2);
	assert_non_null(r);
	assert_true(r->reject);
	assert_int_equal(raft_voted_for(h_raft(c, 3)), 1);

	/* After a crash the node still remembers whom it voted for. */
	h_drop(c, 0, 0, 0);
	h_restart(c, 3);
	h_advance(c, 3, E);
	h_step(c, &from2);
	r = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2);
	assert_non_null(r);
	assert_true(r->reject);
	/* A repeated request from the same candidate is granted again. */
	h_step(c, &from1);
	r = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 1);
	assert_non_null(r);
	assert_false(r->reject);
	h_free(c);
}

/* "If the leader's term ... is at least as large as the candidate's current
 * term, then the candidate recognizes the leader as legitimate and returns
 * to follower state." */
static void test_5_2_candidate_follows_append_of_same_term(void **state)
{
	(void)state;
	struct raft_options o = opts_no_prevote();
	struct h_cluster *c = h_new(3, &o);
	h_advance(c, 1, E);
	h_tick(c, 1, 2 * E);
	assert_int_equal(ROLE(c, 1), RAFT_CANDIDATE);
	raft_term t = TERM(c, 1);

	struct raft_message m = h_msg(RAFT_MSG_APPEND, 2, 1, t);
	m.prev_index = 1;
	m.prev_term = 1;
	h_step(c, &m);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	assert_int_equal(TERM(c, 1), t);
	assert_int_equal(raft_leader(h_raft(c, 1)), 2);
	assert_int_equal(raft_voted_for(h_raft(c, 1)), 1); /* kept */
	h_free(c);
}

/* "Raft uses randomized election timeouts ... chosen randomly from a fixed
 * interval": every node times out within [E, 2E), not all at once. */
static void test_5_2_randomized_timeouts_spread(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(8, NULL);
	raft_time at[9];
	unsigned distinct = 0;
	for (raft_id id = 1; id <= 8; id++) {
		raft_time t = 0;
		while (h_pending(c, RAFT_MSG_PREVOTE, id, 0) == 0 &&
		       t <= 3 * E) {
			h_tick(c, id, 10);
			t += 10;
		}
		h_drop(c, 0, 0, 0);
		assert_true(t >= E);
		assert_true(t <= 2 * E);
		at[id] = t;
		bool seen = false;
		for (raft_id o = 1; o < id; o++)
			seen = seen || at[o] == t;
		if (!seen)
			distinct++;
	}
	assert_true(distinct >= 4);
	h_free(c);
}

/* A split vote ends without a leader; the next timeout starts a new term
 * and resolves it. */
static void test_5_2_split_vote_retried(void **state)
{
	(void)state;
	struct raft_options o = opts_no_prevote();
	struct h_cluster *c = h_new(4, &o);
	for (raft_id id = 1; id <= 4; id++)
		h_advance(c, id, E);
	h_tick(c, 1, 2 * E);
	h_tick(c, 2, 2 * E);
	assert_int_equal(ROLE(c, 1), RAFT_CANDIDATE);
	assert_int_equal(ROLE(c, 2), RAFT_CANDIDATE);
	assert_true(h_deliver(c, RAFT_MSG_VOTE, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_VOTE, 2, 4));
	h_deliver_all(c);
	assert_int_equal(h_leader(c), 0);
	assert_int_equal(TERM(c, 1), 2);

	h_tick(c, 1, 2 * E);
	assert_int_equal(TERM(c, 1), 3);
	h_deliver_all(c);
	assert_int_equal(h_leader(c), 1);
	assert_int_equal(TERM(c, 2), 3);
	h_free(c);
}

/* ---- 5.3 Log replication ---- */

/* "The leader appends the command to its log as a new entry, then issues
 * AppendEntries RPCs in parallel to each of the other servers." */
static void test_5_3_leader_appends_and_replicates(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);
	raft_index idx = propose(c, 1, "x");
	assert_int_equal(idx, 3);
	assert_int_equal(LAST(c, 1), 3);
	assert_int_equal(raft_term_at(h_raft(c, 1), 3), t);
	for (raft_id f = 2; f <= 3; f++) {
		struct raft_message *m = h_peek(c, RAFT_MSG_APPEND, 1, f);
		assert_non_null(m);
		assert_int_equal(m->prev_index, 2);
		assert_int_equal(m->n_entries, 1);
		assert_int_equal(m->entries[0].index, 3);
		assert_int_equal(m->entries[0].term, t);
		assert_memory_equal(m->entries[0].data, "x", 1);
	}
	h_free(c);
}

/* "A log entry is committed once the leader that created the entry has
 * replicated it on a majority of the servers." */
static void test_5_3_commits_on_majority(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_isolate(c, 3);
	raft_index x = propose(c, 1, "x");
	h_deliver_all(c);
	assert_int_equal(COMMIT(c, 1), x); /* leader and node 2 */

	h_isolate(c, 2);
	raft_index y = propose(c, 1, "y");
	h_deliver_all(c);
	heartbeats(c, 1, 3);
	assert_int_equal(COMMIT(c, 1), x); /* the leader alone */
	assert_true(LAST(c, 1) >= y);
	h_free(c);
}

/* "Once a follower learns that a log entry is committed, it applies the
 * entry to its local state machine (in log order)." */
static void test_5_3_follower_applies_committed(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_index x = propose(c, 1, "x");
	h_deliver_all(c);
	/* Replicated, but the followers do not know yet it is committed. */
	assert_int_equal(LAST(c, 2), x);
	assert_int_equal(h_node(c, 2)->n_commands, 0);
	heartbeats(c, 1, 1);
	for (raft_id id = 1; id <= 3; id++) {
		assert_int_equal(COMMIT(c, id), x);
		assert_int_equal(h_node(c, id)->applied, x);
		assert_int_equal(h_node(c, id)->n_commands, 1);
		assert_string_equal(h_node(c, id)->last_command, "x");
	}
	h_free(c);
}

/* "If the follower does not find an entry in its log with the same index
 * and term, then it refuses the new entries." */
static void test_5_3_consistency_check_rejects_mismatch(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);
	propose(c, 1, "x");
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	h_drop(c, 0, 0, 0);
	assert_int_equal(LAST(c, 2), 3); /* uncommitted on node 2 */

	/* Beyond the end of its log. */
	struct raft_message m = h_msg(RAFT_MSG_APPEND, 1, 2, t);
	m.prev_index = 10;
	m.prev_term = t;
	h_step(c, &m);
	struct raft_message *r = h_peek(c, RAFT_MSG_APPEND_RESP, 2, 1);
	assert_non_null(r);
	assert_true(r->reject);
	assert_int_equal(r->index, 3);
	h_drop(c, 0, 0, 0);

	/* Same index, other term (a leader of a later term). */
	struct raft_entry e = {.term = t + 1,
			       .index = 4,
			       .type = RAFT_ENTRY_COMMAND,
			       .version = RAFT_VERSION_MIN,
			       .len = 1,
			       .data = (uint8_t *)"z"};
	m = h_msg(RAFT_MSG_APPEND, 3, 2, t + 1);
	m.prev_index = 3;
	m.prev_term = t + 1;
	m.n_entries = 1;
	m.entries = &e;
	h_step(c, &m);
	r = h_peek(c, RAFT_MSG_APPEND_RESP, 2, 3);
	assert_non_null(r);
	assert_true(r->reject);
	assert_int_equal(LAST(c, 2), 3);
	assert_int_equal(raft_term_at(h_raft(c, 2), 3), t);
	h_free(c);
}

/* "If an existing entry conflicts with a new one (same index but different
 * terms), delete the existing entry and all that follow it": an old leader
 * that rejoins drops what it never committed, on disk too. */
static void test_5_3_conflicting_suffix_truncated(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_isolate(c, 1);
	propose(c, 1, "a");
	propose(c, 1, "b");
	assert_int_equal(LAST(c, 1), 4);
	h_drop(c, 0, 0, 0);

	h_elect(c, 2);
	raft_term t2 = TERM(c, 2);
	raft_index idx = propose(c, 2, "c");
	assert_int_equal(idx, 4);
	h_deliver_all(c);
	h_heal(c);
	heartbeats(c, 2, 3);

	struct h_node *n1 = h_node(c, 1);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	assert_int_equal(LAST(c, 1), 4);
	assert_int_equal(raft_term_at(h_raft(c, 1), 3), t2);
	assert_int_equal(raft_term_at(h_raft(c, 1), 4), t2);
	assert_int_equal(n1->disk.n, 4);
	assert_int_equal(n1->disk.entries[2].term, t2);
	assert_int_equal(n1->disk.entries[3].term, t2);
	assert_int_equal(n1->applied, 4);
	assert_string_equal(n1->last_command, "c");
	assert_int_equal(n1->n_commands, 1);
	h_free(c);
}

/* "After a rejection, the leader decrements nextIndex and retries"; with
 * the optimization of 5.3 the follower names the conflicting term and its
 * first index, so the leader skips a whole term per round trip. */
static void test_5_3_leader_backs_up_next_index_fast(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t1 = TERM(c, 1);
	/* Node 1 alone appends 20 entries of its term. */
	h_isolate(c, 1);
	for (int i = 0; i < 20; i++)
		propose(c, 1, "stale");
	assert_int_equal(LAST(c, 1), 22);
	h_drop(c, 0, 0, 0);

	/* The follower's half: a probe past its divergent entries gets back
	 * its last index and the term there. */
	struct raft_message m = h_msg(RAFT_MSG_APPEND, 2, 1, t1 + 5);
	m.prev_index = 30;
	m.prev_term = t1 + 5;
	h_step(c, &m);
	struct raft_message *r = h_peek(c, RAFT_MSG_APPEND_RESP, 1, 2);
	assert_non_null(r);
	assert_true(r->reject);
	assert_int_equal(r->index, 22);
	assert_int_equal(r->hint_term, t1);
	h_drop(c, 0, 0, 0);

	/* The leader's half: node 2 leads with 10 more entries while node 3
	 * is away, then a new leader probes node 3 at its own last index. */
	struct h_cluster *d = h_new(3, NULL);
	h_elect(d, 1);
	h_isolate(d, 3);
	for (int i = 0; i < 10; i++)
		propose(d, 1, "v");
	h_deliver_all(d);
	h_elect(d, 2);
	h_drop(d, 0, 0, 0);
	raft_index last = LAST(d, 2);
	assert_int_equal(last, 13);
	/* Node 3 answers the probe at 12 with "my log ends at 2, term 2". */
	struct raft_message rej = h_msg(RAFT_MSG_APPEND_RESP, 3, 2, TERM(d, 2));
	rej.reject = 1;
	rej.prev_index = 12;
	rej.index = 2;
	rej.hint_term = raft_term_at(h_raft(d, 3), 2);
	h_step(d, &rej);
	struct raft_message *next = h_peek(d, RAFT_MSG_APPEND, 2, 3);
	assert_non_null(next);
	assert_int_equal(next->prev_index, 2);
	h_heal(d);
	heartbeats(d, 2, 3);
	assert_int_equal(COMMIT(d, 3), last);
	h_free(d);
	h_free(c);
}

/* ---- 5.4 Safety ---- */

/* 5.4.1: "the voter denies its vote if its own log is more up-to-date than
 * that of the candidate": later last term wins; same term, longer log wins. */
static void test_5_4_1_vote_denied_to_stale_log(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);
	propose(c, 1, "x");
	h_deliver_all(c);
	h_drop(c, 0, 0, 0);
	assert_int_equal(LAST(c, 3), 3); /* node 3: last (3, t) */
	h_advance(c, 3, E);

	struct raft_message m = vote_request(2, 3, t + 1, 10, t - 1);
	h_step(c, &m); /* longer, but older last term */
	assert_true(h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2)->reject);
	h_drop(c, 0, 0, 0);
	m = vote_request(2, 3, t + 2, 2, t); /* same term, shorter */
	h_step(c, &m);
	assert_true(h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2)->reject);
	h_drop(c, 0, 0, 0);
	m = vote_request(2, 3, t + 3, 3, t); /* as up-to-date */
	h_step(c, &m);
	assert_false(h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2)->reject);
	h_drop(c, 0, 0, 0);
	m = vote_request(1, 3, t + 4, 1, t + 1); /* newer last term */
	h_step(c, &m);
	assert_false(h_peek(c, RAFT_MSG_VOTE_RESP, 3, 1)->reject);
	h_free(c);
}

/* 5.4.1 in a cluster: a node that missed a committed entry cannot win. */
static void test_5_4_1_election_restriction(void **state)
{
	(void)state;
	struct raft_options o = opts_no_prevote();
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_isolate(c, 3);
	raft_index x = propose(c, 1, "x");
	h_deliver_all(c);
	assert_int_equal(COMMIT(c, 1), x);
	h_crash(c, 1);
	h_heal(c);

	assert_false(h_campaign(c, 3));
	h_drop(c, 0, 0, 0);
	assert_true(h_campaign(c, 2));
	h_deliver_all(c);
	heartbeats(c, 2, 2);
	assert_int_equal(raft_term_at(h_raft(c, 3), x),
			 raft_term_at(h_raft(c, 2), x));
	assert_string_equal(h_node(c, 3)->last_command, "x");
	h_free(c);
}

static struct h_cluster *figure;

/* Entry 4 may be offered (and refused) but never reaches a follower that
 * holds entry 3. */
static bool hold_back_entry_4(const struct raft_message *m)
{
	return !(m->type == RAFT_MSG_APPEND && m->n_entries > 0 &&
		 m->prev_index + m->n_entries >= 4 &&
		 raft_last_index(h_raft(figure, m->to)) >= 3);
}

/* 5.4.2: "Raft never commits log entries from previous terms by counting
 * replicas": an entry of term 2 on a majority stays uncommitted until an
 * entry of the leader's own term reaches a majority. */
static void test_5_4_2_commit_only_current_term(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.max_append_entries = 1;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);
	h_isolate(c, 1);
	raft_index x = propose(c, 1, "x");
	assert_int_equal(x, 3);
	h_drop(c, 0, 0, 0);
	h_heal(c);

	/* Node 1 wins the next term (its log is the longest) and replicates
	 * entry 3 of term t, but not yet its own no-op at 4. */
	assert_true(h_campaign(c, 1));
	assert_true(TERM(c, 1) > t);
	figure = c;
	h_deliver_filtered(c, hold_back_entry_4);
	assert_int_equal(raft_term_at(h_raft(c, 2), 3), t);
	assert_int_equal(raft_term_at(h_raft(c, 3), 3), t);
	assert_int_equal(COMMIT(c, 1), 2);

	/* The no-op of the current term commits both. */
	h_run(c, E);
	assert_true(COMMIT(c, 1) >= 4);
	assert_int_equal(h_node(c, 2)->applied, COMMIT(c, 2));
	assert_string_equal(h_node(c, 2)->last_command, "x");
	h_free(c);
}

/* 5.4.3 leader completeness: a committed entry is in the log of every later
 * leader, so it survives the crash of the leader that committed it. */
static void test_5_4_3_leader_completeness(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(5, NULL);
	h_elect(c, 1);
	h_cut(c, 1, 4);
	h_cut(c, 1, 5);
	raft_index x = propose(c, 1, "x");
	h_deliver_all(c);
	assert_int_equal(COMMIT(c, 1), x); /* on 1, 2, 3 */
	h_crash(c, 1);
	h_heal(c);
	/* Nodes 4 and 5 lack x; whoever wins must have it. */
	h_run(c, 10 * E);
	raft_id l = h_leader(c);
	assert_true(l == 2 || l == 3);
	assert_int_equal(raft_entry_at(h_raft(c, l), x)->type,
			 RAFT_ENTRY_COMMAND);
	for (raft_id id = 2; id <= 5; id++)
		assert_true(h_node(c, id)->applied >= x);
	h_free(c);
}

/* ---- 5.5 Follower and candidate crashes ---- */

/* "If a follower or candidate crashes, then future RequestVote and
 * AppendEntries RPCs sent to it will fail. Raft handles these failures by
 * retrying indefinitely." */
static void test_5_5_follower_crash_retried(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_crash(c, 3);
	raft_index x = propose(c, 1, "x");
	raft_index y = propose(c, 1, "y");
	h_run(c, 500);
	assert_int_equal(COMMIT(c, 1), y);
	h_restart(c, 3);
	h_run(c, 500);
	assert_int_equal(LAST(c, 3), y);
	assert_int_equal(h_node(c, 3)->applied, y);
	assert_int_equal(h_node(c, 3)->applied_term[x], TERM(c, 1));
	h_free(c);
}

/* "Raft RPCs are idempotent, so this causes no harm": the same
 * AppendEntries twice leaves one copy of the entries. */
static void test_5_5_append_idempotent(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	propose(c, 1, "x");
	propose(c, 1, "y");
	struct raft_message *q = h_peek(c, RAFT_MSG_APPEND, 1, 2);
	assert_non_null(q);
	struct raft_message m = *q; /* entries stay owned by the queue */
	raft_index last = m.prev_index + m.n_entries;
	h_step(c, &m);
	h_step(c, &m);
	assert_int_equal(LAST(c, 2), last);
	assert_int_equal(h_node(c, 2)->disk.n, last);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND_RESP, 2, 1), 2);
	h_deliver_all(c);
	heartbeats(c, 1, 1);
	assert_int_equal(LAST(c, 2), LAST(c, 1));
	assert_int_equal(h_node(c, 2)->n_commands, 2);
	h_free(c);
}

/* A candidate that crashes keeps its term and its vote for itself. */
static void test_5_5_candidate_crash_keeps_term_and_vote(void **state)
{
	(void)state;
	struct raft_options o = opts_no_prevote();
	struct h_cluster *c = h_new(3, &o);
	h_tick(c, 1, 2 * E);
	assert_int_equal(ROLE(c, 1), RAFT_CANDIDATE);
	raft_term t = TERM(c, 1);
	h_restart(c, 1);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	assert_int_equal(TERM(c, 1), t);
	assert_int_equal(raft_voted_for(h_raft(c, 1)), 1);
	h_free(c);
}

/* ---- 5.6 Timing and availability ---- */

/* "Leaders send periodic heartbeats ... to all followers in order to
 * maintain their authority." */
static void test_5_6_heartbeats_keep_followers(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);
	h_run(c, 20 * E);
	assert_int_equal(h_leader(c), 1);
	for (raft_id id = 1; id <= 3; id++)
		assert_int_equal(TERM(c, id), t);
	/* Without them, a follower campaigns. */
	h_crash(c, 1);
	h_run(c, 3 * E);
	raft_id l = h_leader(c);
	assert_true(l == 2 || l == 3);
	assert_true(TERM(c, l) > t);
	h_free(c);
}

/* ---- Pre-vote (dissertation 9.6) ---- */

/* A pre-vote asks "would you vote for me in term + 1?" and changes no
 * term, no vote, nothing on disk. */
static void test_prevote_does_not_change_term(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 3);
	h_isolate(c, 3);
	for (int i = 0; i < 5; i++) {
		h_tick(c, 3, 2 * E);
		struct raft_message *p = h_peek(c, RAFT_MSG_PREVOTE, 3, 1);
		assert_non_null(p);
		assert_int_equal(p->term, t + 1);
		h_deliver_all(c);
	}
	assert_int_equal(TERM(c, 3), t);
	assert_int_equal(h_node(c, 3)->disk.term, t);
	assert_int_equal(raft_leader(h_raft(c, 3)), 0);
	h_free(c);
}

/* A partitioned node that rejoins does not depose a working leader. */
static void test_prevote_rejoin_does_not_disrupt(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);
	h_isolate(c, 3);
	h_run(c, 5 * E);
	propose(c, 1, "x");
	h_heal(c);
	h_run(c, 3 * E);
	assert_int_equal(h_leader(c), 1);
	assert_int_equal(TERM(c, 1), t);
	assert_int_equal(TERM(c, 3), t);
	assert_string_equal(h_node(c, 3)->last_command, "x");
	h_free(c);
}

/* ---- Check-quorum ---- */

/* A leader that has not heard from a majority for an election timeout
 * steps down. */
static void test_check_quorum_leader_steps_down(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_isolate(c, 1);
	h_run(c, E / 2);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	h_run(c, E);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	assert_int_equal(raft_leader(h_raft(c, 1)), 0);
	h_free(c);
}

/* A follower that hears from a leader ignores vote requests (of any term)
 * until an election timeout has passed. */
static void test_check_quorum_follower_ignores_votes(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 2);
	struct raft_message m = vote_request(3, 2, t + 1, 100, t);
	h_tick(c, 2, E - 200);
	h_step(c, &m);
	assert_int_equal(h_pending(c, RAFT_MSG_VOTE_RESP, 2, 3), 0);
	assert_int_equal(TERM(c, 2), t);
	m.type = RAFT_MSG_PREVOTE;
	h_step(c, &m);
	assert_int_equal(h_pending(c, RAFT_MSG_PREVOTE_RESP, 2, 3), 0);

	h_advance(c, 2, 300);
	m.type = RAFT_MSG_VOTE;
	h_step(c, &m);
	struct raft_message *r = h_peek(c, RAFT_MSG_VOTE_RESP, 2, 3);
	assert_non_null(r);
	assert_false(r->reject);
	assert_int_equal(TERM(c, 2), t + 1);
	h_free(c);
}

/* ---- The no-op at term start (dissertation 6.4, 8) ---- */

static void test_leader_appends_noop_at_term_start(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	assert_true(h_campaign(c, 2));
	raft_index i = LAST(c, 2);
	const struct raft_entry *e = raft_entry_at(h_raft(c, 2), i);
	assert_non_null(e);
	assert_int_equal(e->type, RAFT_ENTRY_NOOP);
	assert_int_equal(e->term, TERM(c, 2));
	h_deliver_all(c);
	assert_int_equal(COMMIT(c, 2), i);
	h_free(c);
}

/* ---- Leader lease ---- */

static raft_time lease_length(const struct raft_options *o)
{
	int64_t rho = o->max_clock_drift_ppm;
	return o->election_timeout * (1000000 - rho) / (1000000 + rho);
}

/* No lease until a majority acknowledged a round; then the round's send
 * time plus E(1-rho)/(1+rho), never E. */
static void test_lease_after_majority_round(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	assert_true(h_campaign(c, 1));
	raft_time won = h_node(c, 1)->now;
	assert_int_equal(raft_lease_until(h_raft(c, 1)), 0);
	/* One follower answers: a majority with the leader. */
	h_advance(c, 1, 30);
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	assert_int_equal(raft_lease_until(h_raft(c, 1)), 0);
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1));
	raft_time until = raft_lease_until(h_raft(c, 1));
	assert_int_equal(until, won + lease_length(&c->opt));
	assert_true(until < won + E);

	/* A later acknowledged round moves it on. */
	h_deliver_all(c);
	h_tick(c, 1, HB);
	raft_time sent = h_node(c, 1)->now;
	h_deliver_all(c);
	assert_int_equal(raft_lease_until(h_raft(c, 1)),
			 sent + lease_length(&c->opt));
	h_free(c);
}

/* Once a TimeoutNow is out, the target may win at once: no lease. */
static void test_lease_ends_when_timeout_now_sent(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	assert_true(raft_lease_until(h_raft(c, 1)) > h_node(c, 1)->now);
	assert_int_equal(h_transfer(c, 1, 2), RAFT_OK);
	assert_non_null(h_peek(c, RAFT_MSG_TIMEOUT_NOW, 1, 2));
	assert_int_equal(raft_lease_until(h_raft(c, 1)), 0);
	/* Acknowledged rounds do not bring it back. */
	h_drop(c, RAFT_MSG_TIMEOUT_NOW, 0, 0);
	h_tick(c, 1, HB);
	h_deliver_all(c);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(raft_lease_until(h_raft(c, 1)), 0);
	h_free(c);
}

/* A restarted node cannot remember whom it promised not to elect: it votes
 * for nobody during its first election timeout. */
static void test_lease_restarted_node_waits_before_voting(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 3);
	h_restart(c, 3);
	struct raft_message m = vote_request(2, 3, t + 1, 10, t);
	h_advance(c, 3, E - 1);
	h_step(c, &m);
	assert_int_equal(h_pending(c, RAFT_MSG_VOTE_RESP, 3, 2), 0);
	assert_int_equal(TERM(c, 3), t);
	h_advance(c, 3, 1);
	h_step(c, &m);
	struct raft_message *r = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2);
	assert_non_null(r);
	assert_false(r->reject);
	h_free(c);
}

/* ---- ReadIndex (dissertation 6.4) ---- */

/* A new leader answers a read only after its no-op committed and a
 * majority confirmed it is still leader. */
static void test_read_index_waits_for_commit_in_term(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	assert_true(h_campaign(c, 1));
	assert_int_equal(h_read(c, 1, 7), RAFT_OK);
	assert_false(h_read_answered(h_node(c, 1), 7, NULL, NULL));
	h_deliver_all(c);
	int status = -1;
	raft_index index = 0;
	assert_true(h_read_answered(h_node(c, 1), 7, &status, &index));
	assert_int_equal(status, RAFT_OK);
	assert_true(index >= LAST(c, 1)); /* covers the no-op */
	assert_int_equal(h_read(c, 2, 8), RAFT_ENOTLEADER);
	h_free(c);
}

/* A read waits for a round that started after it and that a majority
 * acknowledged; a leader cut off never confirms it. */
static void test_read_index_needs_quorum_round(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_index x = propose(c, 1, "x");
	h_deliver_all(c);
	h_isolate(c, 1);
	assert_int_equal(h_read(c, 1, 1), RAFT_OK);
	h_deliver_all(c);
	heartbeats(c, 1, 3);
	assert_false(h_read_answered(h_node(c, 1), 1, NULL, NULL));
	h_heal(c);
	heartbeats(c, 1, 1);
	int status = -1;
	raft_index index = 0;
	assert_true(h_read_answered(h_node(c, 1), 1, &status, &index));
	assert_int_equal(status, RAFT_OK);
	assert_int_equal(index, x);
	h_free(c);
}

static void test_read_index_fails_on_step_down(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_isolate(c, 1);
	assert_int_equal(h_read(c, 1, 5), RAFT_OK);
	h_run(c, 2 * E);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	int status = RAFT_OK;
	assert_true(h_read_answered(h_node(c, 1), 5, &status, NULL));
	assert_int_equal(status, RAFT_ENOTLEADER);
	h_free(c);
}

/* ---- Leadership transfer (dissertation 3.10) ---- */

/* TimeoutNow goes out only once the target holds the whole log; the
 * target then wins at once, without a pre-vote. */
static void test_transfer_timeout_now_once_caught_up(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);
	h_isolate(c, 3);
	propose(c, 1, "x");
	h_deliver_all(c);
	assert_int_equal(h_transfer(c, 1, 3), RAFT_OK);
	assert_true(raft_transfer_pending(h_raft(c, 1)));
	h_deliver_all(c);
	assert_int_equal(h_pending(c, RAFT_MSG_TIMEOUT_NOW, 0, 0), 0);
	/* Proposals wait while leadership moves. */
	assert_int_equal(h_propose(c, 1, "y", NULL), RAFT_ETRANSFER);

	h_heal(c);
	h_run(c, E);
	assert_int_equal(h_leader(c), 3);
	assert_int_equal(TERM(c, 3), t + 1);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	h_free(c);
}

/* A transfer that does not complete within transfer_timeout is abandoned
 * and the leader takes proposals again. */
static void test_transfer_times_out(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_crash(c, 3);
	propose(c, 1, "x"); /* node 3 lags: no TimeoutNow */
	h_deliver_all(c);
	assert_int_equal(h_transfer(c, 1, 3), RAFT_OK);
	assert_int_equal(h_transfer(c, 1, 2), RAFT_EBUSY);
	h_run(c, c->opt.transfer_timeout + HB);
	assert_false(raft_transfer_pending(h_raft(c, 1)));
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(h_propose(c, 1, "y", NULL), RAFT_OK);
	h_free(c);
}

/* ---- Membership (dissertation chapter 4) ---- */

static void test_membership_learner_added(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_id l = h_add_node(c);
	assert_false(raft_has_config(h_raft(c, l)));
	assert_int_equal(h_add_learner(c, 1, l, false), RAFT_OK);
	propose(c, 1, "x");
	h_run(c, 500);
	const struct raft_server *s =
	    raft_config_find(raft_config(h_raft(c, l)), l);
	assert_non_null(s);
	assert_int_equal(s->role, RAFT_LEARNER);
	assert_int_equal(
	    raft_config_voters(raft_committed_config(h_raft(c, 1))), 3);
	assert_string_equal(h_node(c, l)->last_command, "x");
	/* A learner never campaigns. */
	h_crash(c, 1);
	h_run(c, 4 * E);
	assert_int_not_equal(h_leader(c), l);
	assert_int_equal(ROLE(c, l), RAFT_FOLLOWER);
	h_free(c);
}

static void test_membership_learner_promoted_once_caught_up(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	for (int i = 0; i < 5; i++)
		propose(c, 1, "x");
	h_deliver_all(c);
	raft_id l = h_add_node(c);
	h_cut(c, 1, l);
	assert_int_equal(h_add_learner(c, 1, l, true), RAFT_OK);
	h_run(c, 500);
	/* Not caught up: still a learner. */
	assert_int_equal(raft_config_find(raft_config(h_raft(c, 1)), l)->role,
			 RAFT_LEARNER);
	h_heal(c);
	h_run(c, 500);
	const struct raft_config *cfg = raft_committed_config(h_raft(c, 1));
	assert_int_equal(raft_config_find(cfg, l)->role, RAFT_VOTER);
	assert_int_equal(raft_config_voters(cfg), 4);
	assert_int_equal(raft_config_find(raft_config(h_raft(c, l)), l)->role,
			 RAFT_VOTER);
	h_free(c);
}

static void test_membership_learner_not_counted_for_commit(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_id l = h_add_node(c);
	assert_int_equal(h_add_learner(c, 1, l, false), RAFT_OK);
	h_run(c, 300);
	raft_index before = COMMIT(c, 1);
	h_isolate(c, 2);
	h_isolate(c, 3);
	h_cut(c, 2, 3);
	h_heal(c);
	h_cut(c, 1, 2);
	h_cut(c, 1, 3);
	raft_index x = propose(c, 1, "x");
	h_run(c, 500);
	assert_int_equal(LAST(c, l), x);	/* the learner has it */
	assert_int_equal(COMMIT(c, 1), before); /* but it does not count */
	h_free(c);
}

static void test_membership_one_change_at_a_time(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_id a = h_add_node(c);
	raft_id b = h_add_node(c);
	assert_int_equal(h_add_learner(c, 1, a, false), RAFT_OK);
	assert_int_equal(h_add_learner(c, 1, b, false), RAFT_EBUSY);
	assert_int_equal(h_remove(c, 1, 3), RAFT_EBUSY);
	h_run(c, 300);
	assert_int_equal(h_add_learner(c, 1, b, false), RAFT_OK);
	assert_int_equal(h_add_learner(c, 1, b, false), RAFT_EBUSY);
	h_run(c, 300);
	assert_int_equal(h_add_learner(c, 1, b, false),
			 RAFT_EINVAL); /* twice */
	assert_int_equal(raft_config(h_raft(c, 1))->n, 5);
	h_free(c);
}

/* A new leader changes nothing before it committed an entry of its term. */
static void test_membership_no_change_before_term_commit(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	assert_true(h_campaign(c, 1));
	raft_id l = h_add_node(c);
	assert_int_equal(h_add_learner(c, 1, l, false), RAFT_EBUSY);
	assert_int_equal(h_remove(c, 1, 3), RAFT_EBUSY);
	h_deliver_all(c);
	assert_int_equal(h_add_learner(c, 1, l, false), RAFT_OK);
	h_free(c);
}

/* A leader that removes itself leads until the change commits, then steps
 * down and hands over. */
static void test_membership_removed_leader_steps_down(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	assert_int_equal(h_remove(c, 1, 1), RAFT_OK);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	h_deliver_all(c);
	assert_int_not_equal(ROLE(c, 1), RAFT_LEADER);
	h_run(c, 3 * E);
	raft_id l = h_leader(c);
	assert_true(l == 2 || l == 3);
	const struct raft_config *cfg = raft_committed_config(h_raft(c, l));
	assert_null(raft_config_find(cfg, 1));
	assert_int_equal(raft_config_voters(cfg), 2);
	raft_index x = propose(c, l, "after");
	h_run(c, 300);
	assert_int_equal(COMMIT(c, l), x);
	h_free(c);
}

/* ---- Snapshots (dissertation chapter 5) ---- */

static void test_snapshot_taken_compacts(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	for (int i = 0; i < 10; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	raft_index applied = h_node(c, 1)->applied;
	assert_int_equal(applied, 12);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	struct raft *r = h_raft(c, 1);
	assert_int_equal(raft_snapshot_index(r), applied);
	assert_int_equal(raft_snapshot_term(r), TERM(c, 1));
	assert_null(raft_entry_at(r, 1));
	/* snapshot_trailing entries stay for slow followers. */
	assert_non_null(raft_entry_at(r, applied - 1));
	assert_int_equal(LAST(c, 1), applied);
	/* Not past what is applied, not twice at the same point. */
	assert_int_equal(h_snapshot(c, 1), RAFT_EINVAL);
	/* A restart starts from the snapshot. */
	h_restart(c, 1);
	assert_int_equal(raft_snapshot_index(h_raft(c, 1)), applied);
	assert_int_equal(h_node(c, 1)->n_commands, 10);
	h_free(c);
}

static void lagging_follower(struct h_cluster *c)
{
	h_elect(c, 1);
	h_crash(c, 3);
	for (int i = 0; i < 10; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	propose(c, 1, "after");
	h_run(c, 300);
	h_restart(c, 3);
}

static void test_snapshot_lagging_follower_gets_chunks(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	lagging_follower(c);
	h_run(c, 500);
	struct h_node *n3 = h_node(c, 3);
	assert_int_equal(n3->chunks_written, H_SNAPSHOT_BYTES / 8);
	assert_int_equal(raft_snapshot_index(h_raft(c, 3)), 12);
	assert_int_equal(n3->applied, 13);
	assert_int_equal(n3->n_commands, 11);
	assert_int_equal(n3->hash, h_node(c, 1)->hash);
	assert_int_equal(COMMIT(c, 3), COMMIT(c, 1));
	h_free(c);
}

static void test_snapshot_in_flight_while_sending(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	assert_false(raft_snapshot_in_flight(h_raft(c, 1)));
	lagging_follower(c);
	/* Deliver until the first chunk is on its way. */
	for (int i = 0; i < 1000 && h_peek(c, RAFT_MSG_SNAPSHOT, 1, 3) == NULL;
	     i++)
		if (!h_deliver(c, 0, 0, 0))
			h_tick(c, 1, 10);
	assert_true(raft_snapshot_in_flight(h_raft(c, 1)));
	assert_false(raft_snapshot_in_flight(h_raft(c, 2)));
	h_run(c, 500);
	assert_false(raft_snapshot_in_flight(h_raft(c, 1)));
	assert_int_equal(h_node(c, 3)->hash, h_node(c, 1)->hash);
	h_free(c);
}

static void test_snapshot_chunks_in_flight_bounded(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_chunks_in_flight = 2;
	struct h_cluster *c = h_new(3, &o);
	lagging_follower(c);
	for (int i = 0; i < 1000 && h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3) == 0;
	     i++)
		if (!h_deliver(c, 0, 0, 0))
			h_tick(c, 1, 10);
	/* Two of the four chunks leave at once, the rest as they are
	 * confirmed; nothing is sent twice when nothing is lost. */
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 2);
	h_run(c, 500);
	assert_int_equal(h_node(c, 3)->chunks_written, H_SNAPSHOT_BYTES / 8);
	assert_int_equal(h_node(c, 3)->hash, h_node(c, 1)->hash);
	h_free(c);
}

static void test_snapshot_lost_chunk_resent(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	lagging_follower(c);
	/* Deliver until the second chunk is next, then lose it alone: the
	 * chunks behind it arrive out of order and are refused, and the
	 * leader goes back to what the follower confirmed. */
	for (int i = 0; i < 1000; i++) {
		struct raft_message *m = h_peek(c, RAFT_MSG_SNAPSHOT, 1, 3);
		if (m != NULL && m->offset == 8)
			break;
		if (!h_deliver(c, 0, 0, 0))
			h_tick(c, 1, 10);
	}
	assert_true(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3) > 1);
	assert_true(h_drop_first(c, RAFT_MSG_SNAPSHOT, 1, 3));
	h_run(c, 1000);
	assert_int_equal(h_node(c, 3)->hash, h_node(c, 1)->hash);
	assert_int_equal(h_node(c, 3)->applied, h_node(c, 1)->applied);
	h_free(c);
}

static void test_snapshot_restarted_follower_restarts_from_zero(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	lagging_follower(c);
	/* Two chunks written, then the follower's process dies: the partial
	 * file is gone. */
	for (int i = 0; i < 1000 && h_node(c, 3)->chunks_written < 2; i++)
		if (!h_deliver(c, 0, 0, 0))
			h_tick(c, 1, 10);
	assert_int_equal(h_node(c, 3)->chunks_written, 2);
	h_restart(c, 3);
	h_node(c, 3)->chunks_written = 0;
	h_run(c, 1000);
	assert_int_equal(h_node(c, 3)->chunks_written, 4); /* from 0 again */
	assert_int_equal(h_node(c, 3)->hash, h_node(c, 1)->hash);
	h_free(c);
}

/* However the transfer goes wrong, the leader ends up replicating again. */
static void test_snapshot_leader_never_stuck(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	lagging_follower(c);
	for (int i = 0; i < 1000 && h_node(c, 3)->chunks_written < 4; i++)
		if (!h_deliver(c, 0, 0, 0))
			h_tick(c, 1, 10);
	/* The last chunk is written, but the follower dies before it
	 * reports the install. */
	h_drop(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1);
	h_crash(c, 3);
	h_run(c, 2 * E);
	h_restart(c, 3);
	h_run(c, 2 * E);
	propose(c, 1, "later");
	h_run(c, 300);
	assert_int_equal(h_node(c, 3)->applied, h_node(c, 1)->applied);
	assert_string_equal(h_node(c, 3)->last_command, "later");
	h_free(c);
}

/* ---- Bootstrap and joining ---- */

static void test_bootstrap_writes_first_configuration(void **state)
{
	(void)state;
	struct h_cluster *c = h_new_blank(2, NULL);
	struct raft_config cfg;
	h_config_of(1, &cfg); /* node 1 only */
	assert_int_equal(h_bootstrap(c, 2, &cfg), RAFT_EINVAL);
	assert_false(raft_has_config(h_raft(c, 2)));
	assert_int_equal(h_bootstrap(c, 1, &cfg), RAFT_OK);
	struct h_node *n1 = h_node(c, 1);
	assert_int_equal(n1->disk.n >= 1, 1);
	assert_int_equal(n1->disk.entries[0].index, 1);
	assert_int_equal(n1->disk.entries[0].type, RAFT_ENTRY_CONFIG);
	assert_int_equal(n1->disk.term >= 1, 1);
	/* A single voter elects itself. */
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(h_bootstrap(c, 1, &cfg), RAFT_ESTATE);
	h_free(c);
}

/* A node started without a configuration never campaigns, still votes,
 * and learns the membership from the leader. */
static void test_unconfigured_node_joins(void **state)
{
	(void)state;
	struct h_cluster *c = h_new_blank(2, NULL);
	h_run(c, 5 * E);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	assert_int_equal(TERM(c, 1), 0);
	assert_int_equal(h_pending(c, 0, 0, 0), 0);

	struct raft_message m = vote_request(1, 2, 3, 1, 1);
	h_step(c, &m);
	struct raft_message *r = h_peek(c, RAFT_MSG_VOTE_RESP, 2, 1);
	assert_non_null(r);
	assert_false(r->reject);
	h_restart(c, 2); /* forget that vote's term in memory only */
	h_drop(c, 0, 0, 0);

	struct raft_config cfg;
	h_config_of(1, &cfg);
	assert_int_equal(h_bootstrap(c, 1, &cfg), RAFT_OK);
	h_run(c, 2 * E);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(h_add_learner(c, 1, 2, true), RAFT_OK);
	/* Node 2's term (from the vote) deposes node 1 once; it wins again. */
	h_run(c, 4 * E);
	assert_true(raft_has_config(h_raft(c, 2)));
	const struct raft_config *cfg2 = raft_config(h_raft(c, 2));
	assert_int_equal(raft_config_voters(cfg2), 2);
	assert_int_equal(raft_config_find(cfg2, 2)->role, RAFT_VOTER);
	h_free(c);
}

/* ---- Entry versions ---- */

static void check_unknown_entry_stops(uint8_t type, uint8_t version)
{
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 1);
	raft_index applied = h_node(c, 2)->applied;
	assert_int_equal(applied, 2);
	struct raft_entry e[2] = {
	    {.term = t,
	     .index = 3,
	     .type = type,
	     .version = version,
	     .len = 1,
	     .data = (uint8_t *)"?"},
	    {.term = t,
	     .index = 4,
	     .type = RAFT_ENTRY_COMMAND,
	     .version = RAFT_VERSION_MIN,
	     .len = 1,
	     .data = (uint8_t *)"k"},
	};
	struct raft_message m = h_msg(RAFT_MSG_APPEND, 1, 2, t);
	m.prev_index = 2;
	m.prev_term = t;
	m.n_entries = 2;
	m.entries = e;
	m.commit = 4;
	h_step(c, &m);
	struct h_node *n2 = h_node(c, 2);
	assert_non_null(n2->error);
	assert_non_null(raft_stop_reason(h_raft(c, 2)));
	assert_int_equal(n2->applied, applied); /* never skipped */
	assert_int_equal(raft_last_applied(h_raft(c, 2)), applied);
	struct raft_update u;
	assert_int_equal(raft_tick(h_raft(c, 2), n2->now + 1, &u),
			 RAFT_ESHUTDOWN);
	assert_int_equal(u.n_apply, 0);
	h_free(c);
}

static void test_version_unknown_type_stops_applying(void **state)
{
	(void)state;
	check_unknown_entry_stops(99, RAFT_VERSION_MIN);
}

static void test_version_unknown_version_stops_applying(void **state)
{
	(void)state;
	check_unknown_entry_stops(RAFT_ENTRY_COMMAND, RAFT_VERSION_MAX + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    TEST(test_5_1_stale_term_rejected),
	    TEST(test_5_1_higher_term_adopted),
	    TEST(test_5_1_leader_steps_down_on_higher_term),
	    TEST(test_5_1_candidate_steps_down_on_higher_term),
	    TEST(test_5_2_follower_starts_election_after_timeout),
	    TEST(test_5_2_candidate_wins_with_majority),
	    TEST(test_5_2_follower_votes_once_per_term),
	    TEST(test_5_2_candidate_follows_append_of_same_term),
	    TEST(test_5_2_randomized_timeouts_spread),
	    TEST(test_5_2_split_vote_retried),
	    TEST(test_5_3_leader_appends_and_replicates),
	    TEST(test_5_3_commits_on_majority),
	    TEST(test_5_3_follower_applies_committed),
	    TEST(test_5_3_consistency_check_rejects_mismatch),
	    TEST(test_5_3_conflicting_suffix_truncated),
	    TEST(test_5_3_leader_backs_up_next_index_fast),
	    TEST(test_5_4_1_vote_denied_to_stale_log),
	    TEST(test_5_4_1_election_restriction),
	    TEST(test_5_4_2_commit_only_current_term),
	    TEST(test_5_4_3_leader_completeness),
	    TEST(test_5_5_follower_crash_retried),
	    TEST(test_5_5_append_idempotent),
	    TEST(test_5_5_candidate_crash_keeps_term_and_vote),
	    TEST(test_5_6_heartbeats_keep_followers),
	    TEST(test_prevote_does_not_change_term),
	    TEST(test_prevote_rejoin_does_not_disrupt),
	    TEST(test_check_quorum_leader_steps_down),
	    TEST(test_check_quorum_follower_ignores_votes),
	    TEST(test_leader_appends_noop_at_term_start),
	    TEST(test_lease_after_majority_round),
	    TEST(test_lease_ends_when_timeout_now_sent),
	    TEST(test_lease_restarted_node_waits_before_voting),
	    TEST(test_read_index_waits_for_commit_in_term),
	    TEST(test_read_index_needs_quorum_round),
	    TEST(test_read_index_fails_on_step_down),
	    TEST(test_transfer_timeout_now_once_caught_up),
	    TEST(test_transfer_times_out),
	    TEST(test_membership_learner_added),
	    TEST(test_membership_learner_promoted_once_caught_up),
	    TEST(test_membership_learner_not_counted_for_commit),
	    TEST(test_membership_one_change_at_a_time),
	    TEST(test_membership_no_change_before_term_commit),
	    TEST(test_membership_removed_leader_steps_down),
	    TEST(test_snapshot_taken_compacts),
	    TEST(test_snapshot_lagging_follower_gets_chunks),
	    TEST(test_snapshot_in_flight_while_sending),
	    TEST(test_snapshot_chunks_in_flight_bounded),
	    TEST(test_snapshot_lost_chunk_resent),
	    TEST(test_snapshot_restarted_follower_restarts_from_zero),
	    TEST(test_snapshot_leader_never_stuck),
	    TEST(test_bootstrap_writes_first_configuration),
	    TEST(test_unconfigured_node_joins),
	    TEST(test_version_unknown_type_stops_applying),
	    TEST(test_version_unknown_version_stops_applying),
	};
	return cmocka_run_group_tests_name("raft-paper", tests, NULL, NULL);
}
