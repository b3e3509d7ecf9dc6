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

from portal.backend.platform import signing
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, ledger_checkpoints, ledger_head, ledger_heads
from portal.backend.platform.errors import ValidationError
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


_HEAD_DOMAIN = b"portal-ledger-head/v1\n"
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class SignedHead:
    """A ledger head signed with the key held outside the database; also the form of an anchor."""

    seq: int
    entry_hash: str
    base_seq: int
    base_hash: str
    prev_digest: str
    key_id: str
    signed_at: datetime
    adopted: bool
    signature: str

    def message(self) -> bytes:
        """The exact bytes the signature covers."""
        body = {
            "seq": int(self.seq),
            "hash": self.entry_hash,
            "base_seq": int(self.base_seq),
            "base_hash": self.base_hash,
            "prev": self.prev_digest,
            "key": self.key_id,
            "at": _iso(self.signed_at),
            "adopted": bool(self.adopted),
        }
        return _HEAD_DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        """SHA-256 over message and signature: the next signed head carries it, so the last signature binds all."""
        return hashlib.sha256(self.message() + self.signature.encode("ascii")).hexdigest()

    def verifies(self, key: signing.VerifyKey) -> bool:
        """True when this head was signed by `key`."""
        return self.key_id == key.key_id and key.verify(self.signature, self.message())

    def to_json(self) -> dict[str, Any]:
        """The head as a JSON object (in receipts, digests and anchor files)."""
        return {
            "seq": int(self.seq),
            "entryHash": self.entry_hash,
            "baseSeq": int(self.base_seq),
            "baseHash": self.base_hash,
            "prevDigest": self.prev_digest,
            "keyId": self.key_id,
            "signedAt": _iso(self.signed_at),
            "adopted": bool(self.adopted),
            "signature": self.signature,
        }

    def line(self) -> str:
        """The head as one line of compact JSON, for a file of anchors."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedHead:
        """Parse `to_json` output; ValueError names what is wrong."""
        try:
            return cls(
                seq=int(data["seq"]),
                entry_hash=str(data["entryHash"]),
                base_seq=int(data["baseSeq"]),
                base_hash=str(data["baseHash"]),
                prev_digest=str(data["prevDigest"]),
                key_id=str(data["keyId"]),
                signed_at=datetime.strptime(str(data["signedAt"]), _ISO).replace(tzinfo=UTC),
                adopted=bool(data["adopted"]),
                signature=str(data["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a signed ledger head ({type(exc).__name__}: {exc})") from None

    @classmethod
    def from_row(cls, row: Row[Any] | Mapping[str, Any]) -> SignedHead:
        """Build from a `ledger_heads` row."""
        m = row._mapping if isinstance(row, Row) else row
        return cls(
            seq=int(m["seq"]),
            entry_hash=m["entry_hash"],
            base_seq=int(m["base_seq"]),
            base_hash=m["base_hash"],
            prev_digest=m["prev_signature"],
            key_id=m["key_id"],
            signed_at=m["signed_at"],
            adopted=bool(m["adopted"]),
            signature=m["signature"],
        )


_CHECKPOINT_DOMAIN = b"portal-ledger-checkpoint/v1\n"


@dataclass(frozen=True)
class Checkpoint:
    """A verification that found entries 1..seq intact, signed with the ledger key; a later verify starts after it."""

    seq: int
    entry_hash: str
    head_digest: str
    key_id: str
    verified_at: datetime
    signature: str

    def message(self) -> bytes:
        """The exact bytes the signature covers (its own domain: a signed head's signature never passes for it)."""
        body = {
            "seq": int(self.seq),
            "hash": self.entry_hash,
            "head": self.head_digest,
            "key": self.key_id,
            "at": _iso(self.verified_at),
        }
        return _CHECKPOINT_DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def verifies(self, key: signing.VerifyKey) -> bool:
        """True when this checkpoint was signed by `key`."""
        return self.key_id == key.key_id and key.verify(self.signature, self.message())


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of verifying the chain, its signed heads and any anchors."""

    ok: bool
    checked: int  # entries recomputed in this run (from `start_seq` on)
    first_bad_seq: int | None = None
    problem: str | None = None
    head: SignedHead | None = None
    signed_heads: int = 0
    anchors: int = 0
    # False when no key was at hand: the chain was recomputed but no signature was checked.
    signatures_checked: bool = False
    # The first entry recomputed: 1, or the entry after the signed checkpoint this run started from.
    start_seq: int = 1
    checkpoint: Checkpoint | None = None


def _iso(value: datetime | None) -> str | None:
    """Canonical UTC text of a time, identical whichever database returned it."""
    if value is None:
        return None
    utc = value.astimezone(UTC)
    if utc.year < 1000:  # strftime does not pad such years to four digits; isoformat would
        return utc.strftime(_ISO)
    # The same text as strftime(_ISO), several times faster: `ledger verify` formats two times per entry.
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_evidence(evidence: Mapping[str, Any]) -> str:
    """Evidence as compact, key-sorted JSON; refuses oversized evidence (R12: minimal)."""
    text = json.dumps(dict(evidence), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > _EVIDENCE_MAX_BYTES:
        raise ValueError(f"evidence is larger than {_EVIDENCE_MAX_BYTES} bytes; keep only what proves the consent")
    return text


# The canonical form: key-sorted, compact, UTF-8. Built once (json.dumps with options builds one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
    body = _CANONICAL.encode(content)
    return hashlib.sha256(f"{values['prev_hash']}\n{body}".encode()).hexdigest()


_HEAD = select(ledger_head.c.seq, ledger_head.c.entry_hash).where(ledger_head.c.id == 1)
# Row lock: concurrent appenders wait here, then read the head the winner committed.
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_INSERT = insert(consent_ledger)
_MOVE_HEAD = (
    update(ledger_head).where(ledger_head.c.id == 1).values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash"))
)


_LAST_SIGNED = select(ledger_heads).order_by(ledger_heads.c.seq.desc()).limit(1)


def latest_signed_head(conn: Connection) -> SignedHead | None:
    """The newest signed head, or None before the first append."""
    row = conn.execute(_LAST_SIGNED).one_or_none()
    return None if row is None else SignedHead.from_row(row)


def sign_head(
    conn: Connection,
    key: signing.SigningKey,
    *,
    seq: int,
    entry_hash: str,
    base: tuple[int, str],
    now: datetime,
    adopted: bool = False,
) -> SignedHead:
    """Sign the head (seq, entry_hash) that extended `base`, linked to the previous signed head, and store it."""
    previous = latest_signed_head(conn)
    head = SignedHead(
        seq=seq,
        entry_hash=entry_hash,
        base_seq=base[0],
        base_hash=base[1],
        prev_digest=previous.digest() if previous else "",
        key_id=key.key_id,
        signed_at=now,
        adopted=adopted,
        signature="",
    )
    head = SignedHead(**{**head.__dict__, "signature": key.sign(head.message())})
    conn.execute(
        insert(ledger_heads).values(
            seq=head.seq,
            entry_hash=head.entry_hash,
            base_seq=head.base_seq,
            base_hash=head.base_hash,
            prev_signature=head.prev_digest,
            key_id=head.key_id,
            signed_at=head.signed_at,
            adopted=head.adopted,
            signature=head.signature,
        )
    )
    return head


def adopt_unsigned_head(conn: Connection, key: signing.SigningKey, *, now: datetime) -> SignedHead | None:
    """Sign the head of a ledger written before heads were signed (once, on the upgrade that adds signatures)."""
    if latest_signed_head(conn) is not None:
        return None
    seq, entry_hash = _lock_head(conn)
    if seq == 0:
        return None
    report = verify_connection(conn, chain_only=True)
    if not report.ok:
        # Never put a signature on a chain that does not verify: it would bless the damage.
        raise ValidationError(f"The ledger does not verify, so its head is not signed: {report.problem}")
    return sign_head(conn, key, seq=seq, entry_hash=entry_hash, base=(seq, entry_hash), now=now, adopted=True)


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


# Idempotency keys looked up per query in `append`.
KEY_BATCH = 5_000


def append(conn: Connection, entries: Sequence[NewEntry], *, now: datetime) -> list[LedgerEntry]:
    """Append entries in the caller's write transaction; an already-used idempotency key returns the stored entry."""
    if not entries:
        return []
    seq, prev = _lock_head(conn)
    base = (seq, prev)
    keys = [e.idempotency_key for e in entries if e.idempotency_key]
    existing: dict[str, LedgerEntry] = {}
    # In bounded batches: PostgreSQL takes at most 65,535 parameters, and a day's expiry can exceed that.
    for start in range(0, len(keys), KEY_BATCH):
        rows = conn.execute(
            select(consent_ledger).where(consent_ledger.c.idempotency_key.in_(keys[start : start + KEY_BATCH]))
        )
        existing.update((r.idempotency_key, LedgerEntry.from_row(r)) for r in rows)
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
        # Before any write: without the key nothing is appended, so no head is ever left unsigned.
        key = signing.signing_key_for(conn)
        conn.execute(_INSERT, new_rows)
        conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev})
        sign_head(conn, key, seq=seq, entry_hash=prev, base=base, now=now)
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


def _iter_rows(conn: Connection, chunk: int, *, after: int = 0) -> Iterator[RowMapping]:
    """The ledger rows after seq `after` in seq order, fetched in keyset pages to bound memory."""
    last: int | None = after if after > 0 else None
    while True:
        stmt = select(consent_ledger).order_by(consent_ledger.c.seq).limit(chunk)
        if last is not None:
            stmt = stmt.where(consent_ledger.c.seq > last)
        rows = conn.execute(stmt).mappings().all()
        if not rows:
            return
        yield from rows
        last = int(rows[-1]["seq"])


def _iter_heads(conn: Connection, chunk: int, *, after: int = -1) -> Iterator[SignedHead]:
    """The signed heads after seq `after` in seq order, in keyset pages."""
    last = after
    while True:
        stmt = select(ledger_heads).where(ledger_heads.c.seq > last).order_by(ledger_heads.c.seq).limit(chunk)
        rows = conn.execute(stmt).all()
        if not rows:
            return
        for row in rows:
            yield SignedHead.from_row(row)
        last = int(rows[-1].seq)


def parse_anchors(text: str) -> list[SignedHead]:
    """Signed heads from a receipt JSON, a digest or signed-head JSON object, or a file of one head per line."""
    stripped = text.strip()
    if not stripped:
        raise ValidationError("The anchor file is empty.")
    try:
        documents = [json.loads(stripped)]
    except json.JSONDecodeError:
        documents = []
        for number, line in enumerate(stripped.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                documents.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValidationError(f"Anchor line {number} is not JSON: {exc.msg}.") from None
    heads: list[SignedHead] = []
    for number, doc in enumerate(documents, 1):
        found = _find_head(doc)
        if found is None:
            raise ValidationError(
                f"Anchor {number} holds no signed ledger head (expected a receipt JSON, a manager digest, "
                "or lines printed by `python -m portal ledger head`)."
            )
        try:
            heads.append(SignedHead.from_json(found))
        except ValueError as exc:
            raise ValidationError(f"Anchor {number}: {exc}.") from None
    return heads


def _find_head(doc: Any) -> Mapping[str, Any] | None:
    """The signed head inside a document: itself, `ledgerHead`, or a receipt's `x-portal.ledgerHead`."""
    if not isinstance(doc, dict):
        return None
    if "signature" in doc and "entryHash" in doc:
        return doc
    if isinstance(doc.get("ledgerHead"), dict):
        return doc["ledgerHead"]
    extension = doc.get("x-portal")
    if isinstance(extension, dict) and isinstance(extension.get("ledgerHead"), dict):
        return extension["ledgerHead"]
    return None


def verify(
    db: Database,
    *,
    chunk: int = 5000,
    key: signing.VerifyKey | None = None,
    anchors: Sequence[SignedHead] = (),
    from_checkpoint: bool = False,
) -> VerifyReport:
    """Recompute the chain and check its signed heads (and anchors); report the first thing that does not verify.
    `from_checkpoint`: start after the newest signed checkpoint (its signature and hashes checked first)."""
    with db.read() as conn:
        return verify_connection(conn, chunk=chunk, key=key, anchors=anchors, from_checkpoint=from_checkpoint)


_LAST_CHECKPOINT = select(ledger_checkpoints).order_by(ledger_checkpoints.c.seq.desc(), ledger_checkpoints.c.id.desc())


def latest_checkpoint(conn: Connection) -> Checkpoint | None:
    """The newest stored checkpoint (not yet checked), or None."""
    row = conn.execute(_LAST_CHECKPOINT.limit(1)).one_or_none()
    if row is None:
        return None
    return Checkpoint(
        seq=int(row.seq),
        entry_hash=row.entry_hash,
        head_digest=row.head_digest,
        key_id=row.key_id,
        verified_at=row.verified_at,
        signature=row.signature,
    )


def record_checkpoint(
    conn: Connection, key: signing.SigningKey, report: VerifyReport, *, now: datetime
) -> Checkpoint | None:
    """Sign and store what a successful verify with signatures reached; None when it proves nothing to start from."""
    head = report.head
    if not (report.ok and report.signatures_checked and head is not None and head.key_id == key.key_id):
        return None
    unsigned = Checkpoint(head.seq, head.entry_hash, head.digest(), key.key_id, now, "")
    checkpoint = Checkpoint(**{**unsigned.__dict__, "signature": key.sign(unsigned.message())})
    conn.execute(
        insert(ledger_checkpoints).values(
            seq=checkpoint.seq,
            entry_hash=checkpoint.entry_hash,
            head_digest=checkpoint.head_digest,
            key_id=checkpoint.key_id,
            verified_at=checkpoint.verified_at,
            signature=checkpoint.signature,
        )
    )
    return checkpoint


def _checkpoint_problem(
    conn: Connection, checkpoint: Checkpoint, key: signing.VerifyKey
) -> tuple[str, SignedHead | None]:
    """Why the verify may not start after `checkpoint` ("" when it may), and the signed head it vouches for."""
    when = _iso(checkpoint.verified_at)
    if not checkpoint.verifies(key):
        return (
            f"the verification checkpoint at entry {checkpoint.seq} (dated {when}) is not signed by the ledger key "
            f"{key.key_id}: it was written or changed in the database behind the application's back to make "
            "verification skip entries; run `ledger verify --full`",
            None,
        )
    row = conn.execute(select(consent_ledger).where(consent_ledger.c.seq == checkpoint.seq)).mappings().one_or_none()
    if row is None or row["entry_hash"] != checkpoint.entry_hash or compute_hash(row) != checkpoint.entry_hash:
        return (
            f"entry {checkpoint.seq} is no longer the entry verified on {when}: the chain up to it was changed, "
            "deleted or re-hashed after that check; run `ledger verify --full` to find the first bad entry",
            None,
        )
    head_row = conn.execute(select(ledger_heads).where(ledger_heads.c.seq == checkpoint.seq)).one_or_none()
    head = None if head_row is None else SignedHead.from_row(head_row)
    if head is None or head.digest() != checkpoint.head_digest:
        return (
            f"the signed head of entry {checkpoint.seq} is not the one verified on {when}: signed heads were "
            "deleted, edited or inserted",
            None,
        )
    return "", head


def _link_problem(head: SignedHead, before: SignedHead | None) -> str | None:
    """Why `head` does not continue the signed head before it, or None."""
    if before is None:
        if head.prev_digest or not (head.adopted or (head.base_seq, head.base_hash) == (0, GENESIS_HASH)):
            return (
                f"the first signed head (entry {head.seq}) continues a signed head that is no longer stored: "
                "signed heads were deleted"
            )
        return None
    if head.prev_digest != before.digest():
        return (
            f"the signed head of entry {head.seq} does not follow the signed head of entry {before.seq}: "
            "signed heads were deleted, edited or inserted"
        )
    if (head.base_seq, head.base_hash) != (before.seq, before.entry_hash):
        return (
            f"entry {head.seq} was appended onto a head (entry {head.base_seq}) that the portal had not signed; "
            f"the last signed head was entry {before.seq}: the chain was changed behind the application's back"
        )
    return None


def verify_connection(
    conn: Connection,
    *,
    chunk: int = 5000,
    key: signing.VerifyKey | None = None,
    anchors: Sequence[SignedHead] = (),
    chain_only: bool = False,
    from_checkpoint: bool = False,
) -> VerifyReport:
    """Verify the chain, the signed heads and the anchors on an open connection (`chain_only`: no signatures;
    `from_checkpoint`: start after the newest signed checkpoint, when a key is at hand to check it)."""
    key = key or signing.verify_key_for(conn)
    if anchors and key is None:
        raise ValidationError("Checking anchors needs the ledger's public key (PORTAL_LEDGER_PUBLIC_KEY).")
    anchored: dict[int, SignedHead] = {}
    for anchor in anchors:
        assert key is not None
        if not anchor.verifies(key):
            raise ValidationError(
                f"The anchor for entry {anchor.seq} is not signed by the ledger key {key.key_id}; "
                "it proves nothing about this ledger (wrong file, or another portal's key)."
            )
        anchored[anchor.seq] = anchor

    checkpoint: Checkpoint | None = None
    start_seq, prev = 1, GENESIS_HASH
    last_signed: SignedHead | None = None

    def bad(checked: int, seq: int | None, problem: str, signed: int = 0) -> VerifyReport:
        return VerifyReport(
            False, checked, seq, problem, None, signed, len(anchors), key is not None, start_seq, checkpoint
        )

    # Without a key a checkpoint proves nothing (anyone can write one), so the whole chain is recomputed.
    if from_checkpoint and not chain_only and key is not None:
        checkpoint = latest_checkpoint(conn)
        if checkpoint is not None:
            problem, last_signed = _checkpoint_problem(conn, checkpoint, key)
            if problem:
                return bad(0, None, problem)
            start_seq, prev = checkpoint.seq + 1, checkpoint.entry_hash
            # Anchors inside the verified part: their entries must still carry the anchored hash.
            early = sorted(seq for seq in anchored if seq < start_seq)
            if early:
                stored = dict(
                    conn.execute(
                        select(consent_ledger.c.seq, consent_ledger.c.entry_hash).where(consent_ledger.c.seq.in_(early))
                    ).all()
                )
                for seq in early:
                    if stored.get(seq) != anchored[seq].entry_hash:
                        return bad(
                            0,
                            seq,
                            f"entry {seq} is not the entry anchored on {_iso(anchored[seq].signed_at)}: the chain "
                            "was rewritten after that head was signed",
                        )

    heads = _iter_heads(conn, chunk, after=checkpoint.seq if checkpoint else -1)
    pending: SignedHead | None = None if chain_only else next(heads, None)
    signed = 0
    expected_seq, checked = start_seq, 0
    for row in _iter_rows(conn, chunk, after=start_seq - 1):
        seq = int(row["seq"])
        if seq != expected_seq:
            if seq > expected_seq:
                problem = f"entry {expected_seq} is missing (the next entry is {seq}): entries were deleted"
            else:
                problem = f"entry {seq} appears out of order after entry {expected_seq - 1}"
            return bad(checked, expected_seq, problem)
        if row["prev_hash"] != prev:
            return bad(
                checked,
                seq,
                f"entry {seq} does not link to entry {seq - 1}: entries were reordered, removed or inserted",
            )
        if compute_hash(row) != row["entry_hash"]:
            return bad(
                checked,
                seq,
                f"entry {seq} ({row['entry_id']}) does not match its hash: its contents were changed",
            )
        while pending is not None and pending.seq <= seq:
            since = last_signed.seq + 1 if last_signed else 1
            if link := _link_problem(pending, last_signed):
                return bad(checked, since, link, signed)
            if pending.seq < seq or pending.entry_hash != row["entry_hash"]:
                return bad(
                    checked,
                    since,
                    f"the signed head of entry {pending.seq} no longer matches the chain: an entry from {since} to "
                    f"{pending.seq} was changed, deleted or inserted after it was signed, and the chain re-hashed",
                    signed,
                )
            last_signed, signed = pending, signed + 1
            pending = next(heads, None)
        held = anchored.get(seq)
        if held is not None and held.entry_hash != row["entry_hash"]:
            return bad(
                checked,
                seq,
                f"entry {seq} is not the entry anchored on {_iso(held.signed_at)}: the chain was rewritten "
                "after that head was signed",
                signed,
            )
        prev, expected_seq, checked = row["entry_hash"], seq + 1, checked + 1
    last = expected_seq - 1  # the last entry of the chain (the checkpoint's when nothing came after it)
    head = conn.execute(_HEAD).one_or_none()
    if head is None:
        return bad(checked, None, "the ledger head record is missing", signed)
    if int(head.seq) != last or head.entry_hash != prev:
        first_bad = last + 1 if int(head.seq) > last else int(head.seq) + 1
        return bad(
            checked,
            first_bad,
            f"the chain ends at entry {last} but the head records entry {head.seq}: "
            "entries were deleted from the end or added behind the application's back",
            signed,
        )
    if chain_only:
        return VerifyReport(True, checked)
    if pending is not None:
        newest_signed = max((h.seq for h in heads), default=pending.seq)
        return bad(
            checked,
            last + 1,
            f"the chain ends at entry {last} but the portal signed a head at entry {newest_signed}: entries were "
            "deleted from the end and the head moved back",
            signed,
        )
    beyond = [a for a in anchored.values() if a.seq > last]
    if beyond:
        newest = max(beyond, key=lambda a: a.seq)
        return bad(
            checked,
            last + 1,
            f"the chain ends at entry {last} but an anchor holds a head signed at entry {newest.seq} on "
            f"{_iso(newest.signed_at)}: entries were deleted from the end and the head rolled back",
            signed,
        )
    if last == 0:
        return VerifyReport(True, 0, anchors=len(anchors), signatures_checked=key is not None)
    if last_signed is None:
        return bad(
            checked,
            1,
            f"the head (entry {last}) carries no signature: the signed heads were deleted (or this database "
            "was upgraded without the ledger key: `python -m portal db upgrade` with the key signs it once)",
        )
    if last_signed.seq != last:
        return bad(
            checked,
            last_signed.seq + 1,
            f"entries {last_signed.seq + 1} to {last} are not covered by a signed head: they were appended "
            "behind the application's back",
            signed,
        )
    if key is not None and not last_signed.verifies(key):
        reason = (
            f"it was made with key {last_signed.key_id}, not {key.key_id}"
            if last_signed.key_id != key.key_id
            else "the signature does not verify"
        )
        return bad(
            checked,
            None,
            f"the signed head of entry {last} is not genuine ({reason}): the signed heads were forged "
            "by someone without the ledger key, or the wrong public key is configured",
            signed,
        )
    return VerifyReport(
        True, checked, None, None, last_signed, signed, len(anchors), key is not None, start_seq, checkpoint
    )
