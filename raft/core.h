/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Internal state of the Raft core, shared by its modules. Not installed. */
#ifndef RAFT_CORE_H
#define RAFT_CORE_H

#include "raft/bugs.h"
#include "raft/log.h"
#include "raft/raft.h"

enum progress_state {
	PROGRESS_PROBE = 0,	/* one AppendEntries at a time until a match */
	PROGRESS_REPLICATE = 1, /* pipelined within the in-flight window */
	PROGRESS_SNAPSHOT = 2,	/* sending snapshot chunks */
};

#define INFLIGHT_MAX 64

/* What the leader knows of one follower (etcd calls it Progress). */
struct progress {
	raft_id id;
	uint8_t state;
	raft_index match; /* highest index known to be replicated */
	raft_index next;  /* next index to send */
	raft_time last_send;
	raft_time last_ack;
	raft_time last_progress; /* match moved or state changed */
	/* Removed by a committed configuration at removal_index: replicated to
	 * until it holds that entry and was told it committed. */
	bool leaving;
	raft_index removal_index;
	raft_time leaving_since;
	uint64_t acked_round;
	/* Replicate: last index of each AppendEntries in flight, oldest first.
	 */
	raft_index inflight[INFLIGHT_MAX];
	uint32_t n_inflight;
	/* Snapshot transfer. */
	raft_index snap_index;
	uint64_t snap_offset; /* next byte to send */
	uint64_t snap_acked;  /* bytes the follower confirmed */
	raft_time snap_sent_at;
};

/* An incoming snapshot being received in chunks. */
struct pending_snapshot {
	bool active;
	bool complete; /* last chunk handed out, waiting for install */
	raft_index index;
	raft_term term;
	uint64_t received;
	struct raft_config config;
};

struct pending_read {
	uint64_t id;
	raft_index index;
	uint64_t round;
	bool waiting_commit; /* arrived before the leader committed in term */
};

#define ROUND_RING 128

struct raft {
	raft_id id;
	struct raft_options opt;
	uint64_t rng;
	bool started;
	const char *stopped; /* why the core stopped, or NULL */

	raft_time now;
	raft_time start_time;
	uint8_t peer_version[RAFT_MAX_NODE_ID + 1]; /* as advertised */

	/* Persistent state (Raft paper, figure 2). */
	raft_term term;
	raft_id vote;

	struct raft_log log;
	raft_index commit;
	raft_index applied;
	raft_index stable;	/* entries known durable */
	raft_term durable_term; /* the newest term known to be on disk */

	/* Latest configuration (effective as soon as appended, section 4.1 of
	 * the dissertation) and the latest committed one. */
	struct raft_config config;
	raft_index config_index;
	struct raft_config config_committed;
	raft_index config_committed_index;
	struct raft_config snap_config;
	uint64_t snap_size;

	enum raft_role role;
	bool prevote; /* candidate still in the pre-vote phase */
	raft_id leader;
	raft_time leader_contact; /* last message from the current leader */
	raft_time election_deadline;
	raft_id votes[RAFT_MAX_SERVERS];
	uint32_t n_votes;
	bool campaign_transfer;

	/* Leader state. */
	struct progress progress[RAFT_MAX_SERVERS];
	uint32_t n_progress;
	raft_index term_start; /* index of this term's first entry */
	raft_time heartbeat_due;
	uint64_t round;
	raft_time round_time[ROUND_RING];
	raft_time quorum_contact; /* send time of the newest quorum round */
	raft_time lease_until;
	raft_id transfer_to;
	raft_time transfer_deadline;
	bool timeout_now_sent; /* no lease for the rest of this term */
	uint64_t quorum_round;
	struct pending_read *reads;
	uint32_t n_reads;
	uint32_t cap_reads;

	struct pending_snapshot incoming;
	uint8_t *chunk_buf;
	uint32_t chunk_cap;
	struct raft_snapshot_chunk chunk_out;

	/* The update being built for the driver. */
	struct raft_message *now_msgs;
	size_t n_now, cap_now;
	struct raft_message *after_msgs;
	size_t n_after, cap_after;
	struct raft_read *read_out;
	size_t n_read_out, cap_read_out;
	bool hs_changed;
	raft_index truncate_from;
	raft_index persist_from; /* 0: nothing new */
	raft_index apply_from;
	raft_index apply_to;
	bool role_changed;
};

/* raft.c */
int raft__begin_event(struct raft *r, raft_time now);
void raft__core_stop(struct raft *r, const char *why);
uint64_t raft__random(struct raft *r);
void raft__reset_election_timer(struct raft *r);
bool raft__is_voter(const struct raft *r, raft_id id);
bool raft__self_voter(const struct raft *r);

/* output.c: building the update. */
struct raft_message *raft__out_message(struct raft *r, uint8_t type, raft_id to,
				       bool after_persist);
void raft__out_hard_state(struct raft *r);
void raft__out_entries_appended(struct raft *r, raft_index first);
void raft__out_truncated(struct raft *r, raft_index from);
void raft__out_read(struct raft *r, uint64_t id, raft_index index, int status);
void raft__out_reset(struct raft *r);
void raft__out_finish(struct raft *r, struct raft_update *u);

/* role.c */
void raft__role_become_follower(struct raft *r, raft_term term, raft_id leader);
void raft__role_become_candidate(struct raft *r, bool prevote, bool transfer);
void raft__role_become_leader(struct raft *r);
void raft__role_step_down_if_no_quorum(struct raft *r);

/* election.c */
void raft__election_start(struct raft *r, bool transfer);
void raft__election_recv_request(struct raft *r, const struct raft_message *m);
void raft__election_recv_response(struct raft *r, const struct raft_message *m);
bool raft__election_in_lease(const struct raft *r);

/* replication.c */
void raft__replication_send(struct raft *r, struct progress *p, bool heartbeat);
void raft__replication_broadcast(struct raft *r, bool heartbeat);
void raft__replication_recv_append(struct raft *r,
				   const struct raft_message *m);
void raft__replication_recv_append_resp(struct raft *r,
					const struct raft_message *m);
void raft__replication_maybe_commit(struct raft *r);
void raft__replication_set_commit(struct raft *r, raft_index commit);
struct progress *raft__progress_find(struct raft *r, raft_id id);
void raft__progress_reset_all(struct raft *r);
void raft__progress_sync_with_config(struct raft *r);
void raft__progress_release_removed(struct raft *r);
void raft__progress_drop(struct raft *r, raft_id id);
void raft__replication_tick(struct raft *r);

/* snapshot.c */
void raft__snapshot_send(struct raft *r, struct progress *p);
void raft__snapshot_tick(struct raft *r, struct progress *p);
void raft__snapshot_recv(struct raft *r, const struct raft_message *m);
void raft__snapshot_recv_resp(struct raft *r, const struct raft_message *m);

/* membership.c */
void raft__membership_entry_appended(struct raft *r,
				     const struct raft_entry *e);
void raft__membership_rebuild(struct raft *r);
void raft__membership_commit_advanced(struct raft *r, raft_index old_commit);
void raft__membership_maybe_promote(struct raft *r);
int raft__membership_append_config(struct raft *r, const struct raft_config *c);

/* lease.c: heartbeat rounds, leader lease, ReadIndex, transfer. */
void raft__lease_new_round(struct raft *r);
void raft__lease_ack(struct raft *r, struct progress *p, uint64_t round);
void raft__lease_recompute(struct raft *r);
raft_time raft__lease_duration(const struct raft *r);
void raft__reads_fail_all(struct raft *r, int status);
void raft__reads_commit_advanced(struct raft *r);
void raft__transfer_maybe_send(struct raft *r, struct progress *p);
void raft__transfer_tick(struct raft *r);
raft_index raft__quorum_match_index(const struct raft *r);
bool raft__committed_in_term(const struct raft *r);

#endif
