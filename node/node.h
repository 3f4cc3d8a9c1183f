/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The running Raft node: a thread of its own (the raft thread) running a
 * libuv loop that drives the Raft core with the monotonic clock, the durable
 * storage (one job at a time on a worker, fsyncs coalesced: node/jobs.c),
 * the snapshots it takes of its state machine (on a worker of their own:
 * node/snapshot.c) and the transport. Its owner (the broker thread in the
 * plugin, the main thread of the key-value program) talks to it through two
 * queues:
 *
 *   owner -> node: ha_node_propose(), ha_node_read(), membership and
 *                  transfer requests; thread-safe, they wake the loop;
 *   node -> owner: events (struct ha_node_event) taken with ha_node_poll(),
 *                  announced by the owner's wake callback.
 *
 * Forwarding: an owner may send a request to the leader's owner over the
 * cluster link and get its answer back (ha_node_forward, below); the node
 * carries opaque bytes and never looks into them.
 *
 * The lease (ha_node_lease_until) is published by the raft thread before any
 * message that could let another node lead leaves, and the owner reads it
 * against its own CLOCK_MONOTONIC: a node serves only while now < lease.
 *
 * Queue policy: the owner -> node queue holds at most `max_requests`
 * requests; beyond that a request fails at once with HA_NODE_EBUSY (the
 * owner refuses the client) instead of growing memory. The node -> owner
 * queue holds what the core committed, which the owner must apply in order,
 * so nothing in it can be dropped; instead, once it holds more than
 * `max_event_bytes`, the node takes nothing new in until the owner drains
 * it: proposals fail at once with HA_NODE_EBUSY, and entries and snapshot
 * chunks from the leader are dropped unread (the leader sends them again
 * later, while heartbeats go on being answered, so the lease and the
 * leadership stay where they are). What exceeds the limit is then at most
 * what was already in the local log, plus one snapshot.
 */
#ifndef HA_NODE_H
#define HA_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

enum ha_node_error {
	HA_NODE_OK = 0,
	HA_NODE_ENOMEM = -1,
	HA_NODE_EINVAL = -2,
	HA_NODE_EBUSY = -3,    /* request queue full */
	HA_NODE_ESTORAGE = -4, /* the data folder cannot be used */
	HA_NODE_ETRANSPORT = -5,
	HA_NODE_ESTOPPED = -6, /* the node stopped */
	HA_NODE_ETHREAD = -7,
};

const char *ha_node_strerror(int rv);

enum ha_node_log_level {
	HA_NODE_LOG_ERROR = 0,
	HA_NODE_LOG_WARNING = 1,
	HA_NODE_LOG_INFO = 2,
	HA_NODE_LOG_DEBUG = 3,
};

/* The replicated state machine's copy kept by the node, for snapshots.
 * apply runs on the raft thread and must be quick. capture runs on a worker
 * while the raft thread holds applies back (it keeps replicating and
 * answering meanwhile; what was held back is applied as soon as capture
 * returns), so a capture that copies a large state costs no heartbeat.
 * serialize and release run on a worker on what capture froze, while apply
 * goes on: the frozen view must share nothing mutable with the live one.
 * restore runs on a worker, never at the same time as apply or capture.
 *
 * The storage worker is a thread of the node's own; the snapshot worker is
 * libuv's thread pool (UV_THREADPOOL_SIZE, 4 by default), of which a node
 * uses at most one thread at a time. */
struct ha_node_sm {
	void *data;
	/* A committed COMMAND entry. */
	int (*apply)(void *data, raft_index index, const uint8_t *cmd,
		     size_t len);
	/* A frozen view of the state as of the last applied entry. */
	void *(*capture)(void *data);
	int (*serialize)(void *frozen, uint8_t **buf, size_t *len);
	void (*release)(void *frozen);
	/* Replace the state with a snapshot's. */
	int (*restore)(void *data, const uint8_t *buf, size_t len);
};

struct ha_node_options {
	raft_id id;
	const char *data_dir;
	const char *cluster_name;
	const char *advertise_address; /* host:port peers dial */
	const char *bind_address;      /* NULL: the advertised one */
	/* Authentication of cluster links (see transport.h). */
	const uint8_t *secret;
	size_t secret_len;
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	bool insecure_plaintext;
	/* Raft timings; 0 takes the defaults (1000 / 100 ms, 5%). */
	raft_time election_timeout;
	raft_time heartbeat_interval;
	uint32_t max_clock_drift_ppm;
	/* Take a snapshot every this many applied entries (0: 10000), and
	 * keep this many entries below it for followers a little behind
	 * (0: 1024). */
	uint64_t snapshot_threshold;
	uint64_t snapshot_trailing;
	size_t max_requests;	/* 0: 65536 */
	size_t max_event_bytes; /* 0: 64 MB */
	struct ha_node_sm sm;
	/* What the owner tells every peer about itself when a link comes up
	 * (its feature level, for the plugin); 0: nothing. Old nodes ignore
	 * the frame that carries it. */
	uint32_t advertised_level;
	/* And a mode byte of its own (the plugin's sync mode), opaque to the
	 * node; sent with the level. Peers that do not send one read as 0. */
	uint8_t advertised_mode;
	/* A forwarded request with no answer fails after this long (0:
	 * 10000 ms). */
	unsigned forward_timeout_ms;
	/* Called from the raft thread whenever events were queued. */
	void (*wake)(void *data);
	void (*log)(void *data, enum ha_node_log_level level, const char *msg);
	void *data;
};

enum ha_node_event_type {
	HA_EV_ROLE = 1,	 /* role, leader, term changed */
	HA_EV_COMMITTED, /* apply entry (index, entry_type, data, len) */
	HA_EV_PROPOSED,	 /* cookie: status, and index and term when
			    accepted */
	HA_EV_READ,	 /* cookie: status; every entry up to index was
			    delivered before this event */
	HA_EV_CHANGED,	 /* cookie: membership/transfer request accepted? */
	HA_EV_RESTORE,	 /* replace the owner's state with data/len, at index */
	HA_EV_STOPPED,	 /* the node stopped: reason */
	/* As leader: a peer's owner forwarded a request (from, request_id,
	 * data, len); answer it with ha_node_forward_reply. */
	HA_EV_FORWARD_REQUEST,
	/* The answer to ha_node_forward: cookie, status (enum
	 * ha_node_forward_status), and the leader's reply in data/len when
	 * status is HA_FWD_OK. */
	HA_EV_FORWARDED,
};

/* Forwarding limits: the payload of a request or a reply; requests this
 * node waits on at once (beyond that ha_node_forward fails with
 * HA_NODE_EBUSY); requests a leader's owner may hold unanswered at once
 * (beyond that the requester gets HA_FWD_BUSY). */
#define HA_NODE_FORWARD_MAX_BYTES (1024u * 1024u)
#define HA_NODE_FORWARD_MAX_IN_FLIGHT 64u
#define HA_NODE_FORWARD_MAX_RECEIVED 256u

/* How a forwarded request ended. Only HA_FWD_OK carries a reply; after
 * HA_FWD_NO_LEADER, HA_FWD_BUSY and HA_FWD_REFUSED the leader's owner
 * never saw the request; after the others it may have acted on it. */
enum ha_node_forward_status {
	HA_FWD_OK = 0,
	HA_FWD_NO_LEADER = 1,	   /* no leader is known */
	HA_FWD_LEADER_CHANGED = 2, /* the node reached is no longer leader */
	HA_FWD_LINK_LOST = 3,	   /* the link to the leader went down */
	HA_FWD_TIMEOUT = 4,	   /* no answer in forward_timeout_ms */
	HA_FWD_BUSY = 5,	   /* the leader holds too many already */
	HA_FWD_REFUSED = 6,	   /* the leader's owner did not take it */
	HA_FWD_STOPPED = 7,	   /* this node is stopping */
};
const char *ha_node_forward_strerror(int status);

struct ha_node_event {
	enum ha_node_event_type type;
	uint64_t cookie;
	int status; /* RAFT_OK or a raft error code */
	raft_index index;
	raft_term term;
	enum raft_role role;
	raft_id leader;
	uint8_t entry_type;
	uint8_t *data; /* owned by the event: ha_node_event_free() */
	size_t len;
	int64_t queued_us; /* CLOCK_MONOTONIC when the raft thread queued it */
	raft_id from;	   /* HA_EV_FORWARD_REQUEST: the requesting node */
	uint64_t request_id; /* HA_EV_FORWARD_REQUEST: to answer with */
	char reason[160];
};

void ha_node_event_free(struct ha_node_event *ev);

/* What a peer's owner advertised (ha_node_options.advertised_level), as
 * last heard; linked: its link is up now. */
struct ha_node_peer_level {
	raft_id id;
	uint32_t level;
	uint8_t mode; /* its advertised_mode; 0 from a peer sending none */
	bool linked;
};

struct ha_node_status {
	raft_id id;
	enum raft_role role;
	raft_id leader;
	raft_term term;
	raft_index commit;
	raft_index applied;
	raft_index last_index;
	raft_index stable;
	raft_index snapshot_index;
	/* Snapshots received from a leader and restored (not those this node
	 * took or loaded from its own folder at start). */
	uint64_t snapshots_installed;
	/* The state machine's copy the node keeps for snapshots (struct
	 * ha_node_sm): the last entry applied to it, and whether a worker is
	 * capturing or restoring it or entries are held back from it. */
	raft_index sm_applied;
	bool sm_busy;
	size_t event_bytes; /* queued for the owner */
	bool has_config;
	struct raft_config config;
	/* Peers heard advertising a level, in the order first heard. */
	struct ha_node_peer_level peer_levels[RAFT_MAX_SERVERS];
	size_t n_peer_levels;
	bool stopped;
	char stop_reason[160];
};

struct ha_node;

/* Opens the data folder, starts the raft thread. */
int ha_node_start(const struct ha_node_options *o, struct ha_node **out);

/* Stops the node. With handover, a leader first transfers leadership
 * (waiting at most timeout_ms). Joins the thread and frees everything. */
void ha_node_stop(struct ha_node *n, bool handover, unsigned timeout_ms);

/* Asks a leader to hand leadership over now, as a stop with handover
 * begins, while the node keeps running (as a follower once another node
 * leads). Async-signal-safe: for a shutdown signal, so that the handover
 * does not wait for the rest of the owner's shutdown. */
void ha_node_hand_over_now(struct ha_node *n);

/* Takes the next event; false when there is none. */
bool ha_node_poll(struct ha_node *n, struct ha_node_event *ev);

/* Requests; results arrive as events carrying the cookie. */
int ha_node_bootstrap(struct ha_node *n, const struct raft_config *cfg,
		      uint64_t cookie);
int ha_node_propose(struct ha_node *n, const void *cmd, size_t len,
		    uint64_t cookie);
/* The same without a copy: takes cmd (from malloc), also on failure. */
int ha_node_propose_take(struct ha_node *n, uint8_t *cmd, size_t len,
			 uint64_t cookie);
int ha_node_read(struct ha_node *n, uint64_t cookie);
int ha_node_add_learner(struct ha_node *n, raft_id id, const char *address,
			uint64_t cookie);
int ha_node_remove(struct ha_node *n, raft_id id, uint64_t cookie);
int ha_node_transfer(struct ha_node *n, raft_id id, uint64_t cookie);
/* Sets the peer addresses to dial before any configuration is known (a
 * node that joins). */
int ha_node_set_peers(struct ha_node *n, const struct raft_config *peers);

/* Sends payload to the current leader's owner, which gets an
 * HA_EV_FORWARD_REQUEST; its answer, or why there is none, comes back as
 * an HA_EV_FORWARDED event carrying cookie. On the leader itself the
 * request goes to its own owner. HA_NODE_EINVAL: empty or larger than
 * HA_NODE_FORWARD_MAX_BYTES; HA_NODE_EBUSY: HA_NODE_FORWARD_MAX_IN_FLIGHT
 * wait already. */
int ha_node_forward(struct ha_node *n, const void *payload, size_t len,
		    uint64_t cookie);
/* The leader's owner answers the request (from, request_id) of an
 * HA_EV_FORWARD_REQUEST, once: with a reply of 1..HA_NODE_FORWARD_MAX_BYTES
 * bytes, or with none (len 0) to refuse it (HA_FWD_REFUSED). An answer to
 * a request that timed out is dropped. */
int ha_node_forward_reply(struct ha_node *n, raft_id from, uint64_t request_id,
			  const void *reply, size_t len);

/* CLOCK_MONOTONIC milliseconds until which this node may serve alone. */
int64_t ha_node_lease_until(const struct ha_node *n);
/* The term of that lease: read after ha_node_lease_until, it is the term
 * of the lease that call saw (or a later one). */
raft_term ha_node_lease_term(const struct ha_node *n);
int64_t ha_node_monotonic_ms(void);
int64_t ha_node_monotonic_us(void);

void ha_node_get_status(struct ha_node *n, struct ha_node_status *out);

#endif
