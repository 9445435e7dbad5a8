#!/usr/bin/python3
"""Type=notify, StartTimeoutSec= and WatchdogSec= (supervisor/readiness.c,
notify.c): services written for systemd's readiness protocol, with
libsystemd's sd_notify() (tests/probe/notify-probe.c) and with
systemd-notify, observed through nsinetctl."""
import os
import shutil
import signal
import socket
import time

from nsitest import (Daemon, SkipTest, connect, free_port, main, recv_all, spare_pids,
                     tree_binds, wait_for)

NOTIFY_PROBE = os.environ.get("NSINETD_NOTIFY_PROBE", "build/tests/nsinetd-notify-probe")


def conf(port, env=(), service="", exec_line=None):
    lines = ["[Socket]", f"ListenStream=127.0.0.1:{port}", "[Container]",
             exec_line or f"Exec={NOTIFY_PROBE}"]
    lines += [f"Environment={e}" for e in env]
    lines += [tree_binds(), "[Service]", "StopTimeoutSec=2s", service]
    return "\n".join(l for l in lines if l) + "\n"


def status(d, name):
    return d.ctl("status", name)


def daemon_fds(d):
    fd_dir = f"/proc/{d.proc.pid}/fd"
    return [os.readlink(f"{fd_dir}/{f}") for f in os.listdir(fd_dir)]


def test_ready_after_signal():
    """Type=notify: starting after the exec until READY=1, and the first
    connection's answer comes only then; STATUS= shows in status."""
    port = free_port()
    with Daemon({"n": conf(port, ["PROBE_READY=signal", "\"PROBE_STATUS=all good\""],
                           "Type=notify")}) as d:
        d.start()
        c = connect(("127.0.0.1", port))
        d.wait_log(r"n: started container pid \d+ .*waiting for READY=1")
        time.sleep(0.3)
        st = status(d, "n")
        assert st["State"] == "starting", st["State"]
        c.settimeout(0.2)
        try:
            data = c.recv(100)
            raise AssertionError(f"answered before READY=1: {data!r}")
        except socket.timeout:
            pass
        c.settimeout(10)
        os.kill(st["MainPID"], signal.SIGUSR1)  # nsinetd-init forwards it
        assert recv_all(c) == b"notify-probe 1\n"
        c.close()
        d.wait_state("n", "running")
        st = status(d, "n")
        assert st["StatusText"] == "all good", st["StatusText"]
        assert st["History"][-1][2] == "READY=1", st["History"][-1]
        text = d.ctl_run("status", "n").stdout
        assert 'Status: "all good"' in text, text
        assert d.stop() == 0
        assert not d.leftovers(), d.leftovers()


def test_systemd_notify_from_a_shell():
    """A real program that speaks the protocol: systemd-notify, run by a
    shell script payload."""
    if not shutil.which("systemd-notify"):
        raise SkipTest("no systemd-notify (scripts/install-deps.sh check)")
    port = free_port()
    script = ("Exec=/bin/sh -c \"sleep 0.3; systemd-notify --ready "
              "--status='from the shell'; exec sleep 60\"")
    with Daemon({"sh": conf(port, service="Type=notify", exec_line=script)}) as d:
        d.start()
        d.ctl("start", "sh")
        d.wait_state("sh", "running")
        st = status(d, "sh")
        assert st["StatusText"] == "from the shell", st
        assert st["History"][-1][2] == "READY=1", st["History"][-1]


def test_start_timeout_counts():
    """StartTimeoutSec= ends a container that never sends READY=1, through
    failed; StartLimitBurst= of those suspends the service."""
    port = free_port()
    with Daemon({"slow": conf(port, ["PROBE_READY=never"],
                              "Type=notify\nStartTimeoutSec=300ms\nStartLimitBurst=2\n"
                              "StartLimitIntervalSec=30s")}) as d:
        d.start()
        with d.events("slow") as ev:
            c = connect(("127.0.0.1", port))
            ev.wait("suspended", timeout=15)
            states = [(e["NewState"], e["Reason"]) for e in ev.seen]
        c.close()
        assert ("failed", "start timeout") in states, states
        assert states.count(("failed", "start timeout")) == 2, states
        st = status(d, "slow")
        assert st["StartFailures"] == 2, st["StartFailures"]
        assert "not ready within StartTimeoutSec=300ms" in d.log()


def test_foreign_sender_refused():
    """A datagram from a process that is not the container's (the test, as
    host root, at the socket's host path) is refused; one with fds and a
    huge one from the container: fds closed, dropped, the daemon fine."""
    port = free_port()
    with Daemon({"f": conf(port, ["PROBE_READY=signal", "PROBE_EVIL=1"],
                           "Type=notify")}) as d:
        d.start()
        # The activator's slot holds /dev/null or, after a start, a copy of
        # nsinetd-init's fd: the two together are what must not change.
        # While the daemon clones (a spare, made at its start and again
        # after a take), the slot holds the new child's sync socket for a
        # moment: one fewer. So the count is the highest of a few reads,
        # and the last check waits out such a moment.
        def nulls_now():
            fds = daemon_fds(d)
            return fds.count("/dev/null") + sum(f.endswith("/nsinetd-init") for f in fds)
        wait_for(lambda: spare_pids(d.proc.pid), 10, "the daemon's spare")
        nulls = 0
        for _ in range(5):
            nulls = max(nulls, nulls_now())
            time.sleep(0.02)
        c = connect(("127.0.0.1", port))
        d.wait_state("f", "starting")
        ndir = os.path.join(d.runtime_dir, "notify")
        assert os.stat(ndir).st_mode & 0o777 == 0o700
        d.wait_log(r"dropping a notification of 65536 bytes")
        d.wait_log(r"sent file descriptors \(FDSTORE=\): not supported, closed")
        [sock] = os.listdir(ndir)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"READY=1\nSTATUS=forged", os.path.join(ndir, sock))
        s.close()
        d.wait_log(rf"f: refusing a notification from pid {os.getpid()}: not a process")
        st = status(d, "f")
        assert st["State"] == "starting" and st["StatusText"] == "with fds", st
        # The three /dev/null fds the container sent were closed.
        deadline = time.monotonic() + 5
        while nulls_now() != nulls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert nulls_now() == nulls, (nulls, daemon_fds(d))
        os.kill(st["MainPID"], signal.SIGUSR1)
        d.wait_state("f", "running")
        assert recv_all(c) == b"notify-probe 1\n"
        c.close()
        assert d.stop() == 0


def test_watchdog():
    """WatchdogSec=: pings keep it running; a missed one stops it (log line,
    WatchdogStops), and a connection queued meanwhile is served by the next
    container; WATCHDOG=trigger stops it at once."""
    port, port2 = free_port(), free_port()
    with Daemon({
            "wd": conf(port, ["PROBE_PINGS=6"], "Type=notify\nWatchdogSec=400ms"),
            "tr": conf(port2, ["PROBE_PINGS=-1", "PROBE_TRIGGER=1"], "WatchdogSec=5s"),
    }) as d:
        d.start()
        c = connect(("127.0.0.1", port))
        assert recv_all(c) == b"notify-probe 1\n"
        c.close()
        # Six pings at 200 ms: alive well past one period.
        time.sleep(0.8)
        assert status(d, "wd")["State"] == "running"
        with d.events("wd") as ev:
            ev.wait("stopping", timeout=5)
            # Hung now: this connection waits in the queue.
            c = connect(("127.0.0.1", port))
            ev.wait("running", timeout=10)
            states = [(e["NewState"], e["Reason"]) for e in ev.seen]
        assert ("stopping", "watchdog timeout") in states, states
        assert ("failed", "watchdog timeout") in states, states
        assert recv_all(c) == b"notify-probe 1\n"
        c.close()
        st = status(d, "wd")
        assert st["WatchdogStops"] == 1 and st["ColdStarts"] == 2, st
        assert "wd: watchdog: no WATCHDOG=1 in time (WatchdogSec=400ms)" in d.log()

        # Type=simple with a watchdog: WATCHDOG=trigger after a connection.
        c = connect(("127.0.0.1", port2))
        assert recv_all(c) == b"notify-probe 1\n"
        c.close()
        d.wait_state("tr", "stopped")
        assert status(d, "tr")["WatchdogStops"] == 1
        assert "tr: watchdog: WATCHDOG=trigger" in d.log()


def test_starting_is_never_idle():
    """A starting container is neither frozen nor stopped by the idle
    rules, however short."""
    port = free_port()
    with Daemon({"idle": conf(port, ["PROBE_READY=signal"],
                              "Type=notify\nIdleFreezeSec=100ms\nIdleStopSec=200ms")}) as d:
        d.start()
        c = connect(("127.0.0.1", port))
        d.wait_state("idle", "starting")
        time.sleep(2.5)
        st = status(d, "idle")
        assert st["State"] == "starting", st["State"]
        os.kill(st["MainPID"], signal.SIGUSR1)
        assert recv_all(c) == b"notify-probe 1\n"
        c.close()
        d.wait_state("idle", ("frozen", "stopped"), timeout=10)


if __name__ == "__main__":
    main([test_ready_after_signal, test_systemd_notify_from_a_shell, test_start_timeout_counts,
          test_foreign_sender_refused, test_watchdog, test_starting_is_never_idle])
