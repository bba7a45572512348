"""Concept modeling on arrays: image vectors in, concepts out (topic modeling generalised to images).

1. Reduce: optional PCA (to ~50-d, for speed), then UMAP to a few cosine dimensions.
2. Cluster: HDBSCAN; its outliers are concept -1. UMAP tends to pull background images into clusters, and sometimes
   two neighbouring concepts into one, so a cluster much less coherent than the typical one is split where HDBSCAN
   finds coherent parts within it, and what stays incoherent becomes outliers; so do members far from their concept
   in the original space (below the concept's similarity threshold).
3. Describe: each concept's embedding (normalised mean of its members), a parent in HDBSCAN's condensed tree, diverse
   exemplars (MMR), distinctive vocabulary labels, and a similarity threshold for assigning new images.

No data directory is involved: the job that runs this over a library calls `fit_concepts` and writes the results.
"""

from __future__ import annotations

import ctypes
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..embed import normalise_rows
from ..errors import UsageError

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "pixcept", "numba"))
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def default_min_samples(min_size: int) -> int:
    """HDBSCAN's `min_samples`: how dense a neighbourhood must be to count. 10 (at most the concept size) from 400
    images up; 3 below, where concepts are a handful of pictures: with 7 or more there, a library of 192 demo
    pictures kept one concept of orange and yellow stars and crescents (purity 0.94, its worst concept 0.5); with 3,
    0.98-1.0 under five seeds (bench/concept_quality.py)."""
    return 3 if min_size < 10 else min(min_size, 10)


def default_min_concept_size(n: int) -> int:
    """Grows with the library: half the square root of N (12 at 576 images, 50 at 10k, 500 at 1M), at least 5.

    A fixed size gives thousands of tiny concepts on large libraries and none on small ones. A concept smaller than
    this cannot be found: it becomes part of a larger one, or outliers.
    """
    return int(max(5, min(1000, round(math.sqrt(max(n, 1)) / 2))))


@dataclass
class ConceptSettings:
    min_concept_size: int | None = None  # None: default_min_concept_size(N)
    min_samples: int | None = None  # HDBSCAN's; None: `default_min_samples`
    n_neighbors: int = 15
    n_components: int = 5
    # Measured at 50k (bench/concepts.py): PCA initialisation and 100 epochs cut UMAP from 24 s to 9 s with the same
    # clusters (ARI 1.0) as spectral initialisation and UMAP's default 200 epochs. On a few thousand images they
    # cost quality (outlier precision 0.97 -> 0.89 at 3k) while saving little, so small inputs keep the defaults.
    n_epochs: int | None = None  # None: 200 up to 10k images, 100 above
    init: str | None = None  # None: "spectral" up to 10k images, "pca" above
    pca_components: int | None = 50  # None: UMAP on the full vectors
    seed: int | None = None  # a seed makes UMAP reproducible, and single-threaded (slower)
    outlier_mads: float = 4.0  # members this many MADs below their concept's median similarity become outliers
    min_coherence: float = 0.5  # see _dissolve_incoherent
    n_exemplars: int = 9
    diversity: float = 0.3
    layout: bool = False  # also place every image on a 2-D map (`positions`), from the same neighbour graph


@dataclass
class Concepts:
    """The result of a fit. Concept k is row k of every per-concept array; image labels are concept ids or -1."""

    labels: np.ndarray  # (N,) int
    embeddings: np.ndarray  # (K, dim) float32, normalised
    thresholds: np.ndarray  # (K,) lowest similarity to the embedding that still belongs to the concept
    exemplars: list[list[int]]  # per concept, indices into the fitted vectors, most typical first
    parents: np.ndarray  # (K,) id of the concept's group in `hierarchy`, -1 at the top
    hierarchy: list[dict]  # condensed-tree groups: {"id", "parent", "size", "concepts"}, broad to fine
    min_concept_size: int
    settings: ConceptSettings = field(default_factory=ConceptSettings)
    positions: np.ndarray | None = None  # (N, 2) float32 map positions, with settings.layout

    @property
    def count(self) -> int:
        return len(self.embeddings)

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels[self.labels >= 0], minlength=self.count)

    @property
    def outliers(self) -> int:
        return int((self.labels < 0).sum())

    @property
    def outlier_share(self) -> float:
        return self.outliers / max(1, len(self.labels))


# -- fitting -----------------------------------------------------------------------------------------------------------

def reduce(vectors: np.ndarray, settings: ConceptSettings) -> tuple[np.ndarray, object, np.ndarray]:
    """Vectors -> a few UMAP dimensions (cosine), after PCA when that helps. Returns the reduced vectors, the fitted
    UMAP (its neighbour graph serves the 2-D layout) and what UMAP was fitted on."""
    import umap

    data = vectors
    components = settings.pca_components
    if components and vectors.shape[1] > components and len(vectors) > components:
        from sklearn.decomposition import PCA

        data = PCA(components, random_state=settings.seed or 0).fit_transform(vectors)
        data = normalise_rows(data)  # cosine after PCA, as before it
    n_neighbors = min(settings.n_neighbors, len(vectors) - 1)
    large = len(vectors) > 10_000
    epochs = settings.n_epochs or (100 if large else 200)
    init = settings.init or ("pca" if large else "spectral")
    if len(vectors) <= settings.n_components + 2:
        init = "random"  # spectral and PCA initialisation need more points than dimensions
    reducer = umap.UMAP(n_neighbors=n_neighbors, n_components=settings.n_components, metric="cosine", min_dist=0.0,
                        n_epochs=epochs, init=init, random_state=settings.seed,
                        n_jobs=1 if settings.seed is not None else -1, low_memory=True)
    return reducer.fit_transform(data), reducer, data


def fit_concepts(vectors: np.ndarray, settings: ConceptSettings | None = None, reducer=None,
                 clusterer=None) -> Concepts:
    """Find concepts among N image vectors (N, dim). Works for any N >= 2; tiny inputs give no concepts.

    `reducer` (with fit_transform) and `clusterer` (with fit_predict) replace pixcept's UMAP and HDBSCAN; a clusterer
    without HDBSCAN's condensed tree gives no hierarchy.
    """
    settings = settings or ConceptSettings()
    _hand_back_large_blocks()
    vectors = _unit_rows(vectors)
    n = len(vectors)
    if vectors.ndim != 2 or n < 2:
        raise UsageError("Concept modeling needs at least two image vectors.")
    min_size = settings.min_concept_size or default_min_concept_size(n)
    min_samples = settings.min_samples or default_min_samples(min_size)
    positions, reduced = None, None
    if n < max(min_size * 2, settings.n_components + 3):
        labels, clusterer = np.full(n, -1), None  # too few images for two concepts: all outliers
    else:
        if reducer is not None:
            reduced = reducer.fit_transform(vectors)
        else:
            reduced, fitted, data = reduce(vectors, settings)
            if settings.layout:
                from .layout import layout_2d

                positions = layout_2d(data, fitted, settings)
        if clusterer is None:
            import hdbscan

            clusterer = hdbscan.HDBSCAN(min_cluster_size=min_size, min_samples=min_samples,
                                        cluster_selection_method="eom")
        labels = np.asarray(clusterer.fit_predict(reduced))
    labels, origin = _split_incoherent(vectors, reduced, labels, settings.min_coherence, min_size, min_samples)
    embeddings, thresholds = describe(vectors, labels, settings.outlier_mads)
    found = _sizes(labels)
    labels = _drop_far_members(vectors, labels, embeddings, thresholds)
    labels, embeddings, thresholds, kept = _drop_small(vectors, labels, min_size, settings.outlier_mads, found)
    parents, hierarchy = _hierarchy(clusterer, [origin[k] for k in kept])
    exemplars = [mmr(vectors, np.flatnonzero(labels == k), embeddings[k], settings.n_exemplars, settings.diversity)
                 for k in range(len(embeddings))]
    if settings.layout and positions is None:
        from .layout import linear_layout

        positions = linear_layout(vectors)
    _release_freed_memory()
    return Concepts(labels, embeddings, thresholds, exemplars, parents, hierarchy, min_size, settings, positions)


def _glibc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None  # not glibc (macOS, Windows, musl): its allocator behaves otherwise


def _hand_back_large_blocks() -> None:
    """Allocate blocks of 4 MB and more with mmap, so they go back to the OS when freed. glibc's default threshold
    grows to 32 MB, and UMAP's and HDBSCAN's many medium arrays then stay in the heap: measured at 100k images, this
    lowers the peak RSS of a process that fits twice from 1,010 to 962 MiB at the same speed. Process-wide."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024)


def _release_freed_memory() -> None:
    """Give the fit's freed heap back to the OS, so a long-lived process that fits again does not grow."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """The vectors with unit rows, without a copy when they already are (CLIP vectors from the store are): at 100k
    x 512 a copy is 200 MB held for the whole fit."""
    vectors = np.asarray(vectors)
    if vectors.dtype == np.float32 and vectors.ndim == 2 and vectors.flags.c_contiguous:
        norms = np.einsum("ij,ij->i", vectors, vectors)
        if len(norms) and np.abs(norms - 1).max() < 1e-4:
            return vectors
    return normalise_rows(vectors)


def describe(vectors: np.ndarray, labels: np.ndarray, mads: float) -> tuple[np.ndarray, np.ndarray]:
    """Per concept: normalised mean of the members, and a robust lower bound of their similarity to it."""
    count = labels.max() + 1 if len(labels) else 0
    embeddings = np.zeros((count, vectors.shape[1]), np.float32)
    thresholds = np.zeros(count, np.float32)
    for k in range(count):
        members = vectors[labels == k]
        if not len(members):
            continue
        embeddings[k] = normalise_rows(members.mean(axis=0, keepdims=True))[0]
        similarity = members @ embeddings[k]
        median = np.median(similarity)
        spread = max(float(np.median(np.abs(similarity - median))) * 1.4826, 0.01)
        thresholds[k] = median - mads * spread
    return embeddings, thresholds


def _split_incoherent(vectors: np.ndarray, reduced: np.ndarray | None, labels: np.ndarray, min_coherence: float,
                      min_size: int, min_samples: int) -> tuple[np.ndarray, list[int]]:
    """Clusters whose members agree much less than the typical cluster's do, split or dissolved.

    Coherence is the length of the members' mean vector. UMAP gathers background images into clusters of their own,
    whose members agree no more than the library as a whole does; it also joins two neighbouring concepts now and
    then (the yellow and the orange pictures of the demo world, on some CPUs and seeds). A cluster whose coherence
    rises less than `min_coherence` of the way from the library's to the typical cluster's is clustered again on its
    own (HDBSCAN on its reduced points): the parts as coherent as that floor are kept, the rest become outliers.
    Returns the labels and, per label, the cluster HDBSCAN first gave it (its node in the condensed tree)."""
    ids = [k for k in range(int(labels.max()) + 1) if (labels == k).any()] if len(labels) else []
    origin = list(range(int(labels.max()) + 1)) if len(labels) else []
    if len(ids) < 2:
        return labels, origin
    coherence = {k: _coherence(vectors[labels == k]) for k in ids}
    library = _coherence(vectors)
    floor = library + min_coherence * (float(np.median(list(coherence.values()))) - library)
    labels = labels.copy()
    for k, value in coherence.items():
        if value >= floor:
            continue
        members = np.flatnonzero(labels == k)
        labels[members] = -1
        for part in _parts(reduced, members, min_size, min_samples):
            if _coherence(vectors[part]) >= floor:
                labels[part] = len(origin)
                origin.append(k)
    return labels, origin


def _coherence(members: np.ndarray) -> float:
    return float(np.linalg.norm(members.mean(axis=0)))


def _parts(reduced: np.ndarray | None, members: np.ndarray, min_size: int, min_samples: int) -> list[np.ndarray]:
    """The members split by HDBSCAN on their own reduced points (none when they are too few or were not reduced)."""
    if reduced is None or len(members) < 2 * min_size:
        return []
    import hdbscan

    labels = hdbscan.HDBSCAN(min_cluster_size=min_size, min_samples=min(min_samples, len(members) - 1)
                             ).fit_predict(reduced[members])
    return [members[labels == part] for part in range(int(labels.max()) + 1)]


def _drop_far_members(vectors, labels, embeddings, thresholds) -> np.ndarray:
    labels = labels.copy()
    for k in range(len(embeddings)):  # concept by concept: gathering all members at once doubled the peak memory
        members = np.flatnonzero(labels == k)
        labels[members[vectors[members] @ embeddings[k] < thresholds[k]]] = -1
    return labels


def _sizes(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels[labels >= 0], minlength=int(labels.max()) + 1) if (labels >= 0).any() else \
        np.zeros(0, int)


def _drop_small(vectors, labels, min_size, mads, found=None):
    """Concepts below the minimum size dissolve into outliers, except one that HDBSCAN found at the minimum size
    (`found`: sizes before the outlier check) and that keeps at least half of it: the outlier check trims the far
    members of a true concept of exactly the minimum size (50 images among 50,000) and must not dissolve the rest.
    The kept ones are renumbered 0..K-1 by size. Returns the new labels, embeddings, thresholds and kept old ids."""
    sizes = _sizes(labels)
    found = sizes if found is None else np.pad(found, (0, max(0, len(sizes) - len(found))))
    kept = [k for k in np.argsort(-sizes, kind="stable")
            if sizes[k] >= min_size or (found[k] >= min_size and sizes[k] >= max(2, min_size // 2))]
    mapping = np.full(len(sizes) + 1, -1)
    for new, old in enumerate(kept):
        mapping[old] = new
    labels = np.where(labels >= 0, mapping[np.maximum(labels, 0)], -1)
    embeddings, thresholds = describe(vectors, labels, mads)
    return labels, embeddings, thresholds, kept


def _hierarchy(clusterer, kept: list[int]) -> tuple[np.ndarray, list[dict]]:
    """Groups of concepts from HDBSCAN's condensed tree: every tree cluster holding two or more concepts. `kept`: per
    concept, the cluster HDBSCAN selected for it (concepts split from one cluster share it)."""
    if not hasattr(clusterer, "condensed_tree_") or not kept:
        return np.full(len(kept), -1), []
    tree = clusterer.condensed_tree_.to_numpy()
    selected = sorted(clusterer.condensed_tree_._select_clusters())
    node_of = {new: selected[old] for new, old in enumerate(kept)}
    clusters = tree[tree["child_size"] > 1]
    parent_of = dict(zip(clusters["child"].tolist(), clusters["parent"].tolist()))
    below: dict[int, set[int]] = {}
    for concept, node in node_of.items():
        below.setdefault(node, set()).add(concept)  # two concepts split from one cluster make its node a group
        while node in parent_of:
            node = parent_of[node]
            below.setdefault(node, set()).add(concept)
    # A chain in the tree (a node whose only cluster child holds the same concepts, e.g. when a sibling was too
    # small to keep) would make a group with a sub-group equal to itself: each set of concepts is one group, the
    # broadest node of its chain.
    groups = sorted((node for node, concepts in below.items()
                     if len(concepts) >= 2 and below.get(parent_of.get(node, -1)) != concepts),
                    key=lambda n: -len(below[n]))
    group_ids = {node: i for i, node in enumerate(groups)}

    def nearest_group(node):
        while node in parent_of:
            node = parent_of[node]
            if node in group_ids:
                return group_ids[node]
        return -1

    sizes: dict[int, int] = {}
    for parent, size in zip(tree["parent"].tolist(), tree["child_size"].tolist()):
        sizes[parent] = sizes.get(parent, 0) + int(size)
    hierarchy = [{"id": group_ids[node], "parent": nearest_group(node), "size": sizes.get(node, 0),
                  "concepts": sorted(below[node])} for node in groups]
    parents = np.array([group_ids.get(node_of[k], nearest_group(node_of[k])) for k in range(len(kept))])
    return parents, hierarchy


# -- describing --------------------------------------------------------------------------------------------------------

def mmr(vectors: np.ndarray, members: np.ndarray, embedding: np.ndarray, k: int, diversity: float) -> list[int]:
    """Maximal marginal relevance: the member closest to the embedding first, then ones both typical and unlike
    those already chosen. Returns indices into `vectors`."""
    if not len(members):
        return []
    candidates = vectors[members]
    relevance = candidates @ embedding
    chosen = [int(np.argmax(relevance))]
    closest_chosen = candidates @ candidates[chosen[0]]
    while len(chosen) < min(k, len(members)):
        score = (1 - diversity) * relevance - diversity * closest_chosen
        score[chosen] = -np.inf
        pick = int(np.argmax(score))
        chosen.append(pick)
        closest_chosen = np.maximum(closest_chosen, candidates @ candidates[pick])
    return [int(members[i]) for i in chosen]


def distinctive_words(embeddings: np.ndarray, word_vectors: np.ndarray, words: list[str], top_n: int = 10
                      ) -> list[list[tuple[str, float]]]:
    """Per row of `embeddings`, the words most distinctive of it: similarity to this row minus the word's mean
    similarity over all rows, so words close to everything ("photo", "image") do not top every list."""
    if not len(embeddings) or not len(words):
        return [[] for _ in range(len(embeddings))]
    similarity = embeddings @ np.asarray(word_vectors, np.float32).T
    scores = similarity - similarity.mean(axis=0, keepdims=True) if len(embeddings) > 1 else similarity
    top = np.argsort(-scores, axis=1)[:, :top_n]
    return [[(words[j], float(scores[i, j])) for j in row] for i, row in enumerate(top)]


MAJORITY = 0.5  # a heading names what at least this share of the images show


def true_first(ranked: list[tuple[str, float]], coverage: np.ndarray, index: dict[str, int], keep: int
               ) -> tuple[list[tuple[str, float]], int]:
    """`ranked` (every word, most distinctive first) with the words that hold for a majority of the members
    (`coverage`: per word of `index`, the share of the members it holds for) first, the ones holding for more first
    (in tenths; distinctiveness orders words that hold about as widely), then the rest; the first `keep`, and how
    many of them hold for a majority (0: no word describes most of the images, the heading must say "mixed"). A
    distinctive word a third of the images show ("red circle" for red, orange and yellow circles) no longer heads the
    concept, and "red" heads a group of red circles and red squares."""
    share = [float(coverage[index[w]]) if w in index else 0.0 for w, _ in ranked]
    held = sorted((n for n, covered in enumerate(share) if covered >= MAJORITY), key=lambda n: (-round(share[n], 1), n))
    rest = [pair for pair, covered in zip(ranked, share) if covered < MAJORITY]
    return ([ranked[n] for n in held] + rest)[:keep], min(len(held), keep)


def ctfidf_words(counts: np.ndarray, words: list[str], top_n: int = 10) -> list[list[tuple[str, float]]]:
    """Class-based TF-IDF: from (concepts x words) counts of the images' suggested words, per concept the words
    frequent in it and rare in the others (BERTopic's c-TF-IDF), best first."""
    counts = np.asarray(counts, np.float64)
    if not counts.size:
        return [[] for _ in range(len(counts))]
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    idf = np.log(1 + counts.sum(axis=1).mean() / np.maximum(counts.sum(axis=0), 1))
    scores = tf * idf
    top = np.argsort(-scores, axis=1)[:, :top_n]
    return [[(words[j], float(scores[k, j])) for j in row if scores[k, j] > 0] for k, row in enumerate(top)]


def image_tags(vectors: np.ndarray, word_vectors: np.ndarray, words: list[str], top_n: int = 5,
               chunk: int = 8192, mean: np.ndarray | None = None) -> list[list[tuple[str, float]]]:
    """Suggested tags per image: its most distinctive words against the library's mean similarity to each word
    (`mean`, computed from `vectors` when not given), as batched matrix products (chunks bound the memory at
    N x vocabulary)."""
    indices, scores = top_words(vectors, word_vectors, top_n, mean, chunk)
    return [[(words[j], float(s)) for j, s in zip(row, row_scores)] for row, row_scores in zip(indices, scores)]


def top_words(vectors: np.ndarray, word_vectors: np.ndarray, top_n: int = 5, mean: np.ndarray | None = None,
              chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores), each (N, top_n): every image's most distinctive words, best first (see `image_tags`)."""
    word_vectors = np.asarray(word_vectors, np.float32)
    if mean is None:
        mean = word_means(vectors, word_vectors, chunk)
    top_n = min(top_n, len(word_vectors))
    indices = np.zeros((len(vectors), top_n), np.int32)
    scores = np.zeros((len(vectors), top_n), np.float32)
    for start in range(0, len(vectors), chunk):
        block = vectors[start:start + chunk] @ word_vectors.T - mean
        best = np.argpartition(-block, top_n - 1, axis=1)[:, :top_n] if top_n < block.shape[1] else \
            np.tile(np.arange(block.shape[1]), (len(block), 1))
        picked = np.take_along_axis(block, best, axis=1)
        order = np.argsort(-picked, axis=1, kind="stable")
        indices[start:start + chunk] = np.take_along_axis(best, order, axis=1)
        scores[start:start + chunk] = np.take_along_axis(picked, order, axis=1)
    return indices, scores


def word_means(vectors: np.ndarray, word_vectors: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Each word's mean similarity over `vectors`: what `image_tags` measures distinctiveness against."""
    mean = np.zeros(len(word_vectors), np.float32)
    for start in range(0, len(vectors), chunk):
        mean += (vectors[start:start + chunk] @ word_vectors.T).sum(axis=0)
    return mean / max(1, len(vectors))


def assign(vectors: np.ndarray, embeddings: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Concept of new vectors: the nearest concept embedding, or -1 below that concept's threshold. (UMAP's own
    transform is slower and holds the GIL for seconds; this is one matrix product.)"""
    vectors = normalise_rows(vectors)
    if not len(embeddings):
        return np.full(len(vectors), -1)
    similarity = vectors @ embeddings.T
    best = similarity.argmax(axis=1)
    return np.where(similarity[np.arange(len(vectors)), best] >= thresholds[best], best, -1)


def montage(images: list, size: int = 768, columns: int | None = None, background=(245, 245, 245)):
    """A grid of the images, each letterboxed into its square tile (aspect ratio kept, nothing cropped)."""
    from PIL import Image, ImageOps

    columns = columns or max(1, math.ceil(math.sqrt(len(images))))
    rows = max(1, math.ceil(len(images) / columns))
    tile = size // columns
    sheet = Image.new("RGB", (tile * columns, tile * rows), background)
    for i, image in enumerate(images):
        fitted = ImageOps.contain(image.convert("RGB"), (tile - 4, tile - 4))
        x = (i % columns) * tile + (tile - fitted.width) // 2
        y = (i // columns) * tile + (tile - fitted.height) // 2
        sheet.paste(fitted, (x, y))
    return sheet


# -- crossing processes ------------------------------------------------------------------------------------------------

def save_concepts(concepts: Concepts, folder) -> None:
    """Write a fit to `folder` (arrays as .npz, the rest as JSON), e.g. from the worker process to the job."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"labels": concepts.labels, "embeddings": concepts.embeddings, "thresholds": concepts.thresholds,
              "parents": concepts.parents}
    if concepts.positions is not None:
        arrays["positions"] = concepts.positions
    np.savez(folder / "arrays.npz", **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
    (folder / "concepts.json").write_text(json.dumps({
        "exemplars": concepts.exemplars, "hierarchy": concepts.hierarchy, "min_concept_size": concepts.min_concept_size,
        "settings": asdict(concepts.settings)}))


def load_concepts(folder) -> Concepts:
    import json
    from pathlib import Path

    folder = Path(folder)
    meta = json.loads((folder / "concepts.json").read_text())
    with np.load(folder / "arrays.npz") as arrays:
        return Concepts(arrays["labels"], arrays["embeddings"], arrays["thresholds"], meta["exemplars"],
                        arrays["parents"], meta["hierarchy"], meta["min_concept_size"],
                        ConceptSettings(**meta["settings"]),
                        arrays["positions"] if "positions" in arrays.files else None)
