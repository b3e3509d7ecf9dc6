"""Read models of the consent domain: purposes, their current texts and a person's current consents."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from portal.backend.consent import ledger as _ledger
from portal.backend.consent import purposes as _purposes
from portal.backend.consent import receipts as _receipts
from portal.backend.consent import status as _status
from portal.backend.consent.ledger import LedgerEntry, SignedHead, VerifyReport
from portal.backend.consent.purposes import Purpose, PurposeText, TextContent
from portal.backend.consent.receipts import ReceiptRecord
from portal.backend.consent.records import Decision
from portal.backend.consent.status import ALLOWING, ConsentStatus, status_for
from portal.backend.platform import signing as _signing
from portal.backend.platform.errors import NotFound
from portal.backend.platform.runtime import Portal

__all__ = [
    "ALLOWING",
    "ConsentStatus",
    "Decision",
    "LedgerEntry",
    "Purpose",
    "PurposeText",
    "ReceiptRecord",
    "SignedHead",
    "TextContent",
    "VerifyReport",
    "current_texts",
    "get_receipt",
    "ledger_entries",
    "list_purposes",
    "receipt_file",
    "signed_ledger_head",
    "status_for",
    "subject_consents",
    "subject_receipts",
    "text_version",
    "verify_ledger",
]


def list_purposes(portal: Portal, *, active_only: bool = True) -> list[Purpose]:
    """The organisation's purposes in display order."""
    with portal.db.read() as conn:
        return _purposes.list_purposes(conn, active_only=active_only)


def current_texts(portal: Portal, locale: str) -> dict[int, PurposeText]:
    """The current text of every purpose in `locale` (falling back as the backend does), by purpose id."""
    with portal.db.read() as conn:
        return _purposes.current_texts(conn, locale)


def text_version(portal: Portal, *, purpose_id: int, version: int, locale: str) -> PurposeText:
    """One exact version of a purpose text (what a person agreed to)."""
    with portal.db.read() as conn:
        return _purposes.text_version(conn, purpose_id, version, locale)


def subject_consents(portal: Portal, *, subject_id: str, now: datetime) -> list[ConsentStatus]:
    """A person's current status per purpose and per vetoed image, from the ledger."""
    with portal.db.read() as conn:
        return _status.subject_consents(conn, subject_id, now)


def verify_ledger(portal: Portal, *, anchors: str | None = None) -> VerifyReport:
    """Recompute the hash chain, check the signed head with the ledger's public key, and each anchor (file text)."""
    try:
        key: _signing.VerifyKey | None = _signing.load_verify_key(portal.settings)
    except _signing.LedgerKeyMissing:
        key = None  # the report says signatures were not checked
    heads = _ledger.parse_anchors(anchors) if anchors is not None else ()
    return _ledger.verify(portal.db, key=key, anchors=heads)


def signed_ledger_head(portal: Portal) -> SignedHead | None:
    """The newest signed ledger head (to keep outside the database as an anchor), or None for an empty ledger."""
    with portal.db.read() as conn:
        return _ledger.latest_signed_head(conn)


def ledger_entries(
    portal: Portal, *, after_seq: int = 0, limit: int = 100, subject_id: str | None = None
) -> list[LedgerEntry]:
    """Ledger entries in chain order, optionally of one subject."""
    with portal.db.read() as conn:
        return _ledger.list_entries(conn, after_seq=after_seq, limit=limit, subject_id=subject_id)


def subject_receipts(portal: Portal, *, subject_id: str) -> list[ReceiptRecord]:
    """A person's receipts (issued, pending or failed), oldest first."""
    with portal.db.read() as conn:
        return _receipts.subject_receipts(conn, subject_id)


def get_receipt(portal: Portal, *, receipt_id: str) -> ReceiptRecord | None:
    """One receipt's row, or None."""
    with portal.db.read() as conn:
        return _receipts.get_receipt(conn, receipt_id)


def receipt_file(portal: Portal, *, receipt: ReceiptRecord, kind: Literal["pdf", "json"]) -> bytes:
    """The stored PDF or JSON of an issued receipt."""
    key = receipt.pdf_key if kind == "pdf" else receipt.json_key
    if not receipt.issued or not key:
        raise NotFound(f"Receipt {receipt.id} has no stored files yet.")
    return portal.blobs.get(key)
