/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Access control served by this plugin (plugin_opt_access_control dynsec):
 * logins and ACL checks answered from the access-control data, and the
 * $CONTROL/dynamic-security/v1 command set, on the broker thread. The data
 * model and the commands are plugin/dynsec/; this is what ties them to the
 * broker and the log (docs/access-control.md, "The broker glue").
 *
 * The data served: before a node is in a cluster, its plugin_opt_dynsec_file
 * (changes are written back to it, as the stock plugin does); in a cluster,
 * the committed data as this broker applied it (ha->broker_view), which the
 * committed records and restored snapshots keep current on every node.
 *
 * Changes: the leader runs a payload on a copy of the committed data,
 * proposes its records in order, and replies once the last one commits
 * (a command whose change every node refused at apply gets the stock
 * sentence instead). One payload is in flight; the others wait in order.
 * Queries are answered at once from the committed data.
 */
#ifndef HA_PLUGIN_ACCESS_CONTROL_H
#define HA_PLUGIN_ACCESS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "node/node.h"

#define HA_DYNSEC_CONTROL_TOPIC "$CONTROL/dynamic-security/v1"
#define HA_DYNSEC_RESPONSE_TOPIC "$CONTROL/dynamic-security/v1/response"
/* Marks the proposals of access-control changes among the node's cookies. */
#define HA_AC_COOKIE (1ull << 62)
/* Changes of a payload proposed and not yet committed, at most: each
 * costs every node a copy of the data when applied (on the raft thread
 * too), so a large payload must not stall heartbeats. */
#define HA_AC_WINDOW 4
/* Payloads waiting behind the one in flight, at most. */
#define HA_AC_QUEUE_MAX 64

/* The sentences of a dynamic-security reply that the cluster adds to the
 * stock plugin's (docs/api.md, "Access control"). */
#define HA_ERR_AC_MOVED                                                        \
	"Leadership moved before the change committed; it may or may not "     \
	"have been applied."
#define HA_ERR_AC_LEVEL                                                        \
	"The cluster's feature level is below 3: access-control changes "      \
	"cannot be replicated yet."
#define HA_ERR_AC_QUEUE "Too many access-control requests are waiting."
#define HA_ERR_AC_NO_LEADER                                                    \
	"No cluster leader could be reached from this broker; nothing was "    \
	"changed."
#define HA_ERR_AC_IMPORT_LARGE                                                 \
	"This broker's access-control data is larger than one log entry "      \
	"(4 MiB) and cannot be imported; create the cluster from a node with " \
	"less data."
#define HA_ERR_AC_REPLY_LARGE                                                  \
	"The reply is too large to relay over the cluster link; send the "     \
	"request to the leader."
#define HA_ERR_AC_DISABLED                                                     \
	"Access control is not served by this broker "                         \
	"(plugin_opt_access_control)."

struct ha_plugin;
struct ha_dynsec;
struct ha_dynsec_kicks;

/* Where the reply to a dynamic-security payload goes: done(arg, reply,
 * len) with the JSON text (valid during the call only), or, with done
 * NULL, a publish on this broker's HA_DYNSEC_RESPONSE_TOPIC. */
struct ha_dynsec_reply_sink {
	void (*done)(void *arg, const char *reply_json, size_t len);
	void *arg;
};

/* Takes a $CONTROL/dynamic-security/v1 payload, from whatever source; its
 * one reply goes to sink, now (done may run before this returns) or once
 * its changes committed (or failed), always on the broker thread; at
 * plugin cleanup, a callback still waiting gets a reply saying "Internal
 * error". Broker thread only. payload need not be NUL-terminated. Where it
 * runs: standalone, on the file's data; in a cluster, on the serving
 * leader (any other member answers "This broker is not the cluster
 * leader.": forward such a payload to the leader instead). */
void ha_dynsec_ctrl_submit(struct ha_plugin *ha, const char *payload,
			   size_t len, struct ha_dynsec_reply_sink sink);

/* At start: loads plugin_opt_dynsec_file when access control is on. 0, or
 * -1 with a sentence in err. */
int ha_ac_start(struct ha_plugin *ha, char *err, size_t errlen);
/* At cleanup: answers what waits, frees everything. */
void ha_ac_stop(struct ha_plugin *ha);
/* The data logins and ACL checks are answered from; NULL when access
 * control is off. */
const struct ha_dynsec *ha_ac_serving(struct ha_plugin *ha);
/* MOSQ_ERR_SUCCESS, MOSQ_ERR_AUTH or MOSQ_ERR_PLUGIN_DEFER. */
int ha_ac_basic_auth(struct ha_plugin *ha, const char *username,
		     const char *password, const char *clientid);
/* access: MOSQ_ACL_*. MOSQ_ERR_SUCCESS, MOSQ_ERR_ACL_DENIED or
 * MOSQ_ERR_PLUGIN_DEFER. */
int ha_ac_acl_check(struct ha_plugin *ha, int access, const char *username,
		    const char *clientid, const char *topic);

/* A committed record of type 10, before it is applied to broker_view:
 * whom it disconnects, taken from the data before it (false: none). */
bool ha_ac_kicks_before(struct ha_plugin *ha, const uint8_t *rec, size_t len,
			struct ha_dynsec_kicks *out);
/* ... and once applied (if it was not refused), disconnects them. */
void ha_ac_kick(struct ha_plugin *ha, struct ha_dynsec_kicks *k, bool applied);

/* A snapshot replaced broker_view: disconnects the clients its data treats
 * differently from before (their changes were never applied one by one). */
void ha_ac_restored(struct ha_plugin *ha, const struct ha_dynsec *before);

/* The node's answer to one of our proposals (cookie & HA_AC_COOKIE). */
void ha_ac_proposed(struct ha_plugin *ha, const struct ha_node_event *ev);
/* A committed command entry, once broker_view applied it. */
void ha_ac_committed(struct ha_plugin *ha, const struct ha_node_event *ev);
/* At every TICK: leadership lost, timeouts, createCluster's import. */
void ha_ac_tick(struct ha_plugin *ha);

/* createCluster: this node's data is imported once the cluster's feature
 * level reaches 3. The note for the reply's data, or NULL. */
void ha_ac_cluster_created(struct ha_plugin *ha);
/* Before createCluster changes anything: whether this node's data can be
 * imported (one log entry holds it whole). */
enum ha_ac_import_check {
	HA_AC_IMPORT_FITS,
	HA_AC_IMPORT_TOO_LARGE,
	HA_AC_IMPORT_NOMEM,
};
enum ha_ac_import_check ha_ac_create_check(struct ha_plugin *ha);
json_t *ha_ac_create_note(struct ha_plugin *ha);
/* joinCluster: the note for the reply's data, or NULL. */
json_t *ha_ac_join_note(struct ha_plugin *ha);
/* leaveCluster (or removal): the node keeps serving the cluster's last
 * data, standalone. */
void ha_ac_left(struct ha_plugin *ha);

#endif
