"""Latency of `matching.rank` for one query against 10,000 / 100,000 / 1,000,000 synthetic face templates.

    python bench/matching.py [--sizes 10000 100000 1000000] [--repeat 7]

Templates are random float32 vectors at the scale of dlib descriptors (norm about 1.4), with 20 near copies of the
query planted among them, so the result list is realistic (a few matches under 0.6). For context it also times the
obvious `np.linalg.norm(templates - query, axis=1)`, which allocates an n×128 temporary.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from portal.backend.photos.vision.matching import rank


def templates(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """n synthetic templates, a query with 20 planted near matches, and integer ids."""
    matrix = rng.normal(0.0, 0.125, size=(n, 128)).astype(np.float32)
    query = matrix[0].copy()
    near = rng.choice(n, size=min(20, n), replace=False)
    matrix[near] = query + rng.normal(0.0, 0.03, size=(len(near), 128)).astype(np.float32)
    return matrix, query, list(range(n))


def best_of(fn: object, repeat: int) -> tuple[float, float]:
    """Median and minimum wall time of calling fn, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    """Print rank latency per template count."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    print(f"{'templates':>10} {'MB':>6} {'rank median':>12} {'rank min':>9} {'matches':>8} {'naive median':>13}")
    for n in args.sizes:
        matrix, query, ids = templates(n, rng)
        found = rank(query, matrix, ids, threshold=0.6, limit=10)
        median, fastest = best_of(lambda m=matrix, q=query, i=ids: rank(q, m, i, threshold=0.6, limit=10), args.repeat)
        naive, _ = best_of(lambda m=matrix, q=query: np.linalg.norm(m - q, axis=1), max(3, args.repeat // 2))
        print(
            f"{n:>10,} {matrix.nbytes / 2**20:>6.0f} {median:>9.2f} ms {fastest:>6.2f} ms {len(found):>8} "
            f"{naive:>10.2f} ms"
        )


if __name__ == "__main__":
    main()
