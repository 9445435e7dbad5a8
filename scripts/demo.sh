#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scripts/demo.sh [BUILD_DIR]   (make demo)
#
# Runs nsinetd on the examples in examples/*/ : writes a configuration
# directory from examples/*/*.conf.in, starts the daemon, and asks each
# service for a page with curl. The first request to a service is what starts
# its container; a second one shows the warm path.
#
# On a terminal it then leaves the daemon running until Ctrl-C. Otherwise, or
# with DEMO_ONESHOT=1, it stops the daemon with SIGTERM and exits 0 only if
# every request got its answer and the daemon stopped cleanly.
#
# Needs root (namespaces, cgroups) and curl. Everything it creates is under
# one mktemp directory in /tmp, removed on exit, whatever happens.

set -u

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
if ! build=$(cd "$build" 2>/dev/null && pwd); then
	echo "demo: no build directory '${1:-build}' (run: meson setup build && ninja -C build)" >&2
	exit 1
fi
nsinetd=$build/supervisor/nsinetd
nsinetctl=$build/ctl/nsinetctl
start_timeout=${DEMO_START_TIMEOUT:-10}   # seconds for the daemon to listen
stop_timeout=${DEMO_STOP_TIMEOUT:-30}     # seconds for it to stop on SIGTERM

say() { printf '\n==> %s\n' "$*"; }
indent() { sed 's/^/    /'; }

if [ ! -x "$nsinetd" ]; then
	echo "demo: $nsinetd is missing: build first (ninja -C $build)" >&2
	exit 1
fi
if ! command -v curl >/dev/null; then
	echo "demo: curl is needed (apt-get install curl)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "demo: warning: not root; nsinetd needs root to create namespaces" >&2
fi

tmp=$(mktemp -d /tmp/nsinetd-demo.XXXXXX) || exit 1
confdir=$tmp/conf
rundir=$tmp/run
log=$tmp/nsinetd.log
mkdir -p "$confdir" "$rundir"
daemon_pid=
tail_pid=

# Stops what this script started, by pid only, and removes the temp dir.
# shellcheck disable=SC2317  # invoked by the traps
cleanup() {
	local i
	trap - EXIT INT TERM
	if [ -n "$tail_pid" ]; then
		kill "$tail_pid" 2>/dev/null
		wait "$tail_pid" 2>/dev/null
	fi
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		echo "demo: stopping nsinetd (pid $daemon_pid)"
		kill -TERM "$daemon_pid" 2>/dev/null
		for ((i = 0; i < stop_timeout * 10; i++)); do
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$daemon_pid" 2>/dev/null; then
			echo "demo: nsinetd did not stop in ${stop_timeout}s, killing it" >&2
			kill -KILL "$daemon_pid" 2>/dev/null
		fi
		wait "$daemon_pid" 2>/dev/null
		echo "demo: nsinetd exited with status $?"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Is 127.0.0.1:PORT a listening TCP socket? Read from /proc/net/tcp rather
# than by connecting: a connection would start the container.
port_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A " /proc/net/tcp
}

# --- the configuration ------------------------------------------------------

# The highest directory on the way to $1 (itself included) that users other
# than root cannot search, if any.
closed_ancestor() {
	local d="" part rest=${1#/}
	while [ -n "$rest" ]; do
		part=${rest%%/*}
		[ "$part" = "$rest" ] && rest="" || rest=${rest#*/}
		d="$d/$part"
		if [ "$(( $(stat -c '0%a' "$d") & 1 ))" = 0 ]; then
			echo "$d"
			return
		fi
	done
}

# The examples use files of the source and build trees. A container's root
# is an unprivileged uid of the host (a user namespace by default): a tree
# below a directory it cannot search (a clone in /root) is bound into a
# tmpfs of the container's own there; one below /tmp (the container's own)
# is bound in as well.
reach_lines() {
	local d closed seen=""
	echo "[Container]"
	for d in "$src" "$build"; do
		closed=$(closed_ancestor "$d")
		case $d in
		/tmp/* | /run/*) ;;
		*) [ -z "$closed" ] && continue ;;
		esac
		if [ -n "$closed" ] && [ "${d#/tmp/}" = "$d" ] && [ "${d#/run/}" = "$d" ]; then
			case " $seen " in
			*" $closed "*) ;;
			*)
				echo "TemporaryFileSystem=$closed"
				seen="$seen $closed"
				;;
			esac
		fi
		echo "BindReadOnly=$d:$d"
	done
}

say "Writing the configuration to $confdir"
names=()
ports=()
for in in "$src"/examples/*/*.conf.in; do
	name=$(basename "$in" .conf.in)
	port=$(sed -n 's/^ListenStream=127\.0\.0\.1:\([0-9]*\)$/\1/p' "$in" | head -n1)
	exec_line=$(sed -n 's/^Exec=//p' "$in" | head -n1)
	# An example whose server is not installed is left out, not failed.
	case $name in
	lighttpd)
		if [ ! -x /usr/sbin/lighttpd ]; then
			echo "  $name: skipped, /usr/sbin/lighttpd is not installed"
			continue
		fi
		;;
	gunicorn)
		if ! /usr/bin/python3 -c 'import gunicorn' 2>/dev/null; then
			echo "  $name: skipped, python3-gunicorn is not installed"
			continue
		fi
		;;
	debian-os)
		# A booted Debian: only when its tree is built (about 40 s and
		# a Debian mirror: examples/debian-os/build-tree.sh).
		tree=${NSINETD_DEBIAN_OS:-/var/cache/nsinetd-test/debian-os}
		if [ ! -f "$tree.stamp" ]; then
			echo "  $name: skipped, no Debian tree at $tree (examples/debian-os/build-tree.sh builds it)"
			continue
		fi
		;;
	esac
	if [ -z "$port" ]; then
		echo "  $name: skipped, no ListenStream=127.0.0.1:PORT line in $in" >&2
		continue
	fi
	if port_listening "$port"; then
		echo "demo: 127.0.0.1:$port ($name) is already in use; stop what listens there" >&2
		exit 1
	fi
	{
		sed -e "s|@SRCDIR@|$src|g" -e "s|@BUILDDIR@|$build|g" \
			-e "s|@TREE@|${NSINETD_DEBIAN_OS:-/var/cache/nsinetd-test/debian-os}|g" "$in"
		# A booted tree reads nothing of the host's trees from its
		# services (its socket unit is bound in by the host's root).
		[ "$name" = debian-os ] || reach_lines
	} >"$confdir/$name.conf"
	names+=("$name")
	ports+=("$port")
	printf '  %-12s 127.0.0.1:%-5s  %s\n' "$name" "$port" \
		"$(echo "$exec_line" | sed -e "s|@SRCDIR@/||g" -e "s|@BUILDDIR@/||g")"
done
if [ ${#names[@]} -eq 0 ]; then
	echo "demo: no example to run" >&2
	exit 1
fi

# --- the daemon -------------------------------------------------------------

say "Starting: $nsinetd --config-dir $confdir --runtime-dir $rundir"
"$nsinetd" --config-dir "$confdir" --runtime-dir "$rundir" >"$log" 2>&1 </dev/null &
daemon_pid=$!
echo "  nsinetd pid $daemon_pid; log: $log"

for ((i = 0; ; i++)); do
	missing=0
	for port in "${ports[@]}"; do
		port_listening "$port" || missing=$((missing + 1))
	done
	[ "$missing" -eq 0 ] && break
	if ! kill -0 "$daemon_pid" 2>/dev/null; then
		wait "$daemon_pid"
		echo "demo: nsinetd exited (status $?) before listening; its log:" >&2
		indent <"$log" >&2
		daemon_pid=
		exit 1
	fi
	if [ "$i" -ge $((start_timeout * 10)) ]; then
		echo "demo: after ${start_timeout}s, $missing port(s) still not listening; nsinetd log:" >&2
		indent <"$log" >&2
		exit 1
	fi
	sleep 0.1
done
echo "  listening on ${#ports[@]} port(s); no container runs yet"

# --- the requests -------------------------------------------------------------

failed=0
for idx in "${!names[@]}"; do
	name=${names[$idx]}
	url=http://127.0.0.1:${ports[$idx]}/
	say "$name: curl -sS $url   (cold: this request starts the container)"
	if meta=$(curl -sS --max-time 30 -o "$tmp/body" -w '%{http_code} %{time_total}' "$url"); then
		code=${meta%% *}
		indent <"$tmp/body"
		if [ "$code" = 200 ]; then
			warm=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code} %{time_total}' "$url")
			echo "  HTTP $code in ${meta#* }s cold; again (warm, same container): ${warm#* }s"
		else
			echo "  FAILED: HTTP $code"
			failed=$((failed + 1))
		fi
	else
		echo "  FAILED: curl could not get $url"
		failed=$((failed + 1))
	fi
done

say "nsinetctl list   (the control socket: what runs, since when, its cold start)"
"$nsinetctl" --runtime-dir "$rundir" list | indent || failed=$((failed + 1))

say "nsinetd's log so far"
indent <"$log"
printed_lines=$(wc -l <"$log")

# --- interactive, or stop ---------------------------------------------------

if [ -t 0 ] && [ "${DEMO_ONESHOT:-0}" != 1 ]; then
	say "nsinetd is running; try:"
	for idx in "${!names[@]}"; do
		echo "    curl http://127.0.0.1:${ports[$idx]}/      # ${names[$idx]}"
	done
	echo "    $nsinetctl --runtime-dir $rundir status ${names[0]}"
	echo "    $nsinetctl --runtime-dir $rundir shell ${names[0]}"
	echo "  Its log follows. Press Ctrl-C to stop (nsinetd gets SIGTERM and stops every container)."
	# $! is tail's own pid this way (not a pipeline's last command).
	tail -n 0 -f "$log" --pid="$daemon_pid" > >(indent) &
	tail_pid=$!
	wait "$daemon_pid"
	status=$?
	daemon_pid=
	echo "demo: nsinetd exited by itself with status $status" >&2
	exit 1
fi

say "Stopping nsinetd with SIGTERM (containers get their KillSignal= first)"
kill -TERM "$daemon_pid"
for ((i = 0; i < stop_timeout * 10; i++)); do
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$daemon_pid" 2>/dev/null; then
	echo "  FAILED: nsinetd still running after ${stop_timeout}s, killing it"
	kill -KILL "$daemon_pid"
	failed=$((failed + 1))
fi
wait "$daemon_pid"
status=$?
daemon_pid=
echo "  nsinetd exited with status $status; its log since:"
tail -n +$((printed_lines + 1)) "$log" | indent
if [ "$status" -ne 0 ]; then
	failed=$((failed + 1))
fi

if [ "$failed" -eq 0 ]; then
	say "demo OK: ${#names[@]} service(s) answered, nsinetd stopped cleanly"
	exit 0
fi
say "demo FAILED: $failed problem(s), see above"
exit 1
