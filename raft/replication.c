/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Log replication (Raft paper, section 5.3): AppendEntries out and in,
 * per-follower progress, and the commit rule of section 5.4.2. */
#include <stdlib.h>
#include <string.h>

#include "raft/core.h"

struct progress *raft__progress_find(struct raft *r, raft_id id)
{
	for (uint32_t i = 0; i < r->n_progress; i++)
		if (r->progress[i].id == id)
			return &r->progress[i];
	return NULL;
}

static void progress_init(struct raft *r, struct progress *p, raft_id id)
{
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->state = PROGRESS_PROBE;
	p->next = raft__log_last_index(&r->log) + 1;
	p->last_progress = r->now;
}

void raft__progress_reset_all(struct raft *r)
{
	r->n_progress = 0;
	raft__progress_sync_with_config(r);
}

static void send_heartbeat(struct raft *r, struct progress *p);

static void keep_progress(struct raft *r, struct progress *keep, uint32_t *n,
			  raft_id id)
{
	if (id == r->id || *n == RAFT_MAX_SERVERS)
		return;
	for (uint32_t k = 0; k < *n; k++)
		if (keep[k].id == id)
			return;
	struct progress *old = raft__progress_find(r, id);
	if (old != NULL)
		keep[*n] = *old;
	else
		progress_init(r, &keep[*n], id);
	(*n)++;
}

/* After a configuration change on the leader: track new servers, keep what
 * is known of the others. A server being removed is still replicated to
 * until its removal commits, so that it learns it was removed; it never
 * counts toward a quorum (those follow the latest configuration). */
void raft__progress_sync_with_config(struct raft *r)
{
	struct progress keep[RAFT_MAX_SERVERS];
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->config.n; i++)
		keep_progress(r, keep, &n, r->config.servers[i].id);
	for (uint32_t i = 0; i < r->config_committed.n; i++)
		keep_progress(r, keep, &n, r->config_committed.servers[i].id);
	/* Whoever is in a configuration again is not leaving any more. */
	for (uint32_t k = 0; k < n; k++)
		keep[k].leaving = false;
	for (uint32_t i = 0; i < r->n_progress; i++)
		if (r->progress[i].leaving)
			keep_progress(r, keep, &n, r->progress[i].id);
	memcpy(r->progress, keep, n * sizeof(keep[0]));
	r->n_progress = n;
}

void raft__progress_drop(struct raft *r, raft_id id)
{
	for (uint32_t i = 0; i < r->n_progress; i++) {
		if (r->progress[i].id != id)
			continue;
		memmove(&r->progress[i], &r->progress[i + 1],
			(r->n_progress - i - 1) * sizeof(r->progress[0]));
		r->n_progress--;
		return;
	}
}

/* A leaving server that holds its removal learns that it committed. */
static bool maybe_release(struct raft *r, struct progress *p)
{
	if (!p->leaving)
		return false;
	if (p->match >= p->removal_index ||
	    r->now - p->leaving_since >= 10 * r->opt.election_timeout) {
		send_heartbeat(r, p);
		raft__progress_drop(r, p->id);
		return true;
	}
	return false;
}

/* The removal of these servers committed: tell each the commit index once
 * more (so it applies the configuration without itself), then forget it. */
void raft__progress_release_removed(struct raft *r)
{
	for (uint32_t i = 0; i < r->n_progress; i++) {
		struct progress *p = &r->progress[i];
		if (p->leaving || raft_config_find(&r->config, p->id) != NULL ||
		    raft_config_find(&r->config_committed, p->id) != NULL)
			continue;
		p->leaving = true;
		p->removal_index = r->config_committed_index;
		p->leaving_since = r->now;
	}
	for (uint32_t i = 0; i < r->n_progress;)
		if (!maybe_release(r, &r->progress[i]))
			i++;
}

static void probe(struct raft *r, struct progress *p)
{
	p->state = PROGRESS_PROBE;
	p->n_inflight = 0;
	p->next = p->match + 1;
	p->last_progress = r->now;
}

/* How many entries from `next` fit in one message. */
static uint32_t batch_size(struct raft *r, raft_index next)
{
	raft_index last = raft__log_last_index(&r->log);
	uint32_t n = 0;
	uint64_t bytes = 0;
	while (next + n <= last && n < r->opt.max_append_entries) {
		const struct raft_entry *e = raft__log_get(&r->log, next + n);
		if (n > 0 && bytes + e->len > r->opt.max_append_bytes)
			break;
		bytes += e->len;
		n++;
	}
	return n;
}

static struct raft_message *append_message(struct raft *r, raft_id to,
					   raft_index prev, uint32_t n)
{
	struct raft_message *m =
	    raft__out_message(r, RAFT_MSG_APPEND, to, false);
	if (m == NULL)
		return NULL;
	m->prev_index = prev;
	m->prev_term = raft__log_term_at(&r->log, prev);
	m->n_entries = n; /* entries are resolved when the update is built */
	m->commit = r->commit < prev + n ? r->commit : prev + n;
	m->round = r->round;
	return m;
}

/* A heartbeat names an index the follower is known to hold, so it never
 * causes a rejection; it carries the round for the lease and the commit. */
static void send_heartbeat(struct raft *r, struct progress *p)
{
	raft_index prev = p->match;
	if (prev != 0 && raft__log_term_at(&r->log, prev) == 0)
		prev = 0;
	append_message(r, p->id, prev, 0);
	p->last_send = r->now;
}

void raft__replication_send(struct raft *r, struct progress *p, bool heartbeat)
{
	if (p->state == PROGRESS_SNAPSHOT) {
		if (heartbeat)
			send_heartbeat(r, p);
		return;
	}
	raft_index prev = p->next - 1;
	if (p->next < raft__log_first_index(&r->log) ||
	    (prev != 0 && raft__log_term_at(&r->log, prev) == 0)) {
		/* The entries it needs were compacted: send the snapshot. */
		p->state = PROGRESS_SNAPSHOT;
		p->n_inflight = 0;
		p->snap_index = 0;
		p->last_progress = r->now;
		raft__snapshot_send(r, p);
		return;
	}
	if (heartbeat) {
		send_heartbeat(r, p);
		return;
	}
	if (p->state == PROGRESS_PROBE) {
		/* One probe at a time; a lost one is resent after a heartbeat.
		 */
		if (p->n_inflight > 0 &&
		    r->now - p->last_send < r->opt.heartbeat_interval)
			return;
		uint32_t n = batch_size(r, p->next);
		if (append_message(r, p->id, prev, n) == NULL)
			return;
		p->n_inflight = 1;
		p->inflight[0] = prev + n;
		p->last_send = r->now;
		return;
	}
	/* Replicate: pipeline batches within the in-flight window. */
	while (p->n_inflight < r->opt.max_inflight &&
	       p->next <= raft__log_last_index(&r->log)) {
		prev = p->next - 1;
		uint32_t n = batch_size(r, p->next);
		if (append_message(r, p->id, prev, n) == NULL)
			return;
		p->inflight[p->n_inflight++] = prev + n;
		p->next = prev + n + 1;
		p->last_send = r->now;
	}
}

void raft__replication_broadcast(struct raft *r, bool heartbeat)
{
	for (uint32_t i = 0; i < r->n_progress; i++)
		raft__replication_send(r, &r->progress[i], heartbeat);
	if (heartbeat)
		r->heartbeat_due = r->now + r->opt.heartbeat_interval;
}

void raft__replication_tick(struct raft *r)
{
	for (uint32_t i = 0; i < r->n_progress;)
		if (!maybe_release(r, &r->progress[i]))
			i++;
	for (uint32_t i = 0; i < r->n_progress; i++) {
		struct progress *p = &r->progress[i];
		switch (p->state) {
		case PROGRESS_REPLICATE:
			/* Batches lost on the way: start over from the match.
			 */
			if (p->next > p->match + 1 &&
			    r->now - p->last_progress >=
				r->opt.election_timeout / 2)
				probe(r, p);
			break;
		case PROGRESS_SNAPSHOT:
			raft__snapshot_tick(r, p);
			continue;
		default:
			break;
		}
		if (p->next <= raft__log_last_index(&r->log))
			raft__replication_send(r, p, false);
	}
}

void raft__replication_set_commit(struct raft *r, raft_index commit)
{
	if (commit <= r->commit)
		return;
	raft_index old = r->commit;
	r->commit = commit;
	raft__membership_commit_advanced(r, old);
	raft__reads_commit_advanced(r);
}

static int cmp_desc(const void *a, const void *b)
{
	raft_index x = *(const raft_index *)a, y = *(const raft_index *)b;
	return x < y ? 1 : (x > y ? -1 : 0);
}

/* The highest index stored by a majority of voters. The leader counts
 * itself only for what it has made durable. */
raft_index raft__quorum_match_index(const struct raft *r)
{
	raft_index m[RAFT_MAX_SERVERS];
	unsigned n = 0, voters = 0;
	for (uint32_t i = 0; i < r->config.n; i++) {
		const struct raft_server *s = &r->config.servers[i];
		bool voter = s->role == RAFT_VOTER;
		if (voter)
			voters++;
		else if (!RAFT_BUG(LEARNER_QUORUM))
			continue;
		if (s->id == r->id) {
			m[n++] = r->stable;
		} else {
			const struct progress *p = NULL;
			for (uint32_t j = 0; j < r->n_progress; j++)
				if (r->progress[j].id == s->id)
					p = &r->progress[j];
			m[n++] = p != NULL ? p->match : 0;
		}
	}
	if (voters == 0)
		return 0;
	qsort(m, n, sizeof(m[0]), cmp_desc);
	return m[voters / 2];
}

void raft__replication_maybe_commit(struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return;
	raft_index q = raft__quorum_match_index(r);
	if (q <= r->commit)
		return;
	/* Section 5.4.2: only an entry of the current term commits by counting
	 * replicas; earlier ones commit with it (figure 8). */
	if (raft__log_term_at(&r->log, q) != r->term &&
	    !RAFT_BUG(COMMIT_OLD_TERM))
		return;
	raft__replication_set_commit(r, q);
}

static void reply_append(struct raft *r, const struct raft_message *m,
			 bool reject, raft_index index, raft_term hint_term)
{
	/* An acknowledgement of entries already on disk, in a term already on
	 * disk, depends on no pending write: it leaves at once, so that a slow
	 * disk (a large snapshot being written) delays no heartbeat answer. */
	bool durable =
	    !reject && index <= r->stable && r->durable_term == r->term;
	bool after = !durable && !RAFT_BUG(SEND_BEFORE_PERSIST);
	struct raft_message *resp =
	    raft__out_message(r, RAFT_MSG_APPEND_RESP, m->from, after);
	if (resp == NULL)
		return;
	resp->reject = reject;
	resp->index = index;
	resp->hint_term = hint_term;
	resp->prev_index = m->prev_index;
	resp->round = m->round;
}

void raft__replication_recv_append(struct raft *r, const struct raft_message *m)
{
	if (r->role == RAFT_LEADER)
		return; /* two leaders in one term cannot happen */
	if (r->role != RAFT_FOLLOWER || r->leader != m->from)
		raft__role_become_follower(r, m->term, m->from);
	r->leader_contact = r->now;
	raft__reset_election_timer(r);

	if (r->incoming.complete) {
		reply_append(r, m, true, raft__log_last_index(&r->log), 0);
		return;
	}
	if (m->n_entries > 0 && m->entries == NULL)
		return;
	raft_index prev = m->prev_index;
	uint32_t skip = 0;
	/* Entries up to our commit index are committed, hence identical to the
	 * leader's: skip them (they may be compacted here). */
	if (prev < r->commit) {
		raft_index upto = r->commit - prev;
		skip = upto < m->n_entries ? (uint32_t)upto : m->n_entries;
		prev = r->commit;
		if (skip == m->n_entries) {
			reply_append(r, m, false, m->prev_index + m->n_entries,
				     0);
			return;
		}
	} else if (raft__log_term_at(&r->log, prev) != m->prev_term ||
		   (prev > 0 && m->prev_term == 0)) {
		/* Section 5.3 with fast back-tracking: tell the leader where
		 * our log may diverge so it can skip a whole term at once. */
		raft_index last = raft__log_last_index(&r->log);
		if (prev > last) {
			reply_append(r, m, true, last,
				     raft__log_last_term(&r->log));
		} else {
			raft_index hint = raft__log_find_conflict(&r->log, prev,
								  m->prev_term);
			if (hint < r->commit)
				hint = r->commit;
			reply_append(r, m, true, hint,
				     raft__log_term_at(&r->log, hint));
		}
		return;
	}

	raft_index matched = prev;
	for (uint32_t k = skip; k < m->n_entries; k++) {
		const struct raft_entry *e = &m->entries[k];
		raft_index idx = m->prev_index + 1 + k;
		if (e->len > RAFT_MAX_ENTRY_BYTES ||
		    (e->len > 0 && e->data == NULL))
			break;
		if (idx <= raft__log_last_index(&r->log)) {
			if (raft__log_term_at(&r->log, idx) == e->term ||
			    RAFT_BUG(NO_TRUNCATE)) {
				matched = idx;
				continue;
			}
			if (idx <= r->commit) {
				raft__core_stop(
				    r, "leader sent an entry that conflicts "
				       "with a committed one");
				return;
			}
			/* Section 5.3: delete the conflicting entry and all
			 * that follow it. */
			bool had_config = r->config_index >= idx;
			raft__log_truncate(&r->log, idx);
			raft__out_truncated(r, idx);
			if (had_config && !RAFT_BUG(CONFIG_KEPT))
				raft__membership_rebuild(r);
		}
		if (e->term > r->term || e->term < raft__log_last_term(&r->log))
			break; /* malformed: refuse the rest */
		if (raft__log_append_copy(&r->log, e) != RAFT_OK)
			break; /* out of memory: acknowledge what we took */
		const struct raft_entry *stored = raft__log_get(&r->log, idx);
		raft__out_entries_appended(r, idx);
		matched = idx;
		if (stored->type == RAFT_ENTRY_CONFIG)
			raft__membership_entry_appended(r, stored);
		if (r->stopped != NULL)
			return;
	}
	reply_append(r, m, false, matched, 0);
	raft_index commit = m->commit < matched ? m->commit : matched;
	raft__replication_set_commit(r, commit);
}

void raft__replication_recv_append_resp(struct raft *r,
					const struct raft_message *m)
{
	if (r->role != RAFT_LEADER)
		return;
	struct progress *p = raft__progress_find(r, m->from);
	if (p == NULL)
		return;
	p->last_ack = r->now;
	raft__lease_ack(r, p, m->round);
	if (r->role != RAFT_LEADER)
		return;
	if (m->reject) {
		if (p->state == PROGRESS_SNAPSHOT)
			return;
		/* Stale rejections: the probe they answer is not the current
		 * one. */
		if (m->prev_index <= p->match)
			return;
		if (p->state == PROGRESS_PROBE && m->prev_index != p->next - 1)
			return;
		raft_index next = m->index + 1;
		if (m->hint_term > 0) {
			raft_index c = raft__log_find_conflict(
			    &r->log, m->index, m->hint_term);
			next = c + 1;
		}
		if (next > m->prev_index)
			next = m->prev_index;
		if (next <= p->match)
			next = p->match + 1;
		p->state = PROGRESS_PROBE;
		p->n_inflight = 0;
		p->next = next;
		p->last_progress = r->now;
		raft__replication_send(r, p, false);
		return;
	}
	raft_index idx = m->index;
	if (idx > raft__log_last_index(&r->log))
		return; /* acknowledges entries we never sent */
	if (idx > p->match) {
		p->match = idx;
		p->last_progress = r->now;
	}
	if (p->next <= idx)
		p->next = idx + 1;
	uint32_t k = 0;
	while (k < p->n_inflight && p->inflight[k] <= idx)
		k++;
	memmove(p->inflight, p->inflight + k,
		(p->n_inflight - k) * sizeof(p->inflight[0]));
	p->n_inflight -= k;
	if (p->state == PROGRESS_PROBE) {
		p->state = PROGRESS_REPLICATE;
		p->n_inflight = 0;
		p->next = p->match + 1;
		p->last_progress = r->now;
	}
	raft__replication_maybe_commit(r);
	if (r->role != RAFT_LEADER || maybe_release(r, p))
		return;
	raft__transfer_maybe_send(r, p);
	raft__membership_maybe_promote(r);
	if (r->role == RAFT_LEADER && p->next <= raft__log_last_index(&r->log))
		raft__replication_send(r, p, false);
}
