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
