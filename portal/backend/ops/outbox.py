"""The outbox: e-mails, renewal requests and takedown tasks waiting to be sent or done."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update
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


# Tasks staff still have to do for an erased person (take a photo down) stay; everything addressed to them goes.
_STAFF_TASKS = ("takedown",)


def forget_recipient(conn: Connection, *, subject_id: str, email: str | None, now: datetime) -> int:
    """Erasure: cancel every message still queued to or about the person and blank the recipient and payload of
    all of them, sent ones included (a welcome e-mail's payload holds a live link); returns the rows changed."""
    about = outbox.c.subject_id == subject_id
    if email:
        about = or_(about, func.lower(outbox.c.recipient) == email.lower())
    rows = conn.execute(select(outbox.c.id, outbox.c.status).where(about, outbox.c.kind.not_in(_STAFF_TASKS))).all()
    pending_ids = [r.id for r in rows if r.status in ("pending", "failed")]
    if pending_ids:
        conn.execute(update(outbox).where(outbox.c.id.in_(pending_ids)).values(status="cancelled", processed_at=now))
    if rows:
        conn.execute(update(outbox).where(outbox.c.id.in_([r.id for r in rows])).values(recipient=None, payload="{}"))
    return len(rows)
