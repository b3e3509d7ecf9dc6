"""dlib's face-recognition network run by PyTorch gives dlib's own descriptors, and dlib's is used when it cannot."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from portal.backend.photos.vision import models, resnet
from portal.backend.photos.vision.faces import FaceAnalyzer
from tests.vision.conftest import SAMPLE_PATHS, sample

# Descriptors of one person are within 0.6 of each other; the copy must agree with dlib far below anything that counts.
AGREEMENT = 1e-5


def _real_faces() -> list[tuple[np.ndarray, object]]:
    """(RGB pixels, dlib 5-point shape) of every face HOG finds in the sample photos."""
    detector, predictor = models.hog_detector.load(), models.shape_predictor.load()
    faces = []
    for name in SAMPLE_PATHS:
        pixels = np.asarray(sample(name))
        faces += [(pixels, predictor(pixels, rect)) for rect in detector(pixels, 1)]
    return faces


def test_the_pytorch_network_gives_dlibs_descriptors_for_real_faces() -> None:
    dlib = models.import_dlib()
    faces = _real_faces()
    assert len(faces) >= 5
    chips = np.stack([dlib.get_face_chip(p, s, size=resnet.CHIP_SIZE, padding=resnet.CHIP_PADDING) for p, s in faces])
    net = resnet.FaceNet(resnet.read_weights(models.model_path(models.FACE_ENCODER_FILE)))
    ours = net.describe(chips)
    # dlib's own recipe, chip and all, as face_recognition and every earlier template computed it.
    theirs = np.array([models.face_encoder.load().compute_face_descriptor(p, s) for p, s in faces], dtype=np.float32)
    assert ours.shape == (len(faces), 128) and ours.dtype == np.float32
    assert float(np.abs(ours - theirs).max()) < AGREEMENT
    # One chip alone gives what it gives in a batch (the batch is not mixed across faces).
    assert float(np.abs(net.describe(chips[1:2])[0] - ours[1]).max()) < AGREEMENT
    # Different people stay apart: the copy is not a constant.
    assert float(np.linalg.norm(ours[0] - ours[-1])) > 0.3


def test_the_analyzer_describes_with_the_pytorch_network_when_asked() -> None:
    describer = models.chip_describer.load()
    assert isinstance(describer, resnet.FaceNet) and describer.name == "pytorch"
    assert FaceAnalyzer()._describer().name == "dlib"  # one selfie does not pay for importing PyTorch
    grace = sample("grace_hopper")
    analyzer = FaceAnalyzer(descriptors="pytorch")
    boxes = [d.box for d in analyzer.detect(grace)]
    ours = analyzer.describe(grace, boxes)
    reference = models.DlibChipDescriber(models.face_encoder.load())
    dlib = models.import_dlib()
    pixels = np.asarray(grace)
    rect = models.hog_detector.load()(pixels, 1)[0]
    chip = dlib.get_face_chip(pixels, models.shape_predictor.load()(pixels, rect), size=150, padding=0.25)
    assert len(ours) == 1 and ours[0].shape == (128,)
    # The analyzer describes a crop of the face, not the whole photo: close, not identical, to dlib on the whole.
    assert float(np.linalg.norm(ours[0] - reference.describe(chip[None])[0])) < 0.15
    assert analyzer.describe(grace, []) == []
    # dlib's engine on the same crop gives the same descriptor.
    assert float(np.abs(FaceAnalyzer().describe(grace, boxes)[0] - ours[0]).max()) < AGREEMENT
    with pytest.raises(ValueError, match="descriptor engine"):
        FaceAnalyzer(descriptors="onnx")  # type: ignore[arg-type]


def test_a_different_model_file_is_refused(tmp_path: Path) -> None:
    real = models.model_path(models.FACE_ENCODER_FILE).read_bytes()
    shape_file = models.model_path(models.SHAPE_PREDICTOR_FILE)
    with pytest.raises(resnet.ModelFormatError):
        resnet.read_weights(shape_file)  # another dlib model altogether
    cut = tmp_path / "cut.dat"
    cut.write_bytes(real[: len(real) // 2])
    with pytest.raises(resnet.ModelFormatError):
        resnet.read_weights(cut)  # the first half of the network only
    # The first convolution's filter count (32, after its 4,736 weights) made 0: refused, not a division by zero.
    at = real.index(b"\x01\x05con_4") + 7
    # The tensor's version (2 bytes), its dimensions 4736 x 1 x 1 x 1 (3 + 2 + 2 + 2 bytes), then the float32 values.
    weights_end = at + 11 + 4 * 4736
    assert real[weights_end : weights_end + 2] == b"\x01\x20"
    zero = tmp_path / "zero.dat"
    zero.write_bytes(real[:weights_end] + b"\x00" + real[weights_end + 2 :])
    with pytest.raises(resnet.ModelFormatError, match="convolution"):
        resnet.read_weights(zero)
    without_fc = tmp_path / "no-fc.dat"
    without_fc.write_bytes(real.replace(b"\x01\x04fc_2", b"\x01\x04fd_2"))
    with pytest.raises(resnet.ModelFormatError, match="unexpected layers"):
        resnet.read_weights(without_fc)


def test_dlibs_own_network_is_used_where_the_copy_cannot_run_or_disagrees(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    chip = np.random.default_rng(3).integers(0, 256, (2, 150, 150, 3), dtype=np.uint8)
    expected = models.DlibChipDescriber(models.face_encoder.load()).describe(chip)
    caplog.set_level(logging.WARNING, logger=models.__name__)
    # PyTorch missing: dlib's own network, with a warning that says so.
    monkeypatch.setitem(sys.modules, "torch", None)
    fallback = models._chip_describer()
    assert fallback.name == "dlib" and "cannot run" in caplog.text
    assert np.array_equal(fallback.describe(chip), expected)
    monkeypatch.setitem(sys.modules, "torch", torch)
    # A copy that loads but computes something else (one weight changed) fails the self-check.
    caplog.clear()
    real_read = resnet.read_weights

    def tampered(path: Path) -> resnet.Weights:
        """The real weights with the first filter's first weight changed."""
        weights = real_read(path)
        weights.stem.weight.flat[0] += 1.0
        return weights

    monkeypatch.setattr(resnet, "read_weights", tampered)
    assert models._chip_describer().name == "dlib" and "differs" in caplog.text
