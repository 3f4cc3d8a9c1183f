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
