"""Headline figures for the staff start page, each one SQL count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, select

from portal.backend.consent.status import ALLOWING
from portal.backend.platform.db.schema import consent_ledger, events, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.organisation import Organisation, get_organisation


@dataclass(frozen=True)
class Overview:
    """Counts shown on the overview page."""

    organisation: Organisation
    subjects: int
    events: int
    ledger_entries: int
    expiring_soon: int


def portal_overview(conn: Connection, *, now: datetime | None = None, warning_days: int = 30) -> Overview:
    """Counts of subjects, events, ledger entries and consents that lapse within `warning_days`."""
    now = now or utcnow()
    latest = (
        select(func.max(consent_ledger.c.seq).label("seq"))
        .group_by(consent_ledger.c.subject_id, consent_ledger.c.purpose_id, consent_ledger.c.scope_asset_id)
        .subquery()
    )
    expiring = (
        select(func.count())
        .select_from(consent_ledger.join(latest, latest.c.seq == consent_ledger.c.seq))
        .where(
            and_(
                consent_ledger.c.action.in_(ALLOWING),
                consent_ledger.c.valid_until > now,
                consent_ledger.c.valid_until <= now + timedelta(days=warning_days),
            )
        )
    )
    return Overview(
        organisation=get_organisation(conn),
        subjects=conn.execute(
            select(func.count())
            .select_from(subjects)
            .where(subjects.c.erased_at.is_(None), subjects.c.merged_into.is_(None))
        ).scalar_one(),
        events=conn.execute(select(func.count()).select_from(events)).scalar_one(),
        ledger_entries=conn.execute(select(func.count()).select_from(consent_ledger)).scalar_one(),
        expiring_soon=conn.execute(expiring).scalar_one(),
    )
