"""People actions: register a person (QR form, kiosk, paper, CLI), personal links, viewing, export and erasure.

Each service owns its transaction and writes in it everything the action implies; blobs are written before the
transaction (and removed again if it fails); slow rendering (receipts) happens off the request path, on demand.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from portal.backend.consent import receipts as _receipts
from portal.backend.consent.iso27560 import Deployment, subject_records
from portal.backend.consent.ledger import LedgerEntry
from portal.backend.consent.purposes import list_purposes, resolve_codes
from portal.backend.consent.receipts import ReceiptRecord
from portal.backend.consent.records import Context
from portal.backend.consent.services import STAFF_DECLARATION, is_staff_side, issue_pending_receipts
from portal.backend.consent.status import ConsentStatus, subject_consents
from portal.backend.i18n import t
from portal.backend.ops.outbox import queue
from portal.backend.people import duplicates as _duplicates
from portal.backend.people import erasure as _erasure
from portal.backend.people import export as _export
from portal.backend.people import subjects as _subjects
from portal.backend.people.duplicates import PENDING_DAYS
from portal.backend.people.erasure import ErasureReport
from portal.backend.people.guardians import (
    FORM_METHOD,
    KIOSK_METHODS,
    METHODS,
    STAFF_METHODS,
    check_method,
    method_label,
)
from portal.backend.people.kiosk import kiosk_evidence
from portal.backend.people.paper import MAX_SCAN_BYTES, SCAN_TYPES, PaperScan, check_scan, scan_prefix
from portal.backend.people.subjects import Subject, minor_on
from portal.backend.photos.face_templates import has_template
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.schema import audit_log, outbox, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, ValidationError
from portal.backend.platform.organisation import get_organisation
from portal.backend.platform.runtime import Portal
from portal.backend.platform.text import NAME_MAX, clean_email, clean_name, has_control
from portal.backend.staff.audit import audit

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "KIOSK_METHODS",
    "MAX_SCAN_BYTES",
    "METHODS",
    "NAME_MAX",
    "PENDING_DAYS",
    "STAFF_METHODS",
    "ErasureReport",
    "HistoryEntry",
    "RegistrationResult",
    "SubjectDetail",
    "confirm_pending_change",
    "consent_records",
    "create_personal_link",
    "email_my_link",
    "email_problem",
    "erase_subject",
    "export_subject",
    "merge_subjects",
    "method_label",
    "minor_on",
    "name_problem",
    "open_pending_change",
    "open_personal_link",
    "register_subject",
    "request_new_link",
    "revoke_personal_links",
    "view_subject",
]

# Who fills in which registration channel: the person (or their guardian) on the event's form, the person on a
# staff member's tablet, or staff entering a paper form or a consent given to them.
_CHANNELS_BY_ACTOR = {
    "subject": ("qr_form",),
    "guardian": ("qr_form",),
    "kiosk": ("kiosk",),
    "staff": ("staff", "paper"),
    "operator": ("staff", "paper"),
    "system": ("staff", "paper"),
}


@dataclass(frozen=True)
class RegistrationResult:
    """What a registration wrote: the person, their first ledger entries, receipt, link, e-mail and template."""

    subject: Subject
    entries: list[LedgerEntry]
    receipt_id: str | None
    # The personal link (None for a replayed submission: the link's token is not stored, only its row).
    link_url: str | None
    emailed: bool
    template_enrolled: bool
    scan_sha256: str | None
    replayed: bool
    # Where a paper form's scan is stored (None without a scan).
    scan_key: str | None = None
    # True when the address belongs to a confirmed person: nothing was recorded, their confirmation is asked by
    # e-mail (one person, one record); `subject` is then that person, whose data the form must not show.
    pending: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    """One ledger entry of a person, with its purpose code."""

    purpose_code: str
    entry: LedgerEntry


@dataclass(frozen=True)
class SubjectDetail:
    """A person as staff see them: their data, current consents, ledger history and receipts."""

    subject: Subject
    statuses: list[ConsentStatus]
    history: list[HistoryEntry]
    receipts: list[ReceiptRecord]


def _check_registrar(actor: Actor, channel: str) -> None:
    """Refuse a channel the actor cannot use, and staff without the staff role."""
    allowed = _CHANNELS_BY_ACTOR.get(actor.kind, ())
    if channel not in allowed:
        raise ValidationError(
            f"A registration by {actor.kind} is recorded on channel {' or '.join(allowed) or '(none)'}, "
            f"not {channel!r}."
        )
    if actor.kind in ("staff", "operator") and not actor.can("staff"):
        raise AuthError("Only staff members register people.")


def _check_staff(actor: Actor, subject_id: str, role: str, *, own: bool = False) -> None:
    """Staff need `role`; with `own`, a person may also act on their own record."""
    if own and actor.kind in ("subject", "guardian") and actor.id == subject_id:
        return
    if not actor.can(role):
        raise AuthError(f"This needs a staff member with the {role} role.")


def register_subject(
    portal: Portal,
    *,
    actor: Actor,
    channel: str,
    name: str,
    choices: Mapping[str, bool],
    email: str | None = None,
    phone: str | None = None,
    locale: str = "en",
    birth_year: int | None = None,
    birth_month: int | None = None,
    birth_day: int | None = None,
    is_minor: bool | None = None,
    guardian_name: str | None = None,
    guardian_verification: str | None = None,
    event_id: int | None = None,
    selfie: bytes | None = None,
    scan: bytes | None = None,
    signed_on: date | None = None,
    note: str | None = None,
    submission_id: str | None = None,
    now: datetime | None = None,
) -> RegistrationResult:
    """Register a person with their first choices (True given, False refused), all of it or nothing.

    One transaction holds the subject, the ledger entries, the face template (from `selfie`, computed before, so a
    bad selfie writes nothing), the personal link, the receipt row, the welcome e-mail and, when staff or a kiosk
    acted, the audit row. A paper form's `scan` is stored first and deleted again if the transaction fails. A
    second submit with the same `submission_id` returns the first result (replayed) and writes nothing.

    Item 7: staff entries and paper forms without a scan rest only on the staff member's word; they are recorded on
    channel `staff` with a staff declaration as evidence. A minor's guardian is verified by one of the enumerated
    methods: `declared_on_form` on the QR form, a staff member's choice on the kiosk, paper and CLI.
    """
    now = now or utcnow()
    _check_registrar(actor, channel)
    # Everything that can be checked without the database is checked before a byte is stored or computed.
    clean_name(name)
    clean_email(email)
    _subjects.check_birth(birth_year, birth_month, birth_day, today=now.date())
    if guardian_verification is not None:
        check_method(guardian_verification)
        allowed = KIOSK_METHODS if channel == "kiosk" else STAFF_METHODS if channel in ("staff", "paper") else METHODS
        if guardian_verification not in allowed:
            # The guardian's own declarations are recorded by the portal's form and link, never claimed by staff.
            raise ValidationError(
                f"On channel {channel} the guardian is verified by one of {', '.join(allowed)}, "
                f"not {guardian_verification}."
            )
    if is_minor:
        clean_name(guardian_name, field_label="Guardian's name")
    if scan is not None and channel != "paper":
        raise ValidationError("A scan is the proof of a paper form: record it on channel paper.")
    unscanned_paper = channel == "paper" and scan is None
    if unscanned_paper:
        # Without the signed form's scan nothing proves the person's own act: a staff declaration (item 7).
        channel = "staff"
    if selfie is not None and not any(choices.values()):
        raise ValidationError("A selfie is only used with face-matching consent.")
    paper: PaperScan | None = None
    if scan is not None:
        if not choices:
            # Every paper form has boxes, ticked or not; at least one answer makes it a consent record.
            raise ValidationError("Record the answer to at least one purpose as it is on the paper form.")
        paper = check_scan(scan, signed_on=signed_on or now.date(), now=now)
    elif signed_on is not None:
        raise ValidationError("The signature date goes with the scan of the signed paper form.")
    template = _selfie_template(portal, selfie) if selfie is not None else None
    minor = bool(is_minor)
    if channel == "qr_form":
        # On the event's own form the guardian declares it themselves; staff never see them (used for minors only).
        guardian_verification = FORM_METHOD
    context = Context(
        channel=channel,
        # On the form and the kiosk the person (or their guardian) ticks and sends the form themselves, so they are
        # the ledger's actor (decided with the age, in the transaction); on the kiosk the evidence names the staff
        # member whose tablet it was.
        actor="subject" if actor.kind in ("subject", "guardian", "kiosk") else actor.ref,
        event_id=event_id,
        evidence=_evidence(actor, channel, locale, paper, note, unscanned_paper=unscanned_paper),
        submission_id=submission_id,
        locale=locale,
        valid_from=paper.signed_at if paper else None,
    )
    if channel in ("qr_form", "kiosk") and email:
        pending = _reregister(
            portal,
            context=context,
            choices=choices,
            email=email,
            locale=locale,
            minor=minor,
            guardian_name=guardian_name,
            now=now,
        )
        if pending is not None:
            return pending
    subject_id = str(uuid.uuid4())
    scan_key = paper.key(subject_id) if paper else None
    if paper is not None and scan_key is not None:
        portal.blobs.put(scan_key, paper.data, content_type=paper.content_type)
    try:
        with portal.db.write() as conn:
            result = _register(
                conn,
                portal,
                actor=actor,
                context=context,
                subject_id=subject_id,
                name=name,
                choices=choices,
                email=email,
                phone=phone,
                locale=locale,
                birth_year=birth_year,
                birth_month=birth_month,
                birth_day=birth_day,
                minor=minor,
                guardian_name=guardian_name,
                guardian_verification=guardian_verification,
                event_id=event_id,
                template=template,
                scan_sha256=paper.sha256 if paper else None,
                scan_key=scan_key,
                now=now,
            )
    except BaseException:
        if scan_key is not None:
            portal.blobs.delete(scan_key)
        raise
    if result.replayed:
        if scan_key is not None:
            # The same form was entered before: it keeps its own scan, this copy goes.
            portal.blobs.delete(scan_key)
        return result
    return result


def _reregister(
    portal: Portal,
    *,
    context: Context,
    choices: Mapping[str, bool],
    email: str,
    locale: str,
    minor: bool,
    guardian_name: str | None,
    now: datetime,
) -> RegistrationResult | None:
    """A form sent again with a confirmed person's address: their choices wait for that person's confirmation by
    e-mail instead of making a second person (None: the address is nobody's confirmed one). A selfie sent with it
    is not kept: the template of the person's first registration stays their only one."""
    with portal.db.write() as conn:
        person = _duplicates.confirmed_person(conn, clean_email(email))
        if person is None:
            return None
        _duplicates.add_pending(
            conn,
            subject_id=person,
            channel=context.channel,
            choices=choices,
            evidence=context.evidence,
            locale=locale,
            event_id=context.event_id,
            minor=minor,
            guardian_name=guardian_name if minor or guardian_name else None,
            submission_id=context.submission_id,
            now=now,
        )
        subject = _subjects.get_subject(conn, person)
    return RegistrationResult(
        subject=subject,
        entries=[],
        receipt_id=None,
        link_url=None,
        emailed=True,
        template_enrolled=False,
        scan_sha256=None,
        replayed=False,
        pending=True,
    )


def _selfie_template(portal: Portal, selfie: bytes) -> np.ndarray:
    """The template of the one face in a selfie; the selfie bytes are used for this and kept nowhere."""
    # Imported here: dlib is heavy, and only registrations with a selfie need it.
    from portal.backend.photos.biometrics import check_selfie
    from portal.backend.photos.vision.faces import FaceAnalyzer

    analyzer = FaceAnalyzer(model=portal.settings.face_detector)
    return check_selfie(selfie, analyzer=analyzer, max_pixels=portal.settings.max_image_pixels)


def _evidence(
    actor: Actor,
    channel: str,
    locale: str,
    paper: PaperScan | None,
    note: str | None,
    *,
    unscanned_paper: bool = False,
) -> dict[str, Any]:
    """The minimal proof of a registration (R12), the same whichever page or command recorded it."""
    if paper is not None:
        return paper.evidence(note)
    evidence: dict[str, Any]
    if channel in ("qr_form", "kiosk"):
        evidence = {"act": "checkbox", "form": "event", "ui_locale": locale}
        if actor.kind == "kiosk" and actor.staff_id is not None:
            evidence |= kiosk_evidence(actor.staff_id)
        return evidence
    evidence = dict(STAFF_DECLARATION)
    if unscanned_paper:
        evidence["paper_form"] = "not_scanned"
    if note and note.strip():
        evidence["note"] = note.strip()[:500]
    return evidence


def _register(
    conn: Connection,
    portal: Portal,
    *,
    actor: Actor,
    context: Context,
    subject_id: str,
    name: str,
    choices: Mapping[str, bool],
    email: str | None,
    phone: str | None,
    locale: str,
    birth_year: int | None,
    birth_month: int | None,
    birth_day: int | None,
    minor: bool,
    guardian_name: str | None,
    guardian_verification: str | None,
    event_id: int | None,
    template: np.ndarray | None,
    scan_sha256: str | None,
    scan_key: str | None,
    now: datetime,
) -> RegistrationResult:
    """The registration's rows in the caller's transaction."""
    if context.actor == "subject":
        # Whoever sends the form for a child is their guardian (Art. 8): the ledger names the guardian as actor.
        age = get_organisation(conn).consent_age
        if minor or minor_on(birth_year, birth_month, birth_day, consent_age=age, on=now.date()):
            context = replace(context, actor="guardian")
    reg = _subjects.add_subject(
        conn,
        name=name,
        context=context,
        choices=choices,
        email=email,
        phone=phone,
        locale=locale,
        birth_year=birth_year,
        birth_month=birth_month,
        birth_day=birth_day,
        is_minor=minor,
        guardian_name=guardian_name,
        guardian_verification=guardian_verification,
        event_id=event_id,
        subject_id=subject_id,
        now=now,
    )
    subject = reg.subject
    if subject.id != subject_id:
        # A double submit of the same form: answer with what the first one wrote.
        evidence = reg.entries[0].evidence_data if reg.entries else {}
        sha = evidence.get("scan_sha256")
        kind = evidence.get("scan_type")
        return RegistrationResult(
            subject=subject,
            entries=reg.entries,
            receipt_id=_receipts.receipt_for_entries(conn, reg.entries),
            link_url=None,
            emailed=_welcome_queued(conn, subject.id),
            template_enrolled=has_template(conn, subject.id),
            scan_sha256=str(sha) if sha else None,
            replayed=True,
            scan_key=f"{scan_prefix(subject.id)}{sha}{SCAN_TYPES[kind]}" if sha and kind in SCAN_TYPES else None,
        )
    biometric = [p.code for p in resolve_codes(conn, list(choices)).values() if p.biometric and choices[p.code]]
    if template is not None and not biometric:
        raise ValidationError("A selfie is only used with face-matching consent.")
    if biometric and template is None and context.channel in ("qr_form", "kiosk"):
        # Face matching without a template would be a consent that matches nothing: ask for the selfie.
        raise ValidationError("Face matching needs a selfie: take or upload one, or leave face matching unticked.")
    if template is not None:
        # Imported here: dlib is heavy (the selfie was already checked with it, before this transaction).
        from portal.backend.photos.biometrics import enrol_template

        enrol_template(conn, subject_id=subject.id, template=template, now=now)
    settings = portal.settings
    link = _subjects.create_link(
        conn,
        subject_id=subject.id,
        secret=settings.secret_key,
        base_url=settings.base_url,
        ttl_days=settings.link_ttl_days,
        now=now,
    )
    receipt_id = _receipts.add_receipt(conn, entries=reg.entries, actor=context.actor, now=now)
    if subject.email:
        # The e-mail carries its own link, marked as e-mailed: opening that one (not the one on the screen, which
        # whoever typed the address also holds) confirms that the address is the person's.
        mailed_link = _subjects.create_link(
            conn,
            subject_id=subject.id,
            secret=settings.secret_key,
            base_url=settings.base_url,
            ttl_days=settings.link_ttl_days,
            now=now,
            keep_older=True,
            emailed=True,
        )
        # `outbox send` delivers it once SMTP is configured (PORTAL_SMTP_*); until then it waits in the outbox.
        queue(
            conn,
            kind="email",
            now=now,
            recipient=subject.email,
            subject_id=subject.id,
            dedupe_key=f"welcome:{subject.id}",
            payload={
                "subject": t("my_consents.title", subject.locale),
                "body": f"{t('form.link', subject.locale)}\n{mailed_link}",
            },
        )
    if is_staff_side(actor):
        detail: dict[str, Any] = {"channel": context.channel, "event_id": event_id, "entries": len(reg.entries)}
        if scan_sha256:
            detail["scan_sha256"] = scan_sha256
        audit(
            conn,
            actor=actor.ref,
            # Paper forms keep their established audit action; every other registration is register_subject.
            action="enter_paper_consent" if context.channel == "paper" else "register_subject",
            target_type="subject",
            target_id=subject.id,
            now=now,
            detail=detail,
        )
    return RegistrationResult(
        subject=subject,
        entries=reg.entries,
        receipt_id=receipt_id,
        link_url=link,
        emailed=bool(subject.email),
        template_enrolled=template is not None,
        scan_sha256=scan_sha256,
        replayed=False,
        scan_key=scan_key,
    )


def _welcome_queued(conn: Connection, subject_id: str) -> bool:
    """True when the person's welcome e-mail is in the outbox."""
    return conn.execute(select(outbox.c.id).where(outbox.c.dedupe_key == f"welcome:{subject_id}")).first() is not None


def create_personal_link(
    portal: Portal, *, actor: Actor, subject_id: str, keep_older: bool = False, now: datetime | None = None
) -> str:
    """A new signed, expiring personal link for a person, retiring their older links unless `keep_older`; staff
    creating one are audited in the same transaction."""
    now = now or utcnow()
    _check_staff(actor, subject_id, "manager", own=True)
    settings = portal.settings
    with portal.db.write() as conn:
        url = _subjects.create_link(
            conn,
            subject_id=subject_id,
            secret=settings.secret_key,
            base_url=settings.base_url,
            ttl_days=settings.link_ttl_days,
            now=now,
            keep_older=keep_older,
        )
        if is_staff_side(actor):
            audit(
                conn,
                actor=actor.ref,
                action="create_personal_link",
                target_type="subject",
                target_id=subject_id,
                now=now,
                detail={"kept_older": True} if keep_older else None,
            )
    return url


def revoke_personal_links(portal: Portal, *, actor: Actor, subject_id: str, now: datetime | None = None) -> int:
    """Revoke every personal link of a person (a lost or shared link); returns how many were active."""
    now = now or utcnow()
    _check_staff(actor, subject_id, "manager", own=True)
    with portal.db.write() as conn:
        revoked = _subjects.revoke_links(conn, subject_id=subject_id, now=now)
        if is_staff_side(actor):
            audit(
                conn,
                actor=actor.ref,
                action="revoke_personal_links",
                target_type="subject",
                target_id=subject_id,
                now=now,
                detail={"revoked": revoked},
            )
    return revoked


# "Lost your link?": per address at most this many requests an hour, and one e-mail per ten minutes.
NEW_LINK_REQUESTS_PER_HOUR = 3
NEW_LINK_EMAIL_INTERVAL = timedelta(minutes=10)
_PUBLIC = "public"


def address_hash(portal: Portal, email: str) -> str:
    """A keyed hash of a lower-cased e-mail address: audit rows and rate limits count requests per address without
    keeping the address (a plain hash of a guessable address would give it away)."""
    key = portal.settings.secret_key.encode()
    return hmac.new(key, b"email:" + email.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]


def request_new_link(portal: Portal, *, email: str, locale: str, now: datetime | None = None) -> None:
    """Lost your link: e-mail a fresh personal link (older ones revoked once it is sent) to the person with this
    confirmed address. Answers nothing either way, so nobody learns whether an address is registered; at most
    NEW_LINK_REQUESTS_PER_HOUR requests per address an hour are considered, and one e-mail is queued per
    NEW_LINK_EMAIL_INTERVAL. Every considered request is audited with the address's hash, never the address."""
    now = now or utcnow()
    try:
        mail = clean_email(email)
    except ValidationError:
        mail = None
    if not mail:
        raise ValidationError(t("lostlink.bad_email", locale))
    digest = address_hash(portal, mail)
    with portal.db.write() as conn:
        asked = conn.execute(
            select(func.count())
            .select_from(audit_log)
            .where(
                audit_log.c.action == "request_new_link",
                audit_log.c.target_type == "email",
                audit_log.c.target_id == digest,
                audit_log.c.at > now - timedelta(hours=1),
            )
        ).scalar_one()
        if asked >= NEW_LINK_REQUESTS_PER_HOUR:
            return  # over the limit: the same answer, nothing written (a flood writes nothing either)
        person = conn.execute(
            select(subjects.c.id)
            .where(
                func.lower(subjects.c.email) == mail.lower(),
                subjects.c.erased_at.is_(None),
                subjects.c.merged_into.is_(None),
                subjects.c.email_confirmed_at.is_not(None),
            )
            .order_by(subjects.c.email_confirmed_at.desc())
            .limit(1)
        ).scalar()
        outcome = "unknown"
        if person is not None:
            outcome = "queued" if _queue_new_link(conn, subject_id=person, keep_older=False, now=now) else "too_soon"
        audit(
            conn,
            actor=_PUBLIC,
            action="request_new_link",
            target_type="email",
            target_id=digest,
            now=now,
            detail={"outcome": outcome},
        )


def email_my_link(portal: Portal, *, actor: Actor, subject_id: str, now: datetime | None = None) -> bool:
    """The "E-mail it to me" button after registering: queue a new-link e-mail to the address the person gave (their older
    links keep working: they may hold one on screen). False when they gave no address or one was queued less than
    NEW_LINK_EMAIL_INTERVAL ago."""
    now = now or utcnow()
    _check_staff(actor, subject_id, "manager", own=True)
    with portal.db.write() as conn:
        subject = _subjects.get_subject(conn, subject_id)
        if subject.erased_at is not None or not subject.email:
            return False
        return _queue_new_link(conn, subject_id=subject_id, keep_older=True, now=now)


def _queue_new_link(conn: Connection, *, subject_id: str, keep_older: bool, now: datetime) -> bool:
    """Queue a new-link e-mail to the person's address unless one was queued within NEW_LINK_EMAIL_INTERVAL; the
    link itself is made when the e-mail is sent (portal/backend/ops/mailer.py), so the outbox never holds it."""
    recent = conn.execute(
        select(outbox.c.id).where(
            outbox.c.kind == "new_link",
            outbox.c.subject_id == subject_id,
            outbox.c.created_at > now - NEW_LINK_EMAIL_INTERVAL,
        )
    ).first()
    if recent is not None:
        return False
    email = conn.execute(select(subjects.c.email).where(subjects.c.id == subject_id)).scalar()
    if not email:
        return False
    return (
        queue(
            conn,
            kind="new_link",
            now=now,
            recipient=email,
            subject_id=subject_id,
            payload={"keep_older": keep_older},
        )
        is not None
    )


def open_personal_link(portal: Portal, *, token: str, now: datetime | None = None) -> Subject:
    """The person a personal link opens (TokenError for forged, expired, revoked or erased links); opening a link
    that was e-mailed to them confirms their address, so later lost-link requests may be answered there."""
    now = now or utcnow()
    secret = portal.settings.secret_key
    with portal.db.read() as conn:
        subject = _subjects.resolve_link(conn, token=token, secret=secret, now=now)
        confirms = _subjects.link_confirms_email(conn, token=token, secret=secret, now=now)
    if confirms:
        with portal.db.write() as conn:
            _subjects.confirm_email(conn, subject_id=subject.id, now=now)
    return subject


def view_subject(portal: Portal, *, actor: Actor, subject_id: str, now: datetime | None = None) -> SubjectDetail:
    """A person's data, consents, history and receipts for staff; every such view is audited."""
    now = now or utcnow()
    _check_staff(actor, subject_id, "manager")
    with portal.db.write() as conn:
        subject = _subjects.get_subject(conn, subject_id)
        codes = {p.id: p.code for p in list_purposes(conn, active_only=False)}
        detail = SubjectDetail(
            subject=subject,
            statuses=subject_consents(conn, subject_id, now),
            # With the entries of duplicates merged into this person (follows merged_into).
            history=[HistoryEntry(codes[e.purpose_id], e) for e in _duplicates.history_entries(conn, subject_id)],
            receipts=_receipts.subject_receipts(conn, subject_id),
        )
        audit(conn, actor=actor.ref, action="view_subject", target_type="subject", target_id=subject_id, now=now)
    return detail


def export_subject(portal: Portal, *, actor: Actor, subject_id: str, now: datetime | None = None) -> bytes:
    """Everything about a person in one ZIP (Art. 15, 20), for the person or a manager; audited."""
    now = now or utcnow()
    _check_staff(actor, subject_id, "manager", own=True)
    # Receipts are rendered on demand: the export holds every one the person has, so the pending ones are made now.
    with portal.db.read() as conn:
        due = [r.id for r in _receipts.subject_receipts(conn, subject_id) if not r.issued]
    issue_pending_receipts(portal, receipt_ids=due, limit=None)
    with portal.db.write() as conn:
        data = _export.gather(
            conn,
            subject_id=subject_id,
            now=now,
            deployment=Deployment.of(portal.settings, dialect=conn.dialect.name),
            settings=portal.settings,
        )
        audit(
            conn,
            actor=actor.ref,
            action="export_subject",
            target_type="subject",
            target_id=subject_id,
            now=now,
            detail={"photos": len(data.asset_ids)},
        )
    return _export.build_zip(portal.db, portal.blobs, data, max_pixels=portal.settings.max_image_pixels, now=now)


def consent_records(portal: Portal, *, actor: Actor, subject_id: str, now: datetime | None = None) -> dict[str, Any]:
    """A person's consent events as ISO/IEC TS 27560 records in one JSON-LD receipt, for the person or a manager;
    audited. The records are pseudonymous, so they stay available after erasure (Art. 7(1): consent demonstrable)."""
    now = now or utcnow()
    _check_staff(actor, subject_id, "manager", own=True)
    with portal.db.write() as conn:
        _subjects.get_subject(conn, subject_id)  # UnknownSubject for an id nobody has
        records = subject_records(
            conn,
            subject_id=subject_id,
            deployment=Deployment.of(portal.settings, dialect=conn.dialect.name),
            now=now,
            settings=portal.settings,
            entries=_duplicates.history_entries(conn, subject_id),
        )
        audit(
            conn,
            actor=actor.ref,
            action="view_consent_records",
            target_type="subject",
            target_id=subject_id,
            now=now,
            detail={"records": len(records.records)},
        )
    return records.document()


def erase_subject(portal: Portal, *, actor: Actor, subject_id: str, now: datetime | None = None) -> ErasureReport:
    """Erase a person (Art. 17): withdraw their consents, blur them out of stored images, drop personal data,
    receipts, notes and queued messages; only pseudonymous ledger entries remain.

    Blurred copies are written before the transaction; the originals, paper scans and receipt files are deleted
    after the commit, then the database files are scrubbed of the old rows.
    """
    now = now or utcnow()
    _check_staff(actor, subject_id, "manager", own=True)
    with portal.db.read() as conn:
        redactions = _erasure.redact_images(
            conn, portal.blobs, subject_id=subject_id, max_pixels=portal.settings.max_image_pixels
        )
    with portal.db.write() as conn:
        report, scans = _erasure.apply_erasure(
            conn,
            portal.blobs,
            subject_id=subject_id,
            actor=actor,
            redactions=redactions,
            now=now,
            # Without SMTP settings the confirmation could never be sent and would keep the address at rest.
            confirm=portal.settings.smtp_configured,
        )
    _erasure.delete_replaced_blobs(portal.blobs, redactions, scans)
    _erasure.delete_leftover_receipts(portal.blobs, subject_id)
    for merged in report.merged_ids:
        # Receipts of duplicates merged into this person print their name too.
        _erasure.delete_leftover_receipts(portal.blobs, merged)
    # The overwritten rows' old bytes: zeroed (SQLite secure_delete) and checkpointed out of the WAL, or vacuumed on
    # PostgreSQL where nothing still sees them (the daily job repeats it).
    portal.db.scrub(_erasure.ERASED_TABLES)
    return report


@dataclass(frozen=True)
class PendingView:
    """What a confirmation link would record, shown before the person confirms: (purpose code, action) pairs."""

    subject_id: str
    name: str | None
    locale: str
    expires_at: datetime
    changes: list[tuple[str, str]]


@dataclass(frozen=True)
class ConfirmedChoices:
    """What confirming a second form's choices recorded for the person, and its receipt."""

    subject: Subject
    entries: list[LedgerEntry]
    receipt_id: str | None


def open_pending_change(portal: Portal, *, token: str, now: datetime | None = None) -> PendingView:
    """The choices a confirmation link would record for its person (TokenError when forged, expired or used)."""
    now = now or utcnow()
    with portal.db.read() as conn:
        pending = _duplicates.resolve_pending(conn, token=token, secret=portal.settings.secret_key, now=now)
        subject = _subjects.get_subject(conn, pending.subject_id)
        decisions = _duplicates.planned_decisions(conn, subject_id=pending.subject_id, choices=pending.choices, now=now)
    return PendingView(
        subject_id=subject.id,
        name=subject.display_name,
        locale=subject.locale,
        expires_at=pending.expires_at,
        changes=[(d.purpose, d.action) for d in decisions],
    )


def confirm_pending_change(portal: Portal, *, token: str, now: datetime | None = None) -> ConfirmedChoices:
    """Record the choices of a second form for the person its e-mailed link belongs to, once: the form's channel,
    the person's act confirmed by the link (evidence `confirmed_by: email_link`), a receipt as for every change; the
    link is used up. A child's giving still needs the guardian named on that form (GuardianRequired)."""
    now = now or utcnow()
    with portal.db.write() as conn:
        pending = _duplicates.resolve_pending(conn, token=token, secret=portal.settings.secret_key, now=now)
        subject, entries, receipt_id = _duplicates.apply_pending(conn, pending=pending, now=now)
        # The link came to the person's address, so it is still theirs.
        _subjects.confirm_email(conn, subject_id=subject.id, now=now)
    return ConfirmedChoices(subject=subject, entries=entries, receipt_id=receipt_id)


def merge_subjects(
    portal: Portal, *, actor: Actor, keep_id: str, drop_id: str, now: datetime | None = None
) -> _duplicates.MergeResult:
    """Merge a duplicate (`drop_id`) into the person kept (`keep_id`), for a manager (as erasure is): one entry per
    purpose and scope under the kept person carries the newest decision of the two (evidence names the source entry),
    faces move, the duplicate's links are revoked, its messages cancelled and its personal fields cleared; audited."""
    now = now or utcnow()
    if not actor.can("manager"):
        raise AuthError("This needs a staff member with the manager role.")
    with portal.db.write() as conn:
        result = _duplicates.merge(conn, keep_id=keep_id, drop_id=drop_id, actor=actor, now=now)
    return result


def name_problem(name: str) -> str | None:
    """Why a typed name would be refused ("empty", "too_long", "bad_chars") or None, so that a public form can say
    it at the field and in the visitor's language (the services' own messages are English, for staff)."""
    text = unicodedata.normalize("NFC", name).strip()  # as clean_name judges it
    if not text:
        return "empty"
    if len(text) > NAME_MAX:
        return "too_long"
    if has_control(text) or "<" in text or ">" in text:
        return "bad_chars"
    return None


def email_problem(email: str) -> bool:
    """Whether a typed, optional e-mail address would be refused (an empty one is fine)."""
    try:
        clean_email(email)
    except ValidationError:
        return True
    return False
