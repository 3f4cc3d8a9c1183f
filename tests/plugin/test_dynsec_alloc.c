/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Access control when memory runs out: every allocation of a command, an
 * apply, a file load and a section decode is failed in turn (malloc,
 * calloc, realloc and strdup of the code under test; see alloc_fail.h),
 * and each must report it and leave the state as it was: no half-made
 * change, no record without its change.
 */
#include "tests/plugin/dynsec_test.h"

#include "tests/plugin/alloc_fail.h"

char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s);

char *__wrap_strdup(const char *s)
{
	return alloc_should_fail() ? NULL : __real_strdup(s);
}

static const char *const base =
    "{\"roles\": [{\"rolename\": \"r\", \"acls\": [{\"acltype\": "
    "\"publishClientSend\", \"topic\": \"a/#\", \"allow\": true}]}, "
    "{\"rolename\": \"s\"}],"
    "\"clients\": [{\"username\": \"u\", \"roles\": [{\"rolename\": "
    "\"r\"}]}, {\"username\": \"w\"}],"
    "\"groups\": [{\"groupname\": \"g\", \"roles\": [{\"rolename\": "
    "\"s\"}], \"clients\": [{\"username\": \"u\", \"priority\": 1}]}, "
    "{\"groupname\": \"h\"}], \"anonymousGroup\": \"h\"}";

static const char *const changes[] = {
    "{\"command\": \"createClient\", \"username\": \"n\", \"password\": "
    "\"p\", \"clientid\": \"c\", \"textname\": \"t\", \"roles\": "
    "[{\"rolename\": \"r\"}, {\"rolename\": \"s\", \"priority\": 2}], "
    "\"groups\": [{\"groupname\": \"g\"}, {\"groupname\": \"h\"}]}",
    "{\"command\": \"modifyGroup\", \"groupname\": \"g\", \"textname\": "
    "\"x\", \"roles\": [{\"rolename\": \"r\"}], \"clients\": "
    "[{\"username\": \"w\"}, {\"username\": \"u\", \"priority\": 3}]}",
    "{\"command\": \"createRole\", \"rolename\": \"q\", \"acls\": "
    "[{\"acltype\": \"subscribePattern\", \"topic\": \"#\"}, {\"acltype\": "
    "\"unsubscribeLiteral\", \"topic\": \"x\"}]}",
    "{\"command\": \"deleteRole\", \"rolename\": \"r\"}",
    "{\"command\": \"setDefaultACLAccess\", \"acls\": [{\"acltype\": "
    "\"subscribe\", \"allow\": true}]}",
};

/* A command on a copy of base, its allocations failed one after the
 * other: out of memory (nothing set) or an "Internal error" reply without
 * a record, the state unchanged; until it runs through. */
static void test_commands(void **unused)
{
	(void)unused;
	for (size_t c = 0; c < sizeof(changes) / sizeof(changes[0]); c++) {
		json_t *cmd = json_loads(changes[c], 0, NULL);
		assert_non_null(cmd);
		for (long n = 0;; n++) {
			struct ha_dynsec *s = state_from(base);
			struct section before = section_of(s);
			struct ha_dynsec_cmd_result res;
			alloc_fail_after(n);
			int rv = ha_dynsec_command(s, cmd, &res);
			bool injected = alloc_fail_off();
			bool done = !injected;
			if (injected) {
				if (rv == HA_DYNSEC_OK) {
					assert_string_equal(
					    reply_error(res.reply),
					    "Internal error");
					assert_null(res.record);
					json_decref(res.reply);
				} else {
					assert_int_equal(rv, HA_DYNSEC_ENOMEM);
				}
				assert_section(s, before);
			} else {
				assert_int_equal(rv, HA_DYNSEC_OK);
				assert_null(reply_error(res.reply));
				assert_non_null(res.record);
				json_decref(res.reply);
				free(res.record);
			}
			free(before.buf);
			ha_dynsec_free(s);
			if (done) {
				/* The walk did fail allocations on its way. */
				assert_true(n > 10);
				break;
			}
		}
		json_decref(cmd);
	}
}

/* The record of each change applied on a copy of base, allocations
 * failed in turn: out of memory and unchanged, until it applies. */
static void test_applies(void **unused)
{
	(void)unused;
	for (size_t c = 0; c < sizeof(changes) / sizeof(changes[0]); c++) {
		struct ha_dynsec *leader = state_from(base);
		uint8_t *rec;
		size_t len;
		json_t *r = run(leader, changes[c], &rec, &len);
		json_decref(r);
		assert_non_null(rec);
		for (long n = 0;; n++) {
			struct ha_dynsec *s = state_from(base);
			struct section before = section_of(s);
			const char *why = NULL;
			alloc_fail_after(n);
			int rv = ha_dynsec_apply(s, rec, len, &why);
			bool injected = alloc_fail_off();
			if (injected) {
				assert_int_equal(rv, HA_DYNSEC_ENOMEM);
				assert_section(s, before);
			} else {
				assert_int_equal(rv, HA_DYNSEC_OK);
				assert_true(ha_dynsec_equal(s, leader));
			}
			free(before.buf);
			ha_dynsec_free(s);
			if (!injected) {
				assert_true(n > 10);
				break;
			}
		}
		free(rec);
		ha_dynsec_free(leader);
	}
}

/* Loading a file and decoding a section: out of memory and nothing
 * changed or made, until they run through. */
static void test_load_and_decode(void **unused)
{
	(void)unused;
	json_t *tree = json_loads(base, 0, NULL);
	struct ha_dynsec *want = state_from(base);
	struct section sec = section_of(want);
	for (long n = 0;; n++) {
		struct ha_dynsec *s =
		    state_from("{\"clients\": [{\"username\": "
			       "\"old\"}]}");
		struct section before = section_of(s);
		alloc_fail_after(n);
		int rv = ha_dynsec_load_json(s, tree);
		bool injected = alloc_fail_off();
		if (injected) {
			assert_int_equal(rv, HA_DYNSEC_ENOMEM);
			assert_section(s, before);
		} else {
			assert_true(ha_dynsec_equal(s, want));
		}
		free(before.buf);
		ha_dynsec_free(s);
		if (!injected) {
			assert_true(n > 10);
			break;
		}
	}
	for (long n = 0;; n++) {
		struct ha_dynsec *s = NULL;
		const char *why = NULL;
		alloc_fail_after(n);
		int rv = ha_dynsec_section_decode(sec.buf, sec.len, &s, &why);
		bool injected = alloc_fail_off();
		if (injected) {
			assert_int_equal(rv, HA_DYNSEC_ENOMEM);
			assert_null(s);
		} else {
			assert_true(ha_dynsec_equal(s, want));
			ha_dynsec_free(s);
			assert_true(n > 10);
			break;
		}
	}
	free(sec.buf);
	ha_dynsec_free(want);
	json_decref(tree);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_commands),
	    cmocka_unit_test(test_applies),
	    cmocka_unit_test(test_load_and_decode),
	};
	return cmocka_run_group_tests_name("dynsec out of memory", tests, NULL,
					   NULL);
}
