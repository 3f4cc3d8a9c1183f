# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# What replicating retained messages costs on real brokers of both
# versions, against the same broker without the plugin in the same run
# (bench/cluster/retained.py). Numbers, not verdicts.
.PHONY: bench-cluster
bench-cluster: $(BUILD)/mosquitto_ha.so mosquitto21
	HA_PLUGIN=$(abspath $(BUILD)/mosquitto_ha.so) BUILD=$(BUILD) \
		/usr/bin/python3 bench/cluster/retained.py

bench: bench-cluster
