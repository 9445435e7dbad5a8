#!/usr/bin/python3
"""The configuration as a user meets it: --check, and bad files at run time."""
import os
import shutil
import re
import tempfile
import socket
import stat
import subprocess

from nsitest import (BUILD, NSINETD, Daemon, main, probe_conf, probe_stream, free_port, connect,
                     make_rootfs)


def check(d):
    p = subprocess.run([NSINETD, "--check", "--config-dir", d.config_dir],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def services(d):
    """The services the running daemon has (nsinetctl list)."""
    return sorted(r["Name"] for r in d.ctl("list"))


def test_check_ok():
    with Daemon({"a": probe_conf(f"127.0.0.1:{free_port()}"),
                 "b": probe_conf(f"127.0.0.1:{free_port()}")}) as d:
        rc, out, err = check(d)
        assert rc == 0, (out, err)
        assert "configuration OK" in out, out


def test_check_reports_every_error_with_file_and_line():
    with Daemon() as d:
        path = d.write("bad", "[Socket]\nListenStream=127.0.0.1:99999\n"
                              "Bogus=1\n[Container]\nReadOnly=maybe\n")
        rc, out, err = check(d)
        assert rc != 0
        assert "configuration OK" not in out
        assert f"{path}:2:" in err and "ListenStream" in err, err
        assert f"{path}:3:" in err and "Bogus" in err, err
        assert f"{path}:5:" in err and "ReadOnly" in err, err
        assert "Exec=" in err, err


def test_duplicate_address_across_files():
    port = free_port()
    with Daemon({"a": probe_conf(f"127.0.0.1:{port}"),
                 "b": probe_conf(f"127.0.0.1:{port}")}) as d:
        rc, out, err = check(d)
        assert rc != 0 and "b.conf" in err and "a.conf" in err, err


def test_bad_file_disables_only_that_service():
    good, bad = free_port(), free_port()
    with Daemon({"good": probe_conf(f"127.0.0.1:{good}"),
                 "bad": f"[Socket]\nListenStream=127.0.0.1:{bad}\n"}) as d:
        d.start()
        # Only the good one exists for the daemon.
        assert services(d) == ["good"], d.ctl("list")
        # A log check: a configuration error, naming the file, is the log's.
        assert f"{d.config_dir}/bad.conf: Exec= is missing" in d.log(), d.log()
        assert probe_stream(("127.0.0.1", good))["listen_fds"] == 1
        try:
            connect(("127.0.0.1", bad), timeout=2).close()
            raise AssertionError("the bad service listens")
        except ConnectionRefusedError:
            pass
        assert d.stop() == 0


def test_address_in_use_disables_only_that_service():
    import socket
    busy, good = free_port(), free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", busy))
    blocker.listen(1)
    try:
        with Daemon({"busy": probe_conf(f"127.0.0.1:{busy}"),
                     "good": probe_conf(f"127.0.0.1:{good}")}) as d:
            d.start()
            assert services(d) == ["good"], d.ctl("list")
            # A log check: the listener that failed, and why, is the log's.
            assert f"busy: ListenStream=127.0.0.1:{busy}: cannot bind: Address already in use" \
                in d.log(), d.log()
            assert probe_stream(("127.0.0.1", good))["listen_fds"] == 1
            assert d.stop() == 0
    finally:
        blocker.close()


def test_unsafe_socket_directory_refused():
    """A unix socket in a directory another user owns, or that its group
    may write: refused (--check and at start), naming the directory and why;
    the daemon's other services work. A root-owned sticky one (as /tmp) is
    fine."""
    good = free_port()
    with Daemon() as d:
        cases = {"nobody": (0o755, 65534, "is owned by uid 65534, not by root"),
                 "group": (0o775, 0, "is writable by its group (mode 0775)"),
                 "sticky": (0o1777, 0, None)}
        paths = {}
        for name, (mode, uid, _) in cases.items():
            sdir = os.path.join(d.tmp, name)
            os.mkdir(sdir)
            os.chmod(sdir, mode)
            os.chown(sdir, uid, uid)
            paths[name] = d.write(name, probe_conf(os.path.join(sdir, "sock")))
        d.write("good", probe_conf(f"127.0.0.1:{good}"))
        rc, out, err = check(d)
        assert rc != 0, (out, err)
        for name, (_, _, why) in cases.items():
            sdir = os.path.join(d.tmp, name)
            line = (f"{paths[name]}:2: ListenStream={sdir}/sock: cannot use the socket's "
                    f"directory: {sdir} {why}")
            assert (line in err) == bool(why), (name, err)
        d.start()
        assert services(d) == ["good", "sticky"], d.ctl("list")
        for name, (_, _, why) in cases.items():
            sdir = os.path.join(d.tmp, name)
            if why:
                # A log check: the directory and why, as --check says it.
                d.wait_log(f"{name}: ListenStream={sdir}/sock: cannot use the socket's "
                           f"directory: {sdir} {why}".replace("(", r"\(").replace(")", r"\)"))
                assert os.listdir(sdir) == [], name
            else:
                assert probe_stream(os.path.join(sdir, "sock"), socket.AF_UNIX)["listen_fds"]
        assert probe_stream(("127.0.0.1", good))["listen_fds"] == 1
        assert d.stop() == 0


def test_unsafe_directory_refused():
    """Directory= where a host user could plant or swap files: the tree or a
    directory above it owned by another user or writable by group or others
    (for the tree itself even sticky, as /tmp): refused by --check and at
    start, naming the directory and why; a tree of root's 0755 is fine."""
    good = free_port()
    with Daemon() as d:
        def tree(rel, mode, uid=0):
            path = os.path.join(d.tmp, rel)
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
            os.chown(path, uid, uid)
            return path
        cases = {  # name: (Directory=, the directory named, why)
            "safe": (tree("safe", 0o755), None, None),
            "group": (tree("group", 0o775), "group", "is writable by its group (mode 0775)"),
            "nobody": (tree("nobody", 0o755, 65534), "nobody",
                       "is owned by uid 65534, not by root"),
            "sticky": (tree("sticky", 0o1777), "sticky",
                       "is writable by every user (mode 1777)"),
            "above": (tree("open/tree", 0o755), "open", "is writable by every user (mode 0777)"),
        }
        tree("open", 0o777)
        paths = {}
        for name, (directory, _, _) in cases.items():
            paths[name] = d.write(name, probe_conf(f"127.0.0.1:{free_port()}",
                                                   extra_container=f"Directory={directory}"))
        d.write("good", probe_conf(f"127.0.0.1:{good}"))
        rc, out, err = check(d)
        assert rc != 0, (out, err)
        for name, (directory, named, why) in cases.items():
            line = (f"{paths[name]}: Directory={directory}: {d.tmp}/{named} {why}: a host user "
                    "other than root could plant or swap files in the container's tree: "
                    "Operation not permitted")
            assert (line in err) == bool(why), (name, line, err)
            assert why or f"Directory={directory}" not in err, err
        d.start()
        assert services(d) == ["good", "safe"], d.ctl("list")
        for name, (directory, named, why) in cases.items():
            if why:
                # A log check: the directory and why, as --check says it.
                d.wait_log(re.escape(f"{name}: Directory={directory}: {d.tmp}/{named} {why}: "
                                     "a host user other than root could plant"))
        assert probe_stream(("127.0.0.1", good))["listen_fds"] == 1
        assert d.stop() == 0


def test_writable_directory_must_be_private():
    """ReadOnly=no: the container's root makes files there that the host's
    root owns (the tree is idmapped), a setuid one too; so no host user may
    even reach the tree. Below /tmp with every directory 0755 it is refused
    (--check and at start); below a 0700 directory of root's it starts."""
    top = tempfile.mkdtemp(prefix="nsitest-open-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        with Daemon() as d:
            open_tree = make_rootfs(top)
            private_tree = make_rootfs(d.tmp)  # d.tmp is 0700
            po, pp = free_port(), free_port()
            path = d.write("open", probe_conf(f"127.0.0.1:{po}",
                                              extra_container=f"Directory={open_tree}\n"
                                              "ReadOnly=no"))
            build = os.path.realpath(BUILD)
            d.write("private", probe_conf(f"127.0.0.1:{pp}",
                                          extra_container=f"Directory={private_tree}\n"
                                          "ReadOnly=no\nBindReadOnly=/usr:/usr\n"
                                          f"BindReadOnly={build}:{build}"))
            rc, out, err = check(d)
            why = ("writable (ReadOnly=no), and host users can reach it: a setuid file the "
                   "container makes there would be theirs to run")
            assert rc != 0 and f"{path}: Directory={open_tree}: {why}" in err, (out, err)
            assert f"Directory={private_tree}" not in err, err
            d.start()
            assert services(d) == ["private"], d.ctl("list")
            # A log check: the tree and why, as --check says it.
            d.wait_log(re.escape(f"open: Directory={open_tree}: {why}"))
            assert probe_stream(("127.0.0.1", pp))["listen_fds"] == 1
            assert d.stop() == 0
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_socket_mode_and_owner_exact():
    """SocketMode= is the socket's mode from its creation on, whatever the
    daemon's umask; SocketUser=/SocketGroup= its owner."""
    with Daemon() as d:
        d.preexec = lambda: os.umask(0o077)
        for name, mode, extra in (("m0666", 0o666, ""), ("m0640", 0o640, "SocketMode=0640"),
                                  ("m0604", 0o604, "SocketMode=0604\nSocketUser=65534\n"
                                                   "SocketGroup=65533")):
            d.write(name, probe_conf(os.path.join(d.tmp, "s", name), extra_socket=extra))
        d.start()
        for name, mode in (("m0666", 0o666), ("m0640", 0o640), ("m0604", 0o604)):
            st = os.lstat(os.path.join(d.tmp, "s", name))
            assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == mode, \
                (name, oct(st.st_mode))
        st = os.lstat(os.path.join(d.tmp, "s", "m0604"))
        assert (st.st_uid, st.st_gid) == (65534, 65533), (st.st_uid, st.st_gid)
        # The directory made for them: root's, 0755 whatever the umask.
        st = os.stat(os.path.join(d.tmp, "s"))
        assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) & 0o022 == 0, oct(st.st_mode)
        assert d.stop() == 0


def test_bad_command_line():
    p = subprocess.run([NSINETD, "--log-level", "loud"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "invalid log level 'loud'" in p.stderr, p.stderr
    p = subprocess.run([NSINETD, "--register=maybe"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--register=maybe: expected yes or no" in p.stderr, p.stderr
    for bad in ("9", "-1", "two", ""):
        p = subprocess.run([NSINETD, f"--spares={bad}"], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode != 0 and \
            f"--spares={bad}: expected a number from 0 to 8" in p.stderr, p.stderr
    p = subprocess.run([NSINETD, "--check", "--config-dir", "/nonexistent-nsitest"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "/nonexistent-nsitest" in p.stderr, p.stderr


if __name__ == "__main__":
    main([test_check_ok, test_check_reports_every_error_with_file_and_line,
          test_duplicate_address_across_files, test_bad_file_disables_only_that_service,
          test_address_in_use_disables_only_that_service, test_unsafe_socket_directory_refused,
          test_socket_mode_and_owner_exact, test_unsafe_directory_refused,
          test_writable_directory_must_be_private,
          test_bad_command_line])
