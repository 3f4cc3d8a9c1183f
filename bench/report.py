#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Gathers what the benchmarks of this run wrote (build/bench/mqtt.json,
raft.json, failover.json, lag.json, memory.json, catchup.json), and
writes:

- bench/results/<date>.json: all of it, with the machine;
- bench/results/<date>.md: the tables (every figure a ratio against the
  baseline of the same run, beside the absolute ones);
- charts with gnuplot: build/bench/*.png, copied to bench/results/ as the
  latest (mqtt-ratios.png, raft-commit.png, failover.png, lag.png,
  memory.png);
- the tables again in docs/benchmarks.md, between its markers.

Results of toy size (BENCH_QUICK) go to build/bench/report.md only.

    make bench-report
"""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

RESULTS = os.path.join(common.REPO, "bench", "results")
DOC = os.path.join(common.REPO, "docs", "benchmarks.md")
BEGIN, END = "<!-- bench-results:begin -->", "<!-- bench-results:end -->"
GNUPLOT = "/usr/bin/gnuplot"
GOALS = {"pass-through": 0.95, "replicated": 0.85}


def load(name):
    path = os.path.join(common.OUT, name + ".json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(v, spec="%.0f"):
    return "n/a" if v is None else spec % v


def mqtt_table(m):
    out = ["### MQTT through the leader against the broker alone",
           "",
           "%d publishers, %d subscribers (every subscriber receives every "
           "message), median of %d alternating runs each. msg/s are messages "
           "delivered to subscribers; replicated MB/s is the payload "
           "published into the leader. Saturated rows: as fast as the broker "
           "takes them (their latency is queueing); paced rows: 1000 msg/s "
           "per publisher (their latency is the path's). Elections: leadership "
           "changes during the case, without any fault (the goal is none). "
           "CPU: the busiest broker process and the load generator, in cores "
           "(of 2), over the run: a broker near 1 core is saturated (its "
           "broker thread is single), so the generator is not what limits "
           "it." % (
               m["publishers"], m["subscribers"], m["repeat"]),
           "",
           "| broker | traffic | payload | load | cluster | alone msg/s | "
           "leader msg/s | ratio | goal | leader publish MB/s | p50 alone/leader "
           "(ms) | p99 alone/leader (ms) | elections | broker CPU alone/leader "
           "(cores) | generator CPU alone/leader (cores) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for version, cases in sorted(m["cases"].items()):
        for c in cases:
            b, l = c["baseline"], c["leader"]
            goal = GOALS[c["cluster_does"]]
            ratio = c["ratio_msgs"]
            verdict = "" if ratio is None else (
                " (met)" if ratio >= goal else " (**not met**)")
            out.append("| %s | %s | %d B | %s | %s | %s | %s | %s | %.2f%s | "
                       "%s | %s / %s | %s / %s | %s | %s / %s | %s / %s |" % (
                           version, c["kind"], c["payload"],
                           "paced" if c["paced"] else "saturated",
                           c["cluster_does"],
                           fmt(b["delivered_msgs_per_s"]),
                           fmt(l["delivered_msgs_per_s"]),
                           fmt(ratio, "%.2f"), goal, verdict,
                           fmt(l["publish_mb_per_s"], "%.1f"),
                           fmt(_ms(b["latency_p50_us"]), "%.2f"),
                           fmt(_ms(l["latency_p50_us"]), "%.2f"),
                           fmt(_ms(b["latency_p99_us"]), "%.2f"),
                           fmt(_ms(l["latency_p99_us"]), "%.2f"),
                           c.get("elections", "n/a"),
                           fmt(cores(b["runs"], "broker"), "%.2f"),
                           fmt(cores(l["runs"], "broker"), "%.2f"),
                           fmt(cores(b["runs"], "generator"), "%.2f"),
                           fmt(cores(l["runs"], "generator"), "%.2f")))
    out += ["", "Load generator ceiling (ha-loadgen against its built-in "
            "minimal broker, same clients and sizes):", "",
            "| traffic | payload | delivered msg/s | delivered MB/s | "
            "publish msg/s |", "|---|---|---|---|---|"]
    for r in m["ceilings"]:
        out.append("| %s | %d B | %s | %s | %s |" % (
            r["kind"], r["payload"], fmt(r["delivered_msgs_per_s"]),
            fmt(r["delivered_mb_per_s"], "%.1f"),
            fmt(r["publish_msgs_per_s"])))
    best = max((c["leader"]["publish_mb_per_s"] or 0
                for cases in m["cases"].values() for c in cases
                if c["cluster_does"] == "replicated" and not c["paced"]),
               default=0)
    out += ["", "Replicated payload throughput, best case: **%.1f MB/s** "
            "(goal 60 MB/s: %s). Where the leader's time goes under that "
            "load: [profile-retained.txt](../bench/results/"
            "profile-retained.txt) (`make bench-profile`)." % (
                best, "met" if best >= 60 else "not met")]
    return out


def cores(runs, what):
    """Median CPU use during runs, in cores: of the busiest broker process
    (what="broker") or of the load generator ("generator")."""
    vals = []
    for r in runs:
        d = max(r["publish_seconds"], r["receive_seconds"])
        if d <= 0:
            continue
        cpu = (max(r["broker_cpu_seconds"].values()) if what == "broker"
               else r["cpu_seconds"])
        vals.append(cpu / d)
    return common.median(vals)


def _ms(us):
    return None if us is None else us / 1000.0


def raft_table(r):
    out = ["### Raft commits: our node against canonical/raft 0.15", "",
           "3 nodes on loopback, 1 KB entries, median of %d alternating "
           "runs. Rate and latency from proposal to commit on the leader." %
           r["repeat"], "",
           "| fsync | proposers | ours entries/s | canonical entries/s | "
           "ratio (goal 2) | ours p50/p99 (ms) | canonical p50/p99 (ms) | "
           "canonical as shipped (Nagle on) entries/s |",
           "|---|---|---|---|---|---|---|---|"]
    for c in r["cases"]:
        o, k = c["ours"], c["canonical"]
        out.append("| %s | %d | %s | %s | %s | %s / %s | %s / %s | %s |" % (
            c["fsync"], c["proposers"], fmt(o["entries_per_s"]),
            fmt(k["entries_per_s"]), fmt(c["ratio_rate"], "%.2f"),
            fmt(_ms(o["latency_p50_us"]), "%.2f"),
            fmt(_ms(o["latency_p99_us"]), "%.2f"),
            fmt(_ms(k["latency_p50_us"]), "%.2f"),
            fmt(_ms(k["latency_p99_us"]), "%.2f"),
            fmt(c["canonical_as_shipped"]["entries_per_s"])))
    return out


def failover_table(f):
    out = ["### Failover (mosquitto %s, %.0f retained QoS 1 msg/s of load)" %
           (f["version"], f["rate"]), "",
           "| profile | event | n | failed | p50 (ms) | p99 (ms) | max (ms) |",
           "|---|---|---|---|---|---|---|"]
    for name, p in f["profiles"].items():
        for k, v in p.items():
            if isinstance(v, dict) and "p50_ms" in v:
                out.append("| %s | %s | %d | %d | %s | %s | %s |" % (
                    name, k, v["n"], v["failed"], fmt(v["p50_ms"], "%.1f"),
                    fmt(v["p99_ms"], "%.1f"), fmt(v["max_ms"], "%.1f")))
    out += ["", "Longest time two nodes accepted clients at once (probes "
            "every 3 ms on every node; zero or negative is the goal, "
            "negative being the closest two nodes' windows came):", ""]
    for name, p in f["profiles"].items():
        out.append("- %s: %s ms over %d probes" % (
            name, p["max_two_accepting_ms"], p["probe_attempts"]))
    for name, p in f["profiles"].items():
        st = p.get("steady_load")
        if st:
            out += ["", "Saturating retained load without any fault for "
                    "%.0f s (%s timings): %d elections (goal: none); %d of "
                    "%d load runs lost their connections." % (
                        st["seconds"], name, st["elections"],
                        st["interrupted_runs"], st["load_runs"])]
    return out


def memory_table(m):
    out = ["### Memory against the replicated state (mosquitto %s)" %
           m["version"], "",
           "Retained messages of %d bytes on distinct topics, the same on the "
           "broker alone and through the leader; resident memory (VmRSS) "
           "once every node applied them." % m["payload"], "",
           "| retained | state (MB) | alone (MB) | leader (MB) | followers "
           "(MB) | leader / alone |", "|---|---|---|---|---|---|"]
    for r in m["rows"]:
        out.append("| %d | %.1f | %.1f | %.1f | %s | %.2f |" % (
            r["retained"], r["state_mb"], r["alone_mb"], r["leader_mb"],
            " / ".join("%.1f" % x for x in r["followers_mb"]),
            r["leader_mb"] / r["alone_mb"]))
    sm = m.get("summary") or {}
    if sm:
        out += ["", "Memory grown per MB of retained state: broker alone "
                "%.2f MB, leader %.2f MB, follower %.2f MB (%.1f× the broker "
                "alone)." % (sm["alone_per_state"], sm["leader_per_state"],
                             sm["follower_per_state"],
                             sm["leader_per_state"] / sm["alone_per_state"])]
    return out


def lag_table(g):
    out = ["### Replication lag (mosquitto %s, default timings)" %
           g["version"], "",
           "From a retained change captured on the leader to its commit "
           "(majority-durable: the window in which an acknowledged change "
           "can be lost with the leader) and to its application on both "
           "followers' brokers, in ms, measured through the control API "
           "(its round trip is the resolution).", "",
           "| changes/s | achieved | samples | commit p50 / p99 / max | "
           "applied on followers p50 / p99 / max | control round trip p50 / "
           "p99 |", "|---|---|---|---|---|---|"]
    for r in g["rates"]:
        c, a, t = (r["commit_ms"], r["applied_ms"],
                   r["control_round_trip_ms"])
        out.append("| %d | %s | %d | %s / %s / %s | %s / %s / %s | %s / %s |"
                   % (r["rate"], fmt(r["achieved_rate"]), r["samples"],
                      c["p50"], c["p99"], c["max"], a["p50"], a["p99"],
                      a["max"], t["p50"], t["p99"]))
    return out


def lag_chart(g):
    data = os.path.join(common.OUT, "lag.dat")
    with open(data, "w") as f:
        f.write("# rate commit_p50 commit_p99 applied_p50 applied_p99\n")
        for r in g["rates"]:
            f.write("%d %s %s %s %s\n" % (
                r["rate"], r["commit_ms"]["p50"] or 0,
                r["commit_ms"]["p99"] or 0, r["applied_ms"]["p50"] or 0,
                r["applied_ms"]["p99"] or 0))
    return gnuplot(
        "set title 'Replication lag against load'\n"
        "set xlabel 'retained changes/s'\nset ylabel 'ms'\nset logscale x\n"
        "set grid\nset key top left\n"
        "plot '%s' using 1:2 with linespoints lw 2 title 'commit p50', "
        "'' using 1:3 with linespoints lw 2 title 'commit p99', "
        "'' using 1:4 with linespoints lw 2 title 'applied p50', "
        "'' using 1:5 with linespoints lw 2 title 'applied p99'\n" % data,
        "lag")


def catchup_table(k):
    return ["### Catch-up of a joining node (mosquitto %s)" % k["version"], "",
            "A fourth node joins a cluster holding %d retained messages "
            "(%.1f MB of topics and payloads; %.1f MB in the leader's data "
            "folder): it holds them all %.2f s after addNode and is a voter "
            "after %.2f s (%d snapshot installed). Copying the same bytes "
            "over a loopback TCP connection takes %.3f s: catch-up is %.0f× "
            "that." % (k["messages"], k["state_bytes"] / 1e6,
                       k["leader_data_bytes"] / 1e6,
                       k["all_retained_seconds"], k["voter_seconds"],
                       k["snapshots_installed"], k["loopback_copy_seconds"],
                       k["ratio_to_copy"] or 0)]


def memory_chart(m):
    data = os.path.join(common.OUT, "memory.dat")
    with open(data, "w") as f:
        f.write("# state_mb alone leader follower\n")
        for r in m["rows"]:
            f.write("%.2f %.1f %.1f %.1f\n" % (r["state_mb"], r["alone_mb"],
                                               r["leader_mb"],
                                               max(r["followers_mb"])))
    return gnuplot(
        "set title 'Resident memory against the retained state'\n"
        "set xlabel 'retained state (MB of topics and payloads)'\n"
        "set ylabel 'VmRSS (MB)'\nset grid\nset key top left\n"
        "plot '%s' using 1:2 with linespoints lw 2 title 'broker alone', "
        "'' using 1:3 with linespoints lw 2 title 'leader', '' using 1:4 "
        "with linespoints lw 2 title 'follower (larger)'\n" % data, "memory")


def gnuplot(script, name):
    png = os.path.join(common.OUT, name + ".png")
    r = subprocess.run([GNUPLOT], input="set terminal pngcairo size 1000,560 "
                       "font ',10' noenhanced\nset output '%s'\n%s" % (png, script),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("gnuplot failed for %s: %s" % (name, r.stderr))
    return png


def mqtt_chart(m):
    data = os.path.join(common.OUT, "mqtt-ratios.dat")
    with open(data, "w") as f:
        versions = sorted(m["cases"])
        f.write("# case %s\n" % " ".join(versions))
        rows = {}
        for v in versions:
            for c in m["cases"][v]:
                key = "%s/%dB%s/%s" % (c["kind"], c["payload"],
                                       "/paced" if c["paced"] else "",
                                       c["cluster_does"][:4])
                rows.setdefault(key, {})[v] = c["ratio_msgs"] or 0
        for key, vals in rows.items():
            f.write("%s %s\n" % (key, " ".join("%.3f" % vals.get(v, 0)
                                               for v in versions)))
    cols = " , ".join("'%s' using %d:xtic(1) title 'mosquitto %s'" % (
        data, i + 2, v) for i, v in enumerate(versions))
    return gnuplot(
        "set title 'MQTT through the leader / broker alone (msg/s ratio)'\n"
        "set style data histograms\nset style fill solid border -1\n"
        "set xtics rotate by -35\nset yrange [0:1.4]\nset grid ytics\n"
        "set key top left\nset bmargin 9\nset rmargin 12\n"
        "plot %s, 0.95 with lines lw 2 title 'goal pass-through 0.95', "
        "0.85 with lines lw 2 title 'goal replicated 0.85'\n" % cols,
        "mqtt-ratios")


def raft_chart(r):
    data = os.path.join(common.OUT, "raft-commit.dat")
    with open(data, "w") as f:
        f.write("# case ours canonical\n")
        for c in r["cases"]:
            f.write("fsync-%s/%dp %.1f %.1f\n" % (
                c["fsync"], c["proposers"], c["ours"]["entries_per_s"] or 0,
                c["canonical"]["entries_per_s"] or 0))
    return gnuplot(
        "set title 'Raft commits per second, 3 nodes, 1 KB entries'\n"
        "set style data histograms\nset style fill solid border -1\n"
        "set grid ytics\nset ylabel 'entries/s'\n"
        "plot '%s' using 2:xtic(1) title 'ours', '' using 3 title "
        "'canonical/raft 0.15'\n" % data, "raft-commit")


def failover_chart(f):
    plots = []
    for name, p in f["profiles"].items():
        for k in ("kill9_direct", "kill9_haproxy_recommended"):
            if k not in p:
                continue
            vals = sorted(v for v in p[k]["values_ms"] if v is not None)
            if not vals:
                continue
            data = os.path.join(common.OUT, "failover-%s-%s.dat" % (name, k))
            with open(data, "w") as out:
                out.write("%.3f 0\n" % vals[0])
                for i, v in enumerate(vals):
                    out.write("%.3f %.4f\n" % (v, (i + 1) / len(vals)))
            plots.append("'%s' using 1:2 with steps lw 2 title '%s %s'" % (
                data, name, k.replace("kill9_", "")))
    return gnuplot(
        "set title 'kill -9 of the leader: time until a new leader accepts "
        "clients (CDF)'\nset xlabel 'ms'\nset ylabel 'fraction of cycles'\n"
        "set grid\nset yrange [0:1]\nset key bottom right\nplot %s\n" % ", ".join(plots),
        "failover")


README = os.path.join(common.REPO, "README.md")
README_BEGIN = "<!-- bench-summary:begin -->"
README_END = "<!-- bench-summary:end -->"


def _range(vals, spec="%.2f"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    lo, hi = min(vals), max(vals)
    return spec % lo if spec % lo == spec % hi else "%s to %s" % (
        spec % lo, spec % hi)


def _mqtt_rows(m):
    rows = []
    cases = [(v, c) for v, cs in m["cases"].items() for c in cs]
    paced = [c["ratio_msgs"] for _, c in cases
             if c["cluster_does"] == "pass-through" and c["paced"]]
    sat = [c["ratio_msgs"] for _, c in cases
           if c["cluster_does"] == "pass-through" and not c["paced"]]
    rows.append("| MQTT not replicated (QoS 0, QoS 1, persistent sessions) "
                "through the leader, against the same broker without the "
                "plugin | paced %s; saturated %s | 0.95 | traffic the "
                "cluster only passes through costs nothing measurable where "
                "the machine is not saturated; saturated ratios scatter with "
                "the machine's noise |" % (_range(paced), _range(sat)))
    for version in sorted(m["cases"]):
        rep = ["%s %s" % (_payload(c["payload"]),
                          fmt(c["ratio_msgs"], "%.2f"))
               for c in m["cases"][version]
               if c["cluster_does"] == "replicated" and not c["paced"]]
        rows.append("| retained QoS 1 (replicated) through a %s leader, "
                    "saturated, the 3 nodes and the load generator on this "
                    "machine's 2 cores | %s | 0.85 | the whole cluster's CPU "
                    "per message is what limits it here: see the leader's "
                    "broker thread below |" % (version, ", ".join(rep)))
    best = max((c["leader"].get("publish_mb_per_s") or 0
                for _, c in cases if c["cluster_does"] == "replicated"),
               default=None)
    rows.append("| replicated payload into the leader, best case | %s MB/s "
                "| 60 MB/s | retained 4 KB messages taken, stored on a "
                "majority's disks and applied on every broker |" %
                fmt(best, "%.1f"))
    return rows


def _payload(n):
    return "%d KB" % (n // 1024) if n >= 1024 else "%d B" % n


def _profile_rows(pr):
    out = []
    for payload in sorted(pr["cpu"], key=int):
        c = pr["cpu"][payload]
        out.append("%s %.2f" % (_payload(int(payload)),
                                c["leader_broker_us"] / c["alone_broker_us"]
                                if c["alone_broker_us"] else 0))
    whole = ["%s %.2f" % (_payload(int(p)), pr["cpu"][p]["cluster_us"] /
                          pr["cpu"][p]["alone_us"])
             for p in sorted(pr["cpu"], key=int) if pr["cpu"][p]["alone_us"]]
    return ["| CPU of the leader's broker thread per delivered retained "
            "message, against the broker alone, at the same paced load | %s "
            "| | mosquitto serves clients from one thread: on machines of "
            "their own, where the raft and storage threads have cores of "
            "their own, the leader's capacity is this thread's |" %
            ", ".join(out),
            "| CPU of the whole cluster per delivered retained message, "
            "against the broker alone, same load | %s | | what three "
            "replicas cost in all: the raft and storage threads of each "
            "node |" % ", ".join(whole)]


def _raft_rows(r):
    cells = ["fsync %s, %d %s %s" % (c["fsync"], c["proposers"],
                                    "proposer" if c["proposers"] == 1
                                    else "proposers",
                                    fmt(c["ratio_rate"], "%.2f") + "×")
             for c in r["cases"]]
    return ["| Raft commits, 1 KB entries on 3 nodes, against canonical/raft "
            "0.15 | %s | 2× | entries a cluster commits per second |" %
            "; ".join(cells)]


def _failover_rows(f):
    rows = []
    for name, p in f["profiles"].items():
        k = p.get("kill9_direct")
        hp = p.get("kill9_haproxy_recommended")
        if k:
            rows.append("| kill -9 of the leader under load, %s timings: "
                        "until a new leader accepts clients | p50 %s ms, p99 "
                        "%s ms, max %s ms (%d cycles); through HAProxy with "
                        "our checks p50 %s ms | within a second | how long "
                        "clients wait to reconnect |" % (
                            name, fmt(k["p50_ms"]), fmt(k["p99_ms"]),
                            fmt(k["max_ms"]), k["n"],
                            fmt(hp["p50_ms"]) if hp else "n/a"))
    d = f["profiles"].get("default", {})
    if "set_leader" in d and "sigterm" in d:
        rows.append("| planned handover: `setLeader`, SIGTERM of the leader "
                    "| p50 %s ms, %s ms | | a restart for maintenance costs "
                    "clients this much |" % (fmt(d["set_leader"]["p50_ms"]),
                                            fmt(d["sigterm"]["p50_ms"])))
    worst = max((p.get("max_two_accepting_ms") for p in
                 f["profiles"].values()
                 if p.get("max_two_accepting_ms") is not None),
                default=None)
    probes = sum(p.get("probe_attempts", 0) for p in f["profiles"].values())
    rows.append("| longest time two nodes accepted clients at once | %s ms "
                "over %d probes | zero or less | never two leaders serving "
                "|" % (fmt(worst, "%.2f"), probes))
    steady = d.get("steady_load")
    if steady:
        rows.append("| elections during %.0f s of saturating load, no fault "
                    "| %d (%d of %d load runs lost their clients) | 0 | "
                    "leadership stays put under load |" % (
                        steady["seconds"], steady["elections"],
                        steady.get("interrupted_runs", 0),
                        steady.get("load_runs", 0)))
    return rows


def _lag_rows(g):
    cells = ["%d/s: p99 %s ms, max %s ms" % (
        x["rate"], fmt(x["commit_ms"]["p99"], "%.1f"),
        fmt(x["commit_ms"]["max"], "%.1f")) for x in g["rates"]]
    worst = max((x["commit_ms"]["max"] for x in g["rates"]
                 if x["commit_ms"].get("max") is not None), default=None)
    return ["| replication lag, capture to commit on a majority | %s | | "
            "a leader failure can lose the retained changes acknowledged "
            "in the last %s ms before it, at most, at these rates |" % (
                "; ".join(cells), fmt(worst, "%.0f"))]


def _catchup_rows(k):
    return ["| a node joins a cluster holding %d retained messages (%.0f "
            "MB) | a voter holding them all after %.1f s, %.0f× a plain "
            "loopback copy of the bytes | | how long a replaced node takes "
            "to be a full replica |" % (
                k["messages"], k["state_bytes"] / 1e6, k["voter_seconds"],
                k["ratio_to_copy"] or 0)]


def _memory_rows(m):
    s = m["summary"]
    return ["| resident memory per MB of retained state | leader %.1f MB, "
            "follower %.1f MB, the broker alone %.1f MB | | size the "
            "machines for this |" % (s["leader_per_state"],
                                     s["follower_per_state"],
                                     s["alone_per_state"])]


def readme_summary(parts, stamp):
    rows = ["| measured | result | goal | what it means for a user |",
            "|---|---|---|---|"]
    for name, fn in (("mqtt", _mqtt_rows), ("profile", _profile_rows),
                     ("raft", _raft_rows), ("failover", _failover_rows),
                     ("lag", _lag_rows), ("catchup", _catchup_rows),
                     ("memory", _memory_rows)):
        if parts.get(name) is not None:
            rows += fn(parts[name])
    charts = [c for c in ("mqtt-ratios", "raft-commit", "failover", "lag",
                          "memory")
              if os.path.isfile(os.path.join(RESULTS, c + ".png"))]
    return (["The latest `make bench` (%s, %s; docs/benchmarks.md has every "
             "table, the method, and where the time goes):" % (
                 common.machine(), stamp), ""] + rows + [""] +
            ["![%s](bench/results/%s.png)" % (c, c) for c in charts])


def update_readme(lines):
    with open(README) as f:
        text = f.read()
    if README_BEGIN not in text or README_END not in text:
        raise RuntimeError("%s lacks the markers %s ... %s" % (
            README, README_BEGIN, README_END))
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    with open(README, "w") as f:
        f.write(head + README_BEGIN + "\n" + "\n".join(lines) + "\n" +
                README_END + tail)


def update_doc(lines):
    with open(DOC) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise RuntimeError("%s lacks the markers %s ... %s" % (DOC, BEGIN,
                                                               END))
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(DOC, "w") as f:
        f.write(head + BEGIN + "\n" + "\n".join(lines) + "\n" + END + tail)


def main():
    parts = {"mqtt": load("mqtt"), "raft": load("raft"),
             "failover": load("failover"), "memory": load("memory"),
             "lag": load("lag"), "catchup": load("catchup"),
             "profile": load("profile")}
    if not any(parts.values()):
        raise RuntimeError("no results in %s: run make bench" % common.OUT)
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    lines = ["Measured on %s (%s)." % (common.machine(), stamp), ""]
    charts = []
    for name, table, chart in (("mqtt", mqtt_table, mqtt_chart),
                               ("raft", raft_table, raft_chart),
                               ("failover", failover_table, failover_chart),
                               ("lag", lag_table, lag_chart),
                               ("memory", memory_table, memory_chart),
                               ("catchup", catchup_table, None)):
        if parts[name] is None:
            lines += ["### %s: not measured in this run" % name, ""]
            continue
        if parts[name].get("quick"):
            lines += ["(%s: toy size, BENCH_QUICK: the figures mean "
                      "nothing)" % name, ""]
        lines += table(parts[name]) + [""]
        if chart is None:
            continue
        png = chart(parts[name])
        charts.append(png)
        lines += ["![%s](../bench/results/%s)" % (name,
                                                   os.path.basename(png)), ""]
    if any(v is not None and v.get("quick") for v in parts.values()):
        # Toy-size figures mean nothing: they never replace published ones.
        with open(os.path.join(common.OUT, "report.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print("bench-report: some results are toy size (BENCH_QUICK): "
              "wrote %s only; bench/results and docs/benchmarks.md left as "
              "they are" % os.path.join(common.OUT, "report.md"))
        return
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, stamp + ".json"), "w") as f:
        json.dump({"machine": common.machine(), "date": stamp,
                   "results": parts}, f, indent=1, sort_keys=True)
    with open(os.path.join(RESULTS, stamp + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for png in charts:
        shutil.copy(png, os.path.join(RESULTS, os.path.basename(png)))
    profile = os.path.join(common.OUT, "profile-retained.txt")
    if os.path.isfile(profile):
        shutil.copy(profile, os.path.join(RESULTS, "profile-retained.txt"))
    update_doc(lines)
    update_readme(readme_summary(parts, stamp))
    print("bench-report: %s, %d charts in %s and %s" % (
        os.path.join(RESULTS, stamp + ".md"), len(charts), common.OUT,
        RESULTS))


if __name__ == "__main__":
    main()
