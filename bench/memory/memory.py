#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Resident memory of a cluster node against the size of the replicated
state it holds, and against the same broker without the plugin holding the
same retained messages, in the same run.

A broker alone and a 3-node cluster (same version) receive the same
retained messages (256-byte payloads, distinct topics, from ha-loadgen), in
steps; after each step, once every node applied everything, the resident
set (VmRSS) of every broker. Each node keeps the replicated state twice in
memory (the raft thread's copy for snapshots and the broker's own) besides
its Raft log, so a node should stay within a small multiple of the broker
alone. Numbers, not verdicts.

    make bench-memory                   # BENCH_QUICK=1: toy size
"""

import argparse
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
PUBLISHERS = 4


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS for %d" % pid)


def fill(node, prefix, messages, payload):
    """messages retained QoS 1 publishes on distinct topics; the bytes of
    topics and payloads they hold."""
    per = messages // PUBLISHERS
    r = subprocess.run(
        [LOADGEN, "--host", node.host, "--port", str(node.mqtt_port),
         "--username", h.USER, "--password", h.USER_PW, "--qos", "1",
         "--retain", "--publishers", str(PUBLISHERS), "--subscribers", "0",
         "--payload", str(payload), "--count", str(per), "--topics",
         str(per), "--seconds", "300", "--topic-prefix", prefix],
        capture_output=True, text=True, timeout=400)
    if r.returncode != 0 or '"complete": true' not in r.stdout:
        raise RuntimeError("fill failed: %s %s" % (r.stdout, r.stderr))
    topic_bytes = sum(len("%s/p%d/%d" % (prefix, p, k))
                      for p in range(PUBLISHERS) for k in range(per))
    return per * PUBLISHERS, topic_bytes + per * PUBLISHERS * payload


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--version", default="2.0")
    p.add_argument("--steps", default="20000,80000,100000",
                   help="retained messages added at each step")
    p.add_argument("--payload", type=int, default=256)
    args = p.parse_args()
    if args.quick:
        args.steps = "2000,2000"
    common.use_bench_config()
    t0 = time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ha-bench-memory-") as workdir:
        os.makedirs(os.path.join(workdir, "base"))
        os.makedirs(os.path.join(workdir, "ha"))
        base = h.Cluster(os.path.join(workdir, "base"), args.version)
        cluster = h.Cluster(os.path.join(workdir, "ha"), args.version)
        try:
            alone = base.add(1)
            alone.with_plugin = False
            alone.start()
            leader = cluster.form()
            nodes = list(cluster.nodes.values())
            held, state = 0, 0
            steps = [0] + [int(s) for s in args.steps.split(",")]
            for i, step in enumerate(steps):
                if step:
                    fill(alone, "mem/%d" % i, step, args.payload)
                    n, b = fill(leader, "mem/%d" % i, step, args.payload)
                    held += n
                    state += b
                    cluster.wait_settled(nodes, leader, 120)
                    h.wait_until("every node to hold every retained message",
                                 lambda: all(x.raft_status()["retain_msg"] >=
                                             held for x in nodes), 120, 0.2)
                row = {"retained": held, "state_mb": state / 1e6,
                       "alone_mb": rss_mb(alone.proc.pid),
                       "leader_mb": rss_mb(leader.proc.pid),
                       "followers_mb": [rss_mb(x.proc.pid) for x in nodes
                                        if x is not leader]}
                rows.append(row)
                print("  %7d retained, state %7.1f MB: alone %7.1f MB, leader "
                      "%7.1f MB, followers %s MB" % (
                          held, row["state_mb"], row["alone_mb"],
                          row["leader_mb"], ", ".join(
                              "%.1f" % x for x in row["followers_mb"])),
                      flush=True)
        finally:
            base.teardown()
            cluster.teardown()
    first, last = rows[0], rows[-1]
    grown = last["state_mb"] - first["state_mb"]
    summary = {
        "alone_per_state": (last["alone_mb"] - first["alone_mb"]) / grown,
        "leader_per_state": (last["leader_mb"] - first["leader_mb"]) / grown,
        "follower_per_state": (max(last["followers_mb"]) -
                               max(first["followers_mb"])) / grown,
    } if grown > 0 else {}
    if summary:
        print("  memory grown per MB of retained state: alone %.2f MB, leader "
              "%.2f MB, follower %.2f MB" % (summary["alone_per_state"],
                                             summary["leader_per_state"],
                                             summary["follower_per_state"]))
    results = {"machine": common.machine(), "version": args.version,
               "quick": args.quick, "payload": args.payload, "rows": rows,
               "summary": summary, "seconds": time.monotonic() - t0}
    print("bench-memory: %.0f s; results in %s" % (
        results["seconds"], common.write_results("memory", results)))


if __name__ == "__main__":
    main()
