# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Retained messages survive a failover: an oracle of what was committed,
checked against what every node's broker holds.

Values are read from each broker through an administrator's subscription
(never from counters). What was committed is known from the leader's own
status: a publish acknowledged before a getRaftStatus reply with
captures_pending 0 and commit_index >= last_captured_index is committed."""

import os
import random
import signal
import threading
import time

import paho.mqtt.client as mqtt
import pytest

import harness as h


def read_retained(node, timeout=10.0):
    """{topic: (payload, qos)} of every retained message this node's broker
    holds (topics not starting with '$'), read by an administrator.

    A QoS 0 subscription to '#' makes the broker send every retained
    message at once; a second SUBSCRIBE's SUBACK comes after all of them
    (one connection, in order)."""
    s = h._PahoSession(node.host, node.mqtt_port, h.ADMIN, h.ADMIN_PW,
                       timeout=timeout)
    try:
        s.subscribe("#", qos=0, timeout=timeout)
        marker = "ha-test-end/%d" % random.getrandbits(32)
        s.subscribe(marker, qos=0, timeout=timeout)
        out = {}
        for topic, payload, _qos, retained in s.messages:
            if topic != marker and retained:
                out[topic] = payload
        return out
    finally:
        s.close()


class Publisher:
    """An ordinary client that publishes retained messages to the leader
    and remembers what it was acknowledged for."""

    def __init__(self, node, qos=1, client_id=None):
        self.s = h._PahoSession(node.host, node.mqtt_port, h.USER, h.USER_PW,
                                client_id=client_id)
        self.qos = qos
        self.acked = []  # (topic, payload) in acknowledgement order

    def set(self, topic, payload):
        ok = self.s.publish_retained(topic, payload, self.qos)
        if ok:
            self.acked.append((topic, payload))
        return ok

    def close(self):
        self.s.close()


def committed_through(leader, timeout=10.0):
    """Waits until every capture the leader acknowledged is committed;
    returns its status."""
    def done():
        st = leader.raft_status()
        return (st if st["captures_pending"] == 0 and
                st["commit_index"] >= st["last_captured_index"] else None)
    return h.wait_until("the leader's captures to commit", done, timeout)


def wait_same(nodes, expected, timeout=10.0):
    """Until every node's broker holds exactly expected."""
    last = {}

    def same():
        for n in nodes:
            got = read_retained(n)
            last[n.nodeid] = got
            if got != expected:
                return False
        return True
    try:
        h.wait_until("every broker to hold the committed retained "
                     "messages", same, timeout, interval=0.2)
    except AssertionError:
        for nid, got in last.items():
            missing = sorted(set(expected) - set(got))[:5]
            extra = sorted(set(got) - set(expected))[:5]
            wrong = sorted(t for t in set(got) & set(expected)
                           if got[t] != expected[t])[:5]
            print("node %d: %d held, missing %s, extra %s, differing %s" % (
                nid, len(got), missing, extra, wrong))
        raise


def test_retained_reach_every_node(make_cluster, report):
    c = make_cluster()
    leader = c.form()
    expected = {}
    for qos in (0, 1, 2):
        p = Publisher(leader, qos=qos)
        try:
            for i in range(20):
                topic = "ret/q%d/%d" % (qos, i)
                payload = b"v-%d-%d" % (qos, i)
                assert p.set(topic, payload)
                expected[topic] = payload
            # Deleting: an empty retained publish.
            assert p.set("ret/q%d/0" % qos, b"")
            del expected["ret/q%d/0" % qos]
        finally:
            p.close()
    st = committed_through(leader)
    assert st["retain_msg"] == len(expected)
    wait_same(list(c.nodes.values()), expected)
    for n in c.nodes.values():
        assert n.raft_status()["retain_msg"] == len(expected)
    report("%d retained messages on every node, log index %d" % (
        len(expected), st["last_captured_index"]))


def test_dollar_topics_and_follower_publishes_stay_out(make_cluster):
    """An administrator's retained publish on a follower changes nothing
    there (outside the log); it is refused."""
    c = make_cluster()
    leader = c.form()
    follower = next(n for n in c.nodes.values() if n is not leader)
    s = h._PahoSession(follower.host, follower.mqtt_port, h.ADMIN,
                       h.ADMIN_PW, protocol=mqtt.MQTTv5)
    try:
        s.publish_retained("admin/on/follower", b"x", 1)
    finally:
        s.close()
    assert read_retained(follower) == {}
    p = Publisher(leader)
    try:
        assert p.set("kept", b"1")
    finally:
        p.close()
    committed_through(leader)
    wait_same(list(c.nodes.values()), {"kept": b"1"})


def test_kill_leader_under_load_keeps_committed(make_cluster, report):
    """kill -9 of the leader while publishers write retained messages on
    overlapping topics: every committed value is on the new leader before
    it serves, and on every node; lost acknowledgements are counted."""
    c = make_cluster()
    leader = c.form()
    topics = ["load/%d" % i for i in range(30)]
    stop = threading.Event()
    pubs = []
    errors = []

    def run(qos, seed):
        rnd = random.Random(seed)
        try:
            p = Publisher(leader, qos=qos)
        except h.ControlError as e:
            errors.append(str(e))
            return
        pubs.append(p)
        n = 0
        while not stop.is_set() and n < 2000:
            topic = rnd.choice(topics)
            payload = b"%d-%d-%d" % (qos, seed, n)
            try:
                if not p.set(topic, payload):
                    break
            except Exception:
                break
            n += 1

    # Before the kill: a committed base every node must keep.
    base = Publisher(leader)
    try:
        for t in topics:
            assert base.set(t, b"base")
    finally:
        base.close()
    committed_through(leader)
    threads = [threading.Thread(target=run, args=(q, q + 1))
               for q in (0, 1, 2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    st_before = leader.raft_status()
    leader.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    for p in pubs:
        p.close()
    rest = [n for n in c.nodes.values() if n is not leader]
    new = c.wait_leader(rest, timeout=5)
    # What the new leader serves is what every node holds.
    h.wait_until("the new leader to serve", new.round_trip, 5)
    held = read_retained(new)
    assert set(held) == set(topics), sorted(set(topics) ^ set(held))[:5]
    # Every value the new leader holds was acknowledged to some publisher
    # (or is the committed base), and everything committed before the
    # kill's status snapshot is at least as new.
    acked = {}
    for p in pubs:
        for topic, payload in p.acked:
            acked.setdefault(topic, set()).add(payload)
    for topic, payload in held.items():
        assert payload == b"base" or payload in acked.get(topic, ()), (
            topic, payload)
    wait_same(rest, held)
    lost = sum(1 for p in pubs for topic, payload in p.acked[-1:]
               if held.get(topic) != payload)
    report("kill -9 at log index %d: %d acknowledged publishes; the new "
           "leader serves %d topics; last acknowledgements not kept: %d" % (
               st_before["commit_index"], sum(len(p.acked) for p in pubs),
               len(held), lost))
    # The old leader comes back empty and is refilled from the log.
    leader.start()
    assert c.wait_leader(timeout=10) is new
    wait_same(list(c.nodes.values()), held)


def test_whole_cluster_killed_and_restarted(make_cluster):
    c = make_cluster()
    leader = c.form()
    p = Publisher(leader)
    expected = {}
    try:
        for i in range(50):
            expected["all/%d" % i] = b"x%d" % i
            assert p.set("all/%d" % i, b"x%d" % i)
        assert p.set("all/7", b"")
        del expected["all/7"]
    finally:
        p.close()
    committed_through(leader)
    for n in c.nodes.values():
        n.kill9()
    for n in c.nodes.values():
        n.spawn()
    for n in c.nodes.values():
        n.wait_ready()
    c.wait_leader(timeout=10)
    wait_same(list(c.nodes.values()), expected, timeout=15)


def test_handover_converges(make_cluster):
    """setLeader with publishes in flight: afterwards every node's broker
    equals the log, topic by topic."""
    c = make_cluster()
    leader = c.form()
    target = next(n for n in c.nodes.values() if n is not leader)
    p = Publisher(leader, qos=1)
    stop = threading.Event()

    def run():
        i = 0
        while not stop.is_set() and i < 3000:
            try:
                if not p.set("ho/%d" % (i % 25), b"%d" % i):
                    return
            except Exception:
                return
            i += 1

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.3)
    r = leader.cmd("setLeader", clustername=c.name, nodeid=target.nodeid)
    assert "error" not in r, r
    stop.set()
    t.join(10)
    p.close()
    assert c.wait_leader(timeout=5) is target
    h.wait_until("the new leader to serve", target.round_trip, 5)
    held = read_retained(target)
    committed_through(target)
    wait_same(list(c.nodes.values()), held)
