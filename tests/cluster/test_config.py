# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Broker configuration: bad plugin options and per_listener_settings stop
the broker at start with a message that names them; the plugin works
together with the dynamic-security plugin."""

import json
import os
import time

import pytest

import harness as h

DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1"
DYNSEC_RESPONSE = "$CONTROL/dynamic-security/v1/response"


def expect_refused_start(node, expected, timeout=3.0):
    """The broker exits non-zero by itself, and its log says expected."""
    node.spawn()
    try:
        rc = node.proc.wait(timeout)
    except Exception:
        node.proc.kill()
        node.proc.wait(5)
        raise AssertionError("the broker did not stop at start (still "
                             "running after %.0f s); expected a log line "
                             "with %r:\n%s" % (timeout, expected,
                                               node.log_tail()))
    log = node.log_text()
    assert rc != 0, "exit code 0:\n%s" % log
    assert expected in log, "no %r in the log:\n%s" % (expected, log)


# (id, option, value or None to leave it out, text the log must hold)
BAD_OPTIONS = [
    ("election_timeout-text", "election_timeout", "abc",
     "plugin_opt_election_timeout must be an integer"),
    ("election_timeout-small", "election_timeout", "50",
     "plugin_opt_election_timeout must be an integer from 100"),
    ("heartbeat-vs-election", "heartbeat_interval", "200",
     "plugin_opt_heartbeat_interval (200 ms) must be at most a third"),
    ("acl_fallback", "acl_fallback", "maybe",
     "plugin_opt_acl_fallback must be allow or defer"),
    ("secret-short", "cluster_secret", "short",
     "plugin_opt_cluster_secret must hold at least 16 bytes"),
    ("secret-missing", "cluster_secret", None,
     "plugin_opt_cluster_secret"),
    ("secret_file-missing", "cluster_secret_file", "/nonexistent/secret",
     "plugin_opt_cluster_secret_file: cannot open /nonexistent/secret"),
    ("admin_users-empty", "admin_users", ",",
     "plugin_opt_admin_users names no user"),
    ("data_dir-absent", "data_dir", None, "plugin_opt_data_dir is required"),
    ("unknown", "bogus", "1", "unknown option plugin_opt_bogus"),
    ("cluster_bind", "cluster_bind", "nonsense",
     "plugin_opt_cluster_bind must be host:port"),
    ("insecure_plaintext", "insecure_plaintext", "yes",
     "plugin_opt_insecure_plaintext must be true or false"),
    ("clock_drift", "max_clock_drift_ppm", "-1",
     "plugin_opt_max_clock_drift_ppm must be an integer"),
]


@pytest.mark.parametrize("case", BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_option_stops_broker(make_cluster, case):
    _, key, value, expected = case
    c = make_cluster()
    n = c.add(1)
    if key == "cluster_secret_file":
        del n.plugin_opts["cluster_secret"]
    if value is None:
        del n.plugin_opts[key]
    else:
        n.plugin_opts[key] = value
    expect_refused_start(n, expected)


@pytest.mark.parametrize("placement", ["after-listener", "before-listener"])
def test_per_listener_settings_refused(make_cluster, placement):
    c = make_cluster()
    n = c.add(1)
    n.head_conf = ["per_listener_settings true"]
    expected = h.LOG_PREFIX + "per_listener_settings true is not supported"
    if placement == "after-listener":
        # The plugin line follows a listener, as per-listener settings need.
        n.head_conf.append("listener %d %s" % (h.free_port(n.host), n.host))
    elif c.version == "2.1":
        # 2.1 itself refuses a plugin line before any listener here.
        expected = "The 'plugin' option requires a listener to be defined " \
            "first."
    expect_refused_start(n, expected)


def dynsec(node, commands):
    corr = "d%d" % time.monotonic_ns()
    payload = json.dumps({"commands": [dict(c, correlationData=corr)
                                       for c in commands]})
    r = h.control_raw(node.host, node.mqtt_port, payload, topic=DYNSEC_TOPIC,
                      response_topic=DYNSEC_RESPONSE,
                      match=lambda m: all(x.get("correlationData") == corr
                                          for x in m.get("responses", [])))
    for x in r["responses"]:
        assert "error" not in x, x
    return r["responses"]


def test_with_dynamic_security(make_cluster):
    """mosquitto_ha first, dynamic-security second (it authenticates; no
    password_file), on every node."""
    c = make_cluster(dynsec=True)
    leader = c.form()
    # An ordinary client, made through dynamic-security's own control API,
    # which administrators reach on every node (its data is not replicated
    # between nodes, so each node gets it).
    for n in c.nodes.values():
        dynsec(n, [
            {"command": "createRole", "rolename": "rw"},
            {"command": "addRoleACL", "rolename": "rw",
             "acltype": "publishClientSend", "topic": "#", "allow": True},
            {"command": "addRoleACL", "rolename": "rw",
             "acltype": "subscribePattern", "topic": "#", "allow": True},
            {"command": "createClient", "username": h.USER,
             "password": h.USER_PW},
            {"command": "addClientRole", "username": h.USER,
             "rolename": "rw"},
        ])
    assert leader.round_trip()
    # dynamic-security decides the password on the leader ...
    assert leader.connack(password="wrong") not in (0, None)
    assert leader.connack(username="nobody", password="x") not in (0, None)
    # ... and its ACLs: a client without a role may not publish.
    dynsec(leader, [{"command": "createClient", "username": "bob",
                     "password": "bobpw"}])
    assert h.raw_publish_reason(leader.host, leader.mqtt_port, "bob", "bobpw",
                                "t/x", b"1") == 0x87
    for n in c.nodes.values():
        if n is not leader:
            assert n.connack() == 5
            assert n.is_leader()["leader_nodeid"] == leader.nodeid
    # An ordinary dynamic-security client cannot use the cluster API.
    delete = json.dumps({"commands": [{"command": "deleteCluster",
                                       "clustername": c.name}]}).encode()
    assert h.raw_publish_reason(leader.host, leader.mqtt_port, h.USER,
                                h.USER_PW, h.CONTROL_TOPIC, delete) == 0x87
    # Failover: the new leader lets the same client in.
    leader.kill9()
    rest = [n for n in c.nodes.values() if n is not leader]
    new = c.wait_leader(rest, timeout=5)
    h.wait_until("the new leader to serve", new.round_trip, 5)


@pytest.mark.parametrize("setting", ["persistence true",
                                     "retain_available false"])
def test_member_refuses_broker_settings_that_fight_the_log(make_cluster,
                                                           setting):
    """The log holds a member's state: mosquitto.db would bring back older
    state, and without retained messages there is nothing to replicate. A
    member refuses to start with either; createCluster refuses a broker
    that has one; a broker that never joined is not affected."""
    c = make_cluster()
    leader = c.form()
    n = next(x for x in c.nodes.values() if x is not leader)
    n.stop()
    n.extra_conf.append(setting)
    if setting.startswith("persistence"):
        n.extra_conf.append("persistence_location %s/" % n.dir)
    expect_refused_start(n, "has %s in its configuration" % setting)
    # A standalone broker with the setting starts, and refuses to form.
    c2 = make_cluster()
    m = c2.add(1)
    m.extra_conf.append(setting)
    if setting.startswith("persistence"):
        m.extra_conf.append("persistence_location %s/" % m.dir)
    m.start()
    assert m.round_trip()
    r = m.cmd("createCluster", clustername=c2.name,
              nodes=[m.member(mynode=True)] +
              [{"address": "127.0.0.1", "port": 1, "nodeid": 2},
               {"address": "127.0.0.1", "port": 2, "nodeid": 3}])
    assert r.get("error") == ("This broker has persistence true or "
                              "retain_available false; a cluster member "
                              "cannot."), r
