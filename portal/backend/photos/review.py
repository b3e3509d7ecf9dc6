"""One photo on the review desk: its detections numbered as on the picture, a crop of each face, the linked person's
consent per purpose, people to link found by search, and the "not a face" decision and its undo.

Crops and the numbered picture are made in memory from the stored thumbnail and never stored. Staff may see faces;
none of this is for a public page.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import Connection, case, func, or_, select, update

from portal.backend.consent.status import status_for, subject_consents
from portal.backend.photos.assets import Asset, FaceBox, PhotoUse, asset_detections, current_uses, get_asset
from portal.backend.photos.biometrics import FaceLink, _detection, clear_link
from portal.backend.photos.library import badge_of
from portal.backend.photos.vision.intake import encode_jpeg
from portal.backend.photos.vision.redaction import padded_pixels
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.schema import asset_risk, asset_uses, assets, detections, events, purposes, subjects
from portal.backend.platform.errors import ConsentStateError, NotFound
from portal.backend.risk import index as risk_index
from portal.backend.risk.index import REASON_BITS
from portal.backend.staff.audit import audit

# Outline colour per face state: what still needs a decision stands out, what is settled recedes.
STATE_COLOURS = {
    "unreviewed": (230, 57, 70),
    "suggested": (255, 183, 3),
    "confirmed": (42, 157, 143),
    "not_identifiable": (140, 140, 140),
    "not_a_face": (140, 140, 140),
}
STATE_LABELS = {
    "unreviewed": "to review",
    "suggested": "suggested match",
    "confirmed": "confirmed",
    "not_identifiable": "not identifiable",
    "not_a_face": "not a face",
}
CROP_SIDE = 112  # pixels: large enough to recognise someone beside the list, small enough for a phone


def face_state(face: FaceBox) -> str:
    """What has been decided about a detection (a rejected suggestion is still a face to review)."""
    if not face.identifiable:
        return "not_a_face" if face.link_status == "rejected" and face.subject_id is None else "not_identifiable"
    if face.link_status == "confirmed" and face.subject_id:
        return "confirmed"
    if face.link_status == "suggested":
        return "suggested"
    return "unreviewed"


@dataclass(frozen=True)
class PersonStatus:
    """A linked person's consent for one purpose, for this photo (a per-photo choice overrides the general one)."""

    purpose: str
    status: str
    until: datetime | None


@dataclass(frozen=True)
class LinkedPerson:
    """Whom a face is linked to, enough to tell namesakes apart, and their consent per purpose."""

    id: str
    name: str | None
    email_hint: str | None
    event_name: str | None
    minor: bool
    erased: bool
    statuses: tuple[PersonStatus, ...]


@dataclass(frozen=True)
class ReviewFace:
    """One detection as numbered on the picture and in the list."""

    number: int
    face: FaceBox
    state: str
    person: LinkedPerson | None


@dataclass(frozen=True)
class ReviewView:
    """One photo on the desk."""

    asset: Asset
    event_name: str | None
    badge: str
    reasons: tuple[str, ...]
    faces: list[ReviewFace]
    uses: list[PhotoUse]

    @property
    def to_review(self) -> int:
        """Faces that still need a decision."""
        return sum(f.state in ("unreviewed", "suggested") and f.face.kind == "face" for f in self.faces)


@dataclass(frozen=True)
class PersonChoice:
    """A person offered for linking, with what tells namesakes apart."""

    id: str
    name: str | None
    email_hint: str | None
    event_name: str | None
    registered: datetime
    same_event: bool
    minor: bool
    known_face: int | None  # a detection confirmed as them elsewhere: its crop shows who they are


def email_hint(email: str | None) -> str | None:
    """Enough of an address to tell two people apart without spelling it out: 'wa…@example.org'."""
    if not email or "@" not in email:
        return None
    local, domain = email.rsplit("@", 1)
    return f"{local[:2]}…@{domain}"


def review_view(conn: Connection, *, asset_id: int, now: datetime) -> ReviewView:
    """The photo, its numbered detections with their linked people's consent, its badge and publications."""
    asset = get_asset(conn, asset_id)
    if asset.deleted_at is not None:
        raise NotFound(f"Photo #{asset_id} was deleted past retention.")
    # Numbered left to right, as a person reads the picture; persons after faces at the same place.
    found = sorted(asset_detections(conn, asset_id), key=lambda f: (round(f.box.x, 3), f.kind != "face", f.id))
    people = _people(
        conn, {f.subject_id for f in found if f.subject_id and f.link_status in ("confirmed", "suggested")}
    )
    statuses = {sid: _statuses(conn, sid, asset_id, now) for sid in people}
    faces = [
        ReviewFace(
            number=n,
            face=f,
            state=face_state(f),
            person=_with_statuses(people[f.subject_id], statuses[f.subject_id])
            if f.subject_id in people and f.link_status in ("confirmed", "suggested")
            else None,
        )
        for n, f in enumerate(found, start=1)
    ]
    event_name = None
    if asset.event_id is not None:
        event_name = conn.execute(select(events.c.name).where(events.c.id == asset.event_id)).scalar()
    reasons: set[str] = set()
    critical = False
    used = {
        r[0]
        for r in conn.execute(
            select(asset_uses.c.purpose_id).where(asset_uses.c.asset_id == asset_id, asset_uses.c.until.is_(None))
        )
    }
    for r in conn.execute(select(asset_risk).where(asset_risk.c.asset_id == asset_id)):
        names = {n for n, bit in REASON_BITS.items() if int(r.reasons) & bit}
        if r.until is not None and r.until <= now:
            names.add("expired")
        reasons |= names
        critical = critical or bool(names and r.purpose_id in used)
    ordered = tuple(n for n in REASON_BITS if n in reasons)
    return ReviewView(
        asset=asset,
        event_name=event_name,
        badge=badge_of(asset.analysis_state, at_risk=bool(reasons), critical=critical),
        reasons=ordered,
        faces=faces,
        uses=current_uses(conn, asset_id),
    )


def _people(conn: Connection, ids: set[str]) -> dict[str, LinkedPerson]:
    """The linked people of a photo (without statuses yet)."""
    if not ids:
        return {}
    rows = conn.execute(
        select(subjects, events.c.name.label("event_name"))
        .outerjoin(events, events.c.id == subjects.c.event_id)
        .where(subjects.c.id.in_(sorted(ids)))
    )
    return {
        r.id: LinkedPerson(
            id=r.id,
            name=r.display_name,
            email_hint=email_hint(r.email),
            event_name=r.event_name,
            minor=bool(r.is_minor),
            erased=r.erased_at is not None,
            statuses=(),
        )
        for r in rows
    }


def _statuses(conn: Connection, subject_id: str, asset_id: int, now: datetime) -> tuple[PersonStatus, ...]:
    """A person's effective status per active, non-biometric purpose, for this photo."""
    found = subject_consents(conn, subject_id, now)
    general = {s.purpose_code: s.valid_until for s in found if s.scope_asset_id is None}
    codes = conn.execute(
        select(purposes.c.code)
        .where(purposes.c.active.is_(True), purposes.c.biometric.is_(False))
        .order_by(purposes.c.sort_order, purposes.c.id)
    ).scalars()
    return tuple(PersonStatus(c, status_for(found, c, asset_id), general.get(c)) for c in codes)


def _with_statuses(person: LinkedPerson, statuses: tuple[PersonStatus, ...]) -> LinkedPerson:
    """The person with their statuses filled in."""
    return LinkedPerson(**{**person.__dict__, "statuses": statuses})


def find_people(
    conn: Connection, *, search: str, event_id: int | None = None, limit: int = 8
) -> tuple[int, list[PersonChoice]]:
    """People whose name or e-mail contains `search` (erased and merged people left out), the photo's event's
    people first; returns how many match in all and the first `limit`."""
    term = search.strip().lower()
    if not term:
        return 0, []
    where = [
        subjects.c.erased_at.is_(None),
        subjects.c.merged_into.is_(None),
        or_(
            func.lower(subjects.c.display_name).contains(term, autoescape=True),
            func.lower(subjects.c.email).contains(term, autoescape=True),
        ),
    ]
    total = int(conn.execute(select(func.count()).select_from(subjects).where(*where)).scalar_one())
    same = case((subjects.c.event_id == event_id, 0), else_=1) if event_id is not None else None
    known = (
        select(func.max(detections.c.id))
        .where(detections.c.subject_id == subjects.c.id, detections.c.link_status == "confirmed")
        .scalar_subquery()
    )
    stmt = (
        select(subjects, events.c.name.label("event_name"), known.label("known_face"))
        .outerjoin(events, events.c.id == subjects.c.event_id)
        .where(*where)
        .limit(limit)
    )
    order = [subjects.c.display_name, subjects.c.created_at, subjects.c.id]
    stmt = stmt.order_by(*([same] if same is not None else []), *order)
    rows = conn.execute(stmt).all()
    return total, [
        PersonChoice(
            id=r.id,
            name=r.display_name,
            email_hint=email_hint(r.email),
            event_name=r.event_name,
            registered=r.created_at,
            same_event=event_id is not None and r.event_id == event_id,
            minor=bool(r.is_minor),
            known_face=r.known_face,
        )
        for r in rows
    ]


def _thumbnail(blobs: BlobStore, asset: Asset) -> Image.Image:
    """The stored thumbnail (or, without one, the original) as RGB."""
    return Image.open(io.BytesIO(blobs.get(asset.thumb_key or asset.blob_key))).convert("RGB")


def numbered_picture(blobs: BlobStore, asset: Asset, faces: list[ReviewFace]) -> bytes:
    """The thumbnail with every detection outlined in its state's colour and labelled with its list number."""
    image = _thumbnail(blobs, asset)
    draw = ImageDraw.Draw(image)
    line = max(2, round(min(image.size) / 200))
    size = max(12, round(min(image.size) / 24))
    font = ImageFont.load_default(size=size)
    for f in faces:
        left, top, right, bottom = f.face.box.to_pixels(image.width, image.height)
        if right <= left or bottom <= top:
            continue
        colour = STATE_COLOURS[f.state]
        draw.rectangle((left, top, right - 1, bottom - 1), outline=colour, width=line if f.face.kind == "face" else 1)
        label = str(f.number)
        box = draw.textbbox((0, 0), label, font=font)
        w, h = box[2] - box[0] + 6, box[3] - box[1] + 6
        # Above the box when there is room, else inside its top-left corner.
        y = top - h if top - h >= 0 else top
        draw.rectangle((left, y, left + w, y + h), fill=colour)
        draw.text((left + 3 - box[0], y + 3 - box[1]), label, fill=(255, 255, 255), font=font)
    return encode_jpeg(image, quality=85)


def face_crops(blobs: BlobStore, asset: Asset, faces: list[FaceBox]) -> dict[int, bytes]:
    """A square-ish crop around each detection (by detection id), from the thumbnail, made now and not stored."""
    if not faces:
        return {}
    image = _thumbnail(blobs, asset)
    return {f.id: _crop(image, f) for f in faces}


def _crop(image: Image.Image, face: FaceBox) -> bytes:
    """One detection's crop with some context around it, scaled to CROP_SIDE on its longer side."""
    left, top, right, bottom = padded_pixels(face.box, image.width, image.height, 0.35)
    region = image.crop((left, top, max(right, left + 1), max(bottom, top + 1)))
    scale = CROP_SIDE / max(region.size)
    region = region.resize((max(1, round(region.width * scale)), max(1, round(region.height * scale))))
    return encode_jpeg(region, quality=85)


def known_face(conn: Connection, blobs: BlobStore, *, detection_id: int) -> bytes | None:
    """The crop of one confirmed face (a person's face from another photo), or None when its file is gone."""
    row = conn.execute(
        select(detections.c.asset_id).where(detections.c.id == detection_id, detections.c.link_status == "confirmed")
    ).one_or_none()
    if row is None:
        return None
    asset = get_asset(conn, row.asset_id)
    face = next((f for f in asset_detections(conn, row.asset_id) if f.id == detection_id), None)
    if face is None or asset.deleted_at is not None:
        return None
    try:
        return face_crops(blobs, asset, [face])[face.id]
    except NotFound:
        return None


def mark_not_a_face(conn: Connection, *, detection_id: int, actor: Actor, now: datetime) -> FaceLink:
    """A false detection (a patch, a poster, a pattern): it needs no consent and leaves the risk index, audited with
    whom it was linked to; `restore_detection` undoes it."""
    found = _detection(conn, detection_id)
    conn.execute(
        update(detections)
        .where(detections.c.id == detection_id)
        .values(
            identifiable=False,
            subject_id=None,
            link_method=None,
            link_status="rejected",
            link_distance=None,
            confirmed_by=actor.staff_id,
            confirmed_at=now,
        )
    )
    risk_index.refresh_assets(conn, [found.asset_id], now=now)
    audit(
        conn,
        actor=actor.ref,
        action="mark_not_a_face",
        target_type="detection",
        target_id=str(detection_id),
        detail={"asset_id": found.asset_id, "from_subject": found.subject_id, "link_status": found.link_status},
        now=now,
    )
    return FaceLink(detection_id, found.asset_id, None, found.subject_id)


def restore_detection(conn: Connection, *, detection_id: int, actor: Actor, now: datetime) -> FaceLink:
    """Undo "not a face" or "not identifiable": the detection is a face to review again (at risk until linked)."""
    found = _detection(conn, detection_id)
    identifiable = conn.execute(select(detections.c.identifiable).where(detections.c.id == detection_id)).scalar()
    if identifiable:
        raise ConsentStateError(f"Detection #{detection_id} already counts as a face to review or link.")
    clear_link(conn, detection_id)
    risk_index.refresh_assets(conn, [found.asset_id], now=now)
    audit(
        conn,
        actor=actor.ref,
        action="restore_detection",
        target_type="detection",
        target_id=str(detection_id),
        detail={
            "asset_id": found.asset_id,
            "was": "not_a_face" if found.link_status == "rejected" else "unidentifiable",
        },
        now=now,
    )
    return FaceLink(detection_id, found.asset_id, None, None)


def asset_exists(conn: Connection, asset_id: int) -> bool:
    """Whether a (not deleted) photo has this id."""
    return (
        conn.execute(select(assets.c.id).where(assets.c.id == asset_id, assets.c.deleted_at.is_(None))).first()
        is not None
    )
