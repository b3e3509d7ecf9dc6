"""Image intake: validate an upload, decode it fully, orient it and make it RGB; thumbnails and JPEG encoding."""

from __future__ import annotations

import hashlib
import io
import warnings
from datetime import UTC, datetime

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from portal.backend.photos.vision.schemas import ImageRejected, PreparedImage

# Pillow format name -> content type. MPO is what Pillow calls multi-picture JPEGs from many phones and cameras.
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
}
ACCEPTED = "JPEG, PNG, WebP, TIFF or GIF"
DEFAULT_MAX_PIXELS = 60_000_000
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 36867
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
# Selfies come from anyone on the public form, so they get their own, tighter limits. A JPEG is decoded at 1/2, 1/4
# or 1/8 scale straight from the file (Pillow's draft), so even a 50-megapixel phone photo costs little; other
# formats must be decoded in full, and 16 megapixels (48 MB of RGB) covers any front camera's output.
SELFIE_MAX_PIXELS_JPEG = 50_000_000
SELFIE_MAX_PIXELS = 16_000_000
# The longer side a selfie is reduced to: far more than a face needs (detection runs on 1600 pixels).
SELFIE_SIDE = 2048
_DRAFT_FORMATS = {"JPEG", "MPO"}


def prepare_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, filename: str = "") -> PreparedImage:
    """Validate and fully decode an upload into an EXIF-oriented RGB image plus the facts to record about it."""
    label = f"{filename!r}" if filename else "The upload"
    if not data:
        raise ImageRejected(f"{label} is empty (0 bytes). Choose the photo again and upload the whole file.")
    # Pillow warns above its own global limit; inside this block the warning is an error we turn into a
    # rejection, and the filter is restored afterwards, so Pillow's globals are never changed.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = _open(data, label, max_pixels)
        try:
            _check_size(img.size, label, max_pixels)
            _decode_first_frame(img, label)
            taken_at = _taken_at(img)
            content_type = CONTENT_TYPES[img.format or ""]
            rgb = _convert(_orient(img, label), label)  # a new image, detached from the file
        finally:
            img.close()
    return PreparedImage(
        image=rgb,
        width=rgb.width,
        height=rgb.height,
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=content_type,
        size_bytes=len(data),
        taken_at=taken_at,
    )


def prepare_selfie(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """A selfie as an oriented RGB image whose longer side is at most SELFIE_SIDE, decoded reduced where possible."""
    label = "The selfie"
    if not data:
        raise ImageRejected(f"{label} is empty (0 bytes). Take it again or choose another photo.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = _open(data, label, max_pixels)
        try:
            draft = img.format in _DRAFT_FORMATS
            limit = min(max_pixels, SELFIE_MAX_PIXELS_JPEG if draft else SELFIE_MAX_PIXELS)
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ImageRejected(f"{label} has no pixels ({width}×{height}). Take it again.")
            if width * height > limit:
                # Refused from the header, before a single pixel is decoded.
                raise ImageRejected(
                    f"{label} is {width}×{height} pixels ({width * height / 1e6:.1f} megapixels); a selfie may "
                    f"have at most {limit / 1e6:.0f} megapixels. Take it with the camera button, or choose a "
                    "smaller photo."
                )
            if draft:
                # The decoder scales by 1/2, 1/4 or 1/8 while reading, to no less than the requested size.
                img.draft(None, (SELFIE_SIDE, SELFIE_SIDE))
            _decode_first_frame(img, label)
            rgb = _convert(_orient(img, label), label)
        finally:
            img.close()
    # Pillow's thumbnail first shrinks by an integer factor with reduce(), which is cheap, then resamples.
    rgb.thumbnail((SELFIE_SIDE, SELFIE_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return rgb


def _open(data: bytes, label: str, max_pixels: int) -> Image.Image:
    """Read only the header, restricted to the accepted formats; unknown or other formats are rejected by name."""
    Image.init()  # registers every plugin (MPO is not among the preloaded ones); a no-op after the first call
    try:
        return Image.open(io.BytesIO(data), formats=[f for f in CONTENT_TYPES if f in Image.OPEN])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(label, max_pixels) from exc
    except UnidentifiedImageError:
        pass
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageRejected(f"{label} is not a readable image ({exc}). Upload a {ACCEPTED} file.") from exc
    other = _identify_other_format(data)
    if other:
        raise ImageRejected(f"{label} is a {other} image, which is not supported. Upload a {ACCEPTED} file.")
    raise ImageRejected(f"{label} is not an image the portal can read (or it is damaged). Upload a {ACCEPTED} file.")


def _identify_other_format(data: bytes) -> str | None:
    """The name of a format Pillow knows but the portal does not accept, for a clearer message; header only."""
    try:
        with Image.open(io.BytesIO(data)) as other:
            return other.format
    except Exception:  # any failure just means "not an image"; nothing is decoded here
        return None


def _bomb(label: str, max_pixels: int, size: tuple[int, int] | None = None) -> ImageRejected:
    """The rejection for an image whose declared size is absurd (a decompression bomb)."""
    declared = f"{size[0]}×{size[1]} pixels" if size else "an enormous size"
    return ImageRejected(
        f"{label} declares {declared}, far over the limit of {max_pixels / 1e6:.1f} megapixels; it looks like a "
        "decompression bomb and was not decoded. Upload the photo as exported by a camera or phone."
    )


def _check_size(size: tuple[int, int], label: str, max_pixels: int) -> None:
    """Refuse empty or too-large images from the header, before any pixel data is decoded."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageRejected(f"{label} has no pixels ({width}×{height}). Upload a real photo.")
    if width * height > max_pixels:
        if width * height > 4 * max_pixels:  # no camera exports that; a crafted header is far likelier
            raise _bomb(label, max_pixels, size)
        raise ImageRejected(
            f"{label} is {width}×{height} pixels ({width * height / 1e6:.1f} megapixels); the limit is "
            f"{max_pixels / 1e6:.1f} megapixels. Export a smaller version of the photo and upload that."
        )


def _decode_first_frame(img: Image.Image, label: str) -> None:
    """Decode all pixels of the first frame so truncated or corrupt files fail here, not later."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Some libraries switch this on for the whole process when imported (WeasyPrint does); the portal never
        # wants a cut-off upload silently padded with grey, so it is switched back off before decoding.
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        img.seek(0)
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"{label} is too large to decode safely. Upload a smaller version.") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, MemoryError) as exc:
        raise ImageRejected(
            f"{label} is damaged or incomplete ({exc}); it may have been cut off during upload. "
            "Upload the original file again."
        ) from exc


def _taken_at(img: Image.Image) -> datetime | None:
    """EXIF DateTimeOriginal as an aware UTC datetime (cameras store no zone), or None when absent or malformed."""
    try:
        raw = img.getexif().get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL)
    except Exception:  # broken EXIF blocks are common and must not cost the photo
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", errors="replace")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _orient(img: Image.Image, label: str) -> Image.Image:
    """Apply the EXIF orientation so width, height and boxes refer to the image as people see it."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception as exc:  # a malformed orientation tag is the uploader's file, not a portal bug
        raise ImageRejected(f"{label} has unreadable orientation data ({exc}). Re-export the photo.") from exc


def _convert(img: Image.Image, label: str) -> Image.Image:
    """to_rgb, with a colour mode Pillow cannot convert reported as the uploader's problem."""
    try:
        return to_rgb(img)
    except (ValueError, OSError) as exc:
        raise ImageRejected(f"{label} uses the colour mode {img.mode}, which cannot be shown as RGB ({exc}).") from exc


def to_rgb(img: Image.Image) -> Image.Image:
    """An 8-bit RGB version of any decoded mode: alpha composited on white, 16-bit scaled, CMYK and palettes mapped."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        # Palette transparency must go through RGBA, or the transparent colour would show as itself.
        return _on_white(img.convert("RGBA")) if "transparency" in img.info else img.convert("RGB")
    if mode in _ALPHA_MODES:
        return _on_white(img.convert("RGBA"))
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return Image.fromarray(_to_eight_bit(np.asarray(img)), mode="L").convert("RGB")
    return img.convert("RGB")


def _on_white(rgba: Image.Image) -> Image.Image:
    """Composite an RGBA image on a white background."""
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _to_eight_bit(values: np.ndarray) -> np.ndarray:
    """Scale 16-bit (or 32-bit int/float) grey values to 0..255; Pillow's own convert would clip them to white."""
    values = values.astype(np.float64)
    top = float(values.max()) if values.size else 0.0
    if top > 255:
        values = values / 257.0 if top <= 65535 else values * (255.0 / top)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def make_thumbnail(image: Image.Image, max_side: int = 512) -> bytes:
    """A JPEG thumbnail whose longer side is at most `max_side`, keeping the aspect ratio."""
    thumb = to_rgb(image).copy()
    thumb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return encode_jpeg(thumb, quality=85)


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """JPEG bytes of the image; no EXIF and no comment is written, so camera metadata such as GPS (or a name in
    a JPEG or GIF comment) does not travel along. Pillow would otherwise copy the source's comment over."""
    out = io.BytesIO()
    to_rgb(image).save(out, "JPEG", quality=quality, comment=b"")
    return out.getvalue()
