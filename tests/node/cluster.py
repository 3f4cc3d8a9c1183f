# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Real ha-kv processes on loopback for the cluster tests and the benchmark:
start, kill, pause, restart, query; line-protocol clients; a bounded load
generator that records every operation in a linearizability.History."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import linearizability as lin

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def binary_path():
    """The tests run the sanitizer build (make suite-node-cluster passes
    it); the benchmark passes the optimized one."""
    path = os.environ.get("HA_KV_BINARY") or os.path.join(
        REPO, os.environ.get("BUILD", "build"), "san", "ha-kv")
    if not os.access(path, os.X_OK):
        raise RuntimeError("ha-kv binary not found at %s: run `make "
                           "build/san/ha-kv` (or set HA_KV_BINARY)" % path)
    return path


# Options of the AddressSanitizer and UndefinedBehaviorSanitizer runtimes in
# every ha-kv the tests start (a build without them ignores these): stop at
# the first error, look for leaks when the process exits, and write every
# report to stderr, which is the node's log.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "halt_on_error=1:detect_leaks=1:"
                    "detect_stack_use_after_return=1:"
                    "check_initialization_order=1:strict_string_checks=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
    "LSAN_OPTIONS": "report_objects=1",
}


def process_env():
    env = dict(os.environ)
    env.update(SANITIZER_ENV)
    return env


# The first line of every report the sanitizer runtimes write.
_REPORT_START = re.compile(
    r"^(==\d+==\s*(ERROR|WARNING): (Address|Leak|Thread|Memory)Sanitizer"
    r"|.*: runtime error: "
    r"|==\d+==\s*(Address|Leak)Sanitizer has encountered a fatal error)")
_REPORT_END = re.compile(r"^SUMMARY: \w+Sanitizer")


def sanitizer_reports(text, context=60):
    """The sanitizer reports in a process's output, each as the text from
    its first line to its SUMMARY line (at most `context` lines)."""
    lines = text.splitlines()
    reports = []
    i = 0
    while i < len(lines):
        if not _REPORT_START.match(lines[i]):
            i += 1
            continue
        end = i
        while end + 1 < len(lines) and end - i < context and \
                not _REPORT_END.match(lines[end]):
            end += 1
        reports.append("\n".join(lines[i:end + 1]))
        i = end + 1
    return reports


def run_checked(args, timeout=20):
    """Runs ha-kv to completion (a start that must fail, for instance) and
    fails on any sanitizer report in what it wrote."""
    done = subprocess.run(args, capture_output=True, timeout=timeout,
                          env=process_env())
    reports = sanitizer_reports(done.stderr.decode("utf-8", "replace"))
    assert not reports, "sanitizer report from %s:\n%s" % (
        " ".join(args), "\n\n".join(reports))
    return done


def free_port(host):
    """A port free on host right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ClientError(Exception):
    """The connection broke or the reply did not come in time: the outcome
    of the request is unknown."""


class ConnectError(ClientError):
    """No connection: the request was never sent."""


class Client:
    """One connection speaking the line protocol."""

    def __init__(self, host, port, timeout=2.0):
        self.addr = (host, port)
        self.timeout = timeout
        self.sock = None
        self.buf = b""

    def connect(self):
        if self.sock is None:
            try:
                self.sock = socket.create_connection(self.addr,
                                                     timeout=self.timeout)
            except OSError as e:
                self.sock = None
                raise ConnectError("connect %s:%d: %s" % (self.addr + (e,)))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""

    def send(self, lines):
        self.connect()
        data = "".join(line + "\n" for line in lines).encode()
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.close()
            raise ClientError("send: %s" % e)

    def recv_line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise ClientError("no reply within the timeout")
            try:
                self.sock.settimeout(left)
                data = self.sock.recv(65536)
            except (OSError, AttributeError) as e:
                self.close()
                raise ClientError("recv: %s" % e)
            if not data:
                self.close()
                raise ClientError("connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def call(self, line, timeout=None):
        self.send([line])
        return self.recv_line(timeout)

    def pipeline(self, lines, timeout=None):
        self.send(lines)
        return [self.recv_line(timeout) for _ in lines]


def write_status(reply):
    """Classifies a PUT/CAS reply: (history status, result)."""
    if reply.startswith("OK "):
        return lin.OK, True
    if reply.startswith("MISMATCH "):
        return lin.OK, False
    if reply.startswith("ERR unknown"):
        return lin.INFO, None
    if reply.startswith("ERR "):
        # Refused before it reached the log, or overwritten there
        # ("ERR lost"): it never takes effect.
        return lin.FAIL, None
    raise AssertionError("unexpected reply to a write: %r" % reply)


def read_result(reply):
    if reply == "NONE":
        return lin.OK, None
    if reply.startswith("VALUE "):
        return lin.OK, reply[len("VALUE "):]
    if reply.startswith("ERR "):
        return lin.FAIL, None
    raise AssertionError("unexpected reply to a read: %r" % reply)


class Node:
    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.id = node_id
        self.host = "127.0.0.%d" % (10 + node_id)
        self.raft_port = free_port(self.host)
        self.client_port = free_port(self.host)
        self.data_dir = os.path.join(cluster.workdir, "node%d" % node_id)
        os.makedirs(self.data_dir, exist_ok=True)
        self.log_path = os.path.join(cluster.workdir, "node%d.log" % node_id)
        self.proc = None
        self.stopped = False  # SIGSTOPped

    @property
    def raft_address(self):
        return "%s:%d" % (self.host, self.raft_port)

    def args(self):
        c = self.cluster
        a = [c.binary, "--id", str(self.id), "--data", self.data_dir,
             "--cluster", c.name, "--raft", self.raft_address,
             "--listen", "%s:%d" % (self.host, self.client_port),
             "--secret-file", c.secret_file,
             "--election-timeout", str(c.election_timeout),
             "--heartbeat", str(c.heartbeat)]
        if c.snapshot_threshold:
            a += ["--snapshot-threshold", str(c.snapshot_threshold)]
        return a

    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None
        log = open(self.log_path, "ab")
        try:
            # A process group of its own: signals reach it alone, and
            # teardown can kill the whole group.
            self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log,
                                         start_new_session=True,
                                         env=process_env())
        finally:
            log.close()
        self.stopped = False
        if wait:
            self.wait_serving()

    def wait_serving(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("node %d exited with %s at start:\n%s"
                                     % (self.id, self.proc.returncode,
                                        self.log_tail()))
            if self.status(timeout=0.5) is not None:
                return
            time.sleep(0.05)
        raise AssertionError("node %d does not answer:\n%s"
                             % (self.id, self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        # Never signal a process group whose leader was reaped: its id may
        # belong to another process by now.
        if not self.running():
            raise RuntimeError("node %s is not running" % self.id)
        os.killpg(self.proc.pid, sig)
        if sig == signal.SIGSTOP:
            self.stopped = True
        elif sig == signal.SIGCONT:
            self.stopped = False

    def kill(self):
        if self.running():
            if self.stopped:
                self.signal(signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self):
        """Asks a running node to stop as an operator would (SIGTERM), so
        that it exits through its own shutdown, where the leak check runs.
        Returns without waiting."""
        if not self.running():
            return False
        if self.stopped:
            self.signal(signal.SIGCONT)
        os.killpg(self.proc.pid, signal.SIGTERM)
        return True

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def client(self, timeout=2.0):
        return Client(self.host, self.client_port, timeout)

    def call(self, line, timeout=2.0):
        c = self.client(timeout)
        try:
            return c.call(line)
        finally:
            c.close()

    def status(self, timeout=1.0):
        if not self.running() or self.stopped:
            return None
        try:
            return json.loads(self.call("STATUS", timeout))
        except (ClientError, ValueError):
            return None

    def log_tail(self, lines=40):
        if not os.path.exists(self.log_path):
            return "(no log)"
        return "\n".join(self.log_text().splitlines()[-lines:])


class Cluster:
    def __init__(self, workdir, name="test", election_timeout=300,
                 heartbeat=50, snapshot_threshold=None):
        self.workdir = workdir
        self.binary = binary_path()
        self.name = name
        self.election_timeout = election_timeout
        self.heartbeat = heartbeat
        self.snapshot_threshold = snapshot_threshold
        self.secret_file = os.path.join(workdir, "secret")
        with open(self.secret_file, "w") as f:
            f.write(os.urandom(24).hex() + "\n")
        os.chmod(self.secret_file, 0o600)
        self.nodes = {}

    def add(self, node_id):
        node = Node(self, node_id)
        self.nodes[node_id] = node
        return node

    def members(self, ids):
        return ",".join("%d=%s" % (i, self.nodes[i].raft_address)
                        for i in sorted(ids))

    def create(self, n):
        """Starts n nodes; the first creates the cluster, the others join
        it (as createCluster / joinCluster do)."""
        for i in range(1, n + 1):
            self.add(i)
        for node in self.nodes.values():
            node.start(wait=False)
        for node in self.nodes.values():
            node.wait_serving()
        members = self.members(self.nodes)
        for i in range(2, n + 1):
            assert self.nodes[i].call("JOIN " + members) == "OK"
        reply = self.nodes[1].call("CREATE " + members, timeout=5)
        assert reply == "OK", reply
        leader = self.wait_leader()
        # A joining node knows its peers only from JOIN until the first
        # configuration is durable in its own log; tests kill nodes, so
        # wait for that.
        deadline = time.monotonic() + 15
        while True:
            sts = self.statuses()
            if len(sts) == n and all(len(st["members"]) == n and
                                     st["stable"] >= 1
                                     for st in sts.values()):
                return leader
            assert time.monotonic() < deadline, \
                "the configuration did not reach every disk: %s" % sts
            time.sleep(0.05)

    def teardown(self, exit_timeout=20.0):
        """Stops every node that still runs with SIGTERM, all at once, and
        returns what went wrong: a node that did not exit cleanly in time
        (it is then killed) and every sanitizer report in any node's log,
        from the whole test (leaks are reported at exit)."""
        problems = []
        asked = []
        for node in self.nodes.values():
            try:
                if node.terminate():
                    asked.append(node)
            except OSError as e:
                problems.append("node %d: SIGTERM failed: %s" % (node.id, e))
        deadline = time.monotonic() + exit_timeout
        for node in asked:
            try:
                code = node.proc.wait(timeout=max(0.1, deadline -
                                                  time.monotonic()))
                if code != 0:
                    problems.append("node %d exited with %s after SIGTERM"
                                    % (node.id, code))
            except subprocess.TimeoutExpired:
                problems.append("node %d did not exit within %.0f s of "
                                "SIGTERM" % (node.id, exit_timeout))
        for node in self.nodes.values():
            try:
                node.kill()
            except (OSError, subprocess.TimeoutExpired):
                pass
        for node_id, node in sorted(self.nodes.items()):
            for report in sanitizer_reports(node.log_text()):
                problems.append("sanitizer report in node %d's log (%s):\n%s"
                                % (node_id, node.log_path, report))
        return problems

    def statuses(self, ids=None):
        out = {}
        for i in ids if ids is not None else list(self.nodes):
            st = self.nodes[i].status()
            if st is not None:
                out[i] = st
        return out

    def leader(self, ids=None):
        """The node that says it leads in the highest term, or None."""
        best = None
        for i, st in self.statuses(ids).items():
            if st["role"] == "leader" and (best is None
                                           or st["term"] > best[1]):
                best = (i, st["term"])
        return best[0] if best else None

    def wait_leader(self, timeout=15.0, ids=None, exclude=()):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            candidates = [i for i in (ids or list(self.nodes))
                          if i not in exclude]
            leader = self.leader(candidates)
            if leader is not None:
                # It serves once it committed an entry of its term.
                st = self.nodes[leader].status()
                if st and st["role"] == "leader" and st["lease_ms_left"] > 0:
                    return leader
            time.sleep(0.05)
        raise AssertionError("no leader among %s within %.0f s\n%s"
                             % (ids or list(self.nodes), timeout,
                                self.describe()))

    def wait_converged(self, ids, timeout=20.0):
        """Every node in ids applied the same index and holds the same
        state (hash), and that index covers the leader's commit."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            sts = self.statuses(ids)
            last = sts
            if len(sts) == len(ids):
                applied = {st["applied"] for st in sts.values()}
                hashes = {st["hash"] for st in sts.values()}
                commits = max(st["commit"] for st in sts.values())
                if len(applied) == 1 and len(hashes) == 1 and \
                        applied.pop() >= commits:
                    return sts
            time.sleep(0.1)
        raise AssertionError("nodes %s did not converge: %s\n%s"
                             % (ids, json.dumps(last, indent=1),
                                self.describe()))

    def wait_members(self, ids, expected, timeout=20.0):
        """Every node in ids sees exactly `expected` as voters."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            sts = self.statuses(ids)
            seen = {i: sorted((m["id"], m["role"]) for m in st["members"])
                    for i, st in sts.items()}
            want = sorted((m, "voter") for m in expected)
            if len(sts) == len(ids) and all(v == want
                                            for v in seen.values()):
                return
            time.sleep(0.1)
        raise AssertionError("membership did not settle on %s: %s"
                             % (sorted(expected), seen))

    def describe(self):
        parts = []
        for i, node in sorted(self.nodes.items()):
            state = ("stopped" if node.stopped else "running"
                     if node.running() else "down")
            parts.append("--- node %d (%s)\n%s" % (i, state,
                                                   node.log_tail(15)))
        return "\n".join(parts)


class Load:
    """Client threads doing PUTs and GETs on a few keys against whichever
    node leads, each operation recorded. Bounded in count and time."""

    def __init__(self, cluster, history, clients=3, keys=4, max_ops=400,
                 duration=20.0, read_ratio=0.5, cas_ratio=0.2, timeout=2.0,
                 ids=None):
        self.cluster = cluster
        self.history = history
        self.n_clients = clients
        self.keys = ["k%d" % i for i in range(keys)]
        self.max_ops = max_ops
        self.duration = duration
        self.read_ratio = read_ratio
        self.cas_ratio = cas_ratio  # of the writes, once a value is known
        self.timeout = timeout
        self.ids = ids
        self.stop_event = threading.Event()
        self.threads = []
        self.acked = 0
        self.counts = {}
        self._lock = threading.Lock()
        self.errors = []

    def targets(self):
        ids = self.ids if self.ids is not None else list(self.cluster.nodes)
        return [i for i in ids if i in self.cluster.nodes]

    def _count(self, what):
        with self._lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def _run(self, cid):
        rng = random.Random(cid * 7919 + 1)
        clients = {}
        target = None
        deadline = time.monotonic() + self.duration
        seq = 0
        seen = {}  # key -> the last value this client saw or wrote
        try:
            while (not self.stop_event.is_set() and seq < self.max_ops
                   and time.monotonic() < deadline):
                ids = self.targets()
                if target not in ids:
                    target = rng.choice(ids)
                node = self.cluster.nodes[target]
                if target not in clients:
                    clients[target] = node.client(self.timeout)
                client = clients[target]
                key = rng.choice(self.keys)
                seq += 1
                if rng.random() < self.read_ratio:
                    op = self.history.invoke(cid, lin.GET, key, node=target)
                    try:
                        reply = client.call("GET " + key)
                    except ConnectError:
                        self.history.fail(op)
                        self._count("read-refused")
                        target = None
                        time.sleep(0.02)
                        continue
                    except ClientError:
                        self.history.info(op)
                        self._count("read-timeout")
                        target = None
                        continue
                    status, value = read_result(reply)
                    if status == lin.OK:
                        self.history.ok(op, value)
                        seen[key] = value
                        self._count("read-ok")
                    else:
                        self.history.fail(op)
                        self._count("read-err")
                else:
                    value = "c%d-%d" % (cid, seq)
                    old = seen.get(key)
                    if old is not None and rng.random() < self.cas_ratio:
                        op = self.history.invoke(cid, lin.CAS, key, value,
                                                 old=old, node=target)
                        line = "CAS %s %s %s" % (key, old, value)
                    else:
                        op = self.history.invoke(cid, lin.PUT, key, value,
                                                 node=target)
                        line = "PUT %s %s" % (key, value)
                    try:
                        reply = client.call(line)
                    except ConnectError:
                        self.history.fail(op)
                        self._count("write-refused")
                        target = None
                        time.sleep(0.02)
                        continue
                    except ClientError:
                        self.history.info(op)
                        self._count("write-timeout")
                        target = None
                        continue
                    status, swapped = write_status(reply)
                    if status == lin.OK:
                        self.history.ok(op, swapped)
                        if swapped:
                            seen[key] = value
                            with self._lock:
                                self.acked += 1
                        self._count("%s-%s" % (op.kind, "ok" if swapped
                                                else "mismatch"))
                    elif status == lin.INFO:
                        self.history.info(op)
                        self._count("write-unknown")
                    else:
                        self.history.fail(op)
                        self._count("write-err")
                if reply.startswith("ERR not-leader"):
                    hint = reply.split()[-1]
                    target = int(hint) if hint.isdigit() and \
                        int(hint) in self.cluster.nodes else None
                    if target == 0:
                        target = None
                    time.sleep(0.02)
                elif reply.startswith("ERR "):
                    time.sleep(0.02)
        except Exception as e:  # reported by join(), never swallowed
            self.errors.append(e)
        finally:
            for c in clients.values():
                c.close()

    def start(self):
        for cid in range(self.n_clients):
            t = threading.Thread(target=self._run, args=(cid,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_event.set()
        self.join()

    def join(self):
        for t in self.threads:
            t.join(timeout=self.duration + 30)
            assert not t.is_alive(), "a load thread did not end"
        if self.errors:
            raise self.errors[0]

    def wait_acked(self, n, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.acked >= n:
                return
            if not any(t.is_alive() for t in self.threads):
                raise AssertionError("the load ended (%s) before %d writes "
                                     "were acknowledged" % (self.counts, n))
            time.sleep(0.05)
        raise AssertionError("only %d writes acknowledged within %.0f s "
                             "(%s)\n%s" % (self.acked, timeout, self.counts,
                                           self.cluster.describe()))


def final_reads(cluster, history, keys, ids=None, timeout=20.0):
    """Reads every key through the leader (recorded in the history) and
    returns key -> value."""
    deadline = time.monotonic() + timeout
    values = {}
    pending = list(keys)
    while pending and time.monotonic() < deadline:
        leader = cluster.wait_leader(ids=ids,
                                     timeout=max(1.0, deadline -
                                                 time.monotonic()))
        client = cluster.nodes[leader].client()
        try:
            for key in list(pending):
                op = history.invoke("final", lin.GET, key, node=leader)
                try:
                    reply = client.call("GET " + key)
                except ClientError:
                    history.info(op)
                    break
                status, value = read_result(reply)
                if status != lin.OK:
                    history.fail(op)
                    break
                history.ok(op, value)
                values[key] = value
                pending.remove(key)
        finally:
            client.close()
    assert not pending, "final reads failed for %s\n%s" % (
        pending, cluster.describe())
    return values


def check_history(cluster, history, keys, ids, other_keys=0):
    """The end of every test: final reads, the checker, survival of every
    acknowledged write, and the same state on every node in ids (which
    hold `other_keys` keys written outside the history)."""
    values = final_reads(cluster, history, keys, ids)
    ops = history.snapshot()
    result = lin.check(ops)
    assert result.ok, result.message
    problems = lin.acknowledged_writes_survive(ops, values)
    assert not problems, "\n".join(problems)
    sts = cluster.wait_converged(ids)
    keys_held = {st["keys"] for st in sts.values()}
    assert keys_held == {other_keys +
                         sum(1 for v in values.values() if v is not None)}, \
        (keys_held, values)
    acked = sum(1 for op in ops if op.kind == lin.PUT and op.status == lin.OK)
    tally = {}
    for op in ops:
        name = "%s-%s" % (op.kind, op.status)
        tally[name] = tally.get(name, 0) + 1
    print("history: %s; %s" % (", ".join("%s %d" % kv for kv in
                                          sorted(tally.items())),
                               result.message))
    return acked, result


class LeaseProbe:
    """Asks every node for its lease, over and over, from one thread per
    node. STATUS gives the node's CLOCK_MONOTONIC now and lease end; all
    processes on this machine share that clock, so every answer says "this
    node held the lease from now_ms to lease_until_ms". No two nodes may
    ever have held it at the same time."""

    def __init__(self, cluster, interval=0.01):
        self.cluster = cluster
        self.interval = interval
        self.stop_event = threading.Event()
        self.threads = {}
        self.held = []  # (node, term, from_ms, until_ms)
        self.samples = 0
        self.per_node = {}  # node -> [answers, answers as leader]
        self._lock = threading.Lock()

    def _probe(self, node_id):
        client = None
        while not self.stop_event.is_set():
            node = self.cluster.nodes.get(node_id)
            if node is None or not node.running() or node.stopped:
                if client is not None:
                    client.close()
                    client = None
                time.sleep(self.interval)
                continue
            try:
                if client is None:
                    client = node.client(timeout=0.5)
                st = json.loads(client.call("STATUS"))
            except (ClientError, ValueError):
                if client is not None:
                    client.close()
                client = None
                time.sleep(self.interval)
                continue
            with self._lock:
                self.samples += 1
                seen = self.per_node.setdefault(node_id, [0, 0])
                seen[0] += 1
                if st["role"] == "leader":
                    seen[1] += 1
                if st["lease_until_ms"] > st["now_ms"]:
                    self.held.append((node_id, st["term"], st["now_ms"],
                                      st["lease_until_ms"]))
            time.sleep(self.interval)
        if client is not None:
            client.close()

    def watch(self, node_id):
        if node_id not in self.threads:
            t = threading.Thread(target=self._probe, args=(node_id,),
                                 daemon=True)
            self.threads[node_id] = t
            t.start()

    def __enter__(self):
        for node_id in list(self.cluster.nodes):
            self.watch(node_id)
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        self.stop_event.set()
        for t in self.threads.values():
            t.join(timeout=5)

    def check(self):
        """Raises on any overlap; returns the set of (node, term) that held
        a lease.

        A node may give its lease up before it runs out (a leadership
        transfer does), so an answer proves only the instant it was given.
        Two consecutive answers of one node in one term, the second before
        the first one's lease end, prove the span between them. Spans and
        instants of different nodes must not meet."""
        with self._lock:
            held = list(self.held)
        by_node = {}
        for node_id, term, now, until in held:
            by_node.setdefault(node_id, []).append((now, until, term))
        spans = {}
        for node_id, items in by_node.items():
            items.sort()
            out = []
            for i, (now, until, term) in enumerate(items):
                end = now
                if i + 1 < len(items):
                    nxt_now, _, nxt_term = items[i + 1]
                    if nxt_term == term and nxt_now <= until:
                        end = nxt_now
                if out and out[-1][2] == term and now <= out[-1][1]:
                    out[-1][1] = max(out[-1][1], end)
                else:
                    out.append([now, end, term])
            spans[node_id] = out
        ids = sorted(spans)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                for sa, ea, ta in spans[a]:
                    for sb, eb, tb in spans[b]:
                        if sa <= eb and sb <= ea:
                            raise AssertionError(
                                "leases overlap: node %d (term %d) held one "
                                "over [%d, %d] ms and node %d (term %d) over "
                                "[%d, %d] ms" % (a, ta, sa, ea, b, tb, sb,
                                                 eb))
        return {(node_id, term) for node_id, term, _, _ in held}
