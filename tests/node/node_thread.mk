# The running node in one process: three nodes over loopback, real folders.
$(BUILD)/tests/node/test_node_thread: tests/node/test_node_thread.c $(BUILD)/san/libnode.a $(BUILD)/san/libraft.a $(BUILD)/san/libstorage.a $(BUILD)/san/libtransport.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libnode.a $(BUILD)/san/libtransport.a $(BUILD)/san/libstorage.a $(BUILD)/san/libraft.a -lcmocka $(NODE_LIBS) -o $@

ALL_TARGETS += $(BUILD)/tests/node/test_node_thread
SUITES += node-thread
.PHONY: suite-node-thread
suite-node-thread: $(BUILD)/tests/node/test_node_thread
	$<

# The same tests under ThreadSanitizer (which cannot be combined with
# AddressSanitizer, hence a build of its own): the raft thread, the storage
# and snapshot workers and the owner, with every layer below instrumented.
# libuv is Debian's, not instrumented, yet needs no suppression: its
# hand-offs between threads (the work queue, a job's completion, the async
# wake-up) go through pthread mutexes and syscalls, which TSan intercepts.
# Any report fails the suite: halt_on_error stops at the first, exitcode
# makes one found at exit fail it too.
TSAN_CFLAGS := $(BASE_CFLAGS) -O1 -fsanitize=thread -fno-omit-frame-pointer
# Every object is built from its own source path. transport/module.mk is
# read after this file, so its list is taken the way it takes it.
NODE_TSAN_SRCS := $(NODE_SRCS) $(RAFT_SRCS) $(STORAGE_SRCS) \
	$(sort $(wildcard transport/*.c))
$(BUILD)/tsan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(TSAN_CFLAGS) -c $< -o $@
$(BUILD)/tsan/tests/node/test_node_thread: tests/node/test_node_thread.c $(NODE_TSAN_SRCS:%.c=$(BUILD)/tsan/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(TSAN_CFLAGS) $^ -lcmocka $(NODE_LIBS) -o $@

ALL_TARGETS += $(BUILD)/tsan/tests/node/test_node_thread
SUITES += node-thread-tsan
.PHONY: suite-node-thread-tsan
suite-node-thread-tsan: $(BUILD)/tsan/tests/node/test_node_thread
	TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" $<
