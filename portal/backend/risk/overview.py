"""Headline figures for the staff start page, each one SQL count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, select

from portal.backend.consent.status import ALLOWING
from portal.backend.platform.db.schema import consent_current, consent_ledger, events, subjects
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
    # The latest entry per (person, purpose, scope) is the consent projection, indexed on valid_until: a range of
    # it, not a grouping of the whole ledger (seconds at millions of entries).
    expiring = (
        select(func.count())
        .select_from(consent_current)
        .where(
            and_(
                consent_current.c.action.in_(ALLOWING),
                consent_current.c.valid_until > now,
                consent_current.c.valid_until <= now + timedelta(days=warning_days),
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
        # The chain numbers entries 1, 2, 3, ... without gaps (verify checks each link): the last number is the count,
        # read from the primary key instead of counting millions of rows.
        ledger_entries=conn.execute(select(func.coalesce(func.max(consent_ledger.c.seq), 0))).scalar_one(),
        expiring_soon=conn.execute(expiring).scalar_one(),
    )
