"""Safe renditions: a photo with every face that lacks valid consent for a purpose irreversibly blurred."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from portal.backend.assets import get_asset
from portal.backend.blobs import BlobStore
from portal.backend.consent.purposes import get_purpose
from portal.backend.consent.status import ALLOWING, status_for, subject_consents
from portal.backend.db.engine import Database
from portal.backend.db.schema import detections
from portal.backend.db.types import utcnow
from portal.backend.errors import ValidationError
from portal.backend.vision.intake import encode_jpeg, prepare_image
from portal.backend.vision.redaction import blur_regions
from portal.backend.vision.schemas import Box


@dataclass(frozen=True)
class Rendition:
    """A rendered JPEG and what was done to it."""

    data: bytes
    blurred: int
    kept: int
    blob_key: str | None


def safe_rendition(
    db: Database,
    blobs: BlobStore,
    *,
    asset_id: int,
    purpose: str | None = None,
    keep_subject: str | None = None,
    max_pixels: int,
    store: bool = False,
    now: datetime | None = None,
) -> Rendition:
    """Blur every face without valid consent for `purpose`, or (keep_subject) every face but that person's own.

    Only confirmed links count: an unconfirmed match suggestion is treated as an unknown person.
    """
    if (purpose is None) == (keep_subject is None):
        raise ValidationError("Choose either a purpose or the one person to keep visible.")
    now = now or utcnow()
    with db.read() as conn:
        asset = get_asset(conn, asset_id)
        code = get_purpose(conn, purpose).code if purpose else None
        faces = conn.execute(
            select(detections.c.x, detections.c.y, detections.c.w, detections.c.h, detections.c.subject_id,
                   detections.c.link_status)
            .where(detections.c.asset_id == asset_id, detections.c.kind == "face")
            .order_by(detections.c.id)
        ).all()
        allowed: dict[str, bool] = {}
        for f in faces:
            sid = f.subject_id if f.link_status == "confirmed" else None
            if sid and code and sid not in allowed:
                allowed[sid] = status_for(subject_consents(conn, sid, now), code, asset_id) in ALLOWING
    blur: list[Box] = []
    for f in faces:
        sid = f.subject_id if f.link_status == "confirmed" else None
        keep = sid == keep_subject if keep_subject else bool(sid and allowed.get(sid))
        if not keep:
            blur.append(Box(f.x, f.y, f.w, f.h))
    image = prepare_image(blobs.get(asset.blob_key), max_pixels=max_pixels).image
    data = encode_jpeg(blur_regions(image, blur) if blur else image, quality=90)
    key = None
    if store:
        key = f"renditions/{asset_id}/{code or 'subject-' + str(keep_subject)}.jpg"
        blobs.put(key, data, content_type="image/jpeg")
    return Rendition(data=data, blurred=len(blur), kept=len(faces) - len(blur), blob_key=key)
