"""Which detectors are active, in words for the staff UI and the CLI (loads no model)."""

from __future__ import annotations

from pathlib import Path

from portal.backend.platform.config import Settings


def detector_status(settings: Settings) -> list[str]:
    """One sentence per detector saying whether it runs and why not."""
    kind = {"hog": "HOG (fast)", "cnn": "CNN (accurate, slow on CPU)"}[settings.face_detector]
    lines = [f"Face detection: dlib {kind}, models from the face-recognition-models package."]
    weights = settings.yolo_weights.strip()
    if not weights:
        lines.append(
            "Person detection is off: PORTAL_YOLO_WEIGHTS is not set, so people whose face is not visible "
            "are not found automatically; review such photos by hand."
        )
    elif not Path(weights).is_file():
        lines.append(f"Person detection is off: PORTAL_YOLO_WEIGHTS points to {weights}, which does not exist.")
    else:
        lines.append(f"Person detection: Ultralytics YOLO with {Path(weights).name}.")
    return lines
