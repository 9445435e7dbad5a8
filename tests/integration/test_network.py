#!/usr/bin/python3
"""Network=: veth pairs, named and shared namespaces, clean teardown.

Every daemon here runs inside a network namespace the test made
(`ip netns add nsitest-…`, then `ip netns exec`), so both ends of every
veth, every address and every route live in the test's own namespaces: the
machine's interfaces are never touched. The host-side server runs in that
namespace too. Clients reach the services over unix sockets in the file
system, which no network namespace hides. Everything is deleted at the end.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

from nsitest import (SRC, PROBE, Daemon, init_pids, main, probe_conf, readline, recv_all,
                     spare_pids, start_fails, tree_binds, wait_for)

NETCHECK = os.path.join(SRC, "tests", "integration", "netcheck.py")
SERVER_PORT = 7777
SERVER = r"""
import socket, sys, threading
def serve(family, addr):
    s = socket.socket(family)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, %d)); s.listen(64)
    while True:
        c, peer = s.accept()
        c.sendall(("hello " + peer[0] + "\n").encode()); c.close()
threading.Thread(target=serve, args=(socket.AF_INET6, "::"), daemon=True).start()
print("ready", flush=True)
serve(socket.AF_INET, "0.0.0.0")
""" % SERVER_PORT


def ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


class Netns:
    """A named network namespace of the test's own, deleted on exit."""
    count = 0

    def __init__(self, tag="net"):
        Netns.count += 1
        self.name = f"nsitest-{os.getpid()}-{tag}{Netns.count}"
        ip("netns", "add", self.name)
        ip("-n", self.name, "link", "set", "lo", "up")
        self.server = None

    def exec_prefix(self):
        return ("ip", "netns", "exec", self.name)

    def links(self):
        return {l["ifname"]: l for l in json.loads(ip("-n", self.name, "-j", "-d", "link"))}

    def routes(self):
        out = ip("-n", self.name, "-4", "route") + ip("-n", self.name, "-6", "route")
        return [l for l in out.splitlines() if l.strip()]

    def start_server(self):
        self.server = subprocess.Popen(
            [*self.exec_prefix(), sys.executable, "-c", SERVER],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = readline(self.server.stdout, 10, "the test server in the namespace to say ready")
        assert line.strip() == "ready", line

    def close(self):
        if self.server and self.server.poll() is None:
            self.server.kill()
            self.server.wait(10)
        ip("netns", "delete", self.name, check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def netcheck_conf(sock, network, extra="", env=()):
    lines = ["[Socket]", f"ListenStream={sock}", "[Container]",
             f"Exec=/usr/bin/python3 {NETCHECK}", f"Network={network}", tree_binds()]
    lines += [f"Environment={e}" for e in env]
    lines += [extra, "[Service]", "StopTimeoutSec=5s"]
    return "\n".join(l for l in lines if l) + "\n"


def ask(sock, targets=(), timeout=20):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    with s:
        s.connect(sock)
        s.sendall((" ".join(targets) + "\n").encode())
        return json.loads(recv_all(s).decode())


def sock_path(d, name):
    return os.path.join(d.tmp, name + ".sock")


def cleanup_cgroup(base):
    """After a SIGKILLed daemon: its (empty) cgroups, deepest first."""
    if not base or not os.path.isdir(base):
        return
    for _ in range(200):
        for root, dirs, _files in os.walk(base, topdown=False):
            try:
                os.rmdir(root)
            except OSError:
                pass
        if not os.path.exists(base):
            return
        time.sleep(0.01)


V4_HOST, V4_CT = "10.89.0.1", "10.89.0.2"
V6_HOST, V6_CT = "fd00:6e73:696e::1", "fd00:6e73:696e::2"


def test_veth_reaches_host_ipv4_ipv6():
    with Netns() as ns, Daemon(prefix=ns.exec_prefix()) as d:
        ns.start_server()
        sock = sock_path(d, "web")
        d.write("web", netcheck_conf(sock, "veth"))
        d.start()
        r = ask(sock, [f"{V4_HOST}:{SERVER_PORT}", f"[{V6_HOST}]:{SERVER_PORT}"])
        assert r["targets"][f"{V4_HOST}:{SERVER_PORT}"] == f"ok:hello {V4_CT}", r
        assert r["targets"][f"[{V6_HOST}]:{SERVER_PORT}"] == f"ok:hello {V6_CT}", r
        assert r["interfaces"] == ["host0", "lo"], r
        links = ns.links()
        assert "ve-web" in links, links.keys()
        assert links["ve-web"].get("ifalias") == "nsinetd:" + d.runtime_dir, links["ve-web"]
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()
        assert set(ns.links()) == {"lo"}, ns.links().keys()
        assert ns.routes() == [], ns.routes()


def test_two_veth_containers_get_different_addresses():
    with Netns() as ns, Daemon(prefix=ns.exec_prefix()) as d:
        ns.start_server()
        socks = {n: sock_path(d, n) for n in ("alpha", "beta")}
        for n, s in socks.items():
            d.write(n, netcheck_conf(s, "veth", extra="AddressPool=10.77.0.0/29\n"
                                                      "AddressPool=fd77::/63"))
        d.start()
        seen = {}
        for n, s in socks.items():
            # The server sees the container's own address.
            r = ask(s, [f"10.77.0.1:{SERVER_PORT}"])
            seen[n] = r["targets"][f"10.77.0.1:{SERVER_PORT}"]
        assert sorted(seen.values()) == ["ok:hello 10.77.0.2", "ok:hello 10.77.0.6"], seen
        # Both running: the pool (two /30s) is full, a third one fails clearly.
        third = sock_path(d, "gamma")
        d.write("gamma", netcheck_conf(third, "veth", extra="AddressPool=10.77.0.0/29\n"
                                                            "AddressPool=fd77::/63"))
        rep = d.ctl("reload")
        assert (rep["Added"], rep["Unchanged"], rep["Errors"]) == (["gamma"], 2, []), rep
        start_fails(d, "gamma", third, socket.AF_UNIX)
        # A log check: which pool is full is said only in the log.
        d.wait_log(r"gamma: AddressPool=10.77.0.0/29 and fd77::/63: no free /30 and /64 left")
        assert d.proc.poll() is None, "the daemon survives"
        assert d.stop() == 0
        assert set(ns.links()) == {"lo"}, ns.links().keys()


def test_bridge_and_fixed_addresses():
    with Netns() as ns, Daemon(prefix=ns.exec_prefix()) as d:
        ip("-n", ns.name, "link", "add", "br0", "type", "bridge")
        ip("-n", ns.name, "addr", "add", "10.55.0.1/24", "dev", "br0")
        ip("-n", ns.name, "link", "set", "br0", "up")
        ns.start_server()
        d.write("br", netcheck_conf(sock_path(d, "br"), "veth",
                                    extra="Bridge=br0\nAddress=10.55.0.20/24\n"
                                          "HostAddress=10.55.0.1/24"))
        # Fixed addresses, and a name beyond 12 characters.
        d.write("fixed-long-name", netcheck_conf(
            sock_path(d, "fixed"), "veth",
            extra="Address=172.31.9.2/29\nHostAddress=172.31.9.1/29"))
        d.start()
        r = ask(sock_path(d, "br"), [f"10.55.0.1:{SERVER_PORT}"])
        assert r["targets"][f"10.55.0.1:{SERVER_PORT}"] == "ok:hello 10.55.0.20", r
        links = ns.links()
        assert links["ve-br"].get("master") == "br0", links["ve-br"]
        assert not any(a.get("local") for a in json.loads(
            ip("-n", ns.name, "-j", "addr", "show", "dev", "ve-br"))[0]["addr_info"]
            if a.get("family") == "inet"), "the bridged side has no IPv4 address"
        r = ask(sock_path(d, "fixed"), [f"172.31.9.1:{SERVER_PORT}"])
        assert r["targets"][f"172.31.9.1:{SERVER_PORT}"] == "ok:hello 172.31.9.2", r
        long_names = [n for n in ns.links() if n.startswith("ve-fix~")]
        assert len(long_names) == 1 and len(long_names[0]) == 15, ns.links().keys()
        assert d.stop() == 0
        assert set(ns.links()) == {"lo", "br0"}, ns.links().keys()


def test_foreign_interface_is_a_clear_error_and_kept():
    with Netns() as ns, Daemon(prefix=ns.exec_prefix()) as d:
        # Someone else's ve-web (systemd-nspawn names its pairs alike).
        ip("-n", ns.name, "link", "add", "ve-web", "type", "veth", "peer", "name", "x0")
        d.write("web", netcheck_conf(sock_path(d, "web"), "veth"))
        d.start()
        start_fails(d, "web", sock_path(d, "web"), socket.AF_UNIX)
        # A log check: the interface in the way is named only in the log.
        d.wait_log(r"web: cannot create ve-web \(an interface of that name exists\): "
                   r"File exists")
        assert d.proc.poll() is None
        assert d.stop() == 0
        assert {"ve-web", "x0"} <= set(ns.links()), "not ours: left alone"
        assert d.leftovers() == [], d.leftovers()


def test_none_reaches_nothing():
    with Netns() as ns, Daemon(prefix=ns.exec_prefix()) as d:
        ns.start_server()
        # A veth service makes the host side's addresses exist in ns.
        d.write("open", netcheck_conf(sock_path(d, "open"), "veth"))
        d.write("closed", netcheck_conf(sock_path(d, "closed"), "none"))
        d.start()
        assert ask(sock_path(d, "open"), [f"{V4_HOST}:{SERVER_PORT}"])["targets"][
            f"{V4_HOST}:{SERVER_PORT}"].startswith("ok:")
        r = ask(sock_path(d, "closed"), [f"{V4_HOST}:{SERVER_PORT}",
                                         f"[{V6_HOST}]:{SERVER_PORT}",
                                         f"127.0.0.1:{SERVER_PORT}"])
        for t, v in r["targets"].items():
            assert v.startswith("error:"), (t, v)
        assert r["interfaces"] == ["lo"], r
        assert d.stop() == 0


def test_netns_name_joins_and_missing_is_an_error():
    with Netns() as ns, Netns("join") as target, Daemon(prefix=ns.exec_prefix()) as d:
        ip("-n", target.name, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        d.write("join", netcheck_conf(sock_path(d, "join"), f"netns:{target.name}"))
        d.write("missing", netcheck_conf(sock_path(d, "missing"), "netns:nsitest-no-such-ns"))
        d.start()
        r = ask(sock_path(d, "join"))
        assert r["interfaces"] == ["d0", "d1", "lo"], r
        want = os.readlink(f"/run/netns/{target.name}") if os.path.islink(
            f"/run/netns/{target.name}") else "net:[%d]" % os.stat(
                f"/run/netns/{target.name}").st_ino
        assert r["netns"] == want, (r["netns"], want)
        start_fails(d, "missing", sock_path(d, "missing"), socket.AF_UNIX)
        # A log check: the namespace's path and the error are only the log's.
        d.wait_log(r"missing: Network=netns:nsitest-no-such-ns: cannot open "
                   r"/run/netns/nsitest-no-such-ns: No such file or directory")
        assert d.proc.poll() is None, "a missing namespace does not crash the daemon"
        assert d.stop() == 0
        assert set(target.links()) == {"lo", "d0", "d1"}, "the joined namespace is left as it was"


def daemon_netns_fds(d):
    out = set()
    for fd in os.listdir(f"/proc/{d.proc.pid}/fd"):
        try:
            t = os.readlink(f"/proc/{d.proc.pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("net:["):
            out.add(t)
    return out


def test_shared_empty_is_one_namespace_per_service():
    with Netns() as ns, Daemon(prefix=ns.exec_prefix()) as d:
        sock = sock_path(d, "sbx")
        d.write("sbx", netcheck_conf(sock, "shared-empty", env=["NETCHECK_EXIT_AFTER=1"]))
        with d.start().events("sbx") as ev:
            first = ask(sock)
            # NETCHECK_EXIT_AFTER=1: the first container has ended, by itself.
            assert ev.wait("stopped")["Reason"] == "exit status 0", ev.seen
            second = ask(sock)
            # Two containers, one after the other, both ended cleanly.
            assert ev.wait("stopped")["Reason"] == "exit status 0", ev.seen
        assert first["netns"] == second["netns"], (first, second)
        assert first["interfaces"] == ["lo"], first
        own = "net:[%d]" % os.stat(f"/run/netns/{ns.name}").st_ino
        assert first["netns"] != own, "not the daemon's namespace"
        assert first["netns"] in daemon_netns_fds(d), "kept by the daemon"
        st = d.ctl("status", "sbx")
        assert (st["ColdStarts"], st["StartFailures"], st["LastExitStatus"]) == (2, 0, 0), st
        # Removing the service removes its namespace.
        d.remove("sbx")
        rep = d.ctl("reload")
        assert (rep["Removed"], rep["Errors"]) == (["sbx"], []), rep
        wait_for(lambda: first["netns"] not in daemon_netns_fds(d), 10, "namespace released")
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_none_is_a_fresh_namespace_each_time():
    """Network=none: each container gets a namespace of its own, with lo
    up, never the daemon's. From the second start on it is one
    of the spares the daemon made ahead (network.c): it was among the
    daemon's fds before the start and is not after it (given away, not
    shared); the daemon makes another. --spares=0: a spare container has
    one of its own (the next test)."""
    with Netns() as ns, Daemon(prefix=ns.exec_prefix(), args=["--spares=0"]) as d:
        sock = sock_path(d, "none")
        d.write("none", netcheck_conf(sock, "none", env=["NETCHECK_EXIT_AFTER=1"]))
        own = "net:[%d]" % os.stat(f"/run/netns/{ns.name}").st_ino
        seen = []
        with d.start().events("none") as ev:
            for i in range(5):
                spares = set()
                if i > 0:
                    wait_for(lambda: len(daemon_netns_fds(d)) == 4, 10,
                             "the daemon to hold 4 spare namespaces")
                    spares = daemon_netns_fds(d)
                r = ask(sock, [f"127.0.0.1:{SERVER_PORT}"])
                assert ev.wait("stopped")["Reason"] == "exit status 0", ev.seen
                assert r["interfaces"] == ["lo"], r
                # lo is up: nothing listens, but the loopback answers.
                assert r["targets"][f"127.0.0.1:{SERVER_PORT}"] == "error:Connection refused", r
                if i > 0:
                    assert r["netns"] in spares, (r["netns"], spares)
                    assert r["netns"] not in daemon_netns_fds(d), "given away, not kept"
                seen.append(r["netns"])
        # (Not distinct over time: a freed namespace's inode number is
        # given to a later one.)
        assert own not in seen, (seen, own)
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_spare_has_its_own_namespace():
    """A start in a spare container (the default) uses the network namespace
    the spare made while it waited, with lo up and /sys of it, none of the
    daemon's: the namespace of a waiting spare's pid 1, never the daemon's,
    and the daemon keeps no spare namespaces for it. Network=host in a
    spare joins the daemon's namespace."""
    with Netns() as ns, Daemon(prefix=ns.exec_prefix()) as d:
        sock = sock_path(d, "none")
        host_sock = sock_path(d, "host")
        d.write("none", netcheck_conf(sock, "none", env=["NETCHECK_EXIT_AFTER=1"]))
        d.write("host", netcheck_conf(host_sock, "host", env=["NETCHECK_EXIT_AFTER=1"]))
        own = "net:[%d]" % os.stat(f"/run/netns/{ns.name}").st_ino
        # Both ends in the test's namespace: the daemon's has more than lo.
        ip("-n", ns.name, "link", "add", "nsi-a", "type", "veth", "peer", "name", "nsi-b")
        d.start()
        for i in range(3):
            wait_for(lambda: spare_pids(d.proc.pid), 10, "a spare container")
            waiting = {os.readlink(f"/proc/{p}/ns/net") for p in spare_pids(d.proc.pid)}
            assert own not in waiting, (own, waiting)
            r = ask(sock, [f"127.0.0.1:{SERVER_PORT}"])
            d.wait_log(r"none: started container pid \d+ \(spare to exec", count=i + 1)
            assert r["netns"] in waiting, (r["netns"], waiting)
            assert r["interfaces"] == ["lo"], r
            assert r["targets"][f"127.0.0.1:{SERVER_PORT}"] == "error:Connection refused", r
            assert r["sys_net"] == ["lo"], r
            assert daemon_netns_fds(d) == {own}, daemon_netns_fds(d)
        wait_for(lambda: spare_pids(d.proc.pid), 10, "a spare container")
        r = ask(host_sock)
        d.wait_log(r"host: started container pid \d+ \(spare to exec")
        assert r["netns"] == own, (r["netns"], own)
        assert r["interfaces"] == ["lo", "nsi-a", "nsi-b"], r
        assert r["sys_net"] == r["interfaces"], r
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_pool_makes_its_own_namespace():
    """Accept=yes with PoolSize=: a pooled sandbox of Network=none makes its
    network namespace itself while it waits (activator.h, netns_late),
    not the clone on the daemon's thread: each waiting sandbox is in one of
    its own, never the daemon's, and the daemon holds no spare namespaces
    for them. The connection is served in the namespace its sandbox made:
    lo up, /sys of it, every port open to the container's root."""
    with Netns() as ns, Daemon(prefix=ns.exec_prefix(), args=["--spares=0"]) as d:
        sock = sock_path(d, "pool")
        d.write("pool", "\n".join([
            "[Socket]", f"ListenStream={sock}", "Accept=yes", "[Container]",
            f"Exec=/usr/bin/python3 {NETCHECK}", "Network=none", "PoolSize=2", tree_binds(),
            "Environment=NETCHECK_ACCEPTED=1", "[Service]", "StopTimeoutSec=5s"]) + "\n")
        own = "net:[%d]" % os.stat(f"/run/netns/{ns.name}").st_ino
        d.start()
        seen = []

        def waiting():
            nets = set()
            pids = init_pids(d.proc.pid, spare=False)
            for p in pids:
                try:
                    nets.add(os.readlink(f"/proc/{p}/ns/net"))
                except OSError:
                    return set()
            # Made once the go came: until then the daemon's.
            return nets if len(pids) == 2 and len(nets) == 2 and own not in nets else set()

        for i in range(3):
            wait_for(waiting, 10, "two pooled sandboxes, each in a namespace of its own")
            nets = waiting()
            r = ask(sock, [f"127.0.0.1:{SERVER_PORT}"])
            assert r["netns"] in nets, (r["netns"], nets)
            assert r["interfaces"] == ["lo"], r
            assert r["targets"][f"127.0.0.1:{SERVER_PORT}"] == "error:Connection refused", r
            assert r["sys_net"] == ["lo"], r
            assert r["port_start"] == "0", r
            assert not daemon_netns_fds(d) - {own}, daemon_netns_fds(d)
            seen.append(r["netns"])
        assert own not in seen, (seen, own)
        d.wait_log(r"handed to pooled sandbox", count=3)
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()


def test_100_cycles_leave_nothing():
    with Netns() as ns, Daemon(prefix=ns.exec_prefix()) as d:
        sock = sock_path(d, "cyc")
        conf = probe_conf(sock, env=["PROBE_EXIT_AFTER=1"],
                          extra_container="Network=veth\nAddressPool=10.66.0.0/30\n"
                                          "AddressPool=fd66::/64")
        d.write("cyc", conf)
        d.start()
        netns_before = sorted(os.listdir("/run/netns"))
        with d.events("cyc") as ev:
            for i in range(100):
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(20)
                with s:
                    s.connect(sock)
                    rep = json.loads(recv_all(s).decode())
                names = sorted(x["name"] for x in rep["interfaces"])
                assert names == ["host0", "lo"], (i, rep["interfaces"])
            # A one-subnet pool: each start needed the previous one's back.
            # 100 containers, one after the other, each ended by itself.
            while len(ev.seen) < 300:
                ev.next(timeout=30)
        assert [(e["NewState"], e["Reason"]) for e in ev.seen] == [
            ("starting", "connection"), ("running", "started"),
            ("stopped", "exit status 0")] * 100, ev.seen
        st = d.ctl("status", "cyc")
        assert (st["ColdStarts"], st["StartFailures"], st["MainPID"]) == (100, 0, 0), st
        # The last pair is deleted in a thread of the daemon's: soon.
        wait_for(lambda: set(ns.links()) == {"lo"}, 5, "no interface but lo")
        assert ns.routes() == [], ns.routes()
        assert d.stop() == 0
        assert d.leftovers() == [], d.leftovers()
        assert sorted(os.listdir("/run/netns")) == netns_before
        assert set(ns.links()) == {"lo"} and ns.routes() == []


def test_sigkill_restart_removes_stale_interfaces():
    with Netns() as ns, Daemon(prefix=ns.exec_prefix()) as d:
        sock = sock_path(d, "web")
        d.write("web", netcheck_conf(sock, "veth"))
        d.start()
        ask(sock)
        pid = d.ctl("status", "web")["MainPID"]
        assert pid > 0
        # Something outside holds the container's namespace: the pair
        # outlives the daemon and its container.
        held = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            base = d.cgroup_base()
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "container gone")
            cleanup_cgroup(base)
            assert "ve-web" in ns.links(), "the stale pair is there"
            # Decoys: an nspawn-like name without our mark, another daemon's mark.
            ip("-n", ns.name, "link", "add", "ve-decoy", "type", "veth", "peer", "name", "vd0")
            ip("-n", ns.name, "link", "add", "ve-other", "type", "veth", "peer", "name", "vo0")
            ip("-n", ns.name, "link", "set", "ve-other", "alias", "nsinetd:/run/other")
            d.start()
            # A log check: a notice about an earlier daemon, no service's fact.
            d.wait_log(r"removed 1 stale interface\(s\) left by an earlier nsinetd")
            links = ns.links()
            assert "ve-web" not in links, links.keys()
            assert {"ve-decoy", "vd0", "ve-other", "vo0"} <= set(links), links.keys()
            # And the service works again, with its name back.
            r = ask(sock)
            assert r["interfaces"] == ["host0", "lo"], r
            assert d.stop() == 0
        finally:
            os.close(held)


if __name__ == "__main__":
    main([test_veth_reaches_host_ipv4_ipv6, test_none_is_a_fresh_namespace_each_time,
          test_spare_has_its_own_namespace, test_pool_makes_its_own_namespace,
          test_two_veth_containers_get_different_addresses,
          test_bridge_and_fixed_addresses,
          test_foreign_interface_is_a_clear_error_and_kept,
          test_none_reaches_nothing,
          test_netns_name_joins_and_missing_is_an_error,
          test_shared_empty_is_one_namespace_per_service,
          test_100_cycles_leave_nothing,
          test_sigkill_restart_removes_stale_interfaces])
