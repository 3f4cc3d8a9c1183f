/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The cluster control API, without the broker: requests on HA_CONTROL_TOPIC
 * are parsed and strictly validated into typed commands (struct ha_command),
 * and replies for HA_CONTROL_RESPONSE_TOPIC are built from per-command
 * results. The envelope is the one of Mosquitto's dynamic-security plugin:
 *
 *   {"commands":[{"command":"getCluster","correlationData":"42"}]}
 *   {"responses":[{"command":"getCluster","data":{...},"correlationData":"42"}]}
 *
 * Nothing here touches broker state: the plugin executes the typed commands
 * and never looks at the request's JSON. docs/api.md describes every command,
 * reply shape and error sentence.
 */
#ifndef HA_CONTROL_H
#define HA_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define HA_CONTROL_TOPIC "$CONTROL/cedalo/ha/v1"
#define HA_CONTROL_RESPONSE_TOPIC "$CONTROL/cedalo/ha/v1/response"

/* Limits of one request. A larger request is refused as a whole. */
#define HA_CONTROL_MAX_PAYLOAD (256u * 1024u) /* bytes */
#define HA_CONTROL_MAX_COMMANDS 64u

/* Limits of the fields; the lengths exclude the terminating NUL. */
#define HA_MAX_NODES 16u /* members of one cluster (RAFT_MAX_SERVERS) */
#define HA_MIN_NODES 3u	 /* createCluster and joinCluster */
#define HA_NODEID_MIN 1u
#define HA_NODEID_MAX 1023u
#define HA_ADDRESS_MAX 255u
#define HA_CLUSTERNAME_MAX 64u
#define HA_COMMAND_NAME_MAX 63u
#define HA_CORRELATION_MAX 255u
#define HA_ERROR_MAX 383u
#define HA_UUID_MAX 36u
#define HA_ERRMSG_MAX 255u

/* Envelope error sentences, as Mosquitto's control helpers spell them. */
#define HA_ERR_NOT_JSON "Payload not valid JSON"
#define HA_ERR_BAD_COMMANDS "Invalid/missing commands"
#define HA_ERR_MISSING_COMMAND "Missing command"
#define HA_ERR_NOT_OBJECT "Command not an object"
#define HA_ERR_CORRELATION_TYPE "Invalid correlationData data type."
#define HA_ERR_UNKNOWN_COMMAND "Unknown command"
/* Ours, for requests beyond the limits above. */
#define HA_ERR_TOO_LARGE "Payload too large (at most 262144 bytes)."
#define HA_ERR_TOO_MANY "Too many commands (at most 64 in one request)."
#define HA_ERR_CORRELATION_LONG "correlationData too long (at most 255 bytes)."

/*
 * Sentences for errors found while executing a valid command. The first two
 * are the documented ones of the reference; the plugin uses these constants
 * so that tooling sees the same words from every node. Every HA_ERR_* here is
 * sent by some path of the plugin and listed in docs/api.md (the docs-checks
 * suite compares the two both ways).
 */
#define HA_ERR_NOT_LEADER "This broker is not the cluster leader."
#define HA_ERR_ALREADY_MEMBER "This broker is already part of a cluster."
#define HA_ERR_BROKER_SETTING                                                  \
	"This broker has persistence true or retain_available false; a "       \
	"cluster member cannot."
#define HA_ERR_NOT_MEMBER "This broker is not part of a cluster."
#define HA_ERR_WRONG_CLUSTER "The clustername does not match this cluster."
#define HA_ERR_NODE_UNKNOWN "No node in the cluster matches these details."
#define HA_ERR_NODE_EXISTS                                                     \
	"A node with this nodeid or address and port is already in the "       \
	"cluster."
#define HA_ERR_TOO_FEW "Fewer than 3 nodes would remain in the cluster."
#define HA_ERR_CLUSTER_FULL "The cluster already has the maximum of 16 nodes."
#define HA_ERR_CHANGE_PENDING                                                  \
	"Another membership change is in progress; try again when it has "     \
	"finished."
#define HA_ERR_NOT_VOTER                                                       \
	"The named node is not a voting member that can take over leadership."
#define HA_ERR_ADDRESS_LONG                                                    \
	"An address with its port is longer than the cluster's limit of 255 "  \
	"characters."
#define HA_ERR_TIMEOUT "The cluster did not complete the command in time."
#define HA_ERR_INTERNAL "Internal error; see the broker log."

/* The "command" value of responses that have no usable command name. */
#define HA_UNKNOWN_COMMAND_NAME "Unknown command"

enum ha_command_kind {
	HA_CMD_INVALID = 0, /* refused by the parser: see error */
	HA_CMD_CREATE_CLUSTER,
	HA_CMD_JOIN_CLUSTER,
	HA_CMD_ADD_NODE,
	HA_CMD_REMOVE_NODE,
	HA_CMD_LEAVE_CLUSTER,
	HA_CMD_DELETE_CLUSTER,
	HA_CMD_GET_CLUSTER,
	HA_CMD_GET_RAFT_STATUS,
	HA_CMD_IS_LEADER,
	HA_CMD_SET_LEADER,
};

enum ha_syncmode {
	HA_SYNCMODE_FULL = 0, /* active-passive: all MQTT state is replicated */
	HA_SYNCMODE_DYNSEC,   /* active-active: access control data only */
};
const char *ha_syncmode_name(enum ha_syncmode mode);

/* One member of a cluster as the API names it. */
struct ha_member {
	char address[HA_ADDRESS_MAX + 1]; /* IPv4/IPv6 literal or host name */
	uint16_t port;			  /* 1..65535 */
	uint16_t nodeid;		  /* HA_NODEID_MIN..HA_NODEID_MAX */
	bool mynode;			  /* the entry of the receiving node */
};

/*
 * One parsed command. When kind is HA_CMD_INVALID, error holds the sentence
 * to reply with and no other field but name and correlation is meaningful.
 * Which fields a valid command fills:
 *   createCluster, joinCluster  clustername, nodes[0..n_nodes), syncmode
 *                               (optional in the request: full)
 *   addNode, removeNode,        clustername, node (mynode false)
 *   leaveCluster
 *   deleteCluster               clustername
 *   setLeader                   clustername, node.nodeid
 *   getCluster, getRaftStatus,  nothing
 *   isLeader
 */
struct ha_command {
	enum ha_command_kind kind;
	/* Echoed in the reply: the name as the client spelled it. */
	char name[HA_COMMAND_NAME_MAX + 1];
	bool has_correlation;
	char correlation[HA_CORRELATION_MAX + 1];
	char error[HA_ERROR_MAX + 1]; /* empty unless kind is HA_CMD_INVALID */
	char clustername[HA_CLUSTERNAME_MAX + 1];
	struct ha_member nodes[HA_MAX_NODES];
	size_t n_nodes;
	enum ha_syncmode syncmode;
	struct ha_member node;
};

/* A parsed request: one command per entry of "commands", in order, or a
 * single HA_CMD_INVALID command when the envelope itself is refused. */
struct ha_request {
	struct ha_command *commands;
	size_t n_commands;
};

/*
 * Parses and validates one request payload (not necessarily NUL-terminated).
 * Every refusal becomes an HA_CMD_INVALID command, so the caller always has
 * something to reply to. Returns 0, or -1 when memory ran out (then *out is
 * empty). Free with ha_request_free.
 */
int ha_request_parse(const char *payload, size_t len, struct ha_request *out);
void ha_request_free(struct ha_request *req);

/* The canonical spelling of a command kind ("createCluster", ...). */
const char *ha_command_kind_name(enum ha_command_kind kind);

/* Whether s is an IPv4 literal, an IPv6 literal (no brackets, no zone) or an
 * RFC 1123 host name, at most HA_ADDRESS_MAX characters. */
bool ha_address_valid(const char *s);
/* Whether two valid addresses name the same endpoint: IP literals compare
 * by value ("::1" equals "0::1"), host names without regard to case. */
bool ha_address_same(const char *a, const char *b);

/*
 * Replies. A reply is the object {"responses":[...]}; add one response per
 * command, in the order of the request, then dump it.
 */
json_t *ha_reply_new(void);
/* Adds {"command", "error", "correlationData"}. Returns 0 or -1 (memory). */
int ha_reply_add_error(json_t *reply, const struct ha_command *cmd,
		       const char *error);
/* Adds {"command", "data", "correlationData"}; data may be NULL for commands
 * that return none. Takes the reference to data, even on failure. Returns 0
 * or -1 (memory). */
int ha_reply_add_result(json_t *reply, const struct ha_command *cmd,
			json_t *data);
/* The reply as compact JSON, NUL-terminated; *len (if not NULL) gets its
 * length. NULL when memory ran out. Free with ha_reply_dump_free. */
char *ha_reply_dump(const json_t *reply, size_t *len);
void ha_reply_dump_free(char *dump);

/* The "version" of getCluster: the format of the cluster configuration. */
#define HA_CLUSTER_CONFIG_VERSION 1

/* What getCluster reports; the plugin fills it from the committed
 * configuration. */
struct ha_cluster_view {
	char clustername[HA_CLUSTERNAME_MAX + 1];
	char uuid[HA_UUID_MAX + 1];
	struct ha_member nodes[HA_MAX_NODES]; /* mynode is not reported */
	size_t n_nodes;
	enum ha_syncmode syncmode;
	uint16_t leader; /* nodeid of the leader, 0 (null) when none is known */
	uint64_t log_index; /* index the configuration was read at */
};

/* What isLeader reports. */
struct ha_leader_view {
	bool leader;		/* this node is the leader */
	uint16_t nodeid;	/* this node's id, 0 (null) outside a cluster */
	uint16_t leader_nodeid; /* the leader it knows of, 0 (null) for none */
};

/* getRaftStatus: role of a member, state of this node (published values). */
enum ha_raft_role {
	HA_ROLE_STANDBY = 0, /* non-voting */
	HA_ROLE_VOTER = 1,
	HA_ROLE_SPARE = 2,
};
enum ha_raft_state {
	HA_STATE_UNAVAILABLE = 0,
	HA_STATE_FOLLOWER = 1,
	HA_STATE_CANDIDATE = 2,
	HA_STATE_LEADER = 3,
};

struct ha_raft_status_node {
	struct ha_member node;
	enum ha_raft_role role;
};

/* What getRaftStatus reports about this node. */
struct ha_raft_status {
	struct ha_raft_status_node nodes[HA_MAX_NODES];
	size_t n_nodes;
	uint64_t commit_index;
	uint64_t last_applied;
	uint64_t last_stored;
	uint64_t current_term;
	enum ha_raft_state state;
	char errmsg[HA_ERRMSG_MAX + 1]; /* empty when there is no error */
	/* Counts of the replicated broker state. */
	uint64_t base_msg;
	uint64_t client;
	uint64_t client_msg;
	uint64_t retain_msg;
	uint64_t subscription;
	enum ha_syncmode syncmode;
	/* Ours: this node hears from no majority (it knows no leader, or it
	 * leads without a lease). */
	bool cutoff;
	/* Ours: how long work handed from the raft thread waited for the
	 * broker thread (recent samples), in microseconds. */
	uint64_t handoff_samples;
	uint64_t handoff_median_us;
	uint64_t handoff_max_us;
	/* Ours: the log index of the latest retained publish this node
	 * captured, how many captures still wait for their index, and how
	 * many the log did not take after they were acknowledged. */
	uint64_t last_captured_index;
	uint64_t captures_pending;
	uint64_t captures_lost;
	/* Ours: the longest pass of the broker thread over the hand-off. */
	uint64_t drain_max_us;
	/* Ours: bytes of committed work waiting for the broker thread, and
	 * this node's snapshot (the index it covers, how many were received
	 * from a leader since the broker started). */
	uint64_t handoff_queue_bytes;
	uint64_t snapshot_index;
	uint64_t snapshots_installed;
	/* Ours: the cluster's committed feature level, and the highest this
	 * node advertises. */
	uint64_t feature_level;
	uint64_t feature_level_advertised;
};

/* The data objects of the three commands that return data. NULL when memory
 * ran out or the view breaks its own limits (more than HA_MAX_NODES nodes, a
 * value outside its enum). Text that is not valid UTF-8 is reported with
 * each invalid byte replaced by '?'. */
json_t *ha_data_cluster(const struct ha_cluster_view *view);
json_t *ha_data_leader(const struct ha_leader_view *view);
json_t *ha_data_raft_status(const struct ha_raft_status *status);

#endif
