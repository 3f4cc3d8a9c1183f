# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Real mosquitto brokers with the mosquitto_ha plugin, for the cluster tests.

Each test cluster gets its own loopback block 127.A.N.0/24 (A fixed for one
pytest run, N distinct per cluster), ports the OS says are free on those
addresses, a temporary folder, and one process group per broker. Teardown
stops every broker with SIGTERM (so that a sanitized plugin's leak check
runs at its exit), kills what is left, and removes the nftables table and
cgroups the cluster made, whatever happened in the test.

The control API is spoken with paho-mqtt as an administrator; ordinary
clients are paho clients too. The probes that watch who serves during a
fault use a minimal MQTT v5 client on a plain socket, so that the start and
end of every attempt are known to the microsecond and no client library
thread sits in between.
"""

import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The build folder comes from the suite's recipe (make BUILD=...).
PLUGIN = os.environ.get("HA_PLUGIN") or os.path.join(
    REPO, os.environ.get("BUILD", "build"), "mosquitto_ha.so")
BROKERS = {
    "2.0": "/usr/sbin/mosquitto",
    "2.1": os.path.join(REPO, ".cache", "mosquitto-2.1", "sbin", "mosquitto"),
}
DYNSEC_PLUGINS = {
    "2.0": "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "2.1": os.path.join(REPO, ".cache", "mosquitto-2.1", "lib",
                        "mosquitto_dynamic_security.so"),
}
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
# Broker-internal leaks that LeakSanitizer reports at a broker's exit, each
# entry with the reason it is the broker's own (never one whose stack goes
# through the plugin).
LSAN_SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "lsan.supp")
MOSQUITTO_CTRL = "/usr/bin/mosquitto_ctrl"

LOG_PREFIX = "mosquitto_ha: "
CONTROL_TOPIC = "$CONTROL/cedalo/ha/v1"
RESPONSE_TOPIC = "$CONTROL/cedalo/ha/v1/response"
SECRET = "0123456789abcdef0123456789abcdef"
ADMIN, ADMIN_PW = "admin", "adminpw"
USER, USER_PW = "alice", "alicepw"
# Short timings keep the suite quick; the plugin requires heartbeat <= a
# third of the election timeout.
ELECTION_TIMEOUT_MS = 300
HEARTBEAT_MS = 30

STATE_UNAVAILABLE, STATE_FOLLOWER, STATE_CANDIDATE, STATE_LEADER = 0, 1, 2, 3

# 127.A.N.k: A for this run (two runs at once do not meet), N per cluster.
_RUN_OCTET = 100 + os.getpid() % 150
_block_counter = itertools.count(1)
_cid_counter = itertools.count(1)


def broker_path(version):
    """The broker binary of a version, or an exception saying how to get it."""
    path = BROKERS[version]
    if not os.access(path, os.X_OK):
        if version == "2.1":
            raise RuntimeError("mosquitto 2.1 broker not found at %s: run "
                               "`make mosquitto21` (the cluster suite "
                               "depends on it)" % path)
        raise RuntimeError("mosquitto 2.0 broker not found at %s: install "
                           "the Debian package mosquitto (make deps)" % path)
    return path


def check_plugin():
    if not os.path.isfile(PLUGIN):
        raise RuntimeError("plugin not found at %s: run `make`" % PLUGIN)
    sanitizer_runtimes()


_runtimes = None


def sanitizer_runtimes():
    """The sanitizer runtimes the plugin needs preloaded into the broker
    (which is not instrumented), as full paths; [] for a plugin built
    without sanitizers. A runtime that the compiler cannot name, or whose
    version differs from the one the plugin was linked with, is an error:
    the broker would refuse the plugin or run it unchecked."""
    global _runtimes
    if _runtimes is not None:
        return _runtimes
    r = subprocess.run(["readelf", "-d", PLUGIN], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError("readelf -d %s failed: %s" % (PLUGIN, r.stderr))
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        r.stdout)
    found = []
    for lib in ("libasan.so", "libubsan.so"):
        sonames = [n for n in needed if n.startswith(lib + ".")]
        if not sonames:
            continue
        path = subprocess.run(["gcc", "-print-file-name=" + lib],
                              capture_output=True, text=True).stdout.strip()
        real = os.path.realpath(path)
        if not os.path.isfile(real) or \
                os.path.basename(real) != sonames[0] and \
                not os.path.basename(real).startswith(sonames[0] + "."):
            raise RuntimeError("%s needs %s, but gcc -print-file-name=%s "
                               "gives %s" % (PLUGIN, sonames[0], lib, real))
        found.append(real)
    if found and not any("libasan" in f for f in found):
        raise RuntimeError("%s has UBSan without ASan: build it with both "
                           "(make %s)" % (PLUGIN, PLUGIN))
    _runtimes = found
    return found


def sanitizer_env(log, runtimes):
    """An environment with the sanitizer runtimes preloaded and every
    report written to log.<pid>."""
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(runtimes)
    # Errors stop the process (halt_on_error); leaks are reported when it
    # exits, so brokers are stopped with SIGTERM, not killed.
    env["ASAN_OPTIONS"] = ("log_path=%s:detect_leaks=1:halt_on_error=1:fast_unwind_on_malloc=0:"
                           "detect_stack_use_after_return=1" % log)
    env["LSAN_OPTIONS"] = ("suppressions=%s:print_suppressions=0" %
                           LSAN_SUPPRESSIONS)
    env["UBSAN_OPTIONS"] = ("log_path=%s:print_stacktrace=1:halt_on_error=1"
                            % log)
    return env


def sanitized():
    return bool(sanitizer_runtimes())


def free_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(what, predicate, timeout, interval=0.05):
    """predicate() until it returns something true; its last value."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ControlError, ValueError) as e:
            last_error = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s%s" % (
                timeout, what,
                " (last error: %s)" % last_error if last_error else ""))
        time.sleep(interval)


def tree_hash(folder):
    """A hash of every folder and file name, every file's content and its
    modification time under folder (nothing left out): a rewrite with the
    same bytes shows too. SHA-1 only for speed (the Raft segments are
    preallocated, 8 MiB each); nothing here is adversarial."""
    h = hashlib.sha1()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        rel = os.path.relpath(root, folder)
        h.update(b"D" + rel.encode() + b"\0")
        for name in sorted(files):
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                h.update(b"F" + os.path.join(rel, name).encode() + b"\0" +
                         struct.pack(">QQ", st.st_size, st.st_mtime_ns))
                h.update(hashlib.file_digest(f, "sha1").digest())
    return h.hexdigest()


# ---- the control API and ordinary clients (paho) ----


class ControlError(Exception):
    """No reply to a control request in time, or no connection."""


class _PahoSession:
    """One connected paho client, driven in the calling thread (no network
    thread: its reconnect delay would slow every refused connection)."""

    def __init__(self, host, port, username, password, protocol=mqtt.MQTTv311,
                 client_id=None, timeout=3.0):
        self.connected = False
        self.rc = None
        self.messages = []
        self.expiry = {}
        self.acks = {}
        # Message ids of publishes waiting for their PUBACK: ids wrap at
        # 65535, so those of QoS 0 publishes are never recorded.
        self.awaiting = set()
        self.lost = False
        cid = client_id or "t%d-%d" % (os.getpid(), next(_cid_counter))
        if protocol == mqtt.MQTTv5:
            self.client = mqtt.Client(client_id=cid, protocol=protocol)
        else:
            self.client = mqtt.Client(client_id=cid, clean_session=True,
                                      protocol=protocol)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = self._on_disconnect
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as e:
            raise ControlError("connect %s:%d: %s" % (host, port, e))
        # Without it Nagle holds the PUBLISH that follows a SUBSCRIBE until
        # the broker's delayed ACK, 40 ms later.
        self.client.socket().setsockopt(socket.IPPROTO_TCP,
                                        socket.TCP_NODELAY, 1)
        if not self._pump(lambda: self.connected, timeout):
            self.close()
            raise ControlError("no CONNACK from %s:%d" % (host, port))

    def _pump(self, predicate, timeout):
        """Runs the client's network loop until predicate() or timeout."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.lost or time.monotonic() >= deadline:
                return predicate()
            if self.client.loop(timeout=0.01) != mqtt.MQTT_ERR_SUCCESS:
                self.lost = True
        return True

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.rc = rc if isinstance(rc, int) else rc.value
        self.connected = True

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.lost = True

    def _on_message(self, client, userdata, msg):
        self.messages.append((msg.topic, msg.payload, msg.qos,
                              bool(msg.retain)))
        # v5: the message expiry interval each topic last came with.
        props = getattr(msg, "properties", None)
        self.expiry[msg.topic] = getattr(props, "MessageExpiryInterval",
                                         None)

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        self.acks[("sub", mid)] = granted

    def _on_publish(self, client, userdata, mid):
        if mid in self.awaiting:
            self.awaiting.discard(mid)
            self.acks[("pub", mid)] = True

    def _wait_ack(self, key, timeout):
        if not self._pump(lambda: key in self.acks, timeout):
            return None
        return self.acks.pop(key)

    def subscribe(self, topic, qos=0, timeout=3.0):
        rv, mid = self.client.subscribe(topic, qos)
        if rv != mqtt.MQTT_ERR_SUCCESS:
            raise ControlError("subscribe %s: %s" % (topic, rv))
        granted = self._wait_ack(("sub", mid), timeout)
        if granted is None:
            raise ControlError("no SUBACK for %s" % topic)
        return granted

    def publish(self, topic, payload, qos=1, timeout=3.0):
        info = self.client.publish(topic, payload, qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ControlError("publish %s: %s" % (topic, info.rc))
        if qos == 0:
            return True
        self.awaiting.add(info.mid)
        return self._wait_ack(("pub", info.mid), timeout) is not None

    def publish_retained(self, topic, payload, qos=1, timeout=3.0,
                         properties=None):
        """A retained publish; True once acknowledged (QoS 0: once
        written to the socket)."""
        info = self.client.publish(topic, payload, qos, retain=True,
                                   properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ControlError("publish %s: %s" % (topic, info.rc))
        if qos == 0:
            return self._pump(info.is_published, timeout)
        self.awaiting.add(info.mid)
        return self._wait_ack(("pub", info.mid), timeout) is not None

    def wait_message(self, match, timeout):
        """The first received (topic, payload) that match() accepts."""
        found = []

        def look():
            for i, m in enumerate(self.messages):
                if match(m):
                    del self.messages[i]
                    found.append(m)
                    return True
            return False

        self._pump(look, timeout)
        return found[0] if found else None

    def close(self):
        try:
            if not self.lost:
                self.client.disconnect()
                self.client.loop(timeout=0.01)
        except Exception:
            pass
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def control_raw(host, port, payload, timeout=5.0, username=ADMIN,
                password=ADMIN_PW, match=None, topic=CONTROL_TOPIC,
                response_topic=RESPONSE_TOPIC):
    """Publishes payload (str or bytes) on the control topic as an
    administrator and returns the first reply (parsed) that match() accepts
    (any reply when match is None)."""
    s = _PahoSession(host, port, username, password)
    try:
        if s.rc != 0:
            raise ControlError("the broker refused the administrator's "
                               "connection (CONNACK %d)" % s.rc)
        s.subscribe(response_topic)
        s.publish(topic, payload, qos=1)

        def ok(m):
            if m[0] != response_topic:
                return False
            if match is None:
                return True
            try:
                return match(json.loads(m[1]))
            except ValueError:
                return False

        m = s.wait_message(ok, timeout)
        if m is None:
            raise ControlError("no reply on %s within %.1f s to %r" % (
                response_topic, timeout, payload[:200]))
        return json.loads(m[1])
    finally:
        s.close()


def control(host, port, commands, timeout=5.0):
    """Sends a list of command objects (each gets a unique correlationData
    unless it has one) and returns the list of responses, in order."""
    cmds = []
    corr = []
    for c in commands:
        c = dict(c)
        if "correlationData" not in c:
            c["correlationData"] = "c%d-%d" % (os.getpid(),
                                              next(_cid_counter))
        cmds.append(c)
        corr.append(c["correlationData"])
    payload = json.dumps({"commands": cmds})

    def mine(reply):
        rs = reply.get("responses")
        return (isinstance(rs, list) and len(rs) == len(corr) and all(
            isinstance(r, dict) and r.get("correlationData") == k
            for r, k in zip(rs, corr)))

    reply = control_raw(host, port, payload, timeout, match=mine)
    return reply["responses"]


def control_one(host, port, command, timeout=5.0):
    return control(host, port, [command], timeout)[0]


def client_connack(host, port, username=USER, password=USER_PW,
                   protocol=mqtt.MQTTv311, timeout=3.0):
    """The CONNACK code an ordinary client gets (0 accepted, 5 not
    authorised in MQTT 3.1.1), or None when no CONNACK came."""
    try:
        s = _PahoSession(host, port, username, password, protocol=protocol,
                         timeout=timeout)
    except ControlError:
        return None
    try:
        return s.rc
    finally:
        s.close()


def client_round_trip(host, port, username=USER, password=USER_PW,
                      timeout=3.0):
    """An ordinary client connects, subscribes, publishes QoS 1 and receives
    its own message: True when all of that worked."""
    try:
        s = _PahoSession(host, port, username, password, timeout=timeout)
    except ControlError:
        return False
    try:
        if s.rc != 0:
            return False
        topic = "roundtrip/%d/%d" % (os.getpid(), next(_cid_counter))
        granted = s.subscribe(topic, 1, timeout)
        if not granted or granted[0] not in (0, 1, 2):
            return False
        if not s.publish(topic, b"hello", 1, timeout):
            return False
        return s.wait_message(lambda m: m[0] == topic, timeout) is not None
    except ControlError:
        return False
    finally:
        s.close()


# ---- probes: a minimal MQTT v5 client on a socket ----


def _varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mqtt_str(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def _packet(first, body):
    return bytes([first]) + _varint(len(body)) + body


def _read_packet(sock):
    def read_exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by the broker")
            buf += chunk
        return buf

    first = read_exact(1)[0]
    mult, length = 1, 0
    for _ in range(4):
        b = read_exact(1)[0]
        length += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return first, read_exact(length)


def v5_connect_packet(client_id, username, password):
    flags = 0x02 | 0x80 | 0x40  # clean start, username, password
    body = (_mqtt_str("MQTT") + bytes([5, flags]) + struct.pack(">H", 30) +
            b"\x00" + _mqtt_str(client_id) + _mqtt_str(username) +
            _mqtt_str(password))
    return _packet(0x10, body)


def probe_once(host, port, client_id, username=USER, password=USER_PW,
               topic="probe", payload=b"x", timeout=0.2):
    """One attempt: CONNECT, then PUBLISH QoS 1. True only when the CONNACK
    and the PUBACK both say success, within timeout in all."""
    deadline = time.monotonic() + timeout
    sock = None
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(v5_connect_packet(client_id, username, password))
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        first, body = _read_packet(sock)
        if first >> 4 != 2 or len(body) < 2 or body[1] != 0:
            return False
        pub = _packet(0x32, _mqtt_str(topic) + struct.pack(">H", 1) + b"\x00" +
                      payload)
        sock.sendall(pub)
        while True:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            first, body = _read_packet(sock)
            if first >> 4 == 4:  # PUBACK
                reason = body[2] if len(body) >= 3 else 0
                if reason >= 0x80:
                    return False
                sock.sendall(b"\xe0\x00")
                return True
            if first >> 4 == 14:  # DISCONNECT from the broker
                return False
    except (OSError, ConnectionError, IndexError):
        return False
    finally:
        if sock is not None:
            sock.close()


def raw_publish_reason(host, port, username, password, topic, payload,
                       timeout=2.0):
    """A v5 client publishes QoS 1; the PUBACK reason code (0 accepted,
    0x87 not authorised), or None when the connection was refused."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        cid = "r%d-%d" % (os.getpid(), next(_cid_counter))
        sock.sendall(v5_connect_packet(cid, username, password))
        first, body = _read_packet(sock)
        if first >> 4 != 2 or body[1] != 0:
            return None
        sock.sendall(_packet(0x32, _mqtt_str(topic) + struct.pack(">H", 7) +
                             b"\x00" + payload))
        while True:
            first, body = _read_packet(sock)
            if first >> 4 == 4:
                return body[2] if len(body) >= 3 else 0


def raw_subscribe_reason(host, port, username, password, topic, timeout=2.0):
    """A v5 client subscribes; the SUBACK reason code (0..2 granted, 0x87
    not authorised), or None when the connection was refused."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        cid = "r%d-%d" % (os.getpid(), next(_cid_counter))
        sock.sendall(v5_connect_packet(cid, username, password))
        first, body = _read_packet(sock)
        if first >> 4 != 2 or body[1] != 0:
            return None
        sock.sendall(_packet(0x82, struct.pack(">H", 9) + b"\x00" +
                             _mqtt_str(topic) + b"\x00"))
        while True:
            first, body = _read_packet(sock)
            if first >> 4 == 9:
                # packet id, properties length (a varint; 0 here), reasons
                plen = body[2]
                return body[3 + plen]


class Prober:
    """A thread per node that tries connect+publish as an ordinary client
    every few milliseconds and records (start, end, accepted) of each
    attempt. Bounded: at most max_attempts per node and max_seconds."""

    def __init__(self, nodes, interval=0.004, max_attempts=6000,
                 max_seconds=30.0):
        self.nodes = list(nodes)
        self.interval = interval
        self.max_attempts = max_attempts
        self.max_seconds = max_seconds
        self.stop_event = threading.Event()
        self.records = {n.nodeid: [] for n in self.nodes}
        self.threads = []

    def _run(self, node):
        rec = self.records[node.nodeid]
        t_end = time.monotonic() + self.max_seconds
        for i in range(self.max_attempts):
            if self.stop_event.is_set() or time.monotonic() >= t_end:
                break
            cid = "probe-%d-%d" % (node.nodeid, i)
            t0 = time.monotonic()
            ok = probe_once(node.host, node.mqtt_port, cid)
            rec.append((t0, time.monotonic(), ok))
            time.sleep(self.interval)

    def start(self):
        for n in self.nodes:
            t = threading.Thread(target=self._run, args=(n,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(self.max_seconds + 5)

    def answered_since(self, nodeid, t, accepted):
        """How many attempts on nodeid that began at or after t were
        accepted (accepted=True) or refused (False)."""
        return sum(1 for t0, _, ok in list(self.records[nodeid])
                   if t0 >= t and ok == accepted)

    def windows(self, nodeid):
        """Maximal runs of accepted attempts with no refused attempt of the
        same node between them: [(start of first, end of last, count)]."""
        out = []
        cur = None
        for t0, t1, ok in self.records[nodeid]:
            if ok:
                if cur is None:
                    cur = [t0, t1, 1]
                else:
                    cur[1] = t1
                    cur[2] += 1
            elif cur is not None:
                out.append(tuple(cur))
                cur = None
        if cur is not None:
            out.append(tuple(cur))
        return out

    def max_overlap(self):
        """The longest time two different nodes' windows overlap (seconds,
        negative when they never do: minus the smallest gap), and which."""
        ids = sorted(self.records)
        best = (float("-inf"), None)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                for wa in self.windows(a):
                    for wb in self.windows(b):
                        ov = min(wa[1], wb[1]) - max(wa[0], wb[0])
                        if ov > best[0]:
                            best = (ov, (a, wa, b, wb))
        return best

    def summary(self, t_origin):
        lines = []
        for nid in sorted(self.records):
            rec = self.records[nid]
            acc = sum(1 for r in rec if r[2])
            ws = ", ".join("%.3f..%.3f s (%d)" % (w[0] - t_origin,
                                                  w[1] - t_origin, w[2])
                           for w in self.windows(nid))
            lines.append("node %d: %d attempts, %d accepted; windows: %s" %
                         (nid, len(rec), acc, ws or "none"))
        return "\n".join(lines)


# ---- brokers ----


# The highest cluster feature level the plugin implements (records.h).
FEATURE_LEVEL_MAX = 3


class Node:
    """One broker: its folder, config, ports and process."""

    def __init__(self, cluster, nodeid):
        self.cluster = cluster
        self.nodeid = nodeid
        self.host = "%s.%d" % (cluster.prefix, nodeid)
        self.mqtt_port = free_port(self.host)
        self.cluster_port = free_port(self.host)
        self.dir = os.path.join(cluster.workdir, "n%d" % nodeid)
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir)
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.log = os.path.join(self.dir, "broker.log")
        self.proc = None
        # plugin_opt_<key> <value>, in this order; a test may change or
        # delete any of them, or leave the plugin out altogether.
        self.plugin_opts = {
            "data_dir": self.data_dir,
            "cluster_secret": SECRET,
            "admin_users": ADMIN,
            "acl_fallback": "defer" if cluster.dynsec else "allow",
            "election_timeout": str(ELECTION_TIMEOUT_MS),
            "heartbeat_interval": str(HEARTBEAT_MS),
        }
        self.with_plugin = True
        self.broker = None  # another version's broker than the cluster's
        self.head_conf = []  # lines before everything else
        self.extra_conf = []  # lines after the plugins

    def member(self, mynode=False):
        m = {"address": self.host, "port": self.cluster_port,
             "nodeid": self.nodeid}
        if mynode:
            m["mynode"] = True
        return m

    def write_config(self):
        c = self.cluster
        lines = list(self.head_conf)
        if self.with_plugin:
            lines.append("plugin %s" % PLUGIN)
            lines += ["plugin_opt_%s %s" % kv for kv in self.plugin_opts.items()]
        if c.dynsec:
            lines += ["plugin %s" % DYNSEC_PLUGINS[c.version],
                      "plugin_opt_config_file %s" %
                      os.path.join(self.dir, "dynsec.json")]
        lines += self.extra_conf
        lines += ["listener %d %s" % (self.mqtt_port, self.host),
                  "allow_anonymous false"]
        if not c.dynsec:
            lines.append("password_file %s" % c.password_file)
        lines += ["user root", "log_dest stderr", "log_type all"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def spawn(self):
        """Starts the broker and returns without waiting."""
        assert self.proc is None or self.proc.poll() is not None
        self.write_config()
        logf = open(self.log, "ab")
        logf.write(b"==== start %.3f\n" % time.monotonic())
        logf.flush()
        procs = self.cluster.cgroup_procs(self)

        def enter_cgroup():
            # A socket belongs to the cgroup its process was in when it was
            # made: the broker must start inside its own.
            if procs is not None:
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))

        self.proc = subprocess.Popen(
            [self.broker or self.cluster.broker, "-c", self.conf],
            stdin=subprocess.DEVNULL,
            stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=enter_cgroup, env=self.broker_env())
        logf.close()
        return self

    def broker_env(self):
        """The broker's environment: with a sanitized plugin, its runtimes
        preloaded and every report written to a file of this node's
        folder (sanitizer.<pid>), which sanitizer_reports() reads."""
        runtimes = sanitizer_runtimes()
        if not runtimes:
            return dict(os.environ)
        return sanitizer_env(os.path.join(self.dir, "sanitizer"), runtimes)

    def sanitizer_reports(self):
        """[(file, text)] of every sanitizer report any run of this node's
        broker wrote."""
        out = []
        try:
            names = sorted(os.listdir(self.dir))
        except OSError:
            return out
        for name in names:
            if name.startswith("sanitizer."):
                path = os.path.join(self.dir, name)
                with open(path, "rb") as f:
                    text = f.read().decode(errors="replace")
                if text.strip():
                    out.append((path, text))
        return out

    def serving_windows(self):
        """The windows in which this node's plugin said it serves, as it
        logged them, stamped on CLOCK_MONOTONIC (time.monotonic() here):
        [(first, last)], last None while the window is still open (or the
        broker died before closing it)."""
        out = []
        open_ = {}
        for line in self.log_text().splitlines():
            if line.startswith("==== start"):
                for first in open_.values():
                    out.append((first, None))
                open_ = {}
                continue
            m = _WINDOW_OPENED.search(line)
            if m:
                open_[m.group(1)] = float(m.group(2))
                continue
            m = _WINDOW_CLOSED.search(line)
            if m:
                open_.pop(m.group(1), None)
                out.append((float(m.group(2)), float(m.group(3))))
        for first in open_.values():
            out.append((first, None))
        return sorted(out)

    def start(self, timeout=10.0):
        self.spawn()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    "broker %d exited with %d at start:\n%s" %
                    (self.nodeid, self.proc.returncode, self.log_tail()))
            try:
                socket.create_connection((self.host, self.mqtt_port),
                                         timeout=0.5).close()
                return True
            except OSError:
                return False

        wait_until("broker %d to listen" % self.nodeid, ready, timeout, 0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)

    def stop(self, timeout=10.0):
        """SIGTERM and wait: the broker's clean shutdown."""
        if self.running():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError("broker %d did not stop on SIGTERM "
                                     "within %.0f s" % (self.nodeid, timeout))

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    # control API helpers, addressed to this node
    def control(self, commands, timeout=5.0):
        return control(self.host, self.mqtt_port, commands, timeout)

    def cmd(self, command, timeout=5.0, **fields):
        c = {"command": command}
        c.update(fields)
        return control_one(self.host, self.mqtt_port, c, timeout)

    def raw(self, payload, timeout=5.0):
        return control_raw(self.host, self.mqtt_port, payload, timeout)

    def is_leader(self):
        r = self.cmd("isLeader")
        if "error" in r:
            raise ControlError("isLeader: %s" % r["error"])
        return r["data"]

    def raft_status(self):
        r = self.cmd("getRaftStatus")
        if "error" in r:
            raise ControlError("getRaftStatus: %s" % r["error"])
        return r["data"]

    def connack(self, **kw):
        return client_connack(self.host, self.mqtt_port, **kw)

    def round_trip(self, **kw):
        return client_round_trip(self.host, self.mqtt_port, **kw)


_WINDOW_OPENED = re.compile(
    re.escape(LOG_PREFIX) + r"serving window (\d+) opened: first ([\d.]+) ")
_WINDOW_CLOSED = re.compile(
    re.escape(LOG_PREFIX) + r"serving window (\d+) closed: first ([\d.]+) "
    r"last ([\d.]+) ")


def serving_overlaps(nodes, since=0.0):
    """Every pair of windows of two different nodes that share a moment,
    from the nodes' own stamps: [(node a, window a, node b, window b)].
    Only windows that last until since (time.monotonic()) or later count:
    brokers serve alone before they form a cluster. An open window lasts
    forever. Zero slack: the stamps are the very clock reads the nodes
    decided on."""
    end = float("inf")
    wins = [(n.nodeid, w) for n in nodes for w in n.serving_windows()
            if w[1] is None or w[1] >= since]
    out = []
    for i, (a, wa) in enumerate(wins):
        for b, wb in wins[i + 1:]:
            if a == b:
                continue
            a_last = end if wa[1] is None else wa[1]
            b_last = end if wb[1] is None else wb[1]
            if max(wa[0], wb[0]) <= min(a_last, b_last):
                out.append((a, wa, b, wb))
    return out


STALE_PREFIX = "hatest_"


def cgroup2_root():
    """Where the cgroup2 hierarchy is mounted, or None."""
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return parts[1]
    return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stale_cleanup():
    """What an earlier run that was killed before its teardown left: its
    brokers (found by their cgroups, named after that run's process id),
    those cgroups and its nftables tables. Only runs whose process is gone
    are touched."""
    cleaned = []
    root = cgroup2_root()
    if root is not None:
        for name in os.listdir(root):
            parts = name[len(STALE_PREFIX):].split("_")
            if not name.startswith(STALE_PREFIX) or not parts[0].isdigit() \
                    or _pid_alive(int(parts[0])):
                continue
            path = os.path.join(root, name)
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
            for _ in range(50):
                try:
                    os.rmdir(path)
                    cleaned.append(path)
                    break
                except OSError:
                    time.sleep(0.02)
    r = subprocess.run(["nft", "list", "tables"], capture_output=True,
                       text=True)
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].startswith(STALE_PREFIX):
            pid = parts[2][len(STALE_PREFIX):].split("_")[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                subprocess.run(["nft", "delete", "table", parts[1], parts[2]],
                               capture_output=True)
                cleaned.append("nft table %s" % parts[2])
    return cleaned


class Cluster:
    """Brokers of one version on one loopback block."""

    def __init__(self, workdir, version, dynsec=False, partitionable=False):
        check_plugin()
        self.version = version
        self.broker = broker_path(version)
        self.dynsec = dynsec
        self.workdir = workdir
        n = next(_block_counter)
        if n > 250:
            raise RuntimeError("more than 250 clusters in one run")
        self.block = n
        self.prefix = "127.%d.%d" % (_RUN_OCTET, n)
        self.name = "c%d" % n
        self.nodes = {}
        self.password_file = os.path.join(workdir, "passwords")
        self.nft_table = None
        self.cgroups = []
        # Each broker in a cgroup of its own, so that nftables can tell its
        # packets apart (see partition()).
        # Every broker gets one when cgroup2 is there (stale_cleanup() finds
        # the brokers of a run that was killed by them); a partition needs it.
        self.cgroup_root = cgroup2_root()
        if partitionable and self.cgroup_root is None:
            raise RuntimeError("no cgroup2 file system mounted: cannot tell a "
                               "broker's own packets apart on loopback")
        if not dynsec:
            self._passwords()

    def _passwords(self):
        subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", self.password_file,
                        ADMIN, ADMIN_PW], check=True, capture_output=True)
        subprocess.run([MOSQUITTO_PASSWD, "-b", self.password_file, USER,
                        USER_PW], check=True, capture_output=True)

    def add(self, nodeid):
        node = Node(self, nodeid)
        if self.dynsec:
            subprocess.run([MOSQUITTO_CTRL, "dynsec", "init",
                            os.path.join(node.dir, "dynsec.json"), ADMIN,
                            ADMIN_PW], check=True, capture_output=True)
        self.nodes[nodeid] = node
        return node

    def running(self):
        return [n for n in self.nodes.values() if n.running()]

    def members(self, ids, mine):
        return [self.nodes[i].member(mynode=(i == mine)) for i in ids]

    def form(self, ids=(1, 2, 3), timeout=10.0):
        """Starts the brokers, createCluster on the first, joinCluster on the
        others; returns the leader once one is agreed on."""
        for i in ids:
            if i not in self.nodes:
                self.add(i)
        for i in ids:
            if not self.nodes[i].running():
                self.nodes[i].spawn()
        for i in ids:
            self.nodes[i].wait_ready()
        first = ids[0]
        r = self.nodes[first].cmd("createCluster", clustername=self.name,
                                  nodes=self.members(ids, first))
        assert "error" not in r, r
        for i in ids[1:]:
            r = self.nodes[i].cmd("joinCluster", clustername=self.name,
                                  nodes=self.members(ids, i))
            assert "error" not in r, r
        leader = self.wait_leader([self.nodes[i] for i in ids], timeout)
        # The first leader raises the new cluster's feature level at once
        # (docs/plugin.md): before that, retained messages stay local.
        level = min(int(self.nodes[i].plugin_opts.get(
            "feature_level", FEATURE_LEVEL_MAX)) for i in ids)
        wait_until("feature level %d" % level,
                   lambda: leader.raft_status()["feature_level"] == level,
                   timeout)
        self.wait_settled([self.nodes[i] for i in ids], leader, timeout)
        return leader

    def wait_settled(self, nodes, leader, timeout=10.0):
        """Until every node has applied what the leader committed: a
        follower learns the commit index with the next heartbeat."""
        def settled():
            sts = parallel([lambda n=n: n.raft_status() for n in nodes])
            target = sts[nodes.index(leader)]["commit_index"]
            return all(st["commit_index"] == target and
                       st["last_applied"] == target for st in sts)
        wait_until("every node to apply the leader's commit index", settled,
                   timeout)

    def leader_view(self, nodes):
        """(leader node, views) when exactly one of nodes says it leads and
        every other names it as leader; None otherwise."""
        views = {n.nodeid: n.is_leader() for n in nodes}
        leaders = [nid for nid, v in views.items() if v["leader"]]
        if len(leaders) != 1:
            return None
        lid = leaders[0]
        if any(v["leader_nodeid"] != lid for v in views.values()):
            return None
        return self.nodes[lid], views

    def wait_leader(self, nodes=None, timeout=10.0):
        nodes = nodes if nodes is not None else self.running()
        leader, _ = wait_until("one agreed leader among nodes %s" %
                               [n.nodeid for n in nodes],
                               lambda: self.leader_view(nodes), timeout)
        return leader

    def data_hashes(self):
        return {nid: tree_hash(n.data_dir) for nid, n in self.nodes.items()}

    # -- partitions with nftables, on this block's addresses only --

    def _nft(self, script):
        path = os.path.join(self.workdir, "nft-%d.nft" % time.monotonic_ns())
        with open(path, "w") as f:
            f.write(script)
        # nft resolves cgroupv2 paths under /sys/fs/cgroup; in a private
        # mount namespace the cgroup2 hierarchy is mounted exactly there.
        r = subprocess.run(
            ["unshare", "-m", "sh", "-c",
             "mount -t cgroup2 none /sys/fs/cgroup && nft -f \"$0\"", path],
            capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nft failed: %s\n%s" % (r.stderr, script))

    def cgroup_name(self, node):
        return "%s%d_%d_%d" % (STALE_PREFIX, os.getpid(), self.block,
                               node.nodeid)

    def cgroup_procs(self, node):
        """The cgroup.procs file node's broker is to start in, or None."""
        if self.cgroup_root is None:
            return None
        path = os.path.join(self.cgroup_root, self.cgroup_name(node))
        os.makedirs(path, exist_ok=True)
        if path not in self.cgroups:
            self.cgroups.append(path)
        return os.path.join(path, "cgroup.procs")

    def partition(self, node):
        """Cuts every cluster link of node (both directions), leaving its
        client listener reachable. The broker's own sockets are told apart
        by a cgroup of its own: loopback connections all come from
        127.0.0.1, so addresses alone cannot say which process dialed."""
        if self.cgroup_root is None:
            raise RuntimeError("make the cluster with partitionable=True")
        # The cgroup exists before its broker does: a node can be cut off
        # before it starts.
        self.cgroup_procs(node)
        cg = self.cgroup_name(node)
        self.nft_table = "%s%d_%d" % (STALE_PREFIX, os.getpid(), self.block)
        peers = ", ".join(str(n.cluster_port) for n in self.nodes.values()
                          if n is not node)
        block = "%s.0/24" % self.prefix
        script = """
table inet {t} {{
  chain out {{
    type filter hook output priority 0; policy accept;
    ip daddr {block} socket cgroupv2 level 1 "{cg}" tcp dport {{ {peers} }} counter drop
    ip daddr {addr} tcp dport {port} counter drop
    ip saddr {addr} tcp sport {port} counter drop
  }}
  chain in {{
    type filter hook input priority 0; policy accept;
    ip saddr {block} socket cgroupv2 level 1 "{cg}" tcp sport {{ {peers} }} counter drop
  }}
}}
""".format(t=self.nft_table, block=block, cg=cg, peers=peers, addr=node.host,
           port=node.cluster_port)
        self._nft(script)

    def heal(self):
        if self.nft_table is not None:
            subprocess.run(["nft", "delete", "table", "inet",
                            self.nft_table], capture_output=True)
            self.nft_table = None

    def nft_counters(self):
        """One line: the packets each partition rule dropped, in order."""
        if self.nft_table is None:
            return ""
        r = subprocess.run(["nft", "list", "table", "inet", self.nft_table],
                           capture_output=True, text=True)
        counts = re.findall(r"counter packets (\d+)", r.stdout)
        return "partition rules dropped %s packets (leader's dials out, " \
            "to its port, from its port, into its dials)" % "/".join(counts)

    def describe(self):
        out = []
        for nid, n in sorted(self.nodes.items()):
            out.append("--- broker %d (%s:%d, cluster port %d) log tail:\n%s"
                       % (nid, n.host, n.mqtt_port, n.cluster_port,
                          n.log_tail(60)))
        return "\n".join(out)

    def stop_all(self, timeout=15.0):
        """SIGTERM to every running broker at once (after a SIGCONT), so
        that each exits cleanly and its leak check runs; those still there
        after timeout are killed. The node ids that had to be killed."""
        running = [n for n in self.nodes.values() if n.running()]
        for n in running:
            try:
                n.proc.send_signal(signal.SIGCONT)
                n.proc.terminate()
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        killed = []
        for n in running:
            try:
                n.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed.append(n.nodeid)
        return killed

    def sanitizer_reports(self):
        return [r for n in self.nodes.values() for r in n.sanitizer_reports()]

    def teardown(self):
        """Stops every broker (cleanly first, see stop_all) and removes
        the partition and cgroups; the node ids that did not stop on
        SIGTERM in time."""
        self.heal()
        try:
            slow = self.stop_all()
        finally:
            self._kill_all()
        return slow

    def _kill_all(self):
        for n in self.nodes.values():
            # Only a process not yet reaped: its id cannot have been given
            # to someone else's process meanwhile.
            if n.proc is not None and n.proc.poll() is None:
                try:
                    os.killpg(n.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    n.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        self.heal()
        for path in self.cgroups:
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def parallel(calls):
    """Runs the zero-argument callables at once (a thread each); their
    results in order. The first exception is raised again."""
    results = [None] * len(calls)
    errors = [None] * len(calls)

    def run(i):
        try:
            results[i] = calls[i]()
        except BaseException as e:  # handed to the caller below
            errors[i] = e

    threads = [threading.Thread(target=run, args=(i,), daemon=True)
               for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in errors:
        if e is not None:
            raise e
    return results
