/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Executing control commands (already parsed and checked by control_parse.c)
 * against the cluster. A reply holds one response per command, in order;
 * commands that wait for the cluster fill their slot later, and the reply
 * goes out once every slot is filled or timed out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "plugin/ha.h"

/* HA_ERR_ADDRESS_LONG names the longest "host:port" a member may have. */
_Static_assert(RAFT_ADDRESS_MAX == 256, "255 characters and the NUL");

/* ---- replies ---- */

static void ctx_free(struct ha_request_ctx *ctx)
{
	for (size_t i = 0; i < ctx->req.n_commands; i++)
		json_decref(ctx->slots[i].data);
	free(ctx->slots);
	ha_request_free(&ctx->req);
	free(ctx);
}

static void ctx_send(struct ha_request_ctx *ctx)
{
	json_t *reply = ha_reply_new();
	bool ok = reply != NULL;
	for (size_t i = 0; ok && i < ctx->req.n_commands; i++) {
		struct ha_reply_slot *s = &ctx->slots[i];
		const struct ha_command *cmd = &ctx->req.commands[i];
		if (s->error[0] != '\0') {
			ok = ha_reply_add_error(reply, cmd, s->error) == 0;
		} else {
			ok = ha_reply_add_result(reply, cmd, s->data) == 0;
			s->data = NULL; /* the reply took it */
		}
	}
	size_t len = 0;
	char *text = ok ? ha_reply_dump(reply, &len) : NULL;
	if (text != NULL) {
		ha_publish_reply(ctx->ha, text, len);
		ha_reply_dump_free(text);
	} else {
		ha_log_error("out of memory building a control reply");
	}
	json_decref(reply);
	ctx_free(ctx);
}

static void slot_done(struct ha_request_ctx *ctx, size_t slot,
		      const char *error, json_t *data)
{
	struct ha_reply_slot *s = &ctx->slots[slot];
	if (s->done) {
		json_decref(data);
		return;
	}
	s->done = true;
	if (error != NULL)
		snprintf(s->error, sizeof(s->error), "%s", error);
	s->data = data;
	if (--ctx->remaining == 0)
		ctx_send(ctx);
}

/* ---- waiting for the cluster ---- */

static void wait_for(struct ha_plugin *ha, struct ha_request_ctx *ctx,
		     size_t slot, enum ha_wait wait, uint64_t cookie,
		     uint16_t target)
{
	struct ha_pending *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
		return;
	}
	p->cookie = cookie;
	p->wait = wait;
	p->ctx = ctx;
	p->slot = slot;
	p->kind = ctx->req.commands[slot].kind;
	p->target = target;
	p->deadline = ha_node_monotonic_ms() + HA_COMMAND_TIMEOUT_MS;
	p->next = ha->pending;
	ha->pending = p;
}

static void pending_finish(struct ha_plugin *ha, struct ha_pending *p,
			   const char *error, json_t *data)
{
	struct ha_pending **pp = &ha->pending;
	while (*pp != NULL && *pp != p)
		pp = &(*pp)->next;
	if (*pp != NULL)
		*pp = p->next;
	struct ha_request_ctx *ctx = p->ctx;
	size_t slot = p->slot;
	free(p);
	slot_done(ctx, slot, error, data);
}

static const char *raft_error_sentence(int rv)
{
	if (rv != RAFT_ENOTLEADER && rv != RAFT_EBUSY && rv != RAFT_ETRANSFER &&
	    rv != RAFT_ENOQUORUM && rv != RAFT_ENOTFOUND)
		ha_log_error("control command failed in the cluster layer: %s",
			     raft_strerror(rv));
	switch (rv) {
	case RAFT_ENOTLEADER:
		return HA_ERR_NOT_LEADER;
	case RAFT_EBUSY:
	case RAFT_ETRANSFER:
		return HA_ERR_CHANGE_PENDING;
	case RAFT_ENOQUORUM:
		return HA_ERR_TOO_FEW;
	case RAFT_ENOTFOUND:
		return HA_ERR_NOT_VOTER;
	default:
		return HA_ERR_INTERNAL;
	}
}

static json_t *cluster_data(struct ha_plugin *ha, raft_index index);

void ha_pending_event(struct ha_plugin *ha, const struct ha_node_event *ev)
{
	struct ha_pending *p = ha->pending, *next;
	for (; p != NULL; p = next) {
		next = p->next;
		if (ev->type == HA_EV_COMMITTED) {
			/* Index and term: a proposal that a new leader
			 * truncated leaves its index to another entry. */
			if (p->wait != HA_WAIT_COMMITTED ||
			    ev->index < p->index)
				continue;
			if (ev->index == p->index && ev->term == p->term)
				pending_finish(ha, p, NULL, NULL);
			else
				pending_finish(ha, p, HA_ERR_NOT_LEADER, NULL);
			continue;
		}
		if (p->cookie != ev->cookie)
			continue;
		switch (ev->type) {
		case HA_EV_CHANGED:
			if (p->wait != HA_WAIT_CHANGED)
				break;
			if (ev->status != RAFT_OK) {
				pending_finish(ha, p,
					       raft_error_sentence(ev->status),
					       NULL);
			} else if (p->kind == HA_CMD_ADD_NODE) {
				p->wait = HA_WAIT_CONFIG_HAS;
			} else if (p->kind == HA_CMD_REMOVE_NODE) {
				p->wait = HA_WAIT_CONFIG_LACKS;
			} else {
				/* createCluster says what it imports. */
				pending_finish(ha, p, NULL,
					       p->kind == HA_CMD_CREATE_CLUSTER
						   ? ha_ac_create_note(ha)
						   : NULL);
			}
			break;
		case HA_EV_PROPOSED:
			if (p->wait != HA_WAIT_PROPOSED)
				break;
			if (ev->status != RAFT_OK) {
				pending_finish(ha, p,
					       raft_error_sentence(ev->status),
					       NULL);
			} else {
				/* Its COMMITTED event follows this one. */
				p->wait = HA_WAIT_COMMITTED;
				p->index = ev->index;
				p->term = ev->term;
			}
			break;
		case HA_EV_READ:
			if (p->wait != HA_WAIT_READ)
				break;
			if (ev->status != RAFT_OK) {
				pending_finish(ha, p,
					       raft_error_sentence(ev->status),
					       NULL);
			} else {
				json_t *data = cluster_data(ha, ev->index);
				pending_finish(
				    ha, p, data ? NULL : HA_ERR_INTERNAL, data);
			}
			break;
		default:
			break;
		}
	}
}

/* A configuration committed: membership changes waiting for it finish. */
void ha_pending_config(struct ha_plugin *ha, const struct raft_config *c)
{
	struct ha_pending *p = ha->pending, *next;
	for (; p != NULL; p = next) {
		next = p->next;
		bool has = raft_config_find(c, p->target) != NULL;
		if ((p->wait == HA_WAIT_CONFIG_HAS && has) ||
		    (p->wait == HA_WAIT_CONFIG_LACKS && !has))
			pending_finish(ha, p, NULL, NULL);
	}
}

void ha_pending_expire(struct ha_plugin *ha, int64_t now)
{
	struct ha_pending *p = ha->pending, *next;
	for (; p != NULL; p = next) {
		next = p->next;
		if (now >= p->deadline)
			pending_finish(ha, p, HA_ERR_TIMEOUT, NULL);
	}
}

void ha_pending_fail_all(struct ha_plugin *ha, const char *error)
{
	while (ha->pending != NULL)
		pending_finish(ha, ha->pending, error, NULL);
}

/* ---- views ---- */

static int server_to_member(const struct raft_server *s, struct ha_member *m)
{
	/* "host:port" or "[v6]:port" back into the API's fields. */
	const char *colon = strrchr(s->address, ':');
	if (colon == NULL)
		return -1;
	const char *host = s->address;
	size_t hlen = (size_t)(colon - host);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	if (hlen > HA_ADDRESS_MAX)
		return -1;
	memcpy(m->address, host, hlen);
	m->address[hlen] = '\0';
	m->port = (uint16_t)atoi(colon + 1);
	m->nodeid = (uint16_t)s->id;
	m->mynode = false;
	return 0;
}

static void uuid_text(const uint8_t *id, char *out)
{
	snprintf(out, HA_UUID_MAX + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%"
		 "02x%02x",
		 id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8],
		 id[9], id[10], id[11], id[12], id[13], id[14], id[15]);
}

static json_t *cluster_data(struct ha_plugin *ha, raft_index index)
{
	struct ha_node_status st;
	ha_node_get_status(ha->node, &st);
	struct ha_cluster_view v;
	memset(&v, 0, sizeof(v));
	snprintf(v.clustername, sizeof(v.clustername), "%s",
		 ha->cluster.clustername);
	uuid_text(st.config.cluster_id, v.uuid);
	for (uint32_t i = 0; i < st.config.n && v.n_nodes < HA_MAX_NODES; i++)
		if (server_to_member(&st.config.servers[i],
				     &v.nodes[v.n_nodes]) == 0)
			v.n_nodes++;
	v.syncmode = ha->cluster.syncmode;
	v.leader = (uint16_t)st.leader;
	v.log_index = index;
	return ha_data_cluster(&v);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : (x > y ? 1 : 0);
}

static void handoff_stats(const struct ha_plugin *ha, struct ha_raft_status *s)
{
	size_t n = ha->handoff_count < 512 ? (size_t)ha->handoff_count : 512;
	uint32_t sorted[512];
	memcpy(sorted, ha->handoff, n * sizeof(sorted[0]));
	qsort(sorted, n, sizeof(sorted[0]), cmp_u32);
	s->handoff_samples = ha->handoff_count;
	s->handoff_median_us = n ? sorted[n / 2] : 0;
	s->handoff_max_us = n ? sorted[n - 1] : 0;
	s->drain_max_us = (uint64_t)ha->drain_max_us;
}

static json_t *raft_status_data(struct ha_plugin *ha)
{
	struct ha_raft_status s;
	memset(&s, 0, sizeof(s));
	handoff_stats(ha, &s);
	s.syncmode =
	    ha->state == HA_MEMBER ? ha->cluster.syncmode : HA_SYNCMODE_FULL;
	s.cutoff = ha_cluster_cutoff(ha);
	snprintf(s.errmsg, sizeof(s.errmsg), "%s", ha->errmsg);
	if (ha->node == NULL) {
		s.state = HA_STATE_UNAVAILABLE;
		return ha_data_raft_status(&s);
	}
	struct ha_node_status st;
	ha_node_get_status(ha->node, &st);
	for (uint32_t i = 0; i < st.config.n && s.n_nodes < HA_MAX_NODES; i++) {
		struct ha_raft_status_node *n = &s.nodes[s.n_nodes];
		if (server_to_member(&st.config.servers[i], &n->node) != 0)
			continue;
		n->role = st.config.servers[i].role == RAFT_VOTER
			      ? HA_ROLE_VOTER
			      : HA_ROLE_STANDBY;
		s.n_nodes++;
	}
	s.commit_index = st.commit;
	s.handoff_queue_bytes = st.event_bytes;
	s.snapshot_index = st.snapshot_index;
	s.snapshots_installed = st.snapshots_installed;
	s.last_applied = ha->applied;
	s.retain_msg = ha->broker_view != NULL
			   ? ha_retained_store_count(ha->broker_view->retained)
			   : 0;
	s.last_captured_index = ha->last_captured_index;
	s.captures_pending = ha->captures_pending;
	s.captures_lost = ha->captures_lost;
	s.feature_level = ha->broker_view != NULL
			      ? ha->broker_view->feature_level
			      : HA_FEATURE_LEVEL_BASE;
	s.feature_level_advertised = ha->opt.feature_level;
	s.last_stored = st.stable;
	s.current_term = st.term;
	s.state = st.stopped
		      ? HA_STATE_UNAVAILABLE
		      : (st.role == RAFT_LEADER
			     ? HA_STATE_LEADER
			     : (st.role == RAFT_CANDIDATE ? HA_STATE_CANDIDATE
							  : HA_STATE_FOLLOWER));
	if (st.stopped && s.errmsg[0] == '\0')
		snprintf(s.errmsg, sizeof(s.errmsg), "%s", st.stop_reason);
	return ha_data_raft_status(&s);
}

/* ---- the commands ---- */

static bool is_leader(struct ha_plugin *ha)
{
	if (ha->node == NULL)
		return false;
	struct ha_node_status st;
	ha_node_get_status(ha->node, &st);
	return st.role == RAFT_LEADER;
}

static const char *check_member_leader(struct ha_plugin *ha,
				       const struct ha_command *cmd)
{
	if (ha->state != HA_MEMBER)
		return HA_ERR_NOT_MEMBER;
	if (strcmp(cmd->clustername, ha->cluster.clustername) != 0)
		return HA_ERR_WRONG_CLUSTER;
	if (!is_leader(ha))
		return HA_ERR_NOT_LEADER;
	return NULL;
}

static void exec_create_or_join(struct ha_plugin *ha,
				struct ha_request_ctx *ctx, size_t slot)
{
	const struct ha_command *cmd = &ctx->req.commands[slot];
	bool create = cmd->kind == HA_CMD_CREATE_CLUSTER;
	if (ha->state != HA_STANDALONE) {
		slot_done(ctx, slot, HA_ERR_ALREADY_MEMBER, NULL);
		return;
	}
	if (ha_broker_conflict(&ha->broker_conf) != NULL) {
		slot_done(ctx, slot, HA_ERR_BROKER_SETTING, NULL);
		return;
	}
	switch (create ? ha_ac_create_check(ha) : HA_AC_IMPORT_FITS) {
	case HA_AC_IMPORT_FITS:
		break;
	case HA_AC_IMPORT_TOO_LARGE:
		slot_done(ctx, slot, HA_ERR_AC_IMPORT_LARGE, NULL);
		return;
	default:
		slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
		return;
	}
	struct ha_cluster_file cf;
	memset(&cf, 0, sizeof(cf));
	snprintf(cf.clustername, sizeof(cf.clustername), "%s",
		 cmd->clustername);
	cf.created = create;
	/* The creator fixes the mode; a joiner checks it against the
	 * leader's (cluster.c). */
	cf.syncmode = cmd->syncmode;
	cf.syncmode_checked = create;
	for (size_t i = 0; i < cmd->n_nodes; i++) {
		cf.nodes[i] = cmd->nodes[i];
		if (cmd->nodes[i].mynode)
			cf.nodeid = cmd->nodes[i].nodeid;
	}
	cf.n_nodes = cmd->n_nodes;
	uint8_t cluster_id[RAFT_CLUSTER_ID_LEN];
	memset(cluster_id, 0, sizeof(cluster_id));
	if (create) {
		if (RAND_bytes(cluster_id, sizeof(cluster_id)) != 1) {
			slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
			return;
		}
		cluster_id[6] =
		    (uint8_t)((cluster_id[6] & 0x0f) | 0x40); /* v4 */
		cluster_id[8] = (uint8_t)((cluster_id[8] & 0x3f) | 0x80);
		uuid_text(cluster_id, cf.uuid);
	}
	struct raft_config cfg;
	if (ha_cluster_raft_config(&cf, cluster_id, &cfg) != 0) {
		slot_done(ctx, slot, HA_ERR_ADDRESS_LONG, NULL);
		return;
	}
	if (ha_cluster_save(ha, &cf) != 0) {
		slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
		return;
	}
	ha->cluster = cf;
	ha->state = HA_MEMBER;
	if (ha_cluster_start_node(ha, false) != 0) {
		ha_cluster_leave(ha, "the node could not start");
		slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
		return;
	}
	if (!create) {
		/* The cluster's access-control data replaces this node's. */
		slot_done(ctx, slot, NULL, ha_ac_join_note(ha));
		return;
	}
	uint64_t cookie = ++ha->next_cookie;
	if (ha_node_bootstrap(ha->node, &cfg, cookie) != HA_NODE_OK) {
		slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
		return;
	}
	ha_ac_cluster_created(ha);
	wait_for(ha, ctx, slot, HA_WAIT_CHANGED, cookie, 0);
}

static const struct raft_server *
find_member(const struct raft_config *c, const struct ha_member *m, bool *exact)
{
	*exact = false;
	for (uint32_t i = 0; i < c->n; i++) {
		struct ha_member x;
		if (server_to_member(&c->servers[i], &x) != 0)
			continue;
		bool same_addr =
		    x.port == m->port && ha_address_same(x.address, m->address);
		if (c->servers[i].id == m->nodeid || same_addr) {
			*exact = c->servers[i].id == m->nodeid && same_addr;
			return &c->servers[i];
		}
	}
	return NULL;
}

static void exec_membership(struct ha_plugin *ha, struct ha_request_ctx *ctx,
			    size_t slot)
{
	const struct ha_command *cmd = &ctx->req.commands[slot];
	const char *err = check_member_leader(ha, cmd);
	if (err != NULL) {
		slot_done(ctx, slot, err, NULL);
		return;
	}
	struct ha_node_status st;
	ha_node_get_status(ha->node, &st);
	bool exact;
	const struct raft_server *s =
	    find_member(&st.config, &cmd->node, &exact);
	uint64_t cookie = ++ha->next_cookie;
	int rv;
	if (cmd->kind == HA_CMD_ADD_NODE) {
		if (s != NULL) {
			slot_done(ctx, slot, HA_ERR_NODE_EXISTS, NULL);
			return;
		}
		if (st.config.n >= HA_MAX_NODES) {
			slot_done(ctx, slot, HA_ERR_CLUSTER_FULL, NULL);
			return;
		}
		char addr[RAFT_ADDRESS_MAX];
		if (ha_member_address(&cmd->node, addr, sizeof(addr)) != 0) {
			slot_done(ctx, slot, HA_ERR_ADDRESS_LONG, NULL);
			return;
		}
		rv = ha_node_add_learner(ha->node, cmd->node.nodeid, addr,
					 cookie);
	} else {
		if (s == NULL || !exact) {
			slot_done(ctx, slot, HA_ERR_NODE_UNKNOWN, NULL);
			return;
		}
		if (s->role == RAFT_VOTER &&
		    raft_config_voters(&st.config) <= 3) {
			slot_done(ctx, slot, HA_ERR_TOO_FEW, NULL);
			return;
		}
		rv = ha_node_remove(ha->node, cmd->node.nodeid, cookie);
	}
	if (rv != HA_NODE_OK) {
		slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
		return;
	}
	wait_for(ha, ctx, slot, HA_WAIT_CHANGED, cookie, cmd->node.nodeid);
}

static void exec_leave(struct ha_plugin *ha, struct ha_request_ctx *ctx,
		       size_t slot)
{
	const struct ha_command *cmd = &ctx->req.commands[slot];
	if (ha->state != HA_MEMBER) {
		slot_done(ctx, slot, HA_ERR_NOT_MEMBER, NULL);
		return;
	}
	if (strcmp(cmd->clustername, ha->cluster.clustername) != 0) {
		slot_done(ctx, slot, HA_ERR_WRONG_CLUSTER, NULL);
		return;
	}
	const struct ha_member *me = ha_cluster_own_member(&ha->cluster);
	if (me == NULL || me->nodeid != cmd->node.nodeid ||
	    me->port != cmd->node.port ||
	    !ha_address_same(me->address, cmd->node.address)) {
		slot_done(ctx, slot, HA_ERR_NODE_UNKNOWN, NULL);
		return;
	}
	/* Answer first: leaving stops the node and fails what is pending. */
	slot_done(ctx, slot, NULL, NULL);
	ha_cluster_leave(ha, "leaveCluster");
}

static void exec_delete(struct ha_plugin *ha, struct ha_request_ctx *ctx,
			size_t slot)
{
	const char *err = check_member_leader(ha, &ctx->req.commands[slot]);
	if (err != NULL) {
		slot_done(ctx, slot, err, NULL);
		return;
	}
	/* The one-byte form, which every version reads. */
	uint8_t record[1] = {HA_REC_TYPE_DELETE_CLUSTER};
	uint64_t cookie = ++ha->next_cookie;
	if (ha_node_propose(ha->node, record, sizeof(record), cookie) !=
	    HA_NODE_OK) {
		slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
		return;
	}
	wait_for(ha, ctx, slot, HA_WAIT_PROPOSED, cookie, 0);
}

static void exec_set_leader(struct ha_plugin *ha, struct ha_request_ctx *ctx,
			    size_t slot)
{
	const struct ha_command *cmd = &ctx->req.commands[slot];
	const char *err = check_member_leader(ha, cmd);
	if (err != NULL) {
		slot_done(ctx, slot, err, NULL);
		return;
	}
	if (cmd->node.nodeid == ha->cluster.nodeid) {
		slot_done(ctx, slot, NULL, NULL); /* it leads already */
		return;
	}
	struct ha_node_status st;
	ha_node_get_status(ha->node, &st);
	const struct raft_server *s =
	    raft_config_find(&st.config, cmd->node.nodeid);
	if (s == NULL) {
		slot_done(ctx, slot, HA_ERR_NODE_UNKNOWN, NULL);
		return;
	}
	if (s->role != RAFT_VOTER) {
		slot_done(ctx, slot, HA_ERR_NOT_VOTER, NULL);
		return;
	}
	uint64_t cookie = ++ha->next_cookie;
	if (ha_node_transfer(ha->node, cmd->node.nodeid, cookie) !=
	    HA_NODE_OK) {
		slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
		return;
	}
	/* Answered once the transfer is under way, before clients move. */
	wait_for(ha, ctx, slot, HA_WAIT_CHANGED, cookie, cmd->node.nodeid);
}

static void exec_one(struct ha_plugin *ha, struct ha_request_ctx *ctx,
		     size_t slot)
{
	const struct ha_command *cmd = &ctx->req.commands[slot];
	switch (cmd->kind) {
	case HA_CMD_INVALID:
		slot_done(ctx, slot, cmd->error, NULL);
		return;
	case HA_CMD_CREATE_CLUSTER:
	case HA_CMD_JOIN_CLUSTER:
		exec_create_or_join(ha, ctx, slot);
		return;
	case HA_CMD_ADD_NODE:
	case HA_CMD_REMOVE_NODE:
		exec_membership(ha, ctx, slot);
		return;
	case HA_CMD_LEAVE_CLUSTER:
		exec_leave(ha, ctx, slot);
		return;
	case HA_CMD_DELETE_CLUSTER:
		exec_delete(ha, ctx, slot);
		return;
	case HA_CMD_SET_LEADER:
		exec_set_leader(ha, ctx, slot);
		return;
	case HA_CMD_GET_CLUSTER: {
		if (ha->state != HA_MEMBER) {
			slot_done(ctx, slot, HA_ERR_NOT_MEMBER, NULL);
			return;
		}
		if (!is_leader(ha)) {
			slot_done(ctx, slot, HA_ERR_NOT_LEADER, NULL);
			return;
		}
		/* A linearizable read: the configuration as of now. */
		uint64_t cookie = ++ha->next_cookie;
		if (ha_node_read(ha->node, cookie) != HA_NODE_OK) {
			slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
			return;
		}
		wait_for(ha, ctx, slot, HA_WAIT_READ, cookie, 0);
		return;
	}
	case HA_CMD_GET_RAFT_STATUS: {
		json_t *data = raft_status_data(ha);
		slot_done(ctx, slot, data ? NULL : HA_ERR_INTERNAL, data);
		return;
	}
	case HA_CMD_IS_LEADER: {
		struct ha_leader_view v = {0};
		if (ha->state == HA_MEMBER && ha->node != NULL) {
			struct ha_node_status st;
			ha_node_get_status(ha->node, &st);
			v.leader = st.role == RAFT_LEADER && ha_serving(ha);
			v.nodeid = ha->cluster.nodeid;
			v.leader_nodeid = (uint16_t)st.leader;
		}
		json_t *data = ha_data_leader(&v);
		slot_done(ctx, slot, data ? NULL : HA_ERR_INTERNAL, data);
		return;
	}
	}
	slot_done(ctx, slot, HA_ERR_INTERNAL, NULL);
}

void ha_control_handle(struct ha_plugin *ha, const char *payload, size_t len)
{
	struct ha_request_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL || ha_request_parse(payload, len, &ctx->req) != 0) {
		free(ctx);
		ha_log_error("out of memory parsing a control request");
		return;
	}
	ctx->ha = ha;
	ctx->slots = calloc(ctx->req.n_commands ? ctx->req.n_commands : 1,
			    sizeof(*ctx->slots));
	if (ctx->slots == NULL) {
		ha_request_free(&ctx->req);
		free(ctx);
		ha_log_error("out of memory parsing a control request");
		return;
	}
	/* One more than the commands, so the reply cannot go out while the
	 * loop below still fills slots. */
	ctx->remaining = ctx->req.n_commands + 1;
	for (size_t i = 0; i < ctx->req.n_commands; i++) {
		const struct ha_command *cmd = &ctx->req.commands[i];
		if (cmd->kind != HA_CMD_INVALID)
			ha_log_info("control: %s",
				    ha_command_kind_name(cmd->kind));
		exec_one(ha, ctx, i);
	}
	if (--ctx->remaining == 0)
		ctx_send(ctx);
}
