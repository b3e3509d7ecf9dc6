"""Where the person-detection weights come from: a configured file, else the one `models fetch` put in the data folder.

Nothing here runs at portal start or during analysis except `resolve_weights` (a file lookup); the only download is
`fetch_weights`, which runs when an operator asks for it (`python -m portal models fetch`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from portal.backend.platform.config import Settings
from portal.backend.platform.errors import ServiceUnavailable, StorageError, ValidationError

# The official Ultralytics YOLOv8n COCO detector, from the release the installed ultralytics 8.4 downloads from
# itself. The SHA-256 and size are those published for this file by several independent projects that pin it.
MODEL_NAME = "yolov8n.pt"
MODEL_URL = f"https://github.com/ultralytics/assets/releases/download/v8.4.0/{MODEL_NAME}"
MODEL_SHA256 = "f59b3d833e2ff32e194b5bb8e08d211dc7c5bdf144b90d2c8412c47ccfc83b36"
MODEL_BYTES = 6_549_796
# Values of PORTAL_YOLO_WEIGHTS that turn person detection off even when fetched weights are present.
OFF_VALUES = frozenset({"off", "none", "false", "0"})
FETCH_HINT = "run `python -m portal models fetch`"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class WeightsChoice:
    """The weights file analysis would load (None: off), where the choice came from, and why when off."""

    path: Path | None
    source: str  # "setting", "data folder", "off"
    reason: str = ""


def models_dir(settings: Settings) -> Path:
    """Folder under the data folder that holds fetched model files."""
    return Path(settings.data_dir) / "models"


def fetched_path(settings: Settings) -> Path:
    """Where `models fetch` puts the weights."""
    return models_dir(settings) / MODEL_NAME


def resolve_weights(settings: Settings) -> WeightsChoice:
    """PORTAL_YOLO_WEIGHTS when set (`off` turns detection off), else the fetched file when present, else off."""
    configured = settings.yolo_weights.strip()
    if configured.lower() in OFF_VALUES:
        return WeightsChoice(None, "off", "Person detection is off: PORTAL_YOLO_WEIGHTS turns it off.")
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            return WeightsChoice(
                None, "off", f"Person detection is off: PORTAL_YOLO_WEIGHTS points to {path}, which does not exist."
            )
        return WeightsChoice(path, "setting")
    path = fetched_path(settings)
    if path.is_file():
        return WeightsChoice(path, "data folder")
    return WeightsChoice(
        None,
        "off",
        f"Person detection is off: no YOLO weights in {models_dir(settings)}; {FETCH_HINT} (or copy {MODEL_NAME} "
        "there) so that people whose face is not visible are found too.",
    )


def status_line(settings: Settings) -> str:
    """One sentence: whether person detection is on, with which file and size, or how to turn it on."""
    choice = resolve_weights(settings)
    if choice.path is None:
        return choice.reason
    size = choice.path.stat().st_size / 1_000_000
    return f"Person detection is on: Ultralytics YOLO with {choice.path} ({size:.1f} MB, from the {choice.source})."


def _sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_weights(
    settings: Settings,
    *,
    url: str = MODEL_URL,
    sha256: str = MODEL_SHA256,
    force: bool = False,
    timeout: float = 30.0,
) -> tuple[Path, bool]:
    """Download the weights into the data folder, verified against `sha256`; (path, False) when already there.

    The file is streamed to a temporary file next to its final place and renamed only once its hash matches, so an
    interrupted or wrong download never leaves a file that analysis would load.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValidationError(f"Weights are downloaded over http(s) only, not from {url}.")
    expected = sha256.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ValidationError("The expected SHA-256 must be 64 hexadecimal characters.")
    target = fetched_path(settings)
    if target.is_file() and not force:
        if _sha256(target) == expected:
            return target, False
        raise ValidationError(
            f"{target} exists but its SHA-256 is not the expected one; pass --force to download it again."
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"Cannot create the models folder {target.parent}: {exc.strerror or exc}.") from exc
    # Refuse up front rather than half-way through when the pinned file cannot fit (a mirror's size is unknown).
    if url == MODEL_URL and shutil.disk_usage(target.parent).free < MODEL_BYTES:
        raise StorageError(f"No space left in {target.parent} for the model file ({MODEL_BYTES:,} bytes).")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{MODEL_NAME}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        try:
            # The scheme was checked above: http(s) only, never file: or a custom opener.
            request = urllib.request.Request(url, headers={"User-Agent": "image-consent-portal"})  # noqa: S310
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise ServiceUnavailable(f"Download of {url} failed: HTTP {exc.code} {exc.reason}.") from exc
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            why = getattr(exc, "reason", exc)
            raise ServiceUnavailable(
                f"Cannot download {url} ({why}); without network access copy {MODEL_NAME} into {target.parent} by hand."
            ) from exc
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageError(f"No space left in {target.parent} for the model file.") from exc
            raise StorageError(f"Cannot write the model file in {target.parent}: {exc.strerror or exc}.") from exc
        actual = digest.hexdigest()
        if actual != expected:
            raise ValidationError(
                f"The file downloaded from {url} has SHA-256 {actual}, not the expected {expected}; it was discarded."
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target, True
