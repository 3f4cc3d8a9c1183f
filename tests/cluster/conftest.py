# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Fixtures for the cluster tests: real brokers of both versions, each
cluster on its own loopback block, always torn down."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

VERSIONS = ("2.0", "2.1")
# Measurements the tests report, printed at the end of the run.
_REPORTS = []


def pytest_report_header(config):
    try:
        runtimes = harness.sanitizer_runtimes()
    except RuntimeError as e:
        return "plugin: %s (%s)" % (harness.PLUGIN, e)
    return "plugin: %s, %s" % (
        harness.PLUGIN, "sanitizer runtimes preloaded into the brokers: %s"
        % " ".join(runtimes) if runtimes else "built without sanitizers")


def pytest_sessionstart(session):
    for what in harness.stale_cleanup():
        sys.stderr.write("cluster tests: removed %s, left by a killed run\n"
                         % what)


@pytest.fixture
def report(request):
    """report(text): a measurement shown at the end of the run (passed or
    not), under the test's name."""
    def add(text):
        print(text)
        _REPORTS.append((request.node.nodeid.split("::")[-1], text))
    return add


def pytest_terminal_summary(terminalreporter):
    if _REPORTS:
        terminalreporter.section("cluster measurements")
        for name, text in _REPORTS:
            for line in text.splitlines():
                terminalreporter.write_line("%s: %s" % (name, line))


@pytest.fixture(params=VERSIONS)
def version(request):
    """Every cluster test runs on both brokers. A missing broker fails the
    test with the reason: a silent skip would prove nothing."""
    try:
        harness.broker_path(request.param)
        harness.check_plugin()
    except RuntimeError as e:
        pytest.fail(str(e))
    return request.param


@pytest.fixture
def make_cluster(tmp_path, request, version):
    made = []

    def make(**kwargs):
        workdir = tmp_path / ("cluster%d" % len(made))
        workdir.mkdir()
        c = harness.Cluster(str(workdir), version, **kwargs)
        made.append(c)
        return c

    yield make
    rep = getattr(request.node, "rep_call", None)
    problems = []
    try:
        if rep is not None and rep.failed:
            for c in made:
                sys.stderr.write("\n=== broker logs of the failed test "
                                 "(block %s)\n%s\n" % (c.prefix,
                                                       c.describe()))
    finally:
        for c in made:
            slow = c.teardown()
            if slow:
                problems.append(
                    "brokers %s (block %s) did not stop on SIGTERM in time "
                    "and were killed: their exit checks did not run\n%s" % (
                        slow, c.prefix, c.describe()))
            # Sanitizer reports of every broker run, read once all have
            # exited (leaks are reported at exit).
            for path, text in c.sanitizer_reports():
                problems.append("sanitizer report in %s:\n%s" % (path,
                                                                  text))
        # Raft segments are preallocated (8 MiB each): keep the folders of
        # a test that passed its checks and its teardown only.
        if rep is not None and rep.passed and not problems:
            for c in made:
                harness.remove_tree(c.workdir)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_sessionfinish(session, exitstatus):
    # A run where nothing ran, or something was skipped, proves nothing.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if session.testscollected == 0:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
    elif skipped and session.exitstatus == 0:
        sys.stderr.write("\ncluster tests: %d skipped; a skip counts as a "
                         "failure here\n" % skipped)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
