/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The connected ordinary (non-administrator) clients, so that a node that
 * stops serving disconnects exactly them and administrators keep their
 * connections (and their control replies).
 *
 * Entries are keyed by the broker's connection, not by client id: several
 * connections can carry one id for a while (a session takeover, a CONNECT
 * refused for a wrong password), and the DISCONNECT of one of them must not
 * forget another. The connection is only compared, never dereferenced, so
 * an entry that outlives its connection cannot crash the broker; the id is
 * a copy, used to disconnect the client. */
#ifndef HA_CLIENTS_H
#define HA_CLIENTS_H

#include <stddef.h>

struct ha_client_entry {
	const void *conn; /* NULL: empty; HA_CLIENT_GONE: removed */
	char *id;
};

struct ha_client_set {
	struct ha_client_entry *slots;
	size_t cap;
	size_t n;
	size_t tombstones;
};

/* Remembers conn with a copy of its id, replacing what an earlier
 * connection at the same address left. -1 when out of memory. */
int ha_clients_track(struct ha_client_set *s, const void *conn, const char *id);
void ha_clients_forget(struct ha_client_set *s, const void *conn);
/* Calls fn with the id of every connection, then empties the set. */
void ha_clients_drain(struct ha_client_set *s, void (*fn)(const char *id));
void ha_clients_free(struct ha_client_set *s);

#endif
