# Durable Raft storage: segments, term/vote metadata, snapshots. Plain POSIX
# file I/O behind a table of file operations (raft/storage/vfs.h) that the
# crash tests replace with an in-memory model.
STORAGE_SRCS := $(sort $(wildcard raft/storage/*.c))
STORAGE_HDRS := $(wildcard raft/storage/*.h) raft/raft.h raft/byteorder.h
# The configuration codec comes from the core (raft/config.c); linking its one
# object keeps the storage buildable while the rest of the core changes.
STORAGE_RAFT_DEPS = raft/config.c

$(BUILD)/opt/storage/%.o: raft/storage/%.c $(STORAGE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) -c $< -o $@

$(BUILD)/san/storage/%.o: raft/storage/%.c $(STORAGE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -c $< -o $@

$(BUILD)/opt/libstorage.a: $(STORAGE_SRCS:raft/storage/%.c=$(BUILD)/opt/storage/%.o)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/san/libstorage.a: $(STORAGE_SRCS:raft/storage/%.c=$(BUILD)/san/storage/%.o)
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS += $(BUILD)/opt/libstorage.a
