/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Three running nodes in one process whose replicated state is large
 * (200 MB by default). Under a steady stream of proposals, every node takes
 * snapshots of it and a follower that lost its folder is brought back by a
 * snapshot sent in chunks. Reports whether leadership ever moved (it must
 * not: snapshots are serialized, written, sent, read and restored off the
 * raft thread) and how long the transfer took.
 *
 *   big_snapshot [MEGABYTES] [DIR] [SNAPSHOT_EVERY_N_ENTRIES]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node/node.h"

#define NODES 3

/* The state: a large byte array whose first bytes count applied commands. */
struct big_state {
	uint8_t *bytes;
	size_t size;
	uint64_t applied;
};

static int sm_apply(void *data, raft_index index, const uint8_t *cmd,
		    size_t len)
{
	struct big_state *s = data;
	(void)cmd;
	(void)len;
	s->applied++;
	s->bytes[index % s->size] ^= 1;
	return 0;
}

static void *sm_capture(void *data)
{
	struct big_state *s = data;
	struct big_state *f = malloc(sizeof(*f));
	if (f == NULL)
		return NULL;
	f->size = s->size;
	f->applied = s->applied;
	f->bytes = malloc(s->size);
	if (f->bytes == NULL) {
		free(f);
		return NULL;
	}
	memcpy(f->bytes, s->bytes, s->size);
	return f;
}

static int sm_serialize(void *frozen, uint8_t **buf, size_t *len)
{
	struct big_state *f = frozen;
	*buf = f->bytes; /* handed over: release() then frees only f */
	*len = f->size;
	f->bytes = NULL;
	return 0;
}

static void sm_release(void *frozen)
{
	struct big_state *f = frozen;
	free(f->bytes);
	free(f);
}

static int sm_restore(void *data, const uint8_t *buf, size_t len)
{
	struct big_state *s = data;
	if (len != s->size)
		return -1;
	memcpy(s->bytes, buf, len);
	return 0;
}

struct bench_node {
	struct ha_node *node;
	struct big_state sm;
	char dir[256];
	char addr[64];
};

static struct bench_node nodes[NODES + 1];
static size_t state_size;
static uint64_t snapshot_every = 20000;

static uint16_t free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		perror("bind");
		exit(2);
	}
	socklen_t l = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &l);
	close(fd);
	return ntohs(a.sin_port);
}

static void start(unsigned i)
{
	struct bench_node *b = &nodes[i];
	if (b->sm.bytes == NULL) {
		b->sm.size = state_size;
		b->sm.bytes = calloc(1, state_size);
		if (b->sm.bytes == NULL) {
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
	}
	static const uint8_t secret[32] = "a cluster secret of 32 bytes...";
	struct ha_node_options o = {
		.id = i,
		.data_dir = b->dir,
		.cluster_name = "bench",
		.advertise_address = b->addr,
		.secret = secret,
		.secret_len = sizeof(secret),
		.election_timeout = 1000,
		.heartbeat_interval = 100,
		.snapshot_threshold = snapshot_every,
		.snapshot_trailing = 100,
		.sm = {.data = &b->sm,
		       .apply = sm_apply,
		       .capture = sm_capture,
		       .serialize = sm_serialize,
		       .release = sm_release,
		       .restore = sm_restore},
	};
	int rv = ha_node_start(&o, &b->node);
	if (rv != HA_NODE_OK) {
		fprintf(stderr, "node %u did not start: %s\n", i, ha_node_strerror(rv));
		exit(2);
	}
}

static void drain_all(void)
{
	struct ha_node_event ev;
	for (unsigned i = 1; i <= NODES; i++)
		while (nodes[i].node && ha_node_poll(nodes[i].node, &ev))
			ha_node_event_free(&ev);
}

static unsigned leader_now(raft_term *term)
{
	for (unsigned i = 1; i <= NODES; i++) {
		if (nodes[i].node == NULL)
			continue;
		struct ha_node_status st;
		ha_node_get_status(nodes[i].node, &st);
		if (st.role == RAFT_LEADER) {
			*term = st.term;
			return i;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 200;
	const char *base = argc > 2 ? argv[2] : "/tmp/ha-big-snapshot";
	state_size = mb * 1024 * 1024;
	if (argc > 3)
		snapshot_every = (uint64_t)atoll(argv[3]);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", base, base);
	if (system(cmd) != 0)
		return 2;
	struct raft_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_id[0] = 0x42;
	for (unsigned i = 1; i <= NODES; i++) {
		snprintf(nodes[i].dir, sizeof(nodes[i].dir), "%s/n%u", base, i);
		snprintf(nodes[i].addr, sizeof(nodes[i].addr), "127.0.0.1:%u",
			 free_port());
		cfg.servers[cfg.n].id = i;
		cfg.servers[cfg.n].role = RAFT_VOTER;
		snprintf(cfg.servers[cfg.n].address, RAFT_ADDRESS_MAX, "%s",
			 nodes[i].addr);
		cfg.n++;
	}
	for (unsigned i = 1; i <= NODES; i++)
		start(i);
	ha_node_bootstrap(nodes[1].node, &cfg, 1);
	for (unsigned i = 2; i <= NODES; i++)
		ha_node_set_peers(nodes[i].node, &cfg);

	raft_term term = 0, t;
	unsigned leader = 0;
	for (int k = 0; k < 1000 && leader == 0; k++) {
		usleep(10000);
		drain_all();
		leader = leader_now(&term);
	}
	if (leader == 0) {
		fprintf(stderr, "no leader\n");
		return 1;
	}
	unsigned victim = leader % NODES + 1;
	printf("state %zu MB, leader node %u in term %llu\n", mb, leader,
	       (unsigned long long)term);

	/* Phase 1: proposals while every node snapshots its state. Phase 2:
	 * a follower loses its folder and comes back by snapshot. */
	int64_t t0 = ha_node_monotonic_ms(), transfer_start = 0, caught_up = 0;
	uint64_t proposed = 0, elections = 0;
	bool by_snapshot = false;
	raft_term seen = term;
	while (ha_node_monotonic_ms() - t0 < 120000) {
		for (int k = 0; k < 20; k++) {
			char c[16];
			int len = snprintf(c, sizeof(c), "p%llu",
					   (unsigned long long)proposed);
			if (ha_node_propose(nodes[leader].node, c, (size_t)len,
					    proposed) == HA_NODE_OK)
				proposed++;
		}
		usleep(5000);
		drain_all();
		unsigned l = leader_now(&t);
		if (l != 0 && t != seen) {
			elections++;
			seen = t;
			leader = l;
			printf("leadership moved to node %u, term %llu\n", l,
			       (unsigned long long)t);
		}
		int64_t now = ha_node_monotonic_ms();
		struct ha_node_status st;
		if (transfer_start == 0 && now - t0 > 15000) {
			ha_node_stop(nodes[victim].node, false, 0);
			nodes[victim].node = NULL;
			snprintf(cmd, sizeof(cmd), "rm -rf %s", nodes[victim].dir);
			if (system(cmd) != 0)
				return 2;
			memset(nodes[victim].sm.bytes, 0, state_size);
			start(victim);
			/* As joinCluster does: it knows whom to dial. */
			ha_node_set_peers(nodes[victim].node, &cfg);
			transfer_start = ha_node_monotonic_ms();
			printf("node %u restarted empty at %.1f s\n", victim,
			       (transfer_start - t0) / 1000.0);
		}
		if (transfer_start != 0 && nodes[victim].node != NULL &&
		    caught_up == 0) {
			struct ha_node_status ls;
			ha_node_get_status(nodes[victim].node, &st);
			ha_node_get_status(nodes[leader].node, &ls);
			if (st.applied > 0 && st.applied + 2000 >= ls.applied) {
				caught_up = ha_node_monotonic_ms();
				by_snapshot = st.snapshots_installed > 0;
				printf("node %u caught up (%s) in %.1f s\n", victim,
				       by_snapshot ? "by a snapshot" : "by the log",
				       (caught_up - transfer_start) / 1000.0);
			}
		}
		if (caught_up != 0 && now - caught_up > 5000)
			break;
	}
	for (unsigned i = 1; i <= NODES; i++) {
		struct ha_node_status st;
		if (nodes[i].node == NULL)
			continue;
		ha_node_get_status(nodes[i].node, &st);
		printf("node %u: term %llu, applied %llu, snapshot at %llu, "
		       "snapshots installed %llu\n",
		       i, (unsigned long long)st.term,
		       (unsigned long long)st.applied,
		       (unsigned long long)st.snapshot_index,
		       (unsigned long long)st.snapshots_installed);
	}
	for (unsigned i = 1; i <= NODES; i++)
		if (nodes[i].node)
			ha_node_stop(nodes[i].node, false, 0);
	printf("big snapshot: %llu proposals, %llu leadership changes, "
	       "catch-up %s\n",
	       (unsigned long long)proposed, (unsigned long long)elections,
	       caught_up ? (by_snapshot ? "by snapshot" : "by log") : "NOT DONE");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd) != 0)
		return 2;
	return elections == 0 && caught_up != 0 ? 0 : 1;
}
