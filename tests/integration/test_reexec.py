#!/usr/bin/python3
"""Re-exec in place (nsinetctl daemon-reexec, SIGUSR2): the same process runs
the daemon's binary again, and clients notice nothing. Listeners, running and
frozen containers, Accept=yes connections in flight and counters survive; a
re-exec that cannot happen leaves the daemon as it was and says why; a state
the new binary cannot read is refused and the daemon starts clean."""
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import tempfile
import threading
import time

import nsitest
from nsitest import (BUILD, Daemon, SkipTest, connect, fd_count_settled, fd_links, free_port,
                     http_get, main, recv_all, wait_for)
from test_accept import settled, shell_conf
from test_network import (SERVER_PORT, V4_CT, V4_HOST, Netns, ask, daemon_netns_fds,
                          netcheck_conf, sock_path)
from test_services import example_conf

LIGHTTPD = "/usr/sbin/lighttpd"


def need_lighttpd():
    if not os.path.exists(LIGHTTPD):
        raise SkipTest(f"{LIGHTTPD} is not installed (scripts/install-deps.sh installs it)")


def reexec(d):
    """nsinetctl daemon-reexec; the new daemon's re-exec count."""
    r = d.ctl_run("daemon-reexec", timeout=60)
    assert r.returncode == 0, (r.returncode, r.stderr, d.log()[-3000:])
    assert r.stdout.startswith(f"re-executed: pid {d.proc.pid}, re-exec #"), r.stdout
    return int(r.stdout.rsplit("#", 1)[1])


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fds_back_to(d, n):
    """Waits for the daemon's fd count to be n again (the control client
    just served is closed when the daemon reads its EOF); a leak stays."""
    try:
        wait_for(lambda: fd_count(d.proc.pid) == n, 5, f"the daemon's fds to be {n} again")
    except AssertionError:
        raise AssertionError(f"fds: {n} before, {fd_count(d.proc.pid)} after: "
                             f"{sorted(os.listdir(f'/proc/{d.proc.pid}/fd'))}") from None


def echo(port, word, timeout=10.0):
    with connect(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(word.encode() + b"\n")
        return recv_all(c)


class Load:
    """A bounded load: one client after the other, HTTP to web and a line to
    the Accept=yes service, until stopped; every failure is kept."""

    def __init__(self, web, acc):
        self.web, self.acc = web, acc
        self.done = self.failed = 0
        self.errors = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop_event.is_set():
            i += 1
            try:
                if i % 2:
                    status, _ = http_get("127.0.0.1", self.web, timeout=20)
                    assert status == 200, status
                else:
                    assert echo(self.acc, f"w{i}", timeout=20) == f"got w{i}\n".encode()
                self.done += 1
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failed += 1
                self.errors.append(repr(e))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the load did not end within 60 s"


def two_services(web, acc, web_extra=""):
    conf = example_conf("lighttpd", web)
    if web_extra:
        # [Service] is the file's last section: the later value wins.
        assert conf.rstrip().rsplit("\n[", 1)[1].startswith("Service]"), conf
        conf = conf.rstrip("\n") + "\n" + web_extra + "\n"
    return {"web": conf, "acc": shell_conf(f"127.0.0.1:{acc}", "read l; echo got $l")}


@contextlib.contextmanager
def lighttpd_running(web_extra=""):
    """A daemon with web (lighttpd, running) and acc (Accept=yes): the daemon,
    both ports and web's pid."""
    need_lighttpd()
    web, acc = free_port(), free_port()
    with Daemon(two_services(web, acc, web_extra)) as d:
        d.start()
        assert http_get("127.0.0.1", web)[0] == 200
        yield d, web, acc, d.ctl("status", "web")["MainPID"]


def test_load_and_containers_survive_reexecs():
    """Five re-execs under load: no request fails, lighttpd keeps its pid
    and serves on, the counters go on from where they were."""
    with lighttpd_running() as (d, web, acc, pid):
        before = d.ctl("status", "web")
        assert before["State"] == "running", before
        counts = []
        with Load(web, acc) as load:
            wait_for(lambda: load.done >= 5, 30, "the load's first requests")
            for _ in range(5):
                counts.append(reexec(d))
                n = load.done
                wait_for(lambda: load.done >= n + 4 or load.failed, 30,
                         "requests served after the re-exec")
        assert load.failed == 0, (load.failed, load.errors[:5], d.log()[-3000:])
        assert counts == [1, 2, 3, 4, 5], counts
        after = d.ctl("status", "web")
        assert after["MainPID"] == before["MainPID"] and after["State"] == "running", after
        # One container all along: no cold start since the first.
        assert after["ColdStarts"] == 1, after
        status, body = http_get("127.0.0.1", web)
        assert status == 200 and b"Hello from lighttpd" in body, body
        # Every Accept=yes connection counted, across the five daemons.
        got = d.ctl("status", "acc")["Accepted"]
        assert got == load.done // 2 and got >= 1, (got, load.done)
        assert d.ctl("status", "acc")["ColdStarts"] == got
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_frozen_stays_frozen_and_thaws_on_a_connection():
    with lighttpd_running("IdleFreezeSec=1s") as (d, web, acc, pid):
        d.wait_state("web", "frozen", timeout=15)
        reexec(d)
        st = d.ctl("status", "web")
        assert (st["State"], st["MainPID"]) == ("frozen", pid), st
        with open(os.path.join(d.cgroup_base(), "web", "cgroup.freeze")) as f:
            assert f.read().strip() == "1", "the cgroup was thawed by the re-exec"
        with d.events("web") as ev:
            assert http_get("127.0.0.1", web)[0] == 200
            ev.wait("running")
        assert d.ctl("status", "web")["MainPID"] == pid
        assert d.stop() == 0


def test_held_freeze_survives():
    """nsinetctl freeze holds across a re-exec: a connection waits, thaw
    serves it."""
    with lighttpd_running() as (d, web, acc, pid):
        d.ctl("freeze", "web")
        reexec(d)
        assert d.state("web") == "frozen"
        with connect(("127.0.0.1", web)) as c:
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            c.settimeout(0.5)
            try:
                early = c.recv(1)
            except socket.timeout:
                early = None
            assert early is None, "a held container answered"
            d.ctl("thaw", "web")
            c.settimeout(10)
            assert recv_all(c).startswith(b"HTTP/1.0 200"), "no answer after the thaw"
        assert d.stop() == 0


def test_user_namespace_kept():
    """A service's next container, after a re-exec, joins the user namespace
    (the uid range) of the one before it: no other service may get that
    range while the handed-over container runs."""
    with lighttpd_running() as (d, web, acc, pid):
        ns = os.readlink(f"/proc/{pid}/ns/user")
        with open(f"/proc/{pid}/uid_map") as f:
            uid_map = f.read().split()
        assert uid_map[1] != "0", uid_map  # PrivateUsers= by default
        reexec(d)
        assert d.ctl("stop", "web")["State"] == "stopped"
        assert http_get("127.0.0.1", web)[0] == 200
        new = d.ctl("status", "web")["MainPID"]
        assert new != pid
        assert os.readlink(f"/proc/{new}/ns/user") == ns
        assert echo(acc, "x") == b"got x\n"
        assert d.stop() == 0


def test_accept_connection_in_flight_completes():
    web, acc = free_port(), free_port()
    # It writes to stderr after the re-exec: its pipe is still read.
    with Daemon({"acc": shell_conf(f"127.0.0.1:{acc}",
                                   "read l; echo err $l >&2; echo got $l")}) as d:
        d.start()
        with connect(("127.0.0.1", acc)) as c:
            wait_for(lambda: d.ctl("status", "acc")["Sandboxes"] == 1, 10,
                     "the sandbox serving the connection")
            reexec(d)
            c.sendall(b"late\n")
            assert recv_all(c) == b"got late\n"
        # Reaped by the new daemon: its cgroup goes too.
        base = d.cgroup_base()
        acc_cgroup = os.path.join(base, "acc")
        wait_for(lambda: not os.path.isdir(acc_cgroup) or
                 not [e for e in os.scandir(acc_cgroup) if e.is_dir()],
                 10, "the sandbox's cgroup to be removed")
        assert echo(acc, "next") == b"got next\n"
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_suspension_survives():
    """A service suspended by StartLimitBurst= stays suspended through a
    re-exec, until the same time: a connection meanwhile is accepted and
    closed, not a start."""
    port = free_port()
    with Daemon({"bad": f"[Socket]\nListenStream=127.0.0.1:{port}\n[Container]\n"
                        f"Exec=/nonexistent\n{nsitest.tree_binds()}\n[Service]\n"
                        "StartLimitIntervalSec=600s\n"}) as d:
        d.start()
        with d.events("bad") as ev, connect(("127.0.0.1", port)):
            ev.wait("suspended", timeout=30)
        before = d.ctl("status", "bad")
        reexec(d)
        st = d.ctl("status", "bad")
        assert st["State"] == "suspended", st
        # The same monotonic deadline, seen through the wall clock of two
        # calls: equal but for the conversion's rounding.
        assert abs(st["SuspendedUntil"] - before["SuspendedUntil"]) < 1000, (before, st)
        assert (st["StartFailures"], st["ColdStarts"]) == (5, 0), st
        with connect(("127.0.0.1", port)) as c:
            assert recv_all(c) == b"", "a suspended service answered"
        assert d.ctl("status", "bad")["StartFailures"] == 5
        assert d.stop() == 0


def test_changed_and_removed_services_are_reloaded():
    """A service whose file changed gets a new container (the old one is
    stopped as by a reload); a removed one's socket is closed."""
    with lighttpd_running() as (d, web, acc, pid):
        old = pid
        d.write("web", two_services(web, acc, "IdleStopSec=300s")["web"])
        d.remove("acc")
        reexec(d)
        wait_for(lambda: not os.path.exists(f"/proc/{old}") or nsitest._is_zombie(old), 15,
                 f"the old container {old} to stop")
        assert http_get("127.0.0.1", web)[0] == 200
        st = d.ctl("status", "web")
        assert st["State"] == "running" and st["MainPID"] not in (0, old), st
        names = [s["Name"] for s in d.ctl("list")]
        assert names == ["web"], names
        try:
            connect(("127.0.0.1", acc), timeout=2).close()
            raise AssertionError("the removed service's socket still accepts")
        except ConnectionRefusedError:
            pass
        assert d.stop() == 0


def test_failed_exec_leaves_the_daemon_running():
    """The daemon started from a copy of its binary that is then deleted:
    the re-exec fails, and says why, to nsinetctl and in the log; SIGUSR2
    too; a new file at the same path is then the one executed."""
    tmp = tempfile.mkdtemp(prefix="nsitest-bin-")
    copy = os.path.join(tmp, "nsinetd")
    try:
        shutil.copy2(nsitest.NSINETD, copy)
        shutil.copy2(os.path.join(BUILD, "supervisor", "nsinetd-init"), tmp)
        acc = free_port()
        saved, nsitest.NSINETD = nsitest.NSINETD, copy
        try:
            d = Daemon({"acc": shell_conf(f"127.0.0.1:{acc}", "read l; echo got $l")})
            d.start()
        finally:
            nsitest.NSINETD = saved
        with d:
            assert echo(acc, "one") == b"got one\n"
            settled(d, "acc")
            # Settled: the spare network namespaces are made meanwhile.
            fds = fd_count_settled(d.proc.pid)
            os.unlink(copy)
            r = d.ctl_run("daemon-reexec")
            assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
            assert (f"re-exec failed, the daemon goes on: cannot execute {copy}: "
                    "No such file or directory") in r.stderr, r.stderr
            d.proc.send_signal(signal.SIGUSR2)
            d.wait_log(r"re-exec failed, this daemon goes on: cannot execute", count=2)
            assert d.proc.poll() is None
            assert echo(acc, "two") == b"got two\n"
            st = settled(d, "acc")
            assert st["Accepted"] == 2, st
            fds_back_to(d, fds)  # the failed re-execs left none open
            # An upgrade: a binary at the path it was started from.
            shutil.copy2(nsitest.NSINETD, copy)
            assert reexec(d) == 1
            assert echo(acc, "three") == b"got three\n"
            assert d.ctl("status", "acc")["Accepted"] == 3
            assert d.stop() == 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_notify_container_handed_over():
    """A running Type=notify container with a watchdog keeps its pid and its
    notification socket: its pings keep it running under the new daemon, and
    a WATCHDOG=trigger sent after the re-exec reaches the new daemon."""
    from test_notify import conf
    port, port2 = free_port(), free_port()
    with Daemon({"wd": conf(port, ["PROBE_PINGS=-1"], "Type=notify\nWatchdogSec=400ms"),
                 "tr": conf(port2, ["PROBE_PINGS=-1", "PROBE_TRIGGER=1"],
                            "Type=notify\nWatchdogSec=5s")}) as d:
        d.start()
        assert recv_all(connect(("127.0.0.1", port))) == b"notify-probe 1\n"
        assert d.ctl("start", "tr")["State"] == "running"
        wd, tr = d.ctl("status", "wd")["MainPID"], d.ctl("status", "tr")["MainPID"]
        reexec(d)
        # Several watchdog periods: the pings reach the new daemon.
        time.sleep(1.2)
        st = d.ctl("status", "wd")
        assert (st["State"], st["MainPID"], st["WatchdogStops"]) == ("running", wd, 0), st
        assert recv_all(connect(("127.0.0.1", port))) == b"notify-probe 2\n"
        assert d.ctl("status", "tr")["MainPID"] == tr
        with d.events("tr") as ev:
            assert recv_all(connect(("127.0.0.1", port2))) == b"notify-probe 1\n"
            ev.wait("stopped", timeout=10)
        assert d.ctl("status", "tr")["WatchdogStops"] == 1
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_refused_while_settling_or_not_handed_over():
    """A service still starting (Type=notify, no READY=1 yet) does not
    settle: the re-exec is refused, with the reason, and the daemon goes
    on."""
    port = free_port()
    with Daemon({"n": f"[Socket]\nListenStream=127.0.0.1:{port}\n[Container]\n"
                      f"Exec=/bin/sleep 1000\n{nsitest.tree_binds()}\n[Service]\n"
                      "Type=notify\nStartTimeoutSec=60s\n"}) as d:
        d.start()
        with connect(("127.0.0.1", port)):
            d.wait_state("n", "starting")
            r = d.ctl_run("daemon-reexec")
            assert r.returncode != 0, r.stdout
            assert "re-exec failed, the daemon goes on: n is starting; try again when it " \
                "has settled" in r.stderr, r.stderr
        assert d.ctl("status", "n")["State"] == "starting"
        assert d.stop() == 0


def test_veth_container_handed_over():
    """A running Network=veth container is handed over with its veth pair:
    same pid, same interface, still reaching the host side, its address
    still taken; the new daemon's stale-interface sweep keeps the pair, and
    deletes it when the container ends. The daemon runs in a network
    namespace of the test's own (as in test_network)."""
    if not shutil.which("ip"):
        raise SkipTest("ip (iproute2) is not installed")
    target = f"{V4_HOST}:{SERVER_PORT}"
    with Netns("rx") as ns, Daemon(prefix=ns.exec_prefix()) as d:
        ns.start_server()
        web, other = sock_path(d, "web"), sock_path(d, "other")
        d.write("web", netcheck_conf(web, "veth"))
        d.write("other", netcheck_conf(other, "veth"))
        d.start()
        r = ask(web, [target])
        assert r["targets"][target] == f"ok:hello {V4_CT}", r
        pid = d.ctl("status", "web")["MainPID"]
        ifindex = ns.links()["ve-web"]["ifindex"]
        for n in (1, 2):
            assert reexec(d) == n
            assert d.ctl("status", "web")["MainPID"] == pid, "the same container"
            links = ns.links()
            assert set(links) == {"lo", "ve-web"}, links.keys()
            assert links["ve-web"]["ifindex"] == ifindex, "the same interface"
            r = ask(web, [target])
            assert r["targets"][target] == f"ok:hello {V4_CT}", r
            assert r["interfaces"] == ["host0", "lo"], r
        # Its address is still taken: another container gets the next one.
        r = ask(other, [target])
        assert r["targets"][target] == "ok:hello 10.89.0.6", r
        d.ctl("stop", "web")
        wait_for(lambda: "ve-web" not in ns.links(), 10, "ve-web to be deleted after the stop")
        assert d.stop() == 0
        assert set(ns.links()) == {"lo"}, ns.links().keys()


def test_shared_empty_namespace_handed_over():
    """Network=shared-empty: the service's namespace is handed over, and
    the first container after the re-exec joins the same one."""
    if not shutil.which("ip"):
        raise SkipTest("ip (iproute2) is not installed")
    with Netns("rx") as ns, Daemon(prefix=ns.exec_prefix()) as d:
        sock = sock_path(d, "sbx")
        d.write("sbx", netcheck_conf(sock, "shared-empty", env=["NETCHECK_EXIT_AFTER=1"]))
        with d.start().events("sbx") as ev:
            first = ask(sock)
            assert ev.wait("stopped")["Reason"] == "exit status 0", ev.seen
        assert reexec(d) == 1
        assert first["netns"] in daemon_netns_fds(d), "kept by the new daemon"
        second = ask(sock)
        assert first["netns"] == second["netns"], (first, second)
        assert second["interfaces"] == ["lo"], second
        assert d.stop() == 0


def test_unreadable_state_starts_clean():
    """A state of a version this binary does not know (as a downgrade would
    hand over) is refused with the reason, and the daemon starts clean."""
    acc = free_port()
    fd = os.memfd_create("state", 0)
    os.write(fd, b"nsinetd-state 99\nreexecs 3\nend\n")
    d = Daemon({"acc": shell_conf(f"127.0.0.1:{acc}", "read l; echo got $l")},
               args=[f"--deserialize={fd}"])
    d.pass_fds = (fd,)
    with d:
        d.start()
        os.close(fd)
        assert ("cannot take over the state of the daemon before the re-exec (its version "
                "is 99, and this nsinetd reads versions 1 to 1 (a newer nsinetd wrote it)"
                ) in d.log(), d.log()
        assert echo(acc, "x") == b"got x\n"
        assert reexec(d) == 1  # counted from 0: nothing was taken over
        assert d.stop() == 0


def test_systemd_leaf_kept():
    """Under systemd (INVOCATION_ID, Delegate=yes) the daemon is in
    UNIT/supervisor: re-executed, it stays there (no UNIT/supervisor/
    supervisor), and its containers still go to UNIT/containers/NAME. A
    sandbox in flight there serves on: the new daemon does not take what it
    was handed for a dead daemon's leftovers (its cgroup killed)."""
    acc = free_port()
    with nsitest.unit_cgroup(f"nsitest-reexec-{os.getpid()}") as unit, \
            Daemon({"acc": shell_conf(f"127.0.0.1:{acc}", "read l; echo got $l")}) as d:
        d.preexec = lambda: open(os.path.join(unit, "cgroup.procs"), "w").write(
            str(os.getpid()))
        d.start(extra_env={"INVOCATION_ID": "0123456789abcdef0123456789abcdef"})
        with connect(("127.0.0.1", acc)) as c:
            wait_for(lambda: d.ctl("status", "acc")["Sandboxes"] == 1, 10, "the sandbox")
            assert os.path.isdir(os.path.join(unit, "containers", "acc")), os.listdir(unit)
            reexec(d)
            reexec(d)
            with open(f"/proc/{d.proc.pid}/cgroup") as f:
                assert f.read().strip().endswith(f"/nsitest-reexec-{os.getpid()}/supervisor")
            assert not os.path.exists(os.path.join(unit, "supervisor", "supervisor"))
            c.sendall(b"x\n")
            assert recv_all(c) == b"got x\n", d.log()[-3000:]
        with connect(("127.0.0.1", acc)) as c:
            c.sendall(b"y\n")
            assert recv_all(c) == b"got y\n"
        assert "SIGKILL" not in d.log(), d.log()[-3000:]
        assert d.stop() == 0


def test_unclaimed_systemd_socket_kept():
    """A socket the service manager passed (LISTEN_FDS) that no service takes
    is kept across a re-exec, as it is kept otherwise, for a later reload."""
    port, spare = free_port(), free_port()
    socks = []
    for p in (port, spare):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", p))
        s.listen(16)
        socks.append(s)
    # Above 4, so that moving them to 3 and 4 clobbers neither.
    high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 100) for s in socks]
    spare_inode = f"socket:[{os.fstat(high[1]).st_ino}]"

    def to_3_and_4():
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)
    with Daemon({"acc": shell_conf(f"127.0.0.1:{port}", "read l; echo got $l")}) as d:
        d.prefix = ["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"]
        # Python closes what is not in pass_fds after preexec_fn.
        d.preexec, d.pass_fds = to_3_and_4, tuple(high) + (3, 4)
        d.start(extra_env={"LISTEN_FDS": "2"})
        for fd in high:
            os.close(fd)
        for s in socks:
            s.close()

        def daemon_fds():
            return fd_links(d.proc.pid)
        assert spare_inode in daemon_fds()
        reexec(d)
        assert spare_inode in daemon_fds(), ("the unclaimed socket was closed", d.log()[-2500:])
        assert echo(port, "a") == b"got a\n"
        d.write("late", shell_conf(f"127.0.0.1:{spare}", "read l; echo late $l"))
        d.ctl("reload")
        assert echo(spare, "b") == b"late b\n"
        assert spare_inode in daemon_fds(), "the service bound a new socket"
        assert d.stop() == 0


def test_no_fd_leak_over_ten_reexecs():
    with lighttpd_running() as (d, web, acc, pid):
        assert echo(acc, "a") == b"got a\n"
        settled(d, "acc")
        before = fd_count_settled(d.proc.pid)
        for i in range(10):
            assert reexec(d) == i + 1
        assert http_get("127.0.0.1", web)[0] == 200
        assert echo(acc, "b") == b"got b\n"
        settled(d, "acc")
        fds_back_to(d, before)
        assert d.stop() == 0


if __name__ == "__main__":
    main([test_load_and_containers_survive_reexecs,
          test_frozen_stays_frozen_and_thaws_on_a_connection,
          test_held_freeze_survives,
          test_user_namespace_kept,
          test_accept_connection_in_flight_completes,
          test_suspension_survives,
          test_changed_and_removed_services_are_reloaded,
          test_failed_exec_leaves_the_daemon_running,
          test_notify_container_handed_over,
          test_refused_while_settling_or_not_handed_over,
          test_veth_container_handed_over,
          test_shared_empty_namespace_handed_over,
          test_unreadable_state_starts_clean,
          test_systemd_leaf_kept,
          test_unclaimed_systemd_socket_kept,
          test_no_fd_leak_over_ten_reexecs])
