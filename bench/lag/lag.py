#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Replication lag of a 3-node cluster under a steady load of retained
changes (1,000 and 10,000 per second by default): from a change captured on
the leader to its commit (majority-durable), and to its application by the
followers' brokers. That is the window in which a change the leader already
acknowledged can be lost with the leader.

Measured from outside through the control API (getRaftStatus), on one
connection per node kept open: every sample reads the leader's
last_captured_index, then polls the leader's commit_index and each
follower's last_applied until they reach it. A sample's figure is exact to
within the control API's round trip, which is measured too and reported
beside it (its median and p99): lags below it cannot be told apart.
Numbers, not verdicts.

    make bench-lag                      # BENCH_QUICK=1: toy size
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


class StatusClient:
    """getRaftStatus on one administrator connection kept open."""

    def __init__(self, node):
        self.s = h._PahoSession(node.host, node.mqtt_port, h.ADMIN,
                                h.ADMIN_PW)
        self.s.subscribe(h.RESPONSE_TOPIC)
        self.n = 0

    def status(self):
        self.n += 1
        corr = "lag-%d-%d" % (os.getpid(), self.n)
        payload = json.dumps({"commands": [{"command": "getRaftStatus",
                                            "correlationData": corr}]})
        self.s.client.publish(h.CONTROL_TOPIC, payload, 0)

        def mine(m):
            try:
                r = json.loads(m[1])["responses"][0]
            except (ValueError, KeyError, IndexError):
                return False
            return r.get("correlationData") == corr

        m = self.s.wait_message(mine, 5.0)
        if m is None:
            raise h.ControlError("no getRaftStatus reply")
        return json.loads(m[1])["responses"][0]["data"]

    def close(self):
        self.s.close()


def sample(leader_c, follower_cs, limit_s=5.0):
    """(seconds to commit, [seconds to applied per follower]) of the last
    change the leader captured; None when nothing was captured yet."""
    t0 = time.monotonic()
    target = leader_c.status()["last_captured_index"]
    if target == 0:
        return None
    commit = None
    applied = [None] * len(follower_cs)
    deadline = t0 + limit_s
    while time.monotonic() < deadline and (commit is None or
                                           None in applied):
        if commit is None and leader_c.status()["commit_index"] >= target:
            commit = time.monotonic() - t0
        for i, fc in enumerate(follower_cs):
            if applied[i] is None and fc.status()["last_applied"] >= target:
                applied[i] = time.monotonic() - t0
    return commit, applied


def run_rate(cluster, leader, rate, seconds, interval):
    followers = [n for n in cluster.nodes.values() if n is not leader]
    leader_c = StatusClient(leader)
    follower_cs = [StatusClient(f) for f in followers]
    per = rate / 4.0
    load = subprocess.Popen(
        [LOADGEN, "--host", leader.host, "--port", str(leader.mqtt_port),
         "--username", h.USER, "--password", h.USER_PW, "--qos", "1",
         "--retain", "--publishers", "4", "--subscribers", "0", "--rate",
         str(per), "--count", str(int(per * (seconds + 1))), "--topics",
         "1000", "--seconds", str(seconds + 30), "--topic-prefix",
         "lag/%d" % rate],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    commits, applies, rtts = [], [], []
    try:
        time.sleep(0.5)
        end = time.monotonic() + seconds - 0.5
        while time.monotonic() < end:
            t = time.monotonic()
            leader_c.status()
            rtts.append(time.monotonic() - t)
            s = sample(leader_c, follower_cs)
            if s is not None:
                commits.append(s[0])
                applies.append(max(x for x in s[1] if x is not None)
                               if None not in s[1] else None)
            time.sleep(interval)
        out, err = load.communicate(timeout=seconds + 60)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait(10)
        for c in [leader_c] + follower_cs:
            c.close()
    result = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    return {"rate": rate, "achieved_rate": result.get("publish_msgs_per_s"),
            "samples": len(commits),
            "commit_ms": stats(commits), "applied_ms": stats(applies),
            "control_round_trip_ms": stats(rtts)}


def stats(values):
    ok = [v for v in values if v is not None]
    ms = lambda v: None if v is None else round(v * 1000.0, 3)  # noqa: E731
    return {"n": len(values), "missed": len(values) - len(ok),
            "p50": ms(common.percentile(ok, 50)),
            "p99": ms(common.percentile(ok, 99)),
            "max": ms(max(ok) if ok else None)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--version", default="2.0")
    p.add_argument("--rates", default="1000,10000")
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--interval", type=float, default=0.02)
    args = p.parse_args()
    if args.quick:
        args.rates, args.seconds = "1000", 2.0
    common.use_bench_config()
    t0 = time.monotonic()
    results = {"machine": common.machine(), "version": args.version,
               "quick": args.quick, "rates": []}
    with tempfile.TemporaryDirectory(prefix="ha-bench-lag-") as workdir:
        cluster = h.Cluster(workdir, args.version)
        try:
            for i in (1, 2, 3):
                n = cluster.add(i)
                # The plugin's default timings, as deployed.
                del n.plugin_opts["election_timeout"]
                del n.plugin_opts["heartbeat_interval"]
            leader = cluster.form(timeout=20)
            for rate in (int(r) for r in args.rates.split(",")):
                r = run_rate(cluster, leader, rate, args.seconds,
                             args.interval)
                results["rates"].append(r)
                print("  %6d changes/s (achieved %s): capture to commit p50 "
                      "%s p99 %s max %s ms; to applied on both followers p50 "
                      "%s p99 %s max %s ms; control round trip p50 %s p99 %s "
                      "ms; %d samples" % (
                          rate, r["achieved_rate"], r["commit_ms"]["p50"],
                          r["commit_ms"]["p99"], r["commit_ms"]["max"],
                          r["applied_ms"]["p50"], r["applied_ms"]["p99"],
                          r["applied_ms"]["max"],
                          r["control_round_trip_ms"]["p50"],
                          r["control_round_trip_ms"]["p99"], r["samples"]),
                      flush=True)
        finally:
            cluster.teardown()
    results["seconds"] = time.monotonic() - t0
    print("bench-lag: %.0f s; results in %s" % (
        results["seconds"], common.write_results("lag", results)))


if __name__ == "__main__":
    main()
