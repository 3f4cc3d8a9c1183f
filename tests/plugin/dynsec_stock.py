#!/usr/bin/env python3
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
"""plugin/dynsec/ against the stock dynamic-security plugin.

For each broker (Debian's mosquitto 2.0 and the 2.1 build in .cache): a file
made by `mosquitto_ctrl dynsec init`, a broker on 127.0.0.1 running the stock
plugin on it, and the sequence of tests/plugin/dynsec_steps.h sent to it one
payload at a time by its admin; every reply must equal the one this code
gives from the same file (build/tests/plugin/dynsec_replay), leaving out
only the "connections" of a client, which the broker supplies. Then a
planted difference in one reply must be caught. Last, the file the stock
plugin saved, read by this code, must hold what this code holds (but the
salts and hashes, random), and the password the sequence set must log in.

Needs mosquitto, mosquitto-clients (mosquitto_ctrl), python3-paho-mqtt and
`make mosquitto21`; a missing one fails the suite.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import paho.mqtt.client as mqtt

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
REPLAY = os.path.join(REPO, BUILD, "tests", "plugin", "dynsec_replay")
BROKERS = {
    "2.0": ("/usr/sbin/mosquitto", "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so", None),
    "2.1": (os.path.join(REPO, ".cache", "mosquitto-2.1", "sbin", "mosquitto"),
            os.path.join(REPO, ".cache", "mosquitto-2.1", "lib", "mosquitto_dynamic_security.so"),
            os.path.join(REPO, ".cache", "mosquitto-2.1", "lib")),
}
ADMIN, ADMIN_PW = "admin", "admin password"


def fail(msg):
    print("dynsec-stock: " + msg, file=sys.stderr)
    sys.exit(1)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def normalize(text):
    """A reply with the broker-supplied client connections left out."""
    tree = json.loads(text)
    for r in tree.get("responses", []):
        data = r.get("data", {})
        clients = [data["client"]] if isinstance(data.get("client"), dict) else []
        if isinstance(data.get("clients"), list):
            clients += [c for c in data["clients"] if isinstance(c, dict)]
        for c in clients:
            c.pop("connections", None)
    return json.dumps(tree, sort_keys=True, separators=(",", ":"))


def ours(path, version):
    out = subprocess.run([REPLAY, path, version], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    payloads = [l[4:] for l in lines if l.startswith("CMD ")]
    replies = [normalize(l[4:]) for l in lines if l.startswith("OUT ")]
    end = [l[4:] for l in lines if l.startswith("END ")]
    if not payloads or len(payloads) != len(replies) or len(end) != 1:
        fail("dynsec_replay gave no usable output")
    return payloads, replies, without_hashes(end[0])


def without_hashes(text):
    """A saved state without what a new password makes at random: of
    mosquitto 2.1's "$7$<iterations>$<salt>$<hash>" the iterations and the
    salt's length stay."""
    tree = json.loads(text)
    for c in tree.get("clients", []):
        for k in ("password", "salt"):
            c.pop(k, None)
        enc = c.get("encoded_password")
        if isinstance(enc, str) and enc.count("$") == 4:
            _, scheme, iterations, salt, _ = enc.split("$")
            c["encoded_password"] = f"${scheme}${iterations}$salt of {len(salt)} characters"
    return json.dumps(tree, sort_keys=True)


def stock_file(path, version, user, password, clientid):
    """The stock plugin's saved file as this code reads it, and whether
    user logs in with password and client id."""
    out = subprocess.run([REPLAY, path, version, user, password, clientid], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    end = [l[4:] for l in out if l.startswith("END ")]
    login = [l[6:] for l in out if l.startswith("LOGIN ")]
    if len(end) != 1 or len(login) != 1:
        fail("dynsec_replay gave no usable output for " + path)
    return without_hashes(end[0]), login[0] == "ok"


def stock(work, version, payloads):
    binary, plugin, libdir = BROKERS[version]
    for f in (binary, plugin):
        if not os.path.exists(f):
            fail(f"{f} is missing (mosquitto {version}; `make mosquitto21` builds 2.1)")
    data = os.path.join(work, f"stock-{version}.json")
    shutil.copy(os.path.join(work, "init.json"), data)
    port = free_port()
    conf = os.path.join(work, f"mosquitto-{version}.conf")
    with open(conf, "w") as f:
        # As root the broker would switch to the mosquitto user, who cannot
        # read the private temporary folder.
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous false\nuser root\n"
                f"plugin {plugin}\nplugin_opt_config_file {data}\n")
    env = dict(os.environ)
    if libdir:
        env["LD_LIBRARY_PATH"] = libdir
    broker = subprocess.Popen([binary, "-c", conf], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    replies = []
    try:
        got = []
        client = mqtt.Client(client_id="dynsec-stock", protocol=mqtt.MQTTv5)
        client.username_pw_set(ADMIN, ADMIN_PW)
        client.on_message = lambda c, u, m: got.append(m.payload.decode())
        for _ in range(100):
            try:
                client.connect("127.0.0.1", port)
                break
            except OSError:
                time.sleep(0.05)
        else:
            fail(f"mosquitto {version} did not listen on {port}")
        client.loop_start()
        subscribed = []
        client.on_subscribe = lambda *a: subscribed.append(True)
        client.subscribe("$CONTROL/dynamic-security/v1/response", qos=1)
        deadline = time.time() + 5
        while not subscribed and time.time() < deadline:
            time.sleep(0.01)
        for p in payloads:
            n = len(got)
            client.publish("$CONTROL/dynamic-security/v1", p, qos=1)
            deadline = time.time() + 5
            while len(got) == n and time.time() < deadline:
                time.sleep(0.005)
            if len(got) == n:
                fail(f"mosquitto {version} did not answer {p}")
            replies.append(normalize(got[-1]))
        client.loop_stop()
        client.disconnect()
    finally:
        broker.terminate()
        broker.wait(timeout=10)
    return replies


def compare(version, payloads, a, b):
    """The payloads whose replies differ."""
    return [(p, x, y) for p, x, y in zip(payloads, a, b) if x != y]


def main():
    if not os.access(REPLAY, os.X_OK):
        fail(f"{REPLAY} is not built")
    cases = 0
    with tempfile.TemporaryDirectory(prefix="dynsec-stock-") as work:
        init = os.path.join(work, "init.json")
        subprocess.run(["mosquitto_ctrl", "dynsec", "init", init, ADMIN, ADMIN_PW],
                       check=True, stdout=subprocess.DEVNULL)
        for version in ("2.0", "2.1"):
            payloads, mine, my_end = ours(init, version)
            theirs = stock(work, version, payloads)
            bad = compare(version, payloads, mine, theirs)
            for p, x, y in bad:
                print(f"mosquitto {version}: {p}\n  this code: {x}\n  stock:     {y}", file=sys.stderr)
            if bad:
                fail(f"mosquitto {version}: {len(bad)} of {len(payloads)} replies differ")
            print(f"dynsec-stock: mosquitto {version}: {len(payloads)} replies equal")
            cases += len(payloads)
            # A planted difference must be caught.
            planted = list(mine)
            planted[len(planted) // 2] = planted[len(planted) // 2].replace('"command"', '"commands"')
            if not compare(version, payloads, planted, theirs):
                fail(f"mosquitto {version}: a planted difference went unseen")
            print(f"dynsec-stock: mosquitto {version}: planted difference caught")
            cases += 1
            # The stock plugin's file after the sequence: the same data, and
            # "u" logs in with the password and client id modifyClient gave it.
            saved, login = stock_file(os.path.join(work, f"stock-{version}.json"),
                                      version, "u", "second pw", "dev")
            if saved != my_end:
                fail(f"mosquitto {version}: its saved file differs from this code's state:\n"
                     f"  this code: {my_end}\n  stock:     {saved}")
            if not login:
                fail(f"mosquitto {version}: the password set by the stock plugin does not log in")
            print(f"dynsec-stock: mosquitto {version}: its saved file read equal, its password logs in")
            cases += 1
    print(f"cases: {cases}")


if __name__ == "__main__":
    main()
