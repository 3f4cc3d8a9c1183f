# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# MQTT through the cluster's leader against the same broker binary without
# the plugin, both broker versions, in one run (bench/mqtt/throughput.py).
# BENCH_QUICK=1 runs it at toy size. Numbers, not verdicts.
BENCH_QUICK_FLAG = $(if $(BENCH_QUICK),--quick)
.PHONY: bench-mqtt
bench-mqtt: $(BUILD)/mosquitto_ha.so $(BUILD)/bench/ha-loadgen mosquitto21
	BUILD=$(BUILD) /usr/bin/python3 bench/mqtt/throughput.py $(BENCH_QUICK_FLAG)
bench: bench-mqtt

# The tables and charts of the last run (bench/report.py): after every
# benchmark of `make bench`.
.PHONY: bench-report
bench-report:
	BUILD=$(BUILD) /usr/bin/python3 bench/report.py

# Where the leader's time goes under replicated load (perf, every thread).
.PHONY: bench-profile
bench-profile: $(BUILD)/mosquitto_ha.so $(BUILD)/bench/ha-loadgen
	BUILD=$(BUILD) /usr/bin/python3 bench/mqtt/profile.py
bench: bench-profile

# This tree's plugin against another build of it, side by side in one run,
# on replicated traffic (bench/mqtt/compare.py): the before and after of a
# change. Not part of `make bench`.
#   make bench-compare BASE_PLUGIN=/path/to/older/mosquitto_ha.so
.PHONY: bench-compare
bench-compare: $(BUILD)/mosquitto_ha.so $(BUILD)/bench/ha-loadgen mosquitto21
	@test -n "$(BASE_PLUGIN)" || { echo "bench-compare: set BASE_PLUGIN" >&2; exit 2; }
	BUILD=$(BUILD) /usr/bin/python3 bench/mqtt/compare.py --base $(BASE_PLUGIN)
