/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The exact messages the core sends where the paper leaves the choice to the
 * implementation and docs/raft.md states it: the rejection hint, the single
 * probe after lost batches, the resent probe, a snapshot's first chunk
 * leaving with the switch to it, its window, the answer after an install; and
 * the states no schedule holds for long: a follower with a complete snapshot
 * not installed yet (driven on a bare core, without the harness, which
 * installs at once), an empty snapshot, the one seed whose generator state
 * would be zero, a committed configuration found just after a compaction.
 * Mutation testing (make mutate) showed each unchecked before.
 */
#include "tests/raft/unit.h"

#include "raft/core.h"

#define E 1000
#define HB 100

/* Queued AppendEntries from `from` to `to` that carry entries. */
static size_t appends_with_entries(struct h_cluster *c, raft_id from,
				   raft_id to)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_queue; i++) {
		const struct raft_message *m = &c->queue[i].m;
		if (m->type == RAFT_MSG_APPEND && m->from == from &&
		    m->to == to && m->n_entries > 0)
			n++;
	}
	return n;
}

/* Delivering through this notes the target of the first TimeoutNow. */
static raft_id timeout_now_to;

static bool note_timeout_now(const struct raft_message *m)
{
	if (m->type == RAFT_MSG_TIMEOUT_NOW && timeout_now_to == 0)
		timeout_now_to = m->to;
	return true;
}

/* The last queued message of `type` from `from` to `to`. */
static struct raft_message *newest(struct h_cluster *c, uint8_t type,
				   raft_id from, raft_id to)
{
	struct raft_message *found = NULL;
	for (size_t i = 0; i < c->n_queue; i++) {
		struct raft_message *m = &c->queue[i].m;
		if (m->type == type && m->from == from && m->to == to)
			found = m;
	}
	return found;
}

/* Section 5.3's fast back-tracking as docs/raft.md states it: a follower
 * whose log is too short names its last entry; one whose entry at prev
 * differs names the last index of the leader's prev term or older (its
 * commit at least), skipping its whole conflicting term at once. */
static void test_rejection_hint(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t1 = TERM(c, 1);
	h_elect(c, 3);
	raft_term t3 = TERM(c, 3);
	raft_index k = COMMIT(c, 3);
	h_isolate(c, 3);
	propose(c, 3, "a");
	propose(c, 3, "b");
	h_drop(c, 0, 0, 0);
	assert_int_equal(LAST(c, 3), k + 2);
	assert_int_equal(raft_term_at(h_raft(c, 3), k - 1), t1);
	/* prev just past its log, of an older term than its last entry. */
	struct raft_message m = h_msg(RAFT_MSG_APPEND, 2, 3, t3 + 1);
	m.prev_index = k + 3;
	m.prev_term = t1;
	h_step(c, &m);
	struct raft_message *resp = h_peek(c, RAFT_MSG_APPEND_RESP, 3, 2);
	assert_non_null(resp);
	assert_true(resp->reject);
	assert_int_equal(resp->index, k + 2);
	assert_int_equal(resp->hint_term, t3);
	h_drop(c, 0, 0, 0);
	/* prev inside its log with another term: back to the commit, not
	 * to prev. */
	m.prev_index = k + 2;
	h_step(c, &m);
	resp = h_peek(c, RAFT_MSG_APPEND_RESP, 3, 2);
	assert_non_null(resp);
	assert_true(resp->reject);
	assert_int_equal(resp->index, k);
	h_free(c);
}

/* The same on a follower that compacted its log at its commit index: the
 * walk back over its conflicting term stops at the compaction point. */
static void test_rejection_hint_stops_at_compaction(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_trailing = 0;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	raft_term t1 = TERM(c, 1);
	h_elect(c, 3);
	raft_term t3 = TERM(c, 3);
	raft_index k = COMMIT(c, 3);
	assert_int_equal(h_snapshot(c, 3), RAFT_OK);
	assert_int_equal(raft_snapshot_index(h_raft(c, 3)), k);
	h_isolate(c, 3);
	propose(c, 3, "a");
	propose(c, 3, "b");
	h_drop(c, 0, 0, 0);
	struct raft_message m = h_msg(RAFT_MSG_APPEND, 2, 3, t3 + 1);
	m.prev_index = k + 2;
	m.prev_term = t1;
	h_step(c, &m);
	struct raft_message *resp = h_peek(c, RAFT_MSG_APPEND_RESP, 3, 2);
	assert_non_null(resp);
	assert_true(resp->reject);
	assert_int_equal(resp->index, k);
	h_free(c);
}

/* The leader reads a rejection's hint: without a term, the next probe
 * follows its index; with one, the leader skips back over its own entries
 * of newer terms, reading a hint past its log as its last entry. Each
 * rejection leaves one probe in flight and nothing more until it is
 * answered. */
static void test_rejection_read_by_the_leader(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	raft_term t = TERM(c, 1);
	raft_index k = LAST(c, 1);
	raft_term older = raft_term_at(h_raft(c, 1), k - 1);
	assert_true(older > 0 && older < t);
	h_isolate(c, 3);
	for (int i = 0; i < 5; i++)
		propose(c, 1, "x");
	h_deliver_all(c);
	h_drop(c, 0, 0, 0);
	/* A hint at prev itself: the next probe is still before prev. */
	struct raft_message r = h_msg(RAFT_MSG_APPEND_RESP, 3, 1, t);
	r.reject = 1;
	r.prev_index = k + 5;
	r.index = k + 5;
	h_step(c, &r);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 3), 1);
	assert_int_equal(h_peek(c, RAFT_MSG_APPEND, 1, 3)->prev_index, k + 4);
	h_drop(c, 0, 0, 0);
	/* No term hint: the probe starts right after the index named. */
	r.prev_index = k + 4;
	r.index = k + 2;
	h_step(c, &r);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 3), 1);
	assert_int_equal(h_peek(c, RAFT_MSG_APPEND, 1, 3)->prev_index, k + 2);
	h_drop(c, 0, 0, 0);
	/* One probe in flight: a new entry waits for its answer. */
	propose(c, 1, "y");
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 3), 0);
	h_drop(c, 0, 0, 0);
	/* A hint just past the leader's log, with an older term than all
	 * it holds from k on: read from its last entry back, to just after
	 * the match. */
	r.prev_index = k + 2;
	r.index = LAST(c, 1) + 1;
	r.hint_term = older;
	h_step(c, &r);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 3), 1);
	assert_int_equal(h_peek(c, RAFT_MSG_APPEND, 1, 3)->prev_index, k);
	h_free(c);
}

static struct h_cluster *
lost_batches_window(unsigned entries, uint32_t per_message, uint32_t inflight)
{
	struct raft_options o;
	h_options(&o);
	o.max_append_entries = per_message;
	o.max_inflight = inflight;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_run(c, 300);
	h_cut(c, 1, 3);
	for (unsigned i = 0; i < entries; i++)
		propose(c, 1, "x");
	assert_int_equal(appends_with_entries(c, 1, 3),
			 entries / per_message < inflight
			     ? entries / per_message
			     : inflight);
	h_deliver_all(c);
	return c;
}

static struct h_cluster *leader_with_lost_batches(unsigned entries,
						  uint32_t per_message)
{
	return lost_batches_window(entries, per_message, 16);
}

/* Batches lost on the way: after half an election timeout without
 * progress, one probe from the match leaves with the tick that gives up on
 * them, never the whole pipeline again; it waits for an answer. */
static void test_one_probe_after_lost_batches(void **state)
{
	(void)state;
	struct h_cluster *c = leader_with_lost_batches(3, 1);
	raft_index match = COMMIT(c, 3);
	size_t probes = 0;
	for (int i = 0; i < 10; i++) {
		h_tick(c, 1, HB);
		size_t n = appends_with_entries(c, 1, 3);
		if (n > 0)
			assert_int_equal(
			    newest(c, RAFT_MSG_APPEND, 1, 3)->prev_index,
			    match);
		probes += n;
		h_deliver_all(c);
	}
	assert_int_equal(probes, 1);
	h_free(c);
}

/* The same for a single missing entry. */
static void test_probe_for_last_entry(void **state)
{
	(void)state;
	struct h_cluster *c = leader_with_lost_batches(1, 1);
	size_t probes = 0;
	for (int i = 0; i < 10; i++) {
		h_tick(c, 1, HB);
		probes += appends_with_entries(c, 1, 3);
		h_deliver_all(c);
	}
	assert_int_equal(probes, 1);
	h_free(c);
}

/* The same with a window of one batch: the probe that the heartbeat's
 * answer made obsolete no longer holds the window. */
static void test_late_probe_answer_frees_the_window(void **state)
{
	(void)state;
	struct h_cluster *c = lost_batches_window(3, 1, 1);
	for (int i = 0; i < 12; i++) {
		h_tick(c, 1, HB);
		h_deliver_all(c);
	}
	h_heal(c);
	h_tick(c, 1, HB);
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 3, 1));
	assert_int_equal(appends_with_entries(c, 1, 3), 1);
	h_free(c);
}

/* A probe answered by a heartbeat's answer, long after it left: the
 * pipeline that follows has a full half timeout before the leader gives up
 * on it. */
static void test_pipeline_after_late_probe_answer_not_cut_short(void **state)
{
	(void)state;
	struct h_cluster *c = leader_with_lost_batches(3, 1);
	size_t probes = 0;
	for (int i = 0; i < 12; i++) {
		h_tick(c, 1, HB);
		probes += appends_with_entries(c, 1, 3);
		h_deliver_all(c);
	}
	assert_int_equal(probes, 1);
	h_heal(c);
	h_tick(c, 1, HB);
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 3, 1));
	assert_int_equal(appends_with_entries(c, 1, 3), 3);
	h_tick(c, 1, 10);
	assert_int_equal(appends_with_entries(c, 1, 3), 3);
	h_free(c);
}

static void test_lease_renewed_by_an_older_round(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 2), 1);
	h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 2), 2);
	raft_time before = raft_lease_until(h_raft(c, 1));
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1));
	assert_true(raft_lease_until(h_raft(c, 1)) > before);
	h_free(c);
}

/* A heartbeat's answer, naming entries already on disk in a term the
 * driver reported durable (raft_hard_state_persisted), leaves at once, even
 * while the disk writes a new entry. */
static void test_heartbeat_answer_not_held_by_a_write(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	struct h_node *n2 = h_node(c, 2);
	struct raft_update u;
	assert_int_equal(
	    raft_hard_state_persisted(n2->r, n2->now, TERM(c, 2), &u), RAFT_OK);
	assert_int_equal(u.n_send_now + u.n_send_after_persist, 0);
	h_slow_disk(c, 2, true);
	propose(c, 1, "x");
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND_RESP, 2, 1), 0);
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, HB);
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND_RESP, 2, 1), 1);
	h_slow_disk(c, 2, false);
	h_flush(c, 2);
	h_free(c);
}

/* A restarted node takes the durable term from its disk: a heartbeat's
 * answer leaves at once while it writes an entry. It also waits a whole
 * election timeout after starting before it campaigns. */
static void test_restart_durable_term_and_timer(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_crash(c, 2);
	/* Down for a while: its timer counts from its restart. */
	h_advance(c, 2, 5 * E);
	h_restart(c, 2);
	h_tick(c, 2, 1);
	assert_int_equal(h_pending(c, 0, 2, 0), 0);
	assert_int_equal(ROLE(c, 2), RAFT_FOLLOWER);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	h_slow_disk(c, 2, true);
	propose(c, 1, "x");
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, HB);
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND_RESP, 2, 1), 1);
	h_slow_disk(c, 2, false);
	h_flush(c, 2);
	h_free(c);
}

/* A heartbeat names the follower's match as prev, so it carries the
 * commit index up to there: followers learn a commit without new entries. */
static void test_heartbeat_carries_the_commit(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	raft_index x = propose(c, 1, "x");
	h_deliver_all(c);
	assert_int_equal(COMMIT(c, 1), x);
	assert_true(COMMIT(c, 2) < x);
	h_tick(c, 1, HB);
	struct raft_message *hb = h_peek(c, RAFT_MSG_APPEND, 1, 2);
	assert_non_null(hb);
	assert_int_equal(hb->n_entries, 0);
	assert_int_equal(hb->prev_index, x);
	assert_int_equal(hb->commit, x);
	assert_int_equal(hb->version, RAFT_VERSION_MAX);
	h_deliver_all(c);
	assert_int_equal(COMMIT(c, 2), x);
	assert_int_equal(COMMIT(c, 3), x);
	h_free(c);
}

/* After a server in the middle of the leader's table is released, the
 * commit counts the others' current matches: with node 2 cut off, nodes 1
 * and 4 still commit. */
static void test_commit_after_a_server_released(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(4, NULL);
	h_elect(c, 1);
	assert_int_equal(h_remove(c, 1, 3), RAFT_OK);
	h_run(c, 500);
	assert_null(raft_config_find(raft_committed_config(h_raft(c, 1)), 3));
	h_crash(c, 3);
	h_cut(c, 1, 2);
	raft_index x = propose(c, 1, "x");
	h_run(c, 300);
	assert_int_equal(COMMIT(c, 1), x);
	assert_int_equal(COMMIT(c, 4), x);
	h_free(c);
}

/* Two removed servers leaving at once: releasing the one that holds its
 * removal keeps the other, unreachable, in the table, so that it still
 * learns its removal once it is back (within ten election timeouts). */
static void test_release_keeps_the_other_leaving_server(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(4, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_isolate(c, 3);
	assert_int_equal(h_remove(c, 1, 3), RAFT_OK);
	h_run(c, 300);
	raft_index removal3 = COMMIT(c, 1);
	assert_null(raft_config_find(raft_committed_config(h_raft(c, 1)), 3));
	assert_int_equal(h_remove(c, 1, 4), RAFT_OK);
	h_run(c, 300);
	assert_null(raft_config_find(raft_committed_config(h_raft(c, 1)), 4));
	/* Node 4 holds its removal and was released. */
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, 0, 1, 4), 0);
	assert_true(COMMIT(c, 3) < removal3);
	h_heal(c);
	h_run(c, 500);
	assert_true(COMMIT(c, 3) >= removal3);
	h_free(c);
}

/* A transfer to a target whose probe got no answer for a heartbeat
 * interval (the driver ticks late) sends that probe again at once, from
 * exactly one interval on. */
static void test_transfer_resends_a_stale_probe(void **state)
{
	(void)state;
	struct h_cluster *c = leader_with_lost_batches(1, 1);
	size_t probes = 0;
	for (int i = 0; i < 10 && probes == 0; i++) {
		h_tick(c, 1, HB);
		probes += appends_with_entries(c, 1, 3);
		h_deliver_all(c);
	}
	assert_int_equal(probes, 1);
	h_heal(c);
	h_advance(c, 1, HB);
	assert_int_equal(h_transfer(c, 1, 3), RAFT_OK);
	assert_int_equal(appends_with_entries(c, 1, 3), 1);
	h_free(c);
}

/* Entries streamed with a batch always in flight: each answer that moves
 * the match is progress, so the leader never gives up on the pipeline and
 * probes again. */
static void test_streaming_never_probes(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	propose(c, 1, "first");
	for (int i = 0; i < 12; i++) {
		h_deliver_all(c);
		propose(c, 1, "x");
		h_tick(c, 1, HB);
		assert_int_equal(appends_with_entries(c, 1, 3), 1);
	}
	h_free(c);
}

/* The largest entry is taken, one byte more is refused. */
static void test_propose_size_limit(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	struct h_node *n1 = h_node(c, 1);
	uint8_t *big = calloc(1, RAFT_MAX_ENTRY_BYTES + 1);
	assert_non_null(big);
	struct raft_update u;
	raft_index idx = 0;
	int too_big = raft_propose(n1->r, n1->now, big,
				   RAFT_MAX_ENTRY_BYTES + 1, &idx, &u);
	int fits =
	    raft_propose(n1->r, n1->now, big, RAFT_MAX_ENTRY_BYTES, &idx, &u);
	free(big);
	assert_int_equal(too_big, RAFT_ETOOBIG);
	assert_int_equal(fits, RAFT_OK);
	/* No data for a length that fits: invalid, not too big. */
	assert_int_equal(
	    raft_propose(n1->r, n1->now, NULL, RAFT_MAX_ENTRY_BYTES, &idx, &u),
	    RAFT_EINVAL);
	assert_int_equal(idx, LAST(c, 1));
	/* The harness never saw that update: leave the cluster alone. */
	h_free(c);
}

/* A leader that steps down ends its pending transfer. */
static void test_step_down_ends_the_transfer(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_cut(c, 1, 3);
	propose(c, 1, "x");
	h_deliver_all(c);
	assert_int_equal(h_transfer(c, 1, 3), RAFT_OK);
	assert_true(raft_transfer_pending(h_raft(c, 1)));
	struct raft_message a = h_msg(RAFT_MSG_APPEND, 2, 1, TERM(c, 1) + 1);
	h_step(c, &a);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	assert_false(raft_transfer_pending(h_raft(c, 1)));
	h_free(c);
}

/* The leader gives up on lost batches exactly half an election timeout
 * after the follower last made progress. */
static void test_probe_at_exactly_half_a_timeout(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	propose(c, 1, "a");
	h_deliver_all(c);
	raft_time progress = h_node(c, 1)->now;
	h_cut(c, 1, 3);
	propose(c, 1, "b");
	h_deliver_all(c);
	while (h_node(c, 1)->now + HB < progress + E / 2) {
		h_tick(c, 1, HB);
		assert_int_equal(appends_with_entries(c, 1, 3), 0);
		h_deliver_all(c);
	}
	h_tick(c, 1, progress + E / 2 - 1 - h_node(c, 1)->now);
	assert_int_equal(appends_with_entries(c, 1, 3), 0);
	h_tick(c, 1, 1);
	assert_int_equal(appends_with_entries(c, 1, 3), 1);
	h_free(c);
}

/* A follower that is up to date is not probed however long it stays
 * idle (it stays in REPLICATE at every tick): two entries proposed after
 * quiet seconds are pipelined. */
static void test_idle_follower_still_pipelined(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	struct raft *r1 = h_raft(c, 1);
	for (int i = 0; i < 2 * E / H_STEP; i++) {
		h_tick(c, 1, H_STEP);
		const struct progress *p = raft__progress_find(r1, 3);
		assert_non_null(p);
		assert_int_equal(p->state, PROGRESS_REPLICATE);
		h_deliver_all(c);
	}
	h_drop(c, 0, 0, 0);
	propose(c, 1, "a");
	propose(c, 1, "b");
	assert_int_equal(appends_with_entries(c, 1, 3), 2);
	h_free(c);
}

/* The largest entry is replicated and applied everywhere. */
static void test_largest_entry_replicated(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	char *big = malloc(RAFT_MAX_ENTRY_BYTES + 1);
	assert_non_null(big);
	memset(big, 'a', RAFT_MAX_ENTRY_BYTES);
	big[RAFT_MAX_ENTRY_BYTES] = '\0';
	raft_index idx = 0;
	int rv = h_propose(c, 1, big, &idx);
	free(big);
	assert_int_equal(rv, RAFT_OK);
	h_run(c, 300);
	for (raft_id id = 1; id <= 3; id++)
		assert_int_equal(COMMIT(c, id), idx);
	h_free(c);
}

/* A batch takes entries up to exactly max_append_bytes. */
static void test_batch_fills_max_bytes_exactly(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.max_append_bytes = 8;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_run(c, 300);
	h_cut(c, 1, 3);
	propose(c, 1, "abcd");
	propose(c, 1, "efgh");
	propose(c, 1, "ijkl");
	h_deliver_all(c);
	h_heal(c);
	struct raft_message *probe = NULL;
	for (int i = 0; i < 10 && probe == NULL; i++) {
		h_tick(c, 1, HB);
		if (appends_with_entries(c, 1, 3) > 0)
			probe = newest(c, RAFT_MSG_APPEND, 1, 3);
		else
			h_drop(c, 0, 0, 3);
	}
	assert_non_null(probe);
	assert_int_equal(probe->n_entries, 2);
	h_free(c);
}

/* With one batch in flight at a time, the answer that frees the window
 * sends the next entry at once, the last one too. */
static void test_freed_window_sends_the_last_entry(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.max_inflight = 1;
	o.max_append_entries = 1;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	propose(c, 1, "a");
	raft_index b = propose(c, 1, "b");
	assert_int_equal(appends_with_entries(c, 1, 3), 1);
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 3, 1));
	assert_int_equal(appends_with_entries(c, 1, 3), 1);
	struct raft_message *m = newest(c, RAFT_MSG_APPEND, 1, 3);
	assert_int_equal(m->prev_index + m->n_entries, b);
	h_free(c);
}

/* A learner that catches up is promoted by the answer that shows it, in
 * the same update, without waiting for a tick. */
static void test_learner_promoted_by_its_answer(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	raft_id l = h_add_node(c);
	assert_int_equal(h_add_learner(c, 1, l, true), RAFT_OK);
	raft_index added = LAST(c, 1);
	for (int i = 0; i < 20 && LAST(c, 1) == added; i++)
		assert_true(h_deliver_all(c) > 0 || LAST(c, 1) > added);
	assert_true(LAST(c, 1) > added);
	const struct raft_server *s =
	    raft_config_find(raft_config(h_raft(c, 1)), l);
	assert_non_null(s);
	assert_int_equal(s->role, RAFT_VOTER);
	assert_int_equal(s->promote, 0);
	h_free(c);
}

/* Answers to one follower's rounds arrive out of order (the newer first):
 * the older one does not lower what it confirmed, so the lease follows
 * the newest round a majority confirmed. */
static void test_older_round_answer_does_not_lower_the_lease(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(5, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, HB);
	h_tick(c, 1, HB);
	raft_time newer_sent = h_node(c, 1)->now;
	/* Node 2: the newer round's heartbeat and answer, then the older. */
	size_t i = 0;
	while (
	    !(c->queue[i].m.type == RAFT_MSG_APPEND && c->queue[i].m.to == 2))
		i++;
	size_t older = i++;
	while (
	    !(c->queue[i].m.type == RAFT_MSG_APPEND && c->queue[i].m.to == 2))
		i++;
	h_deliver_nth(c, i, false);
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1));
	h_deliver_nth(c, older, false);
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1));
	/* Node 3: only the newer round. */
	assert_true(h_drop_first(c, RAFT_MSG_APPEND, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 3, 1));
	struct raft_options o;
	h_options(&o);
	raft_time d = E * (1000000 - (raft_time)o.max_clock_drift_ppm) /
		      (1000000 + (raft_time)o.max_clock_drift_ppm);
	assert_int_equal(raft_lease_until(h_raft(c, 1)), newer_sent + d);
	h_free(c);
}

/* The answer to a round so old that its send time was overwritten in the
 * ring of round times renews nothing: the time there is a newer round's. */
static void test_answer_of_a_round_out_of_the_ring_ignored(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.heartbeat_interval = 5;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_run(c, 100);
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, 5);
	struct raft_message *hb = h_peek(c, RAFT_MSG_APPEND, 1, 2);
	assert_non_null(hb);
	assert_int_equal(hb->n_entries, 0);
	struct raft_message old = *hb;
	h_drop(c, 0, 0, 0);
	for (int k = 0; k < 128; k++) {
		h_tick(c, 1, 5);
		h_drop(c, 0, 0, 0);
	}
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	raft_time before = raft_lease_until(h_raft(c, 1));
	h_step(c, &old);
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1));
	assert_int_equal(ROLE(c, 1), RAFT_LEADER);
	assert_int_equal(raft_lease_until(h_raft(c, 1)), before);
	h_free(c);
}

/* Heartbeat rounds follow each other exactly one interval apart. */
static void test_heartbeats_exactly_one_interval_apart(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	for (int i = 0; i < HB && h_pending(c, RAFT_MSG_APPEND, 1, 2) == 0; i++)
		h_tick(c, 1, 1);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 2), 1);
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, HB - 1);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 2), 0);
	h_tick(c, 1, 1);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 2), 1);
	h_free(c);
}

/* Acknowledgements that make no sense change nothing: one past the
 * leader's log, and a rejection of prev at the follower's match (from
 * before the match moved). */
static void test_senseless_answers_change_nothing(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	struct raft_message a = h_msg(RAFT_MSG_APPEND_RESP, 3, 1, TERM(c, 1));
	a.index = LAST(c, 1) + 1;
	h_step(c, &a);
	assert_int_equal(c->n_queue, 0);
	assert_false(raft_snapshot_in_flight(h_raft(c, 1)));
	a.reject = 1;
	a.prev_index = LAST(c, 1);
	a.index = LAST(c, 1) - 1;
	h_step(c, &a);
	assert_int_equal(c->n_queue, 0);
	/* Still pipelining to node 3. */
	propose(c, 1, "a");
	propose(c, 1, "b");
	assert_int_equal(appends_with_entries(c, 1, 3), 2);
	h_free(c);
}

/* More than a handful of reads answered by one round, in one update. */
static void test_many_reads_answered_at_once(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	for (uint64_t id = 1; id <= 20; id++)
		assert_int_equal(h_read(c, 1, id), RAFT_OK);
	struct h_node *n1 = h_node(c, 1);
	assert_int_equal(n1->n_reads, 0);
	h_deliver_all(c);
	assert_int_equal(n1->n_reads, 20);
	for (uint64_t id = 1; id <= 20; id++) {
		int status = -1;
		assert_true(h_read_answered(n1, id, &status, NULL));
		assert_int_equal(status, RAFT_OK);
	}
	h_free(c);
}

/* Two voters: neither wins an election with its own vote alone. */
static void test_two_voters_need_both_votes(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(2, NULL);
	h_elect(c, 1);
	h_isolate(c, 2);
	for (int i = 0; i < 40; i++)
		h_tick(c, 2, HB);
	assert_int_not_equal(ROLE(c, 2), RAFT_LEADER);
	h_free(c);
}

/* A learner id up to RAFT_MAX_NODE_ID is taken, one more is refused. */
static void test_add_learner_largest_id(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	struct h_node *n1 = h_node(c, 1);
	struct raft_update u;
	assert_int_equal(raft_add_learner(n1->r, n1->now, RAFT_MAX_NODE_ID + 1,
					  "127.0.0.1:1", false, &u),
			 RAFT_EINVAL);
	assert_int_equal(raft_add_learner(n1->r, n1->now, RAFT_MAX_NODE_ID,
					  "127.0.0.1:1", false, &u),
			 RAFT_OK);
	assert_non_null(raft_config_find(raft_config(n1->r), RAFT_MAX_NODE_ID));
	/* The harness never saw that update: leave the cluster alone. */
	h_free(c);
}

/* On a tie, "the most up-to-date voter" is the first in the leader's
 * table (the configuration's order): for a transfer to any voter and for
 * a removed leader's hand-over. */
static void test_ties_go_to_the_first_voter(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	assert_int_equal(h_transfer(c, 1, 0), RAFT_OK);
	assert_int_equal(h_pending(c, RAFT_MSG_TIMEOUT_NOW, 1, 2), 1);
	h_free(c);
	c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	assert_int_equal(h_remove(c, 1, 1), RAFT_OK);
	for (int i = 0; i < 20 && h_pending(c, RAFT_MSG_TIMEOUT_NOW, 1, 0) == 0;
	     i++)
		if (h_deliver_filtered(c, note_timeout_now) == 0)
			h_tick(c, 1, HB);
	assert_true(h_pending(c, RAFT_MSG_TIMEOUT_NOW, 1, 2) == 1 ||
		    timeout_now_to == 2);
	h_free(c);
}

/* Node 3 misses entries that the leader then compacts; it restarts. */
static struct h_cluster *leader_with_compacted_follower(struct raft_options *o)
{
	struct h_cluster *c = h_new(3, o);
	h_elect(c, 1);
	h_crash(c, 3);
	for (int i = 0; i < 10; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	h_restart(c, 3);
	return c;
}

/* Ticks the leader until it switches node 3 to the snapshot; what went
 * before is dropped. */
static void tick_until_snapshot(struct h_cluster *c)
{
	struct raft *r1 = h_raft(c, 1);
	for (int i = 0; i < 20 && !raft_snapshot_in_flight(r1); i++) {
		h_drop(c, 0, 0, 0);
		h_tick(c, 1, HB);
	}
	assert_true(raft_snapshot_in_flight(r1));
}

static bool snapshot_traffic(struct h_cluster *c)
{
	return h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3) ||
	       h_deliver(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1);
}

/* The first chunks leave with the switch to the snapshot, a window of
 * them; an answer inside the window sends nothing again; the answer of
 * the install names its index, so the entries after it follow at once. */
static void test_snapshot_window_and_install_answer(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_chunks_in_flight = H_SNAPSHOT_BYTES / 8;
	struct h_cluster *c = leader_with_compacted_follower(&o);
	tick_until_snapshot(c);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3),
			 H_SNAPSHOT_BYTES / 8);
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1));
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3),
			 H_SNAPSHOT_BYTES / 8 - 1);
	while (h_node(c, 3)->installs == 0)
		assert_true(snapshot_traffic(c));
	/* The answers of the last chunk and of the install. */
	while (h_deliver(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1))
		;
	assert_false(raft_snapshot_in_flight(h_raft(c, 1)));
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 0);
	struct raft_message *next = newest(c, RAFT_MSG_APPEND, 1, 3);
	assert_non_null(next);
	assert_int_equal(next->prev_index, raft_snapshot_index(h_raft(c, 1)));
	/* A late answer of the finished transfer changes nothing. */
	struct raft_message late =
	    h_msg(RAFT_MSG_SNAPSHOT_RESP, 3, 1, TERM(c, 1));
	late.snap_index = raft_snapshot_index(h_raft(c, 1));
	late.offset = 8;
	h_step(c, &late);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 0);
	assert_false(raft_snapshot_in_flight(h_raft(c, 1)));
	h_free(c);
}

/* Chunk 0 is lost; the answers to the chunks behind it repeat what the
 * leader knows (offset 0), which is no progress: it waits, and goes back to
 * the confirmed offset exactly two heartbeat intervals after its last
 * chunk. */
static void test_lost_chunk_resent_after_two_intervals(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_chunks_in_flight = H_SNAPSHOT_BYTES / 8;
	struct h_cluster *c = leader_with_compacted_follower(&o);
	tick_until_snapshot(c);
	assert_true(h_drop_first(c, RAFT_MSG_SNAPSHOT, 1, 3));
	h_tick(c, 1, HB);
	/* The repeated answers arrive an interval later: no progress. */
	while (h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3))
		assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1));
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 0);
	h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3),
			 H_SNAPSHOT_BYTES / 8);
	assert_int_equal(h_peek(c, RAFT_MSG_SNAPSHOT, 1, 3)->offset, 0);
	h_free(c);
}

/* Confirmations are progress: two heartbeat intervals after the window
 * left, with its first chunks confirmed meanwhile, the leader does not
 * resend the one still on its way. */
static void test_confirmed_chunks_delay_the_resend(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_chunks_in_flight = H_SNAPSHOT_BYTES / 8;
	struct h_cluster *c = leader_with_compacted_follower(&o);
	tick_until_snapshot(c);
	h_tick(c, 1, HB);
	for (int i = 0; i < H_SNAPSHOT_BYTES / 8 - 1; i++) {
		assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3));
		assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1));
	}
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 1);
	h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 1);
	h_free(c);
}

/* A follower in the middle of a snapshot transfer still gets every
 * heartbeat round. */
static void test_heartbeats_reach_a_follower_getting_the_snapshot(void **state)
{
	(void)state;
	struct h_cluster *c = leader_with_compacted_follower(NULL);
	tick_until_snapshot(c);
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 3), 1);
	/* Its match is compacted: the heartbeat names no prev whose term the
	 * leader no longer knows. */
	struct raft_message *hb = h_peek(c, RAFT_MSG_APPEND, 1, 3);
	assert_int_equal(hb->prev_index, 0);
	h_free(c);
}

/* A follower one entry short of the snapshot installs it; the answer
 * raises its match to the snapshot's index, so no second transfer. */
static void test_install_one_entry_short(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_trailing = 0;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_run(c, 300);
	h_cut(c, 1, 3);
	propose(c, 1, "x");
	h_run(c, 300);
	assert_int_equal(LAST(c, 3) + 1, LAST(c, 1));
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	h_heal(c);
	tick_until_snapshot(c);
	while (snapshot_traffic(c))
		;
	assert_int_equal(h_node(c, 3)->installs, 1);
	assert_false(raft_snapshot_in_flight(h_raft(c, 1)));
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 0);
	h_free(c);
}

/* A follower that missed a configuration change, installed from a
 * snapshot, has that configuration as its committed one. */
static void test_install_brings_the_committed_configuration(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_crash(c, 3);
	raft_id l = h_add_node(c);
	assert_int_equal(h_add_learner(c, 1, l, false), RAFT_OK);
	for (int i = 0; i < 6; i++)
		propose(c, 1, "x");
	h_run(c, 500);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	h_restart(c, 3);
	h_run(c, 2000);
	assert_int_equal(h_node(c, 3)->installs, 1);
	assert_non_null(
	    raft_config_find(raft_committed_config(h_raft(c, 3)), l));
	h_free(c);
}

/* Right after an install, with the probe that follows it unanswered for an
 * interval, a transfer to that follower sends the TimeoutNow and nothing
 * else: it holds the whole log. */
static void test_timeout_now_alone_after_an_install(void **state)
{
	(void)state;
	struct h_cluster *c = leader_with_compacted_follower(NULL);
	tick_until_snapshot(c);
	while (h_node(c, 3)->installs == 0)
		assert_true(snapshot_traffic(c));
	while (h_deliver(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1))
		;
	assert_int_equal(LAST(c, 1), raft_snapshot_index(h_raft(c, 1)));
	h_drop(c, 0, 0, 0);
	h_advance(c, 1, HB);
	assert_int_equal(h_transfer(c, 1, 3), RAFT_OK);
	assert_int_equal(h_pending(c, RAFT_MSG_TIMEOUT_NOW, 1, 3), 1);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 3), 0);
	h_free(c);
}

/* A window of two chunks: the first chunk's answer sends the third, and
 * nothing already on its way again. */
static void test_window_slides_by_one_chunk(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_chunks_in_flight = 2;
	struct h_cluster *c = leader_with_compacted_follower(&o);
	tick_until_snapshot(c);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 2);
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1));
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 2);
	assert_int_equal(newest(c, RAFT_MSG_SNAPSHOT, 1, 3)->offset, 16);
	h_free(c);
}

/* A newer snapshot taken during a transfer: the transfer starts over at
 * offset 0 of the newer one. */
static void test_newer_snapshot_restarts_the_transfer(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_chunks_in_flight = 1;
	struct h_cluster *c = leader_with_compacted_follower(&o);
	tick_until_snapshot(c);
	raft_index first = raft_snapshot_index(h_raft(c, 1));
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1));
	h_drop(c, 0, 0, 0);
	for (int i = 0; i < 4; i++)
		propose(c, 1, "y");
	while (h_deliver(c, RAFT_MSG_APPEND, 1, 2) ||
	       h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1))
		;
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	assert_true(raft_snapshot_index(h_raft(c, 1)) > first);
	h_drop(c, 0, 0, 0);
	/* Two intervals after the last chunk, the leader goes back. */
	h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 0);
	h_tick(c, 1, HB);
	struct raft_message *m = h_peek(c, RAFT_MSG_SNAPSHOT, 1, 3);
	assert_non_null(m);
	assert_int_equal(m->snap_index, raft_snapshot_index(h_raft(c, 1)));
	assert_int_equal(m->offset, 0);
	h_free(c);
}

/* An unreachable removed server is released exactly ten election timeouts
 * after its removal committed. */
static void
test_unreachable_removed_server_released_at_ten_timeouts(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_crash(c, 3);
	h_drop(c, 0, 0, 0);
	assert_int_equal(h_remove(c, 1, 3), RAFT_OK);
	raft_index removal = LAST(c, 1);
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1));
	assert_int_equal(COMMIT(c, 1), removal);
	h_run(c, 10 * E - H_STEP);
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, H_STEP);
	/* Its last heartbeat (with a round's, if one is due). */
	assert_true(h_pending(c, RAFT_MSG_APPEND, 1, 3) >= 1);
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, 0, 1, 3), 0);
	h_free(c);
}

/* Chunk 1 is lost: the follower answers chunk 2 at once with what it
 * holds, so the leader knows where it stands. */
static void test_chunk_out_of_order_answered(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_chunks_in_flight = H_SNAPSHOT_BYTES / 8;
	struct h_cluster *c = leader_with_compacted_follower(&o);
	tick_until_snapshot(c);
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3));
	assert_true(h_drop_first(c, RAFT_MSG_SNAPSHOT, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3));
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1), 2);
	struct raft_message *resp = newest(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1);
	assert_false(resp->done);
	assert_int_equal(resp->offset, 8);
	h_free(c);
}

/* With a compacted log, back-tracking stops at the snapshot's last entry:
 * the leader tries AppendEntries after it before sending the snapshot. */
static void test_backtracking_stops_at_the_snapshot(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_trailing = 0;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_run(c, 300);
	h_cut(c, 1, 3);
	for (int i = 0; i < 3; i++)
		propose(c, 1, "x");
	h_deliver_all(c);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	raft_index s_idx = raft_snapshot_index(h_raft(c, 1));
	propose(c, 1, "y");
	h_deliver_all(c);
	h_drop(c, 0, 0, 0);
	struct raft_message r = h_msg(RAFT_MSG_APPEND_RESP, 3, 1, TERM(c, 1));
	r.reject = 1;
	r.prev_index = s_idx + 1;
	r.index = s_idx;
	r.hint_term = 1;
	assert_true(raft_term_at(h_raft(c, 1), s_idx) > 1);
	h_step(c, &r);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 0);
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 3), 1);
	assert_int_equal(h_peek(c, RAFT_MSG_APPEND, 1, 3)->prev_index, s_idx);
	h_free(c);
}

/* The follower's answer after installing is lost: once all is confirmed,
 * the leader asks with an empty last chunk, and the follower's answer to
 * it ends the transfer. */
static void test_lost_install_answer_asked_again(void **state)
{
	(void)state;
	struct h_cluster *c = leader_with_compacted_follower(NULL);
	tick_until_snapshot(c);
	for (;;) {
		size_t i = 0;
		while (i < c->n_queue &&
		       !(c->queue[i].m.type == RAFT_MSG_SNAPSHOT_RESP &&
			 c->queue[i].m.done))
			i++;
		if (i < c->n_queue) {
			h_deliver_nth(c, i, true);
			break;
		}
		assert_true(snapshot_traffic(c));
	}
	assert_int_equal(h_node(c, 3)->installs, 1);
	h_run(c, 5 * HB);
	assert_false(raft_snapshot_in_flight(h_raft(c, 1)));
	assert_int_equal(LAST(c, 3), LAST(c, 1));
	h_free(c);
}

/* A follower that holds the snapshot's last entry but not its commit
 * answers the first chunk at once that it has it all, and takes that
 * commit. */
static void test_chunk_to_follower_holding_entry_not_commit(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	raft_index k = COMMIT(c, 3);
	for (int i = 0; i < 6; i++)
		propose(c, 1, "x");
	while (h_deliver(c, RAFT_MSG_APPEND, 1, 2) ||
	       h_deliver(c, RAFT_MSG_APPEND, 1, 3))
		;
	while (h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1))
		;
	h_drop(c, 0, 0, 0);
	assert_int_equal(LAST(c, 3), k + 6);
	assert_int_equal(COMMIT(c, 3), k);
	assert_int_equal(COMMIT(c, 1), k + 6);
	assert_int_equal(h_snapshot(c, 1), RAFT_OK);
	tick_until_snapshot(c);
	assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3));
	struct raft_message *resp = h_peek(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1);
	assert_non_null(resp);
	assert_true(resp->done);
	assert_int_equal(resp->index, k + 6);
	assert_int_equal(COMMIT(c, 3), k + 6);
	assert_int_equal(h_node(c, 3)->installs, 0);
	h_free(c);
}

/* The follower confirms less than before (it lost part of its file) or
 * more than this leader sent (from an earlier transfer of the same
 * snapshot): the leader goes on from the follower's offset at once. */
static void test_chunks_follow_the_follower_offset(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_chunk_bytes = 1;
	o.snapshot_chunks_in_flight = 1;
	struct h_cluster *c = leader_with_compacted_follower(&o);
	tick_until_snapshot(c);
	for (int i = 0; i < 2; i++) {
		assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT, 1, 3));
		assert_true(h_deliver(c, RAFT_MSG_SNAPSHOT_RESP, 3, 1));
	}
	h_drop(c, 0, 0, 0);
	struct raft_message a = h_msg(RAFT_MSG_SNAPSHOT_RESP, 3, 1, TERM(c, 1));
	a.snap_index = raft_snapshot_index(h_raft(c, 1));
	a.offset = 1;
	h_step(c, &a);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 1);
	assert_int_equal(h_peek(c, RAFT_MSG_SNAPSHOT, 1, 3)->offset, 1);
	h_drop(c, 0, 0, 0);
	a.offset = 20;
	h_step(c, &a);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 1);
	assert_int_equal(h_peek(c, RAFT_MSG_SNAPSHOT, 1, 3)->offset, 20);
	h_drop(c, 0, 0, 0);
	/* It says it holds all: after two intervals the leader asks with an
	 * empty last chunk. */
	a.offset = H_SNAPSHOT_BYTES;
	h_step(c, &a);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 0);
	h_tick(c, 1, HB);
	h_tick(c, 1, HB);
	struct raft_message *ask = h_peek(c, RAFT_MSG_SNAPSHOT, 1, 3);
	assert_non_null(ask);
	assert_int_equal(ask->offset, H_SNAPSHOT_BYTES);
	assert_int_equal(ask->len, 0);
	assert_true(ask->done);
	h_free(c);
}

/* A state machine whose snapshot is empty: one empty last chunk. */
static void test_empty_snapshot_is_one_empty_chunk(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_crash(c, 3);
	for (int i = 0; i < 10; i++)
		propose(c, 1, "x");
	h_run(c, 300);
	struct h_node *n1 = h_node(c, 1);
	struct raft_update u;
	assert_int_equal(
	    raft_snapshot_taken(n1->r, n1->now, n1->applied, 0, &u), RAFT_OK);
	assert_int_equal(u.n_send_now + u.n_send_after_persist, 0);
	/* What the driver keeps of it: no chunk is ever read. */
	n1->disk.has_snap = true;
	h_restart(c, 3);
	tick_until_snapshot(c);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 1);
	struct raft_message *m = h_peek(c, RAFT_MSG_SNAPSHOT, 1, 3);
	assert_int_equal(m->snap_size, 0);
	assert_int_equal(m->offset, 0);
	assert_int_equal(m->len, 0);
	assert_true(m->done);
	/* Its answer (all of nothing) sends no second chunk. */
	struct raft_message a = h_msg(RAFT_MSG_SNAPSHOT_RESP, 3, 1, TERM(c, 1));
	a.snap_index = m->snap_index;
	h_drop(c, 0, 0, 0);
	h_step(c, &a);
	assert_int_equal(h_pending(c, RAFT_MSG_SNAPSHOT, 1, 3), 0);
	h_free(c);
}

/* A follower being sent the snapshot is removed and, unreachable, released
 * after ten election timeouts: no transfer is in flight any more. */
static void test_released_server_ends_its_transfer(void **state)
{
	(void)state;
	struct h_cluster *c = leader_with_compacted_follower(NULL);
	h_crash(c, 3);
	tick_until_snapshot(c);
	assert_int_equal(h_remove(c, 1, 3), RAFT_OK);
	h_run(c, 11 * E);
	assert_null(raft_config_find(raft_committed_config(h_raft(c, 1)), 3));
	assert_false(raft_snapshot_in_flight(h_raft(c, 1)));
	h_free(c);
}

/* A removed server is released by the answer that shows it holds its
 * removal: its last heartbeat, with the commit, leaves with that answer. */
static void test_removed_server_released_by_its_answer(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	assert_int_equal(h_remove(c, 1, 3), RAFT_OK);
	raft_index removal = LAST(c, 1);
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 2));
	assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, 3));
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 2, 1));
	assert_int_equal(COMMIT(c, 1), removal);
	h_drop(c, RAFT_MSG_APPEND, 1, 3);
	assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, 3, 1));
	assert_int_equal(h_pending(c, RAFT_MSG_APPEND, 1, 3), 1);
	assert_int_equal(h_peek(c, RAFT_MSG_APPEND, 1, 3)->commit, removal);
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, 0, 1, 3), 0);
	h_free(c);
}

/* A leader that removed itself hands over only to a voter holding its
 * whole log: with entries after the removal not yet replicated, it steps
 * down without a TimeoutNow. */
static void test_removed_leader_no_handover_to_lagging_voter(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_drop(c, 0, 0, 0);
	assert_int_equal(h_remove(c, 1, 1), RAFT_OK);
	raft_index removal = LAST(c, 1);
	propose(c, 1, "after");
	for (raft_id id = 2; id <= 3; id++) {
		assert_true(h_deliver(c, RAFT_MSG_APPEND, 1, id));
		assert_int_equal(LAST(c, id), removal);
		assert_true(h_deliver(c, RAFT_MSG_APPEND_RESP, id, 1));
	}
	assert_int_equal(COMMIT(c, 1), removal);
	assert_int_equal(ROLE(c, 1), RAFT_FOLLOWER);
	assert_int_equal(h_pending(c, RAFT_MSG_TIMEOUT_NOW, 1, 0), 0);
	h_free(c);
}

/* A server removed while unreachable and added again before it was
 * released is no longer leaving: it is replicated to and promoted. */
static void test_server_added_again_is_not_leaving(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_isolate(c, 3);
	assert_int_equal(h_remove(c, 1, 3), RAFT_OK);
	h_run(c, 300);
	assert_null(raft_config_find(raft_committed_config(h_raft(c, 1)), 3));
	assert_int_equal(h_add_learner(c, 1, 3, true), RAFT_OK);
	h_run(c, 300);
	h_heal(c);
	h_run(c, 3 * E);
	const struct raft_server *s =
	    raft_config_find(raft_committed_config(h_raft(c, 1)), 3);
	assert_non_null(s);
	assert_int_equal(s->role, RAFT_VOTER);
	assert_int_equal(LAST(c, 3), LAST(c, 1));
	h_free(c);
}

/* A follower that compacted its log right before a configuration entry
 * gets it, a command and a newer configuration, with the commit of the
 * command: the first of them is its committed configuration. */
static void test_committed_config_just_after_compaction(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.snapshot_trailing = 0;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_run(c, 300);
	raft_index k = COMMIT(c, 3);
	assert_int_equal(LAST(c, 3), k);
	assert_int_equal(h_snapshot(c, 3), RAFT_OK);
	assert_int_equal(raft_snapshot_index(h_raft(c, 3)), k);
	h_cut(c, 1, 3);
	assert_int_equal(h_add_learner(c, 1, 4, false), RAFT_OK);
	h_deliver_all(c);
	propose(c, 1, "x");
	h_deliver_all(c);
	assert_int_equal(COMMIT(c, 1), k + 2);
	h_cut(c, 1, 2);
	assert_int_equal(h_add_learner(c, 1, 5, false), RAFT_OK);
	h_drop(c, 0, 0, 0);
	h_heal(c);
	h_cut(c, 1, 2);
	for (int i = 0; i < 10 && LAST(c, 3) < k + 3; i++) {
		h_tick(c, 1, HB);
		h_deliver_all(c);
	}
	assert_int_equal(LAST(c, 3), k + 3);
	assert_int_equal(COMMIT(c, 3), k + 2);
	const struct raft_config *cfg = raft_committed_config(h_raft(c, 3));
	assert_non_null(raft_config_find(cfg, 4));
	assert_null(raft_config_find(cfg, 5));
	h_free(c);
}

/* A TimeoutNow of a newer term is contact with that term's leader: for an
 * election timeout the node then ignores another candidate's (non-transfer)
 * vote request, even after a long silence before it. */
static void test_timeout_now_of_newer_term_is_leader_contact(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_term t = TERM(c, 3);
	h_isolate(c, 3);
	h_advance(c, 3, 3 * E);
	struct raft_message tn = h_msg(RAFT_MSG_TIMEOUT_NOW, 1, 3, t + 1);
	h_step(c, &tn);
	assert_true(TERM(c, 3) > t + 1);
	h_drop(c, 0, 0, 0);
	struct raft_message v = h_msg(RAFT_MSG_VOTE, 2, 3, TERM(c, 3) + 1);
	v.index = LAST(c, 3);
	v.hint_term = raft_term_at(h_raft(c, 3), v.index);
	h_step(c, &v);
	assert_int_equal(h_pending(c, RAFT_MSG_VOTE_RESP, 3, 2), 0);
	h_free(c);
}

/* A follower's answer to entries it partly holds as committed, whose first
 * new entry it refuses (of a term newer than its own): it acknowledges its
 * commit index, all it can vouch for. */
static void test_ack_of_committed_prefix_then_refused_entry(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	raft_term t = TERM(c, 2);
	raft_index k = COMMIT(c, 2);
	assert_int_equal(LAST(c, 2), k);
	h_drop(c, 0, 0, 0);
	struct raft_entry e[2];
	memset(e, 0, sizeof(e));
	e[0].index = k;
	e[0].term = raft_term_at(h_raft(c, 2), k);
	e[0].type = RAFT_ENTRY_NOOP;
	e[1] = e[0];
	e[1].index = k + 1;
	e[1].term = t + 5;
	struct raft_message m = h_msg(RAFT_MSG_APPEND, 1, 2, t);
	m.prev_index = k - 1;
	m.prev_term = raft_term_at(h_raft(c, 2), k - 1);
	m.n_entries = 2;
	m.entries = e;
	m.commit = k;
	h_step(c, &m);
	struct raft_message *resp = h_peek(c, RAFT_MSG_APPEND_RESP, 2, 1);
	assert_non_null(resp);
	assert_false(resp->reject);
	assert_int_equal(resp->index, k);
	assert_int_equal(LAST(c, 2), k);
	h_free(c);
}

/* A removed server that is still leaving stays in the leader's table
 * across the next configuration change, so it still learns its removal;
 * one already released is not brought back by that change. */
static void test_leaving_server_kept_across_a_change(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(4, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	/* Node 4 is released at once: it holds its removal. */
	assert_int_equal(h_remove(c, 1, 4), RAFT_OK);
	h_run(c, 300);
	h_crash(c, 4);
	/* Node 3, unreachable, is leaving when the next change comes. */
	h_isolate(c, 3);
	assert_int_equal(h_remove(c, 1, 3), RAFT_OK);
	h_run(c, 300);
	raft_index removal = COMMIT(c, 1);
	assert_null(raft_config_find(raft_committed_config(h_raft(c, 1)), 3));
	assert_true(COMMIT(c, 3) < removal);
	raft_id l = h_add_node(c);
	h_drop(c, 0, 0, 0);
	assert_int_equal(h_add_learner(c, 1, l, false), RAFT_OK);
	assert_int_equal(h_pending(c, 0, 1, 4), 0);
	h_run(c, 300);
	h_heal(c);
	h_run(c, 500);
	assert_true(COMMIT(c, 3) >= removal);
	assert_null(raft_config_find(raft_committed_config(h_raft(c, 3)), 3));
	h_drop(c, 0, 0, 0);
	h_tick(c, 1, HB);
	h_tick(c, 1, HB);
	assert_int_equal(h_pending(c, 0, 1, 3), 0);
	assert_int_equal(h_pending(c, 0, 1, 4), 0);
	h_free(c);
}

/* A TimeoutNow makes the target campaign at once, with a real vote
 * request marked as a transfer. */
static void test_timeout_now_starts_a_transfer_campaign(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	raft_term t = TERM(c, 3);
	h_drop(c, 0, 0, 0);
	assert_int_equal(h_transfer(c, 1, 3), RAFT_OK);
	assert_true(h_deliver(c, RAFT_MSG_TIMEOUT_NOW, 1, 3));
	assert_int_equal(ROLE(c, 3), RAFT_CANDIDATE);
	assert_int_equal(TERM(c, 3), t + 1);
	struct raft_message *v = h_peek(c, RAFT_MSG_VOTE, 3, 0);
	assert_non_null(v);
	assert_true(v->transfer);
	h_free(c);
}

/* A pre-vote needs both a newer term and a log at least as up to date:
 * past its no-vote window, a voter still refuses a candidate whose log is
 * behind, and one whose term is not newer. */
static void test_prevote_needs_newer_term_and_log(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	h_isolate(c, 3);
	propose(c, 1, "x");
	h_run(c, 300);
	h_isolate(c, 1);
	h_advance(c, 2, 2 * E);
	raft_term t = TERM(c, 2);
	h_drop(c, 0, 0, 0);
	struct raft_message pv = h_msg(RAFT_MSG_PREVOTE, 3, 2, t + 1);
	pv.index = LAST(c, 3);
	pv.hint_term = raft_term_at(h_raft(c, 3), pv.index);
	assert_true(pv.index < LAST(c, 2));
	h_step(c, &pv);
	struct raft_message *resp = h_peek(c, RAFT_MSG_PREVOTE_RESP, 2, 3);
	assert_non_null(resp);
	assert_true(resp->reject);
	h_drop(c, 0, 0, 0);
	pv.term = t;
	pv.index = LAST(c, 2);
	pv.hint_term = raft_term_at(h_raft(c, 2), pv.index);
	h_step(c, &pv);
	resp = h_peek(c, RAFT_MSG_PREVOTE_RESP, 2, 3);
	assert_true(resp == NULL || resp->reject);
	h_free(c);
}

/* An AppendEntries whose prev is the follower's commit index but names
 * another term there is refused: the check of section 5.3 holds at the
 * commit index too. */
static void test_prev_at_commit_with_wrong_term_refused(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	raft_index k = COMMIT(c, 2);
	raft_term t = TERM(c, 2);
	assert_true(raft_term_at(h_raft(c, 2), k) < t + 1);
	h_drop(c, 0, 0, 0);
	struct raft_message m = h_msg(RAFT_MSG_APPEND, 1, 2, t);
	m.prev_index = k;
	m.prev_term = raft_term_at(h_raft(c, 2), k) + 1;
	m.commit = k;
	h_step(c, &m);
	struct raft_message *resp = h_peek(c, RAFT_MSG_APPEND_RESP, 2, 1);
	assert_non_null(resp);
	assert_true(resp->reject);
	h_free(c);
}

/* A follower that learned a newer term from an answer (so it knows no
 * leader of it) judges a pre-vote even within an election timeout of its
 * last leader contact: the window binds it only while it has a leader. */
static void test_prevote_judged_without_a_leader(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	h_run(c, 300);
	raft_term t = TERM(c, 3);
	h_drop(c, 0, 0, 0);
	struct raft_message a = h_msg(RAFT_MSG_APPEND_RESP, 2, 3, t + 1);
	h_step(c, &a);
	assert_int_equal(TERM(c, 3), t + 1);
	assert_int_equal(raft_leader(h_raft(c, 3)), 0);
	/* Its answer waits for no disk write: a pre-vote changes nothing. */
	h_slow_disk(c, 3, true);
	struct raft_message pv = h_msg(RAFT_MSG_PREVOTE, 2, 3, t + 2);
	pv.index = LAST(c, 3);
	pv.hint_term = raft_term_at(h_raft(c, 3), pv.index);
	h_step(c, &pv);
	struct raft_message *resp = h_peek(c, RAFT_MSG_PREVOTE_RESP, 3, 2);
	assert_non_null(resp);
	assert_false(resp->reject);
	h_slow_disk(c, 3, false);
	h_flush(c, 3);
	h_free(c);
}

/* A transfer to "the most up-to-date voter" never picks a learner, even
 * one further ahead than every voter. */
static void test_transfer_to_any_picks_a_voter(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	raft_id l = h_add_node(c);
	assert_int_equal(h_add_learner(c, 1, l, false), RAFT_OK);
	h_run(c, 500);
	h_cut(c, 1, 2);
	h_cut(c, 1, 3);
	propose(c, 1, "x");
	h_deliver_all(c);
	assert_int_equal(LAST(c, l), LAST(c, 1));
	assert_true(LAST(c, 3) < LAST(c, 1));
	assert_int_equal(h_transfer(c, 1, 0), RAFT_OK);
	h_heal(c);
	timeout_now_to = 0;
	for (int i = 0; i < 10 && timeout_now_to == 0; i++) {
		h_deliver_filtered(c, note_timeout_now);
		h_tick(c, 1, HB);
	}
	assert_true(timeout_now_to == 2 || timeout_now_to == 3);
	h_free(c);
}

/* A candidate that gets another candidate's request in its own term keeps
 * campaigning: only a newer term makes it a follower. */
static void test_candidate_keeps_campaigning_on_same_term_request(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	o.pre_vote = false;
	struct h_cluster *c = h_new(3, &o);
	h_elect(c, 1);
	h_isolate(c, 3);
	for (int i = 0; i < 30 && ROLE(c, 3) != RAFT_CANDIDATE; i++)
		h_tick(c, 3, HB);
	assert_int_equal(ROLE(c, 3), RAFT_CANDIDATE);
	h_drop(c, 0, 0, 0);
	struct raft_message v = h_msg(RAFT_MSG_VOTE, 2, 3, TERM(c, 3));
	v.index = LAST(c, 3);
	v.hint_term = raft_term_at(h_raft(c, 3), v.index);
	h_step(c, &v);
	assert_int_equal(ROLE(c, 3), RAFT_CANDIDATE);
	struct raft_message *resp = h_peek(c, RAFT_MSG_VOTE_RESP, 3, 2);
	assert_non_null(resp);
	assert_true(resp->reject);
	h_free(c);
}

/* raft_config_at refuses an index past the last one. */
static void test_config_at_past_the_log_refused(void **state)
{
	(void)state;
	struct h_cluster *c = h_new(3, NULL);
	h_elect(c, 1);
	struct raft_config cfg;
	assert_int_equal(raft_config_at(h_raft(c, 1), LAST(c, 1), &cfg),
			 RAFT_OK);
	assert_int_equal(raft_config_at(h_raft(c, 1), LAST(c, 1) + 1, &cfg),
			 RAFT_EINVAL);
	h_free(c);
}

/* ---- a bare core, driven without the harness ---- */

static struct raft *bare_node(raft_id id, uint64_t seed)
{
	struct raft_options o;
	h_options(&o);
	struct raft *r = raft_new(id, &o, seed);
	assert_non_null(r);
	struct raft_persisted_state st;
	memset(&st, 0, sizeof(st));
	struct raft_update u;
	assert_int_equal(raft_start(r, 0, &st, &u), RAFT_OK);
	struct raft_config cfg;
	h_config_of(3, &cfg);
	assert_int_equal(raft_bootstrap(r, 0, &cfg, &u), RAFT_OK);
	return r;
}

/* The message of `type` an update sends, at once or after persisting. */
static const struct raft_message *sent(const struct raft_update *u,
				       uint8_t type)
{
	for (size_t i = 0; i < u->n_send_now; i++)
		if (u->send_now[i].type == type)
			return &u->send_now[i];
	for (size_t i = 0; i < u->n_send_after_persist; i++)
		if (u->send_after_persist[i].type == type)
			return &u->send_after_persist[i];
	return NULL;
}

static bool campaigns(const struct raft_update *u)
{
	return sent(u, RAFT_MSG_PREVOTE) != NULL ||
	       sent(u, RAFT_MSG_VOTE) != NULL;
}

/* A follower that holds a complete snapshot it has not installed yet
 * refuses entries, naming its last index; answers a chunk of a snapshot it
 * already covers as done; does not campaign when its timer runs out, and
 * starts a full timeout then, so that the install does not leave it
 * campaigning at once. */
static void test_follower_with_complete_snapshot(void **state)
{
	(void)state;
	struct raft *r = bare_node(2, 7);
	struct raft_config cfg;
	h_config_of(3, &cfg);
	struct raft_update u;
	raft_time now = 100;
	/* Leader 1 of term 2 commits the bootstrap entry. */
	struct raft_message a = h_msg(RAFT_MSG_APPEND, 1, 2, 2);
	a.prev_index = 1;
	a.prev_term = 1;
	a.commit = 1;
	assert_int_equal(raft_step(r, now, &a, &u), RAFT_OK);
	assert_int_equal(raft_commit_index(r), 1);
	assert_int_equal(u.leader, 1);
	assert_int_equal(u.role, RAFT_FOLLOWER);
	assert_true(u.role_changed); /* a follower of no one, now of 1 */
	assert_int_equal(raft_step(r, now, &a, &u), RAFT_OK);
	assert_false(u.role_changed); /* the same leader again */
	struct raft_message s = h_msg(RAFT_MSG_SNAPSHOT, 1, 2, 2);
	s.snap_index = 5;
	s.snap_term = 2;
	s.snap_size = 8;
	s.len = 8;
	s.data = (const uint8_t *)"12345678";
	s.done = 1;
	s.config = &cfg;
	assert_int_equal(raft_step(r, now, &s, &u), RAFT_OK);
	assert_non_null(u.snapshot_chunk);
	assert_true(u.snapshot_chunk->last);
	/* The same chunk again: it holds all of it, not installed yet. */
	assert_int_equal(raft_step(r, now, &s, &u), RAFT_OK);
	const struct raft_message *again = sent(&u, RAFT_MSG_SNAPSHOT_RESP);
	assert_non_null(again);
	assert_false(again->done);
	assert_int_equal(again->offset, 8);
	assert_null(u.snapshot_chunk);
	/* Entries are refused while it installs. */
	a.prev_index = 5;
	a.prev_term = 2;
	assert_int_equal(raft_step(r, now, &a, &u), RAFT_OK);
	const struct raft_message *resp = sent(&u, RAFT_MSG_APPEND_RESP);
	assert_non_null(resp);
	assert_true(resp->reject);
	assert_int_equal(resp->index, raft_last_index(r));
	/* A chunk of a snapshot at its commit index: it has all of it. */
	struct raft_message old = s;
	old.snap_index = 1;
	old.snap_term = 1;
	assert_int_equal(raft_step(r, now, &old, &u), RAFT_OK);
	resp = sent(&u, RAFT_MSG_SNAPSHOT_RESP);
	assert_non_null(resp);
	assert_true(resp->done);
	assert_int_equal(resp->index, 1);
	/* Its timer runs out while it installs: no campaign, a new
	 * timeout. */
	now += 2 * E + 1;
	assert_int_equal(raft_tick(r, now, &u), RAFT_OK);
	assert_false(campaigns(&u));
	assert_int_equal(raft_snapshot_installed(r, now, 5, 2, &u), RAFT_OK);
	assert_int_equal(raft_tick(r, now + 1, &u), RAFT_OK);
	assert_false(campaigns(&u));
	assert_int_equal(raft_role(r), RAFT_FOLLOWER);
	raft_free(r);
}

/* The largest node id, in a configuration of the largest size,
 * bootstraps. */
static void test_bootstrap_largest_configuration(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	assert_null(raft_new(RAFT_MAX_NODE_ID + 1, &o, 3));
	struct raft *r = raft_new(RAFT_MAX_NODE_ID, &o, 3);
	assert_non_null(r);
	struct raft_persisted_state st;
	memset(&st, 0, sizeof(st));
	struct raft_update u;
	assert_int_equal(raft_start(r, 0, &st, &u), RAFT_OK);
	struct raft_config cfg;
	h_config_of(RAFT_MAX_SERVERS, &cfg);
	assert_int_equal(cfg.n, RAFT_MAX_SERVERS);
	cfg.servers[0].id = RAFT_MAX_NODE_ID;
	assert_int_equal(raft_bootstrap(r, 0, &cfg, &u), RAFT_OK);
	assert_int_equal(raft_config(r)->n, RAFT_MAX_SERVERS);
	raft_free(r);
}

/* raft_options_default sets every field, whatever was there before. */
static void test_options_default_sets_every_field(void **state)
{
	(void)state;
	struct raft_options a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0xa5, sizeof(b));
	raft_options_default(&a);
	raft_options_default(&b);
	assert_memory_equal(&a, &b, sizeof(a));
}

/* The configuration codec's size is the format's, an address filling its
 * whole field without a terminator is cut to RAFT_ADDRESS_MAX - 1 bytes,
 * a count past RAFT_MAX_SERVERS is capped, and an address length of
 * RAFT_ADDRESS_MAX or more is refused. */
static void test_config_codec_edges(void **state)
{
	(void)state;
	struct raft_config *cfg = malloc(sizeof(*cfg));
	assert_non_null(cfg);
	h_config_of(3, cfg);
	size_t addr = strlen(cfg->servers[0].address);
	assert_int_equal(raft_config_encoded_size(cfg),
			 1 + RAFT_CLUSTER_ID_LEN + 2 + 3 * (8 + addr));
	h_config_of(1, cfg);
	memset(cfg->servers[0].address, 'a', RAFT_ADDRESS_MAX);
	size_t full = 1 + RAFT_CLUSTER_ID_LEN + 2 + 8 + RAFT_ADDRESS_MAX - 1;
	assert_int_equal(raft_config_encoded_size(cfg), full);
	uint8_t *buf = malloc(full + 1);
	assert_non_null(buf);
	raft_config_encode(cfg, buf);
	struct raft_config back;
	assert_int_equal(raft_config_decode(buf, full, &back), RAFT_OK);
	assert_int_equal(strlen(back.servers[0].address), RAFT_ADDRESS_MAX - 1);
	/* The length field of that address, in either byte order. */
	size_t at = 1 + RAFT_CLUSTER_ID_LEN + 2 + 4 + 1 + 1;
	unsigned len = (unsigned)buf[at] << 8 | buf[at + 1];
	bool big_endian = len == RAFT_ADDRESS_MAX - 1;
	unsigned max = RAFT_ADDRESS_MAX;
	buf[at] = (uint8_t)(big_endian ? max >> 8 : max & 0xff);
	buf[at + 1] = (uint8_t)(big_endian ? max & 0xff : max >> 8);
	buf[full] = 'a';
	assert_int_equal(raft_config_decode(buf, full + 1, &back), RAFT_EINVAL);
	free(buf);
	/* Server ids 0 and past RAFT_MAX_NODE_ID are refused. */
	h_config_of(1, cfg);
	uint8_t small[64];
	assert_true(raft_config_encoded_size(cfg) <= sizeof(small));
	size_t small_len = raft_config_encoded_size(cfg);
	cfg->servers[0].id = 0;
	raft_config_encode(cfg, small);
	assert_int_equal(raft_config_decode(small, small_len, &back),
			 RAFT_EINVAL);
	cfg->servers[0].id = RAFT_MAX_NODE_ID + 1;
	raft_config_encode(cfg, small);
	assert_int_equal(raft_config_decode(small, small_len, &back),
			 RAFT_EINVAL);
	cfg->servers[0].id = RAFT_MAX_NODE_ID;
	raft_config_encode(cfg, small);
	assert_int_equal(raft_config_decode(small, small_len, &back), RAFT_OK);
	h_config_of(RAFT_MAX_SERVERS, cfg);
	size_t sixteen = raft_config_encoded_size(cfg);
	cfg->n = RAFT_MAX_SERVERS + 1;
	assert_int_equal(raft_config_encoded_size(cfg), sixteen);
	free(cfg);
}

/* A second raft_start is refused with an empty update. */
static void test_second_start_refused_with_empty_update(void **state)
{
	(void)state;
	struct raft *r = bare_node(1, 5);
	struct raft_update u;
	assert_int_equal(raft_tick(r, 3 * E, &u), RAFT_OK);
	assert_true(campaigns(&u));
	struct raft_persisted_state st;
	memset(&st, 0, sizeof(st));
	assert_int_equal(raft_start(r, 3 * E, &st, &u), RAFT_ESTATE);
	assert_int_equal(u.n_send_now + u.n_send_after_persist, 0);
	assert_false(u.hard_state_changed);
	raft_free(r);
}

/* A raft_start refused for a gap in the log leaves the node as it was:
 * started again with the log fixed, it takes it. */
static void test_start_retried_after_a_refused_log(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	struct raft *r = raft_new(1, &o, 1);
	assert_non_null(r);
	struct raft_entry e[3];
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 3; i++) {
		e[i].index = (raft_index)i + 1;
		e[i].term = 1;
		e[i].type = RAFT_ENTRY_NOOP;
	}
	e[2].index = 4;
	struct raft_persisted_state st = {
	    .term = 1, .entries = e, .n_entries = 3};
	struct raft_update u;
	assert_int_equal(raft_start(r, 0, &st, &u), RAFT_EINVAL);
	e[2].index = 3;
	assert_int_equal(raft_start(r, 0, &st, &u), RAFT_OK);
	assert_int_equal(raft_last_index(r), 3);
	raft_free(r);
}

/* A node bootstrapped well after it started waits a whole election
 * timeout from the bootstrap before it campaigns. */
static void test_bootstrap_restarts_the_timer(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	struct raft *r = raft_new(1, &o, 9);
	assert_non_null(r);
	struct raft_persisted_state st;
	memset(&st, 0, sizeof(st));
	struct raft_update u;
	assert_int_equal(raft_start(r, 0, &st, &u), RAFT_OK);
	struct raft_config cfg;
	h_config_of(3, &cfg);
	assert_int_equal(raft_bootstrap(r, 5 * E, &cfg, &u), RAFT_OK);
	assert_int_equal(raft_tick(r, 6 * E - 1, &u), RAFT_OK);
	assert_false(campaigns(&u));
	raft_free(r);
}

/* A message from the largest node id is taken. */
static void test_message_from_the_largest_node_id(void **state)
{
	(void)state;
	struct raft *r = bare_node(2, 7);
	struct raft_message a = h_msg(RAFT_MSG_APPEND, RAFT_MAX_NODE_ID, 2, 2);
	a.prev_index = 1;
	a.prev_term = 1;
	struct raft_update u;
	assert_int_equal(raft_step(r, 100, &a, &u), RAFT_OK);
	assert_int_equal(raft_leader(r), RAFT_MAX_NODE_ID);
	raft_free(r);
}

/* The core's clock never goes back, even when the driver reports an
 * install with an older time: leader contact after it counts from the
 * newest time seen, and the no-vote window with it. */
static void test_install_with_older_time_keeps_the_clock(void **state)
{
	(void)state;
	struct raft *r = bare_node(2, 7);
	struct raft_config cfg;
	h_config_of(3, &cfg);
	struct raft_update u;
	struct raft_message s = h_msg(RAFT_MSG_SNAPSHOT, 1, 2, 2);
	s.snap_index = 5;
	s.snap_term = 2;
	s.snap_size = 8;
	s.len = 8;
	s.data = (const uint8_t *)"12345678";
	s.done = 1;
	s.config = &cfg;
	assert_int_equal(raft_step(r, 1000, &s, &u), RAFT_OK);
	assert_int_equal(raft_snapshot_installed(r, 900, 5, 2, &u), RAFT_OK);
	struct raft_message a = h_msg(RAFT_MSG_APPEND, 1, 2, 2);
	a.prev_index = 5;
	a.prev_term = 2;
	assert_int_equal(raft_step(r, 950, &a, &u), RAFT_OK);
	/* Within E of the newest time (1000): still promised to leader 1. */
	struct raft_message v = h_msg(RAFT_MSG_VOTE, 3, 2, 3);
	v.index = 5;
	v.hint_term = 2;
	assert_int_equal(raft_step(r, 950 + E + 10, &v, &u), RAFT_OK);
	assert_null(sent(&u, RAFT_MSG_VOTE_RESP));
	raft_free(r);
}

/* A new node is a follower before it starts; it campaigns exactly when its
 * election timer runs out, not a tick later. */
static void test_campaign_exactly_at_the_deadline(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	struct raft *fresh = raft_new(1, &o, 4);
	assert_non_null(fresh);
	assert_int_equal(raft_role(fresh), RAFT_FOLLOWER);
	raft_free(fresh);
	struct raft *r = bare_node(1, 4);
	raft_time deadline = r->election_deadline;
	struct raft_update u;
	assert_int_equal(raft_tick(r, deadline - 1, &u), RAFT_OK);
	assert_false(campaigns(&u));
	assert_int_equal(raft_tick(r, deadline, &u), RAFT_OK);
	assert_true(campaigns(&u));
	raft_free(r);
}

/* A leader alone among fifteen learners (a configuration of the largest
 * size) removes the last of them. */
static void test_remove_from_the_largest_configuration(void **state)
{
	(void)state;
	struct raft_options o;
	h_options(&o);
	struct raft *r = raft_new(1, &o, 6);
	assert_non_null(r);
	struct raft_persisted_state st;
	memset(&st, 0, sizeof(st));
	struct raft_update u;
	assert_int_equal(raft_start(r, 0, &st, &u), RAFT_OK);
	struct raft_config cfg;
	h_config_of(RAFT_MAX_SERVERS, &cfg);
	for (uint32_t i = 1; i < cfg.n; i++)
		cfg.servers[i].role = RAFT_LEARNER;
	assert_int_equal(raft_bootstrap(r, 0, &cfg, &u), RAFT_OK);
	assert_int_equal(raft_role(r), RAFT_LEADER);
	assert_int_equal(
	    raft_persisted(r, 1, raft_last_index(r), raft_current_term(r), &u),
	    RAFT_OK);
	assert_int_equal(raft_commit_index(r), raft_last_index(r));
	assert_int_equal(raft_remove_server(r, 2, RAFT_MAX_SERVERS, &u),
			 RAFT_OK);
	assert_int_equal(raft_config(r)->n, RAFT_MAX_SERVERS - 1);
	assert_null(raft_config_find(raft_config(r), RAFT_MAX_SERVERS));
	raft_free(r);
}

/* The seed whose generator state would be zero still gives randomized
 * election timeouts, not the minimum every time. */
static void test_seed_of_zero_state_still_random(void **state)
{
	(void)state;
	struct raft *r = bare_node(1, 0x9e3779b97f4a7c15ull);
	struct raft_update u;
	raft_time last = 0;
	unsigned campaigns_seen = 0, at_minimum = 0;
	for (raft_time now = 1; now <= 12 * E; now++) {
		assert_int_equal(raft_tick(r, now, &u), RAFT_OK);
		if (!campaigns(&u))
			continue;
		/* A follower that campaigns says so in the update. */
		if (campaigns_seen == 0) {
			assert_true(u.role_changed);
			assert_int_equal(u.role, raft_role(r));
		}
		raft_time gap = now - last;
		assert_true(gap >= E && gap < 2 * E);
		at_minimum += gap == E;
		campaigns_seen++;
		last = now;
	}
	assert_true(campaigns_seen >= 6);
	assert_true(at_minimum < campaigns_seen);
	raft_free(r);
}

int main(void)
{
	h_plant_bug_from_env();
	const struct CMUnitTest tests[] = {
	    TEST(test_rejection_hint),
	    TEST(test_rejection_hint_stops_at_compaction),
	    TEST(test_rejection_read_by_the_leader),
	    TEST(test_one_probe_after_lost_batches),
	    TEST(test_probe_for_last_entry),
	    TEST(test_pipeline_after_late_probe_answer_not_cut_short),
	    TEST(test_late_probe_answer_frees_the_window),
	    TEST(test_lease_renewed_by_an_older_round),
	    TEST(test_heartbeat_answer_not_held_by_a_write),
	    TEST(test_restart_durable_term_and_timer),
	    TEST(test_heartbeat_carries_the_commit),
	    TEST(test_heartbeats_exactly_one_interval_apart),
	    TEST(test_senseless_answers_change_nothing),
	    TEST(test_many_reads_answered_at_once),
	    TEST(test_two_voters_need_both_votes),
	    TEST(test_add_learner_largest_id),
	    TEST(test_ties_go_to_the_first_voter),
	    TEST(test_streaming_never_probes),
	    TEST(test_probe_at_exactly_half_a_timeout),
	    TEST(test_idle_follower_still_pipelined),
	    TEST(test_largest_entry_replicated),
	    TEST(test_batch_fills_max_bytes_exactly),
	    TEST(test_freed_window_sends_the_last_entry),
	    TEST(test_learner_promoted_by_its_answer),
	    TEST(test_older_round_answer_does_not_lower_the_lease),
	    TEST(test_answer_of_a_round_out_of_the_ring_ignored),
	    TEST(test_propose_size_limit),
	    TEST(test_step_down_ends_the_transfer),
	    TEST(test_commit_after_a_server_released),
	    TEST(test_release_keeps_the_other_leaving_server),
	    TEST(test_transfer_resends_a_stale_probe),
	    TEST(test_snapshot_window_and_install_answer),
	    TEST(test_lost_chunk_resent_after_two_intervals),
	    TEST(test_heartbeats_reach_a_follower_getting_the_snapshot),
	    TEST(test_install_one_entry_short),
	    TEST(test_install_brings_the_committed_configuration),
	    TEST(test_timeout_now_alone_after_an_install),
	    TEST(test_window_slides_by_one_chunk),
	    TEST(test_confirmed_chunks_delay_the_resend),
	    TEST(test_newer_snapshot_restarts_the_transfer),
	    TEST(test_unreachable_removed_server_released_at_ten_timeouts),
	    TEST(test_chunk_out_of_order_answered),
	    TEST(test_backtracking_stops_at_the_snapshot),
	    TEST(test_lost_install_answer_asked_again),
	    TEST(test_chunk_to_follower_holding_entry_not_commit),
	    TEST(test_chunks_follow_the_follower_offset),
	    TEST(test_empty_snapshot_is_one_empty_chunk),
	    TEST(test_released_server_ends_its_transfer),
	    TEST(test_removed_server_released_by_its_answer),
	    TEST(test_removed_leader_no_handover_to_lagging_voter),
	    TEST(test_server_added_again_is_not_leaving),
	    TEST(test_committed_config_just_after_compaction),
	    TEST(test_timeout_now_of_newer_term_is_leader_contact),
	    TEST(test_ack_of_committed_prefix_then_refused_entry),
	    TEST(test_leaving_server_kept_across_a_change),
	    TEST(test_timeout_now_starts_a_transfer_campaign),
	    TEST(test_prevote_needs_newer_term_and_log),
	    TEST(test_prev_at_commit_with_wrong_term_refused),
	    TEST(test_prevote_judged_without_a_leader),
	    TEST(test_transfer_to_any_picks_a_voter),
	    TEST(test_candidate_keeps_campaigning_on_same_term_request),
	    TEST(test_config_at_past_the_log_refused),
	    TEST(test_follower_with_complete_snapshot),
	    TEST(test_bootstrap_largest_configuration),
	    TEST(test_second_start_refused_with_empty_update),
	    TEST(test_start_retried_after_a_refused_log),
	    TEST(test_bootstrap_restarts_the_timer),
	    TEST(test_message_from_the_largest_node_id),
	    TEST(test_install_with_older_time_keeps_the_clock),
	    TEST(test_campaign_exactly_at_the_deadline),
	    TEST(test_remove_from_the_largest_configuration),
	    TEST(test_options_default_sets_every_field),
	    TEST(test_config_codec_edges),
	    TEST(test_seed_of_zero_state_still_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
