/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The parts of the ha-kv program and what they call on each other: the
 * server's state, the client connections and the requests they carry.
 * Everything here runs on the main thread (the owner), except the raft
 * thread's copy of the state machine, which only that thread touches.
 *
 *   connections.c  client connections and the line protocol's I/O
 *   requests.c     the request tables, starting requests, replies
 *   events.c       the node's events: commits, reads, restores, roles
 *   ha_kv.c        options, start-up, shutdown, the raft thread's copy
 */
#ifndef KV_SERVER_H
#define KV_SERVER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kv/map.h"
#include "kv/protocol.h"
#include "node/node.h"

#define KV_READ_CHUNK 65536u
/* A power of two: a cookie's bucket is its low bits. */
#define KV_COOKIE_BUCKETS 4096u

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

/* The state machine as the raft thread keeps it, for snapshots. */
struct kv_raft_copy {
	struct kv_map *map;
	raft_id id;
};

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

/* ha_kv.c */

/* One line on stderr, tagged with this node's id. */
void kv_log(struct kv_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* connections.c */

/* Listens for clients on host:port (numeric); 0, or -1 with a message. */
int kv_listen(struct kv_server *s, const char *address);
/* Closes a client's connection; its outstanding requests are dropped when
 * their outcome arrives. */
void kv_conn_close(struct kv_conn *c);
/* Sends, in order, every reply that is ready at the head of the queue. */
void kv_conn_flush(struct kv_conn *c);

/* requests.c */

/* A new request at the tail of the connection's reply order, or NULL when
 * out of memory. */
struct kv_request *kv_request_new(struct kv_conn *c, enum kv_request_kind kind);
void kv_request_free(struct kv_request *rq);
/* Sets the reply line (the newline is added); with no memory for it the
 * reply stays NULL and the client is disconnected when it is due. */
void kv_request_set_reply(struct kv_request *rq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The request has its answer: off the tables, and sent when its turn
 * comes (or freed if the client left). */
void kv_request_complete(struct kv_server *s, struct kv_request *rq);
/* The request the node's event with this cookie answers, or NULL. */
struct kv_request *kv_table_find(struct kv_server *s, uint64_t cookie);
/* Takes a request out of the cookie table (no-op when not in it). */
void kv_table_remove(struct kv_server *s, struct kv_request *rq);
/* Takes a proposal out of the pending list (no-op when not in it). */
void kv_pending_remove(struct kv_server *s, struct kv_request *rq);
/* Parses one request line (NUL-terminated, modified in place) and answers
 * it or hands it to the node. */
void kv_handle_line(struct kv_conn *c, char *line, size_t len);
/* Answers every request the node still owes, for it never will: the node
 * stopped or the process is stopping. */
void kv_requests_fail_all(struct kv_server *s, const char *why);
/* Frees the requests left in the cookie table once the loop has ended. */
void kv_requests_free_all(struct kv_server *s);

/* events.c */

/* The node's wake-up on the main thread: handles every queued event. */
void kv_on_wake(uv_async_t *a);

#endif
