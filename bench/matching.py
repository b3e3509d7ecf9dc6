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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from sqlalchemy import select

from portal.backend.photos.vision.matching import TemplateIndex, rank


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


def _faiss_search(matrix: np.ndarray) -> Any:
    """faiss' exact flat L2 index over `matrix`, when faiss is installed in the bench environment."""
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        return None
    index = faiss.IndexFlatL2(matrix.shape[1])
    index.add(matrix)
    return index


def main() -> None:
    """Print rank latency per template count, or the batch figures."""
    if sys.argv[1:2] == ["batch"]:
        batch_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64, help="faces compared at once in the batch figure")
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    print("single query, median of --repeat runs (ms); goal: 100k under 5 ms, 1M under 50 ms")
    print(
        f"{'templates':>10} {'MB':>5} {'naive':>8} {'rank':>8} {'index':>8} {'faiss':>8} "
        f"{'naive/index':>11} {'batch faces/s':>14} {'per-face faces/s':>17}"
    )
    for n in args.sizes:
        matrix, query, ids = templates(n, rng)
        index = TemplateIndex.build(matrix, ids)
        found = index.rank(query, threshold=0.6, limit=10)
        assert found == rank(query, matrix, ids, threshold=0.6, limit=10)
        naive, _ = best_of(lambda m=matrix, q=query: np.linalg.norm(m - q, axis=1), max(3, args.repeat // 2))
        oneoff, _ = best_of(lambda m=matrix, q=query, i=ids: rank(q, m, i, threshold=0.6, limit=10), args.repeat)
        kept, _ = best_of(lambda x=index, q=query: x.rank(q, threshold=0.6, limit=10), args.repeat)
        flat = _faiss_search(matrix)
        faiss_ms = (
            f"{best_of(lambda f=flat, q=query: f.search(q[None, :], 10), args.repeat)[0]:>8.2f}"
            if flat is not None
            else f"{'n/a':>8}"
        )
        faces = matrix[rng.choice(n, size=args.batch, replace=False)] + rng.normal(0, 0.02, (args.batch, 128)).astype(
            np.float32
        )
        batch_ms, _ = best_of(lambda x=index, f=faces: x.nearest(f, threshold=0.6), max(3, args.repeat // 2))
        loop_ms, _ = best_of(
            lambda x=index, f=faces: [x.rank(v, threshold=0.6, limit=1) for v in f], max(3, args.repeat // 2)
        )
        print(
            f"{n:>10,} {matrix.nbytes / 2**20:>5.0f} {naive:>8.2f} {oneoff:>8.2f} {kept:>8.2f} {faiss_ms} "
            f"{naive / kept:>10.1f}x {args.batch / batch_ms * 1000:>14,.0f} {args.batch / loop_ms * 1000:>17,.0f}"
        )
    print(
        "naive: np.linalg.norm(templates - query) (allocates n x 128); rank: one-off call (norms computed per call);"
        " index: TemplateIndex kept per process (norms computed once); batch: TemplateIndex.nearest on --batch faces"
        " in one product; per-face: the same faces one rank() at a time. Descriptor computation is in `batch`."
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
        analyzer = FaceAnalyzer(descriptors="pytorch")
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
