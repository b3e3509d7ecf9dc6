"""Face-template matching: vectorised Euclidean ranking, thresholds, and the 512-byte storage format."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from portal.backend.photos.vision.schemas import TEMPLATE_SIZE

PACKED_SIZE = TEMPLATE_SIZE * 4  # float32
DEFAULT_THRESHOLD = 0.6  # dlib's convention: the same person is usually closer than 0.6
MatchClass = Literal["auto_confirm", "suggest", "none"]
_STORAGE_DTYPE = np.dtype("<f4")


def rank(
    query: np.ndarray,
    templates: np.ndarray,
    ids: Sequence[Any],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    limit: int = 10,
) -> list[tuple[Any, float]]:
    """(id, distance) of the templates within `threshold` of `query`, nearest first, at most `limit` of them."""
    q = _as_vector(query, "query")
    matrix = _as_matrix(templates)
    if len(ids) != matrix.shape[0]:
        raise ValueError(f"ids has {len(ids)} entries but templates has {matrix.shape[0]} rows; they must pair up.")
    if matrix.shape[0] == 0 or limit <= 0 or threshold < 0:
        return []
    # |t - q|^2 = |t|^2 - 2 t.q + |q|^2 needs no (n, 128) temporary, so a million templates stay cheap.
    # float32 rounding can move values near the threshold, so candidates get a small margin and their exact
    # distances are recomputed in float64 below.
    q32 = q.astype(np.float32)
    sq = np.einsum("ij,ij->i", matrix, matrix) - 2.0 * (matrix @ q32) + np.float32(q32 @ q32)
    margin = (threshold + 1e-3) ** 2
    candidates = np.flatnonzero(sq <= margin)
    if candidates.size == 0:
        return []
    exact = np.linalg.norm(matrix[candidates].astype(np.float64) - q, axis=1)
    keep = exact <= threshold
    candidates, exact = candidates[keep], exact[keep]
    order = np.argsort(exact, kind="stable")[:limit]
    return [(ids[int(candidates[i])], float(exact[i])) for i in order]


def classify(distance: float, *, suggest_threshold: float, auto_confirm_threshold: float) -> MatchClass:
    """Whether a match distance is close enough to confirm automatically, to suggest to staff, or neither."""
    if auto_confirm_threshold > suggest_threshold:
        raise ValueError(
            f"auto_confirm_threshold ({auto_confirm_threshold}) must not exceed suggest_threshold "
            f"({suggest_threshold}): automatic confirmation needs the stricter (smaller) distance."
        )
    if distance <= auto_confirm_threshold:
        return "auto_confirm"
    if distance <= suggest_threshold:
        return "suggest"
    return "none"


def pack(vector: np.ndarray) -> bytes:
    """The 512-byte storage form of a 128-d template: float32, little-endian."""
    return _as_vector(vector, "template").astype(_STORAGE_DTYPE).tobytes()


def unpack(data: bytes) -> np.ndarray:
    """A 128-d float32 template from its 512-byte storage form."""
    if len(data) != PACKED_SIZE:
        raise ValueError(f"A stored face template is {PACKED_SIZE} bytes; got {len(data)}.")
    return np.frombuffer(data, dtype=_STORAGE_DTYPE).astype(np.float32)


def _as_vector(vector: np.ndarray, name: str) -> np.ndarray:
    """A finite float64 vector of length 128, or a ValueError saying what is wrong."""
    arr = np.asarray(vector)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != (TEMPLATE_SIZE,):
        raise ValueError(f"The {name} must be a {TEMPLATE_SIZE}-d face descriptor; got shape {arr.shape}.")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The {name} contains NaN or infinite values.")
    return arr


def _as_matrix(templates: np.ndarray) -> np.ndarray:
    """An (n, 128) float32 matrix (0 rows allowed), or a ValueError saying what is wrong."""
    arr = np.asarray(templates)
    if arr.size == 0:
        return np.empty((0, TEMPLATE_SIZE), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != TEMPLATE_SIZE:
        raise ValueError(f"templates must have shape (n, {TEMPLATE_SIZE}); got {arr.shape}.")
    return arr if arr.dtype == np.float32 else arr.astype(np.float32)
