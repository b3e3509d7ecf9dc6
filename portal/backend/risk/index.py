"""The risk index: per photo and purpose, why it is at risk and until when its consent holds.

The dashboard must answer in well under a second for 100,000 photos and 500,000 ledger entries. Judging every
(photo, person, purpose) from the ledger on each read is several seconds of work, so the judgement is kept here,
written in the same transaction as whatever changes it:

- `consent_current`: the latest ledger entry per (subject, purpose, scope), upserted by `ledger.append`;
- `asset_risk`: one row per (photo, purpose) that shows a person, with the reasons as a bit mask and `until`, the
  moment the earliest consent that covers the photo lapses. Lapsing is the one thing that changes without a write,
  so it is not judged here: readers compare `until` with their own "now".

Both tables are projections: `rebuild` recomputes them from the ledger and the detections, and `check` reports
any difference, so the ledger stays the only source of truth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite

from portal.backend.photos import takedowns as _takedowns
from portal.backend.platform.db.schema import asset_risk, consent_current, detections
from portal.backend.platform.db.types import UTCDateTime, utcnow
from portal.backend.risk import counts as _counts

# Bit per static reason; "expired" is also derived at read time from `until`.
REASON_BITS: dict[str, int] = {
    "unidentified": 1,
    "unknown": 2,
    "refused": 4,
    "withdrawn": 8,
    "revoked": 16,
    "expired": 32,
    "veto": 64,
    "superseded": 128,
}
_CHUNK = 500
# Rows come from the database a batch at a time (a server-side cursor on PostgreSQL), not all at once.
_STREAM = {"yield_per": 10_000}
_Row = tuple[tuple[Any, ...], Any]  # (key, value) of one projection row, compared in key order

# Time-independent judgement of each linked person, then folded per (asset, purpose). Rules (architecture
# "Status and risk rules", R8, R16, R23):
# - a per-image choice overrides the general one; a per-image refusal under a valid general consent is a veto;
# - a consent given under a text version that has since been replaced is "superseded" (R16);
# - a face nobody is confirmed for (and not marked unidentifiable) is an unidentified person; a person box with
#   a face inside is covered by that face (not by a detection staff marked "not a face").
_JUDGE = """
WITH cur AS (
    SELECT purpose_id, max(version) AS version FROM purpose_texts GROUP BY purpose_id
), links AS (
    SELECT DISTINCT asset_id, subject_id FROM detections
    WHERE link_status = 'confirmed' AND subject_id IS NOT NULL AND identifiable = true {asset_filter}
), eff AS (
    SELECT l.asset_id, p.id AS purpose_id, g.action AS ga, g.valid_until AS gu, g.text_version AS gv,
           i.action AS ia, i.valid_until AS iu, i.text_version AS iv, coalesce(cur.version, 0) AS cv
    FROM links l
    CROSS JOIN purposes p
    LEFT JOIN cur ON cur.purpose_id = p.id
    {consent_joins}
    WHERE p.active = true AND p.biometric = false {purpose_filter}
), judged AS (
    SELECT asset_id, purpose_id,
           CASE WHEN ia IN ('given', 'renewed') THEN CASE WHEN iv < cv THEN 128 ELSE 0 END
                WHEN ia IN ('refused', 'withdrawn', 'revoked') AND ga IN ('given', 'renewed') THEN 64
                WHEN ia = 'refused' THEN 4 WHEN ia = 'withdrawn' THEN 8 WHEN ia = 'revoked' THEN 16
                WHEN ga IN ('given', 'renewed') THEN CASE WHEN gv < cv THEN 128 ELSE 0 END
                WHEN ga = 'refused' THEN 4 WHEN ga = 'withdrawn' THEN 8 WHEN ga = 'revoked' THEN 16
                WHEN ga = 'expired' OR ia = 'expired' THEN 32
                ELSE 2 END AS bit,
           -- A per-image consent backed by a general one holds as long as the later of the two.
           CASE WHEN ia IN ('given', 'renewed') AND ga IN ('given', 'renewed') AND gv >= cv
                THEN CASE WHEN iu IS NULL OR gu IS NULL THEN NULL WHEN iu > gu THEN iu ELSE gu END
                WHEN ia IN ('given', 'renewed') THEN iu
                WHEN ia IS NULL OR ia = 'expired' THEN CASE WHEN ga IN ('given', 'renewed') THEN gu END
                END AS until
    FROM eff
), unidentified AS (
    SELECT DISTINCT d.asset_id FROM detections d
    WHERE d.identifiable = true AND (d.subject_id IS NULL OR d.link_status <> 'confirmed') {d_filter}
      AND (d.kind = 'face' OR NOT EXISTS (
            SELECT 1 FROM detections f
            WHERE f.asset_id = d.asset_id AND f.kind = 'face'
              AND NOT (f.identifiable = false AND coalesce(f.link_status, '') = 'rejected' AND f.subject_id IS NULL)
              AND f.x + f.w / 2 BETWEEN d.x AND d.x + d.w AND f.y + f.h / 2 BETWEEN d.y AND d.y + d.h))
), rows AS (
    SELECT asset_id, purpose_id, bit, CASE WHEN bit = 0 THEN until END AS until FROM judged
    UNION ALL
    SELECT u.asset_id, p.id, 1, NULL FROM unidentified u CROSS JOIN purposes p
    WHERE p.active = true AND p.biometric = false {purpose_filter}
)
SELECT r.asset_id, r.purpose_id, a.event_id,
       {bit_or} AS reasons, min(r.until) AS until
FROM rows r JOIN assets a ON a.id = r.asset_id {a_filter}
GROUP BY r.asset_id, r.purpose_id, a.event_id
"""


_JOINS = """LEFT JOIN consent_current g ON g.subject_id = l.subject_id AND g.purpose_id = p.id AND g.scope_key = 0
    LEFT JOIN consent_current i ON i.subject_id = l.subject_id AND i.purpose_id = p.id AND i.scope_key = l.asset_id"""
# The same two joins as one primary-key lookup per person: for a few thousand photos PostgreSQL otherwise estimates a
# hash join cheaper and reads all of consent_current twice per statement (LIMIT keeps the subquery from being
# flattened back into a join).
_LATERAL = """LEFT JOIN LATERAL (SELECT c.action, c.valid_until, c.text_version FROM consent_current c
        WHERE c.subject_id = l.subject_id AND c.purpose_id = p.id AND c.scope_key = 0 LIMIT 1) g ON true
    LEFT JOIN LATERAL (SELECT c.action, c.valid_until, c.text_version FROM consent_current c
        WHERE c.subject_id = l.subject_id AND c.purpose_id = p.id AND c.scope_key = l.asset_id LIMIT 1) i ON true"""


def _judge_sql(conn: Connection, *, by_asset: bool = False, by_purpose: bool = False) -> str:
    """The judging query: for every photo and purpose, or only the asset ids bound to :ids / the purposes :pids."""
    # SQLite has no bit_or aggregate; the reasons are distinct powers of two, so a sum of the distinct bits is
    # the same mask.
    return _JUDGE.format(
        asset_filter="AND asset_id IN :ids" if by_asset else "",
        d_filter="AND d.asset_id IN :ids" if by_asset else "",
        # Repeated for the photos themselves, so PostgreSQL looks them up instead of hashing every asset.
        a_filter="WHERE a.id IN :ids" if by_asset else "",
        purpose_filter="AND p.id IN :pids" if by_purpose else "",
        bit_or="bit_or(r.bit)" if conn.dialect.name == "postgresql" else "sum(DISTINCT r.bit)",
        # Every photo at once (a rebuild, a purpose) is a job for hash joins; SQLite always looks each person up.
        consent_joins=_LATERAL if by_asset and conn.dialect.name == "postgresql" else _JOINS,
    )


def _store(conn: Connection, *, ids: list[int] | None = None, purpose_ids: list[int] | None = None) -> None:
    """Judge the photos (all, or those in `ids`; all purposes or those in `purpose_ids`) and insert the rows, all
    inside SQL."""
    sql = _judge_sql(conn, by_asset=ids is not None, by_purpose=purpose_ids is not None)
    stmt = text(f"INSERT INTO asset_risk (asset_id, purpose_id, event_id, reasons, until) {sql}")
    params: dict[str, Any] = {}
    if ids is not None:
        stmt = stmt.bindparams(bindparam("ids", expanding=True))
        params["ids"] = ids
    if purpose_ids is not None:
        stmt = stmt.bindparams(bindparam("pids", expanding=True))
        params["pids"] = purpose_ids
    conn.execute(stmt, params)


def refresh_assets(
    conn: Connection,
    asset_ids: Iterable[int],
    *,
    now: datetime | None = None,
    purpose_ids: Iterable[int] | None = None,
) -> None:
    """Re-judge these photos (for every purpose, or only `purpose_ids`: a consent change moves no other purpose's
    judgement); call in the transaction that changed their detections, links or consents. Publications the new
    judgement makes unusable get their takedown task in the same transaction (`now`: when the change happened)."""
    ids = sorted({int(a) for a in asset_ids})
    pids = None if purpose_ids is None else sorted({int(p) for p in purpose_ids})
    if not ids or pids == []:
        return
    _without_jit(conn)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        with _counts.tracking(conn, asset_ids=chunk, purpose_ids=pids):  # the per-purpose counters move with the rows
            stale = delete(asset_risk).where(asset_risk.c.asset_id.in_(chunk))
            if pids is not None:
                stale = stale.where(asset_risk.c.purpose_id.in_(pids))
            conn.execute(stale)
            _store(conn, ids=chunk, purpose_ids=pids)
        one = pids[0] if pids is not None and len(pids) == 1 else None
        _takedowns.open_tasks(conn, now=now or utcnow(), asset_ids=chunk, purpose_id=one)


def _without_jit(conn: Connection) -> None:
    """Turn PostgreSQL's JIT compilation off for the rest of this transaction.

    A chunk's judgement is estimated costly enough to compile, but runs in tens of milliseconds: compiling took about
    50 ms per chunk and made re-judging 2.4x slower (a consent change, every batch of the daily expiry)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL jit = off"))


def refresh_all(conn: Connection) -> None:
    """Re-judge every photo for every purpose (a rebuild)."""
    conn.execute(delete(asset_risk))
    _store(conn)
    if _counts.present(conn):  # revision 0004 rebuilds the index before revision 0015 adds the counters
        _counts.rebuild(conn)


def refresh_purpose(conn: Connection, purpose_id: int, *, now: datetime | None = None) -> None:
    """Re-judge every photo for one purpose: it was added, or its text got a new version (R16); publications it
    makes unusable (consents under the replaced text) get their takedown task."""
    _without_jit(conn)
    with _counts.tracking(conn, purpose_ids=[purpose_id]):
        conn.execute(delete(asset_risk).where(asset_risk.c.purpose_id == purpose_id))
        _store(conn, purpose_ids=[purpose_id])
    _takedowns.open_tasks(conn, now=now or utcnow(), purpose_id=purpose_id)


def refresh_subjects(
    conn: Connection,
    subject_ids: Iterable[str],
    *,
    now: datetime | None = None,
    purpose_ids: Iterable[int] | None = None,
) -> None:
    """Re-judge every photo these people are confirmed in (every purpose, or only `purpose_ids`); call in the
    transaction that changed their consent."""
    ids = sorted(set(subject_ids))
    assets: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        assets.update(
            conn.execute(
                select(detections.c.asset_id)
                .distinct()
                .where(
                    detections.c.subject_id.in_(ids[start : start + _CHUNK]), detections.c.link_status == "confirmed"
                )
            ).scalars()
        )
    refresh_assets(conn, assets, now=now, purpose_ids=purpose_ids)


def note_entries(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Move `consent_current` to the newest of these ledger rows, then re-judge the people's photos."""
    # Only the newest entry per key: one statement may not update the same row twice (PostgreSQL refuses).
    newest: dict[tuple[str, int, int], dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: r["seq"]):
        key = (r["subject_id"], r["purpose_id"], r["scope_asset_id"] or 0)
        newest[key] = {
            "subject_id": key[0],
            "purpose_id": key[1],
            "scope_key": key[2],
            "scope_asset_id": r["scope_asset_id"],
            "seq": r["seq"],
            "action": r["action"],
            "text_version": r["text_version"],
            "valid_until": r["valid_until"],
            "channel": r["channel"],
        }
    values = list(newest.values())
    if not values:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(consent_current)
    # The WHERE keeps a replayed older entry from moving the state back.
    stmt = stmt.on_conflict_do_update(
        index_elements=["subject_id", "purpose_id", "scope_key"],
        set_={
            c: stmt.excluded[c] for c in ("seq", "action", "text_version", "valid_until", "scope_asset_id", "channel")
        },
        where=stmt.excluded.seq > consent_current.c.seq,
    )
    conn.execute(stmt, values)
    # The entries' own time: a takedown task opens when the change that caused it was recorded.
    when = max((r["recorded_at"] for r in rows if r.get("recorded_at") is not None), default=None)
    # Only what the entries can move: a general choice re-judges the person's photos for that purpose, a per-photo
    # choice that photo for that purpose (a person in 5,000 photos vetoing one re-judges one).
    general = [v for v in values if v["scope_key"] == 0]
    scoped = [v for v in values if v["scope_key"] != 0]
    if general:
        refresh_subjects(
            conn, {v["subject_id"] for v in general}, now=when, purpose_ids={v["purpose_id"] for v in general}
        )
    if scoped:
        refresh_assets(conn, {v["scope_key"] for v in scoped}, now=when, purpose_ids={v["purpose_id"] for v in scoped})


_CURRENT_FROM_LEDGER = """
SELECT c.subject_id, c.purpose_id, coalesce(c.scope_asset_id, 0) AS scope_key, c.scope_asset_id, c.seq, c.action,
       c.text_version, c.valid_until, c.channel
FROM consent_ledger c
JOIN (SELECT max(seq) AS seq FROM consent_ledger GROUP BY subject_id, purpose_id, scope_asset_id) latest
  ON latest.seq = c.seq
"""


def rebuild(conn: Connection) -> int:
    """Recompute both projections from the ledger and the detections; returns the number of risk rows."""
    conn.execute(delete(consent_current))
    columns = "subject_id, purpose_id, scope_key, scope_asset_id, seq, action, text_version, valid_until, channel"
    source = _CURRENT_FROM_LEDGER
    if "channel" not in {c["name"] for c in inspect(conn).get_columns("consent_current")}:
        # Called by revision 0004, before revision 0017 adds the column (and fills it from the ledger).
        columns, source = columns.removesuffix(", channel"), source.replace(", c.channel", "")
    conn.execute(text(f"INSERT INTO consent_current ({columns}) {source}"))
    refresh_all(conn)
    return int(conn.execute(select(func.count()).select_from(asset_risk)).scalar_one())


def check(conn: Connection) -> list[str]:
    """Differences between the stored projections and a fresh computation (empty when they agree).

    Both sides stream in key order and are compared as they arrive: held as dicts they took 4-5 GB at a million
    photos; streamed, only the per-purpose counters' tally is held.
    """
    problems: list[str] = []
    current = consent_current.c
    stored_current = conn.execute(
        select(
            current.subject_id, current.purpose_id, current.scope_key, current.seq, current.action, current.channel
        ).order_by(current.subject_id, current.purpose_id, current.scope_key),
        execution_options=_STREAM,
    )
    fresh_current = conn.execute(text(f"{_CURRENT_FROM_LEDGER} ORDER BY 1, 2, 3"), execution_options=_STREAM)
    count, examples = _differences(
        ((tuple(r[:3]), tuple(r[3:])) for r in stored_current),
        ((tuple(r[:3]), (r.seq, r.action, r.channel)) for r in fresh_current),
    )
    if count:
        problems.append(f"consent_current differs from the ledger, e.g. {examples}")
    risk = asset_risk.c
    stored = conn.execute(
        select(risk.asset_id, risk.purpose_id, risk.reasons, risk.until, risk.event_id).order_by(
            risk.asset_id, risk.purpose_id
        ),
        execution_options=_STREAM,
    )
    judged = text(f"{_judge_sql(conn)} ORDER BY 1, 2").columns(until=UTCDateTime)
    want: Counter[_counts.Key] = Counter()

    def fresh() -> Iterator[_Row]:
        """The fresh judgement as (key, value), tallied for the counters on the way."""
        for r in conn.execute(judged, execution_options=_STREAM):
            want[_counts.key_of(r.event_id, r.purpose_id, int(r.reasons), r.until)] += 1
            yield (r.asset_id, r.purpose_id), (int(r.reasons), r.until, r.event_id)

    count, examples = _differences(
        (((r.asset_id, r.purpose_id), (int(r.reasons), r.until, r.event_id)) for r in stored), fresh()
    )
    if count:
        keys = [key for key, _value in examples]
        problems.append(f"asset_risk differs for {count} (photo, purpose) pairs, e.g. {keys}")
    problems += _counts.check(conn, want)
    return problems


def _differences(stored: Iterable[_Row], fresh: Iterable[_Row]) -> tuple[int, list[_Row]]:
    """Merge two (key, value) streams sorted by key: the number of keys whose values differ or that only one side
    holds, and the first five as (key, (stored value, fresh value)), None for a side without the key."""
    count, examples = 0, list[_Row]()
    left, right = iter(stored), iter(fresh)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        key = min(row[0] for row in (a, b) if row is not None)
        mine = a[1] if a is not None and a[0] == key else None  # values are tuples: None is "no such row"
        theirs = b[1] if b is not None and b[0] == key else None
        if mine is not None:
            a = next(left, None)
        if theirs is not None:
            b = next(right, None)
        if mine != theirs:
            count += 1
            if len(examples) < 5:
                examples.append((key, (mine, theirs)))
    return count, examples
