/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The Raft commit benchmark on canonical/raft (Debian's libraft-dev) with
 * its own libuv I/O backend and TCP transport, plaintext like ours: one
 * libuv loop in the process's only thread. The state machine counts the
 * entries it applied, like ours. */
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bench/raft/driver.h"

static uv_loop_t loop;
static uv_timer_t run_timer;
static struct raft_uv_transport transport;
static struct raft_io io;
static struct raft_fsm fsm;
static struct raft raft;
static uint64_t applied_count;

static int fsm_apply(struct raft_fsm *f, const struct raft_buffer *buf,
		     void **result)
{
	(void)f;
	(void)buf;
	applied_count++;
	*result = NULL;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *f, struct raft_buffer *bufs[],
			unsigned *n_bufs)
{
	(void)f;
	*bufs = raft_malloc(sizeof(**bufs));
	if (*bufs == NULL)
		return RAFT_NOMEM;
	(*bufs)[0].base = raft_malloc(sizeof(applied_count));
	if ((*bufs)[0].base == NULL) {
		raft_free(*bufs);
		return RAFT_NOMEM;
	}
	memcpy((*bufs)[0].base, &applied_count, sizeof(applied_count));
	(*bufs)[0].len = sizeof(applied_count);
	*n_bufs = 1;
	return 0;
}

static int fsm_restore(struct raft_fsm *f, struct raft_buffer *buf)
{
	(void)f;
	if (buf->len == sizeof(applied_count))
		memcpy(&applied_count, buf->base, sizeof(applied_count));
	raft_free(buf->base);
	return 0;
}

struct apply_request {
	struct raft_apply req;
	uint64_t cookie;
};

static void on_applied(struct raft_apply *req, int status, void *result)
{
	(void)result;
	struct apply_request *r = req->data;
	uint64_t cookie = r->cookie;
	free(r);
	bench_raft_committed(cookie, status == 0);
}

static int propose(const void *data, size_t len, uint64_t cookie)
{
	struct apply_request *r = malloc(sizeof(*r));
	struct raft_buffer buf = {.base = raft_malloc(len), .len = len};
	if (r == NULL || buf.base == NULL) {
		free(r);
		raft_free(buf.base);
		return -1;
	}
	memcpy(buf.base, data, len);
	r->cookie = cookie;
	r->req.data = r;
	int rv = raft_apply(&raft, &r->req, &buf, 1, on_applied);
	if (rv != 0) {
		fprintf(stderr, "bench-raft canonical: raft_apply: %s\n",
			raft_strerror(rv));
		raft_free(buf.base);
		free(r);
		return -1;
	}
	return 0;
}

static void on_run_timer(uv_timer_t *t)
{
	(void)t;
}

/* canonical/raft 0.15's TCP transport leaves Nagle's algorithm on, so a
 * small message can wait for the peer's delayed ACK (40 ms on Linux): with
 * several proposers its commits stall that long. Ours turns it off, so for
 * a fair comparison every TCP handle of the loop gets TCP_NODELAY as soon
 * as it exists (BENCH_CANONICAL_NAGLE=1 keeps the library's setting). */
static bool keep_nagle;

static void set_nodelay(uv_handle_t *handle, void *arg)
{
	(void)arg;
	if (handle->type == UV_TCP && !uv_is_closing(handle))
		(void)uv_tcp_nodelay((uv_tcp_t *)handle, 1);
}

static void run(int timeout_ms)
{
	/* One pass of the loop, which waits at most timeout_ms. */
	uv_timer_start(&run_timer, on_run_timer, (uint64_t)timeout_ms, 0);
	uv_run(&loop, UV_RUN_ONCE);
	uv_timer_stop(&run_timer);
	if (!keep_nagle)
		uv_walk(&loop, set_nodelay, NULL);
}

static bool is_leader(void)
{
	return raft_state(&raft) == RAFT_LEADER;
}

static int start(const struct bench_raft_config *c)
{
	int rv;
	if (uv_loop_init(&loop) != 0 || uv_timer_init(&loop, &run_timer) != 0)
		return -1;
	fsm = (struct raft_fsm){.version = 1,
				.apply = fsm_apply,
				.snapshot = fsm_snapshot,
				.restore = fsm_restore};
	if ((rv = raft_uv_tcp_init(&transport, &loop)) != 0 ||
	    (rv = raft_uv_init(&io, &loop, c->dir, &transport)) != 0 ||
	    (rv = raft_init(&raft, &io, &fsm, c->id,
			    c->addresses[c->id - 1])) != 0) {
		fprintf(stderr, "bench-raft canonical: init: %s\n",
			raft_strerror(rv));
		return -1;
	}
	struct raft_configuration conf;
	raft_configuration_init(&conf);
	for (unsigned i = 0; i < BENCH_RAFT_NODES; i++)
		if ((rv = raft_configuration_add(&conf, i + 1, c->addresses[i],
						 RAFT_VOTER)) != 0)
			break;
	/* Every node starts from the same configuration: canonical/raft's way
	 * of forming a cluster. */
	if (rv == 0)
		rv = raft_bootstrap(&raft, &conf);
	raft_configuration_close(&conf);
	if (rv != 0) {
		fprintf(stderr, "bench-raft canonical: bootstrap: %s\n",
			raft_strerror(rv));
		return -1;
	}
	raft_set_election_timeout(&raft, c->election_timeout_ms);
	raft_set_heartbeat_timeout(&raft, c->heartbeat_ms);
	/* Our node spreads its nodes' thresholds (by a quarter of it per node
	 * id, node/node.c) so that they do not all write a snapshot at once;
	 * the same here, so both take as many snapshots at the same indexes. */
	raft_set_snapshot_threshold(
	    &raft,
	    c->snapshot_threshold + c->snapshot_threshold / 4 * (c->id % 4));
	raft_set_snapshot_trailing(&raft, c->snapshot_trailing);
	if ((rv = raft_start(&raft)) != 0) {
		fprintf(stderr, "bench-raft canonical: start: %s\n",
			raft_strerror(rv));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct bench_raft_impl impl = {
	    .name = "canonical-raft-0.15",
	    .start = start,
	    .run = run,
	    .is_leader = is_leader,
	    .propose = propose,
	};
	const char *nagle = getenv("BENCH_CANONICAL_NAGLE");
	keep_nagle = nagle != NULL && strcmp(nagle, "1") == 0;
	return bench_raft_main(argc, argv, &impl);
}
