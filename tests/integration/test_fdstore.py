#!/usr/bin/python3
"""A crash refuses no connection under systemd: the daemon stores each
listener in the service manager's fd store (FDSTORE=1, FDNAME=), and the
next daemon adopts them by name (LISTEN_FDS, LISTEN_FDNAMES). This machine
has no systemd as pid 1: FdStore below stands in for it, doing what
systemd does with these messages (sd_notify(3), sd_listen_fds(3))."""
import array
import errno
import os
import select
import signal
import socket
import sys
import threading

from nsitest import (Daemon, SkipTest, cgroup2_mount, connect, deadline,
                     free_port, join_all, main, probe_conf, recv_all, make_unit_cgroup, wait_for)

# What a restarted unit's process gets from systemd: the stored fds at
# 3..., LISTEN_FDS, LISTEN_FDNAMES, and LISTEN_PID, which only the process
# itself knows. A tiny exec helper (exec keeps the pid) lays them out.
EXEC_WITH_FDS = r"""
import os, sys
fds = [int(x) for x in sys.argv[1].split(",") if x]
high = [os.dup(f) for f in fds]          # above every target slot
high = [os.dup2(h, 1000 + i) or 1000 + i for i, h in enumerate(high)]
for i, h in enumerate(high):
    os.dup2(h, 3 + i)                    # inheritable: no FD_CLOEXEC
os.closerange(3 + len(fds), 4096)
os.environ["LISTEN_FDS"] = str(len(fds))
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


class FdStore:
    """A NOTIFY_SOCKET peer that keeps the fds sent with FDSTORE=1, under
    their FDNAME= (one per name here: a listener is one fd), drops them on
    FDSTOREREMOVE=1, and ignores an fd it keeps already (systemd compares
    the open files). Like systemd it reads all the time, from a thread: a
    unix datagram socket queues only net.unix.max_dgram_qlen (10)
    messages, and the daemon's next one would wait. Hold lock to look at
    or change fds."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.fds = {}       # name -> fd
        self.messages = []
        self.removed = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.is_set():
            with self.lock:
                self.pump()
            select.select([self.sock], [], [], 0.05)

    def _same(self, a, b):
        sa, sb = os.fstat(a), os.fstat(b)
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)

    def pump(self, timeout=0.0):
        """Handles what the daemon sent (holding lock); waits up to timeout
        for the first."""
        while select.select([self.sock], [], [], timeout)[0]:
            timeout = 0
            fds = array.array("i")
            msg, anc, flags, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(16 * fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
            assert not flags & socket.MSG_CTRUNC, "more fds than a listener in one message"
            text = msg.decode()
            self.messages.append(text)
            fields = dict(l.split("=", 1) for l in text.split("\n") if "=" in l)
            name = fields.get("FDNAME", "stored")
            if fields.get("FDSTORE") == "1":
                assert len(fds) == 1, f"FDSTORE=1 with {len(fds)} fds: {text!r}"
                if name in self.fds and self._same(self.fds[name], fds[0]):
                    os.close(fds[0])
                else:
                    if name in self.fds:
                        os.close(self.fds.pop(name))
                    self.fds[name] = fds[0]
            else:
                for fd in fds:
                    os.close(fd)
            if fields.get("FDSTOREREMOVE") == "1":
                self.removed.append(name)
                if name in self.fds:
                    os.close(self.fds.pop(name))

    def has(self, cond):
        with self.lock:
            return cond(self)

    def wait_stored(self, names, timeout=10):
        wait_for(lambda: self.has(lambda st: set(names) <= set(st.fds)), timeout,
                 f"FDSTORE=1 of {sorted(names)} (have {sorted(self.fds)})")

    def close(self):
        self.done.set()
        self.thread.join(5)
        for fd in self.fds.values():
            os.close(fd)
        self.sock.close()


def client(port, n, results, gate, go, kill_after):
    """n requests one after the other; after kill_after of them, waits at
    the gate (every client then has none in flight) and for go (the
    daemon is dead), and goes on at once: those requests reach the
    daemon's queue while no daemon runs."""
    for i in range(n):
        if i == kill_after:
            gate.wait(30)
            go.wait(60)
        try:
            with connect(("127.0.0.1", port), timeout=30) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = recv_all(s, what=f"request {i}'s answer")
            results.append(None if data.startswith(b"HTTP/1.0 200") else
                           f"request {i}: unanswered ({len(data)} bytes)")
        except OSError as e:
            results.append(f"request {i}: {type(e).__name__}: {e}")
            return  # one is enough: the test says so without waiting for the rest


@deadline(180)
def test_sigkill_loses_no_request():
    if not cgroup2_mount():
        raise SkipTest("no cgroup v2 mounted: the test checks the dead daemon's cgroups")
    port, port_udp, port_gone, port_wrong = (free_port() for _ in range(4))
    with Daemon({"web": probe_conf([f"127.0.0.1:{port}",
                                    f"ListenDatagram=127.0.0.1:{port_udp}"])}) as d:
        upath = os.path.join(d.tmp, "sockdir", "u:1.sock")
        d.write("u", probe_conf(upath))
        store = FdStore(os.path.join(d.tmp, "notify"))
        d.env = {"NOTIFY_SOCKET": store.path}
        names = {f"nsinetd/stream/web/127.0.0.1%3A{port}",
                 f"nsinetd/dgram/web/127.0.0.1%3A{port_udp}",
                 "nsinetd/stream/u/" + "".join(
                     c if c.isalnum() or c in "._@[]-" else "%%%02X" % ord(c) for c in upath)}
        try:
            d.start()
            store.wait_stored(names)
            assert set(store.fds) == names, store.fds
            # The store holds the daemon's very sockets.
            web = store.fds[f"nsinetd/stream/web/127.0.0.1%3A{port}"]
            with socket.socket(fileno=os.dup(web)) as s:
                assert s.getsockname() == ("127.0.0.1", port), s

            # Two entries the next daemon must not adopt: one stored for a
            # service that is gone, and one under web's datagram name that
            # is another socket.
            gone = socket.socket()
            gone.bind(("127.0.0.1", port_gone))
            gone.listen()
            wrong = socket.socket()
            wrong.bind(("127.0.0.1", port_wrong))
            wrong.listen()
            with store.lock:
                store.fds[f"nsinetd/stream/gone/127.0.0.1%3A{port_gone}"] = gone.detach()
                os.close(store.fds[f"nsinetd/dgram/web/127.0.0.1%3A{port_udp}"])
                store.fds[f"nsinetd/dgram/web/127.0.0.1%3A{port_udp}"] = wrong.detach()

            # Load: 4 clients, 100 requests each; all of them stop after
            # 30, the daemon is killed, and they go on at once.
            results, clients_n, per = [], 4, 100
            gate, go = threading.Barrier(clients_n + 1), threading.Event()
            threads = [threading.Thread(target=client, args=(port, per, results, gate, go, 30))
                       for _ in range(clients_n)]
            for t in threads:
                t.start()
            gate.wait(60)
            st = d.ctl("status", "web")
            old_pid, old_cgroup = st["MainPID"], d.cgroup_base()
            assert old_pid > 0, st
            old_daemon = d.proc.pid
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            # Its container ends with it (PDEATHSIG); only then do the
            # clients go on, so that none reaches a container that is
            # about to die: those requests wait in the queue.
            procs = os.path.join(old_cgroup, "web", "cgroup.procs")
            wait_for(lambda: not os.path.exists(procs) or not open(procs).read().strip(), 10,
                     f"the processes of the dead daemon's container ({procs}) to end")
            go.set()

            # systemd's part: start it again with what it stored.
            with store.lock:
                order = sorted(store.fds)
                fds = [os.dup(store.fds[n]) for n in order]
            d.args_prefix = [sys.executable, "-c", EXEC_WITH_FDS, ",".join(map(str, fds))]
            d.pass_fds = tuple(fds)
            d.start(wait_log=None, extra_env={"LISTEN_FDNAMES": ":".join(order)})
            for fd in fds:
                os.close(fd)
            d.wait_log(r"service\(s\) listening", count=2, timeout=20)
            try:
                join_all(threads, 60, f"{clients_n * per} requests across the restart")
                failed = [r for r in results if r is not None]
                assert failed == [], f"{len(failed)} of {len(results)} lost: {failed[:5]}"
                assert len(results) == clients_n * per, len(results)
            except AssertionError as e:
                raise AssertionError(f"{e}\n--- log ---\n" + d.log()[-6000:]) from None

            log = d.log()
            # Adopted by name, each; the wrong one and the stale one not.
            for name in names - {f"nsinetd/dgram/web/127.0.0.1%3A{port_udp}"}:
                assert f"adopted the socket stored as {name}" in log, \
                    f"not adopted by its name {name}:\n{log}"
            assert (f"the socket stored as nsinetd/dgram/web/127.0.0.1%3A{port_udp} is not "
                    "of that type and address") in log, log
            assert (f"the socket stored as nsinetd/stream/gone/127.0.0.1%3A{port_gone} "
                    "belongs to no configured service") in log, log
            wait_for(lambda: store.has(lambda st: (
                f"nsinetd/stream/gone/127.0.0.1%3A{port_gone}" in st.removed and
                f"nsinetd/dgram/web/127.0.0.1%3A{port_udp}" in st.removed)), 10,
                "FDSTOREREMOVE=1 of the stale and the wrong socket")
            # Removed, then web's datagram socket bound anew and stored.
            store.wait_stored(names)
            assert store.has(lambda st: "gone" not in " ".join(st.fds)), sorted(store.fds)

            # The dead daemon's container ended with it, and the new
            # daemon removed its cgroups.
            wait_for(lambda: not os.path.exists(f"/proc/{old_pid}"), 10,
                     f"the dead daemon's container (pid {old_pid}) to end")
            wait_for(lambda: not os.path.exists(old_cgroup), 10,
                     f"the dead daemon's cgroup {old_cgroup} to be removed")
            assert f"nsinetd-{old_daemon}" in old_cgroup
            assert d.ctl("status", "web")["MainPID"] not in (0, old_pid)
            print(f"# {len(results)} requests, 0 lost, across a SIGKILL of pid {old_daemon}")
            assert d.stop() == 0
            assert d.leftovers() == [], d.leftovers()
            # Kept at shutdown: a systemd restart would hand them on.
            assert store.has(lambda st: set(st.fds) == names), sorted(store.fds)
        finally:
            store.close()


def test_reload_removes_from_store():
    """A listener that a reload closes (its service removed, its address
    changed) leaves the store too; a kept one stays."""
    p1, p2, p3 = free_port(), free_port(), free_port()
    with Daemon({"a": probe_conf(f"127.0.0.1:{p1}"), "b": probe_conf(f"127.0.0.1:{p2}")}) as d:
        store = FdStore(os.path.join(d.tmp, "notify"))
        d.env = {"NOTIFY_SOCKET": store.path}
        try:
            d.start()
            na, nb = f"nsinetd/stream/a/127.0.0.1%3A{p1}", f"nsinetd/stream/b/127.0.0.1%3A{p2}"
            store.wait_stored({na, nb})
            d.remove("b")
            d.write("a", probe_conf(f"127.0.0.1:{p3}"))
            d.ctl("reload")
            n3 = f"nsinetd/stream/a/127.0.0.1%3A{p3}"
            store.wait_stored({n3})
            wait_for(lambda: store.has(lambda st: {na, nb} <= set(st.removed)), 10,
                     "FDSTOREREMOVE=1 of a's old address and of b")
            assert store.has(lambda st: set(st.fds) == {n3}), sorted(store.fds)
            assert d.stop() == 0
        finally:
            store.close()


def test_service_that_fails_forgets_its_stored_listener():
    """A service whose second listener cannot be bound (the address is
    taken) does not start: its first listener, bound and stored already,
    is closed and must leave the store too, or systemd would keep the port
    bound for nothing."""
    p1, p2 = free_port(), free_port()
    with Daemon({"x": probe_conf([f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"])}) as d, \
            socket.socket() as taken:
        taken.bind(("127.0.0.1", p2))
        taken.listen()
        store = FdStore(os.path.join(d.tmp, "notify"))
        d.env = {"NOTIFY_SOCKET": store.path}
        try:
            d.start()
            n1 = f"nsinetd/stream/x/127.0.0.1%3A{p1}"
            wait_for(lambda: store.has(lambda st: n1 in st.removed), 10,
                     f"FDSTOREREMOVE=1 of {n1}")
            assert store.has(lambda st: not st.fds), sorted(store.fds)
            d.wait_log("x: not started")
            assert d.stop() == 0
        finally:
            store.close()


def test_unit_restart_after_sigkill_of_frozen():
    """Under systemd (INVOCATION_ID) every daemon of the unit puts its
    containers in UNIT/containers/NAME. A daemon killed while its container
    is frozen leaves that cgroup frozen; the next one must clear it, or its
    own container would start frozen there and never answer."""
    unit = make_unit_cgroup("nsitest-fdunit")
    port = free_port()
    env = {"INVOCATION_ID": "0123456789abcdef0123456789abcdef"}

    def enter_unit():
        with open(os.path.join(unit, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    try:
        with Daemon({"fz": probe_conf(f"127.0.0.1:{port}",
                                      extra_service="IdleFreezeSec=1s")}) as d:
            d.preexec = enter_unit
            d.start(extra_env=env)
            with d.events("fz") as ev:
                assert b"HTTP/1.0 200" in ask(port)
                ev.wait("frozen", timeout=10)
            cg = os.path.join(unit, "containers", "fz")
            pid = d.ctl("status", "fz")["MainPID"]
            d.proc.kill()
            d.proc.wait(10)
            wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10,
                     f"the frozen container (pid {pid}) to end with its daemon")
            with open(os.path.join(cg, "cgroup.freeze")) as f:
                assert f.read().strip() == "1", "the dead daemon's cgroup is not left frozen"
            d.start(wait_log=None, extra_env=env)
            d.wait_log(r"service\(s\) listening", count=2, timeout=20)
            assert b"HTTP/1.0 200" in ask(port)
            assert d.stop() == 0
            assert not os.path.exists(os.path.join(unit, "containers"))
    finally:
        # What systemd does when the unit is gone: kill what is left, and
        # remove the directories.
        for leaf in ("containers/fz", "supervisor", "containers", ""):
            path = os.path.join(unit, leaf)
            if os.path.exists(os.path.join(path, "cgroup.kill")):
                with open(os.path.join(path, "cgroup.kill"), "w") as f:
                    f.write("1")
            if os.path.isdir(path):
                wait_for(lambda: not _rmdir(path), 10, f"the test's cgroup {path} to go")


def _rmdir(path):
    """rmdir; True while the cgroup is still busy."""
    try:
        os.rmdir(path)
    except OSError as e:
        if e.errno == errno.EBUSY:
            return True
        raise
    return False


def ask(port):
    with connect(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return recv_all(s, what=f"the probe's answer on port {port}")


if __name__ == "__main__":
    main([test_sigkill_loses_no_request, test_reload_removes_from_store,
          test_service_that_fails_forgets_its_stored_listener,
          test_unit_restart_after_sigkill_of_frozen])
