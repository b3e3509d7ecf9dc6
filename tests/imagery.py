"""Real sample photos shipped inside installed packages, and group photos composed from them."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

from PIL import Image


def _package_dir(name: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


SAMPLES = {
    "astronaut": lambda: _package_dir("skimage") / "data" / "astronaut.png",
    "grace_hopper": lambda: _package_dir("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg",
    "bus": lambda: _package_dir("ultralytics") / "assets" / "bus.jpg",
    "zidane": lambda: _package_dir("ultralytics") / "assets" / "zidane.jpg",
}


def sample(name: str) -> Image.Image:
    """One of the sample photos as RGB."""
    with Image.open(SAMPLES[name]()) as img:
        return img.convert("RGB")


def sample_bytes(name: str) -> bytes:
    """The sample file's original bytes."""
    return SAMPLES[name]().read_bytes()


# Raw pixels to store for each EXIF orientation so that applying the tag shows the intended image: the inverse of
# the transposition Pillow applies for that tag (2, 3, 4, 5 and 7 are their own inverse).
STORE_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def stored_rotated(displayed: Image.Image, orientation: int) -> Image.Image:
    """Raw pixels a camera would store for `displayed` together with this orientation tag."""
    return displayed.copy() if orientation == 1 else displayed.transpose(STORE_AS[orientation])


def group_photo(names: list[str], *, height: int = 480, fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    """Samples scaled to one height and pasted side by side, encoded; optionally stored rotated with an EXIF tag."""
    parts = [sample(n) for n in names]
    parts = [p.resize((round(p.width * height / p.height), height)) for p in parts]
    canvas = Image.new("RGB", (sum(p.width for p in parts) + 20 * (len(parts) + 1), height + 40), (235, 235, 235))
    x = 20
    for p in parts:
        canvas.paste(p, (x, 20))
        x += p.width + 20
    exif = Image.Exif()
    if orientation:
        canvas = stored_rotated(canvas, orientation)
        exif[0x0112] = orientation
    out = io.BytesIO()
    canvas.save(out, format=fmt, exif=exif.tobytes() if orientation else b"", quality=92)
    return out.getvalue()
