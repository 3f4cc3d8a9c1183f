/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* A deterministic simulator of whole Raft clusters. One seed chooses the
 * cluster size, clock drifts, network behaviour, faults and client load;
 * the same seed always replays the same history. */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "raft/raft.h"

#define SIM_MAX_NODES 9

struct sim_totals {
	uint64_t seeds;
	uint64_t events;
	uint64_t elections;
	uint64_t commits;
	uint64_t crashes;
	uint64_t pauses;
	uint64_t partitions;
	uint64_t disk_failures;
	uint64_t snapshots_taken;
	uint64_t snapshots_installed;
	uint64_t membership_changes;
	uint64_t transfers;
	uint64_t lease_expiries;
	uint64_t reads;
	uint64_t violations;
	uint64_t liveness_failures;
	uint64_t disruptions; /* a term moved in a healed, led cluster */
	/* How often the direct checks met what they check. */
	uint64_t lease_checks;		     /* events with a lease held */
	uint64_t votes_refused_in_window;    /* vote requests ignored */
	uint64_t prevotes_refused_in_window; /* pre-vote requests ignored */
	uint64_t transfer_votes_in_window;   /* granted for a TimeoutNow */
	uint64_t truncations;		     /* of a node's log */
	uint64_t config_truncations;	     /* that removed a configuration */
	uint64_t stale_responses; /* of an older term, reaching a leader */
	uint64_t stable_leaders;  /* healed clusters watched for disruption */
	uint64_t reads_waited_for_commit; /* issued before the leader
					     committed in its term */
	/* Rare situations the schedules are made to reach. */
	uint64_t long_delays; /* messages delayed past an election timeout */
	uint64_t stale_reelected; /* stale responses reaching a leader that
				     led their term too (elected again) */
	uint64_t snapshots_below_applied; /* taken below the applied index */
	uint64_t snapshots_past_applied;  /* asked past it, refused */
	uint64_t timeout_now_transfers;	  /* sent by a leader transferring */
	uint64_t timeout_now_removals;	  /* sent by a removed leader */
	uint64_t removal_votes_in_window; /* granted inside the window for a
					     removed leader's successor */
};

struct sim_config {
	uint64_t seed;
	unsigned size; /* voters at start: 3, 5 or 7 */
	bool trace;    /* print every event */
	bool quiet;    /* print nothing on failure either */
	int bug;       /* planted bug (self-check builds only) */
	/* Only the end-to-end checks: shows what the direct ones (the lease
	 * promise, no-vote windows, read rounds, configurations) add. */
	bool end_to_end_only;
};

/* Runs one seed. Returns 0 when every check held, 1 on a safety violation,
 * 2 on a liveness failure, 3 on a disruption. Adds to totals. */
int sim_run(const struct sim_config *cfg, struct sim_totals *totals);

/* Adds one run's totals to another's. */
void sim_totals_add(struct sim_totals *to, const struct sim_totals *from);

/* How the replay command names this program. */
extern const char *sim_argv0;

#endif
