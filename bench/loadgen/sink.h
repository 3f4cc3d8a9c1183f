/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* A minimal MQTT 3.1.1 broker on 127.0.0.1 that does the least a broker can
 * do: it accepts every CONNECT, acknowledges QoS 1 publishes and forwards
 * each PUBLISH unchanged to every client that subscribed (to anything).
 * Against it the load generator measures its own ceiling: what it can send
 * and receive when the broker costs almost nothing. */
#ifndef BENCH_LOADGEN_SINK_H
#define BENCH_LOADGEN_SINK_H

/* Starts listening on an ephemeral port of 127.0.0.1 and serving on
 * threads of its own until the process exits; the port, or -1. */
int sink_start(void);

#endif
