"""dlib models: located by path in the `face-recognition-models` package, loaded lazily once per process."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from portal.backend.platform.errors import ConfigError

PACKAGE = "face_recognition_models"
INSTALL_HINT = "Install the PyPI packages `face-recognition-models` and `dlib-bin` (pip install -r requirements.txt)."
SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
FACE_ENCODER_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"

T = TypeVar("T")


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


hog_detector: LazyModel[Any] = LazyModel("dlib-hog", lambda: import_dlib().get_frontal_face_detector())
cnn_detector: LazyModel[Any] = LazyModel("dlib-cnn", _file_model("cnn_face_detection_model_v1", CNN_DETECTOR_FILE))
shape_predictor: LazyModel[Any] = LazyModel("dlib-5-landmarks", _file_model("shape_predictor", SHAPE_PREDICTOR_FILE))
face_encoder: LazyModel[Any] = LazyModel("dlib-resnet", _file_model("face_recognition_model_v1", FACE_ENCODER_FILE))


def check_models() -> None:
    """Raise ConfigError now if a model file or dlib is missing, instead of at the first upload."""
    import_dlib()
    for filename in (SHAPE_PREDICTOR_FILE, FACE_ENCODER_FILE, CNN_DETECTOR_FILE):
        model_path(filename)
