#!/usr/bin/python3
"""Stop, reload and life under systemd: nothing lost, nothing left behind."""
import json
import os
import re
import signal
import socket
import subprocess
import time

from nsitest import (NSINETD, Daemon, main, notify_until, probe_conf, probe_stream, free_port,
                     connect, recv_all, wait_for)


def listening_inodes(port):
    """Inodes of TCP sockets listening on port (from /proc/net/tcp{,6})."""
    found = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    found.add(inode)
    return found


def ctx_switches(pid):
    with open(f"/proc/{pid}/status") as f:
        return sum(int(l.split()[1]) for l in f if "ctxt_switches" in l)


def parked_pid(d, name):
    """The pid of the container parked for name, once it is."""
    d.wait_state(name, "parked")
    st = d.ctl("status", name)
    assert st["MainPID"] > 0 and st["ColdStarts"] == 0, st
    return st["MainPID"]


def test_prepare_parks_and_releases():
    """Prepare=yes: a container is set up ahead and parked before its exec,
    at idle priority and without a single wake-up; the first connection
    releases it (no clone on the connection's path); after an idle stop the
    next one is parked again; stopping the daemon leaves nothing."""
    port = free_port()
    conf = probe_conf(f"127.0.0.1:{port}", extra_container="Prepare=yes",
                      extra_service="IdleStopSec=1s")
    with Daemon({"pre": conf}) as d, d.start().events("pre") as ev:
        pid = parked_pid(d, "pre")
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        time.sleep(0.3)  # its setup done, waiting on the release socket
        before = ctx_switches(pid)
        time.sleep(1.0)
        assert ctx_switches(pid) == before, "a parked container woke up"
        # Nothing of the service ran: pid 1 has no child, nothing exec'd.
        assert open(f"/proc/{pid}/task/{pid}/children").read() == ""
        assert d.state("pre") == "parked"

        r = probe_stream(("127.0.0.1", port))
        assert r["pid"] == 2 and r["env"]["LISTEN_PID"] == "2", r
        # Released, not cloned on the connection's path: the parked one.
        assert ev.wait("starting")["Reason"] == "connection: released", ev.seen
        ev.wait("running")
        st = d.ctl("status", "pre")
        assert (st["MainPID"], st["ColdStarts"]) == (pid, 1), st
        assert os.sched_getscheduler(pid) == os.SCHED_OTHER
        # Idle stop, then the next one is parked.
        assert ev.wait("stopping", timeout=10)["Reason"].startswith("idle for 1"), ev.seen
        ev.wait("stopped")
        assert d.ctl("status", "pre")["LastExitStatus"] == 0
        assert ev.wait("parked")["Reason"] == "prepared", ev.seen
        second = d.ctl("status", "pre")["MainPID"]
        assert second not in (0, pid), second
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()
        assert not any(os.path.exists(f"/proc/{p}") for p in (pid, second))


def test_prepare_parked_container_killed():
    """A parked container that dies is no failure of the service: a warning,
    and the next connection starts a container the usual way."""
    port = free_port()
    conf = probe_conf(f"127.0.0.1:{port}", extra_container="Prepare=yes")
    with Daemon({"pk": conf}) as d, d.start().events("pk") as ev:
        os.kill(parked_pid(d, "pk"), signal.SIGKILL)
        assert ev.wait("stopped")["Reason"] == "parked container gone", ev.seen
        r = probe_stream(("127.0.0.1", port))
        assert r["pid"] == 2, r
        ev.wait("running")
        # Cloned for the connection (not released), and no failure counted.
        assert [(e["NewState"], e["Reason"]) for e in ev.seen] == [
            ("stopped", "parked container gone"), ("starting", "connection"),
            ("running", "started")], ev.seen
        st = d.ctl("status", "pk")
        assert st["StartFailures"] == 0 and st["SuspendedUntil"] == 0, st
        # The killed parked container executed nothing: one cold start,
        # the connection's (its sync socket's EOF is no exec).
        assert st["ColdStarts"] == 1, st
        assert len(re.findall(r"pk: started container pid", d.log())) == 1, d.log()
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_sigterm_leaves_nothing():
    ports = [free_port() for _ in range(3)]
    with Daemon() as d:
        for i, p in enumerate(ports):
            d.write(f"svc{i}", probe_conf(f"127.0.0.1:{p}"))
        d.start()
        for p in ports:
            assert probe_stream(("127.0.0.1", p))["pid"] == 2
        rows = d.ctl("list")
        pids = [r["MainPID"] for r in rows]
        assert len(set(pids)) == 3 and 0 not in pids, rows
        assert [r["ColdStarts"] for r in rows] == [1, 1, 1], rows
        base = d.cgroup_base()
        if base:
            assert os.path.isdir(base), f"no cgroup {base}"
        assert d.stop() == 0
        # A log check: the log at shutdown (no control socket by then).
        # Each probe got KillSignal= (SIGTERM) and exited cleanly.
        for pid in pids:
            assert f"container pid {pid} exited with status 0" in d.log(), (pid, d.log())
        assert d.leftovers() == [], d.leftovers()
        for p in ports:
            try:
                connect(("127.0.0.1", p), timeout=2).close()
                raise AssertionError(f"port {p} still accepts")
            except ConnectionRefusedError:
                pass


def test_stop_timeout_kills():
    port = free_port()
    conf = (f"[Socket]\nListenStream=127.0.0.1:{port}\n[Container]\n"
            "Exec=/bin/sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'\n"
            "[Service]\nStopTimeoutSec=1s\n")
    with Daemon({"stubborn": conf}) as d:
        d.start()
        s = connect(("127.0.0.1", port))
        d.wait_state("stubborn", "running")
        t0 = time.monotonic()
        assert d.stop() == 0
        took = time.monotonic() - t0
        s.close()
        # A log check: the warning at shutdown, in its words.
        assert "did not stop within StopTimeoutSec=1s after SIGTERM, killing it" in d.log()
        assert took < 10, took
        assert d.leftovers() == [], d.leftovers()


def test_reload_keeps_fd_and_connection():
    port, port2 = free_port(), free_port()
    with Daemon({"keep": probe_conf(f"127.0.0.1:{port}", env=["A=1"]),
                 "gone": probe_conf(f"127.0.0.1:{port2}")}) as d:
        d.start()
        before = listening_inodes(port)
        assert len(before) == 1
        assert probe_stream(("127.0.0.1", port))["env"]["LISTEN_FDS"] == "1"
        # Change the service (restarts its container), remove another,
        # add a third; the unchanged address keeps its socket.
        d.write("keep", probe_conf(f"127.0.0.1:{port}", env=["A=2", "PROBE_ENV=A"]))
        d.remove("gone")
        port3 = free_port()
        d.write("new", probe_conf(f"127.0.0.1:{port3}"))
        # A client that connects during the reload is queued, not refused.
        pending = connect(("127.0.0.1", port))
        old = d.ctl("status", "keep")["MainPID"]
        with d.events("keep") as ev:
            rep = d.ctl("reload")
            assert (rep["Added"], rep["Changed"], rep["Removed"], rep["Unchanged"],
                    rep["Errors"]) == (["new"], ["keep"], ["gone"], 0, []), rep
            assert listening_inodes(port) == before
            r = json.loads(recv_all(pending).decode())
            pending.close()
            # The old container serves until it has exited; then the new one.
            ev.wait("stopped")
        assert not os.path.exists(f"/proc/{old}") or \
            open(f"/proc/{old}/stat").read().rsplit(")", 1)[1].split()[0] == "Z", old
        r = probe_stream(("127.0.0.1", port))
        assert r["env"]["A"] == "2", r
        assert probe_stream(("127.0.0.1", port3))["listen_fds"] == 1
        wait_for(lambda: not listening_inodes(port2), 10, "removed service's socket closed")
        # An unchanged file: the same container goes on serving.
        st = d.ctl("status", "keep")
        rep = d.ctl("reload")
        assert (rep["Added"], rep["Changed"], rep["Removed"], rep["Unchanged"]) == \
            ([], [], [], 2), rep
        probe_stream(("127.0.0.1", port))
        after = d.ctl("status", "keep")
        assert (after["MainPID"], after["ColdStarts"]) == (st["MainPID"], st["ColdStarts"]), \
            (st, after)
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_reload_with_broken_file_keeps_running_version():
    port = free_port()
    with Daemon({"svc": probe_conf(f"127.0.0.1:{port}")}) as d:
        d.start()
        probe_stream(("127.0.0.1", port))
        d.write("svc", "[Socket]\nListenStream=nonsense\n")
        d.hup()
        # A log check: what SIGHUP reports, FILE:LINE, is the log's.
        d.wait_log(r"svc: configuration has errors, keeping the running version")
        assert "svc.conf:2:" in d.log()
        assert probe_stream(("127.0.0.1", port))["listen_fds"] == 1
        assert d.stop() == 0


def test_socket_activated_by_systemd_protocol():
    """nsinetd under a service manager: adopts passed sockets, notifies."""
    port = free_port()
    with Daemon({"adopt": probe_conf(f"127.0.0.1:{port}")}) as d:
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", port))
        lsock.listen(16)
        notify_path = os.path.join(d.tmp, "notify.sock")
        nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        nsock.bind(notify_path)
        nsock.settimeout(10)
        fd = lsock.fileno()

        def to_fd3():
            os.dup2(fd, 3)
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="adopt",
                   NOTIFY_SOCKET=notify_path)
        proc = subprocess.Popen(
            ["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh", NSINETD,
             "--config-dir", d.config_dir, "--runtime-dir", d.runtime_dir],
            env=env, preexec_fn=to_fd3, pass_fds=(fd,),
            stdout=d.logf if hasattr(d, "logf") else subprocess.DEVNULL,
            stderr=subprocess.STDOUT)
        try:
            msgs = []
            notify_until(nsock, msgs, lambda m: "READY=1" in m, "READY=1")
            # The passed socket is the one in use: ours is still the only
            # listener, and the daemon did not bind a second one.
            assert listening_inodes(port) == {str(os.fstat(fd).st_ino)}
            lsock.close()
            r = probe_stream(("127.0.0.1", port))
            assert r["listen_fds"] == 1
            notify_until(nsock, msgs, lambda m: "STATUS=" in m and "1 running" in m,
                         "STATUS= with 1 running")
            proc.terminate()
            notify_until(nsock, msgs, lambda m: "STOPPING=1" in m, "STOPPING=1")
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            nsock.close()


def test_sigkilled_daemon_cgroup_removed_by_next():
    """A daemon killed with SIGKILL leaves its cgroup directory; the next
    daemon removes it (and nothing that is not nsinetd's)."""
    from nsitest import SkipTest
    port = free_port()
    with Daemon({"k": probe_conf(f"127.0.0.1:{port}")}) as d:
        d.start()
        probe_stream(("127.0.0.1", port))
        base = d.cgroup_base()
        if not base:
            raise SkipTest("no cgroup v2 mounted")
        pid = d.ctl("status", "k")["MainPID"]
        assert pid > 0
        d.proc.kill()
        d.proc.wait()
        # PDEATHSIG: the container dies with its daemon.
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "container gone")
        assert os.path.isdir(base)
    with Daemon({"k": probe_conf(f"127.0.0.1:{port}")}) as d2:
        d2.start()
        assert not os.path.exists(base), base
        # A log check: a notice about an earlier daemon, no service's fact.
        assert f"removed the cgroup {base} of an earlier nsinetd" in d2.log(), d2.log()
        assert d2.stop() == 0


def test_systemd_delegation_moves_daemon_to_leaf():
    """Under systemd (INVOCATION_ID, Delegate=yes) the daemon moves itself to
    UNIT/supervisor and its containers go to UNIT/containers/NAME."""
    from nsitest import unit_cgroup
    port = free_port()
    with unit_cgroup(f"nsitest-unit-{os.getpid()}") as unit, \
            Daemon({"dlg": probe_conf(f"127.0.0.1:{port}")}) as d:
        def enter_unit():
            with open(os.path.join(unit, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        d.preexec = enter_unit
        d.start(extra_env={"INVOCATION_ID": "0123456789abcdef0123456789abcdef"})
        with open(f"/proc/{d.proc.pid}/cgroup") as f:
            assert f.read().strip().endswith(f"/nsitest-unit-{os.getpid()}/supervisor")
        probe_stream(("127.0.0.1", port))
        st = d.ctl("status", "dlg")
        pid = st["MainPID"]
        assert st["ControlGroup"].endswith(f"/nsitest-unit-{os.getpid()}/containers/dlg"), st
        payload = [p[0] for p in st["Processes"] if p[1] == pid]
        assert payload, st["Processes"]
        with open(f"/proc/{payload[0]}/cgroup") as f:
            assert f.read().strip().endswith(
                f"/nsitest-unit-{os.getpid()}/containers/dlg"), payload
        # pid 1 too, or (started in a spare, supervisor/spares.h) the
        # spares' cgroup beside it.
        with open(f"/proc/{pid}/cgroup") as f:
            cg = f.read().strip()
        assert cg.endswith((f"/nsitest-unit-{os.getpid()}/containers/dlg",
                            f"/nsitest-unit-{os.getpid()}/containers/:init")), cg
        assert d.stop() == 0
        assert not os.path.exists(os.path.join(unit, "containers"))


if __name__ == "__main__":
    main([test_sigterm_leaves_nothing, test_stop_timeout_kills,
          test_reload_keeps_fd_and_connection,
          test_reload_with_broken_file_keeps_running_version,
          test_socket_activated_by_systemd_protocol,
          test_sigkilled_daemon_cgroup_removed_by_next,
          test_systemd_delegation_moves_daemon_to_leaf,
          test_prepare_parks_and_releases, test_prepare_parked_container_killed])
