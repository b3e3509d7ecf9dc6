"""Face matching: `matching.rank` latency, and the matching batch (faces per second, one event of 1,000 photos).

    python bench/matching.py [--sizes 10000 100000 1000000] [--repeat 7]
    python bench/matching.py batch [--photos 100] [--people 500] [--workers 2]

rank: one query against 10,000 / 100,000 / 1,000,000 synthetic templates (random float32 vectors at the scale of
dlib descriptors, with 20 near copies of the query planted among them, so the result list is realistic). For context
it also times the obvious `np.linalg.norm(templates - query, axis=1)`, which allocates an n×128 temporary.

batch: a SQLite portal with one event of `--photos` real group photos (three faces each, Grace Hopper among them)
and `--people` enrolled people with valid face-matching consent (Grace's own selfie template and random others).
It times `run_batch` (read each photo, describe its stored face boxes in memory, compare with everyone, write the
suggestions) on 1 and on `--workers` processes, beside a baseline measured in the same run: describing the same
faces in one process with no database at all. The time for 1,000 photos is extrapolated from the measured size
and labelled so unless `--photos 1000` is given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from sqlalchemy import select

from portal.backend.photos.vision.matching import rank


def templates(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """n synthetic templates, a query with 20 planted near matches, and integer ids."""
    matrix = rng.normal(0.0, 0.125, size=(n, 128)).astype(np.float32)
    query = matrix[0].copy()
    near = rng.choice(n, size=min(20, n), replace=False)
    matrix[near] = query + rng.normal(0.0, 0.03, size=(len(near), 128)).astype(np.float32)
    return matrix, query, list(range(n))


def best_of(fn: object, repeat: int) -> tuple[float, float]:
    """Median and minimum wall time of calling fn, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    """Print rank latency per template count, or the batch figures."""
    if sys.argv[1:2] == ["batch"]:
        batch_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    print(f"{'templates':>10} {'MB':>6} {'rank median':>12} {'rank min':>9} {'matches':>8} {'naive median':>13}")
    for n in args.sizes:
        matrix, query, ids = templates(n, rng)
        found = rank(query, matrix, ids, threshold=0.6, limit=10)
        median, fastest = best_of(lambda m=matrix, q=query, i=ids: rank(q, m, i, threshold=0.6, limit=10), args.repeat)
        naive, _ = best_of(lambda m=matrix, q=query: np.linalg.norm(m - q, axis=1), max(3, args.repeat // 2))
        print(
            f"{n:>10,} {matrix.nbytes / 2**20:>6.0f} {median:>9.2f} ms {fastest:>6.2f} ms {len(found):>8} "
            f"{naive:>10.2f} ms"
        )


def _event_photos(n: int) -> list[bytes]:
    """n distinct JPEGs of one group (astronaut, Grace Hopper, Zidane): one pixel differs, so each is a new file."""
    import io

    from PIL import Image

    from tests.imagery import group_photo

    base = Image.open(io.BytesIO(group_photo(["astronaut", "grace_hopper", "zidane"], height=480))).convert("RGB")
    out = []
    for i in range(n):
        img = base.copy()
        img.putpixel((i % img.width, 0), (i % 256, (i // 256) % 256, 7))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def batch_main(argv: list[str]) -> None:
    """Set up one event and the enrolled people, then time the batch and its baseline."""
    import tempfile
    from datetime import timedelta

    from sqlalchemy import insert, update

    from portal.backend.consent.records import Context
    from portal.backend.events.store import create_event
    from portal.backend.photos.biometrics import check_selfie, enrol_template
    from portal.backend.photos.matching_batch import describe_photo, run_batch
    from portal.backend.photos.services import analyse_pending, import_photos
    from portal.backend.photos.vision.faces import FaceAnalyzer
    from portal.backend.photos.vision.schemas import Box
    from portal.backend.platform.actors import Actor
    from portal.backend.platform.db import migrate
    from portal.backend.platform.db.engine import Database
    from portal.backend.platform.db.schema import assets, detections
    from portal.backend.platform.db.types import utcnow
    from tests.factories import make_org, make_portal, register_subject
    from tests.imagery import sample_bytes

    parser = argparse.ArgumentParser(prog="bench/matching.py batch")
    parser.add_argument("--photos", type=int, default=100, help="photos in the event (1000 for the full size)")
    parser.add_argument("--people", type=int, default=500, help="people enrolled for face matching")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.photos < 1 or args.people < 1 or args.workers < 1:
        parser.error("--photos, --people and --workers must be at least 1")
    import os

    from portal.backend.platform.signing import new_key_text

    os.environ.setdefault("PORTAL_LEDGER_KEY", new_key_text())  # a throwaway key: the people's consents are signed
    operator = Actor.operator("bench")
    now = utcnow()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        migrate.upgrade(db)
        make_org(db, matching=True, now=now - timedelta(days=1))
        portal = make_portal(db, Path(tmp) / "blobs")
        with db.write() as conn:
            event_id = create_event(conn, name="Bench", purpose_codes=["internal", "face_matching"], now=now).id
        # One photo is analysed for real; the others are the same picture, so they get its boxes.
        files = _event_photos(args.photos)
        t0 = time.perf_counter()
        done = import_photos(
            portal, actor=operator, files=[(f"{i}.jpg", d) for i, d in enumerate(files)], event_id=event_id
        )
        ids = list(done.imported)
        with db.write() as conn:
            conn.execute(update(assets).where(assets.c.id.in_(ids[1:])).values(analysis_state="done"))
        analyse_pending(portal, actor=operator, limit=1)
        with db.write() as conn:
            boxes = conn.execute(
                select(detections.c.x, detections.c.y, detections.c.w, detections.c.h, detections.c.score).where(
                    detections.c.asset_id == ids[0], detections.c.kind == "face"
                )
            ).all()
            rows = [
                {
                    "asset_id": a,
                    "kind": "face",
                    "x": b.x,
                    "y": b.y,
                    "w": b.w,
                    "h": b.h,
                    "score": b.score,
                    "detector": "dlib-hog",
                    "created_at": now,
                }
                for a in ids[1:]
                for b in boxes
            ]
            if rows:
                conn.execute(insert(detections), rows)
        setup_photos = time.perf_counter() - t0
        rng = np.random.default_rng(5)
        analyzer = FaceAnalyzer()
        grace = check_selfie(sample_bytes("grace_hopper"), analyzer=analyzer, max_pixels=60_000_000)
        context = Context(channel="staff", actor="staff:bench", evidence={"act": "staff_entry"})
        t0 = time.perf_counter()
        for i in range(args.people):
            sid = register_subject(
                db, name=f"Person {i}", choices={"face_matching": True}, context=context, event_id=event_id, now=now
            ).subject.id
            vector = grace if i == 0 else rng.normal(0.0, 0.125, size=128).astype(np.float32)
            with db.write() as conn:
                enrol_template(conn, subject_id=sid, template=vector, now=now)
        setup_people = time.perf_counter() - t0
        faces_per_photo = len(boxes)
        total_faces = faces_per_photo * len(ids)
        print(
            f"setup: {len(ids)} photos ({faces_per_photo} faces each) in {setup_photos:.1f} s, "
            f"{args.people} people enrolled in {setup_people:.1f} s"
        )

        # Baseline: the same descriptors in one process, straight from the files, no database and no comparison.
        face_boxes = [Box(b.x, b.y, b.w, b.h) for b in boxes]
        t0 = time.perf_counter()
        for data in files:
            describe_photo(analyzer, data, face_boxes, max_pixels=60_000_000)
        base = time.perf_counter() - t0

        def timed(workers: int) -> tuple[float, object]:
            with db.write() as conn:  # every photo unmatched and every face free again
                conn.execute(update(assets).values(matched_at=None))
                conn.execute(
                    update(detections).values(subject_id=None, link_method=None, link_status=None, link_distance=None)
                )
            start = time.perf_counter()
            result = run_batch(
                db, portal.blobs, now=utcnow(), max_pixels=60_000_000, thresholds=(0.6, 0.0), workers=workers
            )
            return time.perf_counter() - start, result

        one, r1 = timed(1)
        many, rn = timed(args.workers)
        print(f"{'':38} {'seconds':>8} {'faces/s':>8}")
        print(f"{'baseline: describe only, 1 process':38} {base:>8.2f} {total_faces / base:>8.1f}")
        print(f"{'batch, 1 worker':38} {one:>8.2f} {total_faces / one:>8.1f}   {r1}")
        print(f"{f'batch, {args.workers} workers':38} {many:>8.2f} {total_faces / many:>8.1f}   {rn}")
        per_photo = many / len(ids)
        label = "measured" if len(ids) == 1000 else f"EXTRAPOLATED from {len(ids)} photos"
        print(
            f"one event of 1,000 photos ({faces_per_photo} faces each) against {args.people} people on "
            f"{args.workers} workers: {per_photo * 1000:.1f} s ({label})"
        )
        db.dispose()


if __name__ == "__main__":
    main()
