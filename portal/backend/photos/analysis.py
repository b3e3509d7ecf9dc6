"""The analysis queue: pending assets -> face (and person) detections, one asset at a time, never half-written.

Analysis stores boxes only, never a face template (Art. 9, EDPB 3/2019): matching computes descriptors in memory
later, in the matching batch (`portal.backend.photos.matching_batch`).
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.photos.vision.intake import prepare_image
from portal.backend.photos.vision.persons import PersonDetector, load_person_detector
from portal.backend.photos.vision.schemas import Detection
from portal.backend.photos.vision.weights import resolve_weights
from portal.backend.platform.blobs import BlobStore, make_blob_store
from portal.backend.platform.config import Settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, detections
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ConfigError, PortalError, ServiceUnavailable
from portal.backend.risk import index as risk_index

_PENDING = select(assets.c.id).where(assets.c.analysis_state == "pending").order_by(assets.c.id).limit(1)


@dataclass
class Detectors:
    """The detectors of one worker process, loaded once."""

    faces: FaceAnalyzer
    persons: PersonDetector | None
    person_status: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Detectors:
        """Face detector always; person detector only with usable YOLO weights."""
        choice = resolve_weights(settings)  # PORTAL_YOLO_WEIGHTS, else the file `models fetch` put in data_dir
        if choice.path is None:
            persons, status = None, choice.reason
        else:
            persons, status = load_person_detector(str(choice.path))
        return cls(FaceAnalyzer(model=settings.face_detector), persons, status)

    @property
    def names(self) -> str:
        """Detector names recorded on each asset."""
        names = [f"dlib-{self.faces_model}"]
        if self.persons is not None:
            names.append("yolo")
        return ",".join(names)

    @property
    def faces_model(self) -> str:
        """'hog' or 'cnn'."""
        return getattr(self.faces, "model", "hog")

    def run(self, data: bytes, *, max_pixels: int) -> list[Detection]:
        """Detect faces and persons in an image file's bytes: boxes only, never a face template."""
        image = prepare_image(data, max_pixels=max_pixels).image
        found = list(self.faces.analyze(image, with_templates=False))
        if self.persons is not None:
            found.extend(self.persons.detect(image))
        return found


@dataclass(frozen=True)
class RunSummary:
    """What one `analyze` run did."""

    done: int
    failed: int
    faces: int
    persons: int
    person_status: str


def _store(
    conn: Connection, asset_id: int, found: list[Detection], *, detectors: Detectors, now: datetime
) -> tuple[int, int]:
    """Write all detections of an asset and mark it done, in the caller's transaction."""
    rows = [
        {
            "asset_id": asset_id,
            "kind": d.kind,
            "x": d.box.x,
            "y": d.box.y,
            "w": d.box.w,
            "h": d.box.h,
            "score": d.score,
            "detector": d.detector,
            "created_at": now,
        }
        for d in found
    ]
    if rows:
        conn.execute(insert(detections), rows)
    conn.execute(
        update(assets)
        .where(assets.c.id == asset_id)
        .values(analysis_state="done", analysis_error=None, analyzed_at=now, detectors=detectors.names)
    )
    risk_index.refresh_assets(conn, [asset_id])
    faces = sum(1 for d in found if d.kind == "face")
    return faces, len(found) - faces


def _fail(conn: Connection, asset_id: int, message: str, now: datetime) -> None:
    """Mark an asset as failed with the reason (a broken file is not retried forever)."""
    conn.execute(
        update(assets)
        .where(assets.c.id == asset_id)
        .values(analysis_state="failed", analysis_error=message[:500], analyzed_at=now)
    )


def analyze_one(
    db: Database,
    blobs: BlobStore,
    detectors: Detectors,
    *,
    max_pixels: int,
    pause_after_claim: float = 0.0,
) -> tuple[str, int, int] | None:
    """Claim the next pending asset, analyse it and store the result; None when the queue is empty.

    PostgreSQL: the claim is a row lock (FOR UPDATE SKIP LOCKED) held until the result is committed, so several
    workers never take the same asset and a crash rolls back to 'pending'. SQLite: the claim is a plain read, the
    analysis runs outside any transaction (the single write lock stays free for the app), and the result is written
    only while the asset is still pending, so nothing is half-written or written twice.
    """
    if db.dialect == "postgresql":
        with db.write() as conn:
            claimed = _claim(conn, _PENDING.with_for_update(skip_locked=True))
            if claimed is None:
                return None
            if pause_after_claim:
                _pause(claimed[0], pause_after_claim)
            result = _compute(blobs, claimed, detectors, max_pixels)
            return _write(conn, claimed[0], result, detectors)
    with db.read() as conn:
        claimed = _claim(conn, _PENDING)
    if claimed is None:
        return None
    if pause_after_claim:
        _pause(claimed[0], pause_after_claim)
    result = _compute(blobs, claimed, detectors, max_pixels)
    with db.write() as conn:
        still_pending = conn.execute(
            select(assets.c.id).where(assets.c.id == claimed[0], assets.c.analysis_state == "pending")
        ).scalar()
        if still_pending is None:
            return ("skipped", 0, 0)
        return _write(conn, claimed[0], result, detectors)


def _pause(asset_id: int, seconds: float) -> None:
    """Fault injection for tests: announce the claim, then stall so the worker can be killed mid-asset."""
    print(f"debug: claimed asset {asset_id}; pausing {seconds:g} s", file=sys.stderr, flush=True)
    time.sleep(seconds)


def _claim(conn: Connection, stmt: Any) -> tuple[int, str] | None:
    """(asset id, blob key) of the next pending asset."""
    asset_id = conn.execute(stmt).scalar()
    if asset_id is None:
        return None
    blob_key = conn.execute(select(assets.c.blob_key).where(assets.c.id == asset_id)).scalar_one()
    return asset_id, blob_key


def _compute(
    blobs: BlobStore, claimed: tuple[int, str], detectors: Detectors, max_pixels: int
) -> list[Detection] | str:
    """Detections, or the reason the asset cannot be analysed."""
    _, blob_key = claimed
    try:
        return detectors.run(blobs.get(blob_key), max_pixels=max_pixels)
    except (ServiceUnavailable, ConfigError):
        # The blob store itself is failing (Supabase unreachable, wrong key): not this photo's fault. Raising
        # rolls the claim back, so the photo stays pending for a later run instead of being marked failed.
        raise
    except PortalError as exc:
        return str(exc)
    except Exception as exc:
        return f"analysis failed: {type(exc).__name__}: {exc}"


def _write(
    conn: Connection, asset_id: int, result: list[Detection] | str, detectors: Detectors
) -> tuple[str, int, int]:
    """Store the outcome in `conn`'s transaction."""
    now = utcnow()
    if isinstance(result, str):
        _fail(conn, asset_id, result, now)
        return ("failed", 0, 0)
    faces, persons = _store(conn, asset_id, result, detectors=detectors, now=now)
    return ("done", faces, persons)


def run_worker(
    db: Database,
    blobs: BlobStore,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    pause_after_claim: float = 0.0,
) -> RunSummary:
    """Process pending assets until the queue is empty (or `limit` assets are handled)."""
    detectors = Detectors.from_settings(settings)
    done = failed = faces = persons = 0
    while limit is None or done + failed < limit:
        outcome = analyze_one(
            db, blobs, detectors, max_pixels=settings.max_image_pixels, pause_after_claim=pause_after_claim
        )
        if outcome is None:
            break
        state, f, p = outcome
        if state == "skipped":
            continue
        done += state == "done"
        failed += state == "failed"
        faces += f
        persons += p
        if progress:
            progress(state, f, p)
    return RunSummary(done, failed, faces, persons, detectors.person_status)


def _worker_process(settings: Settings, queue: Any) -> None:
    """Entry point of one worker process (PostgreSQL): its own engine and detectors."""
    db = Database(settings.database_url, pool=settings.pool)
    try:
        queue.put(run_worker(db, make_blob_store(settings), settings))
    except PortalError as exc:
        queue.put(exc)  # the parent waits for one answer per worker; an error is an answer
    finally:
        db.dispose()


def run_workers(settings: Settings, *, workers: int) -> RunSummary:
    """Several worker processes sharing the queue; only PostgreSQL can hand out work to more than one."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker_process, args=(settings, queue)) for _ in range(workers)]
    for p in procs:
        p.start()
    answers = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    errors = [a for a in answers if isinstance(a, PortalError)]
    if errors:
        raise errors[0]
    results = [a for a in answers if isinstance(a, RunSummary)]
    return RunSummary(
        done=sum(r.done for r in results),
        failed=sum(r.failed for r in results),
        faces=sum(r.faces for r in results),
        persons=sum(r.persons for r in results),
        person_status=results[0].person_status if results else "",
    )
