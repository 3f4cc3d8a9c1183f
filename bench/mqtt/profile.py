#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Where the leader's time goes under replicated load: a 3-node cluster of
2.0.11 brokers, retained QoS 1 publishes from ha-loadgen at saturation on
the leader, and `perf record` of the leader's broker process (every thread:
the broker thread, the raft thread, the storage worker) meanwhile. Writes
the top of `perf report` by thread and by symbol to
build/bench/profile-retained.txt, which `make bench-report` copies into
bench/results/.

    make bench-profile
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
PERF = "/usr/bin/perf"


def report(data, sort, limit):
    r = subprocess.run([PERF, "report", "-i", data, "--stdio", "--no-children", "-g", "none",
                        "--sort", sort, "--percent-limit", "0.5"],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("perf report failed: %s" % r.stderr[-2000:])
    lines = [x for x in r.stdout.splitlines()
             if x.strip() and not x.startswith("#")]
    return lines[:limit]


# ---- CPU by process and thread, through the leader and the broker alone ----

def thread_cpu(pid):
    """{thread id: (name, CPU seconds)} of every thread of pid."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        out[tid] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def thread_role(pid, tid, name, raft_tid):
    if str(pid) == tid:
        return "broker thread"
    if tid == raft_tid:
        return "raft thread"
    if name in ("ha-raft", "ha-storage", "mosquitto"):
        # libuv's pool: its threads take the name of the thread that
        # started them, the raft thread, until a job names them.
        return "storage and snapshot workers"
    return name


def account(processes, seconds, load):
    """Cores each (process, thread role) used over `seconds` of `load`
    (a Popen of ha-loadgen, which is accounted as one process)."""
    procs = dict(processes, **{"load generator": load.pid})
    before = {k: thread_cpu(pid) for k, pid in procs.items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    after = {k: thread_cpu(pid) for k, pid in procs.items()}
    took = time.monotonic() - t0
    used = {}
    for k, pid in procs.items():
        # The raft thread starts before the pool that it hands jobs to.
        raft_tids = sorted((int(tid) for tid, (name, _) in after[k].items()
                            if name == "ha-raft"))
        raft_tid = str(raft_tids[0]) if raft_tids else None
        for tid, (name, cpu) in after[k].items():
            d = cpu - before[k].get(tid, (name, 0.0))[1]
            role = ("threads" if k == "load generator"
                    else thread_role(pid, tid, name, raft_tid))
            used[(k, role)] = used.get((k, role), 0.0) + d / took
    return used


# Paced below what the leader takes (about 40% of it), so that both
# targets deliver the same messages and their CPU per message compares.
CPU_RATE = {64: 3000, 4096: 1500}  # per publisher, messages/s


def cpu_case(target_pid_by_name, host, port, payload, seconds):
    load = subprocess.Popen(
        [LOADGEN, "--host", host, "--port", str(port), "--username", h.USER,
         "--password", h.USER_PW, "--qos", "1", "--retain",
         "--publishers", "4", "--subscribers", "2", "--payload",
         str(payload), "--rate", str(CPU_RATE[payload]),
         "--count", "10000000", "--seconds",
         str(seconds + 3), "--topic-prefix",
         "cpu/%d/%d" % (os.getpid(), payload)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    used = account(target_pid_by_name, seconds, load)
    out, err = load.communicate(timeout=seconds + 60)
    result = json.loads(out.strip().splitlines()[-1])
    if not result["complete"] and result.get("failed_clients"):
        raise RuntimeError("load lost its clients: %s" % err[-500:])
    return used, result["delivered_msgs_per_s"]


def cpu_accounting(workdir, seconds):
    """Lines of a table: for 64 B and 4 KB retained QoS 1 paced at the same
    rate on both, the cores each process and thread used and the CPU it
    spent per delivered message, through the leader and on the broker
    alone."""
    import throughput as t  # noqa: E402
    lines = ["| payload | target | process | thread | cores | CPU per "
             "delivered message (us) |", "|---|---|---|---|---|---|"]
    summary = {}
    alone_cluster, alone, cluster, leader = t.start_targets("2.0", workdir)
    try:
        for payload in (64, 4096):
            for target in ("broker alone", "leader"):
                if target == "broker alone":
                    procs = {"broker alone": alone.proc.pid}
                    host, port = alone.host, alone.mqtt_port
                else:
                    leader = t.current_leader(cluster)[0]
                    procs = {}
                    for n in cluster.nodes.values():
                        procs["leader" if n is leader else
                              "follower %d" % n.nodeid] = n.proc.pid
                    host, port = leader.host, leader.mqtt_port
                used, rate = cpu_case(procs, host, port, payload, seconds)
                per = (lambda cores: cores / rate * 1e6 if rate else 0.0)
                side = summary.setdefault(str(payload), {})
                who = "alone" if target == "broker alone" else "leader"
                side[who + "_broker_us"] = per(sum(
                    c for (proc, role), c in used.items()
                    if role == "broker thread" and
                    proc in ("leader", "broker alone")))
                side["alone_us" if who == "alone" else "cluster_us"] = per(
                    sum(used.values()))
                side[who + "_delivered_per_s"] = rate
                total = 0.0
                for (proc, role), cores in sorted(used.items()):
                    total += cores
                    if cores < 0.005:
                        continue
                    lines.append("| %d B | %s | %s | %s | %.2f | %.1f |" % (
                        payload, target, proc, role, cores,
                        cores / rate * 1e6 if rate else 0))
                lines.append("| %d B | %s | **all** | | **%.2f** | **%.1f** "
                             "(%.0f delivered msg/s) |" % (
                                 payload, target, total,
                                 total / rate * 1e6 if rate else 0, rate))
    finally:
        alone_cluster.teardown()
        cluster.teardown()
    return lines, summary


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--payload", type=int, default=64)
    args = p.parse_args()
    common.use_bench_config()
    if not os.access(PERF, os.X_OK):
        raise RuntimeError("%s missing: install linux-perf" % PERF)
    with tempfile.TemporaryDirectory(prefix="ha-bench-profile-") as workdir:
        cluster = h.Cluster(workdir, "2.0")
        try:
            leader = cluster.form()
            load = subprocess.Popen(
                [LOADGEN, "--host", leader.host, "--port",
                 str(leader.mqtt_port), "--username", h.USER, "--password",
                 h.USER_PW, "--qos", "1", "--retain", "--publishers", "4",
                 "--subscribers", "2", "--payload", str(args.payload),
                 "--count", "1000000", "--seconds", str(args.seconds + 4),
                 "--topic-prefix", "profile/%d" % os.getpid()],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(1.0)
            data = os.path.join(workdir, "perf.data")
            subprocess.run([PERF, "record", "-q", "-F", "1999", "-g", "-o",
                            data, "-p", str(leader.proc.pid), "--", "sleep",
                            str(args.seconds)], check=True,
                           capture_output=True, timeout=args.seconds + 60)
            out, _ = load.communicate(timeout=args.seconds + 60)
            by_thread = report(data, "pid", 20)
            by_dso = report(data, "pid,dso", 25)
            by_symbol = report(data, "pid,dso,symbol", 40)
        finally:
            cluster.teardown()
    with tempfile.TemporaryDirectory(prefix="ha-bench-cpu-") as workdir:
        cpu_lines, cpu = cpu_accounting(workdir, args.seconds)
    common.write_results("profile", {"machine": common.machine(),
                                     "quick": False, "cpu": cpu,
                                     "rate_per_publisher": CPU_RATE})
    path = os.path.join(common.OUT, "profile-retained.txt")
    os.makedirs(common.OUT, exist_ok=True)
    with open(path, "w") as f:
        f.write("perf record -F 1999 -g of the leader's broker (mosquitto "
                "2.0.11) for %.0f s under retained QoS 1 publishes of %d "
                "bytes at saturation (4 publishers, 2 subscribers); %s\n\n"
                % (args.seconds, args.payload, common.machine()))
        f.write("Samples by thread:\n" + "\n".join(by_thread) + "\n\n")
        f.write("Samples by thread and library:\n" + "\n".join(by_dso) +
                "\n\n")
        f.write("Samples by thread, library and function (self time; threads by id: the broker thread has the process id):\n" +
                "\n".join(by_symbol) + "\n\nLoad: " + out.strip() + "\n")
        f.write("\nCPU by process and thread (from /proc, no profiler "
                "attached), retained QoS 1 from 4 publishers paced at %d "
                "(64 B) and %d (4 KB) messages/s each, 2 subscribers, %.0f s "
                "each, the whole cluster on this machine:\n\n" % (
                    CPU_RATE[64], CPU_RATE[4096], args.seconds) +
                "\n".join(cpu_lines) + "\n")
    print("bench-profile: %s" % path)
    print("\n".join(by_thread))


if __name__ == "__main__":
    main()
