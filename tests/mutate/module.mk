# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Mutation testing of the Raft core (scripts/mutate.py): every small change
# of raft/*.c that a refactor could make, built apart under
# $(BUILD)/mutate/ and run against the Raft unit tests and a short
# simulator run. Not part of `make test` (the whole run takes tens of
# minutes); the self-test of the mutator and a fixed sample are.
#
#   make mutate                      all mutants, within MUTATE_BUDGET seconds
#   make mutate MUTATE_LIMIT=100     a sample of 100 (MUTATE_SEED picks it)
#   make mutate MUTATE_ONLY=id,id    these mutants (ids as printed)
#   make mutate MUTATE_FILES=raft/lease.c
#   make mutate MUTATE_IDS_FILE=f    the mutants f lists (one id a line)
MUTATE_BUDGET ?= 1500
MUTATE_JOBS ?= 2
MUTATE_LIMIT ?= 0
MUTATE_SEED ?= 1
MUTATE_SIM_SEEDS ?= 300
MUTATE_GOAL ?= 95
MUTATE_ARGS = --build '$(BUILD)' --cc '$(CC)' --san-cflags '$(SAN_CFLAGS)' \
	--opt-cflags '$(OPT_CFLAGS)' --unit-tests '$(RAFT_UNIT_TESTS)'

.PHONY: mutate suite-mutate-selftest
mutate:
	/usr/bin/python3 scripts/mutate.py run $(MUTATE_ARGS) \
		--jobs $(MUTATE_JOBS) --budget $(MUTATE_BUDGET) \
		--limit $(MUTATE_LIMIT) --seed $(MUTATE_SEED) \
		--sim-seeds $(MUTATE_SIM_SEEDS) --goal $(MUTATE_GOAL) \
		$(if $(MUTATE_ONLY),--only $(MUTATE_ONLY)) \
		$(if $(MUTATE_IDS_FILE),--ids-file $(MUTATE_IDS_FILE)) $(MUTATE_FILES)

# The mutator still finds the mutants it should in a small fixture, every
# hand-marked equivalent mutant still exists, and a planted mutant that
# breaks the commit rule is killed while one that changes nothing survives.
SUITES += mutate-selftest
suite-mutate-selftest:
	@BUILD='$(BUILD)' CC='$(CC)' SAN_CFLAGS='$(SAN_CFLAGS)' \
		OPT_CFLAGS='$(OPT_CFLAGS)' RAFT_UNIT_TESTS='$(RAFT_UNIT_TESTS)' \
		bash tests/mutate/selftest.sh

# A fixed sample of mutants that the checks kill (tests/mutate/sample.txt:
# lease, votes, replication and commit, configuration, snapshot), built and
# run for real: the run fails if any of them survives, no longer compiles or
# is not run.
SUITES += mutate-sample
.PHONY: suite-mutate-sample
suite-mutate-sample:
	@/usr/bin/python3 scripts/mutate.py run \
		--build '$(BUILD)/mutate-sample' --cc '$(CC)' \
		--san-cflags '$(SAN_CFLAGS)' --opt-cflags '$(OPT_CFLAGS)' \
		--unit-tests '$(RAFT_UNIT_TESTS)' --budget 0 --jobs 2 \
		--sim-seeds 300 --goal 100 --verbose --must-kill \
		--ids-file tests/mutate/sample.txt
