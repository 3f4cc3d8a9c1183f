#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Failover of a 3-node cluster of real brokers under load, with the
plugin's default timings and with a low-latency profile:

- kill -9 of the leader, --cycles times: the time from the kill until
  another node accepts an MQTT client (CONNECT, then a QoS 1 PUBLISH
  acknowledged), directly on the nodes' listeners and, when --haproxy, through
  HAProxy (`option httpchk GET /leader`) with our recommended check settings
  and with the reference product's published ones (inter 5s fall 3 rise 2);
- setLeader and SIGTERM handovers: from the request (or the signal) until
  the new leader accepts a client;
- the longest time two nodes accepted clients at once, from probes on every
  node every 3 ms for the whole run (must be zero, or negative: the smallest
  gap between two nodes' windows);
- first, with the default timings, 5 minutes of saturating retained load
  without any fault: the elections that happened anyway (goal: none).

The load: ha-loadgen publishing retained QoS 1 messages at a fixed rate to
the leader (replicated traffic), restarted on the new leader every cycle.
Every wait is bounded. Numbers, not verdicts.

    make bench-failover                 # BENCH_QUICK=1: toy size
    /usr/bin/python3 bench/failover/failover.py --quick
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import common  # noqa: E402
from common import h  # noqa: E402

LOADGEN = os.path.join(common.BUILD, "bench", "ha-loadgen")
HAPROXY = "/usr/sbin/haproxy"
PROFILES = {
    # The plugin's defaults (docs/plugin.md): election 400 ms, heartbeat 40.
    "default": None,
    "low-latency": {"election_timeout": "150", "heartbeat_interval": "30"},
}
# HAProxy's health check settings: ours and the reference product's.
HAPROXY_CHECKS = {
    "recommended": "inter 100ms fastinter 50ms downinter 50ms fall 1 rise 1",
    "reference": "inter 5s fall 3 rise 2",
}


def start_load(node, rate):
    """ha-loadgen publishing retained QoS 1 messages to node at rate
    messages/s (two publishers), for at most 60 s."""
    return subprocess.Popen(
        [LOADGEN, "--host", node.host, "--port", str(node.mqtt_port),
         "--username", h.USER, "--password", h.USER_PW, "--qos", "1",
         "--retain", "--publishers", "2", "--subscribers", "1",
         "--rate", str(rate / 2), "--count", str(int(rate * 30)),
         "--seconds", "60", "--topic-prefix",
         "failover/%d/%d" % (node.nodeid, time.monotonic_ns())],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_load(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def first_accepting(targets, t_from, limit_s=15.0, interval=0.003):
    """Probes (host, port) targets in turn every interval until one accepts
    a client; (seconds since t_from, index) or (None, None) after limit_s."""
    deadline = time.monotonic() + limit_s
    i = 0
    while time.monotonic() < deadline:
        host, port = targets[i % len(targets)]
        if h.probe_once(host, port, "fo-%d" % i, timeout=0.2):
            return time.monotonic() - t_from, i % len(targets)
        i += 1
        time.sleep(interval)
    return None, None


def settle(cluster):
    nodes = list(cluster.nodes.values())
    leader = cluster.wait_leader(nodes, 20)
    cluster.wait_settled(nodes, leader, 20)
    return leader


def restart(cluster, node):
    node.spawn()
    node.wait_ready(15)
    return settle(cluster)


def kill_cycle(cluster, args, haproxy_targets):
    leader = settle(cluster)
    load = start_load(leader, args.rate)
    try:
        time.sleep(args.load_before_s)
        survivors = [n for n in cluster.nodes.values() if n is not leader]
        t_kill = time.monotonic()
        leader.proc.kill()
        direct, _ = first_accepting([(n.host, n.mqtt_port)
                                     for n in survivors], t_kill)
        via = {}
        for name, (host, port) in haproxy_targets.items():
            via[name], _ = first_accepting([(host, port)], t_kill, 30.0)
        leader.proc.wait(10)
    finally:
        stop_load(load)
    restart(cluster, leader)
    return direct, via


def steady_load(cluster, seconds):
    """Saturating retained QoS 1 load on the leader for seconds, with no
    fault: how many elections happened (terms gone by) and how many load
    runs lost their connections (the leader stopped serving)."""
    leader = settle(cluster)
    term0 = leader.raft_status()["current_term"]
    end = time.monotonic() + seconds
    runs = interrupted = 0
    while time.monotonic() < end:
        left = max(1.0, end - time.monotonic())
        r = subprocess.run(
            [LOADGEN, "--host", leader.host, "--port", str(leader.mqtt_port),
             "--username", h.USER, "--password", h.USER_PW, "--qos", "1",
             "--retain", "--publishers", "4", "--subscribers", "2",
             "--topics", "10000", "--count", "10000000", "--seconds",
             "%.1f" % min(60.0, left), "--topic-prefix",
             "steady/%d" % runs], capture_output=True, text=True,
            timeout=120)
        runs += 1
        if '"failed_clients": 0' not in r.stdout:
            interrupted += 1
            leader = settle(cluster)
    term1 = settle(cluster).raft_status()["current_term"]
    return {"seconds": seconds, "elections": term1 - term0,
            "load_runs": runs, "interrupted_runs": interrupted}


def set_leader_cycle(cluster):
    leader = settle(cluster)
    target = next(n for n in cluster.nodes.values() if n is not leader)
    t0 = time.monotonic()
    r = leader.cmd("setLeader", clustername=cluster.name,
                   nodeid=target.nodeid)
    if "error" in r:
        raise RuntimeError("setLeader: %s" % r)
    took, _ = first_accepting([(target.host, target.mqtt_port)], t0)
    return took


def sigterm_cycle(cluster):
    leader = settle(cluster)
    others = [n for n in cluster.nodes.values() if n is not leader]
    t0 = time.monotonic()
    leader.proc.send_signal(signal.SIGTERM)
    took, _ = first_accepting([(n.host, n.mqtt_port) for n in others], t0)
    leader.proc.wait(20)
    restart(cluster, leader)
    return took


def haproxy_config(cluster, workdir, check):
    """An HAProxy in TCP mode in front of the nodes' MQTT listeners, each
    checked with GET /leader on its health endpoint; (config path, port)."""
    host = "%s.%d" % (cluster.prefix, 9)
    port = h.free_port(host)
    lines = ["global", "  maxconn 2000", "defaults", "  mode tcp",
             "  timeout connect 1s", "  timeout client 60s",
             "  timeout server 60s", "frontend mqtt",
             "  bind %s:%d" % (host, port), "  default_backend brokers",
             "backend brokers", "  option httpchk GET /leader"]
    for n in cluster.nodes.values():
        lines.append("  server n%d %s:%d check port %d %s" % (
            n.nodeid, n.host, n.mqtt_port, n.health_port, check))
    path = os.path.join(workdir, "haproxy-%d.cfg" % port)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, host, port


def run_profile(name, opts, args, workdir, version):
    cdir = os.path.join(workdir, name)
    os.makedirs(cdir)
    cluster = h.Cluster(cdir, version)
    proxies = []
    try:
        for i in (1, 2, 3):
            n = cluster.add(i)
            n.health_port = h.free_port(n.host)
            n.plugin_opts["health_listen"] = "%s:%d" % (n.host, n.health_port)
            if opts is None:
                del n.plugin_opts["election_timeout"]
                del n.plugin_opts["heartbeat_interval"]
            else:
                n.plugin_opts.update(opts)
        cluster.form(timeout=20)
        targets = {}
        if args.haproxy:
            for check_name, check in HAPROXY_CHECKS.items():
                path, host, port = haproxy_config(cluster, cdir, check)
                proxies.append(subprocess.Popen(
                    [HAPROXY, "-f", path, "-db"], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True))
                targets[check_name] = (host, port)
            time.sleep(12)  # the reference settings need 2 checks of 5 s
        prober = h.Prober(cluster.nodes.values(), interval=0.003,
                          max_attempts=200000, max_seconds=args.max_seconds)
        prober.start()
        out = {"kill": [], "haproxy": {k: [] for k in targets},
               "set_leader": [], "sigterm": []}
        try:
            if name == "default" and args.steady_seconds > 0:
                out["steady"] = steady_load(cluster, args.steady_seconds)
            for _ in range(args.cycles):
                direct, via = kill_cycle(cluster, args, targets)
                out["kill"].append(direct)
                for k, v in via.items():
                    out["haproxy"][k].append(v)
            for _ in range(args.handovers):
                out["set_leader"].append(set_leader_cycle(cluster))
            for _ in range(args.handovers):
                out["sigterm"].append(sigterm_cycle(cluster))
        finally:
            prober.stop()
        overlap, _ = prober.max_overlap()
        out["max_two_accepting_s"] = overlap
        out["probe_attempts"] = sum(len(r) for r in prober.records.values())
        out["elections"] = leader_terms(cluster)
        return out
    finally:
        for p in proxies:
            if p.poll() is None:
                p.terminate()
            p.wait(10)
        cluster.teardown()


def leader_terms(cluster):
    try:
        return settle(cluster).raft_status().get("current_term")
    except (AssertionError, h.ControlError):
        return None


def stats(values):
    ok = [v for v in values if v is not None]
    return {"n": len(values), "failed": len(values) - len(ok),
            "p50_ms": _ms(common.percentile(ok, 50)),
            "p99_ms": _ms(common.percentile(ok, 99)),
            "max_ms": _ms(max(ok) if ok else None),
            "values_ms": [_ms(v) for v in values]}


def _ms(v):
    return None if v is None else round(v * 1000.0, 2)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--version", default="2.0")
    p.add_argument("--cycles", type=int, default=20)
    p.add_argument("--handovers", type=int, default=10)
    p.add_argument("--rate", type=float, default=2000.0,
                   help="retained QoS 1 messages/s of the load")
    p.add_argument("--load-before-s", type=float, default=1.0)
    p.add_argument("--haproxy", action="store_true",
                   help="also through HAProxy (adds a 5 s check wait "
                   "per kill with the reference settings)")
    p.add_argument("--steady-seconds", type=float, default=300.0,
                   help="saturating load without any fault first (default "
                   "profile): elections counted")
    p.add_argument("--max-seconds", type=float, default=1500.0,
                   help="bound of the probes of one profile")
    a = p.parse_args()
    if a.quick:
        a.cycles, a.handovers, a.load_before_s = 2, 1, 0.3
        a.steady_seconds = 3.0
    return a


def main():
    args = parse_args()
    common.use_bench_config()
    h.broker_path(args.version)
    if not os.access(LOADGEN, os.X_OK):
        raise RuntimeError("%s missing: run `make`" % LOADGEN)
    if args.haproxy and not os.access(HAPROXY, os.X_OK):
        raise RuntimeError("%s missing: make deps" % HAPROXY)
    t0 = time.monotonic()
    results = {"machine": common.machine(), "version": args.version,
               "quick": args.quick, "rate": args.rate, "profiles": {}}
    with tempfile.TemporaryDirectory(prefix="ha-bench-failover-") as workdir:
        for name, opts in PROFILES.items():
            r = run_profile(name, opts, args, workdir, args.version)
            prof = {"kill9_direct": stats(r["kill"]),
                    "set_leader": stats(r["set_leader"]),
                    "sigterm": stats(r["sigterm"]),
                    # -inf: one node alone accepted clients, no pair.
                    "max_two_accepting_ms": (
                        None if r["max_two_accepting_s"] == float("-inf")
                        else _ms(r["max_two_accepting_s"])),
                    "probe_attempts": r["probe_attempts"],
                    "final_term": r["elections"]}
            if "steady" in r:
                prof["steady_load"] = r["steady"]
                print("  %-11s %.0f s of saturating load without a fault: "
                      "%d elections, %d of %d load runs interrupted" % (
                          name, r["steady"]["seconds"],
                          r["steady"]["elections"],
                          r["steady"]["interrupted_runs"],
                          r["steady"]["load_runs"]), flush=True)
            for k, v in r["haproxy"].items():
                prof["kill9_haproxy_" + k] = stats(v)
            results["profiles"][name] = prof
            for k, v in prof.items():
                if isinstance(v, dict) and "p50_ms" in v:
                    print("  %-11s %-26s n=%-3d failed=%d p50 %8s ms  p99 "
                          "%8s ms  max %8s ms" % (
                              name, k, v["n"], v["failed"], v["p50_ms"],
                              v["p99_ms"], v["max_ms"]), flush=True)
            print("  %-11s longest window of two nodes accepting: %s ms "
                  "(negative: the closest two windows came; %d probes)" % (
                      name, prof["max_two_accepting_ms"],
                      prof["probe_attempts"]), flush=True)
    results["seconds"] = time.monotonic() - t0
    print("bench-failover: %.0f s; results in %s" % (
        results["seconds"], common.write_results("failover", results)))


if __name__ == "__main__":
    main()
