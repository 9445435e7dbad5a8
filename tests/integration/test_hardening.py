#!/usr/bin/python3
"""The sandbox defaults and their knobs, seen from inside by the probe."""
import os
import re
import subprocess
import tempfile

from nsitest import (BUILD, NSINETD, PROBE, Daemon, SkipTest, main, probe_conf, probe_stream,
                     free_port, cgroup2_mount, make_rootfs)

DEFAULT_ROOT_CAPS = 0x405fb
CAP_SYS_ADMIN = 1 << 21

# What the sandbox masks in /proc: at least what runc and Docker mask or
# make read-only, and /proc/pressure (host-wide, writable by any uid). A
# file is masked by /dev/null, a directory by an empty read-only tmpfs.
MASKED_PROC = [
    "/proc/acpi", "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/kcore",
    "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi", "/proc/sysrq-trigger", "/proc/pressure",
]
TMPFS_MAGIC = 0x01021994


def probe(extra_container="", env=()):
    port = free_port()
    with Daemon({"probe": probe_conf(f"127.0.0.1:{port}", env=env,
                                      extra_container=extra_container)}) as d:
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
    with Daemon({"root": probe_conf(f"127.0.0.1:{ports['root']}"),
                 "nobody": probe_conf(f"127.0.0.1:{ports['nobody']}",
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
    the default sandbox. One probe answers for every path."""
    if not os.path.lexists(path):
        raise SkipTest(f"{path} is absent on this kernel")
    if not _proc_stat:
        present = [p for p in MASKED_PROC if os.path.lexists(p)]
        r, _ = probe(env=[f"PROBE_STAT={','.join(present)}"])
        _proc_stat.update(r["stat"])
    st = _proc_stat[path]
    if os.path.isdir(path):
        assert (st and st["type"] == "dir" and st["entries"] == 0 and st["readonly"]
                and int(st["fs"], 16) == TMPFS_MAGIC), \
            f"{path} is not an empty read-only tmpfs: {st}"
    else:
        assert st and st["type"] == "chr" and st["device"] == "1:3", \
            f"{path} is not /dev/null: {st}"


def proc_masked_tests():
    """One test (one TAP row) per path of MASKED_PROC."""
    tests = []
    for path in MASKED_PROC:
        def t(path=path):
            proc_masked(path)
        t.__name__ = f"test_proc_masked {path}"
        tests.append(t)
    return tests


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


def test_cgroup_settings_not_enforced_are_said():
    m = cgroup2_mount()
    ctl = open(os.path.join(m, "cgroup.subtree_control")).read().split() if m else []
    if "memory" in ctl:
        raise SkipTest("a memory controller exists here: see test_memory_max_enforced")
    r, log = probe("MemoryMax=64M\nTasksMax=10")
    assert re.search(r"MemoryMax= not enforced: no memory controller in cgroup v2 at ", log), log
    assert re.search(r"TasksMax= not enforced: no pids controller", log), log
    # and --check says so too
    with Daemon({"probe": probe_conf("127.0.0.1:1", extra_container="MemoryMax=64M")}) as d:
        out = subprocess.run([NSINETD, "--check", "--config-dir", d.config_dir],
                             capture_output=True, text=True)
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
    setpriv = "/usr/bin/setpriv"
    if not os.path.exists(setpriv):
        raise SkipTest("no setpriv")
    with Daemon({"probe": probe_conf(f"127.0.0.1:{port}")}) as d:
        os.chmod(d.tmp, 0o755)
        os.makedirs(d.runtime_dir)
        os.chown(d.runtime_dir, 65534, 65534)
        os.chmod(d.config_dir, 0o755)
        for f in os.listdir(d.config_dir):
            os.chmod(os.path.join(d.config_dir, f), 0o644)
        d.args_prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        d.start()
        r = probe_stream(("127.0.0.1", port))
        assert r["uid_map"].split() == ["0", "65534", "1"], r
        assert r["pid"] == 2 and r["nprocs"] == 2, r
        log = d.log()
        assert "cannot create cgroup" in log or "without a cgroup" in log, log
        assert d.stop() == 0


if __name__ == "__main__":
    main([test_default_root_capabilities_and_filter, test_user_has_no_capabilities,
          test_capabilities_key, test_no_new_privileges_off_without_filter_needs,
          test_no_new_privileges_with_cap_sys_admin, test_no_stray_fd_reaches_the_container,
          test_daemon_groups_stay_out, test_root_nosuid, test_every_mount_nosuid_nodev]
         + proc_masked_tests()
         + [test_no_secret_reaches_a_root_payload, test_limits,
            test_system_call_filter_allow_list, test_private_users,
            test_private_users_idmapped_root, test_cgroup_settings_not_enforced_are_said,
            test_memory_max_enforced, test_rootless])
