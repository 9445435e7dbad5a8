#!/bin/bash
# Builds the Debian package in a copy of the tree, so that neither the
# worktree nor its parent directory gets dpkg-buildpackage's files:
#
#   scripts/deb.sh OUTDIR      -> OUTDIR/nsinetd_VERSION_ARCH.deb
#
# The copy is the files git knows (committed or not, ignored ones left out),
# in OUTDIR/src; OUTDIR is emptied first.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
command -v dpkg-buildpackage >/dev/null ||
	{ echo "deb: dpkg-buildpackage is missing (Debian: dpkg-dev debhelper)" >&2; exit 1; }
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
rm -rf "$out/src" "$out"/*.deb "$out"/*.buildinfo "$out"/*.changes
mkdir "$out/src"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar --null -T - -cf -) | tar -C "$out/src" -xf -
cd "$out/src"
# -b: binary only; -us -uc: not signed; -j: the machine's cores.
dpkg-buildpackage -b -us -uc -j"$(nproc)" >"$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	echo "deb: dpkg-buildpackage failed, the whole log is $out/build.log" >&2
	exit 1
}
ls "$out"/*.deb
