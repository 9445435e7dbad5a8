#!/usr/bin/python3
"""Docs that work when copied: every configuration snippet of README.md,
docs/*.md and examples/ passes `nsinetd --check`.

What is a snippet (docs/nsinetd.conf.5.md, "FILE FORMAT", says it too):

- a fenced block marked ```ini in a Markdown file of README.md, docs/ or
  examples/: the ini marker is kept for nsinetd service files (another
  INI-like format gets another marker);
- a service file of examples/ (*.conf, *.conf.in, with @SRCDIR@ and
  @BUILDDIR@ replaced as scripts/demo.sh does, @TREE@ by the booted
  Debian's tree or an empty directory) and of configs/nsinetd/
  (*.conf.example).

A block is checked as a user who copies it into a file has it: a block
without a [Section] line (the key lines that illustrate one key) goes into
the section named by the nearest heading above it that names one
([Socket], [Container], [Service]); a block under no such heading needs
its own section line, or the test fails. What the file then lacks to be a
service (a ListenStream=, an Exec=) is added after the block; a whole
file has both and is checked as it is.

Each snippet is checked alone, in a directory of its own, as NAME.conf (the
name of a first comment line "# /etc/nsinetd/NAME.conf", else snippet).
The test fails, naming the file and line of the block and nsinetd's
message, if any snippet fails. It needs no root: --check only reads.
"""
import atexit
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nsitest import BUILD, NSINETD, SRC, TAP, Failed  # noqa: E402

SECTION = re.compile(r"^\s*\[(Socket|Container|Service)\]\s*$", re.M)
HEADING_SECTION = re.compile(r"^#+ .*\[(Socket|Container|Service)\]")
NAME_COMMENT = re.compile(r"^#\s*/etc/nsinetd/([A-Za-z0-9_.@-]+)\.conf\b")


def markdown_files(src):
    files = [os.path.join(src, "README.md")]
    files += sorted(glob.glob(os.path.join(src, "docs", "*.md")))
    files += sorted(glob.glob(os.path.join(src, "examples", "**", "*.md"), recursive=True))
    return [f for f in files if os.path.isfile(f)]


def markdown_snippets(path):
    """[(where, text, section)]: every ```ini block of path, with the
    section of the heading above it (None if there is none)."""
    out, block, start, section, fence = [], None, 0, None, None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines, 1):
        stripped = line.strip()
        if block is None:
            m = HEADING_SECTION.match(line)
            if m:
                section = m.group(1)
            elif line.startswith("#") and not line.startswith("#!") and \
                    re.match(r"^#+ ", line):
                # A heading that names no section ends the last one's reach
                # only at its own level or above: "### ListenStream=" under
                # "## [Socket] SECTION" stays in [Socket].
                level = len(line) - len(line.lstrip("#"))
                if level <= 2:
                    section = None
            m = re.match(r"^(`{3,}|~{3,})\s*(\S*)", stripped)
            if m:
                fence = m.group(1)
                block = [] if m.group(2).lower() == "ini" else False
                start = i
            continue
        if stripped.startswith(fence[0] * len(fence)) and stripped.strip(fence[0]) == "":
            if block is not False:
                out.append((f"{os.path.relpath(path, SRC)}:{start}", "\n".join(block) + "\n",
                            section))
            block = None
            continue
        if block is not False:
            block.append(line)
    if block not in (None, False):
        raise Failed(f"{os.path.relpath(path, SRC)}:{start}: ```ini block never closed")
    return out


def file_snippets(src, build):
    out = []
    pats = [os.path.join(src, "examples", "**", "*.conf"),
            os.path.join(src, "examples", "**", "*.conf.in"),
            os.path.join(src, "configs", "nsinetd", "*.conf.example")]
    for pat in pats:
        for path in sorted(glob.glob(pat, recursive=True)):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            # examples/lighttpd/lighttpd.conf is lighttpd's, not ours.
            if not SECTION.search(text):
                continue
            text = text.replace("@SRCDIR@", os.path.realpath(src))
            text = text.replace("@BUILDDIR@", os.path.realpath(build))
            if "@TREE@" in text:
                text = text.replace("@TREE@", debian_os_tree())
            out.append((os.path.relpath(path, SRC), text, None))
    return out


def debian_os_tree():
    """The tree examples/debian-os/build-tree.sh makes, where it is built;
    else an empty directory in its place (--check reads the tree's socket
    units if there are any)."""
    tree = os.environ.get("NSINETD_DEBIAN_OS", "/var/cache/nsinetd-test/debian-os")
    if os.path.isfile(tree + ".stamp") and os.path.isdir(tree):
        return tree
    empty = tempfile.mkdtemp(prefix="nsitest-tree-")
    atexit.register(shutil.rmtree, empty, True)
    return empty


def complete(where, text, section):
    """A service file made of the block: a block without a [Section] line
    goes into its heading's section; then what a service still lacks (a
    ListenStream=, an Exec=) is added after it, as a user who copies the
    block into a file of theirs has it."""
    if not SECTION.search(text):
        if not section:
            raise Failed(f"{where}: a fragment (no [Section] line) under no heading that "
                         "names its section: add the section line to the block")
        text = f"[{section}]\n" + text
    text = text.rstrip("\n") + "\n"
    if not re.search(r"^\s*Listen(Stream|Datagram|SequentialPacket)=\S", text, re.M):
        text += "\n[Socket]\nListenStream=127.0.0.1:1\n"
    if not re.search(r"^\s*Exec=\S", text, re.M):
        text += "\n[Container]\nExec=/bin/true\n"
    return text


def stand_in_layout(tmp, tag):
    """An OCI image layout with one manifest tagged tag, its config naming
    a command (what --check reads of a layout; no layer)."""
    import hashlib
    import json
    d = tempfile.mkdtemp(dir=tmp, prefix="layout-")
    blobs = os.path.join(d, "blobs", "sha256")
    os.makedirs(blobs)

    def blob(doc):
        data = json.dumps(doc).encode()
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    config = blob({"architecture": "amd64", "os": "linux",
                   "config": {"Cmd": ["/bin/true"], "WorkingDir": "/"},
                   "rootfs": {"type": "layers", "diff_ids": []}})
    manifest = blob({"schemaVersion": 2,
                     "mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
                     "layers": []})
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [dict(
            manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
            annotations={"org.opencontainers.image.ref.name": tag})]}, f)
    return d


def with_stand_in_images(text, tmp):
    """An Image= of the layout form names the user's own image, which
    --check reads: a stand-in layout with the same tag takes its place, so
    that the rest of the snippet is checked."""
    def swap(m):
        path, _, tag = m.group(2).partition(":")
        if os.path.exists(path):
            return m.group(0)
        return m.group(1) + stand_in_layout(tmp, tag or "latest") + ":" + (tag or "latest")
    return re.sub(r"^(\s*Image=)(/[^\s]*)$", swap, text, flags=re.M)


def check(where, text, section, tmp):
    text = with_stand_in_images(complete(where, text, section), tmp)
    first = text.lstrip().split("\n", 1)[0]
    m = NAME_COMMENT.match(first)
    name = m.group(1) if m else "snippet"
    d = tempfile.mkdtemp(dir=tmp)
    with open(os.path.join(d, name + ".conf"), "w") as f:
        f.write(text)
    r = subprocess.run([NSINETD, "--check", "--config-dir", d], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0 or "configuration OK (1 service)" not in r.stdout:
        msg = (r.stderr + r.stdout).strip().replace(os.path.join(d, name + ".conf"),
                                                    f"{where} ({name}.conf)")
        return f"{where}: nsinetd --check failed (exit {r.returncode}):\n" + \
            "\n".join("    " + l for l in msg.splitlines()) + \
            "\n  the snippet as checked:\n" + \
            "\n".join("    | " + l for l in text.rstrip("\n").splitlines())
    return None


def all_snippets(src=SRC, build=BUILD):
    snippets = []
    for path in markdown_files(src):
        snippets += markdown_snippets(path)
    snippets += file_snippets(src, build)
    return snippets


def test_every_snippet_checks():
    snippets = all_snippets()
    # The README's first example, the manual's examples and the example
    # services at least: a test that found nothing would prove nothing.
    wheres = {w.split(":")[0] for w, _, _ in snippets}
    for must in ("README.md", "docs/nsinetd.conf.5.md", "examples/hello-c/hello-c.conf.in"):
        if must not in wheres:
            raise Failed(f"no snippet found in {must} (found: {sorted(wheres)})")
    failures = []
    with tempfile.TemporaryDirectory(prefix="nsitest-docs-") as tmp:
        for where, text, section in snippets:
            err = check(where, text, section, tmp)
            if err:
                failures.append(err)
    print(f"# {len(snippets)} snippets checked, {len(failures)} failed", flush=True)
    if failures:
        raise Failed("\n".join(failures).replace("\n", "\n#   "))


def test_a_broken_snippet_fails():
    """The check itself: the README's first example with an end-of-line
    comment (what it once had) must fail, naming the key."""
    readme = [s for s in all_snippets() if s[0].startswith("README.md:")]
    if not readme:
        raise Failed("no ```ini block in README.md")
    where, text, section = readme[0]
    broken = re.sub(r"^(IdleFreezeSec=\S+)$", r"\1      # frozen after 30 s", text, count=1,
                    flags=re.M)
    if broken == text:
        raise Failed(f"{where}: no IdleFreezeSec= line to break")
    with tempfile.TemporaryDirectory(prefix="nsitest-docs-") as tmp:
        err = check(where, broken, section, tmp)
    if not err or "IdleFreezeSec=" not in err or "comment" not in err:
        raise Failed(f"a broken snippet was not reported with its key and a hint: {err}")


def main():
    tap = TAP()
    tap.run(test_every_snippet_checks)
    tap.run(test_a_broken_snippet_fails)
    tap.done()


if __name__ == "__main__":
    main()
