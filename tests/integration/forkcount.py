#!/usr/bin/python3
"""Run inside a sandbox (stdout is the client's connection): forks children
that wait, until fork() is refused or argv[1] of them exist, then prints
"CHILDREN ERRNO" (ERRNO 0: never refused), kills and reaps them."""
import os
import signal
import sys

most = int(sys.argv[1])
kids = []
err = 0
while len(kids) < most:
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        signal.pause()
        os._exit(0)
    kids.append(pid)
print(len(kids), err, flush=True)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
