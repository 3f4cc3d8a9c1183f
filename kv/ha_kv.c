/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * ha-kv: a replicated key-value store on the running Raft node, with a line
 * protocol for clients on a TCP port. Tests and benchmarks start it as real
 * processes to kill, pause, restart, add and remove.
 *
 * The state machine is kept twice, as the broker plugin keeps its state: one
 * copy on the raft thread (struct ha_node_sm, used to take snapshots) and the
 * owner's copy on the main thread, updated from HA_EV_COMMITTED and
 * HA_EV_RESTORE events, from which reads are served.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "kv/command.h"
#include "kv/map.h"
#include "kv/protocol.h"
#include "kv/record.h"
#include "node/node.h"

#define KV_READ_CHUNK 65536u
/* Back-pressure: stop reading a client that has this much outstanding. */
#define KV_CONN_MAX_PENDING 1024u
#define KV_CONN_MAX_QUEUED_BYTES (4u * 1024u * 1024u)
#define KV_COOKIE_BUCKETS 4096u
#define KV_SECRET_MAX 4096u

#define container_of_reject(h)                                                 \
	((struct kv_server *)((char *)(h)-offsetof(struct kv_server, reject)))

/* ---- options ---- */

struct kv_options {
	raft_id id;
	const char *data_dir;
	const char *cluster;
	const char *raft_address;
	const char *listen_address;
	const char *secret_file;
	bool insecure_plaintext;
	long election_timeout;
	long heartbeat;
	unsigned long long snapshot_threshold;
	bool verbose;
};

/* ---- the raft thread's copy ---- */

struct kv_raft_copy {
	struct kv_map *map;
	raft_id id;
};

static int sm_apply(void *data, raft_index index, const uint8_t *cmd,
		    size_t len)
{
	struct kv_raft_copy *copy = data;
	struct kv_command c;
	bool swapped;
	if (kv_command_decode(cmd, len, &c) != 0) {
		fprintf(stderr,
			"ha-kv %u: entry %" PRIu64
			" is not a command of this version; left out\n",
			copy->id, (uint64_t)index);
		return HA_NODE_EINVAL;
	}
	return kv_command_apply(&c, copy->map, &swapped) == 0 ? 0
							      : HA_NODE_ENOMEM;
}

static void *sm_capture(void *data)
{
	struct kv_raft_copy *copy = data;
	return kv_map_clone(copy->map);
}

static int sm_serialize(void *frozen, uint8_t **buf, size_t *len)
{
	int rv = kv_map_encode(frozen, buf, len);
	return rv == 0 ? 0 : (rv == -1 ? HA_NODE_ENOMEM : HA_NODE_EINVAL);
}

static void sm_release(void *frozen)
{
	kv_map_free(frozen);
}

static int sm_restore(void *data, const uint8_t *buf, size_t len)
{
	struct kv_raft_copy *copy = data;
	int err;
	struct kv_map *m = kv_map_decode(buf, len, &err);
	if (m == NULL)
		return err == -1 ? HA_NODE_ENOMEM : HA_NODE_EINVAL;
	kv_map_free(copy->map);
	copy->map = m;
	return 0;
}

/* ---- the owner: requests, connections ---- */

enum kv_request_kind {
	KV_REQ_IMMEDIATE = 1, /* answered when parsed */
	KV_REQ_WRITE,	      /* PUT or CAS: a proposal */
	KV_REQ_READ,	      /* GET: a ReadIndex */
	KV_REQ_CHANGE,	      /* CREATE, ADD, REMOVE, TRANSFER */
};

struct kv_conn;

struct kv_request {
	enum kv_request_kind kind;
	uint64_t cookie;
	struct kv_conn *conn;		  /* NULL once the client went away */
	struct kv_request *next;	  /* in the connection's reply order */
	struct kv_request *hnext;	  /* in the cookie table */
	struct kv_request *pprev, *pnext; /* in the pending proposals */
	bool in_table;
	bool in_pending;
	bool outstanding; /* the node still owes an answer */
	bool done;
	bool has_index;
	raft_index index; /* of the proposal, or the read's */
	char *reply;	  /* a full line, '\n' included */
	size_t reply_len;
	char key[KV_KEY_MAX + 1]; /* GET */
	size_t klen;
};

struct kv_server;

struct kv_conn {
	uv_tcp_t tcp;
	struct kv_server *srv;
	struct kv_conn *prev, *next;
	char line[KV_LINE_MAX + 1];
	size_t line_len;
	bool overflow; /* discarding the rest of a line that is too long */
	struct kv_request *head, *tail;
	size_t n_requests;
	size_t queued_bytes;
	bool reading;
	bool closing;
};

struct kv_write {
	uv_write_t req;
	struct kv_conn *conn;
	size_t len;
	char data[];
};

struct kv_server {
	struct kv_options opt;
	char node_dir[PATH_MAX];    /* the node's data folder: DIR/raft */
	char record_path[PATH_MAX]; /* DIR/kv-cluster (kv/record.h) */
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_async_t wake;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	struct ha_node *node;
	struct kv_raft_copy raft_copy;

	struct kv_map *map; /* the owner's copy */
	raft_index applied; /* last index the owner's copy reflects */
	enum raft_role role;
	raft_id leader;
	raft_term term;
	bool node_stopped;
	char stop_reason[160];
	bool stopping;

	uint64_t incarnation;
	uint64_t next_cookie;
	struct kv_request *table[KV_COOKIE_BUCKETS];
	struct kv_request *pending;   /* proposals with an outcome to learn */
	struct kv_request **deferred; /* reads waiting for the owner's copy */
	size_t n_deferred, cap_deferred;
	struct kv_conn *conns;
	uv_tcp_t reject; /* takes a connection off the backlog */
	bool reject_busy;
	char read_buf[KV_READ_CHUNK];
	bool read_buf_busy;
};

static void kv_log(struct kv_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void kv_log(struct kv_server *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ha-kv %u: %s\n", s->opt.id, msg);
}

static void fatal(struct kv_server *s, const char *what)
{
	kv_log(s, "fatal: %s; exiting", what);
	exit(70);
}

/* -- the cookie table -- */

static void table_insert(struct kv_server *s, struct kv_request *rq)
{
	size_t b = rq->cookie & (KV_COOKIE_BUCKETS - 1);
	rq->hnext = s->table[b];
	s->table[b] = rq;
	rq->in_table = true;
	rq->outstanding = true;
}

static struct kv_request *table_find(struct kv_server *s, uint64_t cookie)
{
	struct kv_request *rq = s->table[cookie & (KV_COOKIE_BUCKETS - 1)];
	while (rq != NULL && rq->cookie != cookie)
		rq = rq->hnext;
	return rq;
}

static void table_remove(struct kv_server *s, struct kv_request *rq)
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

static void pending_remove(struct kv_server *s, struct kv_request *rq)
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

static void request_free(struct kv_request *rq)
{
	free(rq->reply);
	free(rq);
}

/* -- replies -- */

static void conn_close(struct kv_conn *c);
static void conn_flush(struct kv_conn *c);

/* Sets the reply of a request; with no memory left for it, the client
 * cannot be answered correctly any more and is disconnected. */
static void request_set_reply(struct kv_request *rq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void request_set_reply(struct kv_request *rq, const char *fmt, ...)
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

/* The request has its answer: detach it from the tables, then send what is
 * ready on its connection (or drop it if the client left). */
static void request_complete(struct kv_server *s, struct kv_request *rq)
{
	table_remove(s, rq);
	pending_remove(s, rq);
	rq->outstanding = false;
	rq->done = true;
	if (rq->conn == NULL) {
		request_free(rq);
		return;
	}
	conn_flush(rq->conn);
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

/* A refusal from the core, as an error line. */
static void reply_raft_error(struct kv_server *s, struct kv_request *rq,
			     int status)
{
	switch (status) {
	case RAFT_ENOTLEADER:
		request_set_reply(rq, "ERR not-leader %u", s->leader);
		break;
	case RAFT_ETRANSFER:
		request_set_reply(rq, "ERR transfer leadership is moving");
		break;
	case RAFT_EBUSY:
		request_set_reply(rq, "ERR busy %s", raft_strerror(status));
		break;
	case RAFT_ESHUTDOWN:
		request_set_reply(rq, "ERR stopped %s", raft_strerror(status));
		break;
	default:
		request_set_reply(rq, "ERR refused %s", raft_strerror(status));
		break;
	}
}

static void reply_node_error(struct kv_request *rq, int rv)
{
	switch (rv) {
	case HA_NODE_EBUSY:
		request_set_reply(rq, "ERR busy too many requests in flight");
		break;
	case HA_NODE_ESTOPPED:
		request_set_reply(rq, "ERR stopped the node stopped");
		break;
	case HA_NODE_ENOMEM:
		request_set_reply(rq, "ERR nomem out of memory");
		break;
	default:
		request_set_reply(rq, "ERR refused %s", ha_node_strerror(rv));
		break;
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
		request_set_reply(rq, "ERR nomem out of memory");
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
		request_set_reply(rq, "ERR nomem out of memory");
	else
		request_set_reply(rq, "%s", b.p);
	free(b.p);
}

/* -- handling one request line -- */

static struct kv_request *request_new(struct kv_conn *c,
				      enum kv_request_kind kind)
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

static uint64_t next_cookie(struct kv_server *s)
{
	return ++s->next_cookie;
}

static bool not_leader(struct kv_server *s, struct kv_request *rq)
{
	if (s->node_stopped) {
		request_set_reply(rq, "ERR stopped %s", s->stop_reason);
		return true;
	}
	if (s->role != RAFT_LEADER) {
		request_set_reply(rq, "ERR not-leader %u", s->leader);
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
		request_set_reply(rq, rv == -1 ? "ERR nomem out of memory"
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
		request_set_reply(rq, "ERR stopped %s", s->stop_reason);
		return;
	}
	rq->cookie = next_cookie(s);
	int rv;
	switch (p->verb) {
	case KV_VERB_CREATE: {
		struct raft_config cfg = p->members;
		if (raft_config_find(&cfg, s->opt.id) == NULL) {
			request_set_reply(rq,
					  "ERR bad-request this node (%u) is "
					  "not in the list",
					  s->opt.id);
			return;
		}
		if (getrandom(cfg.cluster_id, sizeof(cfg.cluster_id), 0) !=
		    (ssize_t)sizeof(cfg.cluster_id)) {
			request_set_reply(rq,
					  "ERR refused no random cluster id: "
					  "%s",
					  strerror(errno));
			return;
		}
		/* Durable before the node writes anything: a restart that
		 * lost the first configuration writes it again from here. */
		struct kv_record rec = {.created = true, .members = cfg};
		char why[256];
		if (kv_record_save(s->record_path, &rec, why, sizeof(why)) !=
		    0) {
			request_set_reply(rq, "ERR refused %s", why);
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
		request_set_reply(rq, "ERR bad-request unexpected command");
		return;
	}
	if (rv != HA_NODE_OK) {
		reply_node_error(rq, rv);
		return;
	}
	rq->kind = KV_REQ_CHANGE;
	table_insert(s, rq);
}

static void handle_line(struct kv_conn *c, char *line, size_t len)
{
	struct kv_server *s = c->srv;
	struct kv_request *rq = request_new(c, KV_REQ_IMMEDIATE);
	if (rq == NULL) {
		kv_log(s, "out of memory for a client request; disconnecting "
			  "the client");
		conn_close(c);
		return;
	}
	struct kv_parsed p;
	char why[256];
	if (kv_parse_line(line, len, &p, why, sizeof(why)) != 0) {
		request_set_reply(rq, "ERR bad-request %s", why);
		goto out;
	}
	if (s->stopping) {
		request_set_reply(rq, "ERR stopped shutting down");
		goto out;
	}
	switch (p.verb) {
	case KV_VERB_PING:
		request_set_reply(rq, "PONG");
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
			request_set_reply(rq, "ERR refused %s", why);
			break;
		}
		int rv = ha_node_set_peers(s->node, &p.members);
		if (rv == HA_NODE_OK)
			request_set_reply(rq, "OK");
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

/* -- connections -- */

static void on_conn_closed(uv_handle_t *h)
{
	struct kv_conn *c = h->data;
	struct kv_server *s = c->srv;
	struct kv_request *rq = c->head;
	while (rq != NULL) {
		struct kv_request *next = rq->next;
		if (rq->outstanding) {
			/* Its outcome still arrives; it is dropped then. */
			rq->conn = NULL;
			rq->next = NULL;
		} else {
			pending_remove(s, rq);
			request_free(rq);
		}
		rq = next;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
}

static void conn_close(struct kv_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct kv_conn *c = h->data;
	(void)suggested;
	/* One read is handled completely before the next: share a buffer. */
	if (c->srv->read_buf_busy) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	c->srv->read_buf_busy = true;
	*buf = uv_buf_init(c->srv->read_buf, sizeof(c->srv->read_buf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void conn_update_reading(struct kv_conn *c)
{
	if (c->closing)
		return;
	bool want = c->n_requests < KV_CONN_MAX_PENDING &&
		    c->queued_bytes < KV_CONN_MAX_QUEUED_BYTES;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) ==
		    0)
			c->reading = true;
		else
			conn_close(c);
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static void on_write(uv_write_t *req, int status)
{
	struct kv_write *w = req->data;
	struct kv_conn *c = w->conn;
	c->queued_bytes -= w->len;
	free(w);
	if (status != 0) {
		conn_close(c);
		return;
	}
	conn_update_reading(c);
}

/* Sends, in order, every reply that is ready at the head of the queue. */
static void conn_flush(struct kv_conn *c)
{
	if (c->closing)
		return;
	size_t total = 0;
	for (struct kv_request *rq = c->head; rq != NULL && rq->done;
	     rq = rq->next) {
		if (rq->reply == NULL) {
			kv_log(c->srv, "out of memory for a reply; "
				       "disconnecting the client");
			conn_close(c);
			return;
		}
		total += rq->reply_len;
	}
	if (total == 0)
		return;
	struct kv_write *w = malloc(sizeof(*w) + total);
	if (w == NULL) {
		kv_log(c->srv, "out of memory for replies; disconnecting the "
			       "client");
		conn_close(c);
		return;
	}
	size_t off = 0;
	while (c->head != NULL && c->head->done) {
		struct kv_request *rq = c->head;
		memcpy(w->data + off, rq->reply, rq->reply_len);
		off += rq->reply_len;
		c->head = rq->next;
		if (c->head == NULL)
			c->tail = NULL;
		c->n_requests--;
		request_free(rq);
	}
	w->conn = c;
	w->len = total;
	w->req.data = w;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)total);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		free(w);
		conn_close(c);
		return;
	}
	c->queued_bytes += total;
	conn_update_reading(c);
}

static void conn_take_bytes(struct kv_conn *c, const char *p, size_t n)
{
	while (n > 0 && !c->closing) {
		const char *nl = memchr(p, '\n', n);
		size_t chunk = nl != NULL ? (size_t)(nl - p) : n;
		if (!c->overflow) {
			if (c->line_len + chunk > KV_LINE_MAX) {
				c->overflow = true;
			} else {
				memcpy(c->line + c->line_len, p, chunk);
				c->line_len += chunk;
			}
		}
		if (nl == NULL)
			return;
		if (c->overflow) {
			struct kv_request *rq =
			    request_new(c, KV_REQ_IMMEDIATE);
			if (rq == NULL) {
				conn_close(c);
				return;
			}
			request_set_reply(rq,
					  "ERR too-long a line is at most %u "
					  "bytes",
					  KV_LINE_MAX);
			rq->done = true;
		} else {
			c->line[c->line_len] = '\0';
			handle_line(c, c->line, c->line_len);
		}
		c->line_len = 0;
		c->overflow = false;
		p += chunk + 1;
		n -= chunk + 1;
	}
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct kv_conn *c = stream->data;
	if (buf->base == c->srv->read_buf)
		c->srv->read_buf_busy = false;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	conn_take_bytes(c, buf->base, (size_t)nread);
	conn_flush(c);
	conn_update_reading(c);
}

static void on_reject_closed(uv_handle_t *h)
{
	struct kv_server *s = container_of_reject(h);
	s->reject_busy = false;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct kv_server *s = listener->data;
	if (status != 0) {
		kv_log(s, "accept failed: %s", uv_strerror(status));
		return;
	}
	struct kv_conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		kv_log(s, "out of memory for a client connection; refusing it");
		/* Take it off the backlog, or the listener stalls. */
		if (!s->reject_busy && uv_tcp_init(s->loop, &s->reject) == 0) {
			s->reject_busy = true;
			s->reject.data = NULL;
			uv_accept(listener, (uv_stream_t *)&s->reject);
			uv_close((uv_handle_t *)&s->reject, on_reject_closed);
		}
		return;
	}
	c->srv = s;
	if (uv_tcp_init(s->loop, &c->tcp) != 0) {
		free(c);
		return;
	}
	c->tcp.data = c;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_update_reading(c);
}

/* ---- events from the node ---- */

static void reads_run_deferred(struct kv_server *s);

static void answer_read(struct kv_server *s, struct kv_request *rq)
{
	size_t vlen;
	const char *v = kv_map_get(s->map, rq->key, rq->klen, &vlen);
	if (v == NULL)
		request_set_reply(rq, "NONE");
	else
		request_set_reply(rq, "VALUE %s", v);
	request_complete(s, rq);
}

static void on_read_event(struct kv_server *s, const struct ha_node_event *ev)
{
	struct kv_request *rq = table_find(s, ev->cookie);
	if (rq == NULL || rq->kind != KV_REQ_READ)
		return;
	if (ev->status != RAFT_OK) {
		if (ev->status == RAFT_ENOTLEADER)
			request_set_reply(rq, "ERR not-leader %u", s->leader);
		else
			request_set_reply(rq, "ERR read-failed %s",
					  raft_strerror(ev->status));
		request_complete(s, rq);
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
			request_set_reply(rq, "ERR nomem out of memory");
			request_complete(s, rq);
			return;
		}
		s->deferred = d;
		s->cap_deferred = cap;
	}
	rq->index = ev->index;
	table_remove(s, rq); /* still outstanding: the deferred list has it */
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

/* Proposals placed at or below `index` that did not come back there never
 * will: an entry lives at one index only. */
static void proposals_settle(struct kv_server *s, raft_index index, bool known)
{
	struct kv_request *rq = s->pending;
	while (rq != NULL) {
		struct kv_request *next = rq->pnext;
		if (rq->has_index && rq->index <= index) {
			if (known)
				request_set_reply(rq,
						  "ERR lost another entry "
						  "was committed at %" PRIu64,
						  (uint64_t)rq->index);
			else
				request_set_reply(
				    rq,
				    "ERR unknown a snapshot "
				    "replaced the log at %" PRIu64,
				    (uint64_t)rq->index);
			request_complete(s, rq);
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
		request_set_reply(rq, "ERR unknown leadership lost before the "
				      "outcome was known");
		request_complete(s, rq);
	}
}

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
				struct kv_request *rq = table_find(s, c.seq);
				if (rq != NULL && rq->kind == KV_REQ_WRITE) {
					request_set_reply(rq, "%s %" PRIu64,
							  swapped ? "OK"
								  : "MISMATCH",
							  (uint64_t)ev->index);
					request_complete(s, rq);
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

static void fail_all_pending(struct kv_server *s, const char *why)
{
	while (s->pending != NULL) {
		struct kv_request *rq = s->pending;
		request_set_reply(rq, "ERR unknown %s", why);
		request_complete(s, rq);
	}
	for (size_t b = 0; b < KV_COOKIE_BUCKETS; b++)
		while (s->table[b] != NULL) {
			struct kv_request *rq = s->table[b];
			request_set_reply(rq, "ERR stopped %s", why);
			request_complete(s, rq);
		}
	for (size_t i = 0; i < s->n_deferred; i++) {
		request_set_reply(s->deferred[i], "ERR stopped %s", why);
		request_complete(s, s->deferred[i]);
	}
	s->n_deferred = 0;
}

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
		rq = table_find(s, ev->cookie);
		if (rq == NULL || rq->kind != KV_REQ_WRITE)
			break;
		if (ev->status == RAFT_OK) {
			rq->has_index = true;
			rq->index = ev->index;
			if (s->role != RAFT_LEADER || rq->index <= s->applied) {
				/* Placed just before leadership was lost (or,
				 * which cannot happen, below what was
				 * handed over already). */
				request_set_reply(rq, "ERR unknown leadership "
						      "lost before the outcome "
						      "was known");
				request_complete(s, rq);
			}
		} else {
			reply_raft_error(s, rq, ev->status);
			request_complete(s, rq);
		}
		break;
	case HA_EV_READ:
		on_read_event(s, ev);
		break;
	case HA_EV_CHANGED:
		rq = table_find(s, ev->cookie);
		if (rq == NULL || rq->kind != KV_REQ_CHANGE)
			break;
		if (ev->status == RAFT_OK)
			request_set_reply(rq, "OK");
		else
			reply_raft_error(s, rq, ev->status);
		request_complete(s, rq);
		break;
	case HA_EV_STOPPED:
		s->node_stopped = true;
		snprintf(s->stop_reason, sizeof(s->stop_reason), "%s",
			 ev->reason);
		kv_log(s, "the node stopped: %s", ev->reason);
		fail_all_pending(s, "the node stopped");
		break;
	}
}

static void on_wake(uv_async_t *a)
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

static void node_wake(void *data)
{
	struct kv_server *s = data;
	uv_async_send(&s->wake);
}

static void node_log_line(void *data, enum ha_node_log_level level,
			  const char *msg)
{
	struct kv_server *s = data;
	static const char *const names[] = {"error", "warning", "info",
					    "debug"};
	if (level == HA_NODE_LOG_DEBUG && !s->opt.verbose)
		return;
	fprintf(stderr, "ha-kv %u: %s: %s\n", s->opt.id,
		(unsigned)level < 4 ? names[level] : "log", msg);
}

/* ---- shutdown ---- */

static void close_handle(uv_handle_t *h, void *arg)
{
	struct kv_server *s = arg;
	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP && h != (uv_handle_t *)&s->listener &&
	    h != (uv_handle_t *)&s->reject) {
		conn_close(h->data);
		return;
	}
	uv_close(h, NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	struct kv_server *s = sig->data;
	if (s->stopping)
		return;
	s->stopping = true;
	kv_log(s, "%s: handing leadership over (if leader) and stopping",
	       signum == SIGTERM ? "SIGTERM" : "SIGINT");
	/* A leader hands over first, waiting at most 2 s. */
	ha_node_stop(s->node, true, 2000);
	s->node = NULL;
	fail_all_pending(s, "shutting down");
	uv_walk(s->loop, close_handle, s);
}

/* ---- start-up ---- */

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: ha-kv --id N --data DIR --cluster NAME --raft HOST:PORT "
	       "--listen HOST:PORT\n"
	       "             [--secret-file F | --insecure-plaintext]\n"
	       "             [--election-timeout MS --heartbeat MS] "
	       "[--snapshot-threshold N] [--verbose]\n"
	       "Line protocol (one request per line): PUT k v | GET k | CAS k "
	       "old new |\n"
	       "  CREATE id=host:port,... | JOIN id=host:port,... | ADD id "
	       "host:port |\n"
	       "  REMOVE id | TRANSFER id|0 | STATUS | PING\n");
}

static bool parse_number(const char *s, unsigned long long max,
			 unsigned long long *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

static int parse_options(int argc, char **argv, struct kv_options *o)
{
	enum {
		OPT_ID = 1,
		OPT_DATA,
		OPT_CLUSTER,
		OPT_RAFT,
		OPT_LISTEN,
		OPT_SECRET,
		OPT_PLAIN,
		OPT_ELECTION,
		OPT_HEARTBEAT,
		OPT_SNAPSHOT,
		OPT_VERBOSE,
		OPT_HELP,
	};
	static const struct option longopts[] = {
	    {"id", required_argument, NULL, OPT_ID},
	    {"data", required_argument, NULL, OPT_DATA},
	    {"cluster", required_argument, NULL, OPT_CLUSTER},
	    {"raft", required_argument, NULL, OPT_RAFT},
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"secret-file", required_argument, NULL, OPT_SECRET},
	    {"insecure-plaintext", no_argument, NULL, OPT_PLAIN},
	    {"election-timeout", required_argument, NULL, OPT_ELECTION},
	    {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
	    {"snapshot-threshold", required_argument, NULL, OPT_SNAPSHOT},
	    {"verbose", no_argument, NULL, OPT_VERBOSE},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long v;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ID:
			if (!parse_number(optarg, RAFT_MAX_NODE_ID, &v) ||
			    v == 0) {
				fprintf(stderr, "ha-kv: --id must be 1..%u\n",
					RAFT_MAX_NODE_ID);
				return -1;
			}
			o->id = (raft_id)v;
			break;
		case OPT_DATA:
			o->data_dir = optarg;
			break;
		case OPT_CLUSTER:
			o->cluster = optarg;
			break;
		case OPT_RAFT:
			o->raft_address = optarg;
			break;
		case OPT_LISTEN:
			o->listen_address = optarg;
			break;
		case OPT_SECRET:
			o->secret_file = optarg;
			break;
		case OPT_PLAIN:
			o->insecure_plaintext = true;
			break;
		case OPT_ELECTION:
			if (!parse_number(optarg, 600000, &v) || v < 10) {
				fprintf(stderr, "ha-kv: --election-timeout "
						"must be 10..600000 ms\n");
				return -1;
			}
			o->election_timeout = (long)v;
			break;
		case OPT_HEARTBEAT:
			if (!parse_number(optarg, 60000, &v) || v < 1) {
				fprintf(stderr, "ha-kv: --heartbeat must be "
						"1..60000 ms\n");
				return -1;
			}
			o->heartbeat = (long)v;
			break;
		case OPT_SNAPSHOT:
			if (!parse_number(optarg, UINT64_MAX, &v) || v < 1) {
				fprintf(stderr, "ha-kv: --snapshot-threshold "
						"must be a positive count\n");
				return -1;
			}
			o->snapshot_threshold = v;
			break;
		case OPT_VERBOSE:
			o->verbose = true;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ha-kv: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	const char *missing = o->id == 0		  ? "--id"
			      : o->data_dir == NULL	  ? "--data"
			      : o->cluster == NULL	  ? "--cluster"
			      : o->raft_address == NULL	  ? "--raft"
			      : o->listen_address == NULL ? "--listen"
							  : NULL;
	if (missing != NULL) {
		fprintf(stderr, "ha-kv: %s is required\n", missing);
		usage(stderr);
		return -1;
	}
	if (!kv_address_valid(o->raft_address)) {
		fprintf(stderr, "ha-kv: --raft wants host:port, not '%s'\n",
			o->raft_address);
		return -1;
	}
	if ((o->secret_file != NULL) == o->insecure_plaintext) {
		fprintf(stderr, "ha-kv: give exactly one of --secret-file and "
				"--insecure-plaintext\n");
		return -1;
	}
	if (o->heartbeat != 0 && o->election_timeout != 0 &&
	    o->heartbeat * 2 > o->election_timeout) {
		fprintf(stderr, "ha-kv: --heartbeat must be at most half of "
				"--election-timeout\n");
		return -1;
	}
	return 0;
}

/* Reads the shared cluster secret; surrounding whitespace is not part of
 * it. */
static int read_secret(const char *path, uint8_t *buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ha-kv: cannot open the secret file %s: %s\n",
			path, strerror(errno));
		return -1;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, KV_SECRET_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "ha-kv: cannot read %s: %s\n", path,
				strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > KV_SECRET_MAX) {
			fprintf(stderr,
				"ha-kv: the secret in %s is longer "
				"than %u bytes\n",
				path, KV_SECRET_MAX);
			close(fd);
			return -1;
		}
	}
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	*len = n;
	return 0;
}

static int listen_on(struct kv_server *s, const char *address)
{
	char host[RAFT_ADDRESS_MAX];
	unsigned port;
	if (kv_address_split(address, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "ha-kv: --listen wants host:port, not '%s'\n",
			address);
		return -1;
	}
	struct sockaddr_storage sa;
	int rv = uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&sa);
	if (rv != 0)
		rv = uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&sa);
	if (rv != 0) {
		fprintf(stderr,
			"ha-kv: --listen wants a numeric IP address: "
			"'%s'\n",
			host);
		return -1;
	}
	if ((rv = uv_tcp_init(s->loop, &s->listener)) != 0 ||
	    (rv = uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0)) != 0 ||
	    (rv = uv_listen((uv_stream_t *)&s->listener, 128, on_connection)) !=
		0) {
		fprintf(stderr, "ha-kv: cannot listen on %s: %s\n", address,
			uv_strerror(rv));
		return -1;
	}
	s->listener.data = s;
	return 0;
}

/* DIR holds the node's folder (DIR/raft) and this program's record. */
static int prepare_folders(struct kv_server *s)
{
	const char *dir = s->opt.data_dir;
	if ((size_t)snprintf(s->node_dir, sizeof(s->node_dir), "%s/raft",
			     dir) >= sizeof(s->node_dir) ||
	    (size_t)snprintf(s->record_path, sizeof(s->record_path),
			     "%s/kv-cluster", dir) >= sizeof(s->record_path)) {
		fprintf(stderr, "ha-kv: the data folder path is too long\n");
		return -1;
	}
	if ((mkdir(dir, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(s->node_dir, 0700) != 0 && errno != EEXIST)) {
		fprintf(stderr,
			"ha-kv %u: cannot create the data folder %s: %s\n",
			s->opt.id, s->node_dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* After a restart: whom to dial until the log says, and, for the node
 * that created the cluster but lost its first configuration, that
 * configuration again (refused by the node if its log has one). */
static int resume_membership(struct kv_server *s)
{
	struct kv_record rec;
	char why[512];
	int rv = kv_record_load(s->record_path, &rec, why, sizeof(why));
	if (rv < 0) {
		fprintf(stderr, "ha-kv %u: data folder %s: %s\n", s->opt.id,
			s->opt.data_dir, why);
		return -1;
	}
	if (rv == 1)
		return 0;
	if ((rv = ha_node_set_peers(s->node, &rec.members)) != HA_NODE_OK ||
	    (rec.created && (rv = ha_node_bootstrap(s->node, &rec.members,
						    0)) != HA_NODE_OK)) {
		fprintf(stderr, "ha-kv %u: cannot resume the membership: %s\n",
			s->opt.id, ha_node_strerror(rv));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct kv_server srv;
	struct kv_server *s = &srv;
	if (parse_options(argc, argv, &s->opt) != 0)
		return 2;
	static uint8_t secret[KV_SECRET_MAX + 1];
	size_t secret_len = 0;
	if (s->opt.secret_file != NULL &&
	    read_secret(s->opt.secret_file, secret, &secret_len) != 0)
		return 2;
	if (getrandom(&s->incarnation, sizeof(s->incarnation), 0) !=
	    (ssize_t)sizeof(s->incarnation)) {
		fprintf(stderr, "ha-kv: no randomness: %s\n", strerror(errno));
		return 1;
	}
	s->role = RAFT_FOLLOWER;
	s->map = kv_map_new();
	s->raft_copy.map = kv_map_new();
	s->raft_copy.id = s->opt.id;
	if (s->map == NULL || s->raft_copy.map == NULL) {
		fprintf(stderr, "ha-kv: out of memory\n");
		return 1;
	}
	s->loop = uv_default_loop();
	int rv;
	if ((rv = uv_async_init(s->loop, &s->wake, on_wake)) != 0 ||
	    (rv = uv_signal_init(s->loop, &s->sigterm)) != 0 ||
	    (rv = uv_signal_init(s->loop, &s->sigint)) != 0) {
		fprintf(stderr, "ha-kv: cannot set up the loop: %s\n",
			uv_strerror(rv));
		return 1;
	}
	s->wake.data = s;
	s->sigterm.data = s;
	s->sigint.data = s;
	signal(SIGPIPE, SIG_IGN);
	if (prepare_folders(s) != 0)
		return 1;
	if (listen_on(s, s->opt.listen_address) != 0)
		return 1;

	struct ha_node_options no = {
	    .id = s->opt.id,
	    .data_dir = s->node_dir,
	    .cluster_name = s->opt.cluster,
	    .advertise_address = s->opt.raft_address,
	    .secret = s->opt.secret_file != NULL ? secret : NULL,
	    .secret_len = secret_len,
	    .insecure_plaintext = s->opt.insecure_plaintext,
	    .election_timeout = s->opt.election_timeout,
	    .heartbeat_interval = s->opt.heartbeat,
	    .snapshot_threshold = s->opt.snapshot_threshold,
	    .sm =
		{
		    .data = &s->raft_copy,
		    .apply = sm_apply,
		    .capture = sm_capture,
		    .serialize = sm_serialize,
		    .release = sm_release,
		    .restore = sm_restore,
		},
	    .wake = node_wake,
	    .log = node_log_line,
	    .data = s,
	};
	rv = ha_node_start(&no, &s->node);
	if (rv != HA_NODE_OK) {
		fprintf(
		    stderr,
		    "ha-kv %u: cannot start the node on data folder %s: %s\n",
		    s->opt.id, s->opt.data_dir, ha_node_strerror(rv));
		return 1;
	}
	/* The raft thread copied the secret where it needs it. */
	memset(secret, 0, sizeof(secret));
	if (resume_membership(s) != 0) {
		ha_node_stop(s->node, false, 0);
		return 1;
	}
	if ((rv = uv_signal_start(&s->sigterm, on_signal, SIGTERM)) != 0 ||
	    (rv = uv_signal_start(&s->sigint, on_signal, SIGINT)) != 0) {
		fprintf(stderr, "ha-kv: cannot catch signals: %s\n",
			uv_strerror(rv));
		ha_node_stop(s->node, false, 0);
		return 1;
	}
	kv_log(s, "serving clients on %s, raft on %s, data in %s",
	       s->opt.listen_address, s->opt.raft_address, s->opt.data_dir);
	uv_run(s->loop, UV_RUN_DEFAULT);

	if (s->node != NULL)
		ha_node_stop(s->node, false, 0);
	for (size_t b = 0; b < KV_COOKIE_BUCKETS; b++)
		while (s->table[b] != NULL) {
			struct kv_request *rq = s->table[b];
			table_remove(s, rq);
			pending_remove(s, rq);
			request_free(rq);
		}
	free(s->deferred);
	uv_loop_close(s->loop);
	kv_map_free(s->map);
	kv_map_free(s->raft_copy.map);
	kv_log(s, "stopped");
	return 0;
}
