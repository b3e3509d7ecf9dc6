"""Read models of photos: the photo list, one photo with its faces and publications, analysis counts, detector
status, stored match suggestions, and a person's own photos as they may see them."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from PIL import Image
from sqlalchemy import select

from portal.backend.photos import assets as _assets
from portal.backend.photos import disputes as _disputes
from portal.backend.photos import library as _library
from portal.backend.photos import publications as _publications
from portal.backend.photos import renditions as _renditions
from portal.backend.photos import retention as _retention
from portal.backend.photos import review as _review
from portal.backend.photos import takedowns as _takedowns
from portal.backend.photos.assets import AnalysisCounts, Asset, AssetRow, FaceBox, PhotoUse
from portal.backend.photos.biometrics import Suggestion
from portal.backend.photos.disputes import PersonalPhoto
from portal.backend.photos.library import BADGE_LABELS, BADGES, LibraryCard, LibraryFilter, LibraryPage
from portal.backend.photos.publications import Blocker, Publication, PublishCheck
from portal.backend.photos.renditions import SubjectPhoto
from portal.backend.photos.retention import PastRetention, RetentionList
from portal.backend.photos.review import STATE_LABELS, LinkedPerson, PersonChoice, PersonStatus, ReviewFace, ReviewView
from portal.backend.photos.takedowns import OpenSummary, Task
from portal.backend.photos.vision.intake import encode_jpeg
from portal.backend.photos.vision.redaction import highlight
from portal.backend.photos.vision.status import detector_status as _detector_status
from portal.backend.photos.vision.weights import status_line as _person_status_line
from portal.backend.platform.config import Settings
from portal.backend.platform.db.schema import assets, detections
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import NotFound
from portal.backend.platform.runtime import Portal

__all__ = [
    "BADGES",
    "BADGE_LABELS",
    "STATE_LABELS",
    "AnalysisCounts",
    "Asset",
    "AssetDetail",
    "AssetRow",
    "Blocker",
    "FaceBox",
    "LibraryCard",
    "LibraryFilter",
    "LibraryPage",
    "LinkedPerson",
    "OpenSummary",
    "PastRetention",
    "PersonChoice",
    "PersonStatus",
    "PersonalPhoto",
    "PhotoUse",
    "Publication",
    "PublishCheck",
    "RetentionList",
    "ReviewFace",
    "ReviewView",
    "SubjectPhoto",
    "Suggestion",
    "Task",
    "analysis_counts",
    "annotated_thumbnail",
    "asset_detail",
    "closed_takedowns",
    "detector_status",
    "face_crops",
    "known_face",
    "library_page",
    "list_assets",
    "list_publications",
    "list_takedowns",
    "match_suggestions",
    "next_photo_to_review",
    "original_url",
    "past_retention",
    "people_to_link",
    "person_detection_status",
    "personal_photos",
    "photo_thumbnail",
    "photo_thumbnails",
    "publish_check",
    "review_picture",
    "review_view",
    "subject_photo_view",
    "subject_photos",
    "takedown_summary",
]


@dataclass(frozen=True)
class AssetDetail:
    """One photo with its detections (numbered as on the annotated thumbnail) and where it is published now."""

    asset: Asset
    detections: list[FaceBox]
    uses: list[PhotoUse]


def list_assets(portal: Portal, *, limit: int = 50, offset: int = 0, event_id: int | None = None) -> list[AssetRow]:
    """A page of photos, newest first, with face, person and open-suggestion counts."""
    with portal.db.read() as conn:
        return _assets.list_assets(conn, limit=limit, offset=offset, event_id=event_id)


def asset_detail(portal: Portal, *, asset_id: int) -> AssetDetail:
    """One photo, its detections and its current publications; NotFound for an unknown id."""
    with portal.db.read() as conn:
        asset = _assets.get_asset(conn, asset_id)
        return AssetDetail(asset, _assets.asset_detections(conn, asset_id), _assets.current_uses(conn, asset_id))


def analysis_counts(portal: Portal) -> AnalysisCounts:
    """How many photos are pending, analysed, or failed."""
    with portal.db.read() as conn:
        return _assets.count_by_state(conn)


def detector_status(portal: Portal) -> list[str]:
    """One sentence per detector saying whether it runs and why not (loads no model)."""
    return _detector_status(portal.settings)


def person_detection_status(settings: Settings) -> str:
    """Whether person detection is on (file and size) or how to turn it on; needs no database, loads no model."""
    return _person_status_line(settings)


def annotated_thumbnail(portal: Portal, *, detail: AssetDetail) -> bytes:
    """The photo's thumbnail (JPEG) with each detection's box drawn and numbered, for staff review."""
    asset = detail.asset
    thumb = Image.open(io.BytesIO(portal.blobs.get(asset.thumb_key or asset.blob_key)))
    return encode_jpeg(highlight(thumb, [d.box for d in detail.detections]))


def original_url(portal: Portal, *, asset_id: int) -> str | None:
    """A short-lived signed URL of the full-size original (hosted storage only; None for the local store)."""
    with portal.db.read() as conn:
        key = _assets.get_asset(conn, asset_id).blob_key
    return portal.blobs.signed_url(key, seconds=portal.settings.signed_url_seconds)


def match_suggestions(portal: Portal, *, subject_id: str, event_id: int | None = None) -> list[Suggestion]:
    """The stored, still open face-matching suggestions for a person (optionally in one event's photos), best
    first. Computing new ones writes them: that is the `suggest_matches` service."""
    stmt = (
        select(detections.c.id, detections.c.asset_id, detections.c.link_distance, detections.c.link_status)
        .join(assets, assets.c.id == detections.c.asset_id)
        .where(
            detections.c.subject_id == subject_id,
            detections.c.link_method == "match",
            detections.c.link_status == "suggested",
            assets.c.deleted_at.is_(None),
        )
        .order_by(detections.c.link_distance, detections.c.id)
    )
    if event_id is not None:
        stmt = stmt.where(assets.c.event_id == event_id)
    with portal.db.read() as conn:
        return [
            Suggestion(r.id, r.asset_id, subject_id, float(r.link_distance or 0.0), r.link_status)
            for r in conn.execute(stmt)
        ]


def subject_photos(portal: Portal, *, subject_id: str) -> list[SubjectPhoto]:
    """Every photo a person is confirmed in, with where it is published (their own view: not audited)."""
    return _renditions.subject_photos(portal.db, subject_id=subject_id)


def personal_photos(portal: Portal, *, subject_id: str) -> list[PersonalPhoto]:
    """A person's own photos for their page, newest first: event, day and publications (their own view: not audited)."""
    with portal.db.read() as conn:
        return _disputes.personal_photos(conn, subject_id=subject_id)


def subject_photo_view(portal: Portal, *, asset_id: int, subject_id: str) -> bytes:
    """A photo as the person in it may see it: everyone else blurred, their own face outlined."""
    return _renditions.subject_view(
        portal.db, portal.blobs, asset_id=asset_id, subject_id=subject_id, max_pixels=portal.settings.max_image_pixels
    )


def past_retention(portal: Portal, *, now: datetime | None = None) -> RetentionList:
    """The retention period in force and the photos `jobs run` flagged past it, with any open publication."""
    with portal.db.read() as conn:
        return _retention.past_retention(conn, now=now or utcnow())


def publish_check(portal: Portal, *, asset_id: int, purpose: str, now: datetime | None = None) -> PublishCheck:
    """Who in a photo blocks publishing it for a purpose, and why (empty when every face is covered)."""
    with portal.db.read() as conn:
        return _publications.publish_check(conn, asset_id=asset_id, purpose=purpose, now=now or utcnow())


def list_publications(portal: Portal, *, include_ended: bool = False) -> list[Publication]:
    """Current publications, newest first (with `include_ended`, the ended ones too)."""
    with portal.db.read() as conn:
        return _publications.list_publications(conn, include_ended=include_ended)


def list_takedowns(portal: Portal, *, open_only: bool = True, limit: int = 200) -> list[Task]:
    """Open takedown and notify-partner tasks, oldest first; or every task, newest first."""
    with portal.db.read() as conn:
        return _takedowns.list_tasks(conn, open_only=open_only, limit=limit)


def closed_takedowns(portal: Portal, *, limit: int = 50) -> list[Task]:
    """The most recently closed tasks, with who closed them and how."""
    with portal.db.read() as conn:
        return _takedowns.list_closed(conn, limit=limit)


def takedown_summary(portal: Portal) -> OpenSummary:
    """How many tasks are open and since when the oldest."""
    with portal.db.read() as conn:
        return _takedowns.open_summary(conn)


def photo_thumbnail(portal: Portal, *, asset_id: int) -> bytes | None:
    """The stored thumbnail (JPEG) of a photo, or None when its file is gone."""
    with portal.db.read() as conn:
        asset = _assets.get_asset(conn, asset_id)
    try:
        return portal.blobs.get(asset.thumb_key or asset.blob_key)
    except NotFound:
        return None


def photo_thumbnails(portal: Portal, *, asset_ids: Sequence[int]) -> dict[int, bytes]:
    """The stored thumbnails (JPEG) of these photos, read in one query (a grid shows many per rerun); a photo that
    is gone, or whose file is, has none."""
    with portal.db.read() as conn:
        rows = conn.execute(
            select(assets.c.id, assets.c.thumb_key, assets.c.blob_key).where(assets.c.id.in_(list(asset_ids)))
        ).all()
    found: dict[int, bytes] = {}
    for row in rows:
        try:
            found[row.id] = portal.blobs.get(row.thumb_key or row.blob_key)
        except NotFound:
            continue
    return found


def library_page(
    portal: Portal, *, chosen: LibraryFilter, limit: int = 24, offset: int = 0, now: datetime | None = None
) -> LibraryPage:
    """One page of the review desk's grid: the filtered library, newest first, with a consent badge per photo."""
    with portal.db.read() as conn:
        return _library.library_page(conn, chosen=chosen, now=now or utcnow(), limit=limit, offset=offset)


def next_photo_to_review(
    portal: Portal, *, chosen: LibraryFilter, after_id: int | None, now: datetime | None = None
) -> int | None:
    """The next photo (in grid order, after `after_id`, wrapping) matching the filter with faces still to review."""
    with portal.db.read() as conn:
        return _library.next_to_review(conn, chosen=chosen, after_id=after_id, now=now or utcnow())


def review_view(portal: Portal, *, asset_id: int, now: datetime | None = None) -> ReviewView:
    """One photo on the desk: numbered detections, linked people's consent per purpose, badge, publications."""
    with portal.db.read() as conn:
        return _review.review_view(conn, asset_id=asset_id, now=now or utcnow())


def review_picture(portal: Portal, *, view: ReviewView) -> bytes:
    """The photo's thumbnail (JPEG) with each detection outlined in its state's colour and numbered as listed."""
    return _review.numbered_picture(portal.blobs, view.asset, view.faces)


def face_crops(portal: Portal, *, view: ReviewView) -> dict[int, bytes]:
    """A crop (JPEG) of every detection of the photo, by detection id, made from the thumbnail and not stored."""
    try:
        return _review.face_crops(portal.blobs, view.asset, [f.face for f in view.faces])
    except NotFound:
        return {}


def people_to_link(
    portal: Portal, *, search: str, event_id: int | None = None, limit: int = 8
) -> tuple[int, list[PersonChoice]]:
    """People matching a name or e-mail search (the photo's event's first) and how many match in all."""
    with portal.db.read() as conn:
        return _review.find_people(conn, search=search, event_id=event_id, limit=limit)


def known_face(portal: Portal, *, detection_id: int) -> bytes | None:
    """The crop of a face confirmed as someone (to show who a person offered for linking is), or None."""
    with portal.db.read() as conn:
        return _review.known_face(conn, portal.blobs, detection_id=detection_id)
