# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Fixtures for the cluster tests: real ha-kv processes, each in a temporary
data folder and a process group of its own, always torn down."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster  # noqa: E402


@pytest.fixture
def make_cluster(tmp_path, request):
    made = []

    def make(**kwargs):
        workdir = tmp_path / ("cluster%d" % len(made))
        workdir.mkdir()
        c = Cluster(str(workdir), **kwargs)
        made.append(c)
        return c

    yield make
    failed = getattr(request.node, "rep_call", None)
    problems = []
    for c in made:
        if failed is not None and failed.failed:
            sys.stderr.write("\n=== node logs of the failed test\n%s\n"
                             % c.describe())
        problems += c.teardown()
    # Sanitizer reports and unclean exits fail the test that caused them.
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_sessionfinish(session, exitstatus):
    # A suite where nothing ran, or something was skipped, proves nothing.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if session.testscollected == 0:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
    elif skipped and session.exitstatus == 0:
        sys.stderr.write("\nnode tests: %d skipped; a skip counts as a "
                         "failure here\n" % skipped)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
