"""The daily jobs: expire lapsed consents in the ledger, ask for renewals, digest for managers, takedown state.

Each step works in the caller's transaction; `portal.backend.ops.services.run_daily_jobs` gives each its own.
Every step is idempotent (dedupe keys, idempotency keys checked under the ledger lock), so running the jobs twice,
or from two machines at once, changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, func, select, update

from portal.backend.consent import ledger
from portal.backend.consent.ledger import NewEntry
from portal.backend.consent.receipts import add_receipts
from portal.backend.ops.outbox import queue
from portal.backend.photos import takedowns as _takedowns
from portal.backend.photos.face_templates import delete_biometrics
from portal.backend.photos.retention import flag_past_retention
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import (
    consent_current,
    consent_ledger,
    outbox,
    purpose_texts,
    purposes,
    staff_users,
    subjects,
    takedowns,
)
from portal.backend.risk.figures import summary


@dataclass(frozen=True)
class JobReport:
    """What one run did."""

    expired: int
    renewal_requests: int
    digests: int
    takedowns_done: int  # tasks the safety net closed (publication ended, or the photo usable again)
    snapshots: int = 0
    receipts_issued: int = 0
    past_retention: int = 0  # photos newly flagged past the retention period (R17)
    photos_matched: int | None = None  # None: library face matching is off, the batch did nothing
    photos_left_to_match: int | None = None  # beyond the daily run's share; None as above
    takedowns_opened: int = 0  # tasks the safety net opened (consent changes open their own)


def _latest_allowing(now: datetime) -> Select[Any]:
    """Latest ledger entry per (subject, purpose, scope) that is a given or renewed consent."""
    latest = (
        select(func.max(consent_ledger.c.seq).label("seq"))
        .group_by(consent_ledger.c.subject_id, consent_ledger.c.purpose_id, consent_ledger.c.scope_asset_id)
        .subquery()
    )
    return (
        select(consent_ledger, purposes.c.biometric, purposes.c.code)
        .join(latest, latest.c.seq == consent_ledger.c.seq)
        .join(purposes, purposes.c.id == consent_ledger.c.purpose_id)
        .join(subjects, subjects.c.id == consent_ledger.c.subject_id)
        .where(
            consent_ledger.c.action.in_(("given", "renewed")),
            subjects.c.erased_at.is_(None),
            # A duplicate merged into another person: the kept person carries its consents now.
            subjects.c.merged_into.is_(None),
        )
    )


# Lapsed consents expired per transaction: each batch holds the ledger lock only for its own rows, so a one-tap change
# never waits for a whole day's expiries, and no statement carries more parameters than PostgreSQL allows.
EXPIRY_BATCH = 2_000


def expire_lapsed(conn: Connection, *, now: datetime, limit: int = EXPIRY_BATCH) -> int:
    """Write an 'expired' entry (actor system) for up to `limit` given/renewed consents whose validity has passed.

    Call it again (each time in its own transaction) while it returns `limit`: `expire_all` does.
    """
    # Lock the chain before reading: a renewal committed between our read and our append would otherwise be
    # followed by an "expired" entry judged on the state before it.
    ledger.lock_head(conn)
    # The consent projection holds one row per (person, purpose, scope) and is indexed on valid_until: the lapsed
    # rows are an index range, not a scan of the ledger.
    lapsed = conn.execute(
        select(consent_ledger, purposes.c.biometric, purposes.c.code, subjects.c.email)
        .select_from(consent_current)
        .join(consent_ledger, consent_ledger.c.seq == consent_current.c.seq)
        .join(purposes, purposes.c.id == consent_current.c.purpose_id)
        .join(subjects, subjects.c.id == consent_current.c.subject_id)
        .where(
            consent_current.c.valid_until <= now,
            consent_current.c.action.in_(("given", "renewed")),
            subjects.c.erased_at.is_(None),
            # A duplicate merged into another person: the kept person carries its consents now.
            subjects.c.merged_into.is_(None),
        )
        .order_by(consent_current.c.valid_until, consent_current.c.seq)
        .limit(limit)
    ).all()
    entries = [
        NewEntry(
            subject_id=r.subject_id,
            purpose_id=r.purpose_id,
            action="expired",
            text_version=r.text_version,
            text_locale=r.text_locale,
            text_hash=r.text_hash,
            channel="system",
            # The system expires consents, whoever started the run: the ledger says so, the audit row says who.
            actor=Actor.system().ref,
            scope_asset_id=r.scope_asset_id,
            evidence={"reason": "validity period ended", "valid_until": r.valid_until.isoformat()},
            idempotency_key=f"expire:{r.seq}",
        )
        for r in lapsed
    ]
    before = conn.execute(select(func.max(consent_ledger.c.seq))).scalar() or 0
    written = [e for e in ledger.append(conn, entries, now=now) if e.seq > before]
    # A receipt per person for what expired (rendered after the commit by the run's issue_pending_receipts).
    by_subject: dict[str, list[ledger.LedgerEntry]] = {}
    for entry in written:
        by_subject.setdefault(entry.subject_id, []).append(entry)
    add_receipts(conn, changes=list(by_subject.values()), actor=Actor.system().ref, now=now)
    for r in lapsed:
        if r.biometric and r.scope_asset_id is None:
            delete_biometrics(conn, r.subject_id)  # Art. 9: no template without valid consent
        if r.scope_asset_id is None and r.email:
            # A general consent lapsed: tell the person, with a way to give it again (the link is made at send time).
            queue(
                conn,
                kind="expiry",
                now=now,
                recipient=r.email,
                subject_id=r.subject_id,
                payload={"purpose": r.code, "valid_until": r.valid_until.isoformat()},
                dedupe_key=f"expiry:{r.subject_id}:{r.code}:{r.seq}",
            )
    return len(written)


def expire_all(db: Database, *, now: datetime, batch: int = EXPIRY_BATCH) -> int:
    """Expire every lapsed consent, one bounded batch per write transaction."""
    total = 0
    while True:
        with db.write() as conn:
            written = expire_lapsed(conn, now=now, limit=batch)
        total += written
        # A batch that wrote less than it may hold the last lapsed rows (or rows a concurrent run expired first).
        if written < batch:
            return total


def request_renewals(conn: Connection, *, now: datetime, window_days: int) -> int:
    """Queue one renewal request per consent that lapses soon or was given under a replaced text (R16)."""
    current = (
        select(purpose_texts.c.purpose_id, func.max(purpose_texts.c.version).label("version"))
        .group_by(purpose_texts.c.purpose_id)
        .subquery()
    )
    made = 0
    rows = conn.execute(
        _latest_allowing(now)
        .add_columns(current.c.version.label("current_version"), subjects.c.email, subjects.c.locale)
        .join(current, current.c.purpose_id == consent_ledger.c.purpose_id)
        .where(consent_ledger.c.scope_asset_id.is_(None), consent_ledger.c.valid_until > now)
        .where(
            (consent_ledger.c.valid_until <= now + timedelta(days=window_days))
            | (consent_ledger.c.text_version < current.c.version)
        )
    ).all()
    for r in rows:
        why = "text_replaced" if r.text_version < r.current_version else "expiring"
        made += (
            queue(
                conn,
                kind="renewal",
                now=now,
                recipient=r.email,
                subject_id=r.subject_id,
                payload={
                    "purpose": r.code,
                    "reason": why,
                    "valid_until": r.valid_until.isoformat(),
                    "agreed_version": r.text_version,
                    "current_version": r.current_version,
                },
                dedupe_key=f"renewal:{r.subject_id}:{r.code}:{why}:{r.seq}",
            )
            is not None
        )
    return made


def manager_digests(conn: Connection, *, now: datetime, window_days: int) -> int:
    """One digest per manager and day with the risk figures the dashboard shows."""
    made = 0
    figures = [f.__dict__ for f in summary(conn, now=now, warning_days=window_days)]
    head = ledger.latest_signed_head(conn)
    # The signed head travels in the digest: an anchor outside the database (a mailbox) that a later rollback of the
    # ledger cannot reach (`ledger verify --anchor` reads a digest's ledgerHead).
    tasks = _takedowns.open_summary(conn)
    payload: dict[str, Any] = {
        "risk": figures,
        "ledgerHead": head.to_json() if head else None,
        # Publications staff still have to take down (or partners to tell), and how long the oldest has waited.
        "takedowns": {"open": tasks.open, "oldestDays": tasks.oldest_days(now)},
    }
    managers = (
        conn.execute(
            select(staff_users.c.email).where(
                staff_users.c.role.in_(("manager", "admin")), staff_users.c.active.is_(True)
            )
        )
        .scalars()
        .all()
    )
    for email in managers:
        made += (
            queue(
                conn,
                kind="digest",
                now=now,
                recipient=email,
                payload=payload,
                dedupe_key=f"digest:{email}:{now.date().isoformat()}",
            )
            is not None
        )
    return made


def settle_takedowns(conn: Connection, *, now: datetime) -> tuple[int, int]:
    """Safety net for takedown tasks, which consent changes open and unpublishing closes in their own transactions:
    open the tasks missing for publications at risk (a database upgraded from before tasks existed, or rows written
    behind the services' back), turn erasure takedowns still pending in the outbox (before tasks existed) into
    tasks, and close takedowns whose publication has ended. Returns (opened, closed)."""
    open_before = set(conn.execute(select(takedowns.c.id).where(takedowns.c.open_key.is_not(None))).scalars())
    newest = conn.execute(select(func.max(takedowns.c.id))).scalar() or 0
    legacy = conn.execute(
        select(outbox.c.id, outbox.c.asset_id).where(and_(outbox.c.kind == "takedown", outbox.c.status == "pending"))
    ).all()
    _takedowns.open_for_erasure(conn, asset_ids=sorted({t.asset_id for t in legacy if t.asset_id}), now=now)
    if legacy:
        conn.execute(
            update(outbox).where(outbox.c.id.in_([t.id for t in legacy])).values(status="done", processed_at=now)
        )
    _takedowns.open_tasks(conn, now=now)
    _takedowns.close_ended(conn, now=now)
    open_after = set(conn.execute(select(takedowns.c.id).where(takedowns.c.open_key.is_not(None))).scalars())
    opened = int(conn.execute(select(func.count()).where(takedowns.c.id > newest)).scalar_one())
    return opened, len(open_before - open_after)


def flag_retention(conn: Connection, *, now: datetime) -> int:
    """Flag photos past the archive's retention period for a manager's review (R17); lifts flags a longer period
    no longer justifies. Idempotent: a photo is flagged once."""
    return flag_past_retention(conn, now=now)


# How long after an erasure the daily job keeps rewriting the tables that held the person (PostgreSQL): a rewrite
# blocked by a long transaction or a lock on one day is done on the next.
SCRUB_DAYS = 7


def recent_erasures(db: Database, *, now: datetime) -> int:
    """How many people were erased in the last SCRUB_DAYS days (the daily job scrubs the database files then)."""
    with db.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(subjects)
                .where(subjects.c.erased_at > now - timedelta(days=SCRUB_DAYS))
            ).scalar_one()
        )
