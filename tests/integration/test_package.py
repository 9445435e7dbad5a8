#!/usr/bin/python3
"""The Debian package: built by scripts/deb.sh (make deb), its file list, its
unit, its man pages, lintian, and an install and purge in a throw-away root.

The throw-away root is an overlay of the host's / (read-only lower layer)
with a tmpfs upper layer, mounted in a private mount namespace of this test:
dpkg --root runs the maintainer scripts chrooted there, with the host's own
dpkg database and dependencies, and every write lands on the tmpfs, which
disappears with the namespace. Between install and purge, the installed
daemon runs chrooted there on its compiled-in paths (/etc/nsinetd,
/usr/libexec/nsinetd/nsinetd-init) and serves one connection. The host's
dpkg status is compared before and after.
"""
import hashlib
import os
import shutil
import subprocess
import tempfile

from nsitest import BUILD, SRC, Failed, SkipTest, free_port, main

PKG = {}  # "deb": path of the built package, "dir": its temporary directory
WANTED = [
    "./usr/sbin/nsinetd",
    "./usr/bin/nsinetctl",
    "./usr/libexec/nsinetd/nsinetd-init",
    "./usr/share/man/man8/nsinetd.8.gz",
    "./usr/share/man/man5/nsinetd.conf.5.gz",
    "./usr/share/man/man1/nsinetctl.1.gz",
    "./lib/systemd/system/nsinetd.service",
    "./etc/nsinetd/",
    "./usr/share/doc/nsinetd/copyright",
]


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def package():
    """Builds the package once for every test of this file."""
    if "error" in PKG:
        raise Failed(PKG["error"])
    if "deb" in PKG:
        return PKG["deb"]
    for tool, deb in (("dpkg-buildpackage", "dpkg-dev"), ("dh", "debhelper"),
                      ("pandoc", "pandoc")):
        if not shutil.which(tool):
            raise SkipTest(f"{tool} is missing (Debian package {deb}; "
                           "scripts/install-deps.sh deb)")
    PKG["dir"] = tempfile.mkdtemp(prefix="test-package.", dir=os.path.abspath(BUILD))
    p = run([os.path.join(SRC, "scripts", "deb.sh"), PKG["dir"]], timeout=600)
    debs = [f for f in os.listdir(PKG["dir"])
            if f.startswith("nsinetd_") and f.endswith(".deb")]
    if p.returncode != 0 or len(debs) != 1:
        PKG["error"] = f"scripts/deb.sh failed ({p.returncode}): {p.stderr[-2000:]}"
        raise Failed(PKG["error"])
    PKG["deb"] = os.path.join(PKG["dir"], debs[0])
    return PKG["deb"]


def deb_field(deb, field):
    return run(["dpkg-deb", "-f", deb, field]).stdout.strip()


def test_file_list():
    deb = package()
    p = run(["dpkg-deb", "-c", deb])
    assert p.returncode == 0, p.stderr
    files = [line.split(None, 5)[5].split(" -> ")[0] for line in p.stdout.splitlines()]
    missing = [f for f in WANTED if f not in files]
    assert not missing, f"not in the package: {missing}; it has {files}"
    # /etc/nsinetd is the administrator's: the package ships it empty.
    assert not [f for f in files if f.startswith("./etc/nsinetd/") and f != "./etc/nsinetd/"], files
    # Test-only programs never ship.
    for f in files:
        assert "test" not in os.path.basename(f) and "probe" not in f, f
    # ${shlibs:Depends}: computed from the binaries' libraries.
    depends = deb_field(deb, "Depends")
    for lib in ("libc6", "libevent", "libsystemd0", "libcap2", "libseccomp2", "libinih1",
                "libmnl0"):
        assert lib in depends, f"Depends lacks {lib}: {depends}"


def extract(deb, what):
    d = tempfile.mkdtemp(prefix=what + ".", dir=PKG["dir"])
    p = run(["dpkg-deb", "-x" if what == "data" else "-e", deb, d])
    assert p.returncode == 0, p.stderr
    return d


def test_unit_enabled_not_started():
    deb = package()
    data = extract(deb, "data")
    with open(os.path.join(data, "lib/systemd/system/nsinetd.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/sbin/nsinetd --config-dir /etc/nsinetd --runtime-dir /run/nsinetd\n" \
        in unit, unit
    assert "ExecReload=/usr/bin/nsinetctl --runtime-dir /run/nsinetd reload\n" in unit, unit
    settings = [l for l in unit.splitlines() if l and not l.startswith("#")]
    assert not [l for l in settings if "/bin/kill" in l or "@" in l], unit
    control = extract(deb, "control")
    with open(os.path.join(control, "postinst")) as f:
        postinst = f.read()
    assert "deb-systemd-helper enable 'nsinetd.service'" in postinst, postinst
    assert "deb-systemd-invoke" not in postinst and "start" not in postinst.replace(
        "restart", ""), f"the unit is started on install:\n{postinst}"


def test_man_pages_render_without_warnings():
    deb = package()
    if not shutil.which("man"):
        raise SkipTest("man is missing (Debian package man-db)")
    data = extract(deb, "data")
    for page, name in (("man8/nsinetd.8.gz", "nsinetd"),
                       ("man5/nsinetd.conf.5.gz", "nsinetd.conf"),
                       ("man1/nsinetctl.1.gz", "nsinetctl")):
        path = os.path.join(data, "usr/share/man", page)
        p = run(["man", "--warnings", "-l", path], env=dict(os.environ, MANWIDTH="80"))
        assert p.returncode == 0, f"{page}: {p.stderr}"
        assert p.stderr.strip() == "", f"{page}: man --warnings says:\n{p.stderr}"
        assert "NAME" in p.stdout and name in p.stdout and "SYNOPSIS" in p.stdout, p.stdout[:500]
        assert "\\f" not in p.stdout and "```" not in p.stdout, f"{page}: raw markup left"


def test_lintian():
    deb = package()
    if not shutil.which("lintian"):
        raise SkipTest("lintian is missing (Debian package lintian)")
    # Errors and warnings fail; accepted ones are in debian/nsinetd.lintian-overrides,
    # each with its reason.
    p = run(["lintian", "--fail-on", "error,warning", "--no-tag-display-limit", deb],
            timeout=300)
    tags = [l for l in p.stdout.splitlines() if l[:2] in ("E:", "W:")]
    assert p.returncode == 0 and not tags, f"lintian ({p.returncode}):\n{p.stdout}{p.stderr}"


def host_state():
    """What installing in the throw-away root must not change on the host."""
    h = hashlib.sha256()
    for path in ("/var/lib/dpkg/status", "/var/lib/dpkg/available"):
        try:
            with open(path, "rb") as f:
                h.update(f.read())
        except FileNotFoundError:
            h.update(b"-")
    paths = ["/usr/sbin/nsinetd", "/usr/bin/nsinetctl", "/usr/libexec/nsinetd",
             "/etc/nsinetd", "/lib/systemd/system/nsinetd.service",
             "/etc/systemd/system/multi-user.target.wants/nsinetd.service"]
    return h.hexdigest(), {p: os.path.lexists(p) for p in paths}


# Runs in a private mount namespace (unshare -m): the overlay and the tmpfs
# under it exist only there. Each step prints a line the test checks.
INSIDE = r"""
set -eu
t=$1 deb=$2 port=$3
mount -t tmpfs -o mode=0755 nsitest-pkg "$t/rw"
mkdir "$t/rw/upper" "$t/rw/work"
mount -t overlay -o "lowerdir=/,upperdir=$t/rw/upper,workdir=$t/rw/work" nsitest-pkg "$t/root"
r=$t/root
# The maintainer scripts write to /dev/null.
mount --rbind /dev "$r/dev"
dpkg --root="$r" --force-not-root -i "$deb" >"$t/install.log" 2>&1 || {
    cat "$t/install.log"; echo "INSTALL-FAILED"; exit 1; }
dpkg-query --root="$r" -W -f='status=${Status}\n' nsinetd
for f in usr/sbin/nsinetd usr/bin/nsinetctl usr/libexec/nsinetd/nsinetd-init \
         lib/systemd/system/nsinetd.service usr/share/man/man8/nsinetd.8.gz; do
    [ -f "$r/$f" ] && echo "installed=$f"
done
[ -d "$r/etc/nsinetd" ] && echo "installed=etc/nsinetd"
[ -L "$r/etc/systemd/system/multi-user.target.wants/nsinetd.service" ] && echo "enabled=yes"
"$r/usr/sbin/nsinetd" --version
# The installed daemon, chrooted, on its compiled-in paths: /etc/nsinetd
# (one inetd-style service written here), /usr/libexec/nsinetd/nsinetd-init.
# PrivateUsers=no: the kernel refuses a user namespace to a chrooted process.
mount -t proc proc "$r/proc"
mount -t tmpfs tmpfs "$r/run"
printf '[Socket]\nListenStream=127.0.0.1:%s\nAccept=yes\n[Container]\nExec=/bin/echo served by the package\nStandardInput=socket\nPrivateUsers=no\n' \
    "$port" >"$r/etc/nsinetd/echo.conf"
chroot "$r" /usr/sbin/nsinetd --log-level debug >"$t/daemon.log" 2>&1 &
pid=$!
# Never left running, whatever fails below.
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
i=0
until grep -q 'listening' "$t/daemon.log"; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $pid 2>/dev/null; then
        cat "$t/daemon.log"; echo "DAEMON-NOT-LISTENING"; kill $pid 2>/dev/null; exit 1
    fi
    sleep 0.1
done
python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print("reply=" + data.decode().strip())' "$port" || echo "reply=FAILED"
kill -TERM $pid
wait $pid && echo "daemon-exit=0" || echo "daemon-exit=$?"
sed 's/^/log=/' "$t/daemon.log"
umount "$r/run" "$r/proc"
rm "$r/etc/nsinetd/echo.conf"
dpkg --root="$r" --force-not-root --purge nsinetd >"$t/purge.log" 2>&1 || {
    cat "$t/purge.log"; echo "PURGE-FAILED"; exit 1; }
dpkg-query --root="$r" -W -f='after=${Status}\n' nsinetd 2>/dev/null || echo "after=unknown"
# What the package left in the root: every file of the upper layer that is
# not dpkg's own bookkeeping.
(cd "$t/rw/upper" && find . ! -type d) | grep -v -e '^./var/lib/dpkg/' -e '^./var/log/dpkg.log' \
    -e '^./var/cache/' -e '^./var/lib/systemd/deb-systemd-helper' | sed 's/^/left=/' || true
# Directories: those the host does not have (the others are copied up).
(cd "$t/rw/upper" && find . -depth -type d) | while read -r d; do
    [ -e "/$d" ] || echo "leftdir=$d"; done
echo "DONE"
"""


def test_install_and_purge_in_throwaway_root():
    deb = package()
    if not shutil.which("unshare"):
        raise SkipTest("unshare is missing (Debian package util-linux)")
    with open("/proc/filesystems") as f:
        if "overlay" not in f.read():
            raise SkipTest("no overlayfs in this kernel (the throw-away root is an overlay)")
    before = host_state()
    t = tempfile.mkdtemp(prefix="root.", dir=PKG["dir"])
    os.mkdir(os.path.join(t, "rw"))
    os.mkdir(os.path.join(t, "root"))
    p = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", INSIDE, "sh", t, deb,
             str(free_port())], timeout=120)
    out = p.stdout
    assert p.returncode == 0 and "DONE" in out, f"({p.returncode})\n{out}\n{p.stderr}"
    lines = out.splitlines()
    assert "status=install ok installed" in lines, out
    for f in ("usr/sbin/nsinetd", "usr/bin/nsinetctl", "usr/libexec/nsinetd/nsinetd-init",
              "lib/systemd/system/nsinetd.service", "usr/share/man/man8/nsinetd.8.gz",
              "etc/nsinetd"):
        assert f"installed={f}" in lines, f"{f} not installed:\n{out}"
    assert "enabled=yes" in lines, f"the unit is not enabled on install:\n{out}"
    assert any(l.startswith("nsinetd ") for l in lines), out
    # The installed daemon found its configuration and its nsinetd-init
    # where the package put them, and served a connection.
    assert "reply=served by the package" in lines, out
    assert "daemon-exit=0" in lines, out
    assert any("containers start with /usr/libexec/nsinetd/nsinetd-init" in l for l in lines), out
    assert any("configuration from /etc/nsinetd" in l for l in lines), out
    assert any(l in ("after=unknown", "after=unknown ok not-installed") or
               l.startswith("after=") and "not-installed" in l for l in lines), out
    left = [l for l in lines if l.startswith(("left=", "leftdir="))]
    assert not left, f"the purged package left files behind: {left}"
    # Nothing reached the host: its mount table, dpkg database and paths.
    assert host_state() == before, (before, host_state())
    with open("/proc/self/mountinfo") as f:
        assert "nsitest-pkg" not in f.read(), "the throw-away root's mounts reached the host"


def cleanup():
    if "dir" in PKG:
        shutil.rmtree(PKG["dir"], ignore_errors=True)


if __name__ == "__main__":
    try:
        main([test_file_list, test_unit_enabled_not_started,
              test_man_pages_render_without_warnings, test_lintian,
              test_install_and_purge_in_throwaway_root])
    finally:
        cleanup()
