/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * The rule that raises the cluster's feature level: the lowest level every
 * voter advertises, never lower than the committed one, a voter not heard
 * from waited for (except at level 1, which holds no state), and the level
 * record applied by every node never lowering it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "plugin/feature_level.h"
#include "plugin/state.h"
#include "tests/plugin/alloc_fail.h"

#define HEARD(l) ((struct ha_voter_level){.level = (l)})
#define SILENT_WAITING ((struct ha_voter_level){.waiting = true})
#define SILENT_GIVEN_UP ((struct ha_voter_level){.waiting = false})

static void test_every_voter_at_the_leaders_level_raises(void **state)
{
	(void)state;
	struct ha_voter_level v[] = {HEARD(2), HEARD(2)};
	assert_int_equal(ha_feature_level_target(1, 2, v, 2), 2);
	/* Already there: nothing to write. */
	assert_int_equal(ha_feature_level_target(2, 2, v, 2), 0);
}

static void test_the_lowest_voter_decides(void **state)
{
	(void)state;
	struct ha_voter_level v[] = {HEARD(3), HEARD(2), HEARD(4)};
	assert_int_equal(ha_feature_level_target(1, 4, v, 3), 2);
	/* The leader itself is the lowest. */
	struct ha_voter_level w[] = {HEARD(4), HEARD(4)};
	assert_int_equal(ha_feature_level_target(1, 3, w, 2), 3);
	/* An old voter holds the cluster where it is. */
	struct ha_voter_level x[] = {HEARD(1), HEARD(2)};
	assert_int_equal(ha_feature_level_target(1, 2, x, 2), 0);
}

static void test_never_lower(void **state)
{
	(void)state;
	/* A voter below the committed level (an old binary came back) does
	 * not make the rule write a lower level. */
	struct ha_voter_level v[] = {HEARD(1), HEARD(3)};
	assert_int_equal(ha_feature_level_target(2, 3, v, 2), 0);
	assert_int_equal(ha_feature_level_target(3, 3, v, 2), 0);
}

static void test_a_silent_voter_is_waited_for_then_left_out(void **state)
{
	(void)state;
	struct ha_voter_level waiting[] = {HEARD(3), SILENT_WAITING};
	assert_int_equal(ha_feature_level_target(2, 3, waiting, 2), 0);
	struct ha_voter_level gone[] = {HEARD(3), SILENT_GIVEN_UP};
	assert_int_equal(ha_feature_level_target(2, 3, gone, 2), 3);
	/* Left out, but the voters that are heard still count. */
	struct ha_voter_level mixed[] = {HEARD(2), SILENT_GIVEN_UP};
	assert_int_equal(ha_feature_level_target(2, 3, mixed, 2), 0);
}

static void test_level_one_does_not_wait(void **state)
{
	(void)state;
	/* A new cluster: its first leader raises it with the voters that are
	 * up, before the others have started. */
	struct ha_voter_level v[] = {HEARD(2), SILENT_WAITING};
	assert_int_equal(ha_feature_level_target(1, 2, v, 2), 2);
	struct ha_voter_level none[] = {SILENT_WAITING, SILENT_WAITING};
	assert_int_equal(ha_feature_level_target(1, 2, none, 2), 2);
	assert_int_equal(ha_feature_level_target(1, 2, NULL, 0), 2);
}

static void apply_level(struct ha_state *s, uint32_t level, int expect)
{
	struct ha_record r = {.type = HA_REC_TYPE_FEATURE_LEVEL};
	r.u.feature_level = level;
	uint8_t *buf;
	size_t len;
	assert_int_equal(ha_record_encode(&r, &buf, &len, NULL), HA_REC_OK);
	char why[200] = "";
	assert_int_equal(ha_state_apply(s, 7, buf, len, why, sizeof(why)),
			 expect);
	free(buf);
}

static void test_applied_level_gates_writes(void **state)
{
	(void)state;
	struct ha_state *s = ha_state_new(1);
	assert_non_null(s);
	assert_int_equal(s->feature_level, HA_FEATURE_LEVEL_BASE);
	assert_false(
	    ha_record_writable(HA_REC_TYPE_RETAIN_SET, s->feature_level));
	assert_true(
	    ha_record_writable(HA_REC_TYPE_DELETE_CLUSTER, s->feature_level));
	apply_level(s, 2, HA_APPLY_OK);
	assert_int_equal(s->feature_level, 2);
	assert_true(
	    ha_record_writable(HA_REC_TYPE_RETAIN_SET, s->feature_level));
	/* A lower level record (proposed by a leader that had not seen the
	 * raise yet) changes nothing. */
	apply_level(s, 1, HA_APPLY_OK);
	assert_int_equal(s->feature_level, 2);
	/* Above this code: stop, unchanged. */
	apply_level(s, HA_FEATURE_LEVEL_MAX + 1, HA_APPLY_NEWER);
	assert_int_equal(s->feature_level, 2);
	ha_state_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_voter_at_the_leaders_level_raises),
	    cmocka_unit_test(test_the_lowest_voter_decides),
	    cmocka_unit_test(test_never_lower),
	    cmocka_unit_test(test_a_silent_voter_is_waited_for_then_left_out),
	    cmocka_unit_test(test_level_one_does_not_wait),
	    cmocka_unit_test(test_applied_level_gates_writes),
	};
	return cmocka_run_group_tests_name("feature level", tests, NULL, NULL);
}
