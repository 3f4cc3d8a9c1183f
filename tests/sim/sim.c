/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The simulated world: nodes with drifting clocks and disks that lose what
 * was not synced, a network that drops, duplicates, delays and partitions,
 * faults and client load chosen by the seed, and the checks that run after
 * every event (checks.c). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "raft/bugs.h"
#include "tests/sim/world.h"

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "sim: out of memory\n");
		exit(3);
	}
	return p;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (p == NULL) {
		fprintf(stderr, "sim: out of memory\n");
		exit(3);
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "sim: out of memory\n");
		exit(3);
	}
	return p;
}

uint64_t sim_rand(struct world *w)
{
	/* splitmix64: the whole history follows from the seed. */
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int64_t sim_range(struct world *w, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(sim_rand(w) % (uint64_t)(hi - lo + 1));
}

bool sim_chance(struct world *w, unsigned per_mille)
{
	return sim_rand(w) % 1000 < per_mille;
}

void sim_trace(struct world *w, const char *fmt, ...)
{
	char line[TRACE_LINE];
	int n = snprintf(line, sizeof(line), "%7lld ", (long long)w->now);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (w->cfg.trace)
		printf("%s\n", line);
	memcpy(w->trace[w->trace_pos % TRACE_LINES], line, sizeof(line));
	w->trace_pos++;
}

/* ---- the event queue: a binary heap ordered by time, then sequence ---- */

static bool ev_before(const struct event *a, const struct event *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

void sim_schedule(struct world *w, int64_t at, int type, int node,
		  struct raft_message *msg)
{
	if (w->n_events == w->cap_events) {
		w->cap_events = w->cap_events ? w->cap_events * 2 : 256;
		w->events =
		    xrealloc(w->events, w->cap_events * sizeof(*w->events));
	}
	struct event e = {
	    .at = at, .seq = w->seq++, .type = type, .node = node, .msg = msg};
	if (node > 0)
		e.epoch = w->nodes[node].epoch;
	size_t i = w->n_events++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!ev_before(&e, &w->events[parent]))
			break;
		w->events[i] = w->events[parent];
		i = parent;
	}
	w->events[i] = e;
}

static struct event pop_event(struct world *w)
{
	struct event top = w->events[0];
	struct event last = w->events[--w->n_events];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct event *best = &last;
		if (l < w->n_events && ev_before(&w->events[l], best)) {
			m = l;
			best = &w->events[l];
		}
		if (r < w->n_events && ev_before(&w->events[r], best))
			m = r;
		if (m == i)
			break;
		w->events[i] = w->events[m];
		i = m;
	}
	if (w->n_events > 0)
		w->events[i] = last;
	return top;
}

/* ---- messages ---- */

static struct raft_message *copy_message(struct world *w, struct node *from,
					 const struct raft_message *m)
{
	struct raft_message *c = xmalloc(sizeof(*c));
	*c = *m;
	c->entries = NULL;
	c->config = NULL;
	c->data = NULL;
	if (m->n_entries > 0) {
		c->entries = xmalloc(m->n_entries * sizeof(*c->entries));
		for (uint32_t i = 0; i < m->n_entries; i++) {
			c->entries[i] = m->entries[i];
			c->entries[i].data = xmalloc(m->entries[i].len);
			if (m->entries[i].len)
				memcpy(c->entries[i].data, m->entries[i].data,
				       m->entries[i].len);
		}
	}
	if (m->config != NULL) {
		c->config = xmalloc(sizeof(*c->config));
		*c->config = *m->config;
	}
	if (m->type == RAFT_MSG_SNAPSHOT && m->len > 0) {
		/* The driver reads the chunk from its snapshot file. */
		const struct durable_snapshot *s = &from->dsnap;
		if (s->index != m->snap_index || m->offset + m->len > s->size) {
			sim_message_free(c);
			(void)w;
			return NULL;
		}
		uint8_t *d = xmalloc(m->len);
		memcpy(d, s->data + m->offset, m->len);
		c->data = d;
	}
	return c;
}

void sim_message_free(struct raft_message *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; i < m->n_entries && m->entries; i++)
		free(m->entries[i].data);
	free(m->entries);
	free(m->config);
	free((void *)m->data);
	free(m);
}

static void network_send(struct world *w, struct node *from,
			 const struct raft_message *m)
{
	check_message_sent(w, from, m);
	if (m->to == 0 || m->to > w->n_nodes)
		return;
	if (sim_chance(w, w->drop_per_mille))
		return;
	int copies = sim_chance(w, w->dup_per_mille) ? 2 : 1;
	for (int k = 0; k < copies; k++) {
		struct raft_message *c = copy_message(w, from, m);
		if (c == NULL)
			return;
		int64_t delay = sim_range(w, w->delay_min, w->delay_max);
		if (sim_chance(w, 20))
			delay += sim_range(w, 10, 60); /* a slow path */
		if (w->phase == PHASE_FAULTS &&
		    sim_chance(w, w->long_delay_per_mille)) {
			/* Held up past an election timeout (a stalled
			 * connection): its answer may reach a leader elected
			 * again since. Never past the heal, so the healed
			 * cluster sees only its own traffic. */
			int64_t held = sim_range(w, ELECTION_TIMEOUT + 1,
						 3 * ELECTION_TIMEOUT);
			if (w->now + delay + held < w->fault_end) {
				delay += held;
				w->totals.long_delays++;
			}
		}
		sim_schedule(w, w->now + delay, EV_DELIVER, (int)m->to, c);
	}
}

/* ---- durable storage: what survives a crash ---- */

static raft_index dlog_last(const struct node *n)
{
	return n->dlog.offset + n->dlog.n;
}

const struct raft_entry *dlog_get(const struct node *n, raft_index i)
{
	if (i > n->dlog.offset && i <= dlog_last(n))
		return &n->dlog.e[i - n->dlog.offset - 1];
	return NULL;
}

/* Whether entry i of term t is on this node's disk. */
bool durable_has(const struct node *n, raft_index i, raft_term t)
{
	if (i <= n->dsnap.index)
		return true; /* covered by a snapshot, which holds committed
				state */
	const struct raft_entry *e = dlog_get(n, i);
	return e != NULL && (t == 0 || e->term == t);
}

static void dlog_truncate(struct node *n, raft_index from)
{
	while (dlog_last(n) >= from && n->dlog.n > 0) {
		free(n->dlog.e[n->dlog.n - 1].data);
		n->dlog.n--;
	}
}

static void dlog_compact(struct node *n, raft_index upto)
{
	if (upto <= n->dlog.offset)
		return;
	size_t drop =
	    upto >= dlog_last(n) ? n->dlog.n : (size_t)(upto - n->dlog.offset);
	for (size_t i = 0; i < drop; i++)
		free(n->dlog.e[i].data);
	memmove(n->dlog.e, n->dlog.e + drop,
		(n->dlog.n - drop) * sizeof(*n->dlog.e));
	n->dlog.n -= drop;
	n->dlog.offset = upto;
}

static void dlog_append(struct world *w, struct node *n,
			const struct raft_entry *e)
{
	if (e->index <= n->dlog.offset)
		return; /* already inside the snapshot */
	if (e->index != dlog_last(n) + 1) {
		sim_violation(
		    w, "node %u: durable log gap: appending %llu after %llu",
		    n->id, (unsigned long long)e->index,
		    (unsigned long long)dlog_last(n));
		return;
	}
	if (n->dlog.n == n->dlog.cap) {
		n->dlog.cap = n->dlog.cap ? n->dlog.cap * 2 : 64;
		n->dlog.e =
		    xrealloc(n->dlog.e, n->dlog.cap * sizeof(*n->dlog.e));
	}
	struct raft_entry *d = &n->dlog.e[n->dlog.n++];
	*d = *e;
	d->data = xmalloc(e->len);
	if (e->len)
		memcpy(d->data, e->data, e->len);
}

static void job_free(struct job *j)
{
	for (size_t i = 0; i < j->n_entries; i++)
		free(j->entries[i].data);
	free(j->entries);
	free(j->chunk_data);
	for (size_t i = 0; i < j->n_msgs; i++)
		sim_message_free(j->msgs[i]);
	free(j->msgs);
	free(j);
}

static void drop_jobs(struct node *n)
{
	while (n->jobs_head != NULL) {
		struct job *j = n->jobs_head;
		n->jobs_head = j->next;
		job_free(j);
	}
	n->jobs_tail = NULL;
}

/* ---- the state machine each node applies committed entries to ---- */

uint64_t entry_hash(const struct raft_entry *e)
{
	uint64_t h = 1469598103934665603ull;
	uint8_t head[10] = {e->type, e->version};
	for (int i = 0; i < 8; i++)
		head[2 + i] = (uint8_t)(e->term >> (8 * i));
	for (size_t i = 0; i < sizeof(head); i++)
		h = (h ^ head[i]) * 1099511628211ull;
	for (uint32_t i = 0; i < e->len; i++)
		h = (h ^ e->data[i]) * 1099511628211ull;
	return h;
}

static void sm_apply(struct world *w, struct node *n,
		     const struct raft_entry *e)
{
	if (e->index != n->sm_index + 1) {
		sim_violation(w, "node %u: applied index %llu after %llu",
			      n->id, (unsigned long long)e->index,
			      (unsigned long long)n->sm_index);
		return;
	}
	n->sm_hash = n->sm_hash * 31 + entry_hash(e);
	n->sm_index = e->index;
	check_applied(w, n, e);
}

static void sm_restore(struct node *n, const struct durable_snapshot *s)
{
	n->sm_index = 0;
	n->sm_hash = 0;
	if (s->index == 0)
		return;
	memcpy(&n->sm_index, s->data, 8);
	memcpy(&n->sm_hash, s->data + 8, 8);
}

/* A snapshot asked for past the applied index, at an entry the log holds:
 * the core must refuse it (the driver has no such state to write). */
static void snapshot_past_applied(struct world *w, struct node *n)
{
	raft_index last = raft_last_index(n->r);
	if (last <= n->sm_index)
		return;
	raft_index idx =
	    (raft_index)sim_range(w, (int64_t)n->sm_index + 1, (int64_t)last);
	struct raft_update u;
	int rv = raft_snapshot_taken(n->r, sim_local(n, w->now), idx, 1000, &u);
	sim_trace(w, "n%u snapshot asked at %llu past applied %llu: %s", n->id,
		  (unsigned long long)idx, (unsigned long long)n->sm_index,
		  raft_strerror(rv));
	if (rv == RAFT_OK)
		sim_violation(w,
			      "n%u: a snapshot at %llu past its applied index "
			      "%llu was accepted",
			      n->id, (unsigned long long)idx,
			      (unsigned long long)n->sm_index);
	else
		w->totals.snapshots_past_applied++;
	node_handle_update(w, n, &u);
}

/* Mostly at the applied index; sometimes below it (a driver that snapshots
 * a state it saved earlier), sometimes asked past it. */
static void take_snapshot(struct world *w, struct node *n)
{
	if (!n->up || n->paused)
		return;
	unsigned roll = (unsigned)(sim_rand(w) % 10);
	if (roll == 0) {
		snapshot_past_applied(w, n);
		return;
	}
	raft_index idx = n->sm_index;
	uint64_t hash = n->sm_hash;
	if (roll < 3 && n->sm_index > n->dsnap.index + 1) {
		idx = (raft_index)sim_range(w, (int64_t)n->dsnap.index + 1,
					    (int64_t)n->sm_index - 1);
		/* Every node applies the same history (checked): the state
		 * at idx is the one recorded when it was first applied. */
		hash = w->sm_hash_at[idx];
	}
	if (idx <= n->dsnap.index || raft_entry_at(n->r, idx) == NULL)
		return;
	struct durable_snapshot s = {.index = idx,
				     .term = raft_term_at(n->r, idx)};
	if (raft_config_at(n->r, idx, &s.config) != RAFT_OK) {
		sim_violation(w, "n%u: no configuration at index %llu", n->id,
			      (unsigned long long)idx);
		return;
	}
	s.size = (uint64_t)sim_range(w, 600, 3000);
	s.data = xmalloc(s.size);
	memcpy(s.data, &idx, 8);
	memcpy(s.data + 8, &hash, 8);
	for (uint64_t i = 16; i < s.size; i++)
		s.data[i] = (uint8_t)(i * 7 + idx);
	free(n->dsnap.data);
	n->dsnap = s;
	dlog_compact(n, idx);
	struct raft_update u;
	int rv =
	    raft_snapshot_taken(n->r, sim_local(n, w->now), idx, s.size, &u);
	sim_trace(w, "n%u snapshot taken at %llu (applied %llu): %s", n->id,
		  (unsigned long long)idx, (unsigned long long)n->sm_index,
		  raft_strerror(rv));
	if (rv == RAFT_OK) {
		w->totals.snapshots_taken++;
		if (idx < n->sm_index)
			w->totals.snapshots_below_applied++;
	}
	node_handle_update(w, n, &u);
}

/* ---- nodes: start, crash, restart ---- */

void node_start(struct world *w, struct node *n)
{
	struct raft_options o;
	raft_options_default(&o);
	o.election_timeout = ELECTION_TIMEOUT;
	o.heartbeat_interval = HEARTBEAT;
	o.max_clock_drift_ppm = w->drift_bound_ppm;
	o.max_append_entries = 8;
	o.max_append_bytes = 1024;
	o.max_inflight = 4;
	o.snapshot_chunk_bytes = 512;
	o.snapshot_chunks_in_flight = 1 + (uint32_t)(sim_rand(w) % 4);
	o.snapshot_trailing = 20;
	o.transfer_timeout = 3 * ELECTION_TIMEOUT;
	n->r = raft_new(n->id, &o, sim_rand(w));
	if (n->r == NULL) {
		fprintf(stderr, "sim: raft_new failed\n");
		exit(3);
	}
	struct raft_persisted_state st = {
	    .term = n->d_term,
	    .vote = n->d_vote,
	    .snap_index = n->dsnap.index,
	    .snap_term = n->dsnap.term,
	    .snap_size = n->dsnap.size,
	    .snap_config = n->dsnap.index ? &n->dsnap.config : NULL,
	    .entries = n->dlog.n ? n->dlog.e : NULL,
	    .n_entries = n->dlog.n,
	};
	/* Entries at or below the snapshot stay on disk until compaction. */
	while (st.n_entries > 0 && st.entries[0].index <= n->dsnap.index) {
		st.entries++;
		st.n_entries--;
	}
	sm_restore(n, &n->dsnap);
	n->up = true;
	n->paused = false;
	n->epoch++;
	n->held_lease = false;
	n->start_local = sim_local(n, w->now);
	n->cfg_voters = n->prev_voters = 0;
	n->round_sent_max = 0;
	n->rounds_term = 0;
	n->config_rescan = true;
	n->seen_commit = raft_commit_index(n->r);
	n->was_leader_term = 0;
	struct raft_update u;
	int rv = raft_start(n->r, sim_local(n, w->now), &st, &u);
	if (rv != RAFT_OK) {
		sim_violation(w, "node %u: raft_start failed: %s", n->id,
			      raft_strerror(rv));
		return;
	}
	n->seen_commit = raft_commit_index(n->r);
	node_handle_update(w, n, &u);
	sim_schedule(w, w->now + sim_range(w, 1, TICK), EV_TICK, (int)n->id,
		     NULL);
}

void node_crash(struct world *w, struct node *n, const char *why)
{
	if (!n->up)
		return;
	sim_trace(w, "n%u CRASH (%s), term %llu role %d", n->id, why,
		  (unsigned long long)raft_current_term(n->r), raft_role(n->r));
	raft_free(n->r);
	n->r = NULL;
	n->up = false;
	n->paused = false;
	n->epoch++; /* events for the old process are void */
	drop_jobs(n);
	free(n->in_data);
	n->in_data = NULL;
	n->in_index = 0;
	w->totals.crashes++;
}

/* ---- handling the core's update: the driver's contract ---- */

static struct raft_entry *copy_entries(const struct raft_entry *e, size_t n)
{
	struct raft_entry *c = xmalloc(n * sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c[i] = e[i];
		c[i].data = xmalloc(e[i].len);
		if (e[i].len)
			memcpy(c[i].data, e[i].data, e[i].len);
	}
	return c;
}

void node_handle_update(struct world *w, struct node *n, struct raft_update *u)
{
	check_update(w, n, u);

	for (size_t i = 0; i < u->n_send_now; i++)
		network_send(w, n, &u->send_now[i]);

	bool persist = u->hard_state_changed || u->truncate_from != 0 ||
		       u->n_entries > 0 || u->snapshot_chunk != NULL ||
		       u->n_send_after_persist > 0;
	if (persist) {
		struct job *j = xcalloc(1, sizeof(*j));
		j->hs = u->hard_state_changed;
		j->term = u->term;
		j->vote = u->vote;
		j->truncate_from = u->truncate_from;
		if (u->n_entries) {
			j->entries = copy_entries(u->entries, u->n_entries);
			j->n_entries = u->n_entries;
		}
		if (u->snapshot_chunk != NULL) {
			const struct raft_snapshot_chunk *c = u->snapshot_chunk;
			j->has_chunk = true;
			j->chunk = *c;
			j->chunk_config = *c->config;
			j->chunk_data = xmalloc(c->len);
			if (c->len)
				memcpy(j->chunk_data, c->data, c->len);
		}
		if (u->n_send_after_persist) {
			j->msgs =
			    xmalloc(u->n_send_after_persist * sizeof(*j->msgs));
			for (size_t i = 0; i < u->n_send_after_persist; i++) {
				/* Copy now; data of snapshot chunks is read
				 * when sent. */
				struct raft_message *c = xmalloc(sizeof(*c));
				*c = u->send_after_persist[i];
				c->entries = NULL;
				c->config = NULL;
				c->data = NULL;
				if (u->send_after_persist[i].n_entries)
					c->entries = copy_entries(
					    u->send_after_persist[i].entries,
					    u->send_after_persist[i].n_entries);
				if (u->send_after_persist[i].config) {
					c->config = xmalloc(sizeof(*c->config));
					*c->config =
					    *u->send_after_persist[i].config;
				}
				j->msgs[j->n_msgs++] = c;
			}
		}
		int64_t start = w->now;
		if (n->jobs_tail != NULL && n->jobs_tail->done_at > start)
			start = n->jobs_tail->done_at;
		j->done_at = start + sim_range(w, 0, w->disk_max);
		if (n->jobs_tail)
			n->jobs_tail->next = j;
		else
			n->jobs_head = j;
		n->jobs_tail = j;
		sim_schedule(w, j->done_at, EV_JOB, (int)n->id, NULL);
	}

	for (size_t i = 0; i < u->n_apply; i++)
		sm_apply(w, n, &u->apply[i]);
	for (size_t i = 0; i < u->n_reads; i++)
		check_read(w, n, &u->reads[i]);

	if (u->error != NULL) {
		sim_trace(w, "n%u core stopped: %s", n->id, u->error);
		node_crash(w, n, u->error);
		sim_schedule(w, w->now + sim_range(w, 50, 300), EV_RESTART,
			     (int)n->id, NULL);
		return;
	}
	check_after_event(w, n);
}

/* The head job's fsync returned: its writes are durable. */
static void complete_job(struct world *w, struct node *n)
{
	struct job *j = n->jobs_head;
	if (j == NULL)
		return;
	n->jobs_head = j->next;
	if (n->jobs_head == NULL)
		n->jobs_tail = NULL;
	if (n->fail_next_job) {
		/* An fsync error is fatal: the process stops, the write is
		 * lost. */
		n->fail_next_job = false;
		w->totals.disk_failures++;
		job_free(j);
		struct raft_update u;
		raft_storage_failed(n->r, sim_local(n, w->now), "fsync failed",
				    &u);
		node_handle_update(w, n, &u);
		if (n->up) {
			node_crash(w, n, "fsync failed");
			sim_schedule(w, w->now + sim_range(w, 50, 300),
				     EV_RESTART, (int)n->id, NULL);
		}
		return;
	}
	bool hs = j->hs;
	raft_term hs_term = j->term;
	if (j->hs) {
		n->d_term = j->term;
		n->d_vote = j->vote;
	}
	if (j->truncate_from)
		dlog_truncate(n, j->truncate_from);
	for (size_t i = 0; i < j->n_entries; i++)
		dlog_append(w, n, &j->entries[i]);
	bool install = false;
	if (j->has_chunk) {
		const struct raft_snapshot_chunk *c = &j->chunk;
		if (c->offset == 0 || n->in_index != c->index) {
			free(n->in_data);
			n->in_data = xcalloc(1, c->offset + c->len + 4096);
			n->in_cap = c->offset + c->len + 4096;
			n->in_index = c->index;
			n->in_term = c->term;
			n->in_size = 0;
		}
		if (c->offset + c->len > n->in_cap) {
			n->in_cap = (c->offset + c->len) * 2;
			n->in_data = xrealloc(n->in_data, n->in_cap);
		}
		if (c->offset <= n->in_size) {
			memcpy(n->in_data + c->offset, j->chunk_data, c->len);
			n->in_size = c->offset + c->len;
		}
		n->in_config = j->chunk_config;
		install = c->last;
	}
	for (size_t i = 0; i < j->n_msgs; i++)
		network_send(w, n, j->msgs[i]);

	raft_index last = j->n_entries ? j->entries[j->n_entries - 1].index : 0;
	raft_term last_term =
	    j->n_entries ? j->entries[j->n_entries - 1].term : 0;
	job_free(j);

	struct raft_update u;
	if (hs) {
		raft_hard_state_persisted(n->r, sim_local(n, w->now), hs_term,
					  &u);
		node_handle_update(w, n, &u);
		if (!n->up)
			return;
	}
	if (last != 0) {
		raft_persisted(n->r, sim_local(n, w->now), last, last_term, &u);
		node_handle_update(w, n, &u);
		if (!n->up)
			return;
	}
	if (install) {
		/* Finalize: the snapshot replaces the whole log on disk, then
		 * the state machine restarts from it. */
		free(n->dsnap.data);
		n->dsnap = (struct durable_snapshot){.index = n->in_index,
						     .term = n->in_term,
						     .size = n->in_size,
						     .data = n->in_data,
						     .config = n->in_config};
		n->in_data = NULL;
		n->in_index = 0;
		dlog_truncate(n, 0);
		n->dlog.offset = n->dsnap.index;
		sm_restore(n, &n->dsnap);
		int rv =
		    raft_snapshot_installed(n->r, sim_local(n, w->now),
					    n->dsnap.index, n->dsnap.term, &u);
		sim_trace(w, "n%u installed snapshot %llu: %s", n->id,
			  (unsigned long long)n->dsnap.index,
			  raft_strerror(rv));
		if (rv == RAFT_OK)
			w->totals.snapshots_installed++;
		n->seen_commit = raft_commit_index(n->r);
		n->config_rescan = true;
		node_handle_update(w, n, &u);
	}
}

/* ---- client load and faults ---- */

static struct node *pick_leader(struct world *w)
{
	struct node *c[SIM_MAX_NODES];
	unsigned k = 0;
	for (unsigned i = 1; i <= w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		if (n->up && !n->paused && raft_role(n->r) == RAFT_LEADER)
			c[k++] = n;
	}
	return k ? c[sim_rand(w) % k] : NULL;
}

static void propose(struct world *w, struct node *n)
{
	uint8_t buf[80];
	uint64_t id = ++w->proposal_seq;
	memcpy(buf, &id, 8);
	uint32_t len = 8 + (uint32_t)sim_range(w, 0, 64);
	for (uint32_t i = 8; i < len; i++)
		buf[i] = (uint8_t)sim_rand(w);
	raft_index idx = 0;
	struct raft_update u;
	int rv = raft_propose(n->r, sim_local(n, w->now), buf, len, &idx, &u);
	if (rv == RAFT_OK) {
		sim_trace(w, "n%u propose #%llu at %llu", n->id,
			  (unsigned long long)id, (unsigned long long)idx);
		if (w->phase == PHASE_HEALED && w->probe_index == 0) {
			w->probe_index = idx;
			w->probe_term = raft_current_term(n->r);
		}
	}
	node_handle_update(w, n, &u);
}

static void change_membership(struct world *w, struct node *n)
{
	const struct raft_config *c = raft_config(n->r);
	struct raft_update u;
	int rv;
	raft_id absent = 0;
	for (unsigned i = 1; i <= w->n_nodes; i++)
		if (raft_config_find(c, i) == NULL && sim_chance(w, 700))
			absent = i;
	if (absent != 0 && sim_chance(w, 600)) {
		char addr[32];
		snprintf(addr, sizeof(addr), "sim-%u", absent);
		rv = raft_add_learner(n->r, sim_local(n, w->now), absent, addr,
				      true, &u);
		sim_trace(w, "n%u add learner n%u: %s", n->id, absent,
			  raft_strerror(rv));
	} else {
		const struct raft_server *s =
		    &c->servers[sim_rand(w) % (c->n ? c->n : 1)];
		if (c->n == 0 ||
		    (s->role == RAFT_VOTER && raft_config_voters(c) <= 3)) {
			return;
		}
		raft_id victim = s->id;
		rv = raft_remove_server(n->r, sim_local(n, w->now), victim, &u);
		sim_trace(w, "n%u remove n%u: %s", n->id, victim,
			  raft_strerror(rv));
	}
	node_handle_update(w, n, &u);
}

static void client_action(struct world *w)
{
	unsigned roll = (unsigned)(sim_rand(w) % 100);
	if (roll < 18) {
		struct node *n = &w->nodes[1 + sim_rand(w) % w->n_nodes];
		if (n->up && !n->paused && n->sm_index >= n->dsnap.index + 25)
			take_snapshot(w, n);
		return;
	}
	struct node *n = pick_leader(w);
	if (n == NULL)
		return;
	struct raft_update u;
	if (roll < 70) {
		propose(w, n);
	} else if (roll < 88) {
		uint64_t id = ++w->read_seq;
		int rv = raft_read_index(n->r, sim_local(n, w->now), id, &u);
		if (rv == RAFT_OK)
			check_read_issued(w, n, id);
		node_handle_update(w, n, &u);
	} else if (roll < 94) {
		if (w->phase == PHASE_FAULTS)
			change_membership(w, n);
	} else {
		if (w->phase != PHASE_FAULTS)
			return;
		int rv =
		    raft_transfer_leadership(n->r, sim_local(n, w->now), 0, &u);
		sim_trace(w, "n%u transfer leadership: %s", n->id,
			  raft_strerror(rv));
		if (rv == RAFT_OK)
			w->totals.transfers++;
		node_handle_update(w, n, &u);
	}
}

static void heal_network(struct world *w)
{
	memset(w->blocked, 0, sizeof(w->blocked));
}

static void fault_action(struct world *w)
{
	unsigned roll = (unsigned)(sim_rand(w) % 100);
	struct node *n = &w->nodes[1 + sim_rand(w) % w->n_nodes];
	unsigned down = 0;
	for (unsigned i = 1; i <= w->n_nodes; i++)
		down += !w->nodes[i].up;
	if (roll < 22) {
		if (n->up && down < 2) {
			node_crash(w, n, "killed");
			sim_schedule(w, w->now + sim_range(w, 30, 400),
				     EV_RESTART, (int)n->id, NULL);
		}
	} else if (roll < 40) {
		/* Pausing a leader is the hard case for leases. */
		struct node *l = pick_leader(w);
		if (l != NULL && sim_chance(w, 600))
			n = l;
		if (n->up && !n->paused) {
			n->paused = true;
			n->pause_until = w->now + sim_range(w, 30, 300);
			w->totals.pauses++;
			sim_trace(w, "n%u PAUSE until %lld", n->id,
				  (long long)n->pause_until);
		}
	} else if (roll < 62) {
		/* A partition: symmetric halves, or one-way links. */
		heal_network(w);
		bool symmetric = sim_chance(w, 600);
		uint32_t side = (uint32_t)sim_rand(w);
		for (unsigned a = 1; a <= w->n_nodes; a++)
			for (unsigned b = 1; b <= w->n_nodes; b++) {
				bool split =
				    ((side >> a) & 1) != ((side >> b) & 1);
				if (symmetric ? split
					      : (split && sim_chance(w, 500)))
					w->blocked[a][b] = true;
			}
		w->totals.partitions++;
		sim_trace(w, "PARTITION %s mask %x",
			  symmetric ? "symmetric" : "one-way", side);
		sim_schedule(w, w->now + sim_range(w, 50, 600), EV_HEAL, 0,
			     NULL);
	} else if (roll < 70) {
		if (n->up) {
			n->fail_next_job = true;
			sim_trace(w, "n%u next fsync will fail", n->id);
		}
	} else if (roll < 85) {
		static const unsigned drops[] = {0, 0, 10, 50, 200};
		w->drop_per_mille = drops[sim_rand(w) % 5];
		w->dup_per_mille = (unsigned)sim_range(w, 0, 50);
		w->delay_max = sim_range(w, 2, 15);
		w->disk_max = sim_range(w, 1, 8);
		static const unsigned long_delays[] = {0, 0, 5, 20};
		w->long_delay_per_mille = long_delays[sim_rand(w) % 4];
		sim_trace(w, "NETWORK drop %u dup %u delay <= %lld",
			  w->drop_per_mille, w->dup_per_mille,
			  (long long)w->delay_max);
	} else {
		heal_network(w);
		sim_trace(w, "HEAL");
	}
}

/* ---- the run ---- */

static void heal_everything(struct world *w)
{
	heal_network(w);
	w->drop_per_mille = 0;
	w->dup_per_mille = 0;
	w->long_delay_per_mille = 0;
	w->delay_max = 5;
	w->disk_max = 3;
	w->quiet_from = w->now;
	for (unsigned i = 1; i <= w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		if (n->up && n->paused && n->pause_until > w->quiet_from)
			w->quiet_from = n->pause_until;
		n->fail_next_job = false;
		if (!n->up)
			node_start(w, n);
		n->paused = false;
	}
	sim_trace(w, "FAULTS END: everything healed");
}

static void process(struct world *w, struct event *e)
{
	struct node *n = e->node > 0 ? &w->nodes[e->node] : NULL;
	if (n != NULL && e->epoch != n->epoch && e->type != EV_RESTART) {
		sim_message_free(e->msg);
		return; /* for a process that crashed since */
	}
	if (n != NULL && n->up && n->paused) {
		if (w->now < n->pause_until) {
			/* A stopped process handles nothing; its events wait.
			 */
			struct event d = *e;
			d.at = n->pause_until;
			sim_schedule(w, d.at, d.type, d.node, d.msg);
			return;
		}
		n->paused = false;
		sim_trace(w, "n%u RESUME", n->id);
	}
	w->totals.events++;
	struct raft_update u;
	switch (e->type) {
	case EV_DELIVER: {
		struct raft_message *m = e->msg;
		if (!n->up || w->blocked[m->from][m->to]) {
			sim_message_free(m);
			return;
		}
		struct before_step before;
		check_message_delivered(w, n, m, &before);
		raft_step(n->r, sim_local(n, w->now), m, &u);
		check_message_stepped(w, n, m, &before, &u);
		sim_message_free(m);
		node_handle_update(w, n, &u);
		break;
	}
	case EV_TICK:
		if (!n->up)
			return;
		raft_tick(n->r, sim_local(n, w->now), &u);
		node_handle_update(w, n, &u);
		if (n->up) {
			/* TICK ms of the node's own clock. */
			int64_t real =
			    TICK * 1000000 / (1000000 + n->drift_ppm);
			sim_schedule(w, w->now + (real > 0 ? real : 1), EV_TICK,
				     (int)n->id, NULL);
		}
		break;
	case EV_JOB:
		if (n->up)
			complete_job(w, n);
		break;
	case EV_RESTART:
		if (!n->up && w->phase == PHASE_FAULTS) {
			sim_trace(w, "n%u RESTART", n->id);
			node_start(w, n);
		}
		break;
	case EV_CLIENT:
		client_action(w);
		if (w->phase != PHASE_DONE)
			sim_schedule(w, w->now + sim_range(w, 2, 14), EV_CLIENT,
				     0, NULL);
		break;
	case EV_FAULT:
		if (w->phase != PHASE_FAULTS)
			break;
		fault_action(w);
		sim_schedule(w, w->now + sim_range(w, 20, 160), EV_FAULT, 0,
			     NULL);
		break;
	case EV_HEAL:
		if (w->phase == PHASE_FAULTS) {
			heal_network(w);
			sim_trace(w, "HEAL");
		}
		break;
	}
	check_world(w);
	check_disruption(w);
}

static void world_free(struct world *w)
{
	for (unsigned i = 1; i <= w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		if (n->r)
			raft_free(n->r);
		drop_jobs(n);
		dlog_truncate(n, 0);
		free(n->dlog.e);
		free(n->dsnap.data);
		free(n->in_data);
	}
	while (w->n_events > 0) {
		struct event e = pop_event(w);
		sim_message_free(e.msg);
	}
	free(w->events);
	checks_free(w);
}

static void print_failure(struct world *w, const char *what)
{
	if (w->cfg.quiet)
		return;
	printf("sim: seed %llu (%u nodes): %s: %s\n",
	       (unsigned long long)w->cfg.seed, w->cfg.size, what, w->failure);
	if (!w->cfg.trace) {
		uint64_t first =
		    w->trace_pos > TRACE_LINES ? w->trace_pos - TRACE_LINES : 0;
		printf("sim: the last %llu events:\n",
		       (unsigned long long)(w->trace_pos - first));
		for (uint64_t i = first; i < w->trace_pos; i++)
			printf("  %s\n", w->trace[i % TRACE_LINES]);
	}
	printf("sim: the nodes at the end:\n");
	for (unsigned i = 1; i <= w->n_nodes; i++) {
		const struct node *n = &w->nodes[i];
		if (!n->up) {
			printf("  n%u down\n", n->id);
			continue;
		}
		const struct raft_config *c = raft_config(n->r);
		char members[128] = "";
		size_t off = 0;
		for (uint32_t k = 0; k < c->n && off < sizeof(members) - 8; k++)
			off += (size_t)snprintf(
			    members + off, sizeof(members) - off, "%s%u%s",
			    k ? "," : "", c->servers[k].id,
			    c->servers[k].role == RAFT_VOTER ? "" : "L");
		printf("  n%u %s role %d term %llu vote %u leader %u last "
		       "%llu/%llu "
		       "commit %llu applied %llu snapshot %llu config {%s} "
		       "disk term %llu vote %u%s\n",
		       n->id, n->paused ? "paused" : "up", raft_role(n->r),
		       (unsigned long long)raft_current_term(n->r),
		       raft_voted_for(n->r), raft_leader(n->r),
		       (unsigned long long)raft_last_index(n->r),
		       (unsigned long long)raft_term_at(n->r,
							raft_last_index(n->r)),
		       (unsigned long long)raft_commit_index(n->r),
		       (unsigned long long)raft_last_applied(n->r),
		       (unsigned long long)raft_snapshot_index(n->r), members,
		       (unsigned long long)n->d_term, n->d_vote,
		       raft_stop_reason(n->r) ? " STOPPED" : "");
	}
	printf("sim: replay with: %s --seed %llu --trace%s%s\n", w->argv0,
	       (unsigned long long)w->cfg.seed, w->bug_name[0] ? " --bug " : "",
	       w->bug_name);
}

const char *sim_argv0 = "build/opt/sim";

void sim_totals_add(struct sim_totals *to, const struct sim_totals *from)
{
	/* Every field is a uint64_t counter. */
	uint64_t *dst = (uint64_t *)to;
	const uint64_t *src = (const uint64_t *)from;
	for (size_t i = 0; i < sizeof(*to) / sizeof(uint64_t); i++)
		dst[i] += src[i];
}

int sim_run(const struct sim_config *cfg, struct sim_totals *totals)
{
	struct world *w = xcalloc(1, sizeof(*w));
	w->cfg = *cfg;
	w->argv0 = sim_argv0;
#ifdef RAFT_SELFCHECK
	raft_planted_bug = cfg->bug;
	if (cfg->bug)
		snprintf(w->bug_name, sizeof(w->bug_name), "%s",
			 raft_bug_name(cfg->bug));
#endif
	w->rng = cfg->seed * 0x2545f4914f6cdd1dull + 17;
	w->n_voters = cfg->size;
	w->n_nodes = cfg->size + 2; /* two spares join and leave */
	static const unsigned drift_bounds[] = {20000, 100000, 250000};
	w->drift_bound_ppm = drift_bounds[sim_rand(w) % 3];
	w->delay_min = 1;
	w->delay_max = 5;
	w->disk_max = 3;
	w->fault_end = sim_range(w, 2500, 3500);
	for (unsigned i = 1; i <= w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		n->id = i;
		/* Clocks sit at the edges of the bound more often than not:
		 * that is where leases are tested hardest. */
		int64_t b = (int64_t)w->drift_bound_ppm;
		unsigned pick = (unsigned)(sim_rand(w) % 5);
		n->drift_ppm =
		    pick < 2 ? -b : (pick < 4 ? b : sim_range(w, -b, b));
		n->clock_offset = sim_range(w, 0, 1000000);
	}
	checks_init(w);
	for (unsigned i = 1; i <= w->n_nodes; i++)
		node_start(w, &w->nodes[i]);

	/* Node 1 creates the cluster; the others join with empty logs. */
	struct raft_config c;
	memset(&c, 0, sizeof(c));
	for (unsigned i = 0; i < RAFT_CLUSTER_ID_LEN; i++)
		c.cluster_id[i] = (uint8_t)sim_rand(w);
	for (unsigned i = 1; i <= w->n_voters; i++) {
		c.servers[c.n].id = i;
		c.servers[c.n].role = RAFT_VOTER;
		snprintf(c.servers[c.n].address, RAFT_ADDRESS_MAX, "sim-%u", i);
		c.n++;
	}
	struct raft_update u;
	struct node *first = &w->nodes[1];
	int rv = raft_bootstrap(first->r, sim_local(first, 0), &c, &u);
	if (rv != RAFT_OK)
		sim_violation(w, "bootstrap failed: %s", raft_strerror(rv));
	node_handle_update(w, first, &u);

	sim_schedule(w, 10, EV_CLIENT, 0, NULL);
	sim_schedule(w, 300, EV_FAULT, 0, NULL);
	w->phase = PHASE_FAULTS;
	int64_t deadline = 0, tail_end = 0;
	int result = 0;
	while (w->n_events > 0 && w->failure[0] == 0) {
		struct event e = pop_event(w);
		w->now = e.at;
		if (w->phase == PHASE_FAULTS && w->now >= w->fault_end) {
			w->phase = PHASE_HEALED;
			heal_everything(w);
			deadline = w->now + LIVENESS_BOUND;
		}
		process(w, &e);
		if (w->phase == PHASE_DONE && w->now > tail_end)
			break;
		if (w->phase == PHASE_HEALED && liveness_reached(w)) {
			w->phase = PHASE_DONE;
			tail_end = w->now + QUIET_TAIL;
		}
		if (w->phase == PHASE_HEALED && w->now > deadline) {
			snprintf(w->failure, sizeof(w->failure),
				 "no leader committed a new proposal on every "
				 "member "
				 "within %d ms after faults stopped (probe "
				 "index %llu)",
				 LIVENESS_BOUND,
				 (unsigned long long)w->probe_index);
			w->liveness_failed = true;
			break;
		}
	}
	if (w->failure[0] != 0) {
		if (w->disrupted) {
			print_failure(w, "DISRUPTION");
			result = 3;
			w->totals.disruptions++;
		} else if (w->liveness_failed) {
			print_failure(w, "LIVENESS FAILURE");
			result = 2;
			w->totals.liveness_failures++;
		} else {
			print_failure(w, "VIOLATION");
			result = 1;
			w->totals.violations++;
		}
	}
	w->totals.seeds = 1;
	sim_totals_add(totals, &w->totals);
	world_free(w);
	free(w);
	return result;
}
