#!/usr/bin/env bash
# Runs each named test suite (make suite-NAME), prints how long each took and
# ends with one summary line: "suites: N passed, N failed".
set -u
passed=0
failed=0
failed_names=()
total_start=$(date +%s.%N)
for s in "$@"; do
	start=$(date +%s.%N)
	echo "=== suite $s"
	if make --no-print-directory "suite-$s"; then
		result=ok
		passed=$((passed + 1))
	else
		result=FAILED
		failed=$((failed + 1))
		failed_names+=("$s")
	fi
	end=$(date +%s.%N)
	printf '=== suite %s: %s in %.1f s\n' "$s" "$result" "$(awk "BEGIN{print $end - $start}")"
done
total_end=$(date +%s.%N)
printf '=== all suites took %.1f s\n' "$(awk "BEGIN{print $total_end - $total_start}")"
[[ $failed -eq 0 ]] || echo "failed suites: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
