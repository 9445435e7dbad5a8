"""Integration-test harness: the real daemon, real namespaces, real sockets.

Each test module builds configs in a temporary directory, starts the real
nsinetd binary ($NSINETD), talks to it over 127.0.0.1/::1/unix sockets and
checks what the probe ($NSINETD_PROBE) reports from inside the container.
Output is TAP, for meson's protocol: 'tap'.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

NSINETD = os.environ.get("NSINETD", "build/supervisor/nsinetd")
PROBE = os.environ.get("NSINETD_PROBE", "build/tests/nsinetd-probe")
NSINETCTL = os.environ.get("NSINETCTL", "build/ctl/nsinetctl")
BUILD = os.environ.get("NSINETD_BUILD", "build")
SRC = os.environ.get("NSINETD_SRC", os.getcwd())


def _sanitized():
    try:
        with open(PROBE, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized()


def free_port():
    """A TCP port that is free on 127.0.0.1 and ::1 right now."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET6) as s6:
                s6.bind(("::1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def make_unit_cgroup(tag):
    """Makes a cgroup for a stand-in systemd unit below the test's own:
    its path (SkipTest without cgroup v2). A daemon started in it with
    INVOCATION_ID set behaves as under systemd with Delegate=yes."""
    mnt = cgroup2_mount()
    if not mnt:
        raise SkipTest("no cgroup v2 mounted")
    with open("/proc/self/cgroup") as f:
        own = [l.split("::", 1)[1].strip() for l in f if l.startswith("0::")][0]
    unit = os.path.join(mnt + own.rstrip("/"), f"{tag}-{os.getpid()}")
    os.mkdir(unit)
    return unit


def fd_links(pid):
    """What each open fd of pid points to (readlink of /proc/PID/fd/N)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return out


def fd_count_settled(pid):
    """pid's fd count once unchanged for 0.3 s (the daemon makes its spare
    network namespaces when its loop is idle), bounded by 10 s."""
    last, since, end = None, time.monotonic(), time.monotonic() + 10
    while time.monotonic() < end:
        n = len(os.listdir(f"/proc/{pid}/fd"))
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= 0.3:
            break
        time.sleep(0.05)
    return last


def init_pids(daemon_pid, spare=True):
    """The daemon's nsinetd-init children: the waiting spare containers
    (supervisor/spares.h), whose command line is still nsinetd-init
    --spare (a taken one clears the "--spare"); or, spare=False, the
    others (with --spares=0 and nothing serving: the Accept=yes pool)."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().rstrip(b"\0").split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == daemon_pid and argv[0] == b"nsinetd-init" and \
                (argv[1:2] == [b"--spare"]) == spare:
            pids.append(int(p))
    return pids


def spare_pids(daemon_pid):
    return init_pids(daemon_pid)


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    return None


# What the running test waits for right now, for the message of its own
# deadline (TAP.run): set by every helper below that waits.
_awaiting = []


class awaiting:
    """with awaiting("what"): names a blocking step for the test's deadline
    message (nested: the innermost is named)."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        _awaiting.append(self.what)
        return self

    def __exit__(self, *exc):
        _awaiting.pop()


class Deadline:
    """One deadline for a wait made of several steps: left() is the time
    that remains, and raises a TimeoutError (an OSError, as a socket's
    timeout) naming what was awaited once there is none."""

    def __init__(self, seconds, what):
        self.seconds = seconds
        self.what = what
        self.end = time.monotonic() + seconds

    def expired(self):
        return time.monotonic() >= self.end

    def left(self):
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"timed out after {self.seconds}s waiting for {self.what}")
        return left


@contextlib.contextmanager
def unit_cgroup(name):
    """A cgroup standing for a systemd unit's (Delegate=yes), NAME below this
    process's own: its path. Removed after, with the leaves a daemon makes
    in it (what systemd does when the unit is gone). Skips without cgroup v2."""
    mnt = cgroup2_mount()
    if not mnt:
        raise SkipTest("no cgroup v2 mounted")
    with open("/proc/self/cgroup") as f:
        own = [l.split("::", 1)[1].strip() for l in f if l.startswith("0::")][0]
    unit = os.path.join(mnt + own.rstrip("/"), name)
    os.mkdir(unit)
    try:
        yield unit
    finally:
        for root, dirs, _ in os.walk(unit, topdown=False):
            for leaf in dirs:
                os.rmdir(os.path.join(root, leaf))
        os.rmdir(unit)


def wait_for(cond, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    with awaiting(what):
        while time.monotonic() < end:
            v = cond()
            if v:
                return v
            time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def recv_all(sock, limit=1 << 20, timeout=None, what="the whole answer (EOF)"):
    """Reads until EOF (or limit bytes) within one deadline: timeout, else
    the socket's own timeout, else 10 s, for the whole answer and not for
    each recv(). A TimeoutError says what was awaited and what came."""
    t = timeout or sock.gettimeout() or 10.0
    d = Deadline(t, what)
    data = b""
    with awaiting(what):
        while len(data) < limit:
            try:
                sock.settimeout(d.left())
                chunk = sock.recv(65536)
            except TimeoutError as e:
                raise TimeoutError(f"timed out after {t}s waiting for {what} "
                                   f"({len(data)} bytes came)") from e
            if not chunk:
                break
            data += chunk
    return data


def recv_one(sock, size=65536, timeout=10.0, what="an answer", recvfrom=False):
    """One recv() (or recvfrom()) within a deadline; the TimeoutError says
    what was awaited."""
    sock.settimeout(timeout)
    with awaiting(what):
        try:
            return sock.recvfrom(size) if recvfrom else sock.recv(size)
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}") from None


def accept_one(sock, timeout=10.0, what="a connection"):
    sock.settimeout(timeout)
    with awaiting(what):
        try:
            return sock.accept()
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}") from None


def join_all(threads, timeout, what):
    """Joins every thread within one deadline; fails naming what the
    threads did if one is still alive."""
    end = time.monotonic() + timeout
    with awaiting(what):
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
    alive = sum(1 for t in threads if t.is_alive())
    if alive:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}: "
                             f"{alive} of {len(threads)} still running")


def proc_wait(proc, timeout, what):
    """Waits for a child process; kills it and fails, naming what, if it
    has not exited within timeout. Returns its exit code."""
    with awaiting(what):
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"timed out after {timeout}s waiting for {what} "
                                 f"(pid {proc.pid}, killed)") from None


def readline(stream, timeout, what):
    """One line from a pipe (a subprocess's stdout or stderr, unbuffered or
    not yet read from) within timeout; fails naming what if none came."""
    import select
    fd = stream.fileno()
    d = Deadline(timeout, what)
    buf = b""
    with awaiting(what):
        while not buf.endswith(b"\n"):
            if not select.select([fd], [], [], d.left())[0]:
                continue
            c = os.read(fd, 1)
            if not c:
                break
            buf += c
    return buf.decode(errors="replace")


def read_fd(fd, timeout, what, until_eof=True):
    """Reads a raw fd (a pipe, a pty's master) within one deadline: until
    EOF (or EIO, a pty whose other side is gone), or the first chunk if
    not until_eof. Fails naming what if the deadline comes first."""
    import select
    d = Deadline(timeout, what)
    out = b""
    with awaiting(what):
        while True:
            if not select.select([fd], [], [], d.left())[0]:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            out += chunk
            if not chunk or not until_eof:
                break
    return out


def notify_until(sock, msgs, match, what, timeout=10.0):
    """Receives sd_notify datagrams on sock into msgs until one matches
    (match(text) true), within one deadline; returns that one."""
    d = Deadline(timeout, what + " on the notification socket")
    with awaiting(d.what):
        for m in msgs:
            if match(m):
                return m
        while True:
            sock.settimeout(d.left())
            try:
                m = sock.recv(4096).decode(errors="replace")
            except TimeoutError:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what} "
                                   f"(got {msgs})") from None
            msgs.append(m)
            if match(m):
                return m


def connect(addr, family=socket.AF_INET, kind=socket.SOCK_STREAM, timeout=10.0):
    s = socket.socket(family, kind)
    s.settimeout(timeout)
    s.connect(addr)
    return s


def probe_stream(addr, family=socket.AF_INET, send=None, timeout=10.0):
    """Connects to a probe service and returns its JSON report."""
    with connect(addr, family, timeout=timeout) as s:
        if send:
            s.sendall(send)
        data = recv_all(s)
    return json.loads(data.decode())


def http_get(host, port, path="/", family=socket.AF_INET, timeout=10.0):
    with connect((host, port), family, timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = recv_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body


def start_fails(d, name, addr, family=socket.AF_INET, error=None):
    """A connection to name, whose start fails: the queued connection
    retries until StartLimitBurst= (5) suspends the service. The reason
    the control interface gives is "start failed: ERROR" (error, if
    given, is that strerror() text); the log says why at length."""
    with d.events(name) as ev, connect(addr, family):
        ev.wait("suspended")
    reasons = {e["Reason"] for e in ev.seen if e["NewState"] == "failed"}
    assert len(reasons) == 1, ev.seen
    why = reasons.pop()
    assert why.startswith("start failed: ") and (error is None or why ==
                                                 "start failed: " + error), why
    changes = [(e["NewState"], e["Reason"]) for e in ev.seen]
    assert changes == [("starting", "connection"), ("failed", why),
                       ("stopped", why)] * 4 + [
        ("starting", "connection"), ("failed", why),
        ("suspended", "failed starts")], changes
    st = d.ctl("status", name)
    assert (st["ColdStarts"], st["StartFailures"], st["MainPID"]) == (0, 5, 0), st
    assert st["SuspendedUntil"] > 0, st


class Daemon:
    """One nsinetd on a temporary config and runtime directory."""

    def __init__(self, services=None, args=(), env=None, prefix=()):
        self.tmp = tempfile.mkdtemp(prefix="nsitest-")
        self.config_dir = os.path.join(self.tmp, "conf")
        self.runtime_dir = os.path.join(self.tmp, "run")
        os.mkdir(self.config_dir)
        self.args = list(args)
        # A command the daemon runs under, e.g. ("ip", "netns", "exec", NS).
        self.prefix = list(prefix)
        self.env = env
        self.proc = None
        self.log_path = os.path.join(self.tmp, "nsinetd.log")
        self.mountinfo_before = self._mounts()
        for name, text in (services or {}).items():
            self.write(name, text)

    @staticmethod
    def _mounts():
        with open("/proc/self/mountinfo") as f:
            return sorted(" ".join(l.split()[3:5]) for l in f)

    def write(self, name, text):
        if SANITIZED:
            # LeakSanitizer stops the world with ptrace(), which the default
            # seccomp filter denies: a sanitized payload would fail at exit.
            # Appended, so that the line numbers of errors do not move.
            if "[Container]" in text:
                text = text.rstrip("\n") + \
                    "\n[Container]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n"
        path = os.path.join(self.config_dir, name + ".conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def remove(self, name):
        os.unlink(os.path.join(self.config_dir, name + ".conf"))

    def start(self, wait_log=r"service\(s\) listening", extra_env=None):
        env = dict(os.environ)
        env.pop("LISTEN_FDS", None)
        env.pop("NOTIFY_SOCKET", None)
        if self.env:
            env.update(self.env)
        if extra_env:
            env.update(extra_env)
        self.logf = open(self.log_path, "ab")
        # The daemon's stdout and stderr: its log file, or what a test sets
        # (a terminal) and copies to the log file itself.
        out = getattr(self, "stdio", None) or self.logf
        self.proc = subprocess.Popen(
            self.prefix + list(getattr(self, "args_prefix", ())) + [NSINETD, "--config-dir", self.config_dir, "--runtime-dir",
             self.runtime_dir, "--log-level", "debug"] + self.args,
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            env=env, pass_fds=getattr(self, "pass_fds", ()),
            preexec_fn=getattr(self, "preexec", None))
        if wait_log:
            self.wait_log(wait_log)
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, timeout=10.0, count=1):
        def found():
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(
                    f"nsinetd exited ({self.proc.returncode}) before '{pattern}':\n"
                    + self.log())
            return len(re.findall(pattern, self.log())) >= count
        try:
            wait_for(found, timeout, f"log line '{pattern}'")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- log ---\n{self.log()}") from None

    def container_pids(self):
        return [int(p) for p in re.findall(r"started container pid (\d+)", self.log())]

    def cgroup_base(self):
        m = cgroup2_mount()
        if not m or not self.proc:
            return None
        with open("/proc/self/cgroup") as f:
            own = [l.split("::", 1)[1].strip() for l in f if l.startswith("0::")]
        rel = own[0].rstrip("/") if own else ""
        return f"{m}{rel}/nsinetd-{self.proc.pid}"

    def ctl_run(self, *args, timeout=60, **kw):
        """nsinetctl against this daemon: the CompletedProcess."""
        return subprocess.run([NSINETCTL, "--runtime-dir", self.runtime_dir] + list(args),
                              capture_output=True, text=True, timeout=timeout, **kw)

    def ctl(self, *args, timeout=60):
        """nsinetctl --json=short ARGS: the parsed document; fails on a
        non-zero exit, with its message."""
        r = self.ctl_run("--json=short", *args, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError(f"nsinetctl {' '.join(args)}: exit {r.returncode}: "
                                 f"{r.stderr.strip()}")
        return json.loads(r.stdout)

    def state(self, name):
        return self.ctl("status", name)["State"]

    def wait_state(self, name, state, timeout=10.0):
        states = (state,) if isinstance(state, str) else tuple(state)
        wait_for(lambda: self.state(name) in states, timeout,
                 f"{name} in state {state} (now {self.state(name)})")

    def events(self, name=None):
        """Follows state changes: an Events object (nsinetctl events)."""
        return Events(self, name)

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout=30):
        """SIGTERM; returns the exit code."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
            if rc != 0:
                # Shown with the failed assertion: why it did not exit 0.
                for line in self.log().splitlines()[-40:]:
                    print("#   log: " + line, flush=True)
            return rc
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("nsinetd did not exit within %ss of SIGTERM" % timeout)

    def leftovers(self):
        """What a stopped daemon left behind: processes, cgroups, mounts."""
        left = []
        for pid in self.container_pids():
            if os.path.exists(f"/proc/{pid}") and not _is_zombie(pid):
                left.append(f"process {pid}")
        base = self.cgroup_base()
        if base and os.path.exists(base):
            left.append(f"cgroup {base}")
        after = self._mounts()
        for mnt in set(after) - set(self.mountinfo_before):
            left.append(f"mount {mnt}")
        if os.path.exists(self.runtime_dir) and os.listdir(self.runtime_dir):
            left.append(f"runtime dir entries {os.listdir(self.runtime_dir)}")
        return left

    def close(self):
        try:
            if self.proc and self.proc.poll() is None:
                self.stop()
        finally:
            if getattr(self, "logf", None):
                self.logf.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Events:
    """nsinetctl --json events [NAME], read line by line."""

    def __init__(self, d, name=None):
        args = [NSINETCTL, "--runtime-dir", d.runtime_dir, "--json=short", "events"]
        # stdout unbuffered: select() must see what is not read yet.
        self.proc = subprocess.Popen(args + ([name] if name else []),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     bufsize=0)
        self.seen = []
        self.buf = b""
        # nsinetctl says so on stderr once it is subscribed.
        line = readline(self.proc.stderr, 10, "nsinetctl events to subscribe")
        if "following state changes" not in line:
            raise AssertionError("nsinetctl events: " + line +
                                 self.proc.stderr.read().decode())

    def next(self, timeout=10.0):
        import select
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"no state change within {timeout}s (seen {self.seen})")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError("nsinetctl events ended: " +
                                     self.proc.stderr.read().decode())
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        ev = json.loads(line)
        self.seen.append(ev)
        return ev

    def wait(self, new_state, timeout=10.0, name=None):
        """The next change into new_state (of service name, if given; those
        before it are kept in seen)."""
        end = time.monotonic() + timeout
        while True:
            ev = self.next(max(0.1, end - time.monotonic()))
            if ev["NewState"] == new_state and name in (None, ev["Name"]):
                return ev

    def pending(self):
        """Reads the changes reported so far, without waiting; all of them
        are in seen."""
        import select
        fd = self.proc.stdout.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.buf += chunk
        while b"\n" in self.buf:
            self.next(0)
        return self.seen

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def closed_ancestor(path):
    """The highest directory on the way to path (itself included) that
    users other than root cannot search, or None. The container's root is
    such a user (a user namespace by default)."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        d = "/" + "/".join(parts[:i])
        if not os.stat(d).st_mode & 0o001:
            return d
    return None


def tree_binds():
    """[Container] lines that make the source and build trees reachable in
    a container: bound in when they live where a container has an empty
    tmpfs of its own (/tmp, /run: a clone under /tmp, as CI may make); and
    below a directory the container's unprivileged root cannot search (a
    clone in /root), that directory is a tmpfs of the container's own, in
    which the trees are bound."""
    lines, tmpfs = [], set()
    for path in sorted({os.path.realpath(SRC), os.path.realpath(BUILD)}):
        hidden = path.startswith(("/tmp/", "/run/"))
        closed = closed_ancestor(path)
        if closed and not hidden:
            tmpfs.add(closed)
        if hidden or closed:
            lines.append(f"BindReadOnly={path}:{path}")
    return "\n".join([f"TemporaryFileSystem={t}" for t in sorted(tmpfs)] + lines)


def make_rootfs(top):
    """A small Directory= root owned by the host's root, with a root-only
    file; the caller binds /usr and the build tree in."""
    root = os.path.join(top, "rootfs")
    for d in ("usr", "etc", "proc", "sys", "dev", "tmp", "run", "data"):
        os.makedirs(os.path.join(root, d))
        # Safe whatever the umask: Directory= refuses a tree that users
        # other than root could write.
        os.chmod(os.path.join(root, d), 0o755)
    os.chmod(root, 0o755)
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin"),
                         ("sbin", "usr/sbin")):
        os.symlink(target, os.path.join(root, link))
    secret = os.path.join(root, "data", "secret.txt")
    with open(secret, "w") as f:
        f.write("root only")
    os.chmod(secret, 0o600)
    os.chown(secret, 0, 0)
    return root


def probe_conf(listen, exec_args="", env=(), extra_container="", extra_socket="",
               extra_service=""):
    lines = ["[Socket]"]
    for l in ([listen] if isinstance(listen, str) else listen):
        lines.append(l if "=" in l else f"ListenStream={l}")
    lines.append(extra_socket)
    lines.append("[Container]")
    lines.append(f"Exec={PROBE} {exec_args}".rstrip())
    for e in env:
        lines.append(f"Environment={e}")
    lines.append(tree_binds())
    lines.append(extra_container)
    lines.append("[Service]")
    lines.append("StopTimeoutSec=5s")
    lines.append(extra_service)
    return "\n".join(l for l in lines if l) + "\n"


# Each test's own deadline, below meson's 300 s for the whole file: a
# test that hangs fails with what it waited for, and the next one runs.
# A test that needs more says so with @deadline(SECONDS).
TEST_DEADLINE = float(os.environ.get("NSINETD_TEST_DEADLINE", "120"))


def deadline(seconds):
    def mark(fn):
        fn.deadline = seconds
        return fn
    return mark


class TestDeadline(Exception):
    pass


def _deadline_hit(signum, frame):
    what = _awaiting[-1] if _awaiting else "a step that names no wait"
    raise TestDeadline(f"no result within the test's deadline of {_deadline_now}s; "
                       f"it was waiting for {what}")


_deadline_now = 0


class TAP:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def run(self, fn, name=None):
        global _deadline_now
        name = name or fn.__name__
        self.n += 1
        _deadline_now = getattr(fn, "deadline", TEST_DEADLINE)
        _awaiting.clear()
        old = signal.signal(signal.SIGALRM, _deadline_hit)
        signal.setitimer(signal.ITIMER_REAL, _deadline_now)
        try:
            try:
                fn()
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old)
        except SkipTest as e:
            print(f"ok {self.n} - {name} # SKIP {e}", flush=True)
            return
        except Failed as e:
            self.failed += 1
            print(f"not ok {self.n} - {name}\n#   {e}", flush=True)
            return
        except Exception:  # noqa: BLE001 - every failure is a test failure
            self.failed += 1
            print(f"not ok {self.n} - {name}", flush=True)
            for line in traceback.format_exc().splitlines():
                print("#   " + line, flush=True)
            return
        print(f"ok {self.n} - {name}", flush=True)

    def done(self):
        print(f"1..{self.n}", flush=True)
        sys.exit(1 if self.failed else 0)


class SkipTest(Exception):
    pass


class Failed(Exception):
    """A failure that says all in its message: no traceback in the TAP log."""


def require_root():
    if os.geteuid() != 0:
        print("1..0 # SKIP integration tests need root (namespaces, cgroups)")
        sys.exit(0)


def main(tests):
    """Runs the tests (only those named in $NSINETD_TESTS, comma-separated,
    if set: for running one by hand)."""
    require_root()
    only = [n for n in os.environ.get("NSINETD_TESTS", "").split(",") if n]
    tap = TAP()
    for t in tests:
        if not only or t.__name__ in only:
            tap.run(t)
    tap.done()
