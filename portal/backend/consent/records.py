"""Recording consent decisions: the rules for each change, then one append to the ledger."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select

from portal.backend.consent import ledger
from portal.backend.consent.ledger import LedgerEntry, NewEntry
from portal.backend.consent.purposes import Purpose, current_texts, resolve_codes
from portal.backend.consent.status import ALLOWING, SUPERSEDED, VETOING, latest_entries_query, row_status
from portal.backend.people.private import seal_evidence
from portal.backend.photos.face_templates import delete_biometrics
from portal.backend.platform.db.schema import CHANNELS, assets, consent_ledger, subjects
from portal.backend.platform.errors import ConsentStateError, UnknownSubject, ValidationError
from portal.backend.platform.organisation import get_organisation

_NEW_WORDING = ("given", "refused", "renewed")
# Built once: constructing and cache-keying the statement per call is measurable in the ledger benchmark.
_LATEST = latest_entries_query(bindparam("subject_id"))
_SUBJECT = select(subjects).where(subjects.c.id == bindparam("subject_id"))
# PostgreSQL: one writer at a time per person, from reading their status to the commit, so two concurrent changes
# cannot both be judged against the same status (two withdrawals of one grant). NO KEY UPDATE leaves the key-share
# locks of foreign-key checks free, so a writer holding the ledger head never waits for this lock.
_SUBJECT_FOR_UPDATE = _SUBJECT.with_for_update(key_share=True)
_SUBMISSION_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
# Actions a person or staff member may record; `expired` is written only by the daily job.
RECORDABLE = ("given", "refused", "withdrawn", "renewed", "revoked")


@dataclass(frozen=True)
class Decision:
    """One consent change for one purpose, for all images (asset_id None) or one image."""

    purpose: str
    action: str
    asset_id: int | None = None


@dataclass(frozen=True)
class Context:
    """Who records the decisions, how, and with what proof (R12: minimal evidence)."""

    channel: str
    actor: str
    event_id: int | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    submission_id: str | None = None
    locale: str | None = None
    # When the person actually agreed, if earlier than the recording (a paper form signed days before it is entered):
    # the validity period runs from then, so late data entry never stretches a consent.
    valid_from: datetime | None = None
    # The guardian (name, verification method) who acted for a child, when one did: only their own acts carry
    # guardian evidence, never a child's own withdrawal (R15).
    guardian: tuple[str | None, str | None] | None = None


def _subject_row(conn: Connection, subject_id: str) -> Any:
    """The subject's row (locked for this write transaction), refusing unknown and erased subjects."""
    # SQLite needs no row lock: the write transaction (BEGIN IMMEDIATE) already excludes other writers.
    stmt = _SUBJECT_FOR_UPDATE if conn.dialect.name == "postgresql" else _SUBJECT
    row = conn.execute(stmt, {"subject_id": subject_id}).one_or_none()
    if row is None:
        raise UnknownSubject(subject_id)
    if row.erased_at is not None:
        raise ConsentStateError(f"Subject {subject_id} was erased; no new consent can be recorded for them.")
    if row.merged_into is not None:
        raise ConsentStateError(f"Subject {subject_id} was merged into {row.merged_into}; record it for that person.")
    return row


def replayed_entries(conn: Connection, subject_id: str, submission_id: str) -> list[LedgerEntry]:
    """Entries already recorded for this submission id, oldest first."""
    rows = conn.execute(
        select(consent_ledger)
        .where(
            consent_ledger.c.subject_id == subject_id,
            consent_ledger.c.idempotency_key.like(f"{submission_id}:%"),
        )
        .order_by(consent_ledger.c.seq)
    )
    return [LedgerEntry.from_row(r) for r in rows]


def _check_transition(purpose: str, action: str, current: str, scoped: bool) -> None:
    """Refuse changes that make no sense for the current status."""
    what = f"{purpose!r}" + (" for this image" if scoped else "")
    # A consent under a replaced text still stands as the person's decision: it can be withdrawn in one step, and
    # renewed under the new text; it only may not be used until then (R16).
    if action == "withdrawn" and current not in (*ALLOWING, SUPERSEDED):
        reason = "was never given" if current == "unknown" else f"is {current}, not given"
        raise ConsentStateError(f"Nothing to withdraw: consent for {what} {reason}.")
    if action in ("renewed", "revoked") and current not in (*ALLOWING, "expired", SUPERSEDED):
        raise ConsentStateError(
            f"Cannot mark consent for {what} as {action}: it {current if current != 'unknown' else 'was never given'}."
        )
    if action == "refused" and current in (*ALLOWING, SUPERSEDED):
        raise ConsentStateError(f"Consent for {what} is currently given; record a withdrawal instead of a refusal.")


def record_decisions(
    conn: Connection,
    *,
    subject_id: str,
    decisions: Sequence[Decision],
    context: Context,
    now: datetime,
) -> list[LedgerEntry]:
    """Validate every decision first, then append them all in the caller's transaction (all or nothing)."""
    if context.channel not in CHANNELS:
        raise ValidationError(f"Unknown channel {context.channel!r}; use one of {', '.join(CHANNELS)}.")
    if context.submission_id and not _SUBMISSION_ID.fullmatch(context.submission_id):
        raise ValidationError("A submission id must be 8-64 letters, digits or hyphens (a UUID).")
    if not context.actor.strip():
        raise ValidationError("Every consent entry needs an actor (who recorded it).")
    subject = _subject_row(conn, subject_id)
    if context.submission_id:
        replay = replayed_entries(conn, subject_id, context.submission_id)
        if replay:
            # A double submit: the first one was committed whole, so answer with what it recorded.
            return replay
    known = resolve_codes(conn, [d.purpose for d in decisions])
    seen: set[tuple[str, int | None]] = set()
    for d in decisions:
        if d.action not in RECORDABLE:
            raise ValidationError(f"Unknown consent action {d.action!r}; use one of {', '.join(RECORDABLE)}.")
        if (d.purpose, d.asset_id) in seen:
            raise ValidationError(f"Purpose {d.purpose!r} appears twice in one submission.")
        seen.add((d.purpose, d.asset_id))
    asset_ids = {d.asset_id for d in decisions if d.asset_id is not None}
    if asset_ids:
        found = set(conn.execute(select(assets.c.id).where(assets.c.id.in_(asset_ids))).scalars())
        missing = sorted(asset_ids - found)
        if missing:
            raise ValidationError(f"No image with id {missing[0]}.")
    latest = {(r.purpose_code, r.scope_asset_id): r for r in conn.execute(_LATEST, {"subject_id": subject_id})}
    locale = context.locale or subject.locale
    # One query for the wording of every purpose, and the organisation only when a validity period is needed.
    texts = current_texts(conn, locale) if any(d.action in _NEW_WORDING for d in decisions) else {}
    default_validity = None
    if any(d.action in ALLOWING and not known[d.purpose].validity_days for d in decisions):
        default_validity = get_organisation(conn).consent_validity_days
    # R15: when a guardian acted, the record says so and commits to who and how they were verified; like notes,
    # that text goes in as a salted HMAC, so the ledger keeps nothing erasure must remove (Art. 17).
    evidence = seal_evidence(
        conn,
        subject_id=subject_id,
        evidence=context.evidence,
        guardian=context.guardian,
        now=now,
    )
    entries: list[NewEntry] = []
    for d in decisions:
        purpose: Purpose = known[d.purpose]
        prior = latest.get((d.purpose, d.asset_id))
        current = row_status(prior, now) if prior else "unknown"
        _check_transition(d.purpose, d.action, current, d.asset_id is not None)
        if d.action in _NEW_WORDING:
            shown = texts.get(purpose.id)
            if shown is None:
                raise ValidationError(f"Purpose {d.purpose!r} has no published text; publish one before asking.")
            wording = (shown.version, shown.locale, shown.text_hash)
        else:
            # Withdrawal and revocation refer to the wording the consent was given under.
            assert prior is not None
            wording = (prior.text_version, prior.text_locale, prior.text_hash)
        valid_until = None
        if d.action in ALLOWING:
            start = min(context.valid_from, now) if context.valid_from else now
            valid_until = start + timedelta(days=purpose.validity_days or default_validity or 0)
        key = None
        if context.submission_id:
            key = f"{context.submission_id}:{d.purpose}:{d.asset_id or '*'}"[:120]
        entries.append(
            NewEntry(
                subject_id=subject_id,
                purpose_id=purpose.id,
                action=d.action,
                text_version=wording[0],
                text_locale=wording[1],
                text_hash=wording[2],
                channel=context.channel,
                actor=context.actor,
                scope_asset_id=d.asset_id,
                event_id=context.event_id,
                valid_until=valid_until,
                evidence=evidence,
                idempotency_key=key,
            )
        )
    try:
        appended = ledger.append(conn, entries, now=now)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if any(known[d.purpose].biometric and d.action in VETOING and d.asset_id is None for d in decisions):
        # Art. 9: without face-matching consent the template and open suggestions go, in this same transaction.
        delete_biometrics(conn, subject_id)
    return appended


def withdrawable(conn: Connection, *, subject_id: str, now: datetime) -> list[Decision]:
    """A withdrawal of every consent currently given (also under a replaced text), general and per image (R7)."""
    _subject_row(conn, subject_id)
    return [
        Decision(purpose=r.purpose_code, action="withdrawn", asset_id=r.scope_asset_id)
        for r in conn.execute(latest_entries_query(subject_id)).all()
        if row_status(r, now) in (*ALLOWING, SUPERSEDED)
    ]
