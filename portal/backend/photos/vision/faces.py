"""Face detection (dlib HOG or CNN) on a downscaled copy, and 128-d descriptors from full-resolution face crops."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Literal

import numpy as np
from PIL import Image

from portal.backend.photos.vision import models
from portal.backend.photos.vision.schemas import TEMPLATE_SIZE, Box, Detection

FaceModel = Literal["hog", "cnn"]
# Faces are described at 80..320 px wide: below ~80 px the 5 landmarks get unreliable, above ~320 px the
# 150 px face chip gains nothing and the crop only costs time.
MIN_DESCRIBE_SIDE = 80
MAX_DESCRIBE_SIDE = 320
CROP_MARGIN = 0.6  # of the face size on each side: room for the aligned, padded, possibly rotated face chip
# dlib's resnet and CNN keep per-call state inside the network object, so concurrent calls are serialised.
_NET_LOCK = threading.Lock()


class FaceAnalyzer:
    """Finds faces and computes their descriptors; models load on first use and are shared per process."""

    def __init__(self, *, model: FaceModel = "hog", detect_max_side: int = 1600, upsample: int = 1) -> None:
        """Choose the detector, the longest side of the copy detection runs on, and dlib's upsampling count."""
        if model not in ("hog", "cnn"):
            raise ValueError(f"Unknown face model {model!r}; use 'hog' or 'cnn'.")
        if detect_max_side < 64 or upsample < 0:
            raise ValueError("detect_max_side must be at least 64 and upsample at least 0.")
        self.model = model
        self.detect_max_side = detect_max_side
        self.upsample = upsample
        self.detector_name = f"dlib-{model}"

    def load(self) -> None:
        """Load every model this analyzer needs now (e.g. in a worker process) rather than on the first photo."""
        self._detector()
        models.shape_predictor.load()
        models.face_encoder.load()

    def _detector(self) -> Any:
        """The dlib detector object for the chosen model."""
        return (models.hog_detector if self.model == "hog" else models.cnn_detector).load()

    def detection_size(self, width: int, height: int) -> tuple[int, int]:
        """Size of the copy detection runs on: the longer side at most detect_max_side, aspect kept."""
        scale = min(1.0, self.detect_max_side / max(width, height))
        return max(1, round(width * scale)), max(1, round(height * scale))

    def detect(self, image: Image.Image) -> list[Detection]:
        """Face boxes relative to the full oriented image, found on a downscaled copy for speed."""
        image = _rgb(image)
        size = self.detection_size(*image.size)
        small = image if size == image.size else image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
        pixels = np.asarray(small)
        detections = []
        for (left, top, right, bottom), score in self._predict(pixels):
            # dlib rectangles are inclusive; +1 makes them pixel edges. Relative coordinates of the copy are
            # those of the full image, so no scale factor is needed.
            box = Box.from_pixels(left, top, right + 1, bottom + 1, small.width, small.height)
            if box.w > 0 and box.h > 0:
                detections.append(Detection("face", box, score, self.detector_name))
        return detections

    def _predict(self, pixels: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Raw detector output on an RGB array: inclusive pixel rectangles and scores."""
        detector = self._detector()
        if self.model == "hog":
            rects, scores, _ = detector.run(pixels, self.upsample, 0.0)
            return [((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores, strict=True)]
        with _NET_LOCK:
            found = detector(pixels, self.upsample)
        return [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), float(d.confidence)) for d in found]

    def describe(self, image: Image.Image, boxes: list[Box]) -> list[np.ndarray]:
        """A 128-d float32 descriptor for each box, computed on a crop around the face at a useful resolution."""
        image = _rgb(image)
        predictor = models.shape_predictor.load()
        encoder = models.face_encoder.load()
        dlib = models.import_dlib()
        out = []
        for box in boxes:
            pixels, rect = _face_crop(image, box)
            shape = predictor(pixels, dlib.rectangle(*rect))
            with _NET_LOCK:
                vector = encoder.compute_face_descriptor(pixels, shape)
            out.append(np.asarray(vector, dtype=np.float32).reshape(TEMPLATE_SIZE))
        return out

    def analyze(self, image: Image.Image, *, with_templates: bool) -> list[Detection]:
        """Detect faces and, only when asked (templates are biometric data), add their descriptors."""
        image = _rgb(image)
        detections = self.detect(image)
        if not with_templates or not detections:
            return detections
        templates = self.describe(image, [d.box for d in detections])
        return [dataclasses.replace(d, template=t) for d, t in zip(detections, templates, strict=True)]


def _rgb(image: Image.Image) -> Image.Image:
    """The image as RGB (dlib wants 8-bit RGB arrays); a no-op for prepared images."""
    return image if image.mode == "RGB" else image.convert("RGB")


def _face_crop(image: Image.Image, box: Box) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """An RGB array around one face, rescaled so the face is 80..320 px wide, and the face's inclusive rect in it."""
    left, top, right, bottom = box.to_pixels(image.width, image.height)
    side = max(right - left, bottom - top, 1)
    margin = round(side * CROP_MARGIN)
    crop_box = (
        max(0, left - margin),
        max(0, top - margin),
        min(image.width, right + margin),
        min(image.height, bottom + margin),
    )
    crop = image.crop(crop_box)
    factor = 1.0
    if side < MIN_DESCRIBE_SIDE:
        factor = MIN_DESCRIBE_SIDE / side
    elif side > MAX_DESCRIBE_SIDE:
        factor = MAX_DESCRIBE_SIDE / side
    if factor != 1.0:
        size = (max(1, round(crop.width * factor)), max(1, round(crop.height * factor)))
        crop = crop.resize(size, Image.Resampling.BICUBIC)
    rect = (
        round((left - crop_box[0]) * factor),
        round((top - crop_box[1]) * factor),
        max(round((left - crop_box[0]) * factor), round((right - crop_box[0]) * factor) - 1),
        max(round((top - crop_box[1]) * factor), round((bottom - crop_box[1]) * factor) - 1),
    )
    return np.asarray(crop), rect
