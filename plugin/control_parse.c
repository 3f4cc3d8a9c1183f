/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Request parsing for the control API: the dynamic-security envelope, then
 * every command checked against its schema (types, ranges, no unknown
 * fields) and turned into a struct ha_command. A refused command carries
 * its error sentence; it never stops the commands after it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "plugin/control.h"
#include "raft/raft.h"

_Static_assert(HA_MAX_NODES == RAFT_MAX_SERVERS,
	       "a cluster of the API is one raft configuration");
_Static_assert(HA_NODEID_MAX == RAFT_MAX_NODE_ID, "API node ids are raft ids");

/* Fields a command may carry besides "command" and "correlationData". */
enum field {
	FIELD_CLUSTERNAME = 1u << 0,
	FIELD_NODES = 1u << 1,
	FIELD_ADDRESS = 1u << 2,
	FIELD_PORT = 1u << 3,
	FIELD_NODEID = 1u << 4,
	FIELD_SYNCMODE = 1u << 5,
};

static const struct command_spec {
	const char *name;
	enum ha_command_kind kind;
	unsigned fields; /* all of them are required */
	unsigned optional;
} command_specs[] = {
    {"createCluster", HA_CMD_CREATE_CLUSTER, FIELD_CLUSTERNAME | FIELD_NODES,
     FIELD_SYNCMODE},
    {"joinCluster", HA_CMD_JOIN_CLUSTER, FIELD_CLUSTERNAME | FIELD_NODES,
     FIELD_SYNCMODE},
    {"addNode", HA_CMD_ADD_NODE,
     FIELD_CLUSTERNAME | FIELD_ADDRESS | FIELD_PORT | FIELD_NODEID, 0},
    {"removeNode", HA_CMD_REMOVE_NODE,
     FIELD_CLUSTERNAME | FIELD_ADDRESS | FIELD_PORT | FIELD_NODEID, 0},
    {"leaveCluster", HA_CMD_LEAVE_CLUSTER,
     FIELD_CLUSTERNAME | FIELD_ADDRESS | FIELD_PORT | FIELD_NODEID, 0},
    {"deleteCluster", HA_CMD_DELETE_CLUSTER, FIELD_CLUSTERNAME, 0},
    {"getCluster", HA_CMD_GET_CLUSTER, 0, 0},
    {"getRaftStatus", HA_CMD_GET_RAFT_STATUS, 0, 0},
    {"isLeader", HA_CMD_IS_LEADER, 0, 0},
    {"setLeader", HA_CMD_SET_LEADER, FIELD_CLUSTERNAME | FIELD_NODEID, 0},
};

#define N_SPECS (sizeof(command_specs) / sizeof(command_specs[0]))

static const struct field_name {
	const char *name;
	enum field field;
} field_names[] = {
    {"clustername", FIELD_CLUSTERNAME}, {"nodes", FIELD_NODES},
    {"address", FIELD_ADDRESS},		{"port", FIELD_PORT},
    {"nodeid", FIELD_NODEID},		{"syncmode", FIELD_SYNCMODE},
};

#define N_FIELD_NAMES (sizeof(field_names) / sizeof(field_names[0]))

/* Allocations go through jansson's allocator, so one hook (tests use it to
 * inject failures) covers every allocation of the control layer. */
static void *alloc_zeroed(size_t n, size_t size)
{
	json_malloc_t json_malloc;
	json_free_t json_free;
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	json_get_alloc_funcs(&json_malloc, &json_free);
	p = json_malloc(n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

static void release(void *p)
{
	json_malloc_t json_malloc;
	json_free_t json_free;

	json_get_alloc_funcs(&json_malloc, &json_free);
	if (p != NULL)
		json_free(p);
}

/* How much of a client's field name an error sentence quotes. */
#define QUOTED_NAME_MAX 64u

const char *ha_command_kind_name(enum ha_command_kind kind)
{
	for (size_t i = 0; i < N_SPECS; i++) {
		if (command_specs[i].kind == kind)
			return command_specs[i].name;
	}
	return HA_UNKNOWN_COMMAND_NAME;
}

/* Marks cmd as refused with a formatted sentence. Always returns -1 so that
 * callers can `return refuse(...)`. */
__attribute__((format(printf, 2, 3))) static int refuse(struct ha_command *cmd,
							const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd->error, sizeof(cmd->error), fmt, ap);
	va_end(ap);
	cmd->kind = HA_CMD_INVALID;
	return -1;
}

/* Copies at most max bytes of the UTF-8 string s, never splitting a
 * character, so a quoted client string keeps the reply valid UTF-8. */
static void copy_utf8_prefix(char *out, size_t out_size, const char *s,
			     size_t max)
{
	size_t n = strlen(s);

	if (max > out_size - 1)
		max = out_size - 1;
	if (n > max) {
		n = max;
		/* Back up over continuation bytes (10xxxxxx) and the lead byte
		 * of the character they belong to. */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

static const struct command_spec *find_spec(const char *name)
{
	for (size_t i = 0; i < N_SPECS; i++) {
		if (strcasecmp(command_specs[i].name, name) == 0)
			return &command_specs[i];
	}
	return NULL;
}

static unsigned field_of(const char *key)
{
	for (size_t i = 0; i < N_FIELD_NAMES; i++) {
		if (strcmp(field_names[i].name, key) == 0)
			return field_names[i].field;
	}
	return 0;
}

/* An integer field in [min, max]; where prefixes sentences ("nodes[1]: "). */
static int get_integer(struct ha_command *cmd, const json_t *obj,
		       const char *where, const char *key, long min, long max,
		       long *out)
{
	const json_t *value = json_object_get(obj, key);
	json_int_t v;

	if (value == NULL)
		return refuse(cmd, "%s%s is missing.", where, key);
	if (!json_is_integer(value))
		return refuse(cmd, "%s%s must be an integer from %ld to %ld.",
			      where, key, min, max);
	v = json_integer_value(value);
	if (v < min || v > max)
		return refuse(cmd, "%s%s must be an integer from %ld to %ld.",
			      where, key, min, max);
	*out = (long)v;
	return 0;
}

static int get_address(struct ha_command *cmd, const json_t *obj,
		       const char *where, char out[HA_ADDRESS_MAX + 1])
{
	const json_t *value = json_object_get(obj, "address");

	if (value == NULL)
		return refuse(cmd, "%saddress is missing.", where);
	if (!json_is_string(value))
		return refuse(cmd, "%saddress must be a string.", where);
	if (json_string_length(value) > HA_ADDRESS_MAX)
		return refuse(cmd, "%saddress is longer than %u characters.",
			      where, HA_ADDRESS_MAX);
	if (!ha_address_valid(json_string_value(value)))
		return refuse(cmd,
			      "%saddress must be an IPv4 address, an IPv6 "
			      "address (without brackets) or a host name.",
			      where);
	strcpy(out, json_string_value(value));
	return 0;
}

/* address, port and nodeid of one node, from obj; where names it in
 * sentences. */
static int get_node(struct ha_command *cmd, const json_t *obj,
		    const char *where, struct ha_member *node)
{
	long port, nodeid;

	if (get_address(cmd, obj, where, node->address) != 0 ||
	    get_integer(cmd, obj, where, "port", 1, 65535, &port) != 0 ||
	    get_integer(cmd, obj, where, "nodeid", HA_NODEID_MIN, HA_NODEID_MAX,
			&nodeid) != 0)
		return -1;
	node->port = (uint16_t)port;
	node->nodeid = (uint16_t)nodeid;
	node->mynode = false;
	return 0;
}

static int get_clustername(struct ha_command *cmd, const json_t *obj)
{
	const json_t *value = json_object_get(obj, "clustername");
	const char *s;
	size_t len;

	if (value == NULL)
		return refuse(cmd, "clustername is missing.");
	if (!json_is_string(value))
		return refuse(cmd, "clustername must be a string.");
	s = json_string_value(value);
	len = json_string_length(value);
	if (len == 0)
		return refuse(cmd, "clustername must not be empty.");
	if (len > HA_CLUSTERNAME_MAX)
		return refuse(cmd, "clustername is longer than %u characters.",
			      HA_CLUSTERNAME_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e)
			return refuse(cmd, "clustername must consist of "
					   "printable ASCII characters.");
	}
	memcpy(cmd->clustername, s, len + 1);
	return 0;
}

/* The optional sync mode of createCluster and joinCluster. */
static int get_syncmode(struct ha_command *cmd, const json_t *obj)
{
	const json_t *value = json_object_get(obj, "syncmode");
	const char *s = json_is_string(value) ? json_string_value(value) : "";

	cmd->syncmode = HA_SYNCMODE_FULL;
	if (value == NULL || strcmp(s, "full") == 0)
		return 0;
	if (strcmp(s, "dynsec") == 0) {
		cmd->syncmode = HA_SYNCMODE_DYNSEC;
		return 0;
	}
	return refuse(cmd, "syncmode must be \"full\" or \"dynsec\".");
}

/* One entry of "nodes": an object with address, port, nodeid and an
 * optional mynode, nothing else. */
static int get_listed_node(struct ha_command *cmd, const json_t *entry,
			   size_t index, struct ha_member *node)
{
	char where[32];
	const char *key;
	const json_t *value;
	const json_t *mynode;

	snprintf(where, sizeof(where), "nodes[%zu]: ", index);
	if (!json_is_object(entry))
		return refuse(cmd, "nodes[%zu] is not an object.", index);
	json_object_foreach((json_t *)entry, key, value)
	{
		char quoted[QUOTED_NAME_MAX + 1];

		if (strcmp(key, "address") == 0 || strcmp(key, "port") == 0 ||
		    strcmp(key, "nodeid") == 0 || strcmp(key, "mynode") == 0)
			continue;
		copy_utf8_prefix(quoted, sizeof(quoted), key, QUOTED_NAME_MAX);
		return refuse(cmd, "%sunknown field \"%s\".", where, quoted);
	}
	if (get_node(cmd, entry, where, node) != 0)
		return -1;
	mynode = json_object_get(entry, "mynode");
	if (mynode != NULL && !json_is_boolean(mynode))
		return refuse(cmd, "%smynode must be true or false.", where);
	node->mynode = json_is_true(mynode);
	return 0;
}

/* The membership list of createCluster and joinCluster: HA_MIN_NODES to
 * HA_MAX_NODES distinct nodes, exactly one of them this node. */
static int get_nodes(struct ha_command *cmd, const json_t *obj)
{
	const json_t *nodes = json_object_get(obj, "nodes");
	size_t n, mine = SIZE_MAX;

	if (nodes == NULL)
		return refuse(cmd, "nodes is missing.");
	if (!json_is_array(nodes))
		return refuse(cmd, "nodes must be an array.");
	n = json_array_size(nodes);
	if (n < HA_MIN_NODES)
		return refuse(cmd, "nodes must list at least %u nodes.",
			      HA_MIN_NODES);
	if (n > HA_MAX_NODES)
		return refuse(cmd, "nodes must list at most %u nodes.",
			      HA_MAX_NODES);
	for (size_t i = 0; i < n; i++) {
		struct ha_member *node = &cmd->nodes[i];

		if (get_listed_node(cmd, json_array_get(nodes, i), i, node))
			return -1;
		for (size_t j = 0; j < i; j++) {
			const struct ha_member *other = &cmd->nodes[j];

			if (other->nodeid == node->nodeid)
				return refuse(cmd,
					      "nodes[%zu]: nodeid %u is "
					      "already used by nodes[%zu].",
					      i, node->nodeid, j);
			if (other->port == node->port &&
			    ha_address_same(other->address, node->address))
				return refuse(cmd,
					      "nodes[%zu]: address %s with "
					      "port %u is already used by "
					      "nodes[%zu].",
					      i, node->address, node->port, j);
		}
		if (node->mynode) {
			if (mine != SIZE_MAX)
				return refuse(cmd,
					      "nodes must mark exactly one "
					      "node with mynode:true; "
					      "nodes[%zu] and nodes[%zu] are "
					      "both marked.",
					      mine, i);
			mine = i;
		}
	}
	if (mine == SIZE_MAX)
		return refuse(cmd, "nodes must mark exactly one node with "
				   "mynode:true; none is marked.");
	cmd->n_nodes = n;
	return 0;
}

/* The fields of a command whose name is known. */
static int get_fields(struct ha_command *cmd, const json_t *obj,
		      const struct command_spec *spec)
{
	const char *key;
	const json_t *value;
	long nodeid;

	json_object_foreach((json_t *)obj, key, value)
	{
		char quoted[QUOTED_NAME_MAX + 1];

		if (strcmp(key, "command") == 0 ||
		    strcmp(key, "correlationData") == 0)
			continue;
		if ((field_of(key) & (spec->fields | spec->optional)) != 0)
			continue;
		copy_utf8_prefix(quoted, sizeof(quoted), key, QUOTED_NAME_MAX);
		return refuse(cmd, "Unknown field \"%s\" for %s.", quoted,
			      spec->name);
	}
	if ((spec->fields & FIELD_CLUSTERNAME) && get_clustername(cmd, obj))
		return -1;
	if ((spec->fields & FIELD_NODES) && get_nodes(cmd, obj))
		return -1;
	if ((spec->optional & FIELD_SYNCMODE) && get_syncmode(cmd, obj))
		return -1;
	if (spec->fields & FIELD_ADDRESS)
		return get_node(cmd, obj, "", &cmd->node);
	if (spec->fields & FIELD_NODEID) {
		if (get_integer(cmd, obj, "", "nodeid", HA_NODEID_MIN,
				HA_NODEID_MAX, &nodeid))
			return -1;
		cmd->node.nodeid = (uint16_t)nodeid;
	}
	return 0;
}

/* One entry of "commands". */
static void parse_command(const json_t *obj, struct ha_command *cmd)
{
	const json_t *name, *correlation;
	const struct command_spec *spec;
	size_t name_len;

	strcpy(cmd->name, HA_UNKNOWN_COMMAND_NAME);
	if (!json_is_object(obj)) {
		refuse(cmd, "%s", HA_ERR_NOT_OBJECT);
		return;
	}
	/* The name and correlationData are echoed whenever they are usable,
	 * so the client can match even a refusal to its request. */
	name = json_object_get(obj, "command");
	name_len = json_is_string(name) ? json_string_length(name) : 0;
	if (name_len > 0 && name_len <= HA_COMMAND_NAME_MAX)
		memcpy(cmd->name, json_string_value(name), name_len + 1);
	correlation = json_object_get(obj, "correlationData");
	if (json_is_string(correlation) &&
	    json_string_length(correlation) <= HA_CORRELATION_MAX) {
		memcpy(cmd->correlation, json_string_value(correlation),
		       json_string_length(correlation) + 1);
		cmd->has_correlation = true;
	}

	if (name_len == 0) {
		refuse(cmd, "%s", HA_ERR_MISSING_COMMAND);
		return;
	}
	if (correlation != NULL && !json_is_string(correlation)) {
		refuse(cmd, "%s", HA_ERR_CORRELATION_TYPE);
		return;
	}
	if (correlation != NULL && !cmd->has_correlation) {
		refuse(cmd, "%s", HA_ERR_CORRELATION_LONG);
		return;
	}
	spec = name_len <= HA_COMMAND_NAME_MAX ? find_spec(cmd->name) : NULL;
	if (spec == NULL) {
		refuse(cmd, "%s", HA_ERR_UNKNOWN_COMMAND);
		return;
	}
	cmd->kind = spec->kind;
	if (get_fields(cmd, obj, spec) != 0)
		return;
}

/* A request refused as a whole gets one response. */
static int refuse_request(struct ha_request *out, const char *sentence)
{
	out->commands = alloc_zeroed(1, sizeof(*out->commands));
	if (out->commands == NULL)
		return -1;
	out->n_commands = 1;
	strcpy(out->commands[0].name, HA_UNKNOWN_COMMAND_NAME);
	refuse(&out->commands[0], "%s", sentence);
	return 0;
}

int ha_request_parse(const char *payload, size_t len, struct ha_request *out)
{
	json_error_t error;
	json_t *root;
	const json_t *commands;
	size_t n;

	out->commands = NULL;
	out->n_commands = 0;
	if (len > HA_CONTROL_MAX_PAYLOAD)
		return refuse_request(out, HA_ERR_TOO_LARGE);
	if (payload == NULL)
		return refuse_request(out, HA_ERR_NOT_JSON);
	/* Duplicate keys would make a command mean two things. */
	root = json_loadb(payload, len,
			  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
	if (root == NULL) {
		if (json_error_code(&error) == json_error_out_of_memory)
			return -1;
		return refuse_request(out, HA_ERR_NOT_JSON);
	}
	commands = json_object_get(root, "commands");
	if (!json_is_array(commands)) {
		json_decref(root);
		return refuse_request(out, HA_ERR_BAD_COMMANDS);
	}
	n = json_array_size(commands);
	if (n > HA_CONTROL_MAX_COMMANDS) {
		json_decref(root);
		return refuse_request(out, HA_ERR_TOO_MANY);
	}
	if (n > 0) {
		out->commands = alloc_zeroed(n, sizeof(*out->commands));
		if (out->commands == NULL) {
			json_decref(root);
			return -1;
		}
	}
	out->n_commands = n;
	for (size_t i = 0; i < n; i++)
		parse_command(json_array_get(commands, i), &out->commands[i]);
	json_decref(root);
	return 0;
}

void ha_request_free(struct ha_request *req)
{
	release(req->commands);
	req->commands = NULL;
	req->n_commands = 0;
}
