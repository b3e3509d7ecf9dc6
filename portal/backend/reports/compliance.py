"""The compliance report and the Art. 30 record of processing, as PDFs (figures from risk.py, never recomputed)."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from sqlalchemy import String, bindparam, text

from portal.backend.consent import ledger
from portal.backend.consent.purposes import current_texts, list_purposes
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import UTCDateTime, utcnow
from portal.backend.platform.organisation import get_organisation
from portal.backend.reports.receipt import _ENV, ASSETS, TEMPLATES, _font_face_css, local_url_fetcher
from portal.backend.risk.figures import REASON_LABELS, REASONS, PurposeRisk, critical_assets, staff_declared, summary

SECURITY_MEASURES = (
    "consent events kept in an append-only, hash-chained ledger that the database itself protects",
    "row-level security on every table in the hosted database; no public API access",
    "HTTPS only in production; signed, expiring and revocable links",
    "face templates stored only with explicit consent (or while library matching is switched on) and deleted "
    "on withdrawal or erasure; selfies never stored",
    "staff passwords hashed with scrypt; every view or export of a person's data written to the audit log",
    "safe renditions blur every face without valid consent before publication",
)
_COLORS = {
    "unidentified": "#8c8c8c",
    "unknown": "#c9a227",
    "refused": "#b5452f",
    "withdrawn": "#d9782d",
    "revoked": "#7a2e8e",
    "expired": "#4f6d8f",
    "veto": "#2f8f6f",
    "superseded": "#5b8c2a",
}


def _render(template: str, **values: object) -> bytes:
    """Render a report template to PDF with the bundled fonts and no network."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    fetcher = local_url_fetcher(ASSETS, TEMPLATES)
    fonts = FontConfiguration()
    sheets = [
        CSS(string=_font_face_css(ASSETS / "fonts"), font_config=fonts, url_fetcher=fetcher),
        CSS(filename=str(TEMPLATES / "report.css"), font_config=fonts, url_fetcher=fetcher),
    ]
    html = _ENV.get_template(template).render(**values)
    return HTML(string=html, base_url=str(TEMPLATES) + "/", url_fetcher=fetcher).write_pdf(
        stylesheets=sheets, font_config=fonts
    )


def bar_chart_svg(figures: list[PurposeRisk], *, width: int = 640, row: int = 22) -> str:
    """A stacked horizontal bar per purpose, one colour per reason, as inline SVG (no plotting library needed)."""
    top = max((sum(f.by_reason.values()) for f in figures), default=0) or 1
    label_w, parts = 110, []
    for i, f in enumerate(figures):
        y, x = 38 + i * row, float(label_w)
        parts.append(f'<text x="0" y="{y + 13}" font-size="10">{escape(f.purpose)}</text>')
        for reason in REASONS:
            n = f.by_reason.get(reason, 0)
            if n:
                w = (width - label_w - 10) * n / top
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{_COLORS[reason]}"/>')
                x += w
    # Two legend rows of four: eight reasons do not fit one row at a readable size.
    legend = "".join(
        f'<rect x="{label_w + (i % 4) * 120}" y="{2 + (i // 4) * 14}" width="10" height="10" fill="{_COLORS[r]}"/>'
        f'<text x="{label_w + (i % 4) * 120 + 13}" y="{11 + (i // 4) * 14}" font-size="9">{REASON_LABELS[r]}</text>'
        for i, r in enumerate(REASONS)
    )
    height = 44 + len(figures) * row
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Receipt Sans">{legend}{"".join(parts)}</svg>'
    )


def compliance_report_pdf(db: Database, *, window_days: int = 30, now: datetime | None = None) -> bytes:
    """Summary figures, the critical list, expiring consents and a chart, with the ledger's verification."""
    now = now or utcnow()
    with db.read() as conn:
        org = get_organisation(conn)
        figures = summary(conn, now=now, warning_days=window_days)
        critical = critical_assets(conn, now=now)
        declared = staff_declared(conn, now=now)
        expiring = [
            dict(r._mapping)
            for r in conn.execute(
                text("""
            WITH latest AS (SELECT max(seq) AS seq FROM consent_ledger WHERE scope_asset_id IS NULL
                            GROUP BY subject_id, purpose_id)
            SELECT c.subject_id, p.code, c.valid_until FROM consent_ledger c JOIN latest ON latest.seq = c.seq
            JOIN purposes p ON p.id = c.purpose_id JOIN subjects s ON s.id = c.subject_id
            WHERE c.action IN ('given', 'renewed') AND s.erased_at IS NULL
              AND c.valid_until > :now AND c.valid_until <= :horizon ORDER BY c.valid_until
        """)
                .bindparams(bindparam("now", type_=UTCDateTime), bindparam("horizon", type_=UTCDateTime))
                .columns(subject_id=String, code=String, valid_until=UTCDateTime),
                {"now": now, "horizon": now + timedelta(days=window_days)},
            )
        ]
    report = ledger.verify(db)
    ledger_line = (
        f"Intact: {report.checked} entries verified."
        if report.ok
        else f"TAMPERED: first bad entry {report.first_bad_seq}: {report.problem}."
    )
    return _render(
        "compliance.html",
        controller=org.controller_name,
        generated=now.strftime("%Y-%m-%d %H:%M"),
        window=window_days,
        figures=figures,
        reasons=REASONS,
        labels=REASON_LABELS,
        chart=bar_chart_svg(figures),
        critical=critical,
        expiring=expiring,
        declared=declared,
        ledger=ledger_line,
    )


def record_of_processing_pdf(db: Database, *, now: datetime | None = None) -> bytes:
    """The Art. 30(1) record per purpose (R22): controller, DPO, purposes, data, recipients, transfers, limits."""
    now = now or utcnow()
    with db.read() as conn:
        org = get_organisation(conn)
        texts = current_texts(conn, "en")
        purposes = []
        for p in list_purposes(conn):
            t = texts.get(p.id)
            if t is None:
                continue
            validity = p.validity_days or org.consent_validity_days
            purposes.append(
                {
                    "code": p.code,
                    "dpv": p.dpv_code,
                    "title": t.title,
                    "body": t.body,
                    "version": t.version,
                    "data": list(t.data_categories) or ["Photo"],
                    "recipients": list(t.recipients),
                    "basis": (
                        "Explicit consent, Art. 9(2)(a) GDPR (biometric data)"
                        if p.biometric
                        else "Consent, Art. 6(1)(a) GDPR"
                    ),
                    "transfers": (
                        "Recipients named above may process the photos outside the EU/EEA under their own "
                        "safeguards (standard contractual clauses)"
                        if p.third_party
                        else "None"
                    ),
                    "retention": (
                        f"Consent is valid for {validity} days unless renewed; photos and templates are "
                        "removed from use on withdrawal, expiry or erasure"
                        + (f"; data kept at most {p.retention_days} days" if p.retention_days else "")
                    ),
                }
            )
    address = ", ".join(x for x in (org.street, f"{org.postal_code} {org.locality}".strip(), org.country) if x)
    return _render(
        "art30.html",
        org=org,
        address=address,
        generated=now.strftime("%Y-%m-%d %H:%M"),
        purposes=purposes,
        measures=SECURITY_MEASURES,
    )
