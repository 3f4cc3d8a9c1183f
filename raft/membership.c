/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Single-server membership changes (dissertation, chapter 4): one change at
 * a time, effective once appended, and only after the leader committed an
 * entry of its own term. Learners are promoted once they caught up. */
#include <stdlib.h>
#include <string.h>

#include "raft/core.h"

void raft__membership_entry_appended(struct raft *r, const struct raft_entry *e)
{
	if (e->type != RAFT_ENTRY_CONFIG)
		return;
	struct raft_config c;
	if (raft_config_decode(e->data, e->len, &c) != RAFT_OK) {
		raft__core_stop(r, "configuration entry cannot be decoded");
		return;
	}
	r->config = c;
	r->config_index = e->index;
	if (r->role == RAFT_LEADER)
		raft__progress_sync_with_config(r);
}

/* The newest configuration at or below `upto`, from the log or the
 * snapshot. Returns its index, 0 when there is none. */
static raft_index find_config(const struct raft *r, raft_index upto,
			      struct raft_config *out)
{
	if (upto > raft__log_last_index(&r->log))
		upto = raft__log_last_index(&r->log);
	for (raft_index i = upto; i > r->log.offset; i--) {
		const struct raft_entry *e = raft__log_get(&r->log, i);
		if (e->type == RAFT_ENTRY_CONFIG &&
		    raft_config_decode(e->data, e->len, out) == RAFT_OK)
			return i;
	}
	if (r->log.snap_index != 0 && r->snap_config.n > 0 &&
	    upto >= r->log.snap_index) {
		*out = r->snap_config;
		return r->log.snap_index;
	}
	memset(out, 0, sizeof(*out));
	return 0;
}

int raft_config_at(const struct raft *r, raft_index index,
		   struct raft_config *out)
{
	if (index > raft__log_last_index(&r->log) ||
	    (index < r->log.snap_index && index <= r->log.offset))
		return RAFT_EINVAL;
	return find_config(r, index, out) != 0 ? RAFT_OK : RAFT_ENOTFOUND;
}

void raft__membership_rebuild(struct raft *r)
{
	r->config_index =
	    find_config(r, raft__log_last_index(&r->log), &r->config);
	r->config_committed_index =
	    find_config(r, r->commit, &r->config_committed);
	if (r->role == RAFT_LEADER)
		raft__progress_sync_with_config(r);
}

static void leave_after_removal(struct raft *r)
{
	/* Hand over at once to the most up-to-date voter, then step down: the
	 * lease ends before the TimeoutNow leaves. */
	struct progress *best = NULL;
	for (uint32_t i = 0; i < r->n_progress; i++) {
		struct progress *p = &r->progress[i];
		if (!raft__is_voter(r, p->id))
			continue;
		if (best == NULL || p->match > best->match)
			best = p;
	}
	raft__role_become_follower(r, r->term, 0);
	if (best != NULL && best->match == raft__log_last_index(&r->log))
		raft__out_message(r, RAFT_MSG_TIMEOUT_NOW, best->id, false);
}

void raft__membership_commit_advanced(struct raft *r, raft_index old_commit)
{
	if (r->config_index > old_commit && r->config_index <= r->commit) {
		r->config_committed = r->config;
		r->config_committed_index = r->config_index;
		if (r->role == RAFT_LEADER)
			raft__progress_release_removed(r);
		if (r->role == RAFT_LEADER && !raft__is_voter(r, r->id))
			leave_after_removal(r);
		return;
	}
	/* An older configuration than the latest may have committed: look in
	 * the newly committed range only, newest first. */
	for (raft_index i = r->commit; i > old_commit && i > r->log.offset;
	     i--) {
		const struct raft_entry *e = raft__log_get(&r->log, i);
		if (e == NULL || e->type != RAFT_ENTRY_CONFIG)
			continue;
		struct raft_config c;
		if (raft_config_decode(e->data, e->len, &c) == RAFT_OK) {
			r->config_committed = c;
			r->config_committed_index = i;
		}
		return;
	}
}

bool raft__committed_in_term(const struct raft *r)
{
	return r->role == RAFT_LEADER && r->commit >= r->term_start;
}

static int change_allowed(struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	if (r->transfer_to != 0)
		return RAFT_ETRANSFER;
	if (r->config_index > r->commit)
		return RAFT_EBUSY;
	/* The rule whose absence broke single-server changes: commit an entry
	 * of this term first. */
	if (!raft__committed_in_term(r) && !RAFT_BUG(SKIP_NOOP))
		return RAFT_EBUSY;
	return RAFT_OK;
}

int raft__membership_append_config(struct raft *r, const struct raft_config *c)
{
	size_t len = raft_config_encoded_size(c);
	uint8_t *buf = malloc(len);
	if (buf == NULL)
		return RAFT_ENOMEM;
	raft_config_encode(c, buf);
	int rv = raft__log_append(&r->log, r->term, RAFT_ENTRY_CONFIG,
				  RAFT_VERSION_MIN, buf, (uint32_t)len);
	if (rv != RAFT_OK)
		return rv;
	raft_index i = raft__log_last_index(&r->log);
	raft__out_entries_appended(r, i);
	raft__membership_entry_appended(r, raft__log_get(&r->log, i));
	raft__replication_broadcast(r, false);
	raft__replication_maybe_commit(r);
	return RAFT_OK;
}

void raft__membership_maybe_promote(struct raft *r)
{
	if (change_allowed(r) != RAFT_OK)
		return;
	for (uint32_t i = 0; i < r->config.n; i++) {
		const struct raft_server *s = &r->config.servers[i];
		if (s->role != RAFT_LEARNER || !s->promote)
			continue;
		struct progress *p = raft__progress_find(r, s->id);
		if (p == NULL || p->match < r->commit || r->commit == 0)
			continue;
		struct raft_config c = r->config;
		c.servers[i].role = RAFT_VOTER;
		c.servers[i].promote = 0;
		raft__membership_append_config(r, &c);
		return;
	}
}

static int begin_change(struct raft *r, raft_time now)
{
	int rv = raft__begin_event(r, now);
	if (rv != RAFT_OK)
		return rv;
	return change_allowed(r);
}

int raft_add_learner(struct raft *r, raft_time now, raft_id id,
		     const char *address, bool promote, struct raft_update *u)
{
	int rv = begin_change(r, now);
	if (rv == RAFT_OK) {
		if (id == 0 || id > RAFT_MAX_NODE_ID || address == NULL ||
		    strlen(address) >= RAFT_ADDRESS_MAX ||
		    raft_config_find(&r->config, id) != NULL ||
		    r->config.n >= RAFT_MAX_SERVERS) {
			rv = RAFT_EINVAL;
		} else {
			struct raft_config c = r->config;
			struct raft_server *s = &c.servers[c.n++];
			memset(s, 0, sizeof(*s));
			s->id = id;
			s->role = RAFT_LEARNER;
			s->promote = promote ? 1 : 0;
			strcpy(s->address, address);
			rv = raft__membership_append_config(r, &c);
		}
	}
	raft__out_finish(r, u);
	return rv;
}

int raft_remove_server(struct raft *r, raft_time now, raft_id id,
		       struct raft_update *u)
{
	int rv = begin_change(r, now);
	if (rv == RAFT_OK) {
		const struct raft_server *s = raft_config_find(&r->config, id);
		if (s == NULL) {
			rv = RAFT_ENOTFOUND;
		} else if (s->role == RAFT_VOTER &&
			   raft_config_voters(&r->config) <= 1) {
			rv = RAFT_ENOQUORUM;
		} else {
			struct raft_config c = r->config;
			uint32_t k = (uint32_t)(s - r->config.servers);
			memmove(&c.servers[k], &c.servers[k + 1],
				(c.n - k - 1) * sizeof(c.servers[0]));
			c.n--;
			rv = raft__membership_append_config(r, &c);
		}
	}
	raft__out_finish(r, u);
	return rv;
}
