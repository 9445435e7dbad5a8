#!/usr/bin/python3
"""A socket-activated service for the network tests: on each connection
(on fd 3, LISTEN_FDS) it reads one line of targets "HOST:PORT ..." ([IPv6]
in brackets), connects to each, and answers one JSON object: for each
target the first line the target sent, or the error; plus the names of its
interfaces (and those /sys shows), its network namespace and its
ip_unprivileged_port_start. NETCHECK_EXIT_AFTER=N: exit after N answers.
NETCHECK_ACCEPTED=1 (Accept=yes): fd 3 is the connection itself, answered
once."""
import json
import os
import signal
import socket
import sys


def check(target):
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect((host, int(port)))
            return "ok:" + s.makefile().readline().strip()
    except OSError as e:
        return "error:" + (e.strerror or str(e))


def answer(conn):
    with conn:
        conn.settimeout(10)
        line = conn.makefile().readline()
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            port_start = f.read().strip()
        report = {
            "targets": {t: check(t) for t in line.split()},
            "interfaces": sorted(n for _, n in socket.if_nameindex()),
            "netns": os.readlink("/proc/self/ns/net"),
            "sys_net": sorted(os.listdir("/sys/class/net")),
            "port_start": port_start,
        }
        conn.sendall(json.dumps(report).encode())


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if os.environ.get("LISTEN_FDS") != "1":
        sys.exit("netcheck: expected LISTEN_FDS=1")
    if os.environ.get("NETCHECK_ACCEPTED") == "1":
        answer(socket.socket(fileno=3))
        return
    left = int(os.environ.get("NETCHECK_EXIT_AFTER", "0")) or -1
    lsock = socket.socket(fileno=3)
    while left != 0:
        conn, _ = lsock.accept()
        answer(conn)
        left -= 1


main()
