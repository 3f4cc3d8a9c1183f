/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The Raft-side copy of the retained messages: topic -> the retained-set
 * record that last set it, kept as the record's own bytes (what a snapshot
 * writes and what the broker applies), in a hash map with open addressing
 * (linear probing, deletion by backward shift, no tombstones), keyed with
 * SipHash under a per-store seed so that clients cannot choose topics that
 * collide. Set, delete and lookup are O(1) on average. No broker headers,
 * no I/O.
 *
 * Usage:
 *
 *   s = ha_retained_store_new(seed);
 *   ha_retained_store_set(s, record, len, topic_off, topic_len);
 *       copies a validated retained-set record (ha_record_decode() said
 *       OK); replaces what the topic held. -1 when out of memory, and then
 *       nothing changed.
 *   e = ha_retained_store_get(s, topic, topic_len);
 *   ha_retained_store_delete(s, topic, topic_len);   never fails (it
 *       shrinks the table after mass deletes when memory allows)
 *   ha_retained_store_sorted(s, &entries, &n);  every entry, sorted by
 *       topic (bytewise), each with a reference of its own;
 *       ha_retained_entries_release(entries, n) drops them.
 *
 * Threads: one thread changes a store. Entries are immutable once stored
 * and counted by reference (atomically), so an array taken with
 * ha_retained_store_share() or _sorted() can be read and released on
 * another thread while the store goes on changing: this is how a snapshot
 * freezes the map without copying the messages.
 */
#ifndef HA_PLUGIN_RETAINED_STORE_H
#define HA_PLUGIN_RETAINED_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ha_retained_store;
struct ha_retained_entry;

struct ha_retained_store *ha_retained_store_new(uint64_t seed);
void ha_retained_store_free(struct ha_retained_store *s);

/* topic_off/topic_len: where the topic lies inside record. 0, or -1 when
 * out of memory (nothing changed). */
int ha_retained_store_set(struct ha_retained_store *s, const uint8_t *record,
			  size_t len, size_t topic_off, size_t topic_len);
/* Room for n entries without growing (restoring a snapshot). -1 when out
 * of memory (nothing changed). */
int ha_retained_store_reserve(struct ha_retained_store *s, size_t n);
/* True when the topic held a message. */
bool ha_retained_store_delete(struct ha_retained_store *s, const uint8_t *topic,
			      size_t topic_len);
const struct ha_retained_entry *
ha_retained_store_get(const struct ha_retained_store *s, const uint8_t *topic,
		      size_t topic_len);

size_t ha_retained_store_count(const struct ha_retained_store *s);
/* Sum of the stored records' sizes. */
uint64_t ha_retained_store_record_bytes(const struct ha_retained_store *s);
/* What the store allocated (entries, headers and table), without the
 * allocator's own overhead. */
uint64_t ha_retained_store_memory(const struct ha_retained_store *s);

/* Walks the entries in table order, which stays the same as long as the
 * store does not change. *cursor starts at 0. */
bool ha_retained_store_next(const struct ha_retained_store *s, size_t *cursor,
			    const struct ha_retained_entry **out);

/* Every entry, with a reference each, in table order (share) or sorted by
 * topic (sorted). *entries is NULL when the store is empty. -1: out of
 * memory. */
int ha_retained_store_share(const struct ha_retained_store *s,
			    const struct ha_retained_entry ***entries,
			    size_t *n);
int ha_retained_store_sorted(const struct ha_retained_store *s,
			     const struct ha_retained_entry ***entries,
			     size_t *n);
void ha_retained_entries_sort(const struct ha_retained_entry **entries,
			      size_t n);
/* Drops the references and frees the array; any thread. */
void ha_retained_entries_release(const struct ha_retained_entry **entries,
				 size_t n);

/* Bytewise topic order, shorter first on a common prefix. */
int ha_retained_topic_cmp(const uint8_t *a, size_t a_len, const uint8_t *b,
			  size_t b_len);

/* An entry's record bytes and topic (inside the record). */
const uint8_t *ha_retained_entry_record(const struct ha_retained_entry *e,
					size_t *len);
const uint8_t *ha_retained_entry_topic(const struct ha_retained_entry *e,
				       size_t *len);

#endif
