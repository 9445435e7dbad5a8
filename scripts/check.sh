#!/bin/sh
# Runs every test (unit and integration) on the normal build, then again on
# an ASan+UBSan build, then fuzzes the configuration parser for FUZZ_SECONDS
# (default 60; scripts/fuzz.sh, build dir FUZZ_BUILD), and ends with one
# line: "N passed, N failed, N skipped".
set -u
build=${1:-build}
asan=${2:-build-asan}
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src" || exit 1

status=0
meson test -C "$build" --print-errorlogs --num-processes 2 || status=1

if [ ! -f "$asan/build.ninja" ]; then
	meson setup "$asan" -Dwerror=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debug >/dev/null || exit 1
fi
ninja -C "$asan" >/dev/null || exit 1
# Unit tests and the integration tests, on the sanitized daemon; not the
# Debian package, which is built from the sources as in the plain pass, nor
# the heavy suite (test_nested_boot.py: a booted system booting another,
# whose daemon's side test_boot.py and test_systemd.py also run here).
# The idle test's 20 freeze/thaw and stop/start cycles take a minute: the
# sanitized pass runs 5 of each (the same code paths).
NSINETD_TEST_CYCLES=5 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C "$asan" --print-errorlogs --num-processes 2 --no-suite package --no-suite heavy || status=1

# One line of its own: "fuzz-config: ok: ..." or "fuzz-config: FAILED: ...".
scripts/fuzz.sh "${FUZZ_SECONDS:-60}" || status=1

/usr/bin/python3 scripts/test-summary.py "$build/meson-logs/testlog.json" \
	"$asan/meson-logs/testlog.json" || status=1
exit $status
