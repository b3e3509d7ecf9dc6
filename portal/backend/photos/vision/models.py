"""dlib models: located by path in the `face-recognition-models` package, loaded lazily once per process."""

from __future__ import annotations

import importlib.util
import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from portal.backend.platform.errors import ConfigError

PACKAGE = "face_recognition_models"
INSTALL_HINT = "Install the PyPI packages `face-recognition-models` and `dlib-bin` (pip install -r requirements.txt)."
SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
FACE_ENCODER_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"
# Pyramid levels of the small-face pass (faces.py). It looks only for faces the first pass cannot see: levels 0-6 at
# its 10,000 px scale see faces of 80-240 px (0.8-2.4% of the long side, each level a little beyond), and the first
# pass sees faces from about 2.4% up. The levels above only find larger faces again, and cost 6% of the pass.
SMALL_FACE_LEVELS = 7

T = TypeVar("T")
log = logging.getLogger(__name__)


def models_dir() -> Path:
    """The folder of dlib model files inside `face_recognition_models`, found without importing it.

    Its __init__ imports pkg_resources, which new setuptools no longer ships, so only its location is used.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"The face models are not installed (package {PACKAGE!r} not found). {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(filename: str, directory: Path | None = None) -> Path:
    """The path of one dlib model file; a ConfigError naming the package when it is missing."""
    path = (directory or models_dir()) / filename
    if not path.is_file():
        raise ConfigError(f"The dlib model file {filename} is missing (looked in {path.parent}). {INSTALL_HINT}")
    return path


def import_dlib() -> Any:
    """The dlib module, or a ConfigError that says which package provides it."""
    try:
        import dlib
    except ImportError as exc:
        raise ConfigError(f"dlib cannot be imported ({exc}). {INSTALL_HINT}") from exc
    return dlib


class LazyModel(Generic[T]):
    """One model loaded on first use, at most once per process, safely under concurrent first calls."""

    def __init__(self, name: str, factory: Callable[[], T]) -> None:
        """Remember how to build the model; nothing is read from disk yet."""
        self.name = name
        self._factory = factory
        self._model: T | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model is already in memory."""
        return self._model is not None

    def load(self) -> T:
        """The model, building it on the first call (double-checked so later calls take no lock)."""
        model = self._model
        if model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._factory()
                model = self._model
        return model


def _file_model(constructor: str, filename: str) -> Callable[[], Any]:
    """A factory that builds dlib.<constructor>(path of filename)."""

    def build() -> Any:
        """Read the model file into dlib."""
        path = model_path(filename)
        return getattr(import_dlib(), constructor)(str(path))

    return build


def _dlib_integer(value: int) -> bytes:
    """An unsigned integer as dlib serialises it: the byte count, then the bytes, least significant first."""
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "little")
    return bytes([len(raw)]) + raw


def hog_with_levels(levels: int) -> Any:
    """dlib's frontal face detector scanning at most `levels` image pyramid levels (each 5/6 the size of the last).

    dlib's Python API cannot set scan_fhog_pyramid's max_pyramid_levels, so the detector is saved, that one field
    rewritten and the file read back; on any other layout than the expected one the full detector is returned.
    """
    dlib = import_dlib()
    full = dlib.get_frontal_face_detector()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hog.svm"
        full.save(str(path))
        data = path.read_bytes()
        # object_detector version 2, scan_fhog_pyramid version 1, an empty feature pyramid (max size, size), cell
        # size 8, padding 0, an 80x80 window, then max_pyramid_levels: 1000.
        head = bytes.fromhex("01020101010001000108010001500150")
        unlimited = _dlib_integer(1000)
        if not data.startswith(head + unlimited):
            log.warning(
                "The HOG detector's file layout is not the expected one: the small-face pass scans every level."
            )
            return full
        path.write_bytes(head + _dlib_integer(levels) + data[len(head) + len(unlimited) :])
        return dlib.fhog_object_detector(str(path))


hog_detector: LazyModel[Any] = LazyModel("dlib-hog", lambda: import_dlib().get_frontal_face_detector())
small_face_hog: LazyModel[Any] = LazyModel("dlib-hog-small", lambda: hog_with_levels(SMALL_FACE_LEVELS))
cnn_detector: LazyModel[Any] = LazyModel("dlib-cnn", _file_model("cnn_face_detection_model_v1", CNN_DETECTOR_FILE))
shape_predictor: LazyModel[Any] = LazyModel("dlib-5-landmarks", _file_model("shape_predictor", SHAPE_PREDICTOR_FILE))
face_encoder: LazyModel[Any] = LazyModel("dlib-resnet", _file_model("face_recognition_model_v1", FACE_ENCODER_FILE))
# The descriptor network on aligned chips: dlib's own, and the same network run by PyTorch where it can be
# (portal/backend/photos/vision/resnet.py), for batches.
dlib_chip_describer: LazyModel[ChipDescriber] = LazyModel("dlib-chips", lambda: DlibChipDescriber(face_encoder.load()))
chip_describer: LazyModel[ChipDescriber] = LazyModel("pytorch-chips", lambda: _chip_describer())


class ChipDescriber(Protocol):
    """Turns aligned 150x150 RGB face chips (n, 150, 150, 3) into 128-d float32 descriptors (n, 128)."""

    name: str

    def describe(self, chips: np.ndarray) -> np.ndarray:
        """The descriptors of the chips, in order."""
        ...


class DlibChipDescriber:
    """dlib's own network: the reference, and the fallback where the PyTorch copy cannot run."""

    name = "dlib"

    def __init__(self, encoder: Any) -> None:
        """Wrap a dlib.face_recognition_model_v1."""
        self._encoder = encoder
        self._lock = threading.Lock()  # the dlib network keeps per-call state: one call at a time

    def describe(self, chips: np.ndarray) -> np.ndarray:
        """The descriptors of the chips, by dlib."""
        with self._lock:
            vectors = self._encoder.compute_face_descriptor(list(chips))
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32).reshape(len(chips), -1)


def _chip_describer() -> ChipDescriber:
    """The PyTorch copy of dlib's network when it loads and agrees with dlib on a test chip, else dlib's own."""
    from portal.backend.photos.vision import resnet

    reference = DlibChipDescriber(face_encoder.load())
    # Any failure of the copy (a file it cannot read, PyTorch missing or refusing a shape) leaves dlib's network.
    try:
        net = resnet.FaceNet(resnet.read_weights(model_path(FACE_ENCODER_FILE)))
        # A chip of noise exercises every weight: the copy must give dlib's descriptor, or it is not used.
        chip = np.random.default_rng(150).integers(0, 256, (1, resnet.CHIP_SIZE, resnet.CHIP_SIZE, 3), dtype=np.uint8)
        difference = float(np.abs(net.describe(chip) - reference.describe(chip)).max())
    except (ImportError, OSError, ValueError, RuntimeError) as exc:
        log.warning("Face descriptors use dlib's own (slower) network: the PyTorch copy cannot run (%s).", exc)
        return reference
    if difference > resnet.SELF_CHECK_TOLERANCE:
        log.warning("Face descriptors use dlib's own network: the PyTorch copy differs by %.2g.", difference)
        return reference
    return net


def check_models() -> None:
    """Raise ConfigError now if a model file or dlib is missing, instead of at the first upload."""
    import_dlib()
    for filename in (SHAPE_PREDICTOR_FILE, FACE_ENCODER_FILE, CNN_DETECTOR_FILE):
        model_path(filename)
