"""One consent change by a person in many photos: time under the ledger lock, statements, and the re-judging plans.

    python bench/rejudge.py [--scale 0.5] [--photos 5000] [--postgres URL] [--skip-sqlite] [--explain]

Fills the synthetic library of `bench/dashboard.py` at `--scale` (with its `fill`), links one person into `--photos`
photos (beside the people already in them), then times three consent changes of that person through the same path a staff change takes
(the ledger append, `consent_current`, the risk index and takedowns, in one write transaction). Printed beside it, as
a baseline measured in the same run: the bare ledger append alone (no risk index), i.e. what the lock must hold at
the least. Ends with `risk check` (the stored index equals a fresh computation).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, event, select, text

from bench import dashboard
from bench.databases import add_database_options, each_database
from portal.backend.consent import ledger
from portal.backend.consent.records import Context, Decision
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import detections
from portal.backend.risk import index as risk_index
from tests.factories import record_consent

NOW = datetime.now(UTC)
CHUNK = 20_000


def fill(db: Database, scale: float) -> None:
    """The synthetic library of `bench/dashboard.py` at `scale`, then the risk index derived once (after ANALYZE on
    PostgreSQL: fresh tables without statistics make the rebuild's plan quadratic)."""
    dashboard.fill(db, scale)
    if db.dialect == "postgresql":
        with db.write() as conn:
            conn.execute(text("ANALYZE"))
    with db.write() as conn:
        risk_index.rebuild(conn)


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    """Collect every statement sent to the database while the block runs."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def _timed(fn: Callable[[], Any], runs: int = 3) -> list[float]:
    """Seconds of each of `runs` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def link_person(db: Database, photos: int) -> str:
    """Confirm one existing person in the first `photos` photos (one more face each); returns the subject id."""
    with db.write() as conn:
        subject = conn.execute(text("SELECT id FROM subjects ORDER BY id LIMIT 1")).scalar_one()
        conn.execute(
            detections.insert(),
            [
                {
                    "asset_id": a,
                    "kind": "face",
                    "x": 0.8,
                    "y": 0.7,
                    "w": 0.05,
                    "h": 0.05,
                    "detector": "dlib-hog",
                    "created_at": NOW,
                    "subject_id": subject,
                    "link_method": "manual",
                    "link_status": "confirmed",
                }
                for a in range(1, photos + 1)
            ],
        )
        risk_index.refresh_assets(conn, range(1, photos + 1), now=NOW)
    return str(subject)


def explain(db: Database, subject: str) -> None:
    """Print the plan of the statement that re-judges the person's photos (first chunk)."""
    with db.read() as conn:
        ids = list(
            conn.execute(
                select(detections.c.asset_id)
                .distinct()
                .where(detections.c.subject_id == subject, detections.c.link_status == "confirmed")
                .order_by(detections.c.asset_id)
                .limit(risk_index._CHUNK)
            ).scalars()
        )
        sql = risk_index._judge_sql(conn, by_asset=True)
        prefix = "EXPLAIN ANALYZE " if db.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
        for row in conn.execute(text(prefix + sql).bindparams(bindparam("ids", expanding=True)), {"ids": ids}):
            print("    " + " | ".join(str(v) for v in row))


def run(db: Database, label: str, scale: float, photos: int, *, show_plan: bool) -> None:
    """Fill, link the person, time the changes, and check the index."""
    start = time.perf_counter()
    fill(db, scale)
    subject = link_person(db, photos)
    if db.dialect == "postgresql":
        with db.write() as conn:
            conn.execute(text("ANALYZE"))
    print(f"{label:10} filled (scale {scale}), one person in {photos:,} photos, in {time.perf_counter() - start:.0f} s")
    if show_plan:
        explain(db, subject)
    measure(db, label, subject)


@contextmanager
def _as_before() -> Iterator[None]:
    """Re-judge as before this change: every purpose of every photo of the person, with plain joins."""
    real_assets, real_lateral = risk_index.refresh_assets, risk_index._LATERAL

    def every_purpose(conn: Any, asset_ids: Any, *, now: Any = None, purpose_ids: Any = None) -> None:
        real_assets(conn, asset_ids, now=now)

    risk_index.refresh_assets = every_purpose
    risk_index._LATERAL = risk_index._JOINS
    try:
        yield
    finally:
        risk_index.refresh_assets, risk_index._LATERAL = real_assets, real_lateral


def measure(db: Database, label: str, subject: str) -> None:
    """Time the bare append, the consent change now and as before, in one run; then `risk check`."""
    with db.read() as conn:
        photos = conn.execute(
            select(text("count(DISTINCT asset_id)"))
            .select_from(detections)
            .where(detections.c.subject_id == subject, detections.c.link_status == "confirmed")
        ).scalar_one()
        given = conn.execute(
            text("SELECT action FROM consent_current WHERE subject_id = :s AND purpose_id = 3 AND scope_key = 0"),
            {"s": subject},
        ).scalar() in ("given", "renewed")
    # Baseline: the bare signed append of one entry for that person, with the index update left out (and done
    # afterwards, outside the timing, so the projection stays exact).
    template = ledger.NewEntry(
        subject_id=subject,
        purpose_id=1,
        action="given",
        text_version=1,
        text_locale="en",
        text_hash="0" * 64,
        channel="system",
        actor="bench",
    )
    real_note = risk_index.note_entries
    appended: list[dict[str, Any]] = []

    def bare() -> None:
        with db.write() as conn:
            appended.extend(e.__dict__ for e in ledger.append(conn, [template], now=NOW))

    risk_index.note_entries = lambda conn, rows: None
    try:
        bare_s = _timed(bare, 5)
    finally:
        risk_index.note_entries = real_note
    with db.write() as conn:
        real_note(conn, appended)
    ctx = Context(channel="staff", actor="staff:bench", evidence={"bench": True})

    def change() -> None:
        nonlocal given
        action = "withdrawn" if given else "given"
        record_consent(db, subject_id=subject, decisions=[Decision("social_media", action)], now=NOW, context=ctx)
        given = not given

    figures: dict[str, tuple[float, float, int]] = {}
    for name in ("now", "before", "now ", "before "):  # interleaved, so load on the machine hits both alike
        with counting(db) as statements, _as_before() if name.startswith("before") else nullcontext():
            wall, cpu = time.perf_counter(), time.process_time()
            change()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        key = name.strip()
        best = figures.get(key, (9e9, 9e9, 0))
        figures[key] = (min(best[0], wall), min(best[1], cpu), len(statements))
    print(f"{label:10} bare signed append (baseline, no index): best {min(bare_s) * 1000:7.1f} ms")
    for key, text_ in (("before", "as before (every purpose, plain joins)"), ("now", "now")):
        wall, cpu, n = figures[key]
        print(
            f"{label:10} consent change of a person in {photos:,} photos, {text_:38}: {wall * 1000:7.1f} ms "
            f"({cpu * 1000:.0f} ms CPU in this process), {n} statements"
        )
    with db.read() as conn:
        problems = risk_index.check(conn)
    print(f"{label:10} risk check: {'equal to a fresh computation' if not problems else problems}")


def main() -> None:
    """Run on SQLite and, when a URL is given, on PostgreSQL."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--photos", type=int, default=5000)
    ap.add_argument("--explain", action="store_true", help="print the plan of the re-judging statement")
    add_database_options(ap)
    args = ap.parse_args()
    for label, db in each_database(args):
        run(db, label, args.scale, args.photos, show_plan=args.explain)


if __name__ == "__main__":
    main()
