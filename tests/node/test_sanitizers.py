# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""The cluster tests run ha-kv under AddressSanitizer and
UndefinedBehaviorSanitizer and fail on any report a node writes to its log
(conftest.py, Cluster.teardown): these tests check that the binary is that
build and that the reports are recognised."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from cluster import binary_path, process_env, sanitizer_reports  # noqa: E402


def test_the_binary_under_test_is_the_sanitizer_build():
    binary = binary_path()
    dynamic = subprocess.run(["readelf", "-d", binary], capture_output=True,
                             text=True, check=True).stdout
    for runtime in ("libasan.so", "libubsan.so"):
        assert runtime in dynamic, "%s is not linked with %s: the node " \
            "tests need build/san/ha-kv (HA_KV_BINARY)" % (binary, runtime)
    # The runtime is live in the processes the tests start.
    env = process_env()
    env["ASAN_OPTIONS"] += ":help=1"
    out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                         env=env, timeout=20)
    assert "Available flags for AddressSanitizer" in out.stderr + out.stdout


ASAN_REPORT = """ha-kv 2: info: leader in term 3, leader 2
=================================================================
==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020 at pc
READ of size 8 at 0x602000000010 thread T1
    #0 0x55d0 in kv_conn_close kv/connections.c:120
SUMMARY: AddressSanitizer: heap-use-after-free kv/connections.c:120 in x
==4242==ABORTING
ha-kv 2: info: not a report
"""

LEAK_REPORT = """ha-kv 1: stopped

=================================================================
==77==ERROR: LeakSanitizer: detected memory leaks

Direct leak of 48 byte(s) in 1 object(s) allocated from:
    #0 0x7f in malloc
    #1 0x55 in kv_map_new kv/map.c:40

SUMMARY: AddressSanitizer: 48 byte(s) leaked in 1 allocation(s).
"""

UBSAN_REPORT = """kv/record.c:77:12: runtime error: shift exponent 64 is too large
    #0 0x55 in record_parse kv/record.c:77
SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior kv/record.c:77:12
"""


def test_sanitizer_reports_in_a_log_are_found_whole():
    for text, first, last in (
            (ASAN_REPORT, "heap-use-after-free", "SUMMARY: AddressSanitizer"),
            (LEAK_REPORT, "detected memory leaks", "48 byte(s) leaked"),
            (UBSAN_REPORT, "runtime error: shift", "undefined-behavior")):
        reports = sanitizer_reports(text)
        assert len(reports) == 1, (text, reports)
        assert first in reports[0].splitlines()[0], reports
        assert last in reports[0].splitlines()[-1], reports
    both = sanitizer_reports(ASAN_REPORT + LEAK_REPORT)
    assert len(both) == 2, both
    clean = ("ha-kv 1: info: installed a snapshot at 300\n"
             "ha-kv 1: warning: the address sanitizer says nothing here\n"
             "ha-kv 1: stopped\n")
    assert sanitizer_reports(clean) == []
