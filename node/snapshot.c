/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Snapshots this node takes of its state machine's copy, in three steps
 * that never hold up the raft thread:
 *
 *   capture  on a worker, while the raft thread holds applies back (it keeps
 *            replicating and answering; what was held back is applied as
 *            soon as the capture returns);
 *   write    on that worker, beside the log: serialize what capture froze
 *            and write it through a storage snapshot writer, in fsynced
 *            slices, while the storage worker goes on with appends;
 *   install  on the storage queue, in order with the log's writes: rename
 *            into place, then compact the log below it.
 *
 * A restore of a received snapshot (jobs.c) replaces the same copy, so the
 * two never overlap: no capture starts while a restore runs, and a restore
 * waits for a capture in progress. */
#include <stdlib.h>
#include <string.h>

#include "node/internal.h"

struct snapshot_task {
	raft_index index;
	raft_term term;
	struct raft_config config;
	void *frozen;
	struct storage_snapshot_writer *writer;
	uint64_t size;
	int result;
	char errmsg[256];
	int64_t started;
};

void ha_node__snapshot_task_free(struct ha_node *n, struct snapshot_task *t)
{
	if (t == NULL)
		return;
	if (t->frozen != NULL)
		n->o.sm.release(t->frozen);
	storage_snapshot_writer_free(t->writer);
	free(t);
}

/* ---- the state machine's copy ---- */

static bool sm_held(const struct ha_node *n)
{
	return n->capturing || n->restoring;
}

bool ha_node__snapshot_apply(struct ha_node *n, const struct raft_entry *e)
{
	if (n->o.sm.apply == NULL)
		return true;
	if (sm_held(n)) {
		struct deferred_apply *d = calloc(1, sizeof(*d));
		if (d == NULL ||
		    (e->len > 0 && (d->data = malloc(e->len)) == NULL)) {
			free(d);
			ha_node__fail(n, "out of memory holding an entry back");
			return false;
		}
		d->index = e->index;
		d->len = e->len;
		if (e->len > 0)
			memcpy(d->data, e->data, e->len);
		if (n->deferred_tail)
			n->deferred_tail->next = d;
		else
			n->deferred_head = d;
		n->deferred_tail = d;
		return true;
	}
	if (n->o.sm.apply(n->o.sm.data, e->index, e->data, e->len) != 0) {
		/* Its copy would differ from every owner's, and so would the
		 * next snapshot: stop instead. */
		char why[96];
		snprintf(why, sizeof(why),
			 "the state machine could not apply entry %llu",
			 (unsigned long long)e->index);
		ha_node__fail(n, why);
		return false;
	}
	n->sm_applied = e->index;
	return true;
}

void ha_node__snapshot_drop_deferred(struct ha_node *n)
{
	while (n->deferred_head != NULL) {
		struct deferred_apply *d = n->deferred_head;
		n->deferred_head = d->next;
		free(d->data);
		free(d);
	}
	n->deferred_tail = NULL;
}

/* The worker is done with the copy: what was held back goes in now, except
 * what a restored snapshot already holds. */
void ha_node__snapshot_catch_up(struct ha_node *n)
{
	if (sm_held(n))
		return;
	bool ok = true;
	while (ok && n->deferred_head != NULL) {
		struct deferred_apply *d = n->deferred_head;
		n->deferred_head = d->next;
		if (n->deferred_head == NULL)
			n->deferred_tail = NULL;
		if (d->index > n->sm_applied) {
			struct raft_entry e = {.index = d->index,
					       .type = RAFT_ENTRY_COMMAND,
					       .data = d->data,
					       .len = d->len};
			ok = ha_node__snapshot_apply(n, &e);
		}
		free(d->data);
		free(d);
	}
	if (!ok)
		ha_node__snapshot_drop_deferred(n);
}

/* ---- taking a snapshot ---- */

/* A newer snapshot would restart a transfer in progress from its first
 * byte: put it off, unless the log grows far past the threshold
 * meanwhile. */
static bool snapshot_put_off(const struct ha_node *n, raft_index index)
{
	return raft_snapshot_in_flight(n->raft) &&
	       index < raft_snapshot_index(n->raft) + 4 * n->snapshot_threshold;
}

static void capture_work(uv_work_t *w)
{
	struct ha_node *n = w->data;
	ha_node__name_worker();
	n->snapshot->frozen = n->o.sm.capture(n->o.sm.data);
}

static void write_work(uv_work_t *w)
{
	struct ha_node *n = w->data;
	ha_node__name_worker();
	struct snapshot_task *t = n->snapshot;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv = n->o.sm.serialize(t->frozen, &buf, &len);
	n->o.sm.release(t->frozen);
	t->frozen = NULL;
	if (rv != 0) {
		t->result = STORAGE_ENOMEM;
		snprintf(t->errmsg, sizeof(t->errmsg),
			 "the state machine could not serialize");
		return;
	}
	t->writer = storage_snapshot_writer_new(n->storage, t->index, t->term,
						&t->config, len);
	if (t->writer == NULL) {
		free(buf);
		t->result = STORAGE_ENOMEM;
		snprintf(t->errmsg, sizeof(t->errmsg), "out of memory");
		return;
	}
	rv = storage_snapshot_writer_write(t->writer, buf, len);
	if (rv == STORAGE_OK)
		rv = storage_snapshot_writer_finish(t->writer);
	free(buf);
	t->size = len;
	/* An error is charged to the storage when the writer is installed. */
}

static void write_done(uv_work_t *w, int status)
{
	struct ha_node *n = w->data;
	struct snapshot_task *t = n->snapshot;
	(void)status;
	if (n->shutting_down || t->result != STORAGE_OK) {
		if (!n->shutting_down)
			ha_node__log(n, HA_NODE_LOG_WARNING,
				     "snapshot at %llu not taken: %s",
				     (unsigned long long)t->index, t->errmsg);
		ha_node__snapshot_task_free(n, t);
		n->snapshot = NULL;
		return;
	}
	/* A transfer to a follower began while this was taken: installed now,
	 * it would restart that transfer from its first byte and compact away
	 * the entries the follower needs once it holds the older one, which
	 * then takes a second transfer. Dropped instead, within the bound that
	 * ha_node__snapshot_maybe_take() puts on the log's growth. */
	if (snapshot_put_off(n, t->index)) {
		ha_node__log(n, HA_NODE_LOG_INFO,
			     "snapshot at %llu dropped: a follower is being "
			     "sent the one at %llu",
			     (unsigned long long)t->index,
			     (unsigned long long)raft_snapshot_index(n->raft));
		ha_node__snapshot_task_free(n, t);
		n->snapshot = NULL;
		return;
	}
	ha_node__jobs_install_snapshot(n, t);
}

static void capture_done(uv_work_t *w, int status)
{
	struct ha_node *n = w->data;
	struct snapshot_task *t = n->snapshot;
	(void)status;
	n->capturing = false;
	if (n->shutting_down) {
		ha_node__snapshot_task_free(n, t);
		n->snapshot = NULL;
		return;
	}
	ha_node__snapshot_catch_up(n);
	ha_node__jobs_start_next(
	    n); /* a restore may have waited for the capture */
	if (t->frozen == NULL) {
		ha_node__log(
		    n, HA_NODE_LOG_WARNING,
		    "snapshot at %llu not taken: the state machine could "
		    "not capture its state",
		    (unsigned long long)t->index);
		ha_node__snapshot_task_free(n, t);
		n->snapshot = NULL;
		return;
	}
	if (uv_queue_work(&n->loop, &n->snapshot_work, write_work,
			  write_done) != 0) {
		ha_node__snapshot_task_free(n, t);
		n->snapshot = NULL;
	}
}

void ha_node__snapshot_maybe_take(struct ha_node *n)
{
	if (n->snapshot != NULL || n->restoring || n->shutting_down ||
	    n->o.sm.capture == NULL || raft_stop_reason(n->raft) != NULL)
		return;
	raft_index index = n->applied;
	/* A snapshot is taken at an index the local log already holds on disk
	 * (a follower may apply committed entries before its own fsync). */
	if (index < raft_snapshot_index(n->raft) + n->snapshot_threshold ||
	    index > raft_stable_index(n->raft) ||
	    raft_entry_at(n->raft, index) == NULL)
		return;
	if (snapshot_put_off(n, index))
		return;
	struct snapshot_task *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return;
	t->index = index;
	t->term = raft_term_at(n->raft, index);
	t->started = ha_node_monotonic_ms();
	if (raft_config_at(n->raft, index, &t->config) != RAFT_OK) {
		free(t);
		return;
	}
	n->snapshot = t;
	n->capturing = true;
	n->snapshot_work.data = n;
	if (uv_queue_work(&n->loop, &n->snapshot_work, capture_work,
			  capture_done) != 0) {
		n->capturing = false;
		n->snapshot = NULL;
		free(t);
	}
}

/* ---- installing it, in order with the log ---- */

int ha_node__snapshot_install(struct ha_node *n, struct snapshot_task *t)
{
	int rv = storage_snapshot_install(n->storage, t->writer);
	if (rv == STORAGE_OK && t->index > n->snapshot_trailing)
		rv = storage_compact(n->storage,
				     t->index - n->snapshot_trailing);
	return rv;
}

void ha_node__snapshot_installed(struct ha_node *n, struct snapshot_task *t,
				 int result, const char *errmsg)
{
	if (result == STORAGE_EIO || result == STORAGE_ECORRUPT) {
		ha_node__fail(n, errmsg);
		return;
	}
	if (result != STORAGE_OK) {
		/* Not durable damage: the next threshold retries. */
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "snapshot at %llu not taken: %s",
			     (unsigned long long)t->index, errmsg);
		return;
	}
	ha_node__log(n, HA_NODE_LOG_INFO,
		     "snapshot at %llu taken: %llu bytes in %lld ms",
		     (unsigned long long)t->index, (unsigned long long)t->size,
		     (long long)(ha_node_monotonic_ms() - t->started));
	struct raft_update u;
	raft_snapshot_taken(n->raft, ha_node_monotonic_ms(), t->index, t->size,
			    &u);
	ha_node__handle_update(n, &u);
}
