/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Edges of the core that mutation testing (make mutate) showed no other
 * test or simulator check looks at: limits at their exact value, timers
 * restarted where the paper says, the fields of an update, a read answered
 * as soon as its commit arrives, pipelined AppendEntries, the vote kept
 * across a restart, snapshot chunks carrying the lease's rounds.
 */
#include "tests/raft/unit.h"

#include "raft/codec.h"
#include "raft/core.h"

#define E 1000
#define HB 100

/* Section 5.2: a follower that grants its vote restarts its election
 * timer, so the candidate has a full timeout to win. */
static void test_vote_grant_restarts_election_timer(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 3);
	h_isolate(c, 1);
	h_advance(c, 3, E + 1);
	/* A candidate with a stale log: node 3 takes its term (which restarts
	 * its timer) and refuses. */
	struct raft_message stale = h_msg(RAFT_MSG_VOTE, 1, 3, t + 1);
	h_step(c, &stale);
	assert_int_equal(TERM(c, 3), t + 1);
	struct raft_message *resp = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 1);
	assert_non_null(resp);
	assert_true(resp->reject);
	/* Later in that term, an up-to-date candidate gets the vote, and
	 * with it a full timeout before node 3 campaigns itself. */
	h_advance(c, 3, E + 1);
	struct raft_message v = h_msg(RAFT_MSG_VOTE, 2, 3, t + 1);
	v.index = LAST(c, 2);
	v.hint_term = raft_term_at(h_raft(c, 2), v.index);
	h_step(c, &v);
	resp = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2);
	assert_non_null(resp);
	assert_false(resp->reject);
	h_drop(c, 0, 0, 0);
	h_tick(c, 3, E - 1);
	assert_int_equal(ROLE(c, 3), RAFT_FOLLOWER);
	assert_int_equal(TERM(c, 3), t + 1);
	h_free(c);
}

/* A new leader's next heartbeat round is one interval after it won, not at
 * its first tick. */
static void test_new_leader_heartbeat_after_an_interval(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	assert_true(h_campaign(c, 1));
	h_deliver_all(c);
	size_t before = c->n_queue;
	h_tick(c, 1, HB / 2);
	assert_int_equal(c->n_queue, before);
	h_tick(c, 1, HB / 2);
	assert_true(h_pending(c, RAFT_MSG_APPEND, 1, 0) >= 2);
	h_free(c);
}

/* A read taken before the leader committed in its term, whose round a
 * majority already confirmed, is answered in the update that commits. */
static void test_read_answered_when_commit_follows_its_round(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	assert_true(h_campaign(c, 2));
	/* The no-op AppendEntries wait in the queue; the read's heartbeat
	 * goes first. */
	assert_int_equal(h_read(c, 2, 7), RAFT_OK);
	struct h_node *n2 = h_node(c, 2);
	size_t i = 0;
	while (i < c->n_queue) {
		struct raft_message *m = &c->queue[i].m;
		if (m->type == RAFT_MSG_APPEND && m->from == 2 && m->to == 3 &&
		    m->n_entries == 0)
			break;
		i++;
	}
	assert_true(i < c->n_queue);
	h_deliver_nth(c, i, false);
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 3, 2));
	assert_int_equal(n2->n_reads, 0);
	/* Now the no-op reaches node 3; its answer commits it. */
	while (h_deliver(c, RAFT_MSG_APPEND, 2, 3))
		;
	while (h_deliver(c, RAFT_MSG_APPEND_RESP, 3, 2) && n2->n_reads == 0)
		;
	int status = -1;
	raft_index index = 0;
	assert_true(h_read_answered(n2, 7, &status, &index));
	assert_int_equal(status, RAFT_OK);
	assert_int_equal(index, COMMIT(c, 2));
	/* Answered once: later rounds do not answer it again. */
	h_tick(c, 2, HB);
	h_deliver_all(c);
	assert_int_equal(n2->n_reads, 1);
	h_free(c);
}

/* At most 4096 reads wait at once; the next one is refused. */
static void test_read_index_pending_limit(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_isolate(c, 1);
	static uint64_t ids[4097];
	for (uint64_t i = 0; i < 4097; i++)
		ids[i] = i + 1;
	struct raft *r = h_raft(c, 1);
	raft_time now = h_node(c, 1)->now;
	struct raft_update u;
	assert_int_equal(raft_read_index_batch(r, now, ids, 4096, &u), RAFT_OK);
	assert_int_equal(raft_read_index_batch(r, now, ids + 4096, 1, &u),
			 RAFT_EBUSY);
	h_free(c);
}

/* A configuration holds at most RAFT_MAX_SERVERS servers, each with the
 * address it was added with. */
static void test_add_learner_limit_and_address(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	for (raft_id id = 4; id <= RAFT_MAX_SERVERS; id++) {
		assert_int_equal(h_add_learner(c, 1, id, false), RAFT_OK);
		h_run(c, 200);
	}
	const struct raft_config *cfg = raft_config(h_raft(c, 1));
	assert_int_equal(cfg->n, RAFT_MAX_SERVERS);
	char addr[RAFT_ADDRESS_MAX];
	h_address(9, addr, sizeof(addr));
	assert_string_equal(raft_config_find(cfg, 9)->address, addr);
	assert_int_equal(h_add_learner(c, 1, RAFT_MAX_SERVERS + 1, false),
			 RAFT_EINVAL);
	h_free(c);
}

/* An address is at most RAFT_ADDRESS_MAX - 1 bytes. */
static void test_add_learner_address_length(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	char addr[RAFT_ADDRESS_MAX + 1];
	memset(addr, 'a', sizeof(addr));
	addr[RAFT_ADDRESS_MAX] = 0;
	struct raft *r = h_raft(c, 1);
	struct raft_update u;
	assert_int_equal(
	    raft_add_learner(r, h_node(c, 1)->now, 4, addr, false, &u),
	    RAFT_EINVAL);
	addr[RAFT_ADDRESS_MAX - 1] = 0;
	assert_int_equal(
	    raft_add_learner(r, h_node(c, 1)->now, 4, addr, false, &u),
	    RAFT_OK);
	assert_int_equal(strlen(raft_config_find(raft_config(r), 4)->address),
			 RAFT_ADDRESS_MAX - 1);
	h_free(c);
}

/* A follower found by a probe gets a full pipeline at once, each batch
 * after the one before. */
static void test_pipeline_filled_after_probe(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.max_append_entries = 1;
	o.max_inflight = 3;
	struct h_cluster *c = h_new(3, &o);
	assert_true(h_campaign(c, 1));
	for (int i = 0; i < 4; i++)
		propose(c, 1, "x");
	/* One probe to node 2 so far. */
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 2), 1);
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1));
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 2), 3);
	raft_index expect = 0;
	for (size_t i = 0; i < c->n_queue; i++) {
		const struct raft_message *m = &c->queue[i].m;
		if (m->type != RAFT_MSG_APPEND || m->to != 2)
			continue;
		if (expect != 0)
			assert_int_equal(m->prev_index, expect);
		expect = m->prev_index + 1;
	}
	h_free(c);
}

/* Options at their limits are taken; one past, refused. */
static void test_options_at_their_limits(void **state)
{
	(void)state;
	struct raft_options base;
	h_options(&base);
	struct {
		struct raft_options o;
		bool ok;
	} cases[12];
	size_t n = 0;
	for (int past = 0; past <= 1; past++) {
		struct raft_options o = base;
		o.max_inflight = INFLIGHT_MAX + (uint32_t)past;
		cases[n].o = o;
		cases[n++].ok = !past;
		o = base;
		o.snapshot_chunks_in_flight = 64 + (uint32_t)past;
		cases[n].o = o;
		cases[n++].ok = !past;
		o = base;
		o.max_append_entries = RAFT_CODEC_MAX_ENTRIES + (uint32_t)past;
		cases[n].o = o;
		cases[n++].ok = !past;
		o = base;
		o.max_append_bytes = RAFT_MAX_ENTRY_BYTES + (uint32_t)past;
		cases[n].o = o;
		cases[n++].ok = !past;
		o = base;
		o.snapshot_chunk_bytes = RAFT_MAX_ENTRY_BYTES + (uint32_t)past;
		cases[n].o = o;
		cases[n++].ok = !past;
		o = base;
		o.max_clock_drift_ppm = 499999 + (uint32_t)past;
		cases[n].o = o;
		cases[n++].ok = !past;
	}
	for (size_t i = 0; i < n; i++) {
		struct raft *r = raft_new(1, &cases[i].o, 1);
		if (cases[i].ok)
			assert_non_null(r);
		else
			assert_null(r);
		raft_free(r);
	}
}

/* The update names the node's role whenever it changed. */
static void test_update_reports_role(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	struct raft *r = h_raft(c, 1);
	struct h_node *n1 = h_node(c, 1);
	n1->now += 2 * E;
	struct raft_update u;
	assert_int_equal(raft_tick(r, n1->now, &u), RAFT_OK);
	assert_true(u.role_changed);
	assert_int_equal(u.role, RAFT_CANDIDATE);
	assert_int_equal(u.role, raft_role(r));
	h_free(c);
}

/* A learner never campaigns, however long it hears nothing. */
static void test_learner_never_campaigns(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_id l = h_add_node(c);
	assert_int_equal(h_add_learner(c, 1, l, false), RAFT_OK);
	h_run(c, 500);
	assert_int_equal(LAST(c, l), LAST(c, 1));
	raft_term t = TERM(c, l);
	h_isolate(c, l);
	for (int i = 0; i < 10; i++)
		h_tick(c, l, E);
	assert_int_equal(ROLE(c, l), RAFT_FOLLOWER);
	assert_int_equal(TERM(c, l), t);
	assert_int_equal(h_pending(c, 0, l, 0), 0);
	h_free(c);
}

/* A node that voted in a term and then got entries of that term keeps its
 * vote across a restart. */
static void test_vote_kept_across_restart(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 2);
	raft_term t = TERM(c, 3);
	assert_int_equal(raft_voted_for(h_raft(c, 3)), 2);
	assert_int_equal(raft_term_at(h_raft(c, 3), LAST(c, 3)), t);
	h_restart(c, 3);
	assert_int_equal(TERM(c, 3), t);
	assert_int_equal(raft_voted_for(h_raft(c, 3)), 2);
	/* And refuses another candidate of that term. */
	h_advance(c, 3, E + 1);
	struct raft_message v = h_msg(RAFT_MSG_VOTE, 1, 3, t);
	v.index = LAST(c, 1);
	v.hint_term = raft_term_at(h_raft(c, 1), v.index);
	h_step(c, &v);
	struct raft_message *resp = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 1);
	assert_true(resp == NULL || resp->reject);
	h_free(c);
}

/* Bootstrapping writes term 1 with the first entry. */
static void test_bootstrap_persists_its_term(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	for (raft_id id = 1; id <= 3; id++) {
		assert_int_equal(h_node(c, id)->disk.term, 1);
		assert_int_equal(TERM(c, id), 1);
	}
	h_free(c);
}

/* A fsync report for a prefix of what was written counts for that prefix. */
static void test_persisted_report_of_a_prefix(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_slow_disk(c, 1, true);
	raft_index x = propose(c, 1, "x");
	propose(c, 1, "y");
	struct raft *r = h_raft(c, 1);
	assert_true(raft_stable_index(r) < x);
	struct raft_update u;
	assert_int_equal(
	    raft_persisted(r, h_node(c, 1)->now, x, TERM(c, 1), &u), RAFT_OK);
	assert_int_equal(raft_stable_index(r), x);
	h_slow_disk(c, 1, false);
	h_flush(c, 1);
	h_free(c);
}

/* Configurations at compacted indexes are refused as such, also right
 * below the snapshot when nothing trails it. */
static void test_config_at_compacted_index_refused(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_trailing = 0;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	for (int i = 0; i < 6; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	struct raft *r = h_raft(c, 1);
	raft_index s = raft_snapshot_index(r);
	struct raft_config cfg;
	assert_int_equal(raft_config_at(r, s, &cfg), RAFT_OK);
	assert_int_equal(raft_config_at(r, s - 1, &cfg), RAFT_EINVAL);
	assert_int_equal(raft_config_at(r, 1, &cfg), RAFT_EINVAL);
	h_free(c);

	/* With entries trailing the snapshot, the compaction point itself. */
	c = h_new(3, NULL);
	h_elect(c, 1);
	for (int i = 0; i < 6; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	r = h_raft(c, 1);
	raft_index offset = raft_snapshot_index(r) - c->opt.snapshot_trailing;
	assert_null(raft_entry_at(r, offset));
	assert_non_null(raft_entry_at(r, offset + 1));
	assert_int_equal(raft_config_at(r, offset, &cfg), RAFT_EINVAL);
	h_free(c);
}

/* Replication pipelines batches within max_inflight, each after the one
 * before. */
static void test_pipelined_batches_follow_each_other(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.max_append_entries = 1;
	o.max_inflight = 2;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_run(c, 300);
	raft_index last = LAST(c, 1);
	h_cut(c, 1, 3);
	h_drop(c, 0, 0, 0);
	for (int i = 0; i < 5; i++)
		propose(c, 1, "x");
	h_drop(c, RAFT_MSG_APPEND, 1, 3);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 2), 2);
	raft_index prev[2];
	size_t k = 0;
	for (size_t i = 0; i < c->n_queue; i++) {
		const struct raft_message *m = &c->queue[i].m;
		if (m->type == RAFT_MSG_APPEND && m->to == 2) {
			assert_int_equal(m->n_entries, 1);
			prev[k++] = m->prev_index;
		}
	}
	assert_int_equal(prev[0], last);
	assert_int_equal(prev[1], last + 1);
	/* The first batch's answer frees one place: the third batch follows
	 * the second, nothing is sent twice. */
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1));
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 2), 2);
	size_t seen = 0;
	for (size_t i = 0; i < c->n_queue; i++) {
		const struct raft_message *m = &c->queue[i].m;
		if (m->type == RAFT_MSG_APPEND && m->to == 2)
			assert_int_equal(m->prev_index, last + 1 + seen++);
	}
	h_free(c);
}

/* Commands proposed together take consecutive indexes and leave in one
 * AppendEntries per follower; they commit and apply like single ones. */
static void test_batch_of_proposals_in_one_message(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_run(c, 300);
	raft_index last = LAST(c, 1);
	/* The core takes the data it appends. */
	const struct raft_command cmds[3] = {{(uint8_t *)strdup("a"), 1},
					     {(uint8_t *)strdup("bb"), 2},
					     {(uint8_t *)strdup("ccc"), 3}};
	raft_index first = 0;
	size_t taken = 0;
	assert_int_equal(h_propose_batch(c, 1, cmds, 3, &first, &taken),
			 RAFT_OK);
	assert_int_equal(taken, 3);
	assert_int_equal(first, last + 1);
	assert_int_equal(LAST(c, 1), last + 3);
	for (raft_id to = 2; to <= 3; to++) {
		assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, to), 1);
		const struct raft_message *m =
		    h_peek(c, RAFT_MSG_APPEND, 1, to);
		assert_int_equal(m->prev_index, last);
		assert_int_equal(m->n_entries, 3);
	}
	h_run(c, 300);
	for (raft_id id = 1; id <= 3; id++) {
		assert_int_equal(COMMIT(c, id), last + 3);
		assert_int_equal(h_node(c, id)->applied, last + 3);
		assert_string_equal(h_node(c, id)->last_command, "ccc");
	}
	/* Not the leader: nothing taken (and the data stays ours). */
	struct raft_command mine = {(uint8_t *)strdup("d"), 1};
	assert_int_equal(h_propose_batch(c, 2, &mine, 1, &first, &taken),
			 RAFT_ENOTLEADER);
	assert_int_equal(taken, 0);
	free(mine.data);
	h_free(c);
}

/* Alone, a leader commits a batch as it appends it. */
static void test_batch_of_proposals_commits_at_once_alone(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	struct h_cluster *c = h_new(1, &o);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER); /* at once, alone */
	raft_index last = LAST(c, 1);
	const struct raft_command cmds[2] = {{(uint8_t *)strdup("a"), 1},
					     {(uint8_t *)strdup("b"), 1}};
	raft_index first = 0;
	size_t taken = 0;
	assert_int_equal(h_propose_batch(c, 1, cmds, 2, &first, &taken),
			 RAFT_OK);
	assert_int_equal(taken, 2);
	assert_int_equal(COMMIT(c, 1), last + 2);
	assert_string_equal(h_node(c, 1)->last_command, "b");
	h_free(c);
}

/* A command that cannot be taken ends the batch there: those before it
 * are appended and replicated all the same, those after it are not. */
static void test_batch_of_proposals_stops_at_a_refused_one(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_run(c, 300);
	raft_index last = LAST(c, 1);
	const struct raft_command cmds[3] = {{(uint8_t *)strdup("a"), 1},
					     {NULL, 5}, /* data missing */
					     {(uint8_t *)strdup("c"), 1}};
	raft_index first = 0;
	size_t taken = 9;
	assert_int_equal(h_propose_batch(c, 1, cmds, 3, &first, &taken),
			 RAFT_EINVAL);
	assert_int_equal(taken, 1);
	assert_int_equal(first, last + 1);
	assert_int_equal(LAST(c, 1), last + 1);
	free(cmds[2].data); /* not taken: still ours */
	h_run(c, 300);
	for (raft_id id = 1; id <= 3; id++) {
		assert_int_equal(COMMIT(c, id), last + 1);
		assert_string_equal(h_node(c, id)->last_command, "a");
	}
	h_free(c);
}

/* The size limit is inclusive: an entry of exactly RAFT_MAX_ENTRY_BYTES is
 * taken, one byte more is too big; a missing payload is invalid at any size,
 * the limit's own included. */
static void test_batch_of_proposals_size_limit(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	raft_index last = LAST(c, 1);
	size_t taken = 9;
	struct raft_command missing = {NULL, RAFT_MAX_ENTRY_BYTES};
	assert_int_equal(h_propose_batch(c, 1, &missing, 1, NULL, &taken),
			 RAFT_EINVAL);
	assert_int_equal(taken, 0);
	struct raft_command over = {calloc(1, RAFT_MAX_ENTRY_BYTES + 1),
				    RAFT_MAX_ENTRY_BYTES + 1};
	assert_non_null(over.data);
	assert_int_equal(h_propose_batch(c, 1, &over, 1, NULL, &taken),
			 RAFT_ETOOBIG);
	assert_int_equal(taken, 0);
	free(over.data); /* not taken: still ours */
	assert_int_equal(LAST(c, 1), last);
	struct raft_command full = {calloc(1, RAFT_MAX_ENTRY_BYTES),
				    RAFT_MAX_ENTRY_BYTES};
	assert_non_null(full.data);
	assert_int_equal(h_propose_batch(c, 1, &full, 1, NULL, &taken),
			 RAFT_OK);
	assert_int_equal(taken, 1);
	assert_int_equal(LAST(c, 1), last + 1);
	h_free(c);
}

/* A follower that receives two configurations at once, the first of them
 * committed, tracks the committed one. */
static void test_follower_tracks_committed_configuration(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	raft_index k = COMMIT(c, 3);
	assert_int_equal(LAST(c, 3), k);
	h_cut(c, 1, 3);
	assert_int_equal(h_add_learner(c, 1, 4, false), RAFT_OK);
	h_deliver_all(c);
	assert_int_equal(COMMIT(c, 1), k + 1);
	h_cut(c, 1, 2);
	assert_int_equal(h_add_learner(c, 1, 5, false), RAFT_OK);
	h_drop(c, 0, 0, 0);
	/* Node 3 gets both, with the commit of the first only. */
	h_heal(c);
	h_cut(c, 1, 2);
	for (int i = 0; i < 3 && LAST(c, 3) < k + 2; i++) {
		h_tick(c, 1, HB);
		h_deliver_all(c);
	}
	assert_int_equal(LAST(c, 3), k + 2);
	assert_int_equal(COMMIT(c, 3), k + 1);
	const struct raft_config *cfg = raft_committed_config(h_raft(c, 3));
	assert_non_null(raft_config_find(cfg, 4));
	assert_null(raft_config_find(cfg, 5));
	assert_non_null(raft_config_find(raft_config(h_raft(c, 3)), 5));
	h_free(c);
}

/* Once a removed server holds the entry that removed it and its removal
 * committed, the leader stops sending to it. */
static void test_removed_server_released(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(4, NULL);
	h_elect(c, 1);
	assert_int_equal(h_remove(c, 1, 4), RAFT_OK);
	h_run(c, 500);
	assert_null(raft_config_find(raft_committed_config(h_raft(c, 1)), 4));
	assert_int_equal(LAST(c, 4), COMMIT(c, 1));
	h_drop(c, 0, 0, 0);
	for (int i = 0; i < 3; i++)
		h_tick(c, 1, HB);
	assert_true(h_pending(c, RAFT_MSG_APPEND, 1, 2) > 0);
	assert_int_equal(h_pending(c, 0, 1, 4), 0);
	h_free(c);
}

/* A snapshot chunk of an older term is refused with the newer term, like
 * an AppendEntries; an answer of an older term is dropped unanswered. */
static void test_stale_chunk_refused_stale_answer_dropped(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 2);
	struct raft_config cfg;
	h_config_of(3, &cfg);
	struct raft_message m = h_msg(RAFT_MSG_SNAPSHOT, 3, 2, t - 1);
	m.snap_index = 1;
	m.snap_term = 1;
	m.snap_size = 8;
	m.len = 8;
	m.data = (const uint8_t *)"12345678";
	m.done = 1;
	m.config = &cfg;
	h_step(c, &m);
	struct raft_message *resp = h_peek(c, RAFT_MSG_APPEND_RESP, 2, 3);
	assert_non_null(resp);
	assert_true(resp->reject);
	assert_int_equal(resp->term, t);
	h_drop(c, 0, 0, 0);
	struct raft_message a = h_msg(RAFT_MSG_APPEND_RESP, 3, 2, t - 1);
	h_step(c, &a);
	struct raft_message v = h_msg(RAFT_MSG_VOTE_RESP, 3, 2, t - 1);
	h_step(c, &v);
	assert_int_equal(c->n_queue, 0);
	h_free(c);
}

static bool not_from_3(const struct raft_message *m)
{
	return m->from != 3;
}

/* A follower whose log holds the snapshot's last entry answers the chunk
 * at once that it has it; the leader goes on with entries, no timer
 * needed. */
static void test_snapshot_to_follower_holding_its_entry(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	/* Node 3 stores everything, but its answers are lost. */
	for (int i = 0; i < 6; i++)
		propose(c, 1, "x");
	h_deliver_filtered(c, not_from_3);
	h_tick(c, 1, HB);
	h_deliver_filtered(c, not_from_3);
	assert_int_equal(LAST(c, 3), LAST(c, 1));
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	struct raft *r1 = h_raft(c, 1);
	/* The leader gives up on node 3's lost answers and finds it needs
	 * the snapshot. */
	for (int i = 0; i < 10 && !raft_snapshot_in_flight(r1); i++) {
		h_tick(c, 1, HB);
		if (!raft_snapshot_in_flight(r1))
			h_deliver_filtered(c, not_from_3);
	}
	assert_true(raft_snapshot_in_flight(r1));
	h_deliver_all(c);
	assert_false(raft_snapshot_in_flight(r1));
	assert_int_equal(h_node(c, 3)->installs, 0);
	h_free(c);
}

/* A learner that caught up with exactly the commit index, with nothing new
 * proposed, is promoted. */
static void test_learner_promoted_at_the_commit_index(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_id l = h_add_node(c);
	h_cut(c, 1, l);
	assert_int_equal(h_add_learner(c, 1, l, true), RAFT_OK);
	h_run(c, 300);
	raft_index commit = COMMIT(c, 1);
	assert_int_equal(LAST(c, 1), commit);
	h_heal(c);
	h_run(c, 500);
	const struct raft_config *cfg = raft_committed_config(h_raft(c, 1));
	assert_int_equal(raft_config_find(cfg, l)->role, RAFT_VOTER);
	h_free(c);
}

/* Without any timer, a snapshot transfer runs to its end: each chunk's
 * answer (one-byte chunks, one in flight) brings the next, and the
 * follower's answer once installed brings the entries after it. */
static void test_snapshot_transfer_needs_no_timer(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_chunk_bytes = 1;
	o.snapshot_chunks_in_flight = 1;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_crash(c, 3);
	for (int i = 0; i < 10; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	propose(c, 1, "after");
	h_run(c, 300);
	h_restart(c, 3);
	/* The leader resends what went to the crashed node; from then on,
	 * no timer runs. */
	for (int i = 0; i < 5 && h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3) == 0;
	     i++)
		h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 1);
	h_deliver_all(c);
	assert_int_equal(h_node(c, 3)->installs, 1);
	assert_int_equal(h_node(c, 3)->chunks_written, H_SNAPSHOT_BYTES);
	assert_int_equal(LAST(c, 3), LAST(c, 1));
	h_free(c);
}

/* A follower that receives only snapshot chunks still confirms the
 * leader's rounds: with it, the leader keeps its lease. */
static void test_snapshot_chunk_answers_carry_rounds(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_chunks_in_flight = 1;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_crash(c, 3);
	for (int i = 0; i < 10; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	h_restart(c, 3);
	/* Node 2's last answer is at most this old. */
	h_crash(c, 2);
	raft_time crashed = h_node(c, 1)->now;
	struct raft *r1 = h_raft(c, 1);
	assert_true(raft_lease_until(r1) <= crashed + E);
	/* Node 3 gets chunks only, one a heartbeat interval. */
	for (int i = 0; i < 3; i++) {
		h_tick(c, 1, HB);
		h_drop(c, RAFT_MSG_APPEND, 1, 3);
		if (h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3))
			assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1));
		h_drop(c, RAFT_MSG_APPEND_RESP, 3, 1);
	}
	assert_true(h_node(c, 3)->chunks_written >= 2);
	assert_true(h_node(c, 3)->installs == 0);
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	/* Renewed by a round node 3 answered with a chunk's answer. */
	assert_true(raft_lease_until(r1) > crashed + E);
	h_free(c);
}

/* raft_start refuses a log with a gap, and the node can still be freed. */
static void test_start_refuses_a_log_with_a_gap(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	struct raft *r = raft_new(1, &o, 1);
	assert_non_null(r);
	struct raft_entry e[2];
	memset(e, 0, sizeof(e));
	e[0].index = 1;
	e[0].term = 1;
	e[0].type = RAFT_ENTRY_NOOP;
	e[1] = e[0];
	e[1].index = 3;
	struct raft_persisted_state st = {
	    .term = 1, .entries = e, .n_entries = 2};
	struct raft_update u;
	assert_int_equal(raft_start(r, 0, &st, &u), RAFT_EINVAL);
	raft_free(r);
}

/* A node whose log has entries of a newer term than its stored one (the
 * term write was lost) adopts that term with no vote, and stores it. */
static void test_start_adopts_newer_log_term_without_vote(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term old = TERM(c, 3);
	h_isolate(c, 3);
	h_elect(c, 2);
	h_heal(c);
	propose(c, 2, "x");
	h_run(c, 300);
	raft_term t = TERM(c, 2);
	assert_int_equal(raft_term_at(h_raft(c, 3), LAST(c, 3)), t);
	h_crash(c, 3);
	h_node(c, 3)->disk.term = old;
	h_node(c, 3)->disk.vote = 1; /* its vote of the older term */
	h_restart(c, 3);
	assert_int_equal(TERM(c, 3), t);
	assert_int_equal(raft_voted_for(h_raft(c, 3)), 0);
	assert_int_equal(h_node(c, 3)->disk.term, t);
	assert_int_equal(h_node(c, 3)->disk.vote, 0);
	h_free(c);
}

/* A core that stops (storage failed) is a follower of no one. */
static void test_stopped_core_follows_no_one(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	struct raft_update u;
	struct raft *r2 = h_raft(c, 2);
	assert_int_equal(raft_leader(r2), 1);
	raft_storage_failed(r2, h_node(c, 2)->now, "disk", &u);
	assert_int_equal(raft_role(r2), RAFT_FOLLOWER);
	assert_int_equal(raft_leader(r2), 0);
	assert_non_null(raft_stop_reason(r2));
	/* A candidate too. */
	struct raft *r3 = h_raft(c, 3);
	h_isolate(c, 3);
	h_tick(c, 3, 2 * E);
	h_tick(c, 3, 2 * E);
	assert_int_equal(raft_role(r3), RAFT_CANDIDATE);
	raft_storage_failed(r3, h_node(c, 3)->now, "disk", &u);
	assert_int_equal(raft_role(r3), RAFT_FOLLOWER);
	h_free(c);
}

/* A refused raft_snapshot_installed still hands back an empty update. */
static void test_refused_install_gives_empty_update(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	struct raft_update u;
	memset(&u, 0xff, sizeof(u));
	assert_int_equal(
	    raft_snapshot_installed(h_raft(c, 2), h_node(c, 2)->now, 5, 1, &u),
	    RAFT_EINVAL);
	assert_int_equal(u.n_send_now, 0);
	assert_int_equal(u.n_send_after_persist, 0);
	assert_int_equal(u.n_entries, 0);
	assert_int_equal(u.n_apply, 0);
	assert_false(u.hard_state_changed);
	assert_null(u.snapshot_chunk);
	h_free(c);
}

/* Default options, as raft.h and docs/raft.md give them. */
static void test_default_options(void **state)
{
	(void)state;
	struct raft_options o;
	raft_options_default(&o);
	assert_int_equal(o.election_timeout, 1000);
	assert_int_equal(o.heartbeat_interval, 100);
	assert_int_equal(o.max_clock_drift_ppm, 50000);
	assert_int_equal(o.transfer_timeout, 2000);
	assert_int_equal(o.snapshot_chunks_in_flight, 4);
	assert_true(o.pre_vote);
	assert_true(o.check_quorum);
	struct raft *r = raft_new(1, &o, 1);
	assert_non_null(r);
	raft_free(r);
}

/* A configuration entry that cannot be decoded stops the core rather than
 * leaving it in a configuration nobody wrote. */
static void test_undecodable_configuration_stops_the_core(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	struct raft *r2 = h_raft(c, 2);
	raft_index last = LAST(c, 2);
	uint8_t garbage[4] = {0xff, 0xff, 0xff, 0xff};
	struct raft_entry e;
	memset(&e, 0, sizeof(e));
	e.index = last + 1;
	e.term = TERM(c, 1);
	e.type = RAFT_ENTRY_CONFIG;
	e.version = RAFT_VERSION_MIN;
	e.data = garbage;
	e.len = sizeof(garbage);
	struct raft_message m = h_msg(RAFT_MSG_APPEND, 1, 2, TERM(c, 1));
	m.prev_index = last;
	m.prev_term = raft_term_at(r2, last);
	m.entries = &e;
	m.n_entries = 1;
	struct raft_update u;
	raft_step(r2, h_node(c, 2)->now, &m, &u);
	assert_non_null(raft_stop_reason(r2));
	h_free(c);
}

/* The same AppendEntries twice: the second is acknowledged as far as the
 * first. */
static void test_duplicate_append_acknowledged_in_full(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_drop(c, 0, 0, 0);
	raft_index x = propose(c, 1, "x");
	struct raft_message *m = h_peek(c, RAFT_MSG_APPEND, 1, 2);
	assert_non_null(m);
	assert_int_equal(m->prev_index + m->n_entries, x);
	h_step(c, m); /* a duplicate, delivered first */
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	size_t acks = 0;
	for (size_t i = 0; i < c->n_queue; i++) {
		const struct raft_message *a = &c->queue[i].m;
		if (a->type == RAFT_MSG_APPEND_RESP && a->from == 2) {
			assert_false(a->reject);
			assert_int_equal(a->index, x);
			acks++;
		}
	}
	assert_int_equal(acks, 2);
	h_free(c);
}

/* Removing server 0, which no configuration holds, is refused. */
static void test_remove_server_zero_refused(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	assert_int_equal(h_remove(c, 1, 0), RAFT_ENOTFOUND);
	assert_int_equal(raft_config(h_raft(c, 1))->n, 3);
	h_free(c);
}

int main(void)
{
	h_plant_bug_from_env();
	const struct CMUnitTest tests[] = {
	    TEST(test_vote_grant_restarts_election_timer),
	    TEST(test_new_leader_heartbeat_after_an_interval),
	    TEST(test_read_answered_when_commit_follows_its_round),
	    TEST(test_read_index_pending_limit),
	    TEST(test_add_learner_limit_and_address),
	    TEST(test_add_learner_address_length),
	    TEST(test_pipeline_filled_after_probe),
	    TEST(test_options_at_their_limits),
	    TEST(test_update_reports_role),
	    TEST(test_learner_never_campaigns),
	    TEST(test_vote_kept_across_restart),
	    TEST(test_bootstrap_persists_its_term),
	    TEST(test_persisted_report_of_a_prefix),
	    TEST(test_config_at_compacted_index_refused),
	    TEST(test_pipelined_batches_follow_each_other),
	    TEST(test_batch_of_proposals_in_one_message),
	    TEST(test_batch_of_proposals_stops_at_a_refused_one),
	    TEST(test_batch_of_proposals_commits_at_once_alone),
	    TEST(test_batch_of_proposals_size_limit),
	    TEST(test_snapshot_chunk_answers_carry_rounds),
	    TEST(test_follower_tracks_committed_configuration),
	    TEST(test_removed_server_released),
	    TEST(test_stale_chunk_refused_stale_answer_dropped),
	    TEST(test_snapshot_to_follower_holding_its_entry),
	    TEST(test_learner_promoted_at_the_commit_index),
	    TEST(test_snapshot_transfer_needs_no_timer),
	    TEST(test_start_refuses_a_log_with_a_gap),
	    TEST(test_start_adopts_newer_log_term_without_vote),
	    TEST(test_stopped_core_follows_no_one),
	    TEST(test_refused_install_gives_empty_update),
	    TEST(test_default_options),
	    TEST(test_undecodable_configuration_stops_the_core),
	    TEST(test_duplicate_append_acknowledged_in_full),
	    TEST(test_remove_server_zero_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
