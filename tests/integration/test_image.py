#!/usr/bin/python3
"""Image= and OCIBundle= with the real tools, no network.

The image is made here from scratch with umoci: one layer with busybox
(and the libraries ldd names for it, if any), /etc/passwd and /etc/group, and a config
whose Entrypoint+Cmd prints $GREETING, the working directory and the uid,
whose Env sets GREETING, WorkingDir is /srv/www and User the image's own
"web" (uid 1234). skopeo saves it as a docker-archive and an oci-archive.
The services are inetd-style (Accept=yes, StandardInput=socket), so the
answer is the image's command's output.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import threading

from nsitest import (Daemon, Failed, SkipTest, free_port, http_get, main, probe_conf,
                     probe_stream, recv_all, wait_for)

# A socket-activated server (Accept=no) for the image: accepts on fd 3 and
# answers $GREETING to each connection, for as long as it runs.
SERVE_C = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void)
{
	const char *g = getenv("GREETING");
	for (;;) {
		int c = accept(3, NULL, NULL);
		if (c < 0)
			return 1;
		if (write(c, g ? g : "none", strlen(g ? g : "none")) < 0 || write(c, "\n", 1) < 0)
			return 1;
		close(c);
	}
}
"""

BUSYBOX = "/bin/busybox"
GREETING = "hello-from-the-image"


def tools():
    missing = [t for t in ("umoci", "skopeo") if not shutil.which(t)]
    if missing:
        raise SkipTest(f"{' and '.join(missing)} missing (Debian packages umoci, skopeo; "
                       "scripts/install-deps.sh check)")
    if not os.path.exists(BUSYBOX):
        raise SkipTest(f"{BUSYBOX} missing (Debian package busybox)")


def copy_with_libs(exe, root, dest=None):
    """exe into root (at dest, default its own path), with the shared
    libraries ldd names (none for a static one) at their own paths."""
    out = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    for f in [exe] + re.findall(r"(/\S+) \(0x", out):
        dst = root + (dest if f == exe and dest else f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(f, dst)


def run(*args):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def archive(layout, dest):
    """The layout's image (tag 1) copied by skopeo to dest, an
    "oci-archive:PATH:TAG" or "docker-archive:PATH:NAME:TAG"."""
    run("skopeo", "copy", "--quiet", "--insecure-policy", f"oci:{layout}:1", dest)


def make_image(top, name="img", tag="1", passwd=None, greeting=GREETING, user="web"):
    """An OCI layout top/name with tag; passwd: a callable that makes the
    tree's etc/passwd (default: a plain file with root and web)."""
    layout = os.path.join(top, name)
    bundle = os.path.join(top, name + "-bundle")
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:{tag}")
    run("umoci", "unpack", "--image", f"{layout}:{tag}", bundle)
    root = os.path.join(bundle, "rootfs")
    for d in ("bin", "etc", "srv/www", "tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    copy_with_libs(BUSYBOX, root, "/bin/busybox")
    for applet in ("sh", "echo", "pwd", "id", "cat"):
        os.symlink("busybox", os.path.join(root, "bin", applet))
    if passwd:
        passwd(os.path.join(root, "etc"))
    else:
        with open(os.path.join(root, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\nweb:x:1234:1234:web:/srv/www:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\nweb:x:1234:\n")
    run("umoci", "repack", "--image", f"{layout}:{tag}", bundle)
    shutil.rmtree(bundle)
    set_config(layout, tag, greeting, user)
    return layout


def set_config(layout, tag, greeting, user="web"):
    run("umoci", "config", "--image", f"{layout}:{tag}",
        "--config.entrypoint", "/bin/sh", "--config.entrypoint", "-c",
        "--config.cmd", 'echo "$GREETING"; pwd; id -u',
        "--config.env", f"GREETING={greeting}", "--config.env", "PATH=/bin",
        "--config.workingdir", "/srv/www", "--config.user", user,
        "--config.exposedports", "80/tcp")


def digest(layout, tag):
    with open(os.path.join(layout, "index.json")) as f:
        for m in json.load(f)["manifests"]:
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
                return m["digest"]
    raise AssertionError(f"no {tag} in {layout}")


def image_conf(port, image, extra=""):
    return (f"[Socket]\nListenStream=127.0.0.1:{port}\nAccept=yes\n"
            f"[Container]\nImage={image}\nStandardInput=socket\n{extra}\n"
            "[Service]\nStopTimeoutSec=5s\n")


def ask(port, timeout=10.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        return recv_all(s).decode().split()


def images_daemon(services):
    d = Daemon(services)
    d.state_dir = os.path.join(d.tmp, "state")
    d.args += ["--state-dir", d.state_dir]
    return d


def names(d):
    return sorted(r["Name"] for r in d.ctl("list"))


def unpacked(d):
    return sorted(e for e in os.listdir(os.path.join(d.state_dir, "images"))
                  if e.startswith("sha256-"))


def test_layout_and_archives_serve_the_image_command():
    tools()
    ports = [free_port() for _ in range(4)]
    with images_daemon({}) as d:
        layout = make_image(d.tmp)
        dock = os.path.join(d.tmp, "img-docker.tar")
        ociar = os.path.join(d.tmp, "img-oci.tar")
        archive(layout, f"docker-archive:{dock}:example/img:1")
        archive(layout, f"oci-archive:{ociar}:v1")
        d.write("layout", image_conf(ports[0], f"{layout}:1"))
        d.write("docker", image_conf(ports[1], f"docker-archive:{dock}"))
        # Keys of the file override the image's.
        d.write("override", image_conf(ports[2], f"oci-archive:{ociar}:v1",
                                       "Environment=GREETING=from-the-file\n"
                                       "WorkingDirectory=/tmp\nUser=0"))
        d.start()
        for name in ("layout", "docker", "override"):
            d.wait_state(name, "stopped", timeout=60)
        assert ask(ports[0]) == [GREETING, "/srv/www", "1234"], ask(ports[0])
        assert ask(ports[1]) == [GREETING, "/srv/www", "1234"], ask(ports[1])
        assert ask(ports[2]) == ["from-the-file", "/tmp", "0"], ask(ports[2])
        # One tree per manifest digest: the layout and the oci-archive are
        # the same manifest; the docker-archive is converted to another.
        assert f"sha256-{digest(layout, '1')[7:]}" in unpacked(d), unpacked(d)
        assert len(unpacked(d)) == 2, unpacked(d)
        # --check reads the layout: the exposed 80/tcp is not a Listen*=.
        r = subprocess.run([d.proc.args[0], "--check", "--config-dir", d.config_dir],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert re.search(r"layout\.conf:\d+: hint: Image=.* exposes 80/tcp", r.stdout), r.stdout


def test_connections_wait_for_the_image():
    """At load the sockets are bound at once, the service waits (not
    polling) for its image, and a connection made meanwhile is served when
    it is ready. The archive is a FIFO: skopeo waits on it as long as the
    test wants."""
    tools()
    port = free_port()
    with images_daemon({}) as d:
        layout = make_image(d.tmp)
        real = os.path.join(d.tmp, "real.tar")
        archive(layout, f"oci-archive:{real}:v")
        fifo = os.path.join(d.tmp, "web.tar")
        os.mkfifo(fifo, 0o600)
        d.write("web", image_conf(port, f"oci-archive:{fifo}:v"))
        d.start()
        d.wait_log(r"web: converting oci-archive:\S+web\.tar:v to an OCI layout with skopeo")
        assert d.state("web") == "waiting", d.state("web")
        assert d.ctl("status", "web")["ImageDigest"] == ""
        with socket.create_connection(("127.0.0.1", port), timeout=60) as c:
            # Queued in the kernel: no answer while skopeo waits.
            c.settimeout(0.5)
            try:
                early = c.recv(1)
                raise Failed(f"an answer before the image was ready: {early!r}")
            except socket.timeout:
                pass
            assert d.state("web") == "waiting", d.state("web")
            with open(real, "rb") as f, open(fifo, "wb") as w:
                shutil.copyfileobj(f, w)
            c.settimeout(60)
            assert recv_all(c).decode().split() == [GREETING, "/srv/www", "1234"]
        assert d.state("web") == "stopped"


def test_reload_switches_to_a_new_digest_and_removes_the_old_tree():
    tools()
    port = free_port()
    with images_daemon({}) as d:
        layout = make_image(d.tmp)
        d.write("web", image_conf(port, f"{layout}:1"))
        d.start()
        d.wait_state("web", "stopped", timeout=60)
        old = digest(layout, "1")
        assert ask(port)[0] == GREETING
        assert d.ctl("status", "web")["ImageDigest"] == old
        set_config(layout, "1", "second-version")
        new = digest(layout, "1")
        assert new != old
        # Unchanged file, changed image: the reload restarts the service.
        rep = d.ctl("reload")
        assert rep.get("Changed") == ["web"], rep
        wait_for(lambda: d.state("web") == "stopped" and
                 f"sha256-{new[7:]}" in unpacked(d), 60, "the new digest unpacked")
        assert ask(port)[0] == "second-version"
        assert d.ctl("status", "web")["ImageDigest"] == new
        wait_for(lambda: unpacked(d) == [f"sha256-{new[7:]}"], 30,
                 f"the tree of {old} removed (now {unpacked(d)})")
        # A reload with nothing changed keeps the service.
        rep = d.ctl("reload")
        assert rep.get("Changed", []) == [] and rep.get("Unchanged") == 1, rep


def test_corrupt_archive_is_refused_and_others_keep_serving():
    tools()
    good, bad, plain = free_port(), free_port(), free_port()
    with images_daemon({}) as d:
        layout = make_image(d.tmp)
        tar = os.path.join(d.tmp, "whole.tar")
        archive(layout, f"docker-archive:{tar}:example/img:1")
        cut = os.path.join(d.tmp, "cut.tar")
        with open(tar, "rb") as f, open(cut, "wb") as g:
            g.write(f.read(5000))
        d.write("good", image_conf(good, f"{layout}:1"))
        path = d.write("bad", image_conf(bad, f"docker-archive:{cut}"))
        d.write("plain", probe_conf(f"127.0.0.1:{plain}"))
        d.start()
        d.wait_log(re.escape(path) + r":5: Image=docker-archive:\S+cut\.tar: skopeo cannot read "
                   r"\S+cut\.tar: .*manifest\.json.*; the service is disabled", timeout=60)
        wait_for(lambda: names(d) == ["good", "plain"], 30, "the bad service gone")
        d.wait_state("good", "stopped", timeout=60)
        assert ask(good)[0] == GREETING
        assert probe_stream(("127.0.0.1", plain))["pid"] == 2
        try:
            socket.create_connection(("127.0.0.1", bad), timeout=5).close()
            raise Failed("the disabled service's port still accepts")
        except ConnectionRefusedError:
            pass


def hostile(d, port, name, passwd, expect):
    layout = make_image(d.tmp, name=name, passwd=passwd)
    path = d.write(name, image_conf(port, f"{layout}:1"))
    return path, expect


def test_hostile_trees_are_refused():
    tools()
    with open("/etc/shadow") as f:
        assert f.read(5) == "root:", "this check needs a host /etc/shadow with root first"

    def to_shadow(etc):
        # Absolute and relative: both resolve inside the tree, whose own
        # /etc/shadow does not exist.
        os.symlink("/etc/shadow", os.path.join(etc, "passwd"))

    def up_and_out(etc):
        os.symlink("../../../../../../../../etc/shadow", os.path.join(etc, "passwd"))

    def huge(etc):
        with open(os.path.join(etc, "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n" * (5 * 1024 * 1024 // 30))
            f.write("web:x:1234:1234:web:/srv/www:/bin/sh\n")

    ports = [free_port() for _ in range(3)]
    with images_daemon({}) as d:
        cases = [
            hostile(d, ports[0], "shadow", to_shadow,
                    r"the image's User web: cannot read the tree's /etc/passwd: No such file or directory"),
            hostile(d, ports[1], "upandout", up_and_out,
                    r"the image's User web: cannot read the tree's /etc/passwd: No such file or directory"),
            hostile(d, ports[2], "huge", huge,
                    r"the image's User web: the tree's /etc/passwd is too big \(more than "
                    r"4194304 bytes\)"),
        ]
        d.start()
        for path, expect in cases:
            d.wait_log(re.escape(path) + r":5: Image=\S+: " + expect +
                       "; the service is disabled", timeout=60)
        wait_for(lambda: names(d) == [], 30, "every hostile service gone")


def test_bundle_runs_and_names_what_it_does_not_apply():
    tools()
    port = free_port()
    with images_daemon({}) as d:
        layout = make_image(d.tmp)
        bundle = os.path.join(d.tmp, "bundle")
        # umoci's own bundle: its config.json has the image's process,
        # the default mounts (/proc, /dev, ...) and more.
        run("umoci", "unpack", "--image", f"{layout}:1", bundle)
        cfg_path = os.path.join(bundle, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["hooks"] = {"prestart": [{"path": "/bin/false"}]}
        cfg["mounts"].append({"destination": "/data", "type": "bind", "source": "/srv"})
        cfg["process"]["env"].append("FROM_BUNDLE=yes")
        cfg["process"]["args"] = ["/bin/sh", "-c", 'echo "$FROM_BUNDLE"; pwd; id -u']
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        path = d.write("bundle", f"[Socket]\nListenStream=127.0.0.1:{port}\nAccept=yes\n"
                       f"[Container]\nOCIBundle={bundle}\nStandardInput=socket\n")
        d.start()
        d.wait_log(re.escape(path) + r":5: OCIBundle=\S+: config.json's hooks \(not run\) is "
                   "not applied")
        d.wait_log(re.escape(path) + r":5: OCIBundle=\S+: config.json's mounts: /data \(use "
                   r"Bind=\) is not applied")
        assert "mounts: /proc" not in d.log()
        d.wait_state("bundle", "stopped")
        assert ask(port) == ["yes", "/srv/www", "1234"], ask(port)
        # No Image=: the state directory is never made.
        assert not os.path.exists(d.state_dir), os.listdir(d.state_dir)
        # A config.json that is not JSON: refused with its offset.
        with open(cfg_path, "w") as f:
            f.write('{"root": {"path": "rootfs"}, ')
        r = subprocess.run([d.proc.args[0], "--check", "--config-dir", d.config_dir],
                           capture_output=True, text=True)
        assert r.returncode != 0
        assert re.search(re.escape(path) + r":5: OCIBundle=\S+: the bundle's config.json is not "
                         r"valid JSON: offset \d+: ", r.stderr), r.stderr


def serve_image(top):
    """An image whose command is SERVE_C (Accept=no, answers $GREETING, "one"),
    as a layout top/img:1 and an oci-archive top/web.tar:v of it."""
    if not shutil.which("cc"):
        raise SkipTest("no C compiler (cc) for the image's static server")
    src = os.path.join(top, "serve.c")
    with open(src, "w") as f:
        f.write(SERVE_C)
    serve = os.path.join(top, "serve")
    run("cc", "-O2", "-static", "-o", serve, src)

    def fill(etc):
        shutil.copy(serve, os.path.join(etc, "..", "bin", "serve"))
        with open(os.path.join(etc, "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\nweb:x:1234:1234:web:/srv/www:/bin/sh\n")
    layout = make_image(top, passwd=fill, greeting="one")
    run("umoci", "config", "--image", f"{layout}:1", "--config.entrypoint", "/bin/serve",
        "--clear=config.cmd")
    arch = os.path.join(top, "web.tar")
    archive(layout, f"oci-archive:{arch}:v")
    return layout, arch


def test_reload_old_container_serves_while_the_new_image_is_made_ready():
    """Accept=no: after a reload that changes the image, the running
    container keeps serving until the new image is ready. The new archive
    is a FIFO, so skopeo waits on it, for as long as the test wants."""
    tools()
    port = free_port()
    with images_daemon({}) as d:
        layout, arch = serve_image(d.tmp)
        d.write("web", f"[Socket]\nListenStream=127.0.0.1:{port}\n"
                f"[Container]\nImage=oci-archive:{arch}:v\n[Service]\nStopTimeoutSec=5s\n")
        d.start()
        d.wait_state("web", "stopped", timeout=60)
        assert ask(port) == ["one"]
        d.wait_state("web", "running")

        run("umoci", "config", "--image", f"{layout}:1", "--config.env", "GREETING=two")
        arch2 = os.path.join(d.tmp, "web2.tar")
        archive(layout, f"oci-archive:{arch2}:v")
        os.unlink(arch)
        os.mkfifo(arch, 0o600)
        rep = d.ctl("reload")
        assert rep.get("Changed") == ["web"], rep
        d.wait_log(r"web: converting oci-archive:\S+web\.tar:v to an OCI layout with skopeo",
                   count=2)
        # skopeo waits for a writer on the FIFO: the old container serves.
        for _ in range(3):
            assert ask(port) == ["one"], ask(port)

        def feed():
            with open(arch2, "rb") as f, open(arch, "wb") as fifo:
                shutil.copyfileobj(f, fifo)
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        wait_for(lambda: ask(port) == ["two"], 60, "the new image's answer")
        t.join(30)
        assert d.state("web") == "running"


def test_reload_with_a_corrupt_new_archive_keeps_the_old_version():
    """Accept=no: a reload whose new archive cannot be unpacked keeps the
    running version (config, tree, container, listeners), logs why, and
    the next reload with a good archive switches to it."""
    tools()
    port = free_port()
    with images_daemon({}) as d:
        layout, arch = serve_image(d.tmp)
        path = d.write("web", f"[Socket]\nListenStream=127.0.0.1:{port}\n"
                       f"[Container]\nImage=oci-archive:{arch}:v\n"
                       "[Service]\nStopTimeoutSec=5s\n")
        d.start()
        d.wait_state("web", "stopped", timeout=60)
        assert ask(port) == ["one"]
        d.wait_state("web", "running")
        pid = d.ctl("status", "web")["MainPID"]
        old = d.ctl("status", "web")["ImageDigest"]
        assert pid > 0 and old.startswith("sha256:"), (pid, old)

        # A corrupt archive in its place (another inode: "changed").
        with open(arch, "rb") as f:
            head = f.read(5000)
        os.unlink(arch)
        with open(arch, "wb") as f:
            f.write(head)
        rep = d.ctl("reload")
        assert rep.get("Changed") == ["web"], rep
        assert ask(port) == ["one"]
        d.wait_log(re.escape(path) + r":4: Image=oci-archive:\S+web\.tar:v: skopeo cannot read "
                   r".*; keeping the running version", timeout=60)
        # The job has failed: the same container still answers.
        for _ in range(3):
            assert ask(port) == ["one"]
        st = d.ctl("status", "web")
        assert st["MainPID"] == pid and st["ImageDigest"] == old, st
        assert d.state("web") == "running"
        assert names(d) == ["web"], names(d)

        # A good new archive: the next reload tries again, and switches.
        run("umoci", "config", "--image", f"{layout}:1", "--config.env", "GREETING=two")
        tmp = os.path.join(d.tmp, "web2.tar")
        archive(layout, f"oci-archive:{tmp}:v")
        os.rename(tmp, arch)
        rep = d.ctl("reload")
        assert rep.get("Changed") == ["web"], rep
        wait_for(lambda: ask(port) == ["two"], 60, "the new image's answer")
        wait_for(lambda: d.ctl("status", "web")["ImageDigest"] not in ("", old), 30,
                 "the new digest in nsinetctl status")
        assert d.ctl("status", "web")["MainPID"] != pid


def test_reload_with_a_corrupt_layer_keeps_the_stopped_accept_service():
    """Accept=yes, no connection open: a reload whose new manifest names a
    corrupt layer (umoci fails) keeps the old version, which takes its
    listener back and answers again; a plain service is untouched; the
    next reload, with the layer whole again, switches."""
    tools()
    port, plain = free_port(), free_port()
    with images_daemon({}) as d:
        layout = make_image(d.tmp)
        path = d.write("web", image_conf(port, f"{layout}:1"))
        d.write("plain", probe_conf(f"127.0.0.1:{plain}"))
        d.start()
        d.wait_state("web", "stopped", timeout=60)
        assert ask(port)[0] == GREETING
        old = d.ctl("status", "web")["ImageDigest"]
        set_config(layout, "1", "second-version")
        new = digest(layout, "1")
        with open(os.path.join(layout, "blobs", "sha256", new[7:])) as f:
            layer = json.load(f)["layers"][0]["digest"]
        blob = os.path.join(layout, "blobs", "sha256", layer[7:])
        with open(blob, "rb") as f:
            whole = f.read()
        with open(blob, "wb") as f:
            f.write(whole[:len(whole) // 2])
        rep = d.ctl("reload")
        assert rep.get("Changed") == ["web"], rep
        d.wait_log(re.escape(path) + r":5: Image=\S+img:1: .*; keeping the running version",
                   timeout=60)
        wait_for(lambda: names(d) == ["plain", "web"] and d.state("web") == "stopped", 30,
                 f"the old web alone and stopped (now {names(d)})")
        for _ in range(3):
            assert ask(port)[0] == GREETING
        assert d.ctl("status", "web")["ImageDigest"] == old
        assert probe_stream(("127.0.0.1", plain))["pid"] == 2
        # The layer whole again: the next reload tries again, and switches.
        with open(blob, "wb") as f:
            f.write(whole)
        rep = d.ctl("reload")
        assert rep.get("Changed") == ["web"], rep
        wait_for(lambda: d.ctl("status", "web")["ImageDigest"] == new, 60,
                 "the new digest in nsinetctl status")
        wait_for(lambda: d.state("web") == "stopped", 30, "web stopped with its new image")
        assert ask(port)[0] == "second-version"


LIGHTTPD_CONF = """server.modules = ( "mod_indexfile", "mod_staticfile" )
server.systemd-socket-activation = "enable"
server.document-root = "/srv/www"
server.upload-dirs = ( "/tmp" )
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html" )
"""


def test_lighttpd_image_takes_its_socket():
    """The pattern nsinetd.conf(5) shows for images: a server that speaks
    systemd socket activation (Debian's lighttpd, its libraries copied in
    by ldd), Accept=no, its own command from the image, as its own user."""
    tools()
    lighttpd = "/usr/sbin/lighttpd"
    if not os.path.exists(lighttpd):
        raise SkipTest("lighttpd not installed (Debian package lighttpd)")
    port = free_port()
    with images_daemon({}) as d:
        def fill(etc):
            root = os.path.dirname(etc)
            copy_with_libs(lighttpd, root)
            os.makedirs(os.path.join(root, "etc", "lighttpd"))
            with open(os.path.join(root, "etc", "lighttpd", "lighttpd.conf"), "w") as f:
                f.write(LIGHTTPD_CONF)
            with open(os.path.join(root, "srv", "www", "index.html"), "w") as f:
                f.write("served from an image\n")
            with open(os.path.join(etc, "passwd"), "w") as f:
                f.write("root:x:0:0:root:/root:/bin/sh\nweb:x:1234:1234:web:/srv/www:/bin/sh\n")
        layout = make_image(d.tmp, name="lighttpd", passwd=fill)
        run("umoci", "config", "--image", f"{layout}:1", "--config.entrypoint", lighttpd,
            "--config.entrypoint", "-D", "--config.entrypoint", "-f",
            "--config.entrypoint", "/etc/lighttpd/lighttpd.conf", "--clear=config.cmd")
        d.write("web", f"[Socket]\nListenStream=127.0.0.1:{port}\n"
                f"[Container]\nImage={layout}:1\n[Service]\nStopTimeoutSec=5s\n")
        d.start()
        d.wait_state("web", "stopped", timeout=60)
        status, body = http_get("127.0.0.1", port, "/")
        assert (status, body) == (200, b"served from an image\n"), (status, body)
        d.wait_state("web", "running")
        status, body = http_get("127.0.0.1", port, "/")
        assert status == 200, status


def test_state_dir_that_cannot_be_made():
    tools()
    port, plain = free_port(), free_port()
    with images_daemon({}) as d:
        layout = make_image(d.tmp)
        blocker = os.path.join(d.tmp, "file")
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        d.args[d.args.index("--state-dir") + 1] = os.path.join(blocker, "state")
        path = d.write("web", image_conf(port, f"{layout}:1"))
        d.write("plain", probe_conf(f"127.0.0.1:{plain}"))
        d.start()
        d.wait_log(re.escape(path) + r":5: Image=\S+: cannot create \S+/file/state/images/tmp: "
                   r"Not a directory \(see --state-dir\); the service is disabled")
        wait_for(lambda: names(d) == ["plain"], 30, "the image service gone")
        assert probe_stream(("127.0.0.1", plain))["pid"] == 2


if __name__ == "__main__":
    main([test_layout_and_archives_serve_the_image_command,
          test_connections_wait_for_the_image,
          test_reload_switches_to_a_new_digest_and_removes_the_old_tree,
          test_reload_old_container_serves_while_the_new_image_is_made_ready,
          test_reload_with_a_corrupt_new_archive_keeps_the_old_version,
          test_reload_with_a_corrupt_layer_keeps_the_stopped_accept_service,
          test_corrupt_archive_is_refused_and_others_keep_serving,
          test_hostile_trees_are_refused,
          test_bundle_runs_and_names_what_it_does_not_apply,
          test_lighttpd_image_takes_its_socket,
          test_state_dir_that_cannot_be_made])
