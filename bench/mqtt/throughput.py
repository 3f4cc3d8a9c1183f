#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""MQTT through the leader of a 3-node cluster against the same broker
binary without the plugin, on both broker versions, in one run.

For each broker version, a broker without the plugin and a 3-node cluster
run side by side; each case runs alternately against the broker alone and
against the leader (ABAB, --repeat times), and the ratio of the medians is
reported. The load comes from ha-loadgen (C, libmosquitto; its own ceiling,
against its built-in minimal broker, is measured in the same run).

Cases: QoS 0, QoS 1, retained QoS 1 and QoS 1 to persistent sessions,
64-byte and 4 KB payloads, several publishers and subscribers. Retained
publishes are replicated by the cluster (labelled "replicated"); the rest
it only passes through ("pass-through"). Saturated runs give msgs/s and
MB/s (latency there is queueing); paced runs (a fixed rate well below
saturation) give end-to-end latency.

Numbers, not verdicts: it never fails on a figure.

    make bench-mqtt                     # BENCH_QUICK=1: toy size
    /usr/bin/python3 bench/mqtt/throughput.py --quick
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import common  # noqa: E402
from common import h  # noqa: E402

LOADGEN = os.path.join(common.BUILD, "bench", "ha-loadgen")

# (name, loadgen flags, what the cluster does with it)
KINDS = [
    ("qos0", ["--qos", "0"], "pass-through"),
    ("qos1", ["--qos", "1"], "pass-through"),
    ("retained-qos1", ["--qos", "1", "--retain"], "replicated"),
    ("persistent-qos1", ["--qos", "1", "--persistent"], "pass-through"),
]
PAYLOADS = [64, 4096]
_run_counter = [0]


def loadgen(host, port, flags, count, seconds, extra=()):
    """One ha-loadgen run; its JSON result."""
    _run_counter[0] += 1
    prefix = "bench/%d/%d" % (os.getpid(), _run_counter[0])
    cmd = [LOADGEN, "--host", host, "--port", str(port),
           "--username", h.USER, "--password", h.USER_PW,
           "--topic-prefix", prefix, "--count", str(count),
           "--seconds", str(seconds)] + list(flags) + list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=seconds + 60)
    if r.returncode != 0 or not r.stdout.strip():
        raise RuntimeError("ha-loadgen failed (%d): %s\n%s" % (
            r.returncode, " ".join(cmd), r.stderr))
    result = json.loads(r.stdout.strip().splitlines()[-1])
    if not result["complete"]:
        # Why a client stopped (for instance the broker disconnected it).
        result["stderr"] = r.stderr[-1000:]
    return result


def start_targets(version, workdir):
    """(broker alone, cluster, its leader) of one version."""
    base_dir = os.path.join(workdir, "base-" + version)
    ha_dir = os.path.join(workdir, "ha-" + version)
    os.makedirs(base_dir)
    os.makedirs(ha_dir)
    base = h.Cluster(base_dir, version)
    alone = base.add(1)
    alone.with_plugin = False
    alone.start()
    cluster = h.Cluster(ha_dir, version)
    leader = cluster.form()
    return base, alone, cluster, leader


def measured(cluster, run):
    """run() with the CPU seconds every broker of cluster spent meanwhile."""
    before = {n.nodeid: common.cpu_seconds(n.proc.pid)
              for n in cluster.nodes.values()}
    result = run()
    result["broker_cpu_seconds"] = {
        str(n.nodeid): round(common.cpu_seconds(n.proc.pid) -
                             before[n.nodeid], 3)
        for n in cluster.nodes.values()}
    return result


def summarize(runs, key):
    return common.median([r[key] for r in runs])


def compare(kind, payload, paced, base_runs, ha_runs, label):
    key = "delivered_msgs_per_s"
    out = {"kind": kind, "payload": payload, "paced": paced,
           "cluster_does": label, "baseline": {}, "leader": {}}
    for side, runs in (("baseline", base_runs), ("leader", ha_runs)):
        for k in ("delivered_msgs_per_s", "delivered_mb_per_s",
                  "publish_msgs_per_s", "publish_mb_per_s", "latency_p50_us", "latency_p99_us",
                  "latency_max_us", "cpu_seconds"):
            out[side][k] = summarize(runs, k)
        out[side]["complete"] = all(r["complete"] for r in runs)
        out[side]["runs"] = runs
    b, l = out["baseline"], out["leader"]
    out["ratio_msgs"] = l[key] / b[key] if b[key] else None
    out["ratio_p50"] = (l["latency_p50_us"] / b["latency_p50_us"]
                        if b["latency_p50_us"] else None)
    out["ratio_p99"] = (l["latency_p99_us"] / b["latency_p99_us"]
                        if b["latency_p99_us"] else None)
    return out


def current_leader(cluster):
    """The leader the nodes agree on now, and its term."""
    leader = cluster.wait_leader(list(cluster.nodes.values()), 20)
    return leader, leader.raft_status()["current_term"]


def run_case(args, alone, base, cluster, kind, payload, paced):
    """Alternating runs against the broker alone and the leader. Should
    leadership move meanwhile (an election without a fault), the run on
    the old leader is refused: it is counted, and the case goes on with
    the new leader."""
    name, flags, label = kind
    count = args.count_4k if payload == 4096 else args.count
    extra = ["--publishers", str(args.publishers),
             "--subscribers", str(args.subscribers),
             "--payload", str(payload)]
    if paced:
        count = int(args.paced_rate * args.paced_seconds)
        extra += ["--rate", str(args.paced_rate)]
    base_runs, ha_runs = [], []
    leader, term0 = current_leader(cluster)
    refused = 0
    for _ in range(args.repeat):
        base_runs.append(measured(base, lambda: loadgen(
            alone.host, alone.mqtt_port, flags, count, args.seconds, extra)))
        for _attempt in range(3):
            try:
                ha_runs.append(measured(cluster, lambda: loadgen(
                    leader.host, leader.mqtt_port, flags, count,
                    args.seconds, extra)))
                break
            except RuntimeError as e:
                refused += 1
                print("    the leader refused the load (%s); looking for "
                      "the leader again" % str(e).splitlines()[-1],
                      flush=True)
                leader, _ = current_leader(cluster)
    if not ha_runs:
        raise RuntimeError("no run through the leader completed")
    _, term1 = current_leader(cluster)
    c = compare(name, payload, paced, base_runs, ha_runs, label)
    c["elections"] = term1 - term0
    c["refused_runs"] = refused
    return c


def ceilings(args):
    """ha-loadgen against its built-in minimal broker, the same cases."""
    out = []
    for name, flags, _ in KINDS:
        if name == "persistent-qos1":
            continue  # the minimal broker keeps no sessions
        for payload in PAYLOADS:
            count = args.count_4k if payload == 4096 else args.count
            r = loadgen("127.0.0.1", 1, flags + ["--sink"], count,
                        args.seconds, ["--publishers", str(args.publishers),
                                       "--subscribers", str(args.subscribers),
                                       "--payload", str(payload)])
            r["kind"] = name
            out.append(r)
    return out


def print_case(version, c):
    b, l = c["baseline"], c["leader"]
    print("  %-6s %-16s %5d B %-6s %-12s  alone %9.0f msg/s %7.2f MB/s  "
          "leader %9.0f msg/s %7.2f MB/s  ratio %.2f  p50 %.0f/%.0f us  "
          "p99 %.0f/%.0f us%s" % (
              version, c["kind"], c["payload"],
              "paced" if c["paced"] else "", c["cluster_does"],
              b["delivered_msgs_per_s"], b["delivered_mb_per_s"],
              l["delivered_msgs_per_s"], l["delivered_mb_per_s"],
              c["ratio_msgs"] or 0, b["latency_p50_us"] or 0,
              l["latency_p50_us"] or 0, b["latency_p99_us"] or 0,
              l["latency_p99_us"] or 0,
              ("" if b["complete"] and l["complete"] else "  INCOMPLETE") +
              ("  elections %d" % c["elections"] if c["elections"] else "")),
          flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="toy size: checks that it runs, not how fast")
    p.add_argument("--versions", default="2.0,2.1")
    p.add_argument("--kinds", default=",".join(k[0] for k in KINDS),
                   help="which traffic kinds to run (comma-separated)")
    p.add_argument("--publishers", type=int, default=4)
    p.add_argument("--subscribers", type=int, default=2)
    p.add_argument("--count", type=int, default=40000,
                   help="64-byte messages per publisher")
    p.add_argument("--count-4k", type=int, default=8000,
                   help="4 KB messages per publisher")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=30.0,
                   help="bound of one load generator run")
    p.add_argument("--paced-rate", type=float, default=1000.0,
                   help="messages/s per publisher in the latency runs")
    p.add_argument("--paced-seconds", type=float, default=3.0)
    a = p.parse_args()
    if a.quick:
        a.count, a.count_4k, a.repeat, a.seconds = 2000, 500, 1, 10.0
        a.paced_seconds = 0.5
    return a


def main():
    args = parse_args()
    common.use_bench_config()
    if not os.access(LOADGEN, os.X_OK):
        raise RuntimeError("%s missing: run `make`" % LOADGEN)
    t0 = time.monotonic()
    results = {"machine": common.machine(), "publishers": args.publishers,
               "subscribers": args.subscribers, "repeat": args.repeat,
               "quick": args.quick, "ceilings": ceilings(args), "cases": {}}
    for r in results["ceilings"]:
        print("  ceiling (built-in minimal broker) %-14s %5d B: %9.0f msg/s "
              "delivered, %7.2f MB/s, publish %9.0f msg/s" % (
                  r["kind"], r["payload"], r["delivered_msgs_per_s"],
                  r["delivered_mb_per_s"], r["publish_msgs_per_s"]),
              flush=True)
    with tempfile.TemporaryDirectory(prefix="ha-bench-mqtt-") as workdir:
        for version in args.versions.split(","):
            h.broker_path(version)
            base, alone, cluster, leader = start_targets(version, workdir)
            cases = []
            try:
                for kind in KINDS:
                    if kind[0] not in args.kinds.split(","):
                        continue
                    for payload in PAYLOADS:
                        c = run_case(args, alone, base, cluster, kind,
                                     payload, False)
                        print_case(version, c)
                        cases.append(c)
                    c = run_case(args, alone, base, cluster, kind, 64,
                                 True)
                    print_case(version, c)
                    cases.append(c)
            finally:
                base.teardown()
                cluster.teardown()
            results["cases"][version] = cases
    results["seconds"] = time.monotonic() - t0
    print("bench-mqtt: %.0f s; results in %s" % (
        results["seconds"], common.write_results("mqtt", results)))


if __name__ == "__main__":
    main()
