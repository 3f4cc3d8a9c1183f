# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Faults: the leader killed, paused beyond its lease, cut off by a
partition; the whole cluster restarted. While the leader is paused or
partitioned, a probe per node tries to connect and publish as an ordinary
client every few milliseconds; no two nodes may serve at the same time.

That verdict comes from the nodes themselves: each stamps every moment it
decides to serve on CLOCK_MONOTONIC (shared by every process of the
machine) and logs its serving windows, so machine load cannot blur it. The
probes drive the traffic and their own timings are reported only: a probe
times its attempt from before its TCP connect to after its PUBACK, which a
loaded machine stretches."""

import os
import signal
import time

import pytest

import harness as h

# Waits for the state a fault test needs (a node serving the probes, a
# leader agreed on); generous, as a loaded machine slows every step.
WAIT_S = 10


def test_kill_leader_and_restart(make_cluster, report):
    c = make_cluster()
    old = c.form()
    rest = [n for n in c.nodes.values() if n is not old]
    t0 = time.monotonic()
    old.kill9()
    new = c.wait_leader(rest, timeout=5)
    h.wait_until("the new leader to serve", new.round_trip, 5)
    report("kill -9 of node %d: node %d serves after %.0f ms" % (
        old.nodeid, new.nodeid, (time.monotonic() - t0) * 1000))
    for n in rest:
        if n is not new:
            assert n.connack() == 5
    old.start()
    # It comes back as a follower of the new leader and refuses clients.
    assert c.wait_leader(timeout=5) is new
    assert old.is_leader() == {"leader": False, "nodeid": old.nodeid,
                               "leader_nodeid": new.nodeid}
    assert old.raft_status()["state"] == h.STATE_FOLLOWER
    assert old.connack() == 5
    assert new.round_trip()
    gc = new.cmd("getCluster")["data"]
    assert sorted(m["nodeid"] for m in gc["nodes"]) == [1, 2, 3]


def check_single_server(report, prober, t_origin, nodes, old, new):
    """The nodes' own verdict: old served before, new after, never two at
    once (zero slack: the stamps are the clock reads the nodes decided on).
    The probes' view is reported alongside."""
    lines = ["probes (report only): " + prober.summary(t_origin)]
    overlap, which = prober.max_overlap()
    if which is not None:
        a, wa, b, wb = which
        lines.append(
            "probes: largest overlap of two nodes' accepted attempts: %.1f ms "
            "(node %d %.3f..%.3f s, node %d %.3f..%.3f s); negative: that "
            "far apart" % (overlap * 1000, a, wa[0] - t_origin,
                           wa[1] - t_origin, b, wb[0] - t_origin,
                           wb[1] - t_origin))
    stamps = {n.nodeid: n.serving_windows() for n in nodes}
    for nid, ws in sorted(stamps.items()):
        lines.append("node %d stamped serving windows: %s" % (nid, ", ".join(
            "%.6f..%s s" % (f - t_origin, "open" if l is None else
                            "%.6f" % (l - t_origin)) for f, l in ws)
            or "none"))
    old_w = [w for w in stamps[old.nodeid] if w[0] >= t_origin or
             w[1] is None or w[1] >= t_origin]
    new_w = [w for w in stamps[new.nodeid] if w[1] is None or
             w[1] >= t_origin]
    old_last = old_w[-1][1] if old_w else None
    later = [w[0] for w in new_w if old_last is not None and w[0] > old_last]
    if later:
        lines.append("stamps: no node served for %.3f ms between node %d's "
                     "last and node %d's first serving moment" % (
                         (min(later) - old_last) * 1000, old.nodeid,
                         new.nodeid))
    report("\n".join(lines))
    assert old_w, "the old leader never stamped a serving window"
    assert new_w, "the new leader never stamped a serving window"
    overlaps = h.serving_overlaps(nodes, since=t_origin)
    assert not overlaps, "two nodes served at the same moment: %s" % "; ".join(
        "node %d %s and node %d %s" % o for o in overlaps)


def wait_served(prober, node, since, what):
    """Until a probe attempt on node that began at or after since was
    accepted."""
    h.wait_until(what, lambda: prober.answered_since(node.nodeid, since,
                                                     True), WAIT_S, 0.01)


def wait_refused(prober, node, since, what):
    h.wait_until(what, lambda: prober.answered_since(node.nodeid, since,
                                                     False), WAIT_S, 0.01)


def wait_window_closed(node):
    """Until node's log shows its last serving window closed."""
    h.wait_until("node %d to log its serving window closed" % node.nodeid,
                 lambda: all(w[1] is not None
                             for w in node.serving_windows()), WAIT_S)


def run_fault(c, leader, inject, heal, report):
    """Probes every node, lets the leader serve them, injects the fault
    until a new leader serves them (so the old lease is over), heals it,
    and waits until the old leader refuses them; returns (prober, t_origin,
    new leader)."""
    rest = [n for n in c.nodes.values() if n is not leader]
    prober = h.Prober(c.nodes.values(), interval=0.003, max_attempts=6000,
                      max_seconds=40)
    t_origin = time.monotonic()
    prober.start()
    try:
        wait_served(prober, leader, t_origin, "the leader to serve a probe")
        t_fault = time.monotonic()
        inject()
        # The others elect a leader while the old one is out, and it
        # serves: only after the old lease ran out.
        new = c.wait_leader(rest, timeout=WAIT_S)
        wait_served(prober, new, t_fault,
                    "the new leader %d to serve a probe" % new.nodeid)
        t_heal = time.monotonic()
        report("fault on node %d from %.3f s to %.3f s; node %d leads" % (
            leader.nodeid, t_fault - t_origin, t_heal - t_origin,
            new.nodeid))
        heal()
        # The old leader rejoins as a follower of the new one.
        assert c.wait_leader(timeout=WAIT_S) is new
        wait_refused(prober, leader, time.monotonic(),
                     "the old leader to refuse a probe after the fault")
        wait_served(prober, new, time.monotonic(),
                    "the new leader to serve a probe after the fault")
    finally:
        prober.stop()
    assert leader.is_leader()["leader_nodeid"] == new.nodeid
    assert leader.connack() == 5
    assert new.round_trip()
    wait_window_closed(leader)
    return prober, t_origin, new


ROUNDS = range(3)


@pytest.mark.parametrize("round_", ROUNDS)
def test_sigstop_leader_beyond_its_lease(make_cluster, report, round_):
    c = make_cluster()
    leader = c.form()
    prober, t_origin, new = run_fault(
        c, leader, lambda: leader.signal(signal.SIGSTOP),
        lambda: leader.signal(signal.SIGCONT), report)
    check_single_server(report, prober, t_origin, c.nodes.values(), leader,
                        new)


@pytest.mark.parametrize("round_", ROUNDS)
def test_partitioned_leader(make_cluster, report, round_):
    c = make_cluster(partitionable=True)
    leader = c.form()
    prober, t_origin, new = run_fault(
        c, leader, lambda: c.partition(leader),
        lambda: (report(c.nft_counters()), c.heal()), report)
    check_single_server(report, prober, t_origin, c.nodes.values(), leader,
                        new)


@pytest.mark.parametrize("round_", ROUNDS)
def test_set_leader_hands_over_without_overlap(make_cluster, report, round_):
    """setLeader moves service from one node to another; the probes see no
    moment where both serve."""
    c = make_cluster()
    leader = c.form()
    target = next(n for n in c.nodes.values() if n is not leader)
    prober = h.Prober(c.nodes.values(), interval=0.003, max_attempts=6000,
                      max_seconds=40)
    t_origin = time.monotonic()
    prober.start()
    try:
        wait_served(prober, leader, t_origin, "the leader to serve a probe")
        t0 = time.monotonic()
        r = leader.cmd("setLeader", clustername=c.name, nodeid=target.nodeid)
        t_reply = time.monotonic() - t0
        assert "error" not in r, r
        assert c.wait_leader(timeout=WAIT_S) is target
        report("setLeader %d -> %d at %.3f s: reply after %.0f ms, agreed "
               "after %.0f ms" % (leader.nodeid, target.nodeid,
                                  t0 - t_origin, t_reply * 1000,
                                  (time.monotonic() - t0) * 1000))
        wait_served(prober, target, t0, "the new leader to serve a probe")
        wait_refused(prober, leader, time.monotonic(),
                     "the old leader to refuse a probe")
    finally:
        prober.stop()
    assert leader.connack() == 5
    wait_window_closed(leader)
    check_single_server(report, prober, t_origin, c.nodes.values(), leader,
                        target)


STALL_PLUGIN = os.environ.get("HA_STALL_PLUGIN") or os.path.join(
    h.REPO, os.environ.get("BUILD", "build"), "tests", "cluster", "stall.so")


def test_sigterm_hands_over_before_the_broker_has_shut_down(make_cluster,
                                                            report):
    """A leader that gets SIGTERM hands leadership over as the signal
    arrives: another node serves while the old broker is still busy (here
    its loop is held up by a test plugin, as freeing a large state holds a
    real broker's shutdown), not only once its shutdown reaches the
    plugin."""
    if not os.path.isfile(STALL_PLUGIN):
        pytest.fail("test plugin missing at %s: run `make suite-cluster`" %
                    STALL_PLUGIN)
    c = make_cluster()
    for i in (1, 2, 3):
        n = c.add(i)
        n.extra_conf += ["plugin %s" % STALL_PLUGIN,
                         "plugin_opt_stall_file %s" %
                         os.path.join(n.dir, "stall")]
    leader = c.form()
    rest = [n for n in c.nodes.values() if n is not leader]
    stall = os.path.join(leader.dir, "stall")
    open(stall, "w").close()
    try:
        h.wait_until("the leader's broker to be held up",
                     lambda: os.path.exists(stall + ".held"), WAIT_S)
        t0 = time.monotonic()
        leader.proc.send_signal(signal.SIGTERM)
        new = c.wait_leader(rest, timeout=WAIT_S)
        h.wait_until("the new leader to serve", new.round_trip, WAIT_S)
        took = time.monotonic() - t0
        # The old broker is still held up: its shutdown has not run.
        assert leader.proc.poll() is None
    finally:
        os.unlink(stall)
    leader.proc.wait(30)
    assert "shutting down: handing leadership over: ok" in leader.log_text()
    report("SIGTERM to a leader whose broker is held up: node %d served "
           "%.0f ms later" % (new.nodeid, took * 1000))
    assert took < 5.0, took


def test_deposed_leader_disconnects_its_clients(make_cluster, report):
    """Clients connected to a leader that loses its lease are disconnected,
    and what they publish meanwhile is refused: they must move on."""
    c = make_cluster(partitionable=True)
    leader = c.form()
    rest = [n for n in c.nodes.values() if n is not leader]
    s = h._PahoSession(leader.host, leader.mqtt_port, h.USER, h.USER_PW)
    try:
        assert s.rc == 0
        assert s.publish("before/partition", b"1", 1)
        t0 = time.monotonic()
        c.partition(leader)
        # The lease ends within an election timeout; the next TICK kicks.
        lost = s._pump(lambda: s.lost, 3.0)
        t_lost = time.monotonic() - t0
        assert lost, "the client of the deposed leader is still connected " \
            "3 s after the partition"
        report("client of the partitioned leader disconnected after %.0f ms"
               % (t_lost * 1000))
        # Reconnecting there is refused while the others elect a leader.
        assert leader.connack() == 5
        new = c.wait_leader(rest, timeout=5)
    finally:
        s.close()
        c.heal()
    assert c.wait_leader(timeout=5) is new
    assert leader.connack() == 5
    assert new.round_trip()


def test_whole_cluster_restart(make_cluster):
    c = make_cluster()
    leader = c.form()
    uuid = leader.cmd("getCluster")["data"]["uuid"]
    for n in c.nodes.values():
        n.stop()
    for n in c.nodes.values():
        n.spawn()
    for n in c.nodes.values():
        n.wait_ready()
    # Nobody sends a command: membership persisted in the data folders.
    new = c.wait_leader(timeout=10)
    gc = new.cmd("getCluster")["data"]
    assert gc["uuid"] == uuid
    assert gc["clustername"] == c.name
    assert sorted(m["nodeid"] for m in gc["nodes"]) == [1, 2, 3]
    assert new.round_trip()
    for n in c.nodes.values():
        if n is not new:
            assert n.connack() == 5
