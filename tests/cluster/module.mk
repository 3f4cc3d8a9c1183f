# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# Cluster tests: three (and more) real mosquitto brokers, 2.0.11 from Debian
# and 2.1 from `make mosquitto21`, each loading the plugin built with
# AddressSanitizer and UndefinedBehaviorSanitizer ($(BUILD)/san/mosquitto_ha.so,
# the runtimes preloaded into the broker; any report fails the test), driven
# through the control API with paho-mqtt (pytest). Needs root: brokers run as
# root, partitions use nftables and cgroups. HA_PLUGIN=path runs the suite
# against another build (pytest directly).
#
# `make demo` starts a 3-node cluster on 127.0.0.1 under .cache/demo;
# `make demo-stop` stops it.

CLUSTER_TEST_FILES := $(wildcard tests/cluster/*.py)

# A v5 enhanced-authentication plugin that the tests load after
# mosquitto_ha.so: its clients bypass BASIC_AUTH; and one that stalls the
# broker thread while a file exists.
CLUSTER_TEST_PLUGINS := $(BUILD)/tests/cluster/ext_auth.so \
	$(BUILD)/tests/cluster/stall.so
$(BUILD)/tests/cluster/%.so: tests/cluster/plugins/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -fPIC -shared $< -o $@

SUITES += cluster
.PHONY: suite-cluster
suite-cluster: $(BUILD)/san/mosquitto_ha.so mosquitto21 $(CLUSTER_TEST_PLUGINS) \
		$(BUILD)/san/mosquitto_ha_ctrl
	BUILD=$(abspath $(BUILD)) \
	HA_PLUGIN=$(abspath $(BUILD)/san/mosquitto_ha.so) \
	HA_CTRL=$(abspath $(BUILD)/san/mosquitto_ha_ctrl) \
	HA_EXT_AUTH_PLUGIN=$(abspath $(BUILD)/tests/cluster/ext_auth.so) \
	HA_STALL_PLUGIN=$(abspath $(BUILD)/tests/cluster/stall.so) \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/cluster

.PHONY: demo demo-stop
demo:
	@bash scripts/demo.sh start

demo-stop:
	@bash scripts/demo.sh stop
