# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""The linearizability checker on hand-written histories, so that it is
known to accept what it must and, above all, to reject what it must."""

import os
import random
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import linearizability as lin  # noqa: E402
from linearizability import CAS, FAIL, GET, INFO, OK, PUT, Op  # noqa: E402


def put(key, value, t0, t1, status=OK, client=0):
    return Op(client, PUT, key, value=value, invoke=t0,
              complete=None if status == INFO else t1, status=status)


def get(key, result, t0, t1, status=OK, client=0):
    return Op(client, GET, key, invoke=t0,
              complete=None if status == INFO else t1, status=status,
              result=result)


def cas(key, old, new, result, t0, t1, status=OK, client=0):
    return Op(client, CAS, key, value=new, old=old, invoke=t0,
              complete=None if status == INFO else t1, status=status,
              result=result)


def ok(ops):
    return lin.check(ops).ok


# --- linearizable histories -------------------------------------------------

def test_empty_history():
    assert ok([])


def test_sequential_writes_and_reads():
    assert ok([put("k", "1", 0, 1), get("k", "1", 2, 3),
               put("k", "2", 4, 5), get("k", "2", 6, 7)])


def test_read_of_missing_key_is_none():
    assert ok([get("k", None, 0, 1), put("k", "a", 2, 3)])


def test_concurrent_write_read_either_value():
    # The read overlaps the write: old or new value are both fine.
    assert ok([put("k", "1", 0, 1), put("k", "2", 2, 6),
               get("k", "1", 3, 4)])
    assert ok([put("k", "1", 0, 1), put("k", "2", 2, 6),
               get("k", "2", 3, 4)])


def test_concurrent_overlapping_writes_any_order():
    # Two overlapping writes, then reads that fix the order as b then a.
    assert ok([put("k", "a", 0, 10, client=1), put("k", "b", 1, 9, client=2),
               get("k", "a", 11, 12)])
    assert ok([put("k", "a", 0, 10, client=1), put("k", "b", 1, 9, client=2),
               get("k", "b", 11, 12)])


def test_reads_inside_a_long_write_may_flip_once():
    assert ok([put("k", "0", 0, 1),
               put("k", "1", 2, 20),
               get("k", "0", 3, 4), get("k", "1", 5, 6),
               get("k", "1", 7, 8)])


def test_failed_write_is_ignored():
    assert ok([put("k", "1", 0, 1), put("k", "2", 2, 3, status=FAIL),
               get("k", "1", 4, 5)])


def test_unknown_write_may_take_effect_late():
    # Timed out, then observed long after its client gave up.
    assert ok([put("k", "1", 0, 1), put("k", "2", 2, None, status=INFO),
               get("k", "1", 10, 11), get("k", "2", 12, 13)])


def test_unobserved_unknown_writes_are_set_aside():
    # Forty writes that timed out and were never read: accepted at once.
    ops = [put("k", "0", 0, 1)]
    ops += [put("k", "x%d" % i, 2, None, status=INFO) for i in range(40)]
    ops.append(get("k", "0", 3, 4))
    r = lin.check(ops, max_steps=1000)
    assert r.ok, r.message


def test_unread_unknown_write_can_explain_a_failed_cas():
    # Nobody read "2", but the compare-and-set saw that "1" was gone: only
    # the timed-out write explains it (seen in a cluster test).
    ops = [put("k", "1", 0, 1), get("k", "1", 2, 3),
           put("k", "2", 4, None, status=INFO),
           cas("k", "1", "3", False, 10, 11)]
    assert ok(ops)
    # Without that write the failure is impossible.
    assert not ok(ops[:2] + ops[3:])


def test_unknown_write_may_never_take_effect():
    assert ok([put("k", "1", 0, 1), put("k", "2", 2, None, status=INFO),
               get("k", "1", 10, 11), get("k", "1", 12, 13)])


def test_keys_are_independent():
    assert ok([put("a", "1", 0, 1), put("b", "2", 0, 1),
               get("a", "1", 2, 3), get("b", "2", 2, 3)])


def test_cas_success_and_failure():
    assert ok([put("k", "1", 0, 1), cas("k", "1", "2", True, 2, 3),
               cas("k", "1", "3", False, 4, 5), get("k", "2", 6, 7)])


# --- histories that must be rejected ----------------------------------------

def test_stale_read_is_rejected():
    # The write finished before the read began: reading the old value is a
    # stale read (what a deposed leader answering alone would produce).
    r = lin.check([put("k", "1", 0, 1), put("k", "2", 2, 3),
                   get("k", "1", 4, 5)])
    assert not r.ok
    assert r.key == "k"
    assert "not linearizable" in r.message


def test_lost_write_is_rejected():
    # An acknowledged write that a later read no longer sees.
    assert not ok([put("k", "1", 0, 1), put("k", "2", 2, 3),
                   get("k", "2", 4, 5), get("k", "1", 6, 7)])
    # ... nor the key at all.
    assert not ok([put("k", "1", 0, 1), get("k", None, 2, 3)])


def test_read_of_never_written_value_is_rejected():
    assert not ok([put("k", "1", 0, 1), get("k", "7", 2, 3)])


def test_read_of_failed_write_is_rejected():
    # A write the store said definitely failed must never be seen.
    assert not ok([put("k", "1", 0, 1), put("k", "2", 2, 3, status=FAIL),
                   get("k", "2", 4, 5)])


def test_concurrent_reads_disagreeing_with_order_are_rejected():
    # Two overlapping writes; one reader sees a then b, another b then a,
    # both after the writes finished: no single order explains both.
    assert not ok([put("k", "a", 0, 2, client=1), put("k", "b", 0, 2, client=2),
                   get("k", "a", 3, 4, client=3), get("k", "b", 5, 6, client=3),
                   get("k", "a", 7, 8, client=4)])


def test_value_flip_flop_is_rejected():
    # Reads overlap a write but see new, then old, in sequence.
    assert not ok([put("k", "0", 0, 1), put("k", "1", 2, 20),
                   get("k", "1", 3, 4), get("k", "0", 5, 6)])


def test_unknown_write_cannot_take_effect_before_its_invocation():
    assert not ok([put("k", "1", 0, 1), get("k", "2", 2, 3),
                   put("k", "2", 4, None, status=INFO)])


def test_cas_that_claims_success_on_wrong_value_is_rejected():
    assert not ok([put("k", "1", 0, 1), cas("k", "9", "2", True, 2, 3)])


def test_violation_on_one_key_among_many_is_found():
    ops = []
    t = 0
    for i in range(50):
        ops.append(put("k%d" % i, str(i), t, t + 1))
        ops.append(get("k%d" % i, str(i), t + 2, t + 3))
        t += 4
    ops.append(get("k17", "16", t, t + 1))
    r = lin.check(ops)
    assert not r.ok and r.key == "k17"


# --- survival helper ---------------------------------------------------------

def test_survival_accepts_last_acknowledged_value():
    ops = [put("k", "1", 0, 1), put("k", "2", 2, 3)]
    assert lin.acknowledged_writes_survive(ops, {"k": "2"}) == []


def test_survival_accepts_concurrent_or_unknown_later_write():
    ops = [put("k", "1", 0, 5), put("k", "2", 1, 2),
           put("k", "3", 6, None, status=INFO)]
    assert lin.acknowledged_writes_survive(ops, {"k": "2"}) == []
    assert lin.acknowledged_writes_survive(ops, {"k": "3"}) == []


def test_survival_rejects_lost_and_old_values():
    ops = [put("k", "1", 0, 1), put("k", "2", 2, 3)]
    assert lin.acknowledged_writes_survive(ops, {})
    assert lin.acknowledged_writes_survive(ops, {"k": "1"})
    assert lin.acknowledged_writes_survive(ops, {"k": "zz"})


# --- randomized: sequential histories from a real register pass, and one
# --- corrupted read in them fails ---------------------------------------------

def _random_history(rng, n_clients=4, n_ops=40):
    """Runs a register in real time order with overlapping intervals: each
    operation takes effect at a point inside its interval."""
    state = None
    ops = []
    t = 0.0
    for i in range(n_ops):
        client = rng.randrange(n_clients)
        point = t + rng.random()
        t0 = point - rng.random() * 3
        t1 = point + rng.random() * 3
        if rng.random() < 0.5:
            value = "v%d" % i
            ops.append(put("k", value, t0, t1, client=client))
            state = value
        else:
            ops.append(get("k", state, t0, t1, client=client))
        t = point + 0.01
    return ops


@pytest.mark.parametrize("seed", range(20))
def test_random_linearizable_histories_pass(seed):
    rng = random.Random(seed)
    assert ok(_random_history(rng))


@pytest.mark.parametrize("seed", range(20))
def test_random_history_with_a_read_of_a_never_written_value_fails(seed):
    rng = random.Random(1000 + seed)
    ops = _random_history(rng)
    reads = [op for op in ops if op.kind == GET]
    assert reads, "the seed drew no read"
    rng.choice(reads).result = "never-written"
    assert not ok(ops)


def test_search_limit_is_reported_not_hung():
    # Many unknown writes make the search wide; a tiny budget must end it
    # with a clear verdict.
    ops = [put("k", str(i), i, None, status=INFO) for i in range(12)]
    ops += [get("k", str(i), 100 + 2 * i, 101 + 2 * i) for i in range(12)]
    ops.append(get("k", "nope", 200, 201))
    r = lin.check(ops, max_steps=50)
    assert not r.ok and "too concurrent" in r.message
