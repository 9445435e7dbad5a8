#!/usr/bin/python3
"""Health that does not wake (supervisor/agent.c, health.c, metrics.c's
/health/NAME): nsinetd --agent answers HAProxy's agent-check from the
service's state, GET /health/NAME the same as 200/503/404; a probe of
either kind never starts, thaws or keeps awake a service; nsinetctl
drain/undrain; hostile clients are bounded and the daemon keeps serving.
With Debian's haproxy installed, a real HAProxy follows the answers."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from nsitest import (Daemon, SkipTest, cgroup2_mount, connect, free_port, main, probe_conf,
                     probe_stream, recv_all, wait_for)


def agent(port, line, timeout=10.0):
    """What the agent answers to line (bytes), read until it closes."""
    with connect(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(line)
        return recv_all(s)


def health(port, name, method="GET"):
    """(status, body) of /health/NAME."""
    with connect(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"{method} /health/{name} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = recv_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


class Setup:
    """A daemon with --agent and --metrics and the services given."""

    def __init__(self, services, extra_args=()):
        self.agent, self.http = free_port(), free_port()
        self.d = Daemon(services, args=["--agent", f"127.0.0.1:{self.agent}", "--metrics",
                                        f"127.0.0.1:{self.http}"] + list(extra_args))

    def __enter__(self):
        self.d.__enter__()
        self.d.start()
        return self

    def __exit__(self, *exc):
        self.d.__exit__(*exc)

    def ask(self, name):
        return agent(self.agent, name.encode() + b"\n")

    def both(self, name):
        """The agent's answer and /health's status, checked to agree."""
        a = self.ask(name)
        status, body = health(self.http, name)
        word = a.split()[0].decode() if a else ""
        assert status == (200 if word == "up" else 404 if b"no such service" in a else 503), \
            (name, a, status, body)
        assert body.split()[0].decode() == word, (a, body)
        return a, status


def need_cgroup2():
    if not cgroup2_mount():
        raise SkipTest("no cgroup v2 mounted (IdleFreezeSec= and freeze need cgroup.freeze)")


def test_up_while_stopped_and_frozen_and_still_so():
    """Probed for 3 s, a stopped service stays stopped (no cold start) and a
    frozen one frozen; both are up. nsinetctl freeze (held) is maint, a
    thaw up again."""
    need_cgroup2()
    st, fz = free_port(), free_port()
    services = {"st": probe_conf(f"127.0.0.1:{st}"),
                "fz": probe_conf(f"127.0.0.1:{fz}", extra_service="IdleFreezeSec=1s")}
    with Setup(services) as t:
        d = t.d
        probe_stream(("127.0.0.1", fz))
        d.wait_state("fz", "frozen", timeout=10)
        with d.events() as ev:
            n, end = 0, time.monotonic() + 3
            while time.monotonic() < end:
                for name in ("st", "fz"):
                    a, status = t.both(name)
                    assert (a, status) == (b"up ready\n", 200), (name, a, status)
                    n += 1
            changes = ev.pending()
        assert n > 20, n
        assert changes == [], changes
        s1, s2 = d.ctl("status", "st"), d.ctl("status", "fz")
        assert (s1["State"], s1["ColdStarts"], s1["Health"]) == ("stopped", 0, "up"), s1
        assert (s2["State"], s2["ColdStarts"]) == ("frozen", 1), s2
        # An operator's freeze holds the container: connections would wait.
        probe_stream(("127.0.0.1", fz))
        d.wait_state("fz", "running")
        d.ctl("freeze", "fz")
        assert t.both("fz") == (b"maint # frozen by request\n", 503)
        d.ctl("thaw", "fz")
        assert t.both("fz") == (b"up ready\n", 200)
        # HEAD: the status, no body.
        assert health(t.http, "st", "HEAD") == (200, b"")
        assert d.stop() == 0


def test_probes_are_not_activity():
    """A running service with IdleStopSec=2s stops while it is probed
    without pause: the probes are on the daemon's sockets, not the
    service's."""
    port = free_port()
    with Setup({"run": probe_conf(f"127.0.0.1:{port}", extra_service="IdleStopSec=2s")}) as t:
        d = t.d
        probe_stream(("127.0.0.1", port))
        d.wait_state("run", "running")
        with d.events("run") as ev:
            end = time.monotonic() + 20
            while not [e for e in ev.pending() if e["NewState"] == "stopped"]:
                assert time.monotonic() < end, \
                    f"not stopped within 20 s while probed: {ev.seen}"
                assert t.both("run")[0] == b"up ready\n"
        stopping = [e for e in ev.seen if e["NewState"] == "stopping"]
        assert stopping and stopping[0]["Reason"].startswith("idle"), ev.seen
        assert t.both("run") == (b"up ready\n", 200)
        assert d.ctl("status", "run")["ColdStarts"] == 1
        assert d.stop() == 0


def test_down_while_suspended_then_up():
    port = free_port()
    conf = (f"[Socket]\nListenStream=127.0.0.1:{port}\n[Container]\n"
            "Exec=/nonexistent/program\n[Service]\nStartLimitBurst=1\n"
            "StartLimitIntervalSec=3s\n")
    with Setup({"bad": conf}) as t:
        d = t.d
        with connect(("127.0.0.1", port)) as s:
            assert recv_all(s) == b""
        d.wait_state("bad", "suspended")
        a, status = t.both("bad")
        assert (a, status) == (b"down # suspended by a start or trigger limit\n", 503), a
        assert d.ctl("status", "bad")["Health"] == "down"
        # The suspension ends: up again (it would start on demand).
        d.wait_state("bad", "stopped", timeout=10)
        assert t.both("bad") == (b"up ready\n", 200)
        assert d.stop() == 0


def test_drain_and_undrain():
    """drain: the balancer is told so, the service still serves what comes;
    a reload that changes the service keeps the drain; undrain: up."""
    port = free_port()
    with Setup({"web": probe_conf(f"127.0.0.1:{port}")}) as t:
        d = t.d
        out = d.ctl("drain", "web")
        assert out == {"Name": "web", "Health": "drain"}, out
        assert t.both("web") == (b"drain\n", 503)
        rows = {r["Name"]: r for r in d.ctl("list")}
        assert (rows["web"]["Drained"], rows["web"]["Health"]) == (True, "drain"), rows
        # Draining is advice to the balancer, not a refusal.
        assert probe_stream(("127.0.0.1", port))["answer"] == 1
        st = d.ctl("status", "web")
        assert (st["State"], st["Drained"]) == ("running", True), st
        text = d.ctl_run("status", "web").stdout
        assert "Health: drain (drained" in text, text
        # A changed file: the successor keeps the drain.
        d.write("web", probe_conf(f"127.0.0.1:{port}", env=("X=1",)))
        rep = d.ctl("reload")
        assert rep["Changed"] == ["web"], rep
        assert t.both("web") == (b"drain\n", 503)
        assert d.ctl("undrain", "web")["Health"] == "up"
        assert t.both("web") == (b"up ready\n", 200)
        assert not d.ctl("status", "web")["Drained"]
        # Unknown names and a reader may not drain.
        r = d.ctl_run("drain", "nope")
        assert r.returncode == 4 and "no such service" in r.stderr, r
        r = d.ctl_run("drain")
        assert r.returncode == 2, r
        assert d.stop() == 0


def test_unknown_and_malformed():
    port = free_port()
    with Setup({"web": probe_conf(f"127.0.0.1:{port}")}) as t:
        d = t.d
        assert t.both("nope") == (b"down # no such service\n", 404)
        d.wait_log(r"agent: asked about 'nope', which is not a service")
        assert health(t.http, "..%2Fetc")[0] == 404
        assert health(t.http, "we%40b")[0] == 404
        assert health(t.http, "we%62")[0] == 200  # %62 is b
        assert health(t.http, "web%00x")[0] == 404
        assert health(t.http, "web", "POST")[0] == 405
        # CRLF and blanks around the name, as some balancers send.
        assert agent(t.agent, b"  web\r\n") == b"up ready\n"
        assert agent(t.agent, b"a b\n") == b"down # not a service name\n"
        assert agent(t.agent, b"\n") == b"down # not a service name\n"
        assert agent(t.agent, b"x" * 500) == b"down # line too long\n"
        # 127 bytes and the newline is a line (not a name); 128 and it
        # is too long.
        assert agent(t.agent, b"x" * 127 + b"\n") == b"down # not a service name\n"
        assert agent(t.agent, b"x" * 128 + b"\n") == b"down # line too long\n"
        # The complaints are rate limited: 50 bad lines, a few log lines.
        for _ in range(50):
            agent(t.agent, b"a b\n")
        time.sleep(0.2)
        n = d.log().count("not a service name (HAProxy")
        assert 1 <= n <= 5, n
        assert d.stop() == 0


def test_hostile_clients():
    """A client that never sends is closed; many clients at once are
    bounded (the ones beyond 64 closed at once); the daemon keeps serving
    its services, the agent and the metrics throughout."""
    port = free_port()
    with Setup({"web": probe_conf(f"127.0.0.1:{port}")}) as t:
        d = t.d
        # No newline, then nothing: closed by the daemon (5 s), unanswered.
        with connect(("127.0.0.1", t.agent), timeout=15) as s:
            s.sendall(b"web")
            try:
                assert recv_all(s) == b""
            except socket.timeout:
                raise AssertionError("a client that sent no newline was not closed within "
                                     "15 s (the agent's limit is 5 s)") from None
        # 100 silent clients: 64 held, the rest closed at once.
        socks = []
        try:
            for _ in range(100):
                socks.append(connect(("127.0.0.1", t.agent), timeout=10))
            closed = 0
            for s in socks:
                s.settimeout(0.5)
                try:
                    if s.recv(1) == b"":
                        closed += 1
                except socket.timeout:
                    pass
            assert closed >= 100 - 64, closed
            # Meanwhile: the service serves, the metrics answer.
            assert probe_stream(("127.0.0.1", port))["answer"] == 1
            assert health(t.http, "web")[0] == 200
        finally:
            for s in socks:
                s.close()
        # Slots come back as the clients go.
        wait_for(lambda: agent(t.agent, b"web\n") == b"up ready\n", 10,
                 "the agent to answer again after 100 clients left")
        assert d.proc.poll() is None
        assert d.stop() == 0


HAPROXY_CFG = """global
    stats socket {sock} mode 600 level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout check 2s
backend be
    server web 127.0.0.1:{port} agent-check agent-addr 127.0.0.1 agent-port {agent} agent-send "web\\n" agent-inter 200ms
"""


def test_real_haproxy_follows_the_agent():
    """Debian's HAProxy with agent-check: the server is UP while the service
    is stopped (and stays stopped), DRAIN after nsinetctl drain, READY
    again after undrain."""
    haproxy = shutil.which("haproxy")
    if not haproxy:
        raise SkipTest("no haproxy (scripts/install-deps.sh check: Debian's haproxy)")
    port = free_port()
    with Setup({"web": probe_conf(f"127.0.0.1:{port}")}) as t:
        d = t.d
        tmp = tempfile.mkdtemp(prefix="nsitest-haproxy-")
        sock = os.path.join(tmp, "admin.sock")
        cfg = os.path.join(tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(sock=sock, port=port, agent=t.agent))
        hp = subprocess.Popen([haproxy, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        try:
            def admin(cmd):
                if not os.path.exists(sock):
                    return ""
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(5)
                    s.connect(sock)
                    s.sendall(cmd.encode() + b"\n")
                    return recv_all(s).decode()

            def server_state():
                """(operational, admin) columns of show servers state."""
                for line in admin("show servers state be").splitlines():
                    f = line.split()
                    if len(f) > 6 and f[1] == "be" and f[3] == "web":
                        return int(f[5]), int(f[6])
                return None

            # srv_op_state 2 = running; srv_admin_state 0 = ready, bit 0x08
            # a forced drain (what the agent's "drain" sets; its stats say
            # "DRAIN (agent)").
            wait_for(lambda: server_state() == (2, 0), 10, "HAProxy to see web up")
            d.ctl("drain", "web")
            wait_for(lambda: (server_state() or (0, 0))[1] & 0x08, 10,
                     f"HAProxy to drain web ({server_state()})")
            d.ctl("undrain", "web")
            wait_for(lambda: server_state() == (2, 0), 10,
                     f"HAProxy to see web ready again ({server_state()})")
            st = d.ctl("status", "web")
            assert (st["State"], st["ColdStarts"]) == ("stopped", 0), st
        finally:
            hp.terminate()
            try:
                hp.wait(10)
            except subprocess.TimeoutExpired:
                hp.kill()
                hp.wait()
            shutil.rmtree(tmp, ignore_errors=True)
        assert d.stop() == 0


if __name__ == "__main__":
    main([test_up_while_stopped_and_frozen_and_still_so, test_probes_are_not_activity,
          test_down_while_suspended_then_up, test_drain_and_undrain, test_unknown_and_malformed,
          test_hostile_clients, test_real_haproxy_follows_the_agent])
