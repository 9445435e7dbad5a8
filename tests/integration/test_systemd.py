#!/usr/bin/python3
"""nsinetd under a real systemd: installed into a Debian 12 tree booted with
`systemd-nspawn -b` (systemd 252 as pid 1), as a new user would run it.

The tree is made once by mmdebstrap from the apt sources this machine has
(tests/integration/systemd-tree.sh, cached outside the repository) and
copied for each run. `meson install --destdir` puts this build into the
copy; the unit is enabled with `systemctl --root`, beside an nsinetd.socket
that passes a unix socket in a directory bound from the test. The booted
system runs in a network namespace of the test's own (nspawn then keeps
CAP_NET_ADMIN, which a sandbox's loopback needs) and in cgroups of the
test's own, removed at the end with whatever nspawn made below them.

What it shows: the unit comes up as Type=notify with nsinetd's STATUS=,
the daemon adopts the socket systemd passes and serves a connection through
it in a sandbox below its delegated cgroup, `systemctl reload` works in a
minimal tree, `nsinetctl daemon-reexec` keeps a running container (the same
pid 1, ended by its stop, not killed), `systemctl stop` leaves no process
and no cgroup, and the host's cgroup trees are as they were.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from nsitest import BUILD, SRC, SkipTest, cgroup2_mount, main, recv_all, wait_for
from test_network import Netns

TREE_SCRIPT = os.path.join(SRC, "tests", "integration", "systemd-tree.sh")
CACHE = os.environ.get("NSINETD_TEST_CACHE", "/var/cache/nsinetd-test")

ECHO_CONF = """\
[Socket]
ListenStream=/srv/t/echo.sock
Accept=yes
[Container]
Exec=/bin/cat
StandardInput=socket
"""
# A long-running Accept=no container, for the re-exec: the connection that
# would start it is not needed (nsinetctl start), and it never accepts.
KEEPER_CONF = """\
[Socket]
ListenStream=/srv/t/keeper.sock
[Container]
Exec=/bin/sleep infinity
"""
SOCKET_UNIT = """\
[Socket]
ListenStream=/srv/t/echo.sock
Service=nsinetd.service

[Install]
WantedBy=sockets.target
"""


def named_hierarchies():
    """Mount points of the cgroup hierarchies nspawn writes to: cgroup2 and,
    on a hybrid host, the v1 name=systemd one."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fields = right.split()
            if fields[0] == "cgroup2" or (fields[0] == "cgroup"
                                          and "name=systemd" in fields[2].split(",")):
                out.append(left.split()[4])
    return out


def own_cgroup(mnt):
    """This process's cgroup in the hierarchy mounted at mnt (cgroup2, or
    the v1 name=systemd one)."""
    v2 = mnt == cgroup2_mount()
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrl, path = line.rstrip("\n").split(":", 2)
            if (v2 and ctrl == "") or (not v2 and "name=systemd" in ctrl.split(",")):
                return path
    return "/"


def listing(mnt):
    return sorted(e for e in os.listdir(mnt) if os.path.isdir(os.path.join(mnt, e)))


def hierarchies():
    """Our cgroup's subdirectories in each hierarchy nspawn writes to."""
    return {m: listing(m + own_cgroup(m).rstrip("/")) for m in named_hierarchies()}


def hierarchies_unchanged(before):
    """Cgroups of daemons of other tests running at the same time
    (nsinetd-PID) may come and go; nothing else may."""
    after = hierarchies()
    for m, was in before.items():
        new = [e for e in set(after[m]) - set(was) if not re.fullmatch(r"nsinetd-\d+", e)]
        assert not new, f"{m}: cgroups left by the booted system: {new}"


def rmtree_cgroup(path):
    for _ in range(200):
        if not os.path.exists(path):
            return True
        for root, _dirs, _files in os.walk(path, topdown=False):
            try:
                os.rmdir(root)
            except OSError:
                pass
        time.sleep(0.02)
    return not os.path.exists(path)


class Booted:
    """A copy of the cached tree with this build installed, booted."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.nspawn_run = os.path.exists("/run/systemd/nspawn")
        self.tree = os.path.join(tmp, "tree")
        self.share = os.path.join(tmp, "share")
        os.mkdir(self.share)
        self.proc = None
        self.cgroups = []
        self.netns = None
        self.log_path = os.path.join(tmp, "nspawn.log")

    def install(self, cached):
        subprocess.run(["cp", "-a", "--reflink=auto", cached, self.tree], check=True,
                       timeout=120)
        r = subprocess.run(["meson", "install", "-C", BUILD, "--destdir", self.tree,
                            "--no-rebuild", "--quiet"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, f"meson install: {r.stdout}{r.stderr}"
        etc = os.path.join(self.tree, "etc", "nsinetd")
        assert os.path.isdir(etc), "meson install made no /etc/nsinetd"
        with open(os.path.join(etc, "echo.conf"), "w") as f:
            f.write(ECHO_CONF)
        with open(os.path.join(self.tree, "etc/systemd/system/nsinetd.socket"), "w") as f:
            f.write(SOCKET_UNIT)
        r = subprocess.run(["systemctl", "--root", self.tree, "enable", "nsinetd.service",
                            "nsinetd.socket"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"systemctl --root enable: {r.stderr}"

    def _enter_cgroups(self):
        for cg in self.cgroups:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write("0")

    def boot(self, extra=(), env=None):
        """extra: more nspawn options; env: nspawn's environment (e.g.
        SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 for a pure cgroup2 inside)."""
        for mnt in named_hierarchies():
            cg = os.path.join(mnt + own_cgroup(mnt).rstrip("/"), f"nsitest-nspawn-{os.getpid()}")
            os.mkdir(cg)
            self.cgroups.append(cg)
        self.netns = Netns("sd")
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "--quiet", "-D", self.tree, "--boot", "--register=no",
             "--keep-unit", f"--network-namespace-path=/run/netns/{self.netns.name}",
             f"--bind={self.share}:/srv/t", "--console=passive",
             # nspawn keeps CAP_NET_ADMIN only with a private network of
             # its making; a sandbox's loopback needs it (docs/deploy.md).
             "--capability=CAP_NET_ADMIN", *extra],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
            preexec_fn=self._enter_cgroups, env=env)
        self.leader = wait_for(self._leader, 30, "nspawn's container to start")
        wait_for(lambda: self.run("systemctl", "is-system-running", check=False).stdout.strip()
                 in ("running", "degraded"), 60, "the container's systemd to finish booting")

    def _leader(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"systemd-nspawn exited {self.proc.returncode}: " +
                                 open(self.log_path).read())
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                kids = f.read().split()
        except OSError:
            return None
        for k in kids:
            try:
                if os.readlink(f"/proc/{k}/ns/pid") != os.readlink(f"/proc/self/ns/pid"):
                    return int(k)
            except OSError:
                pass
        return None

    def run(self, *argv, check=True, timeout=60):
        """A command in the booted container (all its namespaces)."""
        r = subprocess.run(["nsenter", "-t", str(self.leader), "-a", *argv],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} in the container: exit {r.returncode}: "
                                 f"{r.stdout}{r.stderr}")
        return r

    def show(self, unit, *props):
        out = self.run("systemctl", "show", unit, "-p", ",".join(props)).stdout
        return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)

    def poweroff(self):
        if self.proc and self.proc.poll() is None:
            # nspawn turns SIGTERM into a clean shutdown of a booted system.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError("the booted container did not power off in 60 s")

    def close(self):
        try:
            self.poweroff()
        finally:
            left = [cg for cg in self.cgroups if not rmtree_cgroup(cg)]
            if self.netns:
                self.netns.close()
            if getattr(self, "logf", None):
                self.logf.close()
            assert not left, f"cgroups left behind: {left}"

    def dispose(self):
        """close(), then the copy goes, and nspawn's /run/systemd/nspawn
        if it made it."""
        try:
            self.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if not self.nspawn_run:
                for d in ("/run/systemd/nspawn/propagate", "/run/systemd/nspawn/locks",
                          "/run/systemd/nspawn"):
                    shutil.rmtree(d, ignore_errors=True)


def cached_tree():
    if not shutil.which("systemd-nspawn"):
        raise SkipTest("systemd-nspawn is not installed (Debian: systemd-container)")
    if not shutil.which("mmdebstrap") and not os.path.exists(
            os.path.join(CACHE, "debian-systemd.stamp")):
        raise SkipTest("mmdebstrap is not installed (scripts/install-deps.sh installs it)")
    r = subprocess.run(["sh", TREE_SCRIPT, CACHE], capture_output=True, text=True, timeout=600)
    if r.returncode == 75:
        raise SkipTest("no Debian tree: " + (r.stderr.strip().splitlines() or ["?"])[-1])
    assert r.returncode == 0, f"{TREE_SCRIPT}: {r.stdout}{r.stderr}"
    return r.stdout.strip()


def test_installed_unit_under_systemd():
    tree = cached_tree()
    hier_before = hierarchies()
    b = Booted(tempfile.mkdtemp(prefix="nsitest-systemd-"))
    try:
        b.install(tree)
        with open(os.path.join(b.tree, "etc", "nsinetd", "keeper.conf"), "w") as f:
            f.write(KEEPER_CONF)
        b.boot()
        # Type=notify: active only after READY=1, with nsinetd's STATUS=.
        wait_for(lambda: b.show("nsinetd.service", "ActiveState")["ActiveState"] == "active",
                 30, "nsinetd.service active")
        st = b.show("nsinetd.service", "Type", "StatusText", "MainPID", "ControlGroup")
        assert st["Type"] == "notify", st
        assert "2 services" in st["StatusText"], st
        assert b.run("systemctl", "--failed", "--no-legend").stdout.strip() == "", \
            b.run("systemctl", "--failed").stdout

        # The socket systemd passed is adopted, and a sandbox answers on it.
        sock = os.path.join(b.share, "echo.sock")
        wait_for(lambda: os.path.exists(sock), 10, "systemd's socket in the shared directory")
        journal = b.run("journalctl", "-u", "nsinetd", "--no-pager", "-o", "cat").stdout
        assert "using the socket passed by the service manager" in journal, journal
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        with s:
            s.connect(sock)
            s.sendall(b"hello through systemd\n")
            s.shutdown(socket.SHUT_WR)
            try:
                got = recv_all(s)
            except OSError as e:
                got = repr(e)
        assert got == b"hello through systemd\n", (got, b.run(
            "journalctl", "-u", "nsinetd", "--no-pager", "-o", "cat").stdout)
        # The sandbox ended well: the daemon logs it once it has reaped it,
        # after the answer, and the journal has it a little later.
        def sandbox_line():
            out = b.run("journalctl", "-u", "nsinetd", "--no-pager", "-o", "cat").stdout
            return re.search(r"echo: connection from .*: sandbox pid \d+ exit status 0", out)
        journal = wait_for(sandbox_line, 10, "the sandbox's exit in the journal").string
        # Its cgroup was below the delegated one (Delegate=yes).
        assert re.search(r"containers go to /sys/fs/cgroup\S*/nsinetd\.service/containers\n",
                         journal), journal

        # Reload works in a minimal tree (ExecReload= needs no procps).
        r = b.run("systemctl", "reload", "nsinetd.service", check=False)
        assert r.returncode == 0, f"systemctl reload: {r.stderr}\n" + b.run(
            "systemctl", "status", "nsinetd", "--no-pager", check=False).stdout
        journal = b.run("journalctl", "-u", "nsinetd", "--no-pager", "-o", "cat").stdout
        assert "reloaded:" in journal, journal
        wait_for(lambda: b.show("nsinetd.service", "ActiveState")["ActiveState"] == "active",
                 30, "nsinetd.service active after the reload")

        # A re-exec keeps the running container: the same pid 1 runs on
        # (the new daemon's start must not take the delegated cgroup's
        # containers for a dead daemon's), and a stop ends it as a stop,
        # not a kill of the re-exec.
        b.run("nsinetctl", "start", "keeper", timeout=60)
        pid = json.loads(b.run("nsinetctl", "--json", "status", "keeper").stdout)["MainPID"]
        assert pid > 1, pid
        b.run("nsinetctl", "daemon-reexec", timeout=60)
        after = json.loads(b.run("nsinetctl", "--json", "status", "keeper").stdout)
        b.run("nsinetctl", "stop", "keeper", timeout=60)
        journal = b.run("journalctl", "-u", "nsinetd", "--no-pager", "-o", "cat").stdout
        assert f"keeper: took over container pid {pid}" in journal, journal[-3000:]
        # Killed by the re-exec, it ends by SIGKILL before the stop or
        # during it, and the daemon logs that whenever it notices.
        assert f"keeper: stopping container pid {pid} (stop requested)" in journal, \
            journal[-3000:]
        assert "killed by SIGKILL" not in journal, journal[-3000:]
        assert (after["MainPID"], after["State"]) == (pid, "running"), after

        # Stop: nothing of nsinetd is left in the container.
        cg = st["ControlGroup"]
        b.run("systemctl", "stop", "nsinetd.service", "nsinetd.socket")
        assert b.show("nsinetd.service", "ActiveState")["ActiveState"] == "inactive"
        left = b.run("sh", "-c", f"cat /sys/fs/cgroup/unified{cg}/cgroup.procs "
                     f"/sys/fs/cgroup{cg}/cgroup.procs 2>/dev/null; true").stdout.strip()
        assert left == "", f"processes left in {cg}: {left}"
        procs = b.run("sh", "-c", "cat /proc/[0-9]*/comm").stdout.split()
        assert not [p for p in procs if p.startswith("nsinetd")], procs
    finally:
        b.dispose()
    hierarchies_unchanged(hier_before)

if __name__ == "__main__":
    main([test_installed_unit_under_systemd])
