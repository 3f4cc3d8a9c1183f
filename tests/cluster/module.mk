# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# Cluster tests: three (and more) real mosquitto brokers, 2.0.11 from Debian
# and 2.1 from `make mosquitto21`, each loading $(BUILD)/mosquitto_ha.so, driven
# through the control API with paho-mqtt (pytest). Needs root: brokers run as
# root, partitions use nftables and cgroups.
#
# `make demo` starts a 3-node cluster on 127.0.0.1 under .cache/demo;
# `make demo-stop` stops it.

CLUSTER_TEST_FILES := $(wildcard tests/cluster/*.py)

SUITES += cluster
.PHONY: suite-cluster
suite-cluster: $(BUILD)/mosquitto_ha.so mosquitto21
	BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/cluster

.PHONY: demo demo-stop
demo:
	@bash scripts/demo.sh start

demo-stop:
	@bash scripts/demo.sh stop
