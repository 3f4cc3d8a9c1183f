# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Failover of a 3-node cluster under load: kill -9 of the leader, setLeader
# and SIGTERM handovers, directly and through HAProxy, and the longest time
# two nodes accepted clients at once (bench/failover/failover.py).
# BENCH_QUICK=1 runs it at toy size, without HAProxy. Numbers, not verdicts.
.PHONY: bench-failover
bench-failover: $(BUILD)/mosquitto_ha.so $(BUILD)/bench/ha-loadgen
	BUILD=$(BUILD) /usr/bin/python3 bench/failover/failover.py \
		$(if $(BENCH_QUICK),--quick,--haproxy)
bench: bench-failover
