"""Redaction on real faces: the padded boxes are destroyed, everything else stays byte-identical."""

from __future__ import annotations

import numpy as np
from PIL import Image

from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.photos.vision.redaction import blur_regions, highlight, padded_pixels
from portal.backend.photos.vision.schemas import Box, Detection
from tests.vision.conftest import Placement


def _mask(size: tuple[int, int], rects: list[tuple[int, int, int, int]]) -> np.ndarray:
    """A boolean (height, width) mask that is True inside the rectangles."""
    mask = np.zeros((size[1], size[0]), dtype=bool)
    for left, top, right, bottom in rects:
        mask[top:bottom, left:right] = True
    return mask


def test_blurred_faces_are_gone_and_the_rest_is_untouched(
    analyzer: FaceAnalyzer, group: tuple[Image.Image, list[Placement]]
) -> None:
    canvas, _ = group
    faces = [d for d in analyzer.detect(canvas) if (d.score or 0) > 0.25]
    assert len(faces) == 3
    before = np.asarray(canvas).copy()
    out = blur_regions(canvas, [d.box for d in faces])
    after = np.asarray(out)
    assert out is not canvas and np.array_equal(np.asarray(canvas), before)  # the input is not modified
    rects = [padded_pixels(d.box, *canvas.size, 0.15) for d in faces]
    inside = _mask(canvas.size, rects)
    assert np.array_equal(after[~inside], before[~inside])  # byte-identical outside the padded boxes
    for left, top, right, bottom in rects:
        region_before = before[top:bottom, left:right].astype(float)
        region_after = after[top:bottom, left:right].astype(float)
        assert np.abs(region_after - region_before).mean() > 8  # really changed
        # Detail is gone: neighbouring pixels barely differ any more.
        assert np.abs(np.diff(region_after, axis=1)).mean() < 0.3 * np.abs(np.diff(region_before, axis=1)).mean()
    assert [d for d in analyzer.detect(out) if (d.score or 0) > 0.25] == []  # no face left to find


def test_padding_grows_the_box_and_is_clamped_at_the_edges() -> None:
    assert padded_pixels(Box(0.4, 0.4, 0.2, 0.2), 100, 100, 0.15) == (37, 37, 63, 63)
    assert padded_pixels(Box(0.0, 0.9, 0.2, 0.1), 100, 100, 0.5) == (0, 85, 30, 100)


def test_blur_at_the_image_edge_and_with_no_boxes() -> None:
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 256, size=(50, 80, 3), dtype=np.uint8))
    assert np.array_equal(np.asarray(blur_regions(noise, [])), np.asarray(noise))
    out = np.asarray(blur_regions(noise, [Box(0.9, 0.0, 0.1, 0.5)], pad=0.0))
    assert np.array_equal(out[:, :72], np.asarray(noise)[:, :72])
    assert np.array_equal(out[25:], np.asarray(noise)[25:])
    assert not np.array_equal(out[:25, 72:], np.asarray(noise)[:25, 72:])


def test_highlight_draws_an_outline_only(source_faces: dict[str, list[Detection]]) -> None:
    image = Image.new("RGB", (200, 100), (20, 20, 20))
    box = Box(0.25, 0.2, 0.5, 0.6)
    out = highlight(image, [box], color=(255, 0, 0), width=3)
    pixels = np.asarray(out)
    left, top, right, bottom = box.to_pixels(200, 100)
    assert pixels[top, left + 10].tolist() == [255, 0, 0]
    assert pixels[bottom - 1, right - 10].tolist() == [255, 0, 0]
    assert pixels[(top + bottom) // 2, (left + right) // 2].tolist() == [20, 20, 20]  # inside stays as it was
    assert pixels[0, 0].tolist() == [20, 20, 20]
    assert np.asarray(image).max() == 20  # the original is not drawn on
