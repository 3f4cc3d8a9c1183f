#!/usr/bin/env bash
# Runs every fuzz target for the given number of seconds, starting from its
# corpus in fuzz/corpus/NAME. Exits non-zero on the first crash.
set -euo pipefail
seconds=$1
shift
for f in "$@"; do
	make --no-print-directory "build/fuzz/$f"
	work=$(mktemp -d)
	echo "=== fuzz $f for ${seconds}s"
	if ! "build/fuzz/$f" -max_total_time="$seconds" -artifact_prefix="$work/" \
		"$work" "fuzz/corpus/$f" 2>"$work/log"; then
		tail -40 "$work/log" >&2
		echo "fuzz $f: crash, artifacts in $work" >&2
		exit 1
	fi
	grep -E '^Done|stat::number_of_executed_units' "$work/log" | tail -1 || true
	rm -rf "$work"
done
echo "fuzz: ${#@} targets, no crash"
