/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Building the struct raft_update that each call hands to the driver.
 * An outgoing message that cannot be allocated is dropped: to Raft that is
 * one more lost message, which the protocol already tolerates. */
#include <stdlib.h>
#include <string.h>

#include "raft/core.h"

static struct raft_message *grow(struct raft_message **arr, size_t *n,
				 size_t *cap)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct raft_message *p = realloc(*arr, ncap * sizeof(*p));
		if (p == NULL)
			return NULL;
		*arr = p;
		*cap = ncap;
	}
	struct raft_message *m = &(*arr)[(*n)++];
	memset(m, 0, sizeof(*m));
	return m;
}

struct raft_message *raft__out_message(struct raft *r, uint8_t type, raft_id to,
				       bool after_persist)
{
	/* Nothing may carry a term or vote this very call has not persisted. */
	if (r->hs_changed && !RAFT_BUG(SEND_BEFORE_PERSIST))
		after_persist = true;
	struct raft_message *m =
	    after_persist ? grow(&r->after_msgs, &r->n_after, &r->cap_after)
			  : grow(&r->now_msgs, &r->n_now, &r->cap_now);
	if (m == NULL)
		return NULL;
	m->type = type;
	m->version = RAFT_VERSION_MAX;
	m->from = r->id;
	m->to = to;
	m->term = r->term;
	return m;
}

void raft__out_hard_state(struct raft *r)
{
	r->hs_changed = true;
}

void raft__out_entries_appended(struct raft *r, raft_index first)
{
	if (r->persist_from == 0 || first < r->persist_from)
		r->persist_from = first;
}

void raft__out_truncated(struct raft *r, raft_index from)
{
	if (r->truncate_from == 0 || from < r->truncate_from)
		r->truncate_from = from;
	if (r->persist_from >= from)
		r->persist_from = 0;
	if (r->stable >= from)
		r->stable = from - 1;
}

void raft__out_read(struct raft *r, uint64_t id, raft_index index, int status)
{
	if (r->n_read_out == r->cap_read_out) {
		size_t ncap = r->cap_read_out ? r->cap_read_out * 2 : 8;
		struct raft_read *p = realloc(r->read_out, ncap * sizeof(*p));
		if (p == NULL)
			return; /* the caller's read times out instead */
		r->read_out = p;
		r->cap_read_out = ncap;
	}
	r->read_out[r->n_read_out++] =
	    (struct raft_read){.id = id, .index = index, .status = status};
}

void raft__out_reset(struct raft *r)
{
	r->n_now = 0;
	r->n_after = 0;
	r->n_read_out = 0;
	r->hs_changed = false;
	r->truncate_from = 0;
	r->persist_from = 0;
	r->apply_from = 0;
	r->apply_to = 0;
	r->role_changed = false;
	r->chunk_out.data = NULL;
	r->chunk_out.len = 0;
	r->chunk_out.index = 0;
}

/* Entries inside outgoing AppendEntries point into the log; they are resolved
 * only here because the log array may move while a call runs. */
static void resolve_entries(struct raft *r, struct raft_message *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (m[i].type != RAFT_MSG_APPEND || m[i].n_entries == 0)
			continue;
		const struct raft_entry *e =
		    raft__log_get(&r->log, m[i].prev_index + 1);
		const struct raft_entry *last =
		    raft__log_get(&r->log, m[i].prev_index + m[i].n_entries);
		if (e == NULL || last == NULL) {
			m[i].n_entries = 0; /* compacted meanwhile */
			continue;
		}
		m[i].entries = (struct raft_entry *)e;
	}
}

void raft__out_finish(struct raft *r, struct raft_update *u)
{
	/* Hand out committed entries that were not handed out yet; stop at an
	 * entry this build cannot understand, never skip it. */
	raft_index upto = r->commit;
	if (upto > raft__log_last_index(&r->log))
		upto = raft__log_last_index(&r->log);
	if (r->stopped == NULL && upto > r->applied) {
		raft_index from = r->applied + 1;
		raft_index i = from;
		for (; i <= upto; i++) {
			const struct raft_entry *e = raft__log_get(&r->log, i);
			if (e == NULL)
				break;
			if (e->version > RAFT_VERSION_MAX ||
			    e->type < RAFT_ENTRY_NOOP ||
			    e->type > RAFT_ENTRY_CONFIG) {
				raft__core_stop(
				    r, "committed entry of unknown type or "
				       "version: upgrade this node");
				break;
			}
		}
		if (i > from) {
			r->apply_from = from;
			r->apply_to = i - 1;
			r->applied = i - 1;
		}
	}
	resolve_entries(r, r->now_msgs, r->n_now);
	resolve_entries(r, r->after_msgs, r->n_after);

	memset(u, 0, sizeof(*u));
	u->send_now = r->n_now ? r->now_msgs : NULL;
	u->n_send_now = r->n_now;
	u->hard_state_changed = r->hs_changed;
	u->term = r->term;
	u->vote = r->vote;
	u->truncate_from = r->truncate_from;
	if (r->persist_from != 0 &&
	    r->persist_from <= raft__log_last_index(&r->log)) {
		u->entries = raft__log_get(&r->log, r->persist_from);
		u->n_entries = (size_t)(raft__log_last_index(&r->log) -
					r->persist_from + 1);
	}
	if (r->chunk_out.index != 0)
		u->snapshot_chunk = &r->chunk_out;
	u->send_after_persist = r->n_after ? r->after_msgs : NULL;
	u->n_send_after_persist = r->n_after;
	if (r->apply_to >= r->apply_from && r->apply_from != 0) {
		u->apply = raft__log_get(&r->log, r->apply_from);
		u->n_apply = (size_t)(r->apply_to - r->apply_from + 1);
	}
	u->reads = r->n_read_out ? r->read_out : NULL;
	u->n_reads = r->n_read_out;
	u->role_changed = r->role_changed;
	u->role = r->role;
	u->leader = r->leader;
	u->error = r->stopped;
}
