# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""A cluster forms, has exactly one leader, and only the leader serves
ordinary clients; administrators reach every node; a broker that never
joined a cluster behaves as one without the plugin."""

import json
import os

import harness as h

# getRaftStatus fields that say what the node knows of the cluster; the
# rest (a hand-off latency sample) changes with every request.
RAFT_FIELDS = ("nodes", "commit_index", "last_applied", "last_stored",
               "current_term", "state", "errmsg", "base_msg", "client",
               "client_msg", "retain_msg", "subscription", "syncmode")


def raft_view(node):
    st = node.raft_status()
    return {k: st[k] for k in RAFT_FIELDS}


def test_three_nodes_form_one_leader(make_cluster):
    c = make_cluster()
    leader = c.form()
    others = [n for n in c.nodes.values() if n is not leader]

    # isLeader: exactly one says so, every node names it.
    views = {n.nodeid: n.is_leader() for n in c.nodes.values()}
    assert [nid for nid, v in views.items() if v["leader"]] == [leader.nodeid]
    for nid, v in views.items():
        assert v["nodeid"] == nid
        assert v["leader_nodeid"] == leader.nodeid

    # getRaftStatus: one leader (3), two followers (1), same term, three
    # voters known everywhere.
    statuses = {n.nodeid: n.raft_status() for n in c.nodes.values()}
    assert sorted(s["state"] for s in statuses.values()) == [
        h.STATE_FOLLOWER, h.STATE_FOLLOWER, h.STATE_LEADER]
    assert statuses[leader.nodeid]["state"] == h.STATE_LEADER
    assert len({s["current_term"] for s in statuses.values()}) == 1
    expected_nodes = sorted(
        ("%s:%d" % (n.host, n.cluster_port), n.nodeid, 1)
        for n in c.nodes.values())
    for s in statuses.values():
        assert sorted((x["address"], x["id"], x["role"])
                      for x in s["nodes"]) == expected_nodes
        assert s["errmsg"] == ""
        assert s["syncmode"] == "full"
        # A new cluster: no snapshot yet, nothing waiting for the broker
        # beyond a few entries.
        assert s["snapshot"] == {"index": 0, "installed": 0}
        assert 0 <= s["handoff_queue_bytes"] < 65536

    # getCluster on the leader: the membership as created.
    gc = leader.cmd("getCluster")
    assert "error" not in gc, gc
    d = gc["data"]
    assert d["clustername"] == c.name
    assert d["leader"] == leader.nodeid
    assert d["version"] == 1
    assert sorted((m["address"], m["port"], m["nodeid"]) for m in d["nodes"]) \
        == sorted((n.host, n.cluster_port, n.nodeid) for n in c.nodes.values())
    for n in c.nodes.values():
        assert os.path.isfile(os.path.join(n.data_dir, "cluster.json"))

    # Only the leader serves ordinary clients.
    assert leader.connack() == 0
    assert leader.round_trip()
    for n in others:
        assert n.connack() == 5, "follower %d did not refuse" % n.nodeid
        assert not n.round_trip()
        # Administrators still reach a follower and its control API.
        assert n.connack(username=h.ADMIN, password=h.ADMIN_PW) == 0
        assert n.is_leader()["leader"] is False
        assert n.cmd("getCluster")["error"] == \
            "This broker is not the cluster leader."
    # The password file still decides who the leader lets in.
    assert leader.connack(password="wrong") not in (0, None)
    assert leader.connack(username="nobody", password="x") not in (0, None)
    assert leader.connack(username=h.ADMIN, password="wrong") not in (0, None)
    for n in others:
        assert n.connack(username=h.ADMIN, password="wrong") not in (0, None)


def test_non_administrator_control_is_refused(make_cluster):
    c = make_cluster()
    leader = c.form()
    before = {n.nodeid: raft_view(n) for n in c.nodes.values()}
    hashes = c.data_hashes()
    delete = json.dumps({"commands": [{"command": "deleteCluster",
                                       "clustername": c.name}]}).encode()
    for n in c.nodes.values():
        # A v5 client sees the refusal as reason 0x87 (not authorised);
        # on followers the ordinary client cannot even connect.
        reason = h.raw_publish_reason(n.host, n.mqtt_port, h.USER, h.USER_PW,
                                      h.CONTROL_TOPIC, delete)
        if n is leader:
            assert reason == 0x87, reason
            assert h.raw_subscribe_reason(n.host, n.mqtt_port, h.USER,
                                          h.USER_PW,
                                          h.RESPONSE_TOPIC) == 0x87
        else:
            assert reason is None
    # Nothing changed: same leader, same raft state, same files.
    assert c.wait_leader() is leader
    assert {n.nodeid: raft_view(n) for n in c.nodes.values()} == before
    assert c.data_hashes() == hashes
    assert leader.round_trip()


def test_standalone_broker_behaves_as_without_plugin(make_cluster):
    c = make_cluster()
    with_plugin = c.add(1).start()
    without = c.add(2)
    without.with_plugin = False
    without.start()
    cases = [
        dict(),
        dict(password="wrong"),
        dict(username="nobody", password="x"),
        dict(username=h.ADMIN, password=h.ADMIN_PW),
    ]
    for kw in cases:
        assert with_plugin.connack(**kw) == without.connack(**kw), kw
    assert with_plugin.round_trip() and without.round_trip()
    assert with_plugin.connack() == 0

    # The control API answers: not in a cluster.
    v = with_plugin.is_leader()
    assert v == {"leader": False, "nodeid": None, "leader_nodeid": None}
    assert with_plugin.raft_status()["state"] == h.STATE_UNAVAILABLE
    assert with_plugin.cmd("getCluster")["error"] == \
        "This broker is not part of a cluster."
    # It wrote nothing.
    assert os.listdir(with_plugin.data_dir) == []
