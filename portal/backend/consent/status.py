"""Current consent status, derived from the ledger with the rules of R23 and the per-image veto."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, case, func, literal, select

from portal.backend.platform.db.schema import consent_ledger, purposes

ALLOWING = ("given", "renewed")
VETOING = ("refused", "withdrawn", "revoked")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ConsentStatus:
    """The status of one subject's consent for one purpose, for all images or one image."""

    purpose_code: str
    scope_asset_id: int | None
    status: str
    since: datetime | None
    valid_until: datetime | None
    text_version: int | None
    seq: int | None

    @property
    def allowed(self) -> bool:
        """True only for given or renewed consent that has not expired (R23)."""
        return self.status in ALLOWING


def status_of(action: str | None, valid_until: datetime | None, now: datetime) -> str:
    """Status of a latest ledger action at `now`: a lapsed given/renewed counts as expired."""
    if action is None:
        return UNKNOWN
    if action in ALLOWING and valid_until is not None and valid_until <= now:
        return "expired"
    return action


def image_status(general: str, image: str | None) -> str:
    """Effective status for one image: a per-image refusal vetoes general consent; a per-image grant stands alone."""
    if image in VETOING or image in ALLOWING:
        return image
    if image == "expired" and general not in ALLOWING:
        # The image-specific grant lapsed and nothing general covers it.
        return "expired" if general == UNKNOWN else general
    return general


def latest_entries_query(subject_id: Any = None) -> Select:
    """SQL for the latest ledger entry per (subject, purpose, scope); the input to every status read."""
    latest = select(func.max(consent_ledger.c.seq).label("seq")).group_by(
        consent_ledger.c.subject_id, consent_ledger.c.purpose_id, consent_ledger.c.scope_asset_id
    )
    if subject_id is not None:
        latest = latest.where(consent_ledger.c.subject_id == subject_id)
    latest_sq = latest.subquery()
    return (
        select(consent_ledger, purposes.c.code.label("purpose_code"))
        .join(latest_sq, consent_ledger.c.seq == latest_sq.c.seq)
        .join(purposes, purposes.c.id == consent_ledger.c.purpose_id)
    )


def status_sql(now: datetime) -> ColumnElement[Any]:
    """SQL CASE that applies `status_of` in the database, for lists and risk queries."""
    return case(
        (
            and_(
                consent_ledger.c.action.in_(ALLOWING),
                consent_ledger.c.valid_until.is_not(None),
                consent_ledger.c.valid_until <= literal(now, consent_ledger.c.valid_until.type),
            ),
            literal("expired"),
        ),
        else_=consent_ledger.c.action,
    )


def subject_consents(conn: Connection, subject_id: str, now: datetime) -> list[ConsentStatus]:
    """Current status of every purpose (general scope) and every per-image decision of one subject."""
    rows = conn.execute(latest_entries_query(subject_id)).all()
    general = {r.purpose_code: r for r in rows if r.scope_asset_id is None}
    result: list[ConsentStatus] = []
    for p in conn.execute(select(purposes).where(purposes.c.active.is_(True)).order_by(purposes.c.sort_order)):
        r = general.get(p.code)
        result.append(
            ConsentStatus(
                purpose_code=p.code,
                scope_asset_id=None,
                status=status_of(r.action if r else None, r.valid_until if r else None, now),
                since=r.recorded_at if r else None,
                valid_until=r.valid_until if r else None,
                text_version=r.text_version if r else None,
                seq=r.seq if r else None,
            )
        )
    for r in sorted((r for r in rows if r.scope_asset_id is not None), key=lambda r: (r.scope_asset_id, r.seq)):
        result.append(
            ConsentStatus(
                purpose_code=r.purpose_code,
                scope_asset_id=r.scope_asset_id,
                status=status_of(r.action, r.valid_until, now),
                since=r.recorded_at,
                valid_until=r.valid_until,
                text_version=r.text_version,
                seq=r.seq,
            )
        )
    return result


def status_for(statuses: list[ConsentStatus], purpose_code: str, asset_id: int | None = None) -> str:
    """Effective status of one purpose, for all images (asset_id None) or for one image."""
    general = next((s.status for s in statuses if s.purpose_code == purpose_code and s.scope_asset_id is None), UNKNOWN)
    if asset_id is None:
        return general
    image = next((s.status for s in statuses if s.purpose_code == purpose_code and s.scope_asset_id == asset_id), None)
    return image_status(general, image)
