"""Current consent status, derived from the ledger with the rules of R23, R16 (replaced texts) and the per-image veto."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, case, func, literal, select

from portal.backend.platform.db.schema import consent_ledger, purpose_texts, purposes

ALLOWING = ("given", "renewed")
VETOING = ("refused", "withdrawn", "revoked")
UNKNOWN = "unknown"
# Given or renewed under a text version that has since been replaced (R16): not allowed until the person renews.
SUPERSEDED = "superseded"


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
    # The purpose's newest text version: a superseded consent is renewed under it.
    current_version: int | None = None

    @property
    def allowed(self) -> bool:
        """True only for given or renewed consent that has not expired and whose text is current (R16, R23)."""
        return self.status in ALLOWING


def status_of(
    action: str | None,
    valid_until: datetime | None,
    now: datetime,
    *,
    text_version: int | None = None,
    current_version: int | None = None,
) -> str:
    """Status of a latest ledger action at `now`: given/renewed under a replaced text is superseded, and a lapsed
    one expired (superseded first, as in the risk index: renewing under the new text is what fixes both)."""
    if action is None:
        return UNKNOWN
    if action in ALLOWING:
        if text_version is not None and current_version is not None and text_version < current_version:
            return SUPERSEDED
        if valid_until is not None and valid_until <= now:
            return "expired"
    return action


def row_status(row: Any, now: datetime) -> str:
    """`status_of` for a row of `latest_entries_query` (which carries the purpose's current text version)."""
    return status_of(
        row.action, row.valid_until, now, text_version=row.text_version, current_version=row.current_version
    )


def image_status(general: str, image: str | None) -> str:
    """Effective status for one image: a per-image refusal vetoes general consent; a per-image grant stands alone
    (and so does a per-image grant under a replaced text: it needs renewing, whatever the general consent says)."""
    if image in VETOING or image in ALLOWING or image == SUPERSEDED:
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
        select(consent_ledger, purposes.c.code.label("purpose_code"), _current_version().label("current_version"))
        .join(latest_sq, consent_ledger.c.seq == latest_sq.c.seq)
        .join(purposes, purposes.c.id == consent_ledger.c.purpose_id)
    )


def _current_version() -> ColumnElement[Any]:
    """The newest text version of the ledger row's purpose (a correlated subquery; purpose_texts is small)."""
    return (
        select(func.max(purpose_texts.c.version))
        .where(purpose_texts.c.purpose_id == consent_ledger.c.purpose_id)
        .correlate(consent_ledger)
        .scalar_subquery()
    )


def status_sql(now: datetime) -> ColumnElement[Any]:
    """SQL CASE that applies `status_of` in the database, for lists and risk queries."""
    return case(
        (
            and_(consent_ledger.c.action.in_(ALLOWING), consent_ledger.c.text_version < _current_version()),
            literal(SUPERSEDED),
        ),
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
                status=row_status(r, now) if r else UNKNOWN,
                since=r.recorded_at if r else None,
                valid_until=r.valid_until if r else None,
                text_version=r.text_version if r else None,
                seq=r.seq if r else None,
                current_version=r.current_version if r else None,
            )
        )
    for r in sorted((r for r in rows if r.scope_asset_id is not None), key=lambda r: (r.scope_asset_id, r.seq)):
        result.append(
            ConsentStatus(
                purpose_code=r.purpose_code,
                scope_asset_id=r.scope_asset_id,
                status=row_status(r, now),
                since=r.recorded_at,
                valid_until=r.valid_until,
                text_version=r.text_version,
                seq=r.seq,
                current_version=r.current_version,
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
