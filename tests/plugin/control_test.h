/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Helpers shared by the control API tests: run a payload through the parser
 * and the reply builder (errors and empty results only, as the plugin does
 * before it executes anything) and compare replies as JSON values.
 */
#ifndef TESTS_PLUGIN_CONTROL_TEST_H
#define TESTS_PLUGIN_CONTROL_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/control.h"

/* The reply to payload when every valid command succeeds without data. */
static inline char *reply_for(const char *payload, size_t len)
{
	struct ha_request req;
	json_t *reply;
	char *dump;

	assert_int_equal(ha_request_parse(payload, len, &req), 0);
	reply = ha_reply_new();
	assert_non_null(reply);
	for (size_t i = 0; i < req.n_commands; i++) {
		const struct ha_command *cmd = &req.commands[i];

		if (cmd->kind == HA_CMD_INVALID)
			assert_int_equal(
			    ha_reply_add_error(reply, cmd, cmd->error), 0);
		else
			assert_int_equal(ha_reply_add_result(reply, cmd, NULL),
					 0);
	}
	dump = ha_reply_dump(reply, NULL);
	assert_non_null(dump);
	json_decref(reply);
	ha_request_free(&req);
	return dump;
}

/* Fails the test unless actual and expected are equal JSON values; prints
 * both otherwise. */
static inline void assert_json_equal(const char *actual, const char *expected)
{
	json_error_t error;
	json_t *a = json_loads(actual, 0, &error);
	json_t *e = json_loads(expected, 0, &error);

	if (e == NULL)
		fail_msg("bad expected JSON in the test: %s (%s)", expected,
			 error.text);
	if (a == NULL || !json_equal(a, e)) {
		print_error("expected: %s\n  actual: %s\n", expected, actual);
		json_decref(a);
		json_decref(e);
		fail();
	}
	json_decref(a);
	json_decref(e);
}

/* The reply to a NUL-terminated payload must be expected. */
static inline void expect_reply(const char *payload, const char *expected)
{
	char *dump = reply_for(payload, strlen(payload));

	assert_json_equal(dump, expected);
	ha_reply_dump_free(dump);
}

/* A one-command request with this body must be refused with exactly this
 * sentence (name: the command field echoed). */
static inline void expect_refusal(const char *command_json, const char *name,
				  const char *sentence)
{
	size_t payload_len = strlen(command_json) + 32;
	char *payload = malloc(payload_len);
	json_t *expected;
	char *expected_text;
	char *dump;

	assert_non_null(payload);
	snprintf(payload, payload_len, "{\"commands\":[%s]}", command_json);
	expected = json_pack("{s:[{s:s,s:s}]}", "responses", "command", name,
			     "error", sentence);
	assert_non_null(expected);
	expected_text = json_dumps(expected, JSON_COMPACT);
	assert_non_null(expected_text);
	dump = reply_for(payload, strlen(payload));
	assert_json_equal(dump, expected_text);
	ha_reply_dump_free(dump);
	free(expected_text);
	json_decref(expected);
	free(payload);
}

/* Parses a one-command request that must be valid and returns its command
 * in *out. */
static inline void parse_one(const char *command_json, struct ha_command *out)
{
	size_t payload_len = strlen(command_json) + 32;
	char *payload = malloc(payload_len);
	struct ha_request req;

	assert_non_null(payload);
	snprintf(payload, payload_len, "{\"commands\":[%s]}", command_json);
	assert_int_equal(ha_request_parse(payload, strlen(payload), &req), 0);
	assert_int_equal(req.n_commands, 1);
	if (req.commands[0].kind == HA_CMD_INVALID)
		fail_msg("refused: %s (%s)", req.commands[0].error,
			 command_json);
	*out = req.commands[0];
	ha_request_free(&req);
	free(payload);
}

#endif
