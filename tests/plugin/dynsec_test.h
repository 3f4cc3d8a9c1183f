/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Helpers of the access-control tests: states from JSON text, commands
 * run with their reply checked, and "changed nothing" by the snapshot
 * section's bytes. Included by one file of each test program. */
#ifndef TESTS_PLUGIN_DYNSEC_TEST_H
#define TESTS_PLUGIN_DYNSEC_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/dynsec/dynsec.h"

/* A state loaded from the text of a dynamic-security file, with the rules
 * of mosquitto 2.0 or 2.1. */
static inline struct ha_dynsec *state_from_version(const char *text, bool v21)
{
	json_error_t err;
	json_t *tree = json_loads(text, 0, &err);
	if (tree == NULL)
		fail_msg("bad test JSON: %s: %s", err.text, text);
	struct ha_dynsec *s = ha_dynsec_new();
	assert_non_null(s);
	s->v21 = v21;
	assert_int_equal(ha_dynsec_load_json(s, tree), HA_DYNSEC_OK);
	json_decref(tree);
	return s;
}

static inline struct ha_dynsec *state_from(const char *text)
{
	return state_from_version(text, false);
}

static inline struct ha_dynsec *state_from21(const char *text)
{
	return state_from_version(text, true);
}

/* The section bytes of s, to compare two states byte for byte. */
struct section {
	uint8_t *buf;
	size_t len;
};

static inline struct section section_of(const struct ha_dynsec *s)
{
	struct section out;
	assert_int_equal(ha_dynsec_section_encode(s, &out.buf, &out.len),
			 HA_DYNSEC_OK);
	return out;
}

static inline void assert_section(const struct ha_dynsec *s,
				  struct section before)
{
	struct section now = section_of(s);
	assert_int_equal(now.len, before.len);
	assert_memory_equal(now.buf, before.buf, now.len);
	free(now.buf);
}

/* Runs one command (JSON text) on work. Returns the reply (caller
 * json_decref()s) and the record, if any, in rec and len. */
static inline json_t *run(struct ha_dynsec *work, const char *cmd_text,
			  uint8_t **rec, size_t *len)
{
	json_error_t err;
	json_t *cmd = json_loads(cmd_text, JSON_DECODE_ANY, &err);
	if (cmd == NULL)
		fail_msg("bad test JSON: %s: %s", err.text, cmd_text);
	struct ha_dynsec_cmd_result res;
	assert_int_equal(ha_dynsec_command(work, cmd, &res), HA_DYNSEC_OK);
	json_decref(cmd);
	assert_non_null(res.reply);
	if (rec != NULL) {
		*rec = res.record;
		*len = res.record_len;
	} else {
		free(res.record);
	}
	return res.reply;
}

/* The reply's "error", or NULL. */
static inline const char *reply_error(const json_t *reply)
{
	return json_string_value(json_object_get(reply, "error"));
}

#endif
