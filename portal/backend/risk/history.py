"""Consent coverage over time: one snapshot per day and purpose, taken by the daily job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.backend.platform.db.schema import purposes, risk_snapshots
from portal.backend.risk import counts as _counts
from portal.backend.risk.figures import summary


def record_snapshot(conn: Connection, *, now: datetime) -> int:
    """Fold the risk counters' deltas, then store today's figures per purpose (replacing an earlier snapshot of the
    same day); returns rows written."""
    # The daily job's risk step: the summary then reads one counter row per key until changes add deltas again.
    _counts.compact(conn)
    day = now.date().isoformat()
    ids = dict(conn.execute(select(purposes.c.code, purposes.c.id)).all())
    rows = [
        {
            "day": day,
            "purpose_id": ids[f.purpose],
            "with_people": f.with_people,
            "at_risk": f.at_risk,
            "critical": f.critical,
        }
        for f in summary(conn, now=now)
    ]
    # An upsert, not delete-then-insert: two job runs at once would both find nothing to delete and then collide.
    if rows:
        stmt = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(risk_snapshots)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["day", "purpose_id"],
                set_={k: stmt.excluded[k] for k in ("with_people", "at_risk", "critical")},
            ),
            rows,
        )
    return len(rows)


def coverage_history(conn: Connection, *, since: str | None = None) -> list[dict[str, Any]]:
    """Snapshots, oldest first: day, purpose, photos with people, at risk, critical and coverage (0..1)."""
    stmt = (
        select(
            risk_snapshots.c.day,
            purposes.c.code.label("purpose"),
            risk_snapshots.c.with_people,
            risk_snapshots.c.at_risk,
            risk_snapshots.c.critical,
        )
        .join(purposes, purposes.c.id == risk_snapshots.c.purpose_id)
        .order_by(risk_snapshots.c.day, purposes.c.sort_order, purposes.c.id)
    )
    if since is not None:
        stmt = stmt.where(risk_snapshots.c.day >= since)
    return [
        {**r._mapping, "coverage": (1 - r.at_risk / r.with_people) if r.with_people else None}
        for r in conn.execute(stmt)
    ]
