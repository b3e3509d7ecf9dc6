"""The compliance report for a period and the Art. 30 record of processing, as PDFs.

Risk figures come from risk/figures.py and are never recomputed here; the period's figures (consent decisions,
erasures, renewals, takedowns) are counted from the ledger, the subjects, the outbox and the takedown tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from html import escape
from typing import Any

from sqlalchemy import Connection, String, and_, bindparam, func, select, text

from portal.backend.consent.queries import verify_ledger
from portal.backend.consent.titles import purpose_titles
from portal.backend.platform.db import migrate
from portal.backend.platform.db.schema import (
    asset_uses,
    assets,
    consent_ledger,
    outbox,
    purposes,
    subjects,
    takedowns,
)
from portal.backend.platform.db.types import UTCDateTime, utcnow
from portal.backend.platform.organisation import get_organisation
from portal.backend.platform.runtime import Portal
from portal.backend.reports import art30
from portal.backend.reports.receipt import _ENV, ASSETS, TEMPLATES, _font_face_css, local_url_fetcher
from portal.backend.risk.figures import REASON_LABELS, REASONS, PurposeRisk, critical_assets, staff_declared, summary
from portal.backend.risk.history import coverage_history

# Bumped when the report's content or layout changes, so two reports can be told apart by more than their date.
REPORT_FORMAT = 2
DEFAULT_PERIOD_DAYS = 30

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


def bar_chart_svg(
    figures: list[PurposeRisk], *, width: int = 640, row: int = 22, titles: dict[str, str] | None = None
) -> str:
    """A stacked horizontal bar per purpose (labelled with its title), one colour per reason, as inline SVG (no
    plotting library needed)."""
    top = max((sum(f.by_reason.values()) for f in figures), default=0) or 1
    label_w, parts = 110, []
    for i, f in enumerate(figures):
        y, x = 38 + i * row, float(label_w)
        label = (titles or {}).get(f.purpose, f.purpose)
        # The label column is 110 px wide: a long title is cut with an ellipsis (the tables above name it in full).
        label = label if len(label) <= 20 else label[:19].rstrip() + "…"
        parts.append(f'<text x="0" y="{y + 13}" font-size="10">{escape(label)}</text>')
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


@dataclass(frozen=True)
class Period:
    """[start, end): the report covers what happened from `start` up to (not including) `end`, both UTC."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        """'YYYY-MM-DD to YYYY-MM-DD', the last day the one that `end` closes."""
        last = self.end - timedelta(microseconds=1)
        return f"{self.start:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"


def default_period(now: datetime, days: int = DEFAULT_PERIOD_DAYS) -> Period:
    """The last `days` whole UTC days, today included: every entry point asking for the default gets the same."""
    tomorrow = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), UTC)
    return Period(tomorrow - timedelta(days=days), tomorrow)


_ACTIONS = ("given", "renewed", "refused", "withdrawn", "revoked", "expired")


def _decisions(conn: Connection, period: Period) -> list[dict[str, Any]]:
    """Ledger entries per purpose and action recorded in the period (vetoes of one photo count as revoked)."""
    rows = conn.execute(
        select(purposes.c.code, consent_ledger.c.action, func.count().label("n"))
        .join(purposes, purposes.c.id == consent_ledger.c.purpose_id)
        .where(consent_ledger.c.recorded_at >= period.start, consent_ledger.c.recorded_at < period.end)
        .group_by(purposes.c.code, consent_ledger.c.action)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        counts.setdefault(r.code, dict.fromkeys(_ACTIONS, 0))[r.action] = int(r.n)
    order = conn.execute(select(purposes.c.code).order_by(purposes.c.sort_order, purposes.c.id)).scalars().all()
    return [{"code": code, **counts[code]} for code in order if code in counts]


def _erasures(conn: Connection, period: Period) -> list[dict[str, Any]]:
    """People erased in the period (pseudonymous id and when)."""
    rows = conn.execute(
        select(subjects.c.id, subjects.c.erased_at)
        .where(subjects.c.erased_at >= period.start, subjects.c.erased_at < period.end)
        .order_by(subjects.c.erased_at)
    ).all()
    return [{"subject_id": r.id, "at": r.erased_at} for r in rows]


def _renewals(conn: Connection, period: Period) -> dict[str, Any]:
    """Renewal requests queued in the period, and how the people answered (their next decision on that purpose)."""
    asked = conn.execute(
        select(outbox.c.subject_id, outbox.c.payload, outbox.c.created_at, outbox.c.status)
        .where(outbox.c.kind == "renewal", outbox.c.created_at >= period.start, outbox.c.created_at < period.end)
        .order_by(outbox.c.created_at)
    ).all()
    codes = {r.code: r.id for r in conn.execute(select(purposes.c.code, purposes.c.id))}
    per: dict[str, dict[str, int]] = {}
    for r in asked:
        payload = json.loads(r.payload or "{}")
        # An erased person's messages are blanked: the request still counts, its purpose is no longer known.
        code = str(payload.get("purpose") or "(erased)")
        row = per.setdefault(code, {"asked": 0, "renewed": 0, "declined": 0, "unanswered": 0, "unsent": 0})
        row["asked"] += 1
        if r.status != "done" and r.status != "sent":
            row["unsent"] += 1
        answer = None
        if r.subject_id and code in codes:
            answer = conn.execute(
                select(consent_ledger.c.action)
                .where(
                    consent_ledger.c.subject_id == r.subject_id,
                    consent_ledger.c.purpose_id == codes[code],
                    consent_ledger.c.scope_asset_id.is_(None),
                    consent_ledger.c.channel != "system",
                    consent_ledger.c.recorded_at > r.created_at,
                    consent_ledger.c.recorded_at < period.end,
                )
                .order_by(consent_ledger.c.seq)
                .limit(1)
            ).scalar()
        if answer in ("given", "renewed"):
            row["renewed"] += 1
        elif answer in ("refused", "withdrawn"):
            row["declined"] += 1
        else:
            row["unanswered"] += 1
    return {"rows": [{"code": k, **v} for k, v in per.items()], "total": len(asked)}


def _takedowns(conn: Connection, period: Period, now: datetime) -> dict[str, Any]:
    """Takedown tasks opened and closed in the period, with their age; those still open at `now`."""
    base = (
        select(
            takedowns.c.id,
            takedowns.c.kind,
            takedowns.c.asset_id,
            takedowns.c.opened_at,
            takedowns.c.closed_at,
            takedowns.c.cause,
            assets.c.filename,
            purposes.c.code,
            asset_uses.c.place,
        )
        .join(assets, assets.c.id == takedowns.c.asset_id)
        .join(purposes, purposes.c.id == takedowns.c.purpose_id)
        .join(asset_uses, asset_uses.c.id == takedowns.c.use_id)
    )
    opened = conn.execute(
        select(func.count()).where(takedowns.c.opened_at >= period.start, takedowns.c.opened_at < period.end)
    ).scalar_one()
    closed = [
        {**r._mapping, "days": (r.closed_at - r.opened_at).days}
        for r in conn.execute(
            base.where(and_(takedowns.c.closed_at >= period.start, takedowns.c.closed_at < period.end)).order_by(
                takedowns.c.closed_at, takedowns.c.id
            )
        )
    ]
    still_open = [
        {**r._mapping, "days": max(0, (now - r.opened_at).days)}
        for r in conn.execute(
            base.where(takedowns.c.closed_at.is_(None)).order_by(takedowns.c.opened_at, takedowns.c.id)
        )
    ]
    return {"opened": int(opened), "closed": closed, "open": still_open}


def _trend(conn: Connection, figures: list[PurposeRisk], period: Period) -> list[dict[str, Any]]:
    """Coverage per purpose at the first and the last daily snapshot inside the period, and now."""
    first_day, last_day = f"{period.start:%Y-%m-%d}", f"{period.end - timedelta(microseconds=1):%Y-%m-%d}"
    snaps = [s for s in coverage_history(conn, since=first_day) if s["day"] <= last_day]
    out = []
    for f in figures:
        mine = [s for s in snaps if s["purpose"] == f.purpose]
        start, end = (mine[0], mine[-1]) if mine else (None, None)
        change = None
        if start and end and start["coverage"] is not None and end["coverage"] is not None:
            change = end["coverage"] - start["coverage"]
        out.append({"purpose": f.purpose, "start": start, "end": end, "now": f.coverage, "change": change})
    return out


def _snapshot_days(trend: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The first and last snapshot day the trend compares, or None when the period has no snapshot."""
    days = sorted({t[k]["day"] for t in trend for k in ("start", "end") if t[k]})
    return (days[0], days[-1]) if days else None


def _expiring(conn: Connection, *, after: datetime, days: int) -> list[dict[str, Any]]:
    """Current consents (per person and purpose) that lapse within `days` after `after`."""
    return [
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
            {"now": after, "horizon": after + timedelta(days=days)},
        )
    ]


def period_figures(conn: Connection, *, period: Period, now: datetime, window_days: int) -> dict[str, Any]:
    """Everything the compliance report shows but the ledger check: risk as of `now`, activity in `period`."""
    figures = summary(conn, now=now, warning_days=window_days)
    trend = _trend(conn, figures, period)
    return {
        "figures": figures,
        "trend": trend,
        "snapshot_days": _snapshot_days(trend),
        "critical": critical_assets(conn, now=now),
        "declared": staff_declared(conn, now=now),
        "decisions": _decisions(conn, period),
        "erasures": _erasures(conn, period),
        "renewals": _renewals(conn, period),
        "takedowns": _takedowns(conn, period, now),
        "expiring": _expiring(conn, after=min(now, period.end), days=window_days),
    }


def compliance_report_pdf(
    portal: Portal, *, period: Period | None = None, author: str = "", now: datetime | None = None
) -> bytes:
    """The compliance report for `period` (default: the last 30 days): coverage and its trend, critical photos,
    consent decisions, erasures, renewals, takedowns with their age, expiring consents and the ledger's check."""
    now = now or utcnow()
    period = period or default_period(now)
    window = portal.settings.expiry_warning_days
    with portal.db.read() as conn:
        org = get_organisation(conn)
        values = period_figures(conn, period=period, now=now, window_days=window)
        # Purposes by their current titles; the codes (what CSV exports and the CLI use) are listed once at the top.
        titles = purpose_titles(conn)
    report = verify_ledger(portal)
    revision = migrate.current_revision(portal.db) or "none"
    return _render(
        "compliance.html",
        controller=org.controller_name,
        generated=now.strftime("%Y-%m-%d %H:%M"),
        period=period.label,
        author=author or "unknown",
        version=f"report format {REPORT_FORMAT}, schema revision {revision}",
        window=window,
        reasons=REASONS,
        labels=REASON_LABELS,
        actions=_ACTIONS,
        chart=bar_chart_svg(values["figures"], titles=titles),
        titles=titles,
        title=lambda code: titles.get(code, code),
        ledger=report,
        **values,
    )


def record_of_processing_pdf(portal: Portal, *, author: str = "", now: datetime | None = None) -> bytes:
    """The Art. 30(1) record (R22) from the configuration, the schema mapping and the recipients."""
    now = now or utcnow()
    record = art30.make_record(portal.db, portal.settings)
    return _render(
        "art30.html",
        r=record,
        generated=art30.at(now),
        author=author or "unknown",
        label=art30.category_label,
        line=art30.recipient_line,
        # A recipient for one purpose names it by its title, as the activities do.
        purpose_title=lambda code: {a.code: a.name for a in record.activities}.get(code, code),
    )
