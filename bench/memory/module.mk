# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Resident memory of a node against the replicated state it holds and the
# broker alone holding the same retained messages (bench/memory/memory.py).
# BENCH_QUICK=1 runs it at toy size. Numbers, not verdicts.
.PHONY: bench-memory
bench-memory: $(BUILD)/mosquitto_ha.so $(BUILD)/bench/ha-loadgen
	BUILD=$(BUILD) /usr/bin/python3 bench/memory/memory.py $(BENCH_QUICK_FLAG)
bench: bench-memory
