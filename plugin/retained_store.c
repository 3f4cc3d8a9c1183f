/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The retained-message map: see retained_store.h. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/retained_store.h"
#include "raft/byteorder.h"

struct ha_retained_entry {
	_Atomic uint32_t refs;
	uint32_t len; /* of record */
	uint32_t topic_off;
	uint16_t topic_len;
	uint8_t record[];
};

/* A slot keeps its entry's hash beside the pointer: a probe compares
 * hashes in the table itself and follows a pointer only on a match, so a
 * lookup in a table of millions costs about one cache miss, not one per
 * slot probed. */
struct slot {
	uint64_t hash;
	struct ha_retained_entry *e; /* NULL when free */
};

struct ha_retained_store {
	struct slot *slots; /* cap slots */
	size_t cap;	    /* a power of two */
	size_t count;
	uint64_t record_bytes;
	uint64_t k0, k1;
};

#define INITIAL_SLOTS 16u

/* ---- SipHash-1-3 (Aumasson and Bernstein), 64-bit output ---- */

static uint64_t rotl64(uint64_t x, unsigned b)
{
	return x << b | x >> (64 - b);
}

#define SIP_ROUND()                                                            \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = rotl64(v1, 13);                                           \
		v1 ^= v0;                                                      \
		v0 = rotl64(v0, 32);                                           \
		v2 += v3;                                                      \
		v3 = rotl64(v3, 16);                                           \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = rotl64(v3, 21);                                           \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = rotl64(v1, 17);                                           \
		v1 ^= v2;                                                      \
		v2 = rotl64(v2, 32);                                           \
	} while (0)

static uint64_t siphash13(uint64_t k0, uint64_t k1, const uint8_t *m,
			  size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ull ^ k0;
	uint64_t v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0;
	uint64_t v3 = 0x7465646279746573ull ^ k1;
	size_t whole = len & ~(size_t)7;
	for (size_t i = 0; i < whole; i += 8) {
		uint64_t w = le64_load(m + i);
		v3 ^= w;
		SIP_ROUND();
		v0 ^= w;
	}
	uint64_t last = (uint64_t)len << 56;
	for (size_t i = whole; i < len; i++)
		last |= (uint64_t)m[i] << (8 * (i - whole));
	v3 ^= last;
	SIP_ROUND();
	v0 ^= last;
	v2 ^= 0xff;
	SIP_ROUND();
	SIP_ROUND();
	SIP_ROUND();
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* ---- entries ---- */

static void entry_ref(const struct ha_retained_entry *e)
{
	atomic_fetch_add_explicit(&((struct ha_retained_entry *)e)->refs, 1,
				  memory_order_relaxed);
}

static void entry_unref(const struct ha_retained_entry *e)
{
	struct ha_retained_entry *m = (struct ha_retained_entry *)e;
	/* Release/acquire: the last owner sees every other's reads done. */
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		free(m);
}

static const uint8_t *entry_topic(const struct ha_retained_entry *e)
{
	return e->record + e->topic_off;
}

const uint8_t *ha_retained_entry_record(const struct ha_retained_entry *e,
					size_t *len)
{
	*len = e->len;
	return e->record;
}

const uint8_t *ha_retained_entry_topic(const struct ha_retained_entry *e,
				       size_t *len)
{
	*len = e->topic_len;
	return entry_topic(e);
}

int ha_retained_topic_cmp(const uint8_t *a, size_t a_len, const uint8_t *b,
			  size_t b_len)
{
	size_t n = a_len < b_len ? a_len : b_len;
	int c = n > 0 ? memcmp(a, b, n) : 0;
	if (c != 0)
		return c;
	return a_len < b_len ? -1 : (a_len > b_len ? 1 : 0);
}

/* ---- the table ---- */

struct ha_retained_store *ha_retained_store_new(uint64_t seed)
{
	struct ha_retained_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->slots = calloc(INITIAL_SLOTS, sizeof(*s->slots));
	if (s->slots == NULL) {
		free(s);
		return NULL;
	}
	s->cap = INITIAL_SLOTS;
	s->k0 = splitmix64(seed);
	s->k1 = splitmix64(s->k0);
	return s;
}

void ha_retained_store_free(struct ha_retained_store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i].e != NULL)
			entry_unref(s->slots[i].e);
	free(s->slots);
	free(s);
}

static uint64_t topic_hash(const struct ha_retained_store *s,
			   const uint8_t *topic, size_t len)
{
	return siphash13(s->k0, s->k1, topic, len);
}

/* The slot holding topic, or the free slot where it would go. */
static size_t find_slot(const struct ha_retained_store *s, uint64_t hash,
			const uint8_t *topic, size_t len)
{
	size_t mask = s->cap - 1;
	size_t i = (size_t)hash & mask;
	for (;;) {
		const struct slot *sl = &s->slots[i];
		if (sl->e == NULL ||
		    (sl->hash == hash && sl->e->topic_len == len &&
		     memcmp(entry_topic(sl->e), topic, len) == 0))
			return i;
		i = (i + 1) & mask;
	}
}

/* Rehashes into cap slots (a power of two, above count * 4/3). */
static int resize(struct ha_retained_store *s, size_t cap)
{
	struct slot *slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < s->cap; i++) {
		if (s->slots[i].e == NULL)
			continue;
		size_t j = (size_t)s->slots[i].hash & (cap - 1);
		while (slots[j].e != NULL)
			j = (j + 1) & (cap - 1);
		slots[j] = s->slots[i];
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

/* The smallest table that holds n entries at most 3/4 full. */
static size_t slots_for(size_t n)
{
	size_t cap = INITIAL_SLOTS;
	while (cap / 4 * 3 < n && cap < SIZE_MAX / 2 / sizeof(struct slot))
		cap *= 2;
	return cap;
}

int ha_retained_store_reserve(struct ha_retained_store *s, size_t n)
{
	size_t cap = slots_for(n);
	return cap > s->cap ? resize(s, cap) : 0;
}

int ha_retained_store_set(struct ha_retained_store *s, const uint8_t *record,
			  size_t len, size_t topic_off, size_t topic_len)
{
	if (len > UINT32_MAX || topic_len > UINT16_MAX || topic_off > len ||
	    topic_len > len - topic_off)
		return -1;
	struct ha_retained_entry *e = malloc(sizeof(*e) + len);
	if (e == NULL)
		return -1;
	atomic_init(&e->refs, 1);
	e->len = (uint32_t)len;
	e->topic_off = (uint32_t)topic_off;
	e->topic_len = (uint16_t)topic_len;
	memcpy(e->record, record, len);
	uint64_t hash = topic_hash(s, e->record + topic_off, topic_len);

	size_t i = find_slot(s, hash, entry_topic(e), topic_len);
	if (s->slots[i].e != NULL) {
		struct ha_retained_entry *old = s->slots[i].e;
		s->record_bytes -= old->len;
		entry_unref(old);
	} else {
		/* Load factor at most 3/4 after this insert. */
		if ((s->count + 1) * 4 > s->cap * 3) {
			if (resize(s, s->cap * 2) != 0) {
				free(e);
				return -1;
			}
			i = find_slot(s, hash, entry_topic(e), topic_len);
		}
		s->count++;
	}
	s->slots[i] = (struct slot){.hash = hash, .e = e};
	s->record_bytes += len;
	return 0;
}

bool ha_retained_store_delete(struct ha_retained_store *s, const uint8_t *topic,
			      size_t topic_len)
{
	size_t i =
	    find_slot(s, topic_hash(s, topic, topic_len), topic, topic_len);
	if (s->slots[i].e == NULL)
		return false;
	s->record_bytes -= s->slots[i].e->len;
	entry_unref(s->slots[i].e);
	s->count--;
	/* Backward shift: move up every later entry of the run whose home
	 * slot does not lie between the hole and it (cyclically). */
	size_t mask = s->cap - 1;
	size_t hole = i;
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (s->slots[j].e == NULL)
			break;
		size_t home = (size_t)s->slots[j].hash & mask;
		bool stays = hole <= j ? (hole < home && home <= j)
				       : (hole < home || home <= j);
		if (!stays) {
			s->slots[hole] = s->slots[j];
			hole = j;
		}
	}
	s->slots[hole] = (struct slot){0};
	/* Give memory back after mass deletes; if that fails, the larger
	 * table serves as well. */
	if (s->cap > INITIAL_SLOTS && s->count * 8 < s->cap)
		(void)resize(s, s->cap / 2);
	return true;
}

const struct ha_retained_entry *
ha_retained_store_get(const struct ha_retained_store *s, const uint8_t *topic,
		      size_t topic_len)
{
	return s
	    ->slots[find_slot(s, topic_hash(s, topic, topic_len), topic,
			      topic_len)]
	    .e;
}

size_t ha_retained_store_count(const struct ha_retained_store *s)
{
	return s->count;
}

uint64_t ha_retained_store_record_bytes(const struct ha_retained_store *s)
{
	return s->record_bytes;
}

uint64_t ha_retained_store_memory(const struct ha_retained_store *s)
{
	return sizeof(*s) + s->cap * sizeof(*s->slots) +
	       s->count * sizeof(struct ha_retained_entry) + s->record_bytes;
}

bool ha_retained_store_next(const struct ha_retained_store *s, size_t *cursor,
			    const struct ha_retained_entry **out)
{
	while (*cursor < s->cap) {
		const struct ha_retained_entry *e = s->slots[(*cursor)++].e;
		if (e != NULL) {
			*out = e;
			return true;
		}
	}
	return false;
}

int ha_retained_store_share(const struct ha_retained_store *s,
			    const struct ha_retained_entry ***entries,
			    size_t *n)
{
	*entries = NULL;
	*n = 0;
	if (s->count == 0)
		return 0;
	const struct ha_retained_entry **a = malloc(s->count * sizeof(*a));
	if (a == NULL)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < s->cap; i++) {
		if (s->slots[i].e != NULL) {
			entry_ref(s->slots[i].e);
			a[k++] = s->slots[i].e;
		}
	}
	*entries = a;
	*n = k;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct ha_retained_entry *x =
	    *(const struct ha_retained_entry *const *)a;
	const struct ha_retained_entry *y =
	    *(const struct ha_retained_entry *const *)b;
	return ha_retained_topic_cmp(entry_topic(x), x->topic_len,
				     entry_topic(y), y->topic_len);
}

void ha_retained_entries_sort(const struct ha_retained_entry **entries,
			      size_t n)
{
	if (n > 1)
		qsort(entries, n, sizeof(*entries), entry_cmp);
}

int ha_retained_store_sorted(const struct ha_retained_store *s,
			     const struct ha_retained_entry ***entries,
			     size_t *n)
{
	if (ha_retained_store_share(s, entries, n) != 0)
		return -1;
	ha_retained_entries_sort(*entries, *n);
	return 0;
}

void ha_retained_entries_release(const struct ha_retained_entry **entries,
				 size_t n)
{
	for (size_t i = 0; i < n; i++)
		entry_unref(entries[i]);
	free(entries);
}
