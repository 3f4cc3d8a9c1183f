# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# ha-loadgen: the MQTT load generator of the benchmarks (C, libmosquitto).
# Built by plain `make` so that it never rots; its command line and latency
# histogram have a quick unit test.
LOADGEN_SRCS := bench/loadgen/options.c bench/loadgen/histogram.c bench/loadgen/sink.c
$(BUILD)/bench/ha-loadgen: bench/loadgen/loadgen.c $(LOADGEN_SRCS:%.c=$(BUILD)/opt/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) $(filter %.c %.o,$^) -lmosquitto -lpthread -o $@

LOADGEN_TEST_OBJS := $(BUILD)/san/bench/loadgen/options.o $(BUILD)/san/bench/loadgen/histogram.o
$(BUILD)/tests/bench/test_loadgen: bench/loadgen/test_loadgen.c $(LOADGEN_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $(filter %.c %.o,$^) -lcmocka -o $@

ALL_TARGETS += $(BUILD)/bench/ha-loadgen $(BUILD)/tests/bench/test_loadgen

SUITES += loadgen-units
.PHONY: suite-loadgen-units
suite-loadgen-units: $(BUILD)/tests/bench/test_loadgen
	$<
