/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The key-value program's state machine: a hash map from byte-string keys to
 * byte-string values, with a snapshot encoding and an order-independent
 * digest so that nodes can compare their states. Not thread-safe: every copy
 * has one owning thread.
 */
#ifndef KV_MAP_H
#define KV_MAP_H

#include <stddef.h>
#include <stdint.h>

#define KV_KEY_MAX 256u
#define KV_VALUE_MAX 16384u

struct kv_map;

struct kv_map *kv_map_new(void);
void kv_map_free(struct kv_map *m);

/* The value stored under key (NUL-terminated, *vlen bytes), or NULL. */
const char *kv_map_get(const struct kv_map *m, const char *key, size_t klen,
		       size_t *vlen);
/* Sets key to value; 0, or -1 when out of memory (the map is unchanged). */
int kv_map_put(struct kv_map *m, const char *key, size_t klen,
	       const char *value, size_t vlen);

size_t kv_map_count(const struct kv_map *m);
/* A digest of the contents that does not depend on insertion order. */
uint64_t kv_map_digest(const struct kv_map *m);

/* A deep copy, or NULL when out of memory. */
struct kv_map *kv_map_clone(const struct kv_map *m);

/* Snapshot encoding: "KVS1", u64 count, then per entry u32 klen, key,
 * u32 vlen, value (little-endian). */
int kv_map_encode(const struct kv_map *m, uint8_t **buf, size_t *len);
/* Decodes into a new map; NULL with *err set (-1 out of memory, -2 bad
 * encoding) on failure. */
struct kv_map *kv_map_decode(const uint8_t *buf, size_t len, int *err);

#endif
