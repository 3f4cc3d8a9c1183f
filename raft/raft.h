/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The Raft core: a deterministic state machine with no I/O, no clock and no
 * threads. The driver feeds it one event at a time (raft_tick, raft_step,
 * raft_persisted, raft_propose, ...) together with the current monotonic time,
 * and after each call reads a struct raft_update that says what to do:
 *
 *   1. send `send_now` messages (they do not depend on anything unpersisted);
 *   2. persist, in this order: store `term`/`vote` when `hard_state_changed`,
 *      truncate the log from `truncate_from`, append `entries`, write
 *      `snapshot_chunk`;
 *   3. only once (2) and every earlier update's writes are durable, send
 *      `send_after_persist` and report the durable log with raft_persisted();
 *   4. apply `apply` entries (committed, in order) to the state machine;
 *   5. answer `reads` once the state machine has applied up to their index.
 *
 * Pointers inside an update stay valid until the next call into the core.
 * Time is milliseconds of a monotonic clock; randomness comes from the seed.
 */
#ifndef RAFT_H
#define RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t raft_index;
typedef uint64_t raft_term;
typedef uint32_t raft_id;  /* 1..RAFT_MAX_NODE_ID; 0 means nobody */
typedef int64_t raft_time; /* monotonic milliseconds */

#define RAFT_MAX_NODE_ID 1023u
#define RAFT_MAX_SERVERS 16u	/* members of one configuration */
#define RAFT_ADDRESS_MAX 256u	/* "host:port", NUL included */
#define RAFT_CLUSTER_ID_LEN 16u /* a random UUID */
#define RAFT_MAX_ENTRY_BYTES (4u * 1024u * 1024u) /* payload of one entry */

/* Wire and log format versions this build speaks. A leader writes entries
 * only in the highest version that every voter has advertised. */
#define RAFT_VERSION_MIN 1u
#define RAFT_VERSION_MAX 1u

enum raft_error {
	RAFT_OK = 0,
	RAFT_ENOMEM = -1,
	RAFT_ENOTLEADER = -2, /* only the leader can do that */
	RAFT_EBUSY = -3,      /* a change or a transfer is already pending */
	RAFT_EINVAL = -4,     /* bad argument */
	RAFT_ETOOBIG = -5,    /* entry larger than RAFT_MAX_ENTRY_BYTES */
	RAFT_ENOTFOUND = -6,  /* no such server */
	RAFT_ETRANSFER = -7,  /* leadership transfer in progress */
	RAFT_ESHUTDOWN =
	    -8, /* the core stopped (storage failure, unknown entry) */
	RAFT_ENOQUORUM = -9, /* the change would leave too few voters */
	RAFT_ESTATE = -10,   /* not allowed in the current state */
};

const char *raft_strerror(int rv);

enum raft_role {
	RAFT_FOLLOWER = 1,
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3,
};

enum raft_server_role {
	RAFT_VOTER = 1,
	RAFT_LEARNER =
	    2, /* receives the log, does not vote or count to quorum */
};

struct raft_server {
	raft_id id;
	uint8_t role;	 /* enum raft_server_role */
	uint8_t promote; /* learner: promote to voter once caught up */
	char address[RAFT_ADDRESS_MAX];
};

struct raft_config {
	uint8_t cluster_id[RAFT_CLUSTER_ID_LEN];
	uint32_t n;
	struct raft_server servers[RAFT_MAX_SERVERS];
};

enum raft_entry_type {
	RAFT_ENTRY_NOOP = 1,	/* written by every new leader */
	RAFT_ENTRY_COMMAND = 2, /* opaque to the core */
	RAFT_ENTRY_CONFIG = 3,	/* an encoded struct raft_config */
};

struct raft_entry {
	raft_term term;
	raft_index index;
	uint8_t type; /* enum raft_entry_type, or unknown from a newer peer */
	uint8_t version; /* format version the entry was written in */
	uint32_t len;
	uint8_t *data; /* owned by whoever holds the entry */
};

enum raft_message_type {
	RAFT_MSG_APPEND = 1,
	RAFT_MSG_APPEND_RESP = 2,
	RAFT_MSG_PREVOTE = 3,
	RAFT_MSG_PREVOTE_RESP = 4,
	RAFT_MSG_VOTE = 5,
	RAFT_MSG_VOTE_RESP = 6,
	RAFT_MSG_SNAPSHOT = 7,
	RAFT_MSG_SNAPSHOT_RESP = 8,
	RAFT_MSG_TIMEOUT_NOW = 9,
};
#define RAFT_MSG_TYPE_MAX 9

struct raft_message {
	uint8_t type;	 /* enum raft_message_type */
	uint8_t version; /* highest version the sender speaks */
	raft_id from;
	raft_id to;
	raft_term term;

	/* APPEND: prev_index/prev_term, entries, commit, round.
	 * APPEND_RESP: reject, index (match on success; on reject the
	 * follower's last index or conflict hint), hint_term (term at index),
	 * round, prev_index (the prev_index of the APPEND it answers). PREVOTE,
	 * VOTE: index/hint_term = candidate's last index and term, transfer =
	 * campaign started by TimeoutNow.
	 * *_RESP for votes: reject (0 = granted).
	 * SNAPSHOT: snap_index/snap_term, config, snap_size, offset, data/len
	 *   (the driver fills data from its snapshot file when data is NULL),
	 *   commit, round.
	 * SNAPSHOT_RESP: snap_index, offset (bytes received so far), done,
	 *   index (the follower's new match when done), round. */
	raft_index prev_index;
	raft_term prev_term;
	raft_index commit;
	raft_index index;
	raft_term hint_term;
	uint64_t round;
	uint8_t reject;
	uint8_t transfer;
	uint8_t done;

	uint32_t n_entries;
	struct raft_entry *entries;

	raft_index snap_index;
	raft_term snap_term;
	uint64_t snap_size;
	uint64_t offset;
	uint32_t len;
	const uint8_t *data;
	struct raft_config *config; /* SNAPSHOT only */
};

/* A chunk of an incoming snapshot for the driver to write, at offset, into a
 * temporary file for (index, term). When `last` is set the file is complete:
 * the driver makes it durable, restores its state machine from it and then
 * calls raft_snapshot_installed(). A chunk at offset 0 starts a new file. */
struct raft_snapshot_chunk {
	raft_index index;
	raft_term term;
	uint64_t offset;
	const uint8_t *data;
	uint32_t len;
	bool last;
	const struct raft_config *config;
};

struct raft_read {
	uint64_t id;	  /* as given to raft_read_index() */
	raft_index index; /* answer once applied up to here */
	int status;	  /* RAFT_OK, or why the read failed */
};

struct raft_update {
	/* Sendable at once. */
	struct raft_message *send_now;
	size_t n_send_now;

	/* To persist, in this order, before anything below is sent. */
	bool hard_state_changed;
	raft_term term;
	raft_id vote;
	raft_index truncate_from; /* 0: nothing to truncate */
	const struct raft_entry *entries;
	size_t n_entries;
	const struct raft_snapshot_chunk *snapshot_chunk;

	/* Send once everything above is durable. */
	struct raft_message *send_after_persist;
	size_t n_send_after_persist;

	/* Committed entries to apply, in order. */
	const struct raft_entry *apply;
	size_t n_apply;

	/* Confirmed (or failed) linearizable reads. */
	const struct raft_read *reads;
	size_t n_reads;

	bool role_changed;
	enum raft_role role;
	raft_id leader;

	/* The core stopped: a storage failure was reported or a committed entry
	 * cannot be understood. `error` says why. */
	const char *error;
};

struct raft_options {
	raft_time election_timeout; /* minimum; randomized in [t, 2t) */
	raft_time heartbeat_interval;
	uint32_t
	    max_clock_drift_ppm; /* bound on rate difference between clocks */
	uint32_t max_append_entries; /* per AppendEntries message */
	uint32_t max_append_bytes;
	uint32_t max_inflight; /* AppendEntries in flight per follower */
	uint32_t snapshot_chunk_bytes;
	uint32_t snapshot_chunks_in_flight; /* per follower, 1..64 */
	raft_index snapshot_trailing;	    /* entries kept after a snapshot */
	raft_time transfer_timeout; /* give up a leadership transfer after */
	bool pre_vote;
	bool check_quorum;
};

void raft_options_default(struct raft_options *o);

/* The durable state a node restarts from, as loaded by the driver. */
struct raft_persisted_state {
	raft_term term;
	raft_id vote;
	raft_index snap_index; /* 0: no snapshot */
	raft_term snap_term;
	uint64_t snap_size;
	const struct raft_config
	    *snap_config;		  /* may be NULL with no snapshot */
	const struct raft_entry *entries; /* snap_index+1 .. */
	size_t n_entries;
};

struct raft;

/* Creates a node. It does nothing until raft_start(). */
struct raft *raft_new(raft_id id, const struct raft_options *o, uint64_t seed);
void raft_free(struct raft *r);

/* Loads the durable state (NULL for a brand-new node) and starts timers.
 * Entries are copied. */
int raft_start(struct raft *r, raft_time now,
	       const struct raft_persisted_state *st, struct raft_update *u);

/* Writes the first configuration entry of a new cluster. Only on a node with
 * an empty log; `cfg` must contain this node as a voter. */
int raft_bootstrap(struct raft *r, raft_time now, const struct raft_config *cfg,
		   struct raft_update *u);

/* Time has passed. Call at least every heartbeat_interval / 2. */
int raft_tick(struct raft *r, raft_time now, struct raft_update *u);

/* A message arrived. Invalid or stale messages are ignored. */
int raft_step(struct raft *r, raft_time now, const struct raft_message *m,
	      struct raft_update *u);

/* Entries up to index (whose term is term) are durable, together with the
 * hard state handed out with them. */
int raft_persisted(struct raft *r, raft_time now, raft_index index,
		   raft_term term, struct raft_update *u);

/* The term/vote handed out in an update (and everything before it) is
 * durable. Lets acknowledgements that depend on nothing pending leave at
 * once (send_now). */
int raft_hard_state_persisted(struct raft *r, raft_time now, raft_term term,
			      struct raft_update *u);

/* The driver's storage failed: the core stops and says so. */
int raft_storage_failed(struct raft *r, raft_time now, const char *why,
			struct raft_update *u);

/* Appends a command on the leader; *index receives its log index. */
int raft_propose(struct raft *r, raft_time now, const void *data, uint32_t len,
		 raft_index *index, struct raft_update *u);

/* Appends commands on the leader at once: one update persists and
 * replicates them all, as raft_propose would each. They take consecutive
 * indexes from *first; *n_taken says how many were appended, from the
 * first on (all unless an error is returned: those before the one that
 * failed are taken all the same). The core takes the data of those it
 * appended, without a copy (it must come from malloc and is freed by the
 * core); the data of the rest stays the caller's. */
struct raft_command {
	uint8_t *data;
	uint32_t len;
};
int raft_propose_batch(struct raft *r, raft_time now,
		       const struct raft_command *cmds, size_t n,
		       raft_index *first, size_t *n_taken,
		       struct raft_update *u);

/* Membership: one change at a time, leader only. */
int raft_add_learner(struct raft *r, raft_time now, raft_id id,
		     const char *address, bool promote, struct raft_update *u);
int raft_remove_server(struct raft *r, raft_time now, raft_id id,
		       struct raft_update *u);

/* Hands leadership to `to` (0: the most up-to-date voter). */
int raft_transfer_leadership(struct raft *r, raft_time now, raft_id to,
			     struct raft_update *u);

/* Linearizable read barrier. The answer comes in a later update's reads. */
int raft_read_index(struct raft *r, raft_time now, uint64_t id,
		    struct raft_update *u);
/* The same for reads that all arrived before this call: one heartbeat
 * round confirms them all. */
int raft_read_index_batch(struct raft *r, raft_time now, const uint64_t *ids,
			  size_t n, struct raft_update *u);

/* The driver made a snapshot of its state machine at `index` (applied)
 * durable; the core may now drop older entries. */
int raft_snapshot_taken(struct raft *r, raft_time now, raft_index index,
			uint64_t size, struct raft_update *u);

/* The driver installed the snapshot delivered in chunks. */
int raft_snapshot_installed(struct raft *r, raft_time now, raft_index index,
			    raft_term term, struct raft_update *u);

/* Inspection. */
enum raft_role raft_role(const struct raft *r);
raft_id raft_id_of(const struct raft *r);
raft_id raft_leader(const struct raft *r);
raft_term raft_current_term(const struct raft *r);
raft_id raft_voted_for(const struct raft *r);
raft_index raft_commit_index(const struct raft *r);
raft_index raft_last_applied(const struct raft *r);
raft_index raft_last_index(const struct raft *r);
raft_index raft_stable_index(const struct raft *r);
raft_index raft_snapshot_index(const struct raft *r);
raft_term raft_snapshot_term(const struct raft *r);
/* Term of the entry at index, 0 when unknown (compacted or past the end). */
raft_term raft_term_at(const struct raft *r, raft_index index);
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index);
/* Latest configuration (possibly uncommitted) and the committed one. */
const struct raft_config *raft_config(const struct raft *r);
const struct raft_config *raft_committed_config(const struct raft *r);
bool raft_has_config(const struct raft *r);
/* The configuration in force at index (for example to store with a
 * snapshot taken there). */
int raft_config_at(const struct raft *r, raft_index index,
		   struct raft_config *out);
/* Until when (monotonic ms) this node may act as the only leader; 0 if it
 * holds no lease. Valid while now < the returned time. */
raft_time raft_lease_until(const struct raft *r);
bool raft_transfer_pending(const struct raft *r);
/* A leader sending its snapshot to some follower. A newer snapshot would
 * restart that transfer from offset 0 (only the newest is kept), so a driver
 * may put its next one off while this holds. */
bool raft_snapshot_in_flight(const struct raft *r);
/* Version entries are written in: the highest that every voter speaks. */
uint8_t raft_cluster_version(const struct raft *r);
const char *raft_stop_reason(const struct raft *r);
raft_time raft_election_timeout(const struct raft *r);

/* Helpers on configurations. */
const struct raft_server *raft_config_find(const struct raft_config *c,
					   raft_id id);
unsigned raft_config_voters(const struct raft_config *c);

/* Binary encoding of configurations (used in CONFIG entries and snapshots). */
size_t raft_config_encoded_size(const struct raft_config *c);
void raft_config_encode(const struct raft_config *c, uint8_t *buf);
int raft_config_decode(const uint8_t *buf, size_t len, struct raft_config *c);

#endif
