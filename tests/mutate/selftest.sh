#!/usr/bin/env bash
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# The mutator (scripts/mutate.py) cannot rot unnoticed:
# 1. it finds exactly the mutants of tests/mutate/fixture.c listed in
#    tests/mutate/fixture.expected (operators, off-by-one, dropped
#    statements, swaps; nothing in comments, strings or self-check code);
# 2. every mutant marked equivalent in tests/mutate/equivalent.txt still
#    exists;
# 3. built and run for real, a mutant that stops all commits is killed and
#    one that changes nothing a test can see (a sort comparator answering 1
#    instead of 0 for equal rounds) survives;
# 4. run as the mutate-sample suite runs its sample (--must-kill), that pair
#    fails the run and names the survivor: the sample suite cannot pass with
#    a survivor in it;
# 5. a sample file with a line that is not a mutant id is refused.
# Needs BUILD, CC, SAN_CFLAGS, OPT_CFLAGS and RAFT_UNIT_TESTS (from make).
set -u
cd "$(dirname "$0")/../.."
status=0
py=/usr/bin/python3

if diff -u tests/mutate/fixture.expected \
	<($py scripts/mutate.py list tests/mutate/fixture.c); then
	echo "mutate selftest: fixture mutants as expected"
else
	echo "mutate selftest: fixture mutants differ from fixture.expected"
	status=1
fi

if $py scripts/mutate.py check-equivalent; then
	echo "mutate selftest: every equivalent mutant still exists"
else
	status=1
fi

killed=dd74d15232   # replication.c: commit never advances
survives=04618ef7c7 # lease.c cmp_desc_u64: '<' for '<=', same order
sample=$(mktemp)
trap 'rm -f "$sample"' EXIT
printf '# the pair\n%s killed\n%s survives\n' "$killed" "$survives" >"$sample"
out=$($py scripts/mutate.py run --build "$BUILD/mutate-selftest" --cc "$CC" \
	--san-cflags "$SAN_CFLAGS" --opt-cflags "$OPT_CFLAGS" \
	--unit-tests "$RAFT_UNIT_TESTS" --sim-seeds 100 --goal 0 --verbose \
	--ids-file "$sample" --must-kill 2>&1)
run_status=$?
echo "$out" | grep -v '^cases:'
if [[ $run_status -ne 0 ]] &&
	grep -q "must be killed but survived: .*\[$survives\]" <<<"$out"; then
	echo "mutate selftest: --must-kill fails on the survivor and names it"
else
	echo "mutate selftest: --must-kill did not fail on the survivor" \
		"(status $run_status)"
	status=1
fi
if grep -q "killed by .*\[$killed\]" <<<"$out"; then
	echo "mutate selftest: the planted bad mutant was killed"
else
	echo "mutate selftest: the planted bad mutant was NOT killed"
	status=1
fi
if grep -q "survived: .*\[$survives\]" <<<"$out"; then
	echo "mutate selftest: the harmless mutant survived"
else
	echo "mutate selftest: the harmless mutant did not survive"
	status=1
fi
echo 'zzz not-an-id' >"$sample"
if out=$($py scripts/mutate.py run --build "$BUILD/mutate-selftest" \
	--cc "$CC" --san-cflags "$SAN_CFLAGS" --opt-cflags "$OPT_CFLAGS" \
	--unit-tests "$RAFT_UNIT_TESTS" --ids-file "$sample" 2>&1) ||
	! grep -q "is not a mutant id" <<<"$out"; then
	echo "mutate selftest: a bad sample file was not refused: $out"
	status=1
else
	echo "mutate selftest: a bad sample file is refused"
fi
echo "cases: 6"
exit $status
