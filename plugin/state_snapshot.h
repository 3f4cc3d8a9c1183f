/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Snapshots of struct ha_state (state.h): format version 2, sectioned, with
 * a CRC32 over the whole (docs/records.md has it byte by byte). Restoring
 * also accepts the version 1 snapshot, {1, flags}. No broker headers, no
 * I/O.
 *
 * Usage:
 *
 *   f = ha_state_capture(s);   a frozen view: the flags, the level, a
 *                              reference to every retained entry (entries
 *                              are immutable and counted by reference, so
 *                              no message is copied: O(n) pointer work,
 *                              about 10 ms for 200,000 messages) and, from
 *                              feature level 3, the access-control data
 *                              encoded as its section (changed in place by
 *                              applies, so copied now). NULL: out of
 *                              memory.
 *   ha_state_serialize(f, &buf, &len);  any thread, while s changes; buf
 *                              is malloc()ed; -1: out of memory. Retained
 *                              messages are written sorted by topic, so
 *                              two nodes with the same state write the
 *                              same bytes.
 *   ha_state_release(f);       any thread.
 *
 *   ha_state_restore(buf, len, seed, &s, why, sizeof(why)) -> a new state,
 *   or ha_state_restore_into(s, ...) which replaces s's contents only on
 *   success. The new state owns copies: buf may be freed afterwards.
 *   Results: HA_SNAP_OK; HA_SNAP_NEWER (a version, section, record or
 *   feature level from a newer mosquitto_ha: why names it);
 *   HA_SNAP_MALFORMED (why says what); HA_SNAP_ENOMEM.
 *   A version 2 snapshot is accepted only in its canonical form (sections
 *   once each, in order, messages sorted and unique, the access-control
 *   section present exactly from feature level 3), so that one that
 *   restores serializes again to the same bytes.
 */
#ifndef HA_PLUGIN_STATE_SNAPSHOT_H
#define HA_PLUGIN_STATE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "plugin/state.h"

#define HA_SNAPSHOT_MAGIC "MHAS"
#define HA_SNAPSHOT_VERSION 2

enum ha_snapshot_section {
	HA_SNAP_SECTION_FLAGS = 1,	   /* u8: bit 0 deleted */
	HA_SNAP_SECTION_FEATURE_LEVEL = 2, /* u32 */
	HA_SNAP_SECTION_RETAINED = 3,	   /* u64 count, {u32 len, record}* */
	/* From feature level 3 on: the dynsec section (plugin/dynsec/). */
	HA_SNAP_SECTION_ACCESS_CONTROL = 4,
};

enum ha_snapshot_result {
	HA_SNAP_OK = 0,
	HA_SNAP_MALFORMED = -1,
	HA_SNAP_NEWER = -2,
	HA_SNAP_ENOMEM = -3,
};

struct ha_state_frozen;

struct ha_state_frozen *ha_state_capture(const struct ha_state *s);
int ha_state_serialize(struct ha_state_frozen *f, uint8_t **buf, size_t *len);
void ha_state_release(struct ha_state_frozen *f);

int ha_state_restore(const uint8_t *buf, size_t len, uint64_t seed,
		     struct ha_state **out, char *why, size_t why_len);
int ha_state_restore_into(struct ha_state *s, const uint8_t *buf, size_t len,
			  char *why, size_t why_len);

#endif
