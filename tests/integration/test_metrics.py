#!/usr/bin/python3
"""nsinetd --metrics (supervisor/metrics.c): the exposition passes promtool,
a real Prometheus server scrapes it and answers a query, a scrape wakes no
container, bad requests get errors and the daemon keeps serving."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from nsitest import (Daemon, SkipTest, connect, free_port, main, probe_conf, recv_all,
                     tree_binds, wait_for)

NOTIFY_PROBE = os.environ.get("NSINETD_NOTIFY_PROBE", "build/tests/nsinetd-notify-probe")


def scrape(port, method="GET", path="/metrics", extra=b""):
    """(status, headers, body) of one HTTP/1.0 request to the daemon."""
    with connect(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"{method} {path} HTTP/1.0\r\nHost: x\r\n".encode() + extra + b"\r\n")
        data = recv_all(s, limit=64 << 20)
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, head.decode(errors="replace"), body


def series(body):
    """{'name{labels}': value} of an exposition."""
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def promtool_check(body):
    if not shutil.which("promtool"):
        raise SkipTest("no promtool (scripts/install-deps.sh check: Debian's prometheus)")
    r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                       timeout=60)
    # promtool's linter also prints advice (exit 3 for lint problems in
    # some versions): any output is a problem to fix here.
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        (r.returncode, r.stdout.decode(), r.stderr.decode())


def conf_notify(port):
    return "\n".join(l for l in [
        "[Socket]", f"ListenStream=127.0.0.1:{port}", "[Container]", f"Exec={NOTIFY_PROBE}",
        tree_binds(), "[Service]", "Type=notify", "StopTimeoutSec=2s"] if l) + "\n"


def test_exposition_passes_promtool():
    """Accept=no started, frozen, stopped; Accept=yes with refusals;
    Type=notify: every stage passes promtool check metrics, and the
    counters say what happened."""
    pa, py, pn, pm = free_port(), free_port(), free_port(), free_port()
    services = {
        "a": probe_conf(f"127.0.0.1:{pa}"),
        "y": probe_conf(f"127.0.0.1:{py}", env=["PROBE_SLEEP_MS=1500"],
                        extra_socket="Accept=yes\nMaxConnectionsPerSource=1"),
        "n": conf_notify(pn),
    }
    with Daemon(services, args=["--metrics", f"127.0.0.1:{pm}"]) as d:
        d.start()
        status, head, body = scrape(pm)
        assert status == 200, (status, head)
        assert "text/plain; version=0.0.4" in head, head
        promtool_check(body)
        # Accept=no: started, frozen, thawed, stopped.
        assert b"listen_fds" in recv_all(connect(("127.0.0.1", pa)))
        d.wait_state("a", "running")
        d.ctl("freeze", "a")
        d.wait_state("a", "frozen")
        promtool_check(scrape(pm)[2])
        d.ctl("thaw", "a")
        d.wait_state("a", "running")
        d.ctl("stop", "a")
        d.wait_state("a", "stopped")
        # Accept=yes: one held, one refused (same source).
        held = connect(("127.0.0.1", py))
        wait_for(lambda: d.ctl("status", "y")["Sandboxes"] == 1, 10, "a sandbox")
        with connect(("127.0.0.1", py)) as s:
            assert recv_all(s) == b""
        # Type=notify: ready.
        with connect(("127.0.0.1", pn)) as s:
            s.settimeout(10)
            assert recv_all(s) == b"notify-probe 1\n"
        d.wait_state("n", "running")
        assert b"listen_fds" in recv_all(held)
        held.close()
        body = scrape(pm)[2]
        promtool_check(body)
        v = series(body)
        assert v['nsinetd_service_state{service="a",state="stopped"}'] == 1, v
        assert v['nsinetd_cold_start_seconds_count{service="a"}'] == 1, v
        assert v['nsinetd_freezes_total{service="a"}'] == 1, v
        assert v['nsinetd_thaw_seconds_count{service="a"}'] == 1, v
        assert v['nsinetd_stops_total{service="a",reason="request"}'] == 1, v
        assert v['nsinetd_connections_accepted_total{service="y"}'] == 2, v
        assert v['nsinetd_connections_refused_total{service="y",reason="per_source"}'] == 1, v
        assert v['nsinetd_cold_start_seconds_count{service="y"}'] == 1, v
        assert v['nsinetd_cold_start_ready_seconds_count{service="n"}'] == 1, v
        assert v['nsinetd_service_state{service="n",state="running"}'] == 1, v
        assert v["nsinetd_services"] == 3, v
        assert v["process_open_fds"] > 0 and v["process_resident_memory_bytes"] > 0, v
        # The service that runs has its cgroup's CPU time, when there is one.
        if d.cgroup_base():
            assert 'nsinetd_service_cpu_seconds_total{service="n"}' in v, v
        d.hup()
        wait_for(lambda: series(scrape(pm)[2]).get(
            'nsinetd_reloads_total{result="success"}') == 1, 10, "a reload counted")
        assert d.stop() == 0


def test_scrape_wakes_nothing():
    """A frozen container stays frozen, a stopped service stays stopped,
    and no start is counted, however many scrapes."""
    pa, pm = free_port(), free_port()
    with Daemon({"a": probe_conf(f"127.0.0.1:{pa}")},
                args=["--metrics", f"127.0.0.1:{pm}"]) as d:
        d.start()
        assert b"listen_fds" in recv_all(connect(("127.0.0.1", pa)))
        d.wait_state("a", "running")
        d.ctl("freeze", "a")
        d.wait_state("a", "frozen")
        starts = d.ctl("status", "a")["ColdStarts"]
        for _ in range(20):
            assert scrape(pm)[0] == 200
        assert d.state("a") == "frozen"
        v = series(scrape(pm)[2])
        assert v['nsinetd_service_state{service="a",state="frozen"}'] == 1, v
        d.ctl("stop", "a")
        d.wait_state("a", "stopped")
        for _ in range(20):
            assert scrape(pm)[0] == 200
        time.sleep(0.3)
        assert d.state("a") == "stopped"
        assert d.ctl("status", "a")["ColdStarts"] == starts
        assert series(scrape(pm)[2])['nsinetd_starts_total{service="a"}'] == starts
        assert d.stop() == 0


def test_bad_requests():
    """POST, another path, a huge header: errors; a bad --metrics address:
    the daemon does not start. The daemon keeps serving throughout."""
    pm = free_port()
    with Daemon({}, args=["--metrics", f"127.0.0.1:{pm}"]) as d:
        d.start(wait_log=r"listening|metrics at")
        assert scrape(pm, "POST")[0] == 405
        assert scrape(pm, "PUT")[0] == 405
        assert scrape(pm, path="/")[0] == 404
        assert scrape(pm, path="/metricsx")[0] == 404
        status, head, body = scrape(pm, "HEAD")
        assert status == 200 and body == b"", (status, body)
        huge = b"X-Big: " + b"a" * 65536 + b"\r\n"
        try:
            status = scrape(pm, extra=huge)[0]
        except (ConnectionResetError, BrokenPipeError):
            status = 0  # closed on us: also a refusal
        assert status == 0 or 400 <= status < 500, status
        # A client that never reads, and one that never sends: others are served.
        idle = connect(("127.0.0.1", pm))
        lazy = connect(("127.0.0.1", pm))
        lazy.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert scrape(pm)[0] == 200
        idle.close()
        lazy.close()
        assert d.proc.poll() is None
        assert d.stop() == 0
    for bad in ("127.0.0.1", "localhost:80", "9100", "/tmp/x.sock", "127.0.0.1:0",
                "127.0.0.1:99999"):
        with Daemon({}, args=["--metrics", bad]) as d:
            d.start(wait_log=None)
            assert d.proc.wait(10) != 0, bad
            assert "--metrics" in d.log(), d.log()


def _prometheus(tmp, target_port, web_port):
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: nsinetd\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{target_port}']\n")
    log = open(os.path.join(tmp, "prometheus.log"), "wb")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={cfg}",
         f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
         f"--web.listen-address=127.0.0.1:{web_port}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=tmp)
    return proc, log


def _query(web_port, q):
    url = f"http://127.0.0.1:{web_port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=5) as r:
        doc = json.load(r)
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


def test_real_prometheus():
    """A real Prometheus server scrapes the daemon; after N connections to
    an Accept=no service whose container exits after each, its cold-start
    count is N."""
    if not shutil.which("prometheus"):
        raise SkipTest("no prometheus (scripts/install-deps.sh check: Debian's prometheus)")
    n = 3
    pa, pm, pw = free_port(), free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="nsitest-prom-")
    proc = log = None
    try:
        with Daemon({"c": probe_conf(f"127.0.0.1:{pa}", env=["PROBE_EXIT_AFTER=1"])},
                    args=["--metrics", f"127.0.0.1:{pm}"]) as d:
            d.start()
            proc, log = _prometheus(tmp, pm, pw)
            try:
                wait_for(lambda: proc.poll() is not None or _ready(pw), 30, "prometheus ready")
            except AssertionError:
                proc.poll()
            if proc.poll() is not None or not _ready(pw):
                with open(os.path.join(tmp, "prometheus.log"), errors="replace") as f:
                    tail = f.read()[-500:]
                raise SkipTest("prometheus cannot be started here: " + tail.replace("\n", " "))
            for i in range(n):
                assert b"listen_fds" in recv_all(connect(("127.0.0.1", pa)))
                d.wait_state("c", "stopped")
            q = 'nsinetd_cold_start_seconds_count{service="c"}'

            def counted():
                r = _query(pw, q)
                return r and float(r[0]["value"][1]) == n
            wait_for(counted, 30, f"prometheus to see {n} cold starts")
            r = _query(pw, 'up{job="nsinetd"}')
            assert r and r[0]["value"][1] == "1", r
            assert d.stop() == 0
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log:
            log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _ready(web_port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/-/ready", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    main([test_exposition_passes_promtool, test_scrape_wakes_nothing, test_bad_requests,
          test_real_prometheus])
