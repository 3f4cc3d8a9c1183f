/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The core's entry points: each takes one event and the current time, and
 * ends by building the update for the driver. */
#include <stdlib.h>
#include <string.h>

#include "raft/codec.h"
#include "raft/core.h"

#ifdef RAFT_SELFCHECK
int raft_planted_bug = RAFT_BUG_NONE;

const char *raft_bug_name(int bug)
{
	static const char *names[RAFT_BUG_COUNT] = {
	    "none",
	    "commit-old-term",
	    "send-before-persist",
	    "double-vote",
	    "skip-noop",
	    "no-step-down",
	    "read-no-quorum",
	    "learner-quorum",
	    "no-truncate",
	    "lease-no-drift",
	    "lease-one-sided",
	    "vote-in-window",
	    "read-stale-round",
	    "config-kept",
	    "step-down-early",
	};
	return bug >= 0 && bug < RAFT_BUG_COUNT ? names[bug] : "?";
}
#endif

const char *raft_strerror(int rv)
{
	switch (rv) {
	case RAFT_OK:
		return "ok";
	case RAFT_ENOMEM:
		return "out of memory";
	case RAFT_ENOTLEADER:
		return "not the leader";
	case RAFT_EBUSY:
		return "a configuration change or transfer is already pending";
	case RAFT_EINVAL:
		return "invalid argument";
	case RAFT_ETOOBIG:
		return "entry too large";
	case RAFT_ENOTFOUND:
		return "no such server";
	case RAFT_ETRANSFER:
		return "leadership transfer in progress";
	case RAFT_ESHUTDOWN:
		return "raft core stopped";
	case RAFT_ENOQUORUM:
		return "the change would leave no voter";
	case RAFT_ESTATE:
		return "not allowed in the current state";
	default:
		return "unknown error";
	}
}

void raft_options_default(struct raft_options *o)
{
	memset(o, 0, sizeof(*o));
	o->election_timeout = 1000;
	o->heartbeat_interval = 100;
	o->max_clock_drift_ppm =
	    50000; /* 5%: timer lateness, not just crystals */
	o->max_append_entries = 256;
	o->max_append_bytes = 1u << 20;
	o->max_inflight = 16;
	o->snapshot_chunk_bytes = 256u * 1024u;
	o->snapshot_chunks_in_flight = 4;
	o->snapshot_trailing = 1024;
	o->transfer_timeout = 2000;
	o->pre_vote = true;
	o->check_quorum = true;
}

struct raft *raft_new(raft_id id, const struct raft_options *o, uint64_t seed)
{
	if (id == 0 || id > RAFT_MAX_NODE_ID || o == NULL)
		return NULL;
	if (o->election_timeout <= 0 || o->heartbeat_interval <= 0 ||
	    o->heartbeat_interval >= o->election_timeout ||
	    o->max_clock_drift_ppm >= 500000 || o->max_append_entries == 0 ||
	    o->max_inflight == 0 || o->max_inflight > INFLIGHT_MAX ||
	    o->snapshot_chunk_bytes == 0 || o->max_append_bytes == 0 ||
	    o->snapshot_chunks_in_flight == 0 ||
	    o->snapshot_chunks_in_flight > 64 ||
	    /* Whatever the core sends must fit the wire encoding. */
	    o->max_append_entries > RAFT_CODEC_MAX_ENTRIES ||
	    o->max_append_bytes > RAFT_MAX_ENTRY_BYTES ||
	    o->snapshot_chunk_bytes > RAFT_MAX_ENTRY_BYTES)
		return NULL;
	struct raft *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->id = id;
	r->opt = *o;
	r->rng = seed ^ 0x9e3779b97f4a7c15ull;
	if (r->rng == 0)
		r->rng = 1;
	raft__log_init(&r->log);
	r->role = RAFT_FOLLOWER;
	return r;
}

void raft_free(struct raft *r)
{
	if (r == NULL)
		return;
	raft__log_close(&r->log);
	free(r->reads);
	free(r->chunk_buf);
	free(r->now_msgs);
	free(r->after_msgs);
	free(r->read_out);
	free(r);
}

uint64_t raft__random(struct raft *r)
{
	/* xorshift64*: deterministic from the seed, good enough for timeouts.
	 */
	uint64_t x = r->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

void raft__reset_election_timer(struct raft *r)
{
	raft_time t = r->opt.election_timeout;
	r->election_deadline =
	    r->now + t + (raft_time)(raft__random(r) % (uint64_t)t);
}

bool raft__is_voter(const struct raft *r, raft_id id)
{
	const struct raft_server *s = raft_config_find(&r->config, id);
	return s != NULL && s->role == RAFT_VOTER;
}

bool raft__self_voter(const struct raft *r)
{
	return r->config_index != 0 && raft__is_voter(r, r->id);
}

void raft__core_stop(struct raft *r, const char *why)
{
	if (r->stopped != NULL)
		return;
	r->stopped = why;
	if (r->role != RAFT_FOLLOWER || r->leader != 0)
		raft__role_become_follower(r, r->term, 0);
}

/* Every entry point starts here: time only moves forward, and a leader that
 * lost its quorum steps down before it handles anything else. */
int raft__begin_event(struct raft *r, raft_time now)
{
	raft__out_reset(r);
	if (now > r->now)
		r->now = now;
	if (!r->started)
		return RAFT_ESTATE;
	if (r->stopped != NULL)
		return RAFT_ESHUTDOWN;
	raft__role_step_down_if_no_quorum(r);
	return RAFT_OK;
}

static int finish(struct raft *r, struct raft_update *u, int rv)
{
	if (u != NULL)
		raft__out_finish(r, u);
	return rv;
}

int raft_start(struct raft *r, raft_time now,
	       const struct raft_persisted_state *st, struct raft_update *u)
{
	raft__out_reset(r);
	if (r->started)
		return finish(r, u, RAFT_ESTATE);
	r->now = now;
	r->start_time = now;
	if (st != NULL) {
		r->term = st->term;
		r->vote = st->vote;
		if (st->snap_index != 0) {
			if (st->snap_config == NULL)
				return finish(r, u, RAFT_EINVAL);
			raft__log_restart(&r->log, st->snap_index,
					  st->snap_term);
			r->snap_config = *st->snap_config;
			r->snap_size = st->snap_size;
			r->commit = r->applied = st->snap_index;
		}
		if (raft__log_reserve(&r->log, st->n_entries) != RAFT_OK)
			return finish(r, u, RAFT_ENOMEM);
		for (size_t i = 0; i < st->n_entries; i++) {
			const struct raft_entry *e = &st->entries[i];
			if (e->index != raft__log_last_index(&r->log) + 1 ||
			    e->term < raft__log_last_term(&r->log)) {
				raft__log_close(&r->log);
				return finish(r, u, RAFT_EINVAL);
			}
			if (raft__log_append_copy(&r->log, e) != RAFT_OK) {
				raft__log_close(&r->log);
				return finish(r, u, RAFT_ENOMEM);
			}
		}
		r->stable = raft__log_last_index(&r->log);
		/* A crash between an append and the term/vote write leaves
		 * entries of a term the metadata does not hold yet. Nothing was
		 * voted in that term from unpersisted state, so adopt it with
		 * no vote. */
		if (raft__log_last_term(&r->log) > r->term) {
			r->term = raft__log_last_term(&r->log);
			r->vote = 0;
			raft__out_hard_state(r);
		}
		raft__membership_rebuild(r);
	}
	/* What raft_start adopted above (entries newer than the metadata) is
	 * not on disk until the driver says so. */
	r->durable_term = st != NULL ? st->term : 0;
	r->started = true;
	r->role = RAFT_FOLLOWER;
	raft__reset_election_timer(r);
	/* A single voter that is the whole cluster elects itself at once. */
	if (raft__self_voter(r) && raft_config_voters(&r->config) == 1)
		raft__election_start(r, false);
	return finish(r, u, RAFT_OK);
}

int raft_bootstrap(struct raft *r, raft_time now, const struct raft_config *cfg,
		   struct raft_update *u)
{
	int rv = raft__begin_event(r, now);
	if (rv != RAFT_OK)
		return finish(r, u, rv);
	const struct raft_server *self = raft_config_find(cfg, r->id);
	if (self == NULL || self->role != RAFT_VOTER || cfg->n == 0 ||
	    cfg->n > RAFT_MAX_SERVERS)
		return finish(r, u, RAFT_EINVAL);
	/* An empty log with no configuration: a new node, or one whose first
	 * bootstrap did not reach the disk before a crash. */
	if (raft__log_last_index(&r->log) != 0 || r->log.snap_index != 0 ||
	    r->config_index != 0)
		return finish(r, u, RAFT_ESTATE);
	size_t len = raft_config_encoded_size(cfg);
	uint8_t *buf = malloc(len);
	if (buf == NULL)
		return finish(r, u, RAFT_ENOMEM);
	raft_config_encode(cfg, buf);
	/* Entry 1 in the node's term (1 for a new node); the term is stored
	 * with it so that the log never holds an entry newer than the term. */
	if (r->term == 0) {
		r->term = 1;
		r->vote = 0;
		raft__out_hard_state(r);
	}
	rv = raft__log_append(&r->log, r->term, RAFT_ENTRY_CONFIG,
			      RAFT_VERSION_MIN, buf, (uint32_t)len);
	if (rv != RAFT_OK)
		return finish(r, u, rv);
	raft__out_entries_appended(r, 1);
	raft__membership_entry_appended(r, raft__log_get(&r->log, 1));
	raft__reset_election_timer(r);
	if (raft_config_voters(&r->config) == 1)
		raft__election_start(r, false);
	return finish(r, u, RAFT_OK);
}

int raft_tick(struct raft *r, raft_time now, struct raft_update *u)
{
	int rv = raft__begin_event(r, now);
	if (rv != RAFT_OK)
		return finish(r, u, rv);
	if (r->role == RAFT_LEADER) {
		if (r->now >= r->heartbeat_due) {
			raft__lease_new_round(r);
			raft__replication_broadcast(r, true);
		}
		raft__replication_tick(r);
		raft__transfer_tick(r);
		raft__membership_maybe_promote(r);
	} else if (r->now >= r->election_deadline) {
		if (raft__self_voter(r) && r->incoming.complete == false)
			raft__election_start(r, false);
		else
			raft__reset_election_timer(r);
	}
	return finish(r, u, RAFT_OK);
}

int raft_step(struct raft *r, raft_time now, const struct raft_message *m,
	      struct raft_update *u)
{
	int rv = raft__begin_event(r, now);
	if (rv != RAFT_OK)
		return finish(r, u, rv);
	if (m == NULL || m->to != r->id || m->from == 0 ||
	    m->from > RAFT_MAX_NODE_ID || m->from == r->id || m->type == 0 ||
	    m->type > RAFT_MSG_TYPE_MAX)
		return finish(r, u, RAFT_EINVAL);

	if (m->version >= RAFT_VERSION_MIN)
		r->peer_version[m->from <= RAFT_MAX_NODE_ID ? m->from : 0] =
		    m->version;

	/* Vote requests are judged before terms move (section 9.6: a node that
	 * hears from a live leader ignores them), so requests first. */
	if (m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE) {
		raft__election_recv_request(r, m);
		return finish(r, u, RAFT_OK);
	}
	if (m->term > r->term) {
		/* A rejected pre-vote carries the rejecter's term: adopt it. A
		 * granted pre-vote carries the proposed term: do not. */
		if (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject)
			goto dispatch;
		raft_id leader = (m->type == RAFT_MSG_APPEND ||
				  m->type == RAFT_MSG_SNAPSHOT ||
				  m->type == RAFT_MSG_TIMEOUT_NOW)
				     ? m->from
				     : 0;
		raft__role_become_follower(r, m->term, leader);
	} else if (m->term < r->term) {
		/* A stale leader learns the new term from our rejection. */
		if (m->type == RAFT_MSG_APPEND ||
		    m->type == RAFT_MSG_SNAPSHOT) {
			struct raft_message *resp = raft__out_message(
			    r, RAFT_MSG_APPEND_RESP, m->from, true);
			if (resp != NULL) {
				resp->reject = 1;
				resp->index = raft__log_last_index(&r->log);
			}
		}
		return finish(r, u, RAFT_OK);
	}
dispatch:
	switch (m->type) {
	case RAFT_MSG_APPEND:
		raft__replication_recv_append(r, m);
		break;
	case RAFT_MSG_APPEND_RESP:
		raft__replication_recv_append_resp(r, m);
		break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		raft__election_recv_response(r, m);
		break;
	case RAFT_MSG_SNAPSHOT:
		raft__snapshot_recv(r, m);
		break;
	case RAFT_MSG_SNAPSHOT_RESP:
		raft__snapshot_recv_resp(r, m);
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		if (r->role != RAFT_LEADER && raft__self_voter(r) &&
		    !r->incoming.complete)
			raft__election_start(r, true);
		break;
	}
	return finish(r, u, RAFT_OK);
}

int raft_persisted(struct raft *r, raft_time now, raft_index index,
		   raft_term term, struct raft_update *u)
{
	int rv = raft__begin_event(r, now);
	if (rv != RAFT_OK)
		return finish(r, u, rv);
	/* A report for entries that were truncated meanwhile says nothing about
	 * the entries now at those indexes. */
	if (index > raft__log_last_index(&r->log) || index <= r->stable ||
	    raft__log_term_at(&r->log, index) != term)
		return finish(r, u, RAFT_OK);
	r->stable = index;
	if (r->role == RAFT_LEADER)
		raft__replication_maybe_commit(r);
	return finish(r, u, RAFT_OK);
}

int raft_hard_state_persisted(struct raft *r, raft_time now, raft_term term,
			      struct raft_update *u)
{
	int rv = raft__begin_event(r, now);
	if (rv == RAFT_OK && term > r->durable_term && term <= r->term)
		r->durable_term = term;
	return finish(r, u, rv);
}

int raft_storage_failed(struct raft *r, raft_time now, const char *why,
			struct raft_update *u)
{
	raft__begin_event(r, now);
	raft__core_stop(r, why != NULL ? why : "storage failed");
	return finish(r, u, RAFT_OK);
}

int raft_propose(struct raft *r, raft_time now, const void *data, uint32_t len,
		 raft_index *index, struct raft_update *u)
{
	int rv = raft__begin_event(r, now);
	if (rv != RAFT_OK)
		return finish(r, u, rv);
	if (r->role != RAFT_LEADER)
		return finish(r, u, RAFT_ENOTLEADER);
	if (r->transfer_to != 0)
		return finish(r, u, RAFT_ETRANSFER);
	if (len > RAFT_MAX_ENTRY_BYTES || (len > 0 && data == NULL))
		return finish(r, u,
			      len > RAFT_MAX_ENTRY_BYTES ? RAFT_ETOOBIG
							 : RAFT_EINVAL);
	uint8_t *copy = NULL;
	if (len > 0) {
		copy = malloc(len);
		if (copy == NULL)
			return finish(r, u, RAFT_ENOMEM);
		memcpy(copy, data, len);
	}
	rv = raft__log_append(&r->log, r->term, RAFT_ENTRY_COMMAND,
			      raft_cluster_version(r), copy, len);
	if (rv != RAFT_OK)
		return finish(r, u, rv);
	raft_index i = raft__log_last_index(&r->log);
	raft__out_entries_appended(r, i);
	if (index != NULL)
		*index = i;
	raft__replication_broadcast(r, false);
	raft__replication_maybe_commit(r);
	return finish(r, u, RAFT_OK);
}

int raft_propose_batch(struct raft *r, raft_time now,
		       const struct raft_command *cmds, size_t n,
		       raft_index *first, size_t *n_taken,
		       struct raft_update *u)
{
	*n_taken = 0;
	int rv = raft__begin_event(r, now);
	if (rv != RAFT_OK)
		return finish(r, u, rv);
	if (r->role != RAFT_LEADER)
		return finish(r, u, RAFT_ENOTLEADER);
	if (r->transfer_to != 0)
		return finish(r, u, RAFT_ETRANSFER);
	raft_index start = raft__log_last_index(&r->log) + 1;
	for (size_t i = 0; i < n; i++) {
		uint32_t len = cmds[i].len;
		if (len > RAFT_MAX_ENTRY_BYTES ||
		    (len > 0 && cmds[i].data == NULL)) {
			rv = len > RAFT_MAX_ENTRY_BYTES ? RAFT_ETOOBIG
							: RAFT_EINVAL;
			break;
		}
		/* Taken without a copy: the log owns it from here on. */
		if (raft__log_reserve(&r->log, 1) != RAFT_OK) {
			rv = RAFT_ENOMEM;
			break;
		}
		(void)raft__log_append(&r->log, r->term, RAFT_ENTRY_COMMAND,
				       raft_cluster_version(r),
				       len > 0 ? cmds[i].data : NULL, len);
		(*n_taken)++;
	}
	if (first != NULL)
		*first = start;
	if (*n_taken > 0) {
		/* Those taken are replicated even if a later one failed. */
		raft__out_entries_appended(r, start);
		raft__replication_broadcast(r, false);
		raft__replication_maybe_commit(r);
	}
	return finish(r, u, rv);
}

int raft_snapshot_taken(struct raft *r, raft_time now, raft_index index,
			uint64_t size, struct raft_update *u)
{
	int rv = raft__begin_event(r, now);
	if (rv != RAFT_OK)
		return finish(r, u, rv);
	if (index > r->applied || index <= r->log.snap_index ||
	    raft__log_get(&r->log, index) == NULL)
		return finish(r, u, RAFT_EINVAL);
	struct raft_config cfg;
	if (raft_config_at(r, index, &cfg) != RAFT_OK)
		return finish(r, u, RAFT_EINVAL);
	r->snap_config = cfg;
	r->snap_size = size;
	r->log.snap_term = raft__log_term_at(&r->log, index);
	r->log.snap_index = index;
	if (index > r->opt.snapshot_trailing)
		raft__log_compact(&r->log, index - r->opt.snapshot_trailing);
	return finish(r, u, RAFT_OK);
}

/* Inspection. */
enum raft_role raft_role(const struct raft *r)
{
	return r->role;
}
raft_id raft_id_of(const struct raft *r)
{
	return r->id;
}
raft_id raft_leader(const struct raft *r)
{
	return r->leader;
}
raft_term raft_current_term(const struct raft *r)
{
	return r->term;
}
raft_id raft_voted_for(const struct raft *r)
{
	return r->vote;
}
raft_index raft_commit_index(const struct raft *r)
{
	return r->commit;
}
raft_index raft_last_applied(const struct raft *r)
{
	return r->applied;
}
raft_index raft_last_index(const struct raft *r)
{
	return raft__log_last_index(&r->log);
}
raft_index raft_stable_index(const struct raft *r)
{
	return r->stable;
}
raft_index raft_snapshot_index(const struct raft *r)
{
	return r->log.snap_index;
}
raft_term raft_snapshot_term(const struct raft *r)
{
	return r->log.snap_term;
}
raft_term raft_term_at(const struct raft *r, raft_index index)
{
	return raft__log_term_at(&r->log, index);
}
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index)
{
	return raft__log_get(&r->log, index);
}
const struct raft_config *raft_config(const struct raft *r)
{
	return &r->config;
}
const struct raft_config *raft_committed_config(const struct raft *r)
{
	return &r->config_committed;
}
bool raft_has_config(const struct raft *r)
{
	return r->config_index != 0;
}
raft_time raft_lease_until(const struct raft *r)
{
	return r->role == RAFT_LEADER && r->transfer_to == 0 ? r->lease_until
							     : 0;
}
bool raft_transfer_pending(const struct raft *r)
{
	return r->transfer_to != 0;
}
bool raft_snapshot_in_flight(const struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return false;
	for (uint32_t i = 0; i < r->n_progress; i++)
		if (r->progress[i].state == PROGRESS_SNAPSHOT)
			return true;
	return false;
}
raft_time raft_election_timeout(const struct raft *r)
{
	return r->opt.election_timeout;
}

const char *raft_stop_reason(const struct raft *r)
{
	return r->stopped;
}

uint8_t raft_cluster_version(const struct raft *r)
{
	uint8_t v = RAFT_VERSION_MAX;
	for (uint32_t i = 0; i < r->config.n; i++) {
		const struct raft_server *s = &r->config.servers[i];
		if (s->role != RAFT_VOTER || s->id == r->id)
			continue;
		uint8_t pv = r->peer_version[s->id] != 0
				 ? r->peer_version[s->id]
				 : RAFT_VERSION_MIN;
		if (pv < v)
			v = pv;
	}
	return v;
}
