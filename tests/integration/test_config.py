#!/usr/bin/python3
"""The configuration as a user meets it: --check, and bad files at run time."""
import subprocess

from nsitest import NSINETD, Daemon, main, probe_conf, probe_stream, free_port, connect


def check(d):
    p = subprocess.run([NSINETD, "--check", "--config-dir", d.config_dir],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


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
        assert "bad.conf: Exec= is missing" in d.log() or "Exec=" in d.log(), d.log()
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
            assert f"busy: ListenStream=127.0.0.1:{busy}: cannot bind: Address already in use" \
                in d.log(), d.log()
            assert probe_stream(("127.0.0.1", good))["listen_fds"] == 1
            assert d.stop() == 0
    finally:
        blocker.close()


def test_bad_command_line():
    p = subprocess.run([NSINETD, "--log-level", "loud"], capture_output=True, text=True)
    assert p.returncode != 0 and "invalid log level 'loud'" in p.stderr, p.stderr
    p = subprocess.run([NSINETD, "--check", "--config-dir", "/nonexistent-nsitest"],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "/nonexistent-nsitest" in p.stderr, p.stderr


if __name__ == "__main__":
    main([test_check_ok, test_check_reports_every_error_with_file_and_line,
          test_duplicate_address_across_files, test_bad_file_disables_only_that_service,
          test_address_in_use_disables_only_that_service, test_bad_command_line])
