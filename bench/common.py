# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""What the benchmark scripts share: the cluster harness of the tests
(tests/cluster/harness.py) with the broker configured as a benchmark needs
it, percentiles, process CPU time and the JSON results."""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "cluster"))
import harness as h  # noqa: E402

BUILD = os.path.abspath(os.path.join(REPO, os.environ.get("BUILD", "build")))
OUT = os.path.join(BUILD, "bench")

# The tests log everything (log_type all); a broker that logs every packet
# runs at about half speed, so both sides of every comparison log only
# notices and above. Queues are unbounded on both sides, so that no
# message is dropped because a subscriber fell behind for a moment.
_BENCH_LOG_TYPES = ["log_type error", "log_type warning", "log_type notice",
                    "log_type information"]
_original_write_config = h.Node.write_config


def _bench_write_config(node):
    # The plugin's own timings (what a user runs), not the tests' shorter
    # ones, unless a benchmark chose others (the failover profiles).
    if (node.plugin_opts.get("election_timeout") ==
            str(h.ELECTION_TIMEOUT_MS) and
            node.plugin_opts.get("heartbeat_interval") == str(h.HEARTBEAT_MS)):
        del node.plugin_opts["election_timeout"]
        del node.plugin_opts["heartbeat_interval"]
    _original_write_config(node)
    with open(node.conf) as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        if line == "log_type all":
            out += _BENCH_LOG_TYPES
        else:
            out.append(line)
    out += ["max_queued_messages 0", "max_inflight_messages 0"]
    with open(node.conf, "w") as f:
        f.write("\n".join(out) + "\n")


def use_bench_config():
    """Every broker the harness starts from now on gets the benchmark's
    logging and queue settings (the same with and without the plugin) and,
    unless a benchmark sets its own, the plugin's default timings."""
    h.Node.write_config = _bench_write_config
    if os.environ.get("HA_PLUGIN") is None:
        h.PLUGIN = os.path.join(BUILD, "mosquitto_ha.so")
    h.check_plugin()
    if h.sanitized():
        raise RuntimeError("%s is the sanitizer build: benchmark the "
                           "optimized plugin" % h.PLUGIN)


def percentile(values, p):
    """The p-th percentile (nearest rank) of values; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def median(values):
    return percentile(values, 50)


def cpu_seconds(pid):
    """User plus system CPU time of a process so far (from /proc)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def write_results(name, data):
    """Writes build/bench/<name>.json; its path."""
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".json")
    data = dict(data)
    data["written"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    return path


def machine():
    """A line that says what machine the numbers come from."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, Linux %s" % (model, os.cpu_count(),
                                        os.uname().release)
