# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Unit tests of the Raft core: one test per rule of the Raft paper's
# section 5 and one per bug that hit real implementations, on a small
# deterministic in-test cluster (harness.c). Sanitizers on, cmocka.
RAFT_UNIT_TESTS := paper lessons robustness alloc rare edges exact
# Tests waiting for a core fix live in test_core_bugs.c until it lands.
RAFT_UNIT_TESTS += $(if $(wildcard tests/raft/test_core_bugs.c),core_bugs)

$(BUILD)/tests/raft-unit/%.o: tests/raft/%.c
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -c $< -o $@

$(BUILD)/tests/raft-unit/test_%: $(BUILD)/tests/raft-unit/test_%.o \
		$(BUILD)/tests/raft-unit/harness.o $(BUILD)/san/libraft.a
	$(CC) $(SAN_CFLAGS) $^ -lcmocka -o $@

# Allocation failures: the core's malloc, calloc and realloc are wrapped.
$(BUILD)/tests/raft-unit/test_alloc: $(BUILD)/tests/raft-unit/test_alloc.o \
		$(BUILD)/tests/raft-unit/harness.o $(BUILD)/san/libraft.a
	$(CC) $(SAN_CFLAGS) $^ -lcmocka -Wl,--wrap=malloc -Wl,--wrap=calloc \
		-Wl,--wrap=realloc -o $@

# The lessons again, on the self-check core: each planted bug must make the
# test named after it fail (tests/raft/selfcheck.sh).
$(BUILD)/tests/raft-unit/selfcheck_lessons: \
		$(BUILD)/tests/raft-unit/test_lessons.o \
		$(BUILD)/tests/raft-unit/harness.o $(BUILD)/selfcheck/libraft.a
	$(CC) $(SAN_CFLAGS) $^ -lcmocka -o $@

RAFT_UNIT_BINS := $(RAFT_UNIT_TESTS:%=$(BUILD)/tests/raft-unit/test_%)
RAFT_UNIT_SELFCHECK := $(BUILD)/tests/raft-unit/selfcheck_lessons
ALL_TARGETS += $(RAFT_UNIT_BINS) $(RAFT_UNIT_SELFCHECK)
SUITES += raft-unit

# Every part runs even when one fails.
.PHONY: suite-raft-unit
suite-raft-unit: $(RAFT_UNIT_BINS) $(RAFT_UNIT_SELFCHECK)
	@status=0; for t in $(RAFT_UNIT_BINS); do $$t || status=1; done; \
	bash tests/raft/selfcheck.sh $(RAFT_UNIT_SELFCHECK) || status=1; \
	exit $$status

.SECONDARY: $(RAFT_UNIT_TESTS:%=$(BUILD)/tests/raft-unit/test_%.o) \
	$(BUILD)/tests/raft-unit/harness.o
