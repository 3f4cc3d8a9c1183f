#!/usr/bin/python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Mutation testing of the Raft core.

Each mutant is one small change to one line of raft/*.c, of the kind a
refactor introduces: a relational operator moved by one (< <=, > >=) or
negated (== !=), && for || and back, an index expression off by one, a
statement dropped, the operands of a comparison or a subtraction swapped.
Every mutant is built in its own folder under build/mutate/ (the source tree
is never touched) and run against the Raft unit tests and a short simulator
run; it is killed when one of them fails (or hangs, or the build crashes at
run time). A mutant that does not compile is stillborn and not counted.

    mutate.py run [options]          build and test the mutants, print score
    mutate.py list FILE...           print the mutants of FILEs (no build)
    mutate.py pick --seed N --per-file K FILE...
                                     K mutants of each FILE in an order fixed
                                     by N (to choose a sample; no build)
    mutate.py check-equivalent       every entry of the list names a mutant

`run --ids-file F` runs the mutants whose ids F lists (one a line, the id
first; `#` comments), `--must-kill` fails the run when any of them survives
or no longer compiles: tests/mutate/sample.txt, run so by `make test`, is a
fixed sample of mutants that the checks must keep killing.

Equivalent mutants (no test can tell them from the original) are listed by
hand in tests/mutate/equivalent.txt, one a line: the mutant's id, then
anything, then " | " and the reason. The id is a hash of the file, the
function, the text of the line, the position on it and the mutation, not of
the line number, so moving code does not invalidate an entry; an entry whose
mutant no longer exists is reported (check-equivalent fails on it).
"""
import argparse
import hashlib
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EQUIVALENT = os.path.join(ROOT, "tests", "mutate", "equivalent.txt")

# ---- the mutants of a source file ----

OPERAND = r"[A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*|\[[^\[\]]*\])*"
# An operand that can be moved whole: a name, a member, an element, a
# literal, or a call with no nested call.
SIMPLE = rf"(?:{OPERAND}(?:\([^()]*\))?|\d+)"
INDEX_NAME = re.compile(
    r"(index|idx|commit|match|next|prev|last|applied|stable|term_start|"
    r"offset|received|acked|upto|round)\w*(\([^()]*\))?$")
RELOPS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
LOGOPS = {"&&": "||", "||": "&&"}
# What may stand right before the left operand and right after the right one
# for the two to be swapped as whole operands.
LEFT_EDGE = re.compile(r"(^|[(,;=!?:]|&&|\|\||\breturn)\s*$")
RIGHT_EDGE = re.compile(r"^\s*($|[),;?:]|&&|\|\|)")
DROPPABLE = re.compile(
    rf"^\s*(?:{OPERAND}\s*(?:[-+|&]?=[^=]|\+\+|--)|{OPERAND}\s*\().*;\s*$")
NOT_DROPPABLE = re.compile(
    r"^\s*(return|break|continue|goto|case|default|if|for|while|else|do|"
    r"switch|struct|enum|union|static|const|unsigned|signed|int|char|bool|"
    r"void|size_t|uint\d+_t|int\d+_t|raft_\w+\s+\**\w+\s*[=;])\b")


class Mutant:
    def __init__(self, path, line, func, kind, col, old, new, text, masked,
                 repeat=0):
        self.path = path  # relative to ROOT
        self.line = line  # 1-based
        self.func = func
        self.kind = kind
        self.col = col  # 0-based, in the original line
        self.old = old
        self.new = new
        self.text = text  # the original line
        # The code of the line without its comments and spacing: editing
        # a comment or re-indenting keeps the id.
        before = " ".join(masked[:col].split())
        occurrence = before.count(" ".join(old.split()))
        key = "\0".join([os.path.basename(path), func,
                         " ".join(masked.split()), kind, old.strip(),
                         new.strip(), str(occurrence), str(repeat)])
        self.id = hashlib.sha1(key.encode()).hexdigest()[:10]

    def mutated_line(self):
        end = self.col + len(self.old)
        return self.text[:self.col] + self.new + self.text[end:]

    def describe(self):
        return (f"{self.path}:{self.line} ({self.func}) {self.kind} "
                f"'{self.old.strip()}' -> '{self.new.strip()}'")


def mask_line(line, in_comment):
    """The line with comments and string/char literals blanked out (same
    length), and whether a block comment continues on the next line."""
    out = []
    i = 0
    n = len(line)
    while i < n:
        if in_comment:
            end = line.find("*/", i)
            if end < 0:
                out.append(" " * (n - i))
                i = n
            else:
                out.append(" " * (end + 2 - i))
                i = end + 2
                in_comment = False
            continue
        c = line[i]
        if line.startswith("/*", i):
            in_comment = True
            continue
        if line.startswith("//", i):
            out.append(" " * (n - i))
            break
        if c in "\"'":
            j = i + 1
            while j < n and line[j] != c:
                j += 2 if line[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + (c if j - i >= 2 else ""))
            i = j
            continue
        out.append(c)
        i += 1
    return "".join(out)[:n], in_comment


def operator_tokens(masked):
    """(column, token) of every operator the mutator knows in the line."""
    for m in re.finditer(r"<<=?|>>=?|->|<=|>=|==|!=|&&|\|\||[<>]|\+\+|--|"
                         r"[-+*/%&|^]=|[-+]", masked):
        yield m.start(), m.group()


def binary_minus(masked, col):
    before = masked[:col].rstrip()
    return bool(before) and (before[-1].isalnum() or before[-1] in "_)]")


def mutants_of_line(path, lineno, func, text, masked, repeat=0):
    out = []

    def add(kind, col, old, new):
        out.append(Mutant(path, lineno, func, kind, col, old, new, text,
                          masked, repeat))

    for col, tok in operator_tokens(masked):
        if tok in RELOPS:
            add("relop", col, tok, RELOPS[tok])
        elif tok in LOGOPS:
            add("logop", col, tok, LOGOPS[tok])
        if tok not in RELOPS and tok != "-":
            continue
        if tok == "-" and not binary_minus(masked, col):
            continue
        # Operands on both sides, whole.
        left = re.search(rf"({SIMPLE})\s*$", masked[:col])
        right = re.match(rf"\s*({SIMPLE})", masked[col + len(tok):])
        if not left or not right:
            continue
        lstart = left.start(1)
        rend = col + len(tok) + right.end(1)
        whole_left = LEFT_EDGE.search(masked[:lstart])
        whole_right = RIGHT_EDGE.match(masked[rend:])
        lt, rt = left.group(1), right.group(1)
        # (== and != are symmetric: their swap changes nothing.)
        if whole_left and whole_right and lt != rt and tok not in ("==", "!="):
            old = text[lstart:rend]
            sep_l = masked[lstart + len(lt):col]
            sep_r = masked[col + len(tok):col + len(tok) + right.start(1)]
            add("swap", lstart, old, rt + sep_l + tok + sep_r + lt)
        # An index compared one further on: the right operand.
        if tok in RELOPS and whole_right and INDEX_NAME.search(rt):
            rstart = col + len(tok) + right.start(1)
            delta = " - 1" if tok in ("<", "<=") else " + 1"
            add("off-by-one", rstart, rt, rt + delta)
    # An existing +1 or -1 dropped.
    for m in re.finditer(r"\s[-+] 1\b(?!\d)", masked):
        col = m.start()
        if not binary_minus(masked, col + 1):
            continue
        add("off-by-one", col, text[col:m.end()], "")
    # A whole one-line statement dropped.
    if (DROPPABLE.match(masked) and not NOT_DROPPABLE.match(masked)
            and masked.count("(") == masked.count(")")
            and masked.rstrip().endswith(";") and masked.count(";") == 1):
        col = len(masked) - len(masked.lstrip())
        end = masked.rindex(";") + 1  # a comment after it stays
        add("drop", col, text[col:end], "(void)0;")
    return out


def generate(path):
    """The mutants of one file, in line order."""
    rel = os.path.relpath(os.path.abspath(path), ROOT)
    with open(path) as f:
        lines = f.read().split("\n")
    out = []
    in_comment = False
    func = "-"
    depth = 0  # braces
    skip = []  # preprocessor blocks that a normal build leaves out
    prev_code = ";"
    seen = {}
    for i, text in enumerate(lines):
        masked, in_comment_next = mask_line(text, in_comment)
        stripped = masked.strip()
        in_comment = in_comment_next
        if stripped.startswith("#"):
            word = stripped[1:].split()
            d = word[0] if word else ""
            if d in ("if", "ifdef", "ifndef"):
                skip.append("RAFT_SELFCHECK" in stripped and d != "ifndef")
            elif d == "else" and skip:
                skip[-1] = not skip[-1]
            elif d == "endif" and skip:
                skip.pop()
            continue
        if depth == 0 and re.match(r"^[A-Za-z_].*\b(\w+)\s*\(", masked):
            func = re.match(r"^[^(]*?\b(\w+)\s*\(", masked).group(1)
        if depth > 0 and not any(skip) and stripped:
            # A continuation line (the statement began above) is mutated
            # for operators only.
            # The same code twice in a function: told apart by its rank.
            code = (func, " ".join(masked.split()))
            repeat = seen.get(code, 0)
            seen[code] = repeat + 1
            ms = mutants_of_line(rel, i + 1, func, text, masked, repeat)
            if not re.search(r"[;{}:)]\s*$|\belse\s*$|^$", prev_code):
                ms = [m for m in ms if m.kind != "drop"]
            out.extend(ms)
        depth += masked.count("{") - masked.count("}")
        if stripped:
            prev_code = stripped
    return out


def apply_mutant(m, src_text):
    lines = src_text.split("\n")
    assert lines[m.line - 1] == m.text
    lines[m.line - 1] = m.mutated_line()
    return "\n".join(lines)


# ---- equivalent mutants ----

def read_equivalent(path=EQUIVALENT):
    """id -> reason. Fails loudly on an entry without a reason."""
    entries = {}
    if not os.path.exists(path):
        return entries
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            ident = line.split()[0]
            if " | " not in line or not line.split(" | ", 1)[1].strip():
                sys.exit(f"{path}:{n}: an equivalent mutant needs a reason "
                         f"after ' | '")
            if not re.fullmatch(r"[0-9a-f]{10}", ident):
                sys.exit(f"{path}:{n}: '{ident}' is not a mutant id")
            entries[ident] = line.split(" | ", 1)[1].strip()
    return entries


# The wire codec has unit tests and fuzzers of its own and none of the
# claims checked here: its mutants are run only when it is named.
CODEC_SRCS = ("raft/codec.c", "raft/config.c")
NOT_BY_DEFAULT = ("codec.c",)


def default_files():
    d = os.path.join(ROOT, "raft")
    return sorted(os.path.join(d, f) for f in os.listdir(d)
                  if f.endswith(".c") and f not in NOT_BY_DEFAULT)


# ---- building and testing ----

class Builder:
    """Compiles the unmodified objects once, then each mutant's one file and
    the test programs linked with it."""

    def __init__(self, args):
        self.args = args
        self.base = os.path.join(args.build, "mutate", "base")
        strip = {"-MMD", "-MP"}
        self.san = [f for f in shlex.split(args.san_cflags) if f not in strip]
        self.opt = [f for f in shlex.split(args.opt_cflags) if f not in strip]
        self.cc = args.cc
        self.units = args.unit_tests.split()
        self.raft_srcs = sorted(
            "raft/" + f for f in os.listdir(os.path.join(ROOT, "raft"))
            if f.endswith(".c"))
        self.lock = threading.Lock()
        self.locks = {}
        self.ready = set()

    def obj(self, flavor, src):
        return os.path.join(self.base, flavor, src[:-2] + ".o")

    def ensure(self, flags, src, out):
        """Compiles an unmodified object the first time a mutant needs it
        (the optimized core and the simulator only for mutants that reach
        the simulator)."""
        with self.lock:
            lock = self.locks.setdefault(out, threading.Lock())
        with lock:
            if out in self.ready:
                return ""
            r = self.compile(flags, src, out)
            if r.returncode != 0:
                return f"the unmodified {src} does not build:\n{r.stdout}"
            self.ready.add(out)
            return ""

    def compile(self, flags, src, out, cwd=ROOT):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        return subprocess.run([self.cc] + flags + ["-I", ROOT, "-c", src,
                                                   "-o", out], cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace")

    def prepare(self):
        """The objects every mutant needs; the others (the optimized core,
        the simulator, the codec's tests) are built when first needed."""
        jobs = []
        for s in self.raft_srcs:
            jobs.append((self.san, s, self.obj("san", s)))
        for t in self.units:
            s = f"tests/raft/test_{t}.c"
            jobs.append((self.san, s, self.obj("san", s)))
        jobs.append((self.san, "tests/raft/harness.c",
                     self.obj("san", "tests/raft/harness.c")))
        with ThreadPoolExecutor(self.args.jobs) as ex:
            errors = list(ex.map(lambda j: self.ensure(*j), jobs))
        for e in errors:
            if e:
                sys.exit(f"mutate: {e}")

    def sources(self, flavor):
        """What the unmodified objects of a flavor are built from."""
        flags = self.san if flavor == "san" else self.opt
        return flags, {self.obj(flavor, s): s for s in self.raft_srcs + [
            "tests/raft/harness.c", "tests/raft/test_codec.c",
            "tests/raft/codec_samples.c", "tests/sim/sim.c",
            "tests/sim/checks.c", "tests/sim/main.c"] +
            [f"tests/raft/test_{t}.c" for t in self.units]}

    def link(self, flags, objs, out, extra=()):
        return subprocess.run([self.cc] + flags + objs + list(extra) +
                              ["-o", out], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              errors="replace")

    def programs(self, mdir, mutated_src, msrc):
        """The test programs of a mutant in the order they run, cheapest
        first: (name, build, argv), where build() compiles and links it and
        returns the build output on failure."""
        built = {}

        def mutated_obj(flavor):
            if flavor not in built:
                out = os.path.join(mdir, flavor + ".o")
                r = self.compile(self.san if flavor == "san" else self.opt,
                                 msrc, out)
                built[flavor] = (out, r.stdout if r.returncode else "")
            return built[flavor]

        def raft_objs(flavor):
            mobj, _ = mutated_obj(flavor)
            return [mobj if s == mutated_src else self.obj(flavor, s)
                    for s in self.raft_srcs]

        def linker(flavor, objs, exe, extra):
            def build():
                _, err = mutated_obj(flavor)
                if err:
                    return err
                flags, srcs = self.sources(flavor)
                for o in objs + raft_objs(flavor):
                    if o in srcs:
                        e = self.ensure(flags, srcs[o], o)
                        if e:
                            sys.exit(f"mutate: {e}")
                r = self.link(flags, objs + raft_objs(flavor), exe, extra)
                return r.stdout if r.returncode else ""
            return build

        wraps = {"alloc": ["-Wl,--wrap=malloc", "-Wl,--wrap=calloc",
                           "-Wl,--wrap=realloc"]}
        slow = {"robustness": 1}
        harness = self.obj("san", "tests/raft/harness.c")
        progs = []
        for t in sorted(self.units, key=lambda t: slow.get(t, 0)):
            exe = os.path.join(mdir, f"test_{t}")
            objs = [self.obj("san", f"tests/raft/test_{t}.c"), harness]
            progs.append((f"test_{t}", linker("san", objs, exe, ["-lcmocka"] +
                                              wraps.get(t, [])), [exe]))
        if mutated_src in CODEC_SRCS:
            # The codec's own tests are slow (tens of seconds): only for
            # mutants of the code they test.
            exe = os.path.join(mdir, "test_codec")
            objs = [self.obj("san", "tests/raft/test_codec.c"),
                    self.obj("san", "tests/raft/codec_samples.c")]
            progs.append(("test_codec", linker(
                "san", objs, exe, ["-lcmocka", "-Wl,--wrap=malloc",
                                   "-Wl,--wrap=calloc"]), [exe]))
        exe = os.path.join(mdir, "sim")
        objs = [self.obj("opt", s) for s in
                ["tests/sim/sim.c", "tests/sim/checks.c", "tests/sim/main.c"]]
        progs.append(("sim", linker("opt", objs, exe, []),
                      [exe, "--seeds", str(self.args.sim_seeds), "--first",
                       str(self.args.sim_first), "--jobs", "1"]))
        return progs

    def test_mutant(self, m):
        """'killed by X', 'survived' or 'stillborn', and a log. With m None,
        the unmodified core through the same tests."""
        mdir = os.path.join(self.args.build, "mutate",
                            m.id if m else "unmodified")
        shutil.rmtree(mdir, ignore_errors=True)
        path = m.path if m else "raft/raft.c"
        msrc = os.path.join(mdir, "src", path)
        os.makedirs(os.path.dirname(msrc), exist_ok=True)
        with open(os.path.join(ROOT, path)) as f:
            original = f.read()
        with open(msrc, "w") as f:
            f.write(apply_mutant(m, original) if m else original)
        m_path = path
        try:
            env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
            env.pop("RAFT_PLANTED_BUG", None)
            for name, build, argv in self.programs(mdir, m_path, msrc):
                err = build()
                if err:
                    return "stillborn", err
                limit = self.args.test_timeout * (
                    4 if name in ("sim", "test_codec") else 1)
                try:
                    r = subprocess.run(argv, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True,
                                       errors="replace",
                                       timeout=limit, env=env)
                except subprocess.TimeoutExpired:
                    return f"killed by {name} (timeout)", ""
                if r.returncode != 0:
                    return f"killed by {name}", r.stdout[-4000:]
            return "survived", ""
        finally:
            if not self.args.keep:
                shutil.rmtree(mdir, ignore_errors=True)


def read_ids(path):
    """The ids a sample file lists: the first word of each line that is not
    blank or a comment."""
    ids = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            ident = line.split()[0]
            if not re.fullmatch(r"[0-9a-f]{10}", ident):
                sys.exit(f"{path}:{n}: '{ident}' is not a mutant id")
            ids.append(ident)
    if not ids:
        sys.exit(f"{path}: lists no mutant")
    return ids


def select(mutants, args):
    order = list(mutants)
    random.Random(args.seed).shuffle(order)
    if args.ids_file:
        ids = read_ids(args.ids_file)
        args.only = ",".join(ids + ([args.only] if args.only else []))
    if args.only:
        wanted = set(args.only.split(","))
        order = [m for m in order if m.id in wanted]
        missing = wanted - {m.id for m in order}
        if missing:
            sys.exit(f"mutate: no mutant with id {', '.join(sorted(missing))}")
    if args.limit:
        order = order[:args.limit]
    return order


def cmd_run(args):
    files = args.files or default_files()
    mutants = [m for f in files for m in generate(f)]
    equivalent = read_equivalent()
    known = {m.id for m in mutants}
    stale = sorted(set(equivalent) - known) if not args.files else []
    chosen = select(mutants, args)
    # Ids named with --only run even when marked equivalent.
    todo = [m for m in chosen if m.id not in equivalent or args.only]
    n_equiv = len(chosen) - len(todo)
    print(f"mutate: {len(mutants)} mutants in {len(files)} files; "
          f"running {len(todo)} ({n_equiv} marked equivalent), "
          f"{args.jobs} at a time, budget {args.budget} s", flush=True)
    b = Builder(args)
    start = time.monotonic()
    b.prepare()
    # The tests must pass without a mutant, or every mutant looks killed.
    verdict, log = b.test_mutant(None)
    if verdict != "survived":
        print(f"mutate: the unmodified core fails the tests ({verdict}):\n"
              f"{log}")
        return 1
    results = {}
    logdir = os.path.join(args.build, "mutate", "logs")
    os.makedirs(logdir, exist_ok=True)

    def one(m):
        if args.budget and time.monotonic() - start > args.budget:
            return m, "not run (budget)", ""
        return (m,) + b.test_mutant(m)

    done = 0
    with ThreadPoolExecutor(args.jobs) as ex:
        for m, verdict, log in ex.map(one, todo):
            results[m.id] = (m, verdict)
            done += 1
            if verdict == "survived" or args.verbose:
                print(f"  [{done}/{len(todo)}] {verdict}: {m.describe()} "
                      f"[{m.id}]", flush=True)
            if log:
                with open(os.path.join(logdir, m.id + ".log"), "w") as f:
                    f.write(m.describe() + "\n" + log)
    elapsed = time.monotonic() - start
    verdicts = [v for _, v in results.values()]
    killed = sum(v.startswith("killed") for v in verdicts)
    survived = [m for m, v in results.values() if v == "survived"]
    stillborn = sum(v == "stillborn" for v in verdicts)
    unrun = sum(v.startswith("not run") for v in verdicts)
    scored = killed + len(survived)
    print(f"mutate: {killed} killed, {len(survived)} survived, "
          f"{stillborn} stillborn (do not compile), {n_equiv} equivalent, "
          f"{unrun} not run (time budget), in {elapsed:.0f} s")
    for m in sorted(survived, key=lambda m: (m.path, m.line)):
        print(f"SURVIVED {m.describe()} [{m.id}]\n    {m.text.strip()}")
    for s in stale:
        print(f"mutate: {EQUIVALENT}: entry {s} names no mutant any more "
              f"(its line changed): check it again")
    score = 100.0 * killed / scored if scored else 0.0
    print(f"mutation score: {killed} killed of {scored} non-equivalent "
          f"mutants ({score:.1f}%)")
    print(f"cases: {scored}")
    ok = scored > 0 and score >= args.goal and not stale
    if args.must_kill:
        # A sample that must stay killed: a survivor is a check that got
        # weaker; a mutant that no longer compiles or was not run is one
        # the sample no longer tests.
        for m, v in sorted(results.values(), key=lambda x: x[0].id):
            if not v.startswith("killed"):
                print(f"mutate: must be killed but {v}: {m.describe()} "
                      f"[{m.id}]")
                ok = False
        if len(results) != len(todo):
            ok = False
    return 0 if ok else 1


def cmd_list(args):
    for f in args.files:
        for m in generate(f):
            print(f"{m.id} {os.path.basename(m.path)}:{m.line} {m.func} "
                  f"{m.kind} '{m.old}' -> '{m.new}'")
    return 0


def cmd_pick(args):
    """Per file, its mutants in an order that only the seed and the file's
    name decide; the first K of each."""
    for f in args.files:
        ms = generate(f)
        random.Random(f"{args.seed}:{os.path.basename(f)}").shuffle(ms)
        for m in ms[:args.per_file]:
            print(f"{m.id} {m.describe()}")
    return 0


def cmd_check_equivalent(args):
    equivalent = read_equivalent()
    known = {m.id for f in default_files() for m in generate(f)}
    stale = sorted(set(equivalent) - known)
    for s in stale:
        print(f"{EQUIVALENT}: entry {s} names no mutant any more")
    print(f"equivalent mutants listed: {len(equivalent)}, stale: {len(stale)}")
    return 1 if stale else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("files", nargs="*", help="default: raft/*.c")
    r.add_argument("--build", default=os.environ.get("BUILD", "build"))
    r.add_argument("--cc", default=os.environ.get("CC", "cc"))
    r.add_argument("--san-cflags", required=True)
    r.add_argument("--opt-cflags", required=True)
    r.add_argument("--unit-tests", required=True,
                   help="names N of tests/raft/test_N.c")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--budget", type=int, default=1500,
                   help="seconds (0: none); mutants not started by then "
                   "are not run")
    r.add_argument("--limit", type=int, default=0,
                   help="test only this many mutants, a sample")
    r.add_argument("--seed", type=int, default=1, help="of the sample order")
    r.add_argument("--only", help="comma-separated mutant ids")
    r.add_argument("--ids-file", help="run the mutants this file lists")
    r.add_argument("--must-kill", action="store_true",
                   help="fail unless every mutant run is killed")
    r.add_argument("--sim-seeds", type=int, default=400)
    r.add_argument("--sim-first", type=int, default=1)
    r.add_argument("--test-timeout", type=int, default=30)
    r.add_argument("--goal", type=float, default=95.0,
                   help="fail below this score (percent)")
    r.add_argument("--keep", action="store_true",
                   help="keep each mutant's build folder")
    r.add_argument("--verbose", action="store_true")
    sub.add_parser("list").add_argument("files", nargs="+")
    pk = sub.add_parser("pick")
    pk.add_argument("--seed", type=int, required=True)
    pk.add_argument("--per-file", type=int, required=True)
    pk.add_argument("files", nargs="+")
    sub.add_parser("check-equivalent")
    args = p.parse_args()
    if args.cmd == "run":
        args.build = os.path.abspath(args.build)
        sys.exit(cmd_run(args))
    commands = {"list": cmd_list, "pick": cmd_pick,
                "check-equivalent": cmd_check_equivalent}
    sys.exit(commands[args.cmd](args))


if __name__ == "__main__":
    main()
