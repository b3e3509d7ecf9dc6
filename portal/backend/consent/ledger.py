"""The append-only, hash-chained consent ledger: append under a lock, read, and verify."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, RowMapping, bindparam, insert, select, update

from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, ledger_head
from portal.backend.risk import index as risk_index

GENESIS_HASH = "0" * 64
_EVIDENCE_MAX_BYTES = 4096


@dataclass(frozen=True)
class NewEntry:
    """What a caller asks to append; seq, time and hashes are filled in by `append`."""

    subject_id: str
    purpose_id: int
    action: str
    text_version: int
    text_locale: str
    text_hash: str
    channel: str
    actor: str
    scope_asset_id: int | None = None
    event_id: int | None = None
    valid_until: datetime | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """One stored ledger entry."""

    seq: int
    entry_id: str
    subject_id: str
    purpose_id: int
    action: str
    scope_asset_id: int | None
    text_version: int
    text_locale: str
    text_hash: str
    channel: str
    actor: str
    event_id: int | None
    recorded_at: datetime
    valid_until: datetime | None
    evidence: str
    idempotency_key: str | None
    prev_hash: str
    entry_hash: str

    @property
    def evidence_data(self) -> dict[str, Any]:
        """The evidence as a dict."""
        return json.loads(self.evidence)

    @classmethod
    def from_row(cls, row: Row[Any] | Mapping[str, Any]) -> LedgerEntry:
        """Build from a database row."""
        m = row._mapping if isinstance(row, Row) else row
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of verifying the chain."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


def _iso(value: datetime | None) -> str | None:
    """Canonical UTC text of a time, identical whichever database returned it."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_evidence(evidence: Mapping[str, Any]) -> str:
    """Evidence as compact, key-sorted JSON; refuses oversized evidence (R12: minimal)."""
    text = json.dumps(dict(evidence), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > _EVIDENCE_MAX_BYTES:
        raise ValueError(f"evidence is larger than {_EVIDENCE_MAX_BYTES} bytes; keep only what proves the consent")
    return text


def compute_hash(values: Mapping[str, Any] | RowMapping) -> str:
    """SHA-256 over the previous hash and the entry's canonical content."""
    content = {
        "seq": int(values["seq"]),
        "entry_id": values["entry_id"],
        "subject_id": values["subject_id"],
        "purpose_id": int(values["purpose_id"]),
        "action": values["action"],
        "scope_asset_id": values["scope_asset_id"],
        "text_version": int(values["text_version"]),
        "text_locale": values["text_locale"],
        "text_hash": values["text_hash"],
        "channel": values["channel"],
        "actor": values["actor"],
        "event_id": values["event_id"],
        "recorded_at": _iso(values["recorded_at"]),
        "valid_until": _iso(values["valid_until"]),
        "evidence": values["evidence"],
        "idempotency_key": values["idempotency_key"],
    }
    body = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{values['prev_hash']}\n{body}".encode()).hexdigest()


_HEAD = select(ledger_head.c.seq, ledger_head.c.entry_hash).where(ledger_head.c.id == 1)
# Row lock: concurrent appenders wait here, then read the head the winner committed.
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_INSERT = insert(consent_ledger)
_MOVE_HEAD = (
    update(ledger_head).where(ledger_head.c.id == 1).values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash"))
)


def lock_head(conn: Connection) -> tuple[int, str]:
    """Take the chain lock now, for a writer that must read the current state before deciding what to append."""
    return _lock_head(conn)


def _lock_head(conn: Connection) -> tuple[int, str]:
    """Lock the chain head for this transaction and return (seq, hash)."""
    # SQLite needs no row lock: the write transaction (BEGIN IMMEDIATE) already excludes other writers.
    row = conn.execute(_HEAD_FOR_UPDATE if conn.dialect.name == "postgresql" else _HEAD).one_or_none()
    if row is None:
        raise RuntimeError("ledger_head row is missing; run `python -m portal db upgrade`")
    return int(row.seq), str(row.entry_hash)


def append(conn: Connection, entries: Sequence[NewEntry], *, now: datetime) -> list[LedgerEntry]:
    """Append entries in the caller's write transaction; an already-used idempotency key returns the stored entry."""
    if not entries:
        return []
    seq, prev = _lock_head(conn)
    keys = [e.idempotency_key for e in entries if e.idempotency_key]
    existing: dict[str, LedgerEntry] = {}
    if keys:
        rows = conn.execute(select(consent_ledger).where(consent_ledger.c.idempotency_key.in_(keys)))
        existing = {r.idempotency_key: LedgerEntry.from_row(r) for r in rows}
    result: list[LedgerEntry] = []
    new_rows: list[dict[str, Any]] = []
    for entry in entries:
        if entry.idempotency_key and entry.idempotency_key in existing:
            result.append(existing[entry.idempotency_key])
            continue
        seq += 1
        values: dict[str, Any] = {
            "seq": seq,
            "entry_id": str(uuid.uuid4()),
            "subject_id": entry.subject_id,
            "purpose_id": entry.purpose_id,
            "action": entry.action,
            "scope_asset_id": entry.scope_asset_id,
            "text_version": entry.text_version,
            "text_locale": entry.text_locale,
            "text_hash": entry.text_hash,
            "channel": entry.channel,
            "actor": entry.actor,
            "event_id": entry.event_id,
            "recorded_at": now,
            "valid_until": entry.valid_until,
            "evidence": canonical_evidence(entry.evidence),
            "idempotency_key": entry.idempotency_key,
            "prev_hash": prev,
        }
        values["entry_hash"] = prev = compute_hash(values)
        new_rows.append(values)
        result.append(LedgerEntry(**values))
    if new_rows:
        conn.execute(_INSERT, new_rows)
        conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev})
        # Same transaction: the risk index can never show a state the ledger does not hold.
        risk_index.note_entries(conn, new_rows)
    return result


def entries_for_subject(conn: Connection, subject_id: str) -> list[LedgerEntry]:
    """Every entry of one subject, oldest first."""
    rows = conn.execute(
        select(consent_ledger).where(consent_ledger.c.subject_id == subject_id).order_by(consent_ledger.c.seq)
    )
    return [LedgerEntry.from_row(r) for r in rows]


def list_entries(
    conn: Connection, *, after_seq: int = 0, limit: int = 100, subject_id: str | None = None
) -> list[LedgerEntry]:
    """A page of entries in chain order, starting after `after_seq`."""
    stmt = select(consent_ledger).where(consent_ledger.c.seq > after_seq)
    if subject_id is not None:
        stmt = stmt.where(consent_ledger.c.subject_id == subject_id)
    rows = conn.execute(stmt.order_by(consent_ledger.c.seq).limit(limit))
    return [LedgerEntry.from_row(r) for r in rows]


def _iter_rows(conn: Connection, chunk: int) -> Iterator[RowMapping]:
    """All ledger rows in seq order, fetched in keyset pages to bound memory."""
    last: int | None = None
    while True:
        stmt = select(consent_ledger).order_by(consent_ledger.c.seq).limit(chunk)
        if last is not None:
            stmt = stmt.where(consent_ledger.c.seq > last)
        rows = conn.execute(stmt).mappings().all()
        if not rows:
            return
        yield from rows
        last = int(rows[-1]["seq"])


def verify(db: Database, *, chunk: int = 5000) -> VerifyReport:
    """Recompute the chain from the start; report the first entry that does not verify."""
    with db.read() as conn:
        return verify_connection(conn, chunk=chunk)


def verify_connection(conn: Connection, *, chunk: int = 5000) -> VerifyReport:
    """Verify the chain on an open connection."""
    expected_seq, prev, checked = 1, GENESIS_HASH, 0
    for row in _iter_rows(conn, chunk):
        seq = int(row["seq"])
        if seq != expected_seq:
            if seq > expected_seq:
                problem = f"entry {expected_seq} is missing (the next entry is {seq}): entries were deleted"
            else:
                problem = f"entry {seq} appears out of order after entry {expected_seq - 1}"
            return VerifyReport(False, checked, expected_seq, problem)
        if row["prev_hash"] != prev:
            return VerifyReport(
                False,
                checked,
                seq,
                f"entry {seq} does not link to entry {seq - 1}: entries were reordered, removed or inserted",
            )
        if compute_hash(row) != row["entry_hash"]:
            return VerifyReport(
                False,
                checked,
                seq,
                f"entry {seq} ({row['entry_id']}) does not match its hash: its contents were changed",
            )
        prev, expected_seq, checked = row["entry_hash"], seq + 1, checked + 1
    head = conn.execute(_HEAD).one_or_none()
    if head is None:
        return VerifyReport(False, checked, None, "the ledger head record is missing")
    if int(head.seq) != checked or head.entry_hash != prev:
        first_bad = checked + 1 if int(head.seq) > checked else int(head.seq) + 1
        return VerifyReport(
            False,
            checked,
            first_bad,
            f"the chain ends at entry {checked} but the head records entry {head.seq}: "
            "entries were deleted from the end or added behind the application's back",
        )
    return VerifyReport(True, checked)
