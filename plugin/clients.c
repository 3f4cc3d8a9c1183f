/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* An open-addressing map from a connection's address to a copy of its client
 * id, with tombstones. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/clients.h"

static const char gone_marker;
#define GONE ((const void *)&gone_marker)

static uint64_t hash(const void *conn)
{
	/* Allocations are aligned: mix the high bits into the low ones. */
	uint64_t h = (uint64_t)(uintptr_t)conn;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* The slot holding conn (found) or the slot where it would go. */
static size_t find(const struct ha_client_set *s, const void *conn, bool *found)
{
	size_t i = (size_t)(hash(conn) & (s->cap - 1));
	size_t first_free = SIZE_MAX;
	for (;;) {
		const void *v = s->slots[i].conn;
		if (v == NULL) {
			*found = false;
			return first_free != SIZE_MAX ? first_free : i;
		}
		if (v == GONE) {
			if (first_free == SIZE_MAX)
				first_free = i;
		} else if (v == conn) {
			*found = true;
			return i;
		}
		i = (i + 1) & (s->cap - 1);
	}
}

static int grow(struct ha_client_set *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	if (s->n * 4 < s->cap)
		cap = s->cap; /* mostly tombstones: rehash at the same size */
	struct ha_client_entry *slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -1;
	struct ha_client_set next = {.slots = slots, .cap = cap};
	for (size_t i = 0; i < s->cap; i++) {
		if (s->slots[i].conn == NULL || s->slots[i].conn == GONE)
			continue;
		bool found;
		next.slots[find(&next, s->slots[i].conn, &found)] = s->slots[i];
		next.n++;
	}
	free(s->slots);
	*s = next;
	return 0;
}

int ha_clients_track(struct ha_client_set *s, const void *conn, const char *id)
{
	if (conn == NULL || id == NULL)
		return 0;
	if ((s->n + s->tombstones + 1) * 2 > s->cap && grow(s) != 0)
		return -1;
	bool found;
	size_t i = find(s, conn, &found);
	if (found && strcmp(s->slots[i].id, id) == 0)
		return 0;
	char *copy = strdup(id);
	if (copy == NULL)
		return -1;
	if (found) {
		/* The broker freed an earlier connection at this address
		 * without a DISCONNECT we saw: this one replaces it. */
		free(s->slots[i].id);
	} else {
		if (s->slots[i].conn == GONE)
			s->tombstones--;
		s->slots[i].conn = conn;
		s->n++;
	}
	s->slots[i].id = copy;
	return 0;
}

void ha_clients_forget(struct ha_client_set *s, const void *conn)
{
	if (conn == NULL || s->cap == 0)
		return;
	bool found;
	size_t i = find(s, conn, &found);
	if (!found)
		return;
	free(s->slots[i].id);
	s->slots[i].id = NULL;
	s->slots[i].conn = GONE;
	s->n--;
	s->tombstones++;
}

void ha_clients_drain(struct ha_client_set *s, void (*fn)(const char *id))
{
	/* Detached first: disconnecting a client makes the broker call back
	 * into ha_clients_forget, which must find an empty set. */
	struct ha_client_set all = *s;
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < all.cap; i++) {
		const void *v = all.slots[i].conn;
		if (v != NULL && v != GONE)
			fn(all.slots[i].id);
	}
	ha_clients_free(&all);
}

void ha_clients_free(struct ha_client_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i].id);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}
