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
# under load, then sent to a follower that stayed down until the others
# compacted past it and to a learner that joins empty. `make test` checks
# what load cannot change: both catch up, both by a snapshot they received,
# and every node ends with the leader's state. Suite node-big-snapshot runs
# the optimized build at 200 MB, as in production; node-big-snapshot-san
# runs the same scenario at 32 MB with the sanitizers on (they slow every
# byte copied many times over). `make bench` (bench-snapshot) also judges
# the timing: zero leadership changes while the snapshots run, and reports
# raft thread stalls, catch-up times and commit latency.
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
	$< 200 $(BUILD)/tests/node/big-snapshot-work 10000 && echo "cases: 1"
suite-node-big-snapshot-san: $(BUILD)/tests/node/big_snapshot
	$< 32 $(BUILD)/tests/node/big-snapshot-san-work 10000 && echo "cases: 1"
SNAPSHOT_MB ?= 200
bench-snapshot: $(BUILD)/bench/big_snapshot
	-$< --bench $(SNAPSHOT_MB) $(BUILD)/bench/big-snapshot-work
bench: bench-snapshot
