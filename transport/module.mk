# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# The node-to-node transport: frame codec, handshake, shared-secret
# authentication, TLS, connections and peers over libuv. Built optimized as
# a library for the node layer and with sanitizers for its tests.
TRANSPORT_SRCS := $(sort $(wildcard transport/*.c))
TRANSPORT_LIBS := $(shell pkg-config --libs libuv openssl 2>/dev/null || echo -luv -lssl -lcrypto)

$(BUILD)/opt/libtransport.a: $(TRANSPORT_SRCS:transport/%.c=$(BUILD)/opt/transport/%.o)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/san/libtransport.a: $(TRANSPORT_SRCS:transport/%.c=$(BUILD)/san/transport/%.o)
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS += $(BUILD)/opt/libtransport.a

# Unit tests of the pure parts (codec, handshake messages, crypto) and
# loopback tests of whole links over real sockets.
TRANSPORT_TESTS := test_transport_codec test_transport_link
$(BUILD)/tests/transport/%: tests/transport/%.c $(BUILD)/san/libtransport.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $< $(BUILD)/san/libtransport.a -lcmocka $(TRANSPORT_LIBS) -o $@

ALL_TARGETS += $(TRANSPORT_TESTS:%=$(BUILD)/tests/transport/%)

SUITES += transport-codec transport-link
.PHONY: suite-transport-codec suite-transport-link
suite-transport-codec: $(BUILD)/tests/transport/test_transport_codec
	$<
# In a network namespace of its own, which has an IPv6 loopback.
suite-transport-link: $(BUILD)/tests/transport/test_transport_link
	TRANSPORT_TEST_DIR=$(BUILD)/tests/transport/work bash tests/transport/netns-run.sh $<

# Fuzz targets: the frame decoder and the handshake parser.
FUZZERS += transport_frame transport_handshake
FUZZ_SRCS_transport_frame := transport/frame.c
FUZZ_SRCS_transport_handshake := transport/handshake.c transport/frame.c
SUITES += fuzz-transport_frame fuzz-transport_handshake

# Throughput over loopback (not a test: numbers only).
$(BUILD)/bench/transport_bench: tests/transport/bench.c $(BUILD)/opt/libtransport.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) $< $(BUILD)/opt/libtransport.a $(TRANSPORT_LIBS) -o $@
.PHONY: bench-transport
bench-transport: $(BUILD)/bench/transport_bench
	@bash tests/transport/gen-certs.sh $(BUILD)/bench/certs
	$< $(BUILD)/bench/certs $(BENCH_ARGS)
bench: bench-transport
