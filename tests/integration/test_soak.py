#!/usr/bin/python3
"""The soak in CI size (soak.py; `make soak` runs 1,000 cycles): 50
stop/start and 50 freeze/thaw cycles of lighttpd under a continuous load,
an Accept=yes service beside it, and 2 re-execs: no request fails, the
daemon's fds are as many at the end as at the start, and nothing is left
behind. The RSS and first-byte figures are printed, not asserted."""
import soak
from nsitest import main


def test_soak_ci():
    r = soak.run(50, 25, log=lambda line: print(line, flush=True))
    print(f"# {r}", flush=True)
    assert r["failed"] == 0, r
    assert r["reexecs"] == 2, r
    assert r["fds"][0] == r["fds"][1], r
    # One start at the beginning, then one per stop/start cycle: a re-exec
    # or a freeze/thaw never restarted lighttpd.
    assert r["cold_starts"] == 51, r
    assert r["exit"] == 0 and r["leftovers"] == [], r


if __name__ == "__main__":
    main([test_soak_ci])
