"""Consent actions: give, refuse, withdraw, renew, veto a photo, withdraw everything, publish a purpose text, and
issuing the receipts those changes leave behind (on demand and in bounded batches). Each owns its transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from portal.backend.consent import ledger as _ledger
from portal.backend.consent import purposes as _purposes
from portal.backend.consent import receipts as _receipts
from portal.backend.consent.ledger import LedgerEntry
from portal.backend.consent.purposes import PurposeText, TextContent, TextImpact
from portal.backend.consent.receipts import ReceiptRecord
from portal.backend.consent.records import Context, Decision, record_decisions, replayed_entries, withdrawable
from portal.backend.people.guardians import LINK_METHOD
from portal.backend.people.subjects import minor_now
from portal.backend.platform import signing as _signing
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import (
    AuthError,
    ConfigError,
    ConsentStateError,
    GuardianRequired,
    NotFound,
    PortalError,
    ReceiptNotReady,
    ValidationError,
)
from portal.backend.platform.runtime import Portal
from portal.backend.platform.text import clean_name
from portal.backend.staff.audit import audit

__all__ = [
    "ConsentChange",
    "Decision",
    "PublishedText",
    "TextContent",
    "change_consent",
    "issue_pending_receipts",
    "issue_receipt",
    "publish_purpose_text",
    "record_ledger_checkpoint",
    "set_retention_period",
    "withdraw_everything",
]

# Channels a person uses themselves; staff, kiosk operators and the CLI use the others.
_SELF_CHANNELS = ("portal", "qr_form", "kiosk")


@dataclass(frozen=True)
class ConsentChange:
    """What a consent change recorded: its ledger entries and the receipt that documents them."""

    entries: list[LedgerEntry]
    receipt_id: str | None
    replayed: bool = False


def is_staff_side(actor: Actor) -> bool:
    """True when a staff member, an operator or the system acted (their actions are audited)."""
    return actor.kind in ("staff", "kiosk", "operator", "system")


def check_acts_for(actor: Actor, subject_id: str) -> None:
    """Refuse a person acting for someone else; staff need at least the staff role."""
    if actor.kind in ("subject", "guardian"):
        if actor.id is not None and actor.id != subject_id:
            raise AuthError("A personal link only changes the consents of the person it belongs to.")
    elif not actor.can("staff"):
        raise AuthError("Only staff members record consent for someone else.")


# Evidence of a change staff record on someone's behalf: the staff member's word, the person not there to act.
STAFF_DECLARATION: dict[str, Any] = {"act": "staff_declaration", "person_present": False}
# A person's own act on the portal: a button press (a guardian's also ticks the declaration that they are one).
_OWN_EVIDENCE: dict[str, dict[str, Any]] = {
    "subject": {"act": "button"},
    "guardian": {"act": "button", "declaration": "guardian_on_behalf"},
    "kiosk": {"act": "checkbox"},
}
# Changes that need the consent of someone old enough (Art. 8): giving and renewing.
_CONSENTING = ("given", "renewed")


def default_evidence(actor: Actor) -> dict[str, Any]:
    """The minimal evidence of a change (R12): the person's own tap, or a staff declaration with nobody present."""
    return dict(_OWN_EVIDENCE.get(actor.kind, STAFF_DECLARATION))


def _guardian_for(
    conn: Connection, actor: Actor, subject_id: str, decisions: Sequence[Decision], now: datetime
) -> tuple[str, str] | None:
    """Art. 8 on the personal link: a minor's give or renew needs their guardian (name and declaration), while
    withdrawing stays theirs alone. Returns the guardian's (name, method) to seal into the entries, if one acted."""
    consenting = any(d.action in _CONSENTING for d in decisions)
    if actor.kind == "subject" and consenting and minor_now(conn, subject_id, now=now):
        raise GuardianRequired(
            "A parent or guardian must give or renew this consent: the person is below the age of digital consent."
        )
    if actor.kind != "guardian":
        return None
    if consenting and not minor_now(conn, subject_id, now=now):
        raise ConsentStateError("This person is no longer a minor: they give or renew consent themselves.")
    if consenting or actor.name:
        return clean_name(actor.name, field_label="Guardian's name"), LINK_METHOD
    return None


def check_channel(actor: Actor, channel: str) -> None:
    """A person's own changes come through their own channels; staff record paper or staff entries."""
    if actor.kind in ("subject", "guardian") and channel not in _SELF_CHANNELS:
        raise ValidationError(f"A person's own change is recorded on channel portal, not {channel!r}.")


def change_consent(
    portal: Portal,
    *,
    actor: Actor,
    subject_id: str,
    decisions: Sequence[Decision],
    channel: str,
    evidence: Mapping[str, Any] | None = None,
    locale: str | None = None,
    submission_id: str | None = None,
    now: datetime | None = None,
) -> ConsentChange:
    """Record consent changes (give, refuse, withdraw, renew, revoke, per-photo veto) with their receipt row and,
    when staff act, an audit row, in one transaction; the receipt's files are rendered later, off the request path
    (first download, export, CLI, daily jobs: `issue_receipt`)."""
    now = now or utcnow()
    if not decisions:
        raise ValidationError("Choose at least one consent to change.")
    check_acts_for(actor, subject_id)
    check_channel(actor, channel)
    context = Context(
        channel=channel,
        actor=actor.ref,
        evidence=dict(evidence) if evidence is not None else default_evidence(actor),
        submission_id=submission_id,
        locale=locale,
    )
    with portal.db.write() as conn:
        earlier = replayed_entries(conn, subject_id, submission_id) if submission_id else []
        if not earlier:
            context = replace(context, guardian=_guardian_for(conn, actor, subject_id, decisions, now))
        entries = record_decisions(conn, subject_id=subject_id, decisions=decisions, context=context, now=now)
        if earlier:
            # A double submit: the first one wrote the entries, the receipt and the audit row.
            return ConsentChange(
                entries=entries, receipt_id=_receipts.receipt_for_entries(conn, entries), replayed=True
            )
        receipt_id = _receipts.add_receipt(conn, entries=entries, actor=actor.ref, now=now)
        if is_staff_side(actor):
            audit(
                conn,
                actor=actor.ref,
                action="change_consent",
                target_type="subject",
                target_id=subject_id,
                now=now,
                detail={"changes": [f"{d.purpose}:{d.action}:{d.asset_id or '*'}" for d in decisions]},
            )
    return ConsentChange(entries=entries, receipt_id=receipt_id)


def withdraw_everything(
    portal: Portal, *, actor: Actor, subject_id: str, channel: str, now: datetime | None = None
) -> ConsentChange:
    """Withdraw every consent currently given, general and per photo, in one step (R7), with its receipt.

    Nothing given: nothing is written and the change has no entries and no receipt.
    """
    now = now or utcnow()
    check_acts_for(actor, subject_id)
    check_channel(actor, channel)
    with portal.db.write() as conn:
        decisions = withdrawable(conn, subject_id=subject_id, now=now)
        context = Context(channel=channel, actor=actor.ref, evidence=default_evidence(actor))
        entries = record_decisions(conn, subject_id=subject_id, decisions=decisions, context=context, now=now)
        receipt_id = _receipts.add_receipt(conn, entries=entries, actor=actor.ref, now=now)
        if is_staff_side(actor) and entries:
            audit(
                conn,
                actor=actor.ref,
                action="withdraw_everything",
                target_type="subject",
                target_id=subject_id,
                now=now,
                detail={"withdrawn": len(entries)},
            )
    return ConsentChange(entries=entries, receipt_id=receipt_id)


@dataclass(frozen=True)
class PublishedText:
    """A published text version: every language's stored text, what was carried over, and what it put at risk."""

    code: str
    version: int
    texts: list[PurposeText]
    changed: tuple[str, ...]
    carried_over: tuple[str, ...]
    impact: TextImpact


def publish_purpose_text(
    portal: Portal,
    *,
    actor: Actor,
    code: str,
    texts: Mapping[str, TextContent],
    carry_over: Sequence[str] = (),
    based_on_version: int | None = None,
    now: datetime | None = None,
) -> PublishedText:
    """Publish a new version of a purpose's text in all the organisation's languages (earlier consents become
    superseded until renewed), audited with its impact, in one transaction.

    `based_on_version` is the version a preview was made against: if someone published since, nothing is written,
    so nobody confirms an impact they were not shown."""
    now = now or utcnow()
    if not actor.can("admin"):
        raise AuthError("Only an administrator publishes purpose texts.")
    with portal.db.write() as conn:
        plan = _purposes.plan_text(conn, code=code, texts=texts, carry_over=carry_over, now=now)
        if based_on_version is not None and plan.current_version != based_on_version:
            raise ConsentStateError(
                f"Version {plan.current_version} of {code!r} was published after your preview of version "
                f"{based_on_version}; nothing was published. Review the change again."
            )
        _purposes.insert_plan(conn, plan, now=now)
        audit(
            conn,
            actor=actor.ref,
            action="publish_purpose_text",
            target_type="purpose",
            target_id=code,
            now=now,
            detail={
                "version": plan.version,
                "locales": [d.locale for d in plan.locales],
                "changed": list(plan.changed_locales),
                "carried_over": list(plan.carried_over),
                "people": plan.impact.people,
                "photos": plan.impact.photos,
                "publications": plan.impact.publications,
            },
        )
        stored = [_purposes.text_version(conn, plan.purpose_id, plan.version, d.locale) for d in plan.locales]
    return PublishedText(
        code=code,
        version=plan.version,
        texts=stored,
        changed=plan.changed_locales,
        carried_over=plan.carried_over,
        impact=plan.impact,
    )


def set_retention_period(
    portal: Portal, *, actor: Actor, code: str, days: int | None, now: datetime | None = None
) -> _purposes.Purpose:
    """Set how long photos are kept for a purpose (R17; None: no period), admin only, audited; the daily job flags
    photos past the longest period on its next run."""
    now = now or utcnow()
    if not actor.can("admin"):
        raise AuthError("Only an administrator sets retention periods.")
    with portal.db.write() as conn:
        before = _purposes.get_purpose(conn, code).retention_days
        purpose = _purposes.set_retention(conn, code=code, days=days)
        audit(
            conn,
            actor=actor.ref,
            action="set_retention_period",
            target_type="purpose",
            target_id=code,
            now=now,
            detail={"from_days": before, "to_days": days},
        )
    return purpose


# How many pending receipt rows `issue_pending_receipts` reads at a time: the daily job's memory and queries stay
# bounded when a mass change (an expiry day, a text change) left thousands pending.
RECEIPT_BATCH = 200


def issue_receipt(portal: Portal, *, receipt_id: str, now: datetime | None = None) -> ReceiptRecord:
    """The receipt's row with its files stored: rendered now (signed JSON and PDF, stored, the row marked issued)
    when it is still pending or failed. Idempotent: when two renders race, the first to mark the row wins, the other
    deletes its own files and returns the winner's, so every download of a receipt gets the same bytes.

    Raises NotFound when the receipt does not exist (or was erased meanwhile) and ReceiptNotReady, after marking the
    row failed with the reason, when it cannot be rendered yet (e.g. a missing organisation detail)."""
    with portal.db.read() as conn:
        record = _receipts.get_receipt(conn, receipt_id)
    if record is None:
        raise NotFound(f"No receipt {receipt_id}.")
    if record.issued:
        return record
    if _render_and_store(portal, record, now=now):
        with portal.db.read() as conn:
            issued = _receipts.get_receipt(conn, receipt_id)
        if issued is not None and issued.issued:
            return issued
        raise NotFound(f"No receipt {receipt_id}.")
    with portal.db.read() as conn:
        failed = _receipts.get_receipt(conn, receipt_id)
    raise ReceiptNotReady((failed.error if failed else None) or "The receipt could not be made yet.")


def issue_pending_receipts(
    portal: Portal,
    *,
    receipt_ids: Sequence[str] | None = None,
    now: datetime | None = None,
    limit: int | None = None,
    batch: int = RECEIPT_BATCH,
) -> int:
    """Render and store the PDF and JSON of receipt rows not issued yet (all, or `receipt_ids`), oldest first, at
    most `limit` (None: every one due), reading `batch` rows at a time; returns how many are issued. A receipt that
    cannot be rendered is marked failed with the reason and tried again by the next run (not again in this one)."""
    if receipt_ids is not None and not receipt_ids:
        return 0
    ids = None if receipt_ids is None else list(receipt_ids)
    issued = seen = 0
    after: tuple[datetime, str] | None = None
    while limit is None or seen < limit:
        size = batch if limit is None else min(batch, limit - seen)
        with portal.db.read() as conn:
            due = _receipts.unissued_receipts(conn, ids, limit=size, after=after)
        for record in due:
            issued += _render_and_store(portal, record, now=now)
        seen += len(due)
        if len(due) < size:
            return issued
        after = (due[-1].created_at, due[-1].id)
    return issued


def _render_and_store(portal: Portal, record: ReceiptRecord, *, now: datetime | None) -> bool:
    """Render one receipt outside any transaction, store its files under keys of this attempt, and mark the row
    issued if nobody did first; True when the row is issued afterwards (by this render or a faster one)."""
    # Imported here: WeasyPrint is heavy, and only rendering needs it.
    from portal.backend.reports.receipt import render_receipt_pdf

    try:
        with portal.db.read() as conn:
            entries = _receipts.receipt_entries(conn, record)
            receipt = _receipts.build_receipt(
                conn, subject_id=record.subject_id, entries=entries, receipt_id=record.id, now=now
            )
        pdf = render_receipt_pdf(receipt)
        json_key, pdf_key = _receipts.store_receipt(portal.blobs, receipt, pdf, attempt=uuid.uuid4().hex[:12])
    except PortalError as exc:
        # Typically a missing organisation detail (phone, privacy-policy URL): the consent stands, and the
        # receipt is issued once Settings are complete.
        _fail(portal, record.id, str(exc))
        return False
    except Exception as exc:  # a rendering or storage fault must not undo the committed change
        _fail(portal, record.id, f"{type(exc).__name__}: {exc}")
        return False
    with portal.db.write() as conn:
        won = _receipts.mark_issued(conn, record.id, json_key=json_key, pdf_key=pdf_key, now=now or utcnow())
    if won:
        return True
    # Another render issued it first (its files are the receipt's), or an erasure removed the row: drop ours.
    for key in (json_key, pdf_key):
        portal.blobs.delete(key)
    return True


def _fail(portal: Portal, receipt_id: str, error: str) -> None:
    """Mark a receipt failed, in its own transaction."""
    with portal.db.write() as conn:
        _receipts.mark_failed(conn, receipt_id, error=error)


def record_ledger_checkpoint(
    portal: Portal, report: _ledger.VerifyReport, *, now: datetime | None = None
) -> _ledger.Checkpoint | None:
    """After a verify that found the chain intact, sign and store where it reached so the next verify starts there;
    None without the private key (an auditor holding the public key only) or when the report proves nothing."""
    try:
        key = _signing.load_signing_key(portal.settings, create=False)
    except ConfigError:
        return None
    with portal.db.write() as conn:
        return _ledger.record_checkpoint(conn, key, report, now=now or utcnow())
