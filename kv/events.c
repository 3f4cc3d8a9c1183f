/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * ha-kv's handling of the node's events on the main thread: committed
 * entries and restored snapshots update the owner's copy and answer the
 * writes they settle, read barriers answer GETs once that copy caught up,
 * and role changes, proposals placed, membership changes and a stopped
 * node answer what they decide.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "kv/command.h"
#include "kv/server.h"

static void fatal(struct kv_server *s, const char *what)
{
	kv_log(s, "fatal: %s; exiting", what);
	exit(70);
}

/* A refusal from the core, as an error line. */
static void reply_raft_error(struct kv_server *s, struct kv_request *rq,
			     int status)
{
	switch (status) {
	case RAFT_ENOTLEADER:
		kv_request_set_reply(rq, "ERR not-leader %u", s->leader);
		break;
	case RAFT_ETRANSFER:
		kv_request_set_reply(rq, "ERR transfer leadership is moving");
		break;
	case RAFT_EBUSY:
		kv_request_set_reply(rq, "ERR busy %s", raft_strerror(status));
		break;
	case RAFT_ESHUTDOWN:
		kv_request_set_reply(rq, "ERR stopped %s",
				     raft_strerror(status));
		break;
	default:
		kv_request_set_reply(rq, "ERR refused %s",
				     raft_strerror(status));
		break;
	}
}

/* -- reads -- */

static void answer_read(struct kv_server *s, struct kv_request *rq)
{
	size_t vlen;
	const char *v = kv_map_get(s->map, rq->key, rq->klen, &vlen);
	if (v == NULL)
		kv_request_set_reply(rq, "NONE");
	else
		kv_request_set_reply(rq, "VALUE %s", v);
	kv_request_complete(s, rq);
}

static void on_read_event(struct kv_server *s, const struct ha_node_event *ev)
{
	struct kv_request *rq = kv_table_find(s, ev->cookie);
	if (rq == NULL || rq->kind != KV_REQ_READ)
		return;
	if (ev->status != RAFT_OK) {
		if (ev->status == RAFT_ENOTLEADER)
			kv_request_set_reply(rq, "ERR not-leader %u",
					     s->leader);
		else
			kv_request_set_reply(rq, "ERR read-failed %s",
					     raft_strerror(ev->status));
		kv_request_complete(s, rq);
		return;
	}
	if (ev->index <= s->applied) {
		answer_read(s, rq);
		return;
	}
	/* Served only once the owner's copy holds everything up to the
	 * read's index. */
	if (s->n_deferred == s->cap_deferred) {
		size_t cap = s->cap_deferred ? s->cap_deferred * 2 : 64;
		struct kv_request **d = realloc(s->deferred, cap * sizeof(*d));
		if (d == NULL) {
			kv_request_set_reply(rq, "ERR nomem out of memory");
			kv_request_complete(s, rq);
			return;
		}
		s->deferred = d;
		s->cap_deferred = cap;
	}
	rq->index = ev->index;
	/* Still outstanding: the deferred list has it. */
	kv_table_remove(s, rq);
	s->deferred[s->n_deferred++] = rq;
}

static void reads_run_deferred(struct kv_server *s)
{
	size_t k = 0;
	for (size_t i = 0; i < s->n_deferred; i++) {
		struct kv_request *rq = s->deferred[i];
		if (rq->index <= s->applied)
			answer_read(s, rq);
		else
			s->deferred[k++] = rq;
	}
	s->n_deferred = k;
}

/* -- proposals -- */

/* Proposals placed at or below `index` that did not come back there never
 * will: an entry lives at one index only. */
static void proposals_settle(struct kv_server *s, raft_index index, bool known)
{
	struct kv_request *rq = s->pending;
	while (rq != NULL) {
		struct kv_request *next = rq->pnext;
		if (rq->has_index && rq->index <= index) {
			if (known)
				kv_request_set_reply(
				    rq,
				    "ERR lost another entry "
				    "was committed at %" PRIu64,
				    (uint64_t)rq->index);
			else
				kv_request_set_reply(
				    rq,
				    "ERR unknown a snapshot "
				    "replaced the log at %" PRIu64,
				    (uint64_t)rq->index);
			kv_request_complete(s, rq);
		}
		rq = next;
	}
}

/* This node stopped leading. Its proposals may still commit (if the next
 * leader holds them) or be replaced, but nothing guarantees that anything
 * commits here soon: an idle cluster would leave their clients (and every
 * reply queued behind them) waiting. Say the outcome is unknown now. */
static void proposals_orphaned(struct kv_server *s)
{
	while (s->pending != NULL) {
		struct kv_request *rq = s->pending;
		kv_request_set_reply(rq, "ERR unknown leadership lost before "
					 "the outcome was known");
		kv_request_complete(s, rq);
	}
}

static void on_proposed(struct kv_server *s, const struct ha_node_event *ev)
{
	struct kv_request *rq = kv_table_find(s, ev->cookie);
	if (rq == NULL || rq->kind != KV_REQ_WRITE)
		return;
	if (ev->status == RAFT_OK) {
		rq->has_index = true;
		rq->index = ev->index;
		if (s->role != RAFT_LEADER || rq->index <= s->applied) {
			/* Placed just before leadership was lost (or, which
			 * cannot happen, below what was handed over
			 * already). */
			kv_request_set_reply(rq, "ERR unknown leadership lost "
						 "before the outcome was "
						 "known");
			kv_request_complete(s, rq);
		}
	} else {
		reply_raft_error(s, rq, ev->status);
		kv_request_complete(s, rq);
	}
}

/* -- the owner's copy -- */

static void on_committed(struct kv_server *s, struct ha_node_event *ev)
{
	if (ev->index <= s->applied)
		return;
	if (ev->entry_type == RAFT_ENTRY_COMMAND) {
		struct kv_command c;
		bool swapped = false;
		if (kv_command_decode(ev->data, ev->len, &c) != 0) {
			kv_log(s,
			       "entry %" PRIu64 " is not a command of this "
			       "version; left out",
			       (uint64_t)ev->index);
		} else {
			if (kv_command_apply(&c, s->map, &swapped) != 0)
				fatal(s, "out of memory applying a committed "
					 "entry");
			if (c.origin == s->opt.id &&
			    c.incarnation == s->incarnation) {
				struct kv_request *rq = kv_table_find(s, c.seq);
				if (rq != NULL && rq->kind == KV_REQ_WRITE) {
					kv_request_set_reply(
					    rq, "%s %" PRIu64,
					    swapped ? "OK" : "MISMATCH",
					    (uint64_t)ev->index);
					kv_request_complete(s, rq);
				}
			}
		}
	}
	s->applied = ev->index;
	proposals_settle(s, ev->index, true);
}

static void on_restore(struct kv_server *s, struct ha_node_event *ev)
{
	int err;
	struct kv_map *m = kv_map_decode(ev->data, ev->len, &err);
	if (m == NULL)
		fatal(s, err == -1
			     ? "out of memory restoring a snapshot"
			     : "a snapshot from the node does not decode");
	kv_map_free(s->map);
	s->map = m;
	s->applied = ev->index;
	proposals_settle(s, ev->index, false);
}

/* -- dispatch -- */

static void on_event(struct kv_server *s, struct ha_node_event *ev)
{
	struct kv_request *rq;
	switch (ev->type) {
	case HA_EV_ROLE:
		if (s->role == RAFT_LEADER && ev->role != RAFT_LEADER)
			proposals_orphaned(s);
		s->role = ev->role;
		s->leader = ev->leader;
		s->term = ev->term;
		break;
	case HA_EV_COMMITTED:
		on_committed(s, ev);
		reads_run_deferred(s);
		break;
	case HA_EV_RESTORE:
		on_restore(s, ev);
		reads_run_deferred(s);
		break;
	case HA_EV_PROPOSED:
		on_proposed(s, ev);
		break;
	case HA_EV_READ:
		on_read_event(s, ev);
		break;
	case HA_EV_CHANGED:
		rq = kv_table_find(s, ev->cookie);
		if (rq == NULL || rq->kind != KV_REQ_CHANGE)
			break;
		if (ev->status == RAFT_OK)
			kv_request_set_reply(rq, "OK");
		else
			reply_raft_error(s, rq, ev->status);
		kv_request_complete(s, rq);
		break;
	case HA_EV_STOPPED:
		s->node_stopped = true;
		snprintf(s->stop_reason, sizeof(s->stop_reason), "%s",
			 ev->reason);
		kv_log(s, "the node stopped: %s", ev->reason);
		kv_requests_fail_all(s, "the node stopped");
		break;
	case HA_EV_FORWARD_REQUEST: /* ha-kv forwards nothing: refused */
		ha_node_forward_reply(s->node, ev->from, ev->request_id, NULL,
				      0);
		break;
	case HA_EV_FORWARDED:
		break;
	}
}

void kv_on_wake(uv_async_t *a)
{
	struct kv_server *s = a->data;
	struct ha_node_event ev;
	if (s->node == NULL)
		return;
	while (ha_node_poll(s->node, &ev)) {
		on_event(s, &ev);
		ha_node_event_free(&ev);
	}
}
