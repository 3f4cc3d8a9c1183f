# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""The control commands on a running cluster: every refused command gets
its error and changes nothing (replies, raft state and every byte in every
data folder); membership changes, leadership transfer, leaving and deleting
the cluster do what they say."""

import json
import os
import time

import harness as h
from test_formation import RAFT_FIELDS

NOT_LEADER = "This broker is not the cluster leader."
ALREADY = "This broker is already part of a cluster."
NOT_MEMBER = "This broker is not part of a cluster."
WRONG_CLUSTER = "The clustername does not match this cluster."
NO_MATCH = "No node in the cluster matches these details."
EXISTS = "A node with this nodeid or address and port is already in the " \
    "cluster."
TOO_FEW = "Fewer than 3 nodes would remain in the cluster."


def snapshot(c, leader):
    """Everything a refused command must leave as it was: getCluster on the
    leader, getRaftStatus and isLeader on every node (asked at once), and a
    hash of every data folder."""
    def ask(n):
        cmds = [{"command": "getRaftStatus"}, {"command": "isLeader"}]
        if n is leader:
            cmds.append({"command": "getCluster"})
        r = n.control(cmds)
        for x in r:
            assert "error" not in x, (n.nodeid, x)
        return r

    nodes = list(c.nodes.values())
    replies = h.parallel([lambda n=n: ask(n) for n in nodes])
    snap = {"raft": {}, "isLeader": {}, "files": c.data_hashes()}
    for n, r in zip(nodes, replies):
        snap["raft"][n.nodeid] = {k: r[0]["data"][k] for k in RAFT_FIELDS}
        snap["isLeader"][n.nodeid] = r[1]["data"]
        if n is leader:
            snap["getCluster"] = r[2]["data"]
    return snap


def test_refused_commands_change_nothing(make_cluster):
    c = make_cluster()
    leader = c.form()
    follower = next(n for n in c.nodes.values() if n is not leader)
    other = next(n for n in c.nodes.values()
                 if n is not leader and n is not follower)
    outsider = c.add(4).start()  # has the plugin, never joined
    name = c.name
    members = [n.member() for n in (leader, follower, other)]

    def nodes_with_mine(mine):
        return [dict(m, mynode=True) if m["nodeid"] == mine.nodeid else m
                for m in members]

    def node_fields(n, **over):
        d = {"address": n.host, "port": n.cluster_port, "nodeid": n.nodeid}
        d.update(over)
        return d

    dup_ids = [dict(members[0], mynode=True), dict(members[1],
                                                    nodeid=members[0]["nodeid"]),
               members[2]]
    outsider_list = [outsider.member(mynode=True)] + members[:2]
    # (target, command object or raw payload, expected error)
    cases = [
        (leader, b"{not json", "Payload not valid JSON"),
        (follower, b"\xff\xfe", "Payload not valid JSON"),
        (leader, b'{"commands":[{"command":"isLeader","command":"x"}]}',
         "Payload not valid JSON"),
        (leader, b'{"commands":{}}', "Invalid/missing commands"),
        (outsider, b'[]', "Invalid/missing commands"),
        (leader, json.dumps({"commands": [{"command": "getCluster"}] * 65}),
         "Too many commands (at most 64 in one request)."),
        (leader, b'{"commands":[42]}', "Command not an object"),
        (leader, b'{"commands":[{"clustername":"x"}]}', "Missing command"),
        (leader, {"command": "frobnicate"}, "Unknown command"),
        (leader, b'{"commands":[{"command":"isLeader","correlationData":5}]}',
         "Invalid correlationData data type."),
        (leader, {"command": "getCluster", "foo": 1},
         'Unknown field "foo" for getCluster.'),
        (leader, {"command": "deleteCluster", "clustername": name,
                  "force": True}, 'Unknown field "force" for deleteCluster.'),
        (leader, {"command": "removeNode", "clustername": name,
                  "address": other.host, "port": other.cluster_port,
                  "nodeid": other.nodeid, "mynode": True},
         'Unknown field "mynode" for removeNode.'),
        (leader, {"command": "deleteCluster"}, "clustername is missing."),
        (leader, {"command": "deleteCluster", "clustername": ""},
         "clustername must not be empty."),
        (leader, {"command": "addNode", "clustername": name,
                  "address": outsider.host, "port": 70000, "nodeid": 4},
         "port must be an integer from 1 to 65535."),
        (leader, {"command": "setLeader", "clustername": name, "nodeid": 0},
         "nodeid must be an integer from 1 to 1023."),
        (leader, {"command": "addNode", "clustername": name,
                  "address": "not an address", "port": 7000, "nodeid": 4},
         "address must be an IPv4 address, an IPv6 address (without "
         "brackets) or a host name."),
        # wrong clustername
        (leader, {"command": "deleteCluster", "clustername": name + "x"},
         WRONG_CLUSTER),
        (leader, dict(node_fields(other), command="removeNode",
                      clustername="other"), WRONG_CLUSTER),
        (leader, {"command": "setLeader", "clustername": "other",
                  "nodeid": follower.nodeid}, WRONG_CLUSTER),
        (leader, dict(node_fields(outsider), command="addNode",
                      clustername="other"), WRONG_CLUSTER),
        (follower, dict(node_fields(follower), command="leaveCluster",
                        clustername="other"), WRONG_CLUSTER),
        # leader-only commands on a follower
        (follower, {"command": "deleteCluster", "clustername": name},
         NOT_LEADER),
        (follower, dict(node_fields(other), command="removeNode",
                        clustername=name), NOT_LEADER),
        (follower, dict(node_fields(outsider), command="addNode",
                        clustername=name), NOT_LEADER),
        (follower, {"command": "getCluster"}, NOT_LEADER),
        (other, {"command": "setLeader", "clustername": name,
                 "nodeid": other.nodeid}, NOT_LEADER),
        # node lists
        (leader, {"command": "createCluster", "clustername": name,
                  "nodes": dup_ids},
         "nodes[1]: nodeid %d is already used by nodes[0]." %
         members[0]["nodeid"]),
        (outsider, {"command": "createCluster", "clustername": "new",
                    "nodes": [outsider_list[0], dict(outsider_list[1],
                                                     nodeid=4), outsider_list[2]]},
         "nodes[1]: nodeid 4 is already used by nodes[0]."),
        (outsider, {"command": "createCluster", "clustername": "new",
                    "nodes": outsider_list[:2]},
         "nodes must list at least 3 nodes."),
        (outsider, {"command": "joinCluster", "clustername": name,
                    "nodes": members},
         "nodes must mark exactly one node with mynode:true; none is "
         "marked."),
        (outsider, {"command": "joinCluster", "clustername": name,
                    "nodes": [outsider_list[0], dict(outsider_list[1],
                                                     port=outsider.cluster_port,
                                                     address=outsider.host),
                              outsider_list[2]]},
         "nodes[1]: address %s with port %d is already used by nodes[0]." %
         (outsider.host, outsider.cluster_port)),
        (outsider, {"command": "createCluster", "clustername": "new",
                    "nodes": [dict(m, extra=1) for m in outsider_list]},
         'nodes[0]: unknown field "extra".'),
        # membership and state
        (leader, {"command": "createCluster", "clustername": name,
                  "nodes": nodes_with_mine(leader)}, ALREADY),
        (follower, {"command": "joinCluster", "clustername": name,
                    "nodes": nodes_with_mine(follower)}, ALREADY),
        (leader, dict(node_fields(other), command="removeNode",
                      clustername=name), TOO_FEW),
        (leader, dict(node_fields(other, port=outsider.cluster_port),
                      command="removeNode", clustername=name), NO_MATCH),
        (leader, dict(node_fields(outsider, nodeid=follower.nodeid),
                      command="addNode", clustername=name), EXISTS),
        (leader, dict(node_fields(outsider, address=follower.host,
                                  port=follower.cluster_port),
                      command="addNode", clustername=name), EXISTS),
        (leader, {"command": "setLeader", "clustername": name, "nodeid": 9},
         NO_MATCH),
        (follower, dict(node_fields(other), command="leaveCluster",
                        clustername=name), NO_MATCH),
        # a broker that is in no cluster
        (outsider, {"command": "deleteCluster", "clustername": name},
         NOT_MEMBER),
        (outsider, dict(node_fields(outsider), command="leaveCluster",
                        clustername=name), NOT_MEMBER),
        (outsider, {"command": "getCluster"}, NOT_MEMBER),
        (outsider, dict(node_fields(follower), command="addNode",
                        clustername=name), NOT_MEMBER),
        (outsider, {"command": "setLeader", "clustername": name,
                    "nodeid": 1}, NOT_MEMBER),
    ]

    before = snapshot(c, leader)
    assert before["isLeader"][outsider.nodeid]["nodeid"] is None
    for i, (target, cmd, error) in enumerate(cases):
        what = "case %d on node %d: %r" % (i, target.nodeid, cmd)
        if isinstance(cmd, dict):
            r = target.control([cmd])
            assert len(r) == 1, what
            r = r[0]
            assert r["command"] == cmd["command"], what
        else:
            reply = target.raw(cmd)
            r = reply["responses"][0]
            if error != "Missing command" and "Too many" not in error and \
                    "correlationData" not in error:
                assert len(reply["responses"]) == 1, what
        assert r.get("error") == error, "%s: got %r" % (what, r)
        assert "data" not in r, what
        after = snapshot(c, leader)
        assert after == before, "%s changed something:\nbefore %s\nafter %s" % (
            what, before, after)

    # One request, several commands: each answered in order, the refused
    # one changes nothing, the good ones work.
    r = leader.control([{"command": "isLeader"},
                        {"command": "deleteCluster", "clustername": "nope"},
                        {"command": "getRaftStatus"}])
    assert [x["command"] for x in r] == ["isLeader", "deleteCluster",
                                         "getRaftStatus"]
    assert r[0]["data"]["leader"] is True and "error" not in r[0]
    assert r[1]["error"] == WRONG_CLUSTER
    assert r[2]["data"]["state"] == h.STATE_LEADER
    assert snapshot(c, leader) == before
    # The refused requests did not disconnect anyone or stop serving.
    assert leader.round_trip()


def test_add_remove_leave_node(make_cluster):
    c = make_cluster(partitionable=True)
    leader = c.form()
    n4 = c.add(4).start()
    ids = (1, 2, 3, 4)
    # joinCluster on the new node, addNode on the leader.
    r = n4.cmd("joinCluster", clustername=c.name, nodes=c.members(ids, 4))
    assert "error" not in r, r
    r = leader.cmd("addNode", clustername=c.name, address=n4.host,
                   port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r

    def four_voters():
        st = leader.raft_status()
        roles = {x["id"]: x["role"] for x in st["nodes"]}
        return roles == {1: 1, 2: 1, 3: 1, 4: 1} and \
            n4.is_leader()["leader_nodeid"] == leader.nodeid
    h.wait_until("node 4 to become a voter", four_voters, 10)
    gc = leader.cmd("getCluster")["data"]
    assert sorted(m["nodeid"] for m in gc["nodes"]) == [1, 2, 3, 4]
    assert n4.connack() == 5  # a follower
    assert n4.is_leader() == {"leader": False, "nodeid": 4,
                              "leader_nodeid": leader.nodeid}
    assert c.wait_leader() is leader

    # Node 4 goes offline and is removed meanwhile.
    n4.stop()
    r = leader.cmd("removeNode", clustername=c.name, address=n4.host,
                   port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r
    gc = leader.cmd("getCluster")["data"]
    assert sorted(m["nodeid"] for m in gc["nodes"]) == [1, 2, 3]
    st = leader.raft_status()
    assert sorted(x["id"] for x in st["nodes"]) == [1, 2, 3]
    three = [c.nodes[i] for i in (1, 2, 3)]
    assert c.wait_leader(three) is leader

    # Back where it cannot reach the others (a node that could would learn
    # its removal from the leader), it still believes it is a member: it
    # does not serve. leaveCluster (its own details) makes it standalone.
    c.partition(n4)
    n4.start()
    assert n4.connack() == 5
    assert n4.is_leader()["nodeid"] == 4
    r = n4.cmd("leaveCluster", clustername=c.name, address=n4.host,
               port=n4.cluster_port, nodeid=5)
    assert r.get("error") == NO_MATCH
    r = n4.cmd("leaveCluster", clustername=c.name, address=n4.host,
               port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r
    assert n4.is_leader() == {"leader": False, "nodeid": None,
                              "leader_nodeid": None}
    assert n4.round_trip()
    assert not os.path.exists(os.path.join(n4.data_dir, "cluster.json"))
    assert not os.path.exists(os.path.join(n4.data_dir, "raft"))
    c.heal()

    # Three voters left: no further removal.
    hashes = {i: h.tree_hash(c.nodes[i].data_dir) for i in (1, 2, 3)}
    for victim in three:
        r = leader.cmd("removeNode", clustername=c.name, address=victim.host,
                       port=victim.cluster_port, nodeid=victim.nodeid)
        assert r.get("error") == TOO_FEW, r
    assert {i: h.tree_hash(c.nodes[i].data_dir) for i in (1, 2, 3)} == hashes
    assert c.wait_leader(three) is leader
    assert leader.round_trip()


def test_set_leader(make_cluster):
    c = make_cluster()
    leader = c.form()
    target = next(n for n in c.nodes.values() if n is not leader)
    t0 = time.monotonic()
    r = leader.cmd("setLeader", clustername=c.name, nodeid=target.nodeid)
    t_reply = time.monotonic() - t0
    assert "error" not in r, r
    new = c.wait_leader(timeout=5)
    t_led = time.monotonic() - t0
    assert new is target, "node %d leads, not %d" % (new.nodeid,
                                                      target.nodeid)
    assert target.round_trip()
    assert leader.connack() == 5
    st = target.raft_status()
    assert st["state"] == h.STATE_LEADER
    print("setLeader: reply after %.0f ms, node %d leads after %.0f ms" % (
        t_reply * 1000, target.nodeid, t_led * 1000))
    # setLeader to the node that already leads: nothing to do.
    r = target.cmd("setLeader", clustername=c.name, nodeid=target.nodeid)
    assert "error" not in r, r
    assert c.wait_leader() is target


def test_delete_cluster(make_cluster):
    c = make_cluster()
    leader = c.form()
    r = leader.cmd("deleteCluster", clustername=c.name)
    assert "error" not in r, r

    def all_standalone():
        return all(n.is_leader() == {"leader": False, "nodeid": None,
                                     "leader_nodeid": None}
                   for n in c.nodes.values())
    h.wait_until("every node to be standalone", all_standalone, 5)
    for n in c.nodes.values():
        assert n.round_trip(), "node %d does not serve" % n.nodeid
        assert n.raft_status()["state"] == h.STATE_UNAVAILABLE
        assert os.listdir(n.data_dir) == [], (n.nodeid,
                                              os.listdir(n.data_dir))
    # The same brokers can form a new cluster.
    c.name = c.name + "b"
    new = c.form()
    assert new.round_trip()
