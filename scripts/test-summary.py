#!/usr/bin/python3
"""Prints one closing line for the test logs of meson: N passed, N failed."""
import json
import sys

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
                    print(f"failed: {t.get('name')} ({r})")
    except FileNotFoundError:
        print(f"missing test log: {path}")
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
