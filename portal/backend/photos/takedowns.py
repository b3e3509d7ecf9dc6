"""Takedown tasks: work a consent change leaves for staff, opened and closed in the transaction of the change.

A publication (`asset_uses`, `until IS NULL`) needs taking down once its photo is at risk for the purpose it is
published under for a reason nobody accepted at publication (`asset_risk.reasons & ~accepted_reasons`). The risk
index calls `open_tasks` right after it re-judges photos, so every change that moves a judgement (a ledger entry, a
link, an analysis, a new text version) opens the task in its own transaction, with one set-based statement. A
publication to a partner purpose (`purposes.third_party`) also gets one `notify_partner` task: the partner must be
told to stop using and erase the photo (Art. 17(2), 19).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text, update

from portal.backend.platform.actors import Actor
from portal.backend.platform.db.schema import asset_uses, assets, purposes, takedowns
from portal.backend.platform.db.types import UTCDateTime
from portal.backend.platform.errors import ConsentStateError, NotFound, ValidationError
from portal.backend.platform.text import has_control

KINDS = ("takedown", "notify_partner")
# The main reason of a task, strongest first: the person's own "no" before a lapse, a lapse before a missing answer.
CAUSES: tuple[tuple[str, int], ...] = (
    ("withdrawn", 8),
    ("refused", 4),
    ("veto", 64),
    ("revoked", 16),
    ("expired", 32),
    ("text_replaced", 128),
    ("no_consent", 2),
    ("unidentified", 1),
)
ERASURE = "erasure"
# Who closes a task whose photo became usable again (the person renewed or gave consent): the portal itself.
RESOLVED_BY = Actor.system("takedowns").ref
_EFFECTIVE = "(r.reasons & ~u.accepted_reasons)"
_CAUSE_SQL = (
    "CASE "
    + " ".join(f"WHEN ({_EFFECTIVE} & {bit}) <> 0 THEN '{name}'" for name, bit in CAUSES[:-1])
    + f" ELSE '{CAUSES[-1][0]}' END"
)
# One row per task to open: every open publication whose photo is at risk for a reason not accepted, and (partner
# purposes) its notify_partner twin, unless the partner was already told about this publication once. The unique
# open_key makes "one open task of a kind per publication" hold under concurrent writers too.
_OPEN = """
INSERT INTO takedowns (kind, use_id, asset_id, purpose_id, reasons, cause, opened_at, open_key)
SELECT k.kind, u.id, u.asset_id, u.purpose_id, r.reasons, {cause}, :now,
       k.kind || ':' || CAST(u.id AS VARCHAR(20))
FROM asset_uses u
JOIN asset_risk r ON r.asset_id = u.asset_id AND r.purpose_id = u.purpose_id
JOIN purposes p ON p.id = u.purpose_id
JOIN (SELECT 'takedown' AS kind UNION ALL SELECT 'notify_partner' AS kind) k
  ON k.kind = 'takedown' OR p.third_party = true
WHERE u.until IS NULL AND {effective} <> 0 {filter}
  AND (k.kind = 'takedown' OR NOT EXISTS (
        SELECT 1 FROM takedowns t WHERE t.use_id = u.id AND t.kind = 'notify_partner'))
ON CONFLICT (open_key) DO NOTHING
"""
# One notice per task opened at :now, to every active manager and admin (they act on the "To take down" page): a
# set-based statement like _OPEN, run only when tasks were opened; the dedupe key makes a second run add nothing (cut
# to the column's 200 characters: an address may be 254 long, and an error here would undo the consent change).
_NOTIFY = """
INSERT INTO outbox (kind, recipient, asset_id, payload, dedupe_key, created_at)
SELECT 'takedown_notice', s.email, t.asset_id, '{"task": ' || CAST(t.id AS VARCHAR(20)) || '}',
       SUBSTR('takedown-notice:' || CAST(t.id AS VARCHAR(20)) || ':' || s.email, 1, 200), :now
FROM takedowns t
JOIN staff_users s ON s.role IN ('manager', 'admin') AND s.active = true
WHERE t.opened_at = :now AND t.open_key IS NOT NULL
ON CONFLICT (dedupe_key) DO NOTHING
"""
# Open takedowns (not erasures: the published copy still shows the unblurred face) whose photo is usable again.
_RESOLVE = """
UPDATE takedowns SET open_key = NULL, closed_at = :now, closed_by = :by, closed_note = :note
WHERE open_key IS NOT NULL AND kind = 'takedown' AND cause <> 'erasure' {filter}
  AND NOT EXISTS (
        SELECT 1 FROM asset_uses u JOIN asset_risk r ON r.asset_id = u.asset_id AND r.purpose_id = u.purpose_id
        WHERE u.id = takedowns.use_id
          AND ({effective} <> 0 OR (r.until <= :now AND (u.accepted_reasons & 32) = 0)))
"""


def open_tasks(
    conn: Connection,
    *,
    now: datetime,
    asset_ids: list[int] | None = None,
    purpose_id: int | None = None,
    use_id: int | None = None,
) -> None:
    """Open the missing tasks (and close the takedowns no longer needed) for these photos, this purpose or this
    publication, or for all; call right after `asset_risk` was re-judged, in the same transaction."""
    filters: list[str] = []
    params: dict[str, Any] = {"now": now}
    expanding = False
    if asset_ids is not None:
        if not asset_ids:
            return
        filters.append("AND {t}asset_id IN :ids")
        params["ids"] = asset_ids
        expanding = True
    if purpose_id is not None:
        filters.append("AND {t}purpose_id = :pid")
        params["pid"] = purpose_id
    if use_id is not None:
        filters.append("AND {t}{use} = :uid")
        params["uid"] = use_id
    for template, prefix, use_col, extra in (
        (_OPEN, "u.", "id", {}),
        (_RESOLVE, "", "use_id", {"by": RESOLVED_BY, "note": "usable again: no reason to take it down remains"}),
    ):
        where = " ".join(f.format(t=prefix, use=use_col) for f in filters)
        stmt = text(template.format(cause=_CAUSE_SQL, effective=_EFFECTIVE, filter=where))
        # Typed, so a time is stored and compared as the UTCDateTime columns hold it (naive UTC) on both databases.
        stmt = stmt.bindparams(bindparam("now", type_=UTCDateTime))
        if expanding:
            stmt = stmt.bindparams(bindparam("ids", expanding=True))
        result = conn.execute(stmt, params | extra)
        if template is _OPEN and result.rowcount:
            queue_notices(conn, now=now)


def open_for_erasure(conn: Connection, *, asset_ids: list[int], now: datetime) -> int:
    """Erasure (R10, Art. 17(2)): every open publication of these photos shows the person unblurred, accepted or
    not, so each gets a takedown (and partner) task with cause 'erasure'; tasks already open are relabelled, which
    also keeps them from closing when the risk index finds the blurred photo usable. Returns the publications."""
    if not asset_ids:
        return 0
    uses = conn.execute(
        select(asset_uses.c.id, asset_uses.c.asset_id, asset_uses.c.purpose_id, purposes.c.third_party)
        .join(purposes, purposes.c.id == asset_uses.c.purpose_id)
        .where(asset_uses.c.asset_id.in_(asset_ids), asset_uses.c.until.is_(None))
    ).all()
    if not uses:
        return 0
    ids = [u.id for u in uses]
    conn.execute(
        update(takedowns).where(takedowns.c.use_id.in_(ids), takedowns.c.open_key.is_not(None)).values(cause=ERASURE)
    )
    open_keys = set(
        conn.execute(select(takedowns.c.open_key).where(takedowns.c.use_id.in_(ids), takedowns.c.open_key.is_not(None)))
        .scalars()
        .all()
    )
    told = set(
        conn.execute(
            select(takedowns.c.use_id).where(takedowns.c.use_id.in_(ids), takedowns.c.kind == "notify_partner")
        )
        .scalars()
        .all()
    )
    rows = [
        {
            "kind": kind,
            "use_id": u.id,
            "asset_id": u.asset_id,
            "purpose_id": u.purpose_id,
            "reasons": 0,
            "cause": ERASURE,
            "opened_at": now,
            "open_key": f"{kind}:{u.id}",
        }
        for u in uses
        for kind in KINDS
        if f"{kind}:{u.id}" not in open_keys and (kind == "takedown" or (u.third_party and u.id not in told))
    ]
    if rows:
        conn.execute(takedowns.insert(), rows)
        queue_notices(conn, now=now)
    return len(uses)


def queue_notices(conn: Connection, *, now: datetime) -> None:
    """Queue the takedown notices to staff for the tasks opened at `now`, in the caller's transaction."""
    conn.execute(text(_NOTIFY).bindparams(bindparam("now", type_=UTCDateTime)), {"now": now})


def close_for_use(conn: Connection, *, use_id: int, actor: Actor, now: datetime) -> list[int]:
    """The publication ended: its open takedown task is done (a partner still has to be told); returns task ids."""
    ids = list(
        conn.execute(
            select(takedowns.c.id).where(
                takedowns.c.use_id == use_id, takedowns.c.kind == "takedown", takedowns.c.open_key.is_not(None)
            )
        ).scalars()
    )
    if ids:
        conn.execute(
            update(takedowns)
            .where(takedowns.c.id.in_(ids))
            .values(open_key=None, closed_at=now, closed_by=actor.ref[:100], closed_note="publication ended")
        )
    return ids


def close_partner_task(conn: Connection, *, task_id: int, note: str, actor: Actor, now: datetime) -> Task:
    """Record that the partner was told (what, when, by whom: the note); only notify_partner tasks close so."""
    note = (note or "").strip()
    if not note or len(note) > 300:
        raise ValidationError("Say briefly how and when the partner was told (at most 300 characters).")
    if has_control(note):
        raise ValidationError("The note contains control or invisible formatting characters.")
    task = get_task(conn, task_id)
    if task.kind != "notify_partner":
        raise ValidationError(
            f"Task {task_id} is a takedown: it is done when the publication is ended (publications end {task.use_id})."
        )
    if task.closed_at is not None:
        raise ConsentStateError(f"Task {task_id} was already closed on {task.closed_at:%Y-%m-%d}.")
    conn.execute(
        update(takedowns)
        .where(takedowns.c.id == task_id)
        .values(open_key=None, closed_at=now, closed_by=actor.ref[:100], closed_note=note)
    )
    return get_task(conn, task_id)


@dataclass(frozen=True)
class Task:
    """One takedown or notify-partner task as staff see it."""

    id: int
    kind: str
    use_id: int
    asset_id: int
    filename: str
    thumb_key: str | None
    purpose: str
    third_party: bool
    place: str
    reasons: tuple[str, ...]  # the risk reasons when it opened (see risk_index.REASON_BITS)
    cause: str
    opened_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    closed_note: str | None
    publication_ended: datetime | None

    @property
    def is_open(self) -> bool:
        """Still to do."""
        return self.closed_at is None


def _reason_names(mask: int) -> tuple[str, ...]:
    """Names of the bits set in a risk mask, in the index's order."""
    from portal.backend.risk.index import REASON_BITS  # the index imports this module

    return tuple(name for name, bit in REASON_BITS.items() if mask & bit)


def _tasks_select() -> Any:
    """Tasks with their photo, purpose and publication."""
    return (
        select(
            takedowns,
            assets.c.filename,
            assets.c.thumb_key,
            purposes.c.code.label("purpose"),
            purposes.c.third_party,
            asset_uses.c.place,
            asset_uses.c.until.label("publication_ended"),
        )
        .join(assets, assets.c.id == takedowns.c.asset_id)
        .join(purposes, purposes.c.id == takedowns.c.purpose_id)
        .join(asset_uses, asset_uses.c.id == takedowns.c.use_id)
    )


def _task(row: Any) -> Task:
    """Row to Task."""
    return Task(
        id=row.id,
        kind=row.kind,
        use_id=row.use_id,
        asset_id=row.asset_id,
        filename=row.filename,
        thumb_key=row.thumb_key,
        purpose=row.purpose,
        third_party=bool(row.third_party),
        place=row.place,
        reasons=_reason_names(int(row.reasons)),
        cause=row.cause,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        closed_note=row.closed_note,
        publication_ended=row.publication_ended,
    )


def get_task(conn: Connection, task_id: int) -> Task:
    """One task, or NotFound."""
    row = conn.execute(_tasks_select().where(takedowns.c.id == task_id)).one_or_none()
    if row is None:
        raise NotFound(f"No takedown task with id {task_id}.")
    return _task(row)


def list_tasks(conn: Connection, *, open_only: bool = True, limit: int = 200) -> list[Task]:
    """Open tasks oldest first, or (open_only=False) every task, the most recently opened or closed first."""
    stmt = _tasks_select()
    if open_only:
        stmt = stmt.where(takedowns.c.open_key.is_not(None)).order_by(takedowns.c.opened_at, takedowns.c.id)
    else:
        stmt = stmt.order_by(takedowns.c.id.desc())
    return [_task(r) for r in conn.execute(stmt.limit(limit))]


def list_closed(conn: Connection, *, limit: int = 50) -> list[Task]:
    """The most recently closed tasks."""
    stmt = _tasks_select().where(takedowns.c.closed_at.is_not(None))
    return [
        _task(r) for r in conn.execute(stmt.order_by(takedowns.c.closed_at.desc(), takedowns.c.id.desc()).limit(limit))
    ]


@dataclass(frozen=True)
class OpenSummary:
    """How many tasks are open and since when the oldest (for the manager digest)."""

    open: int
    oldest_opened_at: datetime | None

    def oldest_days(self, now: datetime) -> int | None:
        """Whole days the oldest open task has waited."""
        return None if self.oldest_opened_at is None else max(0, (now - self.oldest_opened_at).days)


def open_summary(conn: Connection) -> OpenSummary:
    """Count of open tasks and when the oldest opened."""
    row = conn.execute(
        select(func.count(), func.min(takedowns.c.opened_at)).where(takedowns.c.open_key.is_not(None))
    ).one()
    return OpenSummary(int(row[0]), row[1])


def close_ended(conn: Connection, *, now: datetime) -> int:
    """Safety net: open takedowns whose publication has ended (written behind the services' back) are done."""
    ended = select(asset_uses.c.id).where(asset_uses.c.until.is_not(None))
    result = conn.execute(
        update(takedowns)
        .where(takedowns.c.open_key.is_not(None), takedowns.c.kind == "takedown", takedowns.c.use_id.in_(ended))
        .values(open_key=None, closed_at=now, closed_by=RESOLVED_BY, closed_note="publication had ended")
    )
    return int(result.rowcount or 0)
