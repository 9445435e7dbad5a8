#!/usr/bin/python3
"""Boot=yes where systemd-machined runs, on a pure cgroup2 system: the
Debian 12 tree of test_systemd.py (systemd 252 as pid 1, with
systemd-container, so machined and machinectl) booted by systemd-nspawn
with SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1, so that it and nsinetd inside
(a unit with Delegate=yes) see only cgroup2 at /sys/fs/cgroup, whatever
the host has. In it, nsinetd boots the examples/debian-os tree (bound
read-only, Ephemeral=yes) on the first request.

What it shows: the nested OS boots to `running` on a pure cgroup2 system
and its socket-activated lighttpd answers a request made from the test;
while it runs, machinectl lists it (class container, service nsinetd, the
tree as root directory, its pid 1 as leader: the daemon's child), and
`machinectl shell` runs a command in it; after
`nsinetctl stop` it is gone from machined, also after a re-exec; with `nsinetd --register=no` the
next boot is not registered; the host's cgroup trees are as they were.

Heavy (two booted systems): scripts/check.sh runs it in the plain pass
only (suite `heavy`); test_boot.py checks the sanitized daemon's side of
an absent machined.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

from nsitest import main, wait_for
from test_boot import ANSWER, build_tree, cgroup_listing, cgroups_unchanged
from test_systemd import Booted, cached_tree, hierarchies, hierarchies_unchanged
NAME = "debian_os"      # the service
MACHINE = "debian-os"   # its machine name: '_' is not valid in a host name
PORT = 8085
CONF = f"""[Socket]
ListenStream=127.0.0.1:{PORT}
FileDescriptorName=http
[Container]
Directory=/srv/debian-os
Boot=yes
Ephemeral=yes
BindReadOnly=/etc/nsinetd/lighttpd.socket:/etc/systemd/system/lighttpd.socket
MemoryMax=512M
[Service]
StopTimeoutSec=20s
"""
SOCKET_UNIT = f"""[Unit]
DefaultDependencies=no
Before=sockets.target
[Socket]
ListenStream=127.0.0.1:{PORT}
[Install]
WantedBy=sockets.target
"""
# Run in the booted system's network namespace (nsenter --net): one GET.
GET = f"""
import socket, sys
s = socket.create_connection(("127.0.0.1", {PORT}), timeout=60)
s.settimeout(60)
s.sendall(b"GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.buffer.write(out)
"""


def machine_show(b):
    """machinectl show MACHINE in the booted system: its properties, or
    None if machined does not know it."""
    r = b.run("machinectl", "show", MACHINE, "-p", "Class", "-p", "Leader", "-p", "Service",
              "-p", "RootDirectory", "-p", "State", check=False)
    if r.returncode != 0:
        return None
    return dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)


def journal(b):
    return b.run("journalctl", "-u", "nsinetd", "--no-pager", "-o", "cat").stdout


def test_boot_registered_on_pure_cgroup2():
    tree = cached_tree()
    os_tree = build_tree()
    hier_before = hierarchies()
    tops_before = cgroup_listing()
    b = Booted(tempfile.mkdtemp(prefix="nsitest-nested-"))
    try:
        b.install(tree)
        if not os.path.exists(os.path.join(b.tree, "usr/bin/machinectl")):
            raise AssertionError(f"{tree} has no machinectl: systemd-tree.sh's package list "
                                 "lacks systemd-container")
        etc = os.path.join(b.tree, "etc", "nsinetd")
        with open(os.path.join(etc, f"{NAME}.conf"), "w") as f:
            f.write(CONF)
        with open(os.path.join(etc, "lighttpd.socket"), "w") as f:
            f.write(SOCKET_UNIT)
        os.makedirs(os.path.join(b.tree, "srv", "debian-os"), exist_ok=True)
        b.boot(extra=[f"--bind-ro={os_tree}:/srv/debian-os"],
               env={**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"})

        # A pure cgroup2 system: one cgroup2 at /sys/fs/cgroup, no v1.
        fstype = b.run("stat", "-f", "-c", "%T", "/sys/fs/cgroup").stdout.strip()
        v1 = [l for l in b.run("cat", "/proc/self/mountinfo").stdout.splitlines()
              if " - cgroup " in l]
        assert fstype == "cgroup2fs" and not v1, (fstype, v1)
        wait_for(lambda: b.show("nsinetd.service", "ActiveState")["ActiveState"] == "active",
                 30, "nsinetd.service active")

        # The first request boots the tree; its lighttpd answers.
        t0 = time.monotonic()
        r = subprocess.run(["nsenter", f"--net=/run/netns/{b.netns.name}", sys.executable, "-c",
                            GET], capture_output=True, timeout=120)
        assert r.returncode == 0 and ANSWER in r.stdout, (
            r.stdout[-500:], r.stderr[-2000:], journal(b)[-3000:])
        print(f"# first answer {time.monotonic() - t0:.3f}s after the request that booted it",
              flush=True)
        r = b.run("nsinetctl", "shell", NAME, "systemctl", "is-system-running", "--wait",
                  check=False, timeout=90)
        assert r.stdout.strip() == "running", (
            r.stdout, r.stderr, b.run("nsinetctl", "shell", NAME, "systemctl", "--failed",
                                      "--no-pager", check=False).stdout)

        # Registered with machined while it runs: its pid 1 is the leader.
        m = wait_for(lambda: machine_show(b), 30, f"machine {MACHINE} in machinectl")
        assert (m.get("Class"), m.get("Service"), m.get("RootDirectory"), m.get("State")) == (
            "container", "nsinetd", "/srv/debian-os", "running"), m
        leader = m["Leader"]
        print(f"# machinectl show {MACHINE}: {m}", flush=True)
        status = b.run("cat", f"/proc/{leader}/status").stdout
        fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
        main_pid = b.show("nsinetd.service", "MainPID")["MainPID"]
        assert (fields["Name"].strip(), fields["PPid"].strip(), fields["NSpid"].split()[-1]) == (
            "systemd", main_pid, "1"), (leader, status, main_pid)
        listed = b.run("machinectl", "list", "--no-legend").stdout
        assert re.search(rf"^{MACHINE}\s+container\s+nsinetd", listed, re.M), listed
        assert f"registered with systemd-machined as machine {MACHINE}" in journal(b)
        # machinectl shell reaches the booted OS through machined: its
        # container manager is nsinetd (nspawn's system says systemd-nspawn).
        r = b.run("machinectl", "shell", MACHINE, "/bin/cat", "/run/host/container-manager",
                  check=False, timeout=60)
        assert r.returncode == 0 and r.stdout.strip() == "nsinetd", (r.stdout, r.stderr)

        # A re-exec keeps it registered, and still unregisters it at the end.
        b.run("nsinetctl", "daemon-reexec", timeout=60)
        assert machine_show(b) == m, (machine_show(b), m)

        # Stopped: gone from machined.
        b.run("nsinetctl", "stop", NAME, timeout=60)
        wait_for(lambda: machine_show(b) is None, 30, f"machine {MACHINE} to go from machined")
        log = journal(b)
        assert "not registered" not in log, log[-3000:]
        # It ran until the stop: the re-exec's new daemon did not take the
        # container it was handed for a dead daemon's (its cgroup killed).
        assert "killed by SIGKILL" not in log, log[-3000:]

        # nsinetd --register=no: the next boot is not registered.
        unit = b.run("systemctl", "cat", "nsinetd.service").stdout
        exec_start = [l for l in unit.splitlines() if l.startswith("ExecStart=")][-1]
        dropin = os.path.join(b.tree, "etc/systemd/system/nsinetd.service.d")
        os.makedirs(dropin, exist_ok=True)
        with open(os.path.join(dropin, "register.conf"), "w") as f:
            f.write(f"[Service]\nExecStart=\n{exec_start} --register=no\n")
        b.run("systemctl", "daemon-reload")
        b.run("systemctl", "restart", "nsinetd.service", timeout=60)
        r = subprocess.run(["nsenter", f"--net=/run/netns/{b.netns.name}", sys.executable, "-c",
                            GET], capture_output=True, timeout=120)
        assert r.returncode == 0 and ANSWER in r.stdout, (r.stdout[-500:], r.stderr[-2000:])
        r = b.run("nsinetctl", "shell", NAME, "systemctl", "is-system-running", "--wait",
                  check=False, timeout=90)
        assert r.stdout.strip() == "running", (r.stdout, r.stderr)
        assert machine_show(b) is None, machine_show(b)
        b.run("nsinetctl", "stop", NAME, timeout=60)
    finally:
        b.dispose()
    hierarchies_unchanged(hier_before)
    cgroups_unchanged(tops_before)  # and nothing at the top of any hierarchy


if __name__ == "__main__":
    main([test_boot_registered_on_pure_cgroup2])
