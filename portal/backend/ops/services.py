"""Operations: the daily jobs, demo data and the hosted blob store's bucket.

Each function is one action taking the Actor who starts it. The daily jobs give every step its own transaction
(each is idempotent and locks what it needs), then audit the run with what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from portal.backend.consent.services import issue_pending_receipts
from portal.backend.ops import jobs, mailer, outbox
from portal.backend.ops.bootstrap import reset_database
from portal.backend.ops.demo import DEMO_ACCOUNTS, DemoSummary, is_demo, is_empty, seed_demo
from portal.backend.ops.jobs import JobReport
from portal.backend.ops.mailer import SendReport
from portal.backend.people.erasure import ERASED_TABLES
from portal.backend.platform import signing
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import make_blob_store
from portal.backend.platform.config import Settings
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.risk.history import record_snapshot
from portal.backend.staff.audit import audit
from portal.backend.staff.roles import require

JOB_RECEIPT_LIMIT = 500  # receipts pre-rendered per daily run; the rest are made when first downloaded
# Photos the daily run compares with the enrolled people (about 0.2 s per face on one core): a library that turns
# matching on with a million unmatched photos must not keep every daily run busy for days. The rest wait for the
# next days, or for `matching run --workers N`, which takes them all.
JOB_MATCH_LIMIT = 2_000
# Tables the daily run rewrites in bulk (expiry moves consents, the risk index re-judges their photos, counters are
# compacted): vacuumed after the run on PostgreSQL.
JOB_REWRITTEN_TABLES = ("consent_current", "asset_risk", "risk_counts")

if TYPE_CHECKING:  # supabase-py is loaded only in hosted mode
    from portal.backend.platform.hosted import SupabaseBlobStore

__all__ = [
    "DEMO_ACCOUNTS",
    "DemoResult",
    "DemoSummary",
    "JobReport",
    "SendReport",
    "StorageInfo",
    "check_storage",
    "init_storage",
    "load_demo",
    "retry_failed_mail",
    "run_daily_jobs",
    "send_outbox",
]


def run_daily_jobs(portal: Portal, *, actor: Actor, now: datetime | None = None) -> JobReport:
    """Expire lapsed consents, queue renewal requests and manager digests, settle takedowns, flag photos past
    retention, record today's coverage, run the face-matching batch (when matching is on), then issue receipts
    left pending by an earlier failure; audited as `run_daily_jobs`.

    Safe to run twice and from several machines at once: the second run changes nothing."""
    require(actor, "admin", to="run the daily jobs")
    now = now or utcnow()
    window = portal.settings.expiry_warning_days
    expired = jobs.expire_all(portal.db, now=now)
    with portal.db.write() as conn:
        renewals = jobs.request_renewals(conn, now=now, window_days=window)
    with portal.db.write() as conn:
        digests = jobs.manager_digests(conn, now=now, window_days=window)
    with portal.db.write() as conn:
        takedowns_opened, takedowns_done = jobs.settle_takedowns(conn, now=now)
    with portal.db.write() as conn:
        flagged = jobs.flag_retention(conn, now=now)
    # Last of the steps that judge figures, so the snapshot sees the expiries above.
    with portal.db.write() as conn:
        snapshots = record_snapshot(conn, now=now)
    report = JobReport(
        expired=expired,
        renewal_requests=renewals,
        digests=digests,
        takedowns_done=takedowns_done,
        takedowns_opened=takedowns_opened,
        snapshots=snapshots,
        past_retention=flagged,
    )
    # After the expiries (which delete lapsed templates): faces of new photos against the people enrolled now.
    # Descriptors are computed outside any transaction; only suggestions are written. Off: nothing happens.
    from portal.backend.photos.services import run_matching  # the vision stack loads only when the jobs run

    matched = run_matching(portal, actor=actor, now=now, limit=JOB_MATCH_LIMIT)
    report = replace(
        report,
        photos_matched=matched.photos if matched.enabled else None,
        photos_left_to_match=matched.left if matched.enabled else None,
    )
    # Receipts are rendered outside any transaction (slow, about 0.2-0.8 s each). Pending ones are made on demand
    # when downloaded or exported, so the daily run pre-renders a bounded number: a day on which tens of thousands
    # of consents lapse must not keep the run (and the outbox after it) busy for hours.
    report = replace(report, receipts_issued=issue_pending_receipts(portal, now=now, limit=JOB_RECEIPT_LIMIT))
    send_outbox(portal, actor=actor, now=now)  # last: today's renewal requests and digests go out (audited there)
    with portal.db.write() as conn:
        audit(conn, actor=actor.ref, action="run_daily_jobs", now=now, detail=report.__dict__)
    # Old row versions of people erased this week: the erasure's own VACUUM may have found them still seen by a
    # transaction, and pruned bytes stay in free space, so the tables are rewritten (outside any transaction).
    if jobs.recent_erasures(portal.db, now=now):
        portal.db.scrub(ERASED_TABLES, full=True)
    portal.db.vacuum(JOB_REWRITTEN_TABLES)
    return report


def send_outbox(portal: Portal, *, actor: Actor, now: datetime | None = None, limit: int | None = None) -> SendReport:
    """Deliver the due e-mails of the outbox over SMTP (tries, backoff, one sender per message); without SMTP
    settings nothing is touched and the report says so. A run that tried anything is audited as `send_outbox`."""
    require(actor, "admin", to="send the outbox's e-mail")
    if limit is not None and limit < 1:
        raise ValidationError("--limit must be at least 1.")
    now = now or utcnow()
    report = mailer.send_pending(portal, now=now, limit=limit)
    if report.attempted:
        detail = {k: v for k, v in report.__dict__.items() if k != "configured"}
        with portal.db.write() as conn:
            audit(conn, actor=actor.ref, action="send_outbox", now=now, detail=detail)
    return report


def retry_failed_mail(portal: Portal, *, actor: Actor, message_ids: list[int] | None = None) -> int:
    """Queue failed e-mails again (all, or these ids) with a fresh count of tries; audited as `retry_outbox`."""
    require(actor, "manager", to="send failed e-mails again")
    now = utcnow()
    with portal.db.write() as conn:
        count = outbox.retry_failed(conn, row_ids=message_ids)
        if count:
            audit(conn, actor=actor.ref, action="retry_outbox", now=now, detail={"messages": count})
    return count


@dataclass(frozen=True)
class DemoResult:
    """What `load_demo` did: dropped the old tables, found the demo already there, or seeded it."""

    dropped: bool
    already_there: bool
    summary: DemoSummary | None


def load_demo(settings: Settings, *, actor: Actor, reset: bool = False, force: bool = False) -> DemoResult:
    """Fill an empty database with the demo (after dropping every table when `reset`: demo databases only unless
    `force`). Not audited: a reset drops the audit log itself, and seeding writes nothing but demo rows."""
    require(actor, "admin", to="load the demo data")
    if force and not reset:
        raise ValidationError("--force only makes sense together with --reset.")
    db = Database(settings.database_url, pool=settings.pool)
    signing.attach(db.engine, lambda: signing.load_signing_key(settings))  # the demo's consents are signed too
    try:
        dropped = False
        if reset and migrate.current_revision(db) is not None:
            reset_database(db, force=force)
            dropped = True
        migrate.upgrade(db)
        if not is_empty(db):
            if is_demo(db):
                return DemoResult(dropped=dropped, already_there=True, summary=None)
            raise ValidationError("The database already holds real data; demo data is only added to an empty database.")
        summary = seed_demo(db, blobs=make_blob_store(settings), max_pixels=settings.max_image_pixels)
        return DemoResult(dropped=dropped, already_there=False, summary=summary)
    finally:
        db.dispose()


@dataclass(frozen=True)
class StorageInfo:
    """The hosted blob store: its API URL and bucket."""

    url: str
    bucket: str


def _supabase_store(settings: Settings) -> SupabaseBlobStore:
    """The Supabase store of the settings, unchecked; a clear error in embedded mode."""
    if settings.blob_backend != "supabase":
        raise ValidationError(
            f"PORTAL_BLOB_BACKEND is {settings.blob_backend!r}: blobs are in the folder {settings.blob_dir}, "
            "there is no bucket to check or create. Set PORTAL_BLOB_BACKEND=supabase for hosted mode."
        )
    # Imported here so the embedded mode never loads supabase-py.
    from portal.backend.platform.hosted import SupabaseBlobStore

    return SupabaseBlobStore.from_settings(settings, check=False)


def check_storage(settings: Settings, *, actor: Actor) -> StorageInfo:
    """Prove the Supabase bucket is reachable with the service key and private; a PortalError says what is wrong."""
    require(actor, "admin", to="check the blob store")
    store = _supabase_store(settings)
    store.check_bucket()
    return StorageInfo(url=store.url, bucket=store.bucket)


def init_storage(settings: Settings, *, actor: Actor) -> tuple[bool, StorageInfo]:
    """Create the private Supabase bucket when it is missing (idempotent); True when it was created."""
    require(actor, "admin", to="create the storage bucket")
    store = _supabase_store(settings)
    created = bool(store.create_bucket())
    if created:
        store.check_bucket()
    return created, StorageInfo(url=store.url, bucket=store.bucket)
