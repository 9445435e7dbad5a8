# SPDX-License-Identifier: LGPL-2.1-or-later
"""A tiny WSGI application for Debian's gunicorn (python3-gunicorn 20.1),
socket-activated by nsinetd: gunicorn's arbiter takes the sockets in
LISTEN_FDS when LISTEN_PID is its own pid, which nsinetd makes true (the
arbiter is pid 2 of the container, and LISTEN_PID=2)."""

import json
import os
import socket


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/info":
        body = json.dumps({
            "worker_pid": os.getpid(),
            "arbiter_pid": os.getppid(),
            "hostname": socket.gethostname(),
            "server": environ.get("SERVER_SOFTWARE", ""),
        }, indent=1).encode() + b"\n"
        ctype = "application/json"
    else:
        body = ("hello from gunicorn in nsinetd: worker pid %d, arbiter pid %d, hostname %s\n"
                % (os.getpid(), os.getppid(), socket.gethostname())).encode()
        ctype = "text/plain; charset=utf-8"
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    if environ.get("REQUEST_METHOD") == "HEAD":
        return [b""]
    return [body]
