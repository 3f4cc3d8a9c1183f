# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""What replicating retained messages costs, on real brokers of both
versions, each figure against a baseline measured in the same run:

1. Retained QoS 1 publishes through the leader of a 3-node cluster against
   the same broker binary without the plugin: messages per second of both
   and their ratio. The load comes from mosquitto_pub (C, libmosquitto),
   several processes at once, each publishing every line of a file.
2. The longest pass of each broker thread over the raft thread's hand-off
   (getRaftStatus handoff_us.longest_pass), during that load and while a
   fourth node is filled with many retained messages: the goal is under
   5 ms, so that a broker never stalls its clients for longer.

Numbers, not verdicts: the machine is shared. Run with `make bench-cluster`
(BENCH_MESSAGES and BENCH_TOPICS scale it)."""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                "tests", "cluster"))
import harness as h  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "20000"))  # per publisher
PUBLISHERS = 2
PAYLOAD = b"p" * 64
TOPICS = int(os.environ.get("BENCH_TOPICS", "50000"))
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"


def timed_load(node, lines_file):
    """Seconds for PUBLISHERS mosquitto_pub processes to publish every line
    of lines_file as a retained QoS 1 message on a topic each."""
    procs = []
    t0 = time.monotonic()
    for i in range(PUBLISHERS):
        f = open(lines_file, "rb")
        procs.append((f, subprocess.Popen(
            [MOSQUITTO_PUB, "-h", node.host, "-p", str(node.mqtt_port),
             "-u", h.USER, "-P", h.USER_PW, "-q", "1", "-r",
             "-t", "bench/load/%d" % i, "-l"],
            stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    for f, p in procs:
        _, err = p.communicate(timeout=600)
        f.close()
        if p.returncode != 0:
            raise RuntimeError("mosquitto_pub failed: %s" % err.decode())
    return time.monotonic() - t0


def longest_passes(nodes):
    return {n.nodeid: n.raft_status()["handoff_us"]["longest_pass"]
            for n in nodes}


def fill(leader, count):
    """count retained messages on distinct topics, QoS 0 with a QoS 1
    publish every 500 so that the broker keeps up."""
    s = h._PahoSession(leader.host, leader.mqtt_port, h.USER, h.USER_PW)
    try:
        for i in range(count):
            s.client.publish("bench/fill/%d/%d" % (i % 100, i), PAYLOAD, 0,
                             retain=True)
            if i % 500 == 499 and not s.publish("bench/sync", b"", 1, 30):
                raise RuntimeError("the leader stopped answering")
    finally:
        s.close()


def run(version, workdir, lines_file):
    out = {}
    for sub in ("base-" + version, "ha-" + version):
        os.makedirs(os.path.join(workdir, sub))
    # Baseline: the same broker binary without the plugin.
    base = h.Cluster(os.path.join(workdir, "base-" + version), version)
    try:
        n = base.add(1)
        n.with_plugin = False
        n.start()
        out["baseline_s"] = timed_load(n, lines_file)
    finally:
        base.teardown()
    c = h.Cluster(os.path.join(workdir, "ha-" + version), version)
    try:
        leader = c.form()
        out["cluster_s"] = timed_load(leader, lines_file)
        out["passes_load_us"] = longest_passes(c.nodes.values())
        t0 = time.monotonic()
        fill(leader, TOPICS)
        out["fill_s"] = time.monotonic() - t0
        n4 = c.add(4).start()
        r = n4.cmd("joinCluster", clustername=c.name,
                   nodes=c.members([1, 2, 3, 4], 4))
        assert "error" not in r, r
        t1 = time.monotonic()
        r = leader.cmd("addNode", clustername=c.name, address=n4.host,
                       port=n4.cluster_port, nodeid=4)
        assert "error" not in r, r
        h.wait_until("node 4 to hold every retained message",
                     lambda: n4.raft_status()["retain_msg"] >= TOPICS, 120,
                     0.5)
        out["catch_up_s"] = time.monotonic() - t1
        out["pass_catch_up_us"] = n4.raft_status()["handoff_us"][
            "longest_pass"]
    finally:
        c.teardown()
    return out


def main():
    if os.environ.get("HA_PLUGIN") is None:
        build = os.environ.get("BUILD", "build")
        os.environ["HA_PLUGIN"] = os.path.abspath(
            os.path.join(build, "mosquitto_ha.so"))
        h.PLUGIN = os.environ["HA_PLUGIN"]
    h.check_plugin()
    total = MESSAGES * PUBLISHERS
    with tempfile.TemporaryDirectory(prefix="ha-bench-") as workdir:
        lines_file = os.path.join(workdir, "lines")
        with open(lines_file, "wb") as f:
            for _ in range(MESSAGES):
                f.write(PAYLOAD + b"\n")
        for version in ("2.0", "2.1"):
            h.broker_path(version)
            r = run(version, workdir, lines_file)
            base_rate = total / r["baseline_s"]
            rate = total / r["cluster_s"]
            print("mosquitto %s, retained QoS 1, %d publishers x %d "
                  "messages of %d bytes:" % (version, PUBLISHERS, MESSAGES,
                                             len(PAYLOAD)))
            print("  without the plugin %8.0f msg/s; through the leader "
                  "(replicated) %8.0f msg/s; ratio %.2f" % (
                      base_rate, rate, rate / base_rate))
            print("  longest hand-off pass during the load (us): %s" % (
                ", ".join("node %d %d" % kv for kv in
                          sorted(r["passes_load_us"].items()))))
            print("  %d retained messages filled in %.1f s; a fourth node "
                  "held them all %.1f s after addNode; its longest "
                  "hand-off pass %.1f ms (goal < 5 ms: %s)" % (
                      TOPICS, r["fill_s"], r["catch_up_s"],
                      r["pass_catch_up_us"] / 1000.0,
                      "met" if r["pass_catch_up_us"] < 5000 else "NOT met"))


if __name__ == "__main__":
    main()
