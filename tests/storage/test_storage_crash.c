/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Crash tests: random workloads on the in-memory file system model, cut at
 * a random point, rebooted so that everything not covered by an fsync is
 * dropped or torn, then restarted. After every restart: every entry the
 * storage reported durable is there, nothing it never wrote appears, and
 * term/vote never went back. Seeds replay exactly:
 *   STORAGE_CRASH_SEEDS=N (how many), STORAGE_CRASH_SEED=S (just one).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storage/storage.h"
#include "tests/storage/memfs.h"

#define DIR_PATH "/data"
#define MAX_INDEX 4096
#define LIVES 5
#define OPS_PER_LIFE 40

struct mentry {
	raft_term term;
	uint32_t salt;
	uint32_t len;
	uint8_t type;
};

enum pending_kind {
	P_NONE,
	P_HARD_STATE,
	P_APPEND,
	P_TRUNCATE,
	P_SNAPSHOT,
	P_INSTALL,
	P_COMPACT,
};

struct pending {
	enum pending_kind kind;
	raft_term term;
	raft_id vote;
	raft_index from, to; /* APPEND: new entries; TRUNCATE: from */
	struct mentry batch[16];
	raft_index snap_index;
	raft_term snap_term;
	uint32_t snap_salt;
	uint32_t snap_len;
	bool keep_log;
};

/* What the storage has reported durable. */
struct model {
	raft_term term;
	raft_id vote;
	raft_index snap_index;
	raft_term snap_term;
	uint32_t snap_salt;
	uint32_t snap_len;
	raft_index last; /* entries snap_index+1..last are in log[] */
	struct mentry log[MAX_INDEX + 1];
};

struct run {
	uint64_t rng;
	uint64_t seed;
	struct memfs *fs;
	struct storage *s;
	struct model m;
	struct pending p;
	unsigned long crashes;
	unsigned long clean_restarts;
	unsigned long recovery_crashes;
	unsigned long enospc;
};

static uint64_t rnd(struct run *r)
{
	uint64_t x = r->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t below(struct run *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

static void fill(uint8_t *buf, uint32_t len, uint32_t salt)
{
	for (uint32_t j = 0; j < len; j++)
		buf[j] = (uint8_t)(salt * 31u + j * 7u + (j >> 8));
}

static void quiet_log(void *ctx, enum storage_log_level level, const char *msg)
{
	(void)ctx;
	(void)level;
	(void)msg;
}

/* Fails the test with the seed, so that it can be replayed. */
static void die(struct run *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "seed %llu: ", (unsigned long long)r->seed);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	fail();
}

static raft_term last_term(const struct run *r)
{
	return r->m.last > r->m.snap_index ? r->m.log[r->m.last].term
					   : r->m.snap_term;
}

/* The same snapshot through a writer, fed in pieces of random sizes (the
 * storage fsyncs every 512 bytes here). */
static int write_in_pieces(struct run *r, const struct pending *p,
			   const struct raft_config *cfg, const uint8_t *data)
{
	struct storage_snapshot_writer *w = storage_snapshot_writer_new(
	    r->s, p->snap_index, p->snap_term, cfg, p->snap_len);
	assert_non_null(w);
	uint64_t off = 0;
	int rv = STORAGE_OK;
	while (rv == STORAGE_OK && off < p->snap_len) {
		uint64_t n = 1 + below(r, 900);
		if (n > p->snap_len - off)
			n = p->snap_len - off;
		rv = storage_snapshot_writer_write(w, data + off, (size_t)n);
		off += n;
	}
	if (rv == STORAGE_OK)
		storage_snapshot_writer_finish(w);
	rv = storage_snapshot_install(r->s, w);
	storage_snapshot_writer_free(w);
	return rv;
}

static void storage_start(struct run *r, struct storage_loaded *l)
{
	struct storage_options o = {.segment_size = 4096,
				    .snapshot_slice = 512,
				    .log = quiet_log,
				    .vfs = memfs_vfs(r->fs)};
	/* Sometimes recovery itself is cut short, and then run again. */
	if (below(r, 5) == 0) {
		memfs_crash_at(r->fs, 1 + below(r, 12));
		r->s = storage_new(DIR_PATH, &o);
		assert_non_null(r->s);
		int rv = storage_open(r->s, l);
		if (rv != STORAGE_OK && !memfs_crashed(r->fs))
			die(r, "recovery failed: %s", storage_errmsg(r->s));
		if (memfs_crashed(r->fs))
			r->recovery_crashes++;
		storage_loaded_free(l);
		storage_close(r->s);
		memfs_crash_at(r->fs, 0);
		memfs_reboot(r->fs);
	}
	r->s = storage_new(DIR_PATH, &o);
	assert_non_null(r->s);
	int rv = storage_open(r->s, l);
	if (rv != STORAGE_OK)
		die(r, "restart failed (%s): %s", storage_strerror(rv),
		    storage_errmsg(r->s));
}

static void check_entry(struct run *r, const struct raft_entry *e,
			const struct mentry *want)
{
	uint8_t buf[4096];
	if (e->term != want->term || e->len != want->len ||
	    e->type != want->type)
		die(r,
		    "entry %llu: term %llu len %u, expected term %llu len %u",
		    (unsigned long long)e->index, (unsigned long long)e->term,
		    e->len, (unsigned long long)want->term, want->len);
	fill(buf, want->len, want->salt);
	if (want->len > 0 && memcmp(buf, e->data, want->len) != 0)
		die(r, "entry %llu: data differs",
		    (unsigned long long)e->index);
}

static void check_snapshot_data(struct run *r, uint32_t salt, uint32_t len)
{
	uint8_t want[4096], got[4096];
	size_t n = 0;
	fill(want, len, salt);
	if (storage_snapshot_read(r->s, 0, got, sizeof(got), &n) != STORAGE_OK)
		die(r, "snapshot read: %s", storage_errmsg(r->s));
	if (n != len || memcmp(want, got, len) != 0)
		die(r, "snapshot data differs (%zu bytes, expected %u)", n,
		    len);
}

/* Checks the restarted state against the model and the operation that the
 * crash interrupted, then makes the model what was found. */
static void verify(struct run *r, const struct storage_loaded *l)
{
	struct model *m = &r->m;
	struct pending *p = &r->p;
	const struct raft_persisted_state *st = &l->state;

	bool hs_old = st->term == m->term && st->vote == m->vote;
	bool hs_new = p->kind == P_HARD_STATE && st->term == p->term &&
		      st->vote == p->vote;
	if (!hs_old && !hs_new)
		die(r, "term/vote %llu/%u, expected %llu/%u",
		    (unsigned long long)st->term, st->vote,
		    (unsigned long long)m->term, m->vote);

	bool snap_new = false;
	if ((p->kind == P_SNAPSHOT || p->kind == P_INSTALL) &&
	    st->snap_index == p->snap_index && p->snap_index != m->snap_index)
		snap_new = true;
	else if (st->snap_index != m->snap_index)
		die(r, "snapshot %llu, expected %llu",
		    (unsigned long long)st->snap_index,
		    (unsigned long long)m->snap_index);
	if (snap_new) {
		if (st->snap_term != p->snap_term ||
		    st->snap_size != p->snap_len)
			die(r, "new snapshot term/size differ");
		check_snapshot_data(r, p->snap_salt, p->snap_len);
	} else if (m->snap_index != 0) {
		if (st->snap_term != m->snap_term ||
		    st->snap_size != m->snap_len)
			die(r, "snapshot term/size differ");
		check_snapshot_data(r, m->snap_salt, m->snap_len);
	}
	raft_index snap = st->snap_index;

	/* Entries are consecutive from the snapshot on. */
	for (size_t i = 0; i < l->n_entries; i++)
		if (l->entries[i].index != snap + 1 + i)
			die(r, "entry %zu has index %llu, expected %llu", i,
			    (unsigned long long)l->entries[i].index,
			    (unsigned long long)(snap + 1 + i));
	raft_index last = snap + l->n_entries;

	raft_index lo = m->last, hi = m->last; /* allowed range of last */
	if (p->kind == P_APPEND)
		hi = p->to;
	if (p->kind == P_TRUNCATE)
		lo = p->from - 1;
	if (snap_new && p->kind == P_INSTALL && !p->keep_log)
		lo = hi = snap;
	if (snap_new && p->kind == P_SNAPSHOT && l->n_entries == 0 &&
	    m->last <= snap)
		lo = hi = snap;
	if (last < lo || last > hi) {
		if (!(last == snap && l->n_entries == 0 && m->last <= snap))
			die(r,
			    "log ends at %llu, expected %llu..%llu "
			    "(pending op %d)",
			    (unsigned long long)last, (unsigned long long)lo,
			    (unsigned long long)hi, p->kind);
	}
	for (size_t i = 0; i < l->n_entries; i++) {
		raft_index idx = l->entries[i].index;
		const struct mentry *want;
		if (p->kind == P_APPEND && idx >= p->from)
			want = &p->batch[idx - p->from];
		else
			want = &m->log[idx];
		check_entry(r, &l->entries[i], want);
	}

	/* The model becomes what survived. */
	m->term = st->term;
	m->vote = st->vote;
	if (snap_new) {
		m->snap_index = p->snap_index;
		m->snap_term = p->snap_term;
		m->snap_salt = p->snap_salt;
		m->snap_len = p->snap_len;
	}
	if (p->kind == P_APPEND)
		for (raft_index i = p->from; i <= last; i++)
			m->log[i] = p->batch[i - p->from];
	m->last = last;
	p->kind = P_NONE;
}

/* One operation of the workload; false when the machine stopped. */
static bool step(struct run *r)
{
	struct model *m = &r->m;
	struct pending *p = &r->p;
	uint32_t dice = below(r, 100);
	int rv;
	memset(p, 0, sizeof(*p));
	/* Now and then the disk is full for one operation. */
	bool full = below(r, 20) == 0;
	memfs_no_space(r->fs, full);

	if (dice < 15) {
		p->kind = P_HARD_STATE;
		p->term = m->term + below(r, 2);
		p->vote = below(r, 4);
		rv = storage_set_hard_state(r->s, p->term, p->vote);
		if (rv == STORAGE_OK) {
			m->term = p->term;
			m->vote = p->vote;
		}
	} else if (dice < 62 || m->last == m->snap_index) {
		uint32_t n = 1 + below(r, 8);
		if (m->last + n > MAX_INDEX)
			return true;
		p->kind = P_APPEND;
		p->from = m->last + 1;
		p->to = m->last + n;
		raft_term t = last_term(r) + (below(r, 4) == 0);
		if (t == 0)
			t = 1;
		struct raft_entry e[16];
		uint8_t *bufs[16];
		for (uint32_t i = 0; i < n; i++) {
			struct mentry *me = &p->batch[i];
			me->term = t;
			me->salt = (uint32_t)rnd(r);
			me->len =
			    below(r, 6) == 0 ? below(r, 3000) : below(r, 300);
			me->type = (uint8_t)(1 + below(r, 3));
			bufs[i] = malloc(me->len + 1);
			assert_non_null(bufs[i]);
			fill(bufs[i], me->len, me->salt);
			e[i] = (struct raft_entry){.term = t,
						   .index = p->from + i,
						   .type = me->type,
						   .version = 1,
						   .len = me->len,
						   .data = bufs[i]};
		}
		rv = storage_append(r->s, e, n);
		for (uint32_t i = 0; i < n; i++)
			free(bufs[i]);
		if (rv == STORAGE_OK) {
			for (uint32_t i = 0; i < n; i++)
				m->log[p->from + i] = p->batch[i];
			m->last = p->to;
		}
	} else if (dice < 72) {
		p->kind = P_TRUNCATE;
		p->from = m->snap_index + 1 +
			  below(r, (uint32_t)(m->last - m->snap_index));
		rv = storage_truncate(r->s, p->from);
		if (rv == STORAGE_OK)
			m->last = p->from - 1;
	} else if (dice < 82) {
		p->kind = P_SNAPSHOT;
		p->snap_index = m->snap_index + 1 +
				below(r, (uint32_t)(m->last - m->snap_index));
		p->snap_term = m->log[p->snap_index].term;
		p->snap_salt = (uint32_t)rnd(r);
		p->snap_len = below(r, 3000);
		uint8_t data[4096];
		fill(data, p->snap_len, p->snap_salt);
		struct raft_config cfg = {.n = 1};
		cfg.servers[0] =
		    (struct raft_server){.id = 1, .role = RAFT_VOTER};
		strcpy(cfg.servers[0].address, "127.0.0.1:7000");
		if (below(r, 2) == 0)
			rv = storage_snapshot_write(r->s, p->snap_index,
						    p->snap_term, &cfg, data,
						    p->snap_len);
		else
			rv = write_in_pieces(r, p, &cfg, data);
		if (rv == STORAGE_OK) {
			m->snap_index = p->snap_index;
			m->snap_term = p->snap_term;
			m->snap_salt = p->snap_salt;
			m->snap_len = p->snap_len;
		}
	} else if (dice < 90) {
		p->kind = P_COMPACT;
		raft_index trailing = below(r, 6);
		rv = storage_compact(r->s, m->snap_index > trailing
					       ? m->snap_index - trailing
					       : 0);
	} else {
		/* A snapshot from the leader, in chunks. */
		p->kind = P_INSTALL;
		p->snap_index =
		    m->snap_index + 1 +
		    below(r, (uint32_t)(m->last - m->snap_index) + 4);
		raft_term here =
		    p->snap_index <= m->last ? m->log[p->snap_index].term : 0;
		p->keep_log = here != 0 && below(r, 2) == 0;
		p->snap_term = p->keep_log ? here : last_term(r) + 1;
		p->snap_salt = (uint32_t)rnd(r);
		p->snap_len = below(r, 3000);
		uint8_t data[4096];
		fill(data, p->snap_len, p->snap_salt);
		struct raft_config cfg = {.n = 1};
		cfg.servers[0] =
		    (struct raft_server){.id = 2, .role = RAFT_VOTER};
		strcpy(cfg.servers[0].address, "127.0.0.2:7000");
		uint32_t chunk = 1 + below(r, 1200);
		uint64_t off = 0;
		do {
			uint32_t n = p->snap_len - off < chunk
					 ? (uint32_t)(p->snap_len - off)
					 : chunk;
			struct raft_snapshot_chunk c = {
			    .index = p->snap_index,
			    .term = p->snap_term,
			    .offset = off,
			    .data = data + off,
			    .len = n,
			    .last = off + n == p->snap_len,
			    .config = &cfg,
			};
			rv = storage_snapshot_chunk(r->s, &c);
			off += n;
		} while (rv == STORAGE_OK && off < p->snap_len);
		if (rv == STORAGE_OK) {
			m->snap_index = p->snap_index;
			m->snap_term = p->snap_term;
			m->snap_salt = p->snap_salt;
			m->snap_len = p->snap_len;
			if (!p->keep_log)
				m->last = m->snap_index;
		}
	}
	memfs_no_space(r->fs, false);
	if (rv == STORAGE_ENOSPC && full && !storage_failed(r->s)) {
		/* Refused, nothing changed; the storage goes on. */
		r->enospc++;
		p->kind = P_NONE;
		return true;
	}
	if (rv == STORAGE_OK) {
		p->kind = P_NONE;
		return true;
	}
	if (!memfs_crashed(r->fs))
		die(r, "operation %d failed without a crash (%s): %s", p->kind,
		    storage_strerror(rv), storage_errmsg(r->s));
	/* Every later call must fail as well. */
	if (storage_set_hard_state(r->s, m->term + 1, 1) == STORAGE_OK)
		die(r, "a failed storage accepted a write");
	return false;
}

static void run_seed(struct run *r, uint64_t seed)
{
	memset(r, 0, sizeof(*r));
	r->seed = seed;
	r->rng = seed * 0x9E3779B97F4A7C15ULL + 77;
	r->fs = memfs_new(seed);
	struct storage_loaded l;
	storage_start(r, &l);
	verify(r, &l);
	storage_loaded_free(&l);
	for (int life = 0; life < LIVES; life++) {
		memfs_crash_at(r->fs, 1 + below(r, 250));
		bool crashed = false;
		for (int i = 0; i < OPS_PER_LIFE && !crashed; i++)
			crashed = !step(r);
		if (crashed)
			r->crashes++;
		else
			r->clean_restarts++;
		storage_close(r->s);
		memfs_crash_at(r->fs, 0);
		memfs_reboot(r->fs);
		storage_start(r, &l);
		verify(r, &l);
		storage_loaded_free(&l);
	}
	storage_close(r->s);
	memfs_free(r->fs);
}

/* The value of environment variable `name`, a number of at least `least`,
 * or `fallback` when it is not set (or empty); anything else fails the test
 * rather than run other seeds than asked. */
static uint64_t seed_knob(const char *name, uint64_t least, uint64_t fallback)
{
	const char *text = getenv(name);
	if (text == NULL || *text == '\0')
		return fallback;
	char *end;
	errno = 0;
	unsigned long long value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value < least || text[0] == '-')
		fail_msg("%s='%s' is not a number of at least %llu", name, text,
			 (unsigned long long)least);
	return value;
}

static void test_random_crashes(void **state)
{
	(void)state;
	static struct run r;
	/* Knobs for a run by hand; make test refuses to start with them set. */
	uint64_t seeds = seed_knob("STORAGE_CRASH_SEEDS", 1, 1000);
	uint64_t first = seed_knob("STORAGE_CRASH_SEED", 0, 1);
	const char *one = getenv("STORAGE_CRASH_SEED");
	if (one != NULL && *one != '\0')
		seeds = 1;
	unsigned long crashes = 0, clean = 0, in_recovery = 0, enospc = 0;
	for (uint64_t seed = first; seed < first + seeds; seed++) {
		run_seed(&r, seed);
		crashes += r.crashes;
		clean += r.clean_restarts;
		in_recovery += r.recovery_crashes;
		enospc += r.enospc;
	}
	printf(
	    "storage crash: %llu seeds from %llu, %lu crash points exercised "
	    "(+%lu inside recovery), %lu clean restarts, %lu ENOSPC "
	    "refusals\n",
	    (unsigned long long)seeds, (unsigned long long)first, crashes,
	    in_recovery, clean, enospc);
	assert_true(crashes > seeds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_crashes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
