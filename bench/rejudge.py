"""One consent change by a person in many photos: time under the ledger lock, statements, and the re-judging plans.

    python bench/rejudge.py [--scale 0.5] [--photos 5000] [--postgres URL] [--skip-sqlite] [--explain]

Fills the synthetic library of `bench/dashboard.py` at `--scale` (a copy of its fill, so the two benches can change apart), links one person into `--photos` photos (beside the
people already in them), then times three consent changes of that person through the same path a staff change takes
(the ledger append, `consent_current`, the risk index and takedowns, in one write transaction). Printed beside it, as
a baseline measured in the same run: the bare ledger append alone (no risk index), i.e. what the lock must hold at
the least. Ends with `risk check` (the stored index equals a fresh computation).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, event, insert, select, text, update

from bench.databases import add_database_options, each_database
from portal.backend.consent import ledger
from portal.backend.consent.records import Context, Decision
from portal.backend.platform import signing
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_uses, assets, consent_ledger, detections, ledger_head, subjects
from portal.backend.risk import index as risk_index
from tests.factories import make_org, record_consent

NOW = datetime.now(UTC)
CHUNK = 20_000


def fill(db: Database, scale: float) -> None:
    """The synthetic library of `bench/dashboard.py` (100,000 photos with 3 detections each, 50,000 people, 500,000
    ledger entries with a valid hash chain, at scale 1), bulk-inserted, then the risk index derived once."""
    rng = random.Random(7)
    n_assets, n_subjects, n_events = int(100_000 * scale), int(50_000 * scale), int(500_000 * scale)
    migrate.upgrade(db)
    make_org(db, now=NOW - timedelta(days=900))
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n_subjects)]
    with db.write() as conn:
        for i in range(0, n_subjects, CHUNK):
            conn.execute(
                insert(subjects),
                [
                    {"id": s, "display_name": f"Person {i + k}", "locale": "en", "is_minor": False, "created_at": NOW}
                    for k, s in enumerate(ids[i : i + CHUNK])
                ],
            )
        for i in range(0, n_assets, CHUNK):
            conn.execute(
                insert(assets),
                [
                    {
                        "sha256": f"{a:064x}",
                        "blob_key": f"o/{a}",
                        "filename": f"{a}.jpg",
                        "content_type": "image/jpeg",
                        "width": 4000,
                        "height": 3000,
                        "bytes": 1,
                        "uploaded_at": NOW,
                        "analysis_state": "done",
                    }
                    for a in range(i + 1, min(n_assets, i + CHUNK) + 1)
                ],
            )
        dets = []
        for a in range(1, n_assets + 1):
            for k in range(3):
                roll = rng.random()
                linked = roll < 0.8
                dets.append(
                    {
                        "asset_id": a,
                        "kind": "person" if roll > 0.95 else "face",
                        "x": 0.1 + 0.3 * k,
                        "y": 0.2,
                        "w": 0.1,
                        "h": 0.15,
                        "detector": "dlib-hog",
                        "created_at": NOW,
                        "subject_id": rng.choice(ids) if linked else None,
                        "link_method": "manual" if linked else None,
                        "link_status": "confirmed" if linked else None,
                    }
                )
            if len(dets) >= CHUNK:
                conn.execute(insert(detections), dets)
                dets = []
        if dets:
            conn.execute(insert(detections), dets)
        conn.execute(
            insert(asset_uses),
            [
                {"asset_id": a, "purpose_id": 2, "place": f"https://example.org/{a}", "since": NOW - timedelta(days=10)}
                for a in range(1, n_assets + 1, 20)
            ],
        )
        prev, rows = ledger.GENESIS_HASH, []
        actions = ["given"] * 7 + ["refused", "withdrawn", "renewed"]
        for seq in range(1, n_events + 1):
            action = rng.choice(actions)
            at = NOW - timedelta(days=rng.randint(1, 700))
            row = {
                "seq": seq,
                "entry_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "subject_id": rng.choice(ids),
                "purpose_id": rng.randint(1, 5),
                "action": action,
                "scope_asset_id": rng.randint(1, n_assets) if rng.random() < 0.05 else None,
                "text_version": 1,
                "text_locale": "en",
                "text_hash": "0" * 64,
                "channel": "qr_form",
                "actor": "subject",
                "event_id": None,
                "recorded_at": at,
                "valid_until": at + timedelta(days=365) if action in ("given", "renewed") else None,
                "evidence": "{}",
                "idempotency_key": None,
                "prev_hash": prev,
            }
            row["entry_hash"] = prev = ledger.compute_hash(row)
            rows.append(row)
            if len(rows) >= CHUNK:
                conn.execute(insert(consent_ledger), rows)
                rows = []
        if rows:
            conn.execute(insert(consent_ledger), rows)
        conn.execute(update(ledger_head).values(seq=n_events, entry_hash=prev))
        ledger.adopt_unsigned_head(conn, signing.signing_key_for(conn), now=NOW)
    if db.dialect == "postgresql":  # fresh tables without statistics make the rebuild's plan quadratic
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
