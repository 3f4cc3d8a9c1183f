/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * ha-kv's client requests: the cookie table and the pending proposals
 * through which the node's answers find their request, what each request
 * line starts (a write, a read, a membership change, or an answer right
 * away, STATUS among them), and the reply lines.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kv/command.h"
#include "kv/record.h"
#include "kv/server.h"

/* -- the cookie table and the pending proposals -- */

static void table_insert(struct kv_server *s, struct kv_request *rq)
{
	size_t b = rq->cookie & (KV_COOKIE_BUCKETS - 1);
	rq->hnext = s->table[b];
	s->table[b] = rq;
	rq->in_table = true;
	rq->outstanding = true;
}

struct kv_request *kv_table_find(struct kv_server *s, uint64_t cookie)
{
	struct kv_request *rq = s->table[cookie & (KV_COOKIE_BUCKETS - 1)];
	while (rq != NULL && rq->cookie != cookie)
		rq = rq->hnext;
	return rq;
}

void kv_table_remove(struct kv_server *s, struct kv_request *rq)
{
	if (!rq->in_table)
		return;
	struct kv_request **p = &s->table[rq->cookie & (KV_COOKIE_BUCKETS - 1)];
	while (*p != NULL && *p != rq)
		p = &(*p)->hnext;
	if (*p == rq)
		*p = rq->hnext;
	rq->in_table = false;
}

static void pending_insert(struct kv_server *s, struct kv_request *rq)
{
	rq->pprev = NULL;
	rq->pnext = s->pending;
	if (s->pending != NULL)
		s->pending->pprev = rq;
	s->pending = rq;
	rq->in_pending = true;
}

void kv_pending_remove(struct kv_server *s, struct kv_request *rq)
{
	if (!rq->in_pending)
		return;
	if (rq->pprev != NULL)
		rq->pprev->pnext = rq->pnext;
	else
		s->pending = rq->pnext;
	if (rq->pnext != NULL)
		rq->pnext->pprev = rq->pprev;
	rq->in_pending = false;
}

struct kv_request *kv_request_new(struct kv_conn *c, enum kv_request_kind kind)
{
	struct kv_request *rq = calloc(1, sizeof(*rq));
	if (rq == NULL)
		return NULL;
	rq->kind = kind;
	rq->conn = c;
	if (c->tail != NULL)
		c->tail->next = rq;
	else
		c->head = rq;
	c->tail = rq;
	c->n_requests++;
	return rq;
}

void kv_request_free(struct kv_request *rq)
{
	free(rq->reply);
	free(rq);
}

/* -- replies -- */

void kv_request_set_reply(struct kv_request *rq, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *line = NULL;
	int n = vasprintf(&line, fmt, ap);
	va_end(ap);
	free(rq->reply);
	rq->reply = NULL;
	rq->reply_len = 0;
	if (n < 0)
		return;
	char *full = realloc(line, (size_t)n + 2);
	if (full == NULL) {
		free(line);
		return;
	}
	full[n] = '\n';
	full[n + 1] = '\0';
	rq->reply = full;
	rq->reply_len = (size_t)n + 1;
}

void kv_request_complete(struct kv_server *s, struct kv_request *rq)
{
	kv_table_remove(s, rq);
	kv_pending_remove(s, rq);
	rq->outstanding = false;
	rq->done = true;
	if (rq->conn == NULL) {
		kv_request_free(rq);
		return;
	}
	kv_conn_flush(rq->conn);
}

static void reply_node_error(struct kv_request *rq, int rv)
{
	switch (rv) {
	case HA_NODE_EBUSY:
		kv_request_set_reply(rq,
				     "ERR busy too many requests in flight");
		break;
	case HA_NODE_ESTOPPED:
		kv_request_set_reply(rq, "ERR stopped the node stopped");
		break;
	case HA_NODE_ENOMEM:
		kv_request_set_reply(rq, "ERR nomem out of memory");
		break;
	default:
		kv_request_set_reply(rq, "ERR refused %s",
				     ha_node_strerror(rv));
		break;
	}
}

void kv_requests_fail_all(struct kv_server *s, const char *why)
{
	while (s->pending != NULL) {
		struct kv_request *rq = s->pending;
		kv_request_set_reply(rq, "ERR unknown %s", why);
		kv_request_complete(s, rq);
	}
	for (size_t b = 0; b < KV_COOKIE_BUCKETS; b++)
		while (s->table[b] != NULL) {
			struct kv_request *rq = s->table[b];
			kv_request_set_reply(rq, "ERR stopped %s", why);
			kv_request_complete(s, rq);
		}
	for (size_t i = 0; i < s->n_deferred; i++) {
		kv_request_set_reply(s->deferred[i], "ERR stopped %s", why);
		kv_request_complete(s, s->deferred[i]);
	}
	s->n_deferred = 0;
}

void kv_requests_free_all(struct kv_server *s)
{
	for (size_t b = 0; b < KV_COOKIE_BUCKETS; b++)
		while (s->table[b] != NULL) {
			struct kv_request *rq = s->table[b];
			kv_table_remove(s, rq);
			kv_pending_remove(s, rq);
			kv_request_free(rq);
		}
}

/* -- STATUS -- */

struct kv_buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void buf_printf(struct kv_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void buf_printf(struct kv_buf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* A JSON string; the text comes from the cluster (addresses), so escape. */
static void buf_json_string(struct kv_buf *b, const char *str)
{
	buf_printf(b, "\"");
	for (const unsigned char *c = (const unsigned char *)str; *c; c++) {
		if (*c == '"' || *c == '\\')
			buf_printf(b, "\\%c", *c);
		else if (*c < 0x20 || *c >= 0x7f)
			buf_printf(b, "\\u%04x", *c);
		else
			buf_printf(b, "%c", *c);
	}
	buf_printf(b, "\"");
}

static const char *role_name(enum raft_role role)
{
	switch (role) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_FOLLOWER:
		return "follower";
	}
	return "unknown";
}

static void reply_status(struct kv_server *s, struct kv_request *rq)
{
	struct ha_node_status st;
	ha_node_get_status(s->node, &st);
	/* Absolute CLOCK_MONOTONIC times too: every process on one machine
	 * shares that clock, so tests can compare leases across nodes. */
	int64_t now = ha_node_monotonic_ms();
	int64_t until = ha_node_lease_until(s->node);
	int64_t lease = until - now;
	struct kv_buf b = {.p = malloc(1024), .cap = 1024};
	if (b.p == NULL) {
		kv_request_set_reply(rq, "ERR nomem out of memory");
		return;
	}
	buf_printf(&b,
		   "{\"id\":%u,\"role\":\"%s\",\"leader\":%u,\"term\":%" PRIu64
		   ",\"commit\":%" PRIu64 ",\"applied\":%" PRIu64
		   ",\"node_applied\":%" PRIu64 ",\"last_index\":%" PRIu64
		   ",\"stable\":%" PRIu64 ",\"snapshot_index\":%" PRIu64
		   ",\"lease_ms_left\":%" PRId64 ",\"now_ms\":%" PRId64
		   ",\"lease_until_ms\":%" PRId64 ",\"keys\":%zu"
		   ",\"hash\":\"%016" PRIx64 "\",\"stopped\":%s,\"members\":[",
		   st.id, role_name(st.role), st.leader, (uint64_t)st.term,
		   (uint64_t)st.commit, (uint64_t)s->applied,
		   (uint64_t)st.applied, (uint64_t)st.last_index,
		   (uint64_t)st.stable, (uint64_t)st.snapshot_index,
		   lease > 0 ? lease : 0, now, lease > 0 ? until : 0,
		   kv_map_count(s->map), kv_map_digest(s->map),
		   st.stopped || s->node_stopped ? "true" : "false");
	if (st.has_config) {
		for (uint32_t i = 0; i < st.config.n && i < RAFT_MAX_SERVERS;
		     i++) {
			const struct raft_server *srv = &st.config.servers[i];
			char address[RAFT_ADDRESS_MAX];
			/* Bounded: the record need not hold a terminator. */
			snprintf(address, sizeof(address), "%.*s",
				 (int)sizeof(address) - 1, srv->address);
			buf_printf(&b,
				   "%s{\"id\":%u,\"address\":", i ? "," : "",
				   srv->id);
			buf_json_string(&b, address);
			buf_printf(&b, ",\"role\":\"%s\"}",
				   srv->role == RAFT_VOTER ? "voter"
							   : "learner");
		}
	}
	buf_printf(&b, "]}");
	if (b.failed)
		kv_request_set_reply(rq, "ERR nomem out of memory");
	else
		kv_request_set_reply(rq, "%s", b.p);
	free(b.p);
}

/* -- starting what a request line asks for -- */

static uint64_t next_cookie(struct kv_server *s)
{
	return ++s->next_cookie;
}

static bool not_leader(struct kv_server *s, struct kv_request *rq)
{
	if (s->node_stopped) {
		kv_request_set_reply(rq, "ERR stopped %s", s->stop_reason);
		return true;
	}
	if (s->role != RAFT_LEADER) {
		kv_request_set_reply(rq, "ERR not-leader %u", s->leader);
		return true;
	}
	return false;
}

static void start_write(struct kv_server *s, struct kv_request *rq,
			const struct kv_parsed *p)
{
	if (not_leader(s, rq))
		return;
	struct kv_command cmd = {
	    .op = p->verb == KV_VERB_CAS ? KV_OP_CAS : KV_OP_PUT,
	    .origin = s->opt.id,
	    .incarnation = s->incarnation,
	    .seq = next_cookie(s),
	    .key = p->args[0],
	    .klen = p->arg_len[0],
	};
	if (p->verb == KV_VERB_CAS) {
		cmd.old = p->args[1];
		cmd.olen = p->arg_len[1];
		cmd.value = p->args[2];
		cmd.vlen = p->arg_len[2];
	} else {
		cmd.value = p->args[1];
		cmd.vlen = p->arg_len[1];
	}
	uint8_t *buf;
	size_t len;
	int rv = kv_command_encode(&cmd, &buf, &len);
	if (rv != 0) {
		kv_request_set_reply(rq, rv == -1 ? "ERR nomem out of memory"
						  : "ERR bad-request too big");
		return;
	}
	rq->cookie = cmd.seq;
	rv = ha_node_propose(s->node, buf, len, rq->cookie);
	free(buf);
	if (rv != HA_NODE_OK) {
		reply_node_error(rq, rv);
		return;
	}
	rq->kind = KV_REQ_WRITE;
	table_insert(s, rq);
	pending_insert(s, rq);
}

static void start_read(struct kv_server *s, struct kv_request *rq,
		       const struct kv_parsed *p)
{
	if (not_leader(s, rq))
		return;
	memcpy(rq->key, p->args[0], p->arg_len[0]);
	rq->key[p->arg_len[0]] = '\0';
	rq->klen = p->arg_len[0];
	rq->cookie = next_cookie(s);
	int rv = ha_node_read(s->node, rq->cookie);
	if (rv != HA_NODE_OK) {
		reply_node_error(rq, rv);
		return;
	}
	rq->kind = KV_REQ_READ;
	table_insert(s, rq);
}

static void start_change(struct kv_server *s, struct kv_request *rq,
			 const struct kv_parsed *p)
{
	if (s->node_stopped) {
		kv_request_set_reply(rq, "ERR stopped %s", s->stop_reason);
		return;
	}
	rq->cookie = next_cookie(s);
	int rv;
	switch (p->verb) {
	case KV_VERB_CREATE: {
		struct raft_config cfg = p->members;
		if (raft_config_find(&cfg, s->opt.id) == NULL) {
			kv_request_set_reply(rq,
					     "ERR bad-request this node (%u) "
					     "is not in the list",
					     s->opt.id);
			return;
		}
		if (getrandom(cfg.cluster_id, sizeof(cfg.cluster_id), 0) !=
		    (ssize_t)sizeof(cfg.cluster_id)) {
			kv_request_set_reply(rq,
					     "ERR refused no random cluster "
					     "id: %s",
					     strerror(errno));
			return;
		}
		/* Durable before the node writes anything: a restart that
		 * lost the first configuration writes it again from here. */
		struct kv_record rec = {.created = true, .members = cfg};
		char why[256];
		if (kv_record_save(s->record_path, &rec, why, sizeof(why)) !=
		    0) {
			kv_request_set_reply(rq, "ERR refused %s", why);
			return;
		}
		rv = ha_node_bootstrap(s->node, &cfg, rq->cookie);
		break;
	}
	case KV_VERB_ADD:
		rv =
		    ha_node_add_learner(s->node, p->id, p->address, rq->cookie);
		break;
	case KV_VERB_REMOVE:
		rv = ha_node_remove(s->node, p->id, rq->cookie);
		break;
	case KV_VERB_TRANSFER:
		rv = ha_node_transfer(s->node, p->id, rq->cookie);
		break;
	default:
		kv_request_set_reply(rq, "ERR bad-request unexpected command");
		return;
	}
	if (rv != HA_NODE_OK) {
		reply_node_error(rq, rv);
		return;
	}
	rq->kind = KV_REQ_CHANGE;
	table_insert(s, rq);
}

void kv_handle_line(struct kv_conn *c, char *line, size_t len)
{
	struct kv_server *s = c->srv;
	struct kv_request *rq = kv_request_new(c, KV_REQ_IMMEDIATE);
	if (rq == NULL) {
		kv_log(s, "out of memory for a client request; disconnecting "
			  "the client");
		kv_conn_close(c);
		return;
	}
	struct kv_parsed p;
	char why[256];
	if (kv_parse_line(line, len, &p, why, sizeof(why)) != 0) {
		kv_request_set_reply(rq, "ERR bad-request %s", why);
		goto out;
	}
	if (s->stopping) {
		kv_request_set_reply(rq, "ERR stopped shutting down");
		goto out;
	}
	switch (p.verb) {
	case KV_VERB_PING:
		kv_request_set_reply(rq, "PONG");
		break;
	case KV_VERB_STATUS:
		reply_status(s, rq);
		break;
	case KV_VERB_PUT:
	case KV_VERB_CAS:
		start_write(s, rq, &p);
		break;
	case KV_VERB_GET:
		start_read(s, rq, &p);
		break;
	case KV_VERB_JOIN: {
		/* Whom to dial after a restart, until the log says. */
		struct kv_record rec = {.created = false, .members = p.members};
		if (kv_record_save(s->record_path, &rec, why, sizeof(why)) !=
		    0) {
			kv_request_set_reply(rq, "ERR refused %s", why);
			break;
		}
		int rv = ha_node_set_peers(s->node, &p.members);
		if (rv == HA_NODE_OK)
			kv_request_set_reply(rq, "OK");
		else
			reply_node_error(rq, rv);
		break;
	}
	case KV_VERB_CREATE:
	case KV_VERB_ADD:
	case KV_VERB_REMOVE:
	case KV_VERB_TRANSFER:
		start_change(s, rq, &p);
		break;
	}
out:
	/* Anything not handed to the node has its answer already. */
	if (rq->kind == KV_REQ_IMMEDIATE)
		rq->done = true;
}
