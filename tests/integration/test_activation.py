#!/usr/bin/python3
"""Accept=no activation: what the container sees, over every socket kind."""
import os
import shutil
import socket
import tempfile
import time

from nsitest import (BUILD, PROBE, SRC, Daemon, main, probe_conf, probe_stream, free_port, connect,
                     recv_all, wait_for)
import json


def test_ipv4_container_view():
    port = free_port()
    marker = tempfile.NamedTemporaryFile(prefix="nsitest-host-tmp-", dir="/tmp")
    conf = probe_conf(f"127.0.0.1:{port}", extra_socket="FileDescriptorName=web",
                      extra_container="Hostname=probehost")
    with Daemon({"probe": conf}) as d:
        d.start()
        r = probe_stream(("127.0.0.1", port))
        assert r["listen_fds"] == 1, r
        assert r["names"] == ["web"], r
        assert r["env"]["LISTEN_PID"] == "2" and r["pid"] == 2, r
        assert r["ppid"] == 1, r
        # The stub init and the payload, nothing else of the host.
        assert r["nprocs"] == 2, r
        assert r["hostname"] == "probehost", r
        names = [i["name"] for i in r["interfaces"]]
        assert names == ["lo"], r
        assert r["interfaces"][0]["up"], r
        assert r["root_readonly"] is True, r
        # Empty but for the mount point of a tree bound in by tree_binds().
        bound = {p.split("/")[2] for p in (os.path.realpath(SRC), os.path.realpath(BUILD))
                 if p.startswith("/tmp/")}
        assert set(r["tmp_entries"]) <= bound, r
        assert os.path.basename(marker.name) not in r["tmp_entries"]
        # At exec: 0-2 and the listener 3, nothing else of the daemon's.
        assert sorted(r["open_fds"]) == [0, 1, 2, 3], r
        assert r["fd_types"][0]["type"] == "stream", r
        assert r["fd_types"][0]["family"] == "inet", r
        # Served by the same container while it runs: one start only.
        r2 = probe_stream(("127.0.0.1", port))
        assert r2["pid"] == 2
        st = d.ctl("status", "probe")
        assert st["State"] == "running" and st["ColdStarts"] == 1, st
        # The container pid 1 the daemon reports is the probe's parent.
        assert [p for p in st["Processes"] if p[1] == st["MainPID"] and PROBE in p[3]], st
        assert d.stop() == 0


def test_ipv6_and_dual_stack():
    p6, pdual = free_port(), free_port()
    with Daemon({"v6": probe_conf(f"[::1]:{p6}"),
                 "dual": probe_conf(f"{pdual}")}) as d:
        d.start()
        r = probe_stream(("::1", p6), socket.AF_INET6)
        assert r["fd_types"][0]["family"] == "inet6", r
        # A bare port is [::]:PORT taking IPv4 too.
        r = probe_stream(("127.0.0.1", pdual))
        assert r["listen_fds"] == 1
        r = probe_stream(("::1", pdual), socket.AF_INET6)
        assert r["listen_fds"] == 1
        assert d.stop() == 0


def test_unix_path_and_abstract():
    with Daemon() as d:
        path = os.path.join(d.tmp, "sock", "probe.sock")
        abstract = f"nsitest-{os.getpid()}-{time.monotonic_ns()}"
        d.write("upath", probe_conf(f"{path}", extra_socket="SocketMode=0600"))
        d.write("uabs", probe_conf(f"@{abstract}"))
        d.start()
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        r = probe_stream(path, socket.AF_UNIX)
        assert r["fd_types"][0]["family"] == "unix", r
        r = probe_stream("\0" + abstract, socket.AF_UNIX)
        assert r["fd_types"][0]["family"] == "unix", r
        assert d.stop() == 0
        assert not os.path.exists(path), "unix socket file left behind"


def _dgram_query(family, addr, bind=None):
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        if bind:
            s.bind(bind)
        s.sendto(b"report", addr)
        data, _ = s.recvfrom(65536)
    return json.loads(data.decode())


def test_datagram_udp_and_unix():
    port = free_port()
    with Daemon() as d:
        upath = os.path.join(d.tmp, "dgram.sock")
        d.write("udp", probe_conf([f"ListenDatagram=127.0.0.1:{port}"]))
        d.write("udgram", probe_conf([f"ListenDatagram={upath}"]))
        d.start()
        r = _dgram_query(socket.AF_INET, ("127.0.0.1", port))
        assert r["fd_types"][0]["type"] == "dgram", r
        # The container has its own /tmp: reply to an abstract address.
        client = f"\0nsitest-client-{os.getpid()}-{time.monotonic_ns()}"
        r = _dgram_query(socket.AF_UNIX, upath, bind=client)
        assert (r["fd_types"][0]["type"], r["fd_types"][0]["family"]) == ("dgram", "unix"), r
        assert d.stop() == 0


def test_seqpacket_and_fd_order():
    port = free_port()
    with Daemon() as d:
        seq = os.path.join(d.tmp, "seq.sock")
        d.write("multi", probe_conf([f"ListenStream=127.0.0.1:{port}",
                                     f"ListenSequentialPacket={seq}",
                                     f"ListenDatagram=127.0.0.1:{port}"]))
        d.start()
        r = probe_stream(("127.0.0.1", port))
        assert r["listen_fds"] == 3, r
        assert [t["type"] for t in r["fd_types"]] == ["stream", "seqpacket", "dgram"], r
        assert r["env"]["LISTEN_FDNAMES"] == "multi:multi:multi", r
        assert sorted(r["open_fds"]) == [0, 1, 2, 3, 4, 5], r
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(10)
            s.connect(seq)
            rr = json.loads(s.recv(65536).decode())
        assert rr["listen_fds"] == 3
        assert d.stop() == 0


def test_restart_with_queued_connection():
    """A connection that arrives while the container exits starts the next."""
    port = free_port()
    conf = probe_conf(f"127.0.0.1:{port}", env=["PROBE_EXIT_AFTER=1",
                                                 "PROBE_SLEEP_MS=300"])
    with Daemon({"once": conf}) as d:
        d.start()
        with d.events("once") as ev:
            a = connect(("127.0.0.1", port))
            ev.wait("running")
            # Queued on the daemon's socket while container 1 serves a.
            b = connect(("127.0.0.1", port))
            ra = json.loads(recv_all(a).decode())
            rb = json.loads(recv_all(b).decode())
            a.close()
            b.close()
            assert ra["pid"] == 2 and rb["pid"] == 2
            ev.wait("running")
            ev.wait("stopped")
        # Two clean runs, the second started by the queued connection.
        assert [(e["NewState"], e["Reason"]) for e in ev.seen] == [
            ("starting", "connection"), ("running", "started"),
            ("stopped", "exit status 0"), ("starting", "connection"),
            ("running", "started"), ("stopped", "exit status 0")], ev.seen
        st = d.ctl("status", "once")
        assert (st["ColdStarts"], st["StartFailures"], st["LastExitStatus"]) == (2, 0, 0), st
        assert d.stop() == 0


def test_crash_loop_backoff():
    port = free_port()
    conf = probe_conf(f"127.0.0.1:{port}", env=["PROBE_EXIT_CODE=3"],
                      extra_service="StartLimitBurst=3\nStartLimitIntervalSec=2s")
    with Daemon({"crash": conf}) as d:
        d.start()
        with d.events("crash") as ev:
            s = connect(("127.0.0.1", port), timeout=15)
            # Three failed starts, then the queued client is answered by a
            # close instead of hanging.
            t0 = time.monotonic()
            data = recv_all(s)
            s.close()
            assert data == b"", data
            assert time.monotonic() - t0 < 10
            e = ev.wait("suspended")
            assert e["Reason"] == "failed starts", e
            fails = [e for e in ev.seen if e["NewState"] == "failed"]
            assert len(fails) == 3 and all(f["Reason"] == "exit status 3" for f in fails), ev.seen
            st = d.ctl("status", "crash")
            # LastExitStatus is a wait status: exit(3).
            assert (st["StartFailures"], st["LastExitStatus"]) == (3, 3 << 8), st
            assert st["SuspendedUntil"] > time.time() * 1e6, st
            # The operator's words stay a log check: which limit, which key.
            d.wait_log(r"3 failed starts within StartLimitIntervalSec=2s")
            # Not permanent: after the interval the service starts again.
            assert ev.wait("stopped", timeout=10)["Reason"] == "backoff over"
            n = len(ev.seen)
            s = connect(("127.0.0.1", port), timeout=15)
            assert recv_all(s) == b""
            s.close()
            # Three more failed starts, each counted, and suspended again.
            assert ev.wait("suspended")["Reason"] == "failed starts"
            again = [e["Reason"] for e in ev.seen[n:] if e["NewState"] == "failed"]
            assert again == ["exit status 3"] * 3, ev.seen
        st = d.ctl("status", "crash")
        assert st["StartFailures"] == 6, (st, ev.seen)
        assert d.stop() == 0


def test_trigger_limit_stops_clean_exit_loop():
    """A service that exits 0 without accepting would restart forever: the
    trigger limit suspends it, and the waiting client gets a close."""
    port = free_port()
    conf = (f"[Socket]\nListenStream=127.0.0.1:{port}\nTriggerLimitBurst=5\n"
            "TriggerLimitIntervalSec=30s\n[Container]\nExec=/bin/true\n")
    with Daemon({"loop": conf}) as d:
        d.start()
        with d.events("loop") as ev:
            with connect(("127.0.0.1", port), timeout=15) as s:
                assert recv_all(s) == b""
            assert ev.wait("suspended")["Reason"] == "starts", ev.seen
        runs = [e["Reason"] for e in ev.seen if e["NewState"] == "stopped"]
        assert runs == ["exit status 0"] * 5, ev.seen
        st = d.ctl("status", "loop")
        # Clean exits: not failures, and the trigger limit is what stopped it.
        assert (st["State"], st["ColdStarts"], st["StartFailures"]) == ("suspended", 5, 0), st
        assert d.stop() == 0


def test_setup_failure_names_step():
    port = free_port()
    conf = probe_conf(f"127.0.0.1:{port}",
                      extra_container="Bind=/nonexistent-nsitest:/mnt",
                      extra_service="StartLimitBurst=1")
    port2 = free_port()
    conf2 = (f"[Socket]\nListenStream=127.0.0.1:{port2}\n[Container]\n"
             "Exec=/nonexistent/program\n[Service]\nStartLimitBurst=1\n")
    with Daemon({"badbind": conf, "badexec": conf2}) as d:
        d.start()
        with connect(("127.0.0.1", port)) as s:
            assert recv_all(s) == b""
        # The log's words for the operator (a log check), and the same in
        # the failed transition's reason.
        d.wait_log(r"badbind: container setup failed at bind \(/nonexistent-nsitest\): "
                   r"No such file or directory")
        with connect(("127.0.0.1", port2)) as s:
            assert recv_all(s) == b""
        d.wait_log(r"badexec: container setup failed at exec: No such file or directory")
        want = {"badbind": "setup failed at bind (/nonexistent-nsitest): "
                           "No such file or directory",
                "badexec": "setup failed at exec: No such file or directory"}
        for name in ("badbind", "badexec"):
            d.wait_state(name, "suspended")
            st = d.ctl("status", name)
            assert (st["ColdStarts"], st["StartFailures"]) == (0, 1), st
            failed = [h for h in st["History"] if h[1] == "failed"]
            assert len(failed) == 1 and failed[0][2] == want[name], st["History"]
        assert d.stop() == 0


def test_program_out_of_the_user_namespaces_reach():
    """The default user namespace makes the container's root an unprivileged
    uid of the host: a program in a directory only the host's root may
    enter (mkdtemp's 0700) cannot run, and the log says why and what to do;
    with PrivateUsers=no the same program runs."""
    port, port2 = free_port(), free_port()
    # Outside /tmp, which the container has of its own.
    closed = tempfile.mkdtemp(prefix="nsitest-closed-", dir="/var/tmp")  # 0700
    with Daemon() as d:
        prog = os.path.join(closed, "probe-copy")
        shutil.copy(PROBE, prog)
        d.write("closed", probe_conf(f"127.0.0.1:{port}", extra_service="StartLimitBurst=1")
                .replace(PROBE, prog))
        d.write("hostroot", probe_conf(f"127.0.0.1:{port2}",
                                       extra_container="PrivateUsers=no").replace(PROBE, prog))
        d.start()
        with connect(("127.0.0.1", port)) as s:
            assert recv_all(s) == b""
        # A log check: the hint (why, and what to do) is the log's text.
        d.wait_log(r"closed: container setup failed at exec \(the container's root is an "
                   r"unprivileged uid of the host, PrivateUsers=: what it uses must be "
                   r"readable, and every directory above it searchable, by others; or give it "
                   r"with Bind=…:idmap\): Permission denied")
        assert probe_stream(("127.0.0.1", port2))["pid"] == 2
        assert d.stop() == 0
    shutil.rmtree(closed)


def test_binds_tmpfs_and_environment():
    port = free_port()
    with Daemon() as d:
        ro, rw = os.path.join(d.tmp, "ro"), os.path.join(d.tmp, "rw")
        plain = os.path.join(d.tmp, "plain")
        for p in (ro, rw, plain):
            os.mkdir(p)
            with open(os.path.join(p, "hello.txt"), "w") as f:
                f.write("hi from " + os.path.basename(p))
        conf = probe_conf(
            f"127.0.0.1:{port}",
            env=["FOO=bar", "PROBE_ENV=FOO,container",
                 "PROBE_FILES=/srv/hello.txt,/run/rw/hello.txt,/run/plain/hello.txt,"
                 "/var/cache/x,/etc/hostname"],
            extra_container=(f"BindReadOnly={ro}:/srv\n"
                             f"Bind={rw}:/run/rw:idmap\n"
                             f"Bind={plain}:/run/plain\n"
                             "TemporaryFileSystem=/var/cache\n"))
        d.write("binds", conf)
        d.start()
        r = probe_stream(("127.0.0.1", port))
        assert r["env"]["FOO"] == "bar", r
        assert r["env"]["container"] == "nsinetd", r
        f = r["files"]
        assert f["/srv/hello.txt"] == {"content": "hi from ro", "writable": False}, f
        # A writable bind in a read-only root, its mount point made on /run:
        # idmapped, the host root's file is the container root's.
        assert f["/run/rw/hello.txt"] == {"content": "hi from rw", "writable": True}, f
        # Without :idmap the container's root is an unmapped uid for it
        # (a user namespace by default): readable as "others", not writable.
        assert f["/run/plain/hello.txt"] == {"content": "hi from plain", "writable": False}, f
        # TemporaryFileSystem= hides what the host has there.
        assert f["/var/cache/x"]["content"] is None, f
        assert f["/etc/hostname"]["writable"] is False, f
        assert d.stop() == 0


TMPFS_MAGIC = 0x01021994


def memory_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def test_tmpfs_limits():
    """Every tmpfs the container may write is bounded in bytes and in
    files, not the kernel's half of the memory each: /tmp and /run, a
    TemporaryFileSystem= without a size (10% of the memory, 400k files, as
    systemd-nspawn), /dev/shm (64M, 64k files) and /dev (64k, 4k files). A
    TemporaryFileSystem= with size= or nr_inodes= sets its own, also on
    /tmp. The escape suite's "fill the host's memory through a tmpfs" has
    a root payload try it."""
    port = free_port()
    paths = ["/tmp", "/run", "/dev/shm", "/dev", "/var/cache", "/srv"]
    conf = probe_conf(f"127.0.0.1:{port}", env=["PROBE_STAT=" + ",".join(paths)],
                      extra_container=("TemporaryFileSystem=/var/cache\n"
                                       "TemporaryFileSystem=/srv:size=1M,nr_inodes=100\n"
                                       "TemporaryFileSystem=/tmp:mode=1777,size=3M\n"))
    with Daemon({"limits": conf}) as d:
        d.start()
        st = probe_stream(("127.0.0.1", port))["stat"]
        for p in paths:
            assert st[p] and int(st[p]["fs"], 16) == TMPFS_MAGIC, f"{p}: {st[p]}"
        # size=10%: the kernel rounds to pages.
        tenth = memory_bytes() // 10
        for p in ("/run", "/var/cache"):
            assert abs(st[p]["bytes"] - tenth) <= 4096 and st[p]["files"] == 400 * 1024, \
                f"{p} is not bounded to 10% of the memory and 400k files: {st[p]}"
        want = {"/dev/shm": (64 << 20, 64 * 1024), "/dev": (64 << 10, 4 * 1024),
                "/srv": (1 << 20, 100), "/tmp": (3 << 20, 400 * 1024)}
        for p, (size, files) in want.items():
            assert (st[p]["bytes"], st[p]["files"]) == (size, files), \
                f"{p}: {st[p]}, expected {size} bytes and {files} files"
        assert d.stop() == 0


def test_missing_mount_point_in_host_root():
    """nsinetd never writes to the host's /: a missing target is refused."""
    port = free_port()
    target = f"/srv/nsitest-missing-{os.getpid()}"
    conf = probe_conf(f"127.0.0.1:{port}", extra_container=f"BindReadOnly=/etc:{target}",
                      extra_service="StartLimitBurst=1")
    with Daemon({"missing": conf}) as d:
        d.start()
        with connect(("127.0.0.1", port)) as s:
            assert recv_all(s) == b""
        # A log check: the message naming the key and the path is the UI.
        d.wait_log(rf"missing: BindReadOnly=: the mount point {target} does not exist "
                   r"in the host's /")
        assert not os.path.exists(target)
        assert d.stop() == 0


if __name__ == "__main__":
    main([test_ipv4_container_view, test_ipv6_and_dual_stack, test_unix_path_and_abstract,
          test_datagram_udp_and_unix, test_seqpacket_and_fd_order,
          test_restart_with_queued_connection, test_crash_loop_backoff,
          test_trigger_limit_stops_clean_exit_loop,
          test_setup_failure_names_step, test_program_out_of_the_user_namespaces_reach,
          test_binds_tmpfs_and_environment, test_tmpfs_limits,
          test_missing_mount_point_in_host_root])
