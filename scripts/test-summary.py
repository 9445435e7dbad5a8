#!/usr/bin/python3
"""Prints the closing lines for the test logs of meson: for each test that
failed, its failed subtests with their messages and the end of its stderr
(CI keeps only the end of the output, and the fuzzer runs after the test
passes), then one line: N passed, N failed, N skipped."""
import json
import sys

# Lines of a failed test's output shown here; the whole is in testlog.txt.
NOT_OK_LINES = 40
STDERR_LINES = 15


def why(t):
    """The "not ok" lines of a TAP log with the comment lines under them,
    then the last lines of stderr."""
    out = []
    lines = (t.get("stdout") or "").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("not ok") or line.startswith("Bail out"):
            out.append(line)
            for more in lines[i + 1:]:
                if not more.startswith("#"):
                    break
                out.append(more)
    out = out[:NOT_OK_LINES]
    err = (t.get("stderr") or "").splitlines()[-STDERR_LINES:]
    if err:
        out.append("stderr, last lines:")
        out.extend(err)
    return out


passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            for line in f:
                t = json.loads(line)
                r = t.get("result")
                if r in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif r == "SKIP":
                    skipped += 1
                else:
                    failed += 1
                    print(f"failed: {t.get('name')} ({r}, exit {t.get('returncode')})")
                    for w in why(t):
                        print("  " + w)
    except FileNotFoundError:
        print(f"missing test log: {path}")
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
