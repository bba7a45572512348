"""Which images a cluster job fits and a labelling judges: a deterministic share of the library, picked by a hash
of the point ID (reruns pick the same images), and that sample's vectors with each image's concept."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from ..library import Library
from ..store import IMAGES, retrieve_all
from .publish import Published

DEFAULT_SAMPLE = 100_000


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
    """A deterministic sample of the run's images (as its fit took one, up to DEFAULT_SAMPLE), read by ID: their
    vectors, each one's row in `concepts` and its suggested tags. Images the store no longer holds are left out;
    through a folder scope's store, so are those outside it."""
    with np.load(current.folder / "assignments.npz") as saved:
        ids = [image.decode() for image in saved["ids"]]
    share = min(1.0, DEFAULT_SAMPLE / max(1, len(ids)))
    row = {concept: k for k, concept in enumerate(concepts)}
    points = retrieve_all(library.store, IMAGES, [image for image in ids if in_sample(image, share)],
                          with_vectors=True)
    return Sample([p.id for p in points], np.asarray([p.vector for p in points], np.float32).reshape(len(points), -1),
                  np.asarray([row.get(p.payload.get(current.concept_field, -1), -1) for p in points], np.int64),
                  [[word for word, _ in p.payload.get("tags") or []] for p in points])
