# The whole-cluster simulator: optimized for many seeds, a sanitizer build
# for a smaller run, and a self-check build that plants known bugs.
SIM_SRCS := tests/sim/sim.c tests/sim/checks.c tests/sim/main.c

$(BUILD)/selfcheck/tests/sim/%.o: tests/sim/%.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) -DRAFT_SELFCHECK -c $< -o $@

$(BUILD)/opt/sim: $(SIM_SRCS:%.c=$(BUILD)/opt/%.o) $(BUILD)/opt/libraft.a
	$(CC) $(OPT_CFLAGS) $^ -o $@
$(BUILD)/san/sim: $(SIM_SRCS:%.c=$(BUILD)/san/%.o) $(BUILD)/san/libraft.a
	$(CC) $(SAN_CFLAGS) $^ -o $@
$(BUILD)/selfcheck/sim: $(SIM_SRCS:%.c=$(BUILD)/selfcheck/%.o) $(BUILD)/selfcheck/libraft.a
	$(CC) $(OPT_CFLAGS) $^ -o $@

ALL_TARGETS += $(BUILD)/opt/sim

SEEDS ?= 1000
SIM_JOBS ?= $(shell nproc)
SIM_TEST_SEEDS ?= 10000
SIM_SAN_SEEDS ?= 300
SELFCHECK_SEEDS ?= 10000

.PHONY: sim sim-selfcheck suite-sim suite-sim-san suite-sim-selfcheck
sim: $(BUILD)/opt/sim
	$(BUILD)/opt/sim --seeds $(SEEDS) --jobs $(SIM_JOBS)
sim-selfcheck: $(BUILD)/selfcheck/sim
	$(BUILD)/selfcheck/sim --selfcheck --seeds $(SELFCHECK_SEEDS) --jobs $(SIM_JOBS)

SUITES += sim sim-san sim-selfcheck
suite-sim: $(BUILD)/opt/sim
	$(BUILD)/opt/sim --seeds $(SIM_TEST_SEEDS) --jobs $(SIM_JOBS)
suite-sim-san: $(BUILD)/san/sim
	$(BUILD)/san/sim --seeds $(SIM_SAN_SEEDS) --first 1000001 --jobs $(SIM_JOBS)
suite-sim-selfcheck: sim-selfcheck
