# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Replication lag under a steady load of retained changes: capture on the
# leader to commit, and to applied on the followers (bench/lag/lag.py).
# BENCH_QUICK=1 runs it at toy size. Numbers, not verdicts.
.PHONY: bench-lag
bench-lag: $(BUILD)/mosquitto_ha.so $(BUILD)/bench/ha-loadgen
	BUILD=$(BUILD) /usr/bin/python3 bench/lag/lag.py $(BENCH_QUICK_FLAG)
bench: bench-lag
