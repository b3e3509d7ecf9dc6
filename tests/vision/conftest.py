"""Real sample photos from installed packages, "group photos" composed from them, and cached face analyses."""

from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.photos.vision.schemas import Box, Detection
from tests.imagery import stored_rotated

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 36867


def package_dir(name: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


SAMPLE_PATHS = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    "bus": ("ultralytics", "assets/bus.jpg"),
    "zidane": ("ultralytics", "assets/zidane.jpg"),
}


def sample_path(name: str) -> Path:
    """Path of one sample photo inside its package."""
    package, relative = SAMPLE_PATHS[name]
    return package_dir(package) / relative


def sample(name: str) -> Image.Image:
    """One sample photo as an RGB image."""
    with Image.open(sample_path(name)) as img:
        return img.convert("RGB")


@dataclass(frozen=True)
class Placement:
    """Where a sample was pasted on a canvas: top-left pixel and scale factor."""

    name: str
    x: int
    y: int
    scale: float


def compose(
    names: list[str], *, height: int = 600, gap: int = 40, background: tuple[int, int, int] = (226, 226, 220)
) -> tuple[Image.Image, list[Placement]]:
    """Samples scaled to one height and pasted side by side on a plain canvas, like a group photo."""
    parts = []
    for name in names:
        src = sample(name)
        scale = height / src.height
        parts.append((name, src.resize((round(src.width * scale), height), Image.Resampling.LANCZOS), scale))
    width = gap * (len(parts) + 1) + sum(p.width for _, p, _ in parts)
    canvas = Image.new("RGB", (width, height + 2 * gap), background)
    placements, x = [], gap
    for name, part, scale in parts:
        canvas.paste(part, (x, gap))
        placements.append(Placement(name, x, gap, scale))
        x += part.width + gap
    return canvas, placements


def map_box(box: Box, source_size: tuple[int, int], placement: Placement, canvas_size: tuple[int, int]) -> Box:
    """A box relative to a source photo, re-expressed relative to the canvas it was pasted on."""
    sw, sh = source_size
    cw, ch = canvas_size
    s = placement.scale
    return Box(
        (placement.x + box.x * sw * s) / cw,
        (placement.y + box.y * sh * s) / ch,
        box.w * sw * s / cw,
        box.h * sh * s / ch,
    )


def exif_block(orientation: int | None = None, taken: str | bytes | None = None) -> Image.Exif:
    """An EXIF block with an orientation tag and/or DateTimeOriginal."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if taken is not None:
        exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = taken
    return exif


def encode(image: Image.Image, fmt: str, *, exif: Image.Exif | None = None, **params: object) -> bytes:
    """The image encoded in a format, with an optional EXIF block."""
    out = io.BytesIO()
    if exif is not None:
        params["exif"] = exif if fmt == "TIFF" else exif.tobytes()
    if fmt == "JPEG":
        params.setdefault("quality", 92)
    image.save(out, fmt, **params)
    return out.getvalue()


def photo_with_orientation(displayed: Image.Image, orientation: int, fmt: str = "JPEG", **params: object) -> bytes:
    """Bytes whose raw pixels are rotated/flipped but whose EXIF orientation says how to show `displayed`."""
    return encode(stored_rotated(displayed, orientation), fmt, exif=exif_block(orientation), **params)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two relative boxes."""
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union else 0.0


def best_face(detections: list[Detection]) -> Detection:
    """The detection with the highest score."""
    return max(detections, key=lambda d: d.score or 0.0)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of two templates."""
    return float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))


@pytest.fixture(scope="session")
def analyzer() -> FaceAnalyzer:
    """The default face analyzer, models loaded once for the session."""
    fa = FaceAnalyzer()
    fa.load()
    return fa


@pytest.fixture(scope="session")
def source_faces(analyzer: FaceAnalyzer) -> dict[str, list[Detection]]:
    """Faces (with templates) of every sample photo, computed once."""
    return {name: analyzer.analyze(sample(name), with_templates=True) for name in SAMPLE_PATHS}


@pytest.fixture(scope="session")
def group() -> tuple[Image.Image, list[Placement]]:
    """A group photo of the portrait samples (about 2300×680), the base of the rotation and format tests."""
    return compose(["grace_hopper", "astronaut", "zidane"], height=600)
