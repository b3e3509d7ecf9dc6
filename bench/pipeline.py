"""Face pipeline throughput: intake + detection + templates with FaceAnalyzer next to a face_recognition-style baseline.

    python bench/pipeline.py [--images 50] [--small 10] [--workers 2] [--seed 1] [--dim 0.15]

Builds camera-sized "group photos" (3000-5000 px long side, JPEG/WebP/PNG) from the sample photos of installed
packages in a temporary folder, then runs, per photo from its file bytes:
  baseline  - face_recognition's recipe: decode to RGB, HOG `face_locations` at full resolution with upsample 1,
              then the 5-landmark shape and the resnet descriptor of every face on the full image (1 process);
  portal    - `prepare_image` (full decode, EXIF orientation, sha256) and `FaceAnalyzer().analyze(with_templates=True)`
              (HOG on a copy of at most 1600 px, then the small-face pass at full resolution around face-sized
              skin-and-detail blobs, descriptors on face crops by dlib's network run in PyTorch on one thread,
              portal/backend/photos/vision/resnet.py), in 1 process and in a pool of --workers (each worker loads
              the models, PyTorch included, inside the timed run).
It prints images/s, the speed-up, and the faces each found against where the samples' faces were pasted.
The main set holds photos whose smallest face is at least 3.2% of the longer side (about 51 px in the 1600 px
detection copy); a separate "small faces" set, timed too, holds photos with one sample 5-9 times smaller.
The small set is run a second time as if taken with --dim of the light (0 skips it): event halls are dim.
For every set it prints recall (pasted faces found) and precision (detections that are on a pasted face) by face
size as a share of the long side. Every stored face detection is shown to staff and counted by the risk index
(no score cut-off exists after the detector's own: 0, and -0.05 in the small-face pass's regions), so any
detection off the pasted faces counts.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image

from portal.backend.photos.vision import models
from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.photos.vision.intake import prepare_image
from portal.backend.photos.vision.schemas import Box
from tests.vision.conftest import SAMPLE_PATHS, iou, sample

MIN_FACE_SHARE = 0.032
SIZE_BUCKETS = [(0.0, 0.01, "<1%"), (0.01, 0.02, "1-2%"), (0.02, 0.032, "2-3.2%"), (0.032, 1.01, ">3.2%")]
CONFIDENT = 0.25  # HOG scores below this are borderline detections that come and go with scale (the astronaut's patch)
FORMATS = [("JPEG", ".jpg", {"quality": 90}), ("WEBP", ".webp", {"quality": 90}), ("PNG", ".png", {})]
Found = list[tuple[Box, float]]
_ANALYZER: FaceAnalyzer | None = None
# Seconds spent in each stage in this process (the 1-process runs), to show where each pipeline's time goes.
STAGES: dict[str, float] = defaultdict(float)


def source_faces() -> dict[str, list[Box]]:
    """Relative boxes of the real faces of each sample, at its own resolution.

    The 0.15 cut keeps the bus's second face (score 0.18) and drops the astronaut's mission patch (0.12).
    """
    analyzer = FaceAnalyzer(detect_max_side=100_000)
    return {name: [d.box for d in analyzer.detect(sample(name)) if (d.score or 0) >= 0.15] for name in SAMPLE_PATHS}


def compose(rng: random.Random, faces: dict[str, list[Box]], *, shrink: bool) -> tuple[Image.Image, list[Box], float]:
    """A random group photo of 1-3 samples at camera size, where its faces are, and its smallest face's share.

    Each sample is scaled so its faces come out at similar sizes (the bus's faces are 4% of its height, the
    others' 18-31%); with `shrink` one sample is made 5-9 times smaller, like people far back in a room.
    """
    names = rng.sample(sorted(SAMPLE_PATHS), rng.randint(2, 3))
    small_one = rng.randrange(len(names)) if shrink else -1
    parts = []
    for i, name in enumerate(names):
        src = sample(name)
        native = min(min(b.w * src.width, b.h * src.height) for b in faces[name])
        scale = 100 * rng.uniform(0.8, 1.6) / native / (rng.uniform(5, 9) if i == small_one else 1)
        size = (round(src.width * scale), round(src.height * scale))
        parts.append((name, src.resize(size, Image.Resampling.LANCZOS)))
    gap = rng.randint(20, 80)
    width = gap * (len(parts) + 1) + sum(p.width for _, p in parts)
    height = max(p.height for _, p in parts) + 2 * gap
    canvas = Image.new("RGB", (width, height), tuple(rng.randint(150, 240) for _ in range(3)))
    truth, x = [], gap
    for name, part in parts:
        y = rng.randint(gap // 2, height - part.height - gap // 2)
        canvas.paste(part, (x, y))
        truth += [
            Box((x + b.x * part.width) / width, (y + b.y * part.height) / height, b.w * part.width / width,
                b.h * part.height / height)
            for b in faces[name]
        ]  # fmt: skip
        x += part.width + gap
    share = min(min(b.w, b.h * height / width) for b in truth) * width / max(width, height)
    factor = rng.randint(3000, 5000) / max(canvas.size)
    canvas = canvas.resize((round(canvas.width * factor), round(canvas.height * factor)), Image.Resampling.LANCZOS)
    return canvas, truth, share


def build_photos(folder: Path, count: int, small: int, seed: int) -> tuple[list[tuple[Path, list[Box]]], ...]:
    """Write `count` photos whose faces the downscale can see and `small` with smaller faces, with their faces."""
    rng = random.Random(seed)
    faces = source_faces()
    main: list[tuple[Path, list[Box]]] = []
    tiny: list[tuple[Path, list[Box]]] = []
    while len(main) < count or len(tiny) < small:
        shrink = len(main) >= count
        canvas, truth, share = compose(rng, faces, shrink=shrink)
        if shrink != (share < MIN_FACE_SHARE):  # each set gets only the photos made for it
            continue
        bucket, stem = (tiny, "small") if shrink else (main, "photo")
        fmt, ext, params = FORMATS[0] if rng.random() < 0.7 else rng.choice(FORMATS[1:])
        path = folder / f"{stem}-{len(bucket):03d}{ext}"
        canvas.save(path, fmt, **params)
        bucket.append((path, truth))
    return main, tiny


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the time of the block to STAGES[name]."""
    start = time.perf_counter()
    try:
        yield
    finally:
        STAGES[name] += time.perf_counter() - start


def _timed_method(obj: object, name: str, label: str) -> None:
    """Wrap one method of an object so that its calls add to STAGES[label]."""
    method = getattr(obj, name)

    def wrapper(*args: object, **kwargs: object) -> object:
        """The method, timed."""
        with stage(label):
            return method(*args, **kwargs)

    setattr(obj, name, wrapper)


def baseline(path: Path) -> Found:
    """face_recognition's recipe on one file: full-resolution HOG, then descriptors on the full image."""
    with stage("baseline: decode"):
        pixels = np.array(Image.open(path).convert("RGB"))  # face_recognition.load_image_file
    height, width = pixels.shape[:2]
    with stage("baseline: HOG"):
        rects, scores, _ = models.hog_detector.load().run(pixels, 1, 0.0)  # face_locations(img, upsample=1)
    predictor, encoder = models.shape_predictor.load(), models.face_encoder.load()
    with stage("baseline: descriptors"):
        for rect in rects:  # face_encodings(img, known_face_locations, num_jitters=1, model="small")
            np.array(encoder.compute_face_descriptor(pixels, predictor(pixels, rect), 1))
    return [
        (Box.from_pixels(r.left(), r.top(), r.right() + 1, r.bottom() + 1, width, height), float(s))
        for r, s in zip(rects, scores, strict=True)
    ]


def _init_worker() -> None:
    """Load the analyzer's models once per process."""
    global _ANALYZER
    _ANALYZER = FaceAnalyzer(descriptors="pytorch")
    _ANALYZER.load()
    # The analyzer's own steps, timed where they are called (detect() covers the copy, the first pass and the cue).
    _timed_method(_ANALYZER, "detect", "portal: copy, first pass, cue, small-face pass")
    _timed_method(_ANALYZER, "_small_faces", "portal: small-face pass (cue and scans)")
    _timed_method(_ANALYZER, "describe", "portal: descriptors")


def portal(path: Path) -> Found:
    """The portal's intake and analysis of one file."""
    if _ANALYZER is None:
        _init_worker()
    assert _ANALYZER is not None
    with stage("portal: intake (decode, orientation, sha256)"):
        prepared = prepare_image(path.read_bytes(), filename=path.name)
    found = _ANALYZER.analyze(prepared.image, with_templates=True)
    assert all(d.template is not None for d in found)
    return [(d.box, d.score or 0.0) for d in found]


def timed(label: str, run: Callable[[list[Path]], list[Found]], paths: list[Path]) -> tuple[float, list[Found]]:
    """Run over all paths and print the time and images/s."""
    start = time.perf_counter()
    found = run(paths)
    seconds = time.perf_counter() - start
    print(f"  {label:<26} {seconds:7.1f} s  {len(paths) / seconds:6.2f} images/s")
    return seconds, found


def print_stages(photos: int) -> None:
    """Print the seconds per photo of each stage timed since the last call, then start afresh."""
    detect, small = "portal: copy, first pass, cue, small-face pass", "portal: small-face pass (cue and scans)"
    if detect in STAGES:  # detect() holds the small-face pass: show the first pass (with the copy) on its own
        STAGES["portal: copy and first pass"] = STAGES.pop(detect) - STAGES.get(small, 0.0)
    parts = [f"{name} {seconds / photos:.3f}" for name, seconds in sorted(STAGES.items())]
    print("  seconds per photo: " + "; ".join(parts))
    STAGES.clear()


def score_against_truth(label: str, photos: list[tuple[Path, list[Box]]], found: list[Found]) -> None:
    """Print how many pasted faces a pipeline found and what else it reported."""
    hits, extra, extra_confident = [], 0, 0
    for (_, truth), faces in zip(photos, found, strict=True):
        hits.append(_hits(truth, faces))
        others = _other_scores(truth, faces)
        extra += len(others)
        extra_confident += sum(s >= CONFIDENT for s in others)
    total = sum(len(t) for _, t in photos)
    print(
        f"  {label:<26} {sum(map(len, hits))} of {total} pasted faces found; {sum(map(len, found))} detections, "
        f"{extra} elsewhere ({extra_confident} of them with score >= {CONFIDENT})"
    )


def compare(photos: list[tuple[Path, list[Box]]], base: list[Found], ours: list[Found]) -> tuple[int, int]:
    """Print each photo where the pipelines differ; return (photos with other counts, photos with other faces)."""
    counts = faces = 0
    for (path, truth), b, o in zip(photos, base, ours, strict=True):
        hit_b, hit_o = _hits(truth, b), _hits(truth, o)
        faces += hit_b != hit_o
        if len(b) != len(o) or hit_b != hit_o:
            counts += len(b) != len(o)
            print(
                f"    {path.name}: baseline {len(b)}, portal {len(o)} detections; pasted faces only baseline "
                f"{sorted(hit_b - hit_o)}, only portal {sorted(hit_o - hit_b)}; other scores: baseline "
                f"{_other_scores(truth, b)}, portal {_other_scores(truth, o)}"
            )
    return counts, faces


def by_size(label: str, photos: list[tuple[Path, list[Box]]], found: list[Found]) -> None:
    """Print recall and precision per face-size bucket (share of the photo's long side)."""
    hit = {name: [0, 0] for *_, name in SIZE_BUCKETS}  # found, total pasted faces
    good = {name: [0, 0] for *_, name in SIZE_BUCKETS}  # on a pasted face, total detections
    for (path, truth), faces in zip(photos, found, strict=True):
        width, height = Image.open(path).size
        hits = _hits(truth, faces)
        for i, box in enumerate(truth):
            hit[_bucket(box, width, height)][0] += i in hits
            hit[_bucket(box, width, height)][1] += 1
        for box, _ in faces:
            good[_bucket(box, width, height)][0] += any(iou(t, box) >= 0.4 for t in truth)
            good[_bucket(box, width, height)][1] += 1
    cells = []
    for *_, name in SIZE_BUCKETS:
        (found_n, total), (on_face, dets) = hit[name], good[name]
        recall = f"{found_n}/{total}" if total else "-"
        precision = f"{on_face}/{dets}" if dets else "-"
        cells.append(f"{name:>6} recall {recall:>7} precision {precision:>7}")
    print(f"  {label:<10}" + " | ".join(cells))


def _bucket(box: Box, width: int, height: int) -> str:
    """The size bucket of a box: its larger side as a share of the photo's long side."""
    share = max(box.w * width, box.h * height) / max(width, height)
    return next(name for low, high, name in SIZE_BUCKETS if low <= share < high)


def _hits(truth: list[Box], found: Found) -> set[int]:
    """Indexes of the pasted faces that a detection overlaps."""
    return {i for i, t in enumerate(truth) if any(iou(t, box) >= 0.4 for box, _ in found)}


def _other_scores(truth: list[Box], found: Found) -> list[float]:
    """Scores of the detections that are on no pasted face."""
    return sorted(round(s, 2) for box, s in found if all(iou(t, box) < 0.4 for t in truth))


def main() -> None:
    """Build the photos, run both pipelines and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--small", type=int, default=10, help="extra photos with faces below the downscale's reach")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dim", type=float, default=0.15, help="also run the small set at this share of the light")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photos, small = build_photos(Path(tmp), args.images, args.small, args.seed)
        paths = [p for p, _ in photos]
        megapixels = np.mean([np.prod(Image.open(p).size) / 1e6 for p in paths])
        print(f"{len(photos)} photos, mean {megapixels:.1f} MP, {sum(len(t) for _, t in photos)} pasted faces; "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        _init_worker()

        def pooled(batch: list[Path]) -> list[Found]:
            """The portal pipeline over a process pool (models loaded once per worker)."""
            with ProcessPoolExecutor(args.workers, initializer=_init_worker) as pool:
                return list(pool.map(portal, batch, chunksize=2))

        STAGES.clear()
        base_s, base = timed("baseline (full-res HOG)", lambda b: [baseline(p) for p in b], paths)
        one_s, ours = timed("portal, 1 process", lambda b: [portal(p) for p in b], paths)
        print_stages(len(paths))
        pool_s, ours_pooled = timed(f"portal, {args.workers} processes", pooled, paths)
        assert [len(f) for f in ours] == [len(f) for f in ours_pooled]
        print(f"  speed-up: {base_s / one_s:.1f}x in 1 process, {base_s / pool_s:.1f}x with {args.workers} processes")
        score_against_truth("baseline", photos, base)
        score_against_truth("portal", photos, ours)
        by_size("baseline", photos, base)
        by_size("portal", photos, ours)
        counts, faces = compare(photos, base, ours)
        print(f"  photos with a different number of detections: {counts} of {len(photos)}")
        print(f"  photos where different pasted faces were found: {faces} of {len(photos)}")
        if small:
            print(f"{len(small)} photos whose smallest face is under {MIN_FACE_SHARE:.1%} of the longer side:")
            one_process(small)
        if small and args.dim:
            print(f"The same photos taken with {args.dim:.0%} of the light (a dim hall):")
            one_process(dimmed(small, args.dim))


def one_process(photos: list[tuple[Path, list[Box]]]) -> None:
    """Run both pipelines in this process over a set of photos and print their speed and faces by size."""
    paths = [p for p, _ in photos]
    base_s, base = timed("baseline (full-res HOG)", lambda b: [baseline(p) for p in b], paths)
    one_s, ours = timed("portal, 1 process", lambda b: [portal(p) for p in b], paths)
    print_stages(len(paths))
    print(f"  speed-up: {base_s / one_s:.1f}x in 1 process")
    score_against_truth("baseline", photos, base)
    score_against_truth("portal", photos, ours)
    by_size("baseline", photos, base)
    by_size("portal", photos, ours)
    compare(photos, base, ours)


def dimmed(photos: list[tuple[Path, list[Box]]], light: float) -> list[tuple[Path, list[Box]]]:
    """Copies of the photos as if taken with `light` times the light (linear light scaled, sRGB-like gamma 2.2)."""
    out = []
    for path, truth in photos:
        linear = (np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255) ** 2.2 * light
        pixels = np.clip(linear ** (1 / 2.2) * 255, 0, 255).round().astype(np.uint8)
        dim = path.with_name(f"{path.stem}-dim.jpg")
        Image.fromarray(pixels).save(dim, "JPEG", quality=90)
        out.append((dim, truth))
    return out


if __name__ == "__main__":
    main()
