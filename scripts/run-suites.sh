#!/usr/bin/env bash
# Runs test suites one after the other, each as `make suite-NAME`, and ends
# with one summary line: "suites: N passed, N failed".
#
#   run-suites.sh NAME...                 run these suites (a developer's run:
#                                         the environment passes through)
#   run-suites.sh --list FILE NAME...     what `make test` does: NAME... (the
#                                         build's SUITES) must be exactly the
#                                         suites in FILE, no variable that
#                                         narrows a suite may be set, and each
#                                         suite runs in a clean environment
#   --check          with --list: only check, run nothing
#   --make-vars "V..."  with --list: the make variables given on the command
#                    line of `make test`; any but BUILD, CC and CLANG is refused
#   --table FILE     run suites from FILE (lines "NAME<TAB>shell command")
#                    instead of make; the runner's own tests use it
#
# Every suite, in both modes:
# - must report how many cases it ran, in a form the runner reads (cmocka's
#   "[==========] N test(s) run.", pytest's "N passed", the simulator's
#   "sim: N seeds", "selfcheck: N planted bugs", a fuzz corpus replay's
#   "fuzz X: replayed N inputs", or a line "cases: N"); a suite whose count
#   is missing or zero fails;
# - must leave nothing behind: a process it started (found by a mark in its
#   environment), a network namespace, an nftables table or an address on
#   lo that was not there before it. What is left is named, removed, and
#   the suite fails.
set -u

# Variables that narrow or redirect a suite when set. They are for running
# one binary by hand; `make test` refuses to start while one is set, and
# runs every suite in an environment that has none of them anyway.
NARROWING_VARS=(
	CHAOS_SEEDS CHAOS_FIRST         # tests/raft/test_robustness.c
	RAFT_PLANTED_BUG                # tests/raft (self-check core)
	STORAGE_CRASH_SEEDS STORAGE_CRASH_SEED # tests/storage/test_storage_crash.c
	TRANSPORT_TEST_FILTER           # tests/transport/test_transport_link.c
	FUZZ_BRIEF_SECONDS              # gone: make test only replays corpora
	SEEDS SIM_TEST_SEEDS SIM_SAN_SEEDS SELFCHECK_SEEDS # simulator
	PYTEST_ADDOPTS PYTEST_PLUGINS   # pytest's -k, -x, --deselect...
	HA_KV_BINARY HA_PLUGIN          # another program under test
	CMOCKA_MESSAGE_OUTPUT CMOCKA_TEST_ABORT # cmocka's output and stop rules
	ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS # sanitizer checks
)
# What a suite keeps from the environment under `make test`.
KEPT_VARS=(PATH HOME USER LOGNAME SHELL TERM LANG LC_ALL TMPDIR TZ)
# Make variables `make test` accepts on its command line.
ALLOWED_MAKE_VARS=(BUILD CC CLANG)

list=
table=
check_only=0
make_vars=
while [[ $# -gt 0 ]]; do
	case $1 in
	--list) list=$2; shift 2 ;;
	--table) table=$2; shift 2 ;;
	--check) check_only=1; shift ;;
	--make-vars) make_vars=$2; shift 2 ;;
	--) shift; break ;;
	-*) echo "run-suites.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
suites=("$@")

# ---- the checks of `make test`, before anything runs ----
refuse() {
	echo "make test: $*" >&2
	refused=1
}

refused=0
if [[ -n $list ]]; then
	if [[ ! -r $list ]]; then
		echo "make test: cannot read the suite list $list" >&2
		exit 2
	fi
	mapfile -t listed < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
	dup=$(printf '%s\n' "${listed[@]}" | sort | uniq -d)
	[[ -z $dup ]] || refuse "listed twice in $list:" $dup
	dup=$(printf '%s\n' "${suites[@]}" | sort | uniq -d)
	[[ -z $dup ]] || refuse "defined twice in the build's SUITES:" $dup
	for s in "${listed[@]}"; do
		[[ " ${suites[*]} " == *" $s "* ]] ||
			refuse "suite $s is in $list but not in the build's SUITES (a module.mk lost it)"
	done
	for s in "${suites[@]}"; do
		[[ " ${listed[*]} " == *" $s "* ]] ||
			refuse "suite $s is in the build's SUITES but not in $list (add it there)"
	done
	for v in "${NARROWING_VARS[@]}"; do
		[[ ! -v $v ]] ||
			refuse "$v=${!v} is set; it changes what a suite runs and is for running one binary or target by hand: unset it"
	done
	for v in $make_vars; do
		[[ " ${ALLOWED_MAKE_VARS[*]} " == *" $v "* ]] ||
			refuse "$v is set on the make command line; make test takes only ${ALLOWED_MAKE_VARS[*]}"
	done
	if [[ $refused -eq 1 ]]; then
		echo "make test: refused, no suite was run" >&2
		exit 2
	fi
	[[ $check_only -eq 0 ]] || exit 0
fi
[[ ${#suites[@]} -gt 0 ]] || { echo "run-suites.sh: no suite named" >&2; exit 2; }
for tool in ip nft; do
	command -v $tool >/dev/null || {
		echo "run-suites.sh: $tool is missing (see scripts/deps.sh); it is needed to find what a suite leaves behind" >&2
		exit 2
	}
done

# ---- running one suite ----

# The command that runs suite $1, as words.
suite_command() {
	if [[ -n $table ]]; then
		local line
		line=$(awk -F'\t' -v n="$1" '$1 == n { sub(/^[^\t]*\t/, ""); print; exit }' "$table")
		[[ -n $line ]] || { echo "false no-such-suite-in-table"; return; }
		printf 'bash -c %q' "$line"
	else
		local args=(make --no-print-directory "suite-$1")
		if [[ -n $list ]]; then
			for v in "${ALLOWED_MAKE_VARS[@]}"; do
				[[ ! -v $v ]] || args+=("$v=${!v}")
			done
		fi
		printf '%q ' "${args[@]}"
	fi
}

# Runs suite $1 with mark $2 in its environment, output to the terminal and
# to file $3; returns its exit status.
run_one() {
	local cmd
	cmd=$(suite_command "$1")
	if [[ -n $list ]]; then
		local envs=(-i)
		for v in "${KEPT_VARS[@]}"; do
			[[ ! -v $v ]] || envs+=("$v=${!v}")
		done
		env "${envs[@]}" HA_TEST_SUITE_MARK="$2" bash -c "$cmd" 2>&1 | tee "$3"
	else
		HA_TEST_SUITE_MARK="$2" bash -c "$cmd" 2>&1 | tee "$3"
	fi
	return "${PIPESTATUS[0]}"
}

# How many cases the output in file $1 shows, or nothing when it shows none
# of the forms the runner reads. Several forms add up (raft-unit runs cmocka
# binaries and a self-check script).
count_cases() {
	tr -d '\r' <"$1" | awk '
		/^\[==========\] [0-9]+ test\(s\) run\./ { n += $2; found = 1 }
		/^=*[ ]*[0-9]+ (passed|failed).* in [0-9.]+s/ {
			for (i = 1; i <= NF; i++)
				if ($(i + 1) ~ /^(passed|failed|errors?)[,]?$/) { n += $i; found = 1 }
		}
		/^sim: [0-9]+ seeds,/ { n += $2; found = 1 }
		/^selfcheck: [0-9]+ planted bugs/ { n += $2; found = 1 }
		/^fuzz [^ ]+: replayed [0-9]+ / { n += $4; found = 1 }
		/^cases: [0-9]+$/ { n += $2; found = 1 }
		END { if (found) print n + 0 }'
}

# A pytest run that deselected tests ran fewer than it has.
narrowed_note() {
	tr -d '\r' <"$1" | grep -E '^=*[ ]*[0-9]+ .*[0-9]+ deselected' | head -1
}

# What exists now that a suite could leave behind, one per line.
snapshot() {
	ls -1 /run/netns 2>/dev/null | sed 's/^/network namespace /'
	nft list tables 2>/dev/null | sed 's/^table /nftables table /'
	ip -o addr show dev lo 2>/dev/null |
		awk '{ print "address " $4 " on lo (" $3 ")" }'
}

# Removes one item of snapshot()'s form.
remove_item() {
	case $1 in
	"network namespace "*) ip netns delete "${1#network namespace }" ;;
	"nftables table "*) nft delete table ${1#nftables table } ;;
	"address "*)
		local a=${1#address }
		ip addr del "${a%% *}" dev lo ;;
	esac
}

# Processes that carry mark $1 in their environment, as "pid command".
marked_processes() {
	local f pid
	for f in /proc/[0-9]*/environ; do
		pid=${f#/proc/}
		pid=${pid%/environ}
		if grep -qzx "HA_TEST_SUITE_MARK=$1" "$f" 2>/dev/null; then
			echo "$pid $(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null | cut -c1-80)"
		fi
	done
}

# Names and removes what suite mark $1 left behind compared with snapshot
# file $2; prints one line per item, nothing when the suite was clean.
leftovers() {
	local mark=$1 before=$2 procs item tries
	# A process being stopped may need a moment to go.
	for tries in 1 2 3 4 5 6 7 8 9 10; do
		procs=$(marked_processes "$mark")
		[[ -n $procs ]] || break
		sleep 0.2
	done
	if [[ -n $procs ]]; then
		while read -r pid cmdline; do
			echo "process $pid ($cmdline)"
			kill -KILL "$pid" 2>/dev/null
		done <<<"$procs"
	fi
	while IFS= read -r item; do
		[[ -n $item ]] || continue
		echo "$item"
		remove_item "$item" >/dev/null 2>&1 ||
			echo "  (could not remove $item)"
	done < <(snapshot | sort | comm -13 "$before" -)
}

# ---- the run ----
passed=0
failed=0
total_cases=0
failed_names=()
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
total_start=$(date +%s.%N)
for s in "${suites[@]}"; do
	start=$(date +%s.%N)
	echo "=== suite $s"
	mark="$s.$$.$start"
	snapshot | sort >"$work/before"
	reasons=()
	run_one "$s" "$mark" "$work/log"
	status=$?
	[[ $status -eq 0 ]] || reasons+=("exit status $status")
	cases=$(count_cases "$work/log")
	if [[ -z $cases ]]; then
		reasons+=("no case count in its output")
		cases=0
	elif [[ $cases -eq 0 ]]; then
		reasons+=("it ran no case")
	fi
	note=$(narrowed_note "$work/log")
	[[ -z $note ]] || reasons+=("it deselected tests: $note")
	left=$(leftovers "$mark" "$work/before")
	if [[ -n $left ]]; then
		echo "=== suite $s left behind (now removed):"
		sed 's/^/===   /' <<<"$left"
		reasons+=("it left $(wc -l <<<"$left") thing(s) behind")
	fi
	total_cases=$((total_cases + cases))
	end=$(date +%s.%N)
	took=$(awk "BEGIN{printf \"%.1f\", $end - $start}")
	if [[ ${#reasons[@]} -eq 0 ]]; then
		passed=$((passed + 1))
		echo "=== suite $s: ok, $cases cases in $took s"
	else
		failed=$((failed + 1))
		failed_names+=("$s")
		reason=$(printf '%s; ' "${reasons[@]}")
		echo "=== suite $s: FAILED ($cases cases in $took s): ${reason%; }"
	fi
done
total_end=$(date +%s.%N)
printf '=== all suites took %.1f s, %d cases\n' \
	"$(awk "BEGIN{print $total_end - $total_start}")" "$total_cases"
[[ $failed -eq 0 ]] || echo "failed suites: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
