#!/usr/bin/env bash
# Runs fuzz targets against their corpus in fuzz/corpus/NAME.
#   run-fuzzers.sh --replay NAME...        run every corpus input once, in
#                                          name order, and nothing else (what
#                                          `make test` does: deterministic)
#   run-fuzzers.sh --fuzz SECONDS NAME...  fuzz each target for SECONDS from a
#                                          random seed, printed so that a
#                                          finding can be replayed; FUZZ_SEED=N
#                                          in the environment fuzzes from seed N
# Exits non-zero on the first failing input or crash.
set -euo pipefail
build=${BUILD:-build}
mode=${1:-}
shift || true
case $mode in
--replay) ;;
--fuzz)
	seconds=${1:?run-fuzzers.sh --fuzz needs a number of seconds}
	shift
	[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: '$seconds' is not a number of seconds" >&2; exit 2; }
	;;
*)
	echo "usage: run-fuzzers.sh --replay NAME... | --fuzz SECONDS NAME..." >&2
	exit 2
	;;
esac
[[ $# -gt 0 ]] || { echo "run-fuzzers.sh: no fuzz target named" >&2; exit 2; }

for f in "$@"; do
	# `make suite-fuzz-NAME` has built the target already.
	[[ $mode == --replay ]] || make --no-print-directory BUILD="$build" "$build/fuzz/$f"
	[[ -x $build/fuzz/$f ]] || { echo "fuzz $f: $build/fuzz/$f is not built" >&2; exit 1; }
	corpus="fuzz/corpus/$f"
	mapfile -t inputs < <(find "$corpus" -maxdepth 1 -type f 2>/dev/null | LC_ALL=C sort)
	if [[ ${#inputs[@]} -eq 0 ]]; then
		echo "fuzz $f: no seed corpus in $corpus" >&2
		exit 1
	fi
	work=$(mktemp -d)
	if [[ $mode == --replay ]]; then
		# Files named on the command line are each run once, nothing more.
		if ! "$build/fuzz/$f" "${inputs[@]}" >"$work/replay.log" 2>&1; then
			tail -40 "$work/replay.log" >&2
			echo "fuzz $f: an input of $corpus fails" >&2
			exit 1
		fi
		executed=$(grep -c '^Executed .* in [0-9]* ms' "$work/replay.log" || true)
		if [[ $executed -ne ${#inputs[@]} ]]; then
			tail -40 "$work/replay.log" >&2
			echo "fuzz $f: ran $executed of the ${#inputs[@]} inputs of $corpus" >&2
			exit 1
		fi
		echo "fuzz $f: replayed $executed inputs of $corpus"
	else
		seed=${FUZZ_SEED:-}
		if [[ -z $seed ]]; then
			seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
			seed=$((seed % 2147483647 + 1))
		fi
		[[ $seed =~ ^[0-9]+$ ]] || { echo "fuzz: FUZZ_SEED '$seed' is not a number" >&2; exit 2; }
		echo "fuzz $f: fuzzing for ${seconds}s from seed $seed (again: make fuzz FUZZERS=$f FUZZ_SEED=$seed FUZZ_SECONDS=$seconds)"
		# New inputs go to a scratch folder; the checked-in corpus stays as is.
		if ! "$build/fuzz/$f" -seed="$seed" -max_total_time="$seconds" \
			-artifact_prefix="$work/" "$work" "$corpus" >"$work/log" 2>&1; then
			tail -40 "$work/log" >&2
			echo "fuzz $f: crash at seed $seed, input saved in $work" >&2
			echo "fuzz $f: replay it with $build/fuzz/$f $work/crash-*" >&2
			exit 1
		fi
		grep -E 'Done [0-9]+ runs' "$work/log" | tail -1 || true
	fi
	rm -rf "$work"
done
echo "fuzz: $# targets, no failure"
