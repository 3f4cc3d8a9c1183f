# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# Access control without the broker (plugin/dynsec/): the data model, the
# stock dynamic-security file, authentication and ACL checks, the command
# set, the change records and the snapshot section. jansson and OpenSSL,
# no broker headers: unit-tested with the sanitizers and fuzzed here.
HA_DYNSEC_SRCS := $(sort $(wildcard plugin/dynsec/*.c))
HA_DYNSEC_LIBS := -ljansson -lcrypto

$(BUILD)/san/libha_dynsec.a: $(HA_DYNSEC_SRCS:%.c=$(BUILD)/san/%.o) \
		$(BUILD)/san/plugin/records.o
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/opt/libha_dynsec.a: $(HA_DYNSEC_SRCS:%.c=$(BUILD)/opt/%.o) \
		$(BUILD)/opt/plugin/records.o
	@rm -f $@
	ar rcs $@ $^

# The objects are built position-independent by plugin/module.mk's rules
# for plugin/, ready for mosquitto_ha.so.
ALL_TARGETS += $(BUILD)/opt/libha_dynsec.a

HA_DYNSEC_TESTS := test_dynsec_model test_dynsec_commands
HA_DYNSEC_TEST_BINS := $(HA_DYNSEC_TESTS:%=$(BUILD)/tests/plugin/%)
$(HA_DYNSEC_TEST_BINS): $(BUILD)/tests/plugin/%: tests/plugin/%.c \
		tests/plugin/dynsec_test.h $(BUILD)/san/libha_dynsec.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libha_dynsec.a $(HA_DYNSEC_LIBS) \
		-lcmocka -o $@

# Out of memory: the allocations of the code under test fail on demand
# (tests/plugin/alloc_fail.h, and strdup here).
HA_DYNSEC_TEST_BINS += $(BUILD)/tests/plugin/test_dynsec_alloc
$(BUILD)/tests/plugin/test_dynsec_alloc: tests/plugin/test_dynsec_alloc.c \
		tests/plugin/dynsec_test.h $(BUILD)/san/libha_dynsec.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libha_dynsec.a $(HA_DYNSEC_LIBS) \
		-lcmocka -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup \
		-o $@

ALL_TARGETS += $(HA_DYNSEC_TEST_BINS)
SUITES += plugin-dynsec
.PHONY: suite-plugin-dynsec
suite-plugin-dynsec: $(HA_DYNSEC_TEST_BINS)
	@set -e; for t in $(HA_DYNSEC_TEST_BINS); do $$t; done

# Against the stock plugin: the same commands sent to a broker running it
# (Debian's 2.0 and the 2.1 build) and run through this code, every reply
# compared (tests/plugin/dynsec_stock.py).
$(BUILD)/tests/plugin/dynsec_replay: tests/plugin/dynsec_replay.c \
		$(BUILD)/san/libha_dynsec.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libha_dynsec.a $(HA_DYNSEC_LIBS) -o $@
ALL_TARGETS += $(BUILD)/tests/plugin/dynsec_replay

SUITES += plugin-dynsec-stock
.PHONY: suite-plugin-dynsec-stock
suite-plugin-dynsec-stock: $(BUILD)/tests/plugin/dynsec_replay mosquitto21
	BUILD=$(BUILD) /usr/bin/python3 tests/plugin/dynsec_stock.py

# Any bytes as a change record, a snapshot section or a dynamic-security
# file: what decodes encodes again to the same bytes.
FUZZERS += ha_dynsec
FUZZ_SRCS_ha_dynsec := $(HA_DYNSEC_SRCS) plugin/records.c
FUZZ_LIBS_ha_dynsec := $(HA_DYNSEC_LIBS)
SUITES += fuzz-ha_dynsec

# The fuzz target's seed corpus, written by the encoders themselves:
#   make ha-dynsec-corpus   replace fuzz/corpus/ha_dynsec
$(BUILD)/tests/plugin/dynsec_corpus: tests/plugin/dynsec_corpus.c \
		$(BUILD)/san/libha_dynsec.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libha_dynsec.a $(HA_DYNSEC_LIBS) -o $@
ALL_TARGETS += $(BUILD)/tests/plugin/dynsec_corpus

.PHONY: ha-dynsec-corpus
ha-dynsec-corpus: $(BUILD)/tests/plugin/dynsec_corpus
	rm -rf fuzz/corpus/ha_dynsec
	mkdir -p fuzz/corpus/ha_dynsec
	$(BUILD)/tests/plugin/dynsec_corpus fuzz/corpus/ha_dynsec
