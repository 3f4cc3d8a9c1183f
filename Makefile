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

# `make -i test` would report success whatever failed (and ignore the
# refusals below), so it stops here.
ifneq ($(filter test,$(MAKECMDGOALS)),)
ifneq ($(findstring i,$(firstword -$(MAKEFLAGS))),)
$(error make test refuses -i, which hides failures)
endif
endif

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
# gets a suite that replays every input of the corpus once, deterministically
# (random fuzzing is `make fuzz`).
fuzz_objs = $(patsubst %.c,$(BUILD)/fuzzobj/%.o,fuzz/$(1).c $(FUZZ_SRCS_$(1)))
.SECONDEXPANSION:
$(BUILD)/fuzz/%: $$(call fuzz_objs,$$*)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $^ $(FUZZ_LIBS_$*) -o $@

suite-fuzz-%: $(BUILD)/fuzz/%
	@BUILD=$(BUILD) bash scripts/run-fuzzers.sh --replay $*

# Fuzz binaries and objects built by the generic rules are kept between
# suites (make would delete them as intermediate files).
.SECONDARY: $(FUZZERS:%=$(BUILD)/fuzz/%)
.SECONDARY: $(foreach f,$(FUZZERS),$(call fuzz_objs,$(f)))

# The headers each output was built from (written by -MMD).
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

.PHONY: all deps test fuzz bench bench-quick clean format format-check
.DEFAULT_GOAL := all

all: $(ALL_TARGETS)

deps:
	@bash scripts/deps.sh

# Every suite in tests/suites.list runs, even when one fails; the summary
# line comes last. scripts/run-suites.sh refuses to start when the build's
# SUITES and the list differ, when a variable that narrows a suite is set, or
# when a make variable other than BUILD, CC and CLANG is given; every fuzz
# target must have its corpus replay suite and every corpus its target.
TEST_MAKE_VARS = $(strip $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $v)),$v)))
FUZZ_WITHOUT_SUITE = $(filter-out $(SUITES),$(FUZZERS:%=fuzz-%))
CORPUS_WITHOUT_FUZZER = $(filter-out $(FUZZERS),$(notdir $(wildcard fuzz/corpus/*)))
RUN_SUITES = BUILD='$(BUILD)' CC='$(CC)' CLANG='$(CLANG)' bash scripts/run-suites.sh \
	--list tests/suites.list --make-vars '$(TEST_MAKE_VARS)'
test: deps
	@$(if $(FUZZ_WITHOUT_SUITE),echo "make test: fuzz targets without a replay suite: $(FUZZ_WITHOUT_SUITE)" >&2; exit 2)
	@$(if $(CORPUS_WITHOUT_FUZZER),echo "make test: corpora without a fuzz target: $(CORPUS_WITHOUT_FUZZER)" >&2; exit 2)
	@$(RUN_SUITES) --check $(SUITES)
	@$(MAKE) --no-print-directory all
	@$(RUN_SUITES) $(SUITES)

# Random fuzzing of every target (or FUZZERS=...) for FUZZ_SECONDS each, from
# a random seed that it prints; FUZZ_SEED=N fuzzes again from seed N.
FUZZ_SECONDS ?= 60
fuzz: deps
	@BUILD=$(BUILD) FUZZ_SEED=$(FUZZ_SEED) bash scripts/run-fuzzers.sh --fuzz $(FUZZ_SECONDS) $(FUZZERS)

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

# Every module adds its benchmark to `bench`; once they all ran, the tables
# and charts of this run (bench/report.py: bench/results/, docs/benchmarks.md).
bench:
	@$(MAKE) --no-print-directory bench-report

# The MQTT, Raft, failover, memory, lag and catch-up benchmarks at toy
# size (about a minute): they run, whatever the figures. Not part of
# `make test`.
bench-quick:
	@$(MAKE) --no-print-directory BENCH_QUICK=1 bench-mqtt bench-raft bench-failover bench-memory bench-lag bench-catchup
