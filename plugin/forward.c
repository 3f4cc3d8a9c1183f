/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Forwarding to the leader's broker: the requests this broker waits on,
 * and the handler that answers those it receives as leader. */
#include <stdlib.h>

#include "plugin/forward.h"
#include "plugin/ha.h"

struct waiting {
	uint64_t cookie;
	ha_forward_done_fn done;
	void *arg;
	struct waiting *next;
};

struct ha_forward_handle {
	struct ha_plugin *ha;
	raft_id from;
	uint64_t request_id;
	uint64_t generation; /* of the node it came through */
};

/* The plugin has one instance; this is its forwarding state. */
static struct {
	struct waiting *head;
	uint64_t next_cookie;
	ha_forward_handler_fn handler;
	/* A new one each time the node goes: answers of older handles are
	 * for a node that is no more. */
	uint64_t generation;
} fwd;

int ha_forward_send(struct ha_plugin *ha, const void *payload, size_t len,
		    ha_forward_done_fn done, void *arg)
{
	if (ha->node == NULL || done == NULL)
		return HA_NODE_ESTOPPED;
	struct waiting *w = malloc(sizeof(*w));
	if (w == NULL)
		return HA_NODE_ENOMEM;
	w->cookie = ++fwd.next_cookie;
	int rv = ha_node_forward(ha->node, payload, len, w->cookie);
	if (rv != HA_NODE_OK) {
		free(w);
		return rv;
	}
	w->done = done;
	w->arg = arg;
	w->next = fwd.head;
	fwd.head = w;
	return HA_NODE_OK;
}

void ha_forward_done(struct ha_plugin *ha, const struct ha_node_event *ev)
{
	(void)ha;
	struct waiting **pp = &fwd.head;
	while (*pp != NULL && (*pp)->cookie != ev->cookie)
		pp = &(*pp)->next;
	struct waiting *w = *pp;
	if (w == NULL)
		return; /* failed already when the node went */
	*pp = w->next;
	if (ev->status != HA_FWD_OK)
		ha_log_info("a request forwarded to the leader failed: %s",
			    ha_node_forward_strerror(ev->status));
	w->done(w->arg, ev->status, ev->data, ev->len);
	free(w);
}

void ha_forward_set_handler(struct ha_plugin *ha, ha_forward_handler_fn handler)
{
	(void)ha;
	fwd.handler = handler;
}

void ha_forward_request(struct ha_plugin *ha, struct ha_node_event *ev)
{
	struct ha_forward_handle *h = malloc(sizeof(*h));
	if (h == NULL) {
		ha_log_error("out of memory taking node %u's forwarded request",
			     ev->from);
		ha_node_forward_reply(ha->node, ev->from, ev->request_id, NULL,
				      0);
		return;
	}
	*h = (struct ha_forward_handle){.ha = ha,
					.from = ev->from,
					.request_id = ev->request_id,
					.generation = fwd.generation};
	if (fwd.handler == NULL) {
		ha_forward_answer(h, NULL, 0);
		return;
	}
	fwd.handler(ha, h, ev->data, ev->len);
}

int ha_forward_answer(struct ha_forward_handle *h, const void *reply,
		      size_t len)
{
	struct ha_plugin *ha = h->ha;
	int rv = HA_NODE_ESTOPPED;
	if (ha->node != NULL && h->generation == fwd.generation)
		rv = ha_node_forward_reply(ha->node, h->from, h->request_id,
					   reply, len);
	free(h);
	return rv;
}

void ha_forward_fail_all(struct ha_plugin *ha)
{
	(void)ha;
	fwd.generation++;
	while (fwd.head != NULL) {
		struct waiting *w = fwd.head;
		fwd.head = w->next;
		w->done(w->arg, HA_FWD_STOPPED, NULL, 0);
		free(w);
	}
}
