"""Person detection: status without weights, the Ultralytics plumbing with a YAML-built (untrained) model, and
accuracy with real weights when PORTAL_YOLO_WEIGHTS points to a file. The network is cut off for every test."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from portal.backend.photos.vision.persons import (
    PersonDetector,
    detections_from_result,
    import_yolo,
    load_person_detector,
)
from portal.backend.photos.vision.schemas import Box, Detection
from tests.vision.conftest import iou, sample

WEIGHTS = os.environ.get("PORTAL_YOLO_WEIGHTS", "")


def _no_network(*args: object, **kwargs: object) -> None:
    """Stands in for socket connect/resolve: any attempt fails at once instead of hanging."""
    raise OSError("network access is blocked in the vision tests")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Cut the network off, so a download attempt fails fast and loudly."""
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    yield


@pytest.fixture(scope="module")
def yaml_model() -> Any:
    """A YOLOv8n built from its YAML with random weights: no file, no download, just the real plumbing."""
    torch.manual_seed(0)
    return import_yolo()("yolov8n.yaml")


def test_ultralytics_is_offline(yaml_model: Any) -> None:
    from ultralytics import utils

    assert os.environ.get("YOLO_OFFLINE") == "1"  # set by persons.py before ultralytics was imported
    assert utils.ONLINE is False  # so no update checks, analytics or crash reports are attempted


def test_no_weights_means_off_with_a_reason() -> None:
    for value in (None, "", "   "):
        detector, status = load_person_detector(value)
        assert detector is None and status == "Person detection off: PORTAL_YOLO_WEIGHTS is not set."


def test_missing_weights_file_is_not_downloaded(tmp_path: Path) -> None:
    missing = tmp_path / "yolov8n.pt"
    detector, status = load_person_detector(str(missing))
    assert detector is None
    assert str(missing) in status and "does not exist" in status
    assert not missing.exists()
    detector, status = load_person_detector("yolov8n.pt")  # a bare model name would make Ultralytics download it
    assert detector is None and "does not exist" in status and not Path("yolov8n.pt").exists()


def test_broken_weights_file_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"these are not weights")
    detector, status = load_person_detector(str(broken))
    assert detector is None and "could not load" in status and str(broken) in status


# An untrained model's scores are tiny (about 1e-4 at most), so the plumbing tests accept almost anything.
ANY = 0.0


def test_yaml_model_runs_end_to_end(yaml_model: Any) -> None:
    bus = sample("bus")
    raw = yaml_model.predict(bus, conf=ANY, verbose=False)[0]
    assert set(raw.boxes.cls.tolist()) - {0.0}  # unfiltered, the model proposes other classes too
    found = PersonDetector(yaml_model, conf=ANY).detect(bus)
    assert found
    for d in found:
        assert isinstance(d, Detection) and d.kind == "person" and d.detector == "yolo"
        assert d.score is not None and d.score >= ANY and d.template is None
        assert all(0.0 <= v <= 1.0 for v in d.box) and d.box.w > 0 and d.box.h > 0
        assert d.box.x + d.box.w <= 1.0 + 1e-9 and d.box.y + d.box.h <= 1.0 + 1e-9


def test_large_image_goes_through_a_downscaled_copy(yaml_model: Any) -> None:
    bus = sample("bus")
    big = bus.resize((bus.width * 4, bus.height * 4))
    detector = PersonDetector(yaml_model, conf=ANY)
    small, large = detector.detect(bus), detector.detect(big)
    assert small and large
    # The 3240×4320 copy is shrunk to 1280 px before YOLO sees it, and its relative boxes land where the
    # original's do: the best-scoring boxes of both overlap.
    best = max(large, key=lambda d: d.score or 0.0)
    assert max(iou(best.box, d.box) for d in small) > 0.5


def test_results_are_mapped_and_filtered_to_people(yaml_model: Any) -> None:
    from ultralytics.engine.results import Results

    orig = np.zeros((1000, 2000, 3), dtype=np.uint8)
    boxes = torch.tensor(
        [
            [100.0, 50.0, 300.0, 450.0, 0.90, 0.0],  # a person
            [0.0, 0.0, 10.0, 10.0, 0.95, 2.0],  # a car: dropped
            [1900.0, 900.0, 2100.0, 1100.0, 0.50, 0.0],  # a person running off the corner: clamped
            [500.0, 500.0, 600.0, 600.0, 0.10, 0.0],  # a person below the confidence: dropped
        ]
    )
    result = Results(orig, path="", names=yaml_model.names, boxes=boxes)
    found = detections_from_result(result, conf=0.25)
    assert [d.box for d in found] == [Box(0.05, 0.05, 0.1, 0.4), Box(0.95, 0.9, 0.05, 0.1)]
    assert [round(d.score or 0, 2) for d in found] == [0.9, 0.5]
    assert {(d.kind, d.detector) for d in found} == {("person", "yolo")}


@pytest.mark.skipif(
    not (WEIGHTS and Path(WEIGHTS).is_file()),
    reason="YOLO accuracy needs real weights: set PORTAL_YOLO_WEIGHTS to a local yolov8n.pt (nothing is downloaded)",
)
def test_real_weights_find_the_people() -> None:
    detector, status = load_person_detector(WEIGHTS)
    assert detector is not None, status
    assert status.startswith("Person detection on")
    assert len(detector.detect(sample("bus"))) >= 4
    people = detector.detect(sample("zidane"))
    assert len(people) == 2
    assert any(p.box.x > 0.5 for p in people) and any(p.box.x < 0.3 for p in people)


def test_loading_yolo_leaves_pillow_unpatched(yaml_model: Any) -> None:
    """Ultralytics patches PIL.Image.open to fetch pi-heif for unreadable files; the portal undoes that, so a broken
    upload is still refused by the intake with its own clear error and nothing is installed at run time."""
    from PIL import Image

    from portal.backend.photos.vision.intake import prepare_image
    from portal.backend.platform.errors import ValidationError

    assert Image.open.__module__ == "PIL.Image"
    with pytest.raises(ValidationError, match="not an image the portal can read"):
        prepare_image(b"this is not a photo", max_pixels=10_000_000, filename="broken.jpg")
