# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""mosquitto_ha_ctrl against real brokers of both versions: every
subcommand with its output and exit code (0 to 5), form from scratch, after
a partial failure and on a formed cluster, status with unreachable nodes and
--watch, wrong credentials, a refused command, two programs at once, TLS to
a listener that requires a client certificate, the options file.

To stay quick, the tests of one broker version share one set of brokers
(a module-scoped fixture) and run in the order of this file: each starts
from the state the one before left."""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

import harness as h
from conftest import VERSIONS
from test_serving_holes import make_certs

# The program built with AddressSanitizer and UndefinedBehaviorSanitizer:
# any report (a leak at exit included) fails the test.
CTRL = os.environ.get("HA_CTRL") or os.path.join(
    h.REPO, os.environ.get("BUILD", "build"), "san", "mosquitto_ha_ctrl")
SANITIZER_REPORT = re.compile(r"Sanitizer|runtime error:")

TOO_FEW = "Fewer than 3 nodes would remain in the cluster."
WRONG_CLUSTER = "The clustername does not match this cluster."
NOT_LEADER = "This broker is not the cluster leader."
NO_MATCH = "No node in the cluster matches these details."


def run(*args, auth=True, timeout=60):
    """The program with args (as the administrator unless auth is
    False): the finished process, output as text."""
    cmd = [CTRL] + (["-u", h.ADMIN, "-P", h.ADMIN_PW] if auth else [])
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)


def at(node, *args, **kw):
    """The program addressed to node's MQTT listener."""
    return run("-h", node.host, "-p", node.mqtt_port, *args, **kw)


def spec(node, mqtt=True):
    s = "%d@%s:%d" % (node.nodeid, node.host, node.cluster_port)
    return s + (",mqtt=%s:%d" % (node.host, node.mqtt_port) if mqtt else "")


def node_args(nodes, mqtt=True):
    out = []
    for n in nodes:
        out += ["--node", spec(n, mqtt)]
    return out


def explain(r):
    return "exit %d\n--- stdout\n%s--- stderr\n%s" % (r.returncode, r.stdout,
                                                      r.stderr)


def expect(r, code):
    assert r.returncode == code, explain(r)
    assert not SANITIZER_REPORT.search(r.stderr), explain(r)
    return r


class Ctx:
    def __init__(self, cluster, certs):
        self.c = cluster
        self.certs = certs
        self.three = [cluster.nodes[i] for i in (1, 2, 3)]

    def leader(self):
        return self.c.wait_leader(self.three)


@pytest.fixture(scope="module", params=VERSIONS)
def cl(request, tmp_path_factory):
    """Brokers 1, 2, 4 and 5 running (3 is started by the first test), all
    in no cluster; broker 1 also has a TLS listener that requires a client
    certificate."""
    try:
        h.broker_path(request.param)
        h.check_plugin()
    except RuntimeError as e:
        pytest.fail(str(e))
    if not os.access(CTRL, os.X_OK):
        pytest.fail("%s not found: run `make %s`" % (CTRL, CTRL))
    workdir = tmp_path_factory.mktemp("ctrl-%s" % request.param)
    c = h.Cluster(str(workdir), request.param)
    for i in (1, 2, 3, 4, 5):
        c.add(i)
    certs = make_certs(str(workdir / "certs"), [n.host for n in
                                                 c.nodes.values()])
    n1 = c.nodes[1]
    n1.tls_port = h.free_port(n1.host)
    n1.extra_conf += [
        "listener %d %s" % (n1.tls_port, n1.host),
        "cafile %s" % os.path.join(certs, "ca.crt"),
        "certfile %s" % os.path.join(certs, "server.crt"),
        "keyfile %s" % os.path.join(certs, "server.key"),
        "require_certificate true",
    ]
    failed = True
    try:
        for i in (1, 2, 4, 5):
            c.nodes[i].spawn()
        for i in (1, 2, 4, 5):
            c.nodes[i].wait_ready()
        yield Ctx(c, certs)
        failed = False
    finally:
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


def line_of(text, nodeid):
    for line in text.splitlines():
        if line.startswith("node %d " % nodeid):
            return line
    raise AssertionError("no line for node %d in:\n%s" % (nodeid, text))


def test_form_partial_then_complete(cl):
    c = cl.c
    n3 = c.nodes[3]
    form = ["form", "--name", c.name] + node_args(cl.three) + [
        "--timeout", 20]
    # Node 3 is not running: the cluster forms with two of three.
    r = expect(run(*form), 5)
    assert "in, created the cluster" in line_of(r.stdout, 1), explain(r)
    assert "in, joined" in line_of(r.stdout, 2), explain(r)
    assert "not in: Connection refused" in line_of(r.stdout, 3), explain(r)
    assert "2 of 3 nodes are in" in r.stdout, explain(r)

    # Again with node 3 up: it joins, the others are left as they are.
    n3.start()
    r = expect(run(*form), 0)
    assert "in, already in" in line_of(r.stdout, 1), explain(r)
    assert "in, already in" in line_of(r.stdout, 2), explain(r)
    assert "in, joined" in line_of(r.stdout, 3), explain(r)
    leader = cl.leader()
    assert re.search(r"node %d leads; 3 of 3 nodes are in" % leader.nodeid,
                     r.stdout), explain(r)
    c.wait_settled(cl.three, leader)

    # On the formed cluster: nothing to do, success.
    r = expect(run(*(form + ["--json"])), 0)
    doc = json.loads(r.stdout)
    assert doc["leader"] == leader.nodeid
    assert [(x["nodeid"], x["in"], x["how"]) for x in doc["nodes"]] == [
        (i, True, "already in") for i in (1, 2, 3)]
    # Under another name it is refused: these nodes are in another cluster.
    wrong = list(form)
    wrong[2] = c.name + "x"
    r = expect(run(*wrong), 1)
    assert "are in cluster '%s'" % c.name in r.stderr, explain(r)


def test_status_table_json_and_unreachable(cl):
    leader = cl.leader()
    r = expect(run("status", *node_args(cl.three)), 0)
    rows = r.stdout.splitlines()
    assert rows[0].split()[:3] == ["NODE", "CLUSTER", "ADDRESS"], explain(r)
    assert len(rows) == 4, explain(r)
    for n, row in zip(cl.three, rows[1:]):
        cols = row.split()
        assert cols[0] == str(n.nodeid), explain(r)
        assert cols[1] == "%s:%d" % (n.host, n.cluster_port)
        assert cols[2] == "%s:%d" % (n.host, n.mqtt_port)
        assert cols[3] == ("leader" if n is leader else "follower"), row
        assert cols[-1] == "yes", row

    r = expect(run("status", "--json", *node_args(cl.three)), 0)
    doc = json.loads(r.stdout)
    assert doc["leader"] == leader.nodeid
    for n, x in zip(cl.three, doc["nodes"]):
        assert x["nodeid"] == n.nodeid and x["reachable"] is True, x
        assert x["role"] == ("leader" if n is leader else "follower"), x
        assert isinstance(x["lag"], int) and x["lag"] >= 0, x
        assert x["raft"]["current_term"] >= 1, x

    # One broker only, by -h/-p: its id and address come from itself.
    n2 = cl.c.nodes[2]
    r = expect(at(n2, "status"), 0)
    cols = r.stdout.splitlines()[1].split()
    assert cols[:3] == ["2", "%s:%d" % (n2.host, n2.cluster_port),
                        "%s:%d" % (n2.host, n2.mqtt_port)], explain(r)

    # A node that does not answer: listed, and exit 5.
    ghost = "9@%s.9:7000,mqtt=%s:%d" % (cl.c.prefix, n2.host,
                                         h.free_port(n2.host))
    r = expect(run("status", "--node", ghost, *node_args(cl.three)), 5)
    rows = r.stdout.splitlines()
    assert rows[1].startswith("9 ") and "no: Connection refused" in rows[1]
    assert all(row.endswith("yes") for row in rows[2:]), explain(r)
    r = expect(run("status", "--json", "--node", ghost), 3)
    assert json.loads(r.stdout)["nodes"][0]["reachable"] is False

    # A list whose endpoint belongs to another node: said, and exit 5.
    n1, n3 = cl.c.nodes[1], cl.c.nodes[3]
    swapped = "1@%s:%d,mqtt=%s:%d" % (n1.host, n1.cluster_port, n3.host,
                                       n3.mqtt_port)
    r = expect(run("status", "--node", swapped, "--node", spec(n2)), 5)
    rows = r.stdout.splitlines()
    assert rows[1].startswith("1 ") and \
        "no: this endpoint answers as node 3" in rows[1], explain(r)
    assert rows[2].endswith("yes"), explain(r)


def test_status_watch_redraws(cl):
    p = subprocess.Popen([CTRL, "-u", h.ADMIN, "-P", h.ADMIN_PW, "status",
                          "--watch", "0.3"] + node_args(cl.three),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0 and not SANITIZER_REPORT.search(err), (out, err)
    tables = out.count("NODE  CLUSTER ADDRESS")
    assert tables >= 3, out
    assert out.count(" yes\n") == 3 * tables, out


def test_single_commands(cl):
    c = cl.c
    leader = cl.leader()
    follower = next(n for n in cl.three if n is not leader)
    r = expect(at(leader, "is-leader"), 0)
    assert r.stdout == "%s:%d (node %d) is the leader.\n" % (
        leader.host, leader.mqtt_port, leader.nodeid)
    r = expect(at(follower, "is-leader"), 0)
    assert "(node %d) is not the leader; node %d is." % (
        follower.nodeid, leader.nodeid) in r.stdout, explain(r)
    r = expect(at(follower, "is-leader", "--json"), 0)
    resp = json.loads(r.stdout)
    assert resp["command"] == "isLeader"
    assert resp["data"] == {"leader": False, "nodeid": follower.nodeid,
                            "leader_nodeid": leader.nodeid}
    assert resp["correlationData"].startswith("ha-ctrl-")
    # An outsider: in no cluster.
    r = expect(at(c.nodes[5], "is-leader"), 0)
    assert "is not in a cluster" in r.stdout

    r = expect(at(leader, "cluster"), 0)
    assert "cluster    %s\n" % c.name in r.stdout, explain(r)
    assert "leader     node %d\n" % leader.nodeid in r.stdout
    for n in cl.three:
        assert re.search(r"^ +%d  %s:%d" % (n.nodeid, re.escape(n.host),
                                            n.cluster_port),
                         r.stdout, re.M), explain(r)
    r = expect(at(leader, "cluster", "--json"), 0)
    data = json.loads(r.stdout)["data"]
    assert data["clustername"] == c.name and data["leader"] == leader.nodeid
    r = expect(at(follower, "cluster"), 1)
    assert r.stderr == "mosquitto_ha_ctrl: getCluster: %s\n" % NOT_LEADER
    assert r.stdout == ""

    # MQTT v5 and a client id of one's own.
    r = expect(at(leader, "-V", "mqttv5", "-i", "ctl-v5-test", "is-leader"),
               0)
    assert "is the leader" in r.stdout
    assert "as ctl-v5-test" in leader.log_text()

    r = expect(at(leader, "set-leader", "--name", c.name, "--id",
                  follower.nodeid), 0)
    assert r.stdout == "Leadership of cluster %s handed to node %d.\n" % (
        c.name, follower.nodeid)
    assert c.wait_leader(cl.three, timeout=5) is follower
    c.wait_settled(cl.three, follower)


def test_refused_commands_and_credentials(cl):
    c = cl.c
    leader = cl.leader()
    victim = next(n for n in cl.three if n is not leader)
    r = expect(at(leader, "remove-node", "--name", c.name, "--node",
                  spec(victim, mqtt=False)), 1)
    assert r.stderr == "mosquitto_ha_ctrl: removeNode: %s\n" % TOO_FEW
    assert r.stdout == ""
    r = expect(at(leader, "delete", "--name", c.name + "x"), 1)
    assert WRONG_CLUSTER in r.stderr
    r = expect(at(leader, "remove-node", "--name", c.name, "--json",
                  "--node", spec(victim, mqtt=False)), 1)
    assert json.loads(r.stdout)["error"] == TOO_FEW

    # Wrong password; a user who is no administrator; nothing listening.
    r = expect(run("-h", leader.host, "-p", leader.mqtt_port, "-u", h.ADMIN,
                   "-P", "wrong", "is-leader", auth=False), 3)
    assert "connection refused" in r.stderr.lower(), explain(r)
    r = expect(run("-h", leader.host, "-p", leader.mqtt_port, "-V", "mqttv5",
                   "-u", h.ADMIN, "-P", "wrong", "is-leader", auth=False), 3)
    assert "connection refused" in r.stderr.lower(), explain(r)
    r = expect(run("-h", leader.host, "-p", leader.mqtt_port, "-u", h.USER,
                   "-P", h.USER_PW, "is-leader", auth=False), 3)
    assert "not authorised" in r.stderr, explain(r)
    r = expect(run("-h", leader.host, "-p", h.free_port(leader.host),
                   "cluster"), 3)
    assert "Connection refused" in r.stderr
    assert c.wait_leader(cl.three) is leader  # nothing changed


def test_timeout_without_an_answer():
    """A listener that accepts and never answers: exit 4 once --timeout
    has passed."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        t0 = time.monotonic()
        r = expect(run("-h", "127.0.0.1", "-p", srv.getsockname()[1],
                       "--timeout", "0.5", "is-leader"), 4)
        took = time.monotonic() - t0
    assert "no answer to the connection (CONNACK)" in r.stderr, explain(r)
    assert 0.5 <= took < 5, took


def test_add_join_and_remove_node(cl):
    c = cl.c
    leader = cl.leader()
    n4 = c.nodes[4]
    four = cl.three + [n4]
    # join goes to the --me node's own listener when -h is not given.
    r = expect(run("join", "--name", c.name, "--me", 4, *node_args(four)), 0)
    assert r.stdout == "%s:%d (node 4) joined cluster %s.\n" % (
        n4.host, n4.mqtt_port, c.name)
    r = expect(at(leader, "add-node", "--name", c.name, "--node",
                  spec(n4, mqtt=False)), 0)
    assert r.stdout == "Node 4 (%s:%d) added to cluster %s.\n" % (
        n4.host, n4.cluster_port, c.name)
    h.wait_until("node 4 to become a voter", lambda: sorted(
        x["id"] for x in leader.raft_status()["nodes"] if x["role"] == 1) ==
        [1, 2, 3, 4], 10)
    h.wait_until("four nodes in the status", lambda: run(
        "status", *node_args(four)).returncode == 0, 10)
    r = expect(at(leader, "remove-node", "--name", c.name, "--node",
                  spec(n4, mqtt=False)), 0)
    assert r.stdout == "Node 4 (%s:%d) removed from cluster %s.\n" % (
        n4.host, n4.cluster_port, c.name)
    h.wait_until("node 4 to be standalone", lambda: "is not in a cluster" in
                 at(n4, "is-leader").stdout, 5)


def test_form_without_a_leader_then_leave(cl):
    """Node 5 with two nodes that do not exist: createCluster succeeds, no
    leader comes (exit 4); leave drops its configuration again."""
    c = cl.c
    n5 = c.nodes[5]
    ghosts = ["%d@%s:%d,mqtt=%s:%d" % (i, n5.host, h.free_port(n5.host),
                                       n5.host, h.free_port(n5.host))
              for i in (6, 7)]
    t0 = time.monotonic()
    r = expect(run("form", "--name", "lone", "--node", spec(n5), "--node",
                   ghosts[0], "--node", ghosts[1], "--timeout", 6), 4)
    # The bound covers createCluster's first write to disk on a busy
    # machine; what the test checks is that form gives up, not how soon.
    assert time.monotonic() - t0 < 20
    assert "in, created the cluster" in line_of(r.stdout, 5), explain(r)
    assert "no leader agreed" in r.stderr, explain(r)
    assert "(node 5) is not the leader" in at(n5, "is-leader").stdout

    r = expect(run("leave", "--name", "lone", "--node",
                   "5@%s:%d,mqtt=%s:%d" % (n5.host, n5.cluster_port + 1,
                                           n5.host, n5.mqtt_port)), 1)
    assert NO_MATCH in r.stderr, explain(r)
    r = expect(run("leave", "--name", "lone", "--node", spec(n5)), 0)
    assert r.stdout == "Node 5 (%s:%d) left cluster lone.\n" % (
        n5.host, n5.cluster_port)
    assert "is not in a cluster" in at(n5, "is-leader").stdout


def test_two_programs_at_once_get_their_own_replies(cl):
    """Replies go to every administrator: each program must take only its
    own. Another administrator keeps the response topic busy with isLeader
    replies of its own, while two loops of different commands and a status
    --watch run at once; every program prints a response that carries its
    own correlationData (which names its process)."""
    leader = cl.leader()
    results = {"isLeader": [], "getCluster": []}
    stop = threading.Event()
    noise = {"sent": 0, "seen": 0}

    def make_noise():
        s = h._PahoSession(leader.host, leader.mqtt_port, h.ADMIN,
                           h.ADMIN_PW)
        try:
            s.subscribe(h.RESPONSE_TOPIC)
            while not stop.is_set() or noise["sent"] < 50:
                s.publish(h.CONTROL_TOPIC, json.dumps({"commands": [
                    {"command": "isLeader",
                     "correlationData": "noise-%d" % noise["sent"]}]}),
                    qos=0)
                noise["sent"] += 1
                s._pump(lambda: False, 0.005)
            # The replies to the last requests may still be on their way.
            deadline = time.monotonic() + 5
            while True:
                noise["seen"] = sum(1 for m in s.messages
                                    if b"noise-" in m[1])
                if noise["seen"] >= noise["sent"] or \
                        time.monotonic() > deadline:
                    break
                s._pump(lambda: False, 0.05)
        finally:
            s.close()

    def loop(cmd, key):
        for _ in range(8):
            p = subprocess.Popen([CTRL, "-u", h.ADMIN, "-P", h.ADMIN_PW,
                                  "-h", leader.host, "-p",
                                  str(leader.mqtt_port), cmd, "--json"],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            out, err = p.communicate(timeout=30)
            results[key].append((p.pid, p.returncode, out, err))

    noiser = threading.Thread(target=make_noise)
    noiser.start()
    watch = subprocess.Popen([CTRL, "-u", h.ADMIN, "-P", h.ADMIN_PW,
                              "status", "--json", "--watch", "0.1"] +
                             node_args(cl.three), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    threads = [threading.Thread(target=loop, args=a) for a in
               (("is-leader", "isLeader"), ("cluster", "getCluster"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    watch.send_signal(signal.SIGINT)
    out, err = watch.communicate(timeout=10)
    stop.set()
    noiser.join(10)
    assert noise["seen"] >= 50, noise
    for key, runs in results.items():
        assert len(runs) == 8
        for pid, code, stdout, stderr in runs:
            assert code == 0 and stderr == "", (key, stdout, stderr)
            resp = json.loads(stdout)
            assert resp["command"] == key, (key, stdout)
            assert resp["correlationData"].startswith("ha-ctrl-%d-" % pid)
    assert watch.returncode == 0 and not SANITIZER_REPORT.search(err), err
    docs = [json.loads(line) for line in out.splitlines()]
    assert len(docs) >= 3
    for d in docs:
        assert [x["reachable"] for x in d["nodes"]] == [True] * 3, d
        assert d["leader"] == leader.nodeid, d


def test_tls_listener_that_requires_a_certificate(cl):
    n1 = cl.c.nodes[1]
    ca = os.path.join(cl.certs, "ca.crt")
    cert = os.path.join(cl.certs, "client.crt")
    key = os.path.join(cl.certs, "client.key")
    tls = ["-h", n1.host, "-p", n1.tls_port, "--cafile", ca]
    r = expect(run(*tls, "--cert", cert, "--key", key, "is-leader"), 0)
    assert "(node 1) is" in r.stdout, explain(r)
    # Without a client certificate the handshake fails; without TLS the
    # listener drops the connection.
    expect(run(*tls, "is-leader", "--timeout", 5), 3)
    expect(run("-h", n1.host, "-p", n1.tls_port, "is-leader", "--timeout",
               5), 3)


def test_options_file(cl, tmp_path):
    leader = cl.leader()
    path = tmp_path / "ha.options"
    path.write_text("# administrator of the test cluster\n"
                    "-h %s\n-p %d\n-u %s\n-P %s\n" % (
                        leader.host, leader.mqtt_port, h.ADMIN, h.ADMIN_PW) +
                    "".join("--node %s\n" % spec(n) for n in cl.three))
    os.chmod(path, 0o644)
    r = expect(run("-o", path, "is-leader", auth=False), 2)
    assert "chmod 600" in r.stderr, explain(r)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    r = expect(run("-o", path, "is-leader", auth=False), 0)
    assert "is the leader" in r.stdout, explain(r)
    r = expect(run("-o", path, "status", auth=False), 0)
    assert len(r.stdout.splitlines()) == 4, explain(r)
    # The command line's --node replace the file's.
    r = expect(run("-o", path, "status", "--node", spec(leader), auth=False),
               0)
    assert len(r.stdout.splitlines()) == 2, explain(r)
    # The command line wins over the file.
    expect(run("-o", path, "-P", "wrong", "is-leader", auth=False), 3)
    # A leader-only command sent to a follower follows it to the leader,
    # whose administrative endpoint the file's node list gives.
    follower = next(n for n in cl.three if n is not leader)
    r = expect(run("-o", path, "-h", follower.host, "-p", follower.mqtt_port,
                   "cluster", auth=False), 0)
    assert r.stdout.startswith("sent to node %d, the leader, at %s:%d\n" % (
        leader.nodeid, leader.host, leader.mqtt_port)), explain(r)
    assert "leader     node %d\n" % leader.nodeid in r.stdout, explain(r)
    # Without the file's endpoints there is nowhere to follow it.
    r = expect(at(follower, "cluster"), 1)
    assert NOT_LEADER in r.stderr


def test_delete(cl):
    c = cl.c
    leader = cl.leader()
    r = expect(at(leader, "delete", "--name", c.name), 0)
    assert r.stdout == "Cluster %s deleted.\n" % c.name
    h.wait_until("every node to be standalone", lambda: all(
        n.is_leader()["nodeid"] is None for n in cl.three), 5)
    r = expect(at(leader, "cluster"), 1)
    assert "This broker is not part of a cluster." in r.stderr


@pytest.mark.parametrize("args, message", [
    ([], "no command given"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["status", "extra"], "unexpected argument 'extra'"),
    (["create", "--name", "x", "--node", "1@10.0.0.1:7000"],
     "create needs at least three --node"),
    (["create", "--name", "x", "--node", "1@10.0.0.1:7000", "--node",
      "2@10.0.0.2:7000", "--node", "3@10.0.0.3:7000"], "create needs --me"),
    (["create", "--name", "x", "--me", "4", "--node", "1@10.0.0.1:7000",
      "--node", "2@10.0.0.2:7000", "--node", "3@10.0.0.3:7000"],
     "--me to name one of the --node ids"),
    (["add-node", "--name", "x", "--node", "0@10.0.0.1:7000"],
     "ID from 1 to 1023"),
    (["add-node", "--name", "x", "--node", "1@10.0.0.1"], "--node"),
    (["add-node", "--node", "1@10.0.0.1:7000"], "add-node needs --name"),
    (["set-leader", "--name", "x"], "set-leader needs --id"),
    (["delete", "--name", "x", "--id", "2"], "delete takes no --id"),
    (["status", "--node", "1@10.0.0.1:7000"], "needs its administrative"),
    (["form", "--name", "x", "--node", "1@10.0.0.1:7000,mqtt=10.0.0.1:1"],
     "form needs --name NAME and at least three"),
    (["is-leader", "--watch", "1"], "--watch is for status only"),
    (["-V", "mqttv4", "is-leader"], "expected mqttv31, mqttv311 or mqttv5"),
    (["-p", "0", "is-leader"], "-p 0: not a port"),
    (["--timeout", "x", "is-leader"], "--timeout x"),
    (["-o", "/nonexistent/options", "is-leader"], "/nonexistent/options"),
])
def test_usage_errors(args, message):
    r = expect(run(*args, auth=False), 2)
    assert message in r.stderr, explain(r)
    assert r.stdout == ""


def test_help():
    r = expect(run("--help", auth=False), 0)
    for heading in ("SYNOPSIS", "COMMANDS", "CONNECTION OPTIONS",
                    "EXIT STATUS", "EXAMPLES"):
        assert "\n%s\n" % heading in r.stdout
    for code in range(6):
        assert "\n    %d  " % code in r.stdout
