/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Fuzz target for the control API: any payload is parsed, every command is
 * answered (valid ones with data built from what was parsed) and the reply
 * is checked: valid JSON, one response per command, in order, with the
 * command's name and correlationData, an error exactly where the parser
 * refused. Parsed commands must obey every rule the parser claims to check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/control.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "ha_control: check failed: %s\n",      \
				#cond);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

static void check_node(const struct ha_member *node)
{
	CHECK(ha_address_valid(node->address));
	CHECK(node->port >= 1);
	CHECK(node->nodeid >= HA_NODEID_MIN && node->nodeid <= HA_NODEID_MAX);
}

static void check_clustername(const char *name)
{
	size_t len = strlen(name);

	CHECK(len >= 1 && len <= HA_CLUSTERNAME_MAX);
	for (size_t i = 0; i < len; i++)
		CHECK(name[i] >= 0x20 && name[i] <= 0x7e);
}

/* A valid command obeys the rules of its kind. */
static void check_command(const struct ha_command *cmd)
{
	size_t mine = 0;

	CHECK(cmd->error[0] == '\0');
	switch (cmd->kind) {
	case HA_CMD_CREATE_CLUSTER:
	case HA_CMD_JOIN_CLUSTER:
		check_clustername(cmd->clustername);
		CHECK(cmd->n_nodes >= HA_MIN_NODES &&
		      cmd->n_nodes <= HA_MAX_NODES);
		for (size_t i = 0; i < cmd->n_nodes; i++) {
			check_node(&cmd->nodes[i]);
			mine += cmd->nodes[i].mynode;
			for (size_t j = 0; j < i; j++) {
				CHECK(cmd->nodes[i].nodeid !=
				      cmd->nodes[j].nodeid);
				CHECK(cmd->nodes[i].port !=
					  cmd->nodes[j].port ||
				      !ha_address_same(cmd->nodes[i].address,
						       cmd->nodes[j].address));
			}
		}
		CHECK(mine == 1);
		break;
	case HA_CMD_ADD_NODE:
	case HA_CMD_REMOVE_NODE:
	case HA_CMD_LEAVE_CLUSTER:
		check_clustername(cmd->clustername);
		check_node(&cmd->node);
		CHECK(!cmd->node.mynode);
		CHECK(cmd->n_nodes == 0);
		break;
	case HA_CMD_DELETE_CLUSTER:
		check_clustername(cmd->clustername);
		break;
	case HA_CMD_SET_LEADER:
		check_clustername(cmd->clustername);
		CHECK(cmd->node.nodeid >= HA_NODEID_MIN &&
		      cmd->node.nodeid <= HA_NODEID_MAX);
		break;
	case HA_CMD_GET_CLUSTER:
	case HA_CMD_GET_RAFT_STATUS:
	case HA_CMD_IS_LEADER:
		CHECK(cmd->clustername[0] == '\0' && cmd->n_nodes == 0);
		break;
	case HA_CMD_INVALID:
		CHECK(0);
	}
}

/* Data for a valid command, built from the command itself so that parsed
 * client strings flow through the data builders too. NULL for commands
 * that return none. */
static json_t *data_for(const struct ha_command *cmd,
			const struct ha_command *model)
{
	static struct ha_cluster_view cluster;
	static struct ha_raft_status status;
	struct ha_leader_view leader = {.leader = model->n_nodes % 2,
					.nodeid = model->nodes[0].nodeid,
					.leader_nodeid = model->node.nodeid};

	switch (cmd->kind) {
	case HA_CMD_GET_CLUSTER:
		memset(&cluster, 0, sizeof(cluster));
		memcpy(cluster.clustername, model->clustername,
		       sizeof(cluster.clustername));
		memcpy(cluster.uuid, model->correlation,
		       sizeof(cluster.uuid) - 1);
		memcpy(cluster.nodes, model->nodes, sizeof(cluster.nodes));
		cluster.n_nodes = model->n_nodes;
		cluster.leader = model->node.nodeid;
		cluster.log_index = UINT64_MAX - model->n_nodes;
		return ha_data_cluster(&cluster);
	case HA_CMD_GET_RAFT_STATUS:
		memset(&status, 0, sizeof(status));
		for (size_t i = 0; i < model->n_nodes; i++) {
			status.nodes[i].node = model->nodes[i];
			status.nodes[i].role = (enum ha_raft_role)(i % 3);
		}
		status.n_nodes = model->n_nodes;
		status.state = (enum ha_raft_state)(model->n_nodes % 4);
		memcpy(status.errmsg, model->correlation,
		       sizeof(status.errmsg));
		status.syncmode = HA_SYNCMODE_DYNSEC;
		return ha_data_raft_status(&status);
	case HA_CMD_IS_LEADER:
		return ha_data_leader(&leader);
	default:
		return NULL;
	}
}

static bool returns_data(enum ha_command_kind kind)
{
	return kind == HA_CMD_GET_CLUSTER || kind == HA_CMD_IS_LEADER ||
	       kind == HA_CMD_GET_RAFT_STATUS;
}

/* The reply text matches the request it answers. */
static void check_reply(const char *text, size_t len,
			const struct ha_request *req)
{
	json_error_t error;
	json_t *reply = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
	const json_t *responses;

	CHECK(reply != NULL);
	CHECK(json_object_size(reply) == 1);
	responses = json_object_get(reply, "responses");
	CHECK(json_is_array(responses));
	CHECK(json_array_size(responses) == req->n_commands);
	for (size_t i = 0; i < req->n_commands; i++) {
		const struct ha_command *cmd = &req->commands[i];
		const json_t *r = json_array_get(responses, i);
		const json_t *name = json_object_get(r, "command");
		const json_t *err = json_object_get(r, "error");
		const json_t *data = json_object_get(r, "data");
		const json_t *corr = json_object_get(r, "correlationData");

		CHECK(json_is_string(name));
		CHECK(strcmp(json_string_value(name), cmd->name) == 0);
		CHECK((cmd->kind == HA_CMD_INVALID) == (err != NULL));
		if (err != NULL)
			CHECK(strcmp(json_string_value(err), cmd->error) == 0);
		CHECK((data != NULL) ==
		      (cmd->kind != HA_CMD_INVALID && returns_data(cmd->kind)));
		CHECK((corr != NULL) == cmd->has_correlation);
		if (corr != NULL)
			CHECK(strcmp(json_string_value(corr),
				     cmd->correlation) == 0);
	}
	json_decref(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ha_request req;
	const struct ha_command *model = NULL;
	json_t *reply;
	char *text;
	size_t len;

	if (ha_request_parse((const char *)data, size, &req) != 0)
		return 0;
	CHECK(req.n_commands <= HA_CONTROL_MAX_COMMANDS);
	reply = ha_reply_new();
	CHECK(reply != NULL);
	/* The first command with a node list lends its strings to the data
	 * of the queries. */
	for (size_t i = 0; i < req.n_commands && model == NULL; i++) {
		if (req.commands[i].n_nodes > 0)
			model = &req.commands[i];
	}
	for (size_t i = 0; i < req.n_commands; i++) {
		const struct ha_command *cmd = &req.commands[i];

		CHECK(strlen(cmd->name) > 0);
		if (cmd->kind == HA_CMD_INVALID) {
			CHECK(cmd->error[0] != '\0');
			CHECK(ha_reply_add_error(reply, cmd, cmd->error) == 0);
			continue;
		}
		check_command(cmd);
		json_t *result = data_for(cmd, model != NULL ? model : cmd);
		CHECK(result != NULL || !returns_data(cmd->kind));
		CHECK(ha_reply_add_result(reply, cmd, result) == 0);
	}
	text = ha_reply_dump(reply, &len);
	CHECK(text != NULL);
	check_reply(text, len, &req);
	ha_reply_dump_free(text);
	json_decref(reply);
	ha_request_free(&req);
	return 0;
}
