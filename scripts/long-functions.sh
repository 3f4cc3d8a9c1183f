#!/usr/bin/env bash
# Lists every C function outside tests/ longer than a limit (120 lines by
# default), counted from its opening to its closing brace, and fails when
# there is one. The code's style puts both braces of a function alone at the
# start of a line, which is all this counts on; a file where an opening brace
# is not closed that way fails too, so a change of style cannot hide a
# function.
#   long-functions.sh [LIMIT [FILE...]]   (default: every C file git tracks
#                                          outside tests/)
set -euo pipefail
limit=${1:-120}
if [[ $# -gt 1 ]]; then
	files=("${@:2}")
else
	cd "$(dirname "${BASH_SOURCE[0]}")/.."
	mapfile -t files < <(git ls-files '*.c' ':!:tests/*' | sort -u)
fi
if [[ ${#files[@]} -eq 0 ]]; then
	echo "long-functions: no C files found" >&2
	exit 1
fi
awk -v limit="$limit" '
	FNR == 1 { if (open) { unclosed = 1; print FILENAME_PREV ": a function opened at line " start " is never closed" } open = 0; FILENAME_PREV = FILENAME }
	/^[A-Za-z_].*\(/ { if (!open) { sig = $0; sig_line = FNR } }
	/^\{/ { if (!open) { open = 1; start = FNR; name = sig; sub(/\(.*/, "", name); n = split(name, w, /[ *]+/); name = w[n]; functions++ } }
	/^\}/ { if (open) { open = 0; len = FNR - start + 1; if (len > limit) { over++; printf "%s:%d: %s is %d lines (limit %d)\n", FILENAME, sig_line, name, len, limit } } }
	END {
		if (open) { unclosed = 1; print FILENAME ": a function opened at line " start " is never closed" }
		printf "long-functions: %d functions in %d files, %d over %d lines\n", functions, ARGC - 1, over, limit
		exit (over > 0 || unclosed || functions == 0) ? 1 : 0
	}
' "${files[@]}"
