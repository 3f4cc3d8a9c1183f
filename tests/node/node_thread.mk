# The running node in one process: three nodes over loopback, real folders.
$(BUILD)/tests/node/test_node_thread: tests/node/test_node_thread.c $(BUILD)/san/libnode.a $(BUILD)/san/libraft.a $(BUILD)/san/libstorage.a $(BUILD)/san/libtransport.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libnode.a $(BUILD)/san/libtransport.a $(BUILD)/san/libstorage.a $(BUILD)/san/libraft.a -lcmocka $(NODE_LIBS) -o $@

ALL_TARGETS += $(BUILD)/tests/node/test_node_thread
SUITES += node-thread
.PHONY: suite-node-thread
suite-node-thread: $(BUILD)/tests/node/test_node_thread
	$<
