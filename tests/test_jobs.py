"""The daily jobs on both databases: expiry as ledger events, renewals, digests, takedowns; idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.backend.consent import ledger
from portal.backend.consent.purposes import TextContent, publish_text
from portal.backend.consent.status import status_for, subject_consents
from portal.backend.ops.demo import seed_demo
from portal.backend.ops.services import JobReport, run_daily_jobs
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, outbox
from portal.backend.platform.runtime import Portal
from tests.factories import in_parallel

DAY = timedelta(days=1)
SCHEDULER = Actor.system("jobs")


def run_jobs(db: Database, *, now: datetime, blobs: Path) -> JobReport:
    """The daily jobs through their service, as the scheduler runs them (30-day warning window)."""
    settings = load_settings(env={}, secrets_path=None, database_url=db.url, expiry_warning_days=30)
    portal = Portal(settings=settings, db=db, blobs=LocalBlobStore(blobs))
    return run_daily_jobs(portal, actor=SCHEDULER, now=now)


def _count(db: Database, **where: str) -> int:
    with db.read() as conn:
        stmt = select(func.count()).select_from(consent_ledger if "action" in where else outbox)
        for key, value in where.items():
            stmt = stmt.where((consent_ledger.c if key == "action" else outbox.c)[key] == value)
        return conn.execute(stmt).scalar_one()


def test_jobs_expire_ask_renewal_digest_and_are_idempotent(db: Database, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    seed_demo(db, now=now)
    with db.write() as conn:
        publish_text(
            conn,
            code="social_media",
            now=now,
            texts={"en": TextContent("Social media v2", "New text.")},
            carry_over=("sv",),
        )
    first = run_jobs(db, now=now, blobs=tmp_path)
    # Liam's two consents lapsed long ago. One renewal request per consent: Noah's website (lapses within
    # 30 days) and the social-media consents of Noah, Anna and Olivia, whose text was replaced.
    assert first.expired == 2
    assert first.renewal_requests == 4
    assert first.digests == 2  # the demo's manager and admin
    assert _count(db, action="expired") == 2
    with db.read() as conn:
        liam = conn.execute(select(consent_ledger.c.subject_id).where(consent_ledger.c.seq == 1)).scalar_one()
        entries = ledger.entries_for_subject(conn, liam)
        statuses = subject_consents(conn, liam, now)
    assert [(e.action, e.channel, e.actor) for e in entries[-2:]] == [("expired", "system", "system")] * 2
    assert status_for(statuses, "print") == "expired"
    second = run_jobs(db, now=now, blobs=tmp_path)
    assert (second.expired, second.renewal_requests, second.digests) == (0, 0, 0)
    assert ledger.verify(db).ok


def test_concurrent_job_runs_write_each_expiry_once(db: Database, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    seed_demo(db, now=now)
    assert in_parallel(db.url, lambda own: run_jobs(own, now=now + DAY, blobs=tmp_path)) == []
    assert _count(db, action="expired") == 2
    assert _count(db, kind="digest") == 2
    assert ledger.verify(db).ok


def test_the_digest_carries_the_signed_head_and_anchors_the_ledger(db: Database, tmp_path: Path) -> None:
    """A manager's digest holds the newest signed head, and `ledger verify --anchor` reads it as an anchor (the
    rollbacks an anchor reveals are in tests/test_ledger_tamper.py)."""
    import json

    from portal.cli import main as cli_main

    now = datetime.now(UTC)
    seed_demo(db, now=now)
    run_jobs(db, now=now, blobs=tmp_path)
    with db.read() as conn:
        payload = json.loads(conn.execute(select(outbox.c.payload).where(outbox.c.kind == "digest")).scalars().first())
        newest = ledger.latest_signed_head(conn)
    assert newest is not None and payload["ledgerHead"] == newest.to_json()
    anchor = tmp_path / "digest.json"
    anchor.write_text(json.dumps(payload))
    assert cli_main(["ledger", "verify", "--anchor", str(anchor), "--database-url", db.url]) == 0


def test_expiry_works_in_bounded_batches_and_each_lapsed_consent_expires_once(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More lapsed consents than one batch holds (forced to 3 here, 2,000 in production, so no statement nears
    PostgreSQL's 65,535 parameters) all expire, each once, with a valid chain and a consistent risk index."""
    from portal.backend.consent.records import Context
    from portal.backend.ops import jobs
    from portal.backend.risk import index as risk_index
    from tests.factories import make_org, register_subject

    now = datetime.now(UTC)
    make_org(db, now=now - 400 * DAY)
    context = Context(channel="staff", actor="staff:1", evidence={"act": "staff_entry"})
    people = [
        register_subject(
            db, name=f"P{i}", choices={"website": True, "print": True}, context=context, now=now - 400 * DAY
        ).subject.id
        for i in range(4)
    ]
    monkeypatch.setattr(ledger, "KEY_BATCH", 2)  # the idempotency lookups split too
    batches: list[int] = []
    real = jobs.expire_lapsed

    def counted(conn, *, now, limit=jobs.EXPIRY_BATCH):  # type: ignore[no-untyped-def]
        batches.append(written := real(conn, now=now, limit=limit))
        return written

    monkeypatch.setattr(jobs, "expire_lapsed", counted)
    assert jobs.expire_all(db, now=now, batch=3) == 8
    assert batches == [3, 3, 2]
    assert jobs.expire_all(db, now=now, batch=3) == 0
    assert _count(db, action="expired") == 8
    with db.read() as conn:
        for sid in people:
            assert {status_for(subject_consents(conn, sid, now), p) for p in ("website", "print")} == {"expired"}
        assert risk_index.check(conn) == []
    assert ledger.verify(db).ok


@pytest.mark.postgres
def test_the_daily_run_vacuums_the_tables_its_expiry_rewrote_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """After a day of expiries the risk tables hold dead row versions; the run vacuums them itself (servers with
    autovacuum off or behind, as this one, otherwise keep them, and the summary at a million photos doubled)."""
    from portal.backend.platform.db import migrate

    db = Database(pg_url)
    try:
        migrate.upgrade(db)
        now = datetime.now(UTC)
        seed_demo(db, now=now)
        tables = ("consent_current", "asset_risk", "risk_counts")

        def vacuums() -> dict[str, int]:
            with db.read() as conn:
                conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
                return {
                    t: int(conn.exec_driver_sql(f"SELECT pg_stat_get_vacuum_count('{t}'::regclass)").scalar_one())
                    for t in tables
                }

        before = vacuums()
        assert run_jobs(db, now=now, blobs=tmp_path).expired == 2
        after = vacuums()
        assert all(after[t] == before[t] + 1 for t in tables), (before, after)
        with db.read() as conn:
            dead = conn.exec_driver_sql(
                "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname IN ('consent_current', 'asset_risk', 'risk_counts')"
            ).scalar_one()
        assert dead == 0
    finally:
        db.dispose()
