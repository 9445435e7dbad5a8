#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/mutants.sh [NAME...]   (by hand, as root; not part of make check)
#
# Mutation testing of the sandbox: applies each mutant of tests/mutants.list
# (or MUTANTS_LIST=FILE), one at a time, to a scratch copy of the tree,
# builds it and runs the mutant's tests. A mutant is killed when a subtest
# that passes on the unchanged copy fails (or goes missing) with it; it
# survives when every such subtest still passes. With NAMEs, only those
# mutants run.
#
# The copy is a `git worktree add` of HEAD in a temporary directory, with
# the uncommitted changes to tracked files applied (untracked files are not
# copied), built in its own build directory; it is removed at the end
# (MUTANTS_KEEP=1 keeps it, with every build and test log).
#
# One line per mutant: killed (with the first subtest that killed it;
# MUTANTS_VERBOSE=1 lists them all), SURVIVED, or BROKEN.
#
# Exits 0 if every mutant was killed; 1 if one survived or did not build;
# 2 if the list is stale (an anchor not found where it says: update
# tests/mutants.list) or malformed, before anything is built.

set -u

src=$(cd "$(dirname "$0")/.." && pwd)
list=${MUTANTS_LIST:-$src/tests/mutants.list}
me=mutants

die() {
	echo "$me: $*" >&2
	exit 2
}

[ -r "$list" ] || die "cannot read $list"

# --- the list ---------------------------------------------------------------

names=() files=() anchors=() replaces=() counts=() tests=() whys=()
entry_name="" entry_file="" entry_anchor="" entry_replace="" entry_count=1
entry_tests="" entry_why="" have_replace=0 lineno=0 entry_line=0

end_entry() {
	[ -z "$entry_name$entry_file$entry_anchor$entry_tests" ] && return
	[ -n "$entry_name" ] || die "$list:$entry_line: an entry without name:"
	for k in file anchor tests; do
		v="entry_$k"
		[ -n "${!v}" ] || die "$list:$entry_line: $entry_name: no $k:"
	done
	[ $have_replace = 1 ] || die "$list:$entry_line: $entry_name: no replace:"
	for n in "${names[@]}"; do
		[ "$n" != "$entry_name" ] || die "$list:$entry_line: $entry_name: a second entry of that name"
	done
	names+=("$entry_name") files+=("$entry_file") anchors+=("$entry_anchor")
	replaces+=("$entry_replace") counts+=("$entry_count") tests+=("$entry_tests")
	whys+=("$entry_why")
	entry_name="" entry_file="" entry_anchor="" entry_replace="" entry_count=1
	entry_tests="" entry_why="" have_replace=0
}

while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	case $line in
	'#'*) continue ;;
	'')
		end_entry
		continue
		;;
	esac
	[ -z "$entry_name$entry_file$entry_anchor$entry_tests" ] && entry_line=$lineno
	key=${line%%:*}
	[ "$key" != "$line" ] || die "$list:$lineno: expected 'key: value', got '$line'"
	value=${line#*:}
	value=${value#"${value%%[![:space:]]*}"} # leading blanks
	case $key in
	name) entry_name=$value ;;
	file) entry_file=$value ;;
	anchor) entry_anchor=$value ;;
	replace)
		entry_replace=$value
		have_replace=1
		;;
	count)
		case $value in '' | *[!0-9]*) die "$list:$lineno: count: '$value' is not a number" ;; esac
		entry_count=$value
		;;
	tests) entry_tests=$value ;;
	why) entry_why=$value ;;
	*) die "$list:$lineno: unknown key '$key'" ;;
	esac
done <"$list"
end_entry
[ ${#names[@]} -gt 0 ] || die "no mutant in $list"

# Which ones: all, or those named.
selected=()
if [ $# -eq 0 ]; then
	selected=("${!names[@]}")
else
	for want in "$@"; do
		found=
		for i in "${!names[@]}"; do
			[ "${names[$i]}" = "$want" ] && found=$i
		done
		[ -n "$found" ] || die "no mutant named '$want' in $list"
		selected+=("$found")
	done
fi

# Every anchor where the list says, before anything is built: a stale list
# is one message per entry, not a build of a tree that was not mutated.
stale=0
for i in "${selected[@]}"; do
	f=$src/${files[$i]}
	if [ ! -f "$f" ]; then
		echo "$me: ${names[$i]}: ${files[$i]} does not exist: update tests/mutants.list" >&2
		stale=1
		continue
	fi
	n=$(grep -cF -- "${anchors[$i]}" "$f")
	if [ "$n" -eq 0 ]; then
		echo "$me: ${names[$i]}: anchor not found in ${files[$i]}: update tests/mutants.list" >&2
		echo "$me:   anchor: ${anchors[$i]}" >&2
		stale=1
	elif [ "$n" -ne "${counts[$i]}" ]; then
		echo "$me: ${names[$i]}: anchor found on $n lines of ${files[$i]}, expected" \
			"${counts[$i]}: update tests/mutants.list" >&2
		stale=1
	fi
done
[ $stale = 0 ] || exit 2

if [ "$(id -u)" != 0 ]; then
	echo "$me: the tests need root (namespaces, cgroups)" >&2
	exit 2
fi

# --- the scratch tree ---------------------------------------------------------

tmp=$(mktemp -d /tmp/nsinetd-mutants.XXXXXX) || exit 2
# The build tree is bound into containers whose root is a PrivateUsers= uid
# or nobody: they must reach it.
chmod 755 "$tmp"
tree=$tmp/tree
build=$tree/build-mutants

# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
	trap - EXIT INT TERM
	if [ "${MUTANTS_KEEP:-0}" = 1 ]; then
		echo "$me: kept $tmp (remove it with: git -C $src worktree remove --force $tree; rm -rf $tmp)"
		return
	fi
	git -C "$src" worktree remove --force "$tree" 2>/dev/null
	rm -rf "$tmp"
	git -C "$src" worktree prune 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

head=$(git -C "$src" rev-parse --short HEAD) || exit 2
git -C "$src" worktree add --detach "$tree" HEAD >"$tmp/worktree.log" 2>&1 || {
	cat "$tmp/worktree.log" >&2
	die "git worktree add failed"
}
what="$head"
git -C "$src" diff HEAD --binary >"$tmp/uncommitted.diff"
if [ -s "$tmp/uncommitted.diff" ]; then
	git -C "$tree" apply --whitespace=nowarn "$tmp/uncommitted.diff" ||
		die "cannot apply the uncommitted changes to the copy"
	what="$head with uncommitted changes"
fi

echo "$me: ${#selected[@]} mutant(s) from ${list#"$src"/}, on $what, in $tree"
if ! { meson setup "$build" "$tree" -Dwerror=true && ninja -C "$build" -j2; } >"$tmp/build.log" 2>&1; then
	tail -n 30 "$tmp/build.log" >&2
	die "the unchanged copy does not build"
fi

# meson's test log as "TEST<TAB>KEY<TAB>STATE<TAB>DESCRIPTION" lines, STATE
# being ok, skip or fail; a test with no TAP line gives one line with
# meson's result. A subtest is known by its test and its description
# (KEY: without "# SKIP ..." and with every number as N, for the pids and
# timings some hold; a second one alike gets "#2"), not by its number,
# which shifts when a test runs fewer rows.
run_tests() { # OUT TEST...
	local out=$1
	shift
	rm -f "$build/meson-logs/testlog.json"
	meson test -C "$build" --no-rebuild --num-processes 1 "$@" >"$out.log" 2>&1
	/usr/bin/python3 - "$build/meson-logs/testlog.json" >"$out" <<'EOF'
import json, re, sys
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    t = json.loads(line)
    name = t["name"].split(" / ")[-1]
    seen = {}
    for l in (t.get("stdout") or "").splitlines():
        m = re.match(r"(not ok|ok) \d+(?: - )?(.*)", l)
        if not m:
            continue
        state = "fail" if m[1] == "not ok" else ("skip" if "# SKIP" in m[2] else "ok")
        key = re.sub(r"\d+", "N", m[2].split(" # SKIP")[0]).replace("\t", " ")
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key += f" #{seen[key]}"
        print(f"{name}\t{key}\t{state}\t{m[2]}")
    if not seen:
        print(f"{name}\tmeson\t{'ok' if t['result'] == 'OK' else 'fail'}\tmeson: {t['result']}")
EOF
}

# The union of every selected mutant's tests, on the unchanged copy.
all_tests=$(for i in "${selected[@]}"; do echo "${tests[$i]}"; done | tr ' ' '\n' | sort -u | tr '\n' ' ')
# shellcheck disable=SC2086
run_tests "$tmp/baseline" $all_tests
if ! grep -q . "$tmp/baseline"; then
	tail -n 30 "$tmp/baseline.log" >&2
	die "no test result on the unchanged copy (tests: $all_tests)"
fi
nbase=$(grep -c "	ok	" "$tmp/baseline")
nfail=$(grep -c "	fail	" "$tmp/baseline")
echo "$me: baseline ($all_tests): $nbase subtests pass, $nfail fail (those cannot kill a mutant)"

# --- the mutants ----------------------------------------------------------------

# The original back, newer than what the mutant built: ninja rebuilds it.
restore() {
	cp "$tmp/original" "$1"
}

killed=0 survived=0 broken=0
for i in "${selected[@]}"; do
	name=${names[$i]} file=$tree/${files[$i]}
	cp -p "$file" "$tmp/original"
	if ! ANCHOR=${anchors[$i]} REPLACE=${replaces[$i]} awk '
		{
			i = index($0, ENVIRON["ANCHOR"])
			if (i) {
				$0 = substr($0, 1, i - 1) ENVIRON["REPLACE"] substr($0, i + length(ENVIRON["ANCHOR"]))
				n++
			}
			print
		}
		END { exit n == 0 }' "$tmp/original" >"$file"; then
		restore "$file"
		printf '  %-9s %-22s %s\n' BROKEN "$name" "anchor not found in the copy"
		broken=$((broken + 1))
		continue
	fi
	if ! ninja -C "$build" -j2 >"$tmp/build-$name.log" 2>&1; then
		restore "$file"
		printf '  %-9s %-22s %s\n' BROKEN "$name" "does not build: update tests/mutants.list"
		sed -n 's/^.*error: /      error: /p' "$tmp/build-$name.log" | head -n 3
		broken=$((broken + 1))
		continue
	fi
	# shellcheck disable=SC2086
	run_tests "$tmp/result-$name" ${tests[$i]}
	restore "$file"

	# Killers: a subtest of this mutant's tests that passes on the
	# baseline, and now fails, is skipped or is missing.
	killers=$(awk -F'\t' -v tests=" ${tests[$i]} " '
		NR == FNR {
			if ($3 == "ok" && index(tests, " " $1 " "))
				base[$1 "\t" $2] = $1 ": " $4
			next
		}
		{ now[$1 "\t" $2] = $3; desc[$1 "\t" $2] = $1 ": " $4 " (" $3 ")" }
		END {
			for (k in base)
				if (!(k in now))
					print base[k] " (missing)"
				else if (now[k] != "ok")
					print desc[k]
		}' "$tmp/baseline" "$tmp/result-$name" | sort)
	if [ -n "$killers" ]; then
		killed=$((killed + 1))
		n=$(echo "$killers" | wc -l)
		more=""
		[ "$n" -gt 1 ] && more=" (+$((n - 1)) more)"
		printf '  %-9s %-22s %s%s\n' killed "$name" "$(echo "$killers" | head -n1)" "$more"
		[ "${MUTANTS_VERBOSE:-0}" = 1 ] && echo "$killers" | sed 's/^/                                 /'
	else
		survived=$((survived + 1))
		printf '  %-9s %-22s %s\n' SURVIVED "$name" "${whys[$i]}"
		printf '  %-9s %-22s %s\n' "" "" "(${tests[$i]}: every subtest passes as on the baseline)"
	fi
done

echo "$me: $killed killed, $survived survived, $broken broken (of ${#selected[@]})"
[ $survived -eq 0 ] && [ $broken -eq 0 ]
