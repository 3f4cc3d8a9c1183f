#!/usr/bin/env bash
# Runs fuzz targets, each from its corpus in fuzz/corpus/NAME, and exits
# non-zero on the first crash.
#   run-fuzzers.sh SECONDS NAME...          fuzz each target for SECONDS
#   run-fuzzers.sh --brief SECONDS NAME...  replay the corpus first (every
#                                           input must pass), then fuzz
set -euo pipefail
build=${BUILD:-build}
brief=0
if [[ ${1:-} == --brief ]]; then
	brief=1
	shift
fi
seconds=$1
shift
for f in "$@"; do
	make --no-print-directory BUILD="$build" "$build/fuzz/$f"
	corpus="fuzz/corpus/$f"
	if [[ ! -d $corpus ]] || [[ -z $(ls -A "$corpus") ]]; then
		echo "fuzz $f: no seed corpus in $corpus" >&2
		exit 1
	fi
	work=$(mktemp -d)
	if [[ $brief -eq 1 ]]; then
		if ! "$build/fuzz/$f" -runs=0 "$corpus" >"$work/replay.log" 2>&1; then
			tail -40 "$work/replay.log" >&2
			echo "fuzz $f: the corpus replay failed" >&2
			exit 1
		fi
		echo "fuzz $f: replayed $(ls "$corpus" | wc -l) corpus inputs"
	fi
	echo "fuzz $f: fuzzing for ${seconds}s"
	if ! "$build/fuzz/$f" -max_total_time="$seconds" -artifact_prefix="$work/" \
		"$work" "$corpus" >"$work/log" 2>&1; then
		tail -40 "$work/log" >&2
		echo "fuzz $f: crash, input saved in $work" >&2
		exit 1
	fi
	grep -E 'Done [0-9]+ runs' "$work/log" | tail -1 || true
	rm -rf "$work"
done
echo "fuzz: $# targets, no crash"
