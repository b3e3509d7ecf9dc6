"""The matching batch: describe candidate faces in memory, compare them with enrolled people, keep only suggestions.

No face in a photo ever gets a stored template (Art. 9, EDPB 3/2019). A run loads each photo, computes the 128-d
descriptors of its stored face boxes in memory (dlib's face recognition on the known boxes, no new detection),
compares them with the templates of every person whose face-matching consent is valid now, stores the nearest
person within the suggestion threshold as a suggestion (detection, person, distance), stamps `assets.matched_at`
and drops the descriptors.

Which photos: those not matched yet (`matched_at` NULL) against everyone; photos already matched only against
people who enrolled since, at the event they registered at; or, with `event_id`, every photo of that event against
everyone. Descriptors are computed outside any transaction (several processes with `workers`), and each chunk of
photos is written in one short transaction, which only suggests for faces that are still unlinked and people
whose consent still holds, so a concurrent link, withdrawal or second run is never overwritten.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, update

from portal.backend.photos.biometrics import Suggestion, _matching_allowed, matching_allowed_subjects, suggest_link
from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.photos.vision.intake import prepare_image
from portal.backend.photos.vision.matching import PACKED_SIZE, TemplateIndex
from portal.backend.photos.vision.schemas import TEMPLATE_SIZE, Box
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, detections, organisation, subject_templates, subjects
from portal.backend.platform.errors import ConfigError, ConsentStateError, ServiceUnavailable

# Photos per chunk: one read of their faces, one write of their suggestions (a short hold on SQLite's one writer).
CHUNK = 32


@dataclass(frozen=True)
class MatchRun:
    """What one matching run did (`enabled` False: matching is off and nothing was looked at)."""

    enabled: bool
    photos: int = 0
    faces: int = 0
    enrolled: int = 0
    suggested: int = 0
    confirmed: int = 0
    failed: int = 0  # photos whose file could not be read; they stay unmatched for the next run
    left: int = 0  # photos in scope beyond the run's `limit`, for a later run


@dataclass(frozen=True)
class Enrolled:
    """The templates of people whose face-matching consent is valid now, with when and where they enrolled."""

    index: TemplateIndex
    enrolled_at: list[datetime]
    event_ids: list[int | None]

    @property
    def ids(self) -> list[str]:
        """The people, in the index's row order."""
        return list(self.index.ids)

    @property
    def matrix(self) -> np.ndarray:
        """Their templates, one float32 row each."""
        return self.index.matrix

    def only(self, keep: Sequence[str]) -> Enrolled:
        """The same, limited to these people."""
        wanted = set(keep)
        rows = [i for i, sid in enumerate(self.index.ids) if sid in wanted]
        return Enrolled(self.index.subset(rows), [self.enrolled_at[i] for i in rows], [self.event_ids[i] for i in rows])


@dataclass(frozen=True)
class _Photo:
    """A photo to describe: its candidate faces, and whom to compare them with (None: everyone enrolled)."""

    asset_id: int
    blob_key: str
    faces: tuple[tuple[int, Box], ...]
    only: tuple[str, ...] | None


# A face of a photo that may be suggested: an identifiable face nobody is linked to (a rejected suggestion keeps
# its person, so it is not offered again), in a photo that was analysed and not deleted.
_CANDIDATE = and_(
    detections.c.kind == "face",
    detections.c.identifiable.is_(True),
    detections.c.subject_id.is_(None),
    assets.c.deleted_at.is_(None),
    assets.c.analysis_state == "done",
)


def matching_enabled(conn: Connection) -> bool:
    """Whether the organisation has library face matching on."""
    return bool(conn.execute(select(organisation.c.matching_enabled).where(organisation.c.id == 1)).scalar())


@dataclass(frozen=True)
class _Loaded:
    """Every stored template with its person's enrolment time and event, as one index (this process's cache)."""

    version: tuple[object, ...]
    index: TemplateIndex
    enrolled_at: list[datetime]
    event_ids: list[int | None]
    row_of: dict[str, int]


# Per database (engine URL): the templates last loaded and the version they were loaded at. Loading and unpacking
# every template on each run cost seconds at 100,000 people; the version query costs a count.
_LOADED: dict[str, _Loaded] = {}
_LOADED_LOCK = threading.Lock()


def _templates_version(conn: Connection) -> tuple[object, ...]:
    """Changes whenever a template is added, replaced or deleted (replacing deletes and inserts a newer row)."""
    row = conn.execute(
        select(func.count(), func.max(subject_templates.c.created_at), func.min(subject_templates.c.subject_id))
    ).one()
    return (row[0], row[1], row[2])


def _load_templates(conn: Connection) -> _Loaded:
    """The cached templates of this database, reloaded when their version changed."""
    key = conn.engine.url.render_as_string(hide_password=True)
    version = _templates_version(conn)
    with _LOADED_LOCK:
        cached = _LOADED.get(key)
    if cached is not None and cached.version == version:
        return cached
    rows = conn.execute(
        select(
            subject_templates.c.subject_id,
            subject_templates.c.template,
            subject_templates.c.created_at,
            subjects.c.event_id,
        )
        .join(subjects, subjects.c.id == subject_templates.c.subject_id)
        .where(subjects.c.erased_at.is_(None), subjects.c.merged_into.is_(None))
        .order_by(subject_templates.c.subject_id)
    ).all()
    if any(len(r.template) != PACKED_SIZE for r in rows):
        raise ValueError(f"A stored face template is not {PACKED_SIZE} bytes; the templates table is damaged.")
    # One buffer for all rows: unpacking 100,000 templates one by one cost more than the matching itself.
    matrix = np.frombuffer(b"".join(r.template for r in rows), dtype="<f4").reshape(len(rows), TEMPLATE_SIZE)
    ids = [r.subject_id for r in rows]
    loaded = _Loaded(
        version,
        TemplateIndex.build(matrix, ids),
        [r.created_at for r in rows],
        [r.event_id for r in rows],
        {sid: i for i, sid in enumerate(ids)},
    )
    with _LOADED_LOCK:
        _LOADED[key] = loaded
    return loaded


def enrolled_templates(conn: Connection, *, now: datetime, subject_ids: Sequence[str] | None = None) -> Enrolled:
    """Templates of people (not erased) whose face-matching consent is valid at `now`."""
    loaded = _load_templates(conn)
    # A template is deleted when its consent is withdrawn or expires, but a replaced text pauses matching without
    # deleting it: every template is checked against the consent rules here, in one query for everyone.
    allowed = matching_allowed_subjects(conn, now, subject_ids)
    rows = sorted(loaded.row_of[sid] for sid in allowed if sid in loaded.row_of)
    if len(rows) == len(loaded.index):
        return Enrolled(loaded.index, loaded.enrolled_at, loaded.event_ids)
    return Enrolled(
        loaded.index.subset(rows), [loaded.enrolled_at[i] for i in rows], [loaded.event_ids[i] for i in rows]
    )


def describe_photo(analyzer: FaceAnalyzer, data: bytes, boxes: Sequence[Box], *, max_pixels: int) -> list[np.ndarray]:
    """Descriptors of the given face boxes of one photo file, computed in memory (never stored)."""
    image = prepare_image(data, max_pixels=max_pixels).image
    return analyzer.describe(image, list(boxes))


_WORKER_ANALYZER: FaceAnalyzer | None = None


def _worker_init() -> None:
    """Load the models once per worker process."""
    global _WORKER_ANALYZER
    _WORKER_ANALYZER = FaceAnalyzer(descriptors="pytorch")
    _WORKER_ANALYZER.load()


def _worker_describe(job: tuple[int, bytes, list[Box], int]) -> tuple[int, list[np.ndarray] | str]:
    """Describe one photo in a worker process; a broken file is an answer, not a crash of the pool."""
    asset_id, data, boxes, max_pixels = job
    assert _WORKER_ANALYZER is not None
    try:
        return asset_id, describe_photo(_WORKER_ANALYZER, data, boxes, max_pixels=max_pixels)
    except Exception as exc:
        return asset_id, f"{type(exc).__name__}: {exc}"


class Describer:
    """Computes descriptors of photos in this process (workers=1) or in a pool of processes."""

    def __init__(self, *, workers: int = 1, max_pixels: int) -> None:
        """Start the pool (spawned processes: dlib state is not fork-safe) when more than one worker is asked for."""
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.max_pixels = max_pixels
        self._analyzer = FaceAnalyzer(descriptors="pytorch") if workers == 1 else None
        self._pool = (
            ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init)
            if workers > 1
            else None
        )

    def describe(self, jobs: Sequence[tuple[int, bytes, list[Box]]]) -> Iterator[tuple[int, list[np.ndarray] | str]]:
        """(asset id, descriptors or the reason they could not be computed) for each (asset id, bytes, boxes)."""
        if self._pool is not None:
            yield from self._pool.map(_worker_describe, [(a, d, b, self.max_pixels) for a, d, b in jobs])
            return
        assert self._analyzer is not None
        for asset_id, data, boxes in jobs:
            try:
                yield asset_id, describe_photo(self._analyzer, data, boxes, max_pixels=self.max_pixels)
            except Exception as exc:  # a broken file is this photo's answer, as in the pool
                yield asset_id, f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> Describer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plan(
    conn: Connection, enrolled: Enrolled, *, event_id: int | None
) -> list[tuple[int, str, tuple[str, ...] | None]]:
    """(asset id, blob key, whom to compare with) of the photos this run looks at, oldest first."""
    base = select(assets.c.id, assets.c.blob_key, assets.c.matched_at, assets.c.event_id).where(
        assets.c.deleted_at.is_(None), assets.c.analysis_state == "done"
    )
    if event_id is not None:
        return [
            (r.id, r.blob_key, None)
            for r in conn.execute(base.where(assets.c.event_id == event_id).order_by(assets.c.id))
        ]
    events = sorted({e for e in enrolled.event_ids if e is not None})
    stmt = base.where(
        or_(assets.c.matched_at.is_(None), assets.c.event_id.in_(events) if events else assets.c.id.is_(None))
    ).order_by(assets.c.id)
    plan: list[tuple[int, str, tuple[str, ...] | None]] = []
    for r in conn.execute(stmt):
        if r.matched_at is None:
            plan.append((r.id, r.blob_key, None))
            continue
        # Already matched: only people who enrolled at this photo's event after it was matched.
        newer = tuple(
            sid
            for sid, at, ev in zip(enrolled.ids, enrolled.enrolled_at, enrolled.event_ids, strict=True)
            if ev == r.event_id and at > r.matched_at
        )
        if newer:
            plan.append((r.id, r.blob_key, newer))
    return plan


def _faces(conn: Connection, asset_ids: Sequence[int]) -> dict[int, list[tuple[int, Box]]]:
    """Candidate faces of these photos, per photo."""
    faces: dict[int, list[tuple[int, Box]]] = {a: [] for a in asset_ids}
    rows = conn.execute(
        select(detections.c.id, detections.c.asset_id, detections.c.x, detections.c.y, detections.c.w, detections.c.h)
        .join(assets, assets.c.id == detections.c.asset_id)
        .where(_CANDIDATE, detections.c.asset_id.in_(list(asset_ids)))
        .order_by(detections.c.id)
    )
    for r in rows:
        faces[r.asset_id].append((r.id, Box(r.x, r.y, r.w, r.h)))
    return faces


def _read(blobs: BlobStore, photo: _Photo) -> bytes | str:
    """A photo's bytes, or why they cannot be read (the store itself failing stops the run)."""
    try:
        return blobs.get(photo.blob_key)
    except (ServiceUnavailable, ConfigError):
        raise
    except Exception as exc:
        return f"cannot read the photo: {type(exc).__name__}: {exc}"


def nearest(
    descriptors: Sequence[tuple[int, int, np.ndarray]], enrolled: Enrolled, *, threshold: float
) -> list[tuple[int, int, str, float]]:
    """(detection, asset, person, distance) of the nearest enrolled person within `threshold` of each face."""
    if not enrolled.ids or not descriptors:
        return []
    # All faces against everyone in one matrix product.
    best = enrolled.index.nearest(np.stack([v for _, _, v in descriptors]), threshold=threshold)
    return [
        (detection_id, asset_id, hit[0], hit[1])
        for (detection_id, asset_id, _), hit in zip(descriptors, best, strict=True)
        if hit is not None
    ]


def store_suggestions(
    conn: Connection,
    found: Sequence[tuple[int, int, str, float]],
    *,
    now: datetime,
    suggest: float,
    auto: float,
    reopen_for: str | None = None,
) -> list[Suggestion]:
    """Write suggestions for faces still unlinked (or still only suggested for `reopen_for`) and people whose
    face-matching consent still holds, in the caller's transaction."""
    allowed: dict[str, bool] = {}
    made: list[Suggestion] = []
    for detection_id, asset_id, subject_id, distance in found:
        if subject_id not in allowed:
            allowed[subject_id] = _matching_allowed(conn, subject_id, now) and (
                conn.execute(
                    select(subject_templates.c.subject_id).where(subject_templates.c.subject_id == subject_id)
                ).first()
                is not None
            )
        if not allowed[subject_id]:
            continue
        free: ColumnElement[bool] = detections.c.subject_id.is_(None)
        if reopen_for is not None:
            free = or_(free, and_(detections.c.subject_id == reopen_for, detections.c.link_status == "suggested"))
        still = conn.execute(
            select(detections.c.id)
            .join(assets, assets.c.id == detections.c.asset_id)
            .where(detections.c.id == detection_id, free, detections.c.identifiable.is_(True))
            .where(assets.c.deleted_at.is_(None))
        ).first()
        if still is not None:
            made.append(suggest_link(conn, detection_id, asset_id, subject_id, distance, suggest, auto, now))
    return made


def run_batch(
    db: Database,
    blobs: BlobStore,
    *,
    now: datetime,
    max_pixels: int,
    thresholds: tuple[float, float],
    event_id: int | None = None,
    workers: int = 1,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> MatchRun:
    """Match the photos in scope (at most `limit`, oldest first) against every person enrolled with valid consent;
    see the module docstring."""
    suggest, auto = thresholds
    with db.read() as conn:
        if not matching_enabled(conn):
            return MatchRun(enabled=False)
        enrolled = enrolled_templates(conn, now=now)
        if not enrolled.ids:
            # Nobody to compare with: the photos stay unmatched, so the first people to enrol are compared with
            # all of them, and the run costs one query instead of a pass over every photo of the library.
            return MatchRun(enabled=True)
        plan = _plan(conn, enrolled, event_id=event_id)
    left = max(0, len(plan) - limit) if limit is not None else 0
    plan = plan[:limit] if limit is not None else plan
    photos = faces = suggested = confirmed = failed = 0
    with Describer(workers=workers, max_pixels=max_pixels) as describer:
        for start in range(0, len(plan), CHUNK):
            chunk = plan[start : start + CHUNK]
            with db.read() as conn:
                candidates = _faces(conn, [a for a, _, _ in chunk])
            todo = [_Photo(a, key, tuple(candidates[a]), only) for a, key, only in chunk]
            # Nobody to compare with, or no face to compare: nothing to compute, only the stamp.
            work = [p for p in todo if p.faces and enrolled.ids]
            jobs: list[tuple[int, bytes, list[Box]]] = []
            unread: set[int] = set()
            for photo in work:
                data = _read(blobs, photo)
                if isinstance(data, str):
                    unread.add(photo.asset_id)
                else:
                    jobs.append((photo.asset_id, data, [box for _, box in photo.faces]))
            by_id = {p.asset_id: p for p in todo}
            found: list[tuple[int, int, str, float]] = []
            for asset_id, result in describer.describe(jobs):
                if isinstance(result, str):
                    unread.add(asset_id)
                    continue
                photo = by_id[asset_id]
                people = enrolled if photo.only is None else enrolled.only(photo.only)
                descriptors = [(d, asset_id, v) for (d, _), v in zip(photo.faces, result, strict=True)]
                faces += len(descriptors)
                found.extend(nearest(descriptors, people, threshold=suggest))
                del descriptors, result  # descriptors live only for this comparison
            done = [p.asset_id for p in todo if p.asset_id not in unread]
            with db.write() as conn:
                made = store_suggestions(conn, found, now=now, suggest=suggest, auto=auto)
                if done:
                    conn.execute(update(assets).where(assets.c.id.in_(done)).values(matched_at=now))
            suggested += sum(1 for m in made if m.status == "suggested")
            confirmed += sum(1 for m in made if m.status == "confirmed")
            photos += len(done)
            failed += len(unread)
            if progress:
                progress(len(chunk))
    return MatchRun(True, photos, faces, len(enrolled.ids), suggested, confirmed, failed, left)


def match_one(
    db: Database,
    blobs: BlobStore,
    *,
    subject_id: str,
    now: datetime,
    max_pixels: int,
    thresholds: tuple[float, float],
    event_id: int | None = None,
    limit: int = 50,
) -> list[Suggestion]:
    """Compare one enrolled person with the library (or one event's photos), describing faces on the fly; store
    the `limit` nearest faces within the threshold as their suggestions."""
    suggest, auto = thresholds
    with db.read() as conn:
        if not matching_enabled(conn):
            raise ConsentStateError("Face matching is off in this organisation; an admin can switch it on.")
        person = enrolled_templates(conn, now=now, subject_ids=[subject_id])
        if not person.ids:
            raise ConsentStateError(
                "This person has no usable face template (no selfie, or no valid face-matching consent)."
            )
        free = or_(
            detections.c.subject_id.is_(None),
            and_(detections.c.subject_id == subject_id, detections.c.link_status == "suggested"),
        )
        stmt = (
            select(
                detections.c.id,
                detections.c.asset_id,
                detections.c.x,
                detections.c.y,
                detections.c.w,
                detections.c.h,
                assets.c.blob_key,
            )
            .join(assets, assets.c.id == detections.c.asset_id)
            .where(
                detections.c.kind == "face",
                detections.c.identifiable.is_(True),
                free,
                assets.c.deleted_at.is_(None),
                assets.c.analysis_state == "done",
            )
            .order_by(detections.c.asset_id, detections.c.id)
        )
        if event_id is not None:
            stmt = stmt.where(assets.c.event_id == event_id)
        rows = conn.execute(stmt).all()
    photos: dict[int, _Photo] = {}
    for r in rows:
        prev = photos.get(r.asset_id)
        face = (r.id, Box(r.x, r.y, r.w, r.h))
        photos[r.asset_id] = _Photo(r.asset_id, r.blob_key, (*prev.faces, face) if prev else (face,), None)
    ranked: list[tuple[int, int, str, float]] = []
    with Describer(max_pixels=max_pixels) as describer:
        jobs = []
        for photo in photos.values():
            data = _read(blobs, photo)
            if not isinstance(data, str):
                jobs.append((photo.asset_id, data, [box for _, box in photo.faces]))
        for asset_id, result in describer.describe(jobs):
            if isinstance(result, str):
                continue
            faces = photos[asset_id].faces
            ranked.extend(
                nearest([(d, asset_id, v) for (d, _), v in zip(faces, result, strict=True)], person, threshold=suggest)
            )
    ranked.sort(key=lambda f: (f[3], f[0]))
    with db.write() as conn:
        return store_suggestions(conn, ranked[:limit], now=now, suggest=suggest, auto=auto, reopen_for=subject_id)
