"""Person detection with Ultralytics YOLO, only when a local weights file is configured; never downloads."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from portal.backend.photos.vision.schemas import Box, Detection

# Set before ultralytics is first imported (it is imported lazily, below): it decides at import time whether it is
# online, and offline it skips update checks, analytics and error reporting. setdefault keeps an operator's choice.
os.environ.setdefault("YOLO_OFFLINE", "1")

PERSON_CLASS = 0  # COCO class 0 is "person" in every standard YOLO detection model
DEFAULT_CONF = 0.35
DETECT_MAX_SIDE = 1280  # YOLO letterboxes to 640 anyway; a smaller copy only saves conversion time


def import_yolo() -> Any:
    """`ultralytics.YOLO`, imported without its global Pillow patch.

    Importing ultralytics replaces `PIL.Image.open` for the whole process with a version that, on a file Pillow
    cannot identify, tries to install and import pi-heif (a package download at run time) instead of raising. The
    intake relies on Pillow's own error to refuse a broken upload clearly, so the original is put back.
    """
    original = Image.open
    from ultralytics import YOLO

    Image.open = original
    return YOLO


class PersonDetector:
    """Wraps a loaded Ultralytics YOLO model and returns person boxes relative to the oriented image."""

    def __init__(self, model: Any, *, conf: float = DEFAULT_CONF, imgsz: int = 640, device: str | None = None) -> None:
        """Use an already-built `ultralytics.YOLO` model (from weights, or from a YAML in tests)."""
        if not 0.0 <= conf <= 1.0:
            raise ValueError("conf must be between 0 and 1.")
        self.model = model
        self.conf = conf
        self.imgsz = imgsz
        self.device = device
        self._lock = threading.Lock()  # an Ultralytics predictor keeps per-call state; one call at a time

    @classmethod
    def from_weights(cls, weights: str | Path, **options: Any) -> PersonDetector:
        """Load a local .pt/.onnx weights file; the caller has checked that it exists."""
        return cls(import_yolo()(str(weights), task="detect"), **options)

    def detect(self, image: Image.Image) -> list[Detection]:
        """Boxes of people (class 0 only, confidence >= conf) relative to the full image."""
        image = image if image.mode == "RGB" else image.convert("RGB")
        scale = min(1.0, DETECT_MAX_SIDE / max(image.size))
        if scale < 1.0:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
        with self._lock:
            # A PIL image is passed on purpose: Ultralytics reads numpy arrays as BGR but converts PIL from RGB.
            results = self.model.predict(
                image,
                conf=self.conf,
                classes=[PERSON_CLASS],
                imgsz=self.imgsz,
                device=self.device,
                verbose=False,
                save=False,
            )
        return detections_from_result(results[0], conf=self.conf) if results else []


def detections_from_result(result: Any, *, conf: float = 0.0) -> list[Detection]:
    """Person detections from one Ultralytics `Results`: other classes and low scores are dropped here too."""
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return []
    height, width = result.orig_shape
    xyxy = boxes.xyxy.cpu().numpy().tolist()
    classes = boxes.cls.cpu().numpy().tolist()
    scores = boxes.conf.cpu().numpy().tolist()
    out = []
    for (left, top, right, bottom), cls, score in zip(xyxy, classes, scores, strict=True):
        if int(cls) != PERSON_CLASS or score < conf:
            continue
        box = Box.from_pixels(left, top, right, bottom, width, height)
        if box.w > 0 and box.h > 0:
            out.append(Detection("person", box, float(score), "yolo"))
    return out


def load_person_detector(weights: str | None, *, conf: float = DEFAULT_CONF) -> tuple[PersonDetector | None, str]:
    """The detector for a local weights file plus a status line for the UI; (None, reason) when it is off."""
    if not weights or not weights.strip():
        return None, "Person detection off: PORTAL_YOLO_WEIGHTS is not set."
    path = Path(weights.strip()).expanduser()
    if not path.is_file():
        return None, f"Person detection off: the YOLO weights file {path} does not exist (nothing is downloaded)."
    try:
        detector = PersonDetector.from_weights(path, conf=conf)
    except ImportError as exc:
        return None, f"Person detection off: ultralytics cannot be imported ({exc})."
    except Exception as exc:  # a corrupt or incompatible weights file must not stop the portal
        reason = " ".join(str(exc).split())  # Ultralytics messages span lines; the status is one line
        return None, f"Person detection off: could not load the YOLO weights {path} ({type(exc).__name__}: {reason})."
    return detector, f"Person detection on: YOLO ({path.name}, confidence >= {conf:g})."
