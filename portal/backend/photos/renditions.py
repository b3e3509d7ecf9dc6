"""Safe renditions: a photo with every face that lacks valid consent for a purpose irreversibly blurred."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import Image
from sqlalchemy import select

from portal.backend.consent.purposes import get_purpose
from portal.backend.consent.status import ALLOWING, status_for, subject_consents
from portal.backend.photos.assets import Asset, get_asset
from portal.backend.photos.vision.intake import encode_jpeg, prepare_image
from portal.backend.photos.vision.redaction import blur_regions, highlight
from portal.backend.photos.vision.schemas import Box
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_uses, assets, detections, purposes
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError


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
    asset, code, faces, blur = _faces_to_blur(
        db, asset_id=asset_id, purpose=purpose, keep_subject=keep_subject, now=now
    )
    image = prepare_image(blobs.get(asset.blob_key), max_pixels=max_pixels).image
    data = encode_jpeg(blur_regions(image, blur) if blur else image, quality=90)
    key = None
    if store:
        key = f"renditions/{asset_id}/{code or 'subject-' + str(keep_subject)}.jpg"
        blobs.put(key, data, content_type="image/jpeg")
    return Rendition(data=data, blurred=len(blur), kept=len(faces) - len(blur), blob_key=key)


def _faces_to_blur(
    db: Database, *, asset_id: int, purpose: str | None, keep_subject: str | None, now: datetime | None
) -> tuple[Asset, str | None, list[Any], list[Box]]:
    """The photo, the purpose's code, its faces, and the boxes of those to blur (see safe_rendition)."""
    now = now or utcnow()
    with db.read() as conn:
        asset = get_asset(conn, asset_id)
        code = get_purpose(conn, purpose).code if purpose else None
        faces = conn.execute(
            select(
                detections.c.x,
                detections.c.y,
                detections.c.w,
                detections.c.h,
                detections.c.subject_id,
                detections.c.link_status,
            )
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
    return asset, code, list(faces), blur


@dataclass(frozen=True)
class SubjectPhoto:
    """One photo a subject is linked to, with where it is used."""

    asset_id: int
    filename: str
    event_id: int | None
    uses: list[tuple[str, str, datetime]]  # (purpose code, place, since)


def subject_photos(db: Database, *, subject_id: str) -> list[SubjectPhoto]:
    """Every photo with a confirmed link to the subject (R18), and its current publications."""
    with db.read() as conn:
        rows = conn.execute(
            select(assets.c.id, assets.c.filename, assets.c.event_id)
            .where(
                assets.c.id.in_(
                    select(detections.c.asset_id).where(
                        detections.c.subject_id == subject_id, detections.c.link_status == "confirmed"
                    )
                )
            )
            .order_by(assets.c.id)
        ).all()
        uses = conn.execute(
            select(asset_uses.c.asset_id, purposes.c.code, asset_uses.c.place, asset_uses.c.since)
            .join(purposes, purposes.c.id == asset_uses.c.purpose_id)
            .where(asset_uses.c.asset_id.in_([r.id for r in rows]), asset_uses.c.until.is_(None))
        ).all()
    by_asset: dict[int, list[tuple[str, str, datetime]]] = {}
    for u in uses:
        by_asset.setdefault(u.asset_id, []).append((u.code, u.place, u.since))
    return [SubjectPhoto(r.id, r.filename, r.event_id, by_asset.get(r.id, [])) for r in rows]


def subject_view(
    db: Database, blobs: BlobStore, *, asset_id: int, subject_id: str, max_pixels: int, max_side: int = 1200
) -> bytes:
    """The photo as the subject may see it: everyone else blurred, their own face outlined, sized for a screen."""
    with db.read() as conn:
        own = [
            Box(r.x, r.y, r.w, r.h)
            for r in conn.execute(
                select(detections.c.x, detections.c.y, detections.c.w, detections.c.h).where(
                    detections.c.asset_id == asset_id,
                    detections.c.subject_id == subject_id,
                    detections.c.link_status == "confirmed",
                    detections.c.kind == "face",
                )
            )
        ]
        if not own:
            # Never render a photo for someone who is not confirmed in it (R21).
            raise ValidationError("This photo is not linked to you.")
    asset, _code, _faces, blur = _faces_to_blur(db, asset_id=asset_id, purpose=None, keep_subject=subject_id, now=None)
    original = blobs.get(asset.blob_key)
    # Decoding and blurring an original costs far more than reading it, and a person's page shows the same photos
    # at every rerun (each tap): the view is remembered by everything that decides its pixels, the original's bytes
    # (by digest: a redaction rewrites a key's bytes) and every box, for a few minutes at most.
    key = (hashlib.blake2b(original, digest_size=16).digest(), tuple(blur), tuple(own), max_pixels, max_side)
    if (seen := _VIEWS.get(key)) is not None:
        return seen
    image = prepare_image(original, max_pixels=max_pixels).image
    safe = encode_jpeg(blur_regions(image, blur) if blur else image, quality=90)
    view = Image.open(io.BytesIO(safe))
    view.thumbnail((max_side, max_side))
    data = encode_jpeg(highlight(view, own), quality=85)
    _VIEWS.put(key, data)
    return data


class _RecentViews:
    """A small, thread-safe LRU of rendered views whose entries also expire (no person's view lingers long)."""

    def __init__(self, size: int, seconds: float) -> None:
        self._size, self._seconds = size, seconds
        self._items: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        """The view under `key`, unless it is missing or expired."""
        with self._lock:
            found = self._items.get(key)
            if found is None or time.monotonic() - found[0] > self._seconds:
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, data: bytes) -> None:
        """Remember a view, dropping the least recently used beyond the size."""
        with self._lock:
            self._items[key] = (time.monotonic(), data)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


# Screen-sized JPEGs (~0.1-0.3 MB): 64 of them are a few pages' worth of people, at most ~20 MB.
_VIEWS = _RecentViews(size=64, seconds=600)
