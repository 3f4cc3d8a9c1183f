# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""The two sync modes against real brokers of both versions. A dynsec
cluster formed by mosquitto_ha_ctrl: ordinary clients connect and publish on
every node at once, retained messages stay on the node they were published
on, /leader answers 200 on the leader only; a node that joins with the other
mode leaves and says why, and joins again with the right one; a partitioned
node goes on serving and reports being cut off. Then the same brokers form a
full cluster, whose followers refuse clients as before.

To stay quick, the tests of one broker version share one set of brokers
(a module-scoped fixture) and run in the order of this file: each starts
from the state the one before left."""

import http.client
import os
import signal
import subprocess
import sys

import pytest

import harness as h
from conftest import VERSIONS

CTRL = os.environ.get("HA_CTRL") or os.path.join(
    h.REPO, os.environ.get("BUILD", "build"), "san", "mosquitto_ha_ctrl")


class Ctx:
    def __init__(self, cluster):
        self.c = cluster
        self.three = [cluster.nodes[i] for i in (1, 2, 3)]

    def leader(self):
        return self.c.wait_leader(self.three)


@pytest.fixture(scope="module", params=VERSIONS)
def cl(request, tmp_path_factory):
    """Brokers 1 to 4 running, in no cluster, each with a health endpoint;
    their cluster links can be cut."""
    try:
        h.broker_path(request.param)
        h.check_plugin()
    except RuntimeError as e:
        pytest.fail(str(e))
    if not os.access(CTRL, os.X_OK):
        pytest.fail("%s not found: run `make %s`" % (CTRL, CTRL))
    workdir = tmp_path_factory.mktemp("syncmode-%s" % request.param)
    c = h.Cluster(str(workdir), request.param, partitionable=True)
    for i in (1, 2, 3, 4):
        n = c.add(i)
        n.health_port = h.free_port(n.host)
        n.plugin_opts["health_listen"] = "%s:%d" % (n.host, n.health_port)
    failed = True
    try:
        for n in c.nodes.values():
            n.spawn()
        for n in c.nodes.values():
            n.wait_ready()
        yield Ctx(c)
        failed = False
    finally:
        c.heal()
        if failed:
            sys.stderr.write("\n=== broker logs\n%s\n" % c.describe())
        slow = c.teardown()
        problems = ["sanitizer report in %s:\n%s" % r
                    for r in c.sanitizer_reports()]
        if slow:
            problems.append("brokers %s did not stop on SIGTERM" % slow)
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)
        h.remove_tree(c.workdir)


def health(node, path="/leader"):
    conn = http.client.HTTPConnection(node.host, node.health_port,
                                      timeout=3)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def spec(node):
    return "%d@%s:%d,mqtt=%s:%d" % (node.nodeid, node.host,
                                    node.cluster_port, node.host,
                                    node.mqtt_port)


def ctrl(*args):
    cmd = [CTRL, "-u", h.ADMIN, "-P", h.ADMIN_PW] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert "Sanitizer" not in r.stderr, r.stderr
    return r


def all_serve(nodes):
    """An ordinary client on every node at once subscribes, publishes and
    gets its own message."""
    return h.parallel([lambda n=n: h.client_round_trip(n.host, n.mqtt_port)
                       for n in nodes])


def test_dynsec_cluster_serves_on_every_node(cl):
    args = ["form", "--name", cl.c.name, "--syncmode", "dynsec"]
    for n in cl.three:
        args += ["--node", spec(n)]
    r = ctrl(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    leader = cl.leader()
    cl.c.wait_settled(cl.three, leader)
    assert leader.cmd("getCluster")["data"]["syncmode"] == "dynsec"
    for n in cl.three:
        st = n.raft_status()
        assert st["syncmode"] == "dynsec" and st["cutoff"] is False, st
        assert h.client_connack(n.host, n.mqtt_port) == 0
    assert all_serve(cl.three) == [True, True, True]
    # /leader is the leader's alone, though every node serves clients,
    # which /clients says.
    assert {n.nodeid: health(n) for n in cl.three} == {
        n.nodeid: 200 if n is leader else 503 for n in cl.three}
    assert [health(n, "/clients") for n in cl.three] == [200, 200, 200]


def test_retained_messages_stay_on_their_node(cl):
    leader = cl.leader()
    follower = next(n for n in cl.three if n is not leader)
    for n, topic in ((leader, "kept/leader"), (follower, "kept/follower")):
        s = h._PahoSession(n.host, n.mqtt_port, h.USER, h.USER_PW)
        try:
            assert s.publish_retained(topic, b"here", 1)
        finally:
            s.close()
    # Nothing was captured into the log, on either node.
    for n in cl.three:
        assert n.raft_status()["retain_msg"] == 0
    # Each node has its own retained message, and only that one.
    for n, own, other in ((leader, "kept/leader", "kept/follower"),
                          (follower, "kept/follower", "kept/leader")):
        s = h._PahoSession(n.host, n.mqtt_port, h.USER, h.USER_PW)
        try:
            s.subscribe("kept/#", 1)
            assert s.wait_message(lambda m: m[0] == own, 3.0) is not None
            assert s.wait_message(lambda m: m[0] == other, 1.0) is None
        finally:
            s.close()


def test_join_with_the_other_mode_is_refused(cl):
    n4 = cl.c.nodes[4]
    members = [n.member() for n in cl.three] + [n4.member(mynode=True)]
    r = n4.cmd("joinCluster", clustername=cl.c.name, nodes=members)
    assert "error" not in r, r
    leader = cl.leader()
    r = leader.cmd("addNode", clustername=cl.c.name, address=n4.host,
                   port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r
    h.wait_until("node 4 to leave the cluster",
                 lambda: "joinCluster refused" in n4.raft_status()["errmsg"],
                 10.0)
    st = n4.raft_status()
    assert st["errmsg"] == ("joinCluster refused: this node's syncmode is "
                            "full, the cluster's is dynsec"), st
    assert st["state"] == 0 and st["syncmode"] == "full", st
    assert n4.is_leader()["nodeid"] is None
    assert "joinCluster refused: this node's syncmode is full, the " \
        "cluster's is dynsec; leaving the cluster" in n4.log_text()
    # With the cluster's mode it joins and serves at once.
    r = n4.cmd("joinCluster", clustername=cl.c.name, nodes=members,
               syncmode="dynsec")
    assert "error" not in r, r
    h.wait_until("node 4 to apply the cluster's log",
                 lambda: n4.raft_status()["last_applied"] >=
                 leader.raft_status()["commit_index"] > 0, 10.0)
    st = n4.raft_status()
    assert st["syncmode"] == "dynsec" and st["errmsg"] == "", st
    assert h.client_round_trip(n4.host, n4.mqtt_port)
    h.wait_until("node 4 to be a voter", lambda: any(
        m["id"] == 4 and m["role"] == 1
        for m in leader.raft_status()["nodes"]), 10.0)
    r = leader.cmd("removeNode", clustername=cl.c.name, address=n4.host,
                   port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r
    h.wait_until("node 4 to be standalone",
                 lambda: n4.is_leader()["nodeid"] is None, 10.0)


def doc_haproxy_config(cl, host, port):
    """The dynsec example of docs/load-balancing.md, bound to host:port and
    pointed at the three nodes."""
    text = open(os.path.join(h.REPO, "docs", "load-balancing.md")).read()
    block = text.split("<!-- dynsec-haproxy")[1].split("```")[1]
    lines = []
    for line in block.strip("\n").splitlines():
        if line.strip().startswith("server "):
            continue
        lines.append(line.replace("bind :1883", "bind %s:%d" % (host, port)))
    lines += ["    server n%d %s:%d port %d" % (n.nodeid, n.host,
                                             n.mqtt_port, n.health_port)
              for n in cl.three]
    return "\n".join(lines) + "\n"


def node_behind(port, host, client_id):
    """Which node a client with this id reaches through the balancer: each
    node holds a retained message of its own id (retained messages stay per
    node in this mode). (nodeid, the open session)."""
    s = h._PahoSession(host, port, h.USER, h.USER_PW, client_id=client_id)
    s.subscribe("where", 1)
    m = s.wait_message(lambda m: m[0] == "where", 3.0)
    assert m is not None, "no retained 'where' through the balancer"
    return int(m[1]), s


def test_doc_load_balancer_sticks_clients_and_drops_a_dead_node(cl, tmp_path):
    for n in cl.three:
        s = h._PahoSession(n.host, n.mqtt_port, h.USER, h.USER_PW)
        try:
            assert s.publish_retained("where", str(n.nodeid).encode(), 1)
        finally:
            s.close()
    host = "%s.9" % cl.c.prefix
    port = h.free_port(host)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(doc_haproxy_config(cl, host, port))
    proxy = subprocess.Popen(["/usr/sbin/haproxy", "-f", str(cfg), "-db"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    stopped = None
    try:
        h.wait_until("HAProxy to listen", lambda: h.client_connack(
            host, port, timeout=1.0) == 0, 10.0)
        ids = ["sticky-%d" % k for k in range(12)]
        first = {}
        for cid in ids:
            first[cid], s = node_behind(port, host, cid)
            s.close()
        assert len(set(first.values())) > 1, first
        for cid in ids:  # the same node every time
            again, s = node_behind(port, host, cid)
            s.close()
            assert again == first[cid], (cid, first[cid], again)
        # A node that stops answering (paused: its connections stay open)
        # is marked down, and its clients' connections are closed.
        cid = ids[0]
        where, s = node_behind(port, host, cid)
        stopped = cl.c.nodes[where]
        stopped.signal(signal.SIGSTOP)
        assert s._pump(lambda: s.lost, 10.0), \
            "the balancer did not close the session of a node marked down"
        s.close()
        moved, s = node_behind(port, host, cid)
        s.close()
        assert moved != where
        stopped.signal(signal.SIGCONT)
        stopped = None
    finally:
        if stopped is not None:
            stopped.signal(signal.SIGCONT)
        proxy.terminate()
        proxy.wait(10)
    # Put back what the other tests expect: no retained message.
    for n in cl.three:
        s = h._PahoSession(n.host, n.mqtt_port, h.USER, h.USER_PW)
        try:
            assert s.publish_retained("where", b"", 1)
        finally:
            s.close()
    cl.leader()


def test_partitioned_node_serves_and_says_it_is_cut_off(cl):
    leader = cl.leader()
    cut = next(n for n in cl.three if n is not leader)
    rest = [n for n in cl.three if n is not cut]
    cl.c.partition(cut)
    try:
        h.wait_until("node %d to report being cut off" % cut.nodeid,
                     lambda: cut.raft_status()["cutoff"], 10.0)
        assert all_serve(cl.three) == [True, True, True]
        assert health(cut) == 503 and health(cut, "/clients") == 200
        assert not any(n.raft_status()["cutoff"] for n in rest)
        assert "hears from no majority of the cluster; it goes on serving " \
            "its clients" in cut.log_text()
    finally:
        cl.c.heal()
    h.wait_until("node %d to hear from the cluster again" % cut.nodeid,
                 lambda: not cut.raft_status()["cutoff"], 15.0)
    assert all_serve(cl.three) == [True, True, True]


def test_full_cluster_on_the_same_brokers_gates_followers(cl):
    leader = cl.leader()
    r = leader.cmd("deleteCluster", clustername=cl.c.name)
    assert "error" not in r, r
    h.wait_until("every node to be standalone", lambda: all(
        n.is_leader()["nodeid"] is None for n in cl.three), 10.0)
    # form without --syncmode: full, as before this option existed.
    args = ["form", "--name", cl.c.name]
    for n in cl.three:
        args += ["--node", spec(n)]
    r = ctrl(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    leader = cl.leader()
    cl.c.wait_settled(cl.three, leader)
    assert leader.cmd("getCluster")["data"]["syncmode"] == "full"
    for n in cl.three:
        st = n.raft_status()
        assert st["syncmode"] == "full" and st["cutoff"] is False, st
        want = 0 if n is leader else 5
        assert h.client_connack(n.host, n.mqtt_port) == want, n.nodeid
        assert health(n, "/clients") == (200 if n is leader else 503)
    # A form that names the other mode refuses the formed cluster.
    args = ["form", "--name", cl.c.name, "--syncmode", "dynsec"]
    for n in cl.three:
        args += ["--node", spec(n)]
    r = ctrl(*args)
    assert r.returncode != 0
    assert "has syncmode full, not dynsec" in r.stderr, r.stderr
