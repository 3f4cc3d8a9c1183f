#!/usr/bin/env bash
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Shows that the lessons tests can fail: with each known bug planted in the
# core (raft/bugs.h), the test named after that bug must fail.
# Usage: selfcheck.sh <test_lessons binary linked with the self-check core>
# The bugs planted after these (lease-one-sided, vote-in-window,
# read-stale-round, config-kept, step-down-early) have no lessons test: the
# simulator's direct checks catch them (make sim-selfcheck).
set -u
bin=$1
expect=(
	""
	test_lesson_commit_old_term_figure8
	test_lesson_acks_and_votes_wait_for_persist
	test_lesson_vote_once_per_term_across_restart
	test_lesson_membership_change_before_noop
	test_lesson_leader_steps_down_without_quorum
	test_lesson_jepsen_read_during_partition
	test_lesson_learner_not_in_quorum
	test_lesson_conflicting_suffix_truncated
	test_lesson_jepsen_split_brain_leases_never_overlap
)
status=0
for bug in $(seq 1 $((${#expect[@]} - 1))); do
	name=${expect[$bug]}
	out=$(env RAFT_PLANTED_BUG=$bug ASAN_OPTIONS=detect_leaks=0 "$bin" 2>&1)
	if grep -q "FAILED  \] $name\$" <<<"$out"; then
		echo "planted bug $bug: caught by $name"
	else
		echo "planted bug $bug: NOT caught by $name"
		status=1
	fi
done
# And without a planted bug, everything passes (whatever the caller's
# environment plants).
if ! env -u RAFT_PLANTED_BUG ASAN_OPTIONS=detect_leaks=0 "$bin" >/dev/null 2>&1; then
	echo "self-check build fails with no bug planted"
	status=1
fi
# Each planted bug and the clean run are one case each.
echo "cases: ${#expect[@]}"
exit $status
