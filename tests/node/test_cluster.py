# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Clusters of real ha-kv processes on loopback: creation, concurrent
clients, crashes, pauses, membership changes, graceful handover and
snapshot catch-up. Every client operation is recorded and the history is
checked for linearizability; every acknowledged write must survive and every
node must end with the same state."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import linearizability as lin  # noqa: E402
from cluster import (ClientError, LeaseProbe, Load,  # noqa: E402
                     check_history, free_port, read_result, run_checked,
                     write_status)


def others(cluster, leader):
    return [i for i in cluster.nodes if i != leader]


def test_create_elects_a_leader_and_serves(make_cluster):
    c = make_cluster()
    leader = c.create(3)
    c.wait_members(list(c.nodes), [1, 2, 3])
    node = c.nodes[leader]
    assert node.call("PUT greeting hello").startswith("OK ")
    assert node.call("GET greeting") == "VALUE hello"
    assert node.call("GET missing") == "NONE"
    assert node.call("CAS greeting hello bye").startswith("OK ")
    assert node.call("CAS greeting hello again").startswith("MISMATCH ")
    assert node.call("GET greeting") == "VALUE bye"
    # Followers refuse and name the leader.
    follower = c.nodes[others(c, leader)[0]]
    assert follower.call("PUT x 1") == "ERR not-leader %d" % leader
    assert follower.call("GET x") == "ERR not-leader %d" % leader
    # Bad input gets an error line and changes nothing.
    for bad in ["", "FROB", "PUT onlykey", "GET a b", "ADD 0 1.2.3.4:5",
                "ADD 7 nohostport", "REMOVE 99999", "CREATE 1=x", "\x01\x02",
                "JOIN 1=127.0.0.1:1,1=127.0.0.1:2", "PUT " + "k" * 300 + " v"]:
        assert node.call(bad).startswith("ERR bad-request"), bad
    assert node.call("PUT big " + "v" * 70000).startswith("ERR too-long")
    assert node.call("PING") == "PONG"
    # A second process on the same data folder refuses to start.
    second = run_checked([c.binary, "--id", str(node.id), "--data",
                          node.data_dir, "--cluster", c.name,
                          "--raft", "127.0.0.99:%d" % free_port("127.0.0.99"),
                          "--listen",
                          "127.0.0.99:%d" % free_port("127.0.0.99"),
                          "--insecure-plaintext"])
    assert second.returncode != 0
    assert b"data folder" in second.stderr or b"lock" in second.stderr, \
        second.stderr
    sts = c.wait_converged(list(c.nodes))
    assert {st["keys"] for st in sts.values()} == {1}
    history = lin.History()
    load = Load(c, history, clients=2, keys=2, max_ops=100,
                duration=10).start()
    load.join()
    check_history(c, history, load.keys, list(c.nodes), other_keys=1)
    # A damaged data folder (both copies of the term/vote record
    # overwritten): the node refuses to start and says why.
    victim = c.nodes[others(c, leader)[1]]
    victim.kill()
    # First ha-kv's own record of the membership...
    record = os.path.join(victim.data_dir, "kv-cluster")
    with open(record, "rb") as f:
        saved = f.read()
    with open(record, "wb") as f:
        f.write(b"ha-kv-cluster 1 joined\n1=nowhere\n")
    broken = run_checked(victim.args())
    assert broken.returncode != 0
    assert b"kv-cluster is damaged" in broken.stderr, broken.stderr
    with open(record, "wb") as f:
        f.write(saved)
    # ... then the node's own term/vote records.
    raft_dir = os.path.join(victim.data_dir, "raft")
    damaged = 0
    for name in os.listdir(raft_dir):
        if name.startswith("meta"):
            with open(os.path.join(raft_dir, name), "r+b") as f:
                size = os.path.getsize(f.name)
                f.write(bytes((i * 37 + 11) & 0xff for i in range(size)))
            damaged += 1
    assert damaged > 0, os.listdir(raft_dir)
    broken = run_checked(victim.args())
    assert broken.returncode != 0
    assert b"cannot start the node" in broken.stderr, broken.stderr


def test_concurrent_clients_are_linearizable(make_cluster):
    c = make_cluster()
    c.create(3)
    history = lin.History()
    load = Load(c, history, clients=4, keys=3, max_ops=5000,
                duration=20).start()
    load.wait_acked(200)
    load.stop()
    check_history(c, history, load.keys, list(c.nodes))
    assert load.acked >= 200, load.counts


def test_kill_leader_new_leader_old_one_catches_up(make_cluster):
    c = make_cluster()
    first = c.create(3)
    probe = LeaseProbe(c).__enter__()
    history = lin.History()
    load = Load(c, history, clients=3, keys=4, max_ops=5000,
                duration=25).start()
    load.wait_acked(30)
    c.nodes[first].kill()
    second = c.wait_leader(exclude=(first,))
    assert second != first
    before = load.acked
    load.wait_acked(before + 30)
    c.nodes[first].start()
    load.wait_acked(load.acked + 20)
    load.stop()
    probe.stop()
    holders = probe.check()
    assert len({n for n, _ in holders}) >= 2, (holders, probe.per_node)
    check_history(c, history, load.keys, list(c.nodes))


def test_paused_leader_is_replaced_and_never_acknowledges(make_cluster):
    c = make_cluster()
    old = c.create(3)
    probe = LeaseProbe(c).__enter__()
    history = lin.History()
    load = Load(c, history, clients=3, keys=3, max_ops=5000,
                duration=25).start()
    load.wait_acked(20)
    old_node = c.nodes[old]
    old_term = old_node.status()["term"]
    # A client connected to the old leader before the pause.
    stale = old_node.client(timeout=5)
    stale.connect()
    old_node.signal(signal.SIGSTOP)
    # Well beyond its lease (under one election timeout): another leads.
    new = c.wait_leader(exclude=(old,))
    assert c.nodes[new].status()["term"] > old_term
    load.wait_acked(load.acked + 20)
    # Requests that reach the old leader while it is paused, handled the
    # moment it resumes, before it has heard of the new term.
    ops = []
    lines = []
    for i in range(5):
        key = load.keys[i % len(load.keys)]
        value = "stale-%d" % i
        ops.append((lin.PUT, history.invoke("stale", lin.PUT, key, value,
                                            node=old)))
        lines.append("PUT %s %s" % (key, value))
        ops.append((lin.GET, history.invoke("stale", lin.GET, key,
                                            node=old)))
        lines.append("GET " + key)
    # Its own view right after it resumes: the lease ran out in the pause.
    lines.append("STATUS")
    stale.send(lines)
    old_node.signal(signal.SIGCONT)
    acknowledged = []
    for kind, op in ops:
        try:
            reply = stale.recv_line(timeout=5)
        except ClientError:
            history.info(op) if kind == lin.PUT else history.fail(op)
            continue
        if kind == lin.PUT:
            status, _ = write_status(reply)
            if status == lin.OK:
                history.ok(op, True)
                acknowledged.append(reply)
            elif status == lin.INFO:
                history.info(op)
            else:
                history.fail(op)
        else:
            if reply.startswith("VALUE ") or reply == "NONE":
                history.ok(op, None if reply == "NONE" else reply[6:])
            else:
                history.fail(op)
    st = json.loads(stale.recv_line(timeout=5))
    assert st["lease_ms_left"] == 0, st
    stale.close()
    assert not acknowledged, "the deposed leader acknowledged %s" % \
        acknowledged
    # The old leader steps down and follows.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st = old_node.status()
        if st and st["role"] != "leader" and st["term"] > old_term:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the resumed leader did not step down: %s" %
                             old_node.status())
    load.wait_acked(load.acked + 10)
    load.stop()
    probe.stop()
    holders = probe.check()
    assert len({n for n, _ in holders}) >= 2, (holders, probe.per_node)
    check_history(c, history, load.keys, list(c.nodes))


def test_add_nodes_in_either_order_transfer_and_remove_the_leader(make_cluster):
    c = make_cluster()
    leader = c.create(3)
    probe = LeaseProbe(c).__enter__()
    history = lin.History()
    load = Load(c, history, clients=3, keys=3, max_ops=5000,
                duration=30).start()
    load.wait_acked(20)
    fourth = c.add(4)
    fourth.start()
    probe.watch(4)
    assert fourth.call("JOIN " + c.members(c.nodes)) == "OK"
    leader = c.wait_leader()
    assert c.nodes[leader].call("ADD 4 " + fourth.raft_address,
                                timeout=5) == "OK"
    c.wait_members(list(c.nodes), [1, 2, 3, 4])
    load.wait_acked(load.acked + 20)
    c.wait_converged(list(c.nodes))
    # The other order: the leader admits node 5 before it even runs.
    fifth = c.add(5)
    leader = c.wait_leader()
    assert c.nodes[leader].call("ADD 5 " + fifth.raft_address,
                                timeout=5) == "OK"
    fifth.start()
    probe.watch(5)
    assert fifth.call("JOIN " + c.members(c.nodes)) == "OK"
    c.wait_members(list(c.nodes), [1, 2, 3, 4, 5])
    load.wait_acked(load.acked + 20)
    c.wait_converged(list(c.nodes))
    # Hand leadership to the new node, then remove the leader itself: it
    # hands over again once the removal commits.
    leader = c.wait_leader()
    if leader != 4:
        reply = c.nodes[leader].call("TRANSFER 4", timeout=5)
        assert reply == "OK", reply
    deadline = time.monotonic() + 10
    while c.leader() != 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    leader = c.wait_leader()
    assert leader == 4, c.describe()
    reply = c.nodes[leader].call("REMOVE %d" % leader, timeout=5)
    assert reply == "OK", reply
    rest = others(c, leader)
    c.wait_members(rest, rest)
    new = c.wait_leader(ids=rest)
    assert new != leader
    load.ids = rest
    load.wait_acked(load.acked + 20)
    load.stop()
    probe.stop()
    holders = probe.check()
    # Node 4 leads only briefly (it is removed at once): the probe may
    # miss its lease, so only overlaps count here.
    assert holders, probe.per_node
    c.nodes[leader].kill()
    check_history(c, history, load.keys, rest)


def test_sigterm_on_the_leader_hands_over_before_exit(make_cluster):
    # A long election timeout: only a handover gets a new leader quickly.
    c = make_cluster(election_timeout=1500, heartbeat=100)
    leader = c.create(3)
    probe = LeaseProbe(c).__enter__()
    history = lin.History()
    load = Load(c, history, clients=2, keys=3, max_ops=5000,
                duration=25).start()
    load.wait_acked(20)
    node = c.nodes[leader]
    term = node.status()["term"]
    started = time.monotonic()
    node.signal(signal.SIGTERM)
    code = node.proc.wait(timeout=15)
    took = time.monotonic() - started
    assert code == 0, node.log_tail()
    log = open(node.log_path, encoding="utf-8", errors="replace").read()
    after = log[log.rindex("SIGTERM"):]
    # Before it exited, the old leader already followed a successor.
    assert "follower in term" in after and "stopped" in after, after
    new = c.wait_leader(ids=others(c, leader), timeout=10)
    assert c.nodes[new].status()["term"] > term
    load.ids = others(c, leader)
    load.wait_acked(load.acked + 20)
    # Restarted, it rejoins as a follower.
    node.start()
    load.ids = None
    load.wait_acked(load.acked + 10)
    load.stop()
    probe.stop()
    holders = probe.check()
    assert len({n for n, _ in holders}) >= 2, (holders, probe.per_node)
    check_history(c, history, load.keys, list(c.nodes))
    print("handover and exit took %.2f s" % took)


def test_snapshot_catch_up_of_a_node_that_was_down(make_cluster):
    c = make_cluster(snapshot_threshold=200)
    leader = c.create(3)
    down = others(c, leader)[0]
    c.nodes[down].kill()
    history = lin.History()
    # Many writes while it is down, pipelined for speed, then recorded.
    writes = 0
    client = c.nodes[leader].client(timeout=10)
    keys = ["s%d" % i for i in range(20)]
    batch = 100
    for round_ in range(20):
        lines, ops = [], []
        for i in range(batch):
            key = keys[i % len(keys)]
            value = "r%d-%d" % (round_, i)
            ops.append(history.invoke("bulk", lin.PUT, key, value,
                                      node=leader))
            lines.append("PUT %s %s" % (key, value))
        replies = client.pipeline(lines)
        for op, reply in zip(ops, replies):
            status, _ = write_status(reply)
            assert status == lin.OK, reply
            history.ok(op, True)
            writes += 1
    client.close()
    st = c.nodes[leader].status()
    assert st["snapshot_index"] > 0, st
    c.nodes[down].start()
    # Concurrent load while it catches up.
    load = Load(c, history, clients=2, keys=3, max_ops=200,
                duration=10).start()
    c.wait_converged(list(c.nodes), timeout=30)
    load.stop()
    log = open(c.nodes[down].log_path, encoding="utf-8",
               errors="replace").read()
    assert "installed a snapshot" in log, c.nodes[down].log_tail()
    check_history(c, history, keys + load.keys, list(c.nodes))
    # A full restart of every node recovers the same state from disk.
    before = c.wait_converged(list(c.nodes))
    for node in c.nodes.values():
        node.kill()
    for node in c.nodes.values():
        node.start(wait=False)
    for node in c.nodes.values():
        node.wait_serving()
    c.wait_leader()
    after = c.wait_converged(list(c.nodes))
    assert {st["hash"] for st in after.values()} == \
        {st["hash"] for st in before.values()}


def test_five_nodes_survive_losing_two(make_cluster):
    c = make_cluster()
    leader = c.create(5)
    probe = LeaseProbe(c).__enter__()
    c.wait_members(list(c.nodes), [1, 2, 3, 4, 5])
    history = lin.History()
    load = Load(c, history, clients=3, keys=4, max_ops=5000,
                duration=25).start()
    load.wait_acked(20)
    # The leader and one follower crash together; three of five remain.
    lost = [leader, others(c, leader)[0]]
    for i in lost:
        c.nodes[i].kill()
    c.wait_leader(exclude=lost)
    load.wait_acked(load.acked + 30)
    for i in lost:
        c.nodes[i].start()
    load.wait_acked(load.acked + 20)
    load.stop()
    probe.stop()
    holders = probe.check()
    assert len({n for n, _ in holders}) >= 2, (holders, probe.per_node)
    check_history(c, history, load.keys, list(c.nodes))


def test_pipelining_back_pressure_and_abandoned_requests(make_cluster):
    # A burst of a thousand requests keeps the leader's raft thread busy
    # for a while (much longer under the sanitizers): a longer election
    # timeout keeps the followers patient.
    c = make_cluster(election_timeout=1000, heartbeat=100)
    leader = c.create(3)
    node = c.nodes[leader]
    history = lin.History()
    # Far more requests than one connection may have outstanding: the
    # server stops reading, answers, reads on; replies come in order.
    # Distinct keys keep the (deliberately concurrent) history cheap to
    # check.
    keys = []
    last_index = 0
    for attempt in range(3):
        # A leadership change during the batch refuses the rest of it;
        # try again on the new leader.
        leader = c.wait_leader()
        node = c.nodes[leader]
        client = node.client(timeout=30)
        lines, ops = [], []
        for i in range(1500):
            key = "bp%d-%d" % (attempt, i)
            keys.append(key)
            value = "v%d" % i
            ops.append(history.invoke("pipe", lin.PUT, key, value,
                                      node=leader))
            lines.append("PUT %s %s" % (key, value))
            ops.append(history.invoke("pipe", lin.GET, key, node=leader))
            lines.append("GET " + key)
        replies = client.pipeline(lines, timeout=30)
        client.close()
        last_index = 0
        for op, reply in zip(ops, replies):
            if op.kind == lin.PUT:
                status, _ = write_status(reply)
                if status == lin.OK:
                    index = int(reply.split()[1])
                    assert index > last_index, (index, last_index)
                    last_index = index
                    history.ok(op, True)
                elif status == lin.INFO:
                    history.info(op)
                else:
                    history.fail(op)
            else:
                status, value = read_result(reply)
                if status == lin.OK:
                    history.ok(op, value)
                else:
                    history.fail(op)
        if sum(1 for r in replies if r.startswith("OK ")) > 1000:
            break
    assert last_index > 0, replies[:10]
    # Clients that leave with requests in flight: their writes may or may
    # not happen; the server carries on.
    quit_keys = ["q%d" % i for i in range(5)]
    for round_ in range(5):
        quitter = node.client()
        quit_lines = []
        for i in range(200):
            key = quit_keys[i % 5]
            value = "q%d-%d" % (round_, i)
            history.info(history.invoke("quit", lin.PUT, key, value,
                                        node=leader))
            quit_lines.append("PUT %s %s" % (key, value))
            quit_lines.append("GET " + key)
        quitter.send(quit_lines)
        quitter.close()
    assert node.call("PING") == "PONG"
    check_history(c, history, keys + quit_keys, list(c.nodes))


def test_leader_cut_off_from_its_followers_lets_its_lease_lapse(make_cluster):
    # Both followers paused: the leader runs on, alone. Its lease rests on
    # heartbeat rounds its followers acknowledged before they stopped, so
    # it must end within one election timeout of the pause (0.905 of it
    # with the 5% drift bound), and the leader must step down.
    election = 300
    c = make_cluster(election_timeout=election, heartbeat=50)
    leader = c.create(3)
    history = lin.History()
    load = Load(c, history, clients=2, keys=3, max_ops=5000,
                duration=30).start()
    load.wait_acked(20)
    node = c.nodes[leader]
    st = node.status()
    # STATUS times are CLOCK_MONOTONIC, which Python's monotonic clock is.
    assert abs(st["now_ms"] - time.monotonic() * 1000) < 1000, st
    followers = others(c, leader)
    for i in followers:
        c.nodes[i].signal(signal.SIGSTOP)
    paused_at = time.monotonic() * 1000
    samples = []
    client = node.client(timeout=2)
    deadline = time.monotonic() + 10
    stepped_down = False
    while time.monotonic() < deadline:
        st = json.loads(client.call("STATUS"))
        samples.append(st)
        if st["role"] != "leader" and st["now_ms"] > paused_at + election:
            stepped_down = True
            break
        time.sleep(0.005)
    client.close()
    print("lease ran at most %d ms past the pause (bound %d)" % (
        max(s["lease_until_ms"] for s in samples) - paused_at, election))
    late = [s for s in samples if s["lease_until_ms"] >= paused_at + election]
    assert not late, "lease past the bound %d: %s" % (
        paused_at + election, late[:3])
    assert stepped_down, samples[-1]
    assert any(s["lease_until_ms"] > s["now_ms"] for s in samples), \
        "the lease was never seen held: the check proved nothing"
    # Alone, it acknowledges no write.
    op = history.invoke("alone", lin.PUT, load.keys[0], "alone-1",
                        node=leader)
    reply = node.call("PUT %s alone-1" % load.keys[0], timeout=3)
    status, _ = write_status(reply)
    assert status != lin.OK, reply
    history.fail(op) if status == lin.FAIL else history.info(op)
    for i in followers:
        c.nodes[i].signal(signal.SIGCONT)
    c.wait_leader()
    load.wait_acked(load.acked + 20)
    load.stop()
    check_history(c, history, load.keys, list(c.nodes))


def test_crash_right_after_creation_recovers(make_cluster):
    # Every node killed the moment CREATE and JOIN were answered, before
    # the first configuration may be on any disk: on restart the joiners
    # still know whom to dial and the creator writes the same first
    # configuration again.
    c = make_cluster()
    for i in (1, 2, 3):
        c.add(i)
    for node in c.nodes.values():
        node.start(wait=False)
    for node in c.nodes.values():
        node.wait_serving()
    members = c.members(c.nodes)
    for i in (2, 3):
        assert c.nodes[i].call("JOIN " + members) == "OK"
    assert c.nodes[1].call("CREATE " + members) == "OK"
    for node in c.nodes.values():
        node.kill()
    for node in c.nodes.values():
        node.start(wait=False)
    for node in c.nodes.values():
        node.wait_serving()
    c.wait_leader()
    c.wait_members(list(c.nodes), [1, 2, 3])
    history = lin.History()
    load = Load(c, history, clients=2, keys=3, max_ops=5000,
                duration=20).start()
    load.wait_acked(50)
    load.stop()
    check_history(c, history, load.keys, list(c.nodes))
