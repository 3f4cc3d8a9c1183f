# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Catch-up of a node joining a cluster that holds many retained messages,
# against copying the same bytes over loopback (bench/catchup/catchup.py).
# BENCH_QUICK=1 runs it at toy size. Numbers, not verdicts.
.PHONY: bench-catchup
bench-catchup: $(BUILD)/mosquitto_ha.so $(BUILD)/bench/ha-loadgen
	BUILD=$(BUILD) /usr/bin/python3 bench/catchup/catchup.py $(BENCH_QUICK_FLAG)
bench: bench-catchup
