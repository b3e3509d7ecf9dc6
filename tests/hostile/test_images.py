"""Hostile image files through the real intake (assets.ingest), the selfie check and the paper-scan path.

Refused files must give the clear error and leave the database and the blob store exactly as they were; accepted
odd files must be stored right (upright size, RGB JPEG thumbnail, first frame, no payload carried into what the
portal derives from them) with exactly one asset row and its two blobs.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from datetime import date

import numpy as np
import pytest
from PIL import Image

from portal.backend.people.services import register_subject
from portal.backend.photos.assets import MAX_FILE_BYTES, Intake, blob_keys, ingest
from portal.backend.photos.biometrics import check_selfie, enrol_template
from portal.backend.photos.renditions import safe_rendition
from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.photos.vision.schemas import ImageRejected
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.runtime import Portal
from tests.factories import make_subject
from tests.hostile import snapshot
from tests.hostile.conftest import MAX_PIXELS, Site
from tests.imagery import STORE_AS, group_photo, sample, sample_bytes, stored_rotated

# --- building hostile files ------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """The image encoded in a format."""
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def small_jpeg(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (40, 30)) -> bytes:
    """A tiny, valid JPEG."""
    return encode(Image.new("RGB", size, colour), "JPEG", quality=95)


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose header declares width × height (8-bit grey) followed by the given compressed data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", idat or zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def png_zlib_bomb(side: int = 8000) -> bytes:
    """A real decompression bomb: side × side black pixels that really decode, compressed about 1000:1."""
    row = b"\0" * (side + 1)  # filter byte + one grey byte per pixel
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return png_declaring(side, side, body)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) was rewritten to declare width × height."""
    data = bytearray(small_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_declaring(width: int, height: int) -> bytes:
    """A GIF whose logical screen is width × height with one 1×1 frame in it."""
    return (
        b"GIF89a"
        + struct.pack("<HH", width, height)
        + b"\x00\x00\x00"
        + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def zip_bytes() -> bytes:
    """A ZIP archive holding an HTML page with a script."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("payload/index.html", "<html><script>alert(document.cookie)</script></html>")
    return out.getvalue()


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script type="text/javascript">alert(1)</script><rect width="10" height="10"/></svg>'
)
PDF = encode(Image.new("RGB", (16, 16), "red"), "PDF")
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(120)
_SAMPLE = sample_bytes("grace_hopper")

# (id, bytes, file name, expected message)
REFUSED = [
    ("zero-bytes", b"", "empty.jpg", r"is empty \(0 bytes\)"),
    ("png-header-70000x70000", png_declaring(70_000, 70_000), "huge.png", "decompression bomb"),
    ("jpeg-header-65000x65000", jpeg_declaring(65_000, 65_000), "huge.jpg", "decompression bomb"),
    ("gif-screen-65535x65535", gif_declaring(65_535, 65_535), "huge.gif", "decompression bomb"),
    ("png-zero-width", png_declaring(0, 10), "flat.png", "not an image the portal can read"),
    ("truncated-jpeg", _SAMPLE[: len(_SAMPLE) * 6 // 10], "cut.jpg", "damaged or incomplete"),
    ("jpeg-without-end", small_jpeg()[:-2], "noend.jpg", "damaged or incomplete"),
    (
        "truncated-png",
        sample_bytes("astronaut")[: len(sample_bytes("astronaut")) // 2],
        "cut.png",
        "damaged or incomplete",
    ),
    ("html-named-jpg", HTML, "photo.jpg", "not an image the portal can read"),
    ("svg-with-script", SVG, "logo.svg", "not an image the portal can read"),
    ("svg-named-png", SVG, "logo.png", "not an image the portal can read"),
    ("pdf-named-jpg", PDF, "scan.jpg", "not an image the portal can read"),
    ("elf-named-jpg", ELF, "run.jpg", "not an image the portal can read"),
    ("zip-then-jpeg", zip_bytes() + small_jpeg(), "archive.jpg", "not an image the portal can read"),
    ("bmp-named-jpg", encode(Image.new("RGB", (16, 16), "red"), "BMP"), "old.jpg", "BMP image, which is not supported"),
    ("ico", encode(Image.new("RGB", (16, 16), "red"), "ICO"), "favicon.ico", "ICO image, which is not supported"),
    ("ppm", encode(Image.new("RGB", (16, 16), "red"), "PPM"), "raw.ppm", "PPM image, which is not supported"),
]


@pytest.mark.parametrize(("data", "filename", "message"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_files_change_nothing(site: Site, data: bytes, filename: str, message: str) -> None:
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ImageRejected, match=message):
        ingest(site.db, site.blobs, data=data, filename=filename, max_pixels=MAX_PIXELS)
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_real_zlib_bomb_is_refused_before_decoding(site: Site) -> None:
    bomb = png_zlib_bomb(8000)
    assert len(bomb) < 100_000  # 64 million pixels in under 100 kB
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ImageRejected, match=r"8000×8000 pixels.*decompression bomb"):
        ingest(site.db, site.blobs, data=bomb, filename="bomb.png", max_pixels=10_000_000)
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_over_the_pixel_limit_says_the_limit(site: Site) -> None:
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ImageRejected, match=r"1200×800 pixels \(1\.0 megapixels\); the limit is 0\.5 megapixels"):
        ingest(
            site.db,
            site.blobs,
            data=encode(Image.new("RGB", (1200, 800)), "PNG"),
            filename="big.png",
            max_pixels=500_000,
        )
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_file_over_the_byte_limit_is_refused_unread(site: Site) -> None:
    data = small_jpeg() + bytes(MAX_FILE_BYTES)
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ValidationError, match=f"at most {MAX_FILE_BYTES >> 20} MiB"):
        ingest(site.db, site.blobs, data=data, filename="padded.jpg", max_pixels=MAX_PIXELS)
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_valid_image_for_an_unknown_event_stores_no_blob(site: Site) -> None:
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ValidationError, match="No event with id 9999"):
        ingest(site.db, site.blobs, data=small_jpeg(), filename="ok.jpg", max_pixels=MAX_PIXELS, event_id=9999)
    snapshot.assert_unchanged(before, site.db, site.blobs)


# --- accepted odd files ------------------------------------------------------------------------------------------


def accept(site: Site, data: bytes, filename: str, content_type: str) -> tuple[Intake, Image.Image]:
    """Ingest a file that must be accepted: one asset row and exactly its two blobs; returns it and its thumbnail."""
    before = snapshot.take(site.db, site.blobs)
    intake = ingest(site.db, site.blobs, data=data, filename=filename, max_pixels=MAX_PIXELS)
    assert intake.created
    asset = intake.asset
    assert asset.content_type == content_type
    assert (asset.blob_key, asset.thumb_key) == blob_keys(asset.sha256, content_type)
    snapshot.expect(before, site.db, site.blobs, rows={"assets": 1}, added={asset.blob_key, asset.thumb_key})
    assert site.blobs.get(asset.blob_key) == data  # the original is kept byte for byte
    thumb_bytes = site.blobs.get(asset.thumb_key or "")
    thumb = Image.open(io.BytesIO(thumb_bytes))
    assert thumb.format == "JPEG" and thumb.mode == "RGB"
    assert b"Exif" not in thumb_bytes[:4096]  # no metadata travels into derived files
    thumb.load()
    return intake, thumb


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    """True when an RGB pixel is within `tolerance` of `colour` in every channel."""
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def marked_picture() -> Image.Image:
    """120×60, white, with a red block top-left and a blue block bottom-right: every rotation and flip differs."""
    img = Image.new("RGB", (120, 60), (255, 255, 255))
    img.paste((220, 20, 20), (0, 0, 40, 20))
    img.paste((20, 20, 220), (90, 40, 120, 60))
    return img


@pytest.mark.parametrize("orientation", sorted(STORE_AS))
def test_exif_orientation_is_stored_upright(site: Site, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored_rotated(marked_picture(), orientation), "JPEG", quality=95, exif=exif.tobytes())
    intake, thumb = accept(site, data, f"rotated-{orientation}.jpg", "image/jpeg")
    assert (intake.asset.width, intake.asset.height) == (120, 60)
    assert thumb.size == (120, 60)
    assert near(thumb.getpixel((10, 5)), (220, 20, 20))
    assert near(thumb.getpixel((110, 55)), (20, 20, 220))
    assert near(thumb.getpixel((110, 5)), (255, 255, 255))


@pytest.mark.parametrize("tag", [0, 9, 65535])
def test_meaningless_orientation_tag_is_ignored(site: Site, tag: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = tag
    intake, thumb = accept(
        site, encode(marked_picture(), "JPEG", quality=95, exif=exif.tobytes()), f"tag-{tag}.jpg", "image/jpeg"
    )
    assert (intake.asset.width, intake.asset.height) == (120, 60)
    assert near(thumb.getpixel((10, 5)), (220, 20, 20))


def test_garbage_exif_block_costs_only_the_metadata(site: Site) -> None:
    data = encode(marked_picture(), "JPEG", quality=95, exif=b"Exif\x00\x00this-is-no-tiff-structure")
    intake, _thumb = accept(site, data, "garbage-exif.jpg", "image/jpeg")
    assert intake.asset.taken_at is None and (intake.asset.width, intake.asset.height) == (120, 60)


def test_cmyk_jpeg_is_stored_with_an_rgb_thumbnail(site: Site) -> None:
    data = encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG", quality=95)  # pure red in print colours
    intake, thumb = accept(site, data, "print.jpg", "image/jpeg")
    assert (intake.asset.width, intake.asset.height) == (64, 48)
    assert near(thumb.getpixel((32, 24)), (237, 28, 36), tolerance=60)


def test_cmyk_tiff_is_stored_with_an_rgb_thumbnail(site: Site) -> None:
    data = encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "TIFF")
    _, thumb = accept(site, data, "print.tif", "image/tiff")
    assert near(thumb.getpixel((32, 24)), (255, 0, 0), tolerance=60)


def test_sixteen_bit_png_is_scaled_not_clipped_to_white(site: Site) -> None:
    data = encode(Image.fromarray(np.full((48, 64), 128 * 257, dtype=np.uint16)), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    _, thumb = accept(site, data, "deep.png", "image/png")
    assert near(thumb.getpixel((32, 24)), (128, 128, 128), tolerance=6)


def test_transparent_png_is_composited_on_white(site: Site) -> None:
    data = encode(Image.new("RGBA", (64, 48), (10, 10, 10, 0)), "PNG")
    _, thumb = accept(site, data, "clear.png", "image/png")
    assert near(thumb.getpixel((32, 24)), (255, 255, 255), tolerance=4)


FRAMES = [(230, 20, 20), (20, 230, 20), (20, 20, 230)]


@pytest.mark.parametrize(("fmt", "content_type"), [("GIF", "image/gif"), ("WEBP", "image/webp")])
def test_animation_is_stored_as_its_first_frame(site: Site, fmt: str, content_type: str) -> None:
    frames = [Image.new("RGB", (64, 48), c) for c in FRAMES]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=80, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    intake, thumb = accept(site, data, f"moving.{fmt.lower()}", content_type)
    assert (intake.asset.width, intake.asset.height) == (64, 48)
    assert near(thumb.getpixel((32, 24)), FRAMES[0])


def test_multipage_tiff_is_stored_as_its_first_page(site: Site) -> None:
    pages = [Image.new("RGB", (64, 48), c) for c in FRAMES]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    _, thumb = accept(site, data, "pages.tiff", "image/tiff")
    assert near(thumb.getpixel((32, 24)), FRAMES[0])


@pytest.mark.parametrize(
    ("fmt", "filename", "content_type"),
    [("PNG", "holiday.jpg", "image/png"), ("JPEG", "holiday.gif", "image/jpeg"), ("WEBP", "holiday.png", "image/webp")],
)
def test_wrong_extension_is_judged_by_content(site: Site, fmt: str, filename: str, content_type: str) -> None:
    intake, _ = accept(site, encode(marked_picture(), fmt), filename, content_type)
    assert intake.asset.blob_key.endswith(
        {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}[content_type]
    )


def test_jpeg_zip_polyglot_carries_no_payload_into_derived_files(site: Site) -> None:
    payload = zip_bytes()
    data = small_jpeg(size=(64, 48)) + payload
    assert zipfile.is_zipfile(io.BytesIO(data))  # really both: a JPEG viewer and an unzip tool open it
    intake, _thumb = accept(site, data, "both.jpg", "image/jpeg")
    thumb_bytes = site.blobs.get(intake.asset.thumb_key or "")
    assert b"PK\x03\x04" not in thumb_bytes and b"<script" not in thumb_bytes
    rendition = safe_rendition(site.db, site.blobs, asset_id=intake.asset.id, purpose="website", max_pixels=MAX_PIXELS)
    assert b"PK\x03\x04" not in rendition.data and not zipfile.is_zipfile(io.BytesIO(rendition.data))


def test_script_in_a_jpeg_comment_is_not_carried_over(site: Site) -> None:
    data = bytearray(small_jpeg(size=(64, 48)))
    comment = b"<script>alert(1)</script>"
    data[2:2] = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment  # a COM segment right after SOI
    intake, _ = accept(site, bytes(data), "commented.jpg", "image/jpeg")
    assert b"<script" in site.blobs.get(intake.asset.blob_key)
    assert b"<script" not in site.blobs.get(intake.asset.thumb_key or "")


HOSTILE_NAMES = [
    ("traversal", "../../../etc/passwd.jpg", "passwd.jpg"),
    ("absolute", "/var/www/html/index.php.jpg", "index.php.jpg"),
    ("empty", "", "upload"),
    ("nul", "holi\x00day.jpg", "holiday.jpg"),
    ("rlo", "photo\u202egpj.exe", "photogpj.exe"),
    ("control", "a\x1b[31mred\r\n.jpg", "a[31mred.jpg"),
    ("html", "<img src=x onerror=alert(1)>.jpg", "<img src=x onerror=alert(1)>.jpg"),
    ("formula", "=1+2;@SUM(A1:A9).jpg", "=1+2;@SUM(A1:A9).jpg"),
    ("100k", "x" * 100_000 + ".jpg", "x" * 300),
]


@pytest.mark.parametrize(("filename", "stored"), [h[1:] for h in HOSTILE_NAMES], ids=[h[0] for h in HOSTILE_NAMES])
def test_hostile_file_names_are_kept_inert(site: Site, filename: str, stored: str) -> None:
    colour = (len(filename) % 251, 90, 160)
    intake, _ = accept(site, small_jpeg(colour), filename, "image/jpeg")
    assert intake.asset.filename == stored
    # The name is a label only: where the bytes live is decided by their hash.
    assert intake.asset.blob_key == f"originals/{intake.asset.sha256[:2]}/{intake.asset.sha256}.jpg"


def test_same_file_under_a_hostile_name_is_the_same_asset(site: Site) -> None:
    first, _ = accept(site, small_jpeg(), "first.jpg", "image/jpeg")
    before = snapshot.take(site.db, site.blobs)
    again = ingest(site.db, site.blobs, data=small_jpeg(), filename="../../other\u202e.jpg", max_pixels=MAX_PIXELS)
    assert not again.created and again.asset == first.asset
    snapshot.assert_unchanged(before, site.db, site.blobs)


# --- selfies (face-matching enrolment) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    """The real face analyzer, models loaded once."""
    fa = FaceAnalyzer()
    fa.load()
    return fa


SELFIES = [
    ("zero-bytes", b"", ImageRejected, "empty"),
    ("bomb", png_declaring(70_000, 70_000), ImageRejected, "decompression bomb"),
    ("html", HTML, ImageRejected, "not an image"),
    ("no-face", encode(Image.new("RGB", (400, 400), (128, 128, 128)), "JPEG"), ValidationError, "No face was found"),
    ("two-faces", group_photo(["astronaut", "grace_hopper"]), ValidationError, "shows 2 faces"),
]


def _enrol_selfie(site: Site, subject_id: str, data: bytes, analyzer: FaceAnalyzer) -> None:
    """What registration does with a selfie: the template first (outside any transaction), then keep it."""
    template = check_selfie(data, analyzer=analyzer, max_pixels=MAX_PIXELS)
    with site.db.write() as conn:
        enrol_template(conn, subject_id=subject_id, template=template, now=utcnow())


@pytest.mark.parametrize(("data", "error", "message"), [s[1:] for s in SELFIES], ids=[s[0] for s in SELFIES])
def test_hostile_selfie_stores_no_template(
    site: Site, analyzer: FaceAnalyzer, data: bytes, error: type[Exception], message: str
) -> None:
    sid = make_subject(site.db, name="Selma Selfie", choices={"face_matching": True})
    with pytest.raises(error, match=message):
        check_selfie(data, analyzer=analyzer, max_pixels=MAX_PIXELS)
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(error, match=message):
        _enrol_selfie(site, sid, data, analyzer)
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_real_selfie_stores_one_template_and_no_image(site: Site, analyzer: FaceAnalyzer) -> None:
    sid = make_subject(site.db, name="Grace Selfie", choices={"face_matching": True})
    before = snapshot.take(site.db, site.blobs)
    _enrol_selfie(site, sid, encode(sample("grace_hopper"), "JPEG"), analyzer)
    snapshot.expect(before, site.db, site.blobs, rows={"subject_templates": 1}, added=set())


# --- paper-form scans -------------------------------------------------------------------------------------------

SCANS = [
    ("zero-bytes", b"", r"empty \(0 bytes\)"),
    ("html-as-pdf", HTML, "not a PDF, JPEG or PNG"),
    ("pdf-cut-off", b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n", "cut off"),
    ("truncated-jpeg", _SAMPLE[: len(_SAMPLE) // 2], "damaged or cut off"),
    ("png-70000x70000", png_declaring(70_000, 70_000), "too many pixels|damaged"),
    ("jpeg-65000x65000", jpeg_declaring(65_000, 65_000), "too many pixels|damaged"),
    ("elf", ELF, "not a PDF, JPEG or PNG"),
]


def _portal(site: Site) -> Portal:
    """The portal of the test's site (the registration service takes the whole portal)."""
    return Portal(settings=load_settings(env={}, secrets_path=None), db=site.db, blobs=site.blobs)


@pytest.mark.parametrize(("scan", "message"), [s[1:] for s in SCANS], ids=[s[0] for s in SCANS])
def test_hostile_paper_scan_stores_nothing(site: Site, scan: bytes, message: str) -> None:
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ValidationError, match=message):
        register_subject(
            _portal(site),
            actor=Actor.operator("tester"),
            channel="paper",
            name="Paula Paper",
            choices={"internal": True},
            signed_on=date.today(),
            scan=scan,
        )
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_good_scan_with_a_hostile_name_stores_nothing(site: Site) -> None:
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ValidationError, match="cannot contain < or >"):
        register_subject(
            _portal(site),
            actor=Actor.operator("tester"),
            channel="paper",
            name="<script>alert(1)</script>",
            choices={"internal": True},
            signed_on=date.today(),
            scan=small_jpeg(),
        )
    snapshot.assert_unchanged(before, site.db, site.blobs)
