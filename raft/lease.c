/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Heartbeat rounds and what rests on them: the leader lease, check-quorum,
 * ReadIndex (dissertation, section 6.4) and leadership transfer (3.10).
 *
 * Every AppendEntries carries the leader's current round; responses echo it.
 * When a majority of voters acknowledged round k, each of them received a
 * message sent at or after round_time[k], and promised (election.c) not to
 * vote for anyone else for an election timeout E of its own clock after
 * that. With clock rates within 1 +- rho of real time, that promise lasts at
 * least E / (1 + rho) real time, while L of the leader's clock lasts at most
 * L / (1 - rho). So the leader may act alone until
 *     round_time[k] + E * (1 - rho) / (1 + rho). */
#include <stdlib.h>
#include <string.h>

#include "raft/core.h"

#define MAX_PENDING_READS 4096

raft_time raft__lease_duration(const struct raft *r)
{
	raft_time e = r->opt.election_timeout;
	if (RAFT_BUG(LEASE_NO_DRIFT))
		return e;
	int64_t rho = r->opt.max_clock_drift_ppm;
	if (RAFT_BUG(LEASE_ONE_SIDED))
		return e * (1000000 - rho) / 1000000;
	return e * (1000000 - rho) / (1000000 + rho);
}

void raft__lease_new_round(struct raft *r)
{
	r->round++;
	r->round_time[r->round % ROUND_RING] = r->now;
	r->heartbeat_due = r->now + r->opt.heartbeat_interval;
	raft__lease_recompute(r);
}

static int cmp_desc_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : (x > y ? -1 : 0);
}

static void reads_confirm(struct raft *r)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < r->n_reads; i++) {
		struct pending_read *rd = &r->reads[i];
		if (!rd->waiting_commit && rd->round <= r->quorum_round)
			raft__out_read(r, rd->id, rd->index, RAFT_OK);
		else
			r->reads[k++] = *rd;
	}
	r->n_reads = k;
}

void raft__lease_recompute(struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return;
	uint64_t rounds[RAFT_MAX_SERVERS];
	unsigned n = 0;
	for (uint32_t i = 0; i < r->config.n; i++) {
		const struct raft_server *s = &r->config.servers[i];
		if (s->role != RAFT_VOTER)
			continue;
		if (s->id == r->id) {
			rounds[n++] = r->round;
		} else {
			const struct progress *p =
			    raft__progress_find(r, s->id);
			rounds[n++] = p != NULL ? p->acked_round : 0;
		}
	}
	if (n == 0)
		return;
	qsort(rounds, n, sizeof(rounds[0]), cmp_desc_u64);
	uint64_t q = rounds[n / 2];
	if (q == 0 || q <= r->quorum_round || r->round - q >= ROUND_RING)
		return;
	r->quorum_round = q;
	raft_time sent = r->round_time[q % ROUND_RING];
	if (sent > r->quorum_contact)
		r->quorum_contact = sent;
	/* After a TimeoutNow this leader may have a successor: no more lease.
	 */
	if (!r->timeout_now_sent &&
	    sent + raft__lease_duration(r) > r->lease_until)
		r->lease_until = sent + raft__lease_duration(r);
	reads_confirm(r);
}

void raft__lease_ack(struct raft *r, struct progress *p, uint64_t round)
{
	if (round > p->acked_round && round <= r->round) {
		p->acked_round = round;
		raft__lease_recompute(r);
	}
}

void raft__reads_fail_all(struct raft *r, int status)
{
	for (uint32_t i = 0; i < r->n_reads; i++)
		raft__out_read(r, r->reads[i].id, 0, status);
	r->n_reads = 0;
}

void raft__reads_commit_advanced(struct raft *r)
{
	if (!raft__committed_in_term(r))
		return;
	bool any = false;
	for (uint32_t i = 0; i < r->n_reads; i++) {
		if (r->reads[i].waiting_commit) {
			r->reads[i].waiting_commit = false;
			r->reads[i].index = r->commit;
			any = true;
		}
	}
	if (any)
		reads_confirm(r);
}

int raft_read_index_batch(struct raft *r, raft_time now, const uint64_t *ids,
			  size_t n, struct raft_update *u)
{
	int rv = raft__begin_event(r, now);
	if (rv == RAFT_OK && r->role != RAFT_LEADER)
		rv = RAFT_ENOTLEADER;
	if (rv == RAFT_OK && RAFT_BUG(READ_NO_QUORUM)) {
		for (size_t i = 0; i < n; i++)
			raft__out_read(r, ids[i], r->commit, RAFT_OK);
		raft__out_finish(r, u);
		return RAFT_OK;
	}
	if (rv == RAFT_OK && r->n_reads + n > MAX_PENDING_READS)
		rv = RAFT_EBUSY;
	if (rv == RAFT_OK && r->n_reads + n > r->cap_reads) {
		uint32_t cap = r->cap_reads ? r->cap_reads : 16;
		while (cap < r->n_reads + n)
			cap *= 2;
		struct pending_read *p = realloc(r->reads, cap * sizeof(*p));
		if (p == NULL) {
			rv = RAFT_ENOMEM;
		} else {
			r->reads = p;
			r->cap_reads = cap;
		}
	}
	if (rv == RAFT_OK && n > 0) {
		/* One confirming round for the whole batch: it starts after
		 * every read of the batch arrived. */
		for (size_t i = 0; i < n; i++) {
			struct pending_read *rd = &r->reads[r->n_reads++];
			rd->id = ids[i];
			rd->waiting_commit = !raft__committed_in_term(r);
			rd->index = r->commit;
			rd->round = r->round + !RAFT_BUG(READ_STALE_ROUND);
		}
		raft__lease_new_round(r);
		raft__replication_broadcast(r, true);
	}
	raft__out_finish(r, u);
	return rv;
}

int raft_read_index(struct raft *r, raft_time now, uint64_t id,
		    struct raft_update *u)
{
	return raft_read_index_batch(r, now, &id, 1, u);
}

int raft_transfer_leadership(struct raft *r, raft_time now, raft_id to,
			     struct raft_update *u)
{
	int rv = raft__begin_event(r, now);
	if (rv == RAFT_OK && r->role != RAFT_LEADER)
		rv = RAFT_ENOTLEADER;
	if (rv == RAFT_OK && r->transfer_to != 0)
		rv = RAFT_EBUSY;
	if (rv == RAFT_OK && to == r->id)
		rv = RAFT_EINVAL;
	struct progress *target = NULL;
	if (rv == RAFT_OK) {
		if (to == 0) {
			for (uint32_t i = 0; i < r->n_progress; i++) {
				struct progress *p = &r->progress[i];
				if (raft__is_voter(r, p->id) &&
				    (target == NULL ||
				     p->match > target->match))
					target = p;
			}
		} else if (raft__is_voter(r, to)) {
			target = raft__progress_find(r, to);
		}
		if (target == NULL)
			rv = RAFT_ENOTFOUND;
	}
	if (rv == RAFT_OK) {
		r->transfer_to = target->id;
		r->transfer_deadline = r->now + r->opt.transfer_timeout;
		raft__transfer_maybe_send(r, target);
		if (r->role == RAFT_LEADER && !r->timeout_now_sent)
			raft__replication_send(r, target, false);
	}
	raft__out_finish(r, u);
	return rv;
}

/* Section 3.10: once the target holds the whole log, tell it to campaign.
 * The lease ends first: voters will break their promises for it. */
void raft__transfer_maybe_send(struct raft *r, struct progress *p)
{
	if (r->transfer_to != p->id || r->timeout_now_sent ||
	    p->match != raft__log_last_index(&r->log))
		return;
	r->lease_until = 0;
	r->timeout_now_sent = true;
	raft__out_message(r, RAFT_MSG_TIMEOUT_NOW, p->id, false);
}

void raft__transfer_tick(struct raft *r)
{
	if (r->transfer_to == 0 || r->now < r->transfer_deadline)
		return;
	if (r->timeout_now_sent) {
		/* The target may have won; without a lease we cannot serve
		 * anyway, so let an election decide. */
		raft__role_become_follower(r, r->term, 0);
	} else {
		r->transfer_to = 0;
	}
}
