/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * When the leader raises the cluster's committed feature level (records.h):
 * the rule alone, without the node or the broker, so that it is unit-tested.
 *
 * A level is raised, by a committed feature-level record, to the lowest
 * level that every voter advertises. A voter not heard from is waited for
 * (HA_LEVEL_WAIT_MS after the leader took office or last heard it), then
 * left out: it does not block the cluster forever, and if it comes back
 * running code below the committed level it stops applying with a line
 * that says to upgrade it, rather than drifting. A cluster at level 1 holds
 * no replicated state (level 1 has deleteCluster only), so a new cluster is
 * raised at once by its first leader, without waiting for voters that have
 * not come up yet.
 */
#ifndef HA_PLUGIN_FEATURE_LEVEL_H
#define HA_PLUGIN_FEATURE_LEVEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long a leader waits for a voter it has not heard from before it
 * raises the level without it. */
#define HA_LEVEL_WAIT_MS 30000

/* What the leader knows of one other voter. */
struct ha_voter_level {
	uint32_t level; /* advertised on its link now; 0: not heard */
	bool waiting;	/* not heard, and still waited for */
};

/* The level to raise the cluster to, or 0 for none: committed is the
 * committed level, own what this node advertises, voters the other voters
 * of the latest configuration. */
uint32_t ha_feature_level_target(uint32_t committed, uint32_t own,
				 const struct ha_voter_level *voters,
				 size_t n_voters);

#endif
