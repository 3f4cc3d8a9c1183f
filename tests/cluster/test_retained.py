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
import socket
import struct
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pytest

import harness as h


# The suite's 300 ms election timeout is for quick failovers; a test that
# loads three brokers under the sanitizers on two shared cores must not
# depend on the raft thread never waiting 300 ms for a core.
HEAVY_LOAD_OPTS = {"snapshot_interval": "20000", "election_timeout": "2000",
                   "heartbeat_interval": "100"}


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
        self.acked_at = []  # time.monotonic_ns() of each
        self.sent_unacked = []

    def set(self, topic, payload):
        try:
            ok = self.s.publish_retained(topic, payload, self.qos)
        except h.ControlError:
            ok = False
        if ok:
            self.acked.append((topic, payload))
            self.acked_at.append(time.monotonic_ns())
        else:
            self.sent_unacked.append((topic, payload))
        return ok

    def close(self):
        self.s.close()


def committed_through(leader, timeout=10.0):
    """Waits until every capture the leader acknowledged is committed, and
    applied by its broker (which its retain_msg counts); returns its
    status."""
    def done():
        st = leader.raft_status()
        return (st if st["captures_pending"] == 0 and
                st["commit_index"] >= st["last_captured_index"] and
                st["last_applied"] >= st["last_captured_index"] else None)
    return h.wait_until("the leader's captures to commit", done, timeout)


def wait_same(nodes, expected, timeout=10.0, read_timeout=30.0):
    """Until every node's broker holds exactly expected."""
    last = {}

    def same():
        for n in nodes:
            got = read_retained(n, timeout=read_timeout)
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


class LoadPublishers:
    """Publishers of QoS 0, 1 and 2 on overlapping topics, each in a thread
    of its own, that can be paused at a moment where everything they were
    acknowledged for is known and then resumed. Bounded: max_each
    publishes each, and max_seconds in all."""

    def __init__(self, node, topics, seeds=(1, 2, 3), max_each=20000,
                 max_seconds=30.0):
        self.topics = topics
        self.stop = threading.Event()
        self.pause = threading.Event()
        self.resume = threading.Event()
        self.pubs = []
        self.threads = []
        self.parked = []
        self.synced = []  # per publisher: its pause's sync was acknowledged
        # Per publisher: how many of its sends its broker surely processed
        # (QoS 0 has no acknowledgement: up to its last acknowledged sync).
        self.confirmed = []
        self.deadline = time.monotonic() + max_seconds
        for qos, seed in zip((0, 1, 2), seeds):
            p = Publisher(node, qos=qos)
            self.pubs.append(p)
            parked = threading.Event()
            self.parked.append(parked)
            self.synced.append(False)
            self.confirmed.append(0)
            t = threading.Thread(target=self._run,
                                 args=(p, seed, max_each, parked,
                                       len(self.pubs) - 1))
            self.threads.append(t)

    def _run(self, p, seed, max_each, parked, index):
        rnd = random.Random(seed)
        n = 0
        try:
            while (not self.stop.is_set() and n < max_each and
                   time.monotonic() < self.deadline):
                if self.pause.is_set():
                    # In order on one connection: once this QoS 1 publish
                    # is acknowledged, every earlier one was processed.
                    try:
                        p.s.publish("sync/%d" % seed, b"", 1)
                    except h.ControlError:
                        return
                    self.synced[index] = True
                    self.confirmed[index] = len(p.acked)
                    parked.set()
                    self.resume.wait(10)
                    continue
                topic = rnd.choice(self.topics)
                if not p.set(topic, b"%d-%d" % (seed, n)):
                    return
                n += 1
            # Done early (a QoS 0 flood writes all of its publishes at
            # once): one sync says the broker took them all.
            try:
                p.s.publish("sync/%d" % seed, b"", 1)
                self.confirmed[index] = len(p.acked)
            except h.ControlError:
                pass
        finally:
            parked.set()  # a finished publisher has nothing in flight

    def start(self):
        for t in self.threads:
            t.start()

    def pause_all(self):
        """Parks every publisher. A QoS 0 publisher whose sync failed (it
        lost its connection) has its sends since its last sync counted as
        unknown by mark(): never refused, never acknowledged."""
        self.synced[:] = [False] * len(self.pubs)
        self.pause.set()
        for parked in self.parked:
            assert parked.wait(10), "a publisher hung"
        self.pause.clear()

    def resume_all(self):
        self.resume.set()

    def finish(self):
        self.stop.set()
        self.resume.set()
        for t in self.threads:
            t.join(10)
        for p in self.pubs:
            p.close()

    def mark(self):
        """Per publisher, how many of its publishes are known taken by
        the broker: every acknowledged one at QoS 1 and 2, those before
        its last acknowledged sync at QoS 0."""
        return [len(p.acked) if p.qos > 0 else self.confirmed[i]
                for i, p in enumerate(self.pubs)]

    def last_values(self, upto=None):
        """{topic: payload} last acknowledged (up to a mark), across
        publishers by the order their acknowledgements were recorded."""
        out = {}
        events = []
        for i, p in enumerate(self.pubs):
            end = len(p.acked) if upto is None else upto[i]
            events += [(p.acked_at[k], topic, payload)
                       for k, (topic, payload) in enumerate(p.acked[:end])]
        for _, topic, payload in sorted(events):
            out[topic] = payload
        return out

    def acked_after(self, mark):
        out = {}
        for i, p in enumerate(self.pubs):
            for topic, payload in p.acked[mark[i]:]:
                out.setdefault(topic, set()).add(payload)
        return out


def lost_committed(held, committed, later):
    """The committed values a broker lost: for each topic, what it holds
    must be the value committed at the mark, or one sent after it."""
    lost = {}
    for topic, payload in committed.items():
        got = held.get(topic)
        if got != payload and got not in later.get(topic, ()):
            lost[topic] = (payload, got)
    return lost


def test_kill_leader_under_load_keeps_committed(make_cluster, report):
    """kill -9 of the leader while publishers of QoS 0, 1 and 2 write
    retained messages on overlapping topics: every value committed before
    the kill (or a newer one) is on the new leader before it serves, and on
    every node; the acknowledged-but-uncommitted publishes lost are counted.

    The oracle needs one leader, in one term, that lost no capture until
    the mark: a shared machine can starve it of its lease first (the long
    election timeout makes that rare), and then the scenario runs again on
    a new cluster, three times at most."""
    for attempt in range(3):
        if kill_under_load(make_cluster, report):
            return
    pytest.fail("the leader lost its lease or a capture before the mark in "
                "each of 3 attempts: the oracle had nothing to check")


def kill_under_load(make_cluster, report):
    c = make_cluster()
    for i in (1, 2, 3):
        c.add(i).plugin_opts.update(HEAVY_LOAD_OPTS)
    leader = c.form()
    before = leader.raft_status()
    windows = len(leader.serving_windows())
    topics = ["load/%d" % i for i in range(30)]
    load = LoadPublishers(leader, topics)
    load.start()
    time.sleep(1.0)
    # A moment where everything taken is committed: the oracle.
    load.pause_all()
    # A QoS 0 flood can leave tens of thousands of proposals queued: their
    # commit takes a while on a loaded machine, and is all this waits for.
    at_mark = committed_through(leader, timeout=40)
    if (at_mark["state"] != 3 or
            at_mark["current_term"] != before["current_term"] or
            at_mark["captures_lost"] != before["captures_lost"] or
            len(leader.serving_windows()) != windows or
            leader.serving_windows()[-1][1] is not None):
        print("attempt abandoned: the leader lost its lease or a capture "
              "before the mark (%s)" % at_mark)
        load.finish()
        c.teardown()
        return False
    mark = load.mark()
    committed = load.last_values(mark)
    load.resume_all()
    time.sleep(0.3)
    st = leader.raft_status()
    leader.kill9()
    load.finish()
    later = load.acked_after(mark)
    # Unacknowledged publishes in flight may have been taken too.
    for p in load.pubs:
        for topic, payload in p.sent_unacked:
            later.setdefault(topic, set()).add(payload)
    rest = [n for n in c.nodes.values() if n is not leader]
    new = c.wait_leader(rest, timeout=15)
    # The new leader's broker already holds it all when it serves.
    h.wait_until("the new leader to serve", new.round_trip, 5)
    held = read_retained(new)
    lost = lost_committed(held, committed, later)
    assert not lost, "committed values missing on the new leader: %s" % (
        sorted(lost.items())[:5],)
    # The oracle would see a committed value gone: plant one.
    planted = dict(held)
    victim = sorted(committed)[0]
    planted[victim] = b"an older value"
    assert lost_committed(planted, committed, later), \
        "the oracle did not notice a missing committed value"
    wait_same(rest, held)
    # QoS 1 and 2 acknowledgements only: QoS 0 has none.
    final = {}
    for p in load.pubs[1:]:
        for topic, payload in p.acked:
            final[topic] = payload
    not_kept = sum(1 for t, v in final.items() if held.get(t) != v and
                   held.get(t) not in later.get(t, ()))
    report("kill -9 at commit index %d: %d publishes acknowledged, %d of "
           "them after the checked mark; %d of %d topics hold none of the "
           "values acknowledged to QoS 1/2 publishers after it (acknowledged, "
           "not committed)" % (
               st["commit_index"], sum(len(p.acked) for p in load.pubs),
               sum(len(v) for v in load.acked_after(mark).values()),
               not_kept, len(topics)))
    # The old leader comes back with an empty broker, refilled from its
    # snapshot and log.
    leader.start()
    assert c.wait_leader(timeout=10) is new
    wait_same(list(c.nodes.values()), held)
    return True


def read_expiry(node, timeout=10.0):
    """{topic: message expiry interval or None} of every retained message
    this node's broker holds, read by a v5 administrator."""
    s = h._PahoSession(node.host, node.mqtt_port, h.ADMIN, h.ADMIN_PW,
                       protocol=mqtt.MQTTv5, timeout=timeout)
    try:
        s.subscribe("exp/#", qos=0, timeout=timeout)
        marker = "ha-test-end/%d" % random.getrandbits(32)
        s.subscribe(marker, qos=0, timeout=timeout)
        return {t: s.expiry.get(t) for t, _p, _q, retained in s.messages
                if retained and t != marker}
    finally:
        s.close()


def test_message_expiry_across_a_failover(make_cluster, version, report):
    """2.1: a retained message keeps its expiry, as an absolute time, on
    every node: after kill -9 of the leader the new leader serves it with
    what is left of its interval, and every broker drops it when it is due.
    2.0 hides the expiry from plugins: there the message outlives its
    interval on the other nodes (the failover table says so)."""
    c = make_cluster()
    leader = c.form()
    s = h._PahoSession(leader.host, leader.mqtt_port, h.USER, h.USER_PW,
                       protocol=mqtt.MQTTv5)
    try:
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = 6
        t0 = time.monotonic()
        assert s.publish_retained("exp/short", b"soon gone", 1,
                                  properties=props)
        assert s.publish_retained("exp/forever", b"stays", 1)
    finally:
        s.close()
    committed_through(leader)
    leader.kill9()
    rest = [n for n in c.nodes.values() if n is not leader]
    new = c.wait_leader(rest, timeout=5)
    h.wait_until("the new leader to serve", new.round_trip, 5)
    got = read_expiry(new)
    assert set(got) == {"exp/short", "exp/forever"}, got
    assert got["exp/forever"] is None
    if version == "2.1":
        left = got["exp/short"]
        assert left is not None and 0 < left <= 6, got
    else:
        assert got["exp/short"] is None, got
    time.sleep(max(0.0, t0 + 7.5 - time.monotonic()))
    for n in rest:
        held = read_retained(n)
        if version == "2.1":
            assert held == {"exp/forever": b"stays"}, (n.nodeid, held)
        else:
            assert held == {"exp/short": b"soon gone",
                            "exp/forever": b"stays"}, (n.nodeid, held)
    report("expiry interval left on the new leader: %s" % got["exp/short"])


def test_lost_majority_bounds_what_is_acknowledged(make_cluster, version,
                                                  report):
    """Both followers stopped: nothing can commit, so every retained publish
    the leader still acknowledges is at risk. It stops acknowledging within
    its lease (an election timeout after it last heard a majority), refuses
    new clients, and once the followers are back every broker equals the
    log again."""
    c = make_cluster()
    leader = c.form()
    followers = [n for n in c.nodes.values() if n is not leader]
    p = Publisher(leader, qos=1)
    try:
        assert p.set("maj/before", b"committed")
        committed_through(leader)
        for n in followers:
            n.signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        after = 0
        deadline = t_stop + 10
        refused_at = None
        while time.monotonic() < deadline:
            if not p.set("maj/%d" % (after % 50), b"v%d" % after):
                refused_at = time.monotonic()
                break
            after += 1
        assert refused_at is not None, \
            "the leader went on acknowledging without a majority"
        # Generous: the lease is one election timeout; the machine is shared.
        assert refused_at - t_stop < 10 * h.ELECTION_TIMEOUT_MS / 1000.0
        assert h.client_connack(leader.host, leader.mqtt_port) not in (0, None)
    finally:
        for n in followers:
            n.signal(signal.SIGCONT)
        p.close()
    new = c.wait_leader(timeout=10)
    h.wait_until("a leader to serve", new.round_trip, 10)
    committed_through(new)
    held = read_retained(new)
    assert held.get("maj/before") == b"committed"
    wait_same(list(c.nodes.values()), held)
    report("majority lost: %d retained publishes acknowledged without it, "
           "the last %.0f ms after the followers stopped" % (
               after, (refused_at - t_stop) * 1000))


STALL_PLUGIN = os.environ.get("HA_STALL_PLUGIN") or os.path.join(
    h.REPO, os.environ.get("BUILD", "build"), "tests", "cluster", "stall.so")


def test_stalled_follower_brokers_bound_what_is_acknowledged(
        make_cluster, version, report):
    """Both followers' broker threads stalled (their raft threads run on):
    each takes committed entries until its hand-off holds the backlog limit,
    then no new ones, so commits stop; the leader then acknowledges at most
    the limit more before it refuses retained publishes. Once the brokers
    run again, every broker equals the log."""
    if not os.path.isfile(STALL_PLUGIN):
        pytest.fail("test plugin missing at %s: run `make suite-cluster`" %
                    STALL_PLUGIN)
    limit_mb = 2
    c = make_cluster()
    for i in (1, 2, 3):
        n = c.add(i)
        n.plugin_opts["backlog_limit"] = str(limit_mb)
        n.extra_conf += ["plugin %s" % STALL_PLUGIN,
                         "plugin_opt_stall_file %s" %
                         os.path.join(n.dir, "stall")]
    leader = c.form()
    followers = [n for n in c.nodes.values() if n is not leader]
    payload = b"s" * 16384
    p = Publisher(leader, qos=1)
    sent = 0
    try:
        assert p.set("stall/first", b"committed")
        committed_through(leader)
        for n in followers:
            open(os.path.join(n.dir, "stall"), "w").close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sent < 5000:
            if not p.set("stall/%d" % (sent % 100), payload):
                break
            sent += 1
    finally:
        p.close()
        for n in followers:
            os.unlink(os.path.join(n.dir, "stall"))
    acked_mb = sent * len(payload) / float(1 << 20)
    assert sent < 5000, "the leader never refused"
    # What the followers' hand-offs took (committed) and what the leader
    # held uncommitted, a limit each, and a record's overhead.
    assert acked_mb <= 3 * limit_mb + 1, acked_mb
    new = c.wait_leader(timeout=10)
    h.wait_until("a leader to serve", new.round_trip, 10)
    committed_through(new)
    held = read_retained(new)
    assert held.get("stall/first") == b"committed"
    wait_same(list(c.nodes.values()), held, timeout=30)
    report("follower brokers stalled, backlog limit %d MB: %.1f MB of "
           "retained publishes acknowledged before the leader refused" % (
               limit_mb, acked_mb))


def test_full_disk_on_the_leader_bounds_what_is_acknowledged(
        make_cluster, version, tmp_path, report):
    """The leader's data folder on a small tmpfs that fills up: the leader
    finds that it cannot append, hands leadership over and stops, so what it
    acknowledged and could not write is bounded by the last batch it tried;
    every value the new leader committed is on both other brokers."""
    c = make_cluster()
    for i in (1, 2, 3):
        c.add(i)
    first = c.nodes[1]
    # Two 8 MiB log segments do not fit: the second one fails.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs",
                    first.data_dir], check=True)
    try:
        leader = c.form()
        if leader is not first:
            r = leader.cmd("setLeader", clustername=c.name, nodeid=1)
            assert "error" not in r, r
            leader = c.wait_leader(timeout=5)
            assert leader is first
        p = Publisher(first, qos=1)
        payload = b"d" * 4000
        sent = 0
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and sent < 20000:
                if not p.set("disk/%d" % (sent % 200), payload):
                    break
                sent += 1
        finally:
            p.close()
        assert sent < 20000, "the leader never found its disk full"
        h.wait_until("node 1 to say its disk is full",
                     lambda: "disk full" in first.log_text(), 10)
        rest = [n for n in c.nodes.values() if n is not first]
        new = c.wait_leader(rest, timeout=10)
        h.wait_until("the new leader to serve", new.round_trip, 10)
        q = Publisher(new, qos=1)
        try:
            assert q.set("disk/after", b"written")
        finally:
            q.close()
        committed_through(new)
        held = read_retained(new)
        assert held.get("disk/after") == b"written"
        wait_same(rest, held)
        lost = sum(1 for i in range(min(sent, 200))
                   if held.get("disk/%d" % i) != payload)
        report("full disk: %d retained publishes of 4 KB acknowledged by "
               "node 1 before it stopped; %d of its 200 topics missing on "
               "the new leader" % (sent, lost))
    finally:
        c.teardown()
        subprocess.run(["umount", "-l", first.data_dir], check=False)


def test_follower_catches_up_by_snapshot_without_deleted_topics(
        make_cluster, report):
    """A follower that missed sets and deletes while it was down comes back
    by snapshot: deleted topics never come back on it."""
    c = make_cluster()
    for i in (1, 2, 3):
        c.add(i).plugin_opts["snapshot_interval"] = "64"
    leader = c.form()
    down = next(n for n in c.nodes.values() if n is not leader)
    p = Publisher(leader)
    try:
        for i in range(40):
            assert p.set("snap/%d" % i, b"first")
        committed_through(leader)
        wait_same([down], {"snap/%d" % i: b"first" for i in range(40)})
        down.stop()
        expected = {}
        for i in range(40):
            if i % 3 == 0:
                assert p.set("snap/%d" % i, b"")
            else:
                assert p.set("snap/%d" % i, b"second")
                expected["snap/%d" % i] = b"second"
        # Past the 1,024 entries a leader keeps behind its snapshot.
        for i in range(1300):
            assert p.set("snap/extra/%d" % (i % 50), b"e%d" % i)
            expected["snap/extra/%d" % (i % 50)] = b"e%d" % i
    finally:
        p.close()
    committed_through(leader)
    down.start()
    wait_same(list(c.nodes.values()), expected, timeout=20)
    st = down.raft_status()
    report("the follower came back with %d retained messages; snapshot at "
           "index %d, %d received" % (st["retain_msg"],
                                      st["snapshot"]["index"],
                                      st["snapshot"]["installed"]))
    assert st["snapshot"]["installed"] >= 1, \
        "the follower caught up by log, not by snapshot"


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


def move_leadership(c, leader, how):
    """Moves leadership away from leader by setLeader, SIGSTOP past its
    lease, or a partition; returns the new leader, with leader back."""
    rest = [n for n in c.nodes.values() if n is not leader]
    if how == "setLeader":
        target = rest[0]
        r = leader.cmd("setLeader", clustername=c.name, nodeid=target.nodeid)
        assert "error" not in r, r
        assert c.wait_leader(timeout=5) is target
        return target
    if how == "sigstop":
        leader.signal(signal.SIGSTOP)
        try:
            new = c.wait_leader(rest, timeout=5)
        finally:
            leader.signal(signal.SIGCONT)
    else:
        c.partition(leader)
        try:
            new = c.wait_leader(rest, timeout=5)
        finally:
            c.heal()
    assert c.wait_leader(timeout=10) is new
    return new


@pytest.mark.parametrize("how", ["setLeader", "sigstop", "partition"])
def test_leadership_moves_and_brokers_converge(make_cluster, how, report):
    """Leadership moved with retained publishes in flight: afterwards every
    node's broker equals the log, topic by topic, including the old
    leader's, which captured publishes the log may never have taken."""
    c = make_cluster(partitionable=(how == "partition"))
    leader = c.form()
    topics = ["move/%d" % i for i in range(25)]
    load = LoadPublishers(leader, topics, max_seconds=15)
    load.start()
    time.sleep(0.3)
    new = move_leadership(c, leader, how)
    load.finish()
    h.wait_until("the new leader to serve", new.round_trip, 5)
    committed_through(new)
    held = read_retained(new)
    wait_same(list(c.nodes.values()), held)
    report("%s: %d publishes acknowledged by node %d; all nodes hold the "
           "same %d topics" % (how, sum(len(p.acked) for p in load.pubs),
                               leader.nodeid, len(held)))


def test_added_node_receives_every_retained_message(make_cluster, report):
    """A node added to a cluster that holds 100,000 retained messages ends
    with exactly the same set."""
    c = make_cluster()
    for i in (1, 2, 3):
        n = c.add(i)
        n.plugin_opts.update(HEAVY_LOAD_OPTS)
    leader = c.form()
    count = 100000
    t0 = time.monotonic()
    p = Publisher(leader, qos=0)
    try:
        for i in range(count):
            info = p.s.client.publish("many/%d/%d" % (i % 100, i),
                                      b"m%d" % i, 0, retain=True)
            assert info.rc == mqtt.MQTT_ERR_SUCCESS, (i, info.rc)
            if i % 500 == 499:
                # Flush and keep the broker's queue short.
                assert p.s.publish("many-sync", b"", 1, timeout=30), i
    finally:
        p.close()
    committed_through(leader, timeout=60)
    published_s = time.monotonic() - t0
    assert leader.raft_status()["retain_msg"] == count
    n4 = c.add(4)
    n4.plugin_opts.update(HEAVY_LOAD_OPTS)
    n4.start()
    r = n4.cmd("joinCluster", clustername=c.name,
               nodes=c.members([1, 2, 3, 4], 4))
    assert "error" not in r, r
    r = leader.cmd("addNode", clustername=c.name, address=n4.host,
                   port=n4.cluster_port, nodeid=4)
    assert "error" not in r, r
    t1 = time.monotonic()
    h.wait_until("node 4 to hold every retained message",
                 lambda: n4.raft_status()["retain_msg"] == count, 180, 0.5)
    caught_up_s = time.monotonic() - t1
    expected = read_retained(leader, timeout=60)
    assert len(expected) == count
    # The broker applies a restored snapshot a slice at a time.
    wait_same([n4], expected, timeout=60)
    report("%d retained messages published in %.1f s; the added node held "
           "them all %.1f s after addNode" % (count, published_s,
                                              caught_up_s))


def test_mixed_broker_versions(make_cluster, version, report):
    """A cluster may mix 2.0 and 2.1 brokers (an upgrade node by node):
    both capture and apply retained messages through the same records and
    broker calls. Node 3 runs the other version; leadership moves to it and
    away, and every node holds the same set."""
    other = "2.1" if version == "2.0" else "2.0"
    c = make_cluster()
    for i in (1, 2, 3):
        c.add(i)
    c.nodes[3].broker = h.broker_path(other)
    leader = c.form()
    p = Publisher(leader)
    expected = {}
    try:
        for i in range(20):
            assert p.set("mixed/a/%d" % i, b"%d" % i)
            expected["mixed/a/%d" % i] = b"%d" % i
    finally:
        p.close()
    committed_through(leader)
    wait_same(list(c.nodes.values()), expected)
    # Leadership to the other version's node, and retained publishes there.
    mixed = c.nodes[3]
    if leader is not mixed:
        r = leader.cmd("setLeader", clustername=c.name, nodeid=3)
        assert "error" not in r, r
        assert c.wait_leader(timeout=5) is mixed
    h.wait_until("node 3 to serve", mixed.round_trip, 5)
    p = Publisher(mixed)
    try:
        for i in range(20):
            assert p.set("mixed/b/%d" % i, b"%d" % i)
            expected["mixed/b/%d" % i] = b"%d" % i
        assert p.set("mixed/a/0", b"")
        del expected["mixed/a/0"]
    finally:
        p.close()
    committed_through(mixed)
    wait_same(list(c.nodes.values()), expected)
    report("nodes 1 and 2 on %s, node 3 on %s: %d retained messages on "
           "every node" % (version, other, len(expected)))


# The whole record of a retained set without properties: 40 bytes of type,
# version, origin, QoS, expiry and lengths, then the topic and the payload
# (docs/records.md); at most 4 MiB, the largest log entry.
def record_bytes(topic, payload_len):
    return 40 + len(topic.encode()) + payload_len


def v5_retained_publish(node, topic, payload, timeout=30.0):
    """A v5 client's retained QoS 1 publish: the PUBACK's reason code, or
    "closed" when the broker closed the connection instead."""
    sock = socket.create_connection((node.host, node.mqtt_port),
                                    timeout=timeout)
    try:
        sock.sendall(h.v5_connect_packet("big-v5", h.USER, h.USER_PW))
        first, body = h._read_packet(sock)
        assert first >> 4 == 2 and body[1] == 0, "CONNACK %r" % body
        sock.sendall(h._packet(0x33, h._mqtt_str(topic) +
                               struct.pack(">H", 1) + b"\x00" + payload))
        while True:
            first, body = h._read_packet(sock)
            if first >> 4 == 4:
                return body[2] if len(body) >= 3 else 0
            if first >> 4 == 14:
                return "closed"
    except (ConnectionError, OSError):
        return "closed"
    finally:
        sock.close()


def test_retained_publish_at_the_entry_size_limit(make_cluster):
    """The largest retained message the log takes is taken; one byte more
    is refused without an acknowledgement: a v5 client of 2.1 gets reason
    0x97, any other is disconnected and must resend."""
    c = make_cluster()
    for i in (1, 2, 3):
        # 2.1 takes packets of 2,000,000 bytes at most unless told.
        c.add(i).extra_conf.append("max_packet_size 8388608")
    leader = c.form()
    limit = 4 * 1024 * 1024
    topic = "big"
    largest = limit - record_bytes(topic, 0)
    p = Publisher(leader, qos=1)
    try:
        assert p.s.publish_retained(topic, b"x" * largest, 1, timeout=30), \
            "the largest retained message that fits was refused"
    finally:
        p.close()
    committed_through(leader)
    assert leader.raft_status()["retain_msg"] == 1
    # One byte more: a v5 client, on a socket to read the exact answer.
    answer = v5_retained_publish(leader, topic, b"y" * (largest + 1))
    if c.version == "2.1":
        assert answer == 0x97, "expected PUBACK 0x97 (quota exceeded), " \
            "got %r" % (answer,)
    else:
        assert answer == "closed", "expected the connection closed, got " \
            "%r" % (answer,)
    # And a v3.1.1 client.
    s = h._PahoSession(leader.host, leader.mqtt_port, h.USER, h.USER_PW)
    try:
        try:
            ok = s.publish_retained(topic, b"z" * (largest + 1), 1,
                                    timeout=30)
        except h.ControlError:
            ok = False  # the write failed: the broker closed first
            s.lost = True
        assert not ok, "a retained message over the limit was acknowledged"
        assert s.lost, "the v3.1.1 client was not disconnected"
    finally:
        s.close()
    held = read_retained(leader)
    assert held == {topic: b"x" * largest}
