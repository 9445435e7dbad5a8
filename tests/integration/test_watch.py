#!/usr/bin/python3
"""nsinetd --watch (supervisor/watch.c): a change of the configuration
directory reloads it, through the reload of SIGHUP and nsinetctl reload,
without a signal: a new file is served; a broken one is reported and
changes nothing else; a burst of writes is one reload; an editor's rename
into place, a Kubernetes ConfigMap's ..data swap and a directory replaced
as a whole are all seen. Reloads are counted by the daemon's metrics
(nsinetd_reloads_total); no test sends SIGHUP or calls nsinetctl reload."""
import os
import re
import shutil
import time

from nsitest import (Daemon, connect, free_port, main, probe_conf, probe_stream, recv_all,
                     wait_for)


def reloads(port):
    """(success, failure) of nsinetd_reloads_total."""
    with connect(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        body = recv_all(s).decode()
    got = dict(re.findall(r'^nsinetd_reloads_total\{result="(\w+)"\} (\d+)$', body, re.M))
    return int(got["success"]), int(got["failure"])


def names(d):
    return sorted(r["Name"] for r in d.ctl("list"))


def write_atomic(path, text):
    """As an editor saves: a temporary file renamed into place."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".swp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class Watched:
    def __init__(self, services):
        self.metrics = free_port()
        self.d = Daemon(services, args=["--watch", "--metrics", f"127.0.0.1:{self.metrics}"])

    def __enter__(self):
        self.d.__enter__()
        self.d.start()
        self.d.wait_log(r"watching .*: a change reloads")
        return self

    def __exit__(self, *exc):
        self.d.__exit__(*exc)

    def reloads(self):
        return reloads(self.metrics)

    def wait_reloads(self, want, what):
        wait_for(lambda: self.reloads() == want, 10,
                 f"reloads (success, failure) == {want} after {what} (now {self.reloads()})")


def test_new_file_served_without_signal():
    a, b = free_port(), free_port()
    with Watched({"a": probe_conf(f"127.0.0.1:{a}")}) as w:
        d = w.d
        assert w.reloads() == (0, 0)
        # An editor's save: written aside, renamed into place.
        write_atomic(os.path.join(d.config_dir, "b.conf"), probe_conf(f"127.0.0.1:{b}"))
        w.wait_reloads((1, 0), "b.conf renamed into place")
        assert names(d) == ["a", "b"]
        assert probe_stream(("127.0.0.1", b))["answer"] == 1
        # Written in place (open, write, close): a change of a.
        d.write("a", probe_conf(f"127.0.0.1:{a}", env=("PROBE_ENV=CHANGED", "CHANGED=1")))
        w.wait_reloads((2, 0), "a.conf written in place")
        d.wait_log(r"a: configuration changed, restarting")
        assert probe_stream(("127.0.0.1", a))["env"]["CHANGED"] == "1"
        # Removed: stopped and gone.
        d.remove("b")
        w.wait_reloads((3, 0), "b.conf removed")
        assert names(d) == ["a"]
        assert d.stop() == 0
        assert d.leftovers() == []


def test_broken_file_reported_old_keeps_serving():
    a = free_port()
    with Watched({"a": probe_conf(f"127.0.0.1:{a}")}) as w:
        d = w.d
        assert probe_stream(("127.0.0.1", a))["answer"] == 1
        good = probe_conf(f"127.0.0.1:{a}")
        broken = good.replace("[Service]", "[Service]\nIdleStopSec=ten minutes")
        d.write("a", broken)
        w.wait_reloads((0, 1), "a broken a.conf")
        # Reported as on SIGHUP: FILE:LINE and the key, in the log.
        line = broken.split("\n").index("IdleStopSec=ten minutes") + 1
        d.wait_log(re.escape(f"a.conf:{line}: IdleStopSec=: invalid duration 'ten minutes'"))
        d.wait_log(r"a: configuration has errors, keeping the running version")
        # Nothing else changed: the same container serves.
        r = probe_stream(("127.0.0.1", a))
        assert r["answer"] == 2, r
        assert d.state("a") == "running"
        # Fixed: a reload without errors, the running version kept as is.
        d.write("a", good)
        w.wait_reloads((1, 1), "a.conf fixed")
        assert probe_stream(("127.0.0.1", a))["answer"] == 3
        assert d.stop() == 0


def test_burst_is_one_reload():
    ports = [free_port() for _ in range(20)]
    with Watched({}) as w:
        d = w.d
        # 20 files, and rewrites of each, written as fast as we can.
        for rnd in range(3):
            for i, p in enumerate(ports):
                d.write(f"s{i:02d}", probe_conf(f"127.0.0.1:{p}", env=("PROBE_ENV=R", f"R={rnd}")))
        w.wait_reloads((1, 0), "a burst of 60 writes")
        assert names(d) == [f"s{i:02d}" for i in range(20)]
        # And no second reload trails it (the settling time is 300 ms).
        time.sleep(1.5)
        assert w.reloads() == (1, 0), w.reloads()
        assert probe_stream(("127.0.0.1", ports[7]))["env"]["R"] == "2"
        assert d.stop() == 0


def test_configmap_data_swap():
    """A Kubernetes ConfigMap volume: NAME.conf -> ..data/NAME.conf, ..data
    -> ..TIMESTAMP; an update writes a new ..TIMESTAMP2, points ..data_tmp
    at it, renames ..data_tmp over ..data and removes the old directory."""
    a, b = free_port(), free_port()
    with Watched({}) as w:
        d = w.d
        cm = d.config_dir

        def version(tag, files):
            vdir = os.path.join(cm, f"..2026_{tag}")
            os.mkdir(vdir)
            for name, text in files.items():
                with open(os.path.join(vdir, name + ".conf"), "w") as f:
                    f.write(text)
            os.symlink(os.path.basename(vdir), os.path.join(cm, "..data_tmp"))
            os.rename(os.path.join(cm, "..data_tmp"), os.path.join(cm, "..data"))
            for name in files:
                link = os.path.join(cm, name + ".conf")
                if not os.path.islink(link):
                    os.symlink(os.path.join("..data", name + ".conf"), link)
            return vdir

        v1 = version("v1", {"a": probe_conf(f"127.0.0.1:{a}")})
        w.wait_reloads((1, 0), "the ConfigMap's first version")
        assert names(d) == ["a"]
        assert probe_stream(("127.0.0.1", a))["answer"] == 1
        v2 = version("v2", {"a": probe_conf(f"127.0.0.1:{b}")})
        shutil.rmtree(v1)
        w.wait_reloads((2, 0), "the ..data swap")
        assert probe_stream(("127.0.0.1", b))["answer"] == 1
        assert os.path.isdir(v2)
        assert d.stop() == 0


def test_directory_replaced():
    """The configuration directory itself renamed away and a new one put in
    its place: the new one is read and watched from then on."""
    a, b = free_port(), free_port()
    with Watched({"a": probe_conf(f"127.0.0.1:{a}")}) as w:
        d = w.d
        new = d.config_dir + ".new"
        os.mkdir(new)
        with open(os.path.join(new, "b.conf"), "w") as f:
            f.write(probe_conf(f"127.0.0.1:{b}"))
        os.rename(d.config_dir, d.config_dir + ".old")
        os.rename(new, d.config_dir)
        wait_for(lambda: names(d) == ["b"], 10, f"only b after the swap (now {names(d)})")
        assert probe_stream(("127.0.0.1", b))["answer"] == 1
        before = w.reloads()
        d.write("a", probe_conf(f"127.0.0.1:{a}"))
        w.wait_reloads((before[0] + 1, before[1]), "a.conf in the new directory")
        assert names(d) == ["a", "b"]
        # Gone for a while: the running services stay; back: read again.
        os.rename(d.config_dir, d.config_dir + ".gone")
        d.wait_log(r"cannot read .*keeping the running configuration|cannot watch")
        assert names(d) == ["a", "b"]
        os.rename(d.config_dir + ".gone", d.config_dir)
        d.remove("b")
        wait_for(lambda: names(d) == ["a"], 10, f"b removed once back (now {names(d)})")
        assert d.stop() == 0
        shutil.rmtree(d.config_dir + ".old", ignore_errors=True)


if __name__ == "__main__":
    main([test_new_file_served_without_signal, test_broken_file_reported_old_keeps_serving,
          test_burst_is_one_reload, test_configmap_data_swap, test_directory_replaced])
