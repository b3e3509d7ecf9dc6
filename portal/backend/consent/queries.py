"""Read models of the consent domain: purposes, their current texts and a person's current consents."""

from __future__ import annotations

from datetime import datetime

from portal.backend.consent import ledger as _ledger
from portal.backend.consent import purposes as _purposes
from portal.backend.consent import status as _status
from portal.backend.consent.ledger import LedgerEntry, VerifyReport
from portal.backend.consent.purposes import Purpose, PurposeText, TextContent
from portal.backend.consent.status import ConsentStatus, status_for
from portal.backend.platform.runtime import Portal

__all__ = [
    "ConsentStatus",
    "LedgerEntry",
    "Purpose",
    "PurposeText",
    "TextContent",
    "VerifyReport",
    "current_texts",
    "ledger_entries",
    "list_purposes",
    "status_for",
    "subject_consents",
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


def verify_ledger(portal: Portal) -> VerifyReport:
    """Recompute the whole hash chain; the report names the first bad entry."""
    return _ledger.verify(portal.db)


def ledger_entries(
    portal: Portal, *, after_seq: int = 0, limit: int = 100, subject_id: str | None = None
) -> list[LedgerEntry]:
    """Ledger entries in chain order, optionally of one subject."""
    with portal.db.read() as conn:
        return _ledger.list_entries(conn, after_seq=after_seq, limit=limit, subject_id=subject_id)
