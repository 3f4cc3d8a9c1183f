/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Storage work, off the loop thread so the network never waits on the disk.
 * Jobs run in order on a storage thread of the node's own, in batches: a
 * batch is every plain persistence job handed over when the previous batch
 * finished; their entries go to disk with one write and one fsync (group
 * commit). Persistence jobs are handed over as they come, so the thread
 * starts the next batch the moment one is durable instead of idling for a
 * round trip through the loop. Messages that depend on a batch leave only
 * after it is durable. Chunks read for followers and the install of a
 * snapshot taken by this node (snapshot.c) go through the same queue, each
 * a batch of its own; a received snapshot chunk too, with nothing else in
 * flight. */
#include <stdlib.h>
#include <string.h>

#include "node/internal.h"

enum job_kind {
	JOB_PERSIST = 1,
	JOB_READ_CHUNK,
	JOB_SNAPSHOT,
};

struct job {
	enum job_kind kind;
	struct job *next;
	/* The first job of a batch done: the next batch done, and how long
	 * this one took the storage thread. */
	struct job *next_batch;
	int64_t took_ms;
	int result;
	char errmsg[256];

	/* JOB_PERSIST */
	bool hs;
	raft_term term;
	raft_id vote;
	raft_index truncate_from;
	struct raft_entry *entries;
	size_t n_entries;
	bool has_chunk;
	struct raft_snapshot_chunk chunk;
	struct raft_config chunk_config;
	uint8_t *chunk_data;
	struct raft_message *msgs;
	size_t n_msgs;
	/* After an installed snapshot: its bytes, read back for the restore. */
	uint8_t *restore;
	size_t restore_len;

	/* JOB_READ_CHUNK */
	struct raft_message msg;
	struct raft_config msg_config;
	uint8_t *buf;

	/* JOB_SNAPSHOT: install what the snapshot's worker wrote */
	struct snapshot_task *task;
};

/* Entries copied by copy_entries: one block with their data. */
static void free_entries(struct raft_entry *e)
{
	free(e);
}

static void free_message_copy(struct raft_message *m)
{
	free_entries(m->entries);
	free(m->config);
	free((void *)m->data);
}

static void job_free(struct job *j)
{
	free_entries(j->entries);
	free(j->chunk_data);
	for (size_t i = 0; i < j->n_msgs; i++)
		free_message_copy(&j->msgs[i]);
	free(j->msgs);
	free(j->restore);
	free(j->buf);
	free(j);
}

static void job_free_all(struct ha_node *n, struct job *j)
{
	while (j != NULL) {
		struct job *next = j->next;
		if (j->kind == JOB_SNAPSHOT) {
			ha_node__snapshot_task_free(n, j->task);
			n->snapshot = NULL;
		}
		job_free(j);
		j = next;
	}
}

/* The entries and their data in one allocation: under load a job holds
 * one entry or a few, and an allocation each cost the raft thread more than
 * the copy. */
static bool copy_entries(const struct raft_entry *src, size_t n,
			 struct raft_entry **out)
{
	size_t bytes = (n ? n : 1) * sizeof(struct raft_entry);
	for (size_t i = 0; i < n; i++)
		bytes += src[i].len;
	struct raft_entry *e = malloc(bytes);
	if (e == NULL)
		return false;
	uint8_t *data = (uint8_t *)(e + (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		e[i] = src[i];
		e[i].data = NULL;
		if (src[i].len > 0) {
			e[i].data = data;
			memcpy(data, src[i].data, src[i].len);
			data += src[i].len;
		}
	}
	*out = e;
	return true;
}

static bool copy_message(const struct raft_message *src, struct raft_message *m)
{
	*m = *src;
	m->entries = NULL;
	m->config = NULL;
	m->data = NULL;
	if (src->n_entries > 0 &&
	    !copy_entries(src->entries, src->n_entries, &m->entries))
		return false;
	if (src->config != NULL) {
		m->config = malloc(sizeof(*m->config));
		if (m->config == NULL) {
			free_entries(m->entries);
			return false;
		}
		*m->config = *src->config;
	}
	return true;
}

static void enqueue(struct ha_node *n, struct job *j)
{
	j->next = NULL;
	if (n->jobs_tail)
		n->jobs_tail->next = j;
	else
		n->jobs_head = j;
	n->jobs_tail = j;
	ha_node__jobs_start_next(n);
}

void ha_node__jobs_persist(struct ha_node *n, const struct raft_update *u)
{
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		goto oom;
	j->kind = JOB_PERSIST;
	j->hs = u->hard_state_changed;
	j->term = u->term;
	j->vote = u->vote;
	j->truncate_from = u->truncate_from;
	if (u->n_entries > 0) {
		if (!copy_entries(u->entries, u->n_entries, &j->entries))
			goto oom;
		j->n_entries = u->n_entries;
	}
	if (u->snapshot_chunk != NULL) {
		j->has_chunk = true;
		j->chunk = *u->snapshot_chunk;
		j->chunk_config = *u->snapshot_chunk->config;
		j->chunk.config = &j->chunk_config;
		j->chunk_data = malloc(j->chunk.len ? j->chunk.len : 1);
		if (j->chunk_data == NULL)
			goto oom;
		memcpy(j->chunk_data, u->snapshot_chunk->data, j->chunk.len);
		j->chunk.data = j->chunk_data;
	}
	if (u->n_send_after_persist > 0) {
		j->msgs = calloc(u->n_send_after_persist, sizeof(*j->msgs));
		if (j->msgs == NULL)
			goto oom;
		for (size_t i = 0; i < u->n_send_after_persist; i++) {
			if (!copy_message(&u->send_after_persist[i],
					  &j->msgs[i]))
				goto oom;
			j->n_msgs++;
		}
	}
	enqueue(n, j);
	return;
oom:
	/* What the core asked us to persist cannot be dropped silently. */
	if (j != NULL)
		job_free(j);
	ha_node__fail(n, "out of memory queueing a write");
}

void ha_node__jobs_read_chunk(struct ha_node *n, const struct raft_message *m)
{
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return; /* the chunk is resent */
	j->kind = JOB_READ_CHUNK;
	j->msg = *m;
	j->msg.entries = NULL;
	j->msg.n_entries = 0;
	if (m->config != NULL) {
		j->msg_config = *m->config;
		j->msg.config = &j->msg_config;
	}
	j->buf = malloc(m->len ? m->len : 1);
	if (j->buf == NULL) {
		free(j);
		return;
	}
	enqueue(n, j);
}

/* ---- on the worker ---- */

static void fail(struct job *j, struct ha_node *n, int rv)
{
	j->result = rv;
	snprintf(j->errmsg, sizeof(j->errmsg), "%s",
		 storage_errmsg(n->storage));
}

static uint8_t *read_snapshot(struct ha_node *n, size_t *len)
{
	uint64_t size = storage_snapshot_size(n->storage);
	uint8_t *buf = malloc(size ? size : 1);
	if (buf == NULL)
		return NULL;
	size_t off = 0;
	while (off < size) {
		size_t got = 0;
		if (storage_snapshot_read(n->storage, off, buf + off,
					  size - off, &got) != STORAGE_OK ||
		    got == 0) {
			free(buf);
			return NULL;
		}
		off += got;
	}
	*len = size;
	return buf;
}

/* Appends the entries gathered so far with one call (one fsync). A failure
 * is charged to the first job whose entries were in it, so that nothing
 * from that job on is reported durable. */
static bool flush(struct ha_node *n, struct raft_entry *pending,
		  size_t *n_pending, struct job *run_start)
{
	if (*n_pending == 0)
		return true;
	int rv = storage_append(n->storage, pending, *n_pending);
	*n_pending = 0;
	if (rv != STORAGE_OK) {
		fail(run_start, n, rv);
		return false;
	}
	return true;
}

static void run_persist(struct ha_node *n, struct job *batch)
{
	struct raft_entry *pending = NULL;
	size_t n_pending = 0, cap = 0;
	struct job *run_start = NULL;
	for (struct job *j = batch; j != NULL; j = j->next) {
		bool plain = !j->hs && j->truncate_from == 0 && !j->has_chunk;
		if (!plain && !flush(n, pending, &n_pending, run_start))
			break;
		if (j->hs) {
			int rv = storage_set_hard_state(n->storage, j->term,
							j->vote);
			if (rv != STORAGE_OK) {
				fail(j, n, rv);
				break;
			}
		}
		if (j->truncate_from != 0) {
			int rv = storage_truncate(n->storage, j->truncate_from);
			if (rv != STORAGE_OK) {
				fail(j, n, rv);
				break;
			}
		}
		if (j->n_entries > 0) {
			if (n_pending == 0)
				run_start = j;
			if (n_pending + j->n_entries > cap) {
				size_t ncap = (n_pending + j->n_entries) * 2;
				struct raft_entry *p =
				    realloc(pending, ncap * sizeof(*p));
				if (p == NULL) {
					run_start->result = STORAGE_ENOMEM;
					snprintf(
					    run_start->errmsg,
					    sizeof(run_start->errmsg),
					    "out of memory batching entries");
					break;
				}
				pending = p;
				cap = ncap;
			}
			memcpy(pending + n_pending, j->entries,
			       j->n_entries * sizeof(*pending));
			n_pending += j->n_entries;
		}
		if ((!plain || j->next == NULL) &&
		    !flush(n, pending, &n_pending, run_start))
			break;
		if (j->has_chunk) {
			int rv = storage_snapshot_chunk(n->storage, &j->chunk);
			if (rv != STORAGE_OK) {
				fail(j, n, rv);
				break;
			}
			if (j->chunk.last) {
				j->restore = read_snapshot(n, &j->restore_len);
				if (j->restore == NULL) {
					j->result = STORAGE_ENOMEM;
					snprintf(
					    j->errmsg, sizeof(j->errmsg),
					    "cannot read back the installed "
					    "snapshot");
					break;
				}
				/* Restored here, off the loop: a large state
				 * must not hold up heartbeats. The core applies
				 * nothing while a snapshot is being installed,
				 * so the raft thread does not touch the state
				 * meanwhile. */
				if (n->o.sm.restore != NULL &&
				    n->o.sm.restore(n->o.sm.data, j->restore,
						    j->restore_len) != 0) {
					j->result = STORAGE_EINVAL;
					snprintf(j->errmsg, sizeof(j->errmsg),
						 "the state machine refused a "
						 "snapshot");
					break;
				}
			}
		}
	}
	free(pending);
}

/* Runs one batch: a run of plain persistence jobs, or one other job. */
static void run_batch(struct ha_node *n, struct job *j)
{
	switch (j->kind) {
	case JOB_PERSIST:
		run_persist(n, j);
		break;
	case JOB_READ_CHUNK: {
		size_t got = 0;
		if (storage_snapshot_index(n->storage) != j->msg.snap_index ||
		    storage_snapshot_read(n->storage, j->msg.offset, j->buf,
					  j->msg.len, &got) != STORAGE_OK ||
		    got != j->msg.len)
			j->result = STORAGE_ENOENT;
		break;
	}
	case JOB_SNAPSHOT: {
		int rv = ha_node__snapshot_install(n, j->task);
		if (rv != STORAGE_OK)
			fail(j, n, rv);
		break;
	}
	}
}

/* A job the storage thread may batch with its neighbours. */
static bool is_plain(const struct job *j)
{
	return j->kind == JOB_PERSIST && !j->has_chunk;
}

/* A received snapshot chunk (and the restore of the last one): handed over
 * only when nothing is in flight, and nothing after it until it is back, so
 * that a restore never meets a capture. Every other job is handed over as
 * it comes and runs in order. */
static bool is_barrier(const struct job *j)
{
	return j->kind == JOB_PERSIST && j->has_chunk;
}

static bool persist_failed(const struct job *batch)
{
	for (const struct job *j = batch; j != NULL; j = j->next)
		if (j->kind == JOB_PERSIST && j->result != STORAGE_OK)
			return true;
	return false;
}

/* Takes the next batch off the handed-over queue; under storage_lock. */
static struct job *take_batch(struct ha_node *n)
{
	struct job *batch = n->todo_head, *last = batch;
	if (is_plain(batch))
		while (last->next != NULL && is_plain(last->next))
			last = last->next;
	n->todo_head = last->next;
	if (n->todo_head == NULL)
		n->todo_tail = NULL;
	last->next = NULL;
	return batch;
}

/* The storage thread: batches in order, each handed back as soon as it is
 * done, while the next one starts. After a failed write nothing more is
 * written (the node fails on hearing of it), so that nothing after a lost
 * entry can be reported durable. */
static void *storage_main(void *arg)
{
	struct ha_node *n = arg;
	bool broken = false;
	/* Named for top -H, perf and the benchmarks' accounting. */
	pthread_setname_np(pthread_self(), "ha-storage");
	ha_node__block_signals();
	pthread_mutex_lock(&n->storage_lock);
	for (;;) {
		while (n->todo_head == NULL && !n->storage_stop)
			pthread_cond_wait(&n->storage_wake, &n->storage_lock);
		if (n->todo_head == NULL)
			break;
		struct job *batch = take_batch(n);
		pthread_mutex_unlock(&n->storage_lock);
		int64_t started = ha_node_monotonic_ms();
		if (broken) {
			for (struct job *j = batch; j != NULL; j = j->next) {
				j->result = STORAGE_EIO;
				snprintf(
				    j->errmsg, sizeof(j->errmsg),
				    "not written: an earlier write failed");
			}
		} else {
			run_batch(n, batch);
			broken = persist_failed(batch);
		}
		batch->took_ms = ha_node_monotonic_ms() - started;
		pthread_mutex_lock(&n->storage_lock);
		batch->next_batch = NULL;
		if (n->done_tail)
			n->done_tail->next_batch = batch;
		else
			n->done_head = batch;
		n->done_tail = batch;
		uv_async_send(&n->storage_done_async);
	}
	pthread_mutex_unlock(&n->storage_lock);
	return NULL;
}

/* ---- back on the loop thread ---- */

static void persist_done(struct ha_node *n, struct job *batch)
{
	raft_index last = 0;
	raft_term last_term = 0, hs_term = 0;
	struct job *failed = NULL;
	for (struct job *j = batch; j != NULL; j = j->next) {
		if (j->result != STORAGE_OK) {
			failed = j;
			break;
		}
		if (j->hs && j->term > hs_term)
			hs_term = j->term;
		for (size_t i = 0; i < j->n_msgs; i++) {
			struct raft_message *m = &j->msgs[i];
			if (m->type == RAFT_MSG_SNAPSHOT && m->len > 0 &&
			    m->data == NULL)
				ha_node__jobs_read_chunk(n, m);
			else
				ha_node__send(n, m);
		}
		if (j->n_entries > 0) {
			last = j->entries[j->n_entries - 1].index;
			last_term = j->entries[j->n_entries - 1].term;
		}
	}
	struct raft_update u;
	if (hs_term != 0) {
		raft_hard_state_persisted(n->raft, ha_node_monotonic_ms(),
					  hs_term, &u);
		ha_node__handle_update(n, &u);
	}
	if (last != 0) {
		raft_persisted(n->raft, ha_node_monotonic_ms(), last, last_term,
			       &u);
		ha_node__handle_update(n, &u);
	}
	if (failed != NULL) {
		if (failed->result == STORAGE_ENOSPC && !n->disk_full) {
			/* Not fatal for the disk, but this node cannot take new
			 * entries: a leader hands over, then the core stops. */
			n->disk_full = true;
			ha_node__log(n, HA_NODE_LOG_ERROR,
				     "disk full: %s; handing leadership over",
				     failed->errmsg);
			if (raft_role(n->raft) == RAFT_LEADER) {
				raft_transfer_leadership(
				    n->raft, ha_node_monotonic_ms(), 0, &u);
				ha_node__handle_update(n, &u);
			}
		}
		ha_node__fail(n, failed->result == STORAGE_ENOSPC
				     ? "disk full: no space for new log entries"
				     : failed->errmsg);
		return;
	}
	for (struct job *j = batch; j != NULL; j = j->next) {
		if (!j->has_chunk || !j->chunk.last)
			continue;
		struct ha_node_event ev = {.type = HA_EV_RESTORE,
					   .index = j->chunk.index,
					   .term = j->chunk.term,
					   .data = j->restore,
					   .len = j->restore_len};
		if (!ha_node__emit(n, &ev)) {
			ha_node__fail(n,
				      "out of memory handing over a snapshot");
			return;
		}
		j->restore = NULL; /* the event owns it now */
		n->applied = j->chunk.index;
		n->sm_applied = j->chunk.index;
		n->snapshots_installed++;
		ha_node__log(n, HA_NODE_LOG_INFO,
			     "installed a snapshot at %llu",
			     (unsigned long long)j->chunk.index);
		raft_snapshot_installed(n->raft, ha_node_monotonic_ms(),
					j->chunk.index, j->chunk.term, &u);
		ha_node__handle_update(n, &u);
	}
}

static const char *job_kind_name(enum job_kind kind)
{
	switch (kind) {
	case JOB_PERSIST:
		return "a write";
	case JOB_READ_CHUNK:
		return "a snapshot read";
	case JOB_SNAPSHOT:
		return "a snapshot";
	}
	return "a job";
}

/* A batch back from the storage thread. */
static void finish_batch(struct ha_node *n, struct job *batch)
{
	size_t jobs = 0;
	for (struct job *j = batch; j != NULL; j = j->next)
		jobs++;
	n->jobs_in_flight -= jobs;
	bool restored = n->restoring && is_barrier(batch);
	if (batch->took_ms > NODE_STALL_WARN_MS && batch->kind != JOB_SNAPSHOT)
		ha_node__log(n, HA_NODE_LOG_WARNING, "storage: %s took %lld ms",
			     job_kind_name(batch->kind),
			     (long long)batch->took_ms);
	if (!n->shutting_down) {
		switch (batch->kind) {
		case JOB_PERSIST:
			persist_done(n, batch);
			break;
		case JOB_READ_CHUNK:
			if (batch->result == STORAGE_OK) {
				batch->msg.data = batch->buf;
				ha_node__send(n, &batch->msg);
			}
			break;
		case JOB_SNAPSHOT:
			ha_node__snapshot_installed(
			    n, batch->task, batch->result, batch->errmsg);
			break;
		}
	}
	if (batch->kind == JOB_SNAPSHOT) {
		ha_node__snapshot_task_free(n, batch->task);
		batch->task = NULL;
		n->snapshot = NULL;
	}
	if (is_barrier(batch))
		n->jobs_barrier = false;
	if (restored) {
		n->restoring = false;
		ha_node__snapshot_catch_up(n);
	}
	while (batch != NULL) {
		struct job *next = batch->next;
		job_free(batch);
		batch = next;
	}
}

/* Once the node shuts down and nothing is in flight: the thread ends and
 * the loop may end. */
static void maybe_stop_thread(struct ha_node *n)
{
	if (!n->storage_thread_started || !n->shutting_down ||
	    n->jobs_in_flight > 0)
		return;
	pthread_mutex_lock(&n->storage_lock);
	n->storage_stop = true;
	pthread_cond_signal(&n->storage_wake);
	pthread_mutex_unlock(&n->storage_lock);
	pthread_join(n->storage_thread, NULL);
	n->storage_thread_started = false;
	pthread_cond_destroy(&n->storage_wake);
	pthread_mutex_destroy(&n->storage_lock);
	uv_close((uv_handle_t *)&n->storage_done_async, NULL);
}

static void on_storage_done(uv_async_t *a)
{
	struct ha_node *n = a->data;
	pthread_mutex_lock(&n->storage_lock);
	struct job *batches = n->done_head;
	n->done_head = n->done_tail = NULL;
	pthread_mutex_unlock(&n->storage_lock);
	while (batches != NULL) {
		struct job *b = batches;
		batches = b->next_batch;
		finish_batch(n, b);
	}
	ha_node__jobs_start_next(n);
	maybe_stop_thread(n);
}

/* Started with the first job, on the loop thread. */
static bool start_thread(struct ha_node *n)
{
	if (n->storage_thread_started)
		return true;
	if (uv_async_init(&n->loop, &n->storage_done_async, on_storage_done) !=
	    0)
		return false;
	n->storage_done_async.data = n;
	pthread_mutex_init(&n->storage_lock, NULL);
	pthread_cond_init(&n->storage_wake, NULL);
	n->storage_stop = false;
	if (pthread_create(&n->storage_thread, NULL, storage_main, n) != 0) {
		pthread_cond_destroy(&n->storage_wake);
		pthread_mutex_destroy(&n->storage_lock);
		uv_close((uv_handle_t *)&n->storage_done_async, NULL);
		return false;
	}
	n->storage_thread_started = true;
	return true;
}

void ha_node__jobs_start_next(struct ha_node *n)
{
	struct job *first = NULL, *last = NULL;
	while (n->jobs_head != NULL && !n->shutting_down && !n->jobs_barrier) {
		struct job *j = n->jobs_head;
		if (is_barrier(j) && n->jobs_in_flight > 0)
			break;
		/* A restore replaces the state machine's copy: never while a
		 * worker captures it (capture_done starts the queue again). */
		bool restores =
		    j->kind == JOB_PERSIST && j->chunk.last && j->has_chunk;
		if (restores && n->capturing)
			break;
		if (!start_thread(n)) {
			ha_node__fail(n, "cannot start the storage thread");
			return;
		}
		n->jobs_head = j->next;
		if (n->jobs_head == NULL)
			n->jobs_tail = NULL;
		j->next = NULL;
		if (is_barrier(j)) {
			n->jobs_barrier = true;
			n->restoring = restores;
		}
		n->jobs_in_flight++;
		if (last)
			last->next = j;
		else
			first = j;
		last = j;
	}
	if (first == NULL)
		return;
	pthread_mutex_lock(&n->storage_lock);
	if (n->todo_tail)
		n->todo_tail->next = first;
	else
		n->todo_head = first;
	n->todo_tail = last;
	pthread_cond_signal(&n->storage_wake);
	pthread_mutex_unlock(&n->storage_lock);
}

void ha_node__jobs_install_snapshot(struct ha_node *n, struct snapshot_task *t)
{
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		ha_node__snapshot_installed(n, t, STORAGE_ENOMEM,
					    "out of memory");
		ha_node__snapshot_task_free(n, t);
		n->snapshot = NULL;
		return;
	}
	j->kind = JOB_SNAPSHOT;
	j->task = t;
	enqueue(n, j);
}

void ha_node__jobs_drop_all(struct ha_node *n)
{
	/* Nothing queued was acknowledged to anyone, so dropping it loses
	 * nothing that was promised: also what the storage thread has not
	 * started. */
	job_free_all(n, n->jobs_head);
	n->jobs_head = n->jobs_tail = NULL;
	if (n->storage_thread_started) {
		pthread_mutex_lock(&n->storage_lock);
		struct job *todo = n->todo_head;
		n->todo_head = n->todo_tail = NULL;
		pthread_mutex_unlock(&n->storage_lock);
		for (struct job *j = todo; j != NULL; j = j->next)
			n->jobs_in_flight--;
		job_free_all(n, todo);
	}
	ha_node__snapshot_drop_deferred(n);
	maybe_stop_thread(n);
}

int ha_node__jobs_load_snapshot(struct ha_node *n)
{
	size_t len = 0;
	uint8_t *buf = read_snapshot(n, &len);
	if (buf == NULL) {
		ha_node__log(n, HA_NODE_LOG_ERROR,
			     "cannot read the snapshot: %s",
			     storage_errmsg(n->storage));
		return HA_NODE_ESTORAGE;
	}
	if (n->o.sm.restore(n->o.sm.data, buf, len) != 0) {
		free(buf);
		ha_node__log(n, HA_NODE_LOG_ERROR,
			     "the state machine refused the "
			     "stored snapshot");
		return HA_NODE_ESTORAGE;
	}
	struct ha_node_event ev = {.type = HA_EV_RESTORE,
				   .index = storage_snapshot_index(n->storage),
				   .term = storage_snapshot_term(n->storage),
				   .data = buf,
				   .len = len};
	if (!ha_node__emit(n, &ev)) {
		free(buf);
		return HA_NODE_ENOMEM;
	}
	return HA_NODE_OK;
}
