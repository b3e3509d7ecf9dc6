"""The photo library as the review desk browses it: filters, one page of cards with a consent badge each, and the
next photo that still needs a decision.

Filters are SQL conditions on `assets`, so a page of 10,000 photos costs one LIMIT/OFFSET query and one count;
detections, risk rows and publications are then read for the shown page's ids only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, exists, func, not_, or_, select

from portal.backend.platform.db.schema import asset_risk, asset_uses, assets, detections, events, purposes, subjects
from portal.backend.platform.errors import ValidationError
from portal.backend.risk.index import REASON_BITS

# A card's badge, worst first. A photo not analysed yet is never "clear": nobody has looked for faces in it.
BADGES = ("critical", "at_risk", "pending", "failed", "clear")
BADGE_LABELS = {
    "critical": "Critical: published without a basis",
    "at_risk": "At risk",
    "pending": "Pending analysis",
    "failed": "Analysis failed",
    "clear": "All clear",
}
PENDING_STATES = ("pending", "processing")


@dataclass(frozen=True)
class LibraryFilter:
    """What the desk narrows the library to; every field optional."""

    event_id: int | None = None
    badge: str | None = None  # one of BADGES
    purpose: str | None = None  # a purpose code: badges and reasons are judged for this purpose only
    reason: str | None = None  # one of risk_index.REASON_BITS
    unreviewed: bool = False  # only photos with faces nobody has decided about
    search: str = ""  # part of the file name, or of the name of a person confirmed in the photo


@dataclass(frozen=True)
class LibraryCard:
    """One photo of the grid."""

    id: int
    filename: str
    event_id: int | None
    event_name: str | None
    analysis_state: str
    uploaded_at: datetime
    badge: str
    reasons: tuple[str, ...]  # risk reasons over the judged purposes
    faces: int  # face detections that count (not the ones marked "not a face")
    persons: int
    unreviewed: int  # identifiable faces nobody is confirmed for
    suggested: int  # open matching suggestions
    published: int  # current publications


@dataclass(frozen=True)
class LibraryPage:
    """One page of cards, and how many photos match the filter in all."""

    total: int
    offset: int
    limit: int
    cards: list[LibraryCard]


def not_a_face() -> ColumnElement[bool]:
    """A detection staff marked as no face at all (a patch, a poster): not identifiable and rejected, nobody linked."""
    # coalesce: a NULL status must make this false, not unknown, or NOT(...) would be unknown as well.
    return and_(
        detections.c.identifiable.is_(False),
        func.coalesce(detections.c.link_status, "") == "rejected",
        detections.c.subject_id.is_(None),
    )


def needs_review() -> ColumnElement[bool]:
    """An identifiable face nobody is confirmed for: someone has to link it or say why no consent is needed."""
    return and_(
        detections.c.kind == "face",
        detections.c.identifiable.is_(True),
        or_(detections.c.subject_id.is_(None), detections.c.link_status != "confirmed"),
    )


def _purpose_id(conn: Connection, code: str | None) -> int | None:
    """The id of a purpose code, or ValidationError."""
    if code is None:
        return None
    found = conn.execute(select(purposes.c.id).where(purposes.c.code == code)).scalar()
    if found is None:
        raise ValidationError(f"No purpose {code!r}.")
    return int(found)


def _risky(now: datetime, purpose_id: int | None, reason: str | None = None) -> Any:
    """Risk rows of the outer asset that are at risk now (for one purpose, for one reason)."""
    cond = [asset_risk.c.asset_id == assets.c.id]
    if purpose_id is not None:
        cond.append(asset_risk.c.purpose_id == purpose_id)
    if reason is None:
        cond.append(or_(asset_risk.c.reasons != 0, asset_risk.c.until <= now))
    else:
        bit = asset_risk.c.reasons.op("&")(REASON_BITS[reason]) != 0
        cond.append(or_(bit, asset_risk.c.until <= now) if reason == "expired" else bit)
    return select(asset_risk.c.asset_id).where(*cond)


def _critical(now: datetime, purpose_id: int | None) -> Any:
    """Publications of the outer asset for a purpose the photo is at risk for (as the dashboard counts them)."""
    stmt = (
        select(asset_uses.c.asset_id)
        .join(
            asset_risk,
            and_(asset_risk.c.asset_id == asset_uses.c.asset_id, asset_risk.c.purpose_id == asset_uses.c.purpose_id),
        )
        .where(
            asset_uses.c.asset_id == assets.c.id,
            asset_uses.c.until.is_(None),
            or_(asset_risk.c.reasons != 0, asset_risk.c.until <= now),
        )
    )
    return stmt if purpose_id is None else stmt.where(asset_uses.c.purpose_id == purpose_id)


def _conditions(conn: Connection, chosen: LibraryFilter, now: datetime) -> list[Any]:
    """The filter as WHERE conditions on `assets`."""
    if chosen.badge is not None and chosen.badge not in BADGES:
        raise ValidationError(f"Unknown state {chosen.badge!r}; one of {', '.join(BADGES)}.")
    if chosen.reason is not None and chosen.reason not in REASON_BITS:
        raise ValidationError(f"Unknown reason {chosen.reason!r}; one of {', '.join(REASON_BITS)}.")
    pid = _purpose_id(conn, chosen.purpose)
    done = assets.c.analysis_state == "done"
    where: list[Any] = [assets.c.deleted_at.is_(None)]
    if chosen.event_id is not None:
        where.append(assets.c.event_id == chosen.event_id)
    if chosen.badge == "pending":
        where.append(assets.c.analysis_state.in_(PENDING_STATES))
    elif chosen.badge == "failed":
        where.append(assets.c.analysis_state == "failed")
    elif chosen.badge == "critical":
        where += [done, exists(_critical(now, pid))]
    elif chosen.badge == "at_risk":
        where += [done, exists(_risky(now, pid)), not_(exists(_critical(now, pid)))]
    elif chosen.badge == "clear":
        where += [done, not_(exists(_risky(now, pid)))]
    if chosen.reason is not None:
        where.append(exists(_risky(now, pid, chosen.reason)))
    if chosen.unreviewed:
        where.append(exists(select(detections.c.id).where(detections.c.asset_id == assets.c.id, needs_review())))
    if term := chosen.search.strip().lower():
        in_photo = (
            select(detections.c.id)
            .join(subjects, subjects.c.id == detections.c.subject_id)
            .where(
                detections.c.asset_id == assets.c.id,
                detections.c.link_status == "confirmed",
                func.lower(subjects.c.display_name).contains(term, autoescape=True),
            )
        )
        where.append(or_(func.lower(assets.c.filename).contains(term, autoescape=True), exists(in_photo)))
    return where


def library_page(
    conn: Connection, *, chosen: LibraryFilter, now: datetime, limit: int = 24, offset: int = 0
) -> LibraryPage:
    """One page of the filtered library, newest first, with counts and badges for the shown photos only."""
    if not 1 <= limit <= 500 or offset < 0:
        raise ValidationError("A page holds 1 to 500 photos and starts at 0 or later.")
    where = _conditions(conn, chosen, now)
    total = int(conn.execute(select(func.count()).select_from(assets).where(*where)).scalar_one())
    rows = conn.execute(
        select(
            assets.c.id,
            assets.c.filename,
            assets.c.event_id,
            events.c.name.label("event_name"),
            assets.c.analysis_state,
            assets.c.uploaded_at,
        )
        .outerjoin(events, events.c.id == assets.c.event_id)
        .where(*where)
        .order_by(assets.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    ids = [r.id for r in rows]
    pid = _purpose_id(conn, chosen.purpose)
    counts = _counts(conn, ids)
    risk = _risk(conn, ids, now, pid)
    published = _published(conn, ids)
    cards = []
    for r in rows:
        reasons, critical = risk.get(r.id, ((), False))
        faces, persons, unreviewed, suggested = counts.get(r.id, (0, 0, 0, 0))
        cards.append(
            LibraryCard(
                id=r.id,
                filename=r.filename,
                event_id=r.event_id,
                event_name=r.event_name,
                analysis_state=r.analysis_state,
                uploaded_at=r.uploaded_at,
                badge=badge_of(r.analysis_state, at_risk=bool(reasons), critical=critical),
                reasons=reasons,
                faces=faces,
                persons=persons,
                unreviewed=unreviewed,
                suggested=suggested,
                published=published.get(r.id, 0),
            )
        )
    return LibraryPage(total=total, offset=offset, limit=limit, cards=cards)


def badge_of(analysis_state: str, *, at_risk: bool, critical: bool) -> str:
    """A photo's badge: not analysed comes before anything the (empty) risk rows would say."""
    if analysis_state in PENDING_STATES:
        return "pending"
    if analysis_state == "failed":
        return "failed"
    return "critical" if critical else "at_risk" if at_risk else "clear"


def _counts(conn: Connection, ids: list[int]) -> dict[int, tuple[int, int, int, int]]:
    """(faces, persons, faces to review, open suggestions) per shown photo, in one grouped query."""
    if not ids:
        return {}
    counted = not_(not_a_face())
    rows = conn.execute(
        select(
            detections.c.asset_id,
            func.sum(case((and_(detections.c.kind == "face", counted), 1), else_=0)),
            func.sum(case((detections.c.kind == "person", 1), else_=0)),
            func.sum(case((needs_review(), 1), else_=0)),
            func.sum(case((detections.c.link_status == "suggested", 1), else_=0)),
        )
        .where(detections.c.asset_id.in_(ids))
        .group_by(detections.c.asset_id)
    )
    return {r[0]: (int(r[1] or 0), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0)) for r in rows}


def _reason_names(mask: int, until: datetime | None, now: datetime) -> set[str]:
    """The reason names of a risk mask, with "expired" when the covering consent has lapsed by `now`."""
    names = {name for name, bit in REASON_BITS.items() if mask & bit}
    if until is not None and until <= now:
        names.add("expired")
    return names


def _risk(
    conn: Connection, ids: list[int], now: datetime, purpose_id: int | None
) -> dict[int, tuple[tuple[str, ...], bool]]:
    """(reasons, critical) per shown photo, from the risk index and the current publications."""
    if not ids:
        return {}
    stmt = select(asset_risk.c.asset_id, asset_risk.c.purpose_id, asset_risk.c.reasons, asset_risk.c.until).where(
        asset_risk.c.asset_id.in_(ids)
    )
    if purpose_id is not None:
        stmt = stmt.where(asset_risk.c.purpose_id == purpose_id)
    used = {
        (r.asset_id, r.purpose_id)
        for r in conn.execute(
            select(asset_uses.c.asset_id, asset_uses.c.purpose_id).where(
                asset_uses.c.asset_id.in_(ids), asset_uses.c.until.is_(None)
            )
        )
    }
    reasons: dict[int, set[str]] = {}
    critical: set[int] = set()
    for r in conn.execute(stmt):
        names = _reason_names(int(r.reasons), r.until, now)
        if names:
            reasons.setdefault(r.asset_id, set()).update(names)
            if (r.asset_id, r.purpose_id) in used:
                critical.add(r.asset_id)
    order = list(REASON_BITS)
    return {a: (tuple(sorted(n, key=order.index)), a in critical) for a, n in reasons.items()}


def _published(conn: Connection, ids: list[int]) -> dict[int, int]:
    """How many current publications each shown photo has."""
    if not ids:
        return {}
    rows = conn.execute(
        select(asset_uses.c.asset_id, func.count())
        .where(asset_uses.c.asset_id.in_(ids), asset_uses.c.until.is_(None))
        .group_by(asset_uses.c.asset_id)
    )
    return {r[0]: int(r[1]) for r in rows}


def next_to_review(conn: Connection, *, chosen: LibraryFilter, after_id: int | None, now: datetime) -> int | None:
    """The next photo in library order (newest first) after `after_id` that matches the filter and still has faces
    to review; from the top again past the end; None when there is none other."""
    where = [*_conditions(conn, chosen, now)]
    where.append(exists(select(detections.c.id).where(detections.c.asset_id == assets.c.id, needs_review())))
    if after_id is not None:
        where.append(assets.c.id != after_id)
        after = conn.execute(
            select(assets.c.id).where(*where, assets.c.id < after_id).order_by(assets.c.id.desc()).limit(1)
        ).scalar()
        if after is not None:
            return int(after)
    first = conn.execute(select(assets.c.id).where(*where).order_by(assets.c.id.desc()).limit(1)).scalar()
    return None if first is None else int(first)
