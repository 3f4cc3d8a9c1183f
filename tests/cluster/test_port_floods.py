# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Every port a node owns is bounded: idle sockets on the health endpoint or
bogus connections to the cluster port, from anyone who can reach them, never
take the descriptors the broker needs. The leader, at the usual limit of
1,024 descriptors, keeps serving MQTT clients and every node keeps answering
GET /leader while the flood goes on."""

import resource
import socket
import subprocess
import time

import harness as h

BROKER_NOFILE = 1024
HEALTH_FLOOD = 1100
CLUSTER_FLOOD = 300
# Past the health endpoint's idle timeout (2 s): the flood's sockets have
# been both evicted and timed out by the end.
FLOOD_S = 3.0


def http_leader(host, port, timeout=2.0):
    """The status code of GET /leader."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"GET /leader HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


# The flood comes from a process of its own: its descriptors would push
# this process's own sockets past 1,024, which paho's select() cannot watch.
FLOODER = r"""
import errno, resource, select, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
garbage = sys.argv[4] == "1"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
socks = []
for i in range(n):
    if i % 32 == 31:
        # Paced, so that the node's accept keeps up with the connects:
        # what overflows a listen backlog never reaches the node.
        time.sleep(0.02)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    err = s.connect_ex((host, port))
    if err not in (0, errno.EINPROGRESS):
        sys.exit("connect: %s" % errno.errorcode.get(err, err))
    socks.append(s)
# Until every connect is done (the kernel retries those past the listen
# backlog), for at most 20 s.
poller = select.poll()
for s in socks:
    poller.register(s, select.POLLOUT)
waiting, deadline = len(socks), time.monotonic() + 20
while waiting and time.monotonic() < deadline:
    for fd, ev in poller.poll(200):
        poller.unregister(fd)
        waiting -= 1
if garbage:
    for s in socks[::2]:
        try:
            s.send(b"\x16\x03\x01 not a cluster handshake\r\n" * 4)
        except OSError:
            pass
print("ready %d" % (len(socks) - waiting), flush=True)
sys.stdin.read()
"""


class Flood:
    """n sockets that connect (or try to) and then send nothing (with
    garbage, half of them send bytes that are no handshake), held open by
    a child process until stop()."""

    def __init__(self, host, port, n, garbage=False):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-c", FLOODER, host, str(port), str(n),
             "1" if garbage else "0"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line[:1] == ["ready"], "the flood did not start: %r" % line
        # Connected, or refused or reset by the node: all were handled.
        self.done = int(line[1])
        assert self.done == n, "%d of %d connects still pending after 20 s" % (
            n - self.done, n)

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def health_cluster(make_cluster):
    c = make_cluster()
    for i in (1, 2, 3):
        n = c.add(i)
        n.health_port = h.free_port(n.host)
        n.plugin_opts["health_listen"] = "%s:%d" % (n.host, n.health_port)
    leader = c.form()
    # The usual limit of a broker started by hand or by systemd's default.
    resource.prlimit(leader.proc.pid, resource.RLIMIT_NOFILE,
                     (BROKER_NOFILE, BROKER_NOFILE))
    return c, leader


def keeps_serving(c, leader, report, what):
    """For FLOOD_S: the leader serves a new client and every node answers
    /leader (200 on the leader only)."""
    checks = 0
    deadline = time.monotonic() + FLOOD_S
    while time.monotonic() < deadline:
        assert leader.round_trip(), \
            "the leader stopped serving MQTT clients during %s" % what
        for n in c.nodes.values():
            code = http_leader(n.host, n.health_port)
            assert code == (200 if n is leader else 503), (
                "GET /leader on node %d answered %d during %s" %
                (n.nodeid, code, what))
        checks += 1
        time.sleep(0.05)
    report("%s: %d rounds of checks passed" % (what, checks))


def test_idle_health_flood(make_cluster, report):
    c, leader = health_cluster(make_cluster)
    flood = Flood(leader.host, leader.health_port, HEALTH_FLOOD)
    try:
        keeps_serving(c, leader, report,
                      "%d idle health connections" % HEALTH_FLOOD)
    finally:
        flood.stop()
    assert leader.running()


def test_bogus_cluster_connections(make_cluster, report):
    c, leader = health_cluster(make_cluster)
    flood = Flood(leader.host, leader.cluster_port, CLUSTER_FLOOD,
                  garbage=True)
    try:
        keeps_serving(c, leader, report,
                      "%d bogus cluster connections" % CLUSTER_FLOOD)
    finally:
        flood.stop()
    assert c.wait_leader(timeout=5) is leader
    # The refusals reach the broker's own log (not only stderr), named by
    # the source address, and rate-limited.
    def refusals():
        return [ln for ln in leader.log_text().splitlines()
                if "mosquitto_ha: transport:" in ln and
                "refused connection from" in ln]

    lines = h.wait_until("refusal lines in the broker's log", refusals, 5)
    assert all(": mosquitto_ha: " in ln for ln in lines), lines[:3]
    assert len(lines) < CLUSTER_FLOOD / 4, (
        "%d refusal lines for %d connections: not rate-limited" %
        (len(lines), CLUSTER_FLOOD))
    report("%d refusal lines in the broker's log for %d bogus connections" %
           (len(lines), CLUSTER_FLOOD))
