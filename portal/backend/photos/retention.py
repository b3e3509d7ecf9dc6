"""Retention of the photo archive (R17): flag photos past the retention period, list them, delete one.

The period is the longest `retention_days` among the active, non-biometric purposes that have one: a photo may serve
any purpose, so it is kept as long as the longest of them allows. A photo's date is when it was taken (EXIF), or
else when it was uploaded. With no period set on any purpose nothing is ever flagged.

Deleting removes the original, the thumbnail, stored renditions, the detections and the risk rows; the `assets` row
stays as a tombstone (`deleted_at`, filename blanked: it may carry a name) because ledger entries may refer to the
photo, and its sha256 stays so the same file cannot be imported again unnoticed. The ledger is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select, update

from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.schema import asset_uses, assets, detections, purposes
from portal.backend.platform.errors import ConsentStateError, NotFound
from portal.backend.risk import index as risk_index
from portal.backend.staff.audit import audit

RENDITIONS_PREFIX = "renditions/{asset_id}/"


def retention_days(conn: Connection) -> int | None:
    """The archive's retention period in days, or None when no (active, non-biometric) purpose has one."""
    value = conn.execute(
        select(func.max(purposes.c.retention_days)).where(
            purposes.c.active.is_(True), purposes.c.biometric.is_(False), purposes.c.retention_days.is_not(None)
        )
    ).scalar()
    return int(value) if value is not None else None


def flag_past_retention(conn: Connection, *, now: datetime) -> int:
    """Flag photos past the retention period (not yet flagged or deleted), in the caller's transaction; returns how
    many were flagged now. A flag whose photo is no longer past it (a period was made longer) is lifted."""
    days = retention_days(conn)
    date = func.coalesce(assets.c.taken_at, assets.c.uploaded_at)
    live = assets.c.deleted_at.is_(None)
    if days is None:
        conn.execute(
            update(assets).where(live, assets.c.retention_flagged_at.is_not(None)).values(retention_flagged_at=None)
        )
        return 0
    cutoff = now - timedelta(days=days)
    conn.execute(
        update(assets)
        .where(live, assets.c.retention_flagged_at.is_not(None), date >= cutoff)
        .values(retention_flagged_at=None)
    )
    flagged = conn.execute(
        update(assets)
        .where(live, assets.c.retention_flagged_at.is_(None), date < cutoff)
        .values(retention_flagged_at=now)
    ).rowcount
    return int(flagged or 0)


@dataclass(frozen=True)
class PastRetention:
    """A photo flagged past retention, as the manager's list shows it."""

    asset_id: int
    filename: str
    date: datetime
    age_days: int
    period_days: int
    flagged_at: datetime
    publications: tuple[str, ...]  # "purpose: where" of each open publication (deletion waits for them to end)


@dataclass(frozen=True)
class RetentionList:
    """The retention period in force (None: no purpose has one, nothing is flagged) and the flagged photos."""

    period_days: int | None
    photos: list[PastRetention]


def past_retention(conn: Connection, *, now: datetime) -> RetentionList:
    """Photos the daily job flagged past retention and nobody has deleted yet, oldest first."""
    days = retention_days(conn)
    date = func.coalesce(assets.c.taken_at, assets.c.uploaded_at).label("date")
    rows = conn.execute(
        select(assets.c.id, assets.c.filename, assets.c.taken_at, assets.c.uploaded_at, assets.c.retention_flagged_at)
        .where(assets.c.deleted_at.is_(None), assets.c.retention_flagged_at.is_not(None))
        .order_by(date, assets.c.id)
    ).all()
    uses: dict[int, list[str]] = {}
    if rows:
        for u in conn.execute(
            select(asset_uses.c.asset_id, purposes.c.code, asset_uses.c.place)
            .join(purposes, purposes.c.id == asset_uses.c.purpose_id)
            .where(asset_uses.c.asset_id.in_([r.id for r in rows]), asset_uses.c.until.is_(None))
            .order_by(asset_uses.c.id)
        ):
            uses.setdefault(u.asset_id, []).append(f"{u.code}: {u.place}")
    photos = []
    for r in rows:
        taken = r.taken_at or r.uploaded_at
        photos.append(
            PastRetention(
                asset_id=r.id,
                filename=r.filename,
                date=taken,
                age_days=(now - taken).days,
                period_days=days or 0,
                flagged_at=r.retention_flagged_at,
                publications=tuple(uses.get(r.id, ())),
            )
        )
    return RetentionList(days, photos)


@dataclass(frozen=True)
class DeletedPhoto:
    """A photo deleted past retention: its id, the blob keys to remove, and whether it was deleted before."""

    asset_id: int
    blob_keys: tuple[str, ...]
    detections: int
    already: bool


def delete_photo(conn: Connection, *, asset_id: int, actor: Actor, now: datetime) -> DeletedPhoto:
    """Delete a flagged photo's detections and risk rows and make its row a tombstone, audited, in the caller's
    transaction; the caller removes the returned blobs after the commit. A photo deleted before returns its keys
    again (a blob removal that failed can be retried); one with an open publication is refused."""
    row = conn.execute(
        select(
            assets.c.id,
            assets.c.blob_key,
            assets.c.thumb_key,
            assets.c.deleted_at,
            assets.c.retention_flagged_at,
            assets.c.taken_at,
            assets.c.uploaded_at,
        ).where(assets.c.id == asset_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"No image with id {asset_id}.")
    keys = tuple(k for k in (row.blob_key, row.thumb_key) if k)
    if row.deleted_at is not None:
        return DeletedPhoto(asset_id, keys, 0, already=True)
    if row.retention_flagged_at is None:
        raise ConsentStateError(
            f"Photo {asset_id} is not past retention (the daily job flags photos older than the longest retention "
            "period); only those are deleted here."
        )
    open_uses = conn.execute(
        select(purposes.c.code, asset_uses.c.place)
        .join(purposes, purposes.c.id == asset_uses.c.purpose_id)
        .where(asset_uses.c.asset_id == asset_id, asset_uses.c.until.is_(None))
    ).all()
    if open_uses:
        where = "; ".join(f"{u.code}: {u.place}" for u in open_uses)
        raise ConsentStateError(
            f"Photo {asset_id} is still published ({where}). End the publication first, then delete the photo."
        )
    removed = conn.execute(delete(detections).where(detections.c.asset_id == asset_id)).rowcount or 0
    # With no detections left the photo has no risk rows; refreshing deletes the old ones the same way as always.
    risk_index.refresh_assets(conn, [asset_id])
    conn.execute(update(assets).where(assets.c.id == asset_id).values(deleted_at=now, filename="", analysis_error=None))
    date = row.taken_at or row.uploaded_at
    audit(
        conn,
        actor=actor.ref,
        action="delete_photo",
        target_type="asset",
        target_id=str(asset_id),
        detail={
            "reason": "past_retention",
            "period_days": retention_days(conn),
            "photo_date": date.isoformat(),
            "detections": int(removed),
        },
        now=now,
    )
    return DeletedPhoto(asset_id, keys, int(removed), already=False)


def remove_blobs(blobs: BlobStore, deleted: DeletedPhoto) -> list[str]:
    """Remove a deleted photo's original, thumbnail and stored renditions; returns the keys that could not be."""
    keys = list(deleted.blob_keys) + blobs.list_keys(RENDITIONS_PREFIX.format(asset_id=deleted.asset_id))
    left: list[str] = []
    for key in keys:
        try:
            blobs.delete(key)
        except Exception:  # reported to the caller, who can run the delete again
            left.append(key)
    return left


__all__ = [
    "DeletedPhoto",
    "PastRetention",
    "RetentionList",
    "delete_photo",
    "flag_past_retention",
    "past_retention",
    "remove_blobs",
    "retention_days",
]
