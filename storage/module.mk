# Durable Raft storage: segments, term/vote metadata, snapshots. Plain POSIX
# file I/O behind a table of file operations (storage/vfs.h) that the
# crash tests replace with an in-memory model.
STORAGE_SRCS := $(sort $(wildcard storage/*.c))

$(BUILD)/opt/libstorage.a: $(STORAGE_SRCS:storage/%.c=$(BUILD)/opt/storage/%.o)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/san/libstorage.a: $(STORAGE_SRCS:storage/%.c=$(BUILD)/san/storage/%.o)
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS += $(BUILD)/opt/libstorage.a

# Tests: cmocka, sanitizers, the in-memory crash model (tests/storage/memfs.c).
# The core's configuration codec is linked as its one object.
STORAGE_TESTS := test_storage_api test_storage_corrupt test_storage_crash
STORAGE_TEST_DEPS := $(BUILD)/san/tests/storage/memfs.o \
	$(BUILD)/san/libstorage.a $(BUILD)/san/raft/config.o

$(BUILD)/san/tests/storage/%: tests/storage/%.c $(STORAGE_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(STORAGE_TEST_DEPS) -lcmocka -lz -lpthread -o $@
# Named only by a pattern rule, the model's object would be deleted after
# each build as an intermediate file.
.SECONDARY: $(BUILD)/san/tests/storage/memfs.o

ALL_TARGETS += $(STORAGE_TESTS:%=$(BUILD)/san/tests/storage/%)

SUITES += storage-api storage-corrupt storage-crash
.PHONY: suite-storage-api suite-storage-corrupt suite-storage-crash
suite-storage-api: $(BUILD)/san/tests/storage/test_storage_api
	$<
suite-storage-corrupt: $(BUILD)/san/tests/storage/test_storage_corrupt
	$<
# About 2000 random crash points in a few seconds; STORAGE_CRASH_SEEDS=N for more.
suite-storage-crash: $(BUILD)/san/tests/storage/test_storage_crash
	$<

# Fuzz target for the on-disk parsers; corpus in fuzz/corpus/storage_records.
FUZZERS += storage_records
FUZZ_SRCS_storage_records := storage/format.c storage/crc32.c
FUZZ_LIBS_storage_records := -lz
SUITES += fuzz-storage_records

# Append+fsync throughput by batch size on this machine's disk (numbers only).
$(BUILD)/bench/storage_bench: bench/storage/append.c $(BUILD)/opt/libstorage.a $(BUILD)/opt/raft/config.o
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) $< $(BUILD)/opt/libstorage.a $(BUILD)/opt/raft/config.o -lz -o $@
.PHONY: bench-storage
bench-storage: $(BUILD)/bench/storage_bench
	$< $(BENCH_ARGS)
bench: bench-storage
