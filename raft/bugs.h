/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* Known Raft bugs that a self-check build plants one at a time, to show
 * that the simulator catches each. In a normal build every RAFT_BUG(x) is a
 * constant false and the compiler removes the buggy branch. */
#ifndef RAFT_BUGS_H
#define RAFT_BUGS_H

enum raft_bug {
	RAFT_BUG_NONE = 0,
	RAFT_BUG_COMMIT_OLD_TERM, /* count replicas of an older term's entry */
	RAFT_BUG_SEND_BEFORE_PERSIST, /* acks and votes leave before fsync */
	RAFT_BUG_DOUBLE_VOTE,	      /* two votes in one term */
	RAFT_BUG_SKIP_NOOP,	      /* membership change before the no-op */
	RAFT_BUG_NO_STEP_DOWN,	      /* leader keeps going without quorum */
	RAFT_BUG_READ_NO_QUORUM,      /* ReadIndex answered locally */
	RAFT_BUG_LEARNER_QUORUM,      /* learners counted toward commit */
	RAFT_BUG_NO_TRUNCATE,	      /* conflicting suffix kept */
	RAFT_BUG_LEASE_NO_DRIFT,      /* lease ignores clock drift */
	RAFT_BUG_LEASE_ONE_SIDED,     /* lease allows for the leader's drift
					 only, not the voters' */
	RAFT_BUG_VOTE_IN_WINDOW,      /* votes ignore the restart window and
					 a leader heard before a new term */
	RAFT_BUG_READ_STALE_ROUND,    /* ReadIndex confirmed by a round that
					 began before the read */
	RAFT_BUG_CONFIG_KEPT,	      /* truncating a configuration entry
					 leaves it active */
	RAFT_BUG_STEP_DOWN_EARLY,     /* check-quorum after a quarter election
					 timeout: needless elections */
	RAFT_BUG_COUNT
};

#ifdef RAFT_SELFCHECK
extern int raft_planted_bug;
const char *raft_bug_name(int bug);
#define RAFT_BUG(x) (raft_planted_bug == RAFT_BUG_##x)
#else
#define RAFT_BUG(x) 0
#endif

#endif
