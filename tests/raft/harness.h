/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * A small deterministic cluster for the Raft core's unit tests. Nodes 1..n
 * live in one process; every message waits in one queue that the test
 * controls (deliver, drop, partition); each node has its own clock that moves
 * only when the test says so; storage is in memory and honours the update
 * contract of raft/raft.h: send_now at once, then persist, then
 * send_after_persist and raft_persisted(), then apply.
 *
 * The state machine is a running hash of applied commands; after every call
 * the harness checks that no two leaders share a term and that entries
 * applied at one index are the same everywhere.
 */
#ifndef TESTS_RAFT_HARNESS_H
#define TESTS_RAFT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define H_MAX_NODES 8
#define H_MAX_INDEX 4096 /* applied indexes the safety check remembers */
#define H_MAX_TERM 4096
#define H_SNAPSHOT_BYTES 32 /* size of a state-machine snapshot file */
#define H_STEP 10	    /* ms per step of h_run() */

/* What a node wrote to its disk and what it kept between calls. */
struct h_disk {
	raft_term term;
	raft_id vote;
	struct raft_entry *entries; /* index snap_index + 1 .. */
	size_t n;
	raft_index snap_index;
	raft_term snap_term;
	struct raft_config snap_config;
	uint8_t snap[H_SNAPSHOT_BYTES];
	bool has_snap;
};

/* A write the core asked for, held back while the node's disk is slow. */
struct h_batch {
	bool hs;
	raft_term term;
	raft_id vote;
	raft_index truncate_from;
	struct raft_entry *entries;
	size_t n_entries;
	struct raft_message *after;
	size_t n_after;
};

struct h_node {
	raft_id id;
	struct raft *r; /* NULL while crashed */
	raft_time now;
	unsigned restarts;
	struct h_disk disk;

	/* Disk writes wait for h_flush() while set. */
	bool slow_disk;
	struct h_batch *held;
	size_t n_held;

	/* Incoming snapshot file. */
	uint8_t incoming[H_SNAPSHOT_BYTES];
	uint64_t incoming_len;
	uint64_t chunks_written;
	unsigned installs;

	/* State machine. */
	raft_index applied;
	uint64_t n_commands;
	uint64_t hash;
	char last_command[64];
	raft_term applied_term[H_MAX_INDEX];
	uint64_t applied_hash[H_MAX_INDEX];

	/* Answers to linearizable reads, in arrival order. */
	struct raft_read reads[64];
	size_t n_reads;

	const char *error; /* the core stopped */
	unsigned role_changes;
};

struct h_msg {
	struct raft_message m;
	struct raft_config config; /* SNAPSHOT: m.config points here once out */
};

struct h_cluster {
	struct raft_options opt;
	uint64_t seed;
	unsigned n; /* nodes 1..n exist */
	struct h_node node[H_MAX_NODES + 1];
	bool cut[H_MAX_NODES + 1][H_MAX_NODES + 1]; /* link from -> to down */
	struct h_msg *queue;
	size_t n_queue, cap_queue;
	raft_id leader_of_term[H_MAX_TERM];
	uint64_t delivered;
	raft_id trace; /* print what reaches or leaves this node (debugging) */
};

/* Options the tests start from: E = 1000 ms, heartbeat 100 ms, drift 5%,
 * snapshots in 8-byte chunks so a transfer takes several. */
void h_options(struct raft_options *o);

/* n nodes, started, all bootstrapped with the same n-voter configuration. */
struct h_cluster *h_new(unsigned n, const struct raft_options *o);
/* The same with other seeds for the nodes' randomized timeouts. */
struct h_cluster *h_new_seeded(unsigned n, const struct raft_options *o,
			       uint64_t seed);
/* Nodes 1..n started with empty storage and no configuration. */
struct h_cluster *h_new_blank(unsigned n, const struct raft_options *o);
void h_free(struct h_cluster *c);
/* cmocka teardown: frees the clusters a failed test left behind. */
int h_teardown(void **state);

/* Adds a started node with empty storage and no configuration. */
raft_id h_add_node(struct h_cluster *c);
void h_config_of(unsigned n, struct raft_config *cfg); /* voters 1..n */
void h_address(raft_id id, char *buf, size_t len);

struct raft *h_raft(struct h_cluster *c, raft_id id);
struct h_node *h_node(struct h_cluster *c, raft_id id);

/* Moves one node's clock forward, without calling the core. */
void h_advance(struct h_cluster *c, raft_id id, raft_time ms);
/* Moves the node's clock and calls raft_tick. */
void h_tick(struct h_cluster *c, raft_id id, raft_time ms);
/* All running nodes: steps of H_STEP ms, each ticking every node and then
 * delivering every message. */
void h_run(struct h_cluster *c, raft_time ms);

/* Makes `id` leader in a new term: every clock moves one election timeout
 * (so no voter still honours an old leader), `id` times out and the
 * messages are delivered; then one heartbeat round spreads the commit.
 * Fails the test if `id` did not win. */
void h_elect(struct h_cluster *c, raft_id id);

/* Only the election: like h_elect, but only vote traffic is delivered; what
 * the new leader sends stays queued. Retries a few timeouts (a pre-vote can
 * lose to a higher term first). Returns whether `id` won. */
bool h_campaign(struct h_cluster *c, raft_id id);

/* Message queue. `type`, `from`, `to` of 0 match anything. */
size_t h_pending(struct h_cluster *c, uint8_t type, raft_id from, raft_id to);
struct raft_message *h_peek(struct h_cluster *c, uint8_t type, raft_id from,
			    raft_id to);
bool h_deliver(struct h_cluster *c, uint8_t type, raft_id from, raft_id to);
size_t h_drop(struct h_cluster *c, uint8_t type, raft_id from, raft_id to);
bool h_drop_first(struct h_cluster *c, uint8_t type, raft_id from, raft_id to);
/* Delivers (or drops) the i-th message of the queue, for reordering. */
void h_deliver_nth(struct h_cluster *c, size_t i, bool drop);
/* Delivers until the queue is empty (bounded); returns how many. */
size_t h_deliver_all(struct h_cluster *c);
/* Delivers until the queue is empty, dropping what `keep` refuses. */
size_t h_deliver_filtered(struct h_cluster *c,
			  bool (*keep)(const struct raft_message *m));

/* Links. A cut link drops what would cross it when it is delivered. */
void h_cut(struct h_cluster *c, raft_id a, raft_id b); /* both ways */
void h_isolate(struct h_cluster *c, raft_id id);
void h_heal(struct h_cluster *c);

/* Hands a message, as if it had arrived, to node `to` = m->to. */
int h_step(struct h_cluster *c, const struct raft_message *m);

/* Calls into the core with the node's clock, processing the update. */
int h_propose(struct h_cluster *c, raft_id id, const char *command,
	      raft_index *index);
int h_propose_batch(struct h_cluster *c, raft_id id,
		    const struct raft_command *cmds, size_t n,
		    raft_index *first, size_t *taken);
int h_read(struct h_cluster *c, raft_id id, uint64_t read_id);
int h_transfer(struct h_cluster *c, raft_id id, raft_id to);
int h_add_learner(struct h_cluster *c, raft_id id, raft_id learner,
		  bool promote);
int h_remove(struct h_cluster *c, raft_id id, raft_id server);
/* The node writes a snapshot of its state machine at its applied index. */
int h_snapshot(struct h_cluster *c, raft_id id);
int h_bootstrap(struct h_cluster *c, raft_id id, const struct raft_config *cfg);

/* Disk. With a slow disk, writes and the messages that wait for them are
 * held until h_flush(). */
void h_slow_disk(struct h_cluster *c, raft_id id, bool slow);
void h_flush(struct h_cluster *c, raft_id id);
/* The process dies: unflushed writes and the partial snapshot file are
 * lost, messages to it are dropped while it is down. */
void h_crash(struct h_cluster *c, raft_id id);
/* Starts a new process from what is on disk. */
void h_restart(struct h_cluster *c, raft_id id);

/* Fails the test if a node's core stopped (election and state machine
 * safety are checked at every call already). */
void h_check_no_error(struct h_cluster *c);

/* Set while the harness allocates for itself: a test that makes
 * allocations fail leaves those alone. */
extern bool h_alloc_protected;

/* Handy predicates. */
raft_id h_leader(struct h_cluster *c); /* the only leader of the newest term */
bool h_read_answered(struct h_node *nd, uint64_t read_id, int *status,
		     raft_index *index);

#endif
