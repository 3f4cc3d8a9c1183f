# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# Docs that the code checks: docs/api.md's error sentences against the
# sentences the plugin sends, and the options of docs/plugin.md and the
# README against plugin/options.c's option table, both ways; then the same
# checks against copies with one planted mismatch each, which must all fail.

SUITES += docs-checks
.PHONY: suite-docs-checks
suite-docs-checks:
	/usr/bin/python3 tests/docs/check_docs.py
