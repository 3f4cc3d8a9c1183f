# The Raft core: pure C, no I/O. Built twice: optimized for the simulator's
# many seeds and with sanitizers for the unit tests.
RAFT_SRCS := $(sort $(wildcard raft/*.c))

# The self-check build plants known bugs, chosen at run time.
$(BUILD)/selfcheck/raft/%.o: raft/%.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) -DRAFT_SELFCHECK -c $< -o $@

$(BUILD)/opt/libraft.a: $(RAFT_SRCS:raft/%.c=$(BUILD)/opt/raft/%.o)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/san/libraft.a: $(RAFT_SRCS:raft/%.c=$(BUILD)/san/raft/%.o)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/selfcheck/libraft.a: $(RAFT_SRCS:raft/%.c=$(BUILD)/selfcheck/raft/%.o)
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS += $(BUILD)/opt/libraft.a
