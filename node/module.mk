# The running node: the raft thread (libuv loop), its queues, storage jobs.
NODE_SRCS := $(sort $(wildcard node/*.c))
NODE_LIBS := -luv -lssl -lcrypto -lz -lpthread

$(BUILD)/opt/libnode.a: $(NODE_SRCS:node/%.c=$(BUILD)/opt/node/%.o)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/san/libnode.a: $(NODE_SRCS:node/%.c=$(BUILD)/san/node/%.o)
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS += $(BUILD)/opt/libnode.a

# A large replicated state (200 MB by default) snapshotted by every node
# under load, then sent to a follower that was down while the others
# compacted and to a learner that joins empty. Leadership must not move.
# `make test` fails if it does: suite node-big-snapshot runs the optimized
# build at 200 MB, because the verdict is about timing as in production
# (the sanitizers slow every byte copied many times over); suite
# node-big-snapshot-san runs the same scenario at 32 MB with the sanitizers
# on. `make bench` reports the catch-up times.
$(BUILD)/bench/big_snapshot: bench/node/big_snapshot.c $(BUILD)/opt/libnode.a $(BUILD)/opt/libraft.a $(BUILD)/opt/libstorage.a $(BUILD)/opt/libtransport.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) $< $(BUILD)/opt/libnode.a $(BUILD)/opt/libtransport.a $(BUILD)/opt/libstorage.a $(BUILD)/opt/libraft.a $(NODE_LIBS) -o $@
$(BUILD)/tests/node/big_snapshot: bench/node/big_snapshot.c $(BUILD)/san/libnode.a $(BUILD)/san/libraft.a $(BUILD)/san/libstorage.a $(BUILD)/san/libtransport.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libnode.a $(BUILD)/san/libtransport.a $(BUILD)/san/libstorage.a $(BUILD)/san/libraft.a $(NODE_LIBS) -o $@
ALL_TARGETS += $(BUILD)/bench/big_snapshot $(BUILD)/tests/node/big_snapshot
SUITES += node-big-snapshot node-big-snapshot-san
.PHONY: suite-node-big-snapshot suite-node-big-snapshot-san bench-snapshot
suite-node-big-snapshot: $(BUILD)/bench/big_snapshot
	$< 200 $(BUILD)/tests/node/big-snapshot-work 20000
suite-node-big-snapshot-san: $(BUILD)/tests/node/big_snapshot
	$< 32 $(BUILD)/tests/node/big-snapshot-san-work 20000
SNAPSHOT_MB ?= 200
bench-snapshot: $(BUILD)/bench/big_snapshot
	-$< $(SNAPSHOT_MB) $(BUILD)/bench/big-snapshot-work
bench: bench-snapshot
