# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# The seed corpora of the ha_records and ha_snapshot fuzz targets, written by
# the encoders themselves (tests/plugin/state_corpus.c):
#
#   make ha-state-corpus   replace fuzz/corpus/ha_records and
#                          fuzz/corpus/ha_snapshot with freshly encoded seeds

# The access-control data of its level 3 seeds is made with the command set
# (plugin/dynsec/: jansson, OpenSSL).
$(BUILD)/tests/plugin/state_corpus: tests/plugin/state_corpus.c \
		$(BUILD)/san/libha_state.a $(BUILD)/san/libha_dynsec.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libha_state.a \
		$(BUILD)/san/libha_dynsec.a -ljansson -lcrypto -lz -o $@

ALL_TARGETS += $(BUILD)/tests/plugin/state_corpus

.PHONY: ha-state-corpus
ha-state-corpus: $(BUILD)/tests/plugin/state_corpus
	rm -rf fuzz/corpus/ha_records fuzz/corpus/ha_snapshot
	$(BUILD)/tests/plugin/state_corpus fuzz/corpus/ha_records fuzz/corpus/ha_snapshot
