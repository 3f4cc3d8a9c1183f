# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""A removed node leaves the cluster by itself, whether it ran at the time
or comes back later and can reach the others (leaveCluster is only the
fallback for a node that cannot), and the others do not notice it go."""

import os

import harness as h


def add_fourth(c, leader):
    n4 = c.add(4).start()
    r = n4.cmd("joinCluster", clustername=c.name,
               nodes=c.members((1, 2, 3, 4), 4))
    assert "error" not in r, r
    r = leader.cmd("addNode", clustername=c.name, address=n4.host,
                   port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r
    h.wait_until("node 4 to become a voter", lambda: sorted(
        x["id"] for x in leader.raft_status()["nodes"] if x["role"] == 1) ==
        [1, 2, 3, 4], 10)
    return n4


def test_node_removed_online_becomes_standalone(make_cluster):
    c = make_cluster()
    leader = c.form()
    n4 = add_fourth(c, leader)
    term = leader.raft_status()["current_term"]

    r = leader.cmd("removeNode", clustername=c.name, address=n4.host,
                   port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r
    h.wait_until("node 4 to be standalone", lambda: n4.is_leader() == {
        "leader": False, "nodeid": None, "leader_nodeid": None}, 5)
    assert n4.round_trip()
    assert not os.path.exists(os.path.join(n4.data_dir, "cluster.json"))
    three = [c.nodes[i] for i in (1, 2, 3)]
    assert c.wait_leader(three) is leader
    assert leader.raft_status()["current_term"] == term
    assert n4.cmd("getCluster")["error"] == \
        "This broker is not part of a cluster."


def test_node_removed_offline_leaves_when_back(make_cluster):
    c = make_cluster()
    leader = c.form()
    n4 = add_fourth(c, leader)
    n4.stop()
    r = leader.cmd("removeNode", clustername=c.name, address=n4.host,
                   port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r
    term = leader.raft_status()["current_term"]
    n4.start()
    h.wait_until("node 4 to be standalone", lambda: n4.is_leader() == {
        "leader": False, "nodeid": None, "leader_nodeid": None}, 5)
    assert n4.round_trip()
    assert os.listdir(n4.data_dir) == []
    three = [c.nodes[i] for i in (1, 2, 3)]
    assert c.wait_leader(three) is leader
    assert leader.raft_status()["current_term"] == term
