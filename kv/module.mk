# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# ha-kv: a replicated key-value store on the running Raft node, with a line
# protocol for clients. Tests (tests/node) and the benchmark (bench/kv) run
# it as real processes. Built optimized, like a deployed program.
KV_SRCS := $(sort $(wildcard kv/*.c))
KV_LIBS := -luv -lssl -lcrypto -lz -lpthread
KV_NODE_LIBS := $(BUILD)/opt/libnode.a $(BUILD)/opt/libraft.a \
	$(BUILD)/opt/libstorage.a $(BUILD)/opt/libtransport.a
PYTHON := /usr/bin/python3

$(BUILD)/ha-kv: $(KV_SRCS:kv/%.c=$(BUILD)/opt/kv/%.o) $(KV_NODE_LIBS)
	$(CC) $(OPT_CFLAGS) $(filter %.o,$^) $(KV_NODE_LIBS) $(KV_LIBS) -o $@

ALL_TARGETS += $(BUILD)/ha-kv

# Unit tests of the pure parts (parser, map, command and snapshot codecs)
# under the sanitizers.
KV_UNIT_OBJS := $(BUILD)/san/kv/map.o $(BUILD)/san/kv/command.o \
	$(BUILD)/san/kv/protocol.o $(BUILD)/san/transport/address.o
$(BUILD)/san/tests/node/test_kv_units: tests/node/test_kv_units.c $(KV_UNIT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(KV_UNIT_OBJS) -lcmocka -o $@
ALL_TARGETS += $(BUILD)/san/tests/node/test_kv_units

# The checker's own tests are fast; the cluster tests start real processes
# of the sanitizer build (below) and fail on any report in a node's log,
# leaks at exit included (tests/node/conftest.py also fails the run when no
# test ran or any was skipped).
SUITES += kv-units node-checker node-cluster
.PHONY: suite-kv-units suite-node-checker suite-node-cluster
suite-kv-units: $(BUILD)/san/tests/node/test_kv_units
	$<
suite-node-checker:
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/node/test_checker.py
suite-node-cluster: $(BUILD)/san/ha-kv
	HA_KV_BINARY=$(abspath $(BUILD)/san/ha-kv) $(PYTHON) -m pytest -q -p no:cacheprovider tests/node

# Throughput and latency of replicated writes (numbers, not a test).
.PHONY: bench-kv
bench-kv: $(BUILD)/ha-kv
	$(PYTHON) bench/kv/bench.py --binary $(abspath $(BUILD)/ha-kv) $(BENCH_ARGS)
bench: bench-kv

# The same program under AddressSanitizer and UndefinedBehaviorSanitizer,
# which the cluster tests run.
KV_NODE_SAN_LIBS := $(BUILD)/san/libnode.a $(BUILD)/san/libraft.a \
	$(BUILD)/san/libstorage.a $(BUILD)/san/libtransport.a
$(BUILD)/san/ha-kv: $(KV_SRCS:kv/%.c=$(BUILD)/san/kv/%.o) $(KV_NODE_SAN_LIBS)
	$(CC) $(SAN_CFLAGS) $(filter %.o,$^) $(KV_NODE_SAN_LIBS) $(KV_LIBS) -o $@
ALL_TARGETS += $(BUILD)/san/ha-kv

# Fuzz target: the request line parser, the command and snapshot decoders.
FUZZERS += kv_decode
FUZZ_SRCS_kv_decode := kv/protocol.c kv/command.c kv/map.c transport/address.c
SUITES += fuzz-kv_decode
