/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The simulator's world, shared by sim.c (the world) and checks.c (what
 * must hold in it). */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include "tests/sim/sim.h"

/* Timings of the simulated cluster, in ms. Only their ratios matter. */
#define ELECTION_TIMEOUT 100
#define HEARTBEAT 20
#define TICK 10
/* Once faults stop, a leader must commit a new proposal on every member
 * within this bound. */
#define LIVENESS_BOUND (30 * ELECTION_TIMEOUT)
/* After that, the healed cluster runs on quietly this long: no term may
 * move (no pre-vote that raises a term, no needless election). */
#define QUIET_TAIL (2 * ELECTION_TIMEOUT)

/* Clocks are whole milliseconds: a node's reading of an interval can be
 * off by one either way, on both the leader's clock and a voter's. */
#define CLOCK_SLACK 1

#define TRACE_LINES 400
#define TRACE_LINE 160

enum event_type {
	EV_DELIVER = 1,
	EV_TICK,
	EV_JOB,
	EV_RESTART,
	EV_CLIENT,
	EV_FAULT,
	EV_HEAL,
};

enum phase {
	PHASE_FAULTS = 1,
	PHASE_HEALED,
	PHASE_DONE,
};

struct event {
	int64_t at;
	uint64_t seq;
	int type;
	int node;
	uint64_t epoch;
	struct raft_message *msg;
};

/* One batch of writes handed to the disk; durable when its fsync returns. */
struct job {
	int64_t done_at;
	bool hs;
	raft_term term;
	raft_id vote;
	raft_index truncate_from;
	struct raft_entry *entries;
	size_t n_entries;
	bool has_chunk;
	struct raft_snapshot_chunk chunk;
	struct raft_config chunk_config;
	uint8_t *chunk_data;
	struct raft_message **msgs;
	size_t n_msgs;
	struct job *next;
};

struct durable_snapshot {
	raft_index index;
	raft_term term;
	uint64_t size;
	uint8_t *data;
	struct raft_config config;
};

struct node {
	raft_id id;
	struct raft *r;
	bool up;
	bool paused;
	int64_t pause_until;
	uint64_t epoch;
	int64_t drift_ppm;
	int64_t clock_offset;

	/* Durable state. */
	raft_term d_term;
	raft_id d_vote;
	struct {
		struct raft_entry *e;
		size_t n, cap;
		raft_index offset;
	} dlog;
	struct durable_snapshot dsnap;
	/* Incoming snapshot file, durable only once complete. */
	uint8_t *in_data;
	uint64_t in_size, in_cap;
	raft_index in_index;
	raft_term in_term;
	struct raft_config in_config;

	struct job *jobs_head, *jobs_tail;
	bool fail_next_job;

	/* State machine. */
	raft_index sm_index;
	uint64_t sm_hash;

	/* What the checks remember. */
	raft_index seen_commit;
	bool held_lease;
	raft_term was_leader_term;
	int64_t leader_since;
	int64_t heard_from[SIM_MAX_NODES + 1]; /* real time, this term */
	uint32_t voters_seen;
	int last_role;
	raft_term last_term;
	int64_t voters_changed_at;

	/* The no-vote window, on this node's own clock: it promised to help
	 * elect no one for an election timeout after it last heard from a
	 * leader, and grants no vote for one after it starts. Known from the
	 * messages delivered, never from the core. */
	bool has_contact;
	raft_time contact_local;
	raft_id contact_leader;
	raft_term contact_term;
	raft_time start_local;
	/* The TimeoutNow that made it campaign came from a leader that had
	 * been removed (not from a transfer). */
	bool campaign_after_removal;
	/* Voters of its latest configuration and of the one before (one
	 * change apart, any majorities of the two intersect). */
	uint32_t cfg_voters;
	uint32_t prev_voters;
	/* Heartbeat rounds as the messages show them: the highest round this
	 * process sent, and in rounds_term the highest each follower received
	 * and the highest it answered. */
	uint64_t round_sent_max;
	raft_term rounds_term;
	uint64_t round_delivered[SIM_MAX_NODES + 1];
	uint64_t round_acked[SIM_MAX_NODES + 1];
	/* The latest configuration in its own log (or snapshot), found again
	 * after a start, a truncation, an install or a configuration entry. */
	bool config_rescan;
	bool config_known;
	raft_index config_index;
	struct raft_config config;
};

/* A node's state just before it handles a delivered message. */
struct before_step {
	raft_term term;
	bool vote_window;    /* it may grant no vote but a transfer's */
	bool prevote_window; /* it may grant no pre-vote either */
};

struct pending_read_check {
	uint64_t id;
	raft_index must_see;
	raft_id leader;
	uint64_t epoch;
	raft_term term;
	uint64_t must_round; /* no message of this round left before */
	bool answered;
};

struct world {
	struct sim_config cfg;
	const char *argv0;
	char bug_name[32];
	uint64_t rng;
	int64_t now;
	enum phase phase;
	int64_t fault_end;

	unsigned n_voters;
	unsigned n_nodes;
	struct node nodes[SIM_MAX_NODES + 1];
	uint32_t drift_bound_ppm;

	bool blocked[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];
	unsigned drop_per_mille;
	unsigned dup_per_mille;
	unsigned long_delay_per_mille; /* past an election timeout */
	int64_t delay_min, delay_max;
	int64_t disk_max;

	struct event *events;
	size_t n_events, cap_events;
	uint64_t seq;

	uint64_t proposal_seq;
	uint64_t read_seq;
	raft_index probe_index;
	raft_term probe_term;

	/* Checks' memory (checks.c). */
	raft_id *leader_of_term;
	size_t n_terms;
	raft_id *vote_of; /* [term * (SIM_MAX_NODES + 1) + voter] */
	size_t n_vote_terms;
	raft_term *committed_term; /* by index */
	uint64_t *committed_hash;
	uint64_t *sm_hash_at;
	raft_term *committed_in; /* term in which each index was committed */
	size_t committed_cap;
	raft_index commit_max;
	struct registry_slot *registry;
	size_t registry_cap, registry_n;
	struct pending_read_check reads[1024];
	/* Term of the last TimeoutNow a removed leader sent, by sender and
	 * target. */
	raft_term removal_timeout_now[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];

	/* Once faults stop: the term of the first leader with a lease that no
	 * node is ahead of, and its id. */
	raft_term stable_term;
	raft_id stable_leader;
	int64_t quiet_from; /* a paused node's events wait past the heal */
	/* A leader counts as up once a majority answered a round it began
	 * after the faults (its check-quorum then rests on the healed
	 * network, not on what came before). */
	raft_id candidate_leader;
	raft_term candidate_term;
	uint64_t candidate_round;

	char failure[512];
	bool liveness_failed;
	bool disrupted;

	struct sim_totals totals;
	char trace[TRACE_LINES][TRACE_LINE];
	uint64_t trace_pos;
};

/* A node's clock at a real instant: its own offset and rate. */
static inline raft_time sim_local(const struct node *n, int64_t real)
{
	return n->clock_offset + real + real * n->drift_ppm / 1000000;
}

/* sim.c */
uint64_t sim_rand(struct world *w);
int64_t sim_range(struct world *w, int64_t lo, int64_t hi);
bool sim_chance(struct world *w, unsigned per_mille);
void sim_trace(struct world *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sim_schedule(struct world *w, int64_t at, int type, int node,
		  struct raft_message *msg);
void sim_message_free(struct raft_message *m);
void node_start(struct world *w, struct node *n);
void node_crash(struct world *w, struct node *n, const char *why);
void node_handle_update(struct world *w, struct node *n, struct raft_update *u);
const struct raft_entry *dlog_get(const struct node *n, raft_index i);
bool durable_has(const struct node *n, raft_index i, raft_term t);
uint64_t entry_hash(const struct raft_entry *e);

/* checks.c */
void checks_init(struct world *w);
void checks_free(struct world *w);
void sim_violation(struct world *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void check_update(struct world *w, struct node *n, const struct raft_update *u);
void check_message_sent(struct world *w, struct node *n,
			const struct raft_message *m);
void check_message_delivered(struct world *w, struct node *n,
			     const struct raft_message *m,
			     struct before_step *before);
void check_message_stepped(struct world *w, struct node *n,
			   const struct raft_message *m,
			   const struct before_step *before,
			   const struct raft_update *u);
void check_applied(struct world *w, struct node *n, const struct raft_entry *e);
void check_read_issued(struct world *w, struct node *n, uint64_t id);
void check_read(struct world *w, struct node *n, const struct raft_read *rd);
void check_after_event(struct world *w, struct node *n);
void check_world(struct world *w);
void check_disruption(struct world *w);
bool liveness_reached(struct world *w);

#endif
