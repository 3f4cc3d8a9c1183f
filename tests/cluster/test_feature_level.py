# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""The committed feature level: a new cluster starts at the highest level
its voters have, a rolling upgrade raises it only once every voter
advertises the new level, it is never lowered, and what a level does not
have (retained messages at level 1) is not written to the log.

A node is held at an older level with plugin_opt_feature_level, which is
what an operator does to keep a rollback to the previous release possible;
the node then advertises that level to the others, as an older build
would."""

import time

import harness as h
from test_retained import Publisher, read_retained, wait_same


# What this build implements, and so what an upgraded cluster reaches.
TOP = h.FEATURE_LEVEL_MAX


def levels(nodes):
    return {n.nodeid: n.raft_status()["feature_level"] for n in nodes}


def wait_level(nodes, level, timeout=10.0):
    h.wait_until("feature level %d on nodes %s" % (
        level, [n.nodeid for n in nodes]),
        lambda: all(v == level for v in levels(nodes).values()), timeout)


def test_new_cluster_does_not_wait_for_a_voter_that_never_started(
        make_cluster):
    c = make_cluster()
    for i in (1, 2, 3):
        c.add(i)
    up = [c.nodes[1], c.nodes[2]]
    for n in up:
        n.start()
    r = c.nodes[1].cmd("createCluster", clustername=c.name,
                       nodes=c.members((1, 2, 3), 1))
    assert "error" not in r, r
    r = c.nodes[2].cmd("joinCluster", clustername=c.name,
                       nodes=c.members((1, 2, 3), 2))
    assert "error" not in r, r
    leader = c.wait_leader(up)
    # Node 3 has never run: a level-1 cluster holds no replicated state,
    # so nothing waits for it.
    wait_level(up, TOP, timeout=5)
    assert any("raising the cluster's feature level from 1 to %d" % TOP in
               n.log_text() for n in up)
    p = Publisher(c.wait_leader(up))
    try:
        assert p.set("new/a", b"1")
    finally:
        p.close()
    wait_same(up, {"new/a": b"1"})


def test_rolling_upgrade_raises_the_level_once_every_voter_has_it(
        make_cluster, report):
    c = make_cluster()
    for i in (1, 2, 3):
        c.add(i).plugin_opts["feature_level"] = "1"
    leader = c.form()
    nodes = list(c.nodes.values())
    assert levels(nodes) == {1: 1, 2: 1, 3: 1}
    for n in nodes:
        assert n.raft_status()["feature_level_advertised"] == 1

    # Level 1 has no retained messages: the leader's broker keeps them
    # alone and writes nothing to the log.
    before = leader.raft_status()
    p = Publisher(leader)
    try:
        assert p.set("old/a", b"local")
    finally:
        p.close()
    assert read_retained(leader) == {"old/a": b"local"}
    after = leader.raft_status()
    assert after["last_captured_index"] == 0
    assert after["commit_index"] == before["commit_index"]
    for n in nodes:
        if n is not leader:
            assert read_retained(n) == {}
    assert "retained messages are not replicated" in leader.log_text()

    # Upgrade node by node, the leader's node last. While any voter still
    # advertises 1, the level stays 1.
    order = [n for n in nodes if n is not leader] + [leader]
    for n in order[:-1]:
        n.stop()
        del n.plugin_opts["feature_level"]
        n.start()
        c.wait_leader()
    current = c.wait_leader()
    c.wait_settled(nodes, current)
    time.sleep(1.0)  # five level checks of the leader
    assert levels(nodes) == {1: 1, 2: 1, 3: 1}

    last = order[-1]
    last.stop()
    del last.plugin_opts["feature_level"]
    last.start()
    t0 = time.monotonic()
    wait_level(nodes, TOP)
    took = time.monotonic() - t0
    assert any("raising the cluster's feature level from 1 to %d" % TOP in
               n.log_text() for n in nodes)
    current = c.wait_leader()

    # Level 2 and above: retained messages are replicated.
    p = Publisher(current)
    try:
        assert p.set("new/a", b"replicated")
    finally:
        p.close()
    wait_same(nodes, {"new/a": b"replicated"})

    # A node held back again is reported, and the level is never lowered.
    held = [n for n in nodes if n is not current][0]
    held.stop()
    held.plugin_opts["feature_level"] = "1"
    held.start()
    h.wait_until(
        "the leader to report node %d's lower level" % held.nodeid,
        lambda: any(("node %d advertises feature level 1, below the "
                     "cluster's %d" % (held.nodeid, TOP)) in n.log_text()
                    for n in nodes), 10)
    assert levels(nodes) == {1: TOP, 2: TOP, 3: TOP}
    wait_same(nodes, {"new/a": b"replicated"})
    report("level 1 -> %d %.2f s after the last voter came back upgraded" %
           (TOP, took))
