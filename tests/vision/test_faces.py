"""Face detection and descriptors with the real dlib models on real photos and group photos composed from them."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portal.backend.photos.vision import models
from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.photos.vision.intake import prepare_image
from portal.backend.photos.vision.schemas import Box, Detection
from portal.backend.platform.errors import ConfigError
from tests.vision.conftest import (
    Placement,
    best_face,
    compose,
    distance,
    encode,
    iou,
    map_box,
    photo_with_orientation,
    sample,
)

# Measured with dlib's HOG detector at the default settings (upsample 1, threshold 0), the same as
# face_recognition.face_locations. astronaut: her face plus a weak false positive (score ~0.1) on the mission patch;
# zidane: only Ancelotti's frontal face; Zidane's own face is in profile, which HOG does not find (the CNN does).
HOG_FACE_COUNTS = {"astronaut": 2, "grace_hopper": 1, "zidane": 1, "bus": 2}
# Where the best face of each sample is (x, y, w, h relative), measured once and checked by eye.
BEST_FACE = {
    "astronaut": Box(0.342, 0.148, 0.178, 0.178),
    "grace_hopper": Box(0.352, 0.232, 0.365, 0.312),
    "zidane": Box(0.708, 0.161, 0.122, 0.215),
    "bus": Box(0.144, 0.389, 0.054, 0.041),
}
# HOG scores of real faces here are >= 0.3 at these sizes; the mission patch scores 0.0-0.15 and comes and goes
# with scale and compression, so comparisons between two detections use only the confident ones.
CONFIDENT = 0.25
# The real faces among the sample detections (index in score order), each a different person.
PEOPLE = [("astronaut", 0), ("grace_hopper", 0), ("zidane", 0), ("bus", 0), ("bus", 1)]


def _by_score(detections: list[Detection]) -> list[Detection]:
    """Detections, best first."""
    return sorted(detections, key=lambda d: -(d.score or 0.0))


def _expected_boxes(placements: list[Placement], canvas: Image.Image, faces: dict[str, list[Detection]]) -> list[Box]:
    """Where the real faces of the pasted samples must be on the canvas."""
    boxes = []
    for p in placements:
        real = _confident(faces[p.name])  # drops the astronaut's mission patch
        boxes += [map_box(d.box, sample(p.name).size, p, canvas.size) for d in real]
    return boxes


def _confident(found: list[Detection]) -> list[Detection]:
    """Detections above the score where the mission-patch false positive lives."""
    return [d for d in found if (d.score or 0.0) >= CONFIDENT]


def _matched(found: list[Detection], expected: list[Box], min_iou: float = 0.5) -> int:
    """How many expected boxes have a found box overlapping them by at least min_iou."""
    return sum(any(iou(d.box, box) >= min_iou for d in found) for box in expected)


@pytest.mark.parametrize("name", list(HOG_FACE_COUNTS))
def test_face_counts_on_the_samples(source_faces: dict[str, list[Detection]], name: str) -> None:
    faces = source_faces[name]
    assert len(faces) == HOG_FACE_COUNTS[name]
    best = best_face(faces)
    assert iou(best.box, BEST_FACE[name]) > 0.9
    for d in faces:
        assert d.kind == "face" and d.detector == "dlib-hog" and isinstance(d.score, float)
        assert all(0.0 <= v <= 1.0 for v in d.box) and d.box.x + d.box.w <= 1.0 and d.box.y + d.box.h <= 1.0
        assert d.template is not None and d.template.shape == (128,) and d.template.dtype == np.float32


def test_detect_alone_computes_no_templates(analyzer: FaceAnalyzer) -> None:
    faces = analyzer.analyze(sample("grace_hopper"), with_templates=False)
    assert len(faces) == 1 and faces[0].template is None


def test_different_people_do_not_match(source_faces: dict[str, list[Detection]]) -> None:
    templates = {(n, i): _by_score(source_faces[n])[i].template for n, i in PEOPLE}
    for a in PEOPLE:
        for b in PEOPLE:
            if a < b:
                assert distance(templates[a], templates[b]) > 0.6, (a, b)


def test_group_photo_finds_every_face_where_it_was_pasted(
    analyzer: FaceAnalyzer, group: tuple[Image.Image, list[Placement]], source_faces: dict[str, list[Detection]]
) -> None:
    canvas, placements = group
    found = analyzer.analyze(canvas, with_templates=False)
    expected = _expected_boxes(placements, canvas, source_faces)
    assert len(expected) == 3
    assert _matched(found, expected) == 3
    assert len(_confident(found)) == 3


@pytest.fixture(scope="module")
def group_faces(analyzer: FaceAnalyzer, group: tuple[Image.Image, list[Placement]]) -> list[Detection]:
    """Faces of the upright group photo, with templates."""
    return analyzer.analyze(group[0], with_templates=True)


@pytest.mark.parametrize(("orientation", "fmt"), [(6, "JPEG"), (8, "PNG"), (3, "WEBP"), (6, "TIFF"), (5, "JPEG")])
def test_boxes_follow_exif_orientation(
    analyzer: FaceAnalyzer,
    group: tuple[Image.Image, list[Placement]],
    group_faces: list[Detection],
    orientation: int,
    fmt: str,
) -> None:
    canvas, _ = group
    prepared = prepare_image(photo_with_orientation(canvas, orientation, fmt))
    assert prepared.image.size == canvas.size
    found = analyzer.analyze(prepared.image, with_templates=True)
    assert len(_confident(found)) == len(_confident(group_faces)) == 3
    for face in _confident(group_faces):
        twin = max(found, key=lambda d: iou(d.box, face.box))
        assert iou(twin.box, face.box) > 0.8  # same place in the displayed image
        assert distance(twin.template, face.template) < 0.2  # and clearly the same face


def test_same_person_matches_across_differently_processed_photos(
    analyzer: FaceAnalyzer, source_faces: dict[str, list[Detection]]
) -> None:
    reference = {n: _by_score(source_faces[n])[0].template for n in ("grace_hopper", "astronaut")}
    # A different group: other neighbours, other scale, rotated on disk, lossy WebP at low quality.
    canvas, _ = compose(["astronaut", "bus", "grace_hopper"], height=900)
    data = photo_with_orientation(canvas, 8, "WEBP", quality=60)
    found = analyzer.analyze(prepare_image(data).image, with_templates=True)
    for name, template in reference.items():
        dists = sorted(distance(d.template, template) for d in found)
        assert dists[0] < 0.6, name  # the same person is found again
        assert dists[1] > 0.6, name  # and nobody else in the photo matches them
    # A small, soft copy: the face only ~60 px wide, then JPEG at quality 50.
    grace = sample("grace_hopper")
    small = grace.resize((grace.width // 3, grace.height // 3), Image.Resampling.BILINEAR)
    faces = analyzer.analyze(prepare_image(encode(small, "JPEG", quality=50)).image, with_templates=True)
    assert len(faces) == 1
    assert distance(faces[0].template, reference["grace_hopper"]) < 0.6
    assert distance(faces[0].template, reference["astronaut"]) > 0.6


def test_large_photo_is_detected_on_a_downscaled_copy_and_mapped_back(
    analyzer: FaceAnalyzer, source_faces: dict[str, list[Detection]]
) -> None:
    canvas, placements = compose(["zidane", "grace_hopper", "astronaut"], height=1500)  # about 5200×1580
    assert analyzer.detection_size(*canvas.size)[0] == 1600 < canvas.width
    found = _confident(analyzer.detect(canvas))
    direct = _confident(FaceAnalyzer(detect_max_side=100_000, upsample=0).detect(canvas))  # full resolution
    expected = _expected_boxes(placements, canvas, source_faces)
    assert len(found) == len(direct) == len(expected) == 3
    for d in found:
        twin = max(direct, key=lambda e: iou(e.box, d.box))
        assert iou(twin.box, d.box) > 0.7
        centre = (
            d.box.x + d.box.w / 2 - twin.box.x - twin.box.w / 2,
            d.box.y + d.box.h / 2 - twin.box.y - twin.box.h / 2,
        )
        assert abs(centre[0]) < 0.25 * d.box.w and abs(centre[1]) < 0.25 * d.box.h
    assert _matched(found, expected) == 3


def test_descriptors_of_large_faces_match_full_resolution(analyzer: FaceAnalyzer) -> None:
    grace = sample("grace_hopper")
    big = grace.resize((grace.width * 3, grace.height * 3), Image.Resampling.LANCZOS)  # face ~550 px wide
    box = analyzer.detect(big)[0].box
    cropped = analyzer.describe(big, [box])[0]
    reference = analyzer.describe(grace, [box])[0]
    assert distance(cropped, reference) < 0.15


def test_cnn_detector_finds_the_profile_face() -> None:
    zidane = sample("zidane")
    faces = FaceAnalyzer(model="cnn", detect_max_side=640, upsample=0).detect(zidane)
    assert len(faces) == 2 and {d.detector for d in faces} == {"dlib-cnn"}
    assert any(iou(d.box, BEST_FACE["zidane"]) > 0.5 for d in faces)  # Ancelotti, as HOG finds him
    assert any(0.35 < d.box.x < 0.45 for d in faces)  # and Zidane in profile, which HOG misses


def test_analyzer_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="Unknown face model"):
        FaceAnalyzer(model="retina")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FaceAnalyzer(detect_max_side=10)


def test_missing_model_file_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="face-recognition-models"):
        models.model_path(models.FACE_ENCODER_FILE, tmp_path)
    assert models.model_path(models.FACE_ENCODER_FILE).is_file()
    models.check_models()


def test_models_load_once_even_under_concurrent_first_use() -> None:
    built: list[object] = []
    barrier = threading.Barrier(8)

    def factory() -> object:
        """A model that records every time it is built."""
        built.append(object())
        return built[-1]

    lazy = models.LazyModel("probe", factory)
    results: list[object] = []

    def worker() -> None:
        """Load at the same moment as the other threads."""
        barrier.wait()
        results.append(lazy.load())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and all(r is built[0] for r in results)
    assert models.face_encoder.load() is models.face_encoder.load()
