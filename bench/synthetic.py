from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import cast

import numpy as np


@dataclass(frozen=True)
class Generator:
    """Unit vectors shaped like real embeddings: clusters in a low-dimensional subspace."""

    dimension: int = 768
    subspace: int = 64
    clusters: int = 200
    cluster_spread: float = 0.6
    noise: float = 0.05
    isotropic: bool = False
    seed: int = 1

    def describe(self) -> dict[str, object]:
        return asdict(self)

    def vectors(self, count: int, *, stream: int = 0) -> np.ndarray:
        rng = np.random.default_rng([self.seed, stream])
        base = np.random.default_rng(self.seed)
        if self.isotropic:
            # The hard case: clusters in the full dimension with isotropic noise around them.
            centres = base.standard_normal((self.clusters, self.dimension))
            labels = rng.integers(self.clusters, size=count)
            points = centres[labels] + rng.standard_normal((count, self.dimension)) * 1.0
        else:
            subspace = min(self.subspace, self.dimension)
            centres = base.standard_normal((self.clusters, subspace))
            basis, _ = np.linalg.qr(base.standard_normal((self.dimension, subspace)))
            labels = rng.integers(self.clusters, size=count)
            spread = self.cluster_spread * rng.standard_normal((count, subspace))
            low = centres[labels] + spread
            points = low @ basis.T
            points /= np.linalg.norm(points, axis=1, keepdims=True)
            points += self.noise / np.sqrt(self.dimension) * rng.standard_normal(points.shape)
        points = points.astype(np.float32)
        return cast(np.ndarray, points / np.linalg.norm(points, axis=1, keepdims=True))


def exact_top_k(
    data: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """Row indices of the k most cosine-similar rows of `data` (unit vectors) for each query."""
    scores = queries @ data.T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)
