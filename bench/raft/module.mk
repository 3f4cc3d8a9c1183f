# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Raft commit rate and latency, 3 nodes on loopback: this project's node
# against canonical/raft 0.15 (Debian's libraft-dev, its libuv backend),
# the same workload from one driver (bench/raft/driver.c) in two programs
# (their libraries' names clash). Built by plain `make` so that neither
# rots; bench/raft/commit.py runs both side by side.
RAFT_BENCH_DRIVER := $(BUILD)/opt/bench/raft/driver.o
RAFT_BENCH_NODE_LIBS := $(BUILD)/opt/libnode.a $(BUILD)/opt/libraft.a \
	$(BUILD)/opt/libstorage.a $(BUILD)/opt/libtransport.a
$(BUILD)/bench/raft-bench-ours: $(BUILD)/opt/bench/raft/ours.o $(RAFT_BENCH_DRIVER) $(RAFT_BENCH_NODE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) $(filter %.o,$^) $(RAFT_BENCH_NODE_LIBS) -luv -lssl -lcrypto -lz -lpthread -o $@

# canonical/raft's headers are not -Wstrict-prototypes clean.
$(BUILD)/opt/bench/raft/canonical.o: bench/raft/canonical.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) $$(pkg-config --cflags raft) -c $< -o $@
$(BUILD)/bench/raft-bench-canonical: $(BUILD)/opt/bench/raft/canonical.o $(RAFT_BENCH_DRIVER)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) $(filter %.o,$^) $$(pkg-config --libs raft) -luv -o $@

ALL_TARGETS += $(BUILD)/bench/raft-bench-ours $(BUILD)/bench/raft-bench-canonical

.PHONY: bench-raft
bench-raft: $(BUILD)/bench/raft-bench-ours $(BUILD)/bench/raft-bench-canonical
	BUILD=$(BUILD) /usr/bin/python3 bench/raft/commit.py $(BENCH_QUICK_FLAG)
bench: bench-raft
