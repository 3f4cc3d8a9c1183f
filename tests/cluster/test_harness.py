# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""The checks the cluster tests rely on can fail: the probes see two
brokers that both serve, and the folder hash sees a rewrite."""

import os
import time

import harness as h
from test_faults import SLACK_S


def test_probes_see_two_serving_brokers(make_cluster):
    # Two brokers that never joined a cluster both serve ordinary clients:
    # exactly what the fault tests must never see between cluster nodes.
    c = make_cluster()
    a = c.add(1).start()
    b = c.add(2).start()
    prober = h.Prober([a, b], interval=0.003, max_attempts=200,
                      max_seconds=5)
    prober.start()
    time.sleep(0.4)
    prober.stop()
    overlap, which = prober.max_overlap()
    assert which is not None and overlap > SLACK_S, (overlap, which)
    assert prober.windows(1) and prober.windows(2)


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
