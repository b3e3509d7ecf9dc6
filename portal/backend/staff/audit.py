"""The audit log: who saw, exported, linked or deleted what (append in the caller's transaction)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from portal.backend.platform.db.schema import audit_log


def audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    now: datetime,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one line to the audit log in the caller's transaction."""
    conn.execute(
        insert(audit_log).values(
            at=now,
            actor=actor[:100],
            action=action[:64],
            target_type=target_type,
            target_id=None if target_id is None else str(target_id)[:64],
            detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        )
    )


def audit_count(conn: Connection, *, action: str | None = None) -> int:
    """How many audit lines there are (of one action)."""
    stmt = select(func.count()).select_from(audit_log)
    if action:
        stmt = stmt.where(audit_log.c.action == action)
    return conn.execute(stmt).scalar_one()


def recent(conn: Connection, *, limit: int = 200, action: str | None = None) -> list[dict[str, Any]]:
    """The newest audit lines."""
    stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(audit_log.c.action == action)
    return [dict(r._mapping) for r in conn.execute(stmt)]
