/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The subcommands that send one control command to one broker, and what
 * form and status share with them.
 */
#include "ctrl/ctrl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum node_args { NODES_NONE, NODES_LIST, NODES_ONE };

struct single {
	const char *name; /* the subcommand */
	const char *api;  /* the control command */
	bool needs_name;
	enum node_args nodes;
	bool needs_me;
	bool needs_id;
};

static const struct single singles[] = {
    {"create", "createCluster", true, NODES_LIST, true, false},
    {"join", "joinCluster", true, NODES_LIST, true, false},
    {"add-node", "addNode", true, NODES_ONE, false, false},
    {"remove-node", "removeNode", true, NODES_ONE, false, false},
    {"leave", "leaveCluster", true, NODES_ONE, false, false},
    {"delete", "deleteCluster", true, NODES_NONE, false, false},
    {"cluster", "getCluster", false, NODES_NONE, false, false},
    {"is-leader", "isLeader", false, NODES_NONE, false, false},
    {"set-leader", "setLeader", true, NODES_NONE, false, true},
};

void ctrl_print_json(json_t *value)
{
	char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);

	if (text == NULL) {
		fprintf(stderr, "mosquitto_ha_ctrl: out of memory\n");
		return;
	}
	puts(text);
	free(text);
}

const char *ctrl_response_error(json_t *response)
{
	json_t *e = json_object_get(response, "error");

	return json_is_string(e) ? json_string_value(e) : NULL;
}

json_t *ctrl_node_list(const struct ctrl_args *a, unsigned mine)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; list && i < a->node_count; i++) {
		const struct ctrl_node_spec *n = &a->nodes[i];
		json_t *o = json_pack(
		    "{s:s,s:i,s:i}", "address", n->cluster.host, "port",
		    (int)n->cluster.port, "nodeid", (int)n->id);
		if (o && n->id == mine &&
		    json_object_set_new(o, "mynode", json_true())) {
			json_decref(o);
			o = NULL;
		}
		if (o == NULL || json_array_append_new(list, o)) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

void ctrl_ask_all(struct ctrl_session **sessions, size_t n, json_t *commands,
		  double deadline)
{
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *copy;
		if (ctrl_session_state(sessions[i]) != CTRL_S_READY)
			continue;
		/* A failed send leaves the session FAILED, saying why. */
		copy = json_deep_copy(commands);
		if (copy != NULL)
			ctrl_session_send(sessions[i], copy);
		json_decref(copy);
	}
	ctrl_sessions_run(sessions, n, deadline);
}

static void say_failure(const struct ctrl_session *s)
{
	char ep[TRANSPORT_ADDRESS_MAX + 8];

	ctrl_endpoint_format(ctrl_session_endpoint(s), ep, sizeof ep);
	fprintf(stderr, "mosquitto_ha_ctrl: %s: %s\n", ep,
		ctrl_session_error(s));
}

/* Sends `commands` to one broker; the responses, or an exit code. */
static int request_one(const struct ctrl_args *a,
		       const struct ctrl_endpoint *ep, json_t *commands,
		       json_t **responses)
{
	double deadline = ctrl_now() + a->timeout_s;
	struct ctrl_session *s = ctrl_session_open(&a->conn, ep);
	int rc = CTRL_EXIT_OK;

	if (s == NULL) {
		fprintf(stderr, "mosquitto_ha_ctrl: out of memory\n");
		return CTRL_EXIT_REFUSED;
	}
	ctrl_sessions_run(&s, 1, deadline);
	ctrl_ask_all(&s, 1, commands, deadline);
	if (ctrl_session_state(s) == CTRL_S_FAILED) {
		say_failure(s);
		rc = ctrl_failure_exit(ctrl_session_failure(s));
	} else {
		*responses = ctrl_session_take_reply(s);
	}
	ctrl_session_close(s);
	return rc;
}

static const struct ctrl_node_spec *find_node(const struct ctrl_args *a,
					      long id)
{
	size_t i;

	for (i = 0; i < a->node_count; i++)
		if ((long)a->nodes[i].id == id)
			return &a->nodes[i];
	return NULL;
}

static int check_args(const struct ctrl_args *a, const struct single *c)
{
	const char *why = NULL;

	if (c->needs_name && a->name == NULL)
		why = "needs --name NAME";
	else if (c->nodes == NODES_NONE && a->node_count)
		why = "takes no --node";
	else if (c->nodes == NODES_ONE && a->node_count != 1)
		why = "needs exactly one --node ID@HOST:PORT";
	else if (c->nodes == NODES_LIST && a->node_count < 3)
		why = "needs at least three --node ID@HOST:PORT";
	else if (c->needs_me != (a->me != 0))
		why = c->needs_me ? "needs --me ID (one of the --node ids)"
				  : "takes no --me";
	else if (c->needs_me && find_node(a, a->me) == NULL)
		why = "needs --me to name one of the --node ids";
	else if (c->needs_id != (a->id != 0))
		why = c->needs_id ? "needs --id ID" : "takes no --id";
	else if (a->syncmode != NULL && c->nodes != NODES_LIST)
		why = "takes no --syncmode";
	if (why == NULL)
		return 0;
	fprintf(stderr,
		"mosquitto_ha_ctrl: %s %s\nTry 'mosquitto_ha_ctrl --help'.\n",
		c->name, why);
	return CTRL_EXIT_USAGE;
}

static json_t *build(const struct ctrl_args *a, const struct single *c)
{
	json_t *cmd = json_pack("{s:s}", "command", c->api);
	const struct ctrl_node_spec *n = &a->nodes[0];
	int bad = cmd == NULL;

	if (!bad && c->needs_name)
		bad = json_object_set_new(cmd, "clustername",
					  json_string(a->name));
	if (!bad && c->nodes == NODES_LIST)
		bad = json_object_set_new(cmd, "nodes",
					  ctrl_node_list(a, (unsigned)a->me));
	if (!bad && c->nodes == NODES_LIST && a->syncmode != NULL)
		bad = json_object_set_new(cmd, "syncmode",
					  json_string(a->syncmode));
	if (!bad && c->nodes == NODES_ONE)
		bad = json_object_set_new(cmd, "address",
					  json_string(n->cluster.host)) ||
		      json_object_set_new(cmd, "port",
					  json_integer(n->cluster.port)) ||
		      json_object_set_new(cmd, "nodeid", json_integer(n->id));
	if (!bad && c->needs_id)
		bad = json_object_set_new(cmd, "nodeid", json_integer(a->id));
	if (bad) {
		json_decref(cmd);
		return NULL;
	}
	return cmd;
}

static void print_cluster(json_t *data)
{
	json_t *nodes = json_object_get(data, "nodes");
	json_t *leader = json_object_get(data, "leader");
	json_t *n;
	size_t i;

	printf("cluster    %s\n",
	       json_string_value(json_object_get(data, "clustername")));
	printf("uuid       %s\n",
	       json_string_value(json_object_get(data, "uuid")));
	printf("syncmode   %s\n",
	       json_string_value(json_object_get(data, "syncmode")));
	if (json_is_integer(leader))
		printf("leader     node %" JSON_INTEGER_FORMAT "\n",
		       json_integer_value(leader));
	else
		printf("leader     none known\n");
	printf("log index  %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(data, "log_index")));
	printf("nodes\n");
	json_array_foreach(nodes, i, n)
	{
		struct ctrl_endpoint ep;
		char text[TRANSPORT_ADDRESS_MAX + 8];
		json_int_t id =
		    json_integer_value(json_object_get(n, "nodeid"));

		snprintf(ep.host, sizeof ep.host, "%s",
			 json_string_value(json_object_get(n, "address")));
		ep.port =
		    (uint16_t)json_integer_value(json_object_get(n, "port"));
		ctrl_endpoint_format(&ep, text, sizeof text);
		printf("  %4" JSON_INTEGER_FORMAT "  %s%s\n", id, text,
		       json_is_integer(leader) &&
			       json_integer_value(leader) == id
			   ? "  (leader)"
			   : "");
	}
}

static void print_is_leader(const char *where, json_t *data)
{
	json_t *id = json_object_get(data, "nodeid");
	json_t *leader = json_object_get(data, "leader_nodeid");

	if (!json_is_integer(id)) {
		printf("%s is not in a cluster.\n", where);
	} else if (json_is_true(json_object_get(data, "leader"))) {
		printf("%s (node %" JSON_INTEGER_FORMAT ") is the leader.\n",
		       where, json_integer_value(id));
	} else if (json_is_integer(leader)) {
		printf(
		    "%s (node %" JSON_INTEGER_FORMAT
		    ") is not the leader; node %" JSON_INTEGER_FORMAT " is.\n",
		    where, json_integer_value(id), json_integer_value(leader));
	} else {
		printf("%s (node %" JSON_INTEGER_FORMAT
		       ") is not the leader; it knows of none.\n",
		       where, json_integer_value(id));
	}
}

static void print_words(const struct ctrl_args *a, const struct single *c,
			const char *where, json_t *response)
{
	const struct ctrl_node_spec *n = &a->nodes[0];
	char addr[TRANSPORT_ADDRESS_MAX + 8] = "";
	json_t *data = json_object_get(response, "data");

	if (a->node_count)
		ctrl_endpoint_format(&n->cluster, addr, sizeof addr);
	if (!strcmp(c->name, "create"))
		printf("Cluster %s created on %s (node %ld).\n", a->name, where,
		       a->me);
	else if (!strcmp(c->name, "join"))
		printf("%s (node %ld) joined cluster %s.\n", where, a->me,
		       a->name);
	else if (!strcmp(c->name, "add-node"))
		printf("Node %u (%s) added to cluster %s.\n", n->id, addr,
		       a->name);
	else if (!strcmp(c->name, "remove-node"))
		printf("Node %u (%s) removed from cluster %s.\n", n->id, addr,
		       a->name);
	else if (!strcmp(c->name, "leave"))
		printf("Node %u (%s) left cluster %s.\n", n->id, addr, a->name);
	else if (!strcmp(c->name, "delete"))
		printf("Cluster %s deleted.\n", a->name);
	else if (!strcmp(c->name, "set-leader"))
		printf("Leadership of cluster %s handed to node %ld.\n",
		       a->name, a->id);
	else if (!strcmp(c->name, "cluster"))
		print_cluster(data);
	else if (!strcmp(c->name, "is-leader"))
		print_is_leader(where, data);
}

/* The sentence of a command sent to a node that does not lead (the
 * control API's, docs/api.md). */
#define NOT_LEADER "This broker is not the cluster leader."

static bool leader_only(const struct single *c)
{
	return !strcmp(c->name, "add-node") ||
	       !strcmp(c->name, "remove-node") || !strcmp(c->name, "delete") ||
	       !strcmp(c->name, "cluster") || !strcmp(c->name, "set-leader");
}

/* Where the leader serves administrators, if the node asked at ep names
 * one that the membership list (the options file's, or --node given for
 * the cluster) gives an MQTT endpoint; false otherwise. */
static bool find_leader(const struct ctrl_args *a,
			const struct ctrl_node_spec *members, size_t n,
			const struct ctrl_endpoint *ep,
			struct ctrl_endpoint *out, unsigned *leader_id)
{
	json_t *commands = json_pack("[{s:s}]", "command", "isLeader");
	json_t *responses = NULL;
	bool found = false;

	if (commands == NULL)
		return false;
	if (request_one(a, ep, commands, &responses) == CTRL_EXIT_OK) {
		json_t *data =
		    json_object_get(json_array_get(responses, 0), "data");
		json_t *id = json_object_get(data, "leader_nodeid");
		for (size_t i = 0; json_is_integer(id) && i < n; i++) {
			if ((json_int_t)members[i].id ==
				json_integer_value(id) &&
			    members[i].has_mqtt) {
				*out = members[i].mqtt;
				*leader_id = members[i].id;
				found = true;
			}
		}
	}
	json_decref(commands);
	json_decref(responses);
	return found;
}

int ctrl_run_single(const struct ctrl_args *given)
{
	static struct ctrl_args args;
	const struct ctrl_args *a = &args;
	const struct single *c = NULL;
	const struct ctrl_node_spec *fallback = NULL;
	struct ctrl_endpoint ep;
	char where[TRANSPORT_ADDRESS_MAX + 8];
	json_t *commands, *responses = NULL, *response;
	const char *error;
	size_t i;
	int rc;

	for (i = 0; i < sizeof singles / sizeof *singles; i++)
		if (!strcmp(given->command, singles[i].name))
			c = &singles[i];
	if (c == NULL)
		return CTRL_EXIT_USAGE;
	/* The options file's node list is a cluster's membership: it serves
	 * create and join, not the commands about one node or none. */
	args = *given;
	if (args.nodes_from_file && c->nodes != NODES_LIST)
		args.node_count = 0;
	rc = check_args(a, c);
	if (rc != 0)
		return rc;
	if (c->needs_me)
		fallback = find_node(a, a->me);
	else if (!strcmp(c->name, "leave"))
		fallback = &a->nodes[0];
	ctrl_default_endpoint(a, fallback, &ep);
	ctrl_endpoint_format(&ep, where, sizeof where);
	commands = json_array();
	if (commands == NULL || json_array_append_new(commands, build(a, c))) {
		json_decref(commands);
		fprintf(stderr, "mosquitto_ha_ctrl: out of memory\n");
		return CTRL_EXIT_REFUSED;
	}
	rc = request_one(a, &ep, commands, &responses);
	if (rc != 0) {
		json_decref(commands);
		return rc;
	}
	response = json_array_get(responses, 0);
	error = ctrl_response_error(response);
	/* Sent to a follower: once more to the leader, when the membership
	 * list says where it serves (as etcdctl follows its endpoints). */
	struct ctrl_endpoint leader_ep;
	unsigned leader_id;
	if (error != NULL && !strcmp(error, NOT_LEADER) && leader_only(c) &&
	    (given->nodes_from_file || c->nodes != NODES_ONE) &&
	    find_leader(a, given->nodes, given->node_count, &ep, &leader_ep,
			&leader_id)) {
		json_decref(responses);
		responses = NULL;
		ep = leader_ep;
		ctrl_endpoint_format(&ep, where, sizeof where);
		rc = request_one(a, &ep, commands, &responses);
		if (rc != 0) {
			json_decref(commands);
			return rc;
		}
		if (!a->json)
			printf("sent to node %u, the leader, at %s\n",
			       leader_id, where);
		response = json_array_get(responses, 0);
		error = ctrl_response_error(response);
	}
	json_decref(commands);
	if (a->json)
		ctrl_print_json(response);
	if (error) {
		fprintf(stderr, "mosquitto_ha_ctrl: %s: %s\n", c->api, error);
		rc = CTRL_EXIT_REFUSED;
	} else if (!a->json) {
		print_words(a, c, where, response);
	}
	json_decref(responses);
	return rc;
}
