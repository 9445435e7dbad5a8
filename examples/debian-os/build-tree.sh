#!/bin/sh
# Builds the Debian 12 tree that examples/debian-os/debian-os.conf boots, once.
#
#   examples/debian-os/build-tree.sh        prints the tree's path (building it first if needed)
#
# The tree lives outside the repository, in $NSINETD_DEBIAN_OS (default
# /var/cache/nsinetd-test/debian-os). "$NSINETD_DEBIAN_OS.stamp" is written
# only after a complete build: a tree without it (an interrupted build) is
# removed and built again; one with it is reused.
#
# mmdebstrap --variant=minbase with systemd, systemd-sysv, dbus and lighttpd,
# from the apt sources this machine has configured (about 40 s, 215 MB).
# Inside, lighttpd is socket-activated by the tree's own systemd:
#   /etc/systemd/system/lighttpd.socket    ListenStream=127.0.0.1:8099 (the
#       configuration binds its own over it: the address must be exactly
#       the one nsinetd passes, or systemd closes the passed socket);
#   /etc/lighttpd/nsinetd.conf             server.systemd-socket-activation;
#   lighttpd.service                       started by its socket only.
# Needs root (mmdebstrap's root mode) and the mmdebstrap package.
set -eu

tree=${NSINETD_DEBIAN_OS:-/var/cache/nsinetd-test/debian-os}
stamp=$tree.stamp
here=$(cd "$(dirname "$0")" && pwd)

# The stamp holds the checksum of customize.sh: a complete tree made with
# another version of it is customized again, not rebuilt.
sum=$(sha256sum "$here/customize.sh" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ -d "$tree" ]; then
	if [ "$(cat "$stamp")" != "$sum" ]; then
		[ "$(id -u)" -eq 0 ] || { echo "build-tree: run as root" >&2; exit 1; }
		sh "$here/customize.sh" "$tree"
		echo "$sum" >"$stamp"
	fi
	echo "$tree"
	exit 0
fi
command -v mmdebstrap >/dev/null || {
	echo "build-tree: mmdebstrap is missing (scripts/install-deps.sh check)" >&2
	exit 1
}
[ "$(id -u)" -eq 0 ] || { echo "build-tree: run as root" >&2; exit 1; }

rm -rf "$tree" "$stamp"
mkdir -p "$(dirname "$tree")"

# The host's apt sources: deb822 or one-line, whichever it has.
sources=
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
	[ -s "$f" ] && sources="$sources $f"
done
[ -n "$sources" ] || { echo "build-tree: no apt sources on this machine" >&2; exit 1; }
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

# shellcheck disable=SC2086 # one argument per sources file
mmdebstrap --quiet --variant=minbase \
	--include=systemd,systemd-sysv,dbus,lighttpd \
	--customize-hook="sh $here/customize.sh \"\$1\"" \
	"$suite" "$tree" $sources >&2
echo "$sum" >"$stamp"
echo "$tree"
