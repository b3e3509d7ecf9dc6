"""Staff sign-in cost: a correct sign-in, a wrong password and an unknown e-mail, beside one bare scrypt hash.

    python bench/signin.py [--runs 30] [--postgres URL] [--skip-sqlite]

Every attempt is meant to cost one scrypt (about 16 MiB, tens of milliseconds) plus the throttle look-up and one audit
row; the baseline is that one scrypt measured in the same run, so the ratios show what the throttle and the audit add
and whether an unknown e-mail could be told from a known one by its timing.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.databases import add_database_options, each_database
from portal.backend.platform.db import migrate
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError
from portal.backend.staff.accounts import _N, _P, _R, authenticate, create_user

PASSWORD = "right password 1"


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of `fn` in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _failing(db: object, email: str, password: str) -> Callable[[], None]:
    """An attempt that must be refused (each e-mail stays below the throttle: a fresh address per call)."""
    counter = iter(range(10**9))

    def attempt() -> None:
        try:
            address = email.format(next(counter))
            authenticate(db, email=address, password=password)  # type: ignore[arg-type]
        except AuthError:
            return
        raise AssertionError("a wrong sign-in succeeded")

    return attempt


def _succeeding(db: object) -> Callable[[], None]:
    """A correct sign-in, spread over five accounts."""
    counter = iter(range(10**9))

    def attempt() -> None:
        authenticate(db, email=f"known{next(counter) % 5}@example.org", password=PASSWORD)  # type: ignore[arg-type]

    return attempt


def main() -> int:
    """Print the medians and their ratio to one scrypt, per database."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    add_database_options(ap)
    args = ap.parse_args()
    scrypt = _median_ms(
        lambda: hashlib.scrypt(PASSWORD.encode(), salt=b"0" * 16, n=_N, r=_R, p=_P, dklen=32), args.runs
    )
    print(f"baseline: one scrypt {scrypt:.1f} ms")
    for label, db in each_database(args):
        migrate.upgrade(db)
        with db.write() as conn:
            for i in range(args.runs + 1):
                create_user(
                    conn, email=f"known{i}@example.org", display_name="K", role="staff", password=PASSWORD, now=utcnow()
                )
        rows = {
            "correct sign-in": _median_ms(_succeeding(db), args.runs),
            "wrong password": _median_ms(_failing(db, "known{}@example.org", "wrong password"), args.runs),
            "unknown e-mail": _median_ms(_failing(db, "nobody{}@example.org", "whatever"), args.runs),
        }
        for name, ms in rows.items():
            print(f"{label:10} {name:16} {ms:7.1f} ms  ({ms / scrypt:.2f}x one scrypt)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
