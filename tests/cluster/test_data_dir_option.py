# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""plugin_opt_data_dir must name a writable folder: otherwise the broker
stops at start, naming the option (not at the first createCluster)."""

import os

import pytest

from test_config import expect_refused_start


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_unusable_data_dir_stops_broker(make_cluster, kind):
    c = make_cluster()
    n = c.add(1)
    if kind == "missing":
        n.plugin_opts["data_dir"] = "/nonexistent/hatest/data"
    else:
        path = os.path.join(n.dir, "not-a-folder")
        with open(path, "w") as f:
            f.write("x")
        n.plugin_opts["data_dir"] = path
    expect_refused_start(n, "plugin_opt_data_dir")


def test_damaged_cluster_file_stops_broker_cleanly(make_cluster):
    # A cluster.json that does not describe a cluster is found after the
    # plugin registered its callbacks: it unregisters them before the
    # broker stops (under the sanitizers a leak of any fails the test).
    c = make_cluster()
    n = c.add(1)
    with open(os.path.join(n.data_dir, "cluster.json"), "w") as f:
        f.write('{"clustername": 5}')
    expect_refused_start(n, "does not describe a cluster")
