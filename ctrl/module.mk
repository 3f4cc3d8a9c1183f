# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# mosquitto_ha_ctrl: the command line client of the control API (forms,
# watches and changes a cluster over MQTT). libmosquitto's client library
# and jansson from Debian, and the project's one host:port parser; nothing
# of the plugin. Built optimized, like a deployed program, and with
# AddressSanitizer and UndefinedBehaviorSanitizer for its tests in
# tests/cluster (test_ctrl.py), against real brokers.
CTRL_SRCS := $(sort $(wildcard ctrl/*.c))
CTRL_LIBS := -lmosquitto -ljansson

$(BUILD)/mosquitto_ha_ctrl: $(CTRL_SRCS:%.c=$(BUILD)/opt/%.o) \
		$(BUILD)/opt/transport/address.o
	$(CC) $(OPT_CFLAGS) $^ $(CTRL_LIBS) -o $@

$(BUILD)/san/mosquitto_ha_ctrl: $(CTRL_SRCS:%.c=$(BUILD)/san/%.o) \
		$(BUILD)/san/transport/address.o
	$(CC) $(SAN_CFLAGS) $^ $(CTRL_LIBS) -o $@

ALL_TARGETS += $(BUILD)/mosquitto_ha_ctrl $(BUILD)/san/mosquitto_ha_ctrl
