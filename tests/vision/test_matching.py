"""Template ranking, match classes and the storage format, checked against a brute-force loop and real faces."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from portal.backend.photos.vision.matching import PACKED_SIZE, classify, pack, rank, unpack
from portal.backend.photos.vision.schemas import Detection

RNG = np.random.default_rng(7)


def _templates(n: int) -> np.ndarray:
    """Random descriptors of a realistic scale (dlib's have norms around 1.3-1.5)."""
    return (RNG.normal(0, 0.12, size=(n, 128))).astype(np.float32)


def test_rank_matches_a_brute_force_loop() -> None:
    templates = _templates(2000)
    query = templates[17] + RNG.normal(0, 0.02, 128).astype(np.float32)
    templates[500:520] = query + RNG.normal(0, 0.03, size=(20, 128)).astype(np.float32)
    ids = [f"face-{i}" for i in range(len(templates))]
    got = rank(query, templates, ids, threshold=0.6, limit=10)
    brute = sorted(
        ((ids[i], float(np.linalg.norm(templates[i].astype(np.float64) - query))) for i in range(len(ids))),
        key=lambda p: p[1],
    )
    expected = [p for p in brute if p[1] <= 0.6][:10]
    assert [i for i, _ in got] == [i for i, _ in expected]
    assert np.allclose([d for _, d in got], [d for _, d in expected], atol=1e-6)
    assert len(got) == 10 and all(a[1] <= b[1] for a, b in itertools.pairwise(got))


def test_rank_threshold_and_limit() -> None:
    query = np.zeros(128, dtype=np.float32)
    templates = np.zeros((4, 128), dtype=np.float32)
    for row, d in enumerate([0.75, 0.125, 0.5, 0.25]):  # exact in float32
        templates[row, 0] = d
    assert rank(query, templates, ["a", "b", "c", "d"]) == [("b", 0.125), ("d", 0.25), ("c", 0.5)]
    assert [i for i, _ in rank(query, templates, "abcd", threshold=0.5)] == ["b", "d", "c"]  # inclusive
    assert [i for i, _ in rank(query, templates, "abcd", threshold=0.49)] == ["b", "d"]
    assert [i for i, _ in rank(query, templates, "abcd", limit=1)] == ["b"]
    assert rank(query, templates, "abcd", threshold=0.05) == []


def test_rank_with_no_templates() -> None:
    query = np.ones(128, dtype=np.float32)
    assert rank(query, np.empty((0, 128), dtype=np.float32), []) == []
    assert rank(query, np.array([]), []) == []


@pytest.mark.parametrize(
    ("query", "templates", "ids", "message"),
    [
        (np.zeros(64), np.zeros((2, 128)), [1, 2], "128-d"),
        (np.zeros((2, 128)), np.zeros((2, 128)), [1, 2], "128-d"),
        (np.zeros(128), np.zeros((2, 64)), [1, 2], r"shape \(n, 128\)"),
        (np.zeros(128), np.zeros(128), [1], r"shape \(n, 128\)"),
        (np.zeros(128), np.zeros((2, 128)), [1], "ids has 1"),
        (np.full(128, np.nan), np.zeros((2, 128)), [1, 2], "NaN"),
    ],
)
def test_rank_validates_shapes(query: np.ndarray, templates: np.ndarray, ids: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rank(query, templates, ids)


def test_rank_real_faces(source_faces: dict[str, list[Detection]]) -> None:
    faces = [(name, d) for name, ds in source_faces.items() for d in ds]
    matrix = np.stack([d.template for _, d in faces])
    ids = [name for name, _ in faces]
    grace = next(d for name, d in faces if name == "grace_hopper")
    assert rank(grace.template, matrix, ids) == [("grace_hopper", pytest.approx(0.0, abs=1e-6))]


@pytest.mark.parametrize(
    ("distance", "verdict"),
    [(0.1, "auto_confirm"), (0.35, "auto_confirm"), (0.36, "suggest"), (0.6, "suggest"), (0.61, "none")],
)
def test_classify(distance: float, verdict: str) -> None:
    assert classify(distance, suggest_threshold=0.6, auto_confirm_threshold=0.35) == verdict


def test_classify_refuses_inverted_thresholds() -> None:
    with pytest.raises(ValueError, match="stricter"):
        classify(0.3, suggest_threshold=0.4, auto_confirm_threshold=0.5)


def test_pack_round_trip_and_format() -> None:
    vector = _templates(1)[0]
    data = pack(vector)
    assert len(data) == PACKED_SIZE == 512
    assert data[:4] == np.float32(vector[0]).astype("<f4").tobytes()  # little-endian float32
    back = unpack(data)
    assert back.dtype == np.float32 and back.shape == (128,) and np.array_equal(back, vector)
    back[0] = 1.0  # a writable copy, not a view of the stored bytes
    assert pack(np.asarray(vector, dtype=np.float64)) == data


def test_pack_and_unpack_validate() -> None:
    with pytest.raises(ValueError, match="128-d"):
        pack(np.zeros(127))
    with pytest.raises(ValueError, match="512 bytes"):
        unpack(b"\x00" * 511)


def test_index_nearest_equals_brute_force_for_a_batch_of_faces() -> None:
    """Many faces against many templates in one product give each face's true nearest template."""
    from portal.backend.photos.vision import matching

    rng = np.random.default_rng(7)
    templates = rng.normal(0.0, 0.125, size=(3000, 128)).astype(np.float32)
    queries = np.concatenate(
        [templates[[5, 900, 2999]] + rng.normal(0, 0.01, (3, 128)), rng.normal(0, 0.125, (4, 128))]
    ).astype(np.float32)
    index = matching.TemplateIndex.build(templates, [f"p{i}" for i in range(3000)])
    old_block = matching._BLOCK_ELEMENTS
    try:
        matching._BLOCK_ELEMENTS = 7 * 512  # several blocks, so the running minimum across blocks is exercised
        got = index.nearest(queries, threshold=0.6)
    finally:
        matching._BLOCK_ELEMENTS = old_block
    exact = np.linalg.norm(templates[None, :, :].astype(np.float64) - queries[:, None, :], axis=2)
    for row, hit in enumerate(got):
        best = int(np.argmin(exact[row]))
        if exact[row, best] <= 0.6:
            assert hit == (f"p{best}", pytest.approx(exact[row, best], abs=1e-6))
        else:
            assert hit is None
    assert [hit[0] if hit else None for hit in got[:3]] == ["p5", "p900", "p2999"]
    assert index.nearest(np.empty((0, 128), dtype=np.float32)) == []
    empty = matching.TemplateIndex.build(np.empty((0, 128), dtype=np.float32), [])
    assert empty.nearest(queries[:2]) == [None, None]


def test_index_rank_and_subset_agree_with_rank() -> None:
    """A kept index ranks like the one-off `rank`, and a subset keeps the right ids with their norms."""
    from portal.backend.photos.vision.matching import TemplateIndex

    rng = np.random.default_rng(11)
    templates = rng.normal(0.0, 0.125, size=(500, 128)).astype(np.float32)
    query = templates[42] + rng.normal(0, 0.02, 128).astype(np.float32)
    ids = list(range(500))
    index = TemplateIndex.build(templates, ids)
    assert index.rank(query, threshold=0.9, limit=5) == rank(query, templates, ids, threshold=0.9, limit=5)
    part = index.subset([41, 42, 43])
    assert part.ids == (41, 42, 43)
    assert part.rank(query, limit=1)[0][0] == 42
    with pytest.raises(ValueError, match="NaN"):
        index.nearest(np.full((1, 128), np.nan, dtype=np.float32))
