"""Risk actions: rebuild the risk index from the ledger and the detections."""

from __future__ import annotations

from datetime import datetime

from portal.backend.platform.actors import Actor
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as _index
from portal.backend.staff.audit import audit
from portal.backend.staff.roles import require

__all__ = ["rebuild_risk_index"]


def rebuild_risk_index(portal: Portal, *, actor: Actor, now: datetime | None = None) -> int:
    """Recompute the risk index in one transaction (admins and operators); returns its (photo, purpose) rows."""
    require(actor, "admin", to="rebuild the risk index")
    now = now or utcnow()
    with portal.db.write() as conn:
        rows = _index.rebuild(conn)
        audit(conn, actor=actor.ref, action="rebuild_risk_index", now=now, detail={"rows": rows})
    return rows
