#!/usr/bin/python3
"""Three hosts behind HAProxy: health that does not wake, no lost request.

Four network namespaces of the test's own: three "hosts", each running its
own nsinetd with the same lighttpd site and `--agent`, and a balancer
namespace running Debian's HAProxy, joined to each host by a veth pair
(both ends in the test's namespaces). HAProxy checks the hosts with
`agent-check` (the agent answers from the service's state and never
starts anything) and a connect check of the agent's port, retries a failed connection on another host
(`retry-on`, `option redispatch`) and closes server connections after each
response, so that the containers can go idle. The test's clients reach
HAProxy through a unix socket in the file system, which no network
namespace hides; HAProxy names the host that answered in a header.
"""
import csv
import io
import os
import signal
import socket
import subprocess
import threading
import time

from nsitest import SRC, Daemon, SkipTest, main, recv_all, tree_binds, wait_for
from test_network import Netns, cleanup_cgroup, ip

HAPROXY = "/usr/sbin/haproxy"
HOSTS = ("h1", "h2", "h3")
HTTP_PORT, AGENT_PORT = 8080, 9999
BIG = 8 << 20  # the file a slow client reads while its host is drained


def host_addr(i):
    return f"10.77.{i + 1}.2"


def lighttpd_conf(site):
    """The lighttpd example on every address of its host, its site
    replaced by the test's, stopped after 2 s without a connection."""
    with open(os.path.join(SRC, "examples", "lighttpd", "lighttpd.conf.in")) as f:
        text = f.read().replace("@SRCDIR@", os.path.abspath(SRC))
    out = []
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        if key == "ListenStream":
            line = f"ListenStream=0.0.0.0:{HTTP_PORT}"
        elif key == "BindReadOnly" and line.endswith(":/srv"):
            line = f"BindReadOnly={site}:/srv"
        elif key == "IdleFreezeSec":
            continue
        elif key == "IdleStopSec":
            line = "IdleStopSec=2s"
        out.append(line)
        if line == "[Container]":
            out.append(tree_binds())
    return "\n".join(l for l in out if l) + "\n"


HAPROXY_CFG = """\
global
    maxconn 256
    stats socket {tmp}/stat mode 600 level admin

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    option http-server-close
    http-reuse never

frontend web
    bind {tmp}/lb.sock
    default_backend web

backend web
    balance roundrobin
    http-response set-header X-Server %s
{use}
{servers}
"""
# The regular check connects to the agent's port, never to the service's:
# it marks a host whose daemon is gone DOWN; the agent says what the
# service's state means.
SERVER = ("    server {name} {addr}:{http} check port {agent} inter 200ms fall 2 rise 1 "
          "agent-check agent-addr {addr} agent-port {agent} agent-inter 200ms "
          "agent-send \"web\\n\"")


class Cluster:
    """The four namespaces, three daemons and HAProxy."""

    def __init__(self):
        self.lb = Netns("lb")
        self.hosts, self.daemons = [], []
        self.haproxy = None
        self.site = None
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self):
        for i, name in enumerate(HOSTS):
            ns = Netns(name)
            self.hosts.append(ns)
            ip("-n", self.lb.name, "link", "add", f"v{name}", "type", "veth", "peer", "name",
               "vlb", "netns", ns.name)
            ip("-n", self.lb.name, "addr", "add", f"10.77.{i + 1}.1/24", "dev", f"v{name}")
            ip("-n", ns.name, "addr", "add", f"{host_addr(i)}/24", "dev", "vlb")
            ip("-n", self.lb.name, "link", "set", f"v{name}", "up")
            ip("-n", ns.name, "link", "set", "vlb", "up")
        for i, ns in enumerate(self.hosts):
            d = Daemon(prefix=ns.exec_prefix(),
                       args=("--agent", f"{host_addr(i)}:{AGENT_PORT}"))
            if self.site is None:
                self.site = os.path.join(d.tmp, "site")
                os.mkdir(self.site)
                os.chmod(d.tmp, 0o755)
                with open(os.path.join(self.site, "index.html"), "w") as f:
                    f.write("hello from a host\n")
                with open(os.path.join(self.site, "big.bin"), "wb") as f:
                    f.write(os.urandom(BIG))
            d.write("web", lighttpd_conf(self.site))
            self.daemons.append(d)
            d.start()
        self.tmp = self.daemons[0].tmp
        servers = "\n".join(
            SERVER.format(name=h, addr=host_addr(i), http=HTTP_PORT, agent=AGENT_PORT)
            for i, h in enumerate(HOSTS))
        use = "\n".join(f"    use-server {h} if {{ req.hdr(x-to) -m str {h} }}" for h in HOSTS)
        cfg = os.path.join(self.tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(tmp=self.tmp, use=use, servers=servers))
        r = subprocess.run([HAPROXY, "-c", "-f", cfg], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, f"haproxy -c: {r.stdout}{r.stderr}"
        self.haproxy_log = open(os.path.join(self.tmp, "haproxy.log"), "wb")
        self.haproxy = subprocess.Popen([*self.lb.exec_prefix(), HAPROXY, "-db", "-f", cfg],
                                        stdin=subprocess.DEVNULL, stdout=self.haproxy_log,
                                        stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(os.path.join(self.tmp, "lb.sock")) or self._dead(),
                 10, "HAProxy's frontend socket")
        wait_for(lambda: self.states() == {h: "UP" for h in HOSTS}, 10,
                 f"HAProxy to see every host up (the agent says up), now {self.states()}")

    def _dead(self):
        if self.haproxy.poll() is not None:
            raise AssertionError(f"haproxy exited {self.haproxy.returncode}: " +
                                 open(self.haproxy_log.name).read())
        return False

    def stat(self):
        """HAProxy's `show stat` for the backend's servers, by name."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        with s:
            s.connect(os.path.join(self.tmp, "stat"))
            s.sendall(b"show stat\n")
            text = recv_all(s).decode()
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {r["svname"]: r for r in rows if r["pxname"] == "web" and r["svname"] in HOSTS}

    def states(self):
        """UP, DRAIN, DOWN, MAINT by host ("DRAIN (agent)": DRAIN)."""
        return {h: r["status"].split(" ")[0] for h, r in self.stat().items()}

    def started(self):
        """Containers started so far, by host (a dead daemon: None)."""
        out = {}
        for h, d in zip(HOSTS, self.daemons):
            out[h] = d.ctl("status", "web")["ColdStarts"] if d.proc.poll() is None else None
        return out

    def close(self):
        if self.haproxy and self.haproxy.poll() is None:
            self.haproxy.terminate()
            try:
                self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                self.haproxy.wait(10)
        for d in self.daemons:
            base = d.cgroup_base()
            if d.proc and d.proc.poll() is not None:
                cleanup_cgroup(base)
        for d in self.daemons:
            d.close()
        for ns in self.hosts:
            ns.close()
        self.lb.close()
        if getattr(self, "haproxy_log", None):
            self.haproxy_log.close()


def request(c, path="/", to=None, timeout=30):
    """One GET through HAProxy: (status, the host that answered, body)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    with s:
        s.connect(os.path.join(c.tmp, "lb.sock"))
        hdr = f"X-To: {to}\r\n" if to else ""
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: web\r\n{hdr}\r\n".encode())
        data = recv_all(s, limit=BIG + 65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split(" ", 2)[1]) if lines[0].startswith("HTTP/") else 0
    server = next((l.split(":", 1)[1].strip() for l in lines[1:]
                   if l.lower().startswith("x-server:")), None)
    return status, server, body


def load(c, n, workers=4, on_progress=None):
    """n requests from `workers` clients at once; every answer, in order
    of completion. on_progress(done) is called after each."""
    results, lock = [], threading.Lock()
    todo = iter(range(n))

    def work():
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            try:
                r = request(c)[:2]
            except OSError as e:
                r = (0, f"error: {e}")
            with lock:
                results.append(r)
                done = len(results)
            if on_progress:
                on_progress(done)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "a load client did not finish within 120 s"
    return results


def test_three_hosts_behind_haproxy():
    if not os.access(HAPROXY, os.X_OK):
        raise SkipTest(f"{HAPROXY} is not installed (scripts/install-deps.sh installs haproxy)")
    if not os.access("/usr/sbin/lighttpd", os.X_OK):
        raise SkipTest("/usr/sbin/lighttpd is not installed (scripts/install-deps.sh)")
    c = Cluster()
    try:
        scenario(c)
    finally:
        c.close()


def scenario(c):
    # (a) Health checks never start a container: 10 s of agent checks every
    # 200 ms on three hosts.
    before = {h: r["chkdown"] for h, r in c.stat().items()}
    time.sleep(10)
    checks = {h: int(r["agent_status"] != "") for h, r in c.stat().items()}
    assert c.started() == {h: 0 for h in HOSTS}, f"(a) health checks started: {c.started()}"
    assert c.states() == {h: "UP" for h in HOSTS}, c.states()
    assert all(checks.values()), f"(a) HAProxy has no agent result: {c.stat()}"
    assert {h: r["chkdown"] for h, r in c.stat().items()} == before
    for d in c.daemons:
        assert d.ctl("status", "web")["State"] == "stopped"

    # (b) Requests start containers only where they land: h1 and h2 get
    # ten each, h3 none.
    for h in ("h1", "h2"):
        for _ in range(10):
            status, server, body = request(c, to=h)
            assert (status, server) == (200, h), (status, server, body[:200])
            assert body == b"hello from a host\n", body[:200]
    assert c.started() == {"h1": 1, "h2": 1, "h3": 0}, f"(b) {c.started()}"

    # (d) A drained host gets no new request; the one in flight completes.
    slow = socket.socket(socket.AF_UNIX)
    slow.settimeout(30)
    slow.connect(os.path.join(c.tmp, "lb.sock"))
    slow.sendall(b"GET /big.bin HTTP/1.0\r\nHost: web\r\nX-To: h2\r\n\r\n")
    first = slow.recv(65536)
    assert b"\r\nx-server: h2\r\n" in first.lower(), first[:300]
    c.daemons[1].ctl_run("drain", "web", timeout=10).check_returncode()
    wait_for(lambda: c.states()["h2"] == "DRAIN", 10,
             f"HAProxy to see h2 drained (the agent says drain), now {c.states()}")
    served = [request(c)[:2] for _ in range(60)]
    assert all(st == 200 for st, _ in served), f"(d) {served}"
    to_h2 = sum(1 for _, srv in served if srv == "h2")
    assert to_h2 == 0, f"(d) a drained host got {to_h2} of 60 new requests: {served}"
    assert {"h1", "h3"} == {srv for _, srv in served}, served
    rest = recv_all(slow, limit=BIG + 65536)
    slow.close()
    body = (first + rest).partition(b"\r\n\r\n")[2]
    assert len(body) == BIG, f"(d) the request in flight on h2 got {len(body)} of {BIG} bytes"
    c.daemons[1].ctl_run("undrain", "web", timeout=10).check_returncode()
    wait_for(lambda: c.states()["h2"] == "UP", 10, f"h2 up again, now {c.states()}")
    served = [request(c)[1] for _ in range(30)]
    assert "h2" in served, f"(d) after undrain h2 got nothing: {served}"

    # (c) One host's daemon killed with SIGKILL under load: no request is
    # lost (HAProxy retries the refused connections on another host).
    victim = c.daemons[1]
    killed = threading.Event()

    def kill_at(done):
        if done == 300 and not killed.is_set():
            killed.set()
            victim.proc.send_signal(signal.SIGKILL)

    n = 3000
    results = load(c, n, on_progress=kill_at)
    assert killed.is_set()
    victim.proc.wait(10)
    bad = [r for r in results if r[0] != 200]
    assert len(results) == n and not bad, f"(c) {len(bad)} of {n} requests failed: {bad[:10]}"
    by_host = {h: sum(1 for _, srv in results if srv == h) for h in HOSTS}
    assert by_host["h1"] and by_host["h3"], by_host
    # The dead daemon's containers ended with it.
    wait_for(lambda: not [p for p in victim.container_pids() if alive(p)], 10,
             "the killed daemon's containers to end")

    # (e) After the idle time every host is back to zero containers.
    for h, d in zip(HOSTS, c.daemons):
        if d is victim:
            continue
        d.wait_state("web", "stopped", timeout=20)
        assert not [p for p in d.container_pids() if alive(p)], d.log()
    print(f"# requests by host under load (h2 killed at 300): {by_host}", flush=True)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    main([test_three_hosts_behind_haproxy])
