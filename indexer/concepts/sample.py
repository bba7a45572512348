"""Which images a cluster job fits and a labelling judges: a deterministic share of the library, picked by a hash
of the point ID (reruns pick the same images), and that sample's vectors with each image's concept."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from ..library import Library
from ..store import IMAGES
from .publish import Published

DEFAULT_SAMPLE = 100_000
PAGE = 2000


def in_sample(point: str, share: float) -> bool:
    """A deterministic share of the images, picked by a hash of the point ID (reruns pick the same ones)."""
    if share >= 1:
        return True
    return int.from_bytes(hashlib.blake2b(point.encode(), digest_size=8).digest(), "big") < share * 2 ** 64


class Sample(NamedTuple):
    ids: list[str]
    vectors: np.ndarray
    rows: np.ndarray  # each image's row in the concepts asked for (-1: in none of them)
    tags: list[list[str]]  # each image's suggested tags' words


def members_sample(library: Library, current: Published, concepts: list[int]) -> Sample:
    """A deterministic sample of the library's images (as a fit takes one): their vectors, each one's row in
    `concepts` and its suggested tags."""
    row = {concept: k for k, concept in enumerate(concepts)}
    share = min(1.0, DEFAULT_SAMPLE / max(1, library.store.count(IMAGES)))
    ids, vectors, labels, tags = [], [], [], []
    for point in library.store.scroll(IMAGES, fields=[current.concept_field, "tags"], with_vectors=True,
                                      page_size=PAGE):
        if in_sample(point.id, share):
            ids.append(point.id)
            vectors.append(point.vector)
            labels.append(row.get(point.payload.get(current.concept_field, -1), -1))
            tags.append([word for word, _ in point.payload.get("tags") or []])
    return Sample(ids, np.asarray(vectors, np.float32), np.asarray(labels, np.int64), tags)
