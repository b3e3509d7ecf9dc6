"""Read models of the risk domain: the dashboard's figures, the photos behind them, coverage over time, the
overview page's counts and the detectors' state, as typed values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from portal.backend.photos.vision.status import detector_status as _detector_status
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import UnknownPurpose, ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.risk import figures as _figures
from portal.backend.risk import history as _history
from portal.backend.risk import index as _index
from portal.backend.risk.figures import (
    PRIMARY_ORDER,
    REASON_LABELS,
    REASONS,
    WINDOWS,
    EventRisk,
    PurposeRisk,
    StaffDeclared,
)
from portal.backend.risk.overview import Overview, portal_overview

__all__ = [
    "PRIMARY_ORDER",
    "REASONS",
    "REASON_LABELS",
    "WINDOWS",
    "CoverageSnapshot",
    "CriticalPhoto",
    "DrillRow",
    "EventRisk",
    "Headline",
    "Overview",
    "PurposeRisk",
    "RiskOverview",
    "StaffDeclared",
    "check_risk_index",
    "coverage_history",
    "critical_photos",
    "detector_status",
    "drill_count",
    "drill_down",
    "headline",
    "overview",
    "risk_overview",
    "risk_summary",
    "staff_declared_consents",
]


@dataclass(frozen=True)
class RiskOverview:
    """The dashboard's headline: figures per purpose and per (event, purpose), from one pass over the index."""

    figures: list[PurposeRisk]
    events: list[EventRisk]
    warning_days: int


@dataclass(frozen=True)
class CriticalPhoto:
    """A published photo that lost its basis for the purpose it is published for, and one reason why."""

    asset_id: int
    filename: str
    purpose: str
    place: str
    since: datetime
    reason: str


@dataclass(frozen=True)
class DrillRow:
    """One photo behind a dashboard figure."""

    asset_id: int
    filename: str
    event: str | None
    reasons: tuple[str, ...]
    covered_until: datetime | None
    published: bool
    people: tuple[str, ...] = ()  # names of the linked people: untrusted text, shown plain


@dataclass(frozen=True)
class CoverageSnapshot:
    """One day's figures of one purpose, as the daily job recorded them."""

    day: date
    purpose: str
    with_people: int
    at_risk: int
    critical: int
    coverage: float | None  # 0..1; None when no photo shows people


def risk_overview(portal: Portal, *, now: datetime | None = None) -> RiskOverview:
    """Figures per purpose and per event, with the configured warning window."""
    warning = portal.settings.expiry_warning_days
    with portal.db.read() as conn:
        figures, events = _figures.overview(conn, now=now, warning_days=warning)
    return RiskOverview(figures=figures, events=events, warning_days=warning)


def risk_summary(portal: Portal, *, purpose: str | None = None, now: datetime | None = None) -> list[PurposeRisk]:
    """Figures per purpose (or of one purpose: UnknownPurpose when there is none by that code)."""
    with portal.db.read() as conn:
        rows = _figures.summary(conn, now=now, warning_days=portal.settings.expiry_warning_days)
    if purpose is None:
        return rows
    chosen = [r for r in rows if r.purpose == purpose]
    if not chosen:
        raise UnknownPurpose(purpose, [r.purpose for r in rows])
    return chosen


def critical_photos(portal: Portal, *, now: datetime | None = None, limit: int = 500) -> list[CriticalPhoto]:
    """Published photos at risk for the purpose they are published for: one row per reason."""
    with portal.db.read() as conn:
        rows = _figures.critical_assets(conn, now=now, limit=limit)
    return [
        CriticalPhoto(
            asset_id=r["asset_id"],
            filename=r["filename"],
            purpose=r["code"],
            place=r["place"],
            since=r["since"],
            reason=r["reason"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Headline:
    """The dashboard's first line: published photos that lost their basis, and the worst purpose with publications."""

    published_at_risk: int  # distinct photos published for some purpose they are at risk for
    worst_purpose: str | None  # the purpose with publications whose published photos are least covered
    worst_published: int  # photos published for it
    worst_at_risk: int  # of those, at risk

    @property
    def worst_coverage(self) -> float | None:
        """Share of the worst purpose's published photos that may stay published (None without publications)."""
        return None if not self.worst_published else 1 - self.worst_at_risk / self.worst_published


def headline(figures: list[PurposeRisk], critical: list[CriticalPhoto]) -> Headline:
    """The headline from the figures and the critical photos (ties: the purpose with more photos at risk)."""
    published = [f for f in figures if f.published]
    worst = min(published, key=lambda f: (1 - f.critical / f.published, -f.critical), default=None)
    return Headline(
        published_at_risk=len({c.asset_id for c in critical}),
        worst_purpose=worst.purpose if worst else None,
        worst_published=worst.published if worst else 0,
        worst_at_risk=worst.critical if worst else 0,
    )


def drill_count(
    portal: Portal,
    *,
    purpose: str,
    reason: str | None = None,
    primary_reason: str | None = None,
    event_id: int | None = None,
    expiring_within: int | None = None,
    published_only: bool = False,
    now: datetime | None = None,
) -> int:
    """How many photos `drill_down` finds in all."""
    for r in (reason, primary_reason):
        if r is not None and r not in REASONS:
            raise ValidationError(f"Unknown reason {r!r}; one of {', '.join(REASONS)}.")
    with portal.db.read() as conn:
        return _figures.drill_count(
            conn,
            purpose=purpose,
            reason=reason,
            primary_reason=primary_reason,
            event_id=event_id,
            expiring_within=expiring_within,
            published_only=published_only,
            now=now,
        )


def drill_down(
    portal: Portal,
    *,
    purpose: str,
    reason: str | None = None,
    primary_reason: str | None = None,
    event_id: int | None = None,
    expiring_within: int | None = None,
    published_only: bool = False,
    now: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[DrillRow]:
    """The photos behind one figure: at risk for `purpose` (optionally for one reason), or lapsing within N days."""
    for r in (reason, primary_reason):
        if r is not None and r not in REASONS:
            raise ValidationError(f"Unknown reason {r!r}; one of {', '.join(REASONS)}.")
    with portal.db.read() as conn:
        rows = _figures.drill_down(
            conn,
            purpose=purpose,
            reason=reason,
            primary_reason=primary_reason,
            event_id=event_id,
            expiring_within=expiring_within,
            published_only=published_only,
            now=now,
            limit=limit,
            offset=offset,
        )
    return [
        DrillRow(
            asset_id=r["asset_id"],
            filename=r["filename"],
            event=r["event"],
            reasons=tuple(x for x in r["reasons"].split(", ") if x),
            covered_until=r["covered_until"],
            published=r["published"],
            people=tuple(r["people"]),
        )
        for r in rows
    ]


def coverage_history(portal: Portal, *, since: date | None = None) -> list[CoverageSnapshot]:
    """The daily snapshots, oldest first."""
    with portal.db.read() as conn:
        rows = _history.coverage_history(conn, since=None if since is None else since.isoformat())
    return [
        CoverageSnapshot(
            day=r["day"] if isinstance(r["day"], date) else date.fromisoformat(str(r["day"])),
            purpose=r["purpose"],
            with_people=int(r["with_people"]),
            at_risk=int(r["at_risk"]),
            critical=int(r["critical"]),
            coverage=r["coverage"],
        )
        for r in rows
    ]


def overview(portal: Portal, *, now: datetime | None = None) -> Overview:
    """The staff start page's counts: subjects, events, ledger entries, consents lapsing within the warning."""
    with portal.db.read() as conn:
        return portal_overview(conn, now=now or utcnow(), warning_days=portal.settings.expiry_warning_days)


def staff_declared_consents(portal: Portal, *, now: datetime | None = None) -> StaffDeclared:
    """Current consents resting only on a staff member's declaration (no scan, the person not acting themselves)."""
    with portal.db.read() as conn:
        return _figures.staff_declared(conn, now=now)


def detector_status(portal: Portal) -> list[str]:
    """One sentence per detector saying whether it runs, and why not."""
    return _detector_status(portal.settings)


def check_risk_index(portal: Portal) -> list[str]:
    """Differences between the stored risk index and a fresh computation from the ledger (empty: they agree)."""
    with portal.db.read() as conn:
        return _index.check(conn)
