# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# The broker plugin. So far: the control API command layer (request parsing,
# validation, reply building), which needs jansson but not the broker, built
# into a static library, its unit tests and its fuzz target; and the
# mosquitto 2.1 broker that cluster tests run against (make mosquitto21).
HA_CONTROL_SRCS := plugin/control_address.c plugin/control_parse.c \
	plugin/control_reply.c
HA_CONTROL_LIBS := -ljansson

# Position-independent: these objects end up in mosquitto_ha.so.
$(BUILD)/opt/plugin/%.o: plugin/%.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) -fPIC -c $< -o $@

$(BUILD)/san/plugin/%.o: plugin/%.c
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -fPIC -c $< -o $@

# The node addresses are checked by the transport's address parser.
$(BUILD)/opt/libha_control.a: $(HA_CONTROL_SRCS:plugin/%.c=$(BUILD)/opt/plugin/%.o) \
		$(BUILD)/opt/transport/address.o
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/san/libha_control.a: $(HA_CONTROL_SRCS:plugin/%.c=$(BUILD)/san/plugin/%.o) \
		$(BUILD)/san/transport/address.o
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS += $(BUILD)/opt/libha_control.a

# Unit tests (cmocka), built with the sanitizers.
HA_CONTROL_TESTS := test_control_parse test_control_reply
HA_CONTROL_TEST_BINS := $(HA_CONTROL_TESTS:%=$(BUILD)/tests/plugin/%)

$(BUILD)/tests/plugin/%: tests/plugin/%.c $(BUILD)/san/libha_control.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libha_control.a \
		$(HA_CONTROL_LIBS) -lcmocka -o $@

SUITES += plugin-control
.PHONY: suite-plugin-control
suite-plugin-control: $(HA_CONTROL_TEST_BINS)
	@set -e; for t in $(HA_CONTROL_TEST_BINS); do $$t; done

# Fuzzing: any payload -> parse -> reply, checked for crashes, leaks and
# replies that break the envelope.
FUZZERS += ha_control
FUZZ_SRCS_ha_control := $(HA_CONTROL_SRCS) transport/address.c
FUZZ_LIBS_ha_control := $(HA_CONTROL_LIBS)
SUITES += fuzz-ha_control

# The replicated broker state on the Raft side: the record layer, the
# retained-message map, the access-control data (the part of plugin/dynsec/
# that applies changes and encodes the snapshot section: it calls neither
# jansson nor OpenSSL, whose headers it only includes), the state object and
# its snapshots. Pure C (libc and zlib's crc32), no broker headers:
# unit-tested with the sanitizers and fuzzed here, linked into the plugin
# below.
HA_STATE_DYNSEC_SRCS := plugin/dynsec/model.c plugin/dynsec/codec.c \
	plugin/dynsec/apply.c
HA_STATE_SRCS := plugin/records.c plugin/retained_store.c plugin/state.c \
	plugin/feature_level.c \
	plugin/state_snapshot.c $(HA_STATE_DYNSEC_SRCS)

$(BUILD)/san/libha_state.a: $(HA_STATE_SRCS:plugin/%.c=$(BUILD)/san/plugin/%.o)
	@rm -f $@
	ar rcs $@ $^

# The tests fail allocations on purpose: malloc, calloc and realloc of the
# code under test go through tests/plugin/alloc_fail.h.
HA_STATE_TESTS := test_records test_retained_store test_state \
	test_feature_level
HA_STATE_TEST_BINS := $(HA_STATE_TESTS:%=$(BUILD)/tests/plugin/%)
$(HA_STATE_TEST_BINS): $(BUILD)/tests/plugin/%: tests/plugin/%.c \
		$(BUILD)/san/libha_state.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libha_state.a -lz -lcmocka \
		-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc -o $@

# The access-control data in the state: its changes are made with the
# whole of plugin/dynsec/ (commands: jansson, OpenSSL), and strdup fails on
# demand too.
HA_STATE_TEST_BINS += $(BUILD)/tests/plugin/test_state_dynsec
$(BUILD)/tests/plugin/test_state_dynsec: tests/plugin/test_state_dynsec.c \
		tests/plugin/dynsec_test.h $(BUILD)/san/libha_state.a \
		$(BUILD)/san/libha_dynsec.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libha_state.a \
		$(BUILD)/san/libha_dynsec.a -ljansson -lcrypto -lz -lcmocka \
		-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup \
		-o $@

ALL_TARGETS += $(HA_STATE_TEST_BINS)
SUITES += plugin-records
.PHONY: suite-plugin-records
suite-plugin-records: $(HA_STATE_TEST_BINS)
	@set -e; for t in $(HA_STATE_TEST_BINS); do $$t; done

# Memory per retained message, measured with the allocator's own counters.
HA_STATE_OPT_OBJS := $(HA_STATE_SRCS:%.c=$(BUILD)/opt/%.o)
$(BUILD)/bench/retained_memory: bench/state/retained_memory.c $(HA_STATE_OPT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) $< $(HA_STATE_OPT_OBJS) -lz -o $@
ALL_TARGETS += $(BUILD)/bench/retained_memory
.PHONY: bench-retained
bench-retained: $(BUILD)/bench/retained_memory
	$<
bench: bench-retained

# Fuzzing the decoders: any bytes as a record (what decodes re-encodes to
# the same bytes) and as a snapshot (what restores serializes to the same
# bytes).
FUZZERS += ha_records ha_snapshot
FUZZ_SRCS_ha_records := plugin/records.c
FUZZ_SRCS_ha_snapshot := $(HA_STATE_SRCS)
FUZZ_LIBS_ha_snapshot := -lz
SUITES += fuzz-ha_records fuzz-ha_snapshot

# A 2.1 broker (with its plugins) in .cache/mosquitto-2.1, from Debian's
# source package; see scripts/mosquitto21.sh.
.PHONY: mosquitto21
mosquitto21:
	@bash scripts/mosquitto21.sh

# The plugin itself: every layer below it, position-independent, in one
# shared object that exports only the three entry points.
PLUGIN_SRCS := plugin/plugin.c plugin/cluster.c plugin/exec.c plugin/options.c \
	plugin/clients.c plugin/health.c plugin/shutdown.c plugin/wake.c plugin/log_queue.c \
	plugin/broker_config.c plugin/broker_log.c plugin/retained.c \
	plugin/persist.c plugin/access_control.c plugin/forward.c \
	$(filter-out $(HA_STATE_DYNSEC_SRCS),$(sort $(wildcard plugin/dynsec/*.c))) \
	$(HA_CONTROL_SRCS) $(HA_STATE_SRCS) $(sort $(wildcard node/*.c)) \
	$(sort $(wildcard raft/*.c)) $(sort $(wildcard storage/*.c)) \
	$(sort $(wildcard transport/*.c))
PLUGIN_LIBS := -ljansson -luv -lssl -lcrypto -lz -lpthread -ldl

# Fails (and removes the file) when a plugin exports anything but its
# three entry points: the broker loads it with RTLD_GLOBAL.
define check_plugin_exports
	@exported=$$(nm -D --defined-only $@ | awk '$$2 == "T" {print $$3}' | sort | tr '\n' ' '); \
	if [ "$$exported" != "mosquitto_plugin_cleanup mosquitto_plugin_init mosquitto_plugin_version " ]; then \
		echo "$@ exports more than its entry points: $$exported" >&2; rm -f $@; exit 1; fi
endef

$(BUILD)/mosquitto_ha.so: $(PLUGIN_SRCS:%.c=$(BUILD)/pic/%.o)
	$(CC) -shared $^ $(PLUGIN_LIBS) -o $@
	$(check_plugin_exports)

# The same sources with AddressSanitizer and UndefinedBehaviorSanitizer,
# for the cluster suite. The broker is not instrumented: the sanitizer
# runtimes must be preloaded into it (tests/cluster/harness.py does).
$(BUILD)/sanpic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -fPIC -c $< -o $@

$(BUILD)/san/mosquitto_ha.so: $(PLUGIN_SRCS:%.c=$(BUILD)/sanpic/%.o)
	@mkdir -p $(dir $@)
	$(CC) -shared $(SAN_FLAGS) $^ $(PLUGIN_LIBS) -o $@
	$(check_plugin_exports)

ALL_TARGETS += $(BUILD)/mosquitto_ha.so $(BUILD)/san/mosquitto_ha.so

# Compiled once more against the 2.1 headers, to prove the sources build
# there too (the 2.0 build is the one that loads into both brokers).
SUITES += plugin-build-21
.PHONY: suite-plugin-build-21
suite-plugin-build-21: mosquitto21
	$(CC) $(filter-out $(DEP_FLAGS),$(OPT_CFLAGS)) -fPIC -I.cache/mosquitto-2.1/include -fsyntax-only plugin/plugin.c
	@echo "plugin/plugin.c builds against the mosquitto 2.1 headers"; echo "cases: 1"
