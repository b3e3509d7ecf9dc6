"""Typed contracts of the vision package: boxes, detections, prepared images."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple

import numpy as np
from PIL import Image

# Defined with the other errors, so that pages can name it; re-exported for the vision package's callers.
from portal.backend.platform.errors import ImageRejected as ImageRejected

DetectionKind = Literal["face", "person"]
TEMPLATE_SIZE = 128


class Box(NamedTuple):
    """A rectangle relative to the EXIF-oriented image: every value in [0, 1]."""

    x: float
    y: float
    w: float
    h: float

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in pixels of an image of this size, clamped to it."""
        left = max(0, min(width, round(self.x * width)))
        top = max(0, min(height, round(self.y * height)))
        right = max(left, min(width, round((self.x + self.w) * width)))
        bottom = max(top, min(height, round((self.y + self.h) * height)))
        return left, top, right, bottom

    @classmethod
    def from_pixels(cls, left: float, top: float, right: float, bottom: float, width: int, height: int) -> Box:
        """A relative box from pixel corners, clamped to the image."""
        left, right = max(0.0, min(left, width)), max(0.0, min(right, width))
        top, bottom = max(0.0, min(top, height)), max(0.0, min(bottom, height))
        return cls(left / width, top / height, max(0.0, right - left) / width, max(0.0, bottom - top) / height)


@dataclass(frozen=True)
class Detection:
    """A face or person found in an image; `template` is a 128-d float32 descriptor or None."""

    kind: DetectionKind
    box: Box
    score: float | None
    detector: str
    template: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PreparedImage:
    """A validated upload: the oriented RGB image plus the facts the asset row records."""

    image: Image.Image
    width: int
    height: int
    sha256: str
    content_type: str
    size_bytes: int
    taken_at: datetime | None
