#!/usr/bin/python3
"""The soak in CI size (soak.py; `make soak` runs 1,000 cycles): 50
stop/start and 50 freeze/thaw cycles of lighttpd under a continuous load,
an Accept=yes service beside it, and 2 re-execs: no request fails, the
daemon's fds are as many at the end as at the start, and nothing is left
behind. The RSS and first-byte figures are printed, not asserted.

The sanitizer pass of `make check` sets NSINETD_TEST_CYCLES=5: 10 cycles of
each there (the same paths; the plain pass runs the 50), still 2 re-execs."""
import os

import soak
from nsitest import main

CYCLES = 50 if "NSINETD_TEST_CYCLES" not in os.environ else 10


def test_soak_ci():
    r = soak.run(CYCLES, CYCLES // 2, log=lambda line: print(line, flush=True))
    print(f"# {r}", flush=True)
    assert r["failed"] == 0, r
    assert r["reexecs"] == 2, r
    assert r["fds"][0] == r["fds"][1], r
    # One start at the beginning, then one per stop/start cycle: a re-exec
    # or a freeze/thaw never restarted lighttpd.
    assert r["cold_starts"] == CYCLES + 1, r
    assert r["exit"] == 0 and r["leftovers"] == [], r


if __name__ == "__main__":
    main([test_soak_ci])
