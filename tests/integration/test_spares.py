#!/usr/bin/python3
"""Spare containers (--spares=N, supervisor/spares.h): the daemon keeps
nsinetd-init processes cloned ahead in the cgroup BASE/:init; an
Accept=no start takes one and sends it the spec, and its pid 1 clones the
payload into the service's cgroup. What a container started in a spare
must be, and that spares leave nothing behind: processes, cgroups, across
a stop, a death, a re-exec and the daemon's exit."""
import os
import re
import signal
import subprocess

from nsitest import (Daemon, cgroup2_mount, free_port, main, probe_conf, probe_stream,
                     spare_pids, wait_for)


def spares_of(d):
    return spare_pids(d.proc.pid)


def wait_spares(d, n):
    wait_for(lambda: len(spares_of(d)) == n, 10, f"{n} spare(s) of the daemon")
    return spares_of(d)


def cgroup_of(pid):
    """The cgroup v2 path of pid ("0::" line), relative to the mount."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line.strip()[3:]
    return None


def base_dir(d):
    """The daemon's cgroup base (MOUNT/SELF/nsinetd-PID), or None."""
    mnt = cgroup2_mount()
    if not mnt:
        return None
    self_cg = cgroup_of(os.getpid()) or "/"
    path = os.path.join(mnt + self_cg, f"nsinetd-{d.proc.pid}")
    return path if os.path.isdir(path) else None


def subdirs(path):
    return sorted(e for e in os.listdir(path) if os.path.isdir(os.path.join(path, e)))


def v2_line(text):
    return next((l for l in text.splitlines() if l.startswith("0::")), None)


IPC_LIMITS = ["67108864", str(64 * 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")), "256",
              "32000", "32000", "500", "128"]


def ipc_limits(pid):
    """shmmax, shmall, msgmni and sem of pid's IPC namespace (/proc/sys
    shows the reader's)."""
    return subprocess.run(["nsenter", "-t", str(pid), "--ipc", "cat"] +
                          [f"/proc/sys/kernel/{n}" for n in ("shmmax", "shmall", "msgmni", "sem")],
                          capture_output=True, text=True, timeout=10, check=True).stdout.split()


def ignored_signals(pid):
    """SigIgn of /proc/PID/status, as a number."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigIgn:"):
                return int(line.split()[1], 16)
    raise AssertionError(f"no SigIgn for {pid}")


def test_start_in_a_spare():
    """The first start takes the spare made at the daemon's start: the log
    says "spare to exec" with that pid, which stays in BASE/:init while
    the payload is in the service's cgroup, where it sees "/"; its view is
    a container's (two processes, lo alone), and a new spare is made. The
    spare bounds its System V IPC while it waits, and the container keeps
    those limits, and resets the signals the daemon ignores (SIGPIPE) ahead
    too. The stop removes the service's cgroup; the exit leaves nothing."""
    port = free_port()
    with Daemon({"probe": probe_conf(f"127.0.0.1:{port}")}) as d:
        d.start()
        spare = wait_spares(d, 1)[0]
        base = base_dir(d)
        assert ipc_limits(os.getpid()) != IPC_LIMITS, "the host has the containers' limits"
        wait_for(lambda: ipc_limits(spare) == IPC_LIMITS, 10, "the spare's IPC limits")
        assert ignored_signals(d.proc.pid) & (1 << (signal.SIGPIPE - 1)), "the daemon's SIGPIPE"
        assert ignored_signals(spare) == 0, hex(ignored_signals(spare))
        r = probe_stream(("127.0.0.1", port))
        d.wait_log(rf"probe: started container pid {spare} \(spare to exec")
        assert r["pid"] == 2 and r["ppid"] == 1 and r["nprocs"] == 2, r
        assert [i["name"] for i in r["interfaces"]] == ["lo"], r
        assert v2_line(r["cgroup"]) == "0::/", r["cgroup"]
        st = d.ctl("status", "probe")
        assert st["MainPID"] == spare, st
        payload = [p[0] for p in st["Processes"] if p[1] == spare]
        assert payload, st["Processes"]
        assert ipc_limits(payload[0]) == IPC_LIMITS
        if base:
            assert cgroup_of(spare).endswith(f"/nsinetd-{d.proc.pid}/:init"), cgroup_of(spare)
            assert cgroup_of(payload[0]).endswith(f"/nsinetd-{d.proc.pid}/probe"), \
                cgroup_of(payload[0])
        # The next one, made after the take.
        wait_for(lambda: spares_of(d) and spares_of(d) != [spare], 10, "a new spare")
        new = spares_of(d)[0]
        d.ctl("stop", "probe")
        d.wait_state("probe", "stopped")
        if base:
            wait_for(lambda: subdirs(base) == [":init"], 5,
                     "the service's cgroup to go, BASE/:init to stay")
        assert d.stop() == 0
        assert not os.path.exists(f"/proc/{new}"), "the spare outlived the daemon"
        if base:
            assert not os.path.exists(base), subdirs(base)


def test_no_spares_and_what_does_not_fit():
    """--spares=0 keeps none and each start clones. A service that a spare
    does not fit (ProcSubset=pid) clones while the spare waits on."""
    port = free_port()
    with Daemon({"probe": probe_conf(f"127.0.0.1:{port}")}, args=["--spares=0"]) as d:
        d.start()
        probe_stream(("127.0.0.1", port))
        d.wait_log(r"probe: started container pid \d+ \(clone to exec")
        assert spares_of(d) == [], spares_of(d)
        assert d.stop() == 0
    port = free_port()
    conf = probe_conf(f"127.0.0.1:{port}", extra_container="ProcSubset=pid")
    with Daemon({"probe": conf}) as d:
        d.start()
        spare = wait_spares(d, 1)[0]
        probe_stream(("127.0.0.1", port))
        d.wait_log(r"probe: started container pid \d+ \(clone to exec")
        assert spares_of(d) == [spare]
        assert d.stop() == 0


def test_spare_killed_is_replaced():
    """A spare that dies unused (killed here, by pid: the daemon's child,
    started by this test's daemon) is reaped, logged and made again, and
    the next start uses the new one."""
    port = free_port()
    with Daemon({"probe": probe_conf(f"127.0.0.1:{port}")}) as d:
        d.start()
        old = wait_spares(d, 1)[0]
        os.kill(old, signal.SIGKILL)
        d.wait_log(rf"spare pid {old} ended before any start took it")
        wait_for(lambda: spares_of(d) and spares_of(d) != [old], 10, "a new spare")
        new = spares_of(d)[0]
        probe_stream(("127.0.0.1", port))
        d.wait_log(rf"probe: started container pid {new} \(spare to exec")
        assert d.stop() == 0
        assert not os.path.exists(f"/proc/{old}"), "the killed spare is not reaped"


def test_spares_across_a_reexec():
    """A re-exec ends the spares (none is part of the state) and the new
    daemon makes its own: no spare process or cgroup of the old one stays,
    and the running container goes over as always."""
    port = free_port()
    with Daemon({"probe": probe_conf(f"127.0.0.1:{port}")}, args=["--spares=2"]) as d:
        d.start()
        probe_stream(("127.0.0.1", port))
        old = wait_spares(d, 2)
        r = d.ctl_run("daemon-reexec", timeout=60)
        assert r.returncode == 0, (r.stdout, r.stderr)
        new = wait_spares(d, 2)
        assert not set(old) & set(new), (old, new)
        for p in old:
            assert not os.path.exists(f"/proc/{p}"), f"old spare {p} left running"
        # The running container came over; the next start takes a new spare.
        st = d.ctl("status", "probe")
        assert st["State"] == "running", st
        d.ctl("stop", "probe")
        d.wait_state("probe", "stopped")
        probe_stream(("127.0.0.1", port))
        wait_for(lambda: re.search(r"started container pid (\d+) \(spare to exec",
                                   d.log()[d.log().rfind("re-executing"):]), 10,
                 "a start in a new spare")
        assert d.stop() == 0


if __name__ == "__main__":
    main([test_start_in_a_spare, test_no_spares_and_what_does_not_fit,
          test_spare_killed_is_replaced, test_spares_across_a_reexec])
