#!/usr/bin/python3
"""The escape suite: nsinetd-escape tries to get out of a sandbox, and each
attempt must meet its specific refusal (tests/escape/escape.c). One TAP row
per (sandbox, attempt); the table of attempts and outcomes is printed as
TAP comments. ESCAPED (a hole) and WRONG (an unexpected outcome, or a
broken test) both fail.

SANDBOXES is the loop: each entry is one kind of sandbox, given as the
extra configuration of the service and a few flags.

What the container cannot judge alone, the host does here: the setuid file
the container leaves in a directory the host sees is run as nobody on the
host, and must not get euid 0.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from nsitest import (BUILD, TAP, Daemon, Failed, SkipTest, free_port, recv_all,
                     require_root, tree_binds, connect, make_rootfs, spare_pids)

ESCAPE = os.environ.get("NSINETD_ESCAPE", os.path.join(BUILD, "tests", "nsinetd-escape"))
NOBODY = 65534

LIMITS = "LimitNPROC=16\nLimitNOFILE=64"


class Sandbox:
    def __init__(self, label, extra, accept=False, directory=False, host_root=False,
                 spares=2, pool=False):
        self.label = label
        # The daemon's --spares: two, so that one waits while the judged
        # container runs (in the other, for an Accept=no kind): the
        # attempt "reach a spare container" aims at both.
        self.spares = spares
        self.extra = extra        # [Container] lines
        self.accept = accept      # Accept=yes: one sandbox per connection, fd 3
        self.pool = pool          # PoolSize=: the judged sandbox waited in the pool
        self.directory = directory  # a writable Directory= tree instead of the host's /
        # The container's root is the host's root by choice (PrivateUsers=no):
        # what file permissions let the host's root do is not an escape.
        self.host_root = host_root


# Defaults otherwise: that is the point.
SANDBOXES = [
    Sandbox("default container (root)", LIMITS),
    # Started by a clone, not in a spare (the row above).
    Sandbox("default container (root), --spares=0", LIMITS, spares=0),
    Sandbox("default container, User=nobody", LIMITS + "\nUser=nobody"),
    Sandbox("default container, PrivateUsers=yes", LIMITS + "\nPrivateUsers=yes"),
    Sandbox("default container, PrivateUsers=no", LIMITS + "\nPrivateUsers=no", host_root=True),
    # The host's kernel is not in its /proc at all: the masks are not made.
    Sandbox("default container, ProcSubset=pid",
            LIMITS + "\nProcSubset=pid\nEnvironment=ESCAPE_PROC_SUBSET=1"),
    # The container's root owns the tree through an idmapped mount.
    Sandbox("writable Directory= tree, PrivateUsers=yes",
            LIMITS + "\nPrivateUsers=yes\nReadOnly=no", directory=True),
    Sandbox("Accept=yes sandbox (root)", LIMITS, accept=True),
    Sandbox("Accept=yes sandbox, User=nobody", LIMITS + "\nUser=nobody", accept=True),
    # Set up ahead at idle priority, its network namespace made by its own
    # nsinetd-init, not the clone: the connection is handed over.
    Sandbox("Accept=yes sandbox from the pool (root)", LIMITS + "\nPoolSize=1", accept=True,
            pool=True),
]


def escape_conf(port, sb, suid, rw_host, root_socket, rootfs):
    env = [f"ESCAPE_HOST_PID={os.getpid()}", "ESCAPE_SETUID=/run/escape-suid",
           f"ESCAPE_ROOT_SOCKET={root_socket}"]
    lines = ["[Socket]", f"ListenStream=127.0.0.1:{port}", "Accept=yes" if sb.accept else "",
             "[Container]", f"Exec={ESCAPE}", f"BindReadOnly={suid}:/run/escape-suid"]
    if sb.directory:
        build = os.path.realpath(BUILD)
        sock_dir = os.path.dirname(root_socket)
        env += ["ESCAPE_RW_DIR=/escape-rw", "ESCAPE_ROOT_WRITABLE=1"]
        lines += [f"Directory={rootfs}", "BindReadOnly=/usr:/usr",
                  f"BindReadOnly={build}:{build}", f"BindReadOnly={sock_dir}:{sock_dir}"]
    else:
        env.append("ESCAPE_RW_DIR=/run/escape-rw")
        lines.append(f"Bind={rw_host}:/run/escape-rw")
    if sb.host_root:
        env.append("ESCAPE_HOST_ROOT=1")
    lines += ["Environment=" + " ".join(env), tree_binds(), sb.extra,
              "[Service]", "StopTimeoutSec=5s", ""]
    return "\n".join(lines)


def become_nobody():
    """All three uids and gids nobody, no groups: no capability is left
    (setpriv --reuid keeps the saved uid 0, and with it the privilege to
    enter any directory, which would make every path reachable)."""
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)


def host_euid(path):
    """Runs path --euid as nobody on the host: its euid, or an error text."""
    try:
        p = subprocess.run([path, "--euid"], capture_output=True, text=True, timeout=10,
                           preexec_fn=become_nobody)
    except PermissionError as e:
        return f"did not run: {e.strerror}"
    out = p.stdout.strip()
    if p.returncode != 0 or not out.isdigit():
        return f"did not run: exit {p.returncode}, {out!r} {p.stderr.strip()!r}"
    return int(out)


def judge_host_file(sb, rw_host, detail, control):
    """The "host" row: the setuid file the container made, run as nobody."""
    path = os.path.join(rw_host, detail.split()[0])
    # The control: our own setuid-root copy, next to it, does get euid 0
    # here; else this host cannot tell, and nothing would be tested.
    if control != 0:
        return "WRONG", f"our own setuid-root copy ran as nobody with {control}: nothing tested"
    st = os.stat(path)
    euid = host_euid(path)
    seen = f"owner uid {st.st_uid} on the host, mode {st.st_mode & 0o7777:o}"
    if sb.directory and isinstance(euid, str) and "Permission denied" in euid:
        # The writable tree is below a directory only root may enter: no
        # host user can run what the container made there, setuid or not.
        return "blocked", f"nobody cannot reach it on the host ({seen})"
    if not isinstance(euid, int):
        return "WRONG", f"{path} {euid}"
    if euid == 0 and sb.host_root:
        return "skip", (f"euid 0 as nobody ({seen}): the container's root is the host's by "
                        "choice (PrivateUsers=no)")
    if euid == 0:
        return "ESCAPED", f"the host ran it as nobody with euid 0 ({seen})"
    return "blocked", f"the host ran it as nobody with euid {euid} ({seen})"


def run_sandbox(sb, root_socket):
    """Returns [(result, name, detail)] from one run of the escape binary."""
    port = free_port()
    with Daemon(args=[f"--spares={sb.spares}"]) as d, \
            tempfile.TemporaryDirectory(prefix="nsitest-escape-") as pub:
        # A setuid-root copy of the escape binary, for the setuid rows, and
        # the control of the host-file row: where nobody can run it.
        os.chmod(pub, 0o755)
        suid = os.path.join(pub, "escape-suid")
        shutil.copy(ESCAPE, suid)
        os.chown(suid, 0, 0)
        os.chmod(suid, 0o4755)
        rootfs = rw_host = None
        if sb.directory:
            # A writable tree must be out of host users' reach (the daemon
            # refuses it otherwise): below d.tmp, which stays 0700.
            rootfs = make_rootfs(d.tmp)
            rw_host = os.path.join(rootfs, "escape-rw")
        else:
            # The plain Bind= the container writes to: reachable, so that
            # the host row can run what it leaves there as nobody.
            os.chmod(d.tmp, 0o755)
            rw_host = os.path.join(d.tmp, "rw")
        os.mkdir(rw_host)
        os.chmod(rw_host, 0o777)
        d.write("escape", escape_conf(port, sb, suid, rw_host, root_socket, rootfs))
        d.start()
        # Twice: the second container (sandbox) gets a network namespace
        # the daemon made ahead (network.c's spares), the first the clone's;
        # the second run is the one judged, the first must answer too.
        for i in range(2):
            if i == 1:
                write_spare_pids(d, sb.spares, rw_host)
            with connect(("127.0.0.1", port), timeout=60) as s:
                data = recv_all(s).decode()
            if not sb.accept:
                d.ctl("stop", "escape")
                d.wait_state("escape", "stopped")
        if sb.pool:
            d.wait_log(r"handed to pooled sandbox", count=2)
        assert d.stop() == 0
        rows = [tuple(l.split("\t", 2)) for l in data.splitlines() if l]
        if not rows:
            raise AssertionError("no answer from the escape binary:\n" + d.log())
        control = host_euid(suid)
        return [judge_host_file(sb, rw_host, detail, control) + (name,)
                if result == "host" else (result, detail, name)
                for result, name, detail in rows]


def write_spare_pids(d, want, rw_host):
    """Waits (bounded) for the daemon's spares and leaves their pids for
    the attempt "reach a spare container"."""
    deadline = time.monotonic() + 10
    pids = spare_pids(d.proc.pid)
    while len(pids) < want and time.monotonic() < deadline:
        time.sleep(0.02)
        pids = spare_pids(d.proc.pid)
    if len(pids) < want:
        raise AssertionError(f"the daemon keeps {len(pids)} spare(s), not {want}:\n" +
                             d.log())
    with open(os.path.join(rw_host, "spare-pids"), "w") as f:
        f.write(" ".join(map(str, pids)) + "\n")


def root_only_socket():
    """A listening unix socket of root's, mode 0600 in a 0700 directory,
    outside /tmp and /run (the container's own there): (socket, path)."""
    top = tempfile.mkdtemp(prefix="nsitest-rootsock-", dir="/var/tmp")
    os.chmod(top, 0o700)
    path = os.path.join(top, "root.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    os.chmod(path, 0o600)
    s.listen(64)
    return s, path


def main():
    require_root()
    tap = TAP()
    sock, root_socket = root_only_socket()
    holes = []
    try:
        for sb in SANDBOXES:
            try:
                rows = run_sandbox(sb, root_socket)
            except Exception as e:  # noqa: BLE001 - one failed row for the sandbox
                def failed(e=e):
                    raise e
                tap.run(failed, f"{sb.label}: the escape binary ran")
                continue
            print(f"# {sb.label}:", flush=True)
            for result, detail, name in rows:
                print(f"#   {result:8} {name:42} {detail}", flush=True)
            for result, detail, name in rows:
                if result in ("ESCAPED", "WRONG"):
                    holes.append(f"{result} {sb.label}: {name}")

                def row(result=result, detail=detail):
                    if result == "skip":
                        raise SkipTest(detail)
                    if result != "blocked":
                        raise Failed(f"{result}: {detail}")
                tap.run(row, f"{sb.label}: {name}")
    finally:
        sock.close()
        shutil.rmtree(os.path.dirname(root_socket), ignore_errors=True)
    print(f"# {len(holes)} attempt(s) not blocked:", flush=True)
    for h in holes:
        print(f"#   {h}", flush=True)
    tap.done()


if __name__ == "__main__":
    main()
