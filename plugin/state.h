/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The replicated broker state as the Raft side keeps it (the node's state
 * machine copy, for snapshots): the cluster's deleted flag, the committed
 * feature level, the retained messages and the access-control data
 * (plugin/dynsec/). No broker headers, no I/O.
 *
 * Usage (the node's struct ha_node_sm callbacks become thin wrappers):
 *
 *   s = ha_state_new(seed);             seed: keys the topic hash
 *   apply:     rv = ha_state_apply(s, index, cmd, len, why, sizeof(why));
 *              HA_APPLY_OK, or any other result: log `why` and return
 *              non-zero so that the node stops applying (the state is
 *              unchanged then).
 *   capture:   f = ha_state_capture(s);          (state_snapshot.h)
 *   serialize: ha_state_serialize(f, &buf, &len);
 *   release:   ha_state_release(f);
 *   restore:   ha_state_restore_into(s, buf, len, why, sizeof(why));
 *
 * One thread applies and restores (never both at once); capture runs while
 * applies wait; serialize and release may run on another thread while
 * applies go on. For example, with sm.data = the struct ha_state:
 *
 *   static int sm_apply(void *data, raft_index index, const uint8_t *cmd,
 *                       size_t len)
 *   {
 *           char why[256];
 *           int rv = ha_state_apply(data, index, cmd, len, why, sizeof(why));
 *           if (rv != HA_APPLY_OK)
 *                   queue_log_line(why);   raft thread: not the broker log
 *           return rv;
 *   }
 *   static void *sm_capture(void *data) { return ha_state_capture(data); }
 *   static int sm_serialize(void *f, uint8_t **buf, size_t *len)
 *   { return ha_state_serialize(f, buf, len); }
 *   static void sm_release(void *f) { ha_state_release(f); }
 *   static int sm_restore(void *data, const uint8_t *buf, size_t len)
 *   { return ha_state_restore_into(data, buf, len, why, sizeof(why)); }
 *
 * The broker thread reads the same records (ha_record_decode) from its
 * committed events, and a restored snapshot with ha_state_restore() and
 * ha_retained_store_sorted().
 */
#ifndef HA_PLUGIN_STATE_H
#define HA_PLUGIN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin/records.h"
#include "plugin/retained_store.h"

struct ha_dynsec; /* plugin/dynsec/dynsec.h */

/* What the last access-control record applied did. A change that the
 * dynsec apply refuses (HA_DYNSEC_REJECTED: a stale change, refused alike
 * on every node) is a no-op that still applies (HA_APPLY_OK), so the
 * broker reads this to answer the requester with the stock sentence. */
struct ha_access_control_outcome {
	uint64_t index;	   /* of that record; 0: none applied yet */
	int result;	   /* HA_DYNSEC_OK or HA_DYNSEC_REJECTED */
	const char *error; /* REJECTED: the stock sentence (static); or NULL */
};

struct ha_state {
	bool deleted;		/* a committed deleteCluster */
	uint32_t feature_level; /* committed; never lowered */
	struct ha_retained_store *retained;
	/* Clients, groups, roles (record type 10, snapshot section 4);
	 * empty until a change applies. Its v21 flag (not replicated) is
	 * the plugin's to set, and survives ha_state_restore_into. */
	struct ha_dynsec *access_control;
	struct ha_access_control_outcome access_control_outcome;
	uint64_t seed;
};

enum ha_apply_result {
	HA_APPLY_OK = 0,
	HA_APPLY_NEWER = 1,	/* unknown type or version, or a feature
				   level above this code's: upgrade */
	HA_APPLY_MALFORMED = 2, /* a record no version could have written */
	HA_APPLY_ENOMEM = 3,
};

/* An empty state at feature level 1; NULL when out of memory. */
struct ha_state *ha_state_new(uint64_t seed);
void ha_state_free(struct ha_state *s);

/* Applies one committed record. Any result but HA_APPLY_OK leaves the state
 * as it was and writes one line into why (if not NULL), such as "record
 * type 5 (session) version 1 at index 12 needs a newer mosquitto_ha on this
 * node". A retained set with an empty payload deletes the topic (as an
 * MQTT retained publish does). An access-control record (type 10) is read
 * and run by ha_dynsec_apply(): one it finds malformed or from a newer
 * version stops applying like any other, as does one committed below
 * feature level 3 (a level-2 snapshot could not carry its data); one it
 * refuses is a no-op (HA_APPLY_OK, s->access_control_outcome says so). */
int ha_state_apply(struct ha_state *s, uint64_t index, const uint8_t *rec,
		   size_t len, char *why, size_t why_len);
/* The same for a record the caller decoded (HA_REC_OK) from rec. */
int ha_state_apply_decoded(struct ha_state *s, uint64_t index,
			   const struct ha_record *r, const uint8_t *rec,
			   size_t len, char *why, size_t why_len);

#endif
