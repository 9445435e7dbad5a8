#!/usr/bin/python3
"""The soak: CYCLES stop/start and CYCLES freeze/thaw cycles of lighttpd
(nsinetctl stop, then a request that starts it again; nsinetctl freeze, then
thaw), under a continuous bounded load (two clients, one request at a time
each, on lighttpd and on an Accept=yes service beside it), with a re-exec of
the daemon every REEXEC_EVERY cycles. It reports the failed requests (there
must be none), the daemon's RSS and fd count at the start and at the end, and
the p99 time to the first byte of the request after each transition.

    make soak                          # 1,000 cycles, a re-exec every 100
    tests/integration/soak.py [CYCLES [REEXEC_EVERY]]

test_soak.py runs it in make check with 50 cycles and 2 re-execs. Root."""
import os
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nsitest  # noqa: E402
from nsitest import Daemon, fd_count_settled, free_port, wait_for  # noqa: E402
from test_accept import shell_conf  # noqa: E402
from test_services import example_conf  # noqa: E402

LIGHTTPD = "/usr/sbin/lighttpd"
REQUEST_TIMEOUT = 30.0


def first_byte(port, payload, expect):
    """One request: the seconds to its first byte; raises on a failure."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT) as c:
        c.sendall(payload)
        data = c.recv(65536)
        t1 = time.monotonic()
        while True:
            more = c.recv(65536)
            if not more:
                break
            data += more
    if not data.startswith(expect):
        raise AssertionError(f"unexpected answer {data[:60]!r}")
    return t1 - t0


class Client(threading.Thread):
    """One request after the other until stopped; failures are kept."""

    def __init__(self, port, payload, expect):
        super().__init__(daemon=True)
        self.port, self.payload, self.expect = port, payload, expect
        self.done = 0
        self.failures = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                first_byte(self.port, self.payload, self.expect)
                self.done += 1
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failures.append(repr(e))


def daemon_usage(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def settled_usage(d):
    """RSS (KiB) and fds once no control client or sandbox is left over
    (nsitest.fd_count_settled()); no load."""
    fds = fd_count_settled(d.proc.pid)
    return daemon_usage(d.proc.pid)[0], fds


def leftovers(d, daemon_pid):
    """d.leftovers(), less the logged pids that another process has taken
    since (thousands of containers wrap pids around on a busy host): a
    container of this daemon is in its cgroup, nsinetd-PID."""
    def ours(item):
        if not item.startswith("process "):
            return True
        try:
            with open(f"/proc/{item.split()[1]}/cgroup") as f:
                return f"/nsinetd-{daemon_pid}" in f.read()
        except OSError:
            return False
    return [item for item in d.leftovers() if ours(item)]


def p99(values):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * 0.99))] * 1000 if v else float("nan")


def ctl(d, *args):
    r = d.ctl_run(*args, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"nsinetctl {' '.join(args)}: {r.stderr.strip()}\n"
                             + d.log()[-3000:])
    return r.stdout


def run(cycles, reexec_every, log=print):
    """Runs the soak; returns its report (a dict)."""
    if not os.path.exists(LIGHTTPD):
        raise nsitest.SkipTest(f"{LIGHTTPD} is not installed "
                               "(scripts/install-deps.sh installs it)")
    web, acc = free_port(), free_port()
    get = b"GET / HTTP/1.0\r\nHost: soak\r\n\r\n"
    services = {"web": example_conf("lighttpd", web),
                "acc": shell_conf(f"127.0.0.1:{acc}", "read l; echo got $l")}
    report = {}
    with Daemon(services) as d:
        d.start()
        first_byte(web, get, b"HTTP/1.0 200")
        first_byte(acc, b"x\n", b"got x")
        # Measured without the load: its sandboxes come and go with fds.
        rss0, fds0 = settled_usage(d)
        clients = [Client(web, get, b"HTTP/1.0 200"), Client(acc, b"x\n", b"got x")]
        for c in clients:
            c.start()
        wait_for(lambda: all(c.done >= 3 for c in clients), 30, "the load's first requests")
        start_fb, thaw_fb, reexecs = [], [], 0
        t_begin = time.monotonic()
        for i in range(1, cycles + 1):
            # stop, then a request: the start it triggers, to its first byte.
            ctl(d, "stop", "web")
            start_fb.append(first_byte(web, get, b"HTTP/1.0 200"))
            # The answer can come before the daemon has seen the start end
            # (pid 1 locks itself down after the payload's exec), and a
            # freeze is refused while the service is starting, as systemd
            # refuses one for a unit that is not active.
            d.wait_state("web", "running", 30)
            # freeze (clients wait in the backlog), thaw, then a request.
            ctl(d, "freeze", "web")
            ctl(d, "thaw", "web")
            thaw_fb.append(first_byte(web, get, b"HTTP/1.0 200"))
            if i % reexec_every == 0:
                out = ctl(d, "daemon-reexec")
                reexecs += 1
                assert out.startswith(f"re-executed: pid {d.proc.pid}, re-exec #{reexecs}"), out
            if i % max(1, cycles // 10) == 0:
                log(f"# soak: {i}/{cycles} cycles, {reexecs} re-execs, "
                    f"{sum(c.done for c in clients)} requests, "
                    f"{sum(len(c.failures) for c in clients)} failed")
        elapsed = time.monotonic() - t_begin
        for c in clients:
            c.halt.set()
        for c in clients:
            c.join(REQUEST_TIMEOUT * 2)
            assert not c.is_alive(), "a client did not stop"
        rss1, fds1 = settled_usage(d)
        st = d.ctl("status", "web")
        report = {
            "cycles": cycles,
            "reexecs": reexecs,
            "seconds": round(elapsed, 1),
            "requests": sum(c.done for c in clients) + len(start_fb) + len(thaw_fb),
            "failed": sum(len(c.failures) for c in clients),
            "failures": [f for c in clients for f in c.failures][:5],
            "rss_kib": (rss0, rss1),
            "fds": (fds0, fds1),
            "p99_start_ms": round(p99(start_fb), 2),
            "p99_thaw_ms": round(p99(thaw_fb), 2),
            "median_start_ms": round(statistics.median(start_fb) * 1000, 2),
            "median_thaw_ms": round(statistics.median(thaw_fb) * 1000, 2),
            "cold_starts": st["ColdStarts"],
            "accepted": d.ctl("status", "acc")["Accepted"],
            "exit": d.stop(),
            "leftovers": leftovers(d, d.proc.pid),
        }
    return report


def main():
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    every = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    if os.geteuid() != 0:
        sys.exit("soak: needs root (namespaces, cgroups), as the integration tests")
    try:
        r = run(cycles, every)
    except nsitest.SkipTest as e:
        sys.exit(f"soak: {e}")
    print(f"soak: {r['cycles']} stop/start and {r['cycles']} freeze/thaw cycles of lighttpd, "
          f"{r['reexecs']} re-execs, {r['seconds']} s")
    print(f"  requests {r['requests']}, failed {r['failed']} {r['failures']}")
    print(f"  daemon RSS {r['rss_kib'][0]} KiB -> {r['rss_kib'][1]} KiB, "
          f"fds {r['fds'][0]} -> {r['fds'][1]}")
    print(f"  first byte after a start: median {r['median_start_ms']} ms, "
          f"p99 {r['p99_start_ms']} ms")
    print(f"  first byte after a thaw:  median {r['median_thaw_ms']} ms, "
          f"p99 {r['p99_thaw_ms']} ms")
    print(f"  lighttpd cold starts {r['cold_starts']}, Accept=yes connections "
          f"{r['accepted']}; daemon exit {r['exit']}, left behind {r['leftovers']}")
    ok = r["failed"] == 0 and r["fds"][0] == r["fds"][1] and r["exit"] == 0 \
        and not r["leftovers"]
    print("soak: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
