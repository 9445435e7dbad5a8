#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scripts/fuzz.sh [SECONDS]   (make fuzz SECONDS=N; make check runs 60 s)
#
# Fuzzes the configuration parser (tests/fuzz/fuzz-config.c) with libFuzzer
# for SECONDS (default 60), in a build directory of its own, FUZZ_BUILD
# (default build-fuzz): clang, ASan and UBSan (any report aborts), every
# library instrumented for coverage. The normal build never needs clang.
#
# Seeds: every *.conf* under examples/ and configs/, and tests/fuzz/corpus/
# (configs the tests write). What the fuzzer finds new is kept in
# FUZZ_BUILD/fuzz/corpus/ for the next run; a failing input is written to
# FUZZ_BUILD/fuzz/artifacts/, and the script prints how to rerun it. The
# whole libFuzzer output is in FUZZ_BUILD/fuzz/fuzz.log.
#
# Prints one line, "fuzz-config: ok: ..." or "fuzz-config: FAILED: ...",
# and exits non-zero on a crash, a leak, a timeout or a build failure.
set -u

seconds=${1:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src" || exit 1
fb=${FUZZ_BUILD:-build-fuzz}
name=fuzz-config
work=$fb/fuzz
bin=$fb/tests/$name

case $seconds in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac

fail() {
	echo "$name: FAILED: $*"
	exit 1
}

cc=${FUZZ_CC:-clang}
command -v "$cc" >/dev/null ||
	fail "no $cc (Debian: clang libclang-rt-14-dev; scripts/install-deps.sh check)"

mkdir -p "$work"
if [ ! -f "$fb/build.ninja" ]; then
	# -fno-sanitize-recover: a UBSan report is a crash, with an artifact.
	# No -Dwerror: clang warns where gcc does not, in code this target
	# only links; the gcc build is the one held to -Werror.
	if ! CC=$cc meson setup "$fb" -Dfuzz=true -Dintegration=false \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
		"-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" \
		>"$work/setup.log" 2>&1; then
		cat "$work/setup.log" >&2
		# So that the next run configures afresh.
		rm -rf "$fb/meson-private" "$fb/meson-info"
		fail "meson setup $fb (log above)"
	fi
fi
if ! ninja -C "$fb" "tests/$name" >"$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	fail "ninja -C $fb tests/$name (log above)"
fi

# The seeds, afresh each run; the corpus the fuzzer grows stays.
rm -rf "$work/seed"
mkdir -p "$work/seed" "$work/corpus" "$work/artifacts"
find examples configs tests/fuzz/corpus -type f -name '*.conf*' | while read -r f; do
	cp "$f" "$work/seed/$(echo "$f" | tr / _)"
done

# A dictionary from the parser's own table of keys, so that it follows
# the parser: "[Section]" and "Key=" tokens, and a few values.
{
	for s in Socket Container Service; do
		printf '"[%s]"\n' "$s"
	done
	sed -n -e 's/^ *{"\(Socket\|Container\|Service\)", "\([A-Za-z0-9]*\)",.*/"\2="/p' \
		-e 's/^ *LIMIT("\([A-Z]*\)",.*/"Limit\1="/p' supervisor/config.c
	for v in yes no infinity default pick none host veth shared-empty netns: '@system-service' \
		'~' CAP_SYS_ADMIN :ro 127.0.0.1: '[::1]:' / '\x0a' '\x0d\x0a' '\xef\xbb\xbf'; do
		printf '"%s"\n' "$v"
	done
} >"$work/config.dict"
keys=$(grep -c '="$' "$work/config.dict")
[ "$keys" -gt 10 ] ||
	echo "$name: warning: only $keys keys found in supervisor/config.c for the dictionary" >&2

# -max_len: past CONFIG_MAX_LINE (4096), so that the long-line paths run.
"$bin" -max_total_time="$seconds" -max_len=10000 -timeout=10 -print_final_stats=1 \
	-dict="$work/config.dict" -artifact_prefix="$work/artifacts/" \
	"$work/corpus" "$work/seed" >"$work/fuzz.log" 2>&1
rc=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n1)
inputs=$(find "$work/corpus" -type f | wc -l)
if [ "$rc" -eq 0 ]; then
	echo "$name: ok: ${runs:-?} runs in ${seconds}s, no crash (corpus: $inputs inputs in $work/corpus)"
	exit 0
fi
artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/fuzz.log" | tail -n1)
# The sanitizer's report, for the log of make check.
grep -E -A25 '^==[0-9]+==ERROR|runtime error|^fuzz-config:|ERROR: libFuzzer' \
	"$work/fuzz.log" | head -n 40 >&2
if [ -n "$artifact" ]; then
	fail "exit $rc after ${runs:-?} runs: $artifact; rerun: $bin $artifact (full log: $work/fuzz.log)"
fi
fail "exit $rc, no artifact (full log: $work/fuzz.log)"
