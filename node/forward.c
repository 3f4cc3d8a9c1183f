/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Requests forwarded to the leader's owner over the cluster link, and their
 * answers. A follower keeps what it sent in a bounded table until the
 * answer, a timeout, the loss of the link or a change of leader ends it; a
 * leader keeps what it handed to its owner in another bounded table until
 * the owner answers or the request expires. Frames are checked before
 * anything changes: a malformed one is logged and dropped. */
#include <stdlib.h>
#include <string.h>

#include "node/internal.h"
#include "raft/byteorder.h"

/* The status byte of a reply frame. */
enum node_forward_wire {
	WIRE_OK = 0,
	WIRE_NOT_LEADER = 1,
	WIRE_BUSY = 2,
	WIRE_REFUSED = 3,
};

const char *ha_node_forward_strerror(int status)
{
	switch (status) {
	case HA_FWD_OK:
		return "answered";
	case HA_FWD_NO_LEADER:
		return "no leader is known";
	case HA_FWD_LEADER_CHANGED:
		return "the leader changed";
	case HA_FWD_LINK_LOST:
		return "the link to the leader was lost";
	case HA_FWD_TIMEOUT:
		return "the leader did not answer in time";
	case HA_FWD_BUSY:
		return "the leader holds too many requests";
	case HA_FWD_REFUSED:
		return "the leader refused the request";
	case HA_FWD_STOPPED:
		return "the node stopped";
	default:
		return "unknown forwarding status";
	}
}

/* Ends a request this node sent: its owner hears how, once. */
static void finish_sent(struct ha_node *n, struct forward_slot *s, int status,
			const uint8_t *reply, size_t len)
{
	struct ha_node_event ev = {
	    .type = HA_EV_FORWARDED, .cookie = s->cookie, .status = status};
	s->used = false;
	atomic_fetch_sub(&n->forwards_out, 1);
	if (status == HA_FWD_OK && len > 0) {
		ev.data = malloc(len);
		if (ev.data == NULL) {
			ha_node__log(n, HA_NODE_LOG_ERROR,
				     "out of memory handing over a forwarded "
				     "reply");
			ev.status = HA_FWD_REFUSED;
		} else {
			memcpy(ev.data, reply, len);
			ev.len = len;
		}
	}
	if (!ha_node__emit(n, &ev))
		free(ev.data);
}

static struct forward_slot *find_slot(struct forward_slot *table, size_t n,
				      raft_id peer, uint64_t request_id)
{
	for (size_t i = 0; i < n; i++)
		if (table[i].used && table[i].peer == peer &&
		    table[i].request_id == request_id)
			return &table[i];
	return NULL;
}

static struct forward_slot *free_slot(struct forward_slot *table, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!table[i].used)
			return &table[i];
	return NULL;
}

/* Hands a request to this node's owner, as leader. */
static enum node_forward_wire deliver(struct ha_node *n, raft_id from,
				      uint64_t request_id,
				      const uint8_t *payload, size_t len)
{
	if (ha_node__owner_behind(n))
		return WIRE_BUSY;
	struct forward_slot *s =
	    free_slot(n->received, HA_NODE_FORWARD_MAX_RECEIVED);
	if (s == NULL)
		return WIRE_BUSY;
	struct ha_node_event ev = {.type = HA_EV_FORWARD_REQUEST,
				   .from = from,
				   .request_id = request_id,
				   .len = len};
	ev.data = malloc(len);
	if (ev.data == NULL)
		return WIRE_BUSY;
	memcpy(ev.data, payload, len);
	if (!ha_node__emit(n, &ev)) {
		free(ev.data);
		return WIRE_BUSY;
	}
	*s = (struct forward_slot){.used = true,
				   .request_id = request_id,
				   .peer = from,
				   .deadline = ha_node_monotonic_ms() +
					       n->forward_timeout_ms};
	return WIRE_OK;
}

static int wire_to_status(uint8_t wire)
{
	switch (wire) {
	case WIRE_OK:
		return HA_FWD_OK;
	case WIRE_NOT_LEADER:
		return HA_FWD_LEADER_CHANGED;
	case WIRE_BUSY:
		return HA_FWD_BUSY;
	default:
		return HA_FWD_REFUSED;
	}
}

static void send_reply(struct ha_node *n, raft_id to, uint64_t request_id,
		       enum node_forward_wire wire, const uint8_t *reply,
		       size_t len)
{
	size_t size = NODE_FORWARD_REPLY_HEADER + len;
	uint8_t *frame = malloc(size);
	if (frame == NULL) {
		ha_node__log(n, HA_NODE_LOG_ERROR,
			     "out of memory answering node %u's forwarded "
			     "request",
			     to);
		return;
	}
	frame[0] = NODE_FORWARD_VERSION;
	le64_store(frame + 1, request_id);
	frame[9] = (uint8_t)wire;
	if (len > 0)
		memcpy(frame + NODE_FORWARD_REPLY_HEADER, reply, len);
	int rv = transport_send(n->transport, to, NODE_FRAME_FORWARD_REPLY,
				frame, size);
	free(frame);
	if (rv != TRANSPORT_OK)
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "could not answer node %u's forwarded request: %s",
			     to, transport_strerror(rv));
}

void ha_node__forward_start(struct ha_node *n, struct request *rq)
{
	struct forward_slot *s =
	    free_slot(n->sent, HA_NODE_FORWARD_MAX_IN_FLIGHT);
	if (s == NULL) { /* the owner's count keeps a slot for each */
		struct forward_slot tmp = {.cookie = rq->cookie};
		finish_sent(n, &tmp, HA_FWD_BUSY, NULL, 0);
		return;
	}
	*s = (struct forward_slot){.used = true,
				   .request_id = ++n->next_forward_id,
				   .cookie = rq->cookie,
				   .peer = raft_leader(n->raft),
				   .deadline = ha_node_monotonic_ms() +
					       n->forward_timeout_ms};
	if (s->peer == 0) {
		finish_sent(n, s, HA_FWD_NO_LEADER, NULL, 0);
		return;
	}
	if (s->peer == n->o.id) {
		enum node_forward_wire w =
		    deliver(n, n->o.id, s->request_id, rq->data, rq->len);
		if (w != WIRE_OK)
			finish_sent(n, s, wire_to_status((uint8_t)w), NULL, 0);
		return;
	}
	uint8_t *frame = malloc(NODE_FORWARD_HEADER + rq->len);
	if (frame == NULL) {
		finish_sent(n, s, HA_FWD_BUSY, NULL, 0);
		return;
	}
	frame[0] = NODE_FORWARD_VERSION;
	le64_store(frame + 1, s->request_id);
	memcpy(frame + NODE_FORWARD_HEADER, rq->data, rq->len);
	int rv = transport_send(n->transport, s->peer, NODE_FRAME_FORWARD,
				frame, NODE_FORWARD_HEADER + rq->len);
	free(frame);
	if (rv != TRANSPORT_OK)
		finish_sent(n, s, HA_FWD_LINK_LOST, NULL, 0);
}

void ha_node__forward_answer(struct ha_node *n, struct request *rq)
{
	struct forward_slot *r = find_slot(
	    n->received, HA_NODE_FORWARD_MAX_RECEIVED, rq->id, rq->request_id);
	if (r == NULL) {
		ha_node__log(n, HA_NODE_LOG_DEBUG,
			     "dropping the answer to node %u's request %llu: "
			     "it expired",
			     rq->id, (unsigned long long)rq->request_id);
		return;
	}
	r->used = false;
	enum node_forward_wire w = rq->len > 0 ? WIRE_OK : WIRE_REFUSED;
	if (rq->id != n->o.id) {
		send_reply(n, rq->id, rq->request_id, w, rq->data, rq->len);
		return;
	}
	struct forward_slot *s = find_slot(
	    n->sent, HA_NODE_FORWARD_MAX_IN_FLIGHT, n->o.id, rq->request_id);
	if (s != NULL)
		finish_sent(n, s, wire_to_status((uint8_t)w), rq->data,
			    rq->len);
}

static void on_forward(struct ha_node *n, uint32_t peer, const uint8_t *bytes,
		       size_t len)
{
	if (len < NODE_FORWARD_HEADER) {
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "dropping a malformed forward frame from node %u",
			     peer);
		return;
	}
	uint64_t request_id = le64_load(bytes + 1);
	size_t payload_len = len - NODE_FORWARD_HEADER;
	enum node_forward_wire w;
	if (bytes[0] != NODE_FORWARD_VERSION || payload_len == 0 ||
	    payload_len > HA_NODE_FORWARD_MAX_BYTES) {
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "refusing a forward frame from node %u: version "
			     "%u, %zu bytes",
			     peer, bytes[0], payload_len);
		w = WIRE_REFUSED;
	} else if (raft_role(n->raft) != RAFT_LEADER) {
		w = WIRE_NOT_LEADER;
	} else if (find_slot(n->received, HA_NODE_FORWARD_MAX_RECEIVED, peer,
			     request_id) != NULL) {
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "dropping node %u's request %llu: it is pending "
			     "already",
			     peer, (unsigned long long)request_id);
		return;
	} else {
		w = deliver(n, peer, request_id, bytes + NODE_FORWARD_HEADER,
			    payload_len);
	}
	if (w != WIRE_OK)
		send_reply(n, peer, request_id, w, NULL, 0);
}

static void on_forward_reply(struct ha_node *n, uint32_t peer,
			     const uint8_t *bytes, size_t len)
{
	if (len < NODE_FORWARD_REPLY_HEADER ||
	    bytes[0] != NODE_FORWARD_VERSION ||
	    len - NODE_FORWARD_REPLY_HEADER > HA_NODE_FORWARD_MAX_BYTES ||
	    (bytes[9] == WIRE_OK && len == NODE_FORWARD_REPLY_HEADER)) {
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "dropping a malformed forward reply from node %u",
			     peer);
		return;
	}
	uint64_t request_id = le64_load(bytes + 1);
	struct forward_slot *s =
	    find_slot(n->sent, HA_NODE_FORWARD_MAX_IN_FLIGHT, peer, request_id);
	if (s == NULL) {
		ha_node__log(n, HA_NODE_LOG_DEBUG,
			     "dropping node %u's late answer to request %llu",
			     peer, (unsigned long long)request_id);
		return;
	}
	int status = wire_to_status(bytes[9]);
	finish_sent(n, s, status, bytes + NODE_FORWARD_REPLY_HEADER,
		    status == HA_FWD_OK ? len - NODE_FORWARD_REPLY_HEADER : 0);
}

void ha_node__forward_recv(struct ha_node *n, uint32_t peer, uint8_t type,
			   const uint8_t *bytes, size_t len)
{
	if (type == NODE_FRAME_FORWARD)
		on_forward(n, peer, bytes, len);
	else
		on_forward_reply(n, peer, bytes, len);
}

void ha_node__forward_link_down(struct ha_node *n, uint32_t peer)
{
	for (size_t i = 0; i < HA_NODE_FORWARD_MAX_IN_FLIGHT; i++)
		if (n->sent[i].used && n->sent[i].peer == peer)
			finish_sent(n, &n->sent[i], HA_FWD_LINK_LOST, NULL, 0);
}

void ha_node__forward_tick(struct ha_node *n, int64_t now)
{
	raft_id leader = raft_leader(n->raft);
	for (size_t i = 0; i < HA_NODE_FORWARD_MAX_IN_FLIGHT; i++) {
		struct forward_slot *s = &n->sent[i];
		if (!s->used)
			continue;
		if (now >= s->deadline)
			finish_sent(n, s, HA_FWD_TIMEOUT, NULL, 0);
		else if (s->peer != leader)
			finish_sent(n, s, HA_FWD_LEADER_CHANGED, NULL, 0);
	}
	/* The requester gave up at the same moment or before. */
	for (size_t i = 0; i < HA_NODE_FORWARD_MAX_RECEIVED; i++)
		if (n->received[i].used && now >= n->received[i].deadline)
			n->received[i].used = false;
}

void ha_node__forward_stop(struct ha_node *n)
{
	for (size_t i = 0; i < HA_NODE_FORWARD_MAX_IN_FLIGHT; i++)
		if (n->sent[i].used)
			finish_sent(n, &n->sent[i], HA_FWD_STOPPED, NULL, 0);
	memset(n->received, 0, sizeof(n->received));
}
