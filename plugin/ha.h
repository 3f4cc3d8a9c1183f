/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The plugin's state, owned by the broker thread. Only plugin/ includes
 * mosquitto headers; this one does not, so the modules that do not talk to
 * the broker stay testable without it. */
#ifndef HA_PLUGIN_H
#define HA_PLUGIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "node/node.h"
#include "plugin/access_control.h"
#include "plugin/broker_config.h"
#include "plugin/clients.h"
#include "plugin/control.h"
#include "plugin/health.h"
#include "plugin/log_queue.h"
#include "plugin/options.h"
#include "plugin/state.h"
#include "plugin/wake.h"

#define HA_LOG_PREFIX "mosquitto_ha: "
/* A command that waits for the cluster gives up after this long. */
#define HA_COMMAND_TIMEOUT_MS 10000
/* What one pass of the broker's loop takes from the raft thread's hand-off
 * at most; the rest follows on the next pass. */
#define HA_DRAIN_MAX_EVENTS 512
#define HA_DRAIN_MAX_BYTES (4u << 20)
/* ... and the time it takes at most, checked between events: a client of
 * this broker waits no longer for its own traffic. */
#define HA_DRAIN_MAX_US 4000
/* Topics of a restored snapshot applied between two checks of the time. */
#define HA_RESTORE_SLICE 32
/* Marks the proposals of captures among the node's cookies. */
#define HA_CAPTURE_COOKIE (1ull << 63)

/* cluster.json: what this node was told at createCluster / joinCluster. */
struct ha_cluster_file {
	char clustername[HA_CLUSTERNAME_MAX + 1];
	char uuid[HA_UUID_MAX + 1];
	uint16_t nodeid;
	bool created; /* this node created the cluster */
	struct ha_member nodes[HA_MAX_NODES];
	size_t n_nodes;
	/* Fixed when the cluster was created; a file without it is full. */
	enum ha_syncmode syncmode;
	/* The creator, or a joiner that saw a leader advertise the same mode
	 * (until then a joiner checks, and leaves on a different one). */
	bool syncmode_checked;
};

/* One request being answered: a slot per command, filled now or later. */
struct ha_reply_slot {
	bool done;
	char error[HA_ERROR_MAX + 1];
	json_t *data;
};

struct ha_request_ctx {
	struct ha_plugin *ha;
	struct ha_request req;
	struct ha_reply_slot *slots;
	size_t remaining;
};

enum ha_wait {
	HA_WAIT_CHANGED = 1,  /* a membership/transfer/bootstrap answer */
	HA_WAIT_CONFIG_HAS,   /* then a committed config with target */
	HA_WAIT_CONFIG_LACKS, /* then a committed config without target */
	HA_WAIT_PROPOSED,     /* a proposal's index */
	HA_WAIT_COMMITTED,    /* then that index committed */
	HA_WAIT_READ,	      /* a ReadIndex */
};

struct ha_pending {
	uint64_t cookie;
	enum ha_wait wait;
	struct ha_request_ctx *ctx;
	size_t slot;
	enum ha_command_kind kind;
	uint16_t target;
	raft_index index;
	raft_term term; /* with index: the proposal, once accepted */
	int64_t deadline;
	struct ha_pending *next;
};

enum ha_cluster_state {
	HA_STANDALONE = 0, /* never in a cluster, or left it */
	HA_MEMBER,	   /* holds cluster configuration and runs a node */
};

struct ha_plugin {
	void *identifier;
	struct ha_options opt;
	bool broker_21;
	struct ha_broker_config broker_conf; /* read from mosquitto.conf */
	struct ha_wake wake;
	int (*client_port)(const void *client); /* 2.1 only */

	enum ha_cluster_state state;
	struct ha_cluster_file cluster;
	struct ha_node *node;
	bool deleted; /* a committed deleteCluster: leave */
	int64_t deleted_at;
	bool was_member; /* a committed configuration included this node */
	bool removed;	 /* and a later one does not */
	raft_index applied;
	raft_term applied_term; /* of the latest committed entry applied */
	enum raft_role role;
	raft_id leader;
	char errmsg[HA_ERRMSG_MAX + 1];

	bool was_serving;
	bool cutoff; /* as last logged (ha_cluster_cutoff) */
	/* The current serving window (cluster.c): the first and the last
	 * moment ha_serving() said yes with no no between, CLOCK_MONOTONIC in
	 * microseconds, which every process of the machine reads alike. */
	bool window_open;
	int64_t window_first_us;
	int64_t window_last_us;
	uint64_t window_yes;
	uint64_t windows;
	/* What the health endpoint's thread reads: this broker thread swaps
	 * the node under the lock. */
	pthread_mutex_t serve_lock;
	struct ha_node *serve_node;
	raft_term serve_applied_term;
	bool serve_standalone;
	bool serve_dynsec;
	struct ha_health *health;
	struct ha_client_set clients; /* connected non-administrators */
	/* Lines of the raft thread and the transport, for the broker's log. */
	struct ha_log_queue log_queue;
	int64_t refusal_log_at;
	unsigned refusals_unlogged;

	/* Recent hand-off latencies (raft thread -> broker thread), us. */
	uint32_t handoff[512];
	uint64_t handoff_count;
	int64_t drain_max_us; /* the longest pass over the hand-off */

	struct ha_pending *pending;
	uint64_t next_cookie;

	/* Replicated broker state, broker side (plugin/retained.c). */
	uint64_t incarnation;		 /* random; new at each step-down */
	struct ha_state *broker_view;	 /* the committed state, as applied */
	struct ha_retained_store *dirty; /* captured, not yet committed */
	struct ha_state *restore_old;	 /* what a restore is replacing */
	struct ha_restore_job *restore_job; /* a snapshot being decoded */
	int restore_phase;		    /* 0 none, 1 deletes, 2 sets */
	size_t restore_cursor;
	bool capture_registered; /* the MESSAGE callback that captures */
	uint64_t uncommitted_bytes;
	uint64_t capture_seq;
	uint64_t captures_pending; /* proposed, no answer from the node yet */
	raft_index last_captured_index;
	uint64_t captures_lost;
	uint64_t capture_refusals;
	int64_t capture_refusal_log_at;
	int64_t unreplicated_log_at; /* retained kept local: level too low */
	bool strays_pending; /* topics changed while not serving: revert */
	struct ha_persist *persist; /* 2.1's persistence events (persist.c) */
	bool persist_tried;

	/* Raising the committed feature level (cluster.c). */
	int64_t leader_since_ms;
	int64_t level_check_at;
	uint32_t level_proposed;
	int64_t level_proposed_at;
	int64_t level_low_log_at;
	struct {
		raft_id id;
		int64_t ms;
	} level_seen[HA_MAX_NODES]; /* when each voter's link was last up */
	size_t n_level_seen;

	/* plugin_opt_access_control dynsec (access_control.c); NULL: off. */
	struct ha_access_control *ac;
	bool ac_control_registered;
};

/* broker_log.c: logging and control replies (broker thread only). */
void ha_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ha_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ha_log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ha_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ha_publish_reply(struct ha_plugin *ha, const char *payload, size_t len);
/* Writes what other threads queued for the broker's log. */
void ha_log_flush(struct ha_plugin *ha);

struct ha_plugin;
void ha_kick_clients(struct ha_plugin *ha);

/* cluster.c */
int ha_cluster_load(struct ha_plugin *ha);
int ha_cluster_save(struct ha_plugin *ha, const struct ha_cluster_file *cf);
/* resume: at broker start, from cluster.json (not a new create/join). */
int ha_cluster_start_node(struct ha_plugin *ha, bool resume);
void ha_cluster_leave(struct ha_plugin *ha, const char *why);
void ha_cluster_drain(struct ha_plugin *ha);
/* Frees the raft thread's copy of the state, once no node runs. */
void ha_cluster_free_state(void);
/* Whether this broker serves ordinary clients now; every answer is stamped
 * into the serving windows that the log reports. Broker thread only. */
bool ha_serving(struct ha_plugin *ha);
/* Logs the open serving window as closed (the broker stops serving). */
void ha_serving_close(struct ha_plugin *ha);
bool ha_serving_any_thread(void *ha);
/* ha_admits_clients for the health endpoint's thread. */
bool ha_admits_any_thread(void *ha);
/* Whether this broker admits ordinary clients now: in dynsec mode every
 * member does (cut off from the majority too), otherwise the serving
 * leader (ha_serving) or a standalone broker. Broker thread only. */
bool ha_admits_clients(struct ha_plugin *ha);
/* A member in dynsec mode: retained messages and sessions stay local. */
bool ha_cluster_dynsec(const struct ha_plugin *ha);
/* Whether this member hears from no majority (docs/api.md, "cutoff"). */
bool ha_cluster_cutoff(struct ha_plugin *ha);
void ha_cluster_publish_node(struct ha_plugin *ha);

/* The leader raises the committed feature level when every voter
 * advertises a higher one (feature_level.h); called at every TICK, it
 * looks a few times a second. */
void ha_cluster_level_tick(struct ha_plugin *ha);
int ha_cluster_raft_config(const struct ha_cluster_file *cf,
			   const uint8_t *cluster_id, struct raft_config *out);
int ha_member_address(const struct ha_member *m, char *out, size_t len);
/* This node's own entry in its cluster list, or NULL. */
const struct ha_member *ha_cluster_own_member(const struct ha_cluster_file *cf);

/* retained.c: retained messages between the broker and the log. */
struct mosquitto;
uint64_t ha_new_incarnation(void);
int ha_retained_reset(struct ha_plugin *ha);
void ha_retained_free(struct ha_plugin *ha);
void ha_state_committed(struct ha_plugin *ha, raft_index index,
			const uint8_t *data, size_t len);
/* Takes data (malloc()ed): it is decoded on a thread of its own. */
void ha_state_restored(struct ha_plugin *ha, raft_index index, uint8_t *data,
		       size_t len);
/* True while a received snapshot is being decoded (committed events wait);
 * installs it once decoded. */
bool ha_state_restore_decoding(struct ha_plugin *ha);
/* Stops waiting for a decode (joins it, drops its result). */
void ha_state_restore_cancel(struct ha_plugin *ha);
/* Goes on applying a restored snapshot to the broker, at most budget
 * topics; true once none is left to apply. */
bool ha_state_restore_step(struct ha_plugin *ha, size_t budget);
void ha_retained_stepped_down(struct ha_plugin *ha);
/* properties: the publish's mosquitto_property list. Returns
 * MOSQ_ERR_SUCCESS, or what refuses the publish. */
int ha_retained_capture(struct ha_plugin *ha, struct mosquitto *client,
			const char *topic, const void *payload,
			uint32_t payloadlen, uint8_t qos,
			const void *properties);
void ha_retained_proposed(struct ha_plugin *ha, const struct ha_node_event *ev);
/* 2.1: what the broker stored (PERSIST_RETAIN_MSG_SET, or with no payload
 * _DELETE), captured on the serving leader; changed on a node that does
 * not serve, put back at the next TICK (ha_retained_strays). known: false
 * when the base message was never announced to this plugin. */
void ha_retained_stored(struct ha_plugin *ha, const char *topic,
			const void *payload, uint32_t payloadlen, uint8_t qos,
			const void *properties, uint64_t expiry_ms,
			const char *client_id, bool known);
void ha_retained_strays(struct ha_plugin *ha);
/* Whether the committed feature level has retained messages; if not, the
 * leader's broker keeps them alone (said in the log, rate-limited). */
bool ha_retained_replicable(struct ha_plugin *ha);

/* persist.c: 2.1's persistence interface. Start registers for its events
 * (once a member; the broker then refuses `persistence true`, which members
 * refuse anyway) and gives the broker this node's id; 0, or -1 when the
 * broker lacks it (2.0) or it failed (logged): capture stays at publish. */
struct mqtt5__property;
int ha_persist_start(struct ha_plugin *ha);
void ha_persist_stop(struct ha_plugin *ha);
bool ha_persist_capturing(const struct ha_plugin *ha);
/* Sets a retained message with its absolute expiry (0: none); takes
 * properties. Returns a MOSQ_ERR_ value. */
int ha_persist_retain_set(struct ha_plugin *ha, const char *topic,
			  const void *payload, uint32_t payloadlen, uint8_t qos,
			  struct mqtt5__property *properties,
			  uint64_t expiry_ms);
int ha_persist_retain_delete(struct ha_plugin *ha, const char *topic);

/* exec.c */
void ha_control_handle(struct ha_plugin *ha, const char *payload, size_t len);
void ha_pending_event(struct ha_plugin *ha, const struct ha_node_event *ev);
void ha_pending_config(struct ha_plugin *ha, const struct raft_config *c);
void ha_pending_expire(struct ha_plugin *ha, int64_t now);
void ha_pending_fail_all(struct ha_plugin *ha, const char *error);

#endif
