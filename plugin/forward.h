/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Requests a member hands to the leader's broker over the cluster link
 * (node/node.h, ha_node_forward), for commands that only the leader may
 * carry out: a follower sends one and is called back with the leader's
 * reply or why there is none; the leader's handler gets each request with
 * a handle to answer it later (after its change committed, say). Broker
 * thread only; the payloads are opaque here. */
#ifndef HA_PLUGIN_FORWARD_H
#define HA_PLUGIN_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "node/node.h"

struct ha_plugin;

/* status: enum ha_node_forward_status; reply and len only with HA_FWD_OK
 * (valid during the call). */
typedef void (*ha_forward_done_fn)(void *arg, int status, const void *reply,
				   size_t len);

/* Sends payload to the leader's handler; done is called exactly once,
 * later, unless this returns an error (an HA_NODE_* code: no cluster node
 * runs, the payload is empty or too large, too many wait). */
int ha_forward_send(struct ha_plugin *ha, const void *payload, size_t len,
		    ha_forward_done_fn done, void *arg);

/* One request received as leader, to answer once with ha_forward_answer
 * (which frees it). */
struct ha_forward_handle;

/* Called on the leader for each request (payload valid during the call);
 * without a handler requests are refused (the requester gets
 * HA_FWD_REFUSED). */
typedef void (*ha_forward_handler_fn)(struct ha_plugin *ha,
				      struct ha_forward_handle *handle,
				      const void *payload, size_t len);
void ha_forward_set_handler(struct ha_plugin *ha,
			    ha_forward_handler_fn handler);

/* Answers and frees handle: reply of 1..HA_NODE_FORWARD_MAX_BYTES bytes,
 * or len 0 to refuse. An answer for a node that has since stopped, or
 * after the requester gave up, is dropped. Returns an HA_NODE_* code. */
int ha_forward_answer(struct ha_forward_handle *handle, const void *reply,
		      size_t len);

/* cluster.c: the node's events, and the node going away. */
void ha_forward_request(struct ha_plugin *ha, struct ha_node_event *ev);
void ha_forward_done(struct ha_plugin *ha, const struct ha_node_event *ev);
/* Every request waiting ends with HA_FWD_STOPPED; handles still out are
 * answered into the void. */
void ha_forward_fail_all(struct ha_plugin *ha);

#endif
