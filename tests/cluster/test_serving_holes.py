# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""When a node stops serving, every ordinary connection goes, whatever way
it authenticated and whatever happened to other connections with the same
client id; a node that does not serve never acknowledges a publish.

Each test holds raw MQTT sockets and reads the exact packets: after the
leader hands over (setLeader), the surviving socket gets a PINGREQ and a
QoS 1 PUBLISH; it must see no PUBACK and be closed. The same client is then
served by the new leader."""

import os
import socket
import ssl
import struct
import subprocess
import time

import pytest

import harness as h

# Built by the suite's recipe, which passes its path.
EXT_AUTH_PLUGIN = os.environ.get("HA_EXT_AUTH_PLUGIN") or os.path.join(
    h.REPO, os.environ.get("BUILD", "build"), "tests", "cluster",
    "ext_auth.so")
EXT_AUTH_METHOD = "ha-test"
EXT_AUTH_DATA = b"letmein"
# A node stops serving at most an election timeout after a handover starts;
# its next TICK (about 100 ms apart when idle) disconnects its clients.
CLOSE_WITHIN_S = 3.0

CONNACK, PUBLISH, PUBACK, PINGRESP, DISCONNECT, AUTH = 2, 3, 4, 13, 14, 15


class Raw:
    """An MQTT client on a plain socket: every packet it gets is kept."""

    def __init__(self, sock, version=4):
        self.sock = sock
        self.version = version
        self.seen = []  # packet types received, in order
        self.closed = False
        self.mid = 0

    @classmethod
    def connect(cls, host, port, client_id, username=h.USER,
                password=h.USER_PW, version=4, clean=True, auth=None,
                tls=None, timeout=3.0):
        """(client, CONNACK return/reason code)."""
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=host)
        c = cls(sock, version)
        flags = 0x02 if clean else 0
        payload = h._mqtt_str(client_id)
        if username is not None:
            flags |= 0x80
            payload += h._mqtt_str(username)
        if password is not None:
            flags |= 0x40
            payload += h._mqtt_str(password)
        props = b""
        if version == 5:
            if auth is not None:
                method, data = auth
                props += b"\x15" + h._mqtt_str(method)
                props += b"\x16" + struct.pack(">H", len(data)) + data
            props = h._varint(len(props)) + props
        body = (h._mqtt_str("MQTT") + bytes([version, flags]) +
                struct.pack(">H", 60) + props + payload)
        sock.sendall(h._packet(0x10, body))
        kind, body = c.read()
        assert kind == CONNACK, "expected CONNACK, got packet type %s" % kind
        return c, body[1]

    def read(self, timeout=3.0):
        """(type, body) of the next packet; (None, None) once closed."""
        self.sock.settimeout(timeout)
        try:
            first, body = h._read_packet(self.sock)
        except (ConnectionError, ssl.SSLError, OSError) as e:
            if isinstance(e, socket.timeout):
                raise
            self.closed = True
            return None, None
        self.seen.append(first >> 4)
        return first >> 4, body

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError):
            self.closed = True
            return False

    def publish_qos1(self, topic, payload=b"x"):
        self.mid += 1
        body = h._mqtt_str(topic) + struct.pack(">H", self.mid)
        if self.version == 5:
            body += b"\x00"
        return self.send(h._packet(0x32, body + payload))

    def ping(self):
        return self.send(b"\xc0\x00")

    def wait_for(self, kind, timeout=3.0):
        """Reads until a packet of kind (True) or the close (False)."""
        deadline = time.monotonic() + timeout
        while True:
            got, body = self.read(max(0.01, deadline - time.monotonic()))
            if got is None:
                return False
            if got == kind:
                if kind == PUBACK and self.version == 5 and len(body) >= 3:
                    return body[2] < 0x80
                return True

    def wait_closed(self, timeout):
        """True when the broker closes the connection within timeout, on
        its own (nothing is sent meanwhile)."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self.read(left)
            except socket.timeout:
                return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def served(c):
    """A QoS 1 publish on c is acknowledged."""
    return c.publish_qos1("holes/served") and c.wait_for(PUBACK)


def assert_refused_after_handover(c, what):
    """PINGREQ and a QoS 1 PUBLISH on the surviving socket: no PUBACK, and
    the connection closed. What a client believes taken must be taken."""
    start = len(c.seen)
    c.ping()
    c.publish_qos1("holes/after", b"must not be acknowledged")
    deadline = time.monotonic() + CLOSE_WITHIN_S
    while not c.closed and time.monotonic() < deadline:
        try:
            c.read(max(0.01, deadline - time.monotonic()))
        except socket.timeout:
            break
    assert PUBACK not in c.seen[start:], (
        "%s: a publish was acknowledged by a node that does not serve "
        "(packets seen: %s)" % (what, c.seen[start:]))
    assert c.closed, ("%s: still connected %.0f s after the node stopped "
                      "serving (packets seen: %s)" % (what, CLOSE_WITHIN_S,
                                                      c.seen))


def handover(c, leader):
    """setLeader to another node; returns it once every node agrees."""
    target = next(n for n in c.nodes.values() if n is not leader)
    r = leader.cmd("setLeader", clustername=c.name, nodeid=target.nodeid)
    assert "error" not in r, r
    assert c.wait_leader(timeout=5) is target
    h.wait_until("node %d to stop serving" % leader.nodeid,
                 lambda: leader.connack() == 5, 5)
    return target


def hand_over_and_reconnect(c, leader, conn, what, reconnect):
    """Moves leadership away while conn is connected to leader: conn must
    be disconnected at step-down without taking a publish, and the same
    client (reconnect(new leader) -> (client, rc)) is served by the new
    leader."""
    try:
        new = handover(c, leader)
        assert conn.wait_closed(CLOSE_WITHIN_S), \
            "%s: not disconnected at step-down" % what
        assert_refused_after_handover(conn, what)
    finally:
        conn.close()
    again, rc = reconnect(new)
    try:
        assert rc == 0 and served(again), \
            "%s: not served by the new leader" % what
    finally:
        again.close()


def test_session_takeover_then_step_down(make_cluster):
    """Client id c1 connects; a second connection with c1 takes the session
    over. The DISCONNECT of the first must not hide the second."""
    c = make_cluster()
    leader = c.form()
    first, rc = Raw.connect(leader.host, leader.mqtt_port, "c1", clean=False)
    assert rc == 0
    second, rc = Raw.connect(leader.host, leader.mqtt_port, "c1", clean=False)
    assert rc == 0
    assert first.wait_closed(3.0), "the taken-over connection stayed up"
    first.close()
    assert served(second)
    hand_over_and_reconnect(
        c, leader, second, "the connection that took the session over",
        lambda new: Raw.connect(new.host, new.mqtt_port, "c1", clean=False))


@pytest.mark.parametrize("protocol", [4, 5])
def test_refused_connect_with_same_id_then_step_down(make_cluster, protocol):
    """A CONNECT with the id of a live client and a wrong password is
    refused; the live client must still be disconnected at step-down."""
    c = make_cluster()
    leader = c.form()
    live, rc = Raw.connect(leader.host, leader.mqtt_port, "c1",
                           version=protocol)
    assert rc == 0
    intruder, rc = Raw.connect(leader.host, leader.mqtt_port, "c1",
                               password="wrong", version=protocol)
    assert rc != 0, "a wrong password was accepted"
    intruder.close()
    assert live.ping() and live.wait_for(PINGRESP), \
        "the refused CONNECT disconnected the live client"
    assert served(live)
    hand_over_and_reconnect(
        c, leader, live, "the live client beside a refused duplicate",
        lambda new: Raw.connect(new.host, new.mqtt_port, "c1",
                                version=protocol))


# ---- clients that bypass BASIC_AUTH ----


def make_certs(folder, hosts):
    """A CA, a server certificate for the given addresses and a client
    certificate whose common name is the ordinary user."""
    os.makedirs(folder, exist_ok=True)

    def run(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=folder)

    def key(name):
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-out", name + ".key")

    key("ca")
    run("openssl", "req", "-x509", "-new", "-key", "ca.key", "-subj",
        "/CN=ha-test-ca", "-days", "2", "-addext",
        "basicConstraints=critical,CA:TRUE", "-out", "ca.crt")
    san = ",".join("IP:%s" % a for a in hosts)
    for name, cn, ext in (("server", "server", "subjectAltName=" + san),
                          ("client", h.USER, "extendedKeyUsage=clientAuth")):
        key(name)
        run("openssl", "req", "-new", "-key", name + ".key", "-subj",
            "/CN=" + cn, "-out", name + ".csr")
        with open(os.path.join(folder, name + ".ext"), "w") as f:
            f.write(ext + "\n")
        run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt",
            "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile",
            name + ".ext", "-out", name + ".crt")
    return folder


def with_cert_listeners(c, certs):
    """Adds to every node a TLS listener whose clients are named by their
    certificate (use_identity_as_username): they never pass BASIC_AUTH."""
    for n in c.nodes.values():
        n.tls_port = h.free_port(n.host)
        n.extra_conf += [
            "listener %d %s" % (n.tls_port, n.host),
            "cafile %s" % os.path.join(certs, "ca.crt"),
            "certfile %s" % os.path.join(certs, "server.crt"),
            "keyfile %s" % os.path.join(certs, "server.key"),
            "require_certificate true",
            "use_identity_as_username true",
        ]


def client_tls(certs):
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
    ctx.load_cert_chain(os.path.join(certs, "client.crt"),
                        os.path.join(certs, "client.key"))
    return ctx


def three_nodes(c):
    for i in (1, 2, 3):
        c.add(i)


def test_certificate_identity_clients(make_cluster, tmp_path, version):
    c = make_cluster()
    three_nodes(c)
    certs = make_certs(str(tmp_path / "certs"),
                       [n.host for n in c.nodes.values()])
    with_cert_listeners(c, certs)
    tls = client_tls(certs)
    leader = c.form()
    follower = next(n for n in c.nodes.values() if n is not leader)

    # A follower never serves one: on 2.1 it is disconnected at once, on
    # 2.0 (no hook at connect) at its first packet, which is not taken.
    f, rc = Raw.connect(follower.host, follower.tls_port, "cert-f",
                        username=None, password=None, tls=tls)
    if rc == 0:
        assert_refused_after_handover(f, "certificate client of a follower")
    f.close()

    busy, rc = Raw.connect(leader.host, leader.tls_port, "cert-busy",
                           username=None, password=None, tls=tls)
    assert rc == 0 and served(busy)
    idle, rc = Raw.connect(leader.host, leader.tls_port, "cert-idle",
                           username=None, password=None, tls=tls)
    assert rc == 0
    try:
        new = handover(c, leader)
        assert busy.wait_closed(CLOSE_WITHIN_S), \
            "a certificate client was not disconnected at step-down"
        assert_refused_after_handover(busy, "certificate client")
        if version == "2.1":
            # Seen at CONNECT: disconnected with the others.
            assert idle.wait_closed(CLOSE_WITHIN_S), \
                "an idle certificate client was not disconnected"
        # 2.0 has no hook at connect: a client that has sent nothing yet
        # is unknown until its first packet, which is not taken.
        assert_refused_after_handover(idle, "idle certificate client")
    finally:
        busy.close()
        idle.close()
    again, rc = Raw.connect(new.host, new.tls_port, "cert-busy",
                            username=None, password=None, tls=tls)
    assert rc == 0 and served(again)
    again.close()


def test_enhanced_auth_clients(make_cluster):
    """MQTT v5 enhanced authentication (a plugin of its own, loaded after
    mosquitto_ha.so) bypasses BASIC_AUTH too."""
    if not os.path.isfile(EXT_AUTH_PLUGIN):
        pytest.fail("test plugin missing at %s: run `make suite-cluster`" %
                    EXT_AUTH_PLUGIN)
    c = make_cluster()
    three_nodes(c)
    for n in c.nodes.values():
        n.extra_conf.append("plugin %s" % EXT_AUTH_PLUGIN)
    leader = c.form()
    auth = (EXT_AUTH_METHOD, EXT_AUTH_DATA)
    follower = next(n for n in c.nodes.values() if n is not leader)
    f, rc = Raw.connect(follower.host, follower.mqtt_port, "ext-f",
                        username=None, password=None, version=5, auth=auth)
    if rc == 0:
        assert_refused_after_handover(f, "enhanced-auth client of a follower")
    f.close()

    e, rc = Raw.connect(leader.host, leader.mqtt_port, "ext-1",
                        username=None, password=None, version=5, auth=auth)
    assert rc == 0 and served(e)
    hand_over_and_reconnect(
        c, leader, e, "an enhanced-auth client",
        lambda new: Raw.connect(new.host, new.mqtt_port, "ext-1",
                                username=None, password=None, version=5,
                                auth=auth))


def test_v311_publish_to_a_follower_is_never_acknowledged(make_cluster):
    """2.0 acknowledges an ACL-denied QoS 1 publish from a v3.1.1 client;
    a node that does not serve must disconnect instead. Shown with a client
    that connected while its node served and publishes after it stopped,
    without any PINGREQ first."""
    c = make_cluster()
    leader = c.form()
    cl, rc = Raw.connect(leader.host, leader.mqtt_port, "v311")
    assert rc == 0 and served(cl)
    try:
        handover(c, leader)
        start = len(cl.seen)
        cl.publish_qos1("holes/late", b"late")
        cl.wait_closed(CLOSE_WITHIN_S)
        assert PUBACK not in cl.seen[start:], cl.seen[start:]
        assert cl.closed
    finally:
        cl.close()
