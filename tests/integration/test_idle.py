#!/usr/bin/python3
"""Scale to zero: freeze and stop idle containers from kernel state, wake
them on the next connection, and lose no connection across the changes."""
import json
import os
import random
import re
import socket
import threading
import time

from nsitest import (Daemon, SkipTest, cgroup2_mount, connect, free_port, main, probe_conf,
                     recv_all, wait_for)

# The issue asks for 20 of each. The sanitizer pass of `make check`
# (scripts/check.sh) sets NSINETD_TEST_CYCLES=5: the same paths, quicker.
CYCLES = int(os.environ.get("NSINETD_TEST_CYCLES", "20"))


def ask(port):
    """One client: connect, ask, expect a full probe report. Returns None on
    success, else what went wrong."""
    try:
        with connect(("127.0.0.1", port), timeout=20) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = recv_all(s)
    except OSError as e:  # refused, reset, timed out
        return f"{type(e).__name__}: {e}"
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200"):
        return f"unanswered ({len(data)} bytes)"
    try:
        json.loads(body)
    except ValueError:
        return "truncated answer"
    return None


def burst(port, n, failures):
    threads = [threading.Thread(target=lambda: failures.append(ask(port))) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)


def count(d, pattern):
    return len(re.findall(pattern, d.log()))


def cycles(d, port, pattern_down, pattern_up, rng):
    """Bursts of clients separated by idle gaps around the 1 s idle time, so
    that some land on the freeze or stop itself, until CYCLES transitions
    each way (bounded)."""
    failures = []
    for i in range(5 * CYCLES):
        if count(d, pattern_down) >= CYCLES and count(d, pattern_up) >= CYCLES:
            break
        # Mostly past the idle time (a transition happens), sometimes
        # right on it (the race), sometimes before (none). The idle tick is
        # 250 ms, so a gap under 1.25 s may see none: after 3 * CYCLES
        # rounds, only gaps long enough for one, so that the count is
        # reached whatever the machine's speed (a sanitized daemon is slow).
        if i < 3 * CYCLES:
            time.sleep(rng.choice([rng.uniform(1.05, 1.6), rng.uniform(0.9, 1.3)]))
        else:
            time.sleep(1.8)
        burst(port, 3, failures)
    return [f for f in failures if f is not None], len(failures)


def need_cgroup2():
    if not cgroup2_mount():
        raise SkipTest("no cgroup v2 mounted: freezing needs cgroup.freeze")


def test_freeze_thaw_cycles_lose_nothing():
    need_cgroup2()
    port = free_port()
    conf = probe_conf(f"127.0.0.1:{port}", extra_service="IdleFreezeSec=1s")
    with Daemon({"fz": conf}) as d:
        d.start()
        failed, total = cycles(d, port, r"fz: idle for [^,]*, frozen in", r"fz: a connection, thawed",
                               random.Random(1))
        assert failed == [], f"{len(failed)} of {total} connections failed: {failed[:5]}"
        assert count(d, r"frozen in") >= CYCLES, d.log()
        assert count(d, r"thawed in") >= CYCLES, d.log()
        # One container served everything: frozen, never stopped.
        assert len(d.container_pids()) == 1, d.log()
        print(f"# {total} connections, {count(d, 'frozen in')} freezes, "
              f"{count(d, 'thawed in')} thaws, 0 failed")
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_stop_start_cycles_lose_nothing():
    port = free_port()
    conf = probe_conf(f"127.0.0.1:{port}", extra_service="IdleStopSec=1s")
    with Daemon({"st": conf}) as d:
        d.start()
        failed, total = cycles(d, port, r"st: stopped in", r"st: started container pid",
                               random.Random(2))
        assert failed == [], f"{len(failed)} of {total} connections failed: {failed[:5]}"
        assert count(d, r"st: stopping container pid \d+ \(idle for") >= CYCLES, d.log()
        # Every stop was graceful: the probe finished and exited 0.
        assert "killed by" not in d.log() and "did not stop" not in d.log(), d.log()
        print(f"# {total} connections, {count(d, 'stopped in')} stops, "
              f"{len(d.container_pids())} starts, 0 failed")
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_freeze_then_stop():
    need_cgroup2()
    port = free_port()
    conf = probe_conf(f"127.0.0.1:{port}", extra_service="IdleFreezeSec=1s\nIdleStopSec=2s")
    with Daemon({"fs": conf}) as d:
        d.start()
        assert ask(port) is None
        d.wait_log(r"fs: idle for [^,]*, frozen in", timeout=5)
        base = d.cgroup_base()
        with open(os.path.join(base, "fs", "cgroup.events")) as f:
            assert "frozen 1" in f.read()
        # Frozen, then stopped (thawed first so that it can exit cleanly).
        d.wait_log(r"fs: stopping container pid \d+ \(idle for 2s", timeout=5)
        d.wait_log(r"fs: container pid \d+ exited with status 0")
        wait_for(lambda: not os.path.exists(os.path.join(base, "fs")), 5, "cgroup removed")
        # The next connection starts it cold.
        assert ask(port) is None
        # The daemon logs the start when it reads the exec's EOF, which can
        # come after the payload has already answered.
        wait_for(lambda: len(d.container_pids()) == 2, 5, "the second start's log line")
        assert d.stop() == 0


def test_open_connection_keeps_awake_unless_traffic_mode():
    """IdleConnections=count: an open connection keeps the container; with
    traffic, a silent one does not."""
    pc, pt = free_port(), free_port()
    slow = ["PROBE_SLEEP_MS=3000"]
    with Daemon({"cnt": probe_conf(f"127.0.0.1:{pc}", env=slow,
                                   extra_service="IdleStopSec=1s"),
                 "trf": probe_conf(f"127.0.0.1:{pt}", env=slow,
                                   extra_service="IdleStopSec=1s\nIdleConnections=traffic")
                 }) as d:
        d.start()
        results = {}
        t0 = time.monotonic()

        def client(name, port):
            results[name] = ask(port)
        threads = [threading.Thread(target=client, args=a) for a in (("cnt", pc), ("trf", pt))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        # count: the 3 s answer came, then (idle) the stop.
        assert results["cnt"] is None, results
        d.wait_log(r"cnt: stopping container pid \d+ \(idle", timeout=5)
        # traffic: silent for over 1 s: stopped while the client waited.
        m = re.search(r"trf: stopping container pid \d+ \(idle", d.log())
        assert m, d.log()
        assert time.monotonic() - t0 < 10
        assert d.stop() == 0


def test_cpu_use_keeps_awake():
    """A container that works in the background after answering stays up
    while it uses at least IdleCPUPercent= of a CPU."""
    pbusy, pcalm = free_port(), free_port()
    spin = ('Exec=/usr/bin/python3 -c "import socket,time; s=socket.socket(fileno=3); '
            'c,_=s.accept(); c.close(); t=time.time(); '
            "exec('while time.time()-t<2.5: pass'); time.sleep(600)\"")

    def conf(port, extra):
        return (f"[Socket]\nListenStream=127.0.0.1:{port}\n[Container]\n{spin}\n"
                f"[Service]\nIdleStopSec=1s\n{extra}\nStopTimeoutSec=5s\n")
    if not cgroup2_mount():
        raise SkipTest("no cgroup v2: the CPU rule reads the container's cpu.stat")
    with Daemon({"busy": conf(pbusy, ""), "calm": conf(pcalm, "IdleCPUPercent=1000")}) as d:
        d.start()
        for p in (pbusy, pcalm):
            with connect(("127.0.0.1", p)) as s:
                recv_all(s)
        t0 = time.monotonic()
        d.wait_log(r"calm: stopping container pid \d+ \(idle", timeout=10)
        t_calm = time.monotonic() - t0
        d.wait_log(r"busy: stopping container pid \d+ \(idle", timeout=15)
        t_busy = time.monotonic() - t0
        # busy spun 2.5 s at ~100% of a CPU (> 1%): idle only after that.
        # calm allows 1000%: the spin does not count.
        assert t_calm < 2.3, (t_calm, d.log())
        assert t_busy >= 2.5, (t_busy, d.log())
        assert d.stop() == 0


def ctxt_switches(pid):
    with open(f"/proc/{pid}/status") as f:
        v = dict(l.split(":", 1) for l in f if "ctxt_switches" in l)
    return int(v["voluntary_ctxt_switches"]) + int(v["nonvoluntary_ctxt_switches"])


def test_no_wakeups_when_stopped_or_frozen():
    """A daemon whose services are all stopped or frozen makes no periodic
    wake-up: its context-switch count stays still."""
    ports = [free_port() for _ in range(5)]
    services = {f"s{i}": probe_conf(f"127.0.0.1:{p}", extra_service="IdleStopSec=1s")
                for i, p in enumerate(ports)}
    fz = free_port()
    if cgroup2_mount():
        services["fz"] = probe_conf(f"127.0.0.1:{fz}", extra_service="IdleFreezeSec=1s")
    with Daemon(services) as d:
        d.start()
        if "fz" in services:
            assert ask(fz) is None
            d.wait_log(r"fz: idle for [^,]*, frozen in", timeout=5)
        time.sleep(0.3)
        before = ctxt_switches(d.proc.pid)
        time.sleep(2.0)
        after = ctxt_switches(d.proc.pid)
        assert after == before, f"{after - before} wake-ups in 2 s"
        assert d.stop() == 0


if __name__ == "__main__":
    main([test_freeze_thaw_cycles_lose_nothing, test_stop_start_cycles_lose_nothing,
          test_freeze_then_stop, test_open_connection_keeps_awake_unless_traffic_mode,
          test_cpu_use_keeps_awake, test_no_wakeups_when_stopped_or_frozen])
