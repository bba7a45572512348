"""Concepts: groups of similar images with word labels, found by clustering the library's vectors.

- `algorithm`: arrays in, concepts out (UMAP + HDBSCAN, labels, exemplars); no library involved.
- `model`: `ConceptModel`, the Concept-compatible API for notebooks.
"""

from .algorithm import (
                        Concepts,
                        ConceptSettings,
                        assign,
                        default_min_concept_size,
                        distinctive_words,
                        fit_concepts,
                        image_tags,
                        mmr,
                        montage,
)
from .model import ConceptModel

__all__ = ["ConceptModel", "ConceptSettings", "Concepts", "assign", "default_min_concept_size", "distinctive_words",
           "fit_concepts", "image_tags", "mmr", "montage"]
