"""The small-face pass: faces far below the 1600 px copy's reach are found at full resolution on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from portal.backend.photos.vision import faces as faces_module
from portal.backend.photos.vision import models
from portal.backend.photos.vision.faces import FaceAnalyzer, small_face_regions
from portal.backend.photos.vision.schemas import Box, Detection
from tests.vision.conftest import Placement, iou, map_box, sample

# Real faces score >= 0.3 at the sizes used here; the astronaut's mission patch scores 0.0-0.15 (test_faces.py).
CONFIDENT = 0.25


def _crowd(small_height: int) -> tuple[Image.Image, list[Placement]]:
    """Grace Hopper large, the astronaut and Zidane's photo shrunk `small_height` px tall, like people far back.

    The canvas is about 2600 px, so the first pass works on a 1600 px copy, where the small faces are ~19 px:
    below the ~30 px HOG needs even after its 2x upsampling.
    """
    parts = [("grace_hopper", 2400), ("astronaut", small_height), ("zidane", small_height)]
    scaled = []
    for name, height in parts:
        src = sample(name)
        scale = height / src.height
        scaled.append((name, src.resize((round(src.width * scale), height), Image.Resampling.LANCZOS), scale))
    gap = 60
    width = gap * (len(scaled) + 1) + sum(p.width for _, p, _ in scaled)
    canvas = Image.new("RGB", (width, 2400 + 2 * gap), (205, 210, 200))
    placements, x = [], gap
    for i, (name, part, scale) in enumerate(scaled):
        y = gap if i == 0 else gap + 300 * i  # the small ones at different heights, not on one row
        canvas.paste(part, (x, y))
        placements.append(Placement(name, x, y, scale))
        x += part.width + gap
    return canvas, placements


def _expected(
    placements: list[Placement], canvas: Image.Image, found_in_samples: dict[str, list[Detection]]
) -> dict[str, Box]:
    """Where the best (real) face of each pasted sample is on the canvas."""
    return {
        p.name: map_box(
            max(found_in_samples[p.name], key=lambda d: d.score or 0.0).box, sample(p.name).size, p, canvas.size
        )
        for p in placements
    }


def _share(box: Box, canvas: Image.Image) -> float:
    """A box's larger side as a share of the canvas's long side."""
    return max(box.w * canvas.width, box.h * canvas.height) / max(canvas.size)


def test_small_faces_are_found_at_full_resolution_and_only_there(
    analyzer: FaceAnalyzer, source_faces: dict[str, list[Detection]]
) -> None:
    canvas, placements = _crowd(small_height=170)
    expected = _expected(placements, canvas, source_faces)
    assert 0.008 < _share(expected["astronaut"], canvas) < 0.015  # about 1% of the long side, 30 px
    assert 0.008 < _share(expected["zidane"], canvas) < 0.015

    first_only = FaceAnalyzer(small_faces=False).detect(canvas)
    found = analyzer.detect(canvas)

    # The 1600 px copy alone sees only Grace Hopper; the default analyzer finds the two small faces as well.
    assert [name for name, box in expected.items() if any(iou(d.box, box) >= 0.4 for d in first_only)] == [
        "grace_hopper"
    ]
    for name, box in expected.items():
        assert any(iou(d.box, box) >= 0.4 and (d.score or 0.0) >= CONFIDENT for d in found), name
    # Every detection the small-face pass added is on one of those faces: every stored detection is shown to staff
    # and counted as an unidentified person (no score cut-off after the detector's own), so the patch on the small
    # astronaut's suit, her hands or the grass behind Zidane must not show up at any score.
    added = [d for d in found if all(iou(d.box, f.box) < 0.99 for f in first_only)]
    assert added and all(any(iou(d.box, box) >= 0.4 for box in expected.values()) for d in added)
    assert all(d.kind == "face" and d.detector == "dlib-hog" for d in found)
    assert all(d.box.x + d.box.w <= 1.0 and d.box.y + d.box.h <= 1.0 for d in found)


def test_templates_of_small_faces_match_the_same_person(
    analyzer: FaceAnalyzer, source_faces: dict[str, list[Detection]]
) -> None:
    canvas, placements = _crowd(small_height=200)
    expected = _expected(placements, canvas, source_faces)
    found = analyzer.analyze(canvas, with_templates=True)
    astronaut = max(found, key=lambda d: iou(d.box, expected["astronaut"]))
    assert iou(astronaut.box, expected["astronaut"]) >= 0.4 and astronaut.template is not None
    reference = max(source_faces["astronaut"], key=lambda d: d.score or 0.0).template
    grace = max(source_faces["grace_hopper"], key=lambda d: d.score or 0.0).template
    assert reference is not None and grace is not None
    # A 35 px face is a poor template, yet it stays nearer the astronaut than anyone else.
    gap_same = float(((astronaut.template - reference) ** 2).sum() ** 0.5)
    gap_other = float(((astronaut.template - grace) ** 2).sum() ** 0.5)
    assert gap_same < gap_other


def test_regions_skip_flat_areas_and_faces_already_found(source_faces: dict[str, list[Detection]]) -> None:
    canvas, placements = _crowd(small_height=170)
    expected = _expected(placements, canvas, source_faces)
    copy = canvas.resize((1600, round(canvas.height * 1600 / canvas.width)), Image.Resampling.BILINEAR)
    regions = small_face_regions(copy, canvas.size, [expected["grace_hopper"]])
    area = sum((r - left) * (b - t) for left, t, r, b in regions)
    assert 0 < area < 0.10 * canvas.width * canvas.height  # a small part of the photo is scanned again

    assert _covered(expected["astronaut"], regions, canvas) and _covered(expected["zidane"], regions, canvas)
    assert not _covered(expected["grace_hopper"], regions, canvas)  # a face already found is not scanned again
    plain = Image.new("RGB", (1600, 1200), (205, 170, 150))  # skin-coloured but flat: nothing to scan
    assert small_face_regions(plain, (4000, 3000), []) == []


def test_small_photos_and_the_cnn_skip_the_small_face_pass(monkeypatch: object) -> None:
    calls: list[object] = []
    original = faces_module.small_face_regions

    def spy(*args: object, **kwargs: object) -> object:
        """Record that the small-face pass ran."""
        calls.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(faces_module, "small_face_regions", spy)  # type: ignore[attr-defined]
    grace = sample("grace_hopper")  # 512 px: the first pass already runs at full resolution, upsampled once
    assert len(FaceAnalyzer().detect(grace)) == 1
    assert calls == []
    FaceAnalyzer().detect(grace.resize((2048, 2400), Image.Resampling.BILINEAR))
    assert len(calls) == 1


def test_a_found_faces_own_hair_neck_and_collar_are_not_scanned_again(
    source_faces: dict[str, list[Detection]], monkeypatch: pytest.MonkeyPatch
) -> None:
    canvas, placements = _crowd(small_height=170)
    expected = _expected(placements, canvas, source_faces)
    copy = canvas.resize((1600, round(canvas.height * 1600 / canvas.width)), Image.Resampling.BILINEAR)
    grace = expected["grace_hopper"]
    side, above, below = faces_module.HEAD_MARGIN
    head = Box(
        grace.x - side * grace.w, grace.y - above * grace.h, (1 + 2 * side) * grace.w, (1 + above + below) * grace.h
    )
    left, top, right, bottom = head.to_pixels(*canvas.size)

    def within_head(regions: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        """The regions that lie wholly within Grace Hopper's head and collar."""
        return [r for r in regions if r[0] >= left and r[1] >= top and r[2] <= right and r[3] <= bottom]

    with_margin = small_face_regions(copy, canvas.size, [grace])
    monkeypatch.setattr(faces_module, "HEAD_MARGIN", (0.0, 0.0, 0.0))
    without_margin = small_face_regions(copy, canvas.size, [grace])
    # Her cap, hair and collar pass the skin-and-detail cue; only the margin keeps them from being scanned again.
    assert within_head(without_margin) and not within_head(with_margin)
    assert _area(with_margin) < 0.7 * _area(without_margin)

    assert _covered(expected["astronaut"], with_margin, canvas) and _covered(expected["zidane"], with_margin, canvas)


def test_touching_scans_are_merged_only_where_that_wastes_little() -> None:
    merge = faces_module._merge_scans
    # Two blobs' scans touching at a corner: their box would scan twice the area they cover, so they stay apart.
    corner = [(0, 0, 3, 3), (3, 3, 6, 6)]
    assert sorted(merge(corner, (10, 10))) == corner
    # Two scans overlapping along a side: their box covers nothing more, so it is one scan.
    assert merge([(0, 0, 3, 3), (0, 2, 3, 5)], (10, 10)) == [(0, 0, 3, 5)]
    # An L of three scans: the first two merge, the arm stays a scan of its own.
    assert sorted(merge([(0, 0, 3, 3), (0, 2, 3, 5), (3, 0, 9, 3)], (10, 10))) == [(0, 0, 3, 5), (3, 0, 9, 3)]
    # A staircase of scans touching at corners stays apart (each box would waste area) up to MAX_MERGE_SCANS; a
    # larger group (a skin-coloured, detailed surface) is scanned as one box rather than searched pair by pair.
    limit = faces_module.MAX_MERGE_SCANS
    stairs = [(2 * i, 2 * i, 2 * i + 3, 2 * i + 3) for i in range(limit + 1)]
    assert sorted(merge(stairs[:limit], (100, 100))) == stairs[:limit]
    assert merge(stairs, (100, 100)) == [(0, 0, 2 * limit + 3, 2 * limit + 3)]


def _area(regions: list[tuple[int, int, int, int]]) -> int:
    """The pixels the regions cover, counted once per region."""
    return sum((r - left) * (b - t) for left, t, r, b in regions)


def test_a_small_face_above_a_skin_coloured_coat_is_scanned(
    analyzer: FaceAnalyzer, source_faces: dict[str, list[Detection]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bus photo's man on the left wears a beige coat: at 1.3% of the long side his face, neck and coat make one
    # skin-coloured, detailed blob of 7-9 cells, which a cap of 6 cells (an arm or a wall, it assumed) never scanned.
    grace = sample("grace_hopper").resize((2048, 2400), Image.Resampling.LANCZOS)
    bus = sample("bus")
    scale = 940 / bus.height
    canvas = Image.new("RGB", (180 + grace.width + round(bus.width * scale), 2520), (205, 210, 200))
    canvas.paste(grace, (60, 60))
    placement = Placement("bus", 120 + grace.width, 900, scale)
    canvas.paste(bus.resize((round(bus.width * scale), 940), Image.Resampling.LANCZOS), (placement.x, placement.y))
    faces = [map_box(d.box, bus.size, placement, canvas.size) for d in source_faces["bus"] if (d.score or 0) >= 0.15]
    assert len(faces) == 2 and all(0.012 < _share(f, canvas) < 0.015 for f in faces)

    found = analyzer.detect(canvas)
    assert all(any(iou(d.box, face) >= 0.4 for d in found) for face in faces)
    small = [d for d in found if _share(d.box, canvas) < 0.03]
    assert len(small) == 2 and all(any(iou(d.box, face) >= 0.4 for face in faces) for d in small)

    monkeypatch.setattr(faces_module, "MAX_BLOB_CELLS", 6)
    capped = FaceAnalyzer().detect(canvas)
    assert not any(iou(d.box, faces[0]) >= 0.4 for d in capped)  # the coat's blob was dropped, and his face with it


def _covered(box: Box, regions: list[tuple[int, int, int, int]], canvas: Image.Image) -> bool:
    """Whether one region holds the whole box."""
    left, top, right, bottom = box.to_pixels(*canvas.size)
    return any(r[0] <= left and r[1] <= top and r[2] >= right and r[3] >= bottom for r in regions)


def test_the_small_face_pass_scans_only_the_pyramid_levels_the_first_pass_cannot_cover() -> None:
    capped, full = models.small_face_hog.load(), models.hog_detector.load()
    grace = sample("grace_hopper")
    face_height = 0.33 * grace.height  # Grace's face box is about a third of the photo's height
    for face_px, capped_finds in ((90, True), (200, True), (420, False)):
        # Grace scaled so her face is `face_px` wide, as a region of the 10,000 px scan would show her.
        scale = face_px / face_height
        pixels = np.asarray(grace.resize((round(grace.width * scale), round(grace.height * scale))))
        rects, scores, _ = full.run(pixels, 0, 0.0)
        assert len(rects) == 1 and scores[0] > CONFIDENT
        capped_rects, capped_scores, _ = capped.run(pixels, 0, 0.0)
        if capped_finds:  # the same face and score: the first levels are scanned exactly as before
            assert [r.left() for r in capped_rects] == [r.left() for r in rects] and capped_scores == scores
        else:  # a face this large (4% at the 10,000 px scale) is the first pass's, and no longer scanned for
            assert len(capped_rects) == 0
    # The largest window the capped pyramid scans is below the first pass's smallest face (2.5% of 10,000 px).
    assert 80 * 1.2 ** (models.SMALL_FACE_LEVELS - 1) < 0.025 * faces_module.SMALL_FACE_SIDE


@pytest.mark.parametrize("light", [0.15, 0.08])
def test_small_faces_in_a_dark_photo_are_found(
    analyzer: FaceAnalyzer, source_faces: dict[str, list[Detection]], light: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same photo taken with 15% or 8% of the light (a dim hall): skin colours and edges shrink towards grey in
    # YCbCr, below the cue's absolute thresholds, while HOG normalises contrast and still sees the faces.
    canvas, placements = _crowd(small_height=170)
    expected = _expected(placements, canvas, source_faces)
    linear = (np.asarray(canvas, dtype=np.float32) / 255) ** 2.2 * light
    dark = Image.fromarray(np.clip(linear ** (1 / 2.2) * 255, 0, 255).round().astype(np.uint8))
    assert np.percentile(np.asarray(dark.convert("L")), 99) < 110
    assert faces_module._exposed(canvas) is canvas  # a well-lit photo's cue is left as it is

    found = analyzer.detect(dark)
    for name, box in expected.items():
        assert any(iou(d.box, box) >= 0.4 and (d.score or 0.0) >= CONFIDENT for d in found), name
    assert len(found) == 3

    # Without brightening the cue, the small faces' cells are neither skin-coloured nor detailed enough.
    monkeypatch.setattr(faces_module, "MAX_GAIN", 1.0)
    unlit = FaceAnalyzer().detect(dark)
    assert not any(iou(d.box, expected["astronaut"]) >= 0.4 or iou(d.box, expected["zidane"]) >= 0.4 for d in unlit)


def test_a_small_face_scoring_just_below_hogs_own_threshold_is_kept(
    analyzer: FaceAnalyzer, source_faces: dict[str, list[Detection]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # At 176 px tall, Zidane's face (about 1% of the long side) scores just below 0 in its region: HOG's score for a
    # face this small swings around 0 with the scale it is scanned at (0.19, -0.02, 0.25 at 164, 176, 182 px).
    canvas, placements = _crowd(small_height=176)
    expected = _expected(placements, canvas, source_faces)
    found = analyzer.detect(canvas)
    zidane = [d for d in found if iou(d.box, expected["zidane"]) >= 0.4]
    assert len(zidane) == 1 and faces_module.SMALL_FACE_MIN_SCORE <= (zidane[0].score or 0.0) < 0.0
    assert len(found) == 3  # Grace Hopper, the astronaut and Zidane; nothing else at this score

    monkeypatch.setattr(faces_module, "SMALL_FACE_MIN_SCORE", 0.0)  # dlib's own threshold
    assert not any(iou(d.box, expected["zidane"]) >= 0.4 for d in FaceAnalyzer().detect(canvas))
