#!/usr/bin/python3
"""A reload that changes a security key restarts the container with the new
sandbox; an unchanged reload keeps it.

One daemon, one Accept=no probe service. For each key: rewrite the file
with a new value, SIGHUP, connect, and demand a new container (the probe's
answer counter starts again at 1 and a new container pid was started) that
sees the new value. A surviving old sandbox fails with its key named."""
import os
import re

from nsitest import (SANITIZED, Daemon, Failed, SkipTest, TAP, cgroup2_mount, free_port,
                     probe_conf, probe_stream, require_root, wait_for)

# /proc/self/limits rows, by Limit*= key, and a value before and after.
LIMITS = {
    "LimitCPU": ("Max cpu time", "1000", "2000"),
    "LimitFSIZE": ("Max file size", "1073741824", "2147483648"),
    "LimitDATA": ("Max data size", "8589934592", "17179869184"),
    "LimitSTACK": ("Max stack size", "8388608", "16777216"),
    "LimitCORE": ("Max core file size", "0", "1048576"),
    "LimitRSS": ("Max resident set", "1073741824", "2147483648"),
    "LimitNPROC": ("Max processes", "100", "200"),
    "LimitNOFILE": ("Max open files", "1024", "2048"),
    "LimitMEMLOCK": ("Max locked memory", "65536", "131072"),
    "LimitAS": ("Max address space", "68719476736", "137438953472"),
    "LimitLOCKS": ("Max file locks", "100", "200"),
    "LimitSIGPENDING": ("Max pending signals", "100", "200"),
    "LimitMSGQUEUE": ("Max msgqueue size", "8192", "16384"),
    "LimitNICE": ("Max nice priority", "0", "5"),
    "LimitRTPRIO": ("Max realtime priority", "0", "1"),
    # Written as a duration, shown in microseconds.
    "LimitRTTIME": ("Max realtime timeout", "1s", "2s"),
}
# What a sanitized probe cannot show: it maps terabytes of shadow memory
# (no AS or DATA limit), and ASan sets its own core limit at start.
SANITIZER_UNSAFE = {"LimitAS": "shadow memory", "LimitDATA": "shadow memory",
                    "LimitCORE": "ASan sets the probe's own core limit"}
CAP_CHOWN, CAP_KILL = 1 << 0, 1 << 5
EPERM = 1


def limits(report):
    """{row name: (soft, hard)} of the probe's /proc/self/limits."""
    text = report["files"]["/proc/self/limits"]["content"]
    rows = {}
    for line in text.splitlines()[1:]:
        name, rest = line[:26].strip(), line[26:].split()
        rows[name] = (rest[0], rest[1])
    return rows


def own_limits():
    with open("/proc/self/limits") as f:
        return limits({"files": {"/proc/self/limits": {"content": f.read()}}})


def _can_raise():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 24))  # CAP_SYS_RESOURCE
    return False


CAN_RAISE = _can_raise()


def usec(v):
    return str(int(v.rstrip("s")) * 1000000) if v.endswith("s") else v


class Reload:
    """The daemon, the service's current values, and what it served last."""

    def __init__(self):
        self.port = free_port()
        self.values = {"Capabilities": "CAP_CHOWN", "SystemCallFilter": "~sched_yield",
                       "PrivateUsers": "pick", "MemoryMax": "536870912"}
        for key, (_, old, _) in LIMITS.items():
            if not (SANITIZED and key in ("LimitAS", "LimitDATA")):
                self.values[key] = old
        self.d = Daemon()
        # The staging dir: reachable by a PrivateUsers= root.
        os.chmod(self.d.tmp, 0o755)
        self.write()
        self.d.start()
        self.reloads = 0
        self.last = self.ask()

    def write(self):
        extra = "\n".join(f"{k}={v}" for k, v in self.values.items())
        self.d.write("r", probe_conf(f"127.0.0.1:{self.port}", extra_container=extra,
                                     env=("PROBE_FILES=/proc/self/limits",
                                          "PROBE_SYSCALLS=sched_yield,getcpu")))

    def ask(self):
        r = probe_stream(("127.0.0.1", self.port))
        r["host_pid"] = self.d.container_pids()[-1]
        return r

    def reload(self, key=None, value=None):
        """Sets key (if any), SIGHUP, waits for the reload; returns the next
        report and whether it came from a new container."""
        if key:
            self.values[key] = value
        self.write()
        self.reloads += 1
        self.d.hup()
        self.d.wait_log(r"reloaded: ", count=self.reloads)
        # A changed service's old container is stopping (KillSignal=) and
        # may still accept until it is gone: the new configuration serves
        # once the service leaves "waiting" (nsinetd(8), SIGHUP).
        wait_for(lambda: self.d.state("r") != "waiting", 15,
                 "the old container of r to be gone after the reload")
        before = self.last
        self.last = self.ask()
        new = self.last["answer"] == 1
        if new != (self.last["host_pid"] != before["host_pid"]):
            raise Failed(f"the answer counter ({self.last['answer']}) and the container pid "
                         f"({before['host_pid']} -> {self.last['host_pid']}) disagree")
        return self.last, new

    def change(self, key, value, seen):
        """Changes key to value; the next connection must be served by a new
        container for which seen(report) is true."""
        old_value, old_pid = self.values[key], self.last["host_pid"]
        r, new = self.reload(key, value)
        if not new:
            raise Failed(f"{key}={old_value} -> {value}: the old container (pid {old_pid}) "
                         f"still serves (answer {r['answer']}): the old sandbox survived "
                         "the reload")
        if not seen(r):
            raise Failed(f"{key}={old_value} -> {value}: the new container (pid "
                         f"{r['host_pid']}) does not see the new value")

    def close(self):
        try:
            assert self.d.stop() == 0, self.d.log()[-2000:]
        finally:
            self.d.close()


def main():
    require_root()
    tap = TAP()
    state = {}

    def start():
        state["r"] = Reload()
        r = state["r"].last
        assert r["answer"] == 1 and int(r["caps"], 16) == CAP_CHOWN, r
        assert r["syscalls"] == {"sched_yield": EPERM, "getcpu": 0}, r["syscalls"]

    def unchanged_reload_keeps_container():
        rl = state["r"]
        pid = rl.last["host_pid"]
        r, new = rl.reload()
        if new:
            raise Failed(f"an unchanged reload replaced the container (pid {pid} -> "
                         f"{r['host_pid']})")
        assert r["answer"] == 2, r["answer"]

    def capabilities():
        state["r"].change("Capabilities", "CAP_CHOWN CAP_KILL",
                          lambda r: int(r["caps"], 16) == CAP_CHOWN | CAP_KILL)

    def system_call_filter():
        state["r"].change("SystemCallFilter", "~getcpu",
                          lambda r: r["syscalls"] == {"sched_yield": 0, "getcpu": EPERM})

    def private_users():
        rl = state["r"]
        first = rl.last["uid_map"].split()
        assert first[:2] != ["0", "0"], rl.last["uid_map"]
        rl.change("PrivateUsers", "no", lambda r: r["uid_map"].split()[:2] == ["0", "0"])

    def limit(key):
        row, _, new = LIMITS[key]

        def fn():
            rl = state["r"]
            if key not in rl.values:
                raise SkipTest(f"{key}= under the sanitizers: {SANITIZER_UNSAFE[key]}")
            if SANITIZED and key in SANITIZER_UNSAFE:
                rl.change(key, new, lambda r: True)
                raise SkipTest(f"restarted; the value is not shown under the sanitizers: "
                               f"{SANITIZER_UNSAFE[key]}")
            want = usec(new) if key == "LimitRTTIME" else new
            # The daemon cannot raise a limit above its own hard limit
            # without CAP_SYS_RESOURCE (hardening.c): it uses that one.
            hard = own_limits()[row][1]
            clamped = not CAN_RAISE and hard != "unlimited" and int(want) > int(hard)
            if clamped:
                want = hard
            before = rl.last["host_pid"]
            rl.change(key, new, lambda r: limits(r)[row] == (want, want))
            if clamped:
                raise SkipTest(f"restarted (pid {before} -> {rl.last['host_pid']}), but the "
                               f"value cannot change here: {key}={new} is above the hard "
                               f"limit {hard} and there is no CAP_SYS_RESOURCE")
        fn.__name__ = key
        return fn

    def memory_max():
        rl = state["r"]
        rl.change("MemoryMax", "268435456", lambda r: True)
        m = cgroup2_mount()
        path = None
        with open(f"/proc/{rl.last['host_pid']}/cgroup") as f:
            for line in f:
                if line.startswith("0::") and m:
                    path = os.path.join(m + line[3:].strip(), "memory.max")
        if not path or not os.path.exists(path):
            raise SkipTest("restarted; the value is not readable here: no memory controller "
                           f"in the container's cgroup v2 ({path or 'no cgroup v2'})")
        with open(path) as f:
            assert f.read().strip() == "268435456", path

    def unchanged_after_changes():
        unchanged_reload_keeps_container()

    tests = [start, unchanged_reload_keeps_container, capabilities, system_call_filter,
             private_users] + [limit(k) for k in LIMITS] + [memory_max,
                                                            unchanged_after_changes]
    try:
        for t in tests:
            if t is not start and "r" not in state:
                tap.run(lambda: (_ for _ in ()).throw(SkipTest("the daemon did not start")),
                        t.__name__)
                continue
            tap.run(t)
    finally:
        if "r" in state:
            tap.run(state["r"].close, "daemon_exits_cleanly")
    tap.done()


if __name__ == "__main__":
    main()
