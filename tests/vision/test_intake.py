"""Image intake on real files: formats, EXIF orientation and date, colour modes, and every kind of bad upload."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
import zlib
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image, ImageFile

from portal.backend.photos.vision.intake import encode_jpeg, make_thumbnail, prepare_image
from portal.backend.photos.vision.schemas import ImageRejected
from portal.backend.platform.errors import ValidationError
from tests.vision.conftest import encode, exif_block, photo_with_orientation, sample, sample_path


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    """The astronaut sample (512×512 RGB)."""
    return sample("astronaut")


@pytest.fixture(scope="module")
def asymmetric() -> Image.Image:
    """A small image with a distinct colour in each corner, so every flip and rotation is visible."""
    img = Image.new("RGB", (60, 40), (128, 128, 128))
    img.paste((255, 0, 0), (0, 0, 10, 10))
    img.paste((0, 255, 0), (50, 0, 60, 10))
    img.paste((0, 0, 255), (0, 30, 10, 40))
    return img


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares width×height but carries almost no pixel data (a decompression-bomb header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _rejected(data: bytes, **kwargs: object) -> str:
    """The message of the ImageRejected that prepare_image raises for data."""
    with pytest.raises(ImageRejected) as info:
        prepare_image(data, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValidationError)
    return str(info.value)


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("TIFF", "image/tiff"),
        ("GIF", "image/gif"),
    ],
)
def test_accepted_formats_record_the_facts(astronaut: Image.Image, fmt: str, content_type: str) -> None:
    data = encode(astronaut, fmt)
    prepared = prepare_image(data)
    assert prepared.content_type == content_type
    assert (prepared.width, prepared.height) == (512, 512) == prepared.image.size
    assert prepared.image.mode == "RGB"
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()
    assert prepared.size_bytes == len(data)
    assert prepared.taken_at is None


def test_original_sample_files_are_accepted() -> None:
    for name, content_type in [("grace_hopper", "image/jpeg"), ("astronaut", "image/png"), ("bus", "image/jpeg")]:
        prepared = prepare_image(sample_path(name).read_bytes(), filename=f"{name}")
        assert prepared.content_type == content_type
        assert prepared.image.size == sample(name).size


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_exactly(asymmetric: Image.Image, orientation: int) -> None:
    data = photo_with_orientation(asymmetric, orientation, "PNG")
    with Image.open(io.BytesIO(data)) as raw:
        raw_size = raw.size
    prepared = prepare_image(data)
    assert (prepared.width, prepared.height) == (60, 40)  # as displayed, whatever the stored layout
    if orientation >= 5:
        assert raw_size == (40, 60)
    assert np.array_equal(np.asarray(prepared.image), np.asarray(asymmetric))


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "TIFF"])
def test_exif_orientation_in_other_formats(astronaut: Image.Image, fmt: str) -> None:
    displayed = astronaut.crop((0, 0, 512, 300))
    prepared = prepare_image(photo_with_orientation(displayed, 6, fmt))
    assert prepared.image.size == (512, 300)
    diff = np.abs(np.asarray(prepared.image, dtype=int) - np.asarray(displayed, dtype=int)).mean()
    assert diff < 6  # only compression noise, not a rotated picture


def test_taken_at_from_exif_datetime_original(astronaut: Image.Image) -> None:
    data = encode(astronaut, "JPEG", exif=exif_block(taken="2024:06:01 18:30:05"))
    assert prepare_image(data).taken_at == datetime(2024, 6, 1, 18, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["2024:13:45 99:00:00", "yesterday", "", "0000:00:00 00:00:00"])
def test_malformed_taken_at_is_none(astronaut: Image.Image, bad: str) -> None:
    data = encode(astronaut, "JPEG", exif=exif_block(taken=bad))
    assert prepare_image(data).taken_at is None


def test_empty_upload_is_rejected() -> None:
    assert "empty" in _rejected(b"", filename="party.jpg")
    assert "party.jpg" in _rejected(b"", filename="party.jpg")


def test_random_bytes_are_rejected() -> None:
    message = _rejected(os.urandom(4096))
    assert "not an image" in message and "JPEG" in message


def test_text_file_is_rejected() -> None:
    assert "not an image" in _rejected(b"name,email\nAda,ada@example.org\n" * 50, filename="list.csv")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_rejected(astronaut: Image.Image, fmt: str) -> None:
    data = encode(astronaut, fmt)
    message = _rejected(data[: len(data) // 2])
    assert "damaged or incomplete" in message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_decompression_bomb_header_is_rejected_without_touching_pillow_globals() -> None:
    limit, filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    bomb = _png_header_only(40_000, 40_000)
    assert len(bomb) < 200
    message = _rejected(bomb)
    assert "decompression bomb" in message
    assert Image.MAX_IMAGE_PIXELS == limit and warnings.filters == filters


def test_real_compressible_bomb_is_rejected() -> None:
    # 12000×12000 one-bit pixels compress to a few kilobytes but are 144 megapixels to decode.
    data = encode(Image.new("1", (12_000, 12_000), 0), "PNG", optimize=True)
    assert len(data) < 100_000
    assert "megapixels" in _rejected(data)


def test_size_limit_is_checked_before_decoding() -> None:
    # The header says 3000×3000 but no real pixel data follows: the size message proves nothing was decoded first.
    message = _rejected(_png_header_only(1500, 1000), max_pixels=1_000_000)
    assert "1500×1000" in message and "limit is 1.0 megapixels" in message
    assert "damaged" in _rejected(_png_header_only(1500, 1000))  # under the limit it is decoded and fails
    assert "decompression bomb" in _rejected(_png_header_only(3000, 3000), max_pixels=1_000_000)


def test_image_over_a_small_limit_is_rejected(astronaut: Image.Image) -> None:
    message = _rejected(encode(astronaut, "PNG"), max_pixels=100_000, filename="big.png")
    assert "512×512" in message and "big.png" in message and "smaller" in message
    assert prepare_image(encode(astronaut, "PNG"), max_pixels=512 * 512).width == 512


def test_unsupported_format_is_named(astronaut: Image.Image) -> None:
    assert "BMP" in _rejected(encode(astronaut, "BMP"))


def test_cmyk_jpeg_becomes_rgb(astronaut: Image.Image) -> None:
    prepared = prepare_image(encode(astronaut.convert("CMYK"), "JPEG"))
    assert prepared.image.mode == "RGB"
    diff = np.abs(np.asarray(prepared.image, dtype=int) - np.asarray(astronaut, dtype=int)).mean()
    assert diff < 12


def test_palette_png_transparency_is_white() -> None:
    img = Image.new("P", (20, 10), 0)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0, 0, 0] * 254)
    img.paste(1, (10, 0, 20, 10))
    prepared = prepare_image(encode(img, "PNG", transparency=0))
    pixels = np.asarray(prepared.image)
    assert prepared.image.mode == "RGB"
    assert (pixels[:, :10] == 255).all()  # the transparent colour (black) shows as white
    assert (pixels[:, 10:] == [200, 30, 30]).all()


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (8, 1))
    img = Image.fromarray(ramp)
    assert img.mode.startswith("I;16")
    pixels = np.asarray(prepare_image(encode(img, "PNG")).image)
    assert pixels[0, 0].tolist() == [0, 0, 0] and pixels[0, -1].tolist() == [255, 255, 255]
    assert 120 <= pixels[0, 128, 0] <= 135  # the middle stays grey instead of clipping to white


def test_rgba_and_la_are_composited_on_white() -> None:
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 5, 10))
    pixels = np.asarray(prepare_image(encode(rgba, "PNG")).image)
    assert (pixels[:, :5] == [0, 0, 255]).all() and (pixels[:, 5:] == 255).all()
    la = Image.new("LA", (4, 4), (0, 128))
    grey = np.asarray(prepare_image(encode(la, "PNG")).image)
    assert 125 <= int(grey[0, 0, 0]) <= 129  # half-transparent black over white


def test_animated_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.n_frames == 3
    prepared = prepare_image(data)
    assert prepared.content_type == "image/gif"
    assert np.asarray(prepared.image)[8, 8].tolist() == [255, 0, 0]


def test_multipage_tiff_uses_the_first_page(astronaut: Image.Image) -> None:
    data = encode(astronaut, "TIFF", save_all=True, append_images=[Image.new("RGB", (20, 20), "green")])
    assert prepare_image(data).image.size == (512, 512)


def test_thumbnail_keeps_aspect_and_is_jpeg() -> None:
    grace = sample("grace_hopper")  # 512×600
    thumb = make_thumbnail(grace, max_side=128)
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.format == "JPEG" and max(img.size) == 128
        assert abs(img.width / img.height - grace.width / grace.height) < 0.02


def test_encode_jpeg_writes_no_exif(astronaut: Image.Image) -> None:
    prepared = prepare_image(encode(astronaut, "JPEG", exif=exif_block(orientation=6, taken="2024:06:01 18:30:05")))
    data = encode_jpeg(prepared.image, quality=80)
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG" and img.size == prepared.image.size
        assert len(img.getexif()) == 0


def test_truncated_files_stay_rejected_after_weasyprint_is_imported(astronaut: Image.Image) -> None:
    import weasyprint  # noqa: F401 - importing it switches Pillow's LOAD_TRUNCATED_IMAGES on for the process

    data = encode(astronaut, "JPEG")
    assert "damaged or incomplete" in _rejected(data[: len(data) // 2])
