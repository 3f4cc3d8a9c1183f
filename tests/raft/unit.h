/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* What every unit test file of the Raft core includes. */
#ifndef TESTS_RAFT_UNIT_H
#define TESTS_RAFT_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raft/raft.h"
#include "tests/raft/harness.h"

/* Every test frees its clusters, also when it fails half-way. */
#define TEST(f) cmocka_unit_test_teardown(f, h_teardown)

#define ROLE(c, id) raft_role(h_raft(c, id))
#define TERM(c, id) raft_current_term(h_raft(c, id))
#define COMMIT(c, id) raft_commit_index(h_raft(c, id))
#define LAST(c, id) raft_last_index(h_raft(c, id))

/* A command proposed on the leader, which must take it: its index. */
static inline raft_index propose(struct h_cluster *c, raft_id leader,
				 const char *cmd)
{
	raft_index idx = 0;
	assert_int_equal(h_propose(c, leader, cmd, &idx), RAFT_OK);
	return idx;
}

/* A message as a peer would send it; the test fills in the rest. */
static inline struct raft_message h_msg(uint8_t type, raft_id from, raft_id to,
					raft_term term)
{
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.version = RAFT_VERSION_MAX;
	m.from = from;
	m.to = to;
	m.term = term;
	return m;
}

/* Built against the self-check core, RAFT_PLANTED_BUG=<n> in the
 * environment plants one of its known bugs (raft/bugs.h). */
extern int raft_planted_bug __attribute__((weak));

static inline void h_plant_bug_from_env(void)
{
	const char *bug = getenv("RAFT_PLANTED_BUG");
	if (bug != NULL && &raft_planted_bug != NULL)
		raft_planted_bug = atoi(bug);
}

#endif
