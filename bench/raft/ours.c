/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The Raft commit benchmark on this project's node (node/node.h): the
 * process's main thread is the node's owner, woken by the raft thread
 * through an eventfd. The state machine counts the entries it applied. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench/raft/driver.h"
#include "node/node.h"

static struct ha_node *node;
static int wake_fd = -1;
static bool leading;
static uint64_t applied_count;

/* Proposals accepted and not yet committed: (log index, cookie). Few at a
 * time (the proposers), so a linear search is enough. */
static struct {
	raft_index index;
	uint64_t cookie;
} pending[BENCH_RAFT_MAX_PROPOSERS];
static unsigned n_pending;

static int sm_apply(void *data, raft_index index, const uint8_t *cmd,
		    size_t len)
{
	(void)data;
	(void)index;
	(void)cmd;
	(void)len;
	applied_count++;
	return 0;
}

static void *sm_capture(void *data)
{
	(void)data;
	return &applied_count;
}

static int sm_serialize(void *frozen, uint8_t **buf, size_t *len)
{
	*buf = malloc(sizeof(uint64_t));
	if (*buf == NULL)
		return -1;
	memcpy(*buf, frozen, sizeof(uint64_t));
	*len = sizeof(uint64_t);
	return 0;
}

static void sm_release(void *frozen)
{
	(void)frozen;
}

static int sm_restore(void *data, const uint8_t *buf, size_t len)
{
	(void)data;
	if (len == sizeof(uint64_t))
		memcpy(&applied_count, buf, len);
	return 0;
}

static void on_wake(void *data)
{
	(void)data;
	uint64_t one = 1;
	if (write(wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("bench-raft ours: wake");
}

static void on_log(void *data, enum ha_node_log_level level, const char *msg)
{
	(void)data;
	if (level <= HA_NODE_LOG_WARNING)
		fprintf(stderr, "bench-raft ours: %s\n", msg);
}

static void handle(const struct ha_node_event *ev)
{
	switch (ev->type) {
	case HA_EV_ROLE:
		leading = ev->role == RAFT_LEADER;
		break;
	case HA_EV_PROPOSED:
		if (ev->status != RAFT_OK) {
			bench_raft_committed(ev->cookie, false);
		} else if (n_pending < BENCH_RAFT_MAX_PROPOSERS) {
			pending[n_pending].index = ev->index;
			pending[n_pending++].cookie = ev->cookie;
		}
		break;
	case HA_EV_COMMITTED:
		for (unsigned i = 0; i < n_pending; i++) {
			if (pending[i].index != ev->index)
				continue;
			uint64_t cookie = pending[i].cookie;
			pending[i] = pending[--n_pending];
			bench_raft_committed(cookie, true);
			break;
		}
		break;
	case HA_EV_STOPPED:
		fprintf(stderr, "bench-raft ours: node stopped: %s\n",
			ev->reason);
		leading = false;
		break;
	default:
		break;
	}
}

static void run(int timeout_ms)
{
	struct pollfd p = {.fd = wake_fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) > 0) {
		uint64_t v;
		if (read(wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			perror("bench-raft ours: wake");
	}
	struct ha_node_event ev;
	/* Bounded: what the node queued so far, at most this many a pass. */
	for (int i = 0; i < 100000 && ha_node_poll(node, &ev); i++) {
		handle(&ev);
		ha_node_event_free(&ev);
	}
}

static bool is_leader(void)
{
	return leading;
}

static int propose(const void *buf, size_t len, uint64_t cookie)
{
	return ha_node_propose(node, buf, len, cookie) == HA_NODE_OK ? 0 : -1;
}

static int start(const struct bench_raft_config *c)
{
	wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wake_fd < 0)
		return -1;
	struct ha_node_options o = {
	    .id = c->id,
	    .data_dir = c->dir,
	    .cluster_name = "bench",
	    .advertise_address = c->addresses[c->id - 1],
	    .insecure_plaintext = true,
	    .election_timeout = c->election_timeout_ms,
	    .heartbeat_interval = c->heartbeat_ms,
	    .snapshot_threshold = c->snapshot_threshold,
	    .snapshot_trailing = c->snapshot_trailing,
	    .sm = {.apply = sm_apply,
		   .capture = sm_capture,
		   .serialize = sm_serialize,
		   .release = sm_release,
		   .restore = sm_restore},
	    .wake = on_wake,
	    .log = on_log,
	};
	int rv = ha_node_start(&o, &node);
	if (rv != HA_NODE_OK) {
		fprintf(stderr, "bench-raft ours: %s\n", ha_node_strerror(rv));
		return -1;
	}
	struct raft_config cfg = {.n = BENCH_RAFT_NODES};
	memset(cfg.cluster_id, 0x42, sizeof(cfg.cluster_id));
	for (unsigned i = 0; i < BENCH_RAFT_NODES; i++) {
		cfg.servers[i].id = i + 1;
		cfg.servers[i].role = RAFT_VOTER;
		snprintf(cfg.servers[i].address, RAFT_ADDRESS_MAX, "%s",
			 c->addresses[i]);
	}
	/* Node 1 creates the cluster; the others know whom to dial. */
	rv = c->id == 1 ? ha_node_bootstrap(node, &cfg, 0)
			: ha_node_set_peers(node, &cfg);
	return rv == HA_NODE_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct bench_raft_impl impl = {
	    .name = "ours",
	    .start = start,
	    .run = run,
	    .is_leader = is_leader,
	    .propose = propose,
	};
	return bench_raft_main(argc, argv, &impl);
}
