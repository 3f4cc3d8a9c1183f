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
    print("bench-profile: %s" % path)
    print("\n".join(by_thread))


if __name__ == "__main__":
    main()
