# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Access control served by mosquitto_ha.so (plugin_opt_access_control
dynsec, full sync mode) on real brokers of both versions, driven with
Debian's `mosquitto_ctrl dynsec` as an administrator would:

- before a cluster, each broker serves its own plugin_opt_dynsec_file, a
  file that `mosquitto_ctrl dynsec init` made and the stock plugin changed;
  createCluster imports the creator's, joinCluster replaces the joiners';
- every user of the imported file logs in with the same password on every
  node, once leadership moved there;
- a user created on the leader logs in after setLeader and after kill -9 of
  the leader; a deleted one is refused after the same moves;
- a follower that was down during changes catches up by the log, and (many
  changes later, past snapshots) by a snapshot;
- changes from several programs at once while the leader is killed: every
  node's data ends identical (the export of each, as leader) and holds every
  change that was acknowledged;
- a follower refuses the dynamic-security topic; the export loads into a
  stock broker, whose users log in.

To stay quick, the tests of one broker version share one cluster (a
module-scoped fixture) and run in the order of this file."""

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

import harness as h
from conftest import VERSIONS

# mosquitto_ha_ctrl, built with the sanitizers (tests/cluster/module.mk).
CTRL = os.environ.get("HA_CTRL") or os.path.join(
    h.REPO, os.environ.get("BUILD", "build"), "san", "mosquitto_ha_ctrl")
DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1"
DYNSEC_RESPONSE = DYNSEC_TOPIC + "/response"
NOT_LEADER = "This broker is not the cluster leader."
# A stock file changed by the stock plugin: these users and passwords.
FILE_USERS = {"u1": "pw-u1", "u2": "pw-u2", h.ADMIN: h.ADMIN_PW}


def ctrl(node, *args, timeout=20):
    """mosquitto_ctrl dynsec ARGS against node as the administrator: the
    finished process (text)."""
    cmd = [h.MOSQUITTO_CTRL, "-h", node.host, "-p", str(node.mqtt_port),
           "-u", h.ADMIN, "-P", h.ADMIN_PW, "dynsec"] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout)


def ctrl_ok(node, *args):
    r = ctrl(node, *args)
    assert r.returncode == 0 and "rror" not in r.stdout + r.stderr, (
        "mosquitto_ctrl dynsec %s: exit %d\n%s%s" % (
            " ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
    return r


def change(c, nodes, *args):
    """mosquitto_ctrl dynsec ARGS on the leader of nodes, sent again to the
    new one when leadership moved meanwhile (a loaded machine can stall a
    leader past the election timeout; that is not what these tests are
    about): the leader that took it."""
    for attempt in range(6):
        leader = c.wait_leader(nodes)
        r = ctrl(leader, *args)
        out = r.stdout + r.stderr
        if NOT_LEADER in out or "Leadership moved" in out:
            time.sleep(0.3)
            continue
        # A change that committed as leadership moved, sent again.
        if attempt > 0 and "already exists" in out:
            return leader
        assert r.returncode == 0 and "rror" not in out, (
            "mosquitto_ctrl dynsec %s: exit %d\n%s" % (
                " ".join(map(str, args)), r.returncode, out))
        return leader
    raise AssertionError("no leader took mosquitto_ctrl dynsec %s" %
                         " ".join(map(str, args)))


def flood(c, nodes, count):
    """count retained publishes (QoS 0, each hundred confirmed by a QoS 1
    one) by u1 on the leader, again on the new one if leadership moves."""
    sent = 0
    while sent < count:
        leader = c.wait_leader(nodes)
        try:
            s = h._PahoSession(leader.host, leader.mqtt_port, "u1",
                               FILE_USERS["u1"])
        except h.ControlError:
            continue
        try:
            if s.rc != 0:
                continue
            while sent < count:
                for i in range(100):
                    s.publish_retained("t/flood", "m%d" % (sent + i), qos=0)
                if not s.publish_retained("t/flood", "ok", qos=1,
                                          timeout=10):
                    break
                sent += 100
        except h.ControlError:
            pass
        finally:
            s.close()


def dynsec(node, commands, timeout=8.0):
    """The responses to commands (each given a correlationData) on the
    dynamic-security topic of node, as the administrator."""
    cmds, corr = [], []
    for i, c in enumerate(commands):
        c = dict(c)
        c.setdefault("correlationData", "d%d-%d" % (os.getpid(), i))
        cmds.append(c)
        corr.append(c["correlationData"])

    def mine(reply):
        rs = reply.get("responses")
        return isinstance(rs, list) and [r.get("correlationData")
                                         for r in rs] == corr

    reply = h.control_raw(node.host, node.mqtt_port,
                          json.dumps({"commands": cmds}), timeout,
                          match=mine, topic=DYNSEC_TOPIC,
                          response_topic=DYNSEC_RESPONSE)
    return reply["responses"]


def export(node):
    r = dynsec(node, [{"command": "exportConfig"}])[0]
    assert "error" not in r, r
    return r["data"]["config"]


def stock_broker(workdir, version, prefix, config_file):
    """A single broker with the stock dynamic-security plugin on
    config_file: (process, host, port)."""
    host = prefix + ".200"
    port = h.free_port(host)
    conf = os.path.join(workdir, "stock-%d.conf" % port)
    with open(conf, "w") as f:
        f.write("plugin %s\nplugin_opt_config_file %s\nlistener %d %s\n"
                "allow_anonymous false\nuser root\nlog_dest stderr\n" % (
                    h.DYNSEC_PLUGINS[version], config_file, port, host))
    log = open(os.path.join(workdir, "stock-%d.log" % port), "wb")
    proc = subprocess.Popen([h.broker_path(version), "-c", conf],
                            stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()

    def up():
        assert proc.poll() is None, "the stock broker exited"
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            return False
    h.wait_until("the stock broker to listen", up, 10, 0.02)
    return proc, host, port


class At:
    """A host and port, as ctrl() and dynsec() take a node."""

    def __init__(self, host, port):
        self.host, self.mqtt_port = host, port


def stock_changed_file(workdir, version, prefix):
    """A file made by `mosquitto_ctrl dynsec init` and changed through the
    stock plugin: users u1 (in group g1, whose role r1 may publish t/#)
    and u2."""
    path = os.path.join(workdir, "creator-dynsec.json")
    subprocess.run([h.MOSQUITTO_CTRL, "dynsec", "init", path, h.ADMIN,
                    h.ADMIN_PW], check=True, capture_output=True)
    proc, host, port = stock_broker(workdir, version, prefix, path)
    try:
        at = At(host, port)
        ctrl_ok(at, "createClient", "u1", "-p", FILE_USERS["u1"])
        ctrl_ok(at, "createClient", "u2", "-p", FILE_USERS["u2"])
        ctrl_ok(at, "createRole", "r1")
        ctrl_ok(at, "addRoleACL", "r1", "publishClientSend", "t/#", "allow")
        ctrl_ok(at, "createGroup", "g1")
        ctrl_ok(at, "addGroupRole", "g1", "r1")
        ctrl_ok(at, "addGroupClient", "g1", "u1")
    finally:
        proc.terminate()
        proc.wait(10)
    return path


def move_leader(c, target):
    """setLeader to target (from whoever leads); target once it serves."""
    three = list(c.nodes.values())
    leader = c.wait_leader(three)
    if leader is not target:
        r = leader.cmd("setLeader", clustername=c.name, nodeid=target.nodeid)
        assert "error" not in r, r
        h.wait_until("node %d to lead" % target.nodeid,
                     lambda: c.wait_leader(three) is target, 10)
    return target


def logins(node, users):
    """{user: CONNACK code} on node."""
    return {u: node.connack(username=u, password=p) for u, p in users.items()}


def kill_leader(c):
    """kill -9 of the leader; the new leader once it serves; the killed
    node restarted (it rejoins by itself)."""
    nodes = list(c.nodes.values())
    old = c.wait_leader(nodes)
    old.kill9()
    new = c.wait_leader([n for n in nodes if n is not old])
    old.start()
    return old, new


class Ctx:
    def __init__(self, cluster, version):
        self.c = cluster
        self.version = version
        self.nodes = [cluster.nodes[i] for i in (1, 2, 3)]


def form(c, creator_file):
    """createCluster on node 1 and joinCluster on 2 and 3, with their
    replies checked; the leader once the import committed."""
    ids = (1, 2, 3)
    n1 = c.nodes[1]
    r = n1.cmd("createCluster", clustername=c.name,
               nodes=c.members(ids, 1))
    assert "error" not in r, r
    note = r["data"]["accessControl"]
    assert note == ("3 clients, 1 groups and 2 roles of %s are imported "
                    "into the cluster once its feature level is 3." %
                    creator_file), r
    for i in (2, 3):
        r = c.nodes[i].cmd("joinCluster", clustername=c.name,
                           nodes=c.members(ids, i))
        assert r.get("data") == {"accessControl": (
            "This broker's access-control data is replaced by the "
            "cluster's.")}, r
    leader = c.wait_leader(list(c.nodes.values()))
    h.wait_until("the import to commit", lambda: any(
        x["username"] == "u1" for x in export(leader).get("clients", [])),
        15)
    c.wait_settled(list(c.nodes.values()), leader)
    return leader


@pytest.fixture(scope="module", params=VERSIONS)
def ac(request, tmp_path_factory):
    try:
        h.broker_path(request.param)
        h.check_plugin()
    except RuntimeError as e:
        pytest.fail(str(e))
    version = request.param
    workdir = tmp_path_factory.mktemp("ac-%s" % version)
    c = h.Cluster(str(workdir), version)
    creator_file = stock_changed_file(str(workdir), version, c.prefix)
    joiner_file = os.path.join(str(workdir), "joiner-dynsec.json")
    subprocess.run([h.MOSQUITTO_CTRL, "dynsec", "init", joiner_file,
                    "joiner", "pw-joiner"], check=True, capture_output=True)
    for i in (1, 2, 3):
        n = c.add(i)
        n.plugin_opts["access_control"] = "dynsec"
        # Snapshots every few entries: catch-up by snapshot is quick.
        n.plugin_opts["snapshot_interval"] = "16"
    c.nodes[1].plugin_opts["dynsec_file"] = creator_file
    c.nodes[2].plugin_opts["dynsec_file"] = joiner_file
    failed = True
    try:
        for n in c.nodes.values():
            n.spawn()
        for n in c.nodes.values():
            n.wait_ready()
        ctx = Ctx(c, version)
        ctx.creator_file = creator_file
        yield ctx
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


def test_standalone_serves_its_file_then_import(ac):
    c = ac.c
    n1, n2 = c.nodes[1], c.nodes[2]
    # Before any cluster, each broker serves its own file.
    assert logins(n1, FILE_USERS) == {u: 0 for u in FILE_USERS}
    assert n1.connack(username="u1", password="wrong") == 5
    assert n2.connack(username="joiner", password="pw-joiner") == 0
    assert n2.connack(username="u1", password=FILE_USERS["u1"]) == 5
    # A change standalone is served at once and written to the file.
    ctrl_ok(n2, "createClient", "solo", "-p", "pw-solo")
    assert n2.connack(username="solo", password="pw-solo") == 0
    with open(c.nodes[2].plugin_opts["dynsec_file"]) as f:
        assert "solo" in [x["username"] for x in json.load(f)["clients"]]
    form(c, ac.creator_file)
    h.wait_until("the creator to log the import", lambda: (
        "imported the access-control data into the cluster: 3 clients, "
        "1 groups, 2 roles" in n1.log_text()), 5)
    # Every user of the creator's file, with its password, on every node
    # once it leads; the joiners' own users are gone.
    for n in ac.nodes:
        move_leader(c, n)
        assert logins(n, FILE_USERS) == {u: 0 for u in FILE_USERS}, n.nodeid
        # u1's group has a role that may publish to t/#; u2 has none.
        assert h.raw_publish_reason(n.host, n.mqtt_port, "u1",
                                    FILE_USERS["u1"], "t/x", b"1") in (0, 16)
        assert h.raw_publish_reason(n.host, n.mqtt_port, "u2",
                                    FILE_USERS["u2"], "t/x", b"1") == 0x87
        for u, p in (("joiner", "pw-joiner"), ("solo", "pw-solo"),
                     ("u1", "pw-u2")):
            assert n.connack(username=u, password=p) == 5, (n.nodeid, u)


def test_connections_of_a_client(ac):
    """2.1 lists a client's connections in getClient, as its stock plugin
    does (the broker knows them); 2.0's stock plugin has no such field."""
    c = ac.c
    leader = c.wait_leader(ac.nodes)
    s = h._PahoSession(leader.host, leader.mqtt_port, "u1", FILE_USERS["u1"])
    try:
        assert s.rc == 0
        r = dynsec(leader, [{"command": "getClient", "username": "u1"},
                            {"command": "listClients", "verbose": True}])
    finally:
        s.close()
    client = r[0]["data"]["client"]
    listed = {x["username"]: x for x in r[1]["data"]["clients"]}
    if ac.version == "2.0":
        assert "connections" not in client and "connections" not in listed[
            "u1"], r
    else:
        assert [x["address"][:4] for x in client["connections"]] == [
            "127."], r
        assert listed["u1"]["connections"] == client["connections"]
        assert listed["u2"]["connections"] == []


def test_follower_refuses_the_topic(ac):
    c = ac.c
    leader = c.wait_leader(ac.nodes)
    follower = next(n for n in ac.nodes if n is not leader)
    rs = dynsec(follower, [{"command": "listClients"},
                           {"command": "createClient", "username": "x",
                            "password": "y"}])
    assert [r.get("error") for r in rs] == [NOT_LEADER, NOT_LEADER], rs
    r = ctrl(follower, "listClients")
    assert NOT_LEADER in r.stdout + r.stderr, r
    # An ordinary client is refused there anyway.
    assert follower.connack(username="u1", password=FILE_USERS["u1"]) == 5


def test_created_then_deleted_user_across_moves(ac):
    c = ac.c
    leader = change(c, ac.nodes, "createClient", "newbie", "-p", "pw-newbie")
    assert leader.connack(username="newbie", password="pw-newbie") == 0
    for n in ac.nodes:
        move_leader(c, n)
        assert n.connack(username="newbie", password="pw-newbie") == 0
    _, new = kill_leader(c)
    assert new.connack(username="newbie", password="pw-newbie") == 0
    c.wait_settled(ac.nodes, c.wait_leader(ac.nodes))
    new = change(c, ac.nodes, "deleteClient", "newbie")
    assert new.connack(username="newbie", password="pw-newbie") == 5
    for n in ac.nodes:
        move_leader(c, n)
        assert n.connack(username="newbie", password="pw-newbie") == 5
    _, new = kill_leader(c)
    assert new.connack(username="newbie", password="pw-newbie") == 5
    c.wait_settled(ac.nodes, c.wait_leader(ac.nodes))


def test_kick_on_change(ac):
    """A client whose password changes is disconnected at once."""
    c = ac.c
    leader = c.wait_leader(ac.nodes)
    s = h._PahoSession(leader.host, leader.mqtt_port, "u2", FILE_USERS["u2"])
    try:
        assert s.rc == 0
        ctrl_ok(leader, "setClientPassword", "u2", "pw-u2-new")
        assert s._pump(lambda: s.lost, 5), "u2 is still connected"
    finally:
        s.close()
    assert leader.connack(username="u2", password="pw-u2-new") == 0
    change(c, ac.nodes, "setClientPassword", "u2", FILE_USERS["u2"])


def catch_up(ac, prefix, entries):
    """A follower stopped while a user is created, then (entries) retained
    messages fill the log, then another user is created; started again, it
    leads and both users log in. The snapshots it was sent since it
    started."""
    c = ac.c
    leader = c.wait_leader(ac.nodes)
    down = next(n for n in ac.nodes if n is not leader)
    down.stop()
    live = [n for n in ac.nodes if n is not down]
    change(c, live, "createClient", prefix + "0", "-p", "pw0")
    if entries:
        flood(c, live, entries)
    change(c, live, "createClient", prefix + "1", "-p", "pw1")
    down.start()
    c.wait_settled(ac.nodes, c.wait_leader(ac.nodes), timeout=30)
    installed = down.raft_status()["snapshot"]["installed"]
    move_leader(c, down)
    for i in (0, 1):
        assert down.connack(username="%s%d" % (prefix, i),
                            password="pw%d" % i) == 0, i
    return installed


def test_follower_catches_up_by_log_and_by_snapshot(ac):
    # A leader keeps 1024 entries behind its snapshot: two changes reach
    # the follower as log entries; past 1024 more entries it is sent a
    # snapshot, whose access-control section holds them.
    assert catch_up(ac, "log", 0) == 0
    assert catch_up(ac, "snap", 1200) >= 1


def test_concurrent_changes_during_failover(ac, report):
    c = ac.c
    acked = []
    outputs = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(w):
        # As an administrator would: the first node that takes it. Each
        # waits for the reply with its own correlationData (mosquitto_ctrl
        # takes any reply on the response topic for its own, so with
        # several at once it cannot tell which change was acknowledged).
        for i in range(40):
            if stop.is_set():
                return
            name = "w%d-%d" % (w, i)
            for n in ac.nodes:
                if not n.running():
                    continue
                try:
                    r = dynsec(n, [{"command": "createClient",
                                    "username": name, "password": "pw-" + name,
                                    "correlationData": name}], timeout=5)[0]
                except (h.ControlError, OSError) as e:
                    # Its broker went away with the request: unknown.
                    outputs.append((n.nodeid, str(e)))
                    continue
                out = r.get("error", "")
                outputs.append((n.nodeid, out))
                if not out:
                    with lock:
                        acked.append(name)
                    break
                if NOT_LEADER not in out:
                    time.sleep(0.05)

    def ctrl_writer():
        # mosquitto_ctrl itself at the same time (its changes are in the
        # comparison of the nodes' data, not in the acknowledged list).
        for i in range(40):
            if stop.is_set():
                return
            for n in ac.nodes:
                if n.running():
                    try:
                        ctrl(n, "createClient", "mc%d" % i, "-p", "x",
                             timeout=5)
                    except subprocess.TimeoutExpired:
                        pass

    threads = [threading.Thread(target=writer, args=(w,), daemon=True)
               for w in range(3)]
    threads.append(threading.Thread(target=ctrl_writer, daemon=True))
    for t in threads:
        t.start()
    time.sleep(1.0)
    old, new = kill_leader(c)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(60)
    leader = c.wait_leader(ac.nodes)
    c.wait_settled(ac.nodes, leader, timeout=20)
    exports = {}
    for n in ac.nodes:
        move_leader(c, n)
        exports[n.nodeid] = export(n)
    first = exports[1]
    for nid, e in exports.items():
        assert e == first, "node %d's data differs from node 1's" % nid
    names = {x["username"] for x in first["clients"]}
    missing = [a for a in acked if a not in names]
    assert not missing, missing
    assert len(acked) > 10, (acked, outputs[:5])
    report("%d changes acknowledged across kill -9 of node %d, all on every "
           "node" % (len(acked), old.nodeid))


def test_export_loads_into_the_stock_plugin(ac, tmp_path):
    c = ac.c
    leader = c.wait_leader(ac.nodes)
    path = str(tmp_path / "exported.json")
    # As docs/access-control.md shows it.
    r = subprocess.run(
        ["mosquitto_rr", "-h", leader.host, "-p", str(leader.mqtt_port),
         "-u", h.ADMIN, "-P", h.ADMIN_PW, "-t", DYNSEC_TOPIC, "-e",
         DYNSEC_RESPONSE, "-W", "10", "-m",
         '{"commands":[{"command":"exportConfig"}]}'],
        capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    by_rr = json.loads(r.stdout)["responses"][0]["data"]["config"]
    # And with mosquitto_ha_ctrl, which writes the file itself; on a
    # follower it is refused.
    r = subprocess.run([CTRL, "-h", leader.host, "-p", str(leader.mqtt_port),
                        "-u", h.ADMIN, "-P", h.ADMIN_PW, "dynsec-export"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "Sanitizer" not in r.stderr, r.stderr
    assert json.loads(r.stdout) == by_rr
    with open(path, "w") as f:
        f.write(r.stdout)
    follower = next(n for n in ac.nodes if n is not leader)
    r = subprocess.run([CTRL, "-h", follower.host, "-p",
                        str(follower.mqtt_port), "-u", h.ADMIN, "-P",
                        h.ADMIN_PW, "dynsec-export"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and r.stdout == "", r
    assert "exportConfig: " + NOT_LEADER in r.stderr, r.stderr
    proc, host, port = stock_broker(str(tmp_path), ac.version, c.prefix, path)
    try:
        at = At(host, port)
        users = dict(FILE_USERS, log0="pw0", snap1="pw1")
        assert {u: h.client_connack(host, port, u, p)
                for u, p in users.items()} == {u: 0 for u in users}
        assert h.client_connack(host, port, "u1", "nope") == 5
        r = ctrl_ok(at, "listClients")
        assert "snap1" in r.stdout
    finally:
        proc.terminate()
        proc.wait(10)


def test_added_node_gets_the_data_and_keeps_it_when_removed(ac):
    """A fourth node, empty, joins and is added: it holds the cluster's
    data (through the log); removed, it serves that data standalone."""
    c = ac.c
    leader = c.wait_leader(ac.nodes)
    n4 = c.add(4)
    n4.plugin_opts["access_control"] = "dynsec"
    n4.start()
    assert n4.connack(username="u1", password=FILE_USERS["u1"]) == 5
    r = n4.cmd("joinCluster", clustername=c.name,
               nodes=c.members((1, 2, 3, 4), 4))
    assert "accessControl" in r.get("data", {}), r
    r = leader.cmd("addNode", clustername=c.name, address=n4.host,
                   port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r
    h.wait_until("node 4 to become a voter", lambda: sorted(
        x["id"] for x in leader.raft_status()["nodes"] if x["role"] == 1) ==
        [1, 2, 3, 4], 10)
    c.wait_settled(ac.nodes + [n4], leader)
    leader = change(c, ac.nodes + [n4], "createClient", "late", "-p",
                    "pw-late")
    c.wait_settled(ac.nodes + [n4], leader)
    r = leader.cmd("removeNode", clustername=c.name, address=n4.host,
                   port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r
    h.wait_until("node 4 to be standalone", lambda: n4.is_leader() == {
        "leader": False, "nodeid": None, "leader_nodeid": None}, 5)
    assert logins(n4, FILE_USERS) == {u: 0 for u in FILE_USERS}
    assert n4.connack(username="late", password="pw-late") == 0
    assert n4.connack(username="newbie", password="pw-newbie") == 5
    n4.stop()


# ---- the differential against the stock plugin ----

REPLAY = os.path.join(h.REPO, os.environ.get("BUILD", "build"), "tests",
                      "plugin", "dynsec_replay")

# Who connects (user, password, client id) and what each tries.
GRID_LOGINS = [("u", "second pw", "dev"), ("u", "second pw", "other"),
               ("u", "wrong", "dev"), ("v", "x", "v1"),
               (h.ADMIN, h.ADMIN_PW, "adm"), ("nobody", "x", "n1")]
GRID_TOPICS = ["a/x", "a/x/b", "a/#", "a/+", "s", "nope", "t/1", "x/dev",
               "$SYS/x"]


class Asker:
    """One administrator's connection to a dynamic-security topic: each
    payload's reply, in turn."""

    def __init__(self, host, port):
        self.s = h._PahoSession(host, port, h.ADMIN, h.ADMIN_PW)
        assert self.s.rc == 0, self.s.rc
        self.s.subscribe(DYNSEC_RESPONSE)

    def ask(self, payload):
        n = len(self.s.messages)
        self.s.publish(DYNSEC_TOPIC, payload, qos=1)
        assert self.s._pump(lambda: len(self.s.messages) > n, 10), payload
        # All of it: the connections of a client (2.1) included.
        return json.dumps(json.loads(self.s.messages[n][1]), sort_keys=True)

    def close(self):
        self.s.close()


def _connect(host, port, user, pw, cid):
    """A v5 connection and its CONNACK reason code."""
    sock = socket.create_connection((host, port), timeout=3)
    sock.sendall(h.v5_connect_packet(cid, user, pw))
    _, body = h._read_packet(sock)
    return sock, body[1]


def _try(sock, topic, i):
    """{what: reason code} of a QoS 1 publish (not to a filter: that is a
    protocol error) and a subscription on sock; "closed" when the broker
    closed the connection instead."""
    out = {}
    wild = "+" in topic or "#" in topic
    try:
        if not wild:
            sock.sendall(h._packet(0x32, h._mqtt_str(topic) +
                                   struct.pack(">H", 2 * i + 1) + b"\x00p"))
        sock.sendall(h._packet(0x82, struct.pack(">H", 2 * i + 2) + b"\x00" +
                               h._mqtt_str(topic) + b"\x00"))
        for _ in range(1 if wild else 2):
            first, body = h._read_packet(sock)
            if first >> 4 == 4:
                out["publish"] = body[2] if len(body) >= 3 else 0
            elif first >> 4 == 9:
                out["subscribe"] = body[3 + body[2]]
            else:
                out["packet %d" % (first >> 4)] = body[:4]
    except (ConnectionError, OSError):
        out["closed"] = True
    return out


def grid(host, port):
    """{(login, topic): outcomes}: the CONNACK of each login and, for those
    let in, what a publish to and a subscription on each topic get (v5
    reason codes; a new connection after the broker closed one)."""
    out = {}
    for user, pw, cid in GRID_LOGINS:
        sock, rc = _connect(host, port, user, pw, cid)
        out[(user, pw, cid)] = rc
        try:
            if rc != 0:
                continue
            for i, t in enumerate(GRID_TOPICS):
                got = _try(sock, t, i)
                out[(user, pw, cid, t)] = got
                if "closed" in got:
                    sock.close()
                    sock, _ = _connect(host, port, user, pw, cid)
        finally:
            sock.close()
    return out


def test_differential_against_the_stock_plugin(make_cluster, tmp_path,
                                               version, report):
    """The sequence of tests/plugin/dynsec_steps.h, one payload at a time,
    to a broker running the stock plugin and to the cluster's leader, both
    from the same `mosquitto_ctrl dynsec init` file: every reply equal, and
    a grid of logins and publish/subscribe decisions equal, also on another
    node after leadership moved there. A planted difference is caught."""
    assert os.access(REPLAY, os.X_OK), "%s is not built" % REPLAY
    init = str(tmp_path / "init.json")
    subprocess.run([h.MOSQUITTO_CTRL, "dynsec", "init", init, h.ADMIN,
                    h.ADMIN_PW], check=True, capture_output=True)
    out = subprocess.run([REPLAY, init, version], check=True,
                         capture_output=True, text=True).stdout
    payloads = [x[4:] for x in out.splitlines() if x.startswith("CMD ")]
    assert len(payloads) > 90
    # The stock 2.1.2 plugin leaves a deleted role (r1) in u's list, and its
    # broker then crashes at u's first ACL check: u is made anew, with the
    # password and client id the sequence gave it, before the grid.
    payloads += [json.dumps({"commands": [c]}) for c in (
        {"command": "deleteClient", "username": "u"},
        {"command": "createClient", "username": "u", "password": "second pw",
         "clientid": "dev", "roles": [{"rolename": "r2", "priority": 3}]})]
    c = make_cluster()
    for i in (1, 2, 3):
        c.add(i).plugin_opts["access_control"] = "dynsec"
    c.nodes[1].plugin_opts["dynsec_file"] = init
    leader = c.form()
    h.wait_until("the import to commit", lambda: any(
        x["username"] == h.ADMIN for x in export(leader).get("clients", [])),
        15)
    stock_copy = str(tmp_path / "stock.json")
    with open(init) as src, open(stock_copy, "w") as dst:
        dst.write(src.read())
    proc, host, port = stock_broker(str(tmp_path), version, c.prefix,
                                    stock_copy)
    try:
        a, b = Asker(host, port), Asker(leader.host, leader.mqtt_port)
        try:
            theirs = [a.ask(p) for p in payloads]
            mine = [b.ask(p) for p in payloads]
        finally:
            a.close()
            b.close()
        bad = [(p, x, y) for p, x, y in zip(payloads, theirs, mine)
               if x != y]
        assert not bad, "%d replies differ, first: %r" % (len(bad), bad[0])
        planted = list(mine)
        planted[len(planted) // 2] = planted[len(planted) // 2].replace(
            '"command"', '"commands"')
        assert planted != theirs, "a planted difference went unseen"
        stock_grid = grid(host, port)
    finally:
        proc.terminate()
        proc.wait(10)
    assert stock_grid == grid(leader.host, leader.mqtt_port)
    other = next(n for n in c.nodes.values() if n is not leader)
    move_leader(c, other)
    assert stock_grid == grid(other.host, other.mqtt_port)
    planted = dict(stock_grid)
    key = next(k for k, v in planted.items() if "publish" in getattr(
        v, "keys", lambda: ())())
    planted[key] = dict(planted[key], publish=planted[key]["publish"] ^ 0x87)
    assert planted != grid(other.host, other.mqtt_port)
    decisions = sum(len(v) if isinstance(v, dict) else 1
                    for v in stock_grid.values())
    report("%d replies and %d decisions equal to the stock plugin's (%s)" % (
        len(payloads), decisions, version))


# (id, options, the line the log must hold)
BAD_CONFIGS = [
    ("stock-plugin-too", {"access_control": "dynsec"},
     "and this broker's configuration also loads "
     "mosquitto_dynamic_security.so: remove that plugin line"),
    ("bad-value", {"access_control": "yes"},
     "plugin_opt_access_control must be dynsec or none, not 'yes'"),
    ("file-without-dynsec", {"dynsec_file": "/x.json"},
     "plugin_opt_dynsec_file needs plugin_opt_access_control dynsec"),
    ("unreadable-file", {"access_control": "dynsec",
                         "dynsec_file": "/nonexistent/dynsec.json"},
     "plugin_opt_dynsec_file /nonexistent/dynsec.json: "),
]


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=[x[0] for x in BAD_CONFIGS])
def test_refused_configuration(make_cluster, case):
    _, opts, expected = case
    c = make_cluster()
    n = c.add(1)
    n.plugin_opts.update(opts)
    if case[0] == "stock-plugin-too":
        n.extra_conf = ["plugin %s" % h.DYNSEC_PLUGINS[c.version],
                        "plugin_opt_config_file %s" % os.path.join(
                            n.dir, "stock.json")]
    n.spawn()
    rc = n.proc.wait(10)
    log = n.log_text()
    assert rc != 0, "exit code 0:\n%s" % log
    assert expected in log, "no %r in the log:\n%s" % (expected, log)


def test_dynsec_mode_takes_changes_on_every_node(make_cluster, tmp_path,
                                                 version):
    """The dynsec sync mode: every member serves clients and accepts
    `mosquitto_ctrl dynsec`; a change sent to a follower is carried out by
    the leader and holds on every node; a node cut off from the majority
    goes on serving with the data last committed and refuses changes,
    saying that no leader could be reached; once it caught up (by the log
    and a snapshot), a user deleted meanwhile is disconnected there."""
    init = str(tmp_path / "init.json")
    subprocess.run([h.MOSQUITTO_CTRL, "dynsec", "init", init, h.ADMIN,
                    h.ADMIN_PW], check=True, capture_output=True)
    c = make_cluster(partitionable=True)
    ids = (1, 2, 3)
    for i in ids:
        n = c.add(i)
        n.plugin_opts["access_control"] = "dynsec"
        n.plugin_opts["snapshot_interval"] = "16"
    c.nodes[1].plugin_opts["dynsec_file"] = init
    for n in c.nodes.values():
        n.spawn()
    for n in c.nodes.values():
        n.wait_ready()
    r = c.nodes[1].cmd("createCluster", clustername=c.name,
                       nodes=c.members(ids, 1), syncmode="dynsec")
    assert "error" not in r, r
    for i in (2, 3):
        r = c.nodes[i].cmd("joinCluster", clustername=c.name,
                           nodes=c.members(ids, i), syncmode="dynsec")
        assert "error" not in r, r
    nodes = list(c.nodes.values())
    leader = c.wait_leader(nodes)
    h.wait_until("the import to commit", lambda: any(
        x["username"] == h.ADMIN for x in export(leader).get("clients", [])),
        15)
    followers = [n for n in nodes if n is not leader]

    # A change through each follower, and one through the leader.
    users = {"f1": "pw-f1", "f2": "pw-f2", "l1": "pw-l1"}
    for node, user in ((followers[0], "f1"), (followers[1], "f2"),
                       (leader, "l1")):
        ctrl_ok(node, "createClient", user, "-p", users[user])
    c.wait_settled(nodes, c.wait_leader(nodes))
    for n in nodes:
        assert logins(n, users) == {u: 0 for u in users}, n.nodeid
    # A query through a follower is the leader's answer.
    r = dynsec(followers[0], [{"command": "listClients"}])[0]
    assert set(users) <= set(r["data"]["clients"]), r

    # Cut off: it serves its clients with what it has, and refuses changes.
    # Meanwhile the others delete a user connected to it and make enough
    # changes that it gets a snapshot: that disconnects the user there.
    cut = followers[1]
    rest = [n for n in nodes if n is not cut]
    held = h._PahoSession(cut.host, cut.mqtt_port, "f2", users["f2"])
    installed = cut.raft_status()["snapshot"]["installed"]
    c.partition(cut)
    try:
        assert held.rc == 0
        h.wait_until("node %d to report being cut off" % cut.nodeid,
                     lambda: cut.raft_status()["cutoff"], 10.0)
        assert logins(cut, users) == {u: 0 for u in users}
        r = ctrl(cut, "createClient", "lost", "-p", "pw-lost")
        assert "No cluster leader could be reached from this broker; " \
            "nothing was changed." in r.stdout + r.stderr, r
        change(c, rest, "deleteClient", "l1")
        change(c, rest, "deleteClient", "f2")
        # More changes than a leader keeps behind its snapshot (1024), so
        # that the node is sent a snapshot too. Changes that leave the data
        # small: each one copies it.
        bulk = [{"command": "modifyClient", "username": "f1",
                 "textname": "t%d" % i} for i in range(1300)]
        replies = dynsec(c.wait_leader(rest), bulk, timeout=120)
        assert all("error" not in x for x in replies), replies[:3]
        assert not held.lost, "f2 was disconnected before the snapshot"
    finally:
        c.heal()
    try:
        h.wait_until("node %d to hear from the cluster again" % cut.nodeid,
                     lambda: not cut.raft_status()["cutoff"], 15.0)
        c.wait_settled(nodes, c.wait_leader(nodes), timeout=30)
        assert cut.raft_status()["snapshot"]["installed"] > installed
        assert held._pump(lambda: held.lost, 10), \
            "f2 is still connected to node %d" % cut.nodeid
    finally:
        held.close()
    for n in nodes:
        assert logins(n, {"l1": users["l1"], "f2": users["f2"],
                          "lost": "pw-lost"}) == {
            "l1": 5, "f2": 5, "lost": 5}, n.nodeid
        assert logins(n, {"f1": users["f1"]}) == {"f1": 0}, n.nodeid


def test_import_too_large_for_a_log_entry_is_refused(make_cluster, tmp_path):
    """A dynsec file larger than one log entry: createCluster is refused
    with its sentence and the node stays standalone, serving its file."""
    salt = base64.b64encode(b"s" * 12).decode()
    pw = base64.b64encode(b"h" * 64).decode()
    # Few clients with long descriptions: as large, quicker to load.
    clients = [{"username": "user%05d" % i, "salt": salt, "password": pw,
                "iterations": 101, "textdescription": "x" * 4000}
               for i in range(1300)]
    path = str(tmp_path / "large.json")
    with open(path, "w") as f:
        json.dump({"clients": clients, "groups": [], "roles": []}, f)
    assert os.path.getsize(path) > 5 << 20
    c = make_cluster()
    n1 = c.add(1)
    n1.plugin_opts["access_control"] = "dynsec"
    n1.plugin_opts["dynsec_file"] = path
    for i in (2, 3):
        c.add(i)
    n1.spawn()
    n1.wait_ready(timeout=30)
    r = n1.cmd("createCluster", clustername=c.name, nodes=c.members(
        (1, 2, 3), 1))
    assert r.get("error") == (
        "This broker's access-control data is larger than one log entry "
        "(4 MiB) and cannot be imported; create the cluster from a node "
        "with less data."), r
    assert n1.is_leader()["nodeid"] is None
    assert not os.path.exists(os.path.join(n1.data_dir, "cluster.json"))
