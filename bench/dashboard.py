"""Risk at scale: a synthetic library of 100,000 assets, 300,000 detections, 50,000 subjects and 500,000 ledger
events on SQLite and PostgreSQL, then the time of the full risk summary, the other dashboard queries, one
consent change (which re-judges that person's photos), and loading the dashboard page in Streamlit's AppTest.

    python bench/dashboard.py [--scale 1.0] [--postgres URL] [--skip-sqlite] [--no-page] [--reference] [--jobs]
                              [--keep NAME]

Rows are bulk-inserted (the ledger with a valid hash chain) rather than written through the services, which would
take hours; the risk index is then derived once with `risk_index.rebuild`, as the migration does for an existing
database, and that time is printed too, with the fill's time and the bench process's peak memory.

The summary is read from the per-purpose counters (a handful of rows) and compared with the same figures
aggregated straight from the index rows and with `risk check`'s fresh computation; `--jobs` then runs the daily
jobs through their service (batched expiry of every lapsed consent) and checks again. `--keep NAME` fills the
SQLite file NAME.db and the PostgreSQL schema NAME once and reuses them on later runs (migrations still run), so
a 1M-photo fill is paid once; without it both are thrown away.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import String, create_engine, insert, make_url, text, update

from bench.databases import add_database_options, each_database
from portal.backend.consent import ledger
from portal.backend.consent.records import Context, Decision
from portal.backend.ops.services import run_daily_jobs
from portal.backend.platform import signing
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_uses, assets, consent_ledger, detections, ledger_head, subjects
from portal.backend.platform.db.types import UTCDateTime
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from portal.backend.risk.figures import critical_assets, drill_down, per_event, scan_summary, staff_declared, summary
from portal.backend.risk.overview import portal_overview
from portal.backend.risk.queries import check_risk_index
from portal.backend.staff.accounts import create_user
from tests.factories import make_org, record_consent

MANAGER = ("bench-manager@example.org", "bench-manager-password")

NOW = datetime.now(UTC)
CHUNK = 20_000


def fill(db: Database, scale: float) -> dict[str, int]:
    """Insert the synthetic library; returns the row counts."""
    rng = random.Random(7)
    n_assets, n_subjects, n_events = int(100_000 * scale), int(50_000 * scale), int(500_000 * scale)
    migrate.upgrade(db)
    make_org(db, now=NOW - timedelta(days=900))
    with db.write() as conn:
        create_user(conn, email=MANAGER[0], display_name="Bench", role="manager", password=MANAGER[1], now=NOW)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n_subjects)]
    with db.write() as conn:
        for i in range(0, n_subjects, CHUNK):
            conn.execute(
                insert(subjects),
                [
                    {
                        "id": s,
                        "display_name": f"Person {i + k}",
                        "locale": "en",
                        "is_minor": False,
                        "created_at": NOW - timedelta(days=800),
                    }
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
            for k in range(3):  # 3 detections per asset: mostly linked faces, some strangers and persons
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
        prev, rows, seq = ledger.GENESIS_HASH, [], 0
        actions = ["given"] * 7 + ["refused", "withdrawn", "renewed"]
        for _ in range(n_events):
            seq += 1
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
                # One in twenty recorded by staff on their word (the dashboard counts those apart).
                "channel": "staff" if seq % 20 == 0 else "qr_form",
                "actor": "staff:1" if seq % 20 == 0 else "subject",
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
        conn.execute(update(ledger_head).values(seq=seq, entry_hash=prev))
        # The bulk-written chain gets its head signed once, as an upgraded ledger does (revision 0007).
        ledger.adopt_unsigned_head(conn, signing.signing_key_for(conn), now=NOW)
    return {"assets": n_assets, "detections": n_assets * 3, "subjects": n_subjects, "ledger events": n_events}


def _best(fn, runs: int = 3) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """(first, best of the rest) seconds of `fn()`, and its last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times[0], min(times[1:]), result


def page_load(db: Database) -> tuple[float, float]:
    """Seconds to run the dashboard page in AppTest as a signed-in manager (first, then best of two)."""
    from streamlit.testing.v1 import AppTest

    url = db.url
    if db.schema:  # the app has no schema setting: point its connections at the bench schema instead
        url = (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={db.schema}"})
            .render_as_string(hide_password=False)
        )
    os.environ["PORTAL_DATABASE_URL"] = url
    os.environ["PORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-dashboard-")
    app = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
    at = AppTest.from_file(app, default_timeout=300).run()
    at.text_input[0].input(MANAGER[0])
    at.text_input[1].input(MANAGER[1])
    at.button[0].click().run()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        at.switch_page("portal/pages/dashboard.py").run()
        times.append(time.perf_counter() - start)
        assert not at.exception, at.exception
        assert [t.value for t in at.title] == ["At-risk photos"], [t.value for t in at.title]
    return times[0], min(times[1:])


def _peak_mb() -> float:
    """Peak resident memory of this process so far, in MiB (the database server's is not included)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _filled(db: Database) -> bool:
    """Whether a kept database already holds a fill (then it is reused, after running any new migrations)."""
    migrate.upgrade(db)
    with db.read() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM (SELECT 1 FROM assets LIMIT 1) a")).scalar_one())


def run(db: Database, label: str, scale: float, *, page: bool, reference: bool = False, jobs: bool = False) -> None:
    """Fill (or reuse), derive the index, then time each query and the page, and print the figures."""
    if _filled(db):
        with db.read() as conn:
            counts = {
                name: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for name, table in (
                    ("assets", "assets"),
                    ("detections", "detections"),
                    ("subjects", "subjects"),
                    ("ledger events", "consent_ledger"),
                )
            }
        print(f"{label:10} {', '.join(f'{v:,} {k}' for k, v in counts.items())} (kept from an earlier fill)")
    else:
        start = time.perf_counter()
        counts = fill(db, scale)
        fill_s = time.perf_counter() - start
        if db.dialect == "postgresql":  # planner statistics for the bulk-filled tables before deriving the index
            with db.write() as conn:
                conn.execute(text("ANALYZE"))
        start = time.perf_counter()
        with db.write() as conn:
            rows = risk_index.rebuild(conn)
        rebuild_s = time.perf_counter() - start
        print(
            f"{label:10} {', '.join(f'{v:,} {k}' for k, v in counts.items())} (filled in {fill_s:.0f} s, "
            f"peak memory of the bench process {_peak_mb():,.0f} MiB)"
        )
        print(f"{label:10} risk index derived once: {rows:,} (photo, purpose) rows in {rebuild_s:.1f} s")
    if db.dialect == "postgresql":
        with db.write() as conn:
            conn.execute(text("ANALYZE"))

    def read(fn):  # type: ignore[no-untyped-def]
        with db.read() as conn:
            return fn(conn)

    _summary_figures(db, label, read)
    for name, fn in (
        ("per event", lambda c: per_event(c, now=NOW)),
        ("critical list", lambda c: critical_assets(c, now=NOW)),
        (
            "drill-down (website, withdrawn, 200 rows)",
            lambda c: drill_down(c, purpose="website", reason="withdrawn", now=NOW),
        ),
        ("staff start page counts", lambda c: portal_overview(c, now=NOW)),
        ("staff-declared consents", lambda c: staff_declared(c, now=NOW)),
    ):
        first, best, _ = _best(lambda fn=fn: read(fn))
        print(f"{label:10} {name}: first {first:.3f} s, then {best:.3f} s")
    _check(db, label)
    with db.read() as conn:  # the busiest person: a change re-judges every photo they are in
        busiest, photos = conn.execute(
            text(
                "SELECT subject_id, count(DISTINCT asset_id) AS n FROM detections WHERE subject_id IS NOT NULL "
                "GROUP BY subject_id ORDER BY n DESC LIMIT 1"
            )
        ).one()
        state = conn.execute(
            text(
                "SELECT action, valid_until FROM consent_current WHERE subject_id = :s AND scope_key = 0 AND "
                "purpose_id = (SELECT id FROM purposes WHERE code = 'social_media')"
            ).columns(action=String, valid_until=UTCDateTime),
            {"s": busiest},
        ).first()
    times = []
    # A consent given but lapsed counts as not given: the first step gives it again.
    allowed = (
        state is not None
        and state.action in ("given", "renewed")
        and (state.valid_until is None or state.valid_until > NOW)
    )
    steps = ("withdrawn", "given", "withdrawn") if allowed else ("given", "withdrawn", "given")
    for k, action in enumerate(steps):
        start = time.perf_counter()
        try:
            record_consent(
                db,
                subject_id=busiest,
                decisions=[Decision("social_media", action)],
                now=NOW,
                context=Context(channel="staff", actor="staff:bench", evidence={"n": k}),
            )
        except Exception as exc:  # a refused transition: report it and stop measuring
            print(f"{label:10} consent change skipped: {exc}")
            break
        times.append(time.perf_counter() - start)
    if times:
        print(
            f"{label:10} one consent change by a person in {photos} photos (ledger + index): "
            f"best {min(times) * 1000:.0f} ms of {len(times)}"
        )
    if reference:
        from tests.risk_reference import reference_rows  # the from-scratch SQL the index replaced

        start = time.perf_counter()
        with db.read() as conn:
            rows_ref = reference_rows(conn, now=NOW)
        took = time.perf_counter() - start
        print(
            f"{label:10} before the index: the same judgement straight from the ledger took {took:.2f} s "
            f"({len(rows_ref):,} at-risk rows)"
        )
    if jobs:
        start = time.perf_counter()
        report = run_daily_jobs(_portal(db), actor=Actor.system("bench"), now=NOW)
        took = time.perf_counter() - start
        print(
            f"{label:10} jobs run (daily jobs service): {took:.1f} s; expired {report.expired:,} consents, "
            f"{report.snapshots} snapshots, {report.renewal_requests:,} renewal requests; "
            f"peak memory {_peak_mb():,.0f} MiB"
        )
        _summary_figures(db, label, read)
        _check(db, label)
    if page:
        first, best = page_load(db)
        print(f"{label:10} dashboard page (AppTest run, signed in as manager): first {first:.2f} s, then {best:.2f} s")


def _summary_figures(db: Database, label: str, read) -> None:  # type: ignore[no-untyped-def]
    """Time the summary (from the counters) beside the same figures aggregated from every index row, and
    stop if they differ."""
    first, best, figures = _best(lambda: read(lambda c: summary(c, now=NOW)))
    at_risk = {f.purpose: f.at_risk for f in figures}  # type: ignore[attr-defined]
    counters = read(lambda c: c.execute(text("SELECT count(*) FROM risk_counts")).scalar_one())
    print(
        f"{label:10} risk summary: first {first:.3f} s, then {best:.3f} s, from {counters:,} counter rows; "
        f"at risk: {at_risk}"
    )
    first, best, scanned = _best(lambda: read(lambda c: scan_summary(c, now=NOW)), runs=2)
    same = "equal" if scanned == figures else "DIFFERENT"
    print(f"{label:10} baseline, the same summary aggregated over every index row: {best:.3f} s ({same})")
    if scanned != figures:
        raise SystemExit(f"summary from the counters {figures} differs from the index rows' {scanned}")


def _check(db: Database, label: str) -> None:
    """`risk check`: the stored index and counters against a fresh computation from the ledger."""
    start = time.perf_counter()
    problems = check_risk_index(_portal(db))
    took = time.perf_counter() - start
    print(
        f"{label:10} risk check (fresh computation from the ledger): {took:.1f} s, "
        f"{'in step' if not problems else problems}; peak memory {_peak_mb():,.0f} MiB"
    )
    if problems:
        raise SystemExit("the risk index differs from a fresh computation")


def _portal(db: Database) -> Portal:
    """The bench database as a Portal with default settings."""
    settings = load_settings(env={}, secrets_path=None, database_url=db.url)
    return Portal(settings=settings, db=db, blobs=LocalBlobStore(Path(tempfile.mkdtemp(prefix="bench-blobs-"))))


@contextmanager
def _kept(name: str, postgres: str, skip_sqlite: bool) -> Iterator[list[tuple[str, Database]]]:
    """A SQLite file NAME.db and a PostgreSQL schema NAME that outlive the run."""
    out: list[tuple[str, Database]] = []
    if not skip_sqlite:
        out.append(("sqlite", Database(f"sqlite:///{Path(name).resolve()}.db")))
    if postgres:
        schema = Path(name).name
        admin = create_engine(postgres)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        admin.dispose()
        out.append(("postgresql", Database(postgres, schema=schema)))
    try:
        yield out
    finally:
        for _, db in out:
            db.dispose()


def main() -> None:
    """Run on SQLite and, when a URL is given, on PostgreSQL."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--no-page", action="store_true", help="skip the AppTest page load")
    ap.add_argument(
        "--reference",
        action="store_true",
        help="also time the from-scratch SQL the risk index replaced (tests/risk_reference.py)",
    )
    ap.add_argument("--jobs", action="store_true", help="then run the daily jobs service and check again")
    ap.add_argument("--keep", metavar="NAME", help="fill NAME.db / schema NAME once and reuse them")
    add_database_options(ap)
    args = ap.parse_args()
    if args.keep:
        with _kept(args.keep, args.postgres, args.skip_sqlite) as kept:
            for label, db in kept:
                run(db, label, args.scale, page=not args.no_page, reference=args.reference, jobs=args.jobs)
        return
    for label, db in each_database(args):
        run(db, label, args.scale, page=not args.no_page, reference=args.reference, jobs=args.jobs)


if __name__ == "__main__":
    main()
