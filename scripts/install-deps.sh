#!/bin/sh
# Installs the Debian packages nsinetd needs to build, test, demo and bench.
# Only what is missing is installed; "apt-get update" runs once, and only
# when something has to be installed.
#
#   scripts/install-deps.sh [build|deb|check|bench]   (default: check)
set -eu

# pandoc renders the man pages (docs/meson.build); musl-tools builds
# nsinetd-init against musl (supervisor/meson.build: glibc's start-up costs
# 0.3-0.4 ms per container here).
build="gcc meson ninja-build pkg-config libevent-dev libsystemd-dev libcap-dev
       libseccomp-dev libinih-dev libmnl-dev pandoc musl-tools"
# make deb: dpkg-buildpackage and dh; lintian checks the result
# (tests/integration/test_package.py).
deb="$build dpkg-dev debhelper lintian"
# Real services and peers used by the integration tests and the demo;
# clang and its libFuzzer runtime (libclang_rt.fuzzer) for scripts/fuzz.sh;
# systemd for busctl, a D-Bus client of the control socket.
# prometheus for promtool and a real server (tests/integration/test_metrics.py).
# haproxy: a real balancer following --agent (test_agent.py), and in front
# of three hosts (test_haproxy.py).
# Image= (supervisor/image.c) runs umoci and skopeo; tests/integration/test_image.py
# builds its image with umoci from busybox (its libraries copied in, if any);
# buildah for building images by hand.
# mmdebstrap and systemd-container: a Debian tree booted by systemd-nspawn
# with nsinetd installed in it (test_systemd.py, and test_nested_boot.py with
# machined inside), the tree that test_boot.py boots
# (examples/debian-os/build-tree.sh); nspawn is bench/boot's peer too.
# python3-yaml reads the Kubernetes manifests (tests/integration/test_deploy.py).
check="$deb python3-yaml curl iproute2 lighttpd python3 python3-gunicorn clang-format busybox git
       clang libclang-rt-14-dev systemd prometheus haproxy
       umoci skopeo buildah mmdebstrap systemd-container"
# Peers measured side by side in bench/.
bench="$check bubblewrap systemd-container systemd xinetd ucspi-tcp wrk
       hyperfine strace"

case "${1:-check}" in
build) want=$build ;;
deb) want=$deb ;;
check) want=$check ;;
bench) want=$bench ;;
*) echo "usage: $0 [build|deb|check|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root, or: apt-get install$missing" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# lighttpd and xinetd ship services; policy-rc.d keeps their postinst from
# starting them, so that installing changes nothing that runs on the host.
prc=/usr/sbin/policy-rc.d
made_prc=0
if [ ! -e $prc ]; then
	printf '#!/bin/sh\nexit 101\n' >$prc && chmod 755 $prc && made_prc=1
fi
rc=0
apt-get install -y -qq --no-install-recommends $missing || rc=$?
[ $made_prc = 1 ] && rm -f $prc
exit $rc
