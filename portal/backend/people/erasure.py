"""Erasure (Art. 17, R20): blur the person out of stored images, drop their personal data, keep pseudonymous proof."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from portal.backend.consent.records import Context, record_decisions, withdrawable
from portal.backend.ops.outbox import forget_recipient, queue
from portal.backend.people.duplicates import delete_pending, forget_merged
from portal.backend.people.paper import scan_prefix
from portal.backend.people.private import forget
from portal.backend.photos.assets import blob_keys
from portal.backend.photos.face_templates import delete_biometrics
from portal.backend.photos.takedowns import open_for_erasure
from portal.backend.photos.vision.intake import encode_jpeg, make_thumbnail, prepare_image
from portal.backend.photos.vision.redaction import blur_regions
from portal.backend.photos.vision.schemas import Box
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.schema import (
    assets,
    detections,
    receipts,
    subject_links,
    subjects,
)
from portal.backend.platform.errors import ConsentStateError, UnknownSubject
from portal.backend.risk import index as risk_index
from portal.backend.staff.audit import audit


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure did."""

    subject_id: str
    consents_withdrawn: int
    images_redacted: int
    renditions_deleted: int
    templates_deleted: int
    takedown_tasks: int
    scans_deleted: int = 0
    receipts_deleted: int = 0
    messages_cancelled: int = 0
    # Duplicates merged into this person earlier: their receipts and salts went with this erasure.
    merged_ids: tuple[str, ...] = ()


# Tables whose rows an erasure overwrites or deletes: their old versions are scrubbed from the database files.
ERASED_TABLES = (
    "subjects",
    "subject_private",
    "subject_templates",
    "detections",
    "outbox",
    "receipts",
    "pending_changes",
)


def _confirmed_faces(conn: Connection, subject_id: str) -> dict[int, list[Box]]:
    """Boxes of the person's confirmed faces, per asset."""
    rows = conn.execute(
        select(detections.c.asset_id, detections.c.x, detections.c.y, detections.c.w, detections.c.h).where(
            detections.c.subject_id == subject_id, detections.c.link_status == "confirmed"
        )
    ).all()
    faces: dict[int, list[Box]] = {}
    for r in rows:
        faces.setdefault(r.asset_id, []).append(Box(r.x, r.y, r.w, r.h))
    return faces


def _redact_asset(
    conn: Connection, blobs: BlobStore, asset_id: int, boxes: list[Box], *, max_pixels: int
) -> tuple[str, str, str, int]:
    """Write a blurred original and thumbnail; returns (old key, new key, old thumb, renditions deleted)."""
    row = conn.execute(
        select(assets.c.blob_key, assets.c.thumb_key, assets.c.sha256).where(assets.c.id == asset_id)
    ).one()
    image = prepare_image(blobs.get(row.blob_key), max_pixels=max_pixels).image
    redacted = blur_regions(image, boxes)
    original_key, thumb_key = blob_keys(row.sha256, "image/jpeg")
    new_key = original_key.replace(".jpg", "-redacted.jpg")
    new_thumb = thumb_key.replace(".jpg", "-redacted.jpg")
    # The stored image is replaced; the sha256 of the upload stays, so re-uploading the same file is recognised
    # as this (redacted) asset instead of bringing the person back.
    blobs.put(new_key, encode_jpeg(redacted, quality=92), content_type="image/jpeg")
    blobs.put(new_thumb, make_thumbnail(redacted), content_type="image/jpeg")
    stale = blobs.list_keys(f"renditions/{asset_id}/")
    for key in stale:
        blobs.delete(key)
    return row.blob_key, new_key, row.thumb_key or "", len(stale)


Redaction = tuple[str, str, str, int]  # (old key, new key, old thumbnail key, renditions deleted)


def redact_images(conn: Connection, blobs: BlobStore, *, subject_id: str, max_pixels: int) -> dict[int, Redaction]:
    """Check the person can be erased and write blurred copies of every image they are confirmed in.

    Runs before the erasure's transaction: the blurred blobs exist before the rows point at them, and if the
    transaction fails, running the erasure again is safe.
    """
    row = conn.execute(select(subjects.c.erased_at).where(subjects.c.id == subject_id)).one_or_none()
    if row is None:
        raise UnknownSubject(subject_id)
    if row.erased_at is not None:
        raise ConsentStateError(f"Subject {subject_id} was already erased on {row.erased_at:%Y-%m-%d}.")
    return {
        aid: _redact_asset(conn, blobs, aid, boxes, max_pixels=max_pixels)
        for aid, boxes in _confirmed_faces(conn, subject_id).items()
    }


def apply_erasure(
    conn: Connection,
    blobs: BlobStore,
    *,
    subject_id: str,
    actor: Actor,
    redactions: dict[int, Redaction],
    now: datetime,
    confirm: bool = False,
) -> tuple[ErasureReport, list[str]]:
    """The erasure's rows in the caller's transaction: withdrawals, template, redacted assets, unlinked faces,
    risk, takedowns, revoked links, cancelled and blanked messages, deleted receipts and private notes, blanked
    personal data and the audit row; returns the report and the keys of the blobs (paper scans, receipt files) to
    delete after the commit. With `confirm` (e-mail is configured) a confirmation to the person's address is queued,
    holding that address only; the sender blanks it once the e-mail is sent.

    What remains is pseudonymous: the ledger entries (purpose, text version, action, channel, time, and HMACs whose
    salt is deleted here) as proof of what was agreed and when (Art. 7(1); EDPB 05/2020 para. 104-108).
    """
    email, locale = conn.execute(select(subjects.c.email, subjects.c.locale).where(subjects.c.id == subject_id)).one()
    decisions = withdrawable(conn, subject_id=subject_id, now=now)
    withdrawn = record_decisions(
        conn,
        subject_id=subject_id,
        decisions=decisions,
        now=now,
        context=Context(
            # The person's own request through their link, or staff acting on a request they received.
            channel="portal" if actor.kind in ("subject", "guardian") else "staff",
            actor=actor.ref,
            evidence={"reason": "erasure request (Art. 17)"},
        ),
    )
    templates = delete_biometrics(conn, subject_id)
    # Before the photos are re-judged: tasks the withdrawals above opened become erasure tasks, which stay open
    # when the blurred photo is found usable (the published copy still shows the person).
    takedowns = _queue_takedowns(conn, list(redactions), now)
    for asset_id, (_old, new_key, _thumb, _n) in redactions.items():
        conn.execute(
            update(assets)
            .where(assets.c.id == asset_id)
            .values(blob_key=new_key, thumb_key=new_key.replace("originals/", "thumbs/"), content_type="image/jpeg")
        )
    shown_in = (
        conn.execute(select(detections.c.asset_id).distinct().where(detections.c.subject_id == subject_id))
        .scalars()
        .all()
    )
    conn.execute(
        update(detections)
        .where(detections.c.subject_id == subject_id)
        .values(
            subject_id=None,
            link_method=None,
            link_status=None,
            link_distance=None,
            identifiable=False,
            template=None,
        )
    )
    # Blurred out: no longer a person the photos need consent from.
    risk_index.refresh_assets(conn, shown_in, now=now)
    scans = blobs.list_keys(scan_prefix(subject_id))
    # Receipts print the name, the guardian and notes: their files go after the commit, their rows now (a pending
    # row would otherwise be rendered again by the daily job). The ledger entries they pointed at remain.
    receipt_files = blobs.list_keys(receipt_prefix(subject_id))
    receipts_deleted = conn.execute(delete(receipts).where(receipts.c.subject_id == subject_id)).rowcount or 0
    messages = forget_recipient(conn, subject_id=subject_id, email=email, now=now)
    if confirm and email:
        # After forget_recipient, which would cancel it: the address and the language only, no name, no link, and
        # no subject_id (the sender composes it without the erased person's row).
        queue(
            conn,
            kind="erasure_confirmation",
            now=now,
            recipient=email,
            payload={"locale": locale},
            dedupe_key=f"erasure:{subject_id}",
        )
    forget(conn, subject_id)  # the salt: the HMACs in the ledger now link to no one
    # Choices still waiting for confirmation, and what is left of duplicates merged into this person (their
    # receipts print the name; their salts link their HMACs).
    delete_pending(conn, subject_id)
    merged = forget_merged(conn, subject_id)
    if merged:
        receipts_deleted += conn.execute(delete(receipts).where(receipts.c.subject_id.in_(merged))).rowcount or 0
    conn.execute(
        update(subject_links)
        .where(subject_links.c.subject_id == subject_id, subject_links.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(
        update(subjects)
        .where(subjects.c.id == subject_id)
        .values(
            display_name=None,
            email=None,
            email_confirmed_at=None,
            phone=None,
            birth_year=None,
            birth_month=None,
            birth_day=None,
            guardian_name=None,
            guardian_verification=None,
            erased_at=now,
        )
    )
    report = ErasureReport(
        subject_id=subject_id,
        consents_withdrawn=len(withdrawn),
        images_redacted=len(redactions),
        renditions_deleted=sum(r[3] for r in redactions.values()),
        templates_deleted=templates,
        takedown_tasks=takedowns,
        scans_deleted=len(scans),
        receipts_deleted=receipts_deleted,
        messages_cancelled=messages,
        merged_ids=tuple(merged),
    )
    audit(
        conn,
        actor=actor.ref,
        action="erase_subject",
        target_type="subject",
        target_id=subject_id,
        now=now,
        detail={k: v for k, v in report.__dict__.items() if k not in ("subject_id", "merged_ids")},
    )
    return report, scans + receipt_files


def receipt_prefix(subject_id: str) -> str:
    """Blob-key prefix of a person's receipt files (see consent.receipts.receipt_blob_keys)."""
    return f"receipts/{subject_id}/"


def delete_replaced_blobs(blobs: BlobStore, redactions: dict[int, Redaction], scans: list[str]) -> None:
    """After the commit: the unblurred originals and thumbnails, the signed paper scans and the receipts go."""
    for old_key, new_key, old_thumb, _ in redactions.values():
        # Only after the commit: until then the database still points at the old blobs.
        if old_key != new_key:
            blobs.delete(old_key)
        if old_thumb and old_thumb != new_key.replace("originals/", "thumbs/"):
            blobs.delete(old_thumb)
    for key in scans:
        # Signed paper forms carry the name and signature; after the commit the ledger keeps only their SHA-256.
        blobs.delete(key)


def delete_leftover_receipts(blobs: BlobStore, subject_id: str) -> int:
    """After the commit: receipt files a render that raced the erasure may have stored since; returns how many."""
    keys = blobs.list_keys(receipt_prefix(subject_id))
    for key in keys:
        blobs.delete(key)
    return len(keys)


def _queue_takedowns(conn: Connection, asset_ids: list[int], now: datetime) -> int:
    """One takedown task (and a notify-partner task for a partner purpose) per place an affected asset is still
    published (R10, Art. 17(2)); returns the number of publications."""
    return open_for_erasure(conn, asset_ids=asset_ids, now=now)
