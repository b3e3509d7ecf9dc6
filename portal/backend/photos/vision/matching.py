"""Face-template matching: vectorised Euclidean ranking, thresholds, and the 512-byte storage format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from portal.backend.photos.vision.schemas import TEMPLATE_SIZE

PACKED_SIZE = TEMPLATE_SIZE * 4  # float32
DEFAULT_THRESHOLD = 0.6  # dlib's convention: the same person is usually closer than 0.6
MatchClass = Literal["auto_confirm", "suggest", "none"]
_STORAGE_DTYPE = np.dtype("<f4")
# Distances computed per block in `TemplateIndex.nearest` (queries x templates): about 32 MB of float32.
_BLOCK_ELEMENTS = 8_000_000


@dataclass(frozen=True)
class TemplateIndex:
    """Templates as one contiguous float32 matrix with their squared norms computed once, ready for products.

    |t - q|^2 = |t|^2 - 2 t.q + |q|^2: with |t|^2 kept, a query costs one matrix-vector product and no (n, 128)
    temporary, and many queries cost one matrix product. Build it once per set of templates and reuse it.
    """

    matrix: np.ndarray
    sq_norms: np.ndarray
    ids: tuple[Any, ...]

    @classmethod
    def build(cls, templates: np.ndarray, ids: Sequence[Any]) -> TemplateIndex:
        """An index over `templates` (n, 128), whose rows are named by `ids`."""
        matrix = np.ascontiguousarray(_as_matrix(templates), dtype=np.float32)
        if len(ids) != matrix.shape[0]:
            raise ValueError(f"ids has {len(ids)} entries but templates has {matrix.shape[0]} rows; they must pair up.")
        return cls(matrix, np.einsum("ij,ij->i", matrix, matrix), tuple(ids))

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def subset(self, rows: Sequence[int] | np.ndarray) -> TemplateIndex:
        """The same index limited to these row numbers (norms are not recomputed)."""
        picked = np.asarray(rows, dtype=np.intp)
        return TemplateIndex(self.matrix[picked], self.sq_norms[picked], tuple(self.ids[int(i)] for i in picked))

    def rank(
        self, query: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD, limit: int = 10
    ) -> list[tuple[Any, float]]:
        """(id, distance) of the templates within `threshold` of `query`, nearest first, at most `limit`."""
        q = _as_vector(query, "query")
        if len(self) == 0 or limit <= 0 or threshold < 0:
            return []
        q32 = q.astype(np.float32)
        sq = self.sq_norms - 2.0 * (self.matrix @ q32)
        # float32 rounding can move values near the threshold, so candidates get a small margin and their exact
        # distances are recomputed in float64 below.
        candidates = np.flatnonzero(sq <= (threshold + 1e-3) ** 2 - np.float32(q32 @ q32))
        if candidates.size == 0:
            return []
        exact = np.linalg.norm(self.matrix[candidates].astype(np.float64) - q, axis=1)
        keep = exact <= threshold
        candidates, exact = candidates[keep], exact[keep]
        order = np.argsort(exact, kind="stable")[:limit]
        return [(self.ids[int(candidates[i])], float(exact[i])) for i in order]

    def nearest(self, queries: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD) -> list[tuple[Any, float] | None]:
        """For each row of `queries` (m, 128): the nearest template's (id, distance) within `threshold`, or None.

        One matrix product per block of templates, so a batch of faces is compared with everyone at once.
        """
        if queries.size == 0:
            return []
        q = np.ascontiguousarray(_as_matrix(queries), dtype=np.float32)
        if not np.all(np.isfinite(q)):
            raise ValueError("The queries contain NaN or infinite values.")
        if len(self) == 0 or threshold < 0:
            return [None] * q.shape[0]
        best = np.full(q.shape[0], np.inf, dtype=np.float32)
        where = np.zeros(q.shape[0], dtype=np.intp)
        # Blocks keep the (m, block) distance matrix small for a million templates.
        block = max(1, _BLOCK_ELEMENTS // q.shape[0])
        for start in range(0, len(self), block):
            part = self.sq_norms[start : start + block][None, :] - 2.0 * (q @ self.matrix[start : start + block].T)
            column = np.argmin(part, axis=1)
            value = part[np.arange(q.shape[0]), column]
            better = value < best
            best[better] = value[better]
            where[better] = column[better] + start
        result: list[tuple[Any, float] | None] = []
        for i in range(q.shape[0]):
            # Exact float64 distance for the winner only; near-ties within float32 rounding stay in float32 order.
            distance = float(np.linalg.norm(self.matrix[where[i]].astype(np.float64) - q[i].astype(np.float64)))
            result.append((self.ids[int(where[i])], distance) if distance <= threshold else None)
        return result


def rank(
    query: np.ndarray,
    templates: np.ndarray,
    ids: Sequence[Any],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    limit: int = 10,
) -> list[tuple[Any, float]]:
    """(id, distance) of the templates within `threshold` of `query`, nearest first, at most `limit` of them.

    A one-off query; code that ranks against the same templates again keeps a `TemplateIndex` instead.
    """
    return TemplateIndex.build(templates, ids).rank(query, threshold=threshold, limit=limit)


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
