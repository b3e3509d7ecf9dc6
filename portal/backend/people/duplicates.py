"""One person, one record: a second form with a confirmed address waits for the person's confirmation by e-mail,
and staff merge likely duplicates into one person (the ledger stays append-only: the merge appends entries).

All functions here work in the caller's transaction; people/services.py owns the transactions.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from portal.backend.consent import ledger
from portal.backend.consent import receipts as _receipts
from portal.backend.consent.ledger import LedgerEntry, NewEntry
from portal.backend.consent.purposes import list_purposes
from portal.backend.consent.records import Context, Decision, record_decisions
from portal.backend.consent.status import ALLOWING, SUPERSEDED, VETOING, latest_entries_query, row_status
from portal.backend.ops.outbox import forget_recipient, queue
from portal.backend.people.guardians import FORM_METHOD
from portal.backend.people.private import forget
from portal.backend.people.subjects import Subject, get_subject, minor_now, revoke_links
from portal.backend.photos.face_templates import delete_biometrics
from portal.backend.platform import tokens
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.schema import (
    consent_ledger,
    detections,
    events,
    pending_changes,
    subjects,
)
from portal.backend.platform.errors import (
    ConsentStateError,
    GuardianRequired,
    PortalError,
    TokenError,
    ValidationError,
)
from portal.backend.risk import index as risk_index
from portal.backend.staff.audit import audit

# A confirmation link in an e-mail lives a week: long enough to find the message after a festival weekend.
PENDING_DAYS = 7
CONFIRM_KIND = "confirm_changes"
_CONFIRM_SIGNING = "pending_change"
_SELF_CHANNELS = ("qr_form", "kiosk")


@dataclass(frozen=True)
class PendingChange:
    """Choices from a second form, waiting for the person's confirmation through the e-mailed link."""

    id: str
    subject_id: str
    channel: str
    event_id: int | None
    locale: str
    choices: dict[str, bool]
    evidence: dict[str, Any]
    guardian_name: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class DuplicateGroup:
    """People who are probably one: why (`email` or `name_event`) and their ids, oldest first."""

    reason: str
    key: str
    subject_ids: list[str]


@dataclass(frozen=True)
class MergeResult:
    """What a merge wrote: the entries appended under the kept person, their receipt, and what moved."""

    keep_id: str
    drop_id: str
    entries: list[LedgerEntry]
    receipt_id: str | None
    faces_moved: int
    links_revoked: int
    messages_cancelled: int


def normal_email(email: str | None) -> str:
    """An address as compared for "the same person": trimmed and lower-cased."""
    return (email or "").strip().lower()


def normal_name(name: str | None) -> str:
    """A name as compared for "the same person": NFKC, case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", name or "").casefold().split())


def confirmed_person(conn: Connection, email: str | None) -> str | None:
    """The (not erased, not merged) person whose confirmed address is `email`, if any."""
    mail = normal_email(email)
    if not mail:
        return None
    return conn.execute(
        select(subjects.c.id)
        .where(
            func.lower(func.trim(subjects.c.email)) == mail,
            subjects.c.erased_at.is_(None),
            subjects.c.merged_into.is_(None),
            subjects.c.email_confirmed_at.is_not(None),
        )
        .order_by(subjects.c.email_confirmed_at.desc(), subjects.c.id)
        .limit(1)
    ).scalar()


def _pending(row: Any) -> PendingChange:
    """Row to PendingChange."""
    return PendingChange(
        id=row.id,
        subject_id=row.subject_id,
        channel=row.channel,
        event_id=row.event_id,
        locale=row.locale,
        choices={str(k): bool(v) for k, v in json.loads(row.choices).items()},
        evidence=dict(json.loads(row.evidence or "{}")),
        guardian_name=row.guardian_name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


def pending_for_submission(conn: Connection, submission_id: str | None) -> PendingChange | None:
    """The pending change an earlier submit of the same form made (a double submit), if any."""
    if not submission_id:
        return None
    row = conn.execute(select(pending_changes).where(pending_changes.c.submission_id == submission_id)).one_or_none()
    return _pending(row) if row is not None else None


def add_pending(
    conn: Connection,
    *,
    subject_id: str,
    channel: str,
    choices: Mapping[str, bool],
    evidence: Mapping[str, Any],
    locale: str,
    event_id: int | None,
    minor: bool,
    guardian_name: str | None,
    submission_id: str | None,
    now: datetime,
) -> PendingChange:
    """Store a second form's choices for the person and queue the confirmation e-mail (the link is made when the
    e-mail is sent, so the outbox never holds it). A child's giving still needs the guardian who filled in the form
    (Art. 8): the person's own record decides whether they are a minor, whatever this form said."""
    if channel not in _SELF_CHANNELS:
        raise ValidationError(f"Only a form the person fills in waits for their confirmation, not {channel!r}.")
    earlier = pending_for_submission(conn, submission_id)
    if earlier is not None:
        return earlier
    if event_id is not None and conn.execute(select(events.c.id).where(events.c.id == event_id)).first() is None:
        raise ValidationError(f"No event with id {event_id}.")
    known = {p.code for p in list_purposes(conn, active_only=False)}
    unknown = sorted(set(choices) - known)
    if unknown:
        raise ValidationError(f"Unknown purpose {unknown[0]!r}.")
    if any(choices.values()) and (minor or minor_now(conn, subject_id, now=now)) and not guardian_name:
        raise GuardianRequired(
            "A parent or guardian must give this consent: the person is below the age of digital consent."
        )
    pending = PendingChange(
        id=str(uuid.uuid4()),
        subject_id=subject_id,
        channel=channel,
        event_id=event_id,
        locale=locale,
        choices=dict(choices),
        evidence=dict(evidence),
        guardian_name=guardian_name or None,
        created_at=now,
        expires_at=now + timedelta(days=PENDING_DAYS),
        used_at=None,
    )
    values = dict(pending.__dict__)
    values["choices"] = json.dumps(pending.choices, sort_keys=True)
    values["evidence"] = json.dumps(pending.evidence, sort_keys=True)
    values["submission_id"] = submission_id
    conn.execute(insert(pending_changes).values(**values))
    email = conn.execute(select(subjects.c.email).where(subjects.c.id == subject_id)).scalar()
    queue(
        conn,
        kind=CONFIRM_KIND,
        now=now,
        recipient=email,
        subject_id=subject_id,
        dedupe_key=f"{CONFIRM_KIND}:{pending.id}",
        payload={"pending": pending.id},
    )
    return pending


def confirm_url(*, pending_id: str, expires_at: datetime, secret: str, base_url: str) -> str:
    """The one-time confirmation link of a pending change (made when its e-mail is sent, never stored)."""
    token = tokens.sign({"pid": pending_id, "exp": int(expires_at.timestamp())}, secret=secret, kind=_CONFIRM_SIGNING)
    return f"{base_url.rstrip('/')}/?confirm={token}"


def resolve_pending(conn: Connection, *, token: str, secret: str, now: datetime) -> PendingChange:
    """The pending change a confirmation token opens; TokenError when forged, expired, used or gone."""
    data = tokens.verify(token, secret=secret, kind=_CONFIRM_SIGNING, now=now)
    row = conn.execute(select(pending_changes).where(pending_changes.c.id == str(data.get("pid")))).one_or_none()
    if row is None:
        raise TokenError("These choices are no longer waiting for confirmation.", reason="withdrawn")
    pending = _pending(row)
    if pending.used_at is not None:
        raise TokenError("These choices were already confirmed; this link works once.", reason="used")
    if pending.expires_at <= now:
        raise TokenError("This confirmation link has expired. Fill in the form again.", reason="expired")
    subject = get_subject(conn, pending.subject_id)
    if subject.erased_at is not None or subject.merged_into is not None:
        raise TokenError("These choices are no longer waiting for confirmation.", reason="withdrawn")
    return pending


def resolve_pending_row(conn: Connection, pending_id: str, *, now: datetime) -> PendingChange:
    """The waiting change an outbox row asks to confirm; PortalError (the e-mail is cancelled) when it is gone."""
    row = conn.execute(select(pending_changes).where(pending_changes.c.id == pending_id)).one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise PortalError("the choices no longer wait for confirmation")
    return _pending(row)


def planned_decisions(
    conn: Connection, *, subject_id: str, choices: Mapping[str, bool], now: datetime
) -> list[Decision]:
    """What the form's ticks change for this person now: a tick gives (or renews what is given, expired or under a
    replaced text); no tick withdraws what is given, refuses what was never asked, and leaves a no as it is."""
    current = {
        r.purpose_code: row_status(r, now)
        for r in conn.execute(latest_entries_query(subject_id)).all()
        if r.scope_asset_id is None
    }
    decisions = []
    for code, ok in choices.items():
        status = current.get(code, "unknown")
        if ok:
            action = "renewed" if status in (*ALLOWING, SUPERSEDED, "expired") else "given"
        elif status in (*ALLOWING, SUPERSEDED):
            action = "withdrawn"
        elif status == "unknown":
            action = "refused"
        else:
            continue
        decisions.append(Decision(purpose=code, action=action))
    return decisions


def apply_pending(
    conn: Connection, *, pending: PendingChange, now: datetime
) -> tuple[Subject, list[LedgerEntry], str | None]:
    """Record a pending change as the person's act on the form's channel, confirmed by the e-mailed link, with its
    receipt row; the change is used up (one use) and the link's address is confirmed again."""
    claimed = conn.execute(
        update(pending_changes)
        .where(pending_changes.c.id == pending.id, pending_changes.c.used_at.is_(None))
        .values(used_at=now, guardian_name=None)
    ).rowcount
    if not claimed:
        raise TokenError("These choices were already confirmed; this link works once.", reason="used")
    decisions = planned_decisions(conn, subject_id=pending.subject_id, choices=pending.choices, now=now)
    consenting = any(d.action in ("given", "renewed") for d in decisions)
    guardian = None
    if consenting and minor_now(conn, pending.subject_id, now=now):
        if not pending.guardian_name:
            raise GuardianRequired(
                "A parent or guardian must give this consent: the person is below the age of digital consent."
            )
        guardian = (pending.guardian_name, FORM_METHOD)
    context = Context(
        channel=pending.channel,
        actor="guardian" if guardian else "subject",
        event_id=pending.event_id,
        evidence={**pending.evidence, "confirmed_by": "email_link"},
        locale=pending.locale,
        guardian=guardian,
    )
    entries = record_decisions(conn, subject_id=pending.subject_id, decisions=decisions, context=context, now=now)
    receipt_id = _receipts.add_receipt(conn, entries=entries, actor=context.actor, now=now)
    return get_subject(conn, pending.subject_id), entries, receipt_id


def delete_pending(conn: Connection, subject_id: str) -> int:
    """Erasure: the person's waiting choices go (they hold a guardian's name and the person's choices)."""
    return conn.execute(delete(pending_changes).where(pending_changes.c.subject_id == subject_id)).rowcount or 0


def duplicate_groups(conn: Connection) -> list[DuplicateGroup]:
    """Likely duplicates among the people not erased or merged: the same address, or the same name at one event."""
    rows = conn.execute(
        select(subjects.c.id, subjects.c.display_name, subjects.c.email, subjects.c.event_id)
        .where(subjects.c.erased_at.is_(None), subjects.c.merged_into.is_(None))
        .order_by(subjects.c.created_at, subjects.c.id)
    ).all()
    by_email: dict[str, list[str]] = {}
    by_name: dict[tuple[str, int], list[str]] = {}
    for r in rows:
        if normal_email(r.email):
            by_email.setdefault(normal_email(r.email), []).append(r.id)
        if normal_name(r.display_name) and r.event_id is not None:
            by_name.setdefault((normal_name(r.display_name), r.event_id), []).append(r.id)
    groups = [DuplicateGroup("email", key, ids) for key, ids in by_email.items() if len(ids) > 1]
    emailed = {frozenset(g.subject_ids) for g in groups}
    groups += [
        DuplicateGroup("name_event", f"{name} @ {event}", ids)
        for (name, event), ids in by_name.items()
        if len(ids) > 1 and frozenset(ids) not in emailed
    ]
    return groups


def history_ids(conn: Connection, subject_id: str) -> list[str]:
    """The person and everyone merged into them (also through earlier merges), whose ledgers form their history."""
    ids, todo = [subject_id], [subject_id]
    while todo:
        found = list(conn.execute(select(subjects.c.id).where(subjects.c.merged_into.in_(todo))).scalars())
        todo = [i for i in found if i not in ids]
        ids += todo
    return ids


def history_entries(conn: Connection, subject_id: str) -> list[LedgerEntry]:
    """Every ledger entry of the person and of those merged into them, oldest first."""
    rows = conn.execute(
        select(consent_ledger)
        .where(consent_ledger.c.subject_id.in_(history_ids(conn, subject_id)))
        .order_by(consent_ledger.c.seq)
    )
    return [LedgerEntry.from_row(r) for r in rows]


def _check_merge(keep: Subject, drop: Subject) -> None:
    """Refuse a merge that cannot be one person's record."""
    if keep.id == drop.id:
        raise ValidationError("A person cannot be merged into themselves.")
    for who in (keep, drop):
        if who.erased_at is not None:
            raise ConsentStateError(f"Subject {who.id} was erased; an erased person cannot be merged.")
        if who.merged_into is not None:
            raise ConsentStateError(f"Subject {who.id} was already merged into {who.merged_into}.")
    if keep.is_minor != drop.is_minor:
        # A child's consents rest on their guardian's act (Art. 8): an adult's record cannot stand in for them, nor
        # the other way round. Staff correct the age first (or keep both).
        raise ValidationError("One of the two is registered as a minor with a guardian and the other is not.")


def merge(conn: Connection, *, keep_id: str, drop_id: str, actor: Actor, now: datetime) -> MergeResult:
    """Merge `drop_id` into `keep_id` in the caller's transaction (see README "One person, one record")."""
    keep, drop = get_subject(conn, keep_id), get_subject(conn, drop_id)
    _check_merge(keep, drop)
    # Faces first: the entries appended below re-judge the kept person's photos, the moved ones included.
    moved_assets = list(
        conn.execute(select(detections.c.asset_id).distinct().where(detections.c.subject_id == drop.id)).scalars()
    )
    faces = (
        conn.execute(update(detections).where(detections.c.subject_id == drop.id).values(subject_id=keep.id)).rowcount
        or 0
    )
    newest: dict[tuple[int, int | None], Any] = {}
    carried: set[tuple[int, int | None]] = set()
    for row in conn.execute(
        select(consent_ledger).where(consent_ledger.c.subject_id.in_((keep.id, drop.id))).order_by(consent_ledger.c.seq)
    ):
        newest[(row.purpose_id, row.scope_asset_id)] = row
        if row.subject_id == drop.id:
            carried.add((row.purpose_id, row.scope_asset_id))
    # One entry per purpose (and photo) the duplicate decided: the newer decision of the two holds, and its entry
    # under the kept person records the merge. Purposes only the kept person decided need no restating.
    appended = ledger.append(
        conn,
        [
            NewEntry(
                subject_id=keep.id,
                purpose_id=row.purpose_id,
                action=row.action,
                text_version=row.text_version,
                text_locale=row.text_locale,
                text_hash=row.text_hash,
                channel="staff",
                actor=actor.ref,
                scope_asset_id=row.scope_asset_id,
                event_id=row.event_id,
                valid_until=row.valid_until,
                evidence={"merge": {"from": drop.id, "entry": row.entry_id}},
            )
            for key, row in newest.items()
            if key in carried
        ],
        now=now,
    )
    biometric = {p.id for p in list_purposes(conn, active_only=False) if p.biometric}
    if any(e.purpose_id in biometric and e.action in VETOING and e.scope_asset_id is None for e in appended):
        # Art. 9: without face-matching consent after the merge, the kept person's template goes too.
        delete_biometrics(conn, keep.id)
    # The duplicate's template is never carried over: the kept person's own selfie (if any) stays the only one.
    delete_biometrics(conn, drop.id)
    receipt_id = _receipts.add_receipt(conn, entries=appended, actor=actor.ref, now=now)
    # Contact details the kept record lacks come from the duplicate, with their confirmation.
    fill: dict[str, Any] = {}
    if not keep.email and drop.email:
        fill |= {"email": drop.email, "email_confirmed_at": drop_confirmed(conn, drop.id)}
    elif normal_email(keep.email) == normal_email(drop.email) and drop_confirmed(conn, drop.id):
        fill["email_confirmed_at"] = func.coalesce(subjects.c.email_confirmed_at, drop_confirmed(conn, drop.id))
    if not keep.phone and drop.phone:
        fill["phone"] = drop.phone
    if fill:
        conn.execute(update(subjects).where(subjects.c.id == keep.id).values(**fill))
    links = revoke_links(conn, subject_id=drop.id, now=now)
    messages = forget_recipient(conn, subject_id=drop.id, email=None, now=now)
    conn.execute(delete(pending_changes).where(pending_changes.c.subject_id == drop.id))
    conn.execute(
        update(subjects)
        .where(subjects.c.id == drop.id)
        .values(
            display_name=None,
            email=None,
            email_confirmed_at=None,
            phone=None,
            guardian_name=None,
            guardian_verification=None,
            merged_into=keep.id,
            merged_at=now,
        )
    )
    risk_index.refresh_assets(conn, moved_assets, now=now)
    risk_index.refresh_subjects(conn, [keep.id], now=now)
    audit(
        conn,
        actor=actor.ref,
        action="merge_subjects",
        target_type="subject",
        target_id=keep.id,
        now=now,
        detail={"kept": keep.id, "merged": drop.id, "entries": len(appended), "faces": faces, "links": links},
    )
    return MergeResult(
        keep_id=keep.id,
        drop_id=drop.id,
        entries=appended,
        receipt_id=receipt_id,
        faces_moved=faces,
        links_revoked=links,
        messages_cancelled=messages,
    )


def drop_confirmed(conn: Connection, subject_id: str) -> datetime | None:
    """When the person's address was confirmed, if it was."""
    return conn.execute(select(subjects.c.email_confirmed_at).where(subjects.c.id == subject_id)).scalar()


def forget_merged(conn: Connection, subject_id: str) -> list[str]:
    """Erasure of a person: the private salts of those merged into them go too; returns their ids."""
    merged = history_ids(conn, subject_id)[1:]
    for other in merged:
        forget(conn, other)
    return merged
