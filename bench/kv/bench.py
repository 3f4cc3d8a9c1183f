#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Throughput and latency of ha-kv's replicated writes and linearizable
reads, through one client and through several, on a 3-node cluster, each
against the same load on a 1-node cluster measured in the same run (the
baseline: the same program, disk and fsyncs, but no replication).

Not a test: it prints a table and never fails on numbers.

    make bench-kv                       # or make bench
    /usr/bin/python3 bench/kv/bench.py --binary build/ha-kv --seconds 5 \
        --clients 1,8 --nodes 3 --window 1
"""

import argparse
import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "node"))
from cluster import Client, ClientError, Cluster  # noqa: E402


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1,
            max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


def run_load(node, kind, clients, seconds, window, keys=64):
    """`clients` connections, each with up to `window` requests in flight,
    for `seconds`. Returns (completed ops/s, latencies in ms, errors)."""
    latencies = []
    errors = [0]
    done = [0]
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(cid):
        client = Client(node.host, node.client_port, timeout=10)
        local = []
        errs = 0
        n = 0
        try:
            client.connect()
            start_gate.wait()
            while time.monotonic() < stop_at[0]:
                lines = []
                for _ in range(window):
                    key = "b%d" % ((cid * 7919 + n) % keys)
                    if kind == "put":
                        lines.append("PUT %s v%d-%d" % (key, cid, n))
                    else:
                        lines.append("GET " + key)
                    n += 1
                t0 = time.monotonic()
                client.send(lines)
                for _ in lines:
                    reply = client.recv_line()
                    t1 = time.monotonic()
                    # With a window, each request's latency is measured
                    # from when its batch left.
                    local.append((t1 - t0) * 1000.0)
                    if reply.startswith("ERR"):
                        errs += 1
        except (ClientError, threading.BrokenBarrierError):
            errs += 1
        finally:
            client.close()
            with lock:
                latencies.extend(local)
                errors[0] += errs
                done[0] += len(local)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True)
               for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + seconds + 0.05
    began = time.monotonic()
    start_gate.wait()
    for t in threads:
        t.join(timeout=seconds + 30)
    elapsed = time.monotonic() - began
    latencies.sort()
    return done[0] / elapsed, latencies, errors[0]


def measure(binary, workdir, n_nodes, clients_list, seconds, window,
            kinds):
    results = {}
    c = Cluster(workdir, name="bench%d" % n_nodes)
    c.binary = binary
    try:
        leader = c.create(n_nodes)
        node = c.nodes[leader]
        # Warm up: connections, caches, the first fsyncs.
        run_load(node, "put", 1, 0.5, 1)
        for kind in kinds:
            for clients in clients_list:
                results[(kind, clients)] = run_load(node, kind, clients,
                                                    seconds, window)
        c.wait_converged(list(c.nodes), timeout=30)
    finally:
        c.teardown()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(
        HERE, "..", "..", os.environ.get("BUILD", "build"), "ha-kv"))
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--clients", default="1,8",
                    help="comma-separated client counts")
    ap.add_argument("--window", type=int, default=1,
                    help="requests in flight per client (pipelining)")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--kinds", default="put,get")
    args = ap.parse_args()
    os.environ["HA_KV_BINARY"] = os.path.abspath(args.binary)
    clients_list = [int(x) for x in args.clients.split(",") if x]
    kinds = [k for k in args.kinds.split(",") if k in ("put", "get")]

    with tempfile.TemporaryDirectory(prefix="ha-kv-bench-") as tmp:
        base_dir = os.path.join(tmp, "single")
        os.makedirs(base_dir)
        print("measuring the baseline: a 1-node cluster ...", flush=True)
        base = measure(args.binary, base_dir, 1, clients_list, args.seconds,
                       args.window, kinds)
        repl_dir = os.path.join(tmp, "replicated")
        os.makedirs(repl_dir)
        print("measuring a %d-node cluster ..." % args.nodes, flush=True)
        repl = measure(args.binary, repl_dir, args.nodes, clients_list,
                       args.seconds, args.window, kinds)

    print()
    print("ha-kv on loopback, %d s per row, window %d, %d CPUs"
          % (args.seconds, args.window, os.cpu_count() or 0))
    header = ("%-4s %7s %6s %10s %8s %8s %8s %7s %10s"
              % ("op", "clients", "nodes", "ops/s", "p50 ms", "p90 ms",
                 "p99 ms", "errors", "vs 1 node"))
    print(header)
    print("-" * len(header))
    for kind in kinds:
        for clients in clients_list:
            b_rate, b_lat, b_err = base[(kind, clients)]
            for label, (rate, lat, err) in (("1", base[(kind, clients)]),
                                            (str(args.nodes),
                                             repl[(kind, clients)])):
                ratio = rate / b_rate if b_rate > 0 else float("nan")
                print("%-4s %7d %6s %10.0f %8.2f %8.2f %8.2f %7d %9.2fx"
                      % (kind, clients, label, rate, percentile(lat, 50),
                         percentile(lat, 90), percentile(lat, 99), err,
                         ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
