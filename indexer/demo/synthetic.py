"""Synthetic image embeddings with known concepts, for the concept tests and benchmark.

Clusters of uneven sizes, each spread along its own directions (anisotropic, like CLIP embeddings of one subject),
plus background images scattered uniformly over the sphere that belong to no concept (truth label -1).
"""

from __future__ import annotations

import numpy as np


def clustered_embeddings(n: int, concepts: int = 20, dim: int = 512, background: float = 0.1, seed: int = 0,
                         spread: float = 0.35, draw_seed: int | None = None, smallest: int | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (n, dim) float32 normalised, truth labels with -1 for background), shuffled.

    `seed` fixes the concepts (centres and directions); `draw_seed` (default: `seed`) the images drawn from them, so
    fresh images of the same concepts can be made. `smallest`: the last concept has exactly this many images (the
    first absorbs the difference), the case of a true concept at the minimum size.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(concepts, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    directions = rng.normal(size=(concepts, 16, dim)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=2, keepdims=True)
    scales = (spread * 0.8 ** np.arange(16)).astype(np.float32)
    weights = 1.0 / np.arange(1, concepts + 1) ** 0.7  # uneven: the largest concept ~8x the smallest at 20
    weights /= weights.sum()
    members = n - int(round(n * background))
    sizes = np.maximum(1, np.round(weights * members).astype(int))
    if smallest is not None:
        sizes[-1] = smallest
    sizes[0] += members - sizes.sum()
    draw = np.random.default_rng(seed if draw_seed is None else draw_seed)
    parts, truth = [], []
    for k, size in enumerate(sizes):
        offsets = (draw.normal(size=(size, 16)).astype(np.float32) * scales) @ directions[k]
        parts.append(centres[k] + offsets + draw.normal(scale=0.01, size=(size, dim)).astype(np.float32))
        truth.append(np.full(size, k))
    parts.append(draw.normal(size=(n - members, dim)).astype(np.float32))
    truth.append(np.full(n - members, -1))
    vectors = np.concatenate(parts).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.concatenate(truth)
    order = draw.permutation(n)
    return vectors[order], labels[order]
