/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* An open-addressing set of strings with tombstones. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/clients.h"

static char tombstone[1];

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static size_t find(const struct ha_client_set *s, const char *id, bool *found)
{
	size_t i = (size_t)(hash(id) & (s->cap - 1));
	size_t first_free = SIZE_MAX;
	for (;;) {
		char *v = s->slots[i];
		if (v == NULL) {
			*found = false;
			return first_free != SIZE_MAX ? first_free : i;
		}
		if (v == tombstone) {
			if (first_free == SIZE_MAX)
				first_free = i;
		} else if (strcmp(v, id) == 0) {
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
		cap = s->cap; /* mostly tombstones: rehash in place */
	char **slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -1;
	struct ha_client_set next = {.slots = slots, .cap = cap};
	for (size_t i = 0; i < s->cap; i++) {
		if (s->slots[i] == NULL || s->slots[i] == tombstone)
			continue;
		bool found;
		next.slots[find(&next, s->slots[i], &found)] = s->slots[i];
		next.n++;
	}
	free(s->slots);
	*s = next;
	return 0;
}

int ha_clients_add(struct ha_client_set *s, const char *id)
{
	if (id == NULL)
		return 0;
	if ((s->n + s->tombstones + 1) * 2 > s->cap && grow(s) != 0)
		return -1;
	bool found;
	size_t i = find(s, id, &found);
	if (found)
		return 0;
	char *copy = strdup(id);
	if (copy == NULL)
		return -1;
	if (s->slots[i] == tombstone)
		s->tombstones--;
	s->slots[i] = copy;
	s->n++;
	return 0;
}

void ha_clients_remove(struct ha_client_set *s, const char *id)
{
	if (id == NULL || s->cap == 0)
		return;
	bool found;
	size_t i = find(s, id, &found);
	if (!found)
		return;
	free(s->slots[i]);
	s->slots[i] = tombstone;
	s->n--;
	s->tombstones++;
}

void ha_clients_drain(struct ha_client_set *s, void (*fn)(const char *id))
{
	for (size_t i = 0; i < s->cap; i++) {
		char *v = s->slots[i];
		if (v == NULL || v == tombstone)
			continue;
		fn(v);
	}
	ha_clients_free(s);
}

void ha_clients_free(struct ha_client_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i] != NULL && s->slots[i] != tombstone)
			free(s->slots[i]);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}
