"""Synthetic image embeddings with known concepts, for the concept tests and benchmark.

Clusters of uneven sizes, each spread along its own directions (anisotropic, like CLIP embeddings of one subject),
plus background images scattered uniformly over the sphere that belong to no concept (truth label -1).
"""

from __future__ import annotations

import numpy as np


def clustered_embeddings(n: int, concepts: int = 20, dim: int = 512, background: float = 0.1, seed: int = 0,
                         spread: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (n, dim) float32 normalised, truth labels with -1 for background), shuffled."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, concepts + 1) ** 0.7  # uneven: the largest concept ~8x the smallest at 20
    weights /= weights.sum()
    members = n - int(round(n * background))
    sizes = np.maximum(1, np.round(weights * members).astype(int))
    sizes[0] += members - sizes.sum()
    centres = rng.normal(size=(concepts, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    parts, truth = [], []
    for k, size in enumerate(sizes):
        directions = rng.normal(size=(16, dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        scales = spread * 0.8 ** np.arange(16)
        offsets = (rng.normal(size=(size, 16)) * scales) @ directions
        parts.append(centres[k] + offsets + rng.normal(scale=0.01, size=(size, dim)))
        truth.append(np.full(size, k))
    noise = rng.normal(size=(n - members, dim))
    parts.append(noise)
    truth.append(np.full(n - members, -1))
    vectors = np.concatenate(parts).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.concatenate(truth)
    order = rng.permutation(n)
    return vectors[order], labels[order]
