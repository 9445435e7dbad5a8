#!/usr/bin/python3
"""Real services through nsinetd: lighttpd and gunicorn in socket-activation
mode, a Python standard-library server and the C example, answered over HTTP,
and each stopped gracefully by KillSignal=."""
import json
import os
import re
import shutil

from nsitest import BUILD, SRC, Daemon, tree_binds, SkipTest, main, free_port, http_get, wait_for


def example_conf(name, port):
    path = os.path.join(SRC, "examples", name, name + ".conf.in")
    with open(path) as f:
        text = f.read()
    text = text.replace("@SRCDIR@", os.path.abspath(SRC))
    text = text.replace("@BUILDDIR@", os.path.abspath(BUILD))
    text, n = re.subn(r"^ListenStream=127\.0\.0\.1:\d+$",
                      f"ListenStream=127.0.0.1:{port}", text, flags=re.M)
    assert n == 1, f"{path}: expected one ListenStream= line"
    return text.replace("[Container]\n", "[Container]\n" + tree_binds() + "\n", 1)


def run_example(name, check_body, path="/", needs=None):
    if needs and not os.path.exists(needs):
        raise SkipTest(f"{needs} is not installed (scripts/install-deps.sh installs it)")
    port = free_port()
    with Daemon({name: example_conf(name, port)}) as d:
        d.start()
        status, body = http_get("127.0.0.1", port, path, timeout=30)
        assert status == 200, (status, body, d.log())
        check_body(body)
        # Warm: the same container answers again.
        status, body = http_get("127.0.0.1", port, path, timeout=30)
        assert status == 200
        st = d.ctl("status", name)
        assert (st["State"], st["ColdStarts"], st["StartFailures"]) == ("running", 1, 0), st
        # KillSignal= is the service's graceful stop: it exits by itself,
        # status 0 (a wait status), not killed by the signal or SIGKILL.
        assert d.ctl("stop", name)["State"] == "stopped"
        st = d.ctl("status", name)
        assert st["LastExitStatus"] == 0 and st["MainPID"] == 0, st
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_lighttpd():
    def check(body):
        assert b"Hello from lighttpd, socket-activated by nsinetd" in body, body
    run_example("lighttpd", check, needs="/usr/sbin/lighttpd")


def test_gunicorn():
    if shutil.which("gunicorn", path="/usr/bin") is None and \
            not os.path.exists("/usr/lib/python3/dist-packages/gunicorn"):
        raise SkipTest("python3-gunicorn is not installed")

    def check(body):
        info = json.loads(body)
        # The arbiter took LISTEN_FDS: it is pid 2, so LISTEN_PID matched.
        assert info["arbiter_pid"] == 2, info
        assert info["hostname"] == "gunicorn", info
    run_example("gunicorn", check, path="/info")


def test_python_http():
    def check(body):
        assert b"hello from python http.server in nsinetd: pid 2, hostname python-http" \
            in body, body
    run_example("python-http", check)


def test_hello_c():
    def check(body):
        assert body == b"hello from nsinetd: pid 2, hostname hello-c\n", body
    run_example("hello-c", check)


if __name__ == "__main__":
    main([test_lighttpd, test_gunicorn, test_python_http, test_hello_c])
