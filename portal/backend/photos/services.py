"""What staff do with photos, one function per action: import, analyse, faces, matching, publications, renditions.

Each function takes the acting `Actor`, owns its transaction and writes the audit row (and the risk-index update
where links change) in it. Blobs are written before any row, and removed again if the row cannot be written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select

from portal.backend.photos import assets as _assets
from portal.backend.photos import biometrics as _biometrics
from portal.backend.photos import disputes as _disputes
from portal.backend.photos import matching_batch as _matching
from portal.backend.photos import publications as _publications
from portal.backend.photos import renditions as _renditions
from portal.backend.photos import retention as _retention
from portal.backend.photos import review as _review
from portal.backend.photos import takedowns as _takedowns
from portal.backend.photos.analysis import RunSummary, run_worker, run_workers
from portal.backend.photos.assets import MAX_FILE_BYTES, iter_image_files
from portal.backend.photos.biometrics import FaceLink, Suggestion
from portal.backend.photos.disputes import AlreadyDisputed, NotMe, NotYourPhoto
from portal.backend.photos.matching_batch import MatchRun
from portal.backend.photos.renditions import Rendition
from portal.backend.photos.retention import DeletedPhoto
from portal.backend.photos.vision import weights as _weights
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import Settings
from portal.backend.platform.db.schema import events
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import (
    AuthError,
    ConfigError,
    DatabaseUnavailable,
    PortalError,
    PublishBlocked,
    ServiceUnavailable,
    ValidationError,
)
from portal.backend.platform.runtime import Portal
from portal.backend.platform.text import has_control
from portal.backend.staff.audit import audit

__all__ = [
    "IMAGE_TYPES",
    "MAX_FILE_BYTES",
    "AlreadyDisputed",
    "DeletedPhoto",
    "FaceLink",
    "ImportSummary",
    "MatchRun",
    "NotMe",
    "NotYourPhoto",
    "PublishBlocked",
    "Rendition",
    "RunSummary",
    "Suggestion",
    "analyse_pending",
    "close_task",
    "confirm_face",
    "delete_photo",
    "fetch_person_model",
    "flag_past_retention",
    "import_photos",
    "link_face",
    "mark_not_a_face",
    "not_me",
    "publish_photo",
    "reject_face",
    "render_rendition",
    "restore_face",
    "run_matching",
    "set_matching",
    "suggest_matches",
    "unlink_face",
    "unpublish_photo",
]

# File types the upload widget offers (the intake checks the content, not the name).
IMAGE_TYPES = ("jpg", "jpeg", "png", "webp", "tif", "tiff", "gif")
# Failures of the blob store or the database itself: every further file would fail the same way.
_INFRASTRUCTURE = (ConfigError, ServiceUnavailable, DatabaseUnavailable)
# "stopped": the file at which a failing blob store or database ended the batch.
ImportOutcome = Literal["imported", "duplicate", "rejected", "stopped"]
RejectReason = Literal["wrong_person", "not_identifiable"]


def _require_staff(actor: Actor, role: str = "staff") -> None:
    """Photos hold other people's faces: only staff (or an operator on the server) may work on them."""
    if not actor.can(role):
        raise AuthError(f"Only a signed-in {role} account can do this.")


@dataclass(frozen=True)
class ImportSummary:
    """What one import did: new asset ids, ids of files that were already there, and refused files with reasons."""

    imported: tuple[int, ...]
    duplicates: tuple[int, ...]
    rejected: tuple[tuple[str, str], ...]  # (file name, reason)

    @property
    def offered(self) -> int:
        """How many files were offered."""
        return len(self.imported) + len(self.duplicates) + len(self.rejected)


def _read_files(files: Sequence[tuple[str, bytes]] | Sequence[Path]) -> Iterator[tuple[str, bytes | OSError]]:
    """(name, bytes) pairs from uploads, or from files and folders (read one at a time, so memory stays small)."""
    for item in files:
        if isinstance(item, tuple):
            yield item
            continue
        for path in iter_image_files([item]):
            try:
                yield str(path), path.read_bytes()
            except OSError as exc:  # unreadable file: refused with the reason, the batch goes on
                yield str(path), exc


def import_photos(
    portal: Portal,
    *,
    actor: Actor,
    files: Sequence[tuple[str, bytes]] | Sequence[Path],
    event_id: int | None = None,
    progress: Callable[[str, ImportOutcome], None] | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Import uploads (name, bytes) or files and folders; one audit row for the batch, with its counts.

    Each photo is stored on its own (blobs first, then its row), so a failure part-way keeps every photo imported
    before it whole. A failing blob store or database stops the batch: the error is raised after the audit row
    for what was done so far (if the database still takes it).
    """
    _require_staff(actor)
    if not isinstance(files, Sequence) or isinstance(files, str | bytes):
        raise ValidationError("Give a list of files to import.")
    paths = [f for f in files if isinstance(f, Path)]
    if missing := [str(p) for p in paths if not p.exists()]:
        raise ValidationError(f"No such file or folder: {', '.join(missing)}")
    now = now or utcnow()
    imported: list[int] = []
    duplicates: list[int] = []
    rejected: list[tuple[str, str]] = []
    stopped: PortalError | None = None
    for name, data in _read_files(files):
        outcome: ImportOutcome
        if isinstance(data, OSError):
            rejected.append((name, f"cannot read the file: {data.strerror or data}"))
            outcome = "rejected"
        else:
            try:
                intake = _assets.ingest(
                    portal.db,
                    portal.blobs,
                    data=data,
                    filename=name,
                    max_pixels=portal.settings.max_image_pixels,
                    event_id=event_id,
                    actor=actor,
                    now=now,
                )
            except _INFRASTRUCTURE as exc:
                stopped = exc
                if progress:
                    progress(name, "stopped")
                break
            except PortalError as exc:
                rejected.append((name, str(exc)))
                outcome = "rejected"
            else:
                (imported if intake.created else duplicates).append(intake.asset.id)
                outcome = "imported" if intake.created else "duplicate"
        if progress:
            progress(name, outcome)
    summary = ImportSummary(tuple(imported), tuple(duplicates), tuple(rejected))
    detail: dict[str, object] = {
        "imported": len(imported),
        "duplicates": len(duplicates),
        "rejected": len(rejected),
        "event_id": event_id,
    }
    if stopped is not None:
        detail["stopped"] = type(stopped).__name__
        try:
            _audit_import(portal, actor, detail, now)
        except PortalError:
            pass  # the database may be why the batch stopped; the original error is the one to report
        raise stopped
    if summary.offered:
        _audit_import(portal, actor, detail, now)
    return summary


def _audit_import(portal: Portal, actor: Actor, detail: dict[str, object], now: datetime) -> None:
    """The batch's audit row."""
    with portal.db.write() as conn:
        audit(conn, actor=actor.ref, action="import_photos", target_type="asset", detail=detail, now=now)


def analyse_pending(
    portal: Portal,
    *,
    actor: Actor,
    limit: int | None = None,
    workers: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
    debug_pause_after_claim: float = 0.0,
) -> RunSummary:
    """Detect faces (and persons) in pending photos; each photo's result and risk update commit together.

    One audit row per run that analysed something says who started it and what it found.
    """
    _require_staff(actor)
    if workers < 1:
        raise ValidationError("--workers must be at least 1.")
    if workers > 1 and portal.db.dialect != "postgresql":
        raise ValidationError("Several workers need PostgreSQL (SQLite has one writer); use --workers 1.")
    if workers > 1:
        summary = run_workers(portal.settings, workers=workers)
    else:
        summary = run_worker(
            portal.db,
            portal.blobs,
            portal.settings,
            limit=limit,
            progress=progress,
            pause_after_claim=debug_pause_after_claim,
        )
    if summary.done or summary.failed:
        with portal.db.write() as conn:
            audit(
                conn,
                actor=actor.ref,
                action="analyse_photos",
                target_type="asset",
                detail={"done": summary.done, "failed": summary.failed, "faces": summary.faces},
                now=utcnow(),
            )
    return summary


def link_face(
    portal: Portal,
    *,
    actor: Actor,
    detection_id: int,
    subject_id: str,
    move: bool = False,
    now: datetime | None = None,
) -> FaceLink:
    """Confirm by hand that a face (or person) shows `subject_id`.

    A face confirmed as someone else raises FaceAlreadyLinked naming them, unless `move`; the audit row then names
    both people.
    """
    _require_staff(actor)
    with portal.db.write() as conn:
        return _biometrics.link_detection(
            conn, detection_id=detection_id, subject_id=subject_id, actor=actor, now=now or utcnow(), move=move
        )


def unlink_face(portal: Portal, *, actor: Actor, detection_id: int, now: datetime | None = None) -> FaceLink:
    """Remove the person linked to a face; the face counts as unidentified (at risk) again."""
    _require_staff(actor)
    with portal.db.write() as conn:
        return _biometrics.unlink_detection(conn, detection_id=detection_id, actor=actor, now=now or utcnow())


def mark_not_a_face(portal: Portal, *, actor: Actor, detection_id: int, now: datetime | None = None) -> FaceLink:
    """Say a detection is no face at all (a mission patch, a poster): it stops counting for risk; audited and
    undone with `restore_face`."""
    _require_staff(actor)
    with portal.db.write() as conn:
        return _review.mark_not_a_face(conn, detection_id=detection_id, actor=actor, now=now or utcnow())


def restore_face(portal: Portal, *, actor: Actor, detection_id: int, now: datetime | None = None) -> FaceLink:
    """Undo "not a face" or "not identifiable": the face needs a decision again; audited."""
    _require_staff(actor)
    with portal.db.write() as conn:
        return _review.restore_detection(conn, detection_id=detection_id, actor=actor, now=now or utcnow())


def not_me(portal: Portal, *, actor: Actor, asset_id: int, now: datetime | None = None) -> NotMe:
    """The person on their own page says a photo linked to them is not them: their links in it are rejected, the
    face goes back to review, the photo is re-judged, audited, and managers get a notice; one transaction.

    A second call raises AlreadyDisputed; a photo not linked to them, NotYourPhoto."""
    if actor.kind != "subject" or not actor.id:
        raise AuthError("Only the person themselves can say a photo is not them.")
    with portal.db.write() as conn:
        return _disputes.not_me(conn, subject_id=actor.id, asset_id=asset_id, now=now or utcnow())


def confirm_face(portal: Portal, *, actor: Actor, detection_id: int, now: datetime | None = None) -> FaceLink:
    """Accept a face-matching suggestion: the face is confirmed as the suggested person."""
    _require_staff(actor)
    with portal.db.write() as conn:
        return _biometrics.review_suggestion(
            conn, detection_id=detection_id, accept=True, actor=actor, now=now or utcnow()
        )


def reject_face(
    portal: Portal,
    *,
    actor: Actor,
    detection_id: int,
    reason: RejectReason = "wrong_person",
    now: datetime | None = None,
) -> FaceLink:
    """Say a face is not the suggested person ('wrong_person'), or no identifiable person at all
    ('not_identifiable': a poster, a statue, someone far in the background; it then needs no consent)."""
    _require_staff(actor)
    now = now or utcnow()
    with portal.db.write() as conn:
        if reason == "not_identifiable":
            return _biometrics.mark_unidentifiable(conn, detection_id=detection_id, actor=actor, now=now)
        return _biometrics.review_suggestion(conn, detection_id=detection_id, accept=False, actor=actor, now=now)


def suggest_matches(
    portal: Portal, *, actor: Actor, subject_id: str, event_id: int | None = None, now: datetime | None = None
) -> list[Suggestion]:
    """Compare a person's enrolled template with the library (or one event's photos) and store the suggestions.

    The faces' descriptors are computed from the photos on the fly and discarded; only suggestions are stored."""
    _require_staff(actor)
    now = now or utcnow()
    found = _matching.match_one(
        portal.db,
        portal.blobs,
        subject_id=subject_id,
        event_id=event_id,
        now=now,
        max_pixels=portal.settings.max_image_pixels,
        thresholds=portal.settings.thresholds,
    )
    with portal.db.write() as conn:
        audit(
            conn,
            actor=actor.ref,
            action="match_subject",
            target_type="subject",
            target_id=subject_id,
            detail={"event_id": event_id, "suggestions": len(found)},
            now=now,
        )
    return found


def run_matching(
    portal: Portal,
    *,
    actor: Actor,
    event_id: int | None = None,
    workers: int = 1,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> MatchRun:
    """The matching batch: faces of photos not matched yet (or of `event_id`; at most `limit` photos, the rest in
    `left`) against every person enrolled with valid face-matching consent; only suggestions are stored. Does
    nothing when matching is off (`enabled` False) or nobody is enrolled.

    One audit row per run that looked at photos, with its counts."""
    _require_staff(actor)
    if workers < 1:
        raise ValidationError("--workers must be at least 1.")
    if limit is not None and limit < 1:
        raise ValidationError("--limit must be at least 1.")
    now = now or utcnow()
    if event_id is not None:
        with portal.db.read() as conn:
            if conn.execute(select(events.c.id).where(events.c.id == event_id)).first() is None:
                raise ValidationError(f"No event with id {event_id}.")
    result = _matching.run_batch(
        portal.db,
        portal.blobs,
        now=now,
        max_pixels=portal.settings.max_image_pixels,
        thresholds=portal.settings.thresholds,
        event_id=event_id,
        workers=workers,
        limit=limit,
        progress=progress,
    )
    if result.enabled:
        with portal.db.write() as conn:
            audit(
                conn,
                actor=actor.ref,
                action="match_photos",
                target_type="asset",
                detail={"event_id": event_id, **asdict(result)},
                now=now,
            )
    return result


def flag_past_retention(portal: Portal, *, actor: Actor, now: datetime | None = None) -> int:
    """Flag photos past the archive's retention period for a manager to review (the daily job runs this)."""
    _require_staff(actor, "manager")
    with portal.db.write() as conn:
        return _retention.flag_past_retention(conn, now=now or utcnow())


def delete_photo(portal: Portal, *, actor: Actor, asset_id: int, now: datetime | None = None) -> DeletedPhoto:
    """Delete a photo past retention (manager): its files, renditions, detections and risk rows go, its row stays
    as a tombstone and the ledger is untouched; refused while it is published. Audited.

    The rows change first; the files are removed after the commit. If a file cannot be removed, the error says so
    and running the delete again removes what is left."""
    _require_staff(actor, "manager")
    with portal.db.write() as conn:
        deleted = _retention.delete_photo(conn, asset_id=asset_id, actor=actor, now=now or utcnow())
    left = _retention.remove_blobs(portal.blobs, deleted)
    if left:
        raise ServiceUnavailable(
            f"Photo {asset_id} is deleted, but {len(left)} of its files could not be removed from storage; "
            "run the delete again to remove them."
        )
    return deleted


def set_matching(portal: Portal, *, actor: Actor, enabled: bool, now: datetime | None = None) -> int:
    """Switch library face matching on or off (admin). Photos keep no templates (the batch describes faces in
    memory); off also clears any a version before 0008 left. Returns how many were cleared."""
    _require_staff(actor, "admin")
    with portal.db.write() as conn:
        return _biometrics.set_matching_enabled(conn, enabled=enabled, actor=actor, now=now or utcnow())


def publish_photo(
    portal: Portal,
    *,
    actor: Actor,
    asset_id: int,
    purpose: str,
    where: str,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> int:
    """Record that a photo is published for a purpose at a place (what a takedown must reach); returns the use id.

    Refused with PublishBlocked, naming who blocks it and why, unless every face in it is covered for the purpose;
    an admin may publish anyway with an `override_reason` (at most 300 characters), which is stored with the risk
    reasons it accepts (only new reasons open a takedown later) and audited with the blockers.
    """
    _require_staff(actor)
    now = now or utcnow()
    where = _assets.clean_place(where)  # a bad place is the first thing to fix, whoever is in the photo
    reason = None if override_reason is None else override_reason.strip()
    if override_reason is not None:
        if not actor.can("admin"):
            raise AuthError("Only an admin can publish a photo despite missing consent.")
        if not reason or len(reason) > 300:
            raise ValidationError("Give the reason for publishing despite missing consent (at most 300 characters).")
        if has_control(reason):
            raise ValidationError("The override reason contains control or invisible formatting characters.")
    with portal.db.write() as conn:
        check = _publications.publish_check(conn, asset_id=asset_id, purpose=purpose, now=now)
        if not check.ok and reason is None:
            hint = (
                "To publish it anyway, give an override reason."
                if actor.can("admin")
                else "An admin can publish it anyway, giving a reason."
            )
            raise PublishBlocked(
                f"Photo #{asset_id} cannot be published for {check.purpose}: {check.sentence()}. {hint}",
                check.blockers,
            )
        accepted = 0 if check.ok else check.reasons
        return _assets.record_use(
            conn,
            asset_id=asset_id,
            purpose=purpose,
            place=where,
            actor=actor,
            now=now,
            accepted_reasons=accepted,
            # An override with nothing to override is not recorded as one.
            override_reason=None if check.ok else reason,
            blockers=[b.to_json() for b in check.blockers],
        )


def unpublish_photo(portal: Portal, *, actor: Actor, use_id: int, now: datetime | None = None) -> list[int]:
    """Record that a publication has ended; its open takedown task is done (its id goes into the audit row).
    Returns the ids of the tasks it closed."""
    _require_staff(actor)
    with portal.db.write() as conn:
        return _assets.end_use(conn, use_id=use_id, actor=actor, now=now or utcnow())


def close_task(
    portal: Portal, *, actor: Actor, task_id: int, note: str, now: datetime | None = None
) -> _takedowns.Task:
    """Record that the partner who received a photo was told to stop using and erase it (Art. 17(2), 19): closes a
    notify_partner task with a short note, audited. Takedown tasks close by ending the publication instead."""
    _require_staff(actor)
    now = now or utcnow()
    with portal.db.write() as conn:
        task = _takedowns.close_partner_task(conn, task_id=task_id, note=note, actor=actor, now=now)
        audit(
            conn,
            actor=actor.ref,
            action="close_takedown_task",
            target_type="asset",
            target_id=str(task.asset_id),
            detail={"task_id": task.id, "kind": task.kind, "use_id": task.use_id, "note": task.closed_note},
            now=now,
        )
        return task


def render_rendition(
    portal: Portal,
    *,
    actor: Actor,
    asset_id: int,
    purpose: str | None = None,
    keep_subject: str | None = None,
    now: datetime | None = None,
) -> Rendition:
    """A JPEG of the photo with every face blurred that lacks valid consent for `purpose` (or that is not
    `keep_subject`); audited, because it takes a copy of people's faces out of the portal."""
    _require_staff(actor)
    now = now or utcnow()
    result = _renditions.safe_rendition(
        portal.db,
        portal.blobs,
        asset_id=asset_id,
        purpose=purpose,
        keep_subject=keep_subject,
        max_pixels=portal.settings.max_image_pixels,
        now=now,
    )
    with portal.db.write() as conn:
        audit(
            conn,
            actor=actor.ref,
            action="render_rendition",
            target_type="asset",
            target_id=str(asset_id),
            detail={"purpose": purpose, "keep_subject": keep_subject, "blurred": result.blurred, "kept": result.kept},
            now=now,
        )
    return result


def fetch_person_model(
    settings: Settings,
    *,
    actor: Actor,
    force: bool = False,
    url: str | None = None,
    sha256: str | None = None,
    timeout: float = 30.0,
) -> tuple[Path, bool]:
    """Download the pinned person-detection weights into the data folder (only when asked); (path, downloaded).

    `url`/`sha256` replace the pinned release (a mirror, or a local server in tests); the hash is always checked.
    """
    _require_staff(actor, "admin")
    return _weights.fetch_weights(
        settings,
        url=url or _weights.MODEL_URL,
        sha256=sha256 or _weights.MODEL_SHA256,
        force=force,
        timeout=timeout,
    )
