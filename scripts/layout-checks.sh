#!/usr/bin/env bash
# Checks of the tree's layout, run by `make test` (suite layout-checks):
#  - no C function outside tests/ is longer than 120 lines
#    (scripts/long-functions.sh), and the checker does catch one;
#  - docs/ARCHITECTURE.md names every top-level folder and every folder of
#    tests/, and names no folder that does not exist.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0

bash scripts/long-functions.sh 120 || status=1

# The checker must fail on a function one line over the limit.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
	echo "int planted(void)"
	echo "{"
	for ((i = 0; i < 119; i++)); do echo "	;"; done
	echo "}"
} >"$work/planted.c"
if bash scripts/long-functions.sh 120 "$work/planted.c" >"$work/out" 2>&1; then
	echo "layout: long-functions.sh missed a 121-line function" >&2
	status=1
elif ! grep -q "planted is 121 lines" "$work/out"; then
	echo "layout: long-functions.sh failed without naming the planted function:" >&2
	cat "$work/out" >&2
	status=1
fi

# Folders in the tree block of docs/ARCHITECTURE.md: a name ending in '/' at
# the start of a line (top level), or indented by two under "tests/".
doc=docs/ARCHITECTURE.md
block=$(awk '/^```/ { n++; next } n == 1' "$doc")
mapfile -t documented < <(printf '%s\n' "$block" | grep -oE '^[.a-z0-9_-]+/' | sed 's#/$##' | sort -u)
mapfile -t documented_tests < <(printf '%s\n' "$block" |
	awk '/^[^ ]/ { in_tests = /^tests\// } in_tests && /^  [a-z0-9_-]+\// { print }' |
	grep -oE '[a-z0-9_-]+/' | sed 's#/$##' | sort -u)
mapfile -t actual < <(git ls-files | grep / | cut -d/ -f1 | sort -u)
mapfile -t actual_tests < <(git ls-files tests | cut -d/ -f2- | grep / | cut -d/ -f1 | sort -u)
compare() { # what, documented (newline list), actual (newline list)
	local missing extra
	missing=$(comm -13 <(printf '%s\n' "$2") <(printf '%s\n' "$3"))
	extra=$(comm -23 <(printf '%s\n' "$2") <(printf '%s\n' "$3"))
	if [[ -n $missing ]]; then
		echo "layout: $doc does not name these $1 folders: $missing" >&2
		status=1
	fi
	if [[ -n $extra ]]; then
		echo "layout: $doc names $1 folders that do not exist: $extra" >&2
		status=1
	fi
}
compare top-level "$(printf '%s\n' "${documented[@]}")" "$(printf '%s\n' "${actual[@]}")"
compare tests/ "$(printf '%s\n' "${documented_tests[@]}")" "$(printf '%s\n' "${actual_tests[@]}")"
echo "layout: ${#actual[@]} top-level folders and ${#actual_tests[@]} test folders checked against $doc"
# The three checks above, counted for the test runner.
echo "cases: 3"
exit $status
