/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Elections: pre-vote, votes, and the promises that make leases safe. */
#include "raft/core.h"

void raft__election_start(struct raft *r, bool transfer)
{
	/* A transfer target skips the pre-vote: the leader asked for it. */
	raft__role_become_candidate(r, r->opt.pre_vote && !transfer, transfer);
}

/* Whether this node still honours its promise not to help elect anyone:
 * it heard from a leader less than an election timeout ago, it is the
 * leader, or it restarted less than an election timeout ago and cannot
 * remember what it promised before. */
static bool in_lease(const struct raft *r, bool prevote)
{
	raft_time e = r->opt.election_timeout;
	if (r->role == RAFT_LEADER)
		return true;
	if (r->leader_contact != 0 && r->now < r->leader_contact + e &&
	    r->leader != 0)
		return true;
	if (prevote || RAFT_BUG(VOTE_IN_WINDOW))
		return false;
	if (r->leader_contact != 0 && r->now < r->leader_contact + e)
		return true;
	return r->now < r->start_time + e;
}

bool raft__election_in_lease(const struct raft *r)
{
	return in_lease(r, false);
}

void raft__election_recv_request(struct raft *r, const struct raft_message *m)
{
	bool prevote = m->type == RAFT_MSG_PREVOTE;
	uint8_t resp_type =
	    prevote ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;

	/* Section 9.6 and the lease: ignore, without even adopting the term,
	 * unless the leader itself asked for this election (TimeoutNow). */
	if (!m->transfer && in_lease(r, prevote))
		return;
	if (m->term < r->term) {
		/* Our term may still be on its way to disk. */
		struct raft_message *resp =
		    raft__out_message(r, resp_type, m->from, !prevote);
		if (resp != NULL)
			resp->reject = 1;
		return;
	}
	if (!prevote && m->term > r->term)
		raft__role_become_follower(r, m->term, 0);

	raft_term last_term = raft__log_last_term(&r->log);
	bool up_to_date = m->hint_term > last_term ||
			  (m->hint_term == last_term &&
			   m->index >= raft__log_last_index(&r->log));
	bool grant;
	if (prevote) {
		grant = up_to_date && m->term > r->term;
	} else {
		/* Section 5.2: at most one vote per term, kept on disk. */
		bool free_vote =
		    r->vote == 0 || r->vote == m->from || RAFT_BUG(DOUBLE_VOTE);
		grant = up_to_date && free_vote;
		if (grant) {
			if (r->vote != m->from) {
				r->vote = m->from;
				raft__out_hard_state(r);
			}
			raft__reset_election_timer(r);
		}
	}
	bool after = !prevote && !RAFT_BUG(SEND_BEFORE_PERSIST);
	struct raft_message *resp =
	    raft__out_message(r, resp_type, m->from, after);
	if (resp == NULL)
		return;
	resp->reject = grant ? 0 : 1;
	/* A granted pre-vote answers in the proposed term. */
	if (prevote && grant)
		resp->term = m->term;
}

void raft__election_recv_response(struct raft *r, const struct raft_message *m)
{
	if (r->role != RAFT_CANDIDATE)
		return;
	bool prevote = m->type == RAFT_MSG_PREVOTE_RESP;
	if (prevote != r->prevote)
		return;
	raft_term expected = prevote ? r->term + 1 : r->term;
	if (m->term != expected || m->reject)
		return;
	if (!raft__is_voter(r, m->from))
		return;
	for (uint32_t i = 0; i < r->n_votes; i++)
		if (r->votes[i] == m->from)
			return;
	if (r->n_votes < RAFT_MAX_SERVERS)
		r->votes[r->n_votes++] = m->from;
	unsigned granted = 0;
	for (uint32_t i = 0; i < r->n_votes; i++)
		if (raft__is_voter(r, r->votes[i]))
			granted++;
	if (granted * 2 <= raft_config_voters(&r->config))
		return;
	if (prevote)
		raft__role_become_candidate(r, false, r->campaign_transfer);
	else
		raft__role_become_leader(r);
}
