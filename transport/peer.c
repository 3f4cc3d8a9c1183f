/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The peer table: one entry per node in the owner's peer list, with its
 * send queue and, for peers this node dials, the reconnect loop:
 * back-off timer -> resolve (again, every time) -> try each address. */
#include "transport/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void peer_dial_later(struct peer *p);

static void peer_free_addrs(struct peer *p)
{
	if (p->addrs != NULL)
		uv_freeaddrinfo(p->addrs);
	p->addrs = NULL;
	p->next_addr = NULL;
}

/* Frees p once neither its timer nor a resolution refers to it. */
static void peer_maybe_free(struct peer *p)
{
	struct transport *t = p->t;

	if (!p->removed || p->retry_open || p->resolving)
		return;
	peer_free_addrs(p);
	free(p);
	transport__release(t);
}

static void peer_on_retry_closed(uv_handle_t *h)
{
	struct peer *p = h->data;

	p->retry_open = false;
	peer_maybe_free(p);
}

struct peer *transport__peer_create(struct transport *t, uint32_t id,
				    const char *address)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->t = t;
	p->id = id;
	snprintf(p->address, sizeof(p->address), "%s", address);
	if (transport__addr_split(address, p->host, sizeof(p->host), p->port,
				  sizeof(p->port), false) != 0) {
		free(p);
		return NULL;
	}
	p->dials = t->node_id < id;
	p->state = TRANSPORT_LINK_DOWN;
	p->backoff_ms = t->reconnect_min_ms;
	if (uv_timer_init(t->loop, &p->retry) != 0) {
		free(p);
		return NULL;
	}
	p->retry.data = p;
	p->retry_open = true;
	/* The peer itself counts as one open thing until it is freed. */
	t->open_handles++;
	return p;
}

void transport__peer_drop_queue(struct peer *p)
{
	struct qframe *f;

	while ((f = transport__peer_dequeue(p)) != NULL)
		free(f);
}

void transport__peer_remove(struct peer *p)
{
	p->removed = true;
	/* Its live link and any inbound connections still authenticating. */
	for (struct conn *c = p->t->conns; c != NULL; c = c->next) {
		if (c->peer == p && !c->closing)
			transport__conn_close(c, TRANSPORT_LOG_INFO,
					      "node %u left the peer list",
					      p->id);
	}
	transport__peer_drop_queue(p);
	uv_timer_stop(&p->retry);
	uv_close((uv_handle_t *)&p->retry, peer_on_retry_closed);
	if (p->resolving)
		uv_cancel((uv_req_t *)&p->gai);
}

void transport__peer_start(struct peer *p)
{
	if (p->dials)
		peer_dial_later(p);
}

/* Tries the next resolved address; false when none is left. */
static bool peer_dial_next(struct peer *p)
{
	while (p->next_addr != NULL) {
		struct addrinfo *ai = p->next_addr;

		p->next_addr = ai->ai_next;
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (transport__conn_dial(p, ai->ai_addr) == 0)
			return true;
	}
	return false;
}

static void peer_on_resolved(uv_getaddrinfo_t *req, int status,
			     struct addrinfo *res)
{
	struct peer *p = req->data;
	struct transport *t = p->t;

	p->resolving = false;
	t->open_handles--; /* the resolution; p itself still holds one */
	if (p->removed || t->closing) {
		if (res != NULL)
			uv_freeaddrinfo(res);
		peer_maybe_free(p);
		return;
	}
	if (status != 0) {
		transport__log_limited(
		    t, &p->rl_fail, TRANSPORT_LOG_WARNING,
		    "cannot resolve node %u's address %s: %s", p->id,
		    p->address, uv_strerror(status));
		peer_dial_later(p);
		return;
	}
	peer_free_addrs(p);
	p->addrs = res;
	p->next_addr = res;
	if (!peer_dial_next(p)) {
		transport__log_limited(t, &p->rl_fail, TRANSPORT_LOG_WARNING,
				       "cannot connect to node %u at %s", p->id,
				       p->address);
		peer_free_addrs(p);
		peer_dial_later(p);
	}
}

static void peer_on_retry(uv_timer_t *timer)
{
	struct peer *p = timer->data;
	struct transport *t = p->t;
	struct addrinfo hints;
	int rv;

	if (p->removed || t->closing || p->link != NULL || p->resolving)
		return;
	p->state = TRANSPORT_LINK_CONNECTING;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	p->gai.data = p;
	/* Resolved on every attempt: a node may come back elsewhere. */
	rv = uv_getaddrinfo(t->loop, &p->gai, peer_on_resolved, p->host,
			    p->port, &hints);
	if (rv != 0) {
		transport__log_limited(
		    t, &p->rl_fail, TRANSPORT_LOG_WARNING,
		    "cannot resolve node %u's address %s: %s", p->id,
		    p->address, uv_strerror(rv));
		peer_dial_later(p);
		return;
	}
	p->resolving = true;
	t->open_handles++;
}

/* Schedules the next attempt after the back-off with jitter, then doubles
 * the back-off up to its ceiling. */
static void peer_dial_later(struct peer *p)
{
	struct transport *t = p->t;
	uint64_t delay = p->backoff_ms;

	if (p->removed || t->closing)
		return;
	/* Jitter in [delay/2, delay]: nodes that failed together retry apart.
	 */
	delay = delay / 2 + transport__random(t) % (delay / 2 + 1);
	p->backoff_ms = p->backoff_ms * 2 > t->reconnect_max_ms
			    ? t->reconnect_max_ms
			    : p->backoff_ms * 2;
	p->state = TRANSPORT_LINK_DOWN;
	uv_timer_start(&p->retry, peer_on_retry, delay, 0);
}

void transport__peer_link_lost(struct peer *p, bool was_up)
{
	struct transport *t = p->t;

	p->state = TRANSPORT_LINK_DOWN;
	if (was_up && t->on_link != NULL)
		t->on_link(t->data, p->id, TRANSPORT_LINK_DOWN);
	if (!p->dials || p->removed || t->closing)
		return;
	if (was_up) {
		/* A link that worked: retry soon, from the first address. */
		peer_free_addrs(p);
		p->backoff_ms = t->reconnect_min_ms;
	} else if (peer_dial_next(p)) {
		return;
	}
	peer_free_addrs(p);
	peer_dial_later(p);
}

void transport__peer_link_up(struct peer *p, struct conn *c)
{
	struct transport *t = p->t;

	p->link = c;
	p->state = TRANSPORT_LINK_UP;
	p->backoff_ms = t->reconnect_min_ms;
	p->links_established++;
	peer_free_addrs(p);
	uv_timer_stop(&p->retry);
	if (t->on_link != NULL)
		t->on_link(t->data, p->id, TRANSPORT_LINK_UP);
}

struct qframe *transport__peer_dequeue(struct peer *p)
{
	struct qframe *f = p->q_head;

	if (f == NULL)
		return NULL;
	p->q_head = f->next;
	if (p->q_head == NULL)
		p->q_tail = NULL;
	p->q_bytes -= f->len + TRANSPORT_QFRAME_OVERHEAD;
	p->q_frames--;
	return f;
}
