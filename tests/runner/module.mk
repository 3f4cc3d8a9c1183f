# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Tests of the test runner (scripts/run-suites.sh): each way `make test` could
# run less than it should, caught. Fake suites only; needs root (network
# namespaces, nftables).
SUITES += runner
.PHONY: suite-runner
suite-runner:
	bash tests/runner/test_runner.sh
