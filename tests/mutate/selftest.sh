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
#    instead of 0 for equal rounds) survives.
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
out=$($py scripts/mutate.py run --build "$BUILD/mutate-selftest" --cc "$CC" \
	--san-cflags "$SAN_CFLAGS" --opt-cflags "$OPT_CFLAGS" \
	--unit-tests "$RAFT_UNIT_TESTS" --sim-seeds 100 --goal 0 --verbose \
	--only "$killed,$survives" 2>&1)
echo "$out" | grep -v '^cases:'
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
echo "cases: 4"
exit $status
