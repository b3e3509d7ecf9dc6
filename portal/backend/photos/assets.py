"""Photos as assets: intake into the blob store (de-duplicated), look-up, and their detections."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update

from portal.backend.consent.purposes import get_purpose
from portal.backend.photos import takedowns as _takedowns
from portal.backend.photos.vision.intake import make_thumbnail, prepare_image
from portal.backend.photos.vision.schemas import Box
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_uses, assets, detections, events, purposes
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import NotFound, ValidationError
from portal.backend.platform.text import has_control
from portal.backend.staff.audit import audit

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif"}
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Asset:
    """One stored photo."""

    id: int
    sha256: str
    blob_key: str
    thumb_key: str | None
    filename: str
    content_type: str
    width: int
    height: int
    bytes: int
    taken_at: datetime | None
    uploaded_at: datetime
    event_id: int | None
    analysis_state: str
    analysis_error: str | None
    detectors: str | None
    # Set when the photo was deleted past retention (R17): the row is a tombstone, its files are gone.
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class Intake:
    """Result of offering one file: the asset and whether it was new."""

    asset: Asset
    created: bool


def _asset(row: Any) -> Asset:
    """Row to Asset."""
    m = row._mapping
    return Asset(**{k: m[k] for k in Asset.__dataclass_fields__})


def get_asset(conn: Connection, asset_id: int) -> Asset:
    """The asset with this id or NotFound."""
    row = conn.execute(select(assets).where(assets.c.id == asset_id)).one_or_none()
    if row is None:
        raise NotFound(f"No image with id {asset_id}.")
    return _asset(row)


def blob_keys(sha256: str, content_type: str) -> tuple[str, str]:
    """Content-addressed keys of an original and its thumbnail."""
    ext = content_type.split("/")[-1].replace("jpeg", "jpg")
    return f"originals/{sha256[:2]}/{sha256}.{ext}", f"thumbs/{sha256[:2]}/{sha256}.jpg"


def ingest(
    db: Database,
    blobs: BlobStore,
    *,
    data: bytes,
    filename: str,
    max_pixels: int,
    event_id: int | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Intake:
    """Validate an image, store original + thumbnail, then write the row; the same file twice is one asset."""
    now = now or utcnow()
    if len(data) > MAX_FILE_BYTES:
        raise ValidationError(
            f"{filename}: the file is {len(data) / 2**20:.0f} MiB; at most {MAX_FILE_BYTES >> 20} MiB."
        )
    prepared = prepare_image(data, max_pixels=max_pixels, filename=filename)
    with db.read() as conn:
        existing = conn.execute(select(assets).where(assets.c.sha256 == prepared.sha256)).one_or_none()
        if existing is not None:
            return Intake(_not_deleted(_asset(existing), filename), created=False)
        if event_id is not None and conn.execute(select(events.c.id).where(events.c.id == event_id)).first() is None:
            raise ValidationError(f"No event with id {event_id}.")
    original_key, thumb_key = blob_keys(prepared.sha256, prepared.content_type)
    # Blobs first, row last: a failure in between leaves no row without its blob, and the blobs this call wrote
    # are removed again, so there is no blob without its row either. The first upload is inside the guard too:
    # a connection that breaks off after the store kept the file must not leave it behind.
    try:
        blobs.put(original_key, data, content_type=prepared.content_type)
        blobs.put(thumb_key, make_thumbnail(prepared.image), content_type="image/jpeg")
        with db.write() as conn:
            again = conn.execute(select(assets).where(assets.c.sha256 == prepared.sha256)).one_or_none()
            if again is not None:  # another uploader won the race; its blobs are the same bytes
                return Intake(_not_deleted(_asset(again), filename), created=False)
            asset_id = conn.execute(
                insert(assets)
                .values(
                    sha256=prepared.sha256,
                    blob_key=original_key,
                    thumb_key=thumb_key,
                    filename=_label(filename),
                    content_type=prepared.content_type,
                    width=prepared.width,
                    height=prepared.height,
                    bytes=prepared.size_bytes,
                    taken_at=prepared.taken_at,
                    uploaded_at=now,
                    uploaded_by=actor.staff_id if actor else None,
                    event_id=event_id,
                )
                .returning(assets.c.id)
            ).scalar_one()
            return Intake(get_asset(conn, asset_id), created=True)
    except BaseException:
        _discard_blobs(db, blobs, prepared.sha256, (original_key, thumb_key))
        raise


def _not_deleted(asset: Asset, filename: str) -> Asset:
    """The existing asset of a re-imported file, or ValidationError when it was deleted past retention: the same
    photo does not come back into the archive unnoticed (its sha256 stays on the tombstone for this)."""
    if asset.deleted_at is not None:
        raise ValidationError(
            f"{_label(filename)}: this photo was deleted past retention on {asset.deleted_at:%Y-%m-%d} "
            "and is not imported again."
        )
    return asset


def _label(filename: str) -> str:
    """The stored name of an upload: its last path part without control or invisible formatting characters (a NUL
    cannot be stored on PostgreSQL; a right-to-left override would disguise 'x\u202egpj.exe' as 'xexe.jpg')."""
    name = "".join(ch for ch in Path(filename).name if unicodedata.category(ch) not in ("Cc", "Cf"))
    return name[:300] or "upload"


def _discard_blobs(db: Database, blobs: BlobStore, sha256: str, keys: tuple[str, ...]) -> None:
    """Remove the blobs of an intake that wrote no row, unless a concurrent upload's row now uses them."""
    try:
        with db.read() as conn:
            if conn.execute(select(assets.c.id).where(assets.c.sha256 == sha256)).first() is not None:
                return
    except Exception as exc:  # the database may be why the intake failed; then no row of ours can exist
        log.warning("Cannot check for a concurrent upload of %s (%s); removing its blobs", sha256, exc)
    for key in keys:
        try:
            blobs.delete(key)
        except Exception as exc:  # the original error matters more; a leftover blob is harmless and logged
            log.warning("Could not remove blob %s after a failed upload: %s", key, exc)


def iter_image_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Image files among the given files and folders (recursively), in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


@dataclass(frozen=True)
class AnalysisCounts:
    """How many photos wait for, passed or failed analysis."""

    pending: int = 0
    done: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        """All photos."""
        return self.pending + self.done + self.failed


def count_by_state(conn: Connection) -> AnalysisCounts:
    """How many assets are in each analysis state."""
    rows = conn.execute(
        select(assets.c.analysis_state, func.count())
        .where(assets.c.deleted_at.is_(None))
        .group_by(assets.c.analysis_state)
    )
    return AnalysisCounts(**{state: int(n) for state, n in rows if state in AnalysisCounts.__dataclass_fields__})


@dataclass(frozen=True)
class FaceBox:
    """One detection as staff see it: box, link and status (never the template: it does not leave the backend)."""

    id: int
    kind: str  # 'face' or 'person'
    box: Box
    score: float | None
    detector: str
    subject_id: str | None
    link_method: str | None  # 'manual', 'match', 'registration'
    link_status: str | None  # 'suggested', 'confirmed', 'rejected'
    link_distance: float | None
    identifiable: bool
    has_template: bool

    @property
    def confirmed_subject(self) -> str | None:
        """The person staff confirmed this detection shows, if any."""
        return self.subject_id if self.link_status == "confirmed" else None


def asset_detections(conn: Connection, asset_id: int) -> list[FaceBox]:
    """Detections of one asset with boxes, links and statuses."""
    rows = conn.execute(
        select(
            detections.c.id,
            detections.c.kind,
            detections.c.x,
            detections.c.y,
            detections.c.w,
            detections.c.h,
            detections.c.score,
            detections.c.detector,
            detections.c.subject_id,
            detections.c.link_method,
            detections.c.link_status,
            detections.c.link_distance,
            detections.c.identifiable,
            (detections.c.template.is_not(None)).label("has_template"),
        )
        .where(detections.c.asset_id == asset_id)
        .order_by(detections.c.id)
    )
    return [
        FaceBox(
            id=r.id,
            kind=r.kind,
            box=Box(r.x, r.y, r.w, r.h),
            score=r.score,
            detector=r.detector,
            subject_id=r.subject_id,
            link_method=r.link_method,
            link_status=r.link_status,
            link_distance=r.link_distance,
            identifiable=bool(r.identifiable),
            has_template=bool(r.has_template),
        )
        for r in rows
    ]


def clean_place(place: str) -> str:
    """Where a photo is published, stripped, or ValidationError saying what is wrong with it."""
    place = (place or "").strip()
    if not place or len(place) > 300:
        raise ValidationError(
            "Say where the photo is published (a URL or a short description, at most 300 characters)."
        )
    if has_control(place):
        raise ValidationError("Where the photo is published contains control or invisible formatting characters.")
    return place


def record_use(
    conn: Connection,
    *,
    asset_id: int,
    purpose: str,
    place: str,
    actor: Actor,
    now: datetime,
    accepted_reasons: int = 0,
    override_reason: str | None = None,
    blockers: list[dict[str, Any]] | None = None,
) -> int:
    """Record that an asset is used for a purpose at a place (what a takedown must reach), audited; returns the id.

    No consent check here (`photos.services.publish_photo` does it): `accepted_reasons` are the risk bits an admin
    accepted with `override_reason`. A publication already at risk for another reason gets its takedown task now.
    """
    place = clean_place(place)
    get_asset(conn, asset_id)
    found = get_purpose(conn, purpose)
    use_id = conn.execute(
        insert(asset_uses)
        .values(
            asset_id=asset_id,
            purpose_id=found.id,
            place=place,
            since=now,
            created_by=actor.staff_id,
            accepted_reasons=accepted_reasons,
            override_reason=override_reason,
        )
        .returning(asset_uses.c.id)
    ).scalar_one()
    detail: dict[str, Any] = {"use_id": use_id, "purpose": found.code, "where": place}
    if override_reason is not None:
        detail |= {"override": override_reason, "blockers": blockers or []}
    audit(
        conn,
        actor=actor.ref,
        action="publish_photo",
        target_type="asset",
        target_id=str(asset_id),
        detail=detail,
        now=now,
    )
    _takedowns.open_tasks(conn, now=now, use_id=use_id)
    return use_id


def end_use(conn: Connection, *, use_id: int, actor: Actor, now: datetime) -> list[int]:
    """Mark a current use as ended, audited; its open takedown task is done with it. Returns the closed task ids."""
    row = conn.execute(
        select(asset_uses.c.asset_id, asset_uses.c.place, purposes.c.code)
        .join(purposes, purposes.c.id == asset_uses.c.purpose_id)
        .where(asset_uses.c.id == use_id, asset_uses.c.until.is_(None))
    ).one_or_none()
    if row is None:
        raise NotFound(f"No current publication with id {use_id}.")
    conn.execute(update(asset_uses).where(asset_uses.c.id == use_id).values(until=now))
    closed = _takedowns.close_for_use(conn, use_id=use_id, actor=actor, now=now)
    detail: dict[str, Any] = {"use_id": use_id, "purpose": row.code, "where": row.place}
    if closed:
        detail["takedown_tasks"] = closed
    audit(
        conn,
        actor=actor.ref,
        action="unpublish_photo",
        target_type="asset",
        target_id=str(row.asset_id),
        detail=detail,
        now=now,
    )
    return closed


@dataclass(frozen=True)
class AssetRow:
    """One line of the photo list."""

    id: int
    filename: str
    event_id: int | None
    analysis_state: str
    uploaded_at: datetime
    faces: int
    persons: int
    suggested: int


def list_assets(conn: Connection, *, limit: int = 50, offset: int = 0, event_id: int | None = None) -> list[AssetRow]:
    """A page of assets, newest first, with their face and person counts (aggregated for the page's photos only)."""
    stmt = (
        select(assets.c.id, assets.c.filename, assets.c.event_id, assets.c.analysis_state, assets.c.uploaded_at)
        .where(assets.c.deleted_at.is_(None))  # deleted past retention: a tombstone, not a photo
        .order_by(assets.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if event_id is not None:
        stmt = stmt.where(assets.c.event_id == event_id)
    rows = conn.execute(stmt).all()
    # Grouping every detection of the library on each page view cost 244 ms at 100,000 photos (issue 17).
    counts = {
        r.asset_id: r
        for r in conn.execute(
            select(
                detections.c.asset_id,
                func.sum(case((detections.c.kind == "face", 1), else_=0)).label("faces"),
                func.sum(case((detections.c.kind == "person", 1), else_=0)).label("persons"),
                func.sum(case((detections.c.link_status == "suggested", 1), else_=0)).label("suggested"),
            )
            .where(detections.c.asset_id.in_([r.id for r in rows]))
            .group_by(detections.c.asset_id)
        )
    }
    return [
        AssetRow(
            id=r.id,
            filename=r.filename,
            event_id=r.event_id,
            analysis_state=r.analysis_state,
            uploaded_at=r.uploaded_at,
            faces=int(counts[r.id].faces) if r.id in counts else 0,
            persons=int(counts[r.id].persons) if r.id in counts else 0,
            suggested=int(counts[r.id].suggested) if r.id in counts else 0,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class PhotoUse:
    """Where a photo is published now, and for which purpose."""

    id: int
    purpose: str
    place: str
    since: datetime


def current_uses(conn: Connection, asset_id: int) -> list[PhotoUse]:
    """Where an asset is published now."""
    rows = conn.execute(
        select(asset_uses.c.id, purposes.c.code, asset_uses.c.place, asset_uses.c.since)
        .join(purposes, purposes.c.id == asset_uses.c.purpose_id)
        .where(asset_uses.c.asset_id == asset_id, asset_uses.c.until.is_(None))
        .order_by(asset_uses.c.id)
    )
    return [PhotoUse(r.id, r.code, r.place, r.since) for r in rows]
