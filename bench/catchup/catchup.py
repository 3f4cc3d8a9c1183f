#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Catch-up: a fourth node joins a 3-node cluster that holds many retained
messages (1,000,000 of 200 bytes by default: about 220 MB of topics and
payloads, and 1.5 GB of memory per broker). Measured: the time from addNode until the new node is a
voter holding every retained message, against copying the same bytes (the
retained topics and payloads) over a loopback TCP connection in the same
run. Numbers, not verdicts.

    make bench-catchup                  # BENCH_QUICK=1: toy size
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import common  # noqa: E402
from common import h  # noqa: E402

LOADGEN = os.path.join(common.BUILD, "bench", "ha-loadgen")
PUBLISHERS = 4


def folder_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def loopback_copy_seconds(nbytes, host):
    """Seconds to send nbytes over one TCP connection on host (loopback)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    received = [0]

    def receive():
        conn, _ = srv.accept()
        with conn:
            while received[0] < nbytes:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                received[0] += len(chunk)

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    block = b"r" * (1 << 20)
    t0 = time.monotonic()
    with socket.create_connection((host, port)) as c:
        left = nbytes
        while left > 0:
            n = min(left, len(block))
            c.sendall(block[:n])
            left -= n
        t.join(120)
    took = time.monotonic() - t0
    srv.close()
    if received[0] != nbytes:
        raise RuntimeError("loopback copy received %d of %d bytes" % (
            received[0], nbytes))
    return took


def fill(cluster, leader, per, payload):
    """per retained messages from each publisher on distinct topics, in
    chunks; a chunk the leader stopped serving (its clients disconnected)
    is published again to the leader then agreed on. (leader, how many
    chunks were interrupted)."""
    chunk = 25000
    interruptions = 0
    for first in range(0, per, chunk):
        n = min(chunk, per - first)
        for attempt in range(4):
            r = subprocess.run(
                [LOADGEN, "--host", leader.host, "--port",
                 str(leader.mqtt_port), "--username", h.USER, "--password",
                 h.USER_PW, "--qos", "1", "--retain", "--publishers",
                 str(PUBLISHERS), "--subscribers", "0", "--payload",
                 str(payload), "--count", str(n), "--topics", str(n),
                 "--seconds", "300", "--topic-prefix",
                 "catchup/%d" % first], capture_output=True, text=True,
                timeout=400)
            if '"complete": true' in r.stdout:
                break
            interruptions += 1
            print("    fill interrupted at chunk %d (%s); again on the "
                  "leader then agreed on" % (first, r.stderr.strip()[-200:]),
                  flush=True)
            leader = cluster.wait_leader(list(cluster.nodes.values()), 60)
        else:
            raise RuntimeError("fill failed 4 times: %s %s" % (r.stdout,
                                                               r.stderr))
    return leader, interruptions


def is_voter(leader, nodeid):
    nodes = leader.raft_status()["nodes"]
    return any(n["id"] == nodeid and n["role"] == 1 for n in nodes)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--version", default="2.0")
    p.add_argument("--messages", type=int, default=1000000)
    p.add_argument("--payload", type=int, default=200)
    args = p.parse_args()
    if args.quick:
        args.messages = 4000
    common.use_bench_config()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ha-bench-catchup-") as workdir:
        c = h.Cluster(workdir, args.version)
        try:
            leader = c.form()
            per = args.messages // PUBLISHERS
            t_fill = time.monotonic()
            leader, interruptions = fill(c, leader, per, args.payload)
            held = per * PUBLISHERS
            state_bytes = held * args.payload + sum(
                len("catchup/%d/p%d/%d" % (first - first % 25000, p_,
                                           first % 25000))
                for p_ in range(PUBLISHERS) for first in range(per))
            nodes = list(c.nodes.values())
            c.wait_settled(nodes, leader, 120)
            fill_s = time.monotonic() - t_fill
            data_bytes = folder_bytes(leader.data_dir)
            n4 = c.add(4).start()
            rj = n4.cmd("joinCluster", clustername=c.name,
                        nodes=c.members([1, 2, 3, 4], 4))
            assert "error" not in rj, rj
            t1 = time.monotonic()
            ra = leader.cmd("addNode", clustername=c.name, address=n4.host,
                            port=n4.cluster_port, nodeid=4)
            assert "error" not in ra, ra
            h.wait_until("node 4 to hold every retained message",
                         lambda: n4.raft_status()["retain_msg"] >= held,
                         600, 0.05)
            held_s = time.monotonic() - t1
            h.wait_until("node 4 to be a voter", lambda: is_voter(leader, 4),
                         600, 0.05)
            voter_s = time.monotonic() - t1
            installed = n4.raft_status()["snapshot"]["installed"]
        finally:
            c.teardown()
    copy_s = loopback_copy_seconds(state_bytes, "127.0.0.1")
    results = {"machine": common.machine(), "version": args.version,
               "quick": args.quick, "messages": held,
               "fill_interruptions": interruptions,
               "payload": args.payload, "fill_seconds": fill_s,
               "leader_data_bytes": data_bytes, "state_bytes": state_bytes,
               "all_retained_seconds": held_s, "voter_seconds": voter_s,
               "snapshots_installed": installed,
               "loopback_copy_seconds": copy_s,
               "ratio_to_copy": voter_s / copy_s if copy_s else None,
               "seconds": time.monotonic() - t0}
    print("  %d retained messages (%.1f MB of topics and payloads, %.1f MB "
          "in the leader's data folder, filled in %.1f s): node 4 held them "
          "all %.2f s after addNode, a voter after %.2f s (%d snapshot "
          "installed); copying the same bytes over loopback %.3f s: %.0f× "
          "that; the fill was interrupted %d times" % (held, state_bytes / 1e6, data_bytes / 1e6, fill_s,
                    held_s, voter_s, installed, copy_s,
                    results["ratio_to_copy"] or 0, interruptions))
    print("bench-catchup: %.0f s; results in %s" % (
        results["seconds"], common.write_results("catchup", results)))


if __name__ == "__main__":
    main()
