# The running node: the raft thread (libuv loop), its queues, storage jobs.
NODE_SRCS := $(sort $(wildcard node/*.c))
NODE_HDRS := $(wildcard node/*.h) $(wildcard raft/*.h) $(wildcard raft/storage/*.h) transport/transport.h
NODE_LIBS := -luv -lssl -lcrypto -lz -lpthread

$(BUILD)/opt/node/%.o: node/%.c $(NODE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) -c $< -o $@
$(BUILD)/san/node/%.o: node/%.c $(NODE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -c $< -o $@

$(BUILD)/opt/libnode.a: $(NODE_SRCS:node/%.c=$(BUILD)/opt/node/%.o)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/san/libnode.a: $(NODE_SRCS:node/%.c=$(BUILD)/san/node/%.o)
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS += $(BUILD)/opt/libnode.a

# A large replicated state (200 MB by default) snapshotted under load and
# sent to a follower that lost its folder: leadership must not move. It does
# today at 200 MB (the snapshot write is one storage call that holds up the
# acknowledgements queued behind it); at 50 MB it does not. Reported, not
# failed on, until snapshot writes are streamed.
$(BUILD)/bench/big_snapshot: bench/node/big_snapshot.c $(BUILD)/opt/libnode.a $(BUILD)/opt/libraft.a $(BUILD)/opt/libstorage.a $(BUILD)/opt/libtransport.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) $< $(BUILD)/opt/libnode.a $(BUILD)/opt/libtransport.a $(BUILD)/opt/libstorage.a $(BUILD)/opt/libraft.a $(NODE_LIBS) -o $@
.PHONY: bench-snapshot
SNAPSHOT_MB ?= 200
bench-snapshot: $(BUILD)/bench/big_snapshot
	-$< $(SNAPSHOT_MB) $(BUILD)/bench/big-snapshot-work
bench: bench-snapshot
