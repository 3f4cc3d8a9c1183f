# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""The checks the cluster tests rely on can fail: the nodes' serving
stamps show two brokers that both serve, a sanitizer report is found, and
the folder hash sees a rewrite."""

import os
import subprocess
import time

import harness as h


def test_stamps_show_two_serving_brokers(make_cluster):
    # Two brokers that never joined a cluster both serve ordinary clients:
    # exactly what the fault tests must never see between cluster nodes.
    c = make_cluster()
    t0 = time.monotonic()
    a = c.add(1).start()
    b = c.add(2).start()
    prober = h.Prober([a, b], interval=0.003, max_attempts=200,
                      max_seconds=5)
    prober.start()
    try:
        for n in (a, b):
            h.wait_until("node %d to serve a probe" % n.nodeid,
                         lambda n=n: prober.answered_since(n.nodeid, t0,
                                                           True), 10, 0.01)
        h.wait_until("both nodes to stamp a serving window",
                     lambda: a.serving_windows() and b.serving_windows(), 10)
    finally:
        prober.stop()
    overlaps = h.serving_overlaps([a, b], since=t0)
    assert overlaps and all({o[0], o[2]} == {1, 2} for o in overlaps), \
        overlaps


def test_brokers_carry_the_sanitizer_runtimes(make_cluster):
    # The plugin the suite loads was built with the sanitizers (make
    # suite-cluster passes $(BUILD)/san/mosquitto_ha.so): each broker must
    # then have the runtimes mapped, or nothing would be checked.
    c = make_cluster()
    n = c.add(1).start()
    with open("/proc/%d/maps" % n.proc.pid) as f:
        maps = f.read()
    for lib in h.sanitizer_runtimes():
        assert lib in maps, "%s is not loaded in the broker" % lib
    assert ("libasan" in maps) == h.sanitized()


def test_a_sanitizer_report_is_found(make_cluster, tmp_path):
    # A program that leaks, run with the environment the brokers get: the
    # report lands where the harness looks and is read back. (A report
    # left in a node's folder fails its test at teardown.)
    c = make_cluster()
    node = c.add(1)
    runtimes = h.sanitizer_runtimes()
    assert runtimes, "the cluster suite runs with a plugin built without " \
        "sanitizers: %s" % h.PLUGIN
    env = h.sanitizer_env(os.path.join(node.dir, "sanitizer"), runtimes)
    subprocess.run(["/usr/bin/python3", "-c",
                    "import ctypes; ctypes.CDLL(None).malloc(4242)"],
                   env=env, capture_output=True)
    reports = node.sanitizer_reports()
    assert reports and "LeakSanitizer" in reports[0][1] and \
        "4242 byte" in reports[0][1], reports
    for path, _ in reports:
        os.unlink(path)


def test_folder_hash_sees_a_rewrite(tmp_path):
    d = tmp_path / "data"
    (d / "raft").mkdir(parents=True)
    f = d / "raft" / "meta1"
    f.write_bytes(b"same")
    before = h.tree_hash(str(d))
    assert h.tree_hash(str(d)) == before
    st = os.stat(f)
    f.write_bytes(b"same")  # same bytes, written again
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    assert h.tree_hash(str(d)) != before
    (d / "extra").write_bytes(b"")
    assert h.tree_hash(str(d)) != before
