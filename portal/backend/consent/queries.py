"""Read models of the consent domain: purposes, their current texts and a person's current consents."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from portal.backend.consent import ledger as _ledger
from portal.backend.consent import notice as _notice
from portal.backend.consent import purposes as _purposes
from portal.backend.consent import receipts as _receipts
from portal.backend.consent import status as _status
from portal.backend.consent import titles as _titles
from portal.backend.consent.ledger import LedgerEntry, SignedHead, VerifyReport
from portal.backend.consent.notice import Notice, NoticeRecipient, PurposeNotice, Right
from portal.backend.consent.purposes import (
    DiffKind,
    LocaleDiff,
    Purpose,
    PurposeSummary,
    PurposeText,
    TextContent,
    TextImpact,
    TextPlan,
)
from portal.backend.consent.receipts import ReceiptCheck, ReceiptRecord
from portal.backend.consent.records import Decision
from portal.backend.consent.status import ALLOWING, SUPERSEDED, ConsentStatus, status_for
from portal.backend.platform import signing as _signing
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import NotFound
from portal.backend.platform.runtime import Portal

__all__ = [
    "ALLOWING",
    "SUPERSEDED",
    "ConsentStatus",
    "Decision",
    "LedgerEntry",
    "LocaleDiff",
    "Notice",
    "NoticeRecipient",
    "Purpose",
    "PurposeNotice",
    "PurposeSummary",
    "PurposeText",
    "ReceiptCheck",
    "ReceiptRecord",
    "Renewal",
    "Right",
    "SignedHead",
    "TextContent",
    "TextImpact",
    "TextPlan",
    "VerifyReport",
    "current_texts",
    "get_receipt",
    "ledger_entries",
    "list_purposes",
    "notice",
    "pending_renewals",
    "preview_purpose_text",
    "purpose_summaries",
    "purpose_titles",
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


def purpose_titles(portal: Portal, *, locale: str | None = None) -> dict[str, str]:
    """Every purpose's current title by code, in `locale` or the staff language (staff pages, reports)."""
    with portal.db.read() as conn:
        return _titles.purpose_titles(conn, locale=locale)


def text_version(portal: Portal, *, purpose_id: int, version: int, locale: str) -> PurposeText:
    """One exact version of a purpose text (what a person agreed to)."""
    with portal.db.read() as conn:
        return _purposes.text_version(conn, purpose_id, version, locale)


def subject_consents(portal: Portal, *, subject_id: str, now: datetime) -> list[ConsentStatus]:
    """A person's current status per purpose and per vetoed image, from the ledger."""
    with portal.db.read() as conn:
        return _status.subject_consents(conn, subject_id, now)


def verify_ledger(portal: Portal, *, anchors: str | None = None, from_checkpoint: bool = False) -> VerifyReport:
    """Recompute the hash chain, check the signed head with the ledger's public key, and each anchor (file text);
    `from_checkpoint`: only the entries after the newest signed checkpoint (whose signature is checked first)."""
    try:
        key: _signing.VerifyKey | None = _signing.load_verify_key(portal.settings)
    except _signing.LedgerKeyMissing:
        key = None  # the report says signatures were not checked
    heads = _ledger.parse_anchors(anchors) if anchors is not None else ()
    return _ledger.verify(portal.db, key=key, anchors=heads, from_checkpoint=from_checkpoint)


def verify_receipt(portal: Portal, *, text: str) -> ReceiptCheck:
    """Check a receipt JSON (file text): Kantara schema, the organisation's signature, its entries in the chain."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return ReceiptCheck(False, f"the file is not JSON ({exc.msg} at line {exc.lineno})")
    key = _signing.load_verify_key(portal.settings)
    with portal.db.read() as conn:
        return _receipts.check_receipt(conn, data, key)


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


def preview_purpose_text(
    portal: Portal,
    *,
    code: str,
    texts: Mapping[str, TextContent],
    carry_over: Sequence[str] = (),
    now: datetime | None = None,
) -> TextPlan:
    """What publishing this text version would do: the per-language diff against the current version and the
    people, photos and publications it would put at risk. Raises the errors publishing would (nothing written)."""
    with portal.db.read() as conn:
        return _purposes.plan_text(conn, code=code, texts=texts, carry_over=carry_over, now=now or utcnow())


def purpose_summaries(portal: Portal, *, code: str | None = None, now: datetime | None = None) -> list[PurposeSummary]:
    """Purposes with their current version, texts per language and consent counts (one purpose with `code`)."""
    with portal.db.read() as conn:
        return _purposes.purpose_summaries(conn, now=now or utcnow(), code=code)


@dataclass(frozen=True)
class Renewal:
    """A consent under a replaced text: the wording the person agreed to, the current one, and what changed."""

    purpose_code: str
    scope_asset_id: int | None
    old: PurposeText
    new: PurposeText
    body: tuple[tuple[DiffKind, str], ...]

    @property
    def title_changed(self) -> bool:
        """True when the purpose's title changed too."""
        return self.old.title != self.new.title

    @property
    def recipients_added(self) -> tuple[str, ...]:
        """Recipients the new text names that the old one did not."""
        return tuple(r for r in self.new.recipients if r not in self.old.recipients)

    @property
    def recipients_removed(self) -> tuple[str, ...]:
        """Recipients the old text named that the new one no longer does."""
        return tuple(r for r in self.old.recipients if r not in self.new.recipients)


def pending_renewals(portal: Portal, *, subject_id: str, locale: str, now: datetime | None = None) -> list[Renewal]:
    """Each of a person's superseded consents (general first, then per photo) with the old and new wording in
    `locale` (English where a version has no text in it) and a sentence diff."""
    now = now or utcnow()
    with portal.db.read() as conn:
        result: list[Renewal] = []
        for s in _status.subject_consents(conn, subject_id, now):
            if s.status != SUPERSEDED or s.text_version is None or s.current_version is None:
                continue
            purpose = _purposes.get_purpose(conn, s.purpose_code)
            old = _purposes.text_version(conn, purpose.id, s.text_version, locale)
            new = _purposes.text_version(conn, purpose.id, s.current_version, locale)
            result.append(
                Renewal(
                    purpose_code=s.purpose_code,
                    scope_asset_id=s.scope_asset_id,
                    old=old,
                    new=new,
                    body=_purposes.sentence_diff(old.body, new.body),
                )
            )
        return result


def notice(
    portal: Portal, *, locale: str, purpose_codes: Sequence[str] | None = None, asks_phone: bool = False
) -> Notice:
    """The notice at collection's second layer in `locale`, for these purposes (a form's) or every active one."""
    with portal.db.read() as conn:
        return _notice.notice_for(conn, locale, purpose_codes=purpose_codes, asks_phone=asks_phone)
