#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Raft commit rate and latency on 3 nodes on loopback, 1 KB entries: this
project's node against canonical/raft 0.15 with its libuv backend, the same
workload (bench/raft/driver.c) in the same run, alternating (ABAB).

Fair settings on both sides: plaintext links, election timeout 1000 ms and
heartbeat 100 ms, a snapshot every 10000 entries keeping 1024 (spread by
node id as our node does: node n every 10000 + 2500 * (n % 4)), 8 MB log
segments (both defaults), the same data folder kind: fsync on = a folder
on the disk, fsync off = a tmpfs folder (/dev/shm) for both. Each library batches appends its own way (both
coalesce the writes that queue while one is in flight). canonical/raft's
TCP transport leaves Nagle's algorithm on; the harness turns it off on its
sockets, as ours does (one run per fsync mode also shows it as shipped).

Numbers, not verdicts: it never fails on a figure.

    make bench-raft                     # BENCH_QUICK=1: toy size
    /usr/bin/python3 bench/raft/commit.py --quick
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import common  # noqa: E402

IMPLS = {
    "ours": os.path.join(common.BUILD, "bench", "raft-bench-ours"),
    "canonical": os.path.join(common.BUILD, "bench", "raft-bench-canonical"),
}


def one_run(impl, base, proposers, count, seconds, env_extra=None):
    workdir = tempfile.mkdtemp(prefix="raft-bench-", dir=base)
    env = dict(os.environ)
    env.update(env_extra or {})
    try:
        r = subprocess.run([IMPLS[impl], "--dir", workdir, "--proposers",
                            str(proposers), "--count", str(count),
                            "--warmup", str(max(100, count // 10)),
                            "--seconds", str(seconds)],
                           capture_output=True, text=True, env=env,
                           timeout=seconds + 30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [x for x in r.stdout.splitlines() if x.startswith("{")]
    if not lines:
        raise RuntimeError("%s failed (%d): %s" % (impl, r.returncode,
                                                   r.stderr[-2000:]))
    return json.loads(lines[-1])


def summary(runs):
    out = {}
    for k in ("entries_per_s", "mb_per_s", "latency_p50_us",
              "latency_p99_us", "latency_max_us"):
        out[k] = common.median([r[k] for r in runs])
    out["complete"] = all(not r["timed_out"] and r["failures"] == 0
                          for r in runs)
    out["runs"] = runs
    return out


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--count", type=int, default=30000,
                   help="measured entries with 64 proposers")
    p.add_argument("--count-single", type=int, default=3000,
                   help="measured entries with 1 proposer")
    p.add_argument("--seconds", type=float, default=25.0)
    p.add_argument("--disk-dir", default=os.path.join(common.BUILD, "bench"),
                   help="a folder on the disk (fsync on)")
    a = p.parse_args()
    if a.quick:
        a.repeat, a.count, a.count_single, a.seconds = 1, 2000, 200, 15.0
    return a


def main():
    args = parse_args()
    for path in IMPLS.values():
        if not os.access(path, os.X_OK):
            raise RuntimeError("%s missing: run `make`" % path)
    os.makedirs(args.disk_dir, exist_ok=True)
    t0 = time.monotonic()
    results = {"machine": common.machine(), "quick": args.quick,
               "repeat": args.repeat, "cases": []}
    for fsync, base in (("on", args.disk_dir), ("off", "/dev/shm")):
        for proposers in (1, 64):
            count = args.count if proposers > 1 else args.count_single
            runs = {"ours": [], "canonical": []}
            for _ in range(args.repeat):
                for impl in ("ours", "canonical"):
                    runs[impl].append(one_run(impl, base, proposers, count,
                                              args.seconds))
            ours, canon = summary(runs["ours"]), summary(runs["canonical"])
            nagle = one_run("canonical", base, proposers, count,
                            args.seconds, {"BENCH_CANONICAL_NAGLE": "1"})
            case = {"fsync": fsync, "proposers": proposers, "entry_bytes":
                    1024, "ours": ours, "canonical": canon,
                    "canonical_as_shipped": nagle,
                    "ratio_rate": (ours["entries_per_s"] /
                                   canon["entries_per_s"]
                                   if canon["entries_per_s"] else None),
                    "ratio_p50": (ours["latency_p50_us"] /
                                  canon["latency_p50_us"]
                                  if canon["latency_p50_us"] else None)}
            results["cases"].append(case)
            print("  fsync %-3s %2d proposers: ours %8.0f entries/s p50 %6d us "
                  "p99 %6d us | canonical %8.0f entries/s p50 %6d us p99 "
                  "%6d us (as shipped, Nagle on: %.0f/s) | ratio %.2f%s" % (
                      fsync, proposers, ours["entries_per_s"],
                      ours["latency_p50_us"], ours["latency_p99_us"],
                      canon["entries_per_s"], canon["latency_p50_us"],
                      canon["latency_p99_us"], nagle["entries_per_s"],
                      case["ratio_rate"] or 0,
                      "" if ours["complete"] and canon["complete"]
                      else "  (a run hit its time bound)"), flush=True)
    results["seconds"] = time.monotonic() - t0
    print("bench-raft: %.0f s; results in %s" % (
        results["seconds"], common.write_results("raft", results)))


if __name__ == "__main__":
    main()
