"""Redaction: irreversibly obscure boxes (pixelate, then blur) and draw outlines around boxes."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFilter

from portal.backend.photos.vision.schemas import Box

BLOCKS_ACROSS = 8  # a face 8 blocks wide keeps no identifying detail; blur alone can be partly reversed


def padded_pixels(box: Box, width: int, height: int, pad: float) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the box grown by `pad` of its size on every side, clamped to the image."""
    grown = Box(box.x - box.w * pad, box.y - box.h * pad, box.w * (1 + 2 * pad), box.h * (1 + 2 * pad))
    return grown.to_pixels(width, height)


def blur_regions(image: Image.Image, boxes: list[Box], *, pad: float = 0.15) -> Image.Image:
    """A new image in which every padded box is pixelated to a coarse grid and blurred; all else is untouched."""
    if pad < 0:
        raise ValueError("pad must not be negative.")
    # Palette and other exotic modes cannot be resampled or blurred; prepared images are RGB already.
    out = image.copy() if image.mode in ("RGB", "RGBA", "L") else image.convert("RGB")
    for box in boxes:
        left, top, right, bottom = padded_pixels(box, out.width, out.height, pad)
        if right <= left or bottom <= top:
            continue
        out.paste(_obscure(out.crop((left, top, right, bottom))), (left, top))
    return out


def _obscure(region: Image.Image) -> Image.Image:
    """The region reduced to about 8 blocks across (averaging away detail), scaled back up, then softened."""
    width, height = region.size
    cols = max(1, min(BLOCKS_ACROSS, width))
    rows = max(1, min(height, round(BLOCKS_ACROSS * height / width)))
    coarse = region.resize((cols, rows), Image.Resampling.BOX).resize(region.size, Image.Resampling.NEAREST)
    # The blur only hides the block edges; it works inside the crop, so nothing outside the box is read or written.
    return coarse.filter(ImageFilter.GaussianBlur(radius=max(1.0, width / cols / 2)))


def highlight(
    image: Image.Image, boxes: list[Box], color: str | tuple[int, int, int] = (255, 196, 0), width: int = 0
) -> Image.Image:
    """A new image with an outline drawn around each box (e.g. to show a subject their own face)."""
    out = image.convert("RGB") if image.mode != "RGB" else image.copy()
    line = width or max(2, round(min(out.size) / 200))
    draw = ImageDraw.Draw(out)
    for box in boxes:
        left, top, right, bottom = box.to_pixels(out.width, out.height)
        if right > left and bottom > top:
            draw.rectangle((left, top, right - 1, bottom - 1), outline=color, width=line)
    return out
