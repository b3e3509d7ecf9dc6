"""Face templates (special-category data): enrolment with consent, matching suggestions, links, deletion.

The only stored templates are people's own, from their selfie, while their face-matching consent is valid. Faces in
photos never keep one: the matching batch (`matching_batch`) describes them in memory and stores only suggestions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, delete, func, insert, or_, select, update

from portal.backend.consent.status import ALLOWING, latest_entries_query, row_status
from portal.backend.photos.face_templates import delete_biometrics, has_template  # noqa: F401 - re-exported
from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.photos.vision.intake import prepare_selfie
from portal.backend.photos.vision.matching import classify, pack
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.schema import (
    consent_current,
    detections,
    organisation,
    purpose_texts,
    purposes,
    subject_templates,
    subjects,
)
from portal.backend.platform.errors import (
    ConsentStateError,
    FaceAlreadyLinked,
    NotFound,
    SelfieRejected,
    UnknownSubject,
    ValidationError,
)
from portal.backend.platform.organisation import get_organisation
from portal.backend.risk import index as risk_index
from portal.backend.staff.audit import audit

TEMPLATE_MODEL = "dlib_face_recognition_resnet_model_v1"
SELFIE_MIN_SCORE = 0.3


@dataclass(frozen=True)
class Suggestion:
    """A face in the library that may show a subject."""

    detection_id: int
    asset_id: int
    subject_id: str
    distance: float
    status: str  # 'confirmed' (auto) or 'suggested'


def _matching_allowed(conn: Connection, subject_id: str, now: datetime) -> bool:
    """True while the subject's face-matching (biometric) consent is given, unexpired and under the current text."""
    for row in conn.execute(latest_entries_query(subject_id)).all():
        if row.scope_asset_id is None:
            biometric = conn.execute(select(purposes.c.biometric).where(purposes.c.id == row.purpose_id)).scalar()
            # Under a replaced text matching pauses (superseded is not allowing) but the template stays: the
            # consent was not withdrawn, and renewing resumes it.
            if biometric and row_status(row, now) in ALLOWING:
                return True
    return False


def matching_allowed_subjects(conn: Connection, now: datetime, subject_ids: Sequence[str] | None = None) -> set[str]:
    """Everyone (or these people) whose face-matching consent allows matching at `now`, in one query.

    The same rule as `_matching_allowed`, read from the consent projection that every ledger append keeps in its
    own transaction (`risk check` proves it equals the ledger).
    """
    current = (
        select(purpose_texts.c.purpose_id, func.max(purpose_texts.c.version).label("version"))
        .group_by(purpose_texts.c.purpose_id)
        .subquery()
    )
    stmt = (
        select(consent_current.c.subject_id)
        .join(purposes, purposes.c.id == consent_current.c.purpose_id)
        .join(current, current.c.purpose_id == consent_current.c.purpose_id)
        .where(
            purposes.c.biometric.is_(True),
            consent_current.c.scope_key == 0,
            consent_current.c.action.in_(ALLOWING),
            consent_current.c.text_version >= current.c.version,
            or_(consent_current.c.valid_until.is_(None), consent_current.c.valid_until > now),
        )
    )
    if subject_ids is not None:
        stmt = stmt.where(consent_current.c.subject_id.in_(list(subject_ids)))
    return set(conn.execute(stmt).scalars())


def check_selfie(image: bytes, *, analyzer: FaceAnalyzer, max_pixels: int) -> np.ndarray:
    """The template of the one face in a selfie, or ValidationError saying what is wrong with it."""
    # Capped and decoded reduced: a selfie comes from anyone, and a 60-megapixel PNG must not cost seconds and
    # hundreds of megabytes of a public server.
    selfie = prepare_selfie(image, max_pixels=max_pixels)
    found = analyzer.detect(selfie)
    # Faint detections (badges, patterns) must not make a good selfie look crowded; real faces score far higher.
    faces = [f for f in found if f.score is None or f.score >= SELFIE_MIN_SCORE] or found[:1]
    if not faces:
        raise SelfieRejected(
            "No face was found in the selfie. Take it facing the camera, in good light.", reason="no_face"
        )
    if len(faces) > 1:
        raise SelfieRejected(f"The selfie shows {len(faces)} faces; it must show only yours.", reason="many_faces")
    return analyzer.describe(selfie, [faces[0].box])[0]


def enrol_template(conn: Connection, *, subject_id: str, template: np.ndarray, now: datetime) -> None:
    """Keep a computed template in the caller's transaction, only while face-matching consent is valid (R24).

    Registration computes the template first (a bad selfie writes nothing) and calls this in the transaction that
    records the consent, so there is never a consent without its template or a template without its consent.
    """
    if conn.execute(select(subjects.c.id).where(subjects.c.id == subject_id)).first() is None:
        raise UnknownSubject(subject_id)
    if not _matching_allowed(conn, subject_id, now):
        raise ConsentStateError("Face matching needs the person's explicit face-matching consent first (R24).")
    if not conn.execute(select(organisation.c.matching_enabled).where(organisation.c.id == 1)).scalar():
        # A template nobody compares is special-category data kept for nothing.
        raise ValidationError(
            "Face matching is off in this organisation, so no selfie is used: leave face matching out, or ask an "
            "admin to switch matching on first."
        )
    conn.execute(delete(subject_templates).where(subject_templates.c.subject_id == subject_id))
    conn.execute(
        insert(subject_templates).values(
            subject_id=subject_id, template=pack(template), model=TEMPLATE_MODEL, created_at=now
        )
    )


def suggest_link(
    conn: Connection,
    detection_id: int,
    asset_id: int,
    subject_id: str,
    distance: float,
    suggest: float,
    auto: float,
    now: datetime,
) -> Suggestion:
    """Record one suggestion (or auto-confirmed link) on a detection, in the caller's transaction."""
    verdict = classify(distance, suggest_threshold=suggest, auto_confirm_threshold=auto)
    status = "confirmed" if verdict == "auto_confirm" else "suggested"
    conn.execute(
        update(detections)
        .where(detections.c.id == detection_id)
        .values(
            subject_id=subject_id,
            link_method="match",
            link_status=status,
            link_distance=float(distance),
            confirmed_at=now if status == "confirmed" else None,
        )
    )
    if status == "confirmed":
        risk_index.refresh_assets(conn, [asset_id])
    return Suggestion(detection_id, asset_id, subject_id, float(distance), status)


@dataclass(frozen=True)
class FaceLink:
    """A detection's confirmed link after a change; `previous_subject_id` is whom it was confirmed for before."""

    detection_id: int
    asset_id: int
    subject_id: str | None
    previous_subject_id: str | None


@dataclass(frozen=True)
class _Linked:
    """A detection's current link, read before changing it."""

    asset_id: int
    subject_id: str | None
    link_status: str | None


def _detection(conn: Connection, detection_id: int) -> _Linked:
    """The current link of one detection, or NotFound."""
    row = conn.execute(
        select(detections.c.asset_id, detections.c.subject_id, detections.c.link_status).where(
            detections.c.id == detection_id
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"No detection with id {detection_id}.")
    return _Linked(row.asset_id, row.subject_id, row.link_status)


def link_detection(
    conn: Connection, *, detection_id: int, subject_id: str, actor: Actor, now: datetime, move: bool = False
) -> FaceLink:
    """Link a face or person to a subject by hand (confirmed; no biometrics involved), in the caller's transaction.

    A face already confirmed as someone else moves only with `move=True`: a mis-click must not silently take a
    photo away from one person's record and put it into another's.
    """
    found = _detection(conn, detection_id)
    subject = conn.execute(select(subjects.c.erased_at).where(subjects.c.id == subject_id)).one_or_none()
    if subject is None:
        raise UnknownSubject(subject_id)
    if subject.erased_at is not None:
        raise ConsentStateError("This person was erased and cannot be linked to photos.")
    previous = found.subject_id if found.link_status == "confirmed" else None
    if previous is not None and previous != subject_id and not move:
        name = conn.execute(select(subjects.c.display_name).where(subjects.c.id == previous)).scalar()
        raise FaceAlreadyLinked(detection_id, previous, name or f"person {previous[:8]}")
    conn.execute(
        update(detections)
        .where(detections.c.id == detection_id)
        .values(
            subject_id=subject_id,
            link_method="manual",
            link_status="confirmed",
            link_distance=None,
            confirmed_by=actor.staff_id,
            confirmed_at=now,
            identifiable=True,
        )
    )
    risk_index.refresh_assets(conn, [found.asset_id])
    audit(
        conn,
        actor=actor.ref,
        action="link_detection",
        target_type="detection",
        target_id=str(detection_id),
        detail={"from_subject": previous, "to_subject": subject_id},
        now=now,
    )
    return FaceLink(detection_id, found.asset_id, subject_id, previous)


def clear_link(conn: Connection, detection_id: int) -> None:
    """Make a detection an unidentified face again: nobody linked, no suggestion, counted as identifiable."""
    conn.execute(
        update(detections)
        .where(detections.c.id == detection_id)
        .values(
            subject_id=None,
            link_method=None,
            link_status=None,
            link_distance=None,
            confirmed_by=None,
            confirmed_at=None,
            identifiable=True,
        )
    )


def unlink_detection(conn: Connection, *, detection_id: int, actor: Actor, now: datetime) -> FaceLink:
    """Remove whatever person a detection is linked to: it is an unidentified person again (at risk until linked)."""
    found = _detection(conn, detection_id)
    if found.subject_id is None:
        raise ConsentStateError(f"Face #{detection_id} is not linked to anyone.")
    clear_link(conn, detection_id)
    risk_index.refresh_assets(conn, [found.asset_id])
    audit(
        conn,
        actor=actor.ref,
        action="unlink_detection",
        target_type="detection",
        target_id=str(detection_id),
        detail={"from_subject": found.subject_id, "link_status": found.link_status},
        now=now,
    )
    return FaceLink(detection_id, found.asset_id, None, found.subject_id)


def review_suggestion(conn: Connection, *, detection_id: int, accept: bool, actor: Actor, now: datetime) -> FaceLink:
    """Staff confirm or reject a match suggestion, in the caller's transaction."""
    found = _detection(conn, detection_id)
    if found.link_status != "suggested":
        raise ConsentStateError("This face has no open suggestion to review.")
    conn.execute(
        update(detections)
        .where(detections.c.id == detection_id)
        .values(link_status="confirmed" if accept else "rejected", confirmed_by=actor.staff_id, confirmed_at=now)
    )
    risk_index.refresh_assets(conn, [found.asset_id])
    audit(
        conn,
        actor=actor.ref,
        action="confirm_match" if accept else "reject_match",
        target_type="detection",
        target_id=str(detection_id),
        detail={"subject_id": found.subject_id},
        now=now,
    )
    return FaceLink(detection_id, found.asset_id, found.subject_id if accept else None, None)


def set_matching_enabled(conn: Connection, *, enabled: bool, actor: Actor, now: datetime) -> int:
    """Switch library matching on or off. Photos keep no templates; off also clears any a pre-0008 version left.

    The switch is a setting of the organisation: before it is set up there is nothing to switch (NotFound), rather
    than a success that stores nothing."""
    get_organisation(conn)
    conn.execute(update(organisation).where(organisation.c.id == 1).values(matching_enabled=enabled))
    removed = 0
    if not enabled:
        removed = (
            conn.execute(update(detections).where(detections.c.template.is_not(None)).values(template=None)).rowcount
            or 0
        )
    audit(
        conn,
        actor=actor.ref,
        action="matching_on" if enabled else "matching_off",
        now=now,
        detail={"templates_deleted": removed},
    )
    return removed


def mark_unidentifiable(conn: Connection, *, detection_id: int, actor: Actor, now: datetime) -> FaceLink:
    """Staff judge a detection not to be an identifiable person (background, poster, statue): no consent needed."""
    found = _detection(conn, detection_id)
    conn.execute(
        update(detections)
        .where(detections.c.id == detection_id)
        .values(identifiable=False, subject_id=None, link_method=None, link_status=None, link_distance=None)
    )
    risk_index.refresh_assets(conn, [found.asset_id])
    audit(
        conn,
        actor=actor.ref,
        action="mark_unidentifiable",
        target_type="detection",
        target_id=str(detection_id),
        detail={"from_subject": found.subject_id} if found.subject_id else None,
        now=now,
    )
    return FaceLink(detection_id, found.asset_id, None, found.subject_id)
