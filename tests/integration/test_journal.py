#!/usr/bin/python3
"""Containers' output in the journal: when the daemon's stderr is the
journal, each service's lines go to a journal stream of the service's own
(identifier its name, priority info), which the daemon holds and writes;
they stay in the ring for nsinetctl logs. A journal that stops reading
slows neither the daemon nor other services.

The journal is a stand-in, a listener for the stream protocol at
/run/systemd/journal/stdout, in a mount namespace of this test's own (the
test re-executes itself under unshare(1), / private, a tmpfs over
/run/systemd/journal or its first existing parent): the host's /run and
its journal, if any, are never touched."""
import json
import os
import re
import signal
import subprocess
import sys
import time

from nsitest import (PROBE, Daemon, connect, free_port, main, probe_stream, recv_all,
                     require_root, tree_binds, wait_for)

JOURNAL_DIR = "/run/systemd/journal"
JOURNAL_SOCKET = JOURNAL_DIR + "/stdout"

# The stand-in: one process, one loop, every stream's header (the seven
# lines sd_journal_stream_fd() sends) then its lines, recorded one JSON
# document per line. A "<N>" prefix sets the priority only when the
# stream asked for level prefixes, as journald does.
STAND_IN = r"""
import json, selectors, socket, sys
FIELDS = ("identifier", "unit_id", "priority", "level_prefix",
          "forward_to_syslog", "forward_to_kmsg", "forward_to_console")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1])
srv.listen(64)
out = open(sys.argv[2], "a", buffering=1)
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ)
streams = {}
while True:
    for key, _ in sel.select():
        if key.fileobj is srv:
            c, _ = srv.accept()
            streams[c] = [b"", []]
            sel.register(c, selectors.EVENT_READ)
            continue
        c = key.fileobj
        st = streams[c]
        data = c.recv(65536)
        if not data:
            sel.unregister(c)
            c.close()
            del streams[c]
            continue
        st[0] += data
        while b"\n" in st[0]:
            raw, st[0] = st[0].split(b"\n", 1)
            text = raw.decode(errors="replace")
            if len(st[1]) < len(FIELDS):
                st[1].append(text)
                if len(st[1]) == len(FIELDS):
                    out.write(json.dumps({"stream": dict(zip(FIELDS, st[1]))}) + "\n")
                continue
            h = dict(zip(FIELDS, st[1]))
            prio = int(h["priority"])
            if h["level_prefix"] == "1" and len(text) >= 3 and text[0] == "<" \
                    and text[1] in "01234567" and text[2] == ">":
                prio, text = int(text[1]), text[3:]
            out.write(json.dumps({"identifier": h["identifier"], "priority": prio,
                                  "line": text}) + "\n")
"""


def own_mount_namespace():
    """Runs the rest of this file in a mount namespace of its own, with a
    tmpfs where the journal's sockets live."""
    if os.environ.get("NSITEST_JOURNAL_NS") != "1":
        require_root()
        env = dict(os.environ, NSITEST_JOURNAL_NS="1")
        os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private",
                               sys.executable] + sys.argv, env)
    # The deepest of the journal's directory and its parents that exists:
    # covered by a tmpfs in this namespace only.
    top = JOURNAL_DIR
    while not os.path.isdir(top):
        top = os.path.dirname(top)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=4m", "nsitest-journal", top],
                   check=True)
    os.makedirs(JOURNAL_DIR, exist_ok=True)


class StandIn:
    """The journal's stream listener, a process of its own (so that the
    test can stop it)."""

    def __init__(self, tmp):
        self.out = os.path.join(tmp, "journal.jsonl")
        open(self.out, "w").close()
        self.proc = subprocess.Popen([sys.executable, "-c", STAND_IN, JOURNAL_SOCKET, self.out])
        wait_for(lambda: os.path.exists(JOURNAL_SOCKET), 10, "the stand-in's socket")

    def records(self):
        docs = []
        with open(self.out) as f:
            for line in f:
                try:
                    docs.append(json.loads(line))
                except ValueError:
                    pass  # the last one, half written
        return docs

    def lines(self, identifier):
        return [r for r in self.records() if r.get("identifier") == identifier]

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(10)
        try:
            os.unlink(JOURNAL_SOCKET)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def shell_conf(port, script, accept=False):
    """A service that runs a shell script, then the probe."""
    return "\n".join(["[Socket]", f"ListenStream=127.0.0.1:{port}",
                      "Accept=yes" if accept else "",
                      "[Container]", f"Exec=/bin/sh -c '{script}; exec {PROBE}'", tree_binds(),
                      "[Service]", "StopTimeoutSec=5s", ""])


def journal_daemon(services):
    """A daemon whose stderr counts as the journal: $JOURNAL_STREAM names
    its log file. The daemon's own lines are not what this tests, and they
    must not wait on a stand-in that the test stops."""
    d = Daemon(services)
    open(d.log_path, "ab").close()
    st = os.stat(d.log_path)
    d.env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    return d


def ring(d, name):
    """The service's kept lines (nsinetctl --json logs: [time, pid, text])."""
    return [text for _, _, text in d.ctl("logs", name, "-n", "200")]


def test_lines_in_the_journal():
    """Each service's own stream, its name as identifier, priority info for
    stdout and stderr; a container cannot pick its priority; the ring keeps
    the lines; the daemon's log does not repeat them."""
    web_port, acc_port = free_port(), free_port()
    web = shell_conf(web_port, 'echo "to stdout"; echo "to stderr" >&2; '
                     'echo "<0>not an emergency"; printf "esc \\033[2J\\n"')
    acc = shell_conf(acc_port, 'echo "sandbox says hi" >&2', accept=True)
    with journal_daemon({"web": web, "acc": acc}) as d, StandIn(d.tmp) as j:
        d.start()
        probe_stream(("127.0.0.1", web_port))
        probe_stream(("127.0.0.1", acc_port))
        try:
            wait_for(lambda: len(j.lines("web")) >= 4, 10, "web's lines in the journal")
            wait_for(lambda: j.lines("acc"), 10, "acc's line in the journal")
        except AssertionError as e:
            # What the stand-in got, and the daemon's side of it.
            raise AssertionError(f"{e}\nthe stand-in got: {j.records()}\n"
                                 f"the daemon's log:\n{d.log()[-4000:]}") from None
        web_lines = [r["line"] for r in j.lines("web")]
        assert web_lines[:4] == ["to stdout", "to stderr", "<0>not an emergency",
                                 "esc \\x1b[2J"], web_lines
        assert {r["priority"] for r in j.lines("web")} == {6}, j.lines("web")
        streams = [r["stream"] for r in j.records() if "stream" in r]
        assert sorted(s["identifier"] for s in streams) == ["acc", "web"], streams
        for s in streams:
            assert (s["priority"], s["level_prefix"], s["forward_to_console"]) == \
                ("6", "0", "0"), s
        # Accept=yes: the sandbox's pid, the one of its "connection from" line.
        d.wait_log(r"acc: connection from \S+: sandbox pid \d+ exit")
        pid = re.search(r"acc: connection from \S+: sandbox pid (\d+) exit", d.log()).group(1)
        assert j.lines("acc")[0]["line"] == f"[{pid}] sandbox says hi", j.lines("acc")
        # The ring has them, as before.
        assert ring(d, "web")[:4] == web_lines[:4], ring(d, "web")
        assert "sandbox says hi" in ring(d, "acc")
        # Not twice: the daemon's own log has no copy.
        assert "to stdout" not in d.log() and "sandbox says hi" not in d.log(), d.log()
        assert d.stop() == 0


def test_stopped_journal_slows_nobody():
    """A journal that stops reading: the flood's lines are dropped, counted
    and logged, the ring still follows, and another service keeps serving."""
    flood_port, other_port = free_port(), free_port()
    flood = shell_conf(flood_port, "(/usr/bin/timeout 6 /usr/bin/yes xxxxxxxx &)")
    other = shell_conf(other_port, 'echo "served" >&2', accept=True)
    with journal_daemon({"flood": flood, "other": other}) as d, StandIn(d.tmp) as j:
        d.start()
        probe_stream(("127.0.0.1", other_port))
        wait_for(lambda: j.lines("other"), 10, "other's first line in the journal")
        j.proc.send_signal(signal.SIGSTOP)
        probe_stream(("127.0.0.1", flood_port))
        asked = answered = 0
        slowest = 0.0
        end = time.monotonic() + 4
        while time.monotonic() < end:
            asked += 1
            t = time.monotonic()
            try:
                with connect(("127.0.0.1", other_port), timeout=5) as s:
                    if recv_all(s):
                        answered += 1
            except OSError:
                pass
            slowest = max(slowest, time.monotonic() - t)
        print(f"# {answered} of {asked} connections answered, slowest {slowest:.3f}s, "
              "the journal stopped", flush=True)
        assert answered == asked and asked >= 5, (answered, asked)
        assert slowest < 2.0, slowest
        d.wait_log(r"flood: \d+ lines of output not sent to the journal \(its stream full\)",
                   timeout=15)
        # The daemon still answers its control socket, and the ring follows.
        assert d.state("flood") == "running"
        assert ring(d, "flood")[-1] == "xxxxxxxx"
        # The journal reads again: new lines reach it.
        j.proc.send_signal(signal.SIGCONT)
        before = len(j.lines("other"))
        probe_stream(("127.0.0.1", other_port))
        wait_for(lambda: len(j.lines("other")) > before, 15, "other's lines after the stop")
        assert d.stop() == 0


def test_no_journal_socket():
    """No journal listening: the lines go to the daemon's stderr as before,
    with one debug line; and a daemon whose stderr is not the journal
    writes them there even when the journal's socket exists."""
    port = free_port()
    conf = shell_conf(port, 'echo "hello from the container"')
    with journal_daemon({"out": conf}) as d:
        d.start()
        probe_stream(("127.0.0.1", port))
        d.wait_log(r"out: hello from the container\n")
        d.wait_log(r"out: no journal stream \(No such file or directory\)")
        assert ring(d, "out")[0] == "hello from the container"
        assert d.stop() == 0
    port = free_port()
    conf = shell_conf(port, 'echo "hello again"')
    with Daemon({"out": conf}) as d, StandIn(d.tmp) as j:
        d.start()
        probe_stream(("127.0.0.1", port))
        d.wait_log(r"out: hello again\n")
        assert d.stop() == 0
        assert j.records() == [], j.records()


if __name__ == "__main__":
    own_mount_namespace()
    main([test_lines_in_the_journal, test_stopped_journal_slows_nobody, test_no_journal_socket])
