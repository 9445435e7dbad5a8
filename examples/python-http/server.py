#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A socket-activated HTTP service with nothing but Python's standard library.

It takes the listening socket that nsinetd (or systemd, or
systemd-socket-activate) passes as fd 3 with the LISTEN_FDS protocol, and
serves it with http.server. On SIGTERM or SIGINT it stops accepting, lets the
requests in flight finish, and exits 0.

Run with Debian's /usr/bin/python3 (3.11); no third-party module is used.
"""

import http.server
import json
import os
import signal
import socket
import sys
import threading

SD_LISTEN_FDS_START = 3
PROG = "python-http"


def log(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def listen_fds():
    """(count, names) of the fds passed to *this* process, like
    sd_listen_fds_with_names(unset=1): the variables are removed so that
    children do not take them for theirs."""
    env = {k: os.environ.pop(k, "") for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")}
    try:
        pid = int(env["LISTEN_PID"])
        n = int(env["LISTEN_FDS"])
    except ValueError:
        return 0, []
    if pid != os.getpid() or n < 1:
        return 0, []
    names = env["LISTEN_FDNAMES"].split(":") if env["LISTEN_FDNAMES"] else []
    return n, names


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "nsinetd-python-http/1"
    # HTTP/1.0: one request per connection, so a stop never waits on idle
    # keep-alive clients.
    protocol_version = "HTTP/1.0"
    # Socket timeout for a client that is slow to send or to read (seconds).
    timeout = 10

    def _answer(self, head):
        if self.path in ("/info", "/info.json"):
            body = json.dumps({
                "pid": os.getpid(),
                "ppid": os.getppid(),
                "hostname": socket.gethostname(),
                "uid": os.getuid(),
                "listen_fdnames": self.server.fdnames,
            }, indent=1).encode() + b"\n"
            ctype = "application/json"
        else:
            body = ("hello from python http.server in nsinetd: pid %d, hostname %s\n"
                    % (os.getpid(), socket.gethostname())).encode()
            ctype = "text/plain; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_GET(self):
        self._answer(head=False)

    def do_HEAD(self):
        self._answer(head=True)

    def log_message(self, fmt, *args):
        log("%s %s" % (self.address_string(), fmt % args))


class ActivatedServer(http.server.ThreadingHTTPServer):
    # Request threads are joined by server_close(): that is what lets the
    # requests in flight finish on SIGTERM.
    daemon_threads = False
    block_on_close = True
    # At most this many requests at once; beyond that, connections wait in
    # the kernel's accept queue instead of costing a thread each.
    max_threads = 64

    def __init__(self, sock, fdnames):
        self.fdnames = fdnames
        # Do not bind or listen: the socket already does.
        super().__init__(sock.getsockname(), Handler, bind_and_activate=False)
        self.socket.close()  # the unused one socketserver just created
        self.socket = sock
        self.address_family = sock.family
        addr = sock.getsockname()
        if isinstance(addr, tuple):
            self.server_name, self.server_port = str(addr[0]), addr[1]
        else:
            self.server_name, self.server_port = str(addr), 0
        self._slots = threading.BoundedSemaphore(self.max_threads)

    def process_request(self, request, client_address):
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def main():
    n, names = listen_fds()
    if n == 0:
        log("no listening socket passed (LISTEN_FDS unset or LISTEN_PID is not "
            "ours); run me under nsinetd or systemd-socket-activate")
        return 1
    if n > 1:
        log(f"{n} sockets passed, serving fd {SD_LISTEN_FDS_START} only")

    # socket.socket(fileno=) detects family and type from the fd.
    sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    if sock.type != socket.SOCK_STREAM:
        log(f"fd {SD_LISTEN_FDS_START} is not a stream socket")
        return 1
    sock.set_inheritable(False)

    server = ActivatedServer(sock, names)
    stopping = threading.Event()

    def on_signal(signum, frame):
        if stopping.is_set():
            return
        stopping.set()
        log(f"{signal.Signals(signum).name}, finishing requests in flight and exiting")
        # shutdown() waits for serve_forever() to return, which runs in this
        # very thread: ask from another one.
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    addr = sock.getsockname()
    log(f"serving on fd {SD_LISTEN_FDS_START} ({addr}), pid {os.getpid()}, "
        f"hostname {socket.gethostname()}")
    server.serve_forever(poll_interval=0.5)
    server.server_close()  # joins the request threads
    return 0


if __name__ == "__main__":
    sys.exit(main())
