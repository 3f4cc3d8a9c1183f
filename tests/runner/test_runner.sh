#!/usr/bin/env bash
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Tests of scripts/run-suites.sh: every way `make test` could shrink without
# failing is shown caught. Small fake suites (a table of shell commands, see
# run-suites.sh --table) stand in for the real ones.
#
# It runs in a network and mount namespace of its own, so that the network
# namespaces, nftables tables and loopback addresses it leaves on purpose are
# never confused with those of anything else running on the machine.
# Usage: test_runner.sh (from the top of the tree)
set -u
if [[ ${RUNNER_TEST_ISOLATED:-} != 1 ]]; then
	command -v unshare >/dev/null || { echo "test_runner: unshare (util-linux) is missing" >&2; exit 1; }
	exec env RUNNER_TEST_ISOLATED=1 unshare --net --mount --propagation private bash "$0" "$@"
fi
# Private to this namespace: only what the test itself creates is listed.
mkdir -p /run/netns && mount -t tmpfs runner-test /run/netns || {
	echo "test_runner: cannot mount a private /run/netns" >&2
	exit 1
}
ip link set lo up

runner=$PWD/scripts/run-suites.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cases=0
failures=0

ok() {
	cases=$((cases + 1))
	echo "ok $cases - $1"
}
not_ok() {
	cases=$((cases + 1))
	failures=$((failures + 1))
	echo "not ok $cases - $1"
	sed 's/^/#   /' "$work/out"
}

# table NAME<TAB>COMMAND... : writes the fake suites' table.
table() {
	: >"$work/table"
	while [[ $# -gt 0 ]]; do
		printf '%s\t%s\n' "$1" "$2" >>"$work/table"
		shift 2
	done
}
# list NAME... : writes a suite list with a comment header.
list() {
	{ echo "# fake suites"; echo; printf '%s\n' "$@"; } >"$work/list"
}
# run ARGS... : runs the runner on the table; output in $work/out, status in $rc.
run() {
	bash "$runner" --table "$work/table" "$@" >"$work/out" 2>&1
	rc=$?
}
has() { grep -qF -- "$1" "$work/out"; }

# expect_refused DESCRIPTION TEXT: the runner refused to start, naming TEXT.
expect_refused() {
	if [[ $rc -ne 0 ]] && has "$2" && has "no suite was run" && ! has "=== suite"; then
		ok "$1"
	else
		not_ok "$1 (status $rc)"
	fi
}
# expect_suite_failed DESCRIPTION SUITE TEXT: the run failed on SUITE for TEXT.
expect_suite_failed() {
	if [[ $rc -ne 0 ]] && has "=== suite $2: FAILED" && has "$3" &&
		[[ $(tail -1 "$work/out") == "suites: "*" passed, "[1-9]*" failed" ]]; then
		ok "$1"
	else
		not_ok "$1 (status $rc)"
	fi
}

CMOCKA_OK='echo "[==========] 3 test(s) run."; echo "[  PASSED  ] 3 test(s)."'

# ---- a clean run, with every form of case count the runner reads ----
table \
	cmocka "$CMOCKA_OK" \
	pytest 'echo "7 passed in 0.12s"' \
	sim 'echo "sim: 40 seeds, 0 violations, 0 liveness failures"' \
	selfcheck 'echo "selfcheck: 9 planted bugs, 9 caught, 0 missed"' \
	fuzz 'echo "fuzz x: replayed 5 inputs of fuzz/corpus/x"' \
	plain 'echo "cases: 2"'
list cmocka pytest sim selfcheck fuzz plain
run --list "$work/list" cmocka pytest sim selfcheck fuzz plain
if [[ $rc -eq 0 ]] && has "=== suite cmocka: ok, 3 cases" && has "=== suite pytest: ok, 7 cases" &&
	has "=== suite sim: ok, 40 cases" && has "=== suite selfcheck: ok, 9 cases" &&
	has "=== suite fuzz: ok, 5 cases" && has "=== suite plain: ok, 2 cases" &&
	has "66 cases" && [[ $(tail -1 "$work/out") == "suites: 6 passed, 0 failed" ]]; then
	ok "a clean run passes and counts the cases of each suite"
else
	not_ok "a clean run passes and counts the cases of each suite"
fi

# ---- the list and the build's SUITES must match ----
table a "$CMOCKA_OK" b "$CMOCKA_OK"
list a
run --list "$work/list" a b
expect_refused "a suite of the build missing from the list is refused" \
	"suite b is in the build's SUITES but not in"
list a b
run --list "$work/list" a
expect_refused "a listed suite missing from the build is refused" \
	"suite b is in $work/list but not in the build's SUITES"
list a b b
run --list "$work/list" a b
expect_refused "a suite listed twice is refused" "listed twice"
list a b
run --list "$work/list" a b b
expect_refused "a suite twice in the build's SUITES is refused" "defined twice"

# ---- a suite must show how many cases it ran, and more than none ----
table zero 'echo "[==========] 0 test(s) run."; echo "[  PASSED  ] 0 test(s)."'
run zero
expect_suite_failed "a suite that ran zero cases fails" zero "it ran no case"
table silent 'echo "all good"'
run silent
expect_suite_failed "a suite whose case count cannot be found fails" silent \
	"no case count in its output"
table deselect 'echo "4 passed, 3 deselected in 0.50s"'
run deselect
expect_suite_failed "a pytest run that deselected tests fails" deselect "deselected"
table broken 'echo "cases: 4"; exit 3'
run broken
expect_suite_failed "a suite that exits non-zero fails" broken "exit status 3"
table a "$CMOCKA_OK" broken 'echo "cases: 4"; exit 1' c "$CMOCKA_OK"
run a broken c
if has "=== suite c: ok" && [[ $(tail -1 "$work/out") == "suites: 2 passed, 1 failed" ]]; then
	ok "the suites after a failed one still run and the summary comes last"
else
	not_ok "the suites after a failed one still run and the summary comes last"
fi

# ---- no variable narrows a suite under make test ----
# Each one is for running one binary or target by hand.
table knob 'echo "cases: 1"'
list knob
for v in CHAOS_SEEDS CHAOS_FIRST RAFT_PLANTED_BUG STORAGE_CRASH_SEEDS \
	STORAGE_CRASH_SEED TRANSPORT_TEST_FILTER FUZZ_BRIEF_SECONDS \
	SEEDS SIM_TEST_SEEDS SIM_SAN_SEEDS SELFCHECK_SEEDS \
	PYTEST_ADDOPTS PYTEST_PLUGINS HA_KV_BINARY HA_PLUGIN CMOCKA_MESSAGE_OUTPUT \
	CMOCKA_TEST_ABORT ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS; do
	rc=0
	env "$v=1" bash "$runner" --table "$work/table" --list "$work/list" knob >"$work/out" 2>&1 || rc=$?
	expect_refused "make test refuses to start with $v set" "$v=1 is set"
done
# Even set to nothing.
CHAOS_SEEDS= bash "$runner" --table "$work/table" --list "$work/list" knob >"$work/out" 2>&1
rc=$?
expect_refused "make test refuses a narrowing variable set to nothing" "CHAOS_SEEDS= is set"
run --list "$work/list" --make-vars "BUILD SIM_TEST_SEEDS" knob
expect_refused "make test refuses a make variable that narrows a suite" \
	"SIM_TEST_SEEDS is set on the make command line"
run --list "$work/list" --make-vars "BUILD CC CLANG" knob
if [[ $rc -eq 0 ]]; then
	ok "make test accepts BUILD, CC and CLANG"
else
	not_ok "make test accepts BUILD, CC and CLANG"
fi
# Anything else in the environment does not reach a suite under make test,
# while a developer's run of the same suite sees it.
table env 'if [[ -n ${SOME_KNOB:-} ]]; then echo "cases: 1"; else echo "cases: 2"; fi'
list env
SOME_KNOB=x bash "$runner" --table "$work/table" --list "$work/list" env >"$work/out" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && has "=== suite env: ok, 2 cases"; then
	ok "under make test a suite runs without the caller's environment"
else
	not_ok "under make test a suite runs without the caller's environment"
fi
CHAOS_SEEDS=1 SOME_KNOB=x bash "$runner" --table "$work/table" env >"$work/out" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && has "=== suite env: ok, 1 cases"; then
	ok "a developer's run keeps the knobs"
else
	not_ok "a developer's run keeps the knobs"
fi

# ---- nothing left behind ----
table proc 'setsid sleep 300 </dev/null >/dev/null 2>&1 & echo "cases: 1"'
run proc
if [[ $rc -ne 0 ]] && has "=== suite proc: FAILED" && grep -q "process [0-9]* (sleep 300" "$work/out" &&
	! pgrep -f "^sleep 300\$" >/dev/null; then
	ok "a process left running fails the suite and is killed"
else
	not_ok "a process left running fails the suite and is killed"
fi
table netns 'ip netns add runner-test-left && echo "cases: 1"'
run netns
if [[ $rc -ne 0 ]] && has "network namespace runner-test-left" && ! ip netns list | grep -q runner-test-left; then
	ok "a network namespace left behind fails the suite and is deleted"
else
	not_ok "a network namespace left behind fails the suite and is deleted"
fi
table nft 'nft add table inet runner_test_left && echo "cases: 1"'
run nft
if [[ $rc -ne 0 ]] && has "nftables table inet runner_test_left" && ! nft list tables | grep -q runner_test_left; then
	ok "an nftables table left behind fails the suite and is deleted"
else
	not_ok "an nftables table left behind fails the suite and is deleted"
fi
table addr 'ip addr add 127.0.0.77/32 dev lo && echo "cases: 1"'
run addr
if [[ $rc -ne 0 ]] && has "address 127.0.0.77/32 on lo" && ! ip -o addr show dev lo | grep -q 127.0.0.77; then
	ok "a loopback address left behind fails the suite and is removed"
else
	not_ok "a loopback address left behind fails the suite and is removed"
fi
table tidy 'ip netns add runner-test-tidy; nft add table inet runner_test_tidy; ip addr add 127.0.0.78/32 dev lo; sleep 300 & pid=$!; ip netns delete runner-test-tidy; nft delete table inet runner_test_tidy; ip addr del 127.0.0.78/32 dev lo; kill $pid; wait $pid; echo "cases: 1"'
run tidy
if [[ $rc -eq 0 ]] && has "=== suite tidy: ok"; then
	ok "a suite that removes what it made passes"
else
	not_ok "a suite that removes what it made passes"
fi
# What was there before a suite is not its leftover.
ip addr add 127.0.0.79/32 dev lo
table a "$CMOCKA_OK"
run a
if [[ $rc -eq 0 ]] && ip -o addr show dev lo | grep -q 127.0.0.79; then
	ok "what existed before a suite is neither blamed on it nor removed"
else
	not_ok "what existed before a suite is neither blamed on it nor removed"
fi
ip addr del 127.0.0.79/32 dev lo

# ---- the real list matches the real build ----
mapfile -t real < <(make -s --no-print-directory --eval 'runner-print-suites: ; @echo $(SUITES)' runner-print-suites | tr ' ' '\n')
if bash "$runner" --list tests/suites.list --check "${real[@]}" >"$work/out" 2>&1; then
	ok "tests/suites.list names exactly the build's SUITES"
else
	not_ok "tests/suites.list names exactly the build's SUITES"
fi

echo "cases: $cases"
if [[ $failures -ne 0 ]]; then
	echo "runner tests: $failures of $cases failed"
	exit 1
fi
echo "runner tests: all $cases passed"
