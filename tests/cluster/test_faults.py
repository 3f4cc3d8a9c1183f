# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Faults: the leader killed, paused beyond its lease, cut off by a
partition; the whole cluster restarted. While the leader is paused or
partitioned, a probe per node tries to connect and publish as an ordinary
client every few milliseconds; no two nodes may serve at the same time."""

import signal
import time

import pytest

import harness as h

# How much two nodes' serving windows may overlap before the test fails: the
# probes' own measurement error (an attempt is timed from before its TCP
# connect to after its PUBACK), not a tolerance for double service.
SLACK_S = 0.050
# Longer than the election timeout (300 ms) and so than any lease.
FAULT_S = 1.5


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


def check_single_server(report, prober, t_origin, old, new):
    """The probes' verdict: old served before, new after, never both."""
    lines = [prober.summary(t_origin)]
    overlap, which = prober.max_overlap()
    if which is None:
        lines.append("only one node ever accepted")
    else:
        a, wa, b, wb = which
        lines.append(
            "largest overlap of two nodes' serving windows: %.1f ms (node %d "
            "%.3f..%.3f s, node %d %.3f..%.3f s); negative: the closest "
            "windows were that far apart" % (
                overlap * 1000, a, wa[0] - t_origin, wa[1] - t_origin, b,
                wb[0] - t_origin, wb[1] - t_origin))
    old_w = prober.windows(old.nodeid)
    new_w = prober.windows(new.nodeid)
    if old_w and new_w:
        lines.append("no node served for %.0f ms between node %d's last and "
                     "node %d's first accepted attempt" % (
                         (new_w[0][0] - old_w[-1][1]) * 1000, old.nodeid,
                         new.nodeid))
    report("\n".join(lines))
    assert old_w, "the old leader never served"
    assert new_w, "the new leader never served"
    assert overlap <= SLACK_S, (
        "two nodes served at the same time for %.1f ms (beyond %.0f ms of "
        "measurement slack)" % (overlap * 1000, SLACK_S * 1000))


def run_fault(c, leader, inject, heal, report):
    """Probes every node, lets the leader serve, injects the fault for
    FAULT_S, heals it; returns (prober, t_origin, new leader)."""
    rest = [n for n in c.nodes.values() if n is not leader]
    prober = h.Prober(c.nodes.values(), interval=0.003, max_attempts=4000,
                      max_seconds=20)
    t_origin = time.monotonic()
    prober.start()
    try:
        time.sleep(0.5)
        t_fault = time.monotonic()
        inject()
        # The others elect a leader while the old one is out.
        new = c.wait_leader(rest, timeout=FAULT_S + 3)
        left = FAULT_S - (time.monotonic() - t_fault)
        if left > 0:
            time.sleep(left)
        report("fault on node %d from %.3f s to %.3f s; node %d leads" % (
            leader.nodeid, t_fault - t_origin, time.monotonic() - t_origin,
            new.nodeid))
        heal()
        # The old leader rejoins as a follower of the new one.
        assert c.wait_leader(timeout=5) is new
        time.sleep(0.5)
    finally:
        prober.stop()
    assert leader.is_leader()["leader_nodeid"] == new.nodeid
    assert leader.connack() == 5
    assert new.round_trip()
    return prober, t_origin, new


ROUNDS = range(3)


@pytest.mark.parametrize("round_", ROUNDS)
def test_sigstop_leader_beyond_its_lease(make_cluster, report, round_):
    c = make_cluster()
    leader = c.form()
    prober, t_origin, new = run_fault(
        c, leader, lambda: leader.signal(signal.SIGSTOP),
        lambda: leader.signal(signal.SIGCONT), report)
    check_single_server(report, prober, t_origin, leader, new)


@pytest.mark.parametrize("round_", ROUNDS)
def test_partitioned_leader(make_cluster, report, round_):
    c = make_cluster(partitionable=True)
    leader = c.form()
    prober, t_origin, new = run_fault(
        c, leader, lambda: c.partition(leader),
        lambda: (report(c.nft_counters()), c.heal()), report)
    check_single_server(report, prober, t_origin, leader, new)


@pytest.mark.parametrize("round_", ROUNDS)
def test_set_leader_hands_over_without_overlap(make_cluster, report, round_):
    """setLeader moves service from one node to another; the probes see no
    moment where both serve."""
    c = make_cluster()
    leader = c.form()
    target = next(n for n in c.nodes.values() if n is not leader)
    prober = h.Prober(c.nodes.values(), interval=0.003, max_attempts=3000,
                      max_seconds=15)
    t_origin = time.monotonic()
    prober.start()
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        r = leader.cmd("setLeader", clustername=c.name, nodeid=target.nodeid)
        t_reply = time.monotonic() - t0
        assert "error" not in r, r
        assert c.wait_leader(timeout=5) is target
        report("setLeader %d -> %d at %.3f s: reply after %.0f ms, agreed "
               "after %.0f ms" % (leader.nodeid, target.nodeid,
                                  t0 - t_origin, t_reply * 1000,
                                  (time.monotonic() - t0) * 1000))
        time.sleep(0.5)
    finally:
        prober.stop()
    check_single_server(report, prober, t_origin, leader, target)


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
