#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Two builds of the plugin against each other and the broker alone, in one
run: for a change that should make replicated traffic cheaper, the ratio
before and after, measured side by side (these machines are too noisy for
two separate runs to compare).

One broker without the plugin, a 3-node cluster loading --base and one
loading --plugin (default: this tree's build) run at once; each case runs
against the broker alone, then the leader of each cluster, --repeat times
in turn, and the medians are printed as ratios against the broker alone.
Cases: retained QoS 1 (replicated), 64 bytes and 4 KB saturated, 64 bytes
paced at 1000 msg/s per publisher; 4 publishers, 2 subscribers.

    /usr/bin/python3 bench/mqtt/compare.py --base OLD.so [--versions 2.0,2.1]
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import h  # noqa: E402
import throughput as t  # noqa: E402

CLIENTS = ["--publishers", "4", "--subscribers", "2"]
CASES = [
    ("retained 64 B", ["--qos", "1", "--retain", "--payload", "64"], 40000),
    ("retained 4 KB", ["--qos", "1", "--retain", "--payload", "4096"], 8000),
    ("retained 64 B paced", ["--qos", "1", "--retain", "--payload", "64",
                             "--rate", "1000"], 3000),
]
KEYS = ("delivered_msgs_per_s", "delivered_mb_per_s", "latency_p50_us",
        "latency_p99_us")


def median(runs, key):
    return common.median([r[key] for r in runs])


def leader_cpu_us(runs):
    """CPU of the busiest broker process of the cluster per delivered
    message, in microseconds (median)."""
    return common.median([max(r["broker_cpu_seconds"].values()) * 1e6 /
                          max(r["received"], 1) for r in runs])


def run_version(args, version, workdir):
    base_dir = os.path.join(workdir, "base-cluster-" + version)
    os.makedirs(base_dir)
    plugin = h.PLUGIN
    alone_cluster, alone, new_cluster, new_leader = t.start_targets(
        version, workdir)
    old_cluster = None
    try:
        h.PLUGIN = args.base
        old_cluster = h.Cluster(base_dir, version)
        old_cluster.form()
        h.PLUGIN = plugin
        sides = [("alone", alone_cluster, None), ("base", old_cluster, True),
                 ("new", new_cluster, True)]
        out = []
        for name, flags, count in CASES[:args.cases]:
            runs = {side: [] for side, _, _ in sides}
            for _ in range(args.repeat):
                for side, cluster, is_cluster in sides:
                    node = (t.current_leader(cluster)[0] if is_cluster
                            else alone)
                    runs[side].append(t.measured(cluster, lambda: t.loadgen(
                        node.host, node.mqtt_port, flags + CLIENTS, count,
                        args.seconds)))
            case = {"case": name, "version": version}
            for side in runs:
                case[side] = {k: median(runs[side], k) for k in KEYS}
                case[side]["leader_cpu_us_per_msg"] = leader_cpu_us(
                    runs[side])
                case[side]["runs"] = runs[side]
            a = case["alone"]["delivered_msgs_per_s"]
            for side in ("base", "new"):
                case[side]["ratio"] = (case[side]["delivered_msgs_per_s"] / a
                                       if a else None)
            print_case(case)
            out.append(case)
        return out
    finally:
        h.PLUGIN = plugin
        alone_cluster.teardown()
        new_cluster.teardown()
        if old_cluster is not None:
            old_cluster.teardown()


def print_case(c):
    line = "  %s %-20s" % (c["version"], c["case"])
    for side in ("alone", "base", "new"):
        s = c[side]
        line += " | %s %6.0f msg/s %6.1f MB/s p50 %6.1f p99 %6.1f ms" % (
            side, s["delivered_msgs_per_s"], s["delivered_mb_per_s"],
            s["latency_p50_us"] / 1000.0, s["latency_p99_us"] / 1000.0)
        if side != "alone":
            line += " %.2fx cpu %.1f us/msg" % (s["ratio"] or 0,
                                                s["leader_cpu_us_per_msg"])
    print(line, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True,
                   help="the plugin build to compare against")
    p.add_argument("--versions", default="2.0,2.1")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--cases", type=int, default=len(CASES),
                   help="run only the first N cases")
    args = p.parse_args()
    common.use_bench_config()
    if not os.path.isfile(args.base):
        raise RuntimeError("--base %s: no such file" % args.base)
    results = {"machine": common.machine(), "base": args.base,
               "plugin": h.PLUGIN, "cases": []}
    with tempfile.TemporaryDirectory(prefix="ha-bench-compare-") as workdir:
        for version in args.versions.split(","):
            h.broker_path(version)
            results["cases"] += run_version(args, version, workdir)
    print("compare: results in %s" % common.write_results("mqtt-compare",
                                                          results))


if __name__ == "__main__":
    main()
