# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Checks of the tree itself: no function outside tests/ over 120 lines, and
# docs/ARCHITECTURE.md naming every folder (scripts/layout-checks.sh).
SUITES += layout-checks
.PHONY: suite-layout-checks
suite-layout-checks:
	@bash scripts/layout-checks.sh

# Every C file as `make format` (pinned clang-format-14) leaves it.
SUITES += format
.PHONY: suite-format
suite-format:
	@$(MAKE) --no-print-directory format-check && \
		echo "cases: $(words $(shell git ls-files '*.c' '*.h'))"
