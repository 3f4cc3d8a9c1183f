/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* A chained hash map that doubles when it gets full. */
#include "kv/map.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "raft/byteorder.h"

struct kv_entry {
	struct kv_entry *next;
	uint64_t hash;
	uint32_t klen;
	uint32_t vlen;
	char *value; /* NUL-terminated */
	char key[];  /* NUL-terminated */
};

struct kv_map {
	struct kv_entry **buckets;
	size_t n_buckets; /* a power of two */
	size_t count;
};

static const uint8_t snapshot_magic[4] = {'K', 'V', 'S', '1'};

static uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t key_hash(const char *key, size_t klen)
{
	return fnv1a(0xcbf29ce484222325ull, key, klen);
}

struct kv_map *kv_map_new(void)
{
	struct kv_map *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->n_buckets = 64;
	m->buckets = calloc(m->n_buckets, sizeof(*m->buckets));
	if (m->buckets == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void kv_map_free(struct kv_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct kv_entry *e = m->buckets[i];
		while (e != NULL) {
			struct kv_entry *next = e->next;
			free(e->value);
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	free(m);
}

static struct kv_entry *find(const struct kv_map *m, const char *key,
			     size_t klen, uint64_t h)
{
	struct kv_entry *e = m->buckets[h & (m->n_buckets - 1)];
	for (; e != NULL; e = e->next)
		if (e->hash == h && e->klen == klen &&
		    memcmp(e->key, key, klen) == 0)
			return e;
	return NULL;
}

const char *kv_map_get(const struct kv_map *m, const char *key, size_t klen,
		       size_t *vlen)
{
	struct kv_entry *e = find(m, key, klen, key_hash(key, klen));
	if (e == NULL)
		return NULL;
	if (vlen != NULL)
		*vlen = e->vlen;
	return e->value;
}

/* Growing is best effort: a map that cannot grow still works, slower. */
static void grow(struct kv_map *m)
{
	size_t n = m->n_buckets * 2;
	struct kv_entry **b = calloc(n, sizeof(*b));
	if (b == NULL)
		return;
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct kv_entry *e = m->buckets[i];
		while (e != NULL) {
			struct kv_entry *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->n_buckets = n;
}

static char *copy_bytes(const char *p, size_t len)
{
	char *s = malloc(len + 1);
	if (s != NULL) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

int kv_map_put(struct kv_map *m, const char *key, size_t klen,
	       const char *value, size_t vlen)
{
	if (klen > KV_KEY_MAX || vlen > KV_VALUE_MAX)
		return -1;
	uint64_t h = key_hash(key, klen);
	char *v = copy_bytes(value, vlen);
	if (v == NULL)
		return -1;
	struct kv_entry *e = find(m, key, klen, h);
	if (e != NULL) {
		free(e->value);
		e->value = v;
		e->vlen = (uint32_t)vlen;
		return 0;
	}
	e = malloc(sizeof(*e) + klen + 1);
	if (e == NULL) {
		free(v);
		return -1;
	}
	e->hash = h;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	e->value = v;
	memcpy(e->key, key, klen);
	e->key[klen] = '\0';
	e->next = m->buckets[h & (m->n_buckets - 1)];
	m->buckets[h & (m->n_buckets - 1)] = e;
	m->count++;
	if (m->count > m->n_buckets)
		grow(m);
	return 0;
}

size_t kv_map_count(const struct kv_map *m)
{
	return m->count;
}

uint64_t kv_map_digest(const struct kv_map *m)
{
	/* A sum of well-mixed per-entry hashes: equal contents give equal
	 * digests whatever the order the entries were inserted in. */
	uint64_t sum = mix64(m->count);
	for (size_t i = 0; i < m->n_buckets; i++)
		for (struct kv_entry *e = m->buckets[i]; e; e = e->next) {
			uint64_t h = fnv1a(e->hash, "\0", 1);
			h = fnv1a(h, e->value, e->vlen);
			sum += mix64(h ^ ((uint64_t)e->vlen << 32));
		}
	return sum;
}

struct kv_map *kv_map_clone(const struct kv_map *m)
{
	struct kv_map *c = kv_map_new();
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < m->n_buckets; i++)
		for (struct kv_entry *e = m->buckets[i]; e; e = e->next)
			if (kv_map_put(c, e->key, e->klen, e->value, e->vlen) !=
			    0) {
				kv_map_free(c);
				return NULL;
			}
	return c;
}

int kv_map_encode(const struct kv_map *m, uint8_t **buf, size_t *len)
{
	size_t size = sizeof(snapshot_magic) + 8;
	for (size_t i = 0; i < m->n_buckets; i++)
		for (struct kv_entry *e = m->buckets[i]; e; e = e->next)
			size += 8 + (size_t)e->klen + e->vlen;
	uint8_t *p = malloc(size);
	if (p == NULL)
		return -1;
	struct byte_writer w;
	byte_writer_init(&w, p, size);
	put_bytes(&w, snapshot_magic, sizeof(snapshot_magic));
	put_u64(&w, m->count);
	for (size_t i = 0; i < m->n_buckets; i++)
		for (struct kv_entry *e = m->buckets[i]; e; e = e->next) {
			put_u32(&w, e->klen);
			put_bytes(&w, e->key, e->klen);
			put_u32(&w, e->vlen);
			put_bytes(&w, e->value, e->vlen);
		}
	if (!w.ok || w.pos != size) {
		free(p);
		return -2;
	}
	*buf = p;
	*len = size;
	return 0;
}

struct kv_map *kv_map_decode(const uint8_t *buf, size_t len, int *err)
{
	struct byte_reader r;
	byte_reader_init(&r, buf, len);
	const uint8_t *magic = get_bytes(&r, sizeof(snapshot_magic));
	uint64_t count = get_u64(&r);
	/* Every entry takes at least 8 bytes: a count beyond that is a lie. */
	if (!r.ok ||
	    memcmp(magic, snapshot_magic, sizeof(snapshot_magic)) != 0 ||
	    count > (len - r.pos) / 8) {
		*err = -2;
		return NULL;
	}
	struct kv_map *m = kv_map_new();
	if (m == NULL) {
		*err = -1;
		return NULL;
	}
	for (uint64_t i = 0; i < count; i++) {
		uint32_t klen = get_u32(&r);
		const uint8_t *key = get_bytes(&r, klen);
		uint32_t vlen = get_u32(&r);
		const uint8_t *value = get_bytes(&r, vlen);
		if (!r.ok || klen > KV_KEY_MAX || vlen > KV_VALUE_MAX ||
		    kv_map_get(m, (const char *)key, klen, NULL) != NULL) {
			*err = -2;
			kv_map_free(m);
			return NULL;
		}
		if (kv_map_put(m, (const char *)key, klen, (const char *)value,
			       vlen) != 0) {
			*err = -1;
			kv_map_free(m);
			return NULL;
		}
	}
	if (r.pos != len) {
		*err = -2;
		kv_map_free(m);
		return NULL;
	}
	*err = 0;
	return m;
}
