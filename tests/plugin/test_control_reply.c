/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Control API replies: the response envelope, the data shapes of getCluster,
 * isLeader and getRaftStatus (byte for byte: tooling may compare text), and
 * every allocation failure along the way from payload to reply.
 */
#include <stdint.h>

#include "tests/plugin/control_test.h"

/* Dumps and frees a data object; fails the test if it is NULL. */
static char *dump_data(json_t *data)
{
	char *text;

	assert_non_null(data);
	text = json_dumps(data, JSON_COMPACT);
	assert_non_null(text);
	json_decref(data);
	return text;
}

static void expect_data(json_t *data, const char *expected)
{
	char *text = dump_data(data);

	if (strcmp(text, expected) != 0) {
		print_error("expected: %s\n  actual: %s\n", expected, text);
		free(text);
		fail();
	}
	free(text);
}

static struct ha_command command_named(const char *name,
				       const char *correlation)
{
	struct ha_command cmd;

	memset(&cmd, 0, sizeof(cmd));
	snprintf(cmd.name, sizeof(cmd.name), "%s", name);
	if (correlation != NULL) {
		cmd.has_correlation = true;
		snprintf(cmd.correlation, sizeof(cmd.correlation), "%s",
			 correlation);
	}
	return cmd;
}

static void fill_cluster_view(struct ha_cluster_view *view)
{
	memset(view, 0, sizeof(*view));
	strcpy(view->clustername, "prod");
	strcpy(view->uuid, "0f8fad5b-d9cb-469f-a165-70867728950e");
	view->n_nodes = 3;
	for (size_t i = 0; i < 3; i++) {
		snprintf(view->nodes[i].address, sizeof(view->nodes[i].address),
			 "10.0.0.%zu", i + 1);
		view->nodes[i].port = 7000;
		view->nodes[i].nodeid = (uint16_t)(i + 1);
	}
	view->nodes[0].mynode = true; /* not reported */
	view->syncmode = HA_SYNCMODE_FULL;
	view->leader = 2;
	view->log_index = 96;
}

static void fill_raft_status(struct ha_raft_status *status)
{
	memset(status, 0, sizeof(*status));
	status->n_nodes = 3;
	strcpy(status->nodes[0].node.address, "10.0.0.1");
	status->nodes[0].node.port = 7000;
	status->nodes[0].node.nodeid = 1;
	status->nodes[0].role = HA_ROLE_VOTER;
	strcpy(status->nodes[1].node.address, "fd00::2");
	status->nodes[1].node.port = 7001;
	status->nodes[1].node.nodeid = 2;
	status->nodes[1].role = HA_ROLE_STANDBY;
	strcpy(status->nodes[2].node.address, "node-c.lan");
	status->nodes[2].node.port = 7002;
	status->nodes[2].node.nodeid = 3;
	status->nodes[2].role = HA_ROLE_SPARE;
	status->commit_index = 120;
	status->last_applied = 119;
	status->last_stored = 121;
	status->current_term = 7;
	status->state = HA_STATE_LEADER;
	status->base_msg = 10;
	status->client = 4;
	status->client_msg = 3;
	status->retain_msg = 2;
	status->subscription = 5;
	status->syncmode = HA_SYNCMODE_DYNSEC;
	status->feature_level = 2;
	status->feature_level_advertised = 2;
}

static void test_empty_reply(void **state)
{
	json_t *reply = ha_reply_new();
	size_t len = 0;
	char *dump;

	(void)state;
	assert_non_null(reply);
	dump = ha_reply_dump(reply, &len);
	assert_string_equal(dump, "{\"responses\":[]}");
	assert_int_equal(len, strlen(dump));
	ha_reply_dump_free(dump);
	ha_reply_dump_free(NULL);
	json_decref(reply);
}

static void test_responses_in_order(void **state)
{
	json_t *reply = ha_reply_new();
	struct ha_command a = command_named("getCluster", "42");
	struct ha_command b = command_named("removeNode", "43");
	struct ha_command c = command_named("isLeader", NULL);
	struct ha_command d = command_named("setLeader", NULL);
	char *dump;

	(void)state;
	assert_non_null(reply);
	assert_int_equal(
	    ha_reply_add_result(reply, &a, json_pack("{s:i}", "x", 1)), 0);
	assert_int_equal(ha_reply_add_error(reply, &b, HA_ERR_NOT_LEADER), 0);
	assert_int_equal(ha_reply_add_result(reply, &c, json_object()), 0);
	/* A command without data gets neither data nor error. */
	assert_int_equal(ha_reply_add_result(reply, &d, NULL), 0);
	dump = ha_reply_dump(reply, NULL);
	assert_string_equal(
	    dump, "{\"responses\":["
		  "{\"command\":\"getCluster\",\"data\":{\"x\":1},"
		  "\"correlationData\":\"42\"},"
		  "{\"command\":\"removeNode\",\"error\":\"This broker is "
		  "not the cluster leader.\",\"correlationData\":\"43\"},"
		  "{\"command\":\"isLeader\",\"data\":{}},"
		  "{\"command\":\"setLeader\"}]}");
	ha_reply_dump_free(dump);
	json_decref(reply);
}

static void test_reply_text_is_utf8(void **state)
{
	json_t *reply = ha_reply_new();
	struct ha_command cmd = command_named("isLeader", "\xc3\xa9");
	char *dump;

	(void)state;
	assert_non_null(reply);
	/* A sentence that is not UTF-8 (it never comes from the parser, but
	 * the plugin may pass on a peer's words) is repaired, not dropped. */
	assert_int_equal(ha_reply_add_error(reply, &cmd, "bad \xff\xc3 end"),
			 0);
	dump = ha_reply_dump(reply, NULL);
	assert_string_equal(dump, "{\"responses\":[{\"command\":\"isLeader\","
				  "\"error\":\"bad ?? end\","
				  "\"correlationData\":\"\xc3\xa9\"}]}");
	ha_reply_dump_free(dump);
	json_decref(reply);
}

static void test_reply_rejects_non_reply(void **state)
{
	json_t *not_reply = json_object();
	struct ha_command cmd = command_named("isLeader", NULL);

	(void)state;
	assert_non_null(not_reply);
	assert_int_equal(ha_reply_add_error(not_reply, &cmd, "x"), -1);
	/* The data reference is released even on failure (ASan: no leak). */
	assert_int_equal(ha_reply_add_result(not_reply, &cmd, json_object()),
			 -1);
	json_decref(not_reply);
}

static void test_data_cluster(void **state)
{
	struct ha_cluster_view view;

	(void)state;
	fill_cluster_view(&view);
	expect_data(ha_data_cluster(&view),
		    "{\"clustername\":\"prod\",\"uuid\":\"0f8fad5b-d9cb-469f-"
		    "a165-70867728950e\",\"nodes\":["
		    "{\"address\":\"10.0.0.1\",\"port\":7000,\"nodeid\":1},"
		    "{\"address\":\"10.0.0.2\",\"port\":7000,\"nodeid\":2},"
		    "{\"address\":\"10.0.0.3\",\"port\":7000,\"nodeid\":3}],"
		    "\"version\":1,\"syncmode\":\"full\",\"leader\":2,"
		    "\"log_index\":96}");
	view.leader = 0;
	view.syncmode = HA_SYNCMODE_DYNSEC;
	view.n_nodes = 0;
	view.log_index = UINT64_MAX;
	expect_data(ha_data_cluster(&view),
		    "{\"clustername\":\"prod\",\"uuid\":\"0f8fad5b-d9cb-469f-"
		    "a165-70867728950e\",\"nodes\":[],\"version\":1,"
		    "\"syncmode\":\"dynsec\",\"leader\":null,"
		    "\"log_index\":9223372036854775807}");
}

static void test_data_cluster_limits(void **state)
{
	struct ha_cluster_view view;
	json_t *data;

	(void)state;
	fill_cluster_view(&view);
	view.n_nodes = HA_MAX_NODES + 1;
	assert_null(ha_data_cluster(&view));
	fill_cluster_view(&view);
	view.syncmode = (enum ha_syncmode)7;
	assert_null(ha_data_cluster(&view));
	/* Fixed-size text without its NUL is cut at the field's end. */
	fill_cluster_view(&view);
	memset(view.clustername, 'n', sizeof(view.clustername));
	data = ha_data_cluster(&view);
	assert_non_null(data);
	assert_int_equal(
	    strlen(json_string_value(json_object_get(data, "clustername"))),
	    sizeof(view.clustername));
	json_decref(data);
}

static void test_data_leader(void **state)
{
	struct ha_leader_view view = {
	    .leader = true, .nodeid = 3, .leader_nodeid = 3};

	(void)state;
	expect_data(ha_data_leader(&view),
		    "{\"leader\":true,\"nodeid\":3,\"leader_nodeid\":3}");
	view.leader = false;
	view.leader_nodeid = 1;
	expect_data(ha_data_leader(&view),
		    "{\"leader\":false,\"nodeid\":3,\"leader_nodeid\":1}");
	view.nodeid = 0;
	view.leader_nodeid = 0;
	expect_data(
	    ha_data_leader(&view),
	    "{\"leader\":false,\"nodeid\":null,\"leader_nodeid\":null}");
}

static void test_data_raft_status(void **state)
{
	struct ha_raft_status status;

	(void)state;
	fill_raft_status(&status);
	status.handoff_samples = 3;
	status.handoff_median_us = 80;
	status.handoff_max_us = 150;
	status.drain_max_us = 420;
	status.handoff_queue_bytes = 4096;
	status.snapshot_index = 100;
	status.snapshots_installed = 1;
	status.cutoff = true;
	expect_data(ha_data_raft_status(&status),
		    "{\"nodes\":["
		    "{\"address\":\"10.0.0.1:7000\",\"id\":1,\"role\":1},"
		    "{\"address\":\"[fd00::2]:7001\",\"id\":2,\"role\":0},"
		    "{\"address\":\"node-c.lan:7002\",\"id\":3,\"role\":2}],"
		    "\"commit_index\":120,\"last_applied\":119,"
		    "\"last_stored\":121,\"current_term\":7,\"state\":3,"
		    "\"errmsg\":\"\",\"base_msg\":10,\"client\":4,"
		    "\"client_msg\":3,\"retain_msg\":2,\"subscription\":5,"
		    "\"syncmode\":\"dynsec\",\"cutoff\":true,"
		    "\"handoff_us\":{\"samples\":3,\"median\":80,\"max\":150,"
		    "\"longest_pass\":420},"
		    "\"last_captured_index\":0,\"captures_pending\":0,"
		    "\"captures_lost\":0,"
		    "\"feature_level\":2,\"feature_level_advertised\":2,"
		    "\"handoff_queue_bytes\":4096,"
		    "\"snapshot\":{\"index\":100,\"installed\":1}}");

	fill_raft_status(&status);
	status.n_nodes = 0;
	status.state = HA_STATE_UNAVAILABLE;
	strcpy(status.errmsg, "disk full \xfe");
	status.commit_index = UINT64_MAX;
	expect_data(ha_data_raft_status(&status),
		    "{\"nodes\":[],\"commit_index\":9223372036854775807,"
		    "\"last_applied\":119,\"last_stored\":121,"
		    "\"current_term\":7,\"state\":0,"
		    "\"errmsg\":\"disk full ?\",\"base_msg\":10,\"client\":4,"
		    "\"client_msg\":3,\"retain_msg\":2,\"subscription\":5,"
		    "\"syncmode\":\"dynsec\",\"cutoff\":false,"
		    "\"handoff_us\":{\"samples\":0,\"median\":0,\"max\":0,"
		    "\"longest_pass\":0},"
		    "\"last_captured_index\":0,\"captures_pending\":0,"
		    "\"captures_lost\":0,"
		    "\"feature_level\":2,\"feature_level_advertised\":2,"
		    "\"handoff_queue_bytes\":0,"
		    "\"snapshot\":{\"index\":0,\"installed\":0}}");
}

static void test_data_raft_status_limits(void **state)
{
	struct ha_raft_status status;

	(void)state;
	fill_raft_status(&status);
	status.n_nodes = HA_MAX_NODES + 1;
	assert_null(ha_data_raft_status(&status));
	fill_raft_status(&status);
	status.state = (enum ha_raft_state)4;
	assert_null(ha_data_raft_status(&status));
	fill_raft_status(&status);
	status.nodes[2].role = (enum ha_raft_role)3;
	assert_null(ha_data_raft_status(&status));
	fill_raft_status(&status);
	status.syncmode = (enum ha_syncmode)2;
	assert_null(ha_data_raft_status(&status));
	/* The longest address still fits "[address]:port". */
	fill_raft_status(&status);
	memset(status.nodes[0].node.address, 'a', HA_ADDRESS_MAX);
	status.nodes[0].node.address[HA_ADDRESS_MAX] = '\0';
	status.nodes[0].node.port = 65535;
	json_t *data = ha_data_raft_status(&status);
	assert_non_null(data);
	const char *address = json_string_value(json_object_get(
	    json_array_get(json_object_get(data, "nodes"), 0), "address"));
	assert_int_equal(strlen(address), HA_ADDRESS_MAX + 6);
	assert_string_equal(address + HA_ADDRESS_MAX, ":65535");
	json_decref(data);
}

static void test_syncmode_names(void **state)
{
	(void)state;
	assert_string_equal(ha_syncmode_name(HA_SYNCMODE_FULL), "full");
	assert_string_equal(ha_syncmode_name(HA_SYNCMODE_DYNSEC), "dynsec");
	assert_null(ha_syncmode_name((enum ha_syncmode)9));
}

/* ---- payload to reply, as the plugin will run it ---- */

/* The data a command returns, from fixed views. */
static json_t *data_for(const struct ha_command *cmd)
{
	struct ha_cluster_view cluster;
	struct ha_leader_view leader = {
	    .leader = true, .nodeid = 1, .leader_nodeid = 1};
	struct ha_raft_status status;

	switch (cmd->kind) {
	case HA_CMD_GET_CLUSTER:
		fill_cluster_view(&cluster);
		return ha_data_cluster(&cluster);
	case HA_CMD_IS_LEADER:
		return ha_data_leader(&leader);
	case HA_CMD_GET_RAFT_STATUS:
		fill_raft_status(&status);
		return ha_data_raft_status(&status);
	default:
		return NULL;
	}
}

static bool returns_data(enum ha_command_kind kind)
{
	return kind == HA_CMD_GET_CLUSTER || kind == HA_CMD_IS_LEADER ||
	       kind == HA_CMD_GET_RAFT_STATUS;
}

/* Payload to reply text; NULL when memory ran out anywhere. */
static char *handle(const char *payload)
{
	struct ha_request req;
	json_t *reply;
	char *dump = NULL;

	if (ha_request_parse(payload, strlen(payload), &req) != 0)
		return NULL;
	reply = ha_reply_new();
	if (reply == NULL)
		goto out;
	for (size_t i = 0; i < req.n_commands; i++) {
		const struct ha_command *cmd = &req.commands[i];
		json_t *data;

		if (cmd->kind == HA_CMD_INVALID) {
			if (ha_reply_add_error(reply, cmd, cmd->error) != 0)
				goto out;
			continue;
		}
		data = data_for(cmd);
		if (data == NULL && returns_data(cmd->kind))
			goto out;
		if (ha_reply_add_result(reply, cmd, data) != 0)
			goto out;
	}
	dump = ha_reply_dump(reply, NULL);
out:
	json_decref(reply);
	ha_request_free(&req);
	return dump;
}

static const char every_command[] =
    "{\"commands\":["
    "{\"command\":\"createCluster\",\"clustername\":\"prod\","
    "\"correlationData\":\"1\",\"nodes\":["
    "{\"address\":\"10.0.0.1\",\"port\":7000,\"nodeid\":1,\"mynode\":true},"
    "{\"address\":\"10.0.0.2\",\"port\":7000,\"nodeid\":2},"
    "{\"address\":\"10.0.0.3\",\"port\":7000,\"nodeid\":3}]},"
    "{\"command\":\"joinCluster\",\"clustername\":\"prod\",\"nodes\":["
    "{\"address\":\"10.0.0.1\",\"port\":7000,\"nodeid\":1},"
    "{\"address\":\"10.0.0.2\",\"port\":7000,\"nodeid\":2,\"mynode\":true},"
    "{\"address\":\"10.0.0.3\",\"port\":7000,\"nodeid\":3}]},"
    "{\"command\":\"addNode\",\"clustername\":\"prod\",\"address\":"
    "\"10.0.0.4\",\"port\":7000,\"nodeid\":4},"
    "{\"command\":\"removeNode\",\"clustername\":\"prod\",\"address\":"
    "\"10.0.0.4\",\"port\":7000,\"nodeid\":4},"
    "{\"command\":\"leaveCluster\",\"clustername\":\"prod\",\"address\":"
    "\"10.0.0.4\",\"port\":7000,\"nodeid\":4},"
    "{\"command\":\"deleteCluster\",\"clustername\":\"prod\"},"
    "{\"command\":\"getCluster\",\"correlationData\":\"7\"},"
    "{\"command\":\"getRaftStatus\"},"
    "{\"command\":\"isLeader\"},"
    "{\"command\":\"setLeader\",\"clustername\":\"prod\",\"nodeid\":2},"
    "{\"command\":\"setLeader\",\"clustername\":\"prod\",\"nodeid\":0},"
    "{\"command\":\"nope\"},"
    "9"
    "]}";

static void test_every_command(void **state)
{
	char *dump;
	json_error_t error;
	json_t *reply, *responses;
	static const char *const names[] = {
	    "createCluster",   "joinCluster",	"addNode",    "removeNode",
	    "leaveCluster",    "deleteCluster", "getCluster", "getRaftStatus",
	    "isLeader",	       "setLeader",	"setLeader",  "nope",
	    "Unknown command",
	};

	(void)state;
	dump = handle(every_command);
	assert_non_null(dump);
	reply = json_loads(dump, 0, &error);
	assert_non_null(reply);
	responses = json_object_get(reply, "responses");
	assert_int_equal(json_array_size(responses), 13);
	for (size_t i = 0; i < 13; i++) {
		json_t *r = json_array_get(responses, i);
		bool failed = i >= 10;

		assert_string_equal(
		    json_string_value(json_object_get(r, "command")), names[i]);
		assert_int_equal(json_object_get(r, "error") != NULL, failed);
		assert_int_equal(json_object_get(r, "data") != NULL,
				 i >= 6 && i <= 8);
	}
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(responses, 0),
					      "correlationData")),
	    "1");
	assert_string_equal(
	    json_string_value(json_object_get(
		json_object_get(json_array_get(responses, 6), "data"),
		"clustername")),
	    "prod");
	json_decref(reply);
	ha_reply_dump_free(dump);
}

/* Allocation failure injection through jansson's allocator, which the
 * control layer uses for all of its memory. */
static long allocations_left;

static void *failing_malloc(size_t size)
{
	if (allocations_left == 0)
		return NULL;
	allocations_left--;
	return malloc(size);
}

/* With the n-th allocation failing, for every n, handling either reports
 * the failure or produces exactly the reply it produces with no failure:
 * never a different reply, a crash or a leak. */
static void check_allocation_failures(const char *payload)
{
	char *expected = handle(payload);
	long n;

	assert_non_null(expected);
	for (n = 0; n < 100000; n++) {
		char *dump;

		allocations_left = n;
		json_set_alloc_funcs(failing_malloc, free);
		dump = handle(payload);
		json_set_alloc_funcs(malloc, free);
		if (dump == NULL)
			continue;
		assert_string_equal(dump, expected);
		ha_reply_dump_free(dump);
		if (allocations_left > 0)
			break; /* it succeeded with allocations to spare */
	}
	assert_true(n < 100000);
	ha_reply_dump_free(expected);
}

static void test_allocation_failures(void **state)
{
	(void)state;
	check_allocation_failures(every_command);
	check_allocation_failures("{\"commands\":[");
	check_allocation_failures("{\"commands\":7}");
	check_allocation_failures("{\"commands\":[{\"command\":\"isLeader\","
				  "\"\xc3\xa9\\n\":1}]}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_reply),
	    cmocka_unit_test(test_responses_in_order),
	    cmocka_unit_test(test_reply_text_is_utf8),
	    cmocka_unit_test(test_reply_rejects_non_reply),
	    cmocka_unit_test(test_data_cluster),
	    cmocka_unit_test(test_data_cluster_limits),
	    cmocka_unit_test(test_data_leader),
	    cmocka_unit_test(test_data_raft_status),
	    cmocka_unit_test(test_data_raft_status_limits),
	    cmocka_unit_test(test_syncmode_names),
	    cmocka_unit_test(test_every_command),
	    cmocka_unit_test(test_allocation_failures),
	};
	return cmocka_run_group_tests_name("control_reply", tests, NULL, NULL);
}
