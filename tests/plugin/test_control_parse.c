/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Control API requests: the envelope, every command, every validation rule
 * and every error sentence of the parser.
 */
#include "tests/plugin/control_test.h"

#define N1                                                                     \
	"{\"address\":\"10.0.0.1\",\"port\":7000,\"nodeid\":1,\"mynode\":"     \
	"true}"
#define N2 "{\"address\":\"10.0.0.2\",\"port\":7000,\"nodeid\":2}"
#define N3 "{\"address\":\"10.0.0.3\",\"port\":7000,\"nodeid\":3}"
#define THREE N1 "," N2 "," N3

#define CREATE(nodes)                                                          \
	"{\"command\":\"createCluster\",\"clustername\":\"prod\",\"nodes\":"   \
	"[" nodes "]}"
#define ADD(fields)                                                            \
	"{\"command\":\"addNode\",\"clustername\":\"prod\"," fields "}"

/* A reply with one error response for an unnamed command. */
#define ENVELOPE_ERROR(sentence)                                               \
	"{\"responses\":[{\"command\":\"Unknown "                              \
	"command\",\"error\":\"" sentence "\"}]}"

/* ---- the envelope ---- */

static void test_not_json(void **state)
{
	static const char *const payloads[] = {
	    "",
	    "{",
	    "{\"commands\":[}",
	    "{\"commands\":[]} trailing",
	    "{'commands':[]}",
	    "{\"commands\":[{\"command\":\"isLeader\",}]}",
	    "nul",
	    /* duplicate keys would make a command ambiguous */
	    "{\"commands\":[{\"command\":\"setLeader\",\"nodeid\":1,"
	    "\"nodeid\":2,\"clustername\":\"a\"}]}",
	    "{\"commands\":[],\"commands\":[]}",
	    /* an escaped NUL inside a string */
	    "{\"commands\":[{\"command\":\"isLeader\",\"correlationData\":"
	    "\"a\\u0000b\"}]}",
	    /* integers beyond 64 bits */
	    "{\"commands\":[{\"command\":\"setLeader\",\"clustername\":\"a\","
	    "\"nodeid\":123456789012345678901234567890}]}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
		expect_reply(payloads[i], ENVELOPE_ERROR(HA_ERR_NOT_JSON));
}

static void test_not_utf8(void **state)
{
	static const char *const payloads[] = {
	    "{\"commands\":[{\"command\":\"isLeader\",\"correlationData\":"
	    "\"\xff\"}]}",
	    /* an overlong encoding of '/' */
	    "{\"commands\":[{\"command\":\"isLeader\",\"correlationData\":"
	    "\"\xc0\xaf\"}]}",
	    /* a lone surrogate, raw and escaped */
	    "{\"commands\":[{\"command\":\"isLeader\",\"correlationData\":"
	    "\"\xed\xa0\x80\"}]}",
	    "{\"commands\":[{\"command\":\"isLeader\",\"correlationData\":"
	    "\"\\ud800\"}]}",
	    /* a truncated sequence in a key */
	    "{\"commands\":[{\"command\":\"isLeader\",\"\xe2\x82\":1}]}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
		expect_reply(payloads[i], ENVELOPE_ERROR(HA_ERR_NOT_JSON));
}

static void test_raw_nul_byte(void **state)
{
	static const char payload[] =
	    "{\"commands\":[{\"command\":\"isLeader\","
	    "\"correlationData\":\"a\0b\"}]}";
	char *dump;

	(void)state;
	/* The broker passes a length: a NUL inside is data, not the end. */
	dump = reply_for(payload, sizeof(payload) - 1);
	assert_json_equal(dump, ENVELOPE_ERROR(HA_ERR_NOT_JSON));
	ha_reply_dump_free(dump);
	/* Only the length counts: the bytes after it are not read. */
	dump = reply_for("{\"commands\":[]}xyz", 15);
	assert_json_equal(dump, "{\"responses\":[]}");
	ha_reply_dump_free(dump);
}

static void test_null_payload(void **state)
{
	struct ha_request req;

	(void)state;
	assert_int_equal(ha_request_parse(NULL, 0, &req), 0);
	assert_int_equal(req.n_commands, 1);
	assert_string_equal(req.commands[0].error, HA_ERR_NOT_JSON);
	ha_request_free(&req);
	assert_null(req.commands);
	ha_request_free(&req); /* twice is harmless */
}

static void test_invalid_commands(void **state)
{
	static const char *const payloads[] = {
	    "{}",
	    "[]",
	    "\"commands\"",
	    "42",
	    "null",
	    "{\"commands\":null}",
	    "{\"commands\":{}}",
	    "{\"commands\":\"getCluster\"}",
	    "{\"Commands\":[]}",
	    "{\"command\":\"getCluster\"}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
		expect_reply(payloads[i], ENVELOPE_ERROR(HA_ERR_BAD_COMMANDS));
}

static void test_empty_commands(void **state)
{
	(void)state;
	expect_reply("{\"commands\":[]}", "{\"responses\":[]}");
	/* Other envelope fields are ignored, as dynamic-security does. */
	expect_reply("{\"commands\":[],\"extra\":1}", "{\"responses\":[]}");
}

static void test_oversize_payload(void **state)
{
	size_t len = HA_CONTROL_MAX_PAYLOAD + 1;
	char *payload = malloc(len + 1);
	char *dump;

	(void)state;
	assert_non_null(payload);
	/* A valid request padded with white space past the limit. */
	memset(payload, ' ', len);
	memcpy(payload, "{\"commands\":[]}", 15);
	payload[len] = '\0';
	dump = reply_for(payload, len);
	assert_json_equal(dump, ENVELOPE_ERROR("Payload too large (at most "
					       "262144 bytes)."));
	ha_reply_dump_free(dump);
	/* Exactly at the limit it is parsed. */
	dump = reply_for(payload, len - 1);
	assert_json_equal(dump, "{\"responses\":[]}");
	ha_reply_dump_free(dump);
	free(payload);
}

static void test_too_many_commands(void **state)
{
	char payload[4096];
	size_t off;
	struct ha_request req;

	(void)state;
	off = (size_t)snprintf(payload, sizeof(payload), "{\"commands\":[");
	for (unsigned i = 0; i < HA_CONTROL_MAX_COMMANDS; i++)
		off += (size_t)snprintf(payload + off, sizeof(payload) - off,
					"%s{\"command\":\"isLeader\"}",
					i ? "," : "");
	snprintf(payload + off, sizeof(payload) - off, "]}");
	assert_int_equal(ha_request_parse(payload, strlen(payload), &req), 0);
	assert_int_equal(req.n_commands, HA_CONTROL_MAX_COMMANDS);
	for (size_t i = 0; i < req.n_commands; i++)
		assert_int_equal(req.commands[i].kind, HA_CMD_IS_LEADER);
	ha_request_free(&req);

	snprintf(payload + off, sizeof(payload) - off,
		 ",{\"command\":\"isLeader\"}]}");
	expect_reply(payload, ENVELOPE_ERROR("Too many commands (at most 64 "
					     "in one request)."));
}

static void test_deep_nesting(void **state)
{
	size_t depth = 100000;
	size_t len = 2 * depth;
	char *payload = malloc(len + 64);
	char *dump;

	(void)state;
	assert_non_null(payload);
	/* Far deeper than the parser's limit: refused, not a stack overflow. */
	memset(payload, '[', depth);
	memset(payload + depth, ']', depth);
	dump = reply_for(payload, len);
	assert_json_equal(dump, ENVELOPE_ERROR(HA_ERR_NOT_JSON));
	ha_reply_dump_free(dump);

	/* Inside a command, nesting within the parser's limit is an unknown
	 * field like any other. */
	depth = 1000;
	free(payload);
	payload = malloc(2 * depth + 128);
	assert_non_null(payload);
	len = (size_t)sprintf(payload, "{\"commands\":[{\"command\":"
				       "\"isLeader\",\"deep\":");
	memset(payload + len, '[', depth);
	memset(payload + len + depth, ']', depth);
	strcpy(payload + len + 2 * depth, "}]}");
	expect_reply(payload, "{\"responses\":[{\"command\":\"isLeader\","
			      "\"error\":\"Unknown field \\\"deep\\\" for "
			      "isLeader.\"}]}");
	free(payload);
}

static void test_command_not_object(void **state)
{
	(void)state;
	expect_reply("{\"commands\":[1]}", ENVELOPE_ERROR(HA_ERR_NOT_OBJECT));
	expect_reply("{\"commands\":[\"getCluster\"]}",
		     ENVELOPE_ERROR(HA_ERR_NOT_OBJECT));
	expect_reply("{\"commands\":[null]}",
		     ENVELOPE_ERROR(HA_ERR_NOT_OBJECT));
	expect_reply("{\"commands\":[[{\"command\":\"isLeader\"}]]}",
		     ENVELOPE_ERROR(HA_ERR_NOT_OBJECT));
}

static void test_missing_command(void **state)
{
	(void)state;
	expect_refusal("{}", "Unknown command", HA_ERR_MISSING_COMMAND);
	expect_refusal("{\"command\":5}", "Unknown command",
		       HA_ERR_MISSING_COMMAND);
	expect_refusal("{\"command\":null}", "Unknown command",
		       HA_ERR_MISSING_COMMAND);
	expect_refusal("{\"command\":\"\"}", "Unknown command",
		       HA_ERR_MISSING_COMMAND);
	expect_refusal("{\"command\":[\"isLeader\"]}", "Unknown command",
		       HA_ERR_MISSING_COMMAND);
	/* A usable correlationData is echoed even then. */
	expect_reply("{\"commands\":[{\"correlationData\":\"c1\"}]}",
		     "{\"responses\":[{\"command\":\"Unknown command\","
		     "\"error\":\"Missing command\",\"correlationData\":"
		     "\"c1\"}]}");
}

static void test_correlation_types(void **state)
{
	static const char *const bad[] = {"1",	  "1.5", "true",
					  "null", "{}",	 "[\"a\"]"};
	char body[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"command\":\"getCluster\",\"correlationData\":%s}",
			 bad[i]);
		expect_refusal(body, "getCluster", HA_ERR_CORRELATION_TYPE);
	}
	/* A bad correlationData refuses the command even when it is valid
	 * otherwise, and even when the command is unknown. */
	expect_refusal("{\"command\":\"nope\",\"correlationData\":7}", "nope",
		       HA_ERR_CORRELATION_TYPE);
	expect_reply("{\"commands\":[{\"command\":\"getCluster\","
		     "\"correlationData\":\"\"}]}",
		     "{\"responses\":[{\"command\":\"getCluster\","
		     "\"correlationData\":\"\"}]}");
	expect_reply("{\"commands\":[{\"command\":\"getCluster\","
		     "\"correlationData\":\"\\u00e9\\u6f22 \\\"q\\\"\"}]}",
		     "{\"responses\":[{\"command\":\"getCluster\","
		     "\"correlationData\":\"\\u00e9\\u6f22 \\\"q\\\"\"}]}");
}

static void test_correlation_length(void **state)
{
	char body[1024];
	char value[HA_CORRELATION_MAX + 2];
	struct ha_command cmd;

	(void)state;
	memset(value, 'x', sizeof(value) - 1);
	value[HA_CORRELATION_MAX] = '\0';
	snprintf(body, sizeof(body),
		 "{\"command\":\"isLeader\",\"correlationData\":\"%s\"}",
		 value);
	parse_one(body, &cmd);
	assert_true(cmd.has_correlation);
	assert_string_equal(cmd.correlation, value);

	value[HA_CORRELATION_MAX] = 'x';
	value[HA_CORRELATION_MAX + 1] = '\0';
	snprintf(body, sizeof(body),
		 "{\"command\":\"isLeader\",\"correlationData\":\"%s\"}",
		 value);
	expect_refusal(body, "isLeader", HA_ERR_CORRELATION_LONG);
}

static void test_unknown_command(void **state)
{
	char body[256];
	char name[HA_COMMAND_NAME_MAX + 2];

	(void)state;
	expect_refusal("{\"command\":\"getClusters\"}", "getClusters",
		       HA_ERR_UNKNOWN_COMMAND);
	expect_refusal("{\"command\":\"createClient\"}", "createClient",
		       HA_ERR_UNKNOWN_COMMAND);
	expect_refusal("{\"command\":\" getCluster\"}", " getCluster",
		       HA_ERR_UNKNOWN_COMMAND);
	/* A name too long to be any command is not echoed. */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"command\":\"%s\"}", name);
	expect_refusal(body, "Unknown command", HA_ERR_UNKNOWN_COMMAND);
	/* The longest echoed name. */
	name[HA_COMMAND_NAME_MAX] = '\0';
	snprintf(body, sizeof(body), "{\"command\":\"%s\"}", name);
	expect_refusal(body, name, HA_ERR_UNKNOWN_COMMAND);
	/* Unknown fields of an unknown command do not matter. */
	expect_refusal("{\"command\":\"x\",\"y\":1}", "x",
		       HA_ERR_UNKNOWN_COMMAND);
}

static void test_case_insensitive(void **state)
{
	struct ha_command cmd;

	(void)state;
	parse_one("{\"command\":\"GETCLUSTER\"}", &cmd);
	assert_int_equal(cmd.kind, HA_CMD_GET_CLUSTER);
	assert_string_equal(cmd.name, "GETCLUSTER");
	parse_one("{\"command\":\"iSlEaDeR\"}", &cmd);
	assert_int_equal(cmd.kind, HA_CMD_IS_LEADER);
	parse_one("{\"command\":\"getraftstatus\"}", &cmd);
	assert_int_equal(cmd.kind, HA_CMD_GET_RAFT_STATUS);
	/* The reply echoes the client's spelling. */
	expect_reply("{\"commands\":[{\"command\":\"isleader\"}]}",
		     "{\"responses\":[{\"command\":\"isleader\"}]}");
	/* Field names are exact. */
	expect_refusal("{\"command\":\"setLeader\",\"clustername\":\"a\","
		       "\"nodeID\":2}",
		       "setLeader", "Unknown field \"nodeID\" for setLeader.");
}

static void test_multiple_commands(void **state)
{
	(void)state;
	expect_reply(
	    "{\"commands\":["
	    "{\"command\":\"isLeader\",\"correlationData\":\"1\"},"
	    "7,"
	    "{\"command\":\"nope\",\"correlationData\":\"3\"},"
	    "{\"command\":\"setLeader\",\"clustername\":\"prod\","
	    "\"nodeid\":4,\"correlationData\":\"4\"},"
	    "{\"command\":\"setLeader\",\"clustername\":\"prod\","
	    "\"nodeid\":0,\"correlationData\":\"5\"},"
	    "{\"correlationData\":6},"
	    "{\"command\":\"getCluster\"}"
	    "]}",
	    "{\"responses\":["
	    "{\"command\":\"isLeader\",\"correlationData\":\"1\"},"
	    "{\"command\":\"Unknown command\",\"error\":\"Command not an "
	    "object\"},"
	    "{\"command\":\"nope\",\"error\":\"Unknown command\","
	    "\"correlationData\":\"3\"},"
	    "{\"command\":\"setLeader\",\"correlationData\":\"4\"},"
	    "{\"command\":\"setLeader\",\"error\":\"nodeid must be an "
	    "integer from 1 to 1023.\",\"correlationData\":\"5\"},"
	    "{\"command\":\"Unknown command\",\"error\":\"Missing "
	    "command\"},"
	    "{\"command\":\"getCluster\"}"
	    "]}");
}

/* ---- every command, valid ---- */

static void test_create_cluster(void **state)
{
	struct ha_command cmd;

	(void)state;
	parse_one("{\"command\":\"createCluster\",\"clustername\":\"prod\","
		  "\"correlationData\":\"1\",\"nodes\":[" THREE "]}",
		  &cmd);
	assert_int_equal(cmd.kind, HA_CMD_CREATE_CLUSTER);
	assert_string_equal(cmd.name, "createCluster");
	assert_string_equal(cmd.correlation, "1");
	assert_string_equal(cmd.clustername, "prod");
	assert_string_equal(cmd.error, "");
	assert_int_equal(cmd.n_nodes, 3);
	assert_string_equal(cmd.nodes[0].address, "10.0.0.1");
	assert_int_equal(cmd.nodes[0].port, 7000);
	assert_int_equal(cmd.nodes[0].nodeid, 1);
	assert_true(cmd.nodes[0].mynode);
	assert_string_equal(cmd.nodes[2].address, "10.0.0.3");
	assert_int_equal(cmd.nodes[2].nodeid, 3);
	assert_false(cmd.nodes[1].mynode);
	assert_false(cmd.nodes[2].mynode);
	/* mynode:false may be explicit; mynode may be on any entry; IPv6
	 * literals and host names are accepted. */
	parse_one(CREATE("{\"address\":\"::1\",\"port\":1,\"nodeid\":1023,"
			 "\"mynode\":false},"
			 "{\"address\":\"node-b.example.org\",\"port\":65535,"
			 "\"nodeid\":1},"
			 "{\"address\":\"fe80::1:2\",\"port\":7000,\"nodeid\":"
			 "5,\"mynode\":true}"),
		  &cmd);
	assert_int_equal(cmd.n_nodes, 3);
	assert_false(cmd.nodes[0].mynode);
	assert_int_equal(cmd.nodes[0].nodeid, 1023);
	assert_int_equal(cmd.nodes[0].port, 1);
	assert_int_equal(cmd.nodes[1].port, 65535);
	assert_string_equal(cmd.nodes[1].address, "node-b.example.org");
	assert_true(cmd.nodes[2].mynode);
	assert_false(cmd.has_correlation);
}

static void test_create_cluster_max_nodes(void **state)
{
	char body[4096];
	size_t off;
	struct ha_command cmd;

	(void)state;
	off = (size_t)snprintf(body, sizeof(body),
			       "{\"command\":\"createCluster\",\"clustername\":"
			       "\"big\",\"nodes\":[");
	for (unsigned i = 1; i <= HA_MAX_NODES; i++)
		off += (size_t)snprintf(body + off, sizeof(body) - off,
					"%s{\"address\":\"127.0.0.%u\",\"port\""
					":7000,\"nodeid\":%u%s}",
					i > 1 ? "," : "", i, i,
					i == 7 ? ",\"mynode\":true" : "");
	snprintf(body + off, sizeof(body) - off, "]}");
	parse_one(body, &cmd);
	assert_int_equal(cmd.n_nodes, HA_MAX_NODES);
	assert_true(cmd.nodes[6].mynode);

	/* One more is too many. */
	snprintf(body + off, sizeof(body) - off,
		 ",{\"address\":\"127.0.0.99\",\"port\":7000,\"nodeid\":99}]}");
	expect_refusal(body, "createCluster",
		       "nodes must list at most 16 nodes.");
}

static void test_join_cluster(void **state)
{
	struct ha_command cmd;

	(void)state;
	parse_one("{\"command\":\"joinCluster\",\"clustername\":\"prod\","
		  "\"nodes\":[" N2 "," N3
		  ",{\"address\":\"10.0.0.4\",\"port\":7000,\"nodeid\":4,"
		  "\"mynode\":true}]}",
		  &cmd);
	assert_int_equal(cmd.kind, HA_CMD_JOIN_CLUSTER);
	assert_int_equal(cmd.n_nodes, 3);
	assert_true(cmd.nodes[2].mynode);
	assert_int_equal(cmd.nodes[2].nodeid, 4);
}

static void test_syncmode(void **state)
{
	struct ha_command cmd;

	(void)state;
	parse_one(CREATE(THREE), &cmd);
	assert_int_equal(cmd.syncmode, HA_SYNCMODE_FULL);
	parse_one("{\"command\":\"createCluster\",\"clustername\":\"p\","
		  "\"syncmode\":\"full\",\"nodes\":[" THREE "]}",
		  &cmd);
	assert_int_equal(cmd.kind, HA_CMD_CREATE_CLUSTER);
	assert_int_equal(cmd.syncmode, HA_SYNCMODE_FULL);
	parse_one("{\"command\":\"joinCluster\",\"clustername\":\"p\","
		  "\"syncmode\":\"dynsec\",\"nodes\":[" THREE "]}",
		  &cmd);
	assert_int_equal(cmd.kind, HA_CMD_JOIN_CLUSTER);
	assert_int_equal(cmd.syncmode, HA_SYNCMODE_DYNSEC);
	const char *bad[] = {"\"DYNSEC\"", "\"\"", "1",
			     "null",	   "true", "[\"dynsec\"]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char body[512];
		snprintf(body, sizeof(body),
			 "{\"command\":\"createCluster\",\"clustername\":"
			 "\"p\",\"syncmode\":%s,\"nodes\":[" THREE "]}",
			 bad[i]);
		expect_refusal(body, "createCluster",
			       "syncmode must be \"full\" or \"dynsec\".");
	}
}

static void test_node_commands(void **state)
{
	static const struct {
		const char *name;
		enum ha_command_kind kind;
	} commands[] = {
	    {"addNode", HA_CMD_ADD_NODE},
	    {"removeNode", HA_CMD_REMOVE_NODE},
	    {"leaveCluster", HA_CMD_LEAVE_CLUSTER},
	};
	char body[256];
	struct ha_command cmd;

	(void)state;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"command\":\"%s\",\"clustername\":\"prod\","
			 "\"address\":\"10.0.0.4\",\"port\":7001,\"nodeid\":4,"
			 "\"correlationData\":\"x\"}",
			 commands[i].name);
		parse_one(body, &cmd);
		assert_int_equal(cmd.kind, commands[i].kind);
		assert_string_equal(cmd.clustername, "prod");
		assert_string_equal(cmd.node.address, "10.0.0.4");
		assert_int_equal(cmd.node.port, 7001);
		assert_int_equal(cmd.node.nodeid, 4);
		assert_false(cmd.node.mynode);
		assert_int_equal(cmd.n_nodes, 0);
		assert_string_equal(ha_command_kind_name(cmd.kind),
				    commands[i].name);

		/* Each field is required. */
		snprintf(body, sizeof(body),
			 "{\"command\":\"%s\",\"address\":\"10.0.0.4\","
			 "\"port\":7001,\"nodeid\":4}",
			 commands[i].name);
		expect_refusal(body, commands[i].name,
			       "clustername is missing.");
		snprintf(body, sizeof(body),
			 "{\"command\":\"%s\",\"clustername\":\"p\","
			 "\"port\":7001,\"nodeid\":4}",
			 commands[i].name);
		expect_refusal(body, commands[i].name, "address is missing.");
		snprintf(body, sizeof(body),
			 "{\"command\":\"%s\",\"clustername\":\"p\","
			 "\"address\":\"h\",\"nodeid\":4}",
			 commands[i].name);
		expect_refusal(body, commands[i].name, "port is missing.");
		snprintf(body, sizeof(body),
			 "{\"command\":\"%s\",\"clustername\":\"p\","
			 "\"address\":\"h\",\"port\":1}",
			 commands[i].name);
		expect_refusal(body, commands[i].name, "nodeid is missing.");
		/* mynode belongs to node lists only. */
		snprintf(body, sizeof(body),
			 "{\"command\":\"%s\",\"clustername\":\"p\","
			 "\"address\":\"h\",\"port\":1,\"nodeid\":1,"
			 "\"mynode\":true}",
			 commands[i].name);
		char sentence[96];
		snprintf(sentence, sizeof(sentence),
			 "Unknown field \"mynode\" for %s.", commands[i].name);
		expect_refusal(body, commands[i].name, sentence);
	}
}

static void test_delete_cluster(void **state)
{
	struct ha_command cmd;

	(void)state;
	parse_one("{\"command\":\"deleteCluster\",\"clustername\":\"prod\"}",
		  &cmd);
	assert_int_equal(cmd.kind, HA_CMD_DELETE_CLUSTER);
	assert_string_equal(cmd.clustername, "prod");
	expect_refusal("{\"command\":\"deleteCluster\"}", "deleteCluster",
		       "clustername is missing.");
	expect_refusal("{\"command\":\"deleteCluster\",\"clustername\":\"p\","
		       "\"nodeid\":1}",
		       "deleteCluster",
		       "Unknown field \"nodeid\" for deleteCluster.");
}

static void test_queries(void **state)
{
	static const struct {
		const char *name;
		enum ha_command_kind kind;
	} commands[] = {
	    {"getCluster", HA_CMD_GET_CLUSTER},
	    {"getRaftStatus", HA_CMD_GET_RAFT_STATUS},
	    {"isLeader", HA_CMD_IS_LEADER},
	};
	char body[128];
	char sentence[96];
	struct ha_command cmd;

	(void)state;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		snprintf(body, sizeof(body), "{\"command\":\"%s\"}",
			 commands[i].name);
		parse_one(body, &cmd);
		assert_int_equal(cmd.kind, commands[i].kind);
		assert_string_equal(ha_command_kind_name(cmd.kind),
				    commands[i].name);
		/* They take no fields at all. */
		snprintf(body, sizeof(body),
			 "{\"command\":\"%s\",\"clustername\":\"prod\"}",
			 commands[i].name);
		snprintf(sentence, sizeof(sentence),
			 "Unknown field \"clustername\" for %s.",
			 commands[i].name);
		expect_refusal(body, commands[i].name, sentence);
	}
}

static void test_set_leader(void **state)
{
	struct ha_command cmd;

	(void)state;
	parse_one("{\"command\":\"setLeader\",\"clustername\":\"prod\","
		  "\"nodeid\":4}",
		  &cmd);
	assert_int_equal(cmd.kind, HA_CMD_SET_LEADER);
	assert_string_equal(cmd.clustername, "prod");
	assert_int_equal(cmd.node.nodeid, 4);
	expect_refusal("{\"command\":\"setLeader\",\"clustername\":\"prod\"}",
		       "setLeader", "nodeid is missing.");
	expect_refusal("{\"command\":\"setLeader\",\"nodeid\":4}", "setLeader",
		       "clustername is missing.");
	expect_refusal("{\"command\":\"setLeader\",\"clustername\":\"prod\","
		       "\"nodeid\":4,\"address\":\"h\"}",
		       "setLeader", "Unknown field \"address\" for setLeader.");
	expect_refusal("{\"command\":\"setLeader\",\"clustername\":\"prod\","
		       "\"nodeid\":1024}",
		       "setLeader",
		       "nodeid must be an integer from 1 to 1023.");
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(ha_command_kind_name(HA_CMD_CREATE_CLUSTER),
			    "createCluster");
	assert_string_equal(ha_command_kind_name(HA_CMD_JOIN_CLUSTER),
			    "joinCluster");
	assert_string_equal(ha_command_kind_name(HA_CMD_DELETE_CLUSTER),
			    "deleteCluster");
	assert_string_equal(ha_command_kind_name(HA_CMD_SET_LEADER),
			    "setLeader");
	assert_string_equal(ha_command_kind_name(HA_CMD_INVALID),
			    "Unknown command");
}

/* ---- validation rules ---- */

static void test_unknown_fields(void **state)
{
	(void)state;
	expect_refusal("{\"command\":\"getCluster\",\"extra\":true}",
		       "getCluster", "Unknown field \"extra\" for getCluster.");
	expect_refusal(ADD("\"address\":\"10.0.0.4\",\"port\":7000,"
			   "\"nodeid\":4,\"syncmode\":\"full\""),
		       "addNode", "Unknown field \"syncmode\" for addNode.");
	expect_refusal("{\"command\":\"getRaftStatus\",\"nodeid\":1}",
		       "getRaftStatus",
		       "Unknown field \"nodeid\" for getRaftStatus.");
}

static void test_unknown_field_quoting(void **state)
{
	char body[512];
	char key[200];

	(void)state;
	/* Long names are cut to 64 bytes, never inside a character. */
	memset(key, 'k', 63);
	strcpy(key + 63, "\xc3\xa9zzzz"); /* 'é' straddles byte 64 */
	snprintf(body, sizeof(body), "{\"command\":\"isLeader\",\"%s\":1}",
		 key);
	expect_refusal(body, "isLeader",
		       "Unknown field \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		       "kkkkkkkkkkkkkkkkkkkkkkkk\" for isLeader.");
	/* Quotes and control characters in a name stay escaped JSON. */
	expect_reply("{\"commands\":[{\"command\":\"isLeader\",\"a\\\"b\\n\":"
		     "1}]}",
		     "{\"responses\":[{\"command\":\"isLeader\",\"error\":"
		     "\"Unknown field \\\"a\\\"b\\n\\\" for isLeader.\"}]}");
	expect_refusal("{\"command\":\"addNode\",\"clustername\":\"p\","
		       "\"address\":\"h\",\"port\":1,\"nodeid\":1,"
		       "\"\\u00e9\":0}",
		       "addNode", "Unknown field \"\xc3\xa9\" for addNode.");
}

static void test_clustername(void **state)
{
	char body[256];
	char name[HA_CLUSTERNAME_MAX + 2];
	struct ha_command cmd;

	(void)state;
	expect_refusal("{\"command\":\"deleteCluster\",\"clustername\":7}",
		       "deleteCluster", "clustername must be a string.");
	expect_refusal("{\"command\":\"deleteCluster\",\"clustername\":null}",
		       "deleteCluster", "clustername must be a string.");
	expect_refusal("{\"command\":\"deleteCluster\",\"clustername\":\"\"}",
		       "deleteCluster", "clustername must not be empty.");
	expect_refusal("{\"command\":\"deleteCluster\",\"clustername\":"
		       "\"a\\tb\"}",
		       "deleteCluster",
		       "clustername must consist of printable ASCII "
		       "characters.");
	expect_refusal("{\"command\":\"deleteCluster\",\"clustername\":"
		       "\"caf\\u00e9\"}",
		       "deleteCluster",
		       "clustername must consist of printable ASCII "
		       "characters.");
	expect_refusal("{\"command\":\"deleteCluster\",\"clustername\":"
		       "\"a\\u007f\"}",
		       "deleteCluster",
		       "clustername must consist of printable ASCII "
		       "characters.");
	parse_one("{\"command\":\"deleteCluster\",\"clustername\":"
		  "\"Prod cluster #1 (eu-west) ~!\"}",
		  &cmd);
	assert_string_equal(cmd.clustername, "Prod cluster #1 (eu-west) ~!");

	memset(name, 'c', sizeof(name) - 1);
	name[HA_CLUSTERNAME_MAX] = '\0';
	snprintf(body, sizeof(body),
		 "{\"command\":\"deleteCluster\",\"clustername\":\"%s\"}",
		 name);
	parse_one(body, &cmd);
	assert_string_equal(cmd.clustername, name);
	name[HA_CLUSTERNAME_MAX] = 'c';
	name[HA_CLUSTERNAME_MAX + 1] = '\0';
	snprintf(body, sizeof(body),
		 "{\"command\":\"deleteCluster\",\"clustername\":\"%s\"}",
		 name);
	expect_refusal(body, "deleteCluster",
		       "clustername is longer than 64 characters.");
	/* The same rules hold for every command that carries one. */
	expect_refusal("{\"command\":\"createCluster\",\"clustername\":\"\","
		       "\"nodes\":[" THREE "]}",
		       "createCluster", "clustername must not be empty.");
}

static void test_nodes_list(void **state)
{
	(void)state;
	expect_refusal("{\"command\":\"createCluster\",\"clustername\":\"p\"}",
		       "createCluster", "nodes is missing.");
	expect_refusal("{\"command\":\"joinCluster\",\"clustername\":\"p\","
		       "\"nodes\":{}}",
		       "joinCluster", "nodes must be an array.");
	expect_refusal(CREATE(""), "createCluster",
		       "nodes must list at least 3 nodes.");
	expect_refusal(CREATE(N1 "," N2), "createCluster",
		       "nodes must list at least 3 nodes.");
	expect_refusal("{\"command\":\"joinCluster\",\"clustername\":\"p\","
		       "\"nodes\":[" N1 "," N2 "]}",
		       "joinCluster", "nodes must list at least 3 nodes.");
	expect_refusal(CREATE(N1 "," N2 ",7"), "createCluster",
		       "nodes[2] is not an object.");
	expect_refusal(CREATE(N1 ",[]," N3), "createCluster",
		       "nodes[1] is not an object.");
	expect_refusal(CREATE(N1 "," N2 ",{\"address\":\"10.0.0.3\","
				 "\"port\":7000,\"nodeid\":3,"
				 "\"role\":1}"),
		       "createCluster", "nodes[2]: unknown field \"role\".");
}

static void test_mynode(void **state)
{
	(void)state;
	expect_refusal(CREATE(N2 "," N3
				 ",{\"address\":\"10.0.0.4\",\"port\":7000,"
				 "\"nodeid\":4}"),
		       "createCluster",
		       "nodes must mark exactly one node with mynode:true; "
		       "none is marked.");
	expect_refusal(CREATE(N1 "," N2
				 ",{\"address\":\"10.0.0.4\",\"port\":7000,"
				 "\"nodeid\":4,\"mynode\":true}"),
		       "createCluster",
		       "nodes must mark exactly one node with mynode:true; "
		       "nodes[0] and nodes[2] are both marked.");
	expect_refusal(
	    CREATE(N1 "," N2 ",{\"address\":\"10.0.0.4\",\"port\":7000,"
		      "\"nodeid\":4,\"mynode\":1}"),
	    "createCluster", "nodes[2]: mynode must be true or false.");
	expect_refusal(
	    CREATE(N1 "," N2 ",{\"address\":\"10.0.0.4\",\"port\":7000,"
		      "\"nodeid\":4,\"mynode\":\"true\"}"),
	    "createCluster", "nodes[2]: mynode must be true or false.");
	expect_refusal(
	    CREATE(N1 "," N2 ",{\"address\":\"10.0.0.4\",\"port\":7000,"
		      "\"nodeid\":4,\"mynode\":null}"),
	    "createCluster", "nodes[2]: mynode must be true or false.");
}

static void test_duplicates(void **state)
{
	struct ha_command cmd;

	(void)state;
	expect_refusal(
	    CREATE(N1 "," N2 ",{\"address\":\"10.0.0.9\",\"port\":7000,"
		      "\"nodeid\":1}"),
	    "createCluster", "nodes[2]: nodeid 1 is already used by nodes[0].");
	expect_refusal(CREATE(N1 "," N2
				 ",{\"address\":\"10.0.0.2\",\"port\":7000,"
				 "\"nodeid\":9}"),
		       "createCluster",
		       "nodes[2]: address 10.0.0.2 with port 7000 is already "
		       "used by nodes[1].");
	/* The same IPv6 address written two ways, and host names in other
	 * case, are the same endpoint. */
	expect_refusal(CREATE(N1 ",{\"address\":\"fd00::1\",\"port\":7000,"
				 "\"nodeid\":2},{\"address\":\"fd00:0:0::01\","
				 "\"port\":7000,\"nodeid\":3}"),
		       "createCluster",
		       "nodes[2]: address fd00:0:0::01 with port 7000 is "
		       "already used by nodes[1].");
	expect_refusal(CREATE(N1 ",{\"address\":\"Node-B.lan\",\"port\":7000,"
				 "\"nodeid\":2},{\"address\":\"node-b.LAN\","
				 "\"port\":7000,\"nodeid\":3}"),
		       "createCluster",
		       "nodes[2]: address node-b.LAN with port 7000 is already "
		       "used by nodes[1].");
	/* One address with several ports is several nodes (one host). */
	parse_one(CREATE("{\"address\":\"127.0.0.1\",\"port\":7001,\"nodeid\":"
			 "1,\"mynode\":true},{\"address\":\"127.0.0.1\","
			 "\"port\":7002,\"nodeid\":2},{\"address\":"
			 "\"127.0.0.1\",\"port\":7003,\"nodeid\":3}"),
		  &cmd);
	assert_int_equal(cmd.n_nodes, 3);
}

/* Every rule for address, port and nodeid, in a node list and on addNode. */
static void test_node_fields(void **state)
{
	static const struct {
		const char *fields; /* address, port, nodeid (some bad) */
		const char *sentence;
	} cases[] = {
	    {"\"port\":7000,\"nodeid\":4", "address is missing."},
	    {"\"address\":4,\"port\":7000,\"nodeid\":4",
	     "address must be a string."},
	    {"\"address\":null,\"port\":7000,\"nodeid\":4",
	     "address must be a string."},
	    {"\"address\":\"\",\"port\":7000,\"nodeid\":4",
	     "address must be an IPv4 address, an IPv6 address (without "
	     "brackets) or a host name."},
	    {"\"address\":\"[::1]\",\"port\":7000,\"nodeid\":4",
	     "address must be an IPv4 address, an IPv6 address (without "
	     "brackets) or a host name."},
	    {"\"address\":\"10.0.0.4:7000\",\"port\":7000,\"nodeid\":4",
	     "address must be an IPv4 address, an IPv6 address (without "
	     "brackets) or a host name."},
	    {"\"address\":\"10.0.0.256\",\"port\":7000,\"nodeid\":4",
	     "address must be an IPv4 address, an IPv6 address (without "
	     "brackets) or a host name."},
	    {"\"address\":\"a b\",\"port\":7000,\"nodeid\":4",
	     "address must be an IPv4 address, an IPv6 address (without "
	     "brackets) or a host name."},
	    {"\"address\":\"10.0.0.4\",\"nodeid\":4", "port is missing."},
	    {"\"address\":\"10.0.0.4\",\"port\":0,\"nodeid\":4",
	     "port must be an integer from 1 to 65535."},
	    {"\"address\":\"10.0.0.4\",\"port\":65536,\"nodeid\":4",
	     "port must be an integer from 1 to 65535."},
	    {"\"address\":\"10.0.0.4\",\"port\":-7000,\"nodeid\":4",
	     "port must be an integer from 1 to 65535."},
	    {"\"address\":\"10.0.0.4\",\"port\":7000.0,\"nodeid\":4",
	     "port must be an integer from 1 to 65535."},
	    {"\"address\":\"10.0.0.4\",\"port\":\"7000\",\"nodeid\":4",
	     "port must be an integer from 1 to 65535."},
	    {"\"address\":\"10.0.0.4\",\"port\":true,\"nodeid\":4",
	     "port must be an integer from 1 to 65535."},
	    {"\"address\":\"10.0.0.4\",\"port\":9223372036854775807,"
	     "\"nodeid\":4",
	     "port must be an integer from 1 to 65535."},
	    {"\"address\":\"10.0.0.4\",\"port\":7000", "nodeid is missing."},
	    {"\"address\":\"10.0.0.4\",\"port\":7000,\"nodeid\":0",
	     "nodeid must be an integer from 1 to 1023."},
	    {"\"address\":\"10.0.0.4\",\"port\":7000,\"nodeid\":1024",
	     "nodeid must be an integer from 1 to 1023."},
	    {"\"address\":\"10.0.0.4\",\"port\":7000,\"nodeid\":-1",
	     "nodeid must be an integer from 1 to 1023."},
	    {"\"address\":\"10.0.0.4\",\"port\":7000,\"nodeid\":4.5",
	     "nodeid must be an integer from 1 to 1023."},
	    {"\"address\":\"10.0.0.4\",\"port\":7000,\"nodeid\":[4]",
	     "nodeid must be an integer from 1 to 1023."},
	    {"\"address\":\"10.0.0.4\",\"port\":7000,\"nodeid\":"
	     "-9223372036854775808",
	     "nodeid must be an integer from 1 to 1023."},
	};
	char body[512];
	char sentence[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body), ADD("%s"), cases[i].fields);
		expect_refusal(body, "addNode", cases[i].sentence);

		snprintf(body, sizeof(body), CREATE(N1 "," N2 ",{%s}"),
			 cases[i].fields);
		snprintf(sentence, sizeof(sentence), "nodes[2]: %s",
			 cases[i].sentence);
		expect_refusal(body, "createCluster", sentence);
	}
}

static void test_address_too_long(void **state)
{
	char address[HA_ADDRESS_MAX + 2];
	char body[600];

	(void)state;
	memset(address, 'a', sizeof(address) - 1);
	address[sizeof(address) - 1] = '\0';
	snprintf(body, sizeof(body),
		 ADD("\"address\":\"%s\",\"port\":1,\"nodeid\":1"), address);
	expect_refusal(body, "addNode",
		       "address is longer than 255 "
		       "characters.");
	/* 255 characters pass the length rule; as a host name they are still
	 * too long (253 at most). */
	address[HA_ADDRESS_MAX] = '\0';
	snprintf(body, sizeof(body),
		 ADD("\"address\":\"%s\",\"port\":1,\"nodeid\":1"), address);
	expect_refusal(body, "addNode",
		       "address must be an IPv4 address, an IPv6 address "
		       "(without brackets) or a host name.");
}

/* The first failing rule decides, in a fixed order. */
static void test_rule_order(void **state)
{
	(void)state;
	/* Unknown fields before anything else. */
	expect_refusal("{\"command\":\"addNode\",\"zz\":1}", "addNode",
		       "Unknown field \"zz\" for addNode.");
	/* Then clustername, then the node fields in order. */
	expect_refusal("{\"command\":\"addNode\",\"port\":0}", "addNode",
		       "clustername is missing.");
	expect_refusal(ADD("\"port\":0,\"nodeid\":0"), "addNode",
		       "address is missing.");
	expect_refusal(ADD("\"address\":\"h\",\"port\":0,\"nodeid\":0"),
		       "addNode", "port must be an integer from 1 to 65535.");
}

static void test_address_syntax(void **state)
{
	static const char *const valid[] = {
	    "10.0.0.1",
	    "127.0.0.1",
	    "255.255.255.255",
	    "::1",
	    "::",
	    "fe80::1",
	    "2001:db8::8a2e:370:7334",
	    "::ffff:10.0.0.1",
	    "2001:0db8:0000:0000:0000:ff00:0042:8329",
	    "localhost",
	    "node1",
	    "1node",
	    "a",
	    "node-1.cluster.example.com",
	    "xn--bcher-kva.example",
	    "a.b.c.d.e",
	    "123.example",
	    "A.B",
	};
	static const char *const invalid[] = {
	    "",
	    " ",
	    "10.0.0.1 ",
	    "10.0.0",
	    "10.0.0.256",
	    "1.2.3.4.5",
	    "123",
	    "1.2.3.04x.5",
	    "999.1.1.1",
	    "[::1]",
	    "fe80::1%eth0",
	    ":::1",
	    "1::2::3",
	    "-node",
	    "node-",
	    "no_de",
	    "node..x",
	    ".node",
	    "node.",
	    "node.-x",
	    "node.x-",
	    "node:7000",
	    "http://node",
	    "n\xc3\xb6"
	    "de",
	    "example.123",
	};
	char label[80];
	char name[300];

	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		if (!ha_address_valid(valid[i]))
			fail_msg("refused valid address \"%s\"", valid[i]);
	}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		if (ha_address_valid(invalid[i]))
			fail_msg("accepted invalid address \"%s\"", invalid[i]);
	}
	/* Labels of 63 characters, names of 253. */
	memset(label, 'l', 63);
	label[63] = '\0';
	assert_true(ha_address_valid(label));
	label[63] = 'l';
	label[64] = '\0';
	assert_false(ha_address_valid(label));
	memset(name, 'a', 253);
	for (size_t i = 50; i < 253; i += 50)
		name[i] = '.';
	name[253] = '\0';
	assert_true(ha_address_valid(name));
	name[253] = 'a';
	name[254] = '\0';
	assert_false(ha_address_valid(name));
}

static void test_address_same(void **state)
{
	(void)state;
	assert_true(ha_address_same("10.0.0.1", "10.0.0.1"));
	assert_false(ha_address_same("10.0.0.1", "10.0.0.2"));
	assert_true(ha_address_same("::1", "0:0:0:0:0:0:0:1"));
	assert_true(ha_address_same("FE80::A", "fe80::a"));
	assert_false(ha_address_same("::1", "::2"));
	assert_true(ha_address_same("Node.LAN", "node.lan"));
	assert_false(ha_address_same("node1", "node2"));
	/* Different kinds of address are never the same text. */
	assert_false(ha_address_same("10.0.0.1", "::ffff:10.0.0.1"));
	assert_false(ha_address_same("localhost", "127.0.0.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_not_json),
	    cmocka_unit_test(test_not_utf8),
	    cmocka_unit_test(test_raw_nul_byte),
	    cmocka_unit_test(test_null_payload),
	    cmocka_unit_test(test_invalid_commands),
	    cmocka_unit_test(test_empty_commands),
	    cmocka_unit_test(test_oversize_payload),
	    cmocka_unit_test(test_too_many_commands),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_command_not_object),
	    cmocka_unit_test(test_missing_command),
	    cmocka_unit_test(test_correlation_types),
	    cmocka_unit_test(test_correlation_length),
	    cmocka_unit_test(test_unknown_command),
	    cmocka_unit_test(test_case_insensitive),
	    cmocka_unit_test(test_multiple_commands),
	    cmocka_unit_test(test_create_cluster),
	    cmocka_unit_test(test_create_cluster_max_nodes),
	    cmocka_unit_test(test_join_cluster),
	    cmocka_unit_test(test_node_commands),
	    cmocka_unit_test(test_delete_cluster),
	    cmocka_unit_test(test_queries),
	    cmocka_unit_test(test_set_leader),
	    cmocka_unit_test(test_kind_names),
	    cmocka_unit_test(test_unknown_fields),
	    cmocka_unit_test(test_syncmode),
	    cmocka_unit_test(test_unknown_field_quoting),
	    cmocka_unit_test(test_clustername),
	    cmocka_unit_test(test_nodes_list),
	    cmocka_unit_test(test_mynode),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_node_fields),
	    cmocka_unit_test(test_address_too_long),
	    cmocka_unit_test(test_rule_order),
	    cmocka_unit_test(test_address_syntax),
	    cmocka_unit_test(test_address_same),
	};
	return cmocka_run_group_tests_name("control_parse", tests, NULL, NULL);
}
