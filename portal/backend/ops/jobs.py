"""The daily jobs: expire lapsed consents in the ledger, ask for renewals, digest for managers, takedown state.

Every step is idempotent (dedupe keys, idempotency keys checked under the ledger lock), so running the jobs twice,
or from two machines at once, changes nothing the second time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update

from portal.backend.consent import ledger
from portal.backend.consent.ledger import NewEntry
from portal.backend.ops.outbox import queue
from portal.backend.photos.face_templates import delete_biometrics
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import (
    asset_uses,
    consent_ledger,
    outbox,
    purpose_texts,
    purposes,
    staff_users,
    subjects,
)
from portal.backend.platform.db.types import utcnow
from portal.backend.risk.figures import summary
from portal.backend.risk.history import record_snapshot


@dataclass(frozen=True)
class JobReport:
    """What one run did."""

    expired: int
    renewal_requests: int
    digests: int
    takedowns_done: int
    snapshots: int = 0


def _latest_allowing(now: datetime):  # type: ignore[no-untyped-def]
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
        .where(consent_ledger.c.action.in_(("given", "renewed")), subjects.c.erased_at.is_(None))
    )


def expire_lapsed(db: Database, *, now: datetime) -> int:
    """Write an 'expired' entry (actor system) for every given/renewed consent whose validity has passed."""
    with db.write() as conn:
        # Lock the chain before reading: a renewal committed between our read and our append would otherwise be
        # followed by an "expired" entry judged on the state before it.
        ledger.lock_head(conn)
        lapsed = conn.execute(_latest_allowing(now).where(consent_ledger.c.valid_until <= now)).all()
        entries = [
            NewEntry(
                subject_id=r.subject_id,
                purpose_id=r.purpose_id,
                action="expired",
                text_version=r.text_version,
                text_locale=r.text_locale,
                text_hash=r.text_hash,
                channel="system",
                actor="system",
                scope_asset_id=r.scope_asset_id,
                evidence={"reason": "validity period ended", "valid_until": r.valid_until.isoformat()},
                idempotency_key=f"expire:{r.seq}",
            )
            for r in lapsed
        ]
        before = conn.execute(select(func.max(consent_ledger.c.seq))).scalar() or 0
        written = [e for e in ledger.append(conn, entries, now=now) if e.seq > before]
        for r in lapsed:
            if r.biometric and r.scope_asset_id is None:
                delete_biometrics(conn, r.subject_id)  # Art. 9: no template without valid consent
        return len(written)


def request_renewals(db: Database, *, now: datetime, window_days: int) -> int:
    """Queue one renewal request per consent that lapses soon or was given under a replaced text (R16)."""
    current = (
        select(purpose_texts.c.purpose_id, func.max(purpose_texts.c.version).label("version"))
        .group_by(purpose_texts.c.purpose_id)
        .subquery()
    )
    made = 0
    with db.write() as conn:
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


def manager_digests(db: Database, *, now: datetime, window_days: int) -> int:
    """One digest per manager and day with the risk figures the dashboard shows."""
    made = 0
    with db.write() as conn:
        figures = [f.__dict__ for f in summary(conn, now=now, warning_days=window_days)]
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
                    payload={"risk": figures},
                    dedupe_key=f"digest:{email}:{now.date().isoformat()}",
                )
                is not None
            )
    return made


def settle_takedowns(db: Database, *, now: datetime) -> int:
    """Mark takedown tasks done once the publication they name has ended."""
    with db.write() as conn:
        tasks = conn.execute(
            select(outbox.c.id, outbox.c.payload).where(and_(outbox.c.kind == "takedown", outbox.c.status == "pending"))
        ).all()
        done = 0
        for task in tasks:
            use_id = json.loads(task.payload).get("use_id")
            ended = conn.execute(select(asset_uses.c.until).where(asset_uses.c.id == use_id)).scalar()
            if ended is not None:
                conn.execute(update(outbox).where(outbox.c.id == task.id).values(status="done", processed_at=now))
                done += 1
        return done


def run_jobs(db: Database, *, window_days: int = 30, now: datetime | None = None) -> JobReport:
    """All daily jobs, each in its own transaction."""
    now = now or utcnow()
    return JobReport(
        expired=expire_lapsed(db, now=now),
        renewal_requests=request_renewals(db, now=now, window_days=window_days),
        digests=manager_digests(db, now=now, window_days=window_days),
        takedowns_done=settle_takedowns(db, now=now),
        snapshots=take_snapshot(db, now=now),
    )


def take_snapshot(db: Database, *, now: datetime) -> int:
    """Today's coverage per purpose, for the dashboard's chart over time (last, so it sees the expiries above)."""
    with db.write() as conn:
        return record_snapshot(conn, now=now)
