#!/usr/bin/python3
"""-Dinit_libc=: nsinetd-init is static and linked against the C library
the build chose (supervisor/meson.build): musl where musl-gcc was found
(or asked for), glibc otherwise. glibc marks its programs with an ELF
.note.ABI-tag section; musl does not. A build that asked for musl and
linked glibc anyway (or lost -static) fails here.

    test-init-libc.py NSINETD_INIT EXPECTED_LIBC
"""
import subprocess
import sys

path, want = sys.argv[1], sys.argv[2]
print("1..2")
sections = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True,
                          timeout=60, check=True).stdout
program = subprocess.run(["readelf", "-l", "-W", path], capture_output=True, text=True,
                         timeout=60, check=True).stdout
got = "glibc" if ".note.ABI-tag" in sections else "musl"
print(("ok" if got == want else "not ok") + f" 1 - linked against {want} (found {got})")
static = "INTERP" not in program
print(("ok" if static else "not ok") + " 2 - static: no program interpreter")
