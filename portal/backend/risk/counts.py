"""Per-purpose counters of the risk index, so the dashboard's summary reads a handful of rows at a million photos.

`risk_counts` holds, per (event, purpose, reason mask, day the cover lapses), how many `asset_risk` rows have that
shape. It is kept in the same transaction as the index rows (`tracking` around every delete-and-judge in
risk/index.py) as signed delta rows that are only ever inserted: concurrent writers never update the same counter
row, so they neither wait for each other nor deadlock. The daily job folds the deltas into one row per key
(`compact`); between runs a summary sums a few more rows.

Lapsing is the one thing that changes without a write. Keeping the day (UTC) the cover lapses makes every figure
exact at read time: a day wholly before today has lapsed, a day wholly inside a window is inside it, and only the
few days a boundary falls on (today, today + 30/60/90/warning days) are read row by row from the index, through
its `until` index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, inspect, select, text

from portal.backend.platform.db.schema import asset_risk, risk_counts
from portal.backend.platform.db.types import UTCDateTime

Key = tuple[int | None, int, int, int | None]  # event id, purpose id, reason mask, UTC day number of `until`
_EPOCH = date(1970, 1, 1)


def day_of(moment: datetime) -> int:
    """UTC day number (days since 1970-01-01) of an aware time."""
    return (moment.astimezone(UTC).date() - _EPOCH).days


def _day_sql(conn: Connection, column: str) -> str:
    """SQL for the UTC day number of a stored (naive UTC) time; exact, with no floating point near midnight."""
    if conn.dialect.name == "postgresql":
        return f"({column}::date - DATE '1970-01-01')"
    # SQLite keeps times as 'YYYY-MM-DD HH:MM:SS...' text: midnight of the date part, in whole days.
    return f"(CAST(strftime('%s', substr({column}, 1, 10)) AS INTEGER) / 86400)"


def _grouped_sql(conn: Connection, source: str, where: str = "") -> str:
    """Counter rows (key columns and n) of the index-shaped rows of `source` (alias r)."""
    return (
        f"SELECT r.event_id, r.purpose_id, r.reasons, {_day_sql(conn, 'r.until')} AS until_day, count(*) AS n "
        f"FROM {source} r {where} GROUP BY r.event_id, r.purpose_id, r.reasons, {_day_sql(conn, 'r.until')}"
    )


def tally(
    conn: Connection, *, asset_ids: Sequence[int] | None = None, purpose_ids: Sequence[int] | None = None
) -> Counter[Key]:
    """Counter rows of the index rows of these photos and/or purposes."""
    where, params = [], {}
    if asset_ids is not None:
        where.append("r.asset_id IN :ids")
        params["ids"] = list(asset_ids)
    if purpose_ids is not None:
        where.append("r.purpose_id IN :pids")
        params["pids"] = list(purpose_ids)
    sql = _grouped_sql(conn, "asset_risk", f"WHERE {' AND '.join(where)}" if where else "")
    stmt = text(sql).bindparams(*(bindparam(k, expanding=True) for k in params))
    return Counter({(r[0], r[1], r[2], r[3]): int(r[4]) for r in conn.execute(stmt, params)})


def record(conn: Connection, before: Counter[Key], after: Counter[Key]) -> None:
    """Insert the net change between two tallies of the same rows as delta rows (nothing when nothing moved)."""
    keys = before.keys() | after.keys()
    deltas = [
        {"event_id": k[0], "purpose_id": k[1], "reasons": k[2], "until_day": k[3], "n": after[k] - before[k]}
        for k in sorted(keys, key=lambda k: (k[0] or 0, k[1], k[2], k[3] or 0))
        if after[k] != before[k]
    ]
    if deltas:
        conn.execute(insert(risk_counts), deltas)


@contextmanager
def tracking(
    conn: Connection, *, asset_ids: Sequence[int] | None = None, purpose_ids: Sequence[int] | None = None
) -> Iterator[None]:
    """Keep the counters in step with whatever the block deletes and re-judges for these photos and/or purposes."""
    if conn.dialect.name == "postgresql":
        # Lock the rows first, so the tally below counts exactly what the block then deletes: another writer that
        # re-judged the same photos and committed in between would otherwise be counted out twice.
        if asset_ids is not None:
            mine = select(asset_risk.c.asset_id).where(asset_risk.c.asset_id.in_(list(asset_ids)))
            if purpose_ids is not None:
                mine = mine.where(asset_risk.c.purpose_id.in_(list(purpose_ids)))
            conn.execute(mine.with_for_update())
        else:
            conn.execute(text("LOCK TABLE asset_risk IN SHARE ROW EXCLUSIVE MODE"))  # a whole purpose: rare
    before = tally(conn, asset_ids=asset_ids, purpose_ids=purpose_ids)
    yield
    record(conn, before, tally(conn, asset_ids=asset_ids, purpose_ids=purpose_ids))


def present(conn: Connection) -> bool:
    """Whether the counters exist yet (revision 0004 rebuilds the index before revision 0014 adds them)."""
    return inspect(conn).has_table("risk_counts")


def rebuild(conn: Connection) -> None:
    """Recount every index row: one row per key."""
    conn.execute(delete(risk_counts))
    conn.execute(
        text(
            f"INSERT INTO risk_counts (event_id, purpose_id, reasons, until_day, n) {_grouped_sql(conn, 'asset_risk')}"
        )
    )


_SUMS = (
    "SELECT event_id, purpose_id, reasons, until_day, sum(n) AS n FROM risk_counts "
    "GROUP BY event_id, purpose_id, reasons, until_day"
)


def compact(conn: Connection) -> int:
    """Fold the delta rows into one row per key (keys that sum to zero go); returns the rows left."""
    cols = "event_id, purpose_id, reasons, until_day"
    if conn.dialect.name == "postgresql":
        # One statement: exactly the rows it deletes are summed, so a delta committed meanwhile is never lost,
        # and writers inserting deltas are not blocked.
        conn.execute(
            text(
                f"WITH gone AS (DELETE FROM risk_counts RETURNING {cols}, n) "
                f"INSERT INTO risk_counts ({cols}, n) SELECT {cols}, sum(n) FROM gone GROUP BY {cols} "
                "HAVING sum(n) <> 0"
            )
        )
    else:
        # SQLite writes one transaction at a time: nothing can slip in between the two statements.
        top = conn.execute(text("SELECT coalesce(max(id), 0) FROM risk_counts")).scalar_one()
        conn.execute(
            text(
                f"INSERT INTO risk_counts ({cols}, n) SELECT {cols}, sum(n) FROM risk_counts WHERE id <= :top "
                f"GROUP BY {cols} HAVING sum(n) <> 0"
            ),
            {"top": top},
        )
        conn.execute(text("DELETE FROM risk_counts WHERE id <= :top"), {"top": top})
    return int(conn.execute(text("SELECT count(*) FROM risk_counts")).scalar_one())


def stored(conn: Connection) -> dict[Key, int]:
    """The counters, one value per key (zero sums left out)."""
    return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in conn.execute(text(_SUMS)) if int(r[4])}


def key_of(event_id: int | None, purpose_id: int, reasons: int, until: datetime | None) -> Key:
    """The counter key of one index row."""
    return (event_id, purpose_id, reasons, None if until is None else day_of(until))


def check(conn: Connection, want: Counter[Key]) -> list[str]:
    """Differences between the stored counters and those of a fresh judgement (tallied with key_of); empty when
    they agree."""
    have = stored(conn)
    want = Counter({k: n for k, n in want.items() if n})
    if have == want:
        return []
    bad = sorted(
        (k for k in have.keys() | want.keys() if have.get(k) != want.get(k)), key=lambda k: tuple(x or 0 for x in k)
    )
    examples = [f"{k}: stored {have.get(k, 0)}, fresh {want.get(k, 0)}" for k in bad[:5]]
    return [f"risk_counts differs for {len(bad)} (event, purpose, reasons, day) keys, e.g. {examples}"]


def classes(
    conn: Connection, *, now: datetime, windows: Sequence[int]
) -> list[tuple[int | None, int, int, int | None, int]]:
    """(event, purpose, reasons, class, photos) where class is None when the cover never lapses within the largest
    window, -1 when it has lapsed by `now`, else the smallest window it lapses within; exact at `now`."""
    today = day_of(now)
    ws = sorted(windows)
    edges = sorted({today, *(today + w for w in ws)})  # days a boundary falls on: read row by row
    # From the counters, by day: before today lapsed; between two edges, inside every window from the next edge on.
    # One sum per class, grouped by the covering index's leading columns, so the rows stream without a sort.
    bounds = [("-1", "until_day < :today")] + [
        (str(w), f"until_day > :today AND until_day < :d{w}" + (f" AND until_day >= :d{ws[i - 1]}" if i else ""))
        for i, w in enumerate(ws)
    ]
    sums = ", ".join(f"sum(CASE WHEN {cond} THEN n ELSE 0 END)" for _, cond in bounds)
    counted = (
        f"SELECT event_id, purpose_id, reasons, sum(n), {sums} FROM risk_counts "
        f"WHERE until_day IS NULL OR until_day NOT IN ({', '.join(f':e{i}' for i in range(len(edges)))}) "
        "GROUP BY event_id, purpose_id, reasons"
    )
    # From the index, exactly, for the rows whose cover lapses on an edge day (a few thousand at a million photos).
    by_time = " ".join(f"WHEN until <= :h{w} THEN {w}" for w in ws)
    exact = " OR ".join(f"(until >= :s{i} AND until < :t{i})" for i in range(len(edges)))
    timed = (
        f"SELECT event_id, purpose_id, reasons, CASE WHEN until <= :now THEN -1 {by_time} ELSE NULL END AS cls, "
        f"count(*) FROM asset_risk WHERE {exact} GROUP BY event_id, purpose_id, reasons, cls"
    )
    midnight = datetime(1970, 1, 1, tzinfo=UTC)
    params: dict[str, Any] = {"today": today, "now": now}
    times = ["now"]
    for w in ws:
        params[f"d{w}"] = today + w
        params[f"h{w}"] = now + timedelta(days=w)
        times.append(f"h{w}")
    for i, day in enumerate(edges):
        params[f"e{i}"] = day
        params[f"s{i}"] = midnight + timedelta(days=day)
        params[f"t{i}"] = midnight + timedelta(days=day + 1)
        times += [f"s{i}", f"t{i}"]
    out: list[tuple[int | None, int, int, int | None, int]] = []
    for r in conn.execute(text(counted), {k: v for k, v in params.items() if k not in times}):
        parts = [int(x or 0) for x in r[4:]]
        out += [(r[0], r[1], int(r[2]), int(cls), n) for (cls, _), n in zip(bounds, parts, strict=True) if n]
        if beyond := int(r[3] or 0) - sum(parts):  # never lapses, or after the largest window
            out.append((r[0], r[1], int(r[2]), None, beyond))
    stmt = text(timed).bindparams(*(bindparam(k, type_=UTCDateTime) for k in times if f":{k}" in timed))
    out += [(r[0], r[1], int(r[2]), r[3], int(r[4])) for r in conn.execute(stmt, params) if int(r[4])]
    return out
