#!/usr/bin/python3
"""The sandbox defaults and their knobs, seen from inside by the probe."""
import json
import os
import re
import signal
import shutil
import subprocess
import tempfile

from nsitest import (BUILD, NSINETD, PROBE, SRC, Daemon, SkipTest, main, probe_conf,
                     probe_stream, free_port, cgroup2_mount, connect, recv_all, start_fails,
                     tree_binds, make_rootfs, closed_ancestor)

FORKCOUNT = os.path.join(SRC, "tests", "integration", "forkcount.py")
EAGAIN = 11

DEFAULT_ROOT_CAPS = 0x405fb
CAP_SYS_ADMIN = 1 << 21

# What the sandbox masks in /proc: at least what runc and Docker mask or
# make read-only, and /proc/pressure (host-wide, writable by any uid). A
# file is masked by /dev/null, a directory by an empty read-only tmpfs.
# What runc and Docker mask (masked: /dev/null over a file, an empty
# read-only tmpfs over a directory) and what they make read-only, plus what
# nsinetd adds to each list (activator/rootfs.c, rootfs_proc()).
MASKED_PROC = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/proc/sysrq-trigger", "/proc/key-users", "/proc/kallsyms", "/proc/kmsg",
    "/proc/config.gz", "/proc/kpagecount", "/proc/kpageflags", "/proc/kpagecgroup",
    "/proc/mtrr", "/proc/driver",
]
READ_ONLY_PROC = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/pressure", "/proc/sys",
                  "/proc/sysvipc"]
TMPFS_MAGIC = 0x01021994


def probe(extra_container="", env=(), daemon_env=None):
    port = free_port()
    with Daemon({"probe": probe_conf(f"127.0.0.1:{port}", env=env,
                                      extra_container=extra_container)},
                env=daemon_env) as d:
        # The staging dir below the runtime dir must be reachable by the
        # container's root when it is a PrivateUsers= uid (as /run/nsinetd is).
        os.chmod(d.tmp, 0o755)
        d.start()
        r = probe_stream(("127.0.0.1", port))
        assert d.stop() == 0
        return r, d.log()


def test_default_root_capabilities_and_filter():
    r, _ = probe()
    assert int(r["caps"], 16) == DEFAULT_ROOT_CAPS, r["caps"]
    assert int(r["cap_bnd"], 16) == DEFAULT_ROOT_CAPS, r["cap_bnd"]
    assert not int(r["caps"], 16) & CAP_SYS_ADMIN
    assert r["no_new_privs"] == "1", r
    assert r["seccomp"] == "2", r  # filter mode


def test_bench_switch_ignored():
    """The benchmark's no-hardening switch exists only in a build of its own
    (-Dbench_no_hardening=true): this daemon ignores the variable."""
    if "benchmark build" in subprocess.run([NSINETD, "--version"], capture_output=True,
                                           text=True, timeout=60).stdout:
        raise SkipTest("this is the benchmark build (-Dbench_no_hardening=true)")
    r, log = probe(daemon_env={"NSINETD_BENCH_NO_HARDENING": "1"})
    assert int(r["caps"], 16) == DEFAULT_ROOT_CAPS, r["caps"]
    assert r["seccomp"] == "2" and r["no_new_privs"] == "1", r
    # A log check: the log does not even mention the switch.
    assert "NSINETD_BENCH_NO_HARDENING" not in log, log


def test_setup_timing_only_in_its_build():
    """nsinetd-init's timing of its setup steps (bench/run's nsinetd-steps)
    exists only in a build of its own (-Dbench_setup_timing=true): this one
    writes nothing of it to the container's output, which the daemon logs."""
    _, log = probe()
    assert "started container pid" in log, log
    assert "nsinetd-init setup:" not in log, log


def test_user_has_no_capabilities():
    r, _ = probe("User=nobody")
    assert int(r["caps"], 16) == 0 and int(r["cap_bnd"], 16) == 0, r


def test_capabilities_key():
    r, _ = probe("User=nobody\nCapabilities=CAP_NET_BIND_SERVICE")
    assert int(r["caps"], 16) == 1 << 10, r  # ambient: survives execve as non-root
    assert int(r["cap_bnd"], 16) == 1 << 10, r


def test_no_new_privileges_off_without_filter_needs():
    # With a filter and no CAP_SYS_ADMIN the kernel needs no_new_privs anyway.
    r, _ = probe("NoNewPrivileges=no")
    assert r["no_new_privs"] == "1", r
    r, _ = probe("NoNewPrivileges=no\nCapabilities=CAP_SYS_ADMIN")
    assert r["no_new_privs"] == "0", r


def test_no_new_privileges_with_cap_sys_admin():
    # CAP_SYS_ADMIN lets the filter load without no_new_privs: the key
    # alone must still set it.
    r, _ = probe("NoNewPrivileges=yes\nCapabilities=CAP_SYS_ADMIN")
    assert r["no_new_privs"] == "1", r


def test_no_stray_fd_reaches_the_container():
    """An fd the daemon inherited without close-on-exec (here fd 20, the
    host's / as a directory: a way out of any root) reaches no container:
    each holds 0-3 only, with Accept=no, Accept=yes and from a pool."""
    ports = {name: free_port() for name in ("plain", "accept", "pool")}
    services = {
        "plain": probe_conf(f"127.0.0.1:{ports['plain']}"),
        "accept": probe_conf(f"127.0.0.1:{ports['accept']}", extra_socket="Accept=yes"),
        "pool": probe_conf(f"127.0.0.1:{ports['pool']}", extra_socket="Accept=yes",
                           extra_container="PoolSize=1"),
    }
    root = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.dup2(root, 20)
        with Daemon(services) as d:
            os.chmod(d.tmp, 0o755)
            d.pass_fds = (20,)
            d.start()
            assert os.readlink(f"/proc/{d.proc.pid}/fd/20") == "/", "the daemon holds fd 20"
            for name, port in ports.items():
                r = probe_stream(("127.0.0.1", port))
                assert r["open_fds"] == [0, 1, 2, 3], (name, r["open_fds"])
            assert d.stop() == 0
    finally:
        os.close(20)
        os.close(root)


def test_daemon_groups_stay_out():
    """The daemon's supplementary groups (here adm and shadow, 4 and 42)
    reach no container, root or not: shadow reads /etc/shadow."""
    ports = {"root": free_port(), "nobody": free_port()}
    # In a user namespace a kept host group shows as the overflow gid, not as
    # 42: what tells is whether the group still opens the group's files.
    files = ["PROBE_FILES=/etc/shadow"]
    with Daemon({"root": probe_conf(f"127.0.0.1:{ports['root']}", env=files),
                 "nobody": probe_conf(f"127.0.0.1:{ports['nobody']}", env=files,
                                      extra_container="User=nobody")}) as d:
        os.chmod(d.tmp, 0o755)
        d.preexec = lambda: os.setgroups([4, 42])
        d.start()
        with open(f"/proc/{d.proc.pid}/status") as f:
            groups = [l.split()[1:] for l in f if l.startswith("Groups:")][0]
        assert groups == ["4", "42"], f"the daemon's own groups: {groups}"
        for name, port in ports.items():
            r = probe_stream(("127.0.0.1", port))
            assert not {4, 42} & set(r["groups"]), (name, r["groups"])
            assert r["files"]["/etc/shadow"]["content"] is None, (name, r["groups"])
        assert d.stop() == 0


def mount_options(r):
    """{target: set of per-mount options} from the probe's mountinfo."""
    return {m["target"]: set(m["options"].split(",")) for m in r["mounts"]}


def test_root_nosuid():
    """The read-only root is nosuid too: a setuid binary of the image is
    no way up, even where NoNewPrivileges= is off."""
    r, _ = probe()
    opts = mount_options(r)["/"]
    assert {"ro", "nosuid"} <= opts, opts


def test_every_mount_nosuid_nodev():
    """nsinetd.conf(5): nosuid and nodev on every mount the container gets
    from nsinetd (nodev but on /dev, its pts and the device nodes bound
    there, and the /dev/null masks of MASKED_PROC): the root, its
    submounts, Bind=, BindReadOnly=, TemporaryFileSystem=."""
    with tempfile.TemporaryDirectory(prefix="nsitest-binds-") as src:
        os.chmod(src, 0o755)
        r, _ = probe(f"Bind={src}:/run/rw\nBindReadOnly={src}:/run/ro\n"
                     "TemporaryFileSystem=/run/scratch")
    bad = []
    for target, opts in sorted(mount_options(r).items()):
        if target in MASKED_PROC:
            continue  # /dev/null over a /proc file: a device by design
        want = {"nosuid"} if target == "/dev" or target.startswith("/dev/") \
            else {"nosuid", "nodev"}
        if not want <= opts:
            bad.append(f"{target}: {','.join(sorted(opts))} (lacks {','.join(sorted(want - opts))})")
    assert not bad, "mounts without nosuid/nodev:\n  " + "\n  ".join(bad)


_proc_stat = {}


def proc_masked(path):
    """The path of MASKED_PROC, if it exists on this kernel, is masked in
    the default sandbox; one of READ_ONLY_PROC is a read-only mount. One
    probe answers for every path."""
    if not os.path.lexists(path):
        raise SkipTest(f"{path} is absent on this kernel")
    if not _proc_stat:
        present = [p for p in MASKED_PROC + READ_ONLY_PROC if os.path.lexists(p)]
        r, _ = probe(env=[f"PROBE_STAT={','.join(present)}"])
        _proc_stat.update(r["stat"])
    st = _proc_stat[path]
    if path in READ_ONLY_PROC:
        assert st and st["readonly"], f"{path} is not read-only: {st}"
    elif os.path.isdir(path):
        assert (st and st["type"] == "dir" and st["entries"] == 0 and st["readonly"]
                and int(st["fs"], 16) == TMPFS_MAGIC), \
            f"{path} is not an empty read-only tmpfs: {st}"
    else:
        assert st and st["type"] == "chr" and st["device"] == "1:3", \
            f"{path} is not /dev/null: {st}"


def proc_masked_tests():
    """One test (one TAP row) per path of MASKED_PROC."""
    tests = []
    for path in MASKED_PROC + READ_ONLY_PROC:
        def t(path=path):
            proc_masked(path)
        t.__name__ = f"test_proc_masked {path}"
        tests.append(t)
    return tests


def test_proc_subset_pid():
    """ProcSubset=pid: the container's /proc is one mount, subset=pid, with
    the processes' directories and self, and none of the host's kernel (the
    masked files, /proc/sys, /proc/meminfo are not there at all, so no mask
    is made). The default is the whole /proc, with its masks."""
    files = ["/proc/self/status", "/proc/1/status", "/proc/meminfo", "/proc/sys/kernel/hostname",
             "/proc/timer_list", "/proc/keys"]
    r, _ = probe("ProcSubset=pid", env=["PROBE_FILES=" + ",".join(files)])
    f = r["files"]
    assert "Pid:" in (f["/proc/self/status"]["content"] or ""), f
    assert "Pid:" in (f["/proc/1/status"]["content"] or ""), f
    for gone in files[2:]:
        assert f[gone]["content"] is None, (gone, f)
    proc = [m for m in r["mounts"] if m["target"] == "/proc" or m["target"].startswith("/proc/")]
    assert len(proc) == 1 and proc[0]["fs"] == "proc", proc
    d, _ = probe("", env=["PROBE_FILES=/proc/meminfo"])
    assert "MemTotal" in (d["files"]["/proc/meminfo"]["content"] or ""), d["files"]
    assert len([m for m in d["mounts"] if m["target"].startswith("/proc/")]) > 5, d["mounts"]


def test_no_secret_reaches_a_root_payload():
    """The daemon's environment and another service's Environment= are out
    of reach of a root payload in the default sandbox: not in /proc/1/environ
    or /proc/1/mem, /proc/*/environ or cmdline, its own environment, or a
    file on one of its fds. A third secret, in the probe's own environment,
    is the control: the scan must find that one."""
    daemon_secret = "s3cr3t-daemon-" + os.urandom(8).hex()
    vault_secret = "s3cr3t-vault-" + os.urandom(8).hex()
    control = "s3cr3t-control-" + os.urandom(8).hex()
    encoded = ",".join(x.encode().hex() for x in (daemon_secret, vault_secret, control))
    port, vport = free_port(), free_port()
    with Daemon({"probe": probe_conf(f"127.0.0.1:{port}",
                                     env=[f"PROBE_SECRETS={encoded}", f"CONTROL={control}"]),
                 "vault": probe_conf(f"127.0.0.1:{vport}", env=[f"VAULT_TOKEN={vault_secret}"])},
                env={"NSINETD_TEST_SECRET": daemon_secret}) as d:
        os.chmod(d.tmp, 0o755)
        d.start()
        r = probe_stream(("127.0.0.1", port), timeout=60)
        assert d.stop() == 0
    sec = r["secrets"]
    print(f"# the payload opened: {' '.join(sec['opened'])}", flush=True)
    found = [f"{('daemon', 'vault', 'control')[f['secret']]} in {f['where']}"
             for f in sec["found"]]
    for f in found:
        print(f"# found: {f}", flush=True)
    assert any(f.startswith("control in /proc/self/environ") for f in found), \
        f"the scan did not find its control secret: {found}"
    leaked = [f for f in found if not f.startswith("control ")]
    assert not leaked, f"secrets within reach: {leaked}"


def test_limits():
    r, _ = probe("LimitNOFILE=100:200")
    assert r["rlimit_nofile"] == [100, 200], r


def test_system_call_filter_allow_list():
    # An allow list the probe can live with; its answer proves it ran.
    r, _ = probe("SystemCallFilter=@system-service")
    assert r["seccomp"] == "2", r


def test_private_users():
    r, log = probe("PrivateUsers=yes")
    first = r["uid_map"].split()
    assert first[0] == "0" and int(first[1]) >= 0x20000000 and first[2] == "65536", r


def inetd_run(program, extra_container=""):
    """Runs program (an Exec= value) once, as an Accept=yes service whose
    stdout is the connection; returns what it wrote."""
    port = free_port()
    conf = (f"[Socket]\nListenStream=127.0.0.1:{port}\nAccept=yes\n[Container]\n"
            f"Exec={program}\nStandardInput=socket\n{tree_binds()}\n{extra_container}\n"
            "[Service]\nStopTimeoutSec=5s\n")
    with Daemon({"run": conf}) as d:
        os.chmod(d.tmp, 0o755)  # the staging dir: reachable by a PrivateUsers= root
        d.start()
        with connect(("127.0.0.1", port), timeout=30) as s:
            out = recv_all(s).decode()
        assert d.stop() == 0
        return out, d.log()


# Prints "RESULT ERRNO" of syscall(NR, ...) for each NR given, with a
# buffer of zeros as the arguments (io_uring_setup(1, &params)).
SYSCALL_PY = ("/usr/bin/python3 -c 'import ctypes, sys; c = ctypes.CDLL(None, use_errno=True); "
              "b = ctypes.create_string_buffer(256); "
              "[print(c.syscall(int(n), 1, b), ctypes.get_errno(), flush=True) "
              "for n in sys.argv[1:]]'")
NR_IO_URING_SETUP = 425
NR_MEMFD_SECRET = 447
EACCES = 13


def syscalls(extra_container, *nrs):
    out, log = inetd_run(SYSCALL_PY + " " + " ".join(str(n) for n in nrs), extra_container)
    rows = [tuple(int(x) for x in l.split()) for l in out.splitlines()]
    assert len(rows) == len(nrs), (out, log)
    return rows


def test_io_uring_and_memfd_secret_denied():
    """io_uring escapes every filter (IORING_OP_CONNECT is no connect()):
    refused by the filter itself, whose errno (here EACCES, which the kernel
    would not say) shows it, in the default filter, with a deny list, and
    with an allow list whose @group holds it; memfd_secret() likewise."""
    for extra in ("", "SystemCallFilter=~connect", "SystemCallFilter=@system-service"):
        rows = syscalls(f"SystemCallErrorNumber=EACCES\n{extra}", NR_IO_URING_SETUP,
                        NR_MEMFD_SECRET)
        assert rows == [(-1, EACCES), (-1, EACCES)], (extra, rows)


def test_io_uring_named_in_allow_list():
    """Named one by one in an allow list, io_uring_setup reaches the kernel."""
    with open("/proc/sys/kernel/io_uring_disabled") as f:
        if f.read().strip() != "0":
            raise SkipTest("kernel.io_uring_disabled is set on this host")
    (r, err), = syscalls("SystemCallErrorNumber=EACCES\n"
                         "SystemCallFilter=@system-service io_uring_setup",
                         NR_IO_URING_SETUP)
    assert r >= 0, (r, err)


def test_default_root_can_chroot():
    """chroot() is allowed with the default set (CAP_SYS_CHROOT) and filter."""
    out, log = inetd_run("/usr/bin/python3 -c 'import os; os.chroot(\"/mnt\"); "
                         "print(\"chrooted\", os.listdir(\"/\"))'",
                         "TemporaryFileSystem=/mnt")
    # An empty tmpfs of the sandbox's own (not /tmp, where a clone of the
    # tree under /tmp is bound in): so is its / after chroot().
    assert out.strip() == "chrooted []", (out, log)


def pids_controller():
    m = cgroup2_mount()
    return m and "pids" in open(os.path.join(m, "cgroup.subtree_control")).read().split()


def fork_bomb(extra_container):
    out, log = inetd_run(f"/usr/bin/python3 {FORKCOUNT} 2000", extra_container)
    children, err = (int(x) for x in out.split())
    return children, err, log


def test_default_process_limits():
    """LimitNPROC=512 by default, seen from inside (also for the host's
    root, whom it does not bind: the users it becomes inherit it);
    LimitNPROC=infinity turns it off."""
    out, _ = inetd_run("/bin/busybox sh -c 'ulimit -Su; ulimit -Hu'")
    assert out.split() == ["512", "512"], out
    out, _ = inetd_run("/bin/busybox sh -c 'ulimit -u'", "LimitNPROC=infinity")
    assert out.split() != ["512"], out


OOM_SH = ("/bin/busybox sh -c 'cat /proc/self/oom_score_adj /proc/1/oom_score_adj; "
          "echo -1000 > /proc/self/oom_score_adj || echo refused; "
          "echo 900 > /proc/self/oom_score_adj && cat /proc/self/oom_score_adj'")


def oom_conf(port, extra):
    return (f"[Socket]\nListenStream=127.0.0.1:{port}\nAccept=yes\n[Container]\n"
            f"Exec={OOM_SH}\nStandardInput=socket\n{tree_binds()}\n{extra}\n"
            "[Service]\nStopTimeoutSec=5s\n")


def oom_run(services, daemon_score=None):
    """services: {name: extra [Container] lines}; each answers once. The
    daemon's own oom_score_adj is set to daemon_score before the first
    start. Returns ({name: words}, the log)."""
    ports = {name: free_port() for name in services}
    with Daemon({n: oom_conf(ports[n], e) for n, e in services.items()}) as d:
        d.start()
        if daemon_score is not None:
            with open(f"/proc/{d.proc.pid}/oom_score_adj", "w") as f:
                f.write(str(daemon_score))
        out = {}
        for name, port in ports.items():
            with connect(("127.0.0.1", port), timeout=30) as s:
                out[name] = recv_all(s).decode().split()
        assert d.stop() == 0, d.log()
        return out, d.log()


def can_lower_oom_score():
    with open("/proc/self/status") as f:
        eff = next(int(l.split()[1], 16) for l in f if l.startswith("CapEff:"))
    return eff & (1 << 24)  # CAP_SYS_RESOURCE


def test_oom_score_adjust():
    """OOMScoreAdjust= is the sandbox's (pid 1's and the payload's) and its
    floor: the payload may raise it (900), not lower it (-1000: refused).
    Unset: the daemon's own (0 here). Below the daemon's own it needs
    CAP_SYS_RESOURCE: with it the value is used, without it (this kind of
    host) the daemon's own, and the log says why."""
    out, log = oom_run({"plain": "", "adj": "OOMScoreAdjust=700",
                        "low": "OOMScoreAdjust=-100"})
    # The payload's, pid 1's, the refused -1000, then the raise to 900.
    assert out["plain"] == ["0", "0", "refused", "900"], out
    assert out["adj"] == ["700", "700", "refused", "900"], out
    if can_lower_oom_score():
        assert out["low"] == ["-100", "-100", "refused", "900"], out
    else:
        assert out["low"] == ["0", "0", "refused", "900"], out
        assert ("low: OOMScoreAdjust=-100 is below the daemon's own (0) and there is no "
                "CAP_SYS_RESOURCE to lower it: using 0") in log, log


def test_oom_score_not_inherited_below_zero():
    """A daemon that protects itself (-500) does not pass that on to its
    payloads: unset, they get 0."""
    if not can_lower_oom_score():
        raise SkipTest("no CAP_SYS_RESOURCE here: the test cannot give the daemon a "
                       "negative oom_score_adj")
    out, _ = oom_run({"plain": ""}, daemon_score=-500)
    assert out["plain"] == ["0", "0", "refused", "900"], out


def test_oom_score_shell():
    """A command that nsinetctl shell runs in the container gets the
    container's OOMScoreAdjust= (700), as its payload has it, not the
    daemon's own (here raised to 300, as far as the test may: a daemon that
    protects itself, e.g. -500, would otherwise hand that to the command and
    to every process the command starts); unset, the daemon's own, as a
    start. Its payload's attempt to go lower is refused, as the payload's."""
    ports = {"adj": free_port(), "plain": free_port()}
    services = {"adj": probe_conf(f"127.0.0.1:{ports['adj']}",
                                  extra_container="OOMScoreAdjust=700"),
                "plain": probe_conf(f"127.0.0.1:{ports['plain']}")}
    with Daemon(services) as d:
        d.start()
        with open(f"/proc/{d.proc.pid}/oom_score_adj", "w") as f:
            f.write("300")
        script = ("cat /proc/self/oom_score_adj; "
                  "echo -1000 > /proc/self/oom_score_adj 2>/dev/null || echo refused")
        for name, want in (("adj", ["700", "refused"]), ("plain", ["300", "refused"])):
            r = d.ctl_run("shell", name, "/bin/sh", "-c", script)
            assert r.returncode == 0 and r.stdout.split() == want, (name, r)
            st = d.ctl("status", name)
            with open(f"/proc/{st['MainPID']}/oom_score_adj") as f:
                assert f.read().strip() == want[0], name
        assert d.stop() == 0
        assert not d.leftovers(), d.leftovers()


def test_fork_bomb_stops_at_limit():
    """A root payload in its user namespace (the default) forks until
    refused: it stops at the default LimitNPROC=512 (the service's uids count
    its own processes only), far below the host's limit."""
    children, err, log = fork_bomb("")
    # 512 processes of the uid: the sandbox's init and python among them.
    assert err == EAGAIN and 400 <= children <= 510, (children, err, log)


def test_fork_bomb_host_root():
    """The host's root is not bound by LimitNPROC=: the default TasksMax=512
    stops it where a pids controller is delegated; elsewhere the daemon and
    --check say that nothing does."""
    if pids_controller():
        children, err, log = fork_bomb("PrivateUsers=no")
        assert err == EAGAIN and 400 <= children <= 510, (children, err, log)
        return
    port = free_port()
    with Daemon({"root": probe_conf(f"127.0.0.1:{port}", extra_container="PrivateUsers=no"),
                 "ns": probe_conf(f"127.0.0.1:{free_port()}")}) as d:
        out = subprocess.run([NSINETD, "--check", "--config-dir", d.config_dir],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out
        lines = [l for l in out.stdout.splitlines() if "no limit on the number of" in l]
        assert len(lines) == 1 and "root.conf" in lines[0], out.stdout
        assert "the default TasksMax=512 is not enforced (no pids controller" in lines[0]
        os.chmod(d.tmp, 0o755)
        d.start()
        probe_stream(("127.0.0.1", port))
        # A log check: the once-only hardening warning is the log's (and
        # --check's), not a state.
        d.wait_log(r"root: no limit on the number of processes: the default TasksMax=512 "
                   r"is not enforced \(no pids controller")
        assert d.stop() == 0
    raise SkipTest("no pids controller in cgroup v2 here: the host's root is not bound "
                   "(and the daemon says so, as checked)")


def test_private_users_idmapped_root():
    """PrivateUsers= with a Directory= owned by the host's root: the daemon
    makes an idmapped mount, so the container's root owns its tree."""
    port = free_port()
    with Daemon() as d:
        os.chmod(d.tmp, 0o755)  # the staging dir: reachable by the range's root
        root = make_rootfs(d.tmp)
        build = os.path.realpath(BUILD)
        d.write("idm", probe_conf(
            f"127.0.0.1:{port}", env=["PROBE_FILES=/data/secret.txt"],
            extra_container=(f"Directory={root}\nPrivateUsers=yes\n"
                             f"BindReadOnly=/usr:/usr\nBindReadOnly={build}:{build}\n")))
        d.start()
        r = probe_stream(("127.0.0.1", port))
        shift = int(r["uid_map"].split()[1])
        assert shift >= 0x20000000, r
        # Unreadable to the container's root without the idmapped mount
        # (the file would be nobody's); readable through it.
        assert r["files"]["/data/secret.txt"]["content"] == "root only", r
        # On the host, nothing changed owner.
        st = os.stat(os.path.join(root, "data", "secret.txt"))
        assert (st.st_uid, st.st_gid) == (0, 0)
        assert d.stop() == 0


def test_directory_read_only_by_default():
    """A Directory= tree is read-only by default, as the host's / is;
    ReadOnly=no makes it writable."""
    for extra, readonly in (("", True), ("ReadOnly=no", False)):
        port = free_port()
        with Daemon() as d:
            root = make_rootfs(d.tmp)
            build = os.path.realpath(BUILD)
            d.write("dir", probe_conf(
                f"127.0.0.1:{port}",
                extra_container=(f"Directory={root}\nBindReadOnly=/usr:/usr\n"
                                 f"BindReadOnly={build}:{build}\n{extra}\n")))
            d.start()
            r = probe_stream(("127.0.0.1", port))
            assert r["root_readonly"] is readonly, (extra, r["root_readonly"])
            assert d.stop() == 0


def tree_conf(root, port, extra=""):
    build = os.path.realpath(BUILD)
    return probe_conf(f"127.0.0.1:{port}", extra_container=(
        f"Directory={root}\nBindReadOnly=/usr:/usr\nBindReadOnly={build}:{build}\n{extra}\n"))


def test_user_lookup_refuses_a_fifo():
    """User= in a tree whose /etc/passwd is a FIFO: that service is refused
    with the file and why, and the daemon does not block on it: its other
    service answers."""
    port, good = free_port(), free_port()
    with Daemon() as d:
        os.chmod(d.tmp, 0o755)
        root = make_rootfs(d.tmp)
        os.mkfifo(os.path.join(root, "etc", "passwd"))
        d.write("fifo", tree_conf(root, port, "User=svc"))
        d.write("good", probe_conf(f"127.0.0.1:{good}"))
        d.start()
        start_fails(d, "fifo", ("127.0.0.1", port))
        # A log check: which file is wrong, and how, is said only in the log.
        d.wait_log(r"fifo: User=svc: cannot resolve: the tree's /etc/passwd is not a "
                   r"regular file")
        assert probe_stream(("127.0.0.1", good), timeout=5)["listen_fds"] == 1
        assert d.stop() == 0


def test_user_lookup_stays_in_the_tree():
    """The tree's /etc/passwd is a link to /etc/shadow: the tree's own
    shadow, not the host's, is read (it names svc, uid 4321)."""
    port = free_port()
    with Daemon() as d:
        os.chmod(d.tmp, 0o755)
        root = make_rootfs(d.tmp)
        with open(os.path.join(root, "etc", "shadow"), "w") as f:
            f.write("root:x:0:0::/root:/bin/sh\nsvc:x:4321:4322::/home/svc:/bin/sh\n")
        os.symlink("/etc/shadow", os.path.join(root, "etc", "passwd"))
        d.write("link", tree_conf(root, port, "User=svc"))
        d.start()
        r = probe_stream(("127.0.0.1", port))
        assert (r["uid"], r["gid"]) == (4321, 4322), r
        assert d.stop() == 0


def test_host_mounts_made_later_stay_out():
    """The container's mount tree is private: a mount the host makes after
    the start, below a Bind= source that is a shared mount (as / is on a
    systemd host), never appears inside (with a slave tree it arrived,
    writable, without nosuid or nodev)."""
    port = free_port()
    with Daemon() as d:
        src = os.path.join(d.tmp, "shared")
        os.makedirs(os.path.join(src, "later"))
        subprocess.run(["mount", "--bind", src, src], check=True, timeout=60)
        try:
            subprocess.run(["mount", "--make-shared", src], check=True, timeout=60)
            d.write("prop", probe_conf(f"127.0.0.1:{port}",
                                       env=["PROBE_FILES=/srv/later/marker"],
                                       extra_container=f"BindReadOnly={src}:/srv\n"))
            d.start()
            r = probe_stream(("127.0.0.1", port))
            assert r["files"]["/srv/later/marker"]["content"] is None, r
            pid = d.ctl("status", "prop")["MainPID"]
            later = os.path.join(src, "later")
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "nsitest", later],
                           check=True, timeout=60)
            try:
                with open(os.path.join(later, "marker"), "w") as f:
                    f.write("propagated")
                r = probe_stream(("127.0.0.1", port))
                # The same container, started before the mount, answered.
                st = d.ctl("status", "prop")
                assert r["pid"] == 2 and (st["MainPID"], st["ColdStarts"]) == (pid, 1), st
                assert r["files"]["/srv/later/marker"]["content"] is None, r
            finally:
                subprocess.run(["umount", "-l", later], check=True, timeout=60)
            assert d.stop() == 0
        finally:
            subprocess.run(["umount", "-l", src], check=True, timeout=60)


def test_host_api_mounts_stay_out():
    """The container keeps the host's mounts below its root, but none of
    those below /proc, /sys, /dev, /tmp and /run, which get file systems of
    their own: they are not even covered in its mount table (they were,
    until each start stopped cloning them and unmounting them again). The
    daemon runs in a mount namespace of the test's own, with a tmpfs at
    /var/tmp/X (kept) and at /run/X (left out). The daemon keeps the list
    and reads it again when its mount table changes (no start reads
    mountinfo): a mount made after its start, /var/tmp/Y, is in the next
    container, and one removed since is gone from it, even when the
    connection that starts it came first and the daemon's loop has not yet
    seen the change (the start polls for one)."""
    port = free_port()
    kept = f"/var/tmp/nsitest-kept-{os.getpid()}"
    later = f"/var/tmp/nsitest-later-{os.getpid()}"
    left = f"/run/nsitest-left-{os.getpid()}"
    os.makedirs(kept)
    os.makedirs(later)
    os.makedirs(left)
    try:
        with Daemon({"probe": probe_conf(f"127.0.0.1:{port}",
                                         env=[f"PROBE_FILES={kept}/marker,{later}/marker"])}) as d:
            os.chmod(d.tmp, 0o755)
            d.args_prefix = [
                "unshare", "--mount", "--propagation", "slave", "/bin/sh", "-c",
                f"mount -t tmpfs -o size=64k nsitest {kept} && "
                f"mount -t tmpfs -o size=64k nsitest {left} && "
                f"echo kept > {kept}/marker && exec \"$@\"", "sh"]
            d.start()
            r = probe_stream(("127.0.0.1", port))
            d.ctl("stop", "probe")
            # In the daemon's mount namespace, after the connection is
            # queued and before the daemon can see either: stopped, it
            # wakes to both in one turn of its loop, the connection first.
            os.kill(d.proc.pid, signal.SIGSTOP)
            try:
                s = connect(("127.0.0.1", port))
                subprocess.run(["nsenter", "-t", str(d.proc.pid), "-m", "/bin/sh", "-c",
                                f"mount -t tmpfs -o size=64k nsitest {later} && "
                                f"echo later > {later}/marker && umount {kept}"],
                               check=True, timeout=60)
            finally:
                os.kill(d.proc.pid, signal.SIGCONT)
            with s:
                r2 = json.loads(recv_all(s).decode())
            assert d.stop() == 0
        files = r2["files"]
        assert (files[f"{later}/marker"]["content"] or "").strip() == "later", files
        assert files[f"{kept}/marker"]["content"] is None, files
        assert later in [m["target"] for m in r2["mounts"]], r2["mounts"]
        assert kept not in [m["target"] for m in r2["mounts"]], r2["mounts"]
        assert (r["files"][f"{kept}/marker"]["content"] or "").strip() == "kept", r["files"]
        targets = [m["target"] for m in r["mounts"]]
        assert kept in targets, targets
        assert left not in targets, targets
        fs = [m["fs"] for m in r["mounts"]]
        assert "cgroup" not in fs and "cgroup2" not in fs, r["mounts"]
        # One mount on each API directory: ours, none of the host's beneath.
        for api in ("/proc", "/sys", "/dev", "/dev/pts", "/tmp", "/run"):
            assert targets.count(api) == 1, (api, r["mounts"])
    finally:
        os.rmdir(kept)
        os.rmdir(later)
        os.rmdir(left)


def test_container_mounts_stay_in():
    """Nothing a start mounts reaches the daemon's mount namespace, though
    the root and a Bind= source are clones of shared mounts (as / is on a
    systemd host) and the root is assembled while nsinetd-init is still in
    the daemon's namespace (the mount template): each clone is made private
    before anything is mounted on it. The daemon runs in a mount namespace
    of the test's own where every mount is shared; its mount table is the
    same before a start and while the container runs. Without the private
    clones, /proc, /dev, the masks and the nested Bind= appeared in it."""
    port = free_port()
    with Daemon() as d:
        os.chmod(d.tmp, 0o755)
        src = os.path.join(d.tmp, "src")
        inner = os.path.join(d.tmp, "inner")
        os.makedirs(os.path.join(src, "inner"))
        os.makedirs(inner)
        with open(os.path.join(inner, "marker"), "w") as f:
            f.write("inner")
        d.write("prop", probe_conf(f"127.0.0.1:{port}",
                                   env=["PROBE_FILES=/tmp/srv/inner/marker"],
                                   extra_container=f"BindReadOnly={src}:/tmp/srv\n"
                                                   f"BindReadOnly={inner}:/tmp/srv/inner\n"))
        d.args_prefix = [
            "unshare", "--mount", "--propagation", "shared", "/bin/sh", "-c",
            f"mount --bind {src} {src} && mount --make-shared {src} && exec \"$@\"", "sh"]
        d.start()
        info = f"/proc/{d.proc.pid}/mountinfo"
        with open(info) as f:
            before = f.read()
        assert " shared:" in before.splitlines()[0] or "shared:" in before, before
        try:
            r = probe_stream(("127.0.0.1", port))
        except Exception:
            print(d.log()[-2000:])
            raise
        assert (r["files"]["/tmp/srv/inner/marker"]["content"] or "") == "inner", r["files"]
        assert d.ctl("status", "prop")["MainPID"] > 0
        with open(info) as f:
            during = f.read()
        assert d.stop() == 0
    assert during == before, "\n".join(sorted(set(during.splitlines()) -
                                              set(before.splitlines())))


def test_cgroup_settings_not_enforced_are_said():
    m = cgroup2_mount()
    ctl = open(os.path.join(m, "cgroup.subtree_control")).read().split() if m else []
    if "memory" in ctl:
        raise SkipTest("a memory controller exists here: see test_memory_max_enforced")
    r, log = probe("MemoryMax=64M\nTasksMax=10")
    # A log check: the once-only warnings are the log's (and --check's).
    assert re.search(r"MemoryMax= not enforced: no memory controller in cgroup v2 at ", log), log
    assert re.search(r"TasksMax= not enforced: no pids controller", log), log
    # and --check says so too
    with Daemon({"probe": probe_conf("127.0.0.1:1", extra_container="MemoryMax=64M")}) as d:
        out = subprocess.run([NSINETD, "--check", "--config-dir", d.config_dir],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out
        assert "MemoryMax= not enforced: no memory controller in cgroup v2 at" in out.stdout, out


def test_memory_max_enforced():
    m = cgroup2_mount()
    ctl = open(os.path.join(m, "cgroup.subtree_control")).read().split() if m else []
    if "memory" not in ctl:
        raise SkipTest(f"not enforced: no memory controller in cgroup v2 at {m}: "
                       "nothing to test here")
    r, log = probe("MemoryMax=64M", env=("PROBE_FILES=/sys/fs/cgroup/memory.max",))
    assert "67108864" in str(r), r


def test_rootless():
    """The daemon as nobody: a user namespace maps its uid to root inside."""
    port = free_port()
    for tree in (NSINETD, PROBE):
        closed = closed_ancestor(os.path.realpath(tree))
        if closed:
            raise SkipTest(f"{tree} is below {closed}, which nobody cannot search: "
                           "build in a directory others can enter to run this test")
    pool_port = free_port()
    pool = probe_conf(f"127.0.0.1:{pool_port}", extra_socket="Accept=yes",
                      extra_container="PoolSize=1")
    with Daemon({"probe": probe_conf(f"127.0.0.1:{port}"), "pool": pool}) as d:
        os.chmod(d.tmp, 0o755)
        os.makedirs(d.runtime_dir)
        os.chown(d.runtime_dir, 65534, 65534)
        os.chmod(d.config_dir, 0o755)
        for f in os.listdir(d.config_dir):
            os.chmod(os.path.join(d.config_dir, f), 0o644)
        # All three uids nobody (setpriv --reuid keeps the saved uid 0, and
        # with it the privilege to enter any directory: not rootless).
        d.args_prefix = ["/usr/bin/python3", "-c",
                         "import os, sys; os.setgroups([]); "
                         "os.setresgid(65534, 65534, 65534); "
                         "os.setresuid(65534, 65534, 65534); "
                         "os.execv(sys.argv[1], sys.argv[1:])"]
        d.start()
        r = probe_stream(("127.0.0.1", port))
        assert r["uid_map"].split() == ["0", "65534", "1"], r
        assert r["pid"] == 2 and r["nprocs"] == 2, r
        # Without a cgroup: none to show, nor its processes.
        st = d.ctl("status", "probe")
        assert st["MainPID"] > 0 and (st["ControlGroup"], st["Processes"]) == ("", []), st
        # A log check: the once-only warning says why (no cgroup v2, or
        # none the daemon may create).
        log = d.log()
        assert "cannot create cgroup" in log or "without a cgroup" in log, log
        # No spare network namespace without the privilege: tried once only,
        # whatever the number of starts.
        for _ in range(2):
            d.ctl("stop", "probe")
            d.wait_state("probe", "stopped")
            assert probe_stream(("127.0.0.1", port))["pid"] == 2
        assert d.log().count("cannot make a spare network namespace") == 1, d.log()
        # The pool too, whose clone makes the user namespace: the payload,
        # forked while the sandbox waits, takes each connection.
        for _ in range(2):
            r = probe_stream(("127.0.0.1", pool_port))
            assert r["uid_map"].split() == ["0", "65534", "1"], r
            assert (r["pid"], r["nprocs"], r["listen_fds"]) == (2, 2, 1), r
        assert d.stop() == 0


def test_missing_capability_is_named():
    """nsinetd nested in a container without CAP_NET_ADMIN (systemd-nspawn
    drops it): a container of its own cannot bring its loopback up, and the
    error says which capability the daemon lacks rather than a bare EPERM."""
    if not shutil.which("setpriv"):
        raise SkipTest("setpriv is missing (Debian package util-linux)")
    port = free_port()
    # PrivateUsers=no: with a user namespace of its own the container would
    # have CAP_NET_ADMIN over its network namespace whatever the daemon has.
    conf = probe_conf(f"127.0.0.1:{port}", extra_container="PrivateUsers=no")
    with Daemon({"nocap": conf},
                prefix=["setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin"]) as d:
        d.start()
        with open(f"/proc/{d.proc.pid}/status") as f:
            eff = int([l for l in f if l.startswith("CapEff:")][0].split()[1], 16)
        assert not eff & (1 << 12), f"the daemon still has CAP_NET_ADMIN: {eff:#x}"
        with d.events("nocap") as ev, connect(("127.0.0.1", port)):
            ev.wait("failed")
        why = [e["Reason"] for e in ev.seen if e["NewState"] == "failed"][0]
        assert why == ("setup failed at loopback: Operation not permitted: "
                       "nsinetd lacks CAP_NET_ADMIN"), why
        d.wait_log(r"nocap: container setup failed at loopback: nsinetd lacks "
                   r"CAP_NET_ADMIN .*grant it to the daemon: Operation not permitted")
        assert d.stop() == 0
    # The same service where the daemon has the capability: it starts.
    with Daemon({"cap": conf}) as d:
        d.start()
        report = probe_stream(("127.0.0.1", port))
        assert [i["up"] for i in report["interfaces"] if i["name"] == "lo"] == [True], report
        assert "lacks CAP_NET_ADMIN" not in d.log()
        assert d.stop() == 0


if __name__ == "__main__":
    main([test_default_root_capabilities_and_filter, test_bench_switch_ignored,
          test_setup_timing_only_in_its_build,
          test_user_has_no_capabilities,
          test_capabilities_key, test_no_new_privileges_off_without_filter_needs,
          test_no_new_privileges_with_cap_sys_admin, test_no_stray_fd_reaches_the_container,
          test_daemon_groups_stay_out, test_root_nosuid, test_every_mount_nosuid_nodev]
         + proc_masked_tests()
         + [test_proc_subset_pid, test_no_secret_reaches_a_root_payload, test_limits,
            test_system_call_filter_allow_list, test_io_uring_and_memfd_secret_denied,
            test_io_uring_named_in_allow_list, test_default_root_can_chroot,
            test_default_process_limits, test_oom_score_adjust,
            test_oom_score_not_inherited_below_zero, test_oom_score_shell,
            test_fork_bomb_stops_at_limit,
            test_fork_bomb_host_root, test_private_users,
            test_private_users_idmapped_root, test_directory_read_only_by_default,
            test_user_lookup_refuses_a_fifo, test_user_lookup_stays_in_the_tree,
            test_host_mounts_made_later_stay_out, test_host_api_mounts_stay_out,
            test_container_mounts_stay_in,
            test_cgroup_settings_not_enforced_are_said, test_memory_max_enforced,
            test_rootless, test_missing_capability_is_named])
