"""The 2-D map of a library: every image placed so that similar images lie close, for the concept map.

The map is a second UMAP layout to two dimensions over the same neighbour graph the clustering used, so it costs a
layout, not another nearest-neighbour search, and what is near on the map is what the clustering saw as near.
"""

from __future__ import annotations

import numpy as np

MAP_MIN_DIST = 0.1  # a little spread, so a concept's images do not pile onto one pixel


def layout_2d(data: np.ndarray, reducer, settings) -> np.ndarray:
    """(N, 2) float32 positions of the rows of `data`, reusing `reducer`'s (a fitted UMAP's) neighbour graph. Below
    4096 rows UMAP computes exact distances and keeps no graph; the layout then does the same (cheap at that size)."""
    import umap

    knn = (None, None, None)
    if getattr(reducer, "_knn_indices", None) is not None:
        knn = (reducer._knn_indices, reducer._knn_dists, getattr(reducer, "_knn_search_index", None))
    mapper = umap.UMAP(n_neighbors=reducer.n_neighbors, n_components=2, metric="cosine", min_dist=MAP_MIN_DIST,
                       n_epochs=reducer.n_epochs, init=reducer.init, random_state=settings.seed,
                       n_jobs=1 if settings.seed is not None else -1, low_memory=True, precomputed_knn=knn)
    return np.asarray(mapper.fit_transform(data), np.float32)


def linear_layout(vectors: np.ndarray) -> np.ndarray:
    """The two main axes of variation (PCA), for inputs too small for UMAP."""
    centred = np.asarray(vectors, np.float64) - np.mean(vectors, axis=0)
    if len(centred) < 2:
        return np.zeros((len(centred), 2), np.float32)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    positions = centred @ axes[:2].T
    if positions.shape[1] < 2:
        positions = np.pad(positions, ((0, 0), (0, 2 - positions.shape[1])))
    return positions.astype(np.float32)


def place_near(anchors: np.ndarray, anchor_positions: np.ndarray, vectors: np.ndarray, seeds: np.ndarray,
               spread: float) -> np.ndarray:
    """Positions for images outside the fitted sample: at their most similar anchor (a sample of the fitted images,
    compared by vector), moved by a small offset derived from the image's own seed (an integer from its ID), so the
    same image lands on the same spot in every run and images at one anchor stay apart."""
    similarity = np.asarray(vectors, np.float32) @ np.asarray(anchors, np.float32).T
    nearest = similarity.argmax(axis=1)
    seeds = np.asarray(seeds, np.uint64)
    angle = (seeds % np.uint64(3600)).astype(np.float32) * (2 * np.pi / 3600)
    radius = ((seeds // np.uint64(3600)) % np.uint64(1000)).astype(np.float32) / 1000 * spread
    offset = np.stack([np.cos(angle), np.sin(angle)], axis=1) * radius[:, None]
    return (anchor_positions[nearest] + offset).astype(np.float32)
