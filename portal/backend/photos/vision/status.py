"""Which detectors are active, in words for the staff UI and the CLI (loads no model)."""

from __future__ import annotations

from portal.backend.photos.vision.weights import status_line as weights_status_line
from portal.backend.platform.config import Settings


def detector_status(settings: Settings) -> list[str]:
    """One sentence per detector saying whether it runs and why not."""
    kind = {"hog": "HOG (fast)", "cnn": "CNN (accurate, slow on CPU)"}[settings.face_detector]
    lines = [f"Face detection: dlib {kind}, models from the face-recognition-models package."]
    lines.append(weights_status_line(settings))
    return lines
