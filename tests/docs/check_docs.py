# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""Checks the documentation against the code, both ways.

Error sentences: every sentence the plugin can send as a control API error
(the HA_ERR_* constants of plugin/*.h and the formats of the parser's
refusals) is listed in the error tables of docs/api.md, and every sentence
listed there is one the code sends. Every HA_ERR_* constant must be used, and
every call that sends an error must pass a constant, a literal (collected) or
one of a few known pass-through values, so no sentence escapes the check.

Options: the option table of plugin/options.c (option_specs) names exactly
the options parse_one handles, docs/plugin.md's option table and the README's
option list name exactly those, every default they state is the table's, and
every plugin_opt_* the docs mention is one of them.

A format whose words come from its arguments ("%s%s is missing." for the
port and the nodeid) is matched by any documented sentence it can produce, so
either of those two rows alone satisfies it.

Then the same checks run against copies of the tree with one planted
mismatch each, and must fail on every one: a check that cannot fail proves
nothing.

Usage: check_docs.py [ROOT]   (ROOT: the repository, default: this tree)
"""

import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Functions that send an error sentence, and the index of that argument.
# refuse() and refuse_request() fill the sentence of a refused command (the
# first takes a printf format), slot_done() and pending_finish() the error
# of one response, ha_pending_fail_all() that of every waiting response, and
# ha_reply_add_error() writes it into the reply.
SENDERS = {
    "refuse": 1,
    "refuse_request": 1,
    "slot_done": 2,
    "pending_finish": 2,
    "ha_pending_fail_all": 1,
    "ha_reply_add_error": 2,
}

# Arguments that carry a sentence chosen elsewhere, where it is checked:
# the parameters of the senders above that forward it, the stored sentence of
# a refused command or a reply slot, and the result of the functions in
# SENTENCE_FUNCTIONS.
PASS_THROUGH = {"error", "sentence", "err", "s->error", "cmd->error"}
# Functions that return a sentence: each of their returns must be NULL or an
# HA_ERR_* constant.
SENTENCE_FUNCTIONS = ("raft_error_sentence", "check_member_leader")

# Placeholders of docs/api.md's error tables and what each stands for.
DOC_PLACEHOLDERS = [
    (re.compile(r"^P "), "\x00"),            # "nodes[i]: " or nothing
    (re.compile(r"\[[ij]\]"), "[\x00]"),      # positions in a node list
    (re.compile(r'"F"'), '"\x00"'),          # a field name
    (re.compile(r" for C\.$"), " for \x00."),  # a command name
    (re.compile(r"\b(nodeid|port) N\b"), "\\1 \x00"),  # a number
    (re.compile(r"\baddress A\b"), "address \x00"),  # an address
]

C_CONVERSION = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z|j|t)?[diouxXsc]")


class Result:
    def __init__(self):
        self.cases = 0
        self.failures = []

    def case(self, ok, message):
        self.cases += 1
        if not ok:
            self.failures.append(message)


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        return f.read()


def strip_comments(code):
    code = re.sub(r"/\*.*?\*/", lambda m: " " * len(m.group(0)), code,
                  flags=re.S)
    return re.sub(r"//[^\n]*", "", code)


STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def c_unescape(s):
    return re.sub(r'\\(["\\])', r"\1", s)


def literal_value(expr):
    """The value of an expression made only of adjacent string literals, or
    None."""
    rest = expr.strip()
    parts = []
    while rest:
        m = STRING.match(rest)
        if m is None:
            return None
        parts.append(c_unescape(m.group(1)))
        rest = rest[m.end():].strip()
    return "".join(parts) if parts else None


def split_args(text, start):
    """The top-level arguments of the call whose '(' is at text[start]."""
    depth, args, cur, i = 0, [], [], start
    while i < len(text):
        c = text[i]
        if c == '"':
            m = STRING.match(text, i)
            cur.append(m.group(0))
            i = m.end()
            continue
        if c in "([{":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append("".join(cur).strip())
                return args
        elif c == "," and depth == 1:
            args.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    raise ValueError("unbalanced call")


def error_macros(root):
    """{name: sentence} of every HA_ERR_* macro in plugin/*.h."""
    macros = {}
    for name in sorted(os.listdir(os.path.join(root, "plugin"))):
        if not name.endswith(".h"):
            continue
        code = strip_comments(read(root, "plugin/" + name)).replace("\\\n", " ")
        for m in re.finditer(r"#define\s+(HA_ERR_\w+)\s+([^\n]*)", code):
            value = literal_value(m.group(2))
            if value is None:
                raise ValueError("%s is not a string literal" % m.group(1))
            macros[m.group(1)] = value
    return macros


def function_body(code, name):
    m = re.search(r"\b%s\s*\([^;{]*\)\s*\{" % re.escape(name), code)
    if m is None:
        return None
    depth, i = 0, m.end() - 1
    for j in range(i, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return code[i:j + 1]
    return None


def sent_sentences(root, res):
    """The sentences the plugin can send: {pattern: where}, each pattern a
    sentence or a printf format."""
    macros = error_macros(root)
    sources = {}
    for name in sorted(os.listdir(os.path.join(root, "plugin"))):
        if name.endswith(".c"):
            sources["plugin/" + name] = strip_comments(read(root,
                                                            "plugin/" + name))
    sent = {}
    used = set()
    for rel, code in sources.items():
        used.update(re.findall(r"\bHA_ERR_\w+", code))
        for m in re.finditer(r"\b(%s)\s*\(" % "|".join(SENDERS), code):
            before = code[:m.start()].rstrip()
            if re.search(r"(\bint|\bvoid|\bchar|\bbool|\*)$", before):
                continue  # the definition, not a call
            line = code.count("\n", 0, m.start()) + 1
            where = "%s:%d" % (rel, line)
            args = split_args(code, m.end() - 1)
            index = SENDERS[m.group(1)]
            arg = args[index] if index < len(args) else ""
            value = literal_value(arg)
            if value == "%s" and m.group(1) == "refuse":
                arg = args[index + 1] if index + 1 < len(args) else ""
                value = literal_value(arg)
            if value is not None:
                sent.setdefault(value, where)
                continue
            names = re.findall(r"\bHA_ERR_\w+", arg)
            for n in names:
                res.case(n in macros, "%s: %s is not an error sentence "
                         "constant" % (where, n))
            rest = re.sub(r"\bHA_ERR_\w+|\bNULL\b|\bdata\b|[?:]", "", arg)
            rest = rest.strip()
            known = (rest == "" or rest in PASS_THROUGH or
                     any(rest.startswith(f + "(") for f in SENTENCE_FUNCTIONS))
            res.case(known, "%s: %s() is given %r as its error, a value this "
                     "check cannot follow; pass an HA_ERR_* constant" %
                     (where, m.group(1), arg))
    for f in SENTENCE_FUNCTIONS:
        bodies = [function_body(c, f) for c in sources.values()]
        bodies = [b for b in bodies if b is not None]
        res.case(len(bodies) == 1, "the sentence function %s() is not found "
                 "(once) in plugin/*.c" % f)
        for body in bodies:
            for r in re.findall(r"\breturn\b([^;]*);", body):
                ok = re.fullmatch(r"\s*(NULL|HA_ERR_\w+)\s*", r) is not None
                res.case(ok, "%s() returns %r, not NULL or an HA_ERR_* "
                         "constant" % (f, r.strip()))
    for name, value in sorted(macros.items()):
        res.case(name in used, "%s (\"%s\") is defined and never sent" %
                 (name, value))
        if name in used:
            sent.setdefault(value, name)
    return sent


def documented_sentences(root):
    """Every sentence of the error tables of docs/api.md."""
    text = read(root, "docs/api.md")
    m = re.search(r"^## Error sentences\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if m is None:
        return None
    return re.findall(r"^\| `([^`]+)` \|", m.group(1), re.M)


def doc_skeleton(sentence):
    for pattern, repl in DOC_PLACEHOLDERS:
        sentence = pattern.sub(repl, sentence)
    return sentence


def code_regex(pattern):
    """A printf format as a regex over documented sentences: a conversion
    stands for any text, and so does a placeholder of the docs."""
    pattern = pattern.replace("%%", "\x01")
    parts = C_CONVERSION.split(pattern)
    return re.compile(".*?".join(re.escape(p).replace("\x01", "%")
                                 for p in parts), re.S)


def check_errors(root, res):
    sent = sent_sentences(root, res)
    documented = documented_sentences(root)
    res.case(documented, "docs/api.md has no error tables under "
             "\"## Error sentences\"")
    documented = documented or []
    skeletons = [doc_skeleton(d) for d in documented]
    regexes = {p: code_regex(p) for p in sent}
    for pattern, where in sorted(sent.items()):
        ok = any(regexes[pattern].fullmatch(s) for s in skeletons)
        res.case(ok, "sent and not documented in docs/api.md: \"%s\" (%s)"
                 % (pattern, where))
    for doc, skeleton in zip(documented, skeletons):
        ok = any(r.fullmatch(skeleton) for r in regexes.values())
        res.case(ok, "documented in docs/api.md and never sent: \"%s\"" % doc)
        res.case(documented.count(doc) == 1,
                 "documented twice in docs/api.md: \"%s\"" % doc)


# ---- options ----

def option_table(root, res):
    """{name: default or None} of option_specs in plugin/options.c."""
    code = strip_comments(read(root, "plugin/options.c"))
    m = re.search(r"option_specs\[\]\s*=\s*\{(.*?)\n\};", code, re.S)
    res.case(m is not None, "plugin/options.c has no option_specs table")
    if m is None:
        return {}
    table = {}
    for e in re.finditer(r'\{\s*"(\w+)"\s*,\s*(NULL|"[^"]*")\s*\}',
                         m.group(1)):
        res.case(e.group(1) not in table, "option_specs lists %s twice" %
                 e.group(1))
        table[e.group(1)] = (None if e.group(2) == "NULL"
                             else e.group(2)[1:-1])
    body = function_body(code, "parse_one") or ""
    handled = set(re.findall(r'strcasecmp\(k,\s*"(\w+)"\)', body))
    for name in sorted(table):
        res.case(name in handled, "option_specs lists %s, which parse_one "
                 "does not handle" % name)
    for name in sorted(handled - set(table)):
        res.case(False, "parse_one handles %s, which option_specs does not "
                 "list (so it is refused)" % name)
    return table


def stated_default(text):
    m = re.search(r"\bdefault:?\s+`?([\w.]+)`?", text)
    return m.group(1) if m else None


def plugin_md_options(root):
    """{name: meaning} of the option table of docs/plugin.md."""
    rows = {}
    for m in re.finditer(r"^\| ((?:`plugin_opt_\w+`(?:, )?)+) \| (.*) \|$",
                         read(root, "docs/plugin.md"), re.M):
        for name in re.findall(r"`plugin_opt_(\w+)`", m.group(1)):
            rows[name] = m.group(2)
    return rows


def readme_options(root):
    """{name: the parenthesis after it or ""} of the README's option list:
    the paragraph that starts with "Options"."""
    m = re.search(r"^Options[^\n]*:\n?(.*?)(?:\n\n|\Z)",
                  read(root, "README.md"), re.S | re.M)
    if m is None:
        return None
    out = {}
    for o in re.finditer(r"`(\w+)`(?:\s*\(([^)]*)\))?", m.group(0)):
        out[o.group(1)] = o.group(2) or ""
    return out


def mentioned_options(root, rel):
    """(line, name) of every plugin_opt_* a doc mentions: in prose, and in
    configuration examples after our plugin's `plugin` line (options after
    another plugin's line belong to that plugin)."""
    out = []
    ours = False
    in_code = False
    for n, line in enumerate(read(root, rel).splitlines(), 1):
        if line.startswith("```"):
            in_code = not in_code
            ours = False
            continue
        if in_code:
            p = re.match(r"\s*plugin\s+(\S+)", line)
            if p:
                ours = p.group(1).endswith("mosquitto_ha.so")
                continue
            o = re.match(r"\s*plugin_opt_(\w+)", line)
            if o and ours:
                out.append((n, o.group(1)))
            continue
        out.extend((n, o) for o in re.findall(r"plugin_opt_(\w+)", line))
    return out


def check_options(root, res):
    table = option_table(root, res)
    doc = plugin_md_options(root)
    res.case(doc, "docs/plugin.md has no option table")
    for name in sorted(table):
        res.case(name in doc, "plugin_opt_%s is accepted and not in "
                 "docs/plugin.md's option table" % name)
    for name in sorted(set(doc) - set(table)):
        res.case(False, "docs/plugin.md documents plugin_opt_%s, which the "
                 "plugin does not accept" % name)
    for name, meaning in sorted(doc.items()):
        if name not in table:
            continue
        stated, fallback = stated_default(meaning), table[name]
        res.case(stated == fallback, "docs/plugin.md: plugin_opt_%s default "
                 "%s, the code's is %s" % (name, stated, fallback))

    readme = readme_options(root)
    res.case(readme, "README.md has no option list (a paragraph starting "
             "with \"Options\")")
    readme = readme or {}
    for name in sorted(table):
        res.case(name in readme, "%s is accepted and not in the README's "
                 "option list" % name)
    for name in sorted(set(readme) - set(table)):
        res.case(False, "the README's option list names %s, which the "
                 "plugin does not accept" % name)
    for name, paren in sorted(readme.items()):
        if name not in table:
            continue
        stated, fallback = stated_default(paren), table[name]
        res.case(stated == fallback, "README.md: %s default %s, the code's "
                 "is %s" % (name, stated, fallback))

    for rel in ("README.md", "docs/plugin.md", "docs/api.md"):
        for line, name in mentioned_options(root, rel):
            res.case(name in table, "%s:%d mentions plugin_opt_%s, which the "
                     "plugin does not accept" % (rel, line, name))


def check(root):
    res = Result()
    try:
        check_errors(root, res)
        check_options(root, res)
    except (OSError, ValueError) as e:
        res.case(False, "cannot check: %s" % e)
    return res


# ---- planted mismatches ----

def replace_once(old, new):
    def edit(text):
        if text.count(old) != 1:
            raise AssertionError("plant: %r is not in the file once" % old)
        return text.replace(old, new)
    return edit


def drop_line_with(needle):
    def edit(text):
        lines = text.splitlines(keepends=True)
        hits = [l for l in lines if needle in l]
        if len(hits) != 1:
            raise AssertionError("plant: %r is not on one line" % needle)
        return "".join(l for l in lines if needle not in l)
    return edit


PLANTS = [
    ("the time-out sentence removed from docs/api.md", "docs/api.md",
     drop_line_with("`The cluster did not complete the command in time.`"),
     "sent and not documented"),
    ("a parser sentence removed from docs/api.md", "docs/api.md",
     drop_line_with("`clustername must not be empty.`"),
     "sent and not documented"),
    ("a sentence documented that nothing sends", "docs/api.md",
     replace_once("| `Internal error; see the broker log.` |",
                  "| `The cluster has no quorum.` | never |\n"
                  "| `Internal error; see the broker log.` |"),
     "documented in docs/api.md and never sent"),
    ("a constant defined and never sent", "plugin/control.h",
     replace_once("#define HA_ERR_INTERNAL ",
                  "#define HA_ERR_UNUSED \"Never sent.\"\n"
                  "#define HA_ERR_INTERNAL "),
     "is defined and never sent"),
    ("a literal sent instead of a constant", "plugin/exec.c",
     replace_once("slot_done(ctx, slot, HA_ERR_CLUSTER_FULL, NULL);",
                  "slot_done(ctx, slot, \"The cluster is full.\", NULL);"),
     "sent and not documented"),
    ("a parser format changed", "plugin/control_parse.c",
     replace_once('"nodes must be an array."', '"nodes must be a list."'),
     "sent and not documented"),
    ("an error passed in a variable the check cannot follow", "plugin/exec.c",
     replace_once("slot_done(ctx, slot, HA_ERR_CLUSTER_FULL, NULL);",
                  "slot_done(ctx, slot, full_sentence, NULL);"),
     "a value this check cannot follow"),
    ("a sentence function returning a literal", "plugin/exec.c",
     replace_once("return HA_ERR_INTERNAL;\n\t}\n}",
                  "return \"Something failed.\";\n\t}\n}"),
     "not NULL or an HA_ERR_* constant"),
    ("an option removed from docs/plugin.md", "docs/plugin.md",
     drop_line_with("| `plugin_opt_cluster_bind` |"),
     "not in docs/plugin.md's option table"),
    ("an option documented that the plugin does not accept",
     "docs/plugin.md",
     replace_once("| `plugin_opt_cluster_bind` |",
                  "| `plugin_opt_sync_mode` | full or dynsec |\n"
                  "| `plugin_opt_cluster_bind` |"),
     "which the plugin does not accept"),
    ("a default in docs/plugin.md that differs", "docs/plugin.md",
     replace_once("default 400", "default 500"),
     "plugin_opt_election_timeout default 500"),
    ("an option removed from the README's list", "README.md",
     replace_once("`health_listen`,", ""),
     "not in the README's option list"),
    ("a default in the README that differs", "README.md",
     replace_once("default 40 ms", "default 50 ms"),
     "heartbeat_interval default 50"),
    ("an option in the table that parse_one does not handle",
     "plugin/options.c",
     replace_once('{"acl_fallback", "defer"},',
                  '{"acl_fallback", "defer"},\n    {"sync_mode", "full"},'),
     "which parse_one does not handle"),
    ("an option handled but not in the table", "plugin/options.c",
     replace_once('    {"admin_port", NULL},\n', ""),
     "which option_specs does not list"),
    ("a configuration example with an unknown option", "docs/plugin.md",
     replace_once("plugin_opt_admin_users admin\n",
                  "plugin_opt_admin_users admin\nplugin_opt_admin_user x\n"),
     "mentions plugin_opt_admin_user,"),
]

COPIED = ("docs", "plugin", "README.md")


def run_plants(root, res):
    for what, rel, edit, expected in PLANTS:
        with tempfile.TemporaryDirectory(prefix="docs-checks-") as tmp:
            for c in COPIED:
                src = os.path.join(root, c)
                if os.path.isdir(src):
                    shutil.copytree(src, os.path.join(tmp, c))
                else:
                    shutil.copy(src, os.path.join(tmp, c))
            path = os.path.join(tmp, rel)
            try:
                with open(path, encoding="utf-8") as f:
                    text = edit(f.read())
            except AssertionError as e:
                res.case(False, "planted %s: %s" % (what, e))
                continue
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            planted = check(tmp)
            caught = any(expected in m for m in planted.failures)
            res.case(caught, "planted %s: not caught (expected a failure "
                     "with %r, got %s)" % (what, expected, planted.failures))
            if caught:
                print("planted %s: caught" % what)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else REPO
    res = check(root)
    for m in res.failures:
        print("FAIL " + m)
    print("docs-checks: %d cases against the tree, %d failed" %
          (res.cases, len(res.failures)))
    plants = Result()
    if not res.failures:
        run_plants(root, plants)
        for m in plants.failures:
            print("FAIL " + m)
        print("docs-checks: %d planted mismatches, %d caught" %
              (plants.cases, plants.cases - len(plants.failures)))
    # The runner's count: checks against the tree and planted mismatches.
    print("cases: %d" % (res.cases + plants.cases))
    if res.failures or plants.failures or res.cases == 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
