/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Replies of the control API: the {"responses":[...]} envelope and the data
 * objects of getCluster, isLeader and getRaftStatus, built from plain C
 * views that the plugin fills. Key order is fixed (jansson keeps insertion
 * order), so replies are byte-for-byte stable.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "plugin/control.h"

/* Length of the well-formed UTF-8 character at s (n bytes left), or 0 when
 * the bytes there are not one: overlong forms, surrogates and values past
 * U+10FFFF are refused, as jansson refuses them. */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* A JSON string of s; bytes that are not UTF-8 become '?' so that text
 * from outside (a peer's error message, say) can never break a reply. */
static json_t *text_bounded(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	json_malloc_t json_malloc;
	json_free_t json_free;
	char *clean;
	json_t *value;

	/* jansson's allocator, so that injected failures reach this too. */
	json_get_alloc_funcs(&json_malloc, &json_free);
	clean = json_malloc(n + 1);
	if (clean == NULL)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_char_len((const unsigned char *)s + i, n - i);

		if (len == 0) {
			clean[i++] = '?';
			continue;
		}
		memcpy(clean + i, s + i, len);
		i += len;
	}
	value = json_stringn(clean, n);
	json_free(clean);
	return value;
}

static json_t *text(const char *s)
{
	return text_bounded(s, SIZE_MAX);
}

/* A fixed-size text field of a view, which may lack its NUL. */
#define FIELD_TEXT(field) text_bounded((field), sizeof(field))

/* Counters are unsigned 64-bit; JSON gets them as signed 64-bit, clamped. */
static json_t *counter(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* A node id, or null for 0 (no such node). */
static json_t *node_id(uint16_t id)
{
	return id == 0 ? json_null() : json_integer(id);
}

/* Sets obj[key] = value, taking the reference. Returns 0 or -1. */
static int put(json_t *obj, const char *key, json_t *value)
{
	if (value == NULL)
		return -1;
	return json_object_set_new(obj, key, value);
}

json_t *ha_reply_new(void)
{
	json_t *reply = json_object();

	if (reply == NULL)
		return NULL;
	if (put(reply, "responses", json_array()) != 0) {
		json_decref(reply);
		return NULL;
	}
	return reply;
}

/* Adds {"command", <key>: value, "correlationData"}; value may be NULL only
 * when key is NULL. Takes the reference to value. */
static int add_response(json_t *reply, const struct ha_command *cmd,
			const char *key, json_t *value)
{
	json_t *responses = json_object_get(reply, "responses");
	json_t *response = json_object();

	if (response == NULL || !json_is_array(responses))
		goto err;
	if (put(response, "command", FIELD_TEXT(cmd->name)) != 0)
		goto err;
	if (key != NULL) {
		if (put(response, key, value) != 0) {
			value = NULL; /* put took it */
			goto err;
		}
		value = NULL;
	}
	if (cmd->has_correlation &&
	    put(response, "correlationData", FIELD_TEXT(cmd->correlation)) != 0)
		goto err;
	return json_array_append_new(responses, response);
err:
	json_decref(value);
	json_decref(response);
	return -1;
}

int ha_reply_add_error(json_t *reply, const struct ha_command *cmd,
		       const char *error)
{
	return add_response(reply, cmd, "error", text(error));
}

int ha_reply_add_result(json_t *reply, const struct ha_command *cmd,
			json_t *data)
{
	if (data == NULL)
		return add_response(reply, cmd, NULL, NULL);
	return add_response(reply, cmd, "data", data);
}

char *ha_reply_dump(const json_t *reply, size_t *len)
{
	char *out = json_dumps(reply, JSON_COMPACT);

	if (out != NULL && len != NULL)
		*len = strlen(out);
	return out;
}

void ha_reply_dump_free(char *dump)
{
	json_malloc_t json_malloc;
	json_free_t json_free;

	json_get_alloc_funcs(&json_malloc, &json_free);
	if (dump != NULL)
		json_free(dump);
}

const char *ha_syncmode_name(enum ha_syncmode mode)
{
	switch (mode) {
	case HA_SYNCMODE_FULL:
		return "full";
	case HA_SYNCMODE_DYNSEC:
		return "dynsec";
	}
	return NULL;
}

json_t *ha_data_cluster(const struct ha_cluster_view *view)
{
	const char *syncmode = ha_syncmode_name(view->syncmode);
	json_t *data, *nodes;

	if (view->n_nodes > HA_MAX_NODES || syncmode == NULL)
		return NULL;
	data = json_object();
	nodes = json_array();
	if (data == NULL || nodes == NULL) {
		json_decref(data);
		json_decref(nodes);
		return NULL;
	}
	if (put(data, "clustername", FIELD_TEXT(view->clustername)) != 0 ||
	    put(data, "uuid", FIELD_TEXT(view->uuid)) != 0) {
		json_decref(nodes); /* not yet owned by data */
		goto err;
	}
	if (put(data, "nodes", nodes) != 0)
		goto err;
	for (size_t i = 0; i < view->n_nodes; i++) {
		const struct ha_member *node = &view->nodes[i];
		json_t *entry = json_object();

		if (entry == NULL || json_array_append_new(nodes, entry) != 0)
			goto err;
		if (put(entry, "address", FIELD_TEXT(node->address)) != 0 ||
		    put(entry, "port", json_integer(node->port)) != 0 ||
		    put(entry, "nodeid", json_integer(node->nodeid)) != 0)
			goto err;
	}
	if (put(data, "version", json_integer(HA_CLUSTER_CONFIG_VERSION)) ||
	    put(data, "syncmode", json_string(syncmode)) != 0 ||
	    put(data, "leader", node_id(view->leader)) != 0 ||
	    put(data, "log_index", counter(view->log_index)) != 0)
		goto err;
	return data;
err:
	json_decref(data);
	return NULL;
}

json_t *ha_data_leader(const struct ha_leader_view *view)
{
	json_t *data = json_object();

	if (data == NULL)
		return NULL;
	if (put(data, "leader", json_boolean(view->leader)) != 0 ||
	    put(data, "nodeid", node_id(view->nodeid)) != 0 ||
	    put(data, "leader_nodeid", node_id(view->leader_nodeid)) != 0) {
		json_decref(data);
		return NULL;
	}
	return data;
}

/* "host:port", with an IPv6 literal in brackets as in URLs. */
static json_t *host_port(const struct ha_member *node)
{
	char buf[HA_ADDRESS_MAX + 3 + 6 + 1];
	size_t len = strnlen(node->address, sizeof(node->address));

	snprintf(buf, sizeof(buf),
		 memchr(node->address, ':', len) ? "[%.*s]:%u" : "%.*s:%u",
		 (int)len, node->address, (unsigned)node->port);
	return text(buf);
}

json_t *ha_data_raft_status(const struct ha_raft_status *status)
{
	const char *syncmode = ha_syncmode_name(status->syncmode);
	json_t *data, *nodes;

	if (status->n_nodes > HA_MAX_NODES || syncmode == NULL ||
	    (int)status->state < (int)HA_STATE_UNAVAILABLE ||
	    (int)status->state > (int)HA_STATE_LEADER)
		return NULL;
	data = json_object();
	nodes = json_array();
	if (data == NULL || nodes == NULL) {
		json_decref(data);
		json_decref(nodes);
		return NULL;
	}
	if (put(data, "nodes", nodes) != 0)
		goto err;
	for (size_t i = 0; i < status->n_nodes; i++) {
		const struct ha_raft_status_node *member = &status->nodes[i];
		json_t *entry;

		if ((int)member->role < (int)HA_ROLE_STANDBY ||
		    (int)member->role > (int)HA_ROLE_SPARE)
			goto err;
		entry = json_object();
		if (entry == NULL || json_array_append_new(nodes, entry) != 0)
			goto err;
		if (put(entry, "address", host_port(&member->node)) != 0 ||
		    put(entry, "id", json_integer(member->node.nodeid)) != 0 ||
		    put(entry, "role", json_integer(member->role)) != 0)
			goto err;
	}
	if (put(data, "commit_index", counter(status->commit_index)) != 0 ||
	    put(data, "last_applied", counter(status->last_applied)) != 0 ||
	    put(data, "last_stored", counter(status->last_stored)) != 0 ||
	    put(data, "current_term", counter(status->current_term)) != 0 ||
	    put(data, "state", json_integer(status->state)) != 0 ||
	    put(data, "errmsg", FIELD_TEXT(status->errmsg)) != 0 ||
	    put(data, "base_msg", counter(status->base_msg)) != 0 ||
	    put(data, "client", counter(status->client)) != 0 ||
	    put(data, "client_msg", counter(status->client_msg)) != 0 ||
	    put(data, "retain_msg", counter(status->retain_msg)) != 0 ||
	    put(data, "subscription", counter(status->subscription)) != 0 ||
	    put(data, "syncmode", json_string(syncmode)) != 0 ||
	    put(data, "cutoff", json_boolean(status->cutoff)) != 0)
		goto err;
	json_t *handoff = json_object();
	if (handoff == NULL || put(data, "handoff_us", handoff) != 0 ||
	    put(handoff, "samples", counter(status->handoff_samples)) != 0 ||
	    put(handoff, "median", counter(status->handoff_median_us)) != 0 ||
	    put(handoff, "max", counter(status->handoff_max_us)) != 0 ||
	    put(handoff, "longest_pass", counter(status->drain_max_us)) != 0 ||
	    put(data, "last_captured_index",
		counter(status->last_captured_index)) != 0 ||
	    put(data, "captures_pending", counter(status->captures_pending)) !=
		0 ||
	    put(data, "captures_lost", counter(status->captures_lost)) != 0 ||
	    put(data, "feature_level", counter(status->feature_level)) != 0 ||
	    put(data, "feature_level_advertised",
		counter(status->feature_level_advertised)) != 0 ||
	    put(data, "handoff_queue_bytes",
		counter(status->handoff_queue_bytes)) != 0)
		goto err;
	json_t *snapshot = json_object();
	if (snapshot == NULL || put(data, "snapshot", snapshot) != 0 ||
	    put(snapshot, "index", counter(status->snapshot_index)) != 0 ||
	    put(snapshot, "installed", counter(status->snapshots_installed)) !=
		0)
		goto err;
	return data;
err:
	json_decref(data);
	return NULL;
}
