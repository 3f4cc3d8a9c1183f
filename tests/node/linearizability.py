# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""A small linearizability checker for histories of a key-value store.

Each key is an independent register (linearizability is compositional, so
a history is linearizable iff its restriction to every key is). For each key
the Wing & Gong search, with Lowe's improvements (a list of call and return
entries, lifting linearized operations out, and a cache of (linearized set,
state) pairs already explored), looks for an order of the operations that
respects real time and the register's semantics.

Operations whose outcome is unknown (a timeout, a dropped connection, an
error that does not rule out the write) get an infinite completion time: the
search may place them anywhere after their invocation, including after
everything else, which is the same as "never took effect". Reads whose
outcome is unknown and operations that definitely failed constrain nothing
and are left out.
"""

import math
import threading
import time

OK = "ok"        # completed; the result is known
FAIL = "fail"    # definitely did not take effect
INFO = "info"    # unknown: may or may not have taken effect

PUT = "put"
GET = "get"
CAS = "cas"


class Op:
    """One client operation as recorded by a test."""

    __slots__ = ("client", "kind", "key", "value", "old", "invoke",
                 "complete", "status", "result", "node")

    def __init__(self, client, kind, key, value=None, old=None, invoke=0.0,
                 complete=None, status=INFO, result=None, node=None):
        self.client = client
        self.kind = kind
        self.key = key
        self.value = value      # PUT: value written; CAS: new value
        self.old = old          # CAS: expected value
        self.invoke = invoke
        self.complete = complete
        self.status = status
        self.result = result    # GET: value or None; CAS: True/False
        self.node = node

    def __repr__(self):
        if self.kind == GET:
            what = "get(%s) -> %r" % (self.key, self.result)
        elif self.kind == PUT:
            what = "put(%s, %r)" % (self.key, self.value)
        else:
            what = "cas(%s, %r -> %r) -> %r" % (self.key, self.old,
                                              self.value, self.result)
        end = "?" if self.complete is None else "%.4f" % self.complete
        return "[%s c%s %s %.4f..%s %s]" % (self.status, self.client,
                                            self.node or "", self.invoke,
                                            end, what)


class History:
    """Thread-safe recorder: invoke() before sending, then ok/fail/info."""

    def __init__(self):
        self._lock = threading.Lock()
        self.ops = []

    def invoke(self, client, kind, key, value=None, old=None, node=None):
        op = Op(client, kind, key, value=value, old=old,
                invoke=time.monotonic(), node=node)
        with self._lock:
            self.ops.append(op)
        return op

    @staticmethod
    def _end(op, status, result):
        op.complete = time.monotonic()
        op.status = status
        op.result = result

    def ok(self, op, result=None):
        self._end(op, OK, result)

    def fail(self, op):
        self._end(op, FAIL, None)

    def info(self, op):
        # The operation may still take effect at any later time.
        op.status = INFO
        op.complete = None

    def snapshot(self):
        with self._lock:
            return list(self.ops)


def _step(state, op):
    """The register's transition: (allowed, next state)."""
    if op.kind == PUT:
        return True, op.value
    if op.kind == GET:
        return state == op.result, state
    if op.kind == CAS:
        if op.status == INFO:
            # Unknown outcome: it swaps exactly when the value matches.
            return True, (op.value if state == op.old else state)
        if op.result:
            return state == op.old, op.value
        return state != op.old, state
    raise ValueError("unknown operation kind %r" % (op.kind,))


class _Entry:
    __slots__ = ("op", "index", "is_call", "match", "prev", "next", "time")

    def __init__(self, op, index, is_call, t):
        self.op = op
        self.index = index
        self.is_call = is_call
        self.time = t
        self.match = None
        self.prev = None
        self.next = None


def _relevant(op):
    if op.status == FAIL:
        return False
    if op.status == INFO and op.kind == GET:
        return False
    if op.status == OK and op.complete is None:
        raise ValueError("completed operation without a completion time: %r"
                         % (op,))
    return True


class Result:
    def __init__(self, ok, key=None, ops=None, explored=0, message=""):
        self.ok = ok
        self.key = key
        self.ops = ops or []
        self.explored = explored
        self.message = message

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return "Result(ok=%s, key=%r, %s)" % (self.ok, self.key, self.message)


class SearchLimit(Exception):
    pass


def check_register(ops, initial=None, max_steps=2_000_000):
    """True iff the operations on one register are linearizable.

    Returns (ok, explored steps, longest linearized prefix)."""
    ops = [op for op in ops if _relevant(op)]
    # A write of unknown outcome whose value nobody observed can always be
    # placed after everything else, where it changes nothing anyone saw:
    # leave it out, which keeps the search narrow after crashes. Not when a
    # compare-and-set failed on this key: "the value was not `old`" is an
    # observation that such a write may be the only explanation of.
    negative = any(op.kind == CAS and not (op.status == OK and op.result)
                   for op in ops)
    if not negative:
        observed = set()
        for op in ops:
            if op.status == OK and op.kind == GET:
                observed.add(op.result)
            elif op.kind == CAS:
                observed.add(op.old)
        ops = [op for op in ops if not (op.status == INFO and op.kind == PUT
                                        and op.value not in observed)]
    if not ops:
        return True, 0, []
    events = []
    for i, op in enumerate(ops):
        call = _Entry(op, i, True, op.invoke)
        end = math.inf if op.status == INFO else op.complete
        if end < op.invoke:
            raise ValueError("operation completes before it starts: %r"
                             % (op,))
        ret = _Entry(op, i, False, end)
        call.match = ret
        events.append(call)
        events.append(ret)
    # At equal times a call sorts before a return: touching operations
    # count as concurrent, the permissive reading.
    events.sort(key=lambda e: (e.time, 0 if e.is_call else 1))
    head = _Entry(None, -1, False, -math.inf)
    prev = head
    for e in events:
        prev.next = e
        e.prev = prev
        prev = e

    def lift(call):
        call.prev.next = call.next
        if call.next is not None:
            call.next.prev = call.prev
        ret = call.match
        ret.prev.next = ret.next
        if ret.next is not None:
            ret.next.prev = ret.prev

    def unlift(call):
        ret = call.match
        ret.prev.next = ret
        if ret.next is not None:
            ret.next.prev = ret
        call.prev.next = call
        if call.next is not None:
            call.next.prev = call

    state = initial
    linearized = 0
    cache = set()
    stack = []
    best = []
    steps = 0
    entry = head.next
    while head.next is not None:
        steps += 1
        if steps > max_steps:
            raise SearchLimit("search exceeded %d steps" % max_steps)
        if entry.is_call:
            allowed, new_state = _step(state, entry.op)
            if allowed:
                new_lin = linearized | (1 << entry.index)
                if (new_lin, new_state) not in cache:
                    cache.add((new_lin, new_state))
                    stack.append((entry, state))
                    if len(stack) > len(best):
                        best = [e.op for e, _ in stack]
                    state = new_state
                    linearized = new_lin
                    lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            # A return reached before its operation could be placed:
            # undo the most recent choice and try the next candidate.
            if not stack:
                return False, steps, best
            entry, state = stack.pop()
            linearized &= ~(1 << entry.index)
            unlift(entry)
            entry = entry.next
    return True, steps, best


def check(ops, initial=None, max_steps=2_000_000):
    """Checks a whole history, key by key. Returns a Result."""
    by_key = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    explored = 0
    for key in sorted(by_key, key=str):
        key_ops = by_key[key]
        try:
            ok, steps, best = check_register(key_ops, initial, max_steps)
        except SearchLimit as e:
            return Result(False, key, key_ops, explored,
                          "key %r: %s (history too concurrent to decide)"
                          % (key, e))
        explored += steps
        if not ok:
            shown = sorted((op for op in key_ops if _relevant(op)),
                           key=lambda op: op.invoke)
            lines = ["not linearizable on key %r (%d operations)"
                     % (key, len(shown))]
            lines.append("longest linearizable prefix ends with: %r"
                         % (best[-3:],))
            for op in shown[:60]:
                lines.append("  %r" % (op,))
            if len(shown) > 60:
                lines.append("  ... %d more" % (len(shown) - 60))
            return Result(False, key, key_ops, explored, "\n".join(lines))
    return Result(True, None, None, explored,
                  "%d operations on %d keys linearizable (%d steps)"
                  % (len(ops), len(by_key), explored))


def acknowledged_writes_survive(ops, final_values):
    """Plain survival, stated on its own for a clearer message than the
    search gives: every key that had an acknowledged write exists at the end
    (final_values: key -> value read from the cluster after the load), with
    a value that the last acknowledged write or a write that may follow it
    left. Returns a list of problems (empty when all is well)."""
    problems = []
    written = {}
    for op in ops:
        if op.kind in (PUT, CAS) and op.status in (OK, INFO):
            if op.kind == CAS and op.status == OK and not op.result:
                continue
            written.setdefault(op.key, []).append(op)
    for key, writes in written.items():
        acked = [w for w in writes if w.status == OK]
        if not acked:
            continue
        value = final_values.get(key)
        if value is None:
            problems.append("key %r: acknowledged writes %r but the key is "
                            "gone at the end" % (key, acked[:3]))
            continue
        candidates = {w.value for w in writes}
        if value not in candidates:
            problems.append("key %r: final value %r was never written"
                            % (key, value))
            continue
        # The last acknowledged write is overwritten only by a write that
        # did not finish before it completed.
        last = max(acked, key=lambda w: w.complete)
        later = [w for w in writes
                 if w is last or w.status == INFO
                 or w.complete >= last.invoke]
        if value not in {w.value for w in later}:
            problems.append("key %r: final value %r is older than the "
                            "acknowledged write %r" % (key, value, last))
    return problems
