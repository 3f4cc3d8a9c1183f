# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# Top-level build. Each part of the project describes itself in a module.mk
# next to its sources; this file only sets the shared flags and the targets
# that users type (make, make test, make sim, make fuzz, make bench).

BUILD ?= build
CC ?= gcc
CLANG ?= clang-14

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g -fvisibility=hidden -I. $(WARN)
OPT_CFLAGS := $(BASE_CFLAGS) -O2
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS := $(BASE_CFLAGS) -O1 $(SAN_FLAGS)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

# Filled in by the module.mk files.
SUITES :=      # names N with a phony target suite-N that runs one test suite
FUZZERS :=     # names N with a binary $(BUILD)/fuzz/N and a corpus fuzz/corpus/N
ALL_TARGETS := # what plain `make` builds

# Modules read the shared variables above, so they come after them.
include $(sort $(wildcard */module.mk */*/module.mk tests/*/*.mk))

# A fuzz target N is fuzz/N.c built with clang's libFuzzer together with the
# sources a module lists in FUZZ_SRCS_N (and libraries in FUZZ_LIBS_N). Its
# seed corpus lives in fuzz/corpus/N. A module that adds `fuzz-N` to SUITES
# gets a suite that replays the corpus and then fuzzes briefly.
.SECONDEXPANSION:
$(BUILD)/fuzz/%: fuzz/%.c $$(FUZZ_SRCS_$$*) $$(wildcard raft/*.h) $$(FUZZ_HDRS_$$*)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) $(FUZZ_LIBS_$*) -o $@

FUZZ_BRIEF_SECONDS ?= 10
suite-fuzz-%: $(BUILD)/fuzz/%
	@bash scripts/run-fuzzers.sh --brief $(FUZZ_BRIEF_SECONDS) $*

# Position-independent objects of any source, for the broker plugin.
PIC_HDRS := $(wildcard raft/*.h storage/*.h transport/*.h node/*.h plugin/*.h)
$(BUILD)/pic/%.o: %.c $(PIC_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) -fPIC -c $< -o $@

# Fuzz binaries built by the generic rule are kept between suites.
.SECONDARY: $(FUZZERS:%=$(BUILD)/fuzz/%)

.PHONY: all deps test fuzz bench clean format
.DEFAULT_GOAL := all

all: $(ALL_TARGETS)

deps:
	@bash scripts/deps.sh

# Every suite runs even when one fails; the summary line comes last.
test: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/run-suites.sh $(SUITES)

FUZZ_SECONDS ?= 60
fuzz: deps
	@bash scripts/run-fuzzers.sh $(FUZZ_SECONDS) $(FUZZERS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
