"""Which photos are at risk for which purpose, and why: read from the risk index in SQL, never by loading tables.

The index (`risk_index`) holds one row per (photo, purpose) with the reasons as bits and the moment the covering
consent lapses; the summary reads its per-purpose counters (risk/counts.py), the lists page through its rows, and
"now" is applied at read time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, String, TextClause, bindparam, text

from portal.backend.platform.db.types import UTCDateTime, utcnow
from portal.backend.risk import counts as _counts
from portal.backend.risk.index import REASON_BITS

REASONS = tuple(REASON_BITS)
WINDOWS = (30, 60, 90)
REASON_LABELS = {
    "unidentified": "Unidentified person",
    "unknown": "Never asked",
    "refused": "Refused",
    "withdrawn": "Withdrawn",
    "revoked": "Revoked",
    "expired": "Expired",
    "veto": "Vetoed for this photo",
    "superseded": "Text replaced",
}

_AT_RISK = "(r.reasons <> 0 OR r.until <= :now)"
_REASON_SQL = {
    reason: f"(r.reasons & {bit}) <> 0" + (" OR r.until <= :now" if reason == "expired" else "")
    for reason, bit in REASON_BITS.items()
}
_PUBLISHED = "SELECT DISTINCT asset_id, purpose_id FROM asset_uses WHERE until IS NULL"

# Each photo at risk counts once per purpose under its first reason in this order: what the person said last
# (withdrawn, revoked, refused, a veto for this photo) before what lapsed (expired, text replaced) before what was
# never settled (never asked, nobody linked). The bars' parts then sum to the photos at risk.
PRIMARY_ORDER = ("withdrawn", "revoked", "refused", "veto", "expired", "superseded", "unknown", "unidentified")
# One CASE rather than "this AND NOT the earlier ones": a NULL `until` makes NOT (... OR r.until <= :now) NULL,
# which would drop the photo from every part.
_PRIMARY_CASE = "CASE " + " ".join(f"WHEN {_REASON_SQL[r]} THEN '{r}'" for r in PRIMARY_ORDER) + " END"
_PRIMARY_SQL = {reason: f"({_PRIMARY_CASE}) = '{reason}'" for reason in PRIMARY_ORDER}


@dataclass(frozen=True)
class PurposeRisk:
    """Headline figures of one purpose (for the whole library or one event)."""

    purpose: str
    at_risk: int
    critical: int
    expiring: int
    by_reason: dict[str, int]
    with_people: int = 0
    expiring_in: dict[int, int] = field(default_factory=dict)  # days ahead -> photos whose cover lapses by then
    primary: dict[str, int] = field(default_factory=dict)  # each photo at risk once, by PRIMARY_ORDER; sums to at_risk
    published: int = 0  # photos with people published for this purpose now

    @property
    def coverage(self) -> float | None:
        """Share of the photos with people that may be used for this purpose now (None when there are none)."""
        return None if not self.with_people else 1 - self.at_risk / self.with_people


@dataclass(frozen=True)
class EventRisk:
    """Figures of one purpose within one event (event None: photos not assigned to an event)."""

    event_id: int | None
    event_name: str
    figures: PurposeRisk


def _timed(sql: str, times: dict[str, datetime]) -> TextClause:
    """`sql` with its time parameters typed, so both databases compare times the same way."""
    return text(sql).bindparams(*(bindparam(k, type_=UTCDateTime) for k in times if f":{k}" in sql))


def _purpose_codes(conn: Connection) -> list[tuple[int, str]]:
    """(id, code) of the purposes photos are judged for, in display order."""
    return [
        tuple(r)
        for r in conn.execute(
            text("SELECT id, code FROM purposes WHERE active = true AND biometric = false ORDER BY sort_order, id")
        )
    ]


def _scanned(conn: Connection, now: datetime, windows: tuple[int, ...]) -> dict[tuple[int | None, int], dict[str, int]]:
    """Counts per (event, purpose) aggregated over every index row: the baseline the counters replace."""
    times = {"now": now, **{f"h{d}": now + timedelta(days=d) for d in windows}}
    columns = ",\n".join(
        [f"sum(CASE WHEN {_AT_RISK} THEN 1 ELSE 0 END) AS at_risk"]
        + [f"sum(CASE WHEN {sql} THEN 1 ELSE 0 END) AS {reason}" for reason, sql in _REASON_SQL.items()]
        + [f"sum(CASE WHEN {sql} THEN 1 ELSE 0 END) AS p_{reason}" for reason, sql in _PRIMARY_SQL.items()]
        + [
            f"sum(CASE WHEN r.reasons = 0 AND r.until > :now AND r.until <= :h{d} THEN 1 ELSE 0 END) AS exp{d}"
            for d in windows
        ]
    )
    rows = conn.execute(
        _timed(
            f"""
        SELECT r.event_id, r.purpose_id, count(*) AS with_people, {columns}
        FROM asset_risk r GROUP BY r.event_id, r.purpose_id
    """,
            times,
        ),
        times,
    )
    return {(r.event_id, r.purpose_id): dict(r._mapping) for r in rows}


def _counted(conn: Connection, now: datetime, windows: tuple[int, ...]) -> dict[tuple[int | None, int], dict[str, int]]:
    """Counts per (event, purpose) from the per-purpose counters (risk/counts.py): the same figures as `_scanned`
    from a few hundred rows, each row's lapse judged against `now` by the window it falls in."""
    counts: dict[tuple[int | None, int], dict[str, int]] = {}
    for event_id, purpose_id, reasons, cls, n in _counts.classes(conn, now=now, windows=windows):
        c = counts.setdefault((event_id, purpose_id), {})
        lapsed = cls == -1
        held = {r for r, bit in REASON_BITS.items() if reasons & bit} | ({"expired"} if lapsed else set())
        c["with_people"] = c.get("with_people", 0) + n
        for key in (
            *(["at_risk"] if held else []),
            *held,
            *[f"p_{r}" for r in PRIMARY_ORDER if r in held][:1],
            *([f"exp{d}" for d in windows if cls <= d] if not held and cls is not None else []),
        ):
            c[key] = c.get(key, 0) + n
    return counts


def _critical(conn: Connection, now: datetime, counts: dict[tuple[int | None, int], dict[str, int]]) -> None:
    """Add published and critical (published while at risk) per (event, purpose): one row per publication."""
    critical = conn.execute(
        _timed(
            f"""
        SELECT r.event_id, r.purpose_id, sum(CASE WHEN {_AT_RISK} THEN 1 ELSE 0 END), count(*)
        FROM ({_PUBLISHED}) pub
        JOIN asset_risk r ON r.asset_id = pub.asset_id AND r.purpose_id = pub.purpose_id
        GROUP BY r.event_id, r.purpose_id
    """,
            {"now": now},
        ),
        {"now": now},
    )
    for event_id, purpose_id, n, published in critical:
        cell = counts.setdefault((event_id, purpose_id), {})
        cell["critical"], cell["published"] = int(n or 0), int(published or 0)


def _figures(code: str, c: dict[str, int], warning_days: int, windows: tuple[int, ...]) -> PurposeRisk:
    """A PurposeRisk from summed counts."""
    expiring_in = {d: int(c.get(f"exp{d}", 0) or 0) for d in windows}
    return PurposeRisk(
        purpose=code,
        at_risk=int(c.get("at_risk", 0) or 0),
        critical=int(c.get("critical", 0) or 0),
        expiring=expiring_in.get(warning_days, 0),
        with_people=int(c.get("with_people", 0) or 0),
        by_reason={r: int(c[r]) for r in REASONS if c.get(r)},
        expiring_in=expiring_in,
        primary={r: int(c[f"p_{r}"]) for r in PRIMARY_ORDER if c.get(f"p_{r}")},
        published=int(c.get("published", 0) or 0),
    )


def _windows(warning_days: int) -> tuple[int, ...]:
    """The standard 30/60/90-day windows plus the configured warning window."""
    return tuple(sorted({*WINDOWS, warning_days}))


def _totals(counts: dict[tuple[int | None, int], dict[str, int]]) -> dict[int, dict[str, int]]:
    """Per-(event, purpose) counts summed over events."""
    totals: dict[int, dict[str, int]] = {}
    for (_event, purpose_id), c in counts.items():
        acc = totals.setdefault(purpose_id, {})
        for key, value in c.items():
            if key not in ("event_id", "purpose_id"):
                acc[key] = acc.get(key, 0) + int(value or 0)
    return totals


def _by_event(
    conn: Connection,
    counts: dict[tuple[int | None, int], dict[str, int]],
    codes: dict[int, str],
    warning_days: int,
    windows: tuple[int, ...],
) -> list[EventRisk]:
    """EventRisk rows, newest event first; photos without an event come last."""
    events = {r.id: r.name for r in conn.execute(text("SELECT id, name FROM events"))}
    order = sorted({e for e, _ in counts}, key=lambda e: (e is None, -(e or 0)))
    return [
        EventRisk(
            e,
            events.get(e, "—") if e is not None else "(no event)",
            _figures(codes[p], counts[(e, p)], warning_days, windows),
        )
        for e in order
        for p in codes
        if (e, p) in counts
    ]


def summary(conn: Connection, *, now: datetime | None = None, warning_days: int = 30) -> list[PurposeRisk]:
    """Per purpose: photos with people, at risk, critical (published while at risk), expiring, and why."""
    return overview(conn, now=now, warning_days=warning_days)[0]


def scan_summary(conn: Connection, *, now: datetime | None = None, warning_days: int = 30) -> list[PurposeRisk]:
    """`summary` aggregated over every index row rather than read from the counters (a check and a baseline)."""
    return overview(conn, now=now, warning_days=warning_days, scan=True)[0]


def per_event(conn: Connection, *, now: datetime | None = None, warning_days: int = 30) -> list[EventRisk]:
    """The same figures per event and purpose, newest event first; photos without an event come last."""
    return overview(conn, now=now, warning_days=warning_days)[1]


def overview(
    conn: Connection, *, now: datetime | None = None, warning_days: int = 30, scan: bool = False
) -> tuple[list[PurposeRisk], list[EventRisk]]:
    """`summary` and `per_event` from the per-purpose counters (what the dashboard shows); `scan`: aggregated over
    every index row instead, the slower way that must give the same figures."""
    now = now or utcnow()
    windows = _windows(warning_days)
    counts = (_scanned if scan else _counted)(conn, now, windows)
    _critical(conn, now, counts)
    codes = dict(_purpose_codes(conn))
    totals = _totals(counts)
    figures = [_figures(code, totals.get(pid, {}), warning_days, windows) for pid, code in codes.items()]
    return figures, _by_event(conn, counts, codes, warning_days, windows)


def at_risk_rows(conn: Connection, *, now: datetime | None = None) -> list[tuple[int, int, str]]:
    """(asset id, purpose id, reason) for every photo at risk."""
    times = {"now": now or utcnow()}
    sql = " UNION ALL ".join(
        f"SELECT r.asset_id, r.purpose_id, '{reason}' FROM asset_risk r WHERE {cond}"
        for reason, cond in _REASON_SQL.items()
    )
    return [tuple(r) for r in conn.execute(_timed(sql, times), times)]


def _reasons_of(mask: int, until: datetime | None, now: datetime) -> list[str]:
    """Reason names of one index row."""
    names = [r for r, bit in REASON_BITS.items() if mask & bit]
    if until is not None and until <= now and "expired" not in names:
        names.append("expired")
    return names


def critical_assets(conn: Connection, *, now: datetime | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Published photos that lost their basis: where they are, for what, and why (R10)."""
    now = now or utcnow()
    rows = conn.execute(
        _timed(
            f"""
        SELECT u.asset_id, a.filename, p.code, u.place, u.since, r.reasons, r.until
        FROM asset_uses u
        JOIN asset_risk r ON r.asset_id = u.asset_id AND r.purpose_id = u.purpose_id
        JOIN purposes p ON p.id = u.purpose_id JOIN assets a ON a.id = u.asset_id
        WHERE u.until IS NULL AND {_AT_RISK} ORDER BY u.asset_id, p.code LIMIT :limit
    """,
            {"now": now},
        ).columns(
            asset_id=Integer,
            filename=String,
            code=String,
            place=String,
            since=UTCDateTime,
            reasons=Integer,
            until=UTCDateTime,
        ),
        {"now": now, "limit": limit},
    )
    out = []
    for r in rows:
        for reason in _reasons_of(r.reasons, r.until, now):
            out.append(
                {
                    "asset_id": r.asset_id,
                    "filename": r.filename,
                    "code": r.code,
                    "place": r.place,
                    "since": r.since,
                    "reason": reason,
                }
            )
    return out


def _drill_where(
    purpose_cond: str,
    *,
    reason: str | None,
    primary_reason: str | None,
    event_id: int | None,
    expiring_within: int | None,
    published_only: bool,
) -> str:
    """The WHERE clause of a drill-down (the figure's condition plus its filters)."""
    if expiring_within is not None:
        cond = "r.reasons = 0 AND r.until > :now AND r.until <= :horizon"
    elif primary_reason is not None:
        if primary_reason not in _PRIMARY_SQL:
            raise ValueError(f"Unknown reason {primary_reason!r}; one of {', '.join(REASONS)}.")
        cond = _PRIMARY_SQL[primary_reason]
    elif reason is not None:
        if reason not in _REASON_SQL:
            raise ValueError(f"Unknown reason {reason!r}; one of {', '.join(REASONS)}.")
        cond = _REASON_SQL[reason]
    else:
        cond = _AT_RISK
    filters = " AND r.event_id = :event_id" if event_id is not None else ""
    if published_only:
        filters += (
            " AND EXISTS (SELECT 1 FROM asset_uses u WHERE u.asset_id = r.asset_id "
            "AND u.purpose_id = r.purpose_id AND u.until IS NULL)"
        )
    return f"{purpose_cond} AND ({cond}){filters}"


def _drill_times(now: datetime, expiring_within: int | None) -> dict[str, datetime]:
    """The time parameters of a drill-down."""
    return {"now": now, **({"horizon": now + timedelta(days=expiring_within)} if expiring_within is not None else {})}


def drill_count(
    conn: Connection,
    *,
    purpose: str,
    reason: str | None = None,
    primary_reason: str | None = None,
    event_id: int | None = None,
    expiring_within: int | None = None,
    published_only: bool = False,
    now: datetime | None = None,
) -> int:
    """How many photos `drill_down` finds in all (for paging)."""
    times = _drill_times(now or utcnow(), expiring_within)
    where = _drill_where(
        "p.code = :purpose",
        reason=reason,
        primary_reason=primary_reason,
        event_id=event_id,
        expiring_within=expiring_within,
        published_only=published_only,
    )
    stmt = _timed(f"SELECT count(*) FROM asset_risk r JOIN purposes p ON p.id = r.purpose_id WHERE {where}", times)
    return int(conn.execute(stmt, {**times, "purpose": purpose, "event_id": event_id}).scalar_one())


def _people(conn: Connection, asset_ids: list[int]) -> dict[int, list[str]]:
    """Names of the people linked to faces in these photos (erased or merged-away people left out), by photo."""
    if not asset_ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT DISTINCT d.asset_id, s.display_name FROM detections d JOIN subjects s ON s.id = d.subject_id "
            "WHERE d.asset_id IN :ids AND s.erased_at IS NULL AND s.merged_into IS NULL "
            "AND s.display_name IS NOT NULL ORDER BY d.asset_id, s.display_name"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": asset_ids},
    )
    out: dict[int, list[str]] = {}
    for asset_id, name in rows:
        out.setdefault(int(asset_id), []).append(str(name))
    return out


def drill_down(
    conn: Connection,
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
) -> list[dict[str, Any]]:
    """The photos behind one figure: at risk for `purpose` (optionally for one reason, or one primary reason as
    the bars count it), or expiring within N days; with the names of the people in them."""
    now = now or utcnow()
    times = _drill_times(now, expiring_within)
    where = _drill_where(
        "p.code = :purpose",
        reason=reason,
        primary_reason=primary_reason,
        event_id=event_id,
        expiring_within=expiring_within,
        published_only=published_only,
    )
    stmt = _timed(
        f"""
        SELECT r.asset_id, a.filename, e.name AS event, r.reasons, r.until,
               EXISTS (SELECT 1 FROM asset_uses u WHERE u.asset_id = r.asset_id AND u.purpose_id = r.purpose_id
                       AND u.until IS NULL) AS published
        FROM asset_risk r JOIN purposes p ON p.id = r.purpose_id JOIN assets a ON a.id = r.asset_id
        LEFT JOIN events e ON e.id = r.event_id
        WHERE {where}
        ORDER BY r.until, r.asset_id LIMIT :limit OFFSET :offset
    """,
        times,
    ).columns(asset_id=Integer, filename=String, event=String, reasons=Integer, until=UTCDateTime)
    rows = conn.execute(
        stmt, {**times, "purpose": purpose, "event_id": event_id, "limit": limit, "offset": offset}
    ).all()
    people = _people(conn, [r.asset_id for r in rows])
    return [
        {
            "asset_id": r.asset_id,
            "filename": r.filename,
            "event": r.event,
            "reasons": ", ".join(_reasons_of(r.reasons, r.until, now)),
            "covered_until": r.until,
            "published": bool(r.published),
            "people": people.get(r.asset_id, []),
        }
        for r in rows
    ]


# Item 7: current consents whose latest allowing entry is a staff member's word (channel `staff`: no scan, nobody
# ticking a box themselves), so a DPO can tell them from the person's own act.
# The latest general entry per (person, purpose) is the consent projection's row with scope 0, which keeps the
# entry's channel: the staff rows are read through their partial index. `IS NOT FALSE` (not lapsed, or never
# lapsing) rather than an OR of two range tests: SQLite would read that OR through the valid_until index, every
# current consent, instead of the few staff rows (4.5 s against 0.1 ms at a million photos).
_STAFF_DECLARED = """
WITH declared AS (SELECT cc.subject_id, cc.purpose_id FROM consent_current cc
             JOIN subjects s ON s.id = cc.subject_id
             WHERE cc.channel = 'staff' AND cc.scope_key = 0 AND cc.action IN ('given', 'renewed')
               AND s.erased_at IS NULL AND s.merged_into IS NULL
               AND (cc.valid_until > :now) IS NOT FALSE)
"""


@dataclass(frozen=True)
class StaffDeclared:
    """Current consents (given or renewed, not expired) resting only on a staff declaration."""

    consents: int
    people: int
    by_purpose: dict[str, int] = field(default_factory=dict)


def staff_declared(conn: Connection, *, now: datetime | None = None) -> StaffDeclared:
    """How many current consents, of how many people, rest only on a staff declaration, per purpose code."""
    values = {"now": now or utcnow()}
    per_purpose = conn.execute(
        _timed(
            _STAFF_DECLARED + "SELECT p.code, count(*) AS n FROM declared d JOIN purposes p ON p.id = d.purpose_id "
            "GROUP BY p.code ORDER BY p.code",
            values,
        ).columns(code=String, n=Integer),
        values,
    ).all()
    people = conn.execute(
        _timed(_STAFF_DECLARED + "SELECT count(DISTINCT subject_id) FROM declared", values), values
    ).scalar_one()
    by_purpose = {r.code: int(r.n) for r in per_purpose}
    return StaffDeclared(consents=sum(by_purpose.values()), people=int(people), by_purpose=by_purpose)
