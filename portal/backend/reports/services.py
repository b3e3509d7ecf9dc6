"""Report actions: the compliance report for a period and the Art. 30 record of processing, each audited the same
way whichever entry point (the Reports page, `python -m portal reports`) asks for it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from portal.backend.platform.actors import Actor
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.reports.compliance import (
    DEFAULT_PERIOD_DAYS,
    Period,
    compliance_report_pdf,
    default_period,
    record_of_processing_pdf,
)
from portal.backend.staff.audit import audit
from portal.backend.staff.roles import require

__all__ = ["DEFAULT_PERIOD_DAYS", "Period", "art30_record", "compliance_report", "report_period"]


def _author(actor: Actor) -> str:
    """How a report names who made it."""
    return f"{actor.name} ({actor.ref})" if actor.name else actor.ref


def report_period(start: date | None, end: date | None, *, now: datetime | None = None) -> Period:
    """Whole UTC days from `start` through `end` (both included); the last 30 days, today included, when neither is
    given; 30 days up to `end`, or from `start` up to today, when one is."""
    now = now or utcnow()
    if start is None and end is None:
        return default_period(now)
    last = end or now.date()
    first = start or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise ValidationError(f"The period starts ({first}) after it ends ({last}).")
    return Period(datetime.combine(first, time(), UTC), datetime.combine(last + timedelta(days=1), time(), UTC))


def compliance_report(
    portal: Portal, *, actor: Actor, period: Period | None = None, now: datetime | None = None
) -> bytes:
    """The compliance report PDF for `period` (default: the last 30 days; managers and up); audited as
    `export_compliance_report`. It lists subject ids with expiring consents and erasures, and the critical
    photos, so producing it is an export."""
    require(actor, "manager", to="make the compliance report")
    now = now or utcnow()
    period = period or default_period(now)
    # Rendered before the audit row is written: a report that fails to render was not exported.
    pdf = compliance_report_pdf(portal, period=period, author=_author(actor), now=now)
    with portal.db.write() as conn:
        audit(
            conn,
            actor=actor.ref,
            action="export_compliance_report",
            now=now,
            detail={
                "from": period.start.isoformat(),
                "to": period.end.isoformat(),
                "window_days": portal.settings.expiry_warning_days,
            },
        )
    return pdf


def art30_record(portal: Portal, *, actor: Actor, now: datetime | None = None) -> bytes:
    """The Art. 30 record of processing PDF (managers and up); audited as `export_record_of_processing`.

    It holds no personal data of the people photographed, but it is an official document handed to supervisors:
    the log says who made it."""
    require(actor, "manager", to="make the record of processing")
    now = now or utcnow()
    pdf = record_of_processing_pdf(portal, author=_author(actor), now=now)
    with portal.db.write() as conn:
        audit(conn, actor=actor.ref, action="export_record_of_processing", now=now)
    return pdf
