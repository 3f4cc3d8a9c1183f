# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# Top-level build. Each part of the project describes itself in a module.mk
# next to its sources; this file only sets the shared flags and the targets
# that users type (make, make test, make sim, make fuzz, make bench).

BUILD ?= build
# Scripts and test harnesses run by the recipes find the build there too.
export BUILD
CC ?= gcc
CLANG ?= clang-14

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-missing-field-initializers
# Every compilation writes the headers it read to a .d file beside its
# output (included below), so no rule lists headers by hand.
DEP_FLAGS := -MMD -MP
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g -fvisibility=hidden -I. $(WARN) $(DEP_FLAGS)
OPT_CFLAGS := $(BASE_CFLAGS) -O2
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS := $(BASE_CFLAGS) -O1 $(SAN_FLAGS)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(DEP_FLAGS)

# Filled in by the module.mk files.
SUITES :=      # names N with a phony target suite-N that runs one test suite
FUZZERS :=     # names N with a binary $(BUILD)/fuzz/N and a corpus fuzz/corpus/N
ALL_TARGETS := # what plain `make` builds

# Modules read the shared variables above, so they come after them.
include $(sort $(wildcard */module.mk */*/module.mk tests/*/*.mk))

# Objects of any source: optimized, with the sanitizers, position-independent
# (for the broker plugin) and for libFuzzer. A module adds a rule of its own
# only where it needs other flags.
$(BUILD)/opt/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) -c $< -o $@
$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -c $< -o $@
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) -fPIC -c $< -o $@
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

# A fuzz target N is fuzz/N.c built with clang's libFuzzer together with the
# sources a module lists in FUZZ_SRCS_N (and libraries in FUZZ_LIBS_N). Its
# seed corpus lives in fuzz/corpus/N. A module that adds `fuzz-N` to SUITES
# gets a suite that replays the corpus and then fuzzes briefly.
fuzz_objs = $(patsubst %.c,$(BUILD)/fuzzobj/%.o,fuzz/$(1).c $(FUZZ_SRCS_$(1)))
.SECONDEXPANSION:
$(BUILD)/fuzz/%: $$(call fuzz_objs,$$*)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $^ $(FUZZ_LIBS_$*) -o $@

FUZZ_BRIEF_SECONDS ?= 10
suite-fuzz-%: $(BUILD)/fuzz/%
	@bash scripts/run-fuzzers.sh --brief $(FUZZ_BRIEF_SECONDS) $*

# Fuzz binaries and objects built by the generic rules are kept between
# suites (make would delete them as intermediate files).
.SECONDARY: $(FUZZERS:%=$(BUILD)/fuzz/%)
.SECONDARY: $(foreach f,$(FUZZERS),$(call fuzz_objs,$(f)))

# The headers each output was built from (written by -MMD).
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

.PHONY: all deps test fuzz bench clean format format-check
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

# Formatting by .clang-format with one pinned version, since another version
# of clang-format formats the same file differently.
CLANG_FORMAT := clang-format-14
FORMAT_FILES = $(shell git ls-files '*.c' '*.h')
format: deps
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

# Names every file that `make format` would change; fails if there is one.
format-check: deps
	@bad=0; for f in $(FORMAT_FILES); do \
		if ! $(CLANG_FORMAT) --dry-run --Werror "$$f" >/dev/null 2>&1; then \
			echo "$$f: not formatted (make format)"; bad=$$((bad + 1)); \
		fi; \
	done; \
	echo "format-check: $$bad of $(words $(FORMAT_FILES)) files not formatted"; \
	[ $$bad -eq 0 ]

clean:
	rm -rf $(BUILD)
