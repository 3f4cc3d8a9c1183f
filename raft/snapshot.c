/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* InstallSnapshot in chunks (dissertation, chapter 5). Up to
 * snapshot_chunks_in_flight chunks are in flight per follower, each
 * confirmed with the bytes the follower holds; when nothing is confirmed for
 * two heartbeat intervals the leader goes back to what was confirmed (a lost
 * chunk makes the follower refuse the ones behind it). A follower that lost
 * its partial file answers with offset 0, so the transfer restarts instead
 * of getting stuck. */
#include <stdlib.h>
#include <string.h>

#include "raft/core.h"

/* One chunk at p->snap_offset. */
static bool send_chunk(struct raft *r, struct progress *p)
{
	uint64_t left = r->snap_size - p->snap_offset;
	uint32_t len = left < r->opt.snapshot_chunk_bytes
			   ? (uint32_t)left
			   : r->opt.snapshot_chunk_bytes;
	struct raft_message *m =
	    raft__out_message(r, RAFT_MSG_SNAPSHOT, p->id, false);
	if (m == NULL)
		return false;
	m->snap_index = r->log.snap_index;
	m->snap_term = r->log.snap_term;
	m->snap_size = r->snap_size;
	m->offset = p->snap_offset;
	m->len = len;
	m->data = NULL; /* filled by the driver from its snapshot file */
	m->done = p->snap_offset + len == r->snap_size;
	m->config = &r->snap_config;
	m->commit = r->commit;
	m->round = r->round;
	p->snap_offset += len;
	p->snap_sent_at = r->now;
	p->last_send = r->now;
	return true;
}

void raft__snapshot_send(struct raft *r, struct progress *p)
{
	if (r->log.snap_index == 0)
		return; /* nothing compacted, so nothing to send */
	if (p->snap_index != r->log.snap_index ||
	    p->snap_acked > r->snap_size) {
		p->snap_index = r->log.snap_index;
		p->snap_offset = 0;
		p->snap_acked = 0;
	}
	if (p->snap_offset > r->snap_size || p->snap_offset < p->snap_acked)
		p->snap_offset = p->snap_acked;
	/* Up to snapshot_chunks_in_flight chunks ahead of what the follower
	 * confirmed: the links keep order, so a lost chunk only costs a
	 * resend from the confirmed offset (raft__snapshot_tick). */
	uint64_t window = (uint64_t)r->opt.snapshot_chunks_in_flight *
			  r->opt.snapshot_chunk_bytes;
	if (p->snap_offset == 0 && p->snap_acked == 0 && r->snap_size == 0) {
		send_chunk(r, p); /* an empty snapshot is one empty chunk */
		return;
	}
	while (p->snap_offset < r->snap_size &&
	       p->snap_offset - p->snap_acked < window)
		if (!send_chunk(r, p))
			return;
}

void raft__snapshot_tick(struct raft *r, struct progress *p)
{
	if (r->now - p->snap_sent_at < 2 * r->opt.heartbeat_interval)
		return;
	if (p->snap_index == r->log.snap_index && r->snap_size > 0 &&
	    p->snap_acked >= r->snap_size) {
		/* All confirmed, the follower is installing: ask with an
		 * empty last chunk. One that lost the transfer (it restarted)
		 * answers with offset 0, and the transfer starts over. */
		p->snap_offset = r->snap_size;
		send_chunk(r, p);
		return;
	}
	/* Nothing confirmed for a while: a chunk or its answer was lost.
	 * Go back to what the follower has. */
	p->snap_offset = p->snap_acked;
	raft__snapshot_send(r, p);
}

static void reply(struct raft *r, const struct raft_message *m, bool done,
		  raft_index index, uint64_t offset)
{
	struct raft_message *resp = raft__out_message(
	    r, RAFT_MSG_SNAPSHOT_RESP, m->from, !RAFT_BUG(SEND_BEFORE_PERSIST));
	if (resp == NULL)
		return;
	resp->snap_index = m->snap_index;
	resp->done = done;
	resp->index = index;
	resp->offset = offset;
	resp->round = m->round;
}

void raft__snapshot_recv(struct raft *r, const struct raft_message *m)
{
	if (r->role == RAFT_LEADER)
		return;
	if (r->role != RAFT_FOLLOWER || r->leader != m->from)
		raft__role_become_follower(r, m->term, m->from);
	r->leader_contact = r->now;
	raft__reset_election_timer(r);

	if (m->config == NULL || m->snap_index == 0 || m->snap_term == 0 ||
	    m->snap_term > r->term || m->offset > m->snap_size ||
	    m->len > m->snap_size - m->offset ||
	    (m->len > 0 && m->data == NULL) ||
	    (m->done && m->offset + m->len != m->snap_size))
		return;
	/* We already hold everything it covers. */
	if (m->snap_index <= r->commit) {
		if (!r->incoming.complete)
			r->incoming.active = false;
		reply(r, m, true, r->commit, 0);
		return;
	}
	/* Our log holds its last entry: the prefix is the leader's (log
	 * matching), so keep the log, and the entries after it that we may
	 * have acknowledged, instead of replacing them with the snapshot. */
	if (!r->incoming.complete &&
	    raft__log_term_at(&r->log, m->snap_index) == m->snap_term) {
		r->incoming.active = false;
		raft__replication_set_commit(r, m->snap_index);
		reply(r, m, true, m->snap_index, 0);
		return;
	}
	struct pending_snapshot *in = &r->incoming;
	if (in->complete) {
		reply(r, m, false, 0, in->received);
		return;
	}
	if (!in->active || in->index != m->snap_index ||
	    in->term != m->snap_term) {
		if (m->offset != 0) {
			reply(r, m, false, 0, 0);
			return;
		}
		in->active = true;
		in->index = m->snap_index;
		in->term = m->snap_term;
		in->received = 0;
		in->config = *m->config;
	}
	if (m->offset != in->received) {
		reply(r, m, false, 0, in->received);
		return;
	}
	if (m->len > r->chunk_cap) {
		uint8_t *p = realloc(r->chunk_buf, m->len);
		if (p == NULL)
			return; /* the leader resends */
		r->chunk_buf = p;
		r->chunk_cap = m->len;
	}
	if (m->len > 0)
		memcpy(r->chunk_buf, m->data, m->len);
	r->chunk_out = (struct raft_snapshot_chunk){
	    .index = in->index,
	    .term = in->term,
	    .offset = m->offset,
	    .data = r->chunk_buf,
	    .len = m->len,
	    .last = m->done,
	    .config = &in->config,
	};
	in->received += m->len;
	if (m->done)
		in->complete = true; /* answered with done once installed */
	/* Confirmed as soon as written, the last chunk too, so the leader
	 * neither resends it nor waits to fill its window. */
	reply(r, m, false, 0, in->received);
}

int raft_snapshot_installed(struct raft *r, raft_time now, raft_index index,
			    raft_term term, struct raft_update *u)
{
	raft__out_reset(r);
	if (now > r->now)
		r->now = now;
	struct pending_snapshot *in = &r->incoming;
	if (!r->started || r->stopped != NULL || !in->complete ||
	    in->index != index || in->term != term) {
		raft__out_finish(r, u);
		return r->stopped != NULL ? RAFT_ESHUTDOWN : RAFT_EINVAL;
	}
	/* The driver replaced its whole log with the snapshot; so do we. */
	raft__log_restart(&r->log, index, term);
	r->snap_config = in->config;
	r->snap_size = in->received;
	r->commit = r->applied = r->stable = index;
	r->config = in->config;
	r->config_index = index;
	r->config_committed = in->config;
	r->config_committed_index = index;
	in->active = false;
	in->complete = false;
	if (r->leader != 0 && r->role == RAFT_FOLLOWER) {
		struct raft_message *resp = raft__out_message(
		    r, RAFT_MSG_SNAPSHOT_RESP, r->leader, true);
		if (resp != NULL) {
			resp->snap_index = index;
			resp->done = 1;
			resp->index = index;
			resp->offset = r->snap_size;
		}
	}
	raft__out_finish(r, u);
	return RAFT_OK;
}

void raft__snapshot_recv_resp(struct raft *r, const struct raft_message *m)
{
	if (r->role != RAFT_LEADER)
		return;
	struct progress *p = raft__progress_find(r, m->from);
	if (p == NULL)
		return;
	p->last_ack = r->now;
	raft__lease_ack(r, p, m->round);
	if (r->role != RAFT_LEADER || p->state != PROGRESS_SNAPSHOT)
		return;
	if (m->done) {
		if (m->index > raft__log_last_index(&r->log))
			return;
		if (m->index > p->match)
			p->match = m->index;
		p->state = PROGRESS_PROBE;
		p->n_inflight = 0;
		p->next = p->match + 1;
		p->last_progress = r->now;
		raft__replication_maybe_commit(r);
		if (r->role == RAFT_LEADER)
			raft__replication_send(r, p, false);
		return;
	}
	if (m->snap_index != p->snap_index)
		return; /* about an older snapshot */
	if (m->offset > p->snap_acked) {
		p->snap_acked = m->offset; /* progress */
		p->snap_sent_at = r->now;
		p->last_progress = r->now;
	} else if (m->offset < p->snap_acked) {
		/* The follower lost what it had (it restarted): start over
		 * from where it is. */
		p->snap_acked = m->offset;
		p->snap_offset = m->offset;
	}
	if (p->snap_acked >= r->snap_size)
		return; /* all sent: the follower is installing */
	raft__snapshot_send(r, p);
}
