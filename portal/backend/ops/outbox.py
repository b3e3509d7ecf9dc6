"""The outbox: e-mails, renewal requests and takedown tasks waiting to be sent or done."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, null, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.backend.platform.db.schema import outbox


def queue(
    conn: Connection,
    *,
    kind: str,
    now: datetime,
    payload: dict[str, Any],
    recipient: str | None = None,
    subject_id: str | None = None,
    asset_id: int | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Add a task in the caller's transaction; a task with the same dedupe key is not added twice, even when
    two job runs race (ON CONFLICT DO NOTHING, on both databases). Returns the new id, or None."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(outbox).values(
        kind=kind,
        recipient=recipient,
        subject_id=subject_id,
        asset_id=asset_id,
        payload=json.dumps(payload, ensure_ascii=False),
        dedupe_key=dedupe_key,
        created_at=now,
    )
    if dedupe_key:
        stmt = stmt.on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key])
    return conn.execute(stmt.returning(outbox.c.id)).scalar()


def pending(conn: Connection, *, kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Tasks still waiting, oldest first."""
    stmt = select(outbox).where(outbox.c.status == "pending").order_by(outbox.c.id).limit(limit)
    if kind:
        stmt = stmt.where(outbox.c.kind == kind)
    return [dict(r._mapping) | {"payload": json.loads(r.payload)} for r in conn.execute(stmt)]


# Tasks staff still have to do for an erased person stay; everything addressed to them goes. (Takedowns are in the
# `takedowns` table now; "takedown" rows here are from before it, which the daily job turns into tasks.)
_STAFF_TASKS = ("takedown",)


def forget_recipient(conn: Connection, *, subject_id: str, email: str | None, now: datetime) -> int:
    """Erasure: cancel every message still queued to or about the person and blank the recipient and payload of
    all of them, sent ones included (a welcome e-mail's payload holds a live link); returns the rows changed."""
    about = outbox.c.subject_id == subject_id
    if email:
        about = or_(about, func.lower(outbox.c.recipient) == email.lower())
    rows = conn.execute(select(outbox.c.id, outbox.c.status).where(about, outbox.c.kind.not_in(_STAFF_TASKS))).all()
    # 'sending' too: a sender that has not finished yet then finds its claim gone and records nothing.
    pending_ids = [r.id for r in rows if r.status in ("pending", "sending", "failed")]
    if pending_ids:
        conn.execute(update(outbox).where(outbox.c.id.in_(pending_ids)).values(status="cancelled", processed_at=now))
    if rows:
        conn.execute(update(outbox).where(outbox.c.id.in_([r.id for r in rows])).values(recipient=None, payload="{}"))
    return len(rows)


# Kinds that are e-mails to send; every other kind is a task for staff and is never sent.
MAIL_KINDS = (
    "email",
    "renewal",
    "digest",
    "expiry",
    "erasure_confirmation",
    "takedown_notice",
    "not_me_notice",
    "new_link",
    "confirm_changes",
)
# Kinds addressed to someone who was erased: once sent (or failed for good) the address goes too, so the erasure
# leaves only a pseudonymous remainder.
FORGET_RECIPIENT = ("erasure_confirmation",)


def claim(conn: Connection, *, now: datetime, lease: timedelta, limit: int) -> list[dict[str, Any]]:
    """Claim up to `limit` e-mails due now for one sender, in the caller's (short) transaction: each gets a fresh
    token, 'sending' and a lease; a row whose lease has passed (its sender died) is due again. PostgreSQL skips rows
    another sender has locked; SQLite's single writer makes the read-then-update atomic."""
    due = and_(
        outbox.c.kind.in_(MAIL_KINDS),
        outbox.c.recipient.is_not(None),
        or_(
            and_(
                outbox.c.status == "pending",
                or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
            ),
            and_(outbox.c.status == "sending", outbox.c.claimed_until < now),
        ),
    )
    stmt = select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list(conn.execute(stmt).scalars())
    claimed = []
    for row_id in ids:
        token = str(uuid.uuid4())
        # `due` again in the UPDATE: a row that stopped being due since the read is not taken.
        taken = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, due)
            .values(
                status="sending",
                claim_token=token,
                claimed_until=now + lease,
                attempts=outbox.c.attempts + 1,
            )
        ).rowcount
        if taken:
            row = conn.execute(select(outbox).where(outbox.c.id == row_id)).one()
            claimed.append(dict(row._mapping) | {"payload": json.loads(row.payload)})
    return claimed


def _kept_recipient() -> Any:
    """The recipient a finished e-mail keeps: none for an erasure confirmation, the address otherwise."""
    return case((outbox.c.kind.in_(FORGET_RECIPIENT), null()), else_=outbox.c.recipient)


def mark_sent(conn: Connection, *, row_id: int, token: str, subject: str, now: datetime) -> bool:
    """Record a delivered e-mail; its body and link are blanked, only the subject line stays. False when the claim
    was lost (another sender took the row after the lease passed, or the person was erased meanwhile)."""
    return bool(
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.claim_token == token, outbox.c.status == "sending")
            .values(
                status="sent",
                sent_at=now,
                recipient=_kept_recipient(),
                processed_at=now,
                payload=json.dumps({"subject": subject}, ensure_ascii=False),
                claim_token=None,
                claimed_until=None,
                last_error=None,
                next_attempt_at=None,
            )
        ).rowcount
    )


def mark_failed_try(
    conn: Connection, *, row_id: int, token: str, error: str, now: datetime, retry_at: datetime | None
) -> bool:
    """Record a failed try: waiting again until `retry_at`, or 'failed' for good when it is None (payload kept, so
    nothing is lost: staff can see it and send it again)."""
    values: dict[str, Any] = {"last_error": error[:300], "claim_token": None, "claimed_until": None}
    if retry_at is None:
        values |= {"status": "failed", "processed_at": now, "next_attempt_at": None, "recipient": _kept_recipient()}
    else:
        values |= {"status": "pending", "next_attempt_at": retry_at}
    return bool(
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.claim_token == token, outbox.c.status == "sending")
            .values(**values)
        ).rowcount
    )


def mark_cancelled(conn: Connection, *, row_id: int, token: str, reason: str, now: datetime) -> bool:
    """A claimed e-mail that can no longer be sent (the person was erased, the message cannot be built)."""
    return bool(
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.claim_token == token)
            .values(status="cancelled", processed_at=now, last_error=reason[:300], claim_token=None, claimed_until=None)
        ).rowcount
    )


def retry_failed(conn: Connection, *, row_ids: list[int] | None = None) -> int:
    """Put failed e-mails back in the queue with a fresh count of tries (all of them, or `row_ids`)."""
    stmt = update(outbox).where(outbox.c.status == "failed", outbox.c.kind.in_(MAIL_KINDS))
    if row_ids is not None:
        stmt = stmt.where(outbox.c.id.in_(row_ids))
    return int(
        conn.execute(stmt.values(status="pending", attempts=0, next_attempt_at=None, processed_at=None)).rowcount
    )
