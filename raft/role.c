/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Role transitions: follower, candidate (pre-vote or real), leader. */
#include "raft/core.h"

static void set_role(struct raft *r, enum raft_role role, raft_id leader)
{
	if (r->role != role || r->leader != leader)
		r->role_changed = true;
	r->role = role;
	r->leader = leader;
}

void raft__role_become_follower(struct raft *r, raft_term term, raft_id leader)
{
	bool was_leader = r->role == RAFT_LEADER;
	if (term > r->term) {
		r->term = term;
		r->vote = 0;
		raft__out_hard_state(r);
	}
	set_role(r, RAFT_FOLLOWER, leader);
	r->prevote = false;
	r->campaign_transfer = false;
	r->lease_until = 0;
	r->transfer_to = 0;
	r->timeout_now_sent = false;
	if (leader != 0)
		r->leader_contact = r->now;
	if (was_leader)
		raft__reads_fail_all(r, RAFT_ENOTLEADER);
	raft__reset_election_timer(r);
}

static void send_vote_requests(struct raft *r)
{
	for (uint32_t i = 0; i < r->config.n; i++) {
		const struct raft_server *s = &r->config.servers[i];
		if (s->role != RAFT_VOTER || s->id == r->id)
			continue;
		/* A real vote depends on the persisted term and self-vote; a
		 * pre-vote changes nothing and can leave at once. */
		struct raft_message *m = raft__out_message(
		    r, r->prevote ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, s->id,
		    !r->prevote);
		if (m == NULL)
			continue;
		m->term = r->prevote ? r->term + 1 : r->term;
		m->index = raft__log_last_index(&r->log);
		m->hint_term = raft__log_last_term(&r->log);
		m->transfer = r->campaign_transfer;
	}
}

void raft__role_become_candidate(struct raft *r, bool prevote, bool transfer)
{
	set_role(r, RAFT_CANDIDATE, 0);
	r->prevote = prevote;
	r->campaign_transfer = transfer;
	r->lease_until = 0;
	if (!prevote) {
		r->term++;
		r->vote = r->id;
		raft__out_hard_state(r);
	}
	r->n_votes = 0;
	r->votes[r->n_votes++] = r->id;
	raft__reset_election_timer(r);
	send_vote_requests(r);
	/* A single voter wins its own election. */
	if (r->n_votes * 2 > raft_config_voters(&r->config)) {
		if (prevote)
			raft__role_become_candidate(r, false, transfer);
		else
			raft__role_become_leader(r);
	}
}

void raft__role_become_leader(struct raft *r)
{
	set_role(r, RAFT_LEADER, r->id);
	r->prevote = false;
	r->campaign_transfer = false;
	r->transfer_to = 0;
	r->timeout_now_sent = false;
	r->lease_until = 0;
	r->quorum_round = r->round;
	r->quorum_contact = r->now;
	raft__progress_reset_all(r);
	/* Section 8: a leader commits an entry of its own term before it
	 * serves reads or changes membership; the no-op gets it there. */
	r->term_start = raft__log_last_index(&r->log) + 1;
	if (!RAFT_BUG(SKIP_NOOP)) {
		if (raft__log_append(&r->log, r->term, RAFT_ENTRY_NOOP,
				     RAFT_VERSION_MIN, NULL, 0) == RAFT_OK)
			raft__out_entries_appended(
			    r, raft__log_last_index(&r->log));
	}
	raft__lease_new_round(r);
	raft__replication_broadcast(r, false);
	raft__replication_maybe_commit(r);
}

void raft__role_step_down_if_no_quorum(struct raft *r)
{
	if (r->role != RAFT_LEADER || !r->opt.check_quorum ||
	    RAFT_BUG(NO_STEP_DOWN))
		return;
	raft_time limit = r->opt.election_timeout;
	if (RAFT_BUG(STEP_DOWN_EARLY))
		limit /= 4;
	if (r->now - r->quorum_contact >= limit)
		raft__role_become_follower(r, r->term, 0);
}
