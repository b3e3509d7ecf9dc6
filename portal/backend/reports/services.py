"""Report actions: the compliance report and the Art. 30 record of processing, each audited the same way
whichever entry point (the Reports page, `python -m portal reports`) asks for it."""

from __future__ import annotations

from datetime import datetime

from portal.backend.platform.actors import Actor
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.runtime import Portal
from portal.backend.reports.compliance import compliance_report_pdf, record_of_processing_pdf
from portal.backend.staff.audit import audit
from portal.backend.staff.roles import require

__all__ = ["art30_record", "compliance_report"]


def compliance_report(portal: Portal, *, actor: Actor, now: datetime | None = None) -> bytes:
    """The compliance report PDF (managers and up); audited as `export_compliance_report`.

    It lists subject ids with expiring consents and the critical photos, so producing it is an export."""
    require(actor, "manager", to="make the compliance report")
    now = now or utcnow()
    window = portal.settings.expiry_warning_days
    # Rendered before the audit row is written: a report that fails to render was not exported.
    pdf = compliance_report_pdf(portal.db, window_days=window, now=now)
    with portal.db.write() as conn:
        audit(conn, actor=actor.ref, action="export_compliance_report", now=now, detail={"window_days": window})
    return pdf


def art30_record(portal: Portal, *, actor: Actor, now: datetime | None = None) -> bytes:
    """The Art. 30 record of processing PDF (managers and up); audited as `export_record_of_processing`.

    It holds no personal data, but it is an official document handed to supervisors: the log says who made it."""
    require(actor, "manager", to="make the record of processing")
    now = now or utcnow()
    pdf = record_of_processing_pdf(portal.db, now=now)
    with portal.db.write() as conn:
        audit(conn, actor=actor.ref, action="export_record_of_processing", now=now)
    return pdf
