#!/usr/bin/python3
"""The escape suite: nsinetd-escape tries to get out of a sandbox, and must
fail at every attempt. One TAP row per (sandbox, attempt); the table of
attempts and outcomes is printed as TAP comments.

SANDBOXES is the loop: each entry is one kind of sandbox, given as the
extra configuration of the service; "#accept" in it makes the service
Accept=yes (one sandbox per connection, the connection as fd 3).
"""
import os
import shutil
import socket
import stat
import sys

from nsitest import (BUILD, PROBE, SRC, TAP, Daemon, SkipTest, free_port, recv_all,
                     require_root, tree_binds, connect)

ESCAPE = os.environ.get("NSINETD_ESCAPE", os.path.join(BUILD, "tests", "nsinetd-escape"))

LIMITS = "LimitNPROC=16\nLimitNOFILE=64"

# (label, extra [Container] lines). Defaults otherwise: that is the point.
SANDBOXES = [
    ("default container (root)", LIMITS),
    ("default container, User=nobody", LIMITS + "\nUser=nobody"),
    ("default container, PrivateUsers=yes", LIMITS + "\nPrivateUsers=yes"),
    # One sandbox per connection: the connection is fd 3.
    ("Accept=yes sandbox (root)", LIMITS + "\n#accept"),
    ("Accept=yes sandbox, User=nobody", LIMITS + "\nUser=nobody\n#accept"),
]


def escape_conf(port, extra_container, suid):
    accept = "\n#accept" in extra_container
    return "\n".join([
        "[Socket]", f"ListenStream=127.0.0.1:{port}", "Accept=yes" if accept else "",
        "[Container]", f"Exec={ESCAPE}",
        f"Environment=ESCAPE_HOST_PID={os.getpid()} ESCAPE_SETUID=/run/escape-suid",
        f"BindReadOnly={suid}:/run/escape-suid",
        tree_binds(), extra_container,
        "[Service]", "StopTimeoutSec=5s", ""])


def run_sandbox(label, extra):
    """Returns [(result, name, detail)] from one run of the escape binary."""
    port = free_port()
    with Daemon() as d:
        # A setuid-root copy of the escape binary, for the setuid row.
        suid = os.path.join(d.tmp, "escape-suid")
        shutil.copy(ESCAPE, suid)
        os.chown(suid, 0, 0)
        os.chmod(suid, 0o4755)
        os.chmod(d.tmp, 0o755)
        d.write("escape", escape_conf(port, extra, suid))
        d.start()
        with connect(("127.0.0.1", port), timeout=30) as s:
            data = recv_all(s).decode()
        assert d.stop() == 0
        rows = [tuple(l.split("\t", 2)) for l in data.splitlines() if l]
        if not rows:
            raise AssertionError("no answer from the escape binary:\n" + d.log())
        return rows


def main():
    require_root()
    tap = TAP()
    for label, extra in SANDBOXES:
        try:
            rows = run_sandbox(label, extra)
        except Exception as e:  # noqa: BLE001 - one failed row for the sandbox
            def failed(e=e):
                raise e
            tap.run(failed, f"{label}: the escape binary ran")
            continue
        print(f"# {label}:", flush=True)
        for result, name, detail in rows:
            print(f"#   {result:8} {name:42} {detail}", flush=True)
        for result, name, detail in rows:
            def row(result=result, detail=detail):
                if result == "skip":
                    raise SkipTest(detail)
                assert result == "blocked", detail
            tap.run(row, f"{label}: {name}")
    tap.done()


if __name__ == "__main__":
    main()
