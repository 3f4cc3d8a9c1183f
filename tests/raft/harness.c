/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The in-test cluster described in harness.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/raft/harness.h"

#define DELIVER_BOUND 200000

bool h_alloc_protected;

/* The harness's own allocations never take part in injected failures. */
static void *xrealloc(void *old, size_t n)
{
	h_alloc_protected = true;
	void *p = realloc(old, n ? n : 1);
	h_alloc_protected = false;
	if (p == NULL)
		fail_msg("out of memory in the test harness");
	return p;
}

static void *xmalloc(size_t n)
{
	return xrealloc(NULL, n);
}

static struct raft_entry *copy_entries(const struct raft_entry *e, size_t n)
{
	if (n == 0 || e == NULL)
		return NULL;
	struct raft_entry *c = xmalloc(n * sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c[i] = e[i];
		c[i].data = NULL;
		if (e[i].len > 0) {
			c[i].data = xmalloc(e[i].len);
			memcpy(c[i].data, e[i].data, e[i].len);
		}
	}
	return c;
}

static void free_entries(struct raft_entry *e, size_t n)
{
	for (size_t i = 0; i < n && e != NULL; i++)
		free(e[i].data);
	free(e);
}

void h_options(struct raft_options *o)
{
	raft_options_default(o);
	o->election_timeout = 1000;
	o->heartbeat_interval = 100;
	o->max_clock_drift_ppm = 50000;
	o->snapshot_chunk_bytes = 8;
	o->snapshot_trailing = 2;
	o->transfer_timeout = 2000;
}

void h_address(raft_id id, char *buf, size_t len)
{
	snprintf(buf, len, "127.0.0.1:%u", 7000u + id);
}

void h_config_of(unsigned n, struct raft_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->cluster_id, "unit-test-clustr", RAFT_CLUSTER_ID_LEN);
	for (unsigned i = 0; i < n; i++) {
		struct raft_server *s = &cfg->servers[cfg->n++];
		s->id = i + 1;
		s->role = RAFT_VOTER;
		h_address(s->id, s->address, sizeof(s->address));
	}
}

struct h_node *h_node(struct h_cluster *c, raft_id id)
{
	if (id == 0 || id > c->n)
		fail_msg("no node %u", id);
	return &c->node[id];
}

struct raft *h_raft(struct h_cluster *c, raft_id id)
{
	struct h_node *nd = h_node(c, id);
	if (nd->r == NULL)
		fail_msg("node %u is down", id);
	return nd->r;
}

/* ---- the message queue ---- */

static void enqueue(struct h_cluster *c, const struct raft_message *m)
{
	if (c->n_queue == c->cap_queue) {
		size_t cap = c->cap_queue ? c->cap_queue * 2 : 64;
		c->queue = xrealloc(c->queue, cap * sizeof(c->queue[0]));
		c->cap_queue = cap;
	}
	struct h_msg *hm = &c->queue[c->n_queue++];
	memset(hm, 0, sizeof(*hm));
	hm->m = *m;
	hm->m.entries = copy_entries(m->entries, m->n_entries);
	hm->m.config = NULL;
	hm->m.data = NULL;
	if (m->type == RAFT_MSG_SNAPSHOT) {
		if (m->config != NULL)
			hm->config = *m->config;
		/* The driver reads the chunk from its snapshot file. */
		const struct h_node *from = &c->node[m->from];
		const uint8_t *src = m->data;
		if (src == NULL) {
			if (!from->disk.has_snap ||
			    m->offset + m->len > H_SNAPSHOT_BYTES)
				fail_msg(
				    "node %u sends a snapshot it does not have",
				    m->from);
			src = from->disk.snap + m->offset;
		}
		if (m->len > 0) {
			uint8_t *d = xmalloc(m->len);
			memcpy(d, src, m->len);
			hm->m.data = d;
		}
	} else if (m->len > 0 && m->data != NULL) {
		uint8_t *d = xmalloc(m->len);
		memcpy(d, m->data, m->len);
		hm->m.data = d;
	}
}

static void msg_free(struct h_msg *hm)
{
	free_entries(hm->m.entries, hm->m.n_entries);
	free((void *)hm->m.data);
}

static bool matches(const struct raft_message *m, uint8_t type, raft_id from,
		    raft_id to)
{
	return (type == 0 || m->type == type) &&
	       (from == 0 || m->from == from) && (to == 0 || m->to == to);
}

static struct h_msg take(struct h_cluster *c, size_t i)
{
	struct h_msg hm = c->queue[i];
	memmove(&c->queue[i], &c->queue[i + 1],
		(c->n_queue - i - 1) * sizeof(c->queue[0]));
	c->n_queue--;
	return hm;
}

size_t h_pending(struct h_cluster *c, uint8_t type, raft_id from, raft_id to)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_queue; i++)
		if (matches(&c->queue[i].m, type, from, to))
			n++;
	return n;
}

struct raft_message *h_peek(struct h_cluster *c, uint8_t type, raft_id from,
			    raft_id to)
{
	for (size_t i = 0; i < c->n_queue; i++)
		if (matches(&c->queue[i].m, type, from, to)) {
			struct h_msg *hm = &c->queue[i];
			if (hm->m.type == RAFT_MSG_SNAPSHOT)
				hm->m.config = &hm->config;
			return &hm->m;
		}
	return NULL;
}

size_t h_drop(struct h_cluster *c, uint8_t type, raft_id from, raft_id to)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_queue;) {
		if (matches(&c->queue[i].m, type, from, to)) {
			struct h_msg hm = take(c, i);
			msg_free(&hm);
			n++;
		} else {
			i++;
		}
	}
	return n;
}

bool h_drop_first(struct h_cluster *c, uint8_t type, raft_id from, raft_id to)
{
	for (size_t i = 0; i < c->n_queue; i++)
		if (matches(&c->queue[i].m, type, from, to)) {
			struct h_msg hm = take(c, i);
			msg_free(&hm);
			return true;
		}
	return false;
}

static void deliver_at(struct h_cluster *c, size_t i);

void h_deliver_nth(struct h_cluster *c, size_t i, bool drop)
{
	if (i >= c->n_queue)
		return;
	if (drop) {
		struct h_msg hm = take(c, i);
		msg_free(&hm);
	} else {
		deliver_at(c, i);
	}
}

static void deliver_at(struct h_cluster *c, size_t i)
{
	struct h_msg hm = take(c, i);
	struct raft_message *m = &hm.m;
	if (m->type == RAFT_MSG_SNAPSHOT)
		m->config = &hm.config;
	c->delivered++;
	bool down = m->to == 0 || m->to > c->n || c->node[m->to].r == NULL;
	if (c->trace != 0 && (m->from == c->trace || m->to == c->trace))
		fprintf(stderr,
			"  t%lld %u->%u type %u term %llu prev %llu/%llu n %u "
			"commit %llu index %llu hint %llu reject %u snap %llu "
			"off %llu done %u%s\n",
			(long long)c->node[m->to].now, m->from, m->to, m->type,
			(unsigned long long)m->term,
			(unsigned long long)m->prev_index,
			(unsigned long long)m->prev_term, m->n_entries,
			(unsigned long long)m->commit,
			(unsigned long long)m->index,
			(unsigned long long)m->hint_term, m->reject,
			(unsigned long long)m->snap_index,
			(unsigned long long)m->offset, m->done,
			down ? " (down)"
			     : (c->cut[m->from][m->to] ? " (cut)" : ""));
	if (!down && !c->cut[m->from][m->to])
		h_step(c, m);
	msg_free(&hm);
}

bool h_deliver(struct h_cluster *c, uint8_t type, raft_id from, raft_id to)
{
	for (size_t i = 0; i < c->n_queue; i++)
		if (matches(&c->queue[i].m, type, from, to)) {
			deliver_at(c, i);
			return true;
		}
	return false;
}

size_t h_deliver_all(struct h_cluster *c)
{
	size_t n = 0;
	while (c->n_queue > 0) {
		if (++n > DELIVER_BOUND)
			fail_msg("messages never stop flowing");
		deliver_at(c, 0);
	}
	return n;
}

size_t h_deliver_filtered(struct h_cluster *c,
			  bool (*keep)(const struct raft_message *m))
{
	size_t n = 0;
	while (c->n_queue > 0) {
		if (++n > DELIVER_BOUND)
			fail_msg("messages never stop flowing");
		if (keep(&c->queue[0].m)) {
			deliver_at(c, 0);
		} else {
			struct h_msg hm = take(c, 0);
			msg_free(&hm);
		}
	}
	return n;
}

void h_cut(struct h_cluster *c, raft_id a, raft_id b)
{
	c->cut[a][b] = c->cut[b][a] = true;
}

void h_isolate(struct h_cluster *c, raft_id id)
{
	for (raft_id o = 1; o <= H_MAX_NODES; o++)
		if (o != id)
			h_cut(c, id, o);
}

void h_heal(struct h_cluster *c)
{
	memset(c->cut, 0, sizeof(c->cut));
}

/* ---- storage and the update contract ---- */

static raft_index disk_last_index(const struct h_disk *d)
{
	return d->n ? d->entries[d->n - 1].index : d->snap_index;
}

static raft_term disk_last_term(const struct h_disk *d)
{
	return d->n ? d->entries[d->n - 1].term : d->snap_term;
}

static void disk_truncate(struct h_disk *d, raft_index from)
{
	while (d->n > 0 && d->entries[d->n - 1].index >= from) {
		d->n--;
		free(d->entries[d->n].data);
	}
}

static void disk_append(struct h_node *nd, const struct raft_entry *e, size_t n)
{
	struct h_disk *d = &nd->disk;
	for (size_t i = 0; i < n; i++) {
		/* A snapshot written meanwhile already covers it. */
		if (d->has_snap && e[i].index <= d->snap_index)
			continue;
		if (e[i].index <= disk_last_index(d))
			disk_truncate(d, e[i].index);
		if (e[i].index != disk_last_index(d) + 1)
			fail_msg("node %u: entry %llu persisted after %llu",
				 nd->id, (unsigned long long)e[i].index,
				 (unsigned long long)disk_last_index(d));
		d->entries =
		    xrealloc(d->entries, (d->n + 1) * sizeof(d->entries[0]));
		struct raft_entry *copy = copy_entries(&e[i], 1);
		d->entries[d->n++] = *copy;
		free(copy);
	}
}

static void fsm_snapshot(const struct h_node *nd, uint8_t *out)
{
	uint64_t words[4] = {nd->applied, nd->n_commands, nd->hash,
			     0x736e617073686f74ull};
	memcpy(out, words, sizeof(words));
}

static void fsm_restore(struct h_node *nd, const uint8_t *in)
{
	uint64_t words[4];
	memcpy(words, in, sizeof(words));
	if (words[3] != 0x736e617073686f74ull)
		fail_msg("node %u: snapshot file is corrupt", nd->id);
	nd->applied = words[0];
	nd->n_commands = words[1];
	nd->hash = words[2];
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void check_applied_everywhere(struct h_cluster *c, raft_id id,
				     raft_index i)
{
	struct h_node *nd = &c->node[id];
	for (raft_id o = 1; o <= c->n; o++) {
		struct h_node *other = &c->node[o];
		if (o == id || other->applied_term[i] == 0)
			continue;
		if (other->applied_term[i] != nd->applied_term[i] ||
		    other->applied_hash[i] != nd->applied_hash[i])
			fail_msg(
			    "state machine safety: index %llu applied with "
			    "term %llu on node %u, term %llu on node %u",
			    (unsigned long long)i,
			    (unsigned long long)nd->applied_term[i], id,
			    (unsigned long long)other->applied_term[i], o);
	}
}

static void apply(struct h_cluster *c, struct h_node *nd,
		  const struct raft_entry *e, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (e[k].index != nd->applied + 1)
			fail_msg("node %u applies %llu after %llu", nd->id,
				 (unsigned long long)e[k].index,
				 (unsigned long long)nd->applied);
		nd->applied = e[k].index;
		uint64_t h =
		    hash_bytes(0xcbf29ce484222325ull, e[k].data, e[k].len);
		if (e[k].type == RAFT_ENTRY_COMMAND) {
			nd->n_commands++;
			nd->hash = hash_bytes(nd->hash, e[k].data, e[k].len);
			size_t l = e[k].len < sizeof(nd->last_command) - 1
				       ? e[k].len
				       : sizeof(nd->last_command) - 1;
			memcpy(nd->last_command, e[k].data, l);
			nd->last_command[l] = '\0';
		}
		if (e[k].index < H_MAX_INDEX) {
			nd->applied_term[e[k].index] = e[k].term;
			nd->applied_hash[e[k].index] = h ^ e[k].type;
			check_applied_everywhere(c, nd->id, e[k].index);
		}
	}
}

static void write_batch(struct h_cluster *c, struct h_node *nd,
			const struct h_batch *b, bool *appended)
{
	if (b->hs) {
		nd->disk.term = b->term;
		nd->disk.vote = b->vote;
	}
	if (b->truncate_from != 0)
		disk_truncate(&nd->disk, b->truncate_from);
	if (b->n_entries > 0) {
		disk_append(nd, b->entries, b->n_entries);
		*appended = true;
	}
	for (size_t i = 0; i < b->n_after; i++)
		enqueue(c, &b->after[i]);
}

static void free_batch(struct h_batch *b)
{
	free_entries(b->entries, b->n_entries);
	for (size_t i = 0; i < b->n_after; i++)
		free_entries(b->after[i].entries, b->after[i].n_entries);
	free(b->after);
}

static void report_persisted(struct h_cluster *c, struct h_node *nd);
static void process(struct h_cluster *c, struct h_node *nd,
		    const struct raft_update *u);

static void check_one_leader_per_term(struct h_cluster *c, struct h_node *nd)
{
	if (nd->r == NULL || raft_role(nd->r) != RAFT_LEADER)
		return;
	raft_term t = raft_current_term(nd->r);
	if (t >= H_MAX_TERM)
		return;
	if (c->leader_of_term[t] != 0 && c->leader_of_term[t] != nd->id)
		fail_msg("election safety: nodes %u and %u lead term %llu",
			 c->leader_of_term[t], nd->id, (unsigned long long)t);
	c->leader_of_term[t] = nd->id;
}

static void process(struct h_cluster *c, struct h_node *nd,
		    const struct raft_update *u)
{
	for (size_t i = 0; i < u->n_send_now; i++)
		enqueue(c, &u->send_now[i]);

	struct h_batch b = {
	    .hs = u->hard_state_changed,
	    .term = u->term,
	    .vote = u->vote,
	    .truncate_from = u->truncate_from,
	    .entries = copy_entries(u->entries, u->n_entries),
	    .n_entries = u->entries ? u->n_entries : 0,
	    .n_after = u->n_send_after_persist,
	};
	if (b.n_after > 0) {
		b.after = xmalloc(b.n_after * sizeof(*b.after));
		for (size_t i = 0; i < b.n_after; i++) {
			b.after[i] = u->send_after_persist[i];
			b.after[i].entries =
			    copy_entries(u->send_after_persist[i].entries,
					 u->send_after_persist[i].n_entries);
		}
	}

	/* The snapshot file is a temporary file: written at once, lost on a
	 * crash; the last chunk makes it durable and installs it. */
	bool install = false;
	raft_index snap_index = 0;
	raft_term snap_term = 0;
	const struct raft_snapshot_chunk *ch = u->snapshot_chunk;
	if (ch != NULL) {
		if (ch->offset == 0)
			nd->incoming_len = 0;
		if (ch->offset != nd->incoming_len ||
		    ch->offset + ch->len > H_SNAPSHOT_BYTES)
			fail_msg(
			    "node %u: snapshot chunk at %llu, file has %llu",
			    nd->id, (unsigned long long)ch->offset,
			    (unsigned long long)nd->incoming_len);
		memcpy(nd->incoming + ch->offset, ch->data, ch->len);
		nd->incoming_len += ch->len;
		nd->chunks_written++;
		if (ch->last) {
			install = true;
			nd->installs++;
			snap_index = ch->index;
			snap_term = ch->term;
			struct h_disk *d = &nd->disk;
			disk_truncate(d, 0);
			d->snap_index = ch->index;
			d->snap_term = ch->term;
			d->snap_config = *ch->config;
			memcpy(d->snap, nd->incoming, H_SNAPSHOT_BYTES);
			d->has_snap = true;
			fsm_restore(nd, d->snap);
		}
	}

	bool appended = false;
	bool has_write = b.hs || b.truncate_from || b.n_entries || b.n_after;
	if (nd->slow_disk && has_write) {
		nd->held =
		    xrealloc(nd->held, (nd->n_held + 1) * sizeof(nd->held[0]));
		nd->held[nd->n_held++] = b;
	} else {
		write_batch(c, nd, &b, &appended);
		free_batch(&b);
	}

	apply(c, nd, u->apply, u->apply ? u->n_apply : 0);
	for (size_t i = 0; i < u->n_reads; i++)
		if (nd->n_reads < sizeof(nd->reads) / sizeof(nd->reads[0]))
			nd->reads[nd->n_reads++] = u->reads[i];
	if (u->role_changed)
		nd->role_changes++;
	if (u->error != NULL)
		nd->error = u->error;
	check_one_leader_per_term(c, nd);

	/* Calls back into the core come last: they invalidate *u. */
	if (appended)
		report_persisted(c, nd);
	if (install && nd->r != NULL) {
		struct raft_update u2;
		raft_snapshot_installed(nd->r, nd->now, snap_index, snap_term,
					&u2);
		process(c, nd, &u2);
	}
}

static void report_persisted(struct h_cluster *c, struct h_node *nd)
{
	if (nd->r == NULL || nd->disk.n == 0)
		return;
	struct raft_update u;
	raft_persisted(nd->r, nd->now, disk_last_index(&nd->disk),
		       disk_last_term(&nd->disk), &u);
	process(c, nd, &u);
}

void h_slow_disk(struct h_cluster *c, raft_id id, bool slow)
{
	h_node(c, id)->slow_disk = slow;
}

void h_flush(struct h_cluster *c, raft_id id)
{
	struct h_node *nd = h_node(c, id);
	bool appended = false;
	for (size_t i = 0; i < nd->n_held; i++) {
		write_batch(c, nd, &nd->held[i], &appended);
		free_batch(&nd->held[i]);
	}
	nd->n_held = 0;
	if (appended)
		report_persisted(c, nd);
}

static void drop_held(struct h_node *nd)
{
	for (size_t i = 0; i < nd->n_held; i++)
		free_batch(&nd->held[i]);
	nd->n_held = 0;
}

/* ---- nodes ---- */

static void start_node(struct h_cluster *c, raft_id id, bool from_disk)
{
	struct h_node *nd = &c->node[id];
	nd->r = raft_new(id, &c->opt,
			 c->seed * 7919u + id * 104729u + nd->restarts);
	if (nd->r == NULL)
		fail_msg("raft_new failed for node %u", id);
	struct raft_persisted_state st = {
	    .term = nd->disk.term,
	    .vote = nd->disk.vote,
	    .snap_index = nd->disk.has_snap ? nd->disk.snap_index : 0,
	    .snap_term = nd->disk.has_snap ? nd->disk.snap_term : 0,
	    .snap_size = nd->disk.has_snap ? H_SNAPSHOT_BYTES : 0,
	    .snap_config = nd->disk.has_snap ? &nd->disk.snap_config : NULL,
	    .entries = nd->disk.entries,
	    .n_entries = nd->disk.n,
	};
	/* The state machine restarts from the snapshot, then re-applies. */
	nd->applied = 0;
	nd->n_commands = 0;
	nd->hash = 0;
	if (nd->disk.has_snap)
		fsm_restore(nd, nd->disk.snap);
	struct raft_update u;
	int rv = raft_start(nd->r, nd->now, from_disk ? &st : NULL, &u);
	if (rv != RAFT_OK)
		fail_msg("raft_start(%u): %s", id, raft_strerror(rv));
	process(c, nd, &u);
}

/* Clusters still alive, so that a failed test's cluster is freed too. */
static struct h_cluster *alive[16];

static struct h_cluster *cluster_new(const struct raft_options *o)
{
	struct h_cluster *c = xmalloc(sizeof(*c));
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(alive) / sizeof(alive[0]); i++)
		if (alive[i] == NULL) {
			alive[i] = c;
			break;
		}
	if (o != NULL)
		c->opt = *o;
	else
		h_options(&c->opt);
	c->seed = 1;
	return c;
}

raft_id h_add_node(struct h_cluster *c)
{
	if (c->n == H_MAX_NODES)
		fail_msg("too many nodes");
	raft_id id = ++c->n;
	struct h_node *nd = &c->node[id];
	memset(nd, 0, sizeof(*nd));
	nd->id = id;
	start_node(c, id, false);
	return id;
}

struct h_cluster *h_new_blank(unsigned n, const struct raft_options *o)
{
	struct h_cluster *c = cluster_new(o);
	for (unsigned i = 0; i < n; i++)
		h_add_node(c);
	return c;
}

struct h_cluster *h_new(unsigned n, const struct raft_options *o)
{
	return h_new_seeded(n, o, 1);
}

struct h_cluster *h_new_seeded(unsigned n, const struct raft_options *o,
			       uint64_t seed)
{
	struct h_cluster *c = cluster_new(o);
	c->seed = seed;
	for (unsigned i = 0; i < n; i++)
		h_add_node(c);
	struct raft_config cfg;
	h_config_of(n, &cfg);
	for (raft_id id = 1; id <= n; id++)
		if (h_bootstrap(c, id, &cfg) != RAFT_OK)
			fail_msg("bootstrap of node %u failed", id);
	return c;
}

void h_free(struct h_cluster *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < sizeof(alive) / sizeof(alive[0]); i++)
		if (alive[i] == c)
			alive[i] = NULL;
	for (raft_id id = 1; id <= c->n; id++) {
		struct h_node *nd = &c->node[id];
		raft_free(nd->r);
		drop_held(nd);
		free(nd->held);
		free_entries(nd->disk.entries, nd->disk.n);
	}
	while (c->n_queue > 0) {
		struct h_msg hm = take(c, 0);
		msg_free(&hm);
	}
	free(c->queue);
	free(c);
}

int h_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(alive) / sizeof(alive[0]); i++)
		h_free(alive[i]);
	return 0;
}

void h_crash(struct h_cluster *c, raft_id id)
{
	struct h_node *nd = h_node(c, id);
	raft_free(nd->r);
	nd->r = NULL;
	drop_held(nd);
	nd->incoming_len = 0;
}

void h_restart(struct h_cluster *c, raft_id id)
{
	struct h_node *nd = h_node(c, id);
	if (nd->r != NULL)
		h_crash(c, id);
	nd->restarts++;
	nd->error = NULL;
	start_node(c, id, true);
}

/* ---- time ---- */

void h_advance(struct h_cluster *c, raft_id id, raft_time ms)
{
	h_node(c, id)->now += ms;
}

void h_tick(struct h_cluster *c, raft_id id, raft_time ms)
{
	struct h_node *nd = h_node(c, id);
	nd->now += ms;
	if (nd->r == NULL)
		return;
	struct raft_update u;
	raft_tick(nd->r, nd->now, &u);
	process(c, nd, &u);
}

void h_run(struct h_cluster *c, raft_time ms)
{
	for (raft_time t = 0; t < ms; t += H_STEP) {
		for (raft_id id = 1; id <= c->n; id++)
			h_tick(c, id, H_STEP);
		h_deliver_all(c);
	}
}

raft_id h_leader(struct h_cluster *c)
{
	raft_id best = 0;
	raft_term term = 0;
	for (raft_id id = 1; id <= c->n; id++) {
		struct raft *r = c->node[id].r;
		if (r == NULL || raft_role(r) != RAFT_LEADER)
			continue;
		if (raft_current_term(r) >= term) {
			best = id;
			term = raft_current_term(r);
		}
	}
	return best;
}

void h_elect(struct h_cluster *c, raft_id id)
{
	raft_time e = c->opt.election_timeout;
	for (raft_id o = 1; o <= c->n; o++)
		h_advance(c, o, e);
	/* The deadline lies within [E, 2E) of the last reset. */
	h_tick(c, id, 2 * e);
	h_deliver_all(c);
	struct raft *r = h_raft(c, id);
	if (raft_role(r) != RAFT_LEADER)
		fail_msg(
		    "node %u did not win the election (role %d, term %llu)", id,
		    raft_role(r), (unsigned long long)raft_current_term(r));
	h_tick(c, id, c->opt.heartbeat_interval);
	h_deliver_all(c);
}

static bool is_vote_traffic(const struct raft_message *m)
{
	return m->type == RAFT_MSG_PREVOTE ||
	       m->type == RAFT_MSG_PREVOTE_RESP || m->type == RAFT_MSG_VOTE ||
	       m->type == RAFT_MSG_VOTE_RESP;
}

bool h_campaign(struct h_cluster *c, raft_id id)
{
	raft_time e = c->opt.election_timeout;
	for (int attempt = 0; attempt < 4; attempt++) {
		for (raft_id o = 1; o <= c->n; o++)
			h_advance(c, o, e);
		h_tick(c, id, 2 * e);
		/* Vote traffic first, in order; the rest waits behind it. */
		for (size_t i = 0; i < c->n_queue;) {
			if (is_vote_traffic(&c->queue[i].m))
				deliver_at(c, i);
			else
				i++;
		}
		if (raft_role(h_raft(c, id)) == RAFT_LEADER)
			return true;
	}
	return false;
}

/* ---- calls into the core ---- */

int h_step(struct h_cluster *c, const struct raft_message *m)
{
	struct h_node *nd = h_node(c, m->to);
	if (nd->r == NULL)
		return RAFT_ESTATE;
	struct raft_update u;
	int rv = raft_step(nd->r, nd->now, m, &u);
	process(c, nd, &u);
	return rv;
}

#define CALL(c, id, expr)                                                      \
	do {                                                                   \
		struct h_node *nd_ = h_node(c, id);                            \
		struct raft *r = h_raft(c, id);                                \
		raft_time now = nd_->now;                                      \
		struct raft_update u;                                          \
		int rv_ = (expr);                                              \
		process(c, nd_, &u);                                           \
		return rv_;                                                    \
	} while (0)

int h_propose(struct h_cluster *c, raft_id id, const char *command,
	      raft_index *index)
{
	CALL(c, id,
	     raft_propose(r, now, command, (uint32_t)strlen(command), index,
			  &u));
}

int h_propose_batch(struct h_cluster *c, raft_id id,
		    const struct raft_command *cmds, size_t n,
		    raft_index *first, size_t *taken)
{
	CALL(c, id, raft_propose_batch(r, now, cmds, n, first, taken, &u));
}

int h_read(struct h_cluster *c, raft_id id, uint64_t read_id)
{
	CALL(c, id, raft_read_index(r, now, read_id, &u));
}

int h_transfer(struct h_cluster *c, raft_id id, raft_id to)
{
	CALL(c, id, raft_transfer_leadership(r, now, to, &u));
}

int h_add_learner(struct h_cluster *c, raft_id id, raft_id learner,
		  bool promote)
{
	char addr[RAFT_ADDRESS_MAX];
	h_address(learner, addr, sizeof(addr));
	CALL(c, id, raft_add_learner(r, now, learner, addr, promote, &u));
}

int h_remove(struct h_cluster *c, raft_id id, raft_id server)
{
	CALL(c, id, raft_remove_server(r, now, server, &u));
}

int h_bootstrap(struct h_cluster *c, raft_id id, const struct raft_config *cfg)
{
	CALL(c, id, raft_bootstrap(r, now, cfg, &u));
}

int h_snapshot(struct h_cluster *c, raft_id id)
{
	struct h_node *nd = h_node(c, id);
	uint8_t file[H_SNAPSHOT_BYTES];
	fsm_snapshot(nd, file);
	raft_index at = nd->applied;
	struct raft_update u;
	int rv = raft_snapshot_taken(h_raft(c, id), nd->now, at,
				     H_SNAPSHOT_BYTES, &u);
	if (rv == RAFT_OK) {
		/* The snapshot carries the configuration in force at it: the
		 * newest one at or below it on disk, else the older snapshot's.
		 */
		struct h_disk *d = &nd->disk;
		memcpy(d->snap, file, sizeof(file));
		d->has_snap = true;
		d->snap_index = at;
		d->snap_term = raft_snapshot_term(nd->r);
		for (size_t k = 0; k < d->n && d->entries[k].index <= at; k++)
			if (d->entries[k].type == RAFT_ENTRY_CONFIG &&
			    raft_config_decode(d->entries[k].data,
					       d->entries[k].len,
					       &d->snap_config) != RAFT_OK)
				fail_msg("node %u: bad configuration entry",
					 id);
		/* The driver may drop what the snapshot covers. */
		size_t k = 0;
		while (k < d->n && d->entries[k].index <= at)
			free(d->entries[k++].data);
		memmove(d->entries, d->entries + k,
			(d->n - k) * sizeof(d->entries[0]));
		d->n -= k;
	}
	process(c, nd, &u);
	return rv;
}

void h_check_no_error(struct h_cluster *c)
{
	for (raft_id id = 1; id <= c->n; id++)
		if (c->node[id].error != NULL)
			fail_msg("node %u stopped: %s", id, c->node[id].error);
}

bool h_read_answered(struct h_node *nd, uint64_t read_id, int *status,
		     raft_index *index)
{
	for (size_t i = 0; i < nd->n_reads; i++)
		if (nd->reads[i].id == read_id) {
			if (status != NULL)
				*status = nd->reads[i].status;
			if (index != NULL)
				*index = nd->reads[i].index;
			return true;
		}
	return false;
}
