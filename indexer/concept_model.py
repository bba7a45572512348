"""Kept for notebooks written against earlier pixcept versions: `ConceptModel` lives in `indexer.concepts` now."""

from .concepts.model import ConceptModel

__all__ = ["ConceptModel"]
