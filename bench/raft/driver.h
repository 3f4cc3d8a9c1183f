/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The Raft commit benchmark's workload and processes, shared by the two
 * programs that run it: one on this project's node (ours.c), one on
 * canonical/raft's libuv backend (canonical.c). Each program links one Raft
 * library only (their names clash), and supplies a struct bench_raft_impl;
 * everything else (three node processes on loopback, the proposers, the
 * timing, the result) is this file's, so that both run the very same
 * workload. Nothing here includes either library's header. */
#ifndef BENCH_RAFT_DRIVER_H
#define BENCH_RAFT_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_RAFT_NODES 3
#define BENCH_RAFT_MAX_PROPOSERS 1024

struct bench_raft_config {
	unsigned id; /* 1..BENCH_RAFT_NODES: this process's node */
	char dir[512];
	char addresses[BENCH_RAFT_NODES][64]; /* "127.0.0.1:port", by id-1 */
	unsigned election_timeout_ms;
	unsigned heartbeat_ms;
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
};

/* One implementation, driven from its process's only thread (the one that
 * calls run): start, then run repeatedly; propose only on a leader. A
 * proposal's outcome comes back through bench_raft_committed(), from
 * inside run. */
struct bench_raft_impl {
	const char *name;
	int (*start)(const struct bench_raft_config *c);
	/* Waits for and handles what happened, for at most timeout_ms. */
	void (*run)(int timeout_ms);
	bool (*is_leader)(void);
	/* Proposes a command entry of len bytes (copied); 0 or -1. */
	int (*propose)(const void *buf, size_t len, uint64_t cookie);
};

/* Called by the implementation when proposal cookie is committed (and
 * applied on this node), ok false when it failed. */
void bench_raft_committed(uint64_t cookie, bool ok);

/* The program's main: parses the options, runs the three node processes
 * and prints the result as one JSON object. */
int bench_raft_main(int argc, char **argv, const struct bench_raft_impl *impl);

int64_t bench_raft_now_us(void);

#endif
