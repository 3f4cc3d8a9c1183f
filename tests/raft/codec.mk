# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# The wire encoding of the Raft core (raft/codec.c): its unit tests, its fuzz
# target and the fuzz target of the configuration decoder.
#
#   make suite-raft-codec        unit tests (cmocka, sanitizers)
#   make suite-fuzz-raft_codec   replay every input of fuzz/corpus/raft_codec once
#   make suite-fuzz-raft_config  the same for raft_config_decode
#   make raft-codec-corpus       regenerate the seed corpus from the samples

CODEC_SAMPLE_SRCS := tests/raft/codec_samples.c
CODEC_SAMPLE_OBJS := $(CODEC_SAMPLE_SRCS:%.c=$(BUILD)/san/%.o)

# The tests wrap malloc and calloc to count allocations and make them fail.
$(BUILD)/tests/raft/test_codec: tests/raft/test_codec.c $(CODEC_SAMPLE_OBJS) \
		$(BUILD)/san/libraft.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(CODEC_SAMPLE_OBJS) $(BUILD)/san/libraft.a \
		-lcmocka -Wl,--wrap=malloc -Wl,--wrap=calloc -o $@

.PHONY: suite-raft-codec
suite-raft-codec: $(BUILD)/tests/raft/test_codec
	$(BUILD)/tests/raft/test_codec

$(BUILD)/tests/raft/codec_corpus: tests/raft/codec_corpus.c $(CODEC_SAMPLE_OBJS) \
		$(BUILD)/san/libraft.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(CODEC_SAMPLE_OBJS) $(BUILD)/san/libraft.a -o $@

.PHONY: raft-codec-corpus
raft-codec-corpus: $(BUILD)/tests/raft/codec_corpus
	@mkdir -p fuzz/corpus
	$(BUILD)/tests/raft/codec_corpus fuzz/corpus/raft_codec fuzz/corpus/raft_config

FUZZERS += raft_codec raft_config
FUZZ_SRCS_raft_codec := raft/codec.c raft/config.c $(CODEC_SAMPLE_SRCS)
FUZZ_SRCS_raft_config := raft/config.c
# Built through the generic pattern rule only, make would treat them as
# intermediate files and delete them after each suite.
.SECONDARY: $(BUILD)/fuzz/raft_codec $(BUILD)/fuzz/raft_config

ALL_TARGETS += $(BUILD)/tests/raft/test_codec
SUITES += raft-codec fuzz-raft_codec fuzz-raft_config
