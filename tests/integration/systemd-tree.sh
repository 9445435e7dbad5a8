#!/bin/sh
# The Debian 12 tree that test_systemd.py boots with systemd-nspawn: made
# once by mmdebstrap from the apt sources this machine has, in CACHE (not
# in the repository), and reused while the package list below is the same.
# Prints the tree's path. Exit 75 when it cannot be made (no mmdebstrap,
# the mirror unreachable): the test skips and says why.
#
#   tests/integration/systemd-tree.sh [CACHE]    (default /var/cache/nsinetd-test)
set -eu
cache=${1:-/var/cache/nsinetd-test}
tree=$cache/debian-systemd
# systemd as pid 1 and what nsinetd links with; no procps, on purpose:
# the unit must work without /bin/kill. libasan and libubsan: make check
# installs its sanitized build too. systemd-container: systemd-machined
# and machinectl, for the Boot=yes registration test.
pkgs=systemd,systemd-sysv,dbus,systemd-container,libevent-2.1-7,libsystemd0,libcap2,libseccomp2,libinih1,libmnl0,libasan8,libubsan1
want="bookworm minbase $pkgs"

if [ -d "$tree" ] && [ "$(cat "$tree.stamp" 2>/dev/null)" = "$want" ]; then
	echo "$tree"
	exit 0
fi
if ! command -v mmdebstrap >/dev/null; then
	echo "mmdebstrap is not installed (scripts/install-deps.sh installs it)" >&2
	exit 75
fi
mkdir -p "$cache"
rm -rf "$tree" "$tree.tmp" "$tree.stamp"
if ! mmdebstrap --quiet --variant=minbase --include="$pkgs" bookworm "$tree.tmp" \
	>"$cache/debian-systemd.log" 2>&1; then
	rm -rf "$tree.tmp"
	echo "mmdebstrap failed (is the Debian mirror reachable?): $(tail -n 1 "$cache/debian-systemd.log")" >&2
	exit 75
fi
mv "$tree.tmp" "$tree"
echo "$want" >"$tree.stamp"
echo "$tree"
