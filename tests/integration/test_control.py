#!/usr/bin/python3
"""The control socket and nsinetctl: every command, the state signals, who
may do what, and clients that misbehave, against the real daemon."""
import ctypes
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import time

from nsitest import (NSINETCTL, PROBE, Daemon, SkipTest, connect, free_port, main,
                     probe_conf, probe_stream, read_fd, readline, recv_all, tree_binds, wait_for)

STOPPED = "stopped"


def two_services():
    """web: one container (Accept=no); echo: one sandbox per connection."""
    web, echo = free_port(), free_port()
    return web, echo, {
        "web": probe_conf(f"127.0.0.1:{web}"),
        "echo": probe_conf(f"127.0.0.1:{echo}", extra_socket="Accept=yes"),
    }


def test_busctl_is_a_client():
    """Any D-Bus tool is a client: busctl introspects and calls through the
    socket, with no bus daemon (the daemon answers Hello itself)."""
    web, _, services = two_services()
    with Daemon(services) as d:
        d.start()
        address = f"--address=unix:path={d.runtime_dir}/control"
        out = subprocess.run(["busctl", address, "introspect", "org.nsinetd1", "/org/nsinetd1"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        for member in ("ListServices", "GetStatus", "Start", "StateChanged", "OpenShell"):
            assert member in out.stdout, (member, out.stdout)
        out = subprocess.run(["busctl", address, "--json=short", "call", "org.nsinetd1",
                              "/org/nsinetd1", "org.nsinetd1.Manager", "ListServices"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)["data"][0]
        assert sorted(r["Name"]["data"] for r in rows) == ["echo", "web"], rows
        st = os.stat(f"{d.runtime_dir}/control")
        assert st.st_mode & 0o777 == 0o600 and st.st_uid == 0, oct(st.st_mode)


def test_list_status_show():
    """list, status and show tell what a connection did: the state, the pid,
    the cold start, the processes as the cgroup has them, the history, the
    effective configuration with its defaults; for Accept=yes, accepted and
    refused connections by reason and by listener."""
    web, echo, services = two_services()
    limited = free_port()
    services["limited"] = probe_conf(f"127.0.0.1:{limited}",
                                     extra_socket="Accept=yes\nMaxConnectionsPerSource=1",
                                     env=["PROBE_SLEEP_MS=2000"])
    with Daemon(services) as d:
        d.start()
        rows = {r["Name"]: r for r in d.ctl("list")}
        assert rows["web"]["State"] == STOPPED and rows["web"]["MainPID"] == 0, rows
        assert rows["web"]["Accept"] is False and rows["echo"]["Accept"] is True
        assert rows["web"]["Listen"] == [f"127.0.0.1:{web}"], rows
        assert rows["web"]["ColdStarts"] == 0

        r = probe_stream(("127.0.0.1", web))
        d.wait_state("web", "running")
        rows = {r["Name"]: r for r in d.ctl("list")}
        assert rows["web"]["ColdStarts"] == 1 and rows["web"]["LastColdStartUSec"] > 0, rows
        main_pid = rows["web"]["MainPID"]
        assert main_pid > 0 and os.path.exists(f"/proc/{main_pid}")

        st = d.ctl("status", "web")
        assert st["State"] == "running" and st["MainPID"] == main_pid
        assert st["File"].endswith("/web.conf"), st["File"]
        pids = [p[0] for p in st["Processes"]]
        assert main_pid in pids and len(pids) == 2, st["Processes"]
        # The payload is pid 1's child, and runs the probe.
        child = [p for p in st["Processes"] if p[1] == main_pid]
        assert child and PROBE in child[0][3], st["Processes"]
        assert os.path.isdir(st["ControlGroup"]), st["ControlGroup"]
        assert isinstance(st["CPUUsageUSec"], int), st["CPUUsageUSec"]
        # No memory controller in this cgroup v2: said, not made up.
        mem = os.path.join(st["ControlGroup"], "memory.current")
        assert (st["MemoryCurrent"] == "not available") == (not os.path.exists(mem))
        assert [h[1] for h in st["History"]][-2:] == [STOPPED, "running"] or \
            "running" in [h[1] for h in st["History"]], st["History"]
        assert st["Listeners"][0][0] == f"127.0.0.1:{web}" and st["Listeners"][0][2] == 0

        # Accept=yes: counted connections, no main pid.
        probe_stream(("127.0.0.1", echo))
        probe_stream(("127.0.0.1", echo))
        wait_for(lambda: d.ctl("status", "echo")["Accepted"] == 2, 10, "2 accepted")
        st = d.ctl("status", "echo")
        assert st["ColdStarts"] == 2 and st["Refused"] == 0 and st["MainPID"] == 0, st
        assert st["Listeners"][0][4:] == [2, 0], st["Listeners"]

        # A refusal, counted by its reason and on its listener.
        with connect(("127.0.0.1", limited)) as first:
            wait_for(lambda: d.ctl("status", "limited")["Sandboxes"] == 1, 10, "1 sandbox")
            with connect(("127.0.0.1", limited)) as second:
                assert recv_all(second) == b"", "the second connection was served"
        st = d.ctl("status", "limited")
        assert (st["Accepted"], st["Refused"], st["RefusedPerSource"],
                st["RefusedNoSandbox"], st["RefusedSuspended"]) == (2, 1, 1, 0, 0), st
        assert st["Listeners"][0][4:] == [2, 1], st["Listeners"]

        show = d.ctl("show", "web")
        keys = {(s["Section"], s["Key"]): s for s in show}
        assert keys[("Socket", "ListenStream")]["Value"] == f"127.0.0.1:{web}"
        assert keys[("Socket", "ListenStream")]["Default"] is False
        assert keys[("Service", "StopTimeoutSec")]["Value"] == "5s"
        assert keys[("Socket", "Backlog")]["Default"] is True
        text = d.ctl_run("show", "web").stdout
        assert f"ListenStream=127.0.0.1:{web}\n" in text and "#Backlog=" in text, text
        text = d.ctl_run("status", "web").stdout
        assert "State: running" in text and f"{main_pid} " in text, text
        assert d.stop() == 0


def test_commands_and_state_signals():
    """start, freeze, thaw, restart, stop: each answers once its transition
    is done, and a subscribed client sees every change with its reason and
    how long the old state lasted."""
    web, _, services = two_services()
    with Daemon(services) as d:
        d.start()
        with d.events("web") as ev:
            assert d.ctl("start", "web") == {"Name": "web", "State": "running"}
            e = ev.wait("running")
            assert e["Name"] == "web" and e["USecInOldState"] > 0, e
            pid = d.ctl("status", "web")["MainPID"]

            assert d.ctl("freeze", "web")["State"] == "frozen"
            e = ev.wait("frozen")
            assert "freeze" in e["Reason"], e
            cg = d.ctl("status", "web")["ControlGroup"]
            assert open(f"{cg}/cgroup.freeze").read().strip() == "1"

            assert d.ctl("thaw", "web")["State"] == "running"
            assert "thaw" in ev.wait("running")["Reason"]
            assert open(f"{cg}/cgroup.freeze").read().strip() == "0"
            # A thawed container serves, from the same process.
            assert probe_stream(("127.0.0.1", web))["pid"] == 2
            assert d.ctl("status", "web")["MainPID"] == pid

            assert d.ctl("restart", "web")["State"] == "running"
            ev.wait("stopping")
            ev.wait("running")
            new = d.ctl("status", "web")["MainPID"]
            assert new != pid and new > 0

            assert d.ctl("stop", "web")["State"] == STOPPED
            ev.wait(STOPPED)
            assert not os.path.exists(f"/proc/{new}") or \
                open(f"/proc/{new}/stat").read().split(")")[1].split()[0] == "Z"
            # Stopped by request: the next connection starts it again.
            assert probe_stream(("127.0.0.1", web))["pid"] == 2
            ev.wait("running")
        assert d.stop() == 0


def test_errors_and_exit_codes():
    """The wrong service, the wrong state, the wrong mode, the wrong words:
    a clear error naming the service and the reason, and systemctl's exit
    codes (4: no such service, 1: failed, 2: usage)."""
    web, echo, services = two_services()
    with Daemon(services) as d:
        d.start()
        r = d.ctl_run("status", "nope")
        assert r.returncode == 4 and "nope: no such service" in r.stderr, r
        r = d.ctl_run("--json=short", "stop", "nope")
        assert r.returncode == 4 and json.loads(r.stdout)["error"].endswith("NoSuchService")
        r = d.ctl_run("freeze", "web")
        assert r.returncode == 1 and "web: cannot freeze: the service is " + STOPPED in \
            r.stderr, r
        r = d.ctl_run("thaw", "web")
        assert r.returncode == 1 and "web: cannot thaw" in r.stderr, r
        r = d.ctl_run("start", "echo")
        assert r.returncode == 1 and "Accept=yes" in r.stderr, r
        r = d.ctl_run("status", "a" * 300)
        assert r.returncode == 1 and "longer than 256" in r.stderr, r
        for args in (["status"], ["list", "x"], ["frobnicate"], ["--json=loud", "list"],
                     ["logs", "web", "-n", "x"]):
            r = d.ctl_run(*args)
            assert r.returncode == 2 and r.stderr, (args, r)
        # Stopping what is stopped is done already, not an error.
        assert d.ctl("stop", "web")["State"] == STOPPED
        r = subprocess.run([NSINETCTL, "--runtime-dir", "/nonexistent", "list"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "is nsinetd running" in r.stderr, r
        assert probe_stream(("127.0.0.1", web))["pid"] == 2
        assert d.stop() == 0


def test_list_wakes_nothing():
    """list and status read the daemon's memory and the cgroup's files: a
    frozen container stays frozen, a stopped service stays stopped."""
    web, frozen = free_port(), free_port()
    with Daemon({"web": probe_conf(f"127.0.0.1:{web}"),
                 "cold": probe_conf(f"127.0.0.1:{frozen}",
                                    extra_service="IdleFreezeSec=1s")}) as d:
        d.start()
        probe_stream(("127.0.0.1", frozen))
        d.wait_state("cold", "frozen", timeout=15)
        cg = d.ctl("status", "cold")["ControlGroup"]
        for _ in range(100):
            d.ctl("list")
            d.ctl("status", "cold")
            d.ctl("status", "web")
        assert d.state("cold") == "frozen" and d.state("web") == STOPPED
        assert open(f"{cg}/cgroup.events").read().count("frozen 1") == 1
        assert d.ctl("status", "web")["ColdStarts"] == 0
        assert d.stop() == 0


def test_logs():
    """logs gives the last lines of a service's output, logs -f the new ones
    as they come, without the daemon's own messages."""
    port = free_port()
    conf = ("[Socket]\nListenStream=127.0.0.1:%d\nAccept=yes\n[Container]\nStandardInput=socket\n"
            "Exec=/bin/sh -c 'echo served-$$ >&2; echo hi'\n%s\n"
            % (port, tree_binds()))
    with Daemon({"talk": conf}) as d:
        d.start()
        for _ in range(3):
            with connect(("127.0.0.1", port)) as s:
                assert recv_all(s) == b"hi\n"
        wait_for(lambda: len(d.ctl("logs", "talk")) == 3, 10, "3 lines")
        lines = d.ctl("logs", "talk", "-n", "2")
        assert len(lines) == 2 and all(l[2].startswith("served-") for l in lines), lines

        f = subprocess.Popen([NSINETCTL, "--runtime-dir", d.runtime_dir, "--json=short",
                              "logs", "talk", "-f", "-n", "0"],
                             stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)
            with connect(("127.0.0.1", port)) as s:
                recv_all(s)
            line = json.loads(readline(f.stdout, 10, "a line from nsinetctl logs -f"))
            assert line["Line"].startswith("served-") and line["PID"] > 0, line
        finally:
            f.kill()
            f.wait()
        assert d.stop() == 0


def test_reload_reports():
    """reload waits, says what it added, changed and removed, and names every
    error by FILE:LINE; the services it did not touch keep serving."""
    web, _, services = two_services()
    with Daemon(services) as d:
        d.start()
        new = free_port()
        d.write("new", probe_conf(f"127.0.0.1:{new}"))
        path = d.write("bad", "[Socket]\nListenStream=127.0.0.1:%d\nBogus=1\n" % free_port())
        r = d.ctl_run("reload")
        assert r.returncode == 1, r
        assert "Added new" in r.stdout and f"{path}:3:" in r.stderr and "Bogus" in r.stderr, r
        d.remove("bad")
        d.remove("echo")
        rep = d.ctl("reload")
        assert rep["Removed"] == ["echo"] and rep["Errors"] == [] and rep["Added"] == [], \
            (rep, d.log()[-4000:])
        assert probe_stream(("127.0.0.1", new))["pid"] == 2
        assert probe_stream(("127.0.0.1", web))["pid"] == 2
        assert d.stop() == 0


def _as_nobody(gid):
    def preexec():
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(65534, 65534, 65534)
    return preexec


def test_who_may_do_what():
    """Root may do everything; --control-group's members may read; anybody
    else is refused at the door (SO_PEERCRED), even one who got past the
    socket's mode."""
    web, _, services = two_services()
    with Daemon(services, args=["--control-group", "nogroup"]) as d:
        os.chmod(d.tmp, 0o711)
        d.start()
        ctl = [NSINETCTL, "--runtime-dir", d.runtime_dir]
        st = os.stat(f"{d.runtime_dir}/control")
        assert st.st_mode & 0o777 == 0o660 and st.st_gid == 65534, oct(st.st_mode)
        r = subprocess.run(ctl + ["--json=short", "list"], capture_output=True, text=True,
                           preexec_fn=_as_nobody(65534), timeout=30)
        assert r.returncode == 0 and len(json.loads(r.stdout)) == 2, r
        r = subprocess.run(ctl + ["stop", "web"], capture_output=True, text=True,
                           preexec_fn=_as_nobody(65534), timeout=30)
        assert r.returncode == 4 and "only root may do this" in r.stderr, r
        r = subprocess.run(ctl + ["shell", "web", "true"], capture_output=True, text=True,
                           preexec_fn=_as_nobody(65534), timeout=30)
        assert r.returncode == 4 and "only root" in r.stderr, r

        # Past the mode (fsuid 0) but neither root nor in the group: closed
        # before a word is read.
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(rd)
                libc = ctypes.CDLL(None, use_errno=True)
                os.setgroups([])
                os.setresgid(1, 1, 1)
                os.setresuid(65534, 65534, 0)
                libc.setfsuid(0)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(10)
                s.connect(f"{d.runtime_dir}/control")
                # Closed at once: the write may find it closed already.
                try:
                    s.sendall(b"\0AUTH EXTERNAL 3635353334\r\n")
                    got = s.recv(100)
                except (ConnectionResetError, BrokenPipeError):
                    got = b""
                os.write(wr, b"closed" if got == b"" else b"answered: " + got)
            except BaseException as e:  # noqa: BLE001 - said to the parent
                os.write(wr, repr(e).encode())
            finally:
                os._exit(0)
        os.close(wr)
        got = read_fd(rd, 30, "the unprivileged client's verdict on the control socket")
        os.waitpid(pid, 0)
        os.close(rd)
        assert got == b"closed", got
        d.wait_log(r"refused a client with uid 65534: neither root nor in the control group")
        assert probe_stream(("127.0.0.1", web))["pid"] == 2
        assert d.stop() == 0

    with Daemon(services) as d:
        os.chmod(d.tmp, 0o711)
        d.start()
        r = subprocess.run([NSINETCTL, "--runtime-dir", d.runtime_dir, "list"],
                           capture_output=True, text=True, preexec_fn=_as_nobody(65534),
                           timeout=30)
        assert r.returncode == 1 and "Permission denied" in r.stderr, r
        assert d.stop() == 0


def _auth(s):
    s.sendall(b"\0AUTH EXTERNAL 30\r\n")
    assert s.recv(200).startswith(b"OK "), "no OK after AUTH"
    s.sendall(b"BEGIN\r\n")


def _closed(s, timeout):
    s.settimeout(timeout)
    try:
        while True:
            if s.recv(65536) == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_bad_clients():
    """Garbage, a message that claims 4 GiB, a client that never
    authenticates, one that never reads its signals, a thousand at once:
    each is refused or dropped, and the services keep serving."""
    web, _, services = two_services()
    flood = free_port()
    services["flood"] = (
        "[Socket]\nListenStream=127.0.0.1:%d\n[Container]\n"
        "Exec=/bin/sh -c 'while :; do echo flood-line-with-some-text-to-fill-the-buffers; "
        "done'\n%s\n" % (flood, tree_binds()))
    with Daemon(services) as d:
        d.start()
        path = f"{d.runtime_dir}/control"

        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b"\0GARBAGE\r\n" * 50)
        assert _closed(s, 10), "garbage did not end the connection"
        s.close()

        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        _auth(s)
        # A method call header whose body is 4 GiB - 16 bytes.
        s.sendall(struct.pack("<cBBBIII", b"l", 1, 0, 1, 0xfffffff0, 1, 0))
        assert _closed(s, 10), "an oversized message did not end the connection"
        s.close()

        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        t0 = time.monotonic()
        assert _closed(s, 15), "a silent client was never dropped"
        assert time.monotonic() - t0 >= 4
        s.close()

        # Follows the flood's output, and is stopped: it never reads.
        f = subprocess.Popen([NSINETCTL, "--runtime-dir", d.runtime_dir, "logs", "flood", "-f"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        os.kill(f.pid, signal.SIGSTOP)
        try:
            connect(("127.0.0.1", flood)).close()
            d.wait_log(r"control: client \d+ .*does not read what it is sent", timeout=60)
        finally:
            os.kill(f.pid, signal.SIGKILL)
            f.wait()
            f.stdout.close()
        d.ctl("stop", "flood")

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), max(hard, 4096)))
        many = []
        try:
            for _ in range(1000):
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.setblocking(False)
                try:
                    c.connect(path)
                except BlockingIOError:
                    pass
                many.append(c)
            # Serving goes on meanwhile.
            assert probe_stream(("127.0.0.1", web))["pid"] == 2
            d.wait_log(r"control: refused a client with uid 0: too many clients")
        finally:
            for c in many:
                c.close()
        wait_for(lambda: d.ctl_run("list").returncode == 0, 15, "list after the flood")
        assert probe_stream(("127.0.0.1", web))["pid"] == 2
        assert d.stop() == 0
        assert not d.leftovers(), d.leftovers()


def _status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


def test_shell():
    """shell runs a command in the container as its payload runs: the same
    namespaces, root, user, capabilities, filter and cgroup, with nothing of
    the host but three pipes; it starts a stopped container and thaws a
    frozen one; its exit status is nsinetctl's."""
    web, _, services = two_services()
    services["web"] = probe_conf(f"127.0.0.1:{web}", extra_service="IdleFreezeSec=1s")
    with Daemon(services) as d:
        d.start()
        # Stopped: started first.
        r = d.ctl_run("shell", "web", "/bin/sh", "-c", "echo out; echo err >&2; exit 7")
        assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n"), r
        st = d.ctl("status", "web")
        payload = [p[0] for p in st["Processes"] if p[1] == st["MainPID"]][0]

        # What the command is, seen from the host while it runs.
        sh = subprocess.Popen([NSINETCTL, "--runtime-dir", d.runtime_dir, "shell", "web",
                               "/bin/sh", "-c", "echo $$; read x"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        inner_pid = int(readline(sh.stdout, 10, "the shell's pid from nsinetctl shell"))
        procs = d.ctl("status", "web")["Processes"]
        host_pid = [p[0] for p in procs if p[0] not in (st["MainPID"], payload)]
        assert len(host_pid) == 1, procs
        host_pid = host_pid[0]
        with open(f"/proc/{host_pid}/status") as f:
            nspid = [l.split()[-1] for l in f if l.startswith("NSpid:")][0]
        assert int(nspid) == inner_pid, (nspid, inner_pid)
        for ns in ("mnt", "pid", "net", "uts", "ipc", "cgroup", "user"):
            assert os.readlink(f"/proc/{host_pid}/ns/{ns}") == \
                os.readlink(f"/proc/{payload}/ns/{ns}"), ns
        mine, theirs = _status_of(host_pid), _status_of(payload)
        for key in ("Uid", "Gid", "CapEff", "CapBnd", "CapPrm", "NoNewPrivs", "Seccomp"):
            assert mine[key] == theirs[key], (key, mine[key], theirs[key])
        assert mine["Seccomp"] == "2" and mine["NoNewPrivs"] == "1"
        assert open(f"/proc/{host_pid}/cgroup").read() == open(f"/proc/{payload}/cgroup").read()
        assert sorted(os.listdir(f"/proc/{host_pid}/fd")) == ["0", "1", "2"]
        assert os.readlink(f"/proc/{host_pid}/root") == "/"  # the container's, seen from it
        assert os.stat(f"/proc/{host_pid}/root/").st_ino == os.stat(f"/proc/{payload}/root/").st_ino
        sh.stdin.write("\n")
        sh.stdin.close()
        assert sh.wait(10) == 0
        sh.stdout.close()

        # Frozen: thawed, and the idle clock starts again.
        d.wait_state("web", "frozen", timeout=15)
        r = d.ctl_run("shell", "web", "/bin/true")
        assert r.returncode == 0, r
        assert d.state("web") in ("running", "frozen")
        r = d.ctl_run("shell", "web", "/nonexistent")
        assert r.returncode == 127 and "web: cannot run /nonexistent: No such file" in \
            r.stderr, r
        r = d.ctl_run("shell", "echo", "/bin/true")
        assert r.returncode == 1 and "Accept=yes" in r.stderr, r
        assert probe_stream(("127.0.0.1", web))["pid"] == 2
        assert d.stop() == 0
        assert not d.leftovers(), d.leftovers()


def test_shell_tty():
    """From a terminal the command gets a pseudo-terminal of the container's
    own devpts, as its controlling terminal."""
    import pty
    web, _, services = two_services()
    with Daemon(services) as d:
        d.start()
        pid, master = pty.fork()
        if pid == 0:
            os.execv(NSINETCTL, [NSINETCTL, "--runtime-dir", d.runtime_dir, "shell", "web",
                                 "/bin/sh", "-c", "tty; stat -f -c %T /dev/pts; "
                                 "echo TERM=$TERM; exit 4"])
        out = read_fd(master, 30, "the output of nsinetctl shell on its terminal, to its end")
        _, status = os.waitpid(pid, 0)
        os.close(master)
        text = out.decode(errors="replace")
        assert os.waitstatus_to_exitcode(status) == 4, (status, text)
        lines = [l.strip() for l in text.splitlines()]
        assert lines[0].startswith("/dev/pts/"), text
        assert "devpts" in text and "TERM=" in text, text
        assert d.stop() == 0


if __name__ == "__main__":
    main([test_busctl_is_a_client, test_list_status_show, test_commands_and_state_signals,
          test_errors_and_exit_codes, test_list_wakes_nothing, test_logs, test_reload_reports,
          test_who_may_do_what, test_bad_clients, test_shell, test_shell_tty])
