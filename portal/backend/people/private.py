"""Personal text kept out of the append-only ledger: salted HMACs in the evidence, the text in an erasable row.

The ledger cannot forget (R11), so it must never hold what erasure (Art. 17) has to remove. A guardian's name, how
they were verified and free-text notes go into the ledger as HMAC-SHA256 under a random per-person salt; the salt
and the notes' text live in `subject_private` (the registering guardian's details in `subjects`; a guardian who
declared later on the personal link, in `subject_private` beside the notes), and erasure deletes them. While they
exist, the HMAC proves which details an entry was recorded with; afterwards it links to nobody.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from portal.backend.platform.db.schema import subject_private, subjects

NOTE_MAX = 500


def _digest(salt: str, value: str) -> str:
    """HMAC-SHA256 of `value` under the person's salt, hex."""
    return hmac.new(bytes.fromhex(salt), value.encode("utf-8"), hashlib.sha256).hexdigest()


def guardian_digest(salt: str, name: str | None, verified_by: str | None) -> str:
    """The HMAC that stands for a guardian's name and verification in the ledger."""
    return _digest(salt, json.dumps(["guardian", name or "", verified_by or ""], ensure_ascii=False))


def note_digest(salt: str, note: str) -> str:
    """The HMAC that stands for a note in the ledger."""
    return _digest(salt, json.dumps(["note", note], ensure_ascii=False))


def _row(conn: Connection, subject_id: str) -> Any:
    """The person's private row, or None."""
    return conn.execute(select(subject_private).where(subject_private.c.subject_id == subject_id)).one_or_none()


def salt_for(conn: Connection, subject_id: str, *, now: datetime) -> str:
    """The person's salt, created in the caller's write transaction the first time it is needed."""
    row = _row(conn, subject_id)
    if row is not None:
        return str(row.salt)
    salt = secrets.token_hex(32)
    # The caller holds the person's row (PostgreSQL: FOR NO KEY UPDATE; SQLite: the write lock), so no one else
    # inserts the same key meanwhile.
    conn.execute(insert(subject_private).values(subject_id=subject_id, salt=salt, notes="{}", created_at=now))
    return salt


def seal_evidence(
    conn: Connection,
    *,
    subject_id: str,
    evidence: Mapping[str, Any],
    guardian: tuple[str | None, str | None] | None,
    now: datetime,
) -> dict[str, Any]:
    """`evidence` as the ledger may keep it: a note and the guardian (name, verification) replaced by HMACs, their
    text stored in the erasable tables."""
    sealed = dict(evidence)
    note = sealed.pop("note", None)
    text = str(note).strip()[:NOTE_MAX] if isinstance(note, str) else ""
    if not text and guardian is None:
        return sealed
    salt = salt_for(conn, subject_id, now=now)
    notes = json.loads(_row(conn, subject_id).notes or "{}")
    changed = False
    if text:
        digest = note_digest(salt, text)
        if notes.get(digest) != text:
            notes[digest] = text
            changed = True
        sealed["note"] = {"hmac": digest}
    if guardian is not None and "guardian" not in sealed:
        # R15: the entry still says that a guardian consented, and commits to who, without naming them.
        digest = guardian_digest(salt, *guardian)
        sealed["guardian"] = {"hmac": digest}
        if digest != _registered_guardian_digest(conn, subject_id, salt) and digest not in notes:
            # A guardian other than the registered one (declared on the personal link): their details are kept
            # here, erasable, so receipts and staff can still say who it was.
            notes[digest] = {"guardian": guardian[0], "verified_by": guardian[1]}
            changed = True
    if changed:
        conn.execute(
            update(subject_private)
            .where(subject_private.c.subject_id == subject_id)
            .values(notes=json.dumps(notes, ensure_ascii=False))
        )
    return sealed


def _registered_guardian_digest(conn: Connection, subject_id: str, salt: str) -> str | None:
    """The digest of the guardian stored with the person's registration, if any."""
    person = conn.execute(
        select(subjects.c.guardian_name, subjects.c.guardian_verification).where(subjects.c.id == subject_id)
    ).one_or_none()
    if person is None or person.guardian_name is None:
        return None
    return guardian_digest(salt, person.guardian_name, person.guardian_verification)


def reveal_evidence(
    conn: Connection, subject_id: str, evidence: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """The guardian ({name, verified_by}) and note an entry's evidence stands for, read from the erasable tables;
    None for each once the person is erased (or the details no longer match)."""
    guardian, note = evidence.get("guardian"), evidence.get("note")
    # Entries from before revision 0006 hold the plain text themselves.
    shown_guardian = guardian if isinstance(guardian, dict) and "name" in guardian else None
    shown_note = note if isinstance(note, str) else None
    guardian_hmac = str(guardian["hmac"]) if isinstance(guardian, dict) and "hmac" in guardian else None
    note_hmac = str(note["hmac"]) if isinstance(note, dict) and "hmac" in note else None
    if not (guardian_hmac or note_hmac):
        return shown_guardian, shown_note
    row = _row(conn, subject_id)
    if row is None:
        return shown_guardian, shown_note
    if guardian_hmac:
        person = conn.execute(
            select(subjects.c.guardian_name, subjects.c.guardian_verification).where(subjects.c.id == subject_id)
        ).one_or_none()
        kept = json.loads(row.notes or "{}").get(guardian_hmac)
        if person is not None and hmac.compare_digest(
            guardian_digest(row.salt, person.guardian_name, person.guardian_verification), guardian_hmac
        ):
            shown_guardian = {"name": person.guardian_name, "verified_by": person.guardian_verification}
        elif isinstance(kept, dict) and hmac.compare_digest(
            guardian_digest(row.salt, kept.get("guardian"), kept.get("verified_by")), guardian_hmac
        ):
            shown_guardian = {"name": kept.get("guardian"), "verified_by": kept.get("verified_by")}
    if note_hmac:
        text = json.loads(row.notes or "{}").get(note_hmac)
        shown_note = str(text) if isinstance(text, str) and text else None
    return shown_guardian, shown_note


def forget(conn: Connection, subject_id: str) -> int:
    """Delete the person's salt and notes in the caller's transaction (erasure); returns rows deleted."""
    return conn.execute(delete(subject_private).where(subject_private.c.subject_id == subject_id)).rowcount or 0
