# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Unit tests of the Raft core: one test per rule of the Raft paper's
# section 5 and one per bug that hit real implementations, on a small
# deterministic in-test cluster (harness.c). Sanitizers on, cmocka.
RAFT_UNIT_HDRS := tests/raft/harness.h tests/raft/unit.h
RAFT_UNIT_TESTS := paper

$(BUILD)/tests/raft-unit/%.o: tests/raft/%.c $(RAFT_UNIT_HDRS) $(RAFT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -c $< -o $@

$(BUILD)/tests/raft-unit/test_%: $(BUILD)/tests/raft-unit/test_%.o \
		$(BUILD)/tests/raft-unit/harness.o $(BUILD)/san/libraft.a
	$(CC) $(SAN_CFLAGS) $^ -lcmocka -o $@

RAFT_UNIT_BINS := $(RAFT_UNIT_TESTS:%=$(BUILD)/tests/raft-unit/test_%)
ALL_TARGETS += $(RAFT_UNIT_BINS)
SUITES += raft-unit

# Every binary runs even when one fails.
.PHONY: suite-raft-unit
suite-raft-unit: $(RAFT_UNIT_BINS)
	@status=0; for t in $(RAFT_UNIT_BINS); do $$t || status=1; done; \
	exit $$status

.SECONDARY: $(RAFT_UNIT_TESTS:%=$(BUILD)/tests/raft-unit/test_%.o) \
	$(BUILD)/tests/raft-unit/harness.o
