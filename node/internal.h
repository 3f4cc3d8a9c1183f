/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Internals of the running node, shared by node.c (the loop, the queues)
 * jobs.c (the storage queue, off the loop thread) and snapshot.c (snapshots
 * this node takes). */
#ifndef HA_NODE_INTERNAL_H
#define HA_NODE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <uv.h>

#include "node/node.h"
#include "storage/storage.h"
#include "transport/transport.h"

/* The transport frame type that carries encoded Raft messages. */
#define NODE_FRAME_RAFT TRANSPORT_TYPE_MIN
/* The frame that carries the owner's advertised level: u8 version, u32
 * level, little-endian; version 2 appends u8 mode (the owner's advertised
 * mode). A later version may append; nodes read what they know and ignore
 * frame types they do not know. */
#define NODE_FRAME_INFO (TRANSPORT_TYPE_MIN + 1u)
#define NODE_INFO_VERSION 2
#define NODE_INFO_V1_LEN 5
#define NODE_INFO_LEN 6
/* A request forwarded to the leader's owner (node/forward.c): u8 version
 * (1), u64 request id, then the payload. */
#define NODE_FRAME_FORWARD (TRANSPORT_TYPE_MIN + 2u)
/* Its answer: u8 version (1), u64 request id, u8 status (enum
 * node_forward_wire), then the reply (status OK only). */
#define NODE_FRAME_FORWARD_REPLY (TRANSPORT_TYPE_MIN + 3u)
#define NODE_FORWARD_VERSION 1
#define NODE_FORWARD_HEADER 9
#define NODE_FORWARD_REPLY_HEADER 10
#define NODE_FORWARD_TIMEOUT_DEFAULT_MS 10000
#define NODE_SNAPSHOT_TRAILING_DEFAULT 1024
#define NODE_MAX_EVENT_BYTES_DEFAULT (64u * 1024u * 1024u)
#define NODE_SNAPSHOT_CHUNK_BYTES (4u * 1024u * 1024u)
/* Owner requests handled in one turn of the loop. */
#define NODE_REQUESTS_PER_TURN 64
/* A loop turn or a storage job longer than this is logged as a warning. */
#define NODE_STALL_WARN_MS 200

enum request_kind {
	REQ_PROPOSE = 1,
	REQ_READ,
	REQ_BOOTSTRAP,
	REQ_ADD,
	REQ_REMOVE,
	REQ_TRANSFER,
	REQ_PEERS,
	REQ_FORWARD,
	REQ_FORWARD_REPLY,
};

struct request {
	enum request_kind kind;
	uint64_t cookie;
	uint8_t *data;
	size_t len;
	raft_id id;
	char address[RAFT_ADDRESS_MAX];
	/* Bootstrap and peers only: apart, so that the request of every
	 * proposal stays small (a configuration is 4 KB). */
	struct raft_config *config;
	uint64_t request_id; /* REQ_FORWARD_REPLY */
	struct request *next;
};

struct event_item {
	struct ha_node_event ev;
	struct event_item *next;
};

struct job;
struct snapshot_task;

/* A request this node forwarded and waits an answer for (its own owner's),
 * or one the owner of this node, as leader, has yet to answer. */
struct forward_slot {
	bool used;
	uint64_t request_id;
	uint64_t cookie; /* sent: the owner's */
	raft_id peer;	 /* sent: the leader; received: the requester */
	int64_t deadline;
};

/* A committed command held back from the raft thread's state machine while
 * a worker captures it or restores it. */
struct deferred_apply {
	raft_index index;
	uint8_t *data;
	size_t len;
	struct deferred_apply *next;
};

struct ha_node {
	struct ha_node_options o;
	pthread_t thread;
	uv_loop_t loop;
	bool loop_ready;
	uv_async_t async;
	uv_timer_t tick;
	int64_t last_tick;
	uv_timer_t lease_timer; /* wakes the owner when the lease runs out */
	int64_t lease_armed_for;
	struct raft *raft;
	struct storage *storage;
	struct transport *transport;
	bool cluster_id_pinned;
	struct raft_config join_peers;
	struct raft_config peers_set; /* what the transport links to */
	int64_t departed_until[RAFT_MAX_NODE_ID + 1];

	/* owner -> node */
	pthread_mutex_t req_lock;
	struct request *req_head, *req_tail;
	size_t n_requests;
	size_t max_requests;
	bool closed;
	bool stop_asked;
	bool stop_handover;
	atomic_bool handover_asked; /* ha_node_hand_over_now(), any thread */
	unsigned stop_timeout_ms;

	/* node -> owner */
	pthread_mutex_t ev_lock;
	struct event_item *ev_head, *ev_tail;
	bool events_pending;
	_Atomic size_t event_bytes; /* queued, data and bookkeeping */
	size_t max_event_bytes;
	int64_t owner_behind_logged;
	int64_t owner_behind_since;
	uint8_t *send_buf; /* encoded messages, reused */
	size_t send_cap;

	_Atomic int64_t lease_until;
	/* The term the lease belongs to, stored before lease_until: a reader
	 * that sees a lease sees its term. */
	_Atomic uint64_t lease_term;
	pthread_mutex_t status_lock;
	struct ha_node_status status;
	struct ha_node_peer_level peer_levels[RAFT_MAX_SERVERS];
	size_t n_peer_levels;

	raft_index applied;    /* handed over to the owner */
	raft_index sm_applied; /* applied to the state machine's copy */
	uint64_t snapshot_threshold;
	uint64_t snapshot_trailing;
	uint64_t snapshots_installed;
	bool stop_reported;
	bool disk_full;
	bool stopping;
	int64_t stop_deadline;
	bool shutting_down;

	/* Storage jobs (jobs.c), run in order by a storage thread of the
	 * node's own. Persistence jobs are handed over as they come, so that
	 * the thread starts the next batch as soon as one is durable, without
	 * waiting for this loop to hear of it; a received snapshot chunk
	 * waits until nothing is in flight, and nothing follows it until it
	 * is back. */
	struct job *jobs_head, *jobs_tail; /* not handed over yet */
	size_t jobs_in_flight;		   /* handed over, not back yet */
	bool jobs_barrier;		   /* a snapshot chunk is in flight */
	bool restoring; /* the job in flight restores a received snapshot */
	bool storage_thread_started;
	bool storage_stop;
	pthread_t storage_thread;
	uv_async_t storage_done_async;
	/* Guards what follows, shared with the storage thread. */
	pthread_mutex_t storage_lock;
	pthread_cond_t storage_wake;
	struct job *todo_head, *todo_tail; /* handed over, not started */
	struct job *done_head, *done_tail; /* batches back, by next_batch */

	/* The snapshot being taken: captured, then written beside the log by
	 * a worker of its own, then installed by the storage queue. */
	struct snapshot_task *snapshot;
	uv_work_t snapshot_work;
	bool capturing;
	struct deferred_apply *deferred_head, *deferred_tail;

	/* Forwarding (node/forward.c): requests sent to the leader, counted
	 * when the owner asks so that the bound is checked on its thread, and
	 * those received as leader that its owner has yet to answer. */
	_Atomic size_t forwards_out;
	struct forward_slot sent[HA_NODE_FORWARD_MAX_IN_FLIGHT];
	struct forward_slot received[HA_NODE_FORWARD_MAX_RECEIVED];
	uint64_t next_forward_id;
	int64_t forward_timeout_ms;
};

void ha_node__log(struct ha_node *n, enum ha_node_log_level level,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool ha_node__emit(struct ha_node *n, const struct ha_node_event *ev);
/* The owner has more than max_event_bytes to take: take nothing new in. */
bool ha_node__owner_behind(const struct ha_node *n);
/* Names a thread of libuv's pool "ha-storage" (once per thread). */
void ha_node__name_worker(void);
/* Every thread of the node blocks SIGPIPE, SIGTERM and SIGINT. */
void ha_node__block_signals(void);
void ha_node__send(struct ha_node *n, const struct raft_message *m);
void ha_node__handle_update(struct ha_node *n, struct raft_update *u);
void ha_node__fail(struct ha_node *n, const char *why);
void ha_node__shutdown(struct ha_node *n);

/* forward.c: requests forwarded to the leader's owner */
void ha_node__forward_start(struct ha_node *n, struct request *rq);
void ha_node__forward_answer(struct ha_node *n, struct request *rq);
void ha_node__forward_recv(struct ha_node *n, uint32_t peer, uint8_t type,
			   const uint8_t *bytes, size_t len);
/* A link went down: what waits on that peer fails. */
void ha_node__forward_link_down(struct ha_node *n, uint32_t peer);
/* At every tick: timeouts, and what waits on a leader that no longer is. */
void ha_node__forward_tick(struct ha_node *n, int64_t now);
/* The node stops: everything still waiting fails. */
void ha_node__forward_stop(struct ha_node *n);

/* jobs.c: the storage queue */
void ha_node__jobs_persist(struct ha_node *n, const struct raft_update *u);
void ha_node__jobs_read_chunk(struct ha_node *n, const struct raft_message *m);
void ha_node__jobs_install_snapshot(struct ha_node *n, struct snapshot_task *t);
void ha_node__jobs_start_next(struct ha_node *n);
int ha_node__jobs_load_snapshot(struct ha_node *n);
void ha_node__jobs_drop_all(struct ha_node *n);

/* snapshot.c: snapshots taken by this node */
/* Applies a committed command to the state machine's copy, or holds it
 * while a worker is using that copy. False when out of memory or the state
 * machine refused it (the node then fails). */
bool ha_node__snapshot_apply(struct ha_node *n, const struct raft_entry *e);
/* Applies what was held back, once no worker uses the copy. */
void ha_node__snapshot_catch_up(struct ha_node *n);
void ha_node__snapshot_drop_deferred(struct ha_node *n);
/* Starts a snapshot when the threshold is reached and none is under way. */
void ha_node__snapshot_maybe_take(struct ha_node *n);
/* On the storage worker: rename into place, compact. */
int ha_node__snapshot_install(struct ha_node *n, struct snapshot_task *t);
/* Back on the loop: tell the core, or say why not. */
void ha_node__snapshot_installed(struct ha_node *n, struct snapshot_task *t,
				 int result, const char *errmsg);
void ha_node__snapshot_task_free(struct ha_node *n, struct snapshot_task *t);

#endif
