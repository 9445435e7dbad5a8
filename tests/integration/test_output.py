#!/usr/bin/python3
"""Containers' stdout and stderr: a pipe of their own that the daemon reads,
never the daemon's log file or terminal. Each line is logged with the
service's name, escaped, and rate-limited without slowing other services."""
import json
import os
import re
import threading
import time

from nsitest import (PROBE, Daemon, connect, fd_count_settled, free_port, main, probe_stream,
                     recv_all, tree_binds, wait_for)


def shell_probe_conf(listen, script, socket_extra="", container_extra=""):
    """The probe, after a shell script (in single quotes: no $ expansion by
    the config, none of the script's quotes may be single)."""
    return ("[Socket]\nListenStream=%s\n%s\n[Container]\nExec=/bin/sh -c '%s; exec %s'\n"
            "%s\n%s\n[Service]\nStopTimeoutSec=5s\n"
            % (listen, socket_extra, script, PROBE, tree_binds(), container_extra))


# What a container may hold: its pipes, its sockets, /dev/null, the probe's
# own handle on /proc. Never a file or a terminal of the host's.
ALLOWED = ("pipe:[", "socket:[", "/dev/null", "anon_inode:", "/proc/")


def check_links(links, forbidden, what):
    if "error" in links:
        return
    for fd, target in links.items():
        assert target.startswith(ALLOWED), (what, fd, target)
        assert forbidden not in target, (what, fd, target)


def test_stdout_stderr_are_a_pipe_logged_by_line():
    port = free_port()
    script = ('echo "hello from the container"; echo "to stderr" >&2; '
              'printf "esc \\033[2J\\033]0;title\\007 \\302\\233end\\n"')
    with Daemon({"out": shell_probe_conf(f"127.0.0.1:{port}", script)}) as d:
        d.start()
        r = probe_stream(("127.0.0.1", port))
        links = r["fd_links"]
        assert links["0"] == "/dev/null", links
        assert links["1"].startswith("pipe:[") and links["2"] == links["1"], links
        # Each line in the ring, by the container's pid 1, in order; a
        # terminal escape arrives as text, never as the bytes.
        pid = d.ctl("status", "out")["MainPID"]
        want = [[pid, "hello from the container"], [pid, "to stderr"],
                [pid, r"esc \x1b[2J\x1b]0;title\x07 \xc2\x9bend"]]
        wait_for(lambda: [l[1:] for l in d.ctl("logs", "out")] == want, 10,
                 "the container's lines in the ring")
        # A log check: the daemon's own log lines are escaped too.
        d.wait_log(re.escape(r"out: esc \x1b[2J\x1b]0;title\x07 \xc2\x9bend") + "\n")
        with open(d.log_path, "rb") as f:
            raw = f.read()
        assert b"\x1b" not in raw and b"\x07" not in raw and b"\xc2\x9b" not in raw, raw
        # The probe's own goodbye on stderr, read before the stop's answer
        # (which comes once the container is gone).
        assert d.ctl("stop", "out")["State"] == "stopped"
        last = d.ctl("logs", "out", "-n", "1")
        assert [l[1:] for l in last] == \
            [[pid, "nsinetd-probe: stop requested, exiting after 1 answer(s)"]], last
        assert d.stop() == 0
        # A log check: the log's order (the last words before the end).
        log = d.log()
        said = log.find("out: nsinetd-probe: stop requested")
        exited = log.find("out: container pid")
        assert 0 <= said < exited, log
        assert d.leftovers() == [], d.leftovers()


def test_accept_yes_sandboxes():
    """Each sandbox's lines carry its pid; with StandardInput=socket stdout
    is the connection and stderr still a pipe."""
    for stdin in ("fd", "socket"):
        port = free_port()
        conf = shell_probe_conf(f"127.0.0.1:{port}", 'echo "sandbox says hi" >&2',
                                socket_extra="Accept=yes",
                                container_extra=f"StandardInput={stdin}")
        with Daemon({"acc": conf}) as d:
            d.start()
            # One first: the spare network namespaces it starts are fds too.
            probe_stream(("127.0.0.1", port))
            wait_for(lambda: d.ctl("status", "acc")["Sandboxes"] == 0, 10, "sandboxes to end")
            fds0 = fd_count_settled(d.proc.pid)
            for _ in range(20):
                r = probe_stream(("127.0.0.1", port))
            links = r["fd_links"]
            assert links["2"].startswith("pipe:["), (stdin, links)
            if stdin == "fd":
                assert links["1"] == links["2"], links
            else:
                assert links["1"].startswith("socket:[") and links["0"] == links["1"], links
            # 20 sandboxes, each line in the ring with its sandbox's pid.
            wait_for(lambda: d.ctl("status", "acc")["Sandboxes"] == 0, 10, "sandboxes to end")
            st = d.ctl("status", "acc")
            lines = d.ctl("logs", "acc", "-n", "1000")
            assert [l[2] for l in lines] == ["sandbox says hi"] * 21, lines
            assert len({l[1] for l in lines}) == 21 and 0 not in {l[1] for l in lines}, lines
            assert (st["Accepted"], st["ColdStarts"], st["LastExitStatus"]) == (21, 21, 0), st
            # 20 sandboxes came and went: none left a pipe behind.
            assert fd_count_settled(d.proc.pid) == fds0, (
                "the daemon's fds back to where they were", fds0)
            assert d.stop() == 0


class Terminal:
    """A pty as the daemon's stdout and stderr; what it shows goes to the log."""

    def __init__(self, log_path):
        self.master, self.slave = os.openpty()
        self.log = open(log_path, "ab", buffering=0)
        self.thread = threading.Thread(target=self._copy, daemon=True)
        self.thread.start()

    def _copy(self):
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.log.write(data.replace(b"\r\n", b"\n"))

    def close(self):
        os.close(self.slave)
        self.thread.join(10)
        os.close(self.master)
        self.log.close()


def test_daemon_stderr_unreachable():
    """Neither the daemon's log file nor its terminal is reachable from a
    container: no fd of the payload or of its pid 1 leads there, and the
    file's path is not visible inside."""
    secret = "SECRET-" + os.urandom(8).hex()
    for kind in ("file", "tty"):
        port = free_port()
        with Daemon() as d:
            d.write("peek", shell_probe_conf(
                f"127.0.0.1:{port}", "true",
                container_extra=f"Environment=PROBE_FILES={d.log_path}"))
            with open(d.log_path, "w") as f:
                f.write(f"client 192.0.2.7 said {secret}\n")
            term = Terminal(d.log_path) if kind == "tty" else None
            if term:
                d.stdio = term.slave
            try:
                d.start()
                own = os.readlink(f"/proc/{d.proc.pid}/fd/2")
                # What must be out of reach really is the daemon's stderr.
                if term:
                    assert own.startswith("/dev/pts/"), own
                    forbidden = "/dev/pts"
                else:
                    assert own == d.log_path, own
                    forbidden = d.log_path
                r = probe_stream(("127.0.0.1", port))
                check_links(r["fd_links"], forbidden, "payload")
                check_links(r["pid1_fd_links"], forbidden, "pid 1")
                assert r["files"][d.log_path]["content"] is None, r["files"]
                assert secret not in json.dumps(r), r
                assert d.stop() == 0
            finally:
                if term:
                    d.proc.wait(30)
                    term.close()


def test_flood_does_not_starve_others():
    """A container writing without pause: its lines beyond the rate limit
    are dropped and counted, and another service of the same daemon (whose
    every connection needs the daemon's loop: Accept=yes) keeps answering."""
    flood_port, other_port = free_port(), free_port()
    flood = shell_probe_conf(f"127.0.0.1:{flood_port}",
                             "(/usr/bin/timeout 4 /usr/bin/yes xxxxxxxx &)")
    other = shell_probe_conf(f"127.0.0.1:{other_port}", "true", socket_extra="Accept=yes")
    with Daemon({"flood": flood, "other": other}) as d:
        d.start()
        probe_stream(("127.0.0.1", flood_port))
        wait_for(lambda: d.ctl("logs", "flood", "-n", "1")[0][2:] == ["xxxxxxxx"], 10,
                 "the flood in the ring")
        asked = answered = 0
        end = time.monotonic() + 3
        while time.monotonic() < end:
            asked += 1
            # Generous: the answer must come, not come fast.
            with connect(("127.0.0.1", other_port), timeout=30) as s:
                if b'"listen_fds"' in recv_all(s):
                    answered += 1
        print(f"# {answered} of {asked} connections answered during the flood", flush=True)
        assert asked >= 3 and answered == asked, (asked, answered)
        # A log check: the rate limit's notice is the log's (it protects the log).
        d.wait_log(r"flood: \d+ lines of output dropped \(more than 1000 lines", timeout=15)
        n = sum(int(x) for x in re.findall(r"flood: (\d+) lines of output dropped", d.log()))
        assert n > 1000, n
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


if __name__ == "__main__":
    main([test_stdout_stderr_are_a_pipe_logged_by_line, test_accept_yes_sandboxes,
          test_daemon_stderr_unreachable, test_flood_does_not_starve_others])
