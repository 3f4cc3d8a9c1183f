/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Three running nodes in one process, over real loopback sockets and real
 * data folders: a cluster forms, commits, survives a stop with handover and
 * a restart from disk, and a snapshot brings a returning node up to date;
 * a state machine whose capture takes longer than an election timeout costs
 * no election, and the entries held back meanwhile are all applied; an owner
 * that stops taking events holds its node's intake back, not the cluster; a
 * snapshot that arrives while the node is capturing is restored only after
 * the capture (apply, capture and restore never touch the copy at once);
 * a snapshot finished while a follower is being sent the one before is
 * dropped, so that the follower needs one transfer, not two;
 * a request forwarded to the leader's owner comes back with its answer, or
 * with why not (no leader, timeout, a leader gone, too many at once), and a
 * peer's malformed forwarding and info frames change nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <stdatomic.h>

#include "node/internal.h"
#include "node/node.h"
#include "raft/byteorder.h"

#define NODES 3

/* The replicated state of the test: a count and a running hash. */
struct counter {
	uint64_t count;
	uint64_t hash;
};

struct frozen {
	struct counter c;
};

static void counter_apply(struct counter *c, const uint8_t *cmd, size_t len)
{
	c->count++;
	for (size_t i = 0; i < len; i++)
		c->hash = (c->hash ^ cmd[i]) * 1099511628211ull;
}

/* The raft thread's copy, which says when the node lets two of apply,
 * capture and restore touch it at once (they must never overlap). */
struct raft_copy {
	struct counter c;
	_Atomic bool capturing;
	_Atomic bool restoring;
};

static _Atomic unsigned overlaps;
/* How long a capture and a restore take (a large state), microseconds. */
static _Atomic unsigned capture_delay_us;
static _Atomic unsigned restore_delay_us;
static _Atomic unsigned captures;
static _Atomic unsigned restores;
/* One copy whose captures take slow_capture_us instead. */
static struct raft_copy *_Atomic slow_copy;
static _Atomic unsigned slow_capture_us;

static int sm_apply(void *data, raft_index index, const uint8_t *cmd,
		    size_t len)
{
	struct raft_copy *rc = data;
	(void)index;
	if (rc->capturing || rc->restoring)
		overlaps++;
	counter_apply(&rc->c, cmd, len);
	return 0;
}

static void *sm_capture(void *data)
{
	struct raft_copy *rc = data;
	rc->capturing = true;
	if (rc->restoring)
		overlaps++;
	unsigned delay = rc == slow_copy ? slow_capture_us : capture_delay_us;
	if (delay > 0)
		usleep(delay);
	captures++;
	struct frozen *f = malloc(sizeof(*f));
	if (f != NULL)
		f->c = rc->c;
	rc->capturing = false;
	return f;
}

static int sm_serialize(void *frozen, uint8_t **buf, size_t *len)
{
	*buf = malloc(sizeof(struct counter));
	if (*buf == NULL)
		return -1;
	memcpy(*buf, &((struct frozen *)frozen)->c, sizeof(struct counter));
	*len = sizeof(struct counter);
	return 0;
}

static void sm_release(void *frozen)
{
	free(frozen);
}

static int counter_restore(struct counter *c, const uint8_t *buf, size_t len)
{
	if (len != sizeof(struct counter))
		return -1;
	memcpy(c, buf, len);
	return 0;
}

static int sm_restore(void *data, const uint8_t *buf, size_t len)
{
	struct raft_copy *rc = data;
	rc->restoring = true;
	if (rc->capturing)
		overlaps++;
	if (restore_delay_us > 0)
		usleep(restore_delay_us);
	restores++;
	int rv = counter_restore(&rc->c, buf, len);
	rc->restoring = false;
	return rv;
}

struct test_node {
	struct ha_node *node;
	struct raft_copy sm;  /* raft thread's copy */
	struct counter owner; /* owner's copy, from events */
	raft_index owner_index;
	char dir[128];
	char addr[64];
	int proposed_ok;
	bool owner_paused; /* its owner takes no events */
	size_t max_event_bytes;
	/* Forwarding: what its owner does with a request it gets as leader
	 * (answer "re:" and the payload at once, hold it, or refuse it). */
	enum { FWD_ECHO = 0, FWD_HOLD, FWD_REFUSE } fwd_mode;
	struct {
		raft_id from;
		uint64_t request_id;
	} held[HA_NODE_FORWARD_MAX_RECEIVED + 8];
	unsigned n_held;
	unsigned requests_seen;
	raft_id last_from;
	/* What came back to its own forwards, by cookie (1..). */
	struct {
		bool done;
		int status;
		char reply[64];
	} results[HA_NODE_FORWARD_MAX_IN_FLIGHT * 2 + 1];
	unsigned n_results;
};

static unsigned forward_timeout_ms;

/* Nodes 1..NODES form the cluster; JOINER joins it in one test. */
#define JOINER (NODES + 1)
static struct test_node nodes[JOINER + 1];
static char base_dir[] = "/tmp/ha-node-test-XXXXXX";
static const uint8_t secret[32] = "a cluster secret of 32 bytes...";

static uint16_t free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t l = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &l);
	close(fd);
	return ntohs(a.sin_port);
}

/* Snapshots a node dropped because a follower was being sent the one
 * before (node/snapshot.c). */
static _Atomic unsigned snapshots_dropped;

static void quiet_log(void *data, enum ha_node_log_level level, const char *msg)
{
	(void)data;
	if (strstr(msg, "dropped: a follower is being sent") != NULL)
		snapshots_dropped++;
	if (level <= HA_NODE_LOG_WARNING)
		fprintf(stderr, "  log: %s\n", msg);
}

static void start(unsigned i, uint64_t threshold)
{
	struct test_node *t = &nodes[i];
	struct ha_node_options o = {
	    .id = i,
	    .data_dir = t->dir,
	    .cluster_name = "test",
	    .advertise_address = t->addr,
	    .secret = secret,
	    .secret_len = sizeof(secret),
	    .election_timeout = 300,
	    .heartbeat_interval = 30,
	    .snapshot_threshold = threshold,
	    .advertised_level = 100 + i,
	    .advertised_mode = (uint8_t)(i % 2),
	    .forward_timeout_ms = forward_timeout_ms,
	    .snapshot_trailing = 10,
	    .max_event_bytes = t->max_event_bytes,
	    .sm = {.data = &t->sm,
		   .apply = sm_apply,
		   .capture = sm_capture,
		   .serialize = sm_serialize,
		   .release = sm_release,
		   .restore = sm_restore},
	    .log = quiet_log,
	};
	memset(&t->sm, 0, sizeof(t->sm));
	memset(&t->owner, 0, sizeof(t->owner));
	t->owner_index = 0;
	int rv = ha_node_start(&o, &t->node);
	if (rv != HA_NODE_OK)
		fail_msg("node %u did not start: %s", i, ha_node_strerror(rv));
}

static void on_forward_request(unsigned i, const struct ha_node_event *ev)
{
	struct test_node *t = &nodes[i];
	t->requests_seen++;
	t->last_from = ev->from;
	if (t->fwd_mode == FWD_HOLD) {
		assert_true(t->n_held < sizeof(t->held) / sizeof(t->held[0]));
		t->held[t->n_held].from = ev->from;
		t->held[t->n_held++].request_id = ev->request_id;
		return;
	}
	char reply[80];
	int len = snprintf(reply, sizeof(reply), "re:%.*s", (int)ev->len,
			   (const char *)ev->data);
	assert_int_equal(
	    ha_node_forward_reply(t->node, ev->from, ev->request_id, reply,
				  t->fwd_mode == FWD_REFUSE ? 0 : (size_t)len),
	    HA_NODE_OK);
}

static void on_forwarded(unsigned i, const struct ha_node_event *ev)
{
	struct test_node *t = &nodes[i];
	assert_true(ev->cookie >= 1 &&
		    ev->cookie < sizeof(t->results) / sizeof(t->results[0]));
	if (t->results[ev->cookie].done)
		fail_msg("node %u heard twice of forward %llu", i,
			 (unsigned long long)ev->cookie);
	t->results[ev->cookie].done = true;
	t->results[ev->cookie].status = ev->status;
	assert_true(ev->status == HA_FWD_OK ? ev->len > 0 : ev->len == 0);
	snprintf(t->results[ev->cookie].reply,
		 sizeof(t->results[ev->cookie].reply), "%.*s", (int)ev->len,
		 ev->data ? (const char *)ev->data : "");
	t->n_results++;
}

/* Drains a node's events into its owner-side copy. */
static void drain(unsigned i)
{
	struct test_node *t = &nodes[i];
	struct ha_node_event ev;
	while (t->node && !t->owner_paused && ha_node_poll(t->node, &ev)) {
		switch (ev.type) {
		case HA_EV_COMMITTED:
			assert_int_equal(ev.index, t->owner_index + 1);
			if (ev.entry_type == RAFT_ENTRY_COMMAND)
				counter_apply(&t->owner, ev.data, ev.len);
			t->owner_index = ev.index;
			break;
		case HA_EV_RESTORE:
			assert_int_equal(
			    counter_restore(&t->owner, ev.data, ev.len), 0);
			t->owner_index = ev.index;
			break;
		case HA_EV_PROPOSED:
			if (ev.status == RAFT_OK)
				t->proposed_ok++;
			break;
		case HA_EV_FORWARD_REQUEST:
			on_forward_request(i, &ev);
			break;
		case HA_EV_FORWARDED:
			on_forwarded(i, &ev);
			break;
		default:
			break;
		}
		ha_node_event_free(&ev);
	}
}

/* Every wait polls the state it waits for, with a deadline on the
 * monotonic clock, and fails saying what did not happen: a slow machine
 * makes a test slower, never wrong. */
#define POLL_US 2000
#define WAIT_UNTIL(cond, timeout_ms, ...)                                      \
	do {                                                                   \
		int64_t deadline_ = ha_node_monotonic_ms() + (timeout_ms);     \
		while (!(cond)) {                                              \
			if (ha_node_monotonic_ms() > deadline_)                \
				fail_msg(__VA_ARGS__);                         \
			usleep(POLL_US);                                       \
		}                                                              \
	} while (0)

/* A running node other than `except` whose lease runs, or 0. */
static unsigned serving_node(unsigned except)
{
	for (unsigned i = 1; i <= NODES; i++) {
		if (i == except || nodes[i].node == NULL)
			continue;
		drain(i);
		if (ha_node_lease_until(nodes[i].node) > ha_node_monotonic_ms())
			return i;
	}
	return 0;
}

static unsigned wait_leader(unsigned except, unsigned timeout_ms)
{
	unsigned leader = 0;
	WAIT_UNTIL((leader = serving_node(except)) != 0, timeout_ms,
		   "no node (other than %u) holds a lease after %u ms", except,
		   timeout_ms);
	return leader;
}

/* Drains every running node; true once each owner applied `count`. */
static bool all_applied(uint64_t count)
{
	bool all = true;
	for (unsigned i = 1; i <= NODES; i++) {
		drain(i);
		if (nodes[i].node && nodes[i].owner.count < count)
			all = false;
	}
	return all;
}

static void wait_applied(uint64_t count, unsigned timeout_ms)
{
	int64_t deadline = ha_node_monotonic_ms() + timeout_ms;
	while (!all_applied(count)) {
		if (ha_node_monotonic_ms() > deadline) {
			for (unsigned i = 1; i <= NODES; i++)
				fprintf(
				    stderr, "  node %u applied %llu of %llu\n",
				    i, (unsigned long long)nodes[i].owner.count,
				    (unsigned long long)count);
			fail_msg("not every node applied %llu commands within "
				 "%u ms",
				 (unsigned long long)count, timeout_ms);
		}
		usleep(POLL_US);
	}
}

/* True once no worker uses any running node's own copy and that copy
 * holds every entry handed to the owner (nothing is held back). */
static bool copies_settled(void)
{
	for (unsigned i = 1; i <= NODES; i++) {
		if (nodes[i].node == NULL)
			continue;
		drain(i);
		struct ha_node_status st;
		ha_node_get_status(nodes[i].node, &st);
		if (st.sm_busy || st.sm_applied != st.applied)
			return false;
	}
	return true;
}

static void drain_all(void)
{
	for (unsigned i = 1; i <= NODES; i++)
		drain(i);
}

/* The leader's owner applied `count` commands (the others may lag). */
static void wait_leader_applied(unsigned leader, uint64_t count)
{
	WAIT_UNTIL((drain_all(), nodes[leader].owner.count >= count), 10000,
		   "the leader's owner applied %llu of %llu commands in 10 s",
		   (unsigned long long)nodes[leader].owner.count,
		   (unsigned long long)count);
}

static void propose_n(unsigned leader, unsigned n, unsigned salt)
{
	for (unsigned k = 0; k < n; k++) {
		char cmd[32];
		int len = snprintf(cmd, sizeof(cmd), "cmd-%u-%u", salt, k);
		assert_int_equal(ha_node_propose(nodes[leader].node, cmd,
						 (size_t)len, k + 1),
				 HA_NODE_OK);
	}
}

static int setup(void **state)
{
	(void)state;
	strcpy(base_dir, "/tmp/ha-node-test-XXXXXX");
	capture_delay_us = 0;
	restore_delay_us = 0;
	overlaps = 0;
	slow_copy = NULL;
	forward_timeout_ms = 0;
	for (unsigned i = 1; i <= JOINER; i++) {
		struct ha_node *keep = nodes[i].node;
		memset(&nodes[i], 0, sizeof(nodes[i]));
		nodes[i].node = keep;
	}
	if (mkdtemp(base_dir) == NULL)
		return -1;
	for (unsigned i = 1; i <= NODES; i++) {
		snprintf(nodes[i].dir, sizeof(nodes[i].dir), "%s/n%u", base_dir,
			 i);
		snprintf(nodes[i].addr, sizeof(nodes[i].addr), "127.0.0.1:%u",
			 free_port());
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (unsigned i = 1; i <= JOINER; i++) {
		if (nodes[i].node)
			ha_node_stop(nodes[i].node, false, 0);
		nodes[i].node = NULL;
	}
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void bootstrap_all(uint64_t threshold)
{
	struct raft_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	for (unsigned i = 0; i < RAFT_CLUSTER_ID_LEN; i++)
		cfg.cluster_id[i] = (uint8_t)(0x40 + i);
	for (unsigned i = 1; i <= NODES; i++) {
		cfg.servers[cfg.n].id = i;
		cfg.servers[cfg.n].role = RAFT_VOTER;
		snprintf(cfg.servers[cfg.n].address, RAFT_ADDRESS_MAX, "%s",
			 nodes[i].addr);
		cfg.n++;
	}
	for (unsigned i = 1; i <= NODES; i++)
		start(i, threshold);
	/* Node 1 creates the cluster; the others only know whom to dial. */
	assert_int_equal(ha_node_bootstrap(nodes[1].node, &cfg, 1), HA_NODE_OK);
	for (unsigned i = 2; i <= NODES; i++)
		assert_int_equal(ha_node_set_peers(nodes[i].node, &cfg),
				 HA_NODE_OK);
}

/* Every node tells each peer its level when their link comes up; a peer
 * whose link is down keeps its last level, marked unlinked. */
static bool levels_seen(unsigned i, unsigned down)
{
	struct ha_node_status st;
	ha_node_get_status(nodes[i].node, &st);
	unsigned seen = 0;
	for (size_t k = 0; k < st.n_peer_levels; k++) {
		const struct ha_node_peer_level *p = &st.peer_levels[k];
		assert_true(p->id >= 1 && p->id <= NODES && p->id != i);
		assert_int_equal(p->level, 100 + p->id);
		assert_int_equal(p->mode, p->id % 2);
		if (p->linked == (p->id != down))
			seen++;
	}
	return seen == NODES - 1;
}

static void test_peers_advertise_their_levels(void **state)
{
	(void)state;
	bootstrap_all(1000);
	assert_int_not_equal(wait_leader(0, 10000), 0);
	for (unsigned i = 1; i <= NODES; i++) {
		int64_t deadline = ha_node_monotonic_ms() + 5000;
		while (!levels_seen(i, 0)) {
			if (ha_node_monotonic_ms() > deadline)
				fail_msg("node %u did not hear every level", i);
			usleep(10000);
		}
	}
	ha_node_stop(nodes[NODES].node, false, 0);
	nodes[NODES].node = NULL;
	for (unsigned i = 1; i < NODES; i++) {
		int64_t deadline = ha_node_monotonic_ms() + 5000;
		while (!levels_seen(i, NODES)) {
			if (ha_node_monotonic_ms() > deadline)
				fail_msg(
				    "node %u did not see node %u's link go", i,
				    NODES);
			usleep(10000);
		}
	}
}

static void test_cluster_forms_commits_fails_over_and_catches_up(void **state)
{
	(void)state;
	bootstrap_all(50);
	unsigned leader = wait_leader(0, 10000);
	assert_int_not_equal(leader, 0);
	propose_n(leader, 100, 1);
	wait_applied(100, 10000);

	/* A stop with handover: another node leads within a few timeouts. */
	struct ha_node_status before;
	ha_node_get_status(nodes[leader].node, &before);
	ha_node_stop(nodes[leader].node, true, 2000);
	nodes[leader].node = NULL;
	unsigned next = wait_leader(leader, 5000);
	assert_int_not_equal(next, 0);
	/* In rounds, each its own AppendEntries: more than the leader keeps
	 * in flight to the stopped node (16), so that what the transport
	 * held for it cannot bring it up to date on its own. */
	for (unsigned round = 0; round < 24; round++) {
		propose_n(next, 5, 100 + round);
		wait_applied(100 + 5 * (round + 1), 10000);
	}

	/* The stopped node restarts from its folder and catches up, by
	 * snapshot: once the others compacted past its log (threshold 50,
	 * 10 entries kept behind a snapshot), nothing else can bring it. */
	uint64_t proposed = 220;
	for (unsigned i = 1; i <= NODES; i++) {
		if (i == leader)
			continue;
		int64_t deadline = ha_node_monotonic_ms() + 15000;
		for (;;) {
			struct ha_node_status other;
			ha_node_get_status(nodes[i].node, &other);
			if (other.snapshot_index > before.last_index + 10)
				break;
			if (ha_node_monotonic_ms() > deadline)
				fail_msg(
				    "node %u did not compact past index %llu "
				    "(its snapshot covers %llu)",
				    i,
				    (unsigned long long)before.last_index + 10,
				    (unsigned long long)other.snapshot_index);
			propose_n(next, 10, 3 + (unsigned)proposed);
			proposed += 10;
			usleep(20000);
		}
	}
	start(leader, 50);
	wait_applied(proposed, 15000);
	struct ha_node_status st;
	ha_node_get_status(nodes[leader].node, &st);
	assert_true(st.snapshots_installed >= 1);
	uint64_t h = 0;
	for (unsigned i = 1; i <= NODES; i++) {
		if (i == 1)
			h = nodes[i].owner.hash;
		assert_true(nodes[i].owner.hash == h);
		assert_true(nodes[i].owner.count >= proposed);
	}
}

/* Stops every node, then checks that each one's own copy, fed partly from
 * held-back entries and restores, equals its owner's after `count`
 * commands. */
static void stop_all_and_compare(uint64_t count)
{
	for (unsigned i = 1; i <= NODES; i++) {
		drain(i);
		ha_node_stop(nodes[i].node, false, 0);
		nodes[i].node = NULL;
		assert_int_equal(nodes[i].owner.count, count);
		assert_int_equal(nodes[i].sm.c.count, nodes[i].owner.count);
		assert_true(nodes[i].sm.c.hash == nodes[i].owner.hash);
	}
}

static void test_slow_capture_costs_no_election(void **state)
{
	(void)state;
	bootstrap_all(200);
	unsigned leader = wait_leader(0, 10000);
	assert_int_not_equal(leader, 0);
	struct ha_node_status st;
	ha_node_get_status(nodes[leader].node, &st);
	raft_term term = st.term;
	/* Three election timeouts per capture, on every node. Rounds of
	 * proposals go on until every node finished two captures, so entries
	 * keep coming while the copies are held. */
	capture_delay_us = 900 * 1000;
	unsigned taken_before = captures;
	uint64_t proposed = 0;
	int64_t deadline = ha_node_monotonic_ms() + 30000;
	for (unsigned round = 0; captures < taken_before + 2 * NODES; round++) {
		if (ha_node_monotonic_ms() > deadline)
			fail_msg("%u of %u captures finished in 30 s",
				 captures - taken_before, 2 * NODES);
		propose_n(leader, 100, 10 + round);
		proposed += 100;
		wait_applied(proposed, 10000);
	}
	for (unsigned i = 1; i <= NODES; i++) {
		ha_node_get_status(nodes[i].node, &st);
		assert_int_equal(st.term, term);
		assert_true(st.snapshot_index >= 200);
	}
	assert_true(ha_node_lease_until(nodes[leader].node) >
		    ha_node_monotonic_ms());
	/* Once the captures under way finished and what they held back was
	 * applied, each node's own copy, fed partly from held-back entries,
	 * equals its owner's. */
	capture_delay_us = 0;
	WAIT_UNTIL(copies_settled(), 10000,
		   "a node's copy was still captured, restored or behind its "
		   "owner after 10 s");
	stop_all_and_compare(proposed);
	assert_int_equal(overlaps, 0);
}

static void test_restore_waits_for_capture(void **state)
{
	(void)state;
	for (unsigned i = 1; i <= NODES; i++)
		nodes[i].max_event_bytes = 16 * 1024;
	bootstrap_all(30);
	unsigned leader = wait_leader(0, 10000);
	assert_int_not_equal(leader, 0);
	unsigned slow = leader % NODES + 1;
	/* Its captures take long: it is still capturing what it applied when
	 * the snapshot that brings it back arrives. */
	slow_copy = &nodes[slow].sm;
	slow_capture_us = 2500 * 1000;
	restore_delay_us = 100 * 1000;
	unsigned restores_before = restores;
	/* Its owner stops taking events: it soon takes no new entries, and
	 * the others compact past it. */
	nodes[slow].owner_paused = true;
	for (unsigned round = 0; round < 15; round++) {
		propose_n(leader, 20, 60 + round);
		wait_leader_applied(leader, 20 * (round + 1));
	}
	nodes[slow].owner_paused = false;
	wait_applied(300, 20000);
	assert_true(restores > restores_before);
	slow_capture_us = 0;
	restore_delay_us = 0;
	WAIT_UNTIL(copies_settled(), 10000,
		   "a node's copy was still captured, restored or behind its "
		   "owner after 10 s");
	stop_all_and_compare(300);
	assert_int_equal(overlaps, 0);
}

/* A node that joins a cluster holding a snapshot is sent it while the
 * leader is taking a newer one. Installed when it is done, the newer one
 * would restart the transfer and compact away the entries the joiner needs
 * after the older one: the joiner would need two snapshots. Dropped, one is
 * enough and the joiner catches up from the log. */
static void test_snapshot_finished_during_a_transfer_is_dropped(void **state)
{
	(void)state;
	bootstrap_all(50);
	unsigned leader = wait_leader(0, 10000);
	assert_int_not_equal(leader, 0);
	propose_n(leader, 200, 1);
	wait_applied(200, 10000);
	/* The leader's next capture takes long, and so does the joiner's
	 * restore: the capture is under way before the joiner is added. */
	slow_copy = &nodes[leader].sm;
	slow_capture_us = 1500 * 1000;
	restore_delay_us = 1500 * 1000;
	uint64_t proposed = 200;
	for (unsigned round = 0; !nodes[leader].sm.capturing; round++) {
		if (round == 50)
			fail_msg("the leader started no capture");
		propose_n(leader, 10, 2 + round);
		proposed += 10;
		wait_leader_applied(leader, proposed);
	}
	struct test_node *j = &nodes[JOINER];
	snprintf(j->dir, sizeof(j->dir), "%s/n%u", base_dir, JOINER);
	snprintf(j->addr, sizeof(j->addr), "127.0.0.1:%u", free_port());
	unsigned dropped_before = snapshots_dropped;
	start(JOINER, 50);
	struct raft_config peers;
	memset(&peers, 0, sizeof(peers));
	for (unsigned i = 1; i <= JOINER; i++) {
		peers.servers[peers.n].id = i;
		peers.servers[peers.n].role =
		    i == JOINER ? RAFT_LEARNER : RAFT_VOTER;
		snprintf(peers.servers[peers.n].address, RAFT_ADDRESS_MAX, "%s",
			 nodes[i].addr);
		peers.n++;
	}
	assert_int_equal(ha_node_set_peers(j->node, &peers), HA_NODE_OK);
	assert_int_equal(
	    ha_node_add_learner(nodes[leader].node, JOINER, j->addr, 7),
	    HA_NODE_OK);
	struct ha_node_status st;
	int64_t deadline = ha_node_monotonic_ms() + 20000;
	do {
		if (ha_node_monotonic_ms() > deadline)
			fail_msg("the joiner applied %llu of %llu entries",
				 (unsigned long long)st.applied,
				 (unsigned long long)proposed);
		usleep(20000);
		drain_all();
		drain(JOINER);
		ha_node_get_status(j->node, &st);
	} while (j->owner.count < proposed);
	assert_int_equal(st.snapshots_installed, 1);
	assert_true(snapshots_dropped > dropped_before);
	assert_true(j->owner.hash == nodes[leader].owner.hash);
	slow_capture_us = 0;
	restore_delay_us = 0;
	ha_node_stop(j->node, false, 0);
	j->node = NULL;
	assert_int_equal(overlaps, 0);
}

static size_t event_bytes(unsigned i)
{
	struct ha_node_status st;
	ha_node_get_status(nodes[i].node, &st);
	return st.event_bytes;
}

static void test_owner_behind_holds_new_entries_back(void **state)
{
	(void)state;
	const size_t limit = 16 * 1024;
	for (unsigned i = 1; i <= NODES; i++)
		nodes[i].max_event_bytes = limit;
	bootstrap_all(100000);
	unsigned leader = wait_leader(0, 10000);
	assert_int_not_equal(leader, 0);
	unsigned slow = leader % NODES + 1;
	struct ha_node_status st;
	ha_node_get_status(nodes[leader].node, &st);
	raft_term term = st.term;

	/* A follower's owner stops taking events: the others go on, and
	 * what waits for it stays near its limit. */
	nodes[slow].owner_paused = true;
	for (unsigned round = 0; round < 100; round++) {
		propose_n(leader, 20, 30 + round);
		wait_leader_applied(leader, 20 * (round + 1));
	}
	/* An event is about 100 bytes here; a few batches from the log may
	 * come on top of the limit, never the 2,000 entries. */
	ha_node_get_status(nodes[slow].node, &st);
	assert_true(event_bytes(slow) < limit + 64 * 1024);
	assert_true(st.applied < 2000);

	/* Its owner catches up, in order, and so does the node. */
	nodes[slow].owner_paused = false;
	wait_applied(2000, 15000);
	assert_true(nodes[slow].owner.hash == nodes[leader].owner.hash);

	/* The leader's own owner stops: once what waits for it passes the
	 * limit, proposals are refused at once. */
	nodes[leader].owner_paused = true;
	int rv = HA_NODE_OK;
	uint64_t cookie = 0;
	WAIT_UNTIL((rv = ha_node_propose(nodes[leader].node, "x", 1,
					 cookie++)) == HA_NODE_EBUSY,
		   10000,
		   "the leader took %llu proposals in 10 s (last: %s) while "
		   "its owner took no events",
		   (unsigned long long)cookie, ha_node_strerror(rv));
	nodes[leader].owner_paused = false;
	drain(leader);
	assert_int_equal(ha_node_propose(nodes[leader].node, "y", 1, 1),
			 HA_NODE_OK);
	for (unsigned i = 1; i <= NODES; i++) {
		ha_node_get_status(nodes[i].node, &st);
		assert_int_equal(st.term, term);
	}
}

/* ---- forwarding ---- */

/* Every node knows `leader` as its leader. */
static bool all_follow(unsigned leader)
{
	for (unsigned i = 1; i <= NODES; i++) {
		if (nodes[i].node == NULL)
			continue;
		struct ha_node_status st;
		ha_node_get_status(nodes[i].node, &st);
		if (st.leader != leader)
			return false;
	}
	return true;
}

static unsigned formed_cluster(void)
{
	bootstrap_all(100000);
	unsigned leader = wait_leader(0, 10000);
	WAIT_UNTIL(all_follow(leader), 5000,
		   "not every node knew leader %u in 5 s", leader);
	return leader;
}

static void forward_text(unsigned i, uint64_t cookie, const char *text)
{
	assert_int_equal(
	    ha_node_forward(nodes[i].node, text, strlen(text), cookie),
	    HA_NODE_OK);
}

static void wait_results(unsigned i, unsigned count)
{
	WAIT_UNTIL((drain_all(), nodes[i].n_results >= count), 10000,
		   "node %u heard of %u of %u forwards in 10 s", i,
		   nodes[i].n_results, count);
}

static void test_forward_reaches_the_leader_and_back(void **state)
{
	(void)state;
	unsigned leader = formed_cluster();
	unsigned f = leader % NODES + 1;
	/* From a follower, and from the leader to its own owner. */
	forward_text(f, 1, "from a follower");
	forward_text(leader, 1, "from the leader");
	wait_results(f, 1);
	wait_results(leader, 1);
	assert_int_equal(nodes[f].results[1].status, HA_FWD_OK);
	assert_string_equal(nodes[f].results[1].reply, "re:from a follower");
	assert_int_equal(nodes[leader].results[1].status, HA_FWD_OK);
	assert_string_equal(nodes[leader].results[1].reply,
			    "re:from the leader");
	assert_int_equal(nodes[leader].requests_seen, 2);
	/* Neither empty nor oversized requests leave. */
	assert_int_equal(ha_node_forward(nodes[f].node, "x", 0, 2),
			 HA_NODE_EINVAL);
	static uint8_t big[HA_NODE_FORWARD_MAX_BYTES + 1];
	assert_int_equal(ha_node_forward(nodes[f].node, big, sizeof(big), 2),
			 HA_NODE_EINVAL);
	/* A leader's owner that holds them: the follower may have at most
	 * HA_NODE_FORWARD_MAX_IN_FLIGHT waiting, and each gets its answer. */
	nodes[leader].fwd_mode = FWD_HOLD;
	for (unsigned k = 0; k < HA_NODE_FORWARD_MAX_IN_FLIGHT; k++) {
		char text[32];
		snprintf(text, sizeof(text), "held %u", k);
		forward_text(f, 2 + k, text);
	}
	assert_int_equal(ha_node_forward(nodes[f].node, "one more", 8, 99),
			 HA_NODE_EBUSY);
	WAIT_UNTIL((drain_all(),
		    nodes[leader].n_held == HA_NODE_FORWARD_MAX_IN_FLIGHT),
		   10000, "the leader's owner got %u of %u requests",
		   nodes[leader].n_held, HA_NODE_FORWARD_MAX_IN_FLIGHT);
	assert_int_equal(nodes[f].n_results, 1);
	for (unsigned k = 0; k < nodes[leader].n_held; k++) {
		assert_int_equal(nodes[leader].held[k].from, f);
		char reply[32];
		int len = snprintf(reply, sizeof(reply), "answer %u", k);
		assert_int_equal(
		    ha_node_forward_reply(
			nodes[leader].node, nodes[leader].held[k].from,
			nodes[leader].held[k].request_id, reply, (size_t)len),
		    HA_NODE_OK);
	}
	wait_results(f, 1 + HA_NODE_FORWARD_MAX_IN_FLIGHT);
	for (unsigned k = 0; k < HA_NODE_FORWARD_MAX_IN_FLIGHT; k++)
		assert_int_equal(nodes[f].results[2 + k].status, HA_FWD_OK);
	/* The leader answered in the order it got them, each its own. */
	char want[32];
	snprintf(want, sizeof(want), "answer %u",
		 HA_NODE_FORWARD_MAX_IN_FLIGHT - 1);
	assert_string_equal(
	    nodes[f].results[1 + HA_NODE_FORWARD_MAX_IN_FLIGHT].reply, want);
	/* A refusal comes back as such; room was given back. */
	nodes[leader].fwd_mode = FWD_REFUSE;
	forward_text(f, 99, "refused");
	wait_results(f, 2 + HA_NODE_FORWARD_MAX_IN_FLIGHT);
	assert_int_equal(nodes[f].results[99].status, HA_FWD_REFUSED);
}

static void test_forward_failures(void **state)
{
	(void)state;
	forward_timeout_ms = 1500;
	/* A node that knows no leader. */
	start(1, 100000);
	forward_text(1, 1, "nobody leads");
	wait_results(1, 1);
	assert_int_equal(nodes[1].results[1].status, HA_FWD_NO_LEADER);
	ha_node_stop(nodes[1].node, false, 0);
	nodes[1].node = NULL;
	memset(nodes[1].results, 0, sizeof(nodes[1].results));
	nodes[1].n_results = 0;

	unsigned leader = formed_cluster();
	unsigned f = leader % NODES + 1;
	/* The leader's owner never answers in time: the follower gives up,
	 * and the late answer is dropped (heard of once, checked by
	 * on_forwarded). */
	nodes[leader].fwd_mode = FWD_HOLD;
	int64_t sent = ha_node_monotonic_ms();
	forward_text(f, 1, "too slow");
	wait_results(f, 1);
	assert_int_equal(nodes[f].results[1].status, HA_FWD_TIMEOUT);
	assert_true(ha_node_monotonic_ms() - sent >= 1500);
	assert_int_equal(nodes[leader].n_held, 1);
	assert_int_equal(ha_node_forward_reply(nodes[leader].node, f,
					       nodes[leader].held[0].request_id,
					       "late", 4),
			 HA_NODE_OK);
	/* The leader goes while it holds a request: the follower hears that
	 * the link or the leader went, well before the timeout. */
	forward_text(f, 2, "leader goes");
	WAIT_UNTIL((drain_all(), nodes[leader].n_held == 2), 5000,
		   "the leader's owner did not get the second request");
	sent = ha_node_monotonic_ms();
	ha_node_stop(nodes[leader].node, false, 0);
	nodes[leader].node = NULL;
	wait_results(f, 2);
	assert_true(nodes[f].results[2].status == HA_FWD_LINK_LOST ||
		    nodes[f].results[2].status == HA_FWD_LEADER_CHANGED);
	assert_true(ha_node_monotonic_ms() - sent < 1500);
	/* The survivors elect a leader and forwarding works again. */
	unsigned next = wait_leader(leader, 10000);
	unsigned g = 0;
	for (unsigned i = 1; i <= NODES; i++)
		if (i != leader && i != next)
			g = i;
	WAIT_UNTIL(all_follow(next), 5000, "node %u did not know leader %u", g,
		   next);
	forward_text(g, 3, "again");
	WAIT_UNTIL((drain_all(), nodes[g].results[3].done), 10000,
		   "node %u heard nothing of its forward in 10 s", g);
	assert_int_equal(nodes[g].results[3].status, HA_FWD_OK);
	assert_string_equal(nodes[g].results[3].reply, "re:again");
}

/* A peer speaking the node's frames by hand: node 3's identity on the
 * cluster link, with node 3 itself stopped. */
static struct {
	uv_loop_t loop;
	struct transport *t;
	bool up_to[NODES + 1];
	unsigned replies;
	uint64_t reply_id;
	uint8_t reply_status;
	char reply[64];
} fake;

static void fake_recv(void *data, uint32_t peer, uint8_t type,
		      const uint8_t *bytes, size_t len)
{
	(void)data;
	(void)peer;
	if (type != NODE_FRAME_FORWARD_REPLY)
		return;
	assert_true(len >= NODE_FORWARD_REPLY_HEADER);
	fake.replies++;
	fake.reply_id = le64_load(bytes + 1);
	fake.reply_status = bytes[9];
	snprintf(fake.reply, sizeof(fake.reply), "%.*s",
		 (int)(len - NODE_FORWARD_REPLY_HEADER),
		 (const char *)bytes + NODE_FORWARD_REPLY_HEADER);
}

static void fake_link(void *data, uint32_t peer,
		      enum transport_link_state state)
{
	(void)data;
	if (peer <= NODES)
		fake.up_to[peer] = state == TRANSPORT_LINK_UP;
}

static void fake_start(void)
{
	memset(&fake, 0, sizeof(fake));
	assert_int_equal(uv_loop_init(&fake.loop), 0);
	struct transport_options to = {
	    .node_id = NODES,
	    .cluster_name = "test",
	    .cluster_id_known = true,
	    .secret = secret,
	    .secret_len = sizeof(secret),
	    .bind_address = nodes[NODES].addr,
	    .on_recv = fake_recv,
	    .on_link = fake_link,
	};
	for (unsigned i = 0; i < RAFT_CLUSTER_ID_LEN; i++)
		to.cluster_id[i] = (uint8_t)(0x40 + i);
	assert_int_equal(transport_create(&fake.loop, &to, &fake.t),
			 TRANSPORT_OK);
	struct transport_peer peers[NODES - 1];
	for (unsigned i = 1; i < NODES; i++) {
		peers[i - 1].id = i;
		peers[i - 1].address = nodes[i].addr;
	}
	assert_int_equal(transport_set_peers(fake.t, peers, NODES - 1),
			 TRANSPORT_OK);
}

static void fake_turn(void)
{
	uv_run(&fake.loop, UV_RUN_NOWAIT);
	drain_all();
}

static void fake_send(unsigned to, uint8_t type, const uint8_t *frame,
		      size_t len)
{
	assert_int_equal(transport_send(fake.t, to, type, frame, len),
			 TRANSPORT_OK);
	for (int k = 0; k < 50; k++) { /* let it leave and arrive */
		fake_turn();
		usleep(POLL_US);
	}
}

static void fake_stop(void)
{
	transport_close(fake.t, NULL);
	uv_run(&fake.loop, UV_RUN_DEFAULT);
	uv_loop_close(&fake.loop);
}

static size_t forward_frame(uint8_t *frame, uint8_t version, uint64_t id,
			    const char *text)
{
	frame[0] = version;
	le64_store(frame + 1, id);
	memcpy(frame + NODE_FORWARD_HEADER, text, strlen(text));
	return NODE_FORWARD_HEADER + strlen(text);
}

/* What node i last heard from peer's info frame. */
static bool peer_info_is(unsigned i, unsigned peer, uint32_t level,
			 uint8_t mode)
{
	struct ha_node_status st;
	ha_node_get_status(nodes[i].node, &st);
	for (size_t k = 0; k < st.n_peer_levels; k++)
		if (st.peer_levels[k].id == peer)
			return st.peer_levels[k].level == level &&
			       st.peer_levels[k].mode == mode;
	return false;
}

static void test_forward_frames_are_checked(void **state)
{
	(void)state;
	unsigned leader = formed_cluster();
	if (leader == NODES) { /* node 3's identity is the fake's */
		ha_node_transfer(nodes[leader].node, 1, 1);
		leader = wait_leader(NODES, 10000);
	}
	ha_node_stop(nodes[NODES].node, false, 0);
	nodes[NODES].node = NULL;
	fake_start();
	WAIT_UNTIL((fake_turn(), fake.up_to[leader]), 10000,
		   "no link from the leader to the fake peer");
	uint8_t frame[64];
	/* Too short, and a reply to nothing: dropped, nothing changes. */
	fake_send(leader, NODE_FRAME_FORWARD, frame, 5);
	uint8_t reply[NODE_FORWARD_REPLY_HEADER + 2] = {NODE_FORWARD_VERSION};
	le64_store(reply + 1, 77);
	memcpy(reply + NODE_FORWARD_REPLY_HEADER, "ok", 2);
	fake_send(leader, NODE_FRAME_FORWARD_REPLY, reply, sizeof(reply));
	assert_int_equal(nodes[leader].requests_seen, 0);
	assert_int_equal(nodes[leader].n_results, 0);
	assert_int_equal(fake.replies, 0);
	/* An unknown version is refused with an answer. */
	size_t len = forward_frame(frame, 9, 5, "from the future");
	fake_send(leader, NODE_FRAME_FORWARD, frame, len);
	WAIT_UNTIL((fake_turn(), fake.replies == 1), 5000,
		   "no answer to a frame of an unknown version");
	assert_int_equal(fake.reply_id, 5);
	assert_int_equal(fake.reply_status, 3);
	assert_int_equal(nodes[leader].requests_seen, 0);
	/* A follower answers that it does not lead. */
	unsigned other = leader == 1 ? 2 : 1;
	WAIT_UNTIL((fake_turn(), fake.up_to[other]), 10000,
		   "no link from node %u to the fake peer", other);
	len = forward_frame(frame, NODE_FORWARD_VERSION, 6, "to a follower");
	fake_send(other, NODE_FRAME_FORWARD, frame, len);
	WAIT_UNTIL((fake_turn(), fake.replies == 2), 5000,
		   "no answer from a follower");
	assert_int_equal(fake.reply_status, 1);
	/* A well-formed one reaches the leader's owner, and back. */
	len = forward_frame(frame, NODE_FORWARD_VERSION, 7, "hello");
	fake_send(leader, NODE_FRAME_FORWARD, frame, len);
	WAIT_UNTIL((fake_turn(), fake.replies == 3), 5000,
		   "no answer from the leader");
	assert_int_equal(fake.reply_id, 7);
	assert_int_equal(fake.reply_status, 0);
	assert_string_equal(fake.reply, "re:hello");
	assert_int_equal(nodes[leader].last_from, NODES);
	/* Info frames: version 1 carries no mode (read as 0), version 2 does;
	 * a short one changes nothing. */
	uint8_t info[NODE_INFO_LEN] = {1};
	le32_store(info + 1, 7);
	fake_send(leader, NODE_FRAME_INFO, info, NODE_INFO_V1_LEN);
	assert_true(peer_info_is(leader, NODES, 7, 0));
	info[0] = 2;
	info[5] = 1;
	fake_send(leader, NODE_FRAME_INFO, info, NODE_INFO_LEN);
	assert_true(peer_info_is(leader, NODES, 7, 1));
	le32_store(info + 1, 9);
	fake_send(leader, NODE_FRAME_INFO, info, 3);
	assert_true(peer_info_is(leader, NODES, 7, 1));
	fake_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_peers_advertise_their_levels,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_cluster_forms_commits_fails_over_and_catches_up, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_slow_capture_costs_no_election,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_owner_behind_holds_new_entries_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_snapshot_finished_during_a_transfer_is_dropped, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_restore_waits_for_capture,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_forward_reaches_the_leader_and_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forward_failures, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_forward_frames_are_checked,
					    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
