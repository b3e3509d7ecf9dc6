"""The audit log: who saw, exported, linked or deleted what (append in the caller's transaction)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, insert, or_, select

from portal.backend.platform.db.schema import audit_log, staff_users


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


def _filters(
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ColumnElement[bool]]:
    """Conditions of a filtered read: one action, one actor ref (or a staff member's refs), a half-open time range."""
    where: list[ColumnElement[bool]] = []
    if action:
        where.append(audit_log.c.action == action)
    if actor:
        # "staff:3" and the kiosk it ran ("staff:3" too) are one ref; a kind alone ("system") matches its jobs.
        where.append(or_(audit_log.c.actor == actor, audit_log.c.actor.startswith(actor + ":", autoescape=True)))
    if since is not None:
        where.append(audit_log.c.at >= since)
    if until is not None:
        where.append(audit_log.c.at < until)
    return where


def recent(
    conn: Connection,
    *,
    limit: int = 200,
    offset: int = 0,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """The newest audit lines (filtered by action, actor, [since, until))."""
    where = _filters(action=action, actor=actor, since=since, until=until)
    stmt = select(audit_log).where(*where).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def count(
    conn: Connection,
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """How many lines a filtered read finds in all."""
    where = _filters(action=action, actor=actor, since=since, until=until)
    return int(conn.execute(select(func.count()).select_from(audit_log).where(*where)).scalar_one())


def actions(conn: Connection) -> list[str]:
    """Every action the log holds, alphabetically (the page's action filter)."""
    return [r[0] for r in conn.execute(select(audit_log.c.action).distinct().order_by(audit_log.c.action))]


def actors(conn: Connection) -> list[str]:
    """Every actor ref the log holds, alphabetically."""
    return [r[0] for r in conn.execute(select(audit_log.c.actor).distinct().order_by(audit_log.c.actor))]


def staff_names(conn: Connection) -> dict[int, str]:
    """Display names of every staff account, removed-from-role or not (refs in old lines still resolve)."""
    return {int(r.id): str(r.display_name) for r in conn.execute(select(staff_users.c.id, staff_users.c.display_name))}
