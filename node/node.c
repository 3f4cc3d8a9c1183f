/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The raft thread: a libuv loop that drives the Raft core with the
 * monotonic clock, the storage (node/jobs.c) and the transport, and the two
 * queues that connect it with its owner. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/internal.h"
#include "raft/byteorder.h"
#include "raft/codec.h"

const char *ha_node_strerror(int rv)
{
	switch (rv) {
	case HA_NODE_OK:
		return "ok";
	case HA_NODE_ENOMEM:
		return "out of memory";
	case HA_NODE_EINVAL:
		return "invalid argument";
	case HA_NODE_EBUSY:
		return "request queue full";
	case HA_NODE_ESTORAGE:
		return "storage error";
	case HA_NODE_ETRANSPORT:
		return "transport error";
	case HA_NODE_ESTOPPED:
		return "node stopped";
	case HA_NODE_ETHREAD:
		return "thread error";
	default:
		return "unknown error";
	}
}

int64_t ha_node_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ha_node_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ha_node__log(struct ha_node *n, enum ha_node_log_level level,
		  const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n->o.log != NULL)
		n->o.log(n->o.data, level, msg);
	else if (level <= HA_NODE_LOG_WARNING)
		fprintf(stderr, "ha node %u: %s\n", n->o.id, msg);
}

/* ---- node -> owner events ---- */

void ha_node_event_free(struct ha_node_event *ev)
{
	free(ev->data);
	ev->data = NULL;
}

bool ha_node__emit(struct ha_node *n, const struct ha_node_event *ev)
{
	struct event_item *it = malloc(sizeof(*it));
	if (it == NULL) {
		/* The owner would miss a committed entry: stop instead. */
		ha_node__log(n, HA_NODE_LOG_ERROR,
			     "out of memory queueing an event");
		return false;
	}
	it->ev = *ev;
	it->ev.queued_us = ha_node_monotonic_us();
	it->next = NULL;
	atomic_fetch_add(&n->event_bytes, sizeof(*it) + ev->len);
	pthread_mutex_lock(&n->ev_lock);
	if (n->ev_tail)
		n->ev_tail->next = it;
	else
		n->ev_head = it;
	n->ev_tail = it;
	pthread_mutex_unlock(&n->ev_lock);
	n->events_pending = true;
	return true;
}

bool ha_node_poll(struct ha_node *n, struct ha_node_event *ev)
{
	pthread_mutex_lock(&n->ev_lock);
	struct event_item *it = n->ev_head;
	if (it != NULL) {
		n->ev_head = it->next;
		if (n->ev_head == NULL)
			n->ev_tail = NULL;
	}
	pthread_mutex_unlock(&n->ev_lock);
	if (it == NULL)
		return false;
	*ev = it->ev;
	atomic_fetch_sub(&n->event_bytes, sizeof(*it) + it->ev.len);
	free(it);
	return true;
}

bool ha_node__owner_behind(const struct ha_node *n)
{
	return atomic_load(&n->event_bytes) > n->max_event_bytes;
}

static void wake_owner(struct ha_node *n)
{
	if (n->events_pending && n->o.wake != NULL) {
		n->events_pending = false;
		n->o.wake(n->o.data);
	}
}

/* ---- owner -> node requests ---- */

static void free_request(struct request *rq)
{
	free(rq->data);
	free(rq->config);
	free(rq);
}

static int push_request(struct ha_node *n, struct request *rq)
{
	pthread_mutex_lock(&n->req_lock);
	if (n->closed) {
		pthread_mutex_unlock(&n->req_lock);
		free_request(rq);
		return HA_NODE_ESTOPPED;
	}
	if (n->n_requests >= n->max_requests) {
		pthread_mutex_unlock(&n->req_lock);
		free_request(rq);
		return HA_NODE_EBUSY;
	}
	rq->next = NULL;
	if (n->req_tail)
		n->req_tail->next = rq;
	else
		n->req_head = rq;
	n->req_tail = rq;
	n->n_requests++;
	pthread_mutex_unlock(&n->req_lock);
	uv_async_send(&n->async);
	return HA_NODE_OK;
}

static struct request *new_request(enum request_kind kind, uint64_t cookie)
{
	struct request *rq = calloc(1, sizeof(*rq));
	if (rq != NULL) {
		rq->kind = kind;
		rq->cookie = cookie;
	}
	return rq;
}

int ha_node_propose_take(struct ha_node *n, uint8_t *cmd, size_t len,
			 uint64_t cookie)
{
	int rv = HA_NODE_OK;
	if (len == 0 || len > RAFT_MAX_ENTRY_BYTES || cmd == NULL)
		rv = HA_NODE_EINVAL;
	else if (ha_node__owner_behind(n))
		rv = HA_NODE_EBUSY;
	struct request *rq =
	    rv == HA_NODE_OK ? new_request(REQ_PROPOSE, cookie) : NULL;
	if (rq == NULL) {
		free(cmd);
		return rv != HA_NODE_OK ? rv : HA_NODE_ENOMEM;
	}
	rq->data = cmd;
	rq->len = len;
	return push_request(n, rq);
}

int ha_node_propose(struct ha_node *n, const void *cmd, size_t len,
		    uint64_t cookie)
{
	if (len == 0 || len > RAFT_MAX_ENTRY_BYTES || cmd == NULL)
		return HA_NODE_EINVAL;
	uint8_t *copy = malloc(len);
	if (copy == NULL)
		return HA_NODE_ENOMEM;
	memcpy(copy, cmd, len);
	return ha_node_propose_take(n, copy, len, cookie);
}

int ha_node_forward(struct ha_node *n, const void *payload, size_t len,
		    uint64_t cookie)
{
	if (len == 0 || len > HA_NODE_FORWARD_MAX_BYTES || payload == NULL)
		return HA_NODE_EINVAL;
	/* Counted here, so that the owner learns at once that too many wait;
	 * the raft thread gives the count back with each HA_EV_FORWARDED. */
	size_t out = atomic_load(&n->forwards_out);
	do {
		if (out >= HA_NODE_FORWARD_MAX_IN_FLIGHT)
			return HA_NODE_EBUSY;
	} while (
	    !atomic_compare_exchange_weak(&n->forwards_out, &out, out + 1));
	struct request *rq = new_request(REQ_FORWARD, cookie);
	if (rq == NULL || (rq->data = malloc(len)) == NULL) {
		free(rq);
		atomic_fetch_sub(&n->forwards_out, 1);
		return HA_NODE_ENOMEM;
	}
	memcpy(rq->data, payload, len);
	rq->len = len;
	int rv = push_request(n, rq);
	if (rv != HA_NODE_OK)
		atomic_fetch_sub(&n->forwards_out, 1);
	return rv;
}

int ha_node_forward_reply(struct ha_node *n, raft_id from, uint64_t request_id,
			  const void *reply, size_t len)
{
	if (len > HA_NODE_FORWARD_MAX_BYTES || (len > 0 && reply == NULL))
		return HA_NODE_EINVAL;
	struct request *rq = new_request(REQ_FORWARD_REPLY, 0);
	if (rq == NULL || (len > 0 && (rq->data = malloc(len)) == NULL)) {
		free(rq);
		return HA_NODE_ENOMEM;
	}
	if (len > 0)
		memcpy(rq->data, reply, len);
	rq->len = len;
	rq->id = from;
	rq->request_id = request_id;
	return push_request(n, rq);
}

int ha_node_read(struct ha_node *n, uint64_t cookie)
{
	struct request *rq = new_request(REQ_READ, cookie);
	return rq ? push_request(n, rq) : HA_NODE_ENOMEM;
}

int ha_node_bootstrap(struct ha_node *n, const struct raft_config *cfg,
		      uint64_t cookie)
{
	struct request *rq = new_request(REQ_BOOTSTRAP, cookie);
	if (rq == NULL || (rq->config = malloc(sizeof(*cfg))) == NULL) {
		free(rq);
		return HA_NODE_ENOMEM;
	}
	*rq->config = *cfg;
	return push_request(n, rq);
}

int ha_node_set_peers(struct ha_node *n, const struct raft_config *peers)
{
	struct request *rq = new_request(REQ_PEERS, 0);
	if (rq == NULL || (rq->config = malloc(sizeof(*peers))) == NULL) {
		free(rq);
		return HA_NODE_ENOMEM;
	}
	*rq->config = *peers;
	return push_request(n, rq);
}

int ha_node_add_learner(struct ha_node *n, raft_id id, const char *address,
			uint64_t cookie)
{
	if (address == NULL || strlen(address) >= RAFT_ADDRESS_MAX)
		return HA_NODE_EINVAL;
	struct request *rq = new_request(REQ_ADD, cookie);
	if (rq == NULL)
		return HA_NODE_ENOMEM;
	rq->id = id;
	snprintf(rq->address, sizeof(rq->address), "%s", address);
	return push_request(n, rq);
}

int ha_node_remove(struct ha_node *n, raft_id id, uint64_t cookie)
{
	struct request *rq = new_request(REQ_REMOVE, cookie);
	if (rq == NULL)
		return HA_NODE_ENOMEM;
	rq->id = id;
	return push_request(n, rq);
}

int ha_node_transfer(struct ha_node *n, raft_id id, uint64_t cookie)
{
	struct request *rq = new_request(REQ_TRANSFER, cookie);
	if (rq == NULL)
		return HA_NODE_ENOMEM;
	rq->id = id;
	return push_request(n, rq);
}

int64_t ha_node_lease_until(const struct ha_node *n)
{
	return atomic_load(&n->lease_until);
}

raft_term ha_node_lease_term(const struct ha_node *n)
{
	return atomic_load(&n->lease_term);
}

void ha_node_get_status(struct ha_node *n, struct ha_node_status *out)
{
	pthread_mutex_lock(&n->status_lock);
	*out = n->status;
	pthread_mutex_unlock(&n->status_lock);
}

/* ---- the transport's view of the membership ---- */

/* Adds a server to a peer list unless it is there already. */
static void peer_add(struct raft_config *set, const struct raft_server *s)
{
	if (raft_config_find(set, s->id) != NULL || set->n == RAFT_MAX_SERVERS)
		return;
	set->servers[set->n++] = *s;
}

/* The transport links to everyone in the latest configuration, to a node
 * that joins its join list, and, for a grace period, to servers that just
 * left: the leader's last word to a removed server is that its removal
 * committed, and that must not be dropped with the link. */
static void sync_peers(struct ha_node *n)
{
	const struct raft_config *c = raft_config(n->raft);
	if (raft_has_config(n->raft) && !n->cluster_id_pinned) {
		if (transport_set_cluster_id(n->transport, c->cluster_id) ==
		    TRANSPORT_OK)
			n->cluster_id_pinned = true;
		else
			ha_node__log(
			    n, HA_NODE_LOG_ERROR,
			    "the transport already pinned another cluster id");
	}
	struct raft_config want;
	memset(&want, 0, sizeof(want));
	const struct raft_config *src =
	    raft_has_config(n->raft) ? c : &n->join_peers;
	for (uint32_t i = 0; i < src->n; i++)
		if (src->servers[i].id != n->o.id)
			peer_add(&want, &src->servers[i]);
	int64_t now = ha_node_monotonic_ms();
	for (uint32_t i = 0; i < n->peers_set.n; i++) {
		const struct raft_server *s = &n->peers_set.servers[i];
		if (raft_config_find(&want, s->id) != NULL)
			continue;
		/* Linked as long as the core may still replicate to it (it
		 * lets a leaving server go after ten election timeouts at
		 * most): a removed node that comes back meanwhile learns
		 * that it was removed. */
		if (n->departed_until[s->id] == 0)
			n->departed_until[s->id] =
			    now + 10 * (int64_t)raft_election_timeout(n->raft);
		if (now < n->departed_until[s->id])
			peer_add(&want, s);
	}
	for (uint32_t i = 0; i < want.n; i++)
		if (raft_config_find(src, want.servers[i].id) != NULL)
			n->departed_until[want.servers[i].id] = 0;
	if (want.n == n->peers_set.n &&
	    memcmp(want.servers, n->peers_set.servers,
		   want.n * sizeof(want.servers[0])) == 0)
		return;
	struct transport_peer peers[RAFT_MAX_SERVERS];
	for (uint32_t i = 0; i < want.n; i++) {
		peers[i].id = want.servers[i].id;
		peers[i].address = want.servers[i].address;
	}
	if (transport_set_peers(n->transport, peers, want.n) == TRANSPORT_OK)
		n->peers_set = want;
}

static void refresh_status(struct ha_node *n)
{
	struct raft *r = n->raft;
	pthread_mutex_lock(&n->status_lock);
	struct ha_node_status *s = &n->status;
	s->id = n->o.id;
	s->role = raft_role(r);
	s->leader = raft_leader(r);
	s->term = raft_current_term(r);
	s->commit = raft_commit_index(r);
	s->applied = n->applied;
	s->last_index = raft_last_index(r);
	s->stable = raft_stable_index(r);
	s->snapshot_index = raft_snapshot_index(r);
	s->snapshots_installed = n->snapshots_installed;
	s->sm_applied = n->sm_applied;
	s->sm_busy = n->capturing || n->restoring || n->deferred_head != NULL;
	s->event_bytes = atomic_load(&n->event_bytes);
	s->has_config = raft_has_config(r);
	s->config = *raft_config(r);
	memcpy(s->peer_levels, n->peer_levels, sizeof(s->peer_levels));
	s->n_peer_levels = n->n_peer_levels;
	if (raft_stop_reason(r) != NULL) {
		s->stopped = true;
		snprintf(s->stop_reason, sizeof(s->stop_reason), "%s",
			 raft_stop_reason(r));
	}
	pthread_mutex_unlock(&n->status_lock);
}

/* ---- handling the core's update ---- */

void ha_node__send(struct ha_node *n, const struct raft_message *m)
{
	size_t size = raft_codec_message_size(m);
	/* One buffer, kept: large messages (snapshot chunks, batches of
	 * entries) come in streams, and a fresh buffer each time costs page
	 * faults on this thread. */
	if (size > n->send_cap) {
		uint8_t *buf = realloc(n->send_buf, size);
		if (buf == NULL)
			return; /* a lost message; Raft resends */
		n->send_buf = buf;
		n->send_cap = size;
	}
	int rv = raft_codec_encode_message(m, n->send_buf, size);
	if (rv == 0)
		transport_send(n->transport, m->to, NODE_FRAME_RAFT,
			       n->send_buf, size);
	else
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "cannot encode a message: %s",
			     raft_codec_strerror(rv));
}

static void apply_entries(struct ha_node *n, const struct raft_update *u)
{
	for (size_t i = 0; i < u->n_apply; i++) {
		const struct raft_entry *e = &u->apply[i];
		if (e->index <= n->applied)
			continue;
		if (e->type == RAFT_ENTRY_COMMAND &&
		    !ha_node__snapshot_apply(n, e))
			return;
		struct ha_node_event ev = {.type = HA_EV_COMMITTED,
					   .index = e->index,
					   .term = e->term,
					   .entry_type = e->type,
					   .len = e->len};
		if (e->len > 0) {
			ev.data = malloc(e->len);
			if (ev.data == NULL) {
				ha_node__fail(
				    n, "out of memory handing over entries");
				return;
			}
			memcpy(ev.data, e->data, e->len);
		}
		if (!ha_node__emit(n, &ev)) {
			free(ev.data);
			ha_node__fail(n, "out of memory handing over entries");
			return;
		}
		n->applied = e->index;
	}
}

static void on_lease_timer(uv_timer_t *t)
{
	struct ha_node *n = t->data;
	if (n->o.wake != NULL)
		n->o.wake(n->o.data);
}

void ha_node__handle_update(struct ha_node *n, struct raft_update *u)
{
	/* The lease first: nothing that lets another node lead may leave
	 * before the owner can see that this one no longer may. */
	int64_t lease = (int64_t)raft_lease_until(n->raft);
	if (lease > 0)
		atomic_store(&n->lease_term, raft_current_term(n->raft));
	int64_t before = atomic_exchange(&n->lease_until, lease);
	if (lease < before)
		n->events_pending = true; /* the owner must stop serving now */
	int64_t now = ha_node_monotonic_ms();
	if (lease > now && lease != n->lease_armed_for && !n->shutting_down) {
		/* Also when it simply runs out, without any event. */
		n->lease_armed_for = lease;
		uv_timer_start(&n->lease_timer, on_lease_timer,
			       (uint64_t)(lease - now + 1), 0);
	}

	for (size_t i = 0; i < u->n_send_now; i++) {
		const struct raft_message *m = &u->send_now[i];
		if (m->type == RAFT_MSG_SNAPSHOT && m->len > 0 &&
		    m->data == NULL)
			ha_node__jobs_read_chunk(n, m);
		else
			ha_node__send(n, m);
	}
	if (u->hard_state_changed || u->truncate_from != 0 ||
	    u->n_entries > 0 || u->snapshot_chunk != NULL ||
	    u->n_send_after_persist > 0)
		ha_node__jobs_persist(n, u);

	apply_entries(n, u);
	for (size_t i = 0; i < u->n_reads; i++) {
		/* Every entry up to the read's index was handed over above or
		 * before, so the owner's copy is current when it sees this; if
		 * the hand-over stopped short, the read fails. */
		struct ha_node_event ev = {.type = HA_EV_READ,
					   .cookie = u->reads[i].id,
					   .status = u->reads[i].status,
					   .index = u->reads[i].index};
		if (ev.status == RAFT_OK && ev.index > n->applied)
			ev.status = RAFT_ESHUTDOWN;
		ha_node__emit(n, &ev);
	}
	if (u->role_changed) {
		struct ha_node_event ev = {.type = HA_EV_ROLE,
					   .role = u->role,
					   .leader = u->leader,
					   .term = raft_current_term(n->raft)};
		ha_node__emit(n, &ev);
		ha_node__log(n, HA_NODE_LOG_INFO, "%s in term %llu, leader %u",
			     u->role == RAFT_LEADER
				 ? "leader"
				 : (u->role == RAFT_CANDIDATE ? "candidate"
							      : "follower"),
			     (unsigned long long)raft_current_term(n->raft),
			     u->leader);
	}
	if (u->error != NULL && !n->stop_reported) {
		n->stop_reported = true;
		struct ha_node_event ev = {.type = HA_EV_STOPPED};
		snprintf(ev.reason, sizeof(ev.reason), "%s", u->error);
		ha_node__emit(n, &ev);
		ha_node__log(n, HA_NODE_LOG_ERROR, "raft stopped: %s",
			     u->error);
	}
	sync_peers(n);
	ha_node__snapshot_maybe_take(n);
	refresh_status(n);
	wake_owner(n);
}

void ha_node__fail(struct ha_node *n, const char *why)
{
	struct raft_update u;
	raft_storage_failed(n->raft, ha_node_monotonic_ms(), why, &u);
	ha_node__handle_update(n, &u);
}

/* ---- loop callbacks ---- */

static void on_tick(uv_timer_t *t)
{
	struct ha_node *n = t->data;
	struct raft_update u;
	int64_t now = ha_node_monotonic_ms();
	/* A loop that does not turn sends no heartbeats: say so before it
	 * costs an election, naming how long it was held up. */
	if (n->last_tick != 0 && now - n->last_tick > NODE_STALL_WARN_MS)
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "the raft thread was held up for %lld ms",
			     (long long)(now - n->last_tick));
	n->last_tick = now;
	raft_tick(n->raft, now, &u);
	ha_node__forward_tick(n, now);
	ha_node__handle_update(n,
			       &u); /* syncs the peers too: departures expire */
	if (n->stopping && (raft_role(n->raft) != RAFT_LEADER ||
			    ha_node_monotonic_ms() >= n->stop_deadline))
		ha_node__shutdown(n);
}

/* The entry of a peer in the advertised levels; create adds one (NULL
 * when the table is full, which a configuration never makes it). */
static struct ha_node_peer_level *peer_level_slot(struct ha_node *n,
						  uint32_t peer, bool create)
{
	for (size_t i = 0; i < n->n_peer_levels; i++) {
		if (n->peer_levels[i].id == peer)
			return &n->peer_levels[i];
	}
	if (!create || n->n_peer_levels == RAFT_MAX_SERVERS)
		return NULL;
	struct ha_node_peer_level *p = &n->peer_levels[n->n_peer_levels++];
	memset(p, 0, sizeof(*p));
	p->id = peer;
	return p;
}

static void on_info(struct ha_node *n, uint32_t peer, const uint8_t *bytes,
		    size_t len)
{
	if (len < NODE_INFO_V1_LEN || bytes[0] < 1) {
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "dropping a malformed info frame from node %u",
			     peer);
		return;
	}
	struct ha_node_peer_level *p = peer_level_slot(n, peer, true);
	if (p == NULL)
		return;
	p->level = le32_load(bytes + 1);
	/* Version 1 carries no mode: such a peer's owner has only one. */
	p->mode = bytes[0] >= 2 && len >= NODE_INFO_LEN ? bytes[5] : 0;
	p->linked = true;
	refresh_status(n);
	wake_owner(n);
}

static void on_recv(void *data, uint32_t peer, uint8_t type,
		    const uint8_t *bytes, size_t len)
{
	struct ha_node *n = data;
	if (n->shutting_down)
		return;
	if (type == NODE_FRAME_INFO) {
		on_info(n, peer, bytes, len);
		return;
	}
	if (type == NODE_FRAME_FORWARD || type == NODE_FRAME_FORWARD_REPLY) {
		ha_node__forward_recv(n, peer, type, bytes, len);
		wake_owner(n);
		return;
	}
	if (type != NODE_FRAME_RAFT)
		return;
	struct raft_message m;
	int rv = raft_codec_decode_message(bytes, len, &m);
	if (rv != 0) {
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "dropping a malformed message from node %u: %s",
			     peer, raft_codec_strerror(rv));
		return;
	}
	/* The link authenticated the peer: it may only speak for itself. */
	if (m.from != peer || m.to != n->o.id) {
		ha_node__log(
		    n, HA_NODE_LOG_WARNING,
		    "dropping a message from node %u claiming to be from %u "
		    "to %u",
		    peer, m.from, m.to);
		raft_codec_message_free(&m);
		return;
	}
	/* The owner is behind: new entries and snapshot chunks wait for it
	 * (the leader sends them again); everything else goes on. Said only
	 * when it lasts: a large restore is taken in a moment. */
	bool behind = ha_node__owner_behind(n);
	if (!behind)
		n->owner_behind_since = 0;
	if (behind && ((m.type == RAFT_MSG_APPEND && m.n_entries > 0) ||
		       m.type == RAFT_MSG_SNAPSHOT)) {
		int64_t now = ha_node_monotonic_ms();
		if (n->owner_behind_since == 0)
			n->owner_behind_since = now;
		if (now - n->owner_behind_since >= 1000 &&
		    now - n->owner_behind_logged > 5000) {
			n->owner_behind_logged = now;
			ha_node__log(n, HA_NODE_LOG_WARNING,
				     "the owner is behind (%zu bytes of events "
				     "not taken for %lld ms): new entries wait",
				     (size_t)atomic_load(&n->event_bytes),
				     (long long)(now - n->owner_behind_since));
		}
		raft_codec_message_free(&m);
		return;
	}
	struct raft_update u;
	raft_step(n->raft, ha_node_monotonic_ms(), &m, &u);
	raft_codec_message_free(&m);
	ha_node__handle_update(n, &u);
}

static void on_link(void *data, uint32_t peer, enum transport_link_state state)
{
	struct ha_node *n = data;
	bool up = state == TRANSPORT_LINK_UP;
	ha_node__log(n, HA_NODE_LOG_DEBUG, "link to node %u %s", peer,
		     up ? "up" : "down");
	struct ha_node_peer_level *p = peer_level_slot(n, peer, false);
	if (p != NULL && p->linked != up) {
		p->linked = up;
		refresh_status(n);
	}
	if (!up && !n->shutting_down) {
		ha_node__forward_link_down(n, peer);
		wake_owner(n);
	}
	if (!up || n->o.advertised_level == 0 || n->shutting_down)
		return;
	uint8_t info[NODE_INFO_LEN];
	info[0] = NODE_INFO_VERSION;
	le32_store(info + 1, n->o.advertised_level);
	info[5] = n->o.advertised_mode;
	int rv = transport_send(n->transport, peer, NODE_FRAME_INFO, info,
				sizeof(info));
	if (rv != TRANSPORT_OK)
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "could not tell node %u this node's level: %s",
			     peer, transport_strerror(rv));
}

static void on_transport_log(void *data, enum transport_log_level level,
			     const char *message)
{
	struct ha_node *n = data;
	ha_node__log(n, (enum ha_node_log_level)level, "%s", message);
}

static void emit_result(struct ha_node *n, enum ha_node_event_type type,
			uint64_t cookie, int status, raft_index index)
{
	struct ha_node_event ev = {
	    .type = type, .cookie = cookie, .status = status, .index = index};
	ha_node__emit(n, &ev);
}

static void handle_request(struct ha_node *n, struct request *rq)
{
	struct raft_update u;
	raft_time now = ha_node_monotonic_ms();
	int rv;
	switch (rq->kind) {
	case REQ_PROPOSE:
	case REQ_READ:
		return; /* batched by on_async */
	case REQ_BOOTSTRAP:
		rv = raft_bootstrap(n->raft, now, rq->config, &u);
		emit_result(n, HA_EV_CHANGED, rq->cookie, rv, 0);
		ha_node__handle_update(n, &u);
		return;
	case REQ_ADD:
		rv = raft_add_learner(n->raft, now, rq->id, rq->address, true,
				      &u);
		emit_result(n, HA_EV_CHANGED, rq->cookie, rv, 0);
		ha_node__handle_update(n, &u);
		return;
	case REQ_REMOVE:
		rv = raft_remove_server(n->raft, now, rq->id, &u);
		emit_result(n, HA_EV_CHANGED, rq->cookie, rv, 0);
		ha_node__handle_update(n, &u);
		return;
	case REQ_TRANSFER:
		rv = raft_transfer_leadership(n->raft, now, rq->id, &u);
		emit_result(n, HA_EV_CHANGED, rq->cookie, rv, 0);
		ha_node__handle_update(n, &u);
		return;
	case REQ_PEERS:
		n->join_peers = *rq->config;
		sync_peers(n);
		return;
	case REQ_FORWARD:
		ha_node__forward_start(n, rq);
		return;
	case REQ_FORWARD_REPLY:
		ha_node__forward_answer(n, rq);
		return;
	}
}

static void begin_stop(struct ha_node *n, bool handover, unsigned timeout_ms)
{
	raft_time now = ha_node_monotonic_ms();
	n->stopping = true;
	n->stop_deadline = now + timeout_ms;
	if (handover && raft_role(n->raft) == RAFT_LEADER) {
		struct raft_update u;
		int rv = raft_transfer_leadership(n->raft, now, 0, &u);
		ha_node__log(n, HA_NODE_LOG_INFO,
			     "stopping: handing leadership over: %s",
			     raft_strerror(rv));
		ha_node__handle_update(n, &u);
		if (rv == RAFT_OK)
			return; /* on_tick finishes once it moved or in time */
	}
	ha_node__shutdown(n);
}

static struct request *pop_request(struct ha_node *n)
{
	pthread_mutex_lock(&n->req_lock);
	struct request *rq = n->req_head;
	if (rq != NULL) {
		n->req_head = rq->next;
		if (n->req_head == NULL)
			n->req_tail = NULL;
		n->n_requests--;
	}
	pthread_mutex_unlock(&n->req_lock);
	return rq;
}

/* Proposals that arrived together are appended by one call: one write, one
 * message per follower and one hand-over for them all. */
static void flush_proposals(struct ha_node *n, struct request **props,
			    size_t *n_props)
{
	if (*n_props == 0)
		return;
	struct raft_command cmds[NODE_REQUESTS_PER_TURN];
	for (size_t i = 0; i < *n_props; i++)
		cmds[i] = (struct raft_command){props[i]->data,
						(uint32_t)props[i]->len};
	struct raft_update u;
	raft_index first = 0;
	size_t taken = 0;
	int rv = RAFT_ESHUTDOWN;
	if (!n->disk_full)
		rv = raft_propose_batch(n->raft, ha_node_monotonic_ms(), cmds,
					*n_props, &first, &taken, &u);
	/* The term too: another entry may later commit at this index if a
	 * new leader truncates this one. */
	raft_term term = raft_current_term(n->raft);
	for (size_t i = 0; i < *n_props; i++) {
		if (i < taken)
			props[i]->data = NULL; /* the core's now */
		struct ha_node_event ev = {.type = HA_EV_PROPOSED,
					   .cookie = props[i]->cookie,
					   .status = i < taken ? RAFT_OK : rv};
		if (i < taken) {
			ev.index = first + i;
			ev.term = term;
		}
		ha_node__emit(n, &ev);
		free_request(props[i]);
	}
	if (!n->disk_full)
		ha_node__handle_update(n, &u);
	*n_props = 0;
}

/* Reads that arrived together are confirmed by one heartbeat round. */
static void flush_reads(struct ha_node *n, uint64_t *ids, size_t *n_ids)
{
	if (*n_ids == 0)
		return;
	struct raft_update u;
	int rv = raft_read_index_batch(n->raft, ha_node_monotonic_ms(), ids,
				       *n_ids, &u);
	if (rv != RAFT_OK)
		for (size_t i = 0; i < *n_ids; i++)
			emit_result(n, HA_EV_READ, ids[i], rv, 0);
	ha_node__handle_update(n, &u);
	*n_ids = 0;
}

void ha_node_hand_over_now(struct ha_node *n)
{
	atomic_store(&n->handover_asked, true);
	uv_async_send(&n->async); /* async-signal-safe */
}

static void hand_over(struct ha_node *n)
{
	if (n->stopping || n->shutting_down ||
	    raft_role(n->raft) != RAFT_LEADER)
		return;
	struct raft_update u;
	int rv =
	    raft_transfer_leadership(n->raft, ha_node_monotonic_ms(), 0, &u);
	ha_node__log(n, HA_NODE_LOG_INFO,
		     "shutting down: handing leadership over: %s",
		     raft_strerror(rv));
	ha_node__handle_update(n, &u);
}

static void on_async(uv_async_t *a)
{
	struct ha_node *n = a->data;
	if (atomic_exchange(&n->handover_asked, false))
		hand_over(n);
	pthread_mutex_lock(&n->req_lock);
	bool stop = n->stop_asked && !n->stopping;
	pthread_mutex_unlock(&n->req_lock);
	if (stop && !n->shutting_down)
		begin_stop(n, n->stop_handover, n->stop_timeout_ms);
	/* A bounded turn, so that a burst of requests cannot hold up the
	 * heartbeats; the rest waits for the next turn of the loop. */
	uint64_t reads[NODE_REQUESTS_PER_TURN];
	size_t n_reads = 0;
	struct request *props[NODE_REQUESTS_PER_TURN];
	size_t n_props = 0;
	unsigned handled = 0;
	struct request *rq = NULL;
	while (handled < NODE_REQUESTS_PER_TURN &&
	       (rq = pop_request(n)) != NULL) {
		handled++;
		if (n->shutting_down) {
			free_request(rq);
			continue;
		}
		/* Runs of one kind are batched; a change of kind handles
		 * the run before, so that requests keep their order. */
		if (rq->kind == REQ_PROPOSE) {
			flush_reads(n, reads, &n_reads);
			props[n_props++] = rq;
			continue;
		}
		flush_proposals(n, props, &n_props);
		if (rq->kind == REQ_READ) {
			reads[n_reads++] = rq->cookie;
			free_request(rq);
			continue;
		}
		flush_reads(n, reads, &n_reads);
		handle_request(n, rq);
		free_request(rq);
	}
	if (!n->shutting_down) {
		flush_proposals(n, props, &n_props);
		flush_reads(n, reads, &n_reads);
	}
	if (handled == NODE_REQUESTS_PER_TURN)
		uv_async_send(&n->async);
	wake_owner(n);
}

static void on_closed(uv_handle_t *h)
{
	(void)h;
}

static void on_transport_closed(void *data)
{
	struct ha_node *n = data;
	n->transport = NULL;
	uv_close((uv_handle_t *)&n->async, on_closed);
}

/* Stops timers and links; the loop ends once storage jobs drained. */
void ha_node__shutdown(struct ha_node *n)
{
	if (n->shutting_down)
		return;
	n->shutting_down = true;
	pthread_mutex_lock(&n->req_lock);
	n->closed = true;
	pthread_mutex_unlock(&n->req_lock);
	uv_timer_stop(&n->tick);
	uv_close((uv_handle_t *)&n->tick, on_closed);
	uv_timer_stop(&n->lease_timer);
	uv_close((uv_handle_t *)&n->lease_timer, on_closed);
	atomic_store(&n->lease_until, 0);
	ha_node__forward_stop(n);
	ha_node__jobs_drop_all(n);
	transport_close(n->transport, on_transport_closed);
}

void ha_node__name_worker(void)
{
	/* libuv's pool threads take the name of the thread that started
	 * them (the raft thread): each names itself once, on its first job. */
	static _Thread_local bool named;
	if (!named) {
		named = true;
		pthread_setname_np(pthread_self(), "ha-storage");
	}
}

void ha_node__block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	/* A write to a peer that just closed must fail with EPIPE, not kill
	 * an owner that did not ignore SIGPIPE: blocked, the signal stays
	 * pending on this thread and is never delivered. */
	sigaddset(&set, SIGPIPE);
	/* Shutdown signals go to the owner's thread, which they must wake. */
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void *thread_main(void *arg)
{
	struct ha_node *n = arg;
	/* The pool threads started from here inherit the mask. */
	ha_node__block_signals();
	/* Named for top -H, perf and the benchmarks' accounting. */
	pthread_setname_np(pthread_self(), "ha-raft");
	uv_run(&n->loop, UV_RUN_DEFAULT);
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void free_options(struct ha_node_options *o)
{
	free((char *)o->data_dir);
	free((char *)o->cluster_name);
	free((char *)o->advertise_address);
	free((char *)o->bind_address);
	free((uint8_t *)o->secret);
	free((char *)o->tls_ca_file);
	free((char *)o->tls_cert_file);
	free((char *)o->tls_key_file);
}

static int copy_options(struct ha_node_options *dst,
			const struct ha_node_options *src)
{
	*dst = *src;
	dst->data_dir = dup_or_null(src->data_dir);
	dst->cluster_name = dup_or_null(src->cluster_name);
	dst->advertise_address = dup_or_null(src->advertise_address);
	dst->bind_address = dup_or_null(
	    src->bind_address ? src->bind_address : src->advertise_address);
	dst->tls_ca_file = dup_or_null(src->tls_ca_file);
	dst->tls_cert_file = dup_or_null(src->tls_cert_file);
	dst->tls_key_file = dup_or_null(src->tls_key_file);
	dst->secret = NULL;
	if (src->secret_len > 0) {
		uint8_t *s = malloc(src->secret_len);
		if (s != NULL)
			memcpy(s, src->secret, src->secret_len);
		dst->secret = s;
	}
	if (dst->data_dir == NULL || dst->cluster_name == NULL ||
	    dst->advertise_address == NULL || dst->bind_address == NULL ||
	    (src->secret_len > 0 && dst->secret == NULL) ||
	    (src->tls_ca_file && !dst->tls_ca_file) ||
	    (src->tls_cert_file && !dst->tls_cert_file) ||
	    (src->tls_key_file && !dst->tls_key_file))
		return HA_NODE_ENOMEM;
	return HA_NODE_OK;
}

static void storage_log(void *ctx, enum storage_log_level level,
			const char *msg)
{
	struct ha_node *n = ctx;
	ha_node__log(n,
		     level == STORAGE_LOG_ERROR
			 ? HA_NODE_LOG_ERROR
			 : (level == STORAGE_LOG_WARNING ? HA_NODE_LOG_WARNING
							 : HA_NODE_LOG_INFO),
		     "storage: %s", msg);
}

static void node_free(struct ha_node *n)
{
	if (n->raft)
		raft_free(n->raft);
	if (n->storage)
		storage_close(n->storage);
	struct ha_node_event ev;
	while (ha_node_poll(n, &ev))
		ha_node_event_free(&ev);
	while (n->req_head) {
		struct request *rq = n->req_head;
		n->req_head = rq->next;
		free_request(rq);
	}
	pthread_mutex_destroy(&n->req_lock);
	pthread_mutex_destroy(&n->ev_lock);
	pthread_mutex_destroy(&n->status_lock);
	free_options(&n->o);
	free(n->send_buf);
	free(n);
}

/* A node with its locks, its own copy of the options and the limits the
 * options leave to defaults; nothing started yet. */
static int node_new(const struct ha_node_options *o, struct ha_node **out)
{
	struct ha_node *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return HA_NODE_ENOMEM;
	pthread_mutex_init(&n->req_lock, NULL);
	pthread_mutex_init(&n->ev_lock, NULL);
	pthread_mutex_init(&n->status_lock, NULL);
	atomic_init(&n->lease_until, 0);
	atomic_init(&n->lease_term, 0);
	*out = n;
	int rv = copy_options(&n->o, o);
	if (rv != HA_NODE_OK)
		return rv;
	n->max_requests = o->max_requests ? o->max_requests : 65536;
	n->max_event_bytes = o->max_event_bytes ? o->max_event_bytes
						: NODE_MAX_EVENT_BYTES_DEFAULT;
	n->snapshot_threshold =
	    o->snapshot_threshold ? o->snapshot_threshold : 10000;
	/* Nodes reach the threshold together; spread them (by up to three
	 * quarters of it, by node id) so that they do not all write a snapshot
	 * at the same moment. */
	n->snapshot_threshold += n->snapshot_threshold / 4 * (o->id % 4);
	n->forward_timeout_ms = o->forward_timeout_ms
				    ? o->forward_timeout_ms
				    : NODE_FORWARD_TIMEOUT_DEFAULT_MS;
	atomic_init(&n->forwards_out, 0);
	n->snapshot_trailing = o->snapshot_trailing
				   ? o->snapshot_trailing
				   : NODE_SNAPSHOT_TRAILING_DEFAULT;
	return HA_NODE_OK;
}

static int create_raft(struct ha_node *n, const struct ha_node_options *o,
		       struct raft_options *ro)
{
	raft_options_default(ro);
	if (o->election_timeout)
		ro->election_timeout = o->election_timeout;
	if (o->heartbeat_interval)
		ro->heartbeat_interval = o->heartbeat_interval;
	if (o->max_clock_drift_ppm)
		ro->max_clock_drift_ppm = o->max_clock_drift_ppm;
	ro->snapshot_trailing = n->snapshot_trailing;
	/* Up to snapshot_chunks_in_flight chunks travel to each follower at
	 * once; larger chunks still mean fewer round trips through both
	 * storage queues. */
	ro->snapshot_chunk_bytes = NODE_SNAPSHOT_CHUNK_BYTES;
	n->raft = raft_new(o->id, ro,
			   (uint64_t)ha_node_monotonic_ms() ^
			       ((uint64_t)o->id << 32));
	return n->raft != NULL ? HA_NODE_OK : HA_NODE_EINVAL;
}

/* The disk is read on the caller's thread, so a locked or damaged folder is
 * an error of ha_node_start itself. On success the caller owns `loaded`. */
static int open_storage(struct ha_node *n, struct storage_loaded *loaded)
{
	struct storage_options so = {.log = storage_log, .log_ctx = n};
	n->storage = storage_new(n->o.data_dir, &so);
	if (n->storage == NULL)
		return HA_NODE_ENOMEM;
	if (storage_open(n->storage, loaded) != STORAGE_OK) {
		ha_node__log(n, HA_NODE_LOG_ERROR, "cannot open %s: %s",
			     n->o.data_dir, storage_errmsg(n->storage));
		return HA_NODE_ESTORAGE;
	}
	if (loaded->state.snap_index != 0 && n->o.sm.restore != NULL) {
		int rv = ha_node__jobs_load_snapshot(n);
		if (rv != HA_NODE_OK) {
			storage_loaded_free(loaded);
			return rv;
		}
	}
	n->applied = loaded->state.snap_index;
	n->sm_applied = loaded->state.snap_index;
	return HA_NODE_OK;
}

static int init_loop(struct ha_node *n)
{
	if (uv_loop_init(&n->loop) != 0)
		return HA_NODE_ETHREAD;
	n->loop_ready = true;
	uv_async_init(&n->loop, &n->async, on_async);
	n->async.data = n;
	uv_timer_init(&n->loop, &n->tick);
	n->tick.data = n;
	uv_timer_init(&n->loop, &n->lease_timer);
	n->lease_timer.data = n;
	return HA_NODE_OK;
}

/* The cluster id a restarted node already belongs to: from the first
 * configuration entry in its log, else from its snapshot. NULL for a node
 * that has never been part of a cluster. */
static const struct raft_config *
known_config(struct ha_node *n, const struct storage_loaded *loaded)
{
	for (size_t i = 0; i < loaded->n_entries; i++)
		if (loaded->entries[i].type == RAFT_ENTRY_CONFIG &&
		    raft_config_decode(loaded->entries[i].data,
				       loaded->entries[i].len,
				       &n->peers_set) == RAFT_OK)
			return &n->peers_set;
	if (loaded->state.snap_index != 0)
		return &loaded->snap_config;
	return NULL;
}

static int start_transport(struct ha_node *n, const struct ha_node_options *o,
			   const struct storage_loaded *loaded)
{
	struct transport_options to = {
	    .node_id = o->id,
	    .cluster_name = n->o.cluster_name,
	    .secret = n->o.secret,
	    .secret_len = n->o.secret_len,
	    .tls_ca_file = n->o.tls_ca_file,
	    .tls_cert_file = n->o.tls_cert_file,
	    .tls_key_file = n->o.tls_key_file,
	    .insecure_plaintext = n->o.insecure_plaintext,
	    .bind_address = n->o.bind_address,
	    .on_recv = on_recv,
	    .on_link = on_link,
	    .log = on_transport_log,
	    .data = n,
	};
	const struct raft_config *known = known_config(n, loaded);
	if (known != NULL) {
		memcpy(to.cluster_id, known->cluster_id, RAFT_CLUSTER_ID_LEN);
		to.cluster_id_known = true;
	}
	memset(&n->peers_set, 0, sizeof(n->peers_set));
	int trv = transport_create(&n->loop, &to, &n->transport);
	if (trv != TRANSPORT_OK) {
		ha_node__log(n, HA_NODE_LOG_ERROR,
			     "cannot start the cluster port %s: %s",
			     n->o.bind_address, transport_strerror(trv));
		return HA_NODE_ETRANSPORT;
	}
	n->cluster_id_pinned = known != NULL;
	return HA_NODE_OK;
}

int ha_node_start(const struct ha_node_options *o, struct ha_node **out)
{
	if (o == NULL || o->id == 0 || o->id > RAFT_MAX_NODE_ID ||
	    o->data_dir == NULL || o->cluster_name == NULL ||
	    o->advertise_address == NULL)
		return HA_NODE_EINVAL;
	struct ha_node *n = NULL;
	int rv = node_new(o, &n);
	if (n == NULL)
		return rv;
	if (rv != HA_NODE_OK)
		goto err;
	struct raft_options ro;
	rv = create_raft(n, o, &ro);
	if (rv != HA_NODE_OK)
		goto err;
	struct storage_loaded loaded;
	rv = open_storage(n, &loaded);
	if (rv != HA_NODE_OK)
		goto err;
	rv = init_loop(n);
	if (rv != HA_NODE_OK) {
		storage_loaded_free(&loaded);
		goto err;
	}
	rv = start_transport(n, o, &loaded);
	if (rv != HA_NODE_OK) {
		storage_loaded_free(&loaded);
		goto err_loop;
	}

	struct raft_update u;
	int rrv =
	    raft_start(n->raft, ha_node_monotonic_ms(), &loaded.state, &u);
	storage_loaded_free(&loaded);
	if (rrv != RAFT_OK) {
		ha_node__log(n, HA_NODE_LOG_ERROR,
			     "raft refused the stored state: %s",
			     raft_strerror(rrv));
		rv = HA_NODE_ESTORAGE;
		transport_close(n->transport, NULL);
		goto err_loop;
	}
	ha_node__handle_update(n, &u);
	raft_time tick =
	    ro.heartbeat_interval / 4 > 0 ? ro.heartbeat_interval / 4 : 1;
	if (tick > 10)
		tick = 10;
	uv_timer_start(&n->tick, on_tick, (uint64_t)tick, (uint64_t)tick);

	if (pthread_create(&n->thread, NULL, thread_main, n) != 0) {
		rv = HA_NODE_ETHREAD;
		ha_node__shutdown(n);
		uv_run(&n->loop, UV_RUN_DEFAULT);
		goto err_loop;
	}
	*out = n;
	return HA_NODE_OK;

err_loop:
	uv_close((uv_handle_t *)&n->async, on_closed);
	if (!uv_is_closing((uv_handle_t *)&n->tick))
		uv_close((uv_handle_t *)&n->tick, on_closed);
	if (!uv_is_closing((uv_handle_t *)&n->lease_timer))
		uv_close((uv_handle_t *)&n->lease_timer, on_closed);
	uv_run(&n->loop, UV_RUN_DEFAULT);
	uv_loop_close(&n->loop);
err:
	node_free(n);
	return rv;
}

void ha_node_stop(struct ha_node *n, bool handover, unsigned timeout_ms)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->req_lock);
	n->stop_asked = true;
	n->stop_handover = handover;
	n->stop_timeout_ms = timeout_ms;
	pthread_mutex_unlock(&n->req_lock);
	uv_async_send(&n->async);
	pthread_join(n->thread, NULL);
	if (uv_loop_close(&n->loop) != 0)
		ha_node__log(n, HA_NODE_LOG_WARNING,
			     "loop closed with open handles");
	node_free(n);
}
