/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The ids of connected ordinary (non-administrator) clients, so that a node
 * that stops serving disconnects exactly them and administrators keep their
 * sessions (and their control replies). */
#ifndef HA_CLIENTS_H
#define HA_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>

struct ha_client_set {
	char **slots;
	size_t cap;
	size_t n;
	size_t tombstones;
};

int ha_clients_add(struct ha_client_set *s, const char *id);
void ha_clients_remove(struct ha_client_set *s, const char *id);
/* Calls fn for every id, then empties the set. */
void ha_clients_drain(struct ha_client_set *s, void (*fn)(const char *id));
void ha_clients_free(struct ha_client_set *s);

#endif
