/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Cluster membership of this broker: the cluster file in the data folder,
 * the running node, and what the broker thread does with the node's events.
 * No broker function is called here but through plugin.c's helpers. */
#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/dynsec/dynsec.h"
#include "plugin/feature_level.h"
#include "plugin/forward.h"
#include "plugin/ha.h"
#include "plugin/shutdown.h"
#include "plugin/state_snapshot.h"

#define CLUSTER_FILE "cluster.json"
#define RAFT_DIR "raft"

static void path_join(char *out, size_t len, const char *dir, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

/* ---- the replicated state machine, the raft thread's copy ----
 * struct ha_state (plugin/state.h) holds it; these wrap it for the node.
 * The broker thread keeps a copy of its own (ha->broker_view), applied from
 * the same committed records. */

struct sm_context {
	struct ha_plugin *ha;
	struct ha_state *state;
};

static struct sm_context sm_raft_copy; /* used by the raft thread only */

void ha_cluster_free_state(void)
{
	ha_state_free(sm_raft_copy.state);
	sm_raft_copy.state = NULL;
}

static int sm_apply(void *data, raft_index index, const uint8_t *cmd,
		    size_t len)
{
	struct sm_context *c = data;
	char why[256];
	int rv = ha_state_apply(c->state, index, cmd, len, why, sizeof(why));
	if (rv != HA_APPLY_OK)
		ha_log_queue_push(&c->ha->log_queue, HA_NODE_LOG_ERROR, why);
	return rv;
}

static void *sm_capture(void *data)
{
	struct sm_context *c = data;
	return ha_state_capture(c->state);
}

static int sm_serialize(void *frozen, uint8_t **buf, size_t *len)
{
	return ha_state_serialize(frozen, buf, len);
}

static void sm_release(void *frozen)
{
	ha_state_release(frozen);
}

static int sm_restore(void *data, const uint8_t *buf, size_t len)
{
	struct sm_context *c = data;
	char why[256];
	int rv = ha_state_restore_into(c->state, buf, len, why, sizeof(why));
	if (rv != HA_SNAP_OK)
		ha_log_queue_push(&c->ha->log_queue, HA_NODE_LOG_ERROR, why);
	return rv;
}

/* ---- cluster.json ---- */

int ha_member_address(const struct ha_member *m, char *out, size_t len)
{
	int n = strchr(m->address, ':') != NULL
		    ? snprintf(out, len, "[%s]:%u", m->address, m->port)
		    : snprintf(out, len, "%s:%u", m->address, m->port);
	return n > 0 && (size_t)n < len && (size_t)n < RAFT_ADDRESS_MAX ? 0
									: -1;
}

int ha_cluster_raft_config(const struct ha_cluster_file *cf,
			   const uint8_t *cluster_id, struct raft_config *out)
{
	memset(out, 0, sizeof(*out));
	if (cluster_id != NULL)
		memcpy(out->cluster_id, cluster_id, RAFT_CLUSTER_ID_LEN);
	for (size_t i = 0; i < cf->n_nodes && i < RAFT_MAX_SERVERS; i++) {
		struct raft_server *s = &out->servers[out->n++];
		s->id = cf->nodes[i].nodeid;
		s->role = RAFT_VOTER;
		if (ha_member_address(&cf->nodes[i], s->address,
				      sizeof(s->address)) != 0)
			return -1;
	}
	return 0;
}

int ha_cluster_save(struct ha_plugin *ha, const struct ha_cluster_file *cf)
{
	json_t *nodes = json_array();
	json_t *root =
	    json_pack("{s:s, s:s, s:i, s:b, s:o, s:s, s:b}", "clustername",
		      cf->clustername, "uuid", cf->uuid, "nodeid",
		      (int)cf->nodeid, "created", cf->created, "nodes", nodes,
		      "syncmode", ha_syncmode_name(cf->syncmode),
		      "syncmode_checked", cf->syncmode_checked);
	if (root == NULL)
		return -1;
	for (size_t i = 0; i < cf->n_nodes; i++) {
		json_t *n = json_pack(
		    "{s:s, s:i, s:i}", "address", cf->nodes[i].address, "port",
		    (int)cf->nodes[i].port, "nodeid", (int)cf->nodes[i].nodeid);
		if (n == NULL || json_array_append_new(nodes, n) != 0) {
			json_decref(root);
			return -1;
		}
	}
	char *text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (text == NULL)
		return -1;
	char path[512], tmp[520];
	path_join(path, sizeof(path), ha->opt.data_dir, CLUSTER_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/* Written whole or not at all: temporary file, fsync, rename, fsync
	 * the folder. */
	int rv = -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		size_t len = strlen(text);
		if (write(fd, text, len) == (ssize_t)len && fsync(fd) == 0)
			rv = 0;
		if (close(fd) != 0)
			rv = -1;
	}
	free(text);
	if (rv == 0 && rename(tmp, path) != 0)
		rv = -1;
	if (rv == 0) {
		int dfd = open(ha->opt.data_dir, O_RDONLY | O_DIRECTORY);
		if (dfd < 0 || fsync(dfd) != 0)
			rv = -1;
		if (dfd >= 0)
			close(dfd);
	}
	if (rv != 0) {
		ha_log_error("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	return rv;
}

/* The optional fields: a file written before sync modes is a full
 * cluster's, checked. */
static int load_syncmode(const json_t *root, struct ha_cluster_file *cf)
{
	const json_t *mode = json_object_get(root, "syncmode");
	const json_t *checked = json_object_get(root, "syncmode_checked");
	cf->syncmode = HA_SYNCMODE_FULL;
	cf->syncmode_checked = true;
	if (mode != NULL) {
		const char *m = json_string_value(mode);
		if (m != NULL && strcmp(m, "dynsec") == 0)
			cf->syncmode = HA_SYNCMODE_DYNSEC;
		else if (m == NULL || strcmp(m, "full") != 0)
			return -1;
	}
	if (checked != NULL) {
		if (!json_is_boolean(checked))
			return -1;
		cf->syncmode_checked = json_is_true(checked);
	}
	return 0;
}

/* Reads cluster.json if there is one: then this broker is a member. */
int ha_cluster_load(struct ha_plugin *ha)
{
	char path[512];
	path_join(path, sizeof(path), ha->opt.data_dir, CLUSTER_FILE);
	if (access(path, F_OK) != 0)
		return 0;
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	if (root == NULL) {
		ha_log_error(
		    "%s is damaged (%s, line %d); remove it to leave the "
		    "cluster",
		    path, jerr.text, jerr.line);
		return -1;
	}
	struct ha_cluster_file cf;
	memset(&cf, 0, sizeof(cf));
	const char *name = NULL, *uuid = NULL;
	int nodeid = 0, created = 0;
	json_t *nodes = NULL;
	int bad = json_unpack(root, "{s:s, s:s, s:i, s:b, s:o}", "clustername",
			      &name, "uuid", &uuid, "nodeid", &nodeid,
			      "created", &created, "nodes", &nodes) != 0 ||
		  strlen(name) > HA_CLUSTERNAME_MAX ||
		  strlen(uuid) > HA_UUID_MAX || nodeid < 1 ||
		  nodeid > (int)HA_NODEID_MAX || !json_is_array(nodes) ||
		  json_array_size(nodes) > HA_MAX_NODES ||
		  load_syncmode(root, &cf) != 0;
	if (!bad) {
		snprintf(cf.clustername, sizeof(cf.clustername), "%s", name);
		snprintf(cf.uuid, sizeof(cf.uuid), "%s", uuid);
		cf.nodeid = (uint16_t)nodeid;
		cf.created = created != 0;
		size_t i;
		json_t *n;
		json_array_foreach(nodes, i, n)
		{
			const char *addr = NULL;
			int port = 0, id = 0;
			if (json_unpack(n, "{s:s, s:i, s:i}", "address", &addr,
					"port", &port, "nodeid", &id) != 0 ||
			    !ha_address_valid(addr) || port < 1 ||
			    port > 65535 || id < 1 || id > (int)HA_NODEID_MAX) {
				bad = 1;
				break;
			}
			struct ha_member *m = &cf.nodes[cf.n_nodes++];
			snprintf(m->address, sizeof(m->address), "%s", addr);
			m->port = (uint16_t)port;
			m->nodeid = (uint16_t)id;
			m->mynode = id == nodeid;
		}
	}
	json_decref(root);
	if (bad) {
		ha_log_error(
		    "%s does not describe a cluster; remove it to leave "
		    "the cluster",
		    path);
		return -1;
	}
	ha->cluster = cf;
	ha->state = HA_MEMBER;
	return 1;
}

/* ---- the node ---- */

static void wake_broker(void *data)
{
	struct ha_plugin *ha = data;
	/* TICK runs now instead of within 100 ms. */
	ha_wake_broker(&ha->wake);
}

static void node_log_cb(void *data, enum ha_node_log_level level,
			const char *msg)
{
	struct ha_plugin *ha = data;
	/* The raft thread must not call broker functions, mosquitto_log_printf
	 * included: the broker thread writes the line at its next TICK. */
	ha_log_queue_push(&ha->log_queue, (int)level, msg);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into 16 bytes. */
static int uuid_parse_bytes(const char *text, uint8_t *out)
{
	size_t k = 0;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '-')
			continue;
		int hi = hex_digit(p[0]), lo = p[1] ? hex_digit(p[1]) : -1;
		if (hi < 0 || lo < 0 || k == RAFT_CLUSTER_ID_LEN)
			return -1;
		out[k++] = (uint8_t)(hi << 4 | lo);
		p++;
	}
	return k == RAFT_CLUSTER_ID_LEN ? 0 : -1;
}

const struct ha_member *ha_cluster_own_member(const struct ha_cluster_file *cf)
{
	for (size_t i = 0; i < cf->n_nodes; i++)
		if (cf->nodes[i].nodeid == cf->nodeid)
			return &cf->nodes[i];
	return NULL;
}

int ha_cluster_start_node(struct ha_plugin *ha, bool resume)
{
	const struct ha_member *me = ha_cluster_own_member(&ha->cluster);
	char advertise[RAFT_ADDRESS_MAX];
	if (me == NULL ||
	    ha_member_address(me, advertise, sizeof(advertise)) != 0) {
		ha_log_error("this node (%u) is not in its own cluster list",
			     ha->cluster.nodeid);
		return -1;
	}
	char raft_dir[512];
	path_join(raft_dir, sizeof(raft_dir), ha->opt.data_dir, RAFT_DIR);
	/* Both copies start empty: the node fills them from the snapshot
	 * and the log. */
	ha_state_free(sm_raft_copy.state);
	sm_raft_copy.ha = ha;
	sm_raft_copy.state = ha_state_new(ha->incarnation);
	if (sm_raft_copy.state != NULL)
		sm_raft_copy.state->access_control->v21 = ha->broker_21;
	if (sm_raft_copy.state == NULL || ha_retained_reset(ha) != 0) {
		ha_log_error("out of memory starting the cluster node");
		snprintf(ha->errmsg, sizeof(ha->errmsg),
			 "node did not start: out of memory");
		return -1;
	}
	struct ha_node_options o = {
	    .id = ha->cluster.nodeid,
	    .data_dir = raft_dir,
	    .cluster_name = ha->cluster.clustername,
	    .advertise_address = advertise,
	    .bind_address = ha->opt.cluster_bind,
	    .secret = ha->opt.secret,
	    .secret_len = ha->opt.secret_len,
	    .tls_ca_file = ha->opt.tls_cafile,
	    .tls_cert_file = ha->opt.tls_certfile,
	    .tls_key_file = ha->opt.tls_keyfile,
	    .insecure_plaintext = ha->opt.insecure_plaintext,
	    .election_timeout = ha->opt.election_timeout_ms,
	    .heartbeat_interval = ha->opt.heartbeat_interval_ms,
	    .max_clock_drift_ppm = ha->opt.max_clock_drift_ppm,
	    .snapshot_threshold = ha->opt.snapshot_interval,
	    .advertised_level = ha->opt.feature_level,
	    .advertised_mode = (uint8_t)ha->cluster.syncmode,
	    .max_event_bytes = (size_t)ha->opt.backlog_limit_bytes,
	    .sm = {.data = &sm_raft_copy,
		   .apply = sm_apply,
		   .capture = sm_capture,
		   .serialize = sm_serialize,
		   .release = sm_release,
		   .restore = sm_restore},
	    .wake = wake_broker,
	    .log = node_log_cb,
	    .data = ha,
	};
	ha->applied = 0;
	ha->applied_term = 0;
	ha->deleted = false;
	ha->removed = false;
	ha->was_member = false;
	ha->role = RAFT_FOLLOWER;
	ha->leader = 0;
	ha->errmsg[0] = '\0';
	int rv = ha_node_start(&o, &ha->node);
	if (rv != HA_NODE_OK) {
		ha_log_error(
		    "cannot start the cluster node (data in %s, cluster "
		    "port %s): %s",
		    raft_dir, advertise, ha_node_strerror(rv));
		snprintf(ha->errmsg, sizeof(ha->errmsg),
			 "node did not start: %s", ha_node_strerror(rv));
		ha->node = NULL;
		return -1;
	}
	/* Whom to dial until the log tells the membership: a node that joined
	 * (or crashed before the first configuration reached its disk). */
	struct raft_config peers;
	if (ha_cluster_raft_config(&ha->cluster, NULL, &peers) == 0)
		ha_node_set_peers(ha->node, &peers);
	/* The creator restarted before its first configuration was durable:
	 * write it again, with the same cluster id. */
	struct ha_node_status st;
	ha_node_get_status(ha->node, &st);
	uint8_t id[RAFT_CLUSTER_ID_LEN];
	if (resume && ha->cluster.created && !st.has_config &&
	    uuid_parse_bytes(ha->cluster.uuid, id) == 0 &&
	    ha_cluster_raft_config(&ha->cluster, id, &peers) == 0)
		ha_node_bootstrap(ha->node, &peers, 0);
	ha_cluster_publish_node(ha);
	ha_log_info("node %u of cluster '%s' started, cluster port %s",
		    ha->cluster.nodeid, ha->cluster.clustername, advertise);
	return 0;
}

static int remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	struct dirent *e;
	int rv = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char child[1024];
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		if (remove_tree(child) != 0)
			rv = -1;
	}
	closedir(d);
	if (rmdir(path) != 0)
		rv = -1;
	return rv;
}

/* Back to standalone: stop the node, forget the cluster. The cluster file
 * goes first, so a crash in between leaves a standalone broker with a
 * stale log folder rather than a member without a log. */
void ha_cluster_leave(struct ha_plugin *ha, const char *why)
{
	ha_pending_fail_all(ha, HA_ERR_NOT_MEMBER);
	ha_forward_fail_all(ha);
	ha_ac_left(ha);
	if (ha->node != NULL) {
		struct ha_node *node = ha->node;
		ha->node = NULL;
		ha_cluster_publish_node(ha); /* before the node goes away */
		ha_node_stop(node, false, 0);
	}
	char path[512];
	path_join(path, sizeof(path), ha->opt.data_dir, CLUSTER_FILE);
	if (unlink(path) != 0 && errno != ENOENT)
		ha_log_error("cannot remove %s: %s", path, strerror(errno));
	path_join(path, sizeof(path), ha->opt.data_dir, RAFT_DIR);
	if (remove_tree(path) != 0)
		ha_log_error("cannot remove %s completely", path);
	ha_log_info("left cluster '%s' (%s); the broker is standalone",
		    ha->cluster.clustername, why);
	memset(&ha->cluster, 0, sizeof(ha->cluster));
	ha->state = HA_STANDALONE;
	ha->deleted = false;
	ha->deleted_at = 0;
	ha->removed = false;
	ha->was_member = false;
	ha_cluster_publish_node(ha);
}

void ha_cluster_publish_node(struct ha_plugin *ha)
{
	ha_shutdown_signals_node(ha->node);
	pthread_mutex_lock(&ha->serve_lock);
	ha->serve_node = ha->node;
	ha->serve_applied_term = ha->applied_term;
	ha->serve_standalone = ha->state == HA_STANDALONE;
	ha->serve_dynsec = ha_cluster_dynsec(ha);
	pthread_mutex_unlock(&ha->serve_lock);
}

/* Whether a node holding this lease may serve: the lease is valid now and
 * belongs to the term whose entries the broker has reached. A new leader's
 * first entry is its term's no-op, and committed entries reach the broker
 * in order: once one of its own term is applied, everything committed
 * before it is too, so clients never see older state. */
static bool lease_serves(const struct ha_node *node, raft_term applied_term,
			 int64_t now_us)
{
	/* The lease is in milliseconds: now_us < lease * 1000 is the same
	 * test as on milliseconds. */
	if (now_us >= ha_node_lease_until(node) * 1000)
		return false;
	return ha_node_lease_term(node) == applied_term;
}

bool ha_serving_any_thread(void *data)
{
	struct ha_plugin *ha = data;
	pthread_mutex_lock(&ha->serve_lock);
	bool serving = ha->serve_standalone ||
		       (ha->serve_node != NULL &&
			lease_serves(ha->serve_node, ha->serve_applied_term,
				     ha_node_monotonic_us()));
	pthread_mutex_unlock(&ha->serve_lock);
	return serving;
}

bool ha_admits_any_thread(void *data)
{
	struct ha_plugin *ha = data;
	pthread_mutex_lock(&ha->serve_lock);
	bool dynsec = ha->serve_dynsec && ha->serve_node != NULL;
	pthread_mutex_unlock(&ha->serve_lock);
	return dynsec || ha_serving_any_thread(ha);
}

static bool serving_decide(const struct ha_plugin *ha, int64_t now_us)
{
	if (ha->state == HA_STANDALONE)
		return true;
	if (ha->node == NULL)
		return false;
	/* The lease against this thread's own clock, every time. */
	return lease_serves(ha->node, ha->applied_term, now_us);
}

/* A window of answers "serving", stamped by this node itself on the clock
 * that all nodes of one machine share: the test of never two servers
 * compares these, which load cannot stretch (a probe's round trip can). */
void ha_serving_close(struct ha_plugin *ha)
{
	if (!ha->window_open)
		return;
	ha->window_open = false;
	ha_log_info("serving window %llu closed: first %lld.%06lld last "
		    "%lld.%06lld (CLOCK_MONOTONIC s), %llu answers",
		    (unsigned long long)ha->windows,
		    (long long)(ha->window_first_us / 1000000),
		    (long long)(ha->window_first_us % 1000000),
		    (long long)(ha->window_last_us / 1000000),
		    (long long)(ha->window_last_us % 1000000),
		    (unsigned long long)ha->window_yes);
}

bool ha_serving(struct ha_plugin *ha)
{
	/* The clock first, then the lease: a lease that the raft thread
	 * withdraws (a transfer) after this read was still valid at it, so
	 * the stamp never postdates the lease it relied on. */
	int64_t now_us = ha_node_monotonic_us();
	atomic_thread_fence(memory_order_seq_cst);
	bool serving = serving_decide(ha, now_us);
	if (!serving) {
		ha_serving_close(ha);
		return false;
	}
	if (!ha->window_open) {
		ha->window_open = true;
		ha->windows++;
		ha->window_first_us = now_us;
		ha->window_yes = 0;
		ha_log_info("serving window %llu opened: first %lld.%06lld "
			    "(CLOCK_MONOTONIC s)",
			    (unsigned long long)ha->windows,
			    (long long)(now_us / 1000000),
			    (long long)(now_us % 1000000));
	}
	ha->window_last_us = now_us;
	ha->window_yes++;
	return true;
}

bool ha_cluster_dynsec(const struct ha_plugin *ha)
{
	return ha->state == HA_MEMBER &&
	       ha->cluster.syncmode == HA_SYNCMODE_DYNSEC;
}

bool ha_admits_clients(struct ha_plugin *ha)
{
	/* Active-active: the replicated data is access control only, which
	 * every running node holds as last committed. */
	if (ha_cluster_dynsec(ha))
		return ha->node != NULL;
	return ha_serving(ha);
}

bool ha_cluster_cutoff(struct ha_plugin *ha)
{
	if (ha->state != HA_MEMBER || ha->node == NULL)
		return false;
	struct ha_node_status st;
	ha_node_get_status(ha->node, &st);
	if (st.role == RAFT_LEADER)
		return ha_node_lease_until(ha->node) <= ha_node_monotonic_ms();
	return st.role != RAFT_FOLLOWER || st.leader == 0;
}

/* Said in the log when it changes; in dynsec mode the node goes on
 * serving its clients with the access data last committed. */
static void cutoff_tick(struct ha_plugin *ha)
{
	if (ha->state != HA_MEMBER) {
		ha->cutoff = false; /* left: nothing to say */
		return;
	}
	bool cutoff = ha_cluster_cutoff(ha);
	if (cutoff == ha->cutoff)
		return;
	ha->cutoff = cutoff;
	if (cutoff)
		ha_log_warning(
		    "node %u hears from no majority of the cluster%s",
		    ha->cluster.nodeid,
		    ha_cluster_dynsec(ha)
			? "; it goes on serving its clients with "
			  "the access data last committed"
			: "");
	else
		ha_log_info("node %u hears from a majority of the cluster "
			    "again",
			    ha->cluster.nodeid);
}

/* A joiner learns the cluster's sync mode from the leader's info frame
 * (nodes that do not send one are full). The same: checked for good, in
 * the cluster file. Another: the joiner leaves, saying why in the log
 * and in getRaftStatus's errmsg. */
static void syncmode_check(struct ha_plugin *ha)
{
	if (ha->state != HA_MEMBER || ha->node == NULL ||
	    ha->cluster.syncmode_checked)
		return;
	struct ha_node_status st;
	ha_node_get_status(ha->node, &st);
	if (st.leader == 0 || st.leader == ha->cluster.nodeid)
		return;
	const struct ha_node_peer_level *p = NULL;
	for (size_t i = 0; i < st.n_peer_levels; i++)
		if (st.peer_levels[i].id == st.leader)
			p = &st.peer_levels[i];
	if (p == NULL)
		return; /* its info frame comes before its first message */
	const char *mine = ha_syncmode_name(ha->cluster.syncmode);
	const char *theirs = ha_syncmode_name((enum ha_syncmode)p->mode);
	if (p->mode == (uint8_t)ha->cluster.syncmode) {
		struct ha_cluster_file cf = ha->cluster;
		cf.syncmode_checked = true;
		if (ha_cluster_save(ha, &cf) == 0)
			ha->cluster = cf;
		ha_log_info("the cluster's syncmode is %s, as this node's",
			    mine);
		return;
	}
	char why[HA_ERRMSG_MAX + 1];
	snprintf(why, sizeof(why),
		 "joinCluster refused: this node's syncmode is %s, the "
		 "cluster's is %s",
		 mine, theirs != NULL ? theirs : "unknown");
	ha_log_error("%s; leaving the cluster", why);
	ha_cluster_leave(ha, "its syncmode differs from the cluster's");
	snprintf(ha->errmsg, sizeof(ha->errmsg), "%s", why);
}

/* A committed entry: the applied index and term, the record, and what a
 * configuration says of this node. */
static void drain_committed(struct ha_plugin *ha,
			    const struct ha_node_event *ev)
{
	ha->applied = ev->index;
	if (ev->term != ha->applied_term) {
		ha->applied_term = ev->term;
		pthread_mutex_lock(&ha->serve_lock);
		ha->serve_applied_term = ev->term;
		pthread_mutex_unlock(&ha->serve_lock);
	}
	if (ev->entry_type == RAFT_ENTRY_COMMAND)
		ha_state_committed(ha, ev->index, ev->data, ev->len);
	ha_ac_committed(ha, ev);
	if (ev->entry_type == RAFT_ENTRY_CONFIG) {
		struct raft_config c;
		if (raft_config_decode(ev->data, ev->len, &c) == RAFT_OK) {
			ha_pending_config(ha, &c);
			/* A member that a committed configuration leaves out
			 * was removed: back to standalone (a node not yet
			 * admitted is not one). */
			if (raft_config_find(&c, ha->cluster.nodeid))
				ha->was_member = true;
			else if (ha->was_member)
				ha->removed = true;
		}
	}
	ha_pending_event(ha, ev);
}

/* Handles what the raft thread handed over. Broker thread, from TICK. */
void ha_cluster_drain(struct ha_plugin *ha)
{
	struct ha_node_event ev;
	size_t events = 0, bytes = 0;
	int64_t started_us = ha_node_monotonic_us();
	while (ha->node != NULL) {
		/* Bounded, so that a large backlog never holds the broker's
		 * loop (and its clients) for long: the rest waits for the
		 * next pass, which comes at once. */
		if (events >= HA_DRAIN_MAX_EVENTS ||
		    bytes >= HA_DRAIN_MAX_BYTES ||
		    ha_node_monotonic_us() - started_us >= HA_DRAIN_MAX_US) {
			ha_wake_later(&ha->wake);
			break;
		}
		/* Committed events wait behind a restore being decoded (its
		 * thread wakes this one when done) or applied. */
		if (ha_state_restore_decoding(ha))
			break;
		if (!ha_state_restore_step(ha, HA_RESTORE_SLICE)) {
			events += HA_RESTORE_SLICE;
			continue;
		}
		if (!ha_node_poll(ha->node, &ev))
			break;
		events++;
		bytes += ev.len;
		int64_t waited = ha_node_monotonic_us() - ev.queued_us;
		ha->handoff[ha->handoff_count++ % 512] =
		    (uint32_t)(waited < 0 ? 0
					  : (waited > UINT32_MAX ? UINT32_MAX
								 : waited));
		switch (ev.type) {
		case HA_EV_ROLE:
			if (ev.role == RAFT_LEADER && ha->role != RAFT_LEADER) {
				ha->leader_since_ms = ha_node_monotonic_ms();
				ha->level_check_at = 0; /* at once */
			}
			ha->role = ev.role;
			ha->leader = ev.leader;
			ha_log_info("node %u is %s in term %llu (leader %u)",
				    ha->cluster.nodeid,
				    ev.role == RAFT_LEADER ? "leader"
							   : "follower",
				    (unsigned long long)ev.term, ev.leader);
			break;
		case HA_EV_COMMITTED:
			drain_committed(ha, &ev);
			break;
		case HA_EV_RESTORE: {
			ha->applied = ev.index;
			struct ha_node_status st;
			ha_node_get_status(ha->node, &st);
			if (raft_config_find(&st.config, ha->cluster.nodeid))
				ha->was_member = true;
			ha_state_restored(ha, ev.index, ev.data, ev.len);
			ev.data = NULL; /* the decoder's now */
			break;
		}
		case HA_EV_STOPPED:
			snprintf(ha->errmsg, sizeof(ha->errmsg), "%s",
				 ev.reason);
			ha_log_error("the cluster node stopped: %s", ev.reason);
			break;
		case HA_EV_FORWARD_REQUEST:
			ha_forward_request(ha, &ev);
			break;
		case HA_EV_FORWARDED:
			ha_forward_done(ha, &ev);
			break;
		default:
			if (ev.type == HA_EV_PROPOSED &&
			    (ev.cookie & HA_CAPTURE_COOKIE) != 0)
				ha_retained_proposed(ha, &ev);
			else if (ev.type == HA_EV_PROPOSED &&
				 (ev.cookie & HA_AC_COOKIE) != 0)
				ha_ac_proposed(ha, &ev);
			else
				ha_pending_event(ha, &ev);
			break;
		}
		ha_node_event_free(&ev);
	}
	int64_t took_us = ha_node_monotonic_us() - started_us;
	if (events > 0 && took_us > ha->drain_max_us) {
		ha->drain_max_us = took_us;
		/* Each new longest pass past twice the budget, with what it
		 * held: an operator sees what stalls the broker's loop. */
		if (took_us > 2 * HA_DRAIN_MAX_US)
			ha_log_warning("a pass over the raft thread's hand-off "
				       "took %lld us (%zu events, %zu bytes, "
				       "restore phase %d)",
				       (long long)took_us, events, bytes,
				       ha->restore_phase);
	}
	if (ha->removed && ha->state == HA_MEMBER) {
		ha_cluster_leave(ha, "this node was removed from the cluster");
		return;
	}
	syncmode_check(ha);
	cutoff_tick(ha);
	/* Leave a few heartbeats after a committed deleteCluster, so that the
	 * followers learn that it committed before the leader goes. */
	if (ha->deleted && ha->state == HA_MEMBER) {
		int64_t now = ha_node_monotonic_ms();
		if (ha->deleted_at == 0)
			ha->deleted_at = now;
		else if (now >=
			 ha->deleted_at + 3 * ha->opt.heartbeat_interval_ms)
			ha_cluster_leave(ha, "the cluster was deleted");
	}
}

/* ---- the committed feature level ---- */

/* When the link of voter id was last seen up; 0 if never. */
static int64_t *level_seen_slot(struct ha_plugin *ha, raft_id id)
{
	for (size_t i = 0; i < ha->n_level_seen; i++) {
		if (ha->level_seen[i].id == id)
			return &ha->level_seen[i].ms;
	}
	if (ha->n_level_seen == HA_MAX_NODES)
		return NULL;
	ha->level_seen[ha->n_level_seen].id = id;
	ha->level_seen[ha->n_level_seen].ms = 0;
	return &ha->level_seen[ha->n_level_seen++].ms;
}

static const struct ha_node_peer_level *
peer_level(const struct ha_node_status *st, raft_id id)
{
	for (size_t i = 0; i < st->n_peer_levels; i++) {
		if (st->peer_levels[i].id == id)
			return &st->peer_levels[i];
	}
	return NULL;
}

/* What the leader knows of each other voter, for the rule. */
static size_t voter_levels(struct ha_plugin *ha,
			   const struct ha_node_status *st, int64_t now,
			   struct ha_voter_level *out)
{
	uint32_t committed = ha->broker_view->feature_level;
	size_t n = 0;
	for (uint32_t i = 0; i < st->config.n; i++) {
		const struct raft_server *s = &st->config.servers[i];
		if (s->role != RAFT_VOTER || s->id == ha->cluster.nodeid)
			continue;
		const struct ha_node_peer_level *p = peer_level(st, s->id);
		int64_t *seen = level_seen_slot(ha, s->id);
		struct ha_voter_level v = {0};
		if (p != NULL && p->linked) {
			v.level = p->level;
			if (seen != NULL)
				*seen = now;
			if (p->level < committed &&
			    now - ha->level_low_log_at >= 60000) {
				ha->level_low_log_at = now;
				ha_log_warning(
				    "node %u advertises feature level %u, "
				    "below the cluster's %u (set by "
				    "plugin_opt_feature_level, or an older "
				    "mosquitto_ha, which stops applying: "
				    "upgrade it)",
				    s->id, p->level, committed);
			}
		} else {
			int64_t since = ha->leader_since_ms;
			if (seen != NULL && *seen > since)
				since = *seen;
			v.waiting = now - since < HA_LEVEL_WAIT_MS;
		}
		out[n++] = v;
	}
	return n;
}

void ha_cluster_level_tick(struct ha_plugin *ha)
{
	if (ha->state != HA_MEMBER || ha->node == NULL ||
	    ha->broker_view == NULL || ha->role != RAFT_LEADER)
		return;
	int64_t now = ha_node_monotonic_ms();
	if (now < ha->level_check_at)
		return;
	ha->level_check_at = now + 200;
	/* Serving: the committed level applied here is the cluster's. */
	if (!ha_serving(ha))
		return;
	struct ha_node_status st;
	ha_node_get_status(ha->node, &st);
	struct ha_voter_level voters[RAFT_MAX_SERVERS];
	size_t n = voter_levels(ha, &st, now, voters);
	uint32_t committed = ha->broker_view->feature_level;
	uint32_t target = ha_feature_level_target(
	    committed, ha->opt.feature_level, voters, n);
	if (target == 0 || (ha->level_proposed == target &&
			    now - ha->level_proposed_at < 1000))
		return;
	struct ha_record rec = {.type = HA_REC_TYPE_FEATURE_LEVEL};
	rec.u.feature_level = target;
	uint8_t *buf = NULL;
	size_t len = 0;
	if (ha_record_encode(&rec, &buf, &len, NULL) != HA_REC_OK) {
		ha_log_error("cannot write the feature level record: out of "
			     "memory");
		return;
	}
	int rv = ha_node_propose(ha->node, buf, len, ++ha->next_cookie);
	free(buf);
	if (rv != HA_NODE_OK)
		return; /* tried again at a later TICK */
	ha->level_proposed = target;
	ha->level_proposed_at = now;
	ha_log_info("raising the cluster's feature level from %u to %u, the "
		    "lowest that the voters it hears from advertise",
		    committed, target);
}
