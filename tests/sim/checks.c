/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* What must hold after every event of a simulated history. Each check says
 * which guarantee it protects; a failure names the nodes, terms and indexes
 * involved so that the trace explains it. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/world.h"

struct registry_slot {
	raft_index index; /* 0: empty */
	raft_term term;
	uint64_t hash;
	raft_term prev_term;
};

static void *grow_zero(void *p, size_t old_n, size_t new_n, size_t size)
{
	uint8_t *q = realloc(p, new_n * size);
	if (q == NULL) {
		fprintf(stderr, "sim: out of memory\n");
		exit(3);
	}
	memset(q + old_n * size, 0, (new_n - old_n) * size);
	return q;
}

static uint32_t voter_mask(const struct raft_config *c)
{
	uint32_t m = 0;
	for (uint32_t i = 0; i < c->n; i++)
		if (c->servers[i].role == RAFT_VOTER && c->servers[i].id < 32)
			m |= 1u << c->servers[i].id;
	return m;
}

static bool majority_of(uint32_t set, uint32_t voters)
{
	return voters != 0 && (unsigned)__builtin_popcount(set & voters) * 2 >
				  (unsigned)__builtin_popcount(voters);
}

void checks_init(struct world *w)
{
	w->committed_cap = 1024;
	w->committed_term =
	    grow_zero(NULL, 0, w->committed_cap, sizeof(raft_term));
	w->committed_hash =
	    grow_zero(NULL, 0, w->committed_cap, sizeof(uint64_t));
	w->sm_hash_at = grow_zero(NULL, 0, w->committed_cap, sizeof(uint64_t));
	w->committed_in =
	    grow_zero(NULL, 0, w->committed_cap, sizeof(raft_term));
	w->n_terms = 64;
	w->leader_of_term = grow_zero(NULL, 0, w->n_terms, sizeof(raft_id));
	w->n_vote_terms = 64;
	w->vote_of = grow_zero(NULL, 0, w->n_vote_terms * (SIM_MAX_NODES + 1),
			       sizeof(raft_id));
	w->registry_cap = 4096;
	w->registry = grow_zero(NULL, 0, w->registry_cap, sizeof(*w->registry));
}

void checks_free(struct world *w)
{
	free(w->committed_term);
	free(w->committed_hash);
	free(w->sm_hash_at);
	free(w->committed_in);
	free(w->leader_of_term);
	free(w->vote_of);
	free(w->registry);
}

void sim_violation(struct world *w, const char *fmt, ...)
{
	if (w->failure[0] != 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->failure, sizeof(w->failure), fmt, ap);
	va_end(ap);
	sim_trace(w, "VIOLATION: %s", w->failure);
}

static void ensure_index(struct world *w, raft_index i)
{
	if (i < w->committed_cap)
		return;
	size_t cap = w->committed_cap;
	while (cap <= i)
		cap *= 2;
	w->committed_term = grow_zero(w->committed_term, w->committed_cap, cap,
				      sizeof(raft_term));
	w->committed_hash = grow_zero(w->committed_hash, w->committed_cap, cap,
				      sizeof(uint64_t));
	w->sm_hash_at =
	    grow_zero(w->sm_hash_at, w->committed_cap, cap, sizeof(uint64_t));
	w->committed_in = grow_zero(w->committed_in, w->committed_cap, cap,
				    sizeof(raft_term));
	w->committed_cap = cap;
}

/* ---- log matching, inductively: an (index, term) pair always names the
 * same entry with the same predecessor term ---- */

static size_t slot_of(const struct world *w, raft_index i, raft_term t)
{
	uint64_t h = i * 0x9e3779b97f4a7c15ull ^ t * 0xc2b2ae3d27d4eb4full;
	return (size_t)(h % w->registry_cap);
}

static void registry_grow(struct world *w)
{
	struct registry_slot *old = w->registry;
	size_t old_cap = w->registry_cap;
	w->registry_cap *= 2;
	w->registry = grow_zero(NULL, 0, w->registry_cap, sizeof(*w->registry));
	for (size_t k = 0; k < old_cap; k++) {
		if (old[k].index == 0)
			continue;
		size_t s = slot_of(w, old[k].index, old[k].term);
		while (w->registry[s].index != 0)
			s = (s + 1) % w->registry_cap;
		w->registry[s] = old[k];
	}
	free(old);
}

static void check_log_matching(struct world *w, struct node *n,
			       const struct raft_entry *e)
{
	if (w->registry_n * 2 >= w->registry_cap)
		registry_grow(w);
	raft_term prev = e->index > 1 ? raft_term_at(n->r, e->index - 1) : 0;
	uint64_t h = entry_hash(e);
	size_t s = slot_of(w, e->index, e->term);
	while (w->registry[s].index != 0) {
		struct registry_slot *r = &w->registry[s];
		if (r->index == e->index && r->term == e->term) {
			if (r->hash != h)
				sim_violation(
				    w,
				    "log matching: n%u holds a different "
				    "entry at index %llu term %llu",
				    n->id, (unsigned long long)e->index,
				    (unsigned long long)e->term);
			else if (prev != 0 && r->prev_term != 0 &&
				 r->prev_term != prev)
				sim_violation(w,
					      "log matching: n%u has term %llu "
					      "before %llu/%llu, others %llu",
					      n->id, (unsigned long long)prev,
					      (unsigned long long)e->index,
					      (unsigned long long)e->term,
					      (unsigned long long)r->prev_term);
			else if (r->prev_term == 0)
				r->prev_term = prev;
			return;
		}
		s = (s + 1) % w->registry_cap;
	}
	w->registry[s] = (struct registry_slot){
	    .index = e->index, .term = e->term, .hash = h, .prev_term = prev};
	w->registry_n++;
}

static void note_rounds_sent(struct node *n, const struct raft_message *m,
			     size_t count)
{
	for (size_t i = 0; i < count; i++)
		if ((m[i].type == RAFT_MSG_APPEND ||
		     m[i].type == RAFT_MSG_SNAPSHOT) &&
		    m[i].round > n->round_sent_max)
			n->round_sent_max = m[i].round;
}

/* A leader's round bookkeeping starts afresh in each term. */
static void rounds_in_term(struct node *n, raft_term t)
{
	if (n->rounds_term == t)
		return;
	n->rounds_term = t;
	memset(n->round_delivered, 0, sizeof(n->round_delivered));
	memset(n->round_acked, 0, sizeof(n->round_acked));
}

void check_update(struct world *w, struct node *n, const struct raft_update *u)
{
	struct raft *r = n->r;
	if (u->truncate_from != 0) {
		w->totals.truncations++;
		if (n->config_known && u->truncate_from <= n->config_index)
			w->totals.config_truncations++;
		n->config_rescan = true;
	}
	for (size_t i = 0; i < u->n_entries; i++)
		if (u->entries[i].type == RAFT_ENTRY_CONFIG)
			n->config_rescan = true;
	note_rounds_sent(n, u->send_now, u->n_send_now);
	note_rounds_sent(n, u->send_after_persist, u->n_send_after_persist);
	bool leader = raft_role(r) == RAFT_LEADER;
	if (u->truncate_from != 0 && leader)
		sim_violation(w,
			      "n%u truncated its log from %llu while leader of "
			      "term %llu",
			      n->id, (unsigned long long)u->truncate_from,
			      (unsigned long long)raft_current_term(r));
	for (size_t i = 0; i < u->n_entries; i++) {
		const struct raft_entry *e = &u->entries[i];
		check_log_matching(w, n, e);
		if (!leader || e->type != RAFT_ENTRY_CONFIG ||
		    e->term != raft_current_term(r))
			continue;
		/* A leader changes membership only after committing an entry
		 * of its own term, and one change at a time. */
		raft_index c = raft_commit_index(r);
		raft_term ct = raft_term_at(r, c);
		if (ct != e->term)
			sim_violation(w,
				      "n%u appended a configuration at %llu in "
				      "term %llu before committing an entry of "
				      "its term (commit %llu of term %llu)",
				      n->id, (unsigned long long)e->index,
				      (unsigned long long)e->term,
				      (unsigned long long)c,
				      (unsigned long long)ct);
		for (raft_index k = c + 1; k < e->index; k++) {
			const struct raft_entry *o = raft_entry_at(r, k);
			if (o != NULL && o->type == RAFT_ENTRY_CONFIG)
				sim_violation(w,
					      "n%u appended a configuration at "
					      "%llu while the one at %llu is "
					      "uncommitted",
					      n->id,
					      (unsigned long long)e->index,
					      (unsigned long long)k);
		}
	}
}

static raft_id *vote_slot(struct world *w, raft_term t, raft_id voter)
{
	if (t >= w->n_vote_terms) {
		size_t n = w->n_vote_terms;
		while (n <= t)
			n *= 2;
		w->vote_of =
		    grow_zero(w->vote_of, w->n_vote_terms * (SIM_MAX_NODES + 1),
			      n * (SIM_MAX_NODES + 1), sizeof(raft_id));
		w->n_vote_terms = n;
	}
	return &w->vote_of[t * (SIM_MAX_NODES + 1) + voter];
}

/* At the moment a message leaves: it may only state what is on disk. */
void check_message_sent(struct world *w, struct node *n,
			const struct raft_message *m)
{
	if (m->type != RAFT_MSG_PREVOTE && m->type != RAFT_MSG_PREVOTE_RESP &&
	    m->term > n->d_term)
		sim_violation(w,
			      "n%u sent a message (type %u) of term %llu while "
			      "its durable term is %llu",
			      n->id, m->type, (unsigned long long)m->term,
			      (unsigned long long)n->d_term);
	if (m->type == RAFT_MSG_VOTE_RESP && !m->reject) {
		raft_id *v = vote_slot(w, m->term, n->id);
		if (*v != 0 && *v != m->to)
			sim_violation(
			    w, "n%u voted twice in term %llu: n%u and n%u",
			    n->id, (unsigned long long)m->term, *v, m->to);
		*v = m->to;
		if (n->d_term != m->term || n->d_vote != m->to)
			sim_violation(
			    w,
			    "n%u granted its vote in term %llu to n%u "
			    "before persisting it (disk: term %llu "
			    "vote n%u)",
			    n->id, (unsigned long long)m->term, m->to,
			    (unsigned long long)n->d_term, n->d_vote);
	}
	if (m->to == 0 || m->to == n->id)
		sim_violation(w, "n%u sent a message (type %u) to n%u", n->id,
			      m->type, m->to);
	/* AppendEntries and snapshot chunks come only from the leader of
	 * their term (it may have stepped down within the same event). */
	if ((m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT) &&
	    !(raft_role(n->r) == RAFT_LEADER &&
	      raft_current_term(n->r) == m->term) &&
	    !(m->term < w->n_terms && w->leader_of_term[m->term] == n->id))
		sim_violation(w, "n%u sent %s in term %llu without leading it",
			      n->id,
			      m->type == RAFT_MSG_APPEND ? "AppendEntries"
							 : "a snapshot chunk",
			      (unsigned long long)m->term);
	if (m->type == RAFT_MSG_TIMEOUT_NOW) {
		/* Both ways a TimeoutNow leaves: a leader's transfer, and a
		 * removed leader handing over once its removal committed. Its
		 * lease has ended either way: voters will break their promise
		 * for the campaign it starts. */
		if (raft_role(n->r) == RAFT_LEADER) {
			w->totals.timeout_now_transfers++;
		} else {
			w->totals.timeout_now_removals++;
			if (m->to <= SIM_MAX_NODES)
				w->removal_timeout_now[n->id][m->to] = m->term;
		}
		if (raft_lease_until(n->r) > sim_local(n, w->now))
			sim_violation(w,
				      "n%u sent TimeoutNow to n%u in term %llu "
				      "while holding a lease",
				      n->id, m->to,
				      (unsigned long long)m->term);
	}
	if ((m->type == RAFT_MSG_APPEND_RESP && !m->reject && m->index != 0) ||
	    (m->type == RAFT_MSG_SNAPSHOT_RESP && m->done)) {
		if (!durable_has(n, m->index, 0))
			sim_violation(
			    w,
			    "n%u acknowledged index %llu that is not on "
			    "its disk",
			    n->id, (unsigned long long)m->index);
	}
}

/* Whether node n, on its own clock now, is inside its promise not to help
 * elect anyone: it started less than an election timeout ago, or heard from
 * a leader less than one ago. */
static bool in_no_vote_window(const struct world *w, const struct node *n)
{
	raft_time local = sim_local(n, w->now);
	if (local < n->start_local + ELECTION_TIMEOUT)
		return true;
	return n->has_contact && local < n->contact_local + ELECTION_TIMEOUT;
}

void check_message_delivered(struct world *w, struct node *n,
			     const struct raft_message *m,
			     struct before_step *before)
{
	if ((m->type == RAFT_MSG_APPEND_RESP ||
	     m->type == RAFT_MSG_SNAPSHOT_RESP) &&
	    m->term == raft_current_term(n->r) && m->from <= SIM_MAX_NODES)
		n->heard_from[m->from] = w->now;
	if ((m->type == RAFT_MSG_APPEND_RESP ||
	     m->type == RAFT_MSG_SNAPSHOT_RESP) &&
	    raft_role(n->r) == RAFT_LEADER &&
	    m->term < raft_current_term(n->r)) {
		w->totals.stale_responses++;
		/* It led that term too: elected again since. */
		if (m->term < w->n_terms && w->leader_of_term[m->term] == n->id)
			w->totals.stale_reelected++;
	}
	if (m->type == RAFT_MSG_TIMEOUT_NOW && m->from <= SIM_MAX_NODES)
		n->campaign_after_removal =
		    m->term != 0 &&
		    w->removal_timeout_now[m->from][n->id] == m->term;
	/* Rounds: what a follower received from the leader of that term,
	 * and what the leader got back (never more than was received). */
	if ((m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT) &&
	    m->from <= w->n_nodes) {
		struct node *l = &w->nodes[m->from];
		if (l->up && raft_role(l->r) == RAFT_LEADER &&
		    raft_current_term(l->r) == m->term) {
			rounds_in_term(l, m->term);
			if (m->round > l->round_delivered[n->id])
				l->round_delivered[n->id] = m->round;
		}
	}
	if ((m->type == RAFT_MSG_APPEND_RESP ||
	     m->type == RAFT_MSG_SNAPSHOT_RESP) &&
	    m->from <= SIM_MAX_NODES && raft_role(n->r) == RAFT_LEADER &&
	    m->term == raft_current_term(n->r)) {
		rounds_in_term(n, m->term);
		uint64_t acked = m->round < n->round_delivered[m->from]
				     ? m->round
				     : n->round_delivered[m->from];
		if (acked > n->round_acked[m->from])
			n->round_acked[m->from] = acked;
	}
	/* A leader is left out: one that lost its quorum steps down before
	 * it handles the request, and its promises are its own lease. */
	before->term = raft_current_term(n->r);
	before->vote_window = in_no_vote_window(w, n);
	/* A pre-vote changes no term, so only the promise to the leader it
	 * still follows (heard in this process, in its current term) holds
	 * it back; a restarted node remembers none. */
	before->prevote_window =
	    n->has_contact && n->contact_term == before->term &&
	    n->contact_local >= n->start_local &&
	    sim_local(n, w->now) < n->contact_local + ELECTION_TIMEOUT;
}

static const struct raft_message *find_grant(const struct raft_update *u,
					     uint8_t type, raft_id to)
{
	for (size_t i = 0; i < u->n_send_now; i++)
		if (u->send_now[i].type == type && u->send_now[i].to == to &&
		    !u->send_now[i].reject)
			return &u->send_now[i];
	for (size_t i = 0; i < u->n_send_after_persist; i++)
		if (u->send_after_persist[i].type == type &&
		    u->send_after_persist[i].to == to &&
		    !u->send_after_persist[i].reject)
			return &u->send_after_persist[i];
	return NULL;
}

/* After the node handled the message: a leader's AppendEntries or snapshot
 * chunk it accepted starts a new no-vote window; a (pre-)vote it granted
 * must lie outside the window it was in. */
void check_message_stepped(struct world *w, struct node *n,
			   const struct raft_message *m,
			   const struct before_step *before,
			   const struct raft_update *u)
{
	if (!n->up || n->r == NULL)
		return;
	if ((m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT) &&
	    m->term >= before->term && raft_current_term(n->r) == m->term &&
	    raft_role(n->r) != RAFT_LEADER) {
		n->has_contact = true;
		n->contact_local = sim_local(n, w->now);
		n->contact_leader = m->from;
		n->contact_term = m->term;
	}
	if ((m->type != RAFT_MSG_VOTE && m->type != RAFT_MSG_PREVOTE) ||
	    w->cfg.end_to_end_only)
		return;
	bool prevote = m->type == RAFT_MSG_PREVOTE;
	bool window = prevote ? before->prevote_window : before->vote_window;
	const struct raft_message *grant = find_grant(
	    u, prevote ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP, m->from);
	if (!window)
		return;
	if (m->transfer) {
		/* The leader asked for this election: the promise to it
		 * ends here (a duplicate request reaching the node after the
		 * candidate won changes nothing), and its lease must have
		 * ended before. */
		if (grant != NULL) {
			w->totals.transfer_votes_in_window++;
			if (m->from <= w->n_nodes &&
			    w->nodes[m->from].campaign_after_removal)
				w->totals.removal_votes_in_window++;
			if (n->contact_leader != m->from)
				n->contact_leader = 0;
		}
		return;
	}
	if (grant == NULL) {
		if (prevote)
			w->totals.prevotes_refused_in_window++;
		else
			w->totals.votes_refused_in_window++;
		return;
	}
	raft_time local = sim_local(n, w->now);
	sim_violation(
	    w,
	    "no-vote window: n%u granted a %s to n%u for term %llu "
	    "%lld ms after it started and %lld ms after it heard "
	    "from leader n%u (term %llu), both on its clock, "
	    "inside the election timeout %d",
	    n->id, prevote ? "pre-vote" : "vote", m->from,
	    (unsigned long long)m->term, (long long)(local - n->start_local),
	    n->has_contact ? (long long)(local - n->contact_local) : -1LL,
	    n->contact_leader, (unsigned long long)n->contact_term,
	    ELECTION_TIMEOUT);
}

/* Every node applies the same command at the same index. */
void check_applied(struct world *w, struct node *n, const struct raft_entry *e)
{
	ensure_index(w, e->index);
	uint64_t *h = &w->sm_hash_at[e->index];
	if (*h == 0)
		*h = n->sm_hash;
	else if (*h != n->sm_hash)
		sim_violation(
		    w, "n%u applied a different history up to index %llu",
		    n->id, (unsigned long long)e->index);
}

void check_read_issued(struct world *w, struct node *n, uint64_t id)
{
	w->reads[id % 1024] =
	    (struct pending_read_check){.id = id,
					.must_see = w->commit_max,
					.leader = n->id,
					.epoch = n->epoch,
					.term = raft_current_term(n->r),
					.must_round = n->round_sent_max + 1};
	raft_term ct = raft_term_at(n->r, raft_commit_index(n->r));
	if (ct != raft_current_term(n->r))
		w->totals.reads_waited_for_commit++;
}

/* A read answered must reflect every write committed before it was issued,
 * and rest on what ReadIndex promises: the leader that took it answers in
 * the same term, at an index of that term (it committed in its term), after
 * a majority of its voters answered a round that began after the read
 * arrived. */
void check_read(struct world *w, struct node *n, const struct raft_read *rd)
{
	if (rd->status != RAFT_OK)
		return;
	w->totals.reads++;
	struct pending_read_check *p = &w->reads[rd->id % 1024];
	if (p->id != rd->id)
		return;
	if (p->answered)
		sim_violation(w, "n%u answered read %llu twice", n->id,
			      (unsigned long long)rd->id);
	p->answered = true;
	if (rd->index < p->must_see)
		sim_violation(w,
			      "n%u answered read %llu at index %llu, but %llu "
			      "was committed before the read began",
			      n->id, (unsigned long long)rd->id,
			      (unsigned long long)rd->index,
			      (unsigned long long)p->must_see);
	if (w->cfg.end_to_end_only)
		return;
	raft_term t = raft_current_term(n->r);
	/* The same event may have ended its leadership (a committed removal)
	 * after it confirmed the read: the term must not have moved. */
	if (p->leader != n->id || p->epoch != n->epoch || p->term != t) {
		sim_violation(w,
			      "read %llu taken by n%u in term %llu was "
			      "answered by n%u in term %llu",
			      (unsigned long long)rd->id, p->leader,
			      (unsigned long long)p->term, n->id,
			      (unsigned long long)t);
		return;
	}
	raft_term it = raft_term_at(n->r, rd->index);
	if (it == 0) {
		ensure_index(w, rd->index);
		it = w->committed_term[rd->index];
	}
	if (it != t)
		sim_violation(
		    w,
		    "n%u answered read %llu at index %llu of term "
		    "%llu before committing an entry of its term %llu",
		    n->id, (unsigned long long)rd->id,
		    (unsigned long long)rd->index, (unsigned long long)it,
		    (unsigned long long)t);
	rounds_in_term(n, t);
	uint32_t acked = n->id < 32 ? 1u << n->id : 0;
	for (unsigned v = 1; v <= w->n_nodes; v++)
		if (n->round_acked[v] >= p->must_round)
			acked |= 1u << v;
	if (!majority_of(acked, n->cfg_voters))
		sim_violation(w,
			      "n%u answered read %llu in term %llu with only "
			      "%d of %d voters answering a round from %llu on "
			      "(begun after the read arrived)",
			      n->id, (unsigned long long)rd->id,
			      (unsigned long long)t,
			      __builtin_popcount(acked & n->cfg_voters),
			      __builtin_popcount(n->cfg_voters),
			      (unsigned long long)p->must_round);
}

static int cmp_desc_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : (x > y ? -1 : 0);
}

static void check_leader(struct world *w, struct node *n)
{
	struct raft *r = n->r;
	raft_term t = raft_current_term(r);
	if (t >= w->n_terms) {
		size_t size = w->n_terms;
		while (size <= t)
			size *= 2;
		w->leader_of_term = grow_zero(w->leader_of_term, w->n_terms,
					      size, sizeof(raft_id));
		w->n_terms = size;
	}
	if (w->leader_of_term[t] != 0 && w->leader_of_term[t] != n->id)
		sim_violation(w, "two leaders in term %llu: n%u and n%u",
			      (unsigned long long)t, w->leader_of_term[t],
			      n->id);
	w->leader_of_term[t] = n->id;
	if (n->was_leader_term != t) {
		n->was_leader_term = t;
		n->leader_since = w->now;
		for (unsigned i = 0; i <= SIM_MAX_NODES; i++)
			n->heard_from[i] = w->now;
		w->totals.elections++;
		sim_trace(w, "n%u LEADER of term %llu (last %llu commit %llu)",
			  n->id, (unsigned long long)t,
			  (unsigned long long)raft_last_index(r),
			  (unsigned long long)raft_commit_index(r));
		/* Leader completeness: it holds every committed entry. */
		raft_index from = raft_snapshot_index(r) + 1;
		for (raft_index i = raft_last_index(r) + 1; i <= w->commit_max;
		     i++)
			if (w->committed_in[i] < t) {
				sim_violation(
				    w,
				    "n%u leads term %llu with last index "
				    "%llu but %llu was committed in term "
				    "%llu",
				    n->id, (unsigned long long)t,
				    (unsigned long long)raft_last_index(r),
				    (unsigned long long)i,
				    (unsigned long long)w->committed_in[i]);
				break;
			}
		for (raft_index i = from; i <= w->commit_max; i++) {
			const struct raft_entry *e = raft_entry_at(r, i);
			/* The paper's claim covers entries committed in earlier
			 * terms; a stale term can still elect a leader. */
			if (e == NULL || w->committed_in[i] >= t)
				continue;
			if (e->term != w->committed_term[i] ||
			    entry_hash(e) != w->committed_hash[i]) {
				sim_violation(w,
					      "n%u leads term %llu without the "
					      "committed entry %llu",
					      n->id, (unsigned long long)t,
					      (unsigned long long)i);
				break;
			}
		}
	}
	/* Check-quorum: a leader that has not heard from a majority for an
	 * election timeout (of its own clock, so at most 1.34 of real time
	 * with 25% drift) has stepped down before it handles anything. */
	const struct raft_config *c = raft_config(r);
	int64_t contact[RAFT_MAX_SERVERS];
	unsigned nv = 0;
	uint32_t voters = 0;
	for (uint32_t i = 0; i < c->n; i++)
		if (c->servers[i].role == RAFT_VOTER && c->servers[i].id < 32)
			voters |= 1u << c->servers[i].id;
	/* Acknowledgements under the previous configuration still count
	 * until an election timeout after the change. */
	if (voters != n->voters_seen) {
		n->voters_seen = voters;
		n->voters_changed_at = w->now;
	}
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->servers[i].role != RAFT_VOTER)
			continue;
		raft_id v = c->servers[i].id;
		int64_t h = v == n->id
				? w->now
				: (v <= SIM_MAX_NODES ? n->heard_from[v] : 0);
		contact[nv++] =
		    h > n->voters_changed_at ? h : n->voters_changed_at;
	}
	if (nv > 0) {
		qsort(contact, nv, sizeof(contact[0]), cmp_desc_i64);
		int64_t q = contact[nv / 2];
		if (w->now - q > ELECTION_TIMEOUT * 14 / 10 + 5)
			sim_violation(
			    w,
			    "n%u still leads term %llu without hearing "
			    "from a majority for %lld ms",
			    n->id, (unsigned long long)t,
			    (long long)(w->now - q));
	}
}

static void check_commit(struct world *w, struct node *n)
{
	struct raft *r = n->r;
	raft_index c = raft_commit_index(r);
	if (c < n->seen_commit) {
		n->seen_commit = c; /* restarted: it learns the commit again */
		return;
	}
	if (c == n->seen_commit)
		return;
	ensure_index(w, c);
	bool leader = raft_role(r) == RAFT_LEADER;
	if (leader) {
		raft_term t = raft_term_at(r, c);
		if (t != raft_current_term(r))
			sim_violation(
			    w,
			    "n%u committed %llu of term %llu by counting "
			    "replicas in term %llu",
			    n->id, (unsigned long long)c, (unsigned long long)t,
			    (unsigned long long)raft_current_term(r));
		/* Committed means: on the disks of a majority of voters. */
		const struct raft_config *cfg = raft_config(r);
		unsigned voters = 0, stored = 0;
		for (uint32_t i = 0; i < cfg->n; i++) {
			if (cfg->servers[i].role != RAFT_VOTER)
				continue;
			voters++;
			raft_id v = cfg->servers[i].id;
			if (v <= w->n_nodes && durable_has(&w->nodes[v], c, t))
				stored++;
		}
		if (stored * 2 <= voters)
			sim_violation(
			    w,
			    "n%u committed %llu (term %llu) stored on "
			    "only %u of %u voters' disks",
			    n->id, (unsigned long long)c, (unsigned long long)t,
			    stored, voters);
	}
	raft_index from = n->seen_commit + 1;
	if (from <= raft_snapshot_index(r))
		from = raft_snapshot_index(r) + 1;
	for (raft_index i = from; i <= c; i++) {
		const struct raft_entry *e = raft_entry_at(r, i);
		if (e == NULL)
			continue;
		uint64_t h = entry_hash(e);
		if (w->committed_term[i] == 0) {
			w->committed_term[i] = e->term;
			w->committed_hash[i] = h;
			w->committed_in[i] = raft_current_term(r);
			w->totals.commits++;
			if (e->type == RAFT_ENTRY_CONFIG && i > 1)
				w->totals.membership_changes++;
		} else if (w->committed_term[i] != e->term ||
			   w->committed_hash[i] != h) {
			sim_violation(
			    w,
			    "committed entry %llu (term %llu) lost: n%u "
			    "committed term %llu there",
			    (unsigned long long)i,
			    (unsigned long long)w->committed_term[i], n->id,
			    (unsigned long long)e->term);
			break;
		}
	}
	n->seen_commit = c;
	if (c > w->commit_max)
		w->commit_max = c;
}

/* Members and roles; with `whole`, addresses and cluster id as well. */
static bool config_equal(const struct raft_config *a,
			 const struct raft_config *b, bool whole)
{
	if (a->n != b->n || (whole && memcmp(a->cluster_id, b->cluster_id,
					     sizeof(a->cluster_id)) != 0))
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (a->servers[i].id != b->servers[i].id ||
		    a->servers[i].role != b->servers[i].role ||
		    (whole &&
		     strcmp(a->servers[i].address, b->servers[i].address) != 0))
			return false;
	return true;
}

/* Membership: the active configuration is the latest configuration entry
 * in the node's own log or, with none above its snapshot, the snapshot's;
 * also after a truncation removed the newest one. */
static void check_config(struct world *w, struct node *n)
{
	struct raft *r = n->r;
	bool rescanned = n->config_rescan;
	if (n->config_rescan) {
		n->config_rescan = false;
		n->config_known = false;
		raft_index snap = raft_snapshot_index(r);
		for (raft_index i = raft_last_index(r); i > snap; i--) {
			const struct raft_entry *e = raft_entry_at(r, i);
			if (e == NULL || e->type != RAFT_ENTRY_CONFIG)
				continue;
			if (raft_config_decode(e->data, e->len, &n->config) !=
			    RAFT_OK) {
				sim_violation(w,
					      "n%u holds an undecodable "
					      "configuration at %llu",
					      n->id, (unsigned long long)i);
				return;
			}
			n->config_index = i;
			n->config_known = true;
			break;
		}
		if (!n->config_known && snap == 0) {
			memset(&n->config, 0, sizeof(n->config));
			n->config_index = 0;
			n->config_known = true;
		} else if (!n->config_known && snap == n->dsnap.index) {
			n->config = n->dsnap.config;
			n->config_index = snap;
			n->config_known = true;
		}
	}
	if (n->config_known &&
	    !config_equal(raft_config(r), &n->config, rescanned))
		sim_violation(w,
			      "n%u is active in a configuration of %u servers "
			      "(%u voters) but the latest in its log, at %llu, "
			      "has %u (%u voters)",
			      n->id, raft_config(r)->n,
			      raft_config_voters(raft_config(r)),
			      (unsigned long long)n->config_index, n->config.n,
			      raft_config_voters(&n->config));
}

void check_after_event(struct world *w, struct node *n)
{
	if (!n->up || n->r == NULL)
		return;
	if ((int)raft_role(n->r) != n->last_role ||
	    raft_current_term(n->r) != n->last_term) {
		static const char *names[] = {"?", "follower", "candidate",
					      "leader"};
		n->last_role = raft_role(n->r);
		n->last_term = raft_current_term(n->r);
		sim_trace(w, "n%u %s in term %llu (last %llu/%llu commit %llu)",
			  n->id, names[n->last_role],
			  (unsigned long long)n->last_term,
			  (unsigned long long)raft_last_index(n->r),
			  (unsigned long long)raft_term_at(
			      n->r, raft_last_index(n->r)),
			  (unsigned long long)raft_commit_index(n->r));
	}
	/* A node that campaigns (voted for itself in a newer term) keeps no
	 * promise to the leader it heard before: only a TimeoutNow makes a
	 * node inside its window do so, and that leader's lease has ended. */
	if (n->contact_leader != 0 && raft_voted_for(n->r) == n->id &&
	    raft_current_term(n->r) > n->contact_term)
		n->contact_leader = 0;
	if (!w->cfg.end_to_end_only)
		check_config(w, n);
	uint32_t voters = voter_mask(raft_config(n->r));
	if (voters != n->cfg_voters) {
		n->prev_voters = n->cfg_voters;
		n->cfg_voters = voters;
	}
	check_commit(w, n);
	if (raft_role(n->r) == RAFT_LEADER)
		check_leader(w, n);
	else
		n->was_leader_term = 0;
}

/* The lease promise, checked directly: while a node holds a lease (by its
 * own clock), a majority of the voters of its configuration are inside
 * their no-vote window with respect to it, in its current term. A node that
 * is down counts: it grants nothing until an election timeout after it
 * restarts. */
static void check_lease_promise(struct world *w, struct node *l)
{
	raft_term t = raft_current_term(l->r);
	uint32_t bound = 0;
	uint32_t members = l->cfg_voters | l->prev_voters;
	for (unsigned v = 1; v <= w->n_nodes; v++) {
		const struct node *n = &w->nodes[v];
		if (!(members & (1u << v)))
			continue;
		if (majority_of(bound, l->cfg_voters))
			break; /* enough: the clocks of the rest need no reading
				*/
		if (v == l->id || !n->up) {
			bound |= 1u << v;
			continue;
		}
		raft_time local = sim_local(n, w->now);
		if (local < n->start_local + ELECTION_TIMEOUT + CLOCK_SLACK ||
		    (n->has_contact && n->contact_leader == l->id &&
		     n->contact_term == t &&
		     local < n->contact_local + ELECTION_TIMEOUT + CLOCK_SLACK))
			bound |= 1u << v;
	}
	w->totals.lease_checks++;
	/* A candidate counts votes in the leader's latest configuration or
	 * the one before; a majority of either meets a majority of both. */
	if (!majority_of(bound, l->cfg_voters) &&
	    !majority_of(bound, l->prev_voters))
		sim_violation(
		    w,
		    "lease promise: n%u holds a lease in term %llu "
		    "for %lld ms more on its clock, but only %d of "
		    "%d voters are inside their no-vote window for it",
		    l->id, (unsigned long long)t,
		    (long long)(raft_lease_until(l->r) - sim_local(l, w->now)),
		    __builtin_popcount(bound & l->cfg_voters),
		    __builtin_popcount(l->cfg_voters));
}

/* Leases: at no real instant do two nodes believe they may act alone, and
 * each holder is covered by a majority's promises. */
void check_world(struct world *w)
{
	struct node *holder = NULL;
	for (unsigned i = 1; i <= w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		bool holds = n->up && n->r != NULL &&
			     raft_lease_until(n->r) > sim_local(n, w->now);
		if (n->held_lease && !holds)
			w->totals.lease_expiries++;
		n->held_lease = holds;
		if (!holds)
			continue;
		if (!w->cfg.end_to_end_only)
			check_lease_promise(w, n);
		if (holder != NULL)
			sim_violation(
			    w,
			    "two leases at once: n%u (term %llu) and n%u "
			    "(term %llu)",
			    holder->id,
			    (unsigned long long)raft_current_term(holder->r),
			    n->id, (unsigned long long)raft_current_term(n->r));
		holder = n;
	}
}

/* Disruption: once faults stop and a leader with a lease is up that no node
 * is ahead of, with no membership change pending, no term moves again. A
 * failure of its own kind: nothing unsafe happened, but clients lost their
 * leader for nothing. */
void check_disruption(struct world *w)
{
	if (w->phase == PHASE_FAULTS || w->now < w->quiet_from ||
	    w->cfg.end_to_end_only || w->failure[0] != 0)
		return;
	if (w->stable_term == 0) {
		raft_term max = 0;
		struct node *l = NULL;
		for (unsigned i = 1; i <= w->n_nodes; i++) {
			struct node *n = &w->nodes[i];
			if (!n->up)
				continue;
			if (raft_current_term(n->r) > max)
				max = raft_current_term(n->r);
			if (n->held_lease)
				l = n;
		}
		if (l == NULL || raft_current_term(l->r) != max ||
		    !config_equal(raft_config(l->r),
				  raft_committed_config(l->r), false))
			return;
		if (w->candidate_leader != l->id || w->candidate_term != max) {
			w->candidate_leader = l->id;
			w->candidate_term = max;
			w->candidate_round = l->round_sent_max + 1;
			return;
		}
		rounds_in_term(l, max);
		uint32_t acked = 1u << l->id;
		for (unsigned v = 1; v <= w->n_nodes; v++)
			if (l->round_acked[v] >= w->candidate_round)
				acked |= 1u << v;
		if (!majority_of(acked, l->cfg_voters))
			return;
		w->stable_term = max;
		w->stable_leader = l->id;
		w->totals.stable_leaders++;
		sim_trace(w, "STABLE: n%u leads term %llu", l->id,
			  (unsigned long long)max);
		return;
	}
	for (unsigned i = 1; i <= w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		if (!n->up || raft_current_term(n->r) <= w->stable_term)
			continue;
		snprintf(w->failure, sizeof(w->failure),
			 "n%u moved to term %llu after n%u led term %llu with "
			 "every fault healed",
			 n->id, (unsigned long long)raft_current_term(n->r),
			 w->stable_leader, (unsigned long long)w->stable_term);
		sim_trace(w, "DISRUPTION: %s", w->failure);
		w->disrupted = true;
		return;
	}
}

/* After the faults: a leader with a lease committed a new proposal and
 * every member applied it. */
bool liveness_reached(struct world *w)
{
	if (w->probe_index == 0)
		return false;
	ensure_index(w, w->probe_index);
	raft_term t = w->committed_term[w->probe_index];
	if (t == 0)
		return false;
	if (t != w->probe_term) {
		w->probe_index = 0; /* overwritten before commit: probe again */
		return false;
	}
	struct node *leader = NULL;
	for (unsigned i = 1; i <= w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		if (n->up && raft_lease_until(n->r) > sim_local(n, w->now))
			leader = n;
	}
	if (leader == NULL)
		return false;
	const struct raft_config *c = raft_config(leader->r);
	for (uint32_t i = 0; i < c->n; i++) {
		raft_id id = c->servers[i].id;
		if (id > w->n_nodes || w->nodes[id].sm_index < w->probe_index)
			return false;
	}
	return true;
}
