"""A store limited to folders: every read of the images collection carries the folder condition, so searches, counts,
facets, scrolls and lookups by ID answer as if the images of other folders did not exist (the store filters, never
the caller after it). What a token limited to folders reads through (`indexer/scope.py`); other collections
(concepts, selections, accounts...) pass through, and the images cannot be written through it.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .schema import IMAGES
from .types import Filter, HasId, Hit, Match, Point, Store


class ScopedStore:
    def __init__(self, store: Store, folders: Sequence[str]):
        self.base = store
        self.folders = tuple(folders)
        self._within = Filter(must=(Match("folders", self.folders),))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)  # kind, location, aliases (live), collections, index builds...

    def _where(self, name: str, where: Filter | None) -> Filter | None:
        return self._within & where if name == IMAGES else where

    # -- reads ------------------------------------------------------------------------------------------------------

    def scroll(self, name: str, fields: Sequence[str] | bool = True, with_vectors: bool = False,
               where: Filter | None = None, page_size: int = 1000) -> Iterator[Point]:
        return self.base.scroll(name, fields, with_vectors, self._where(name, where), page_size)

    def retrieve(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        if name != IMAGES:
            return self.base.retrieve(name, ids, with_vectors)
        if not ids:
            return []
        found = {p.id: p for p in self.base.scroll(name, True, with_vectors, self._within & Filter(
            must=(HasId(tuple(ids)),)), page_size=len(ids))}
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def search(self, name: str, vector: np.ndarray, limit: int = 20, offset: int = 0,
               where: Filter | None = None, with_payload: bool = True) -> list[Hit]:
        return self.base.search(name, vector, limit, offset, self._where(name, where), with_payload)

    def count(self, name: str, where: Filter | None = None) -> int:
        return self.base.count(name, self._where(name, where))

    def facet(self, name: str, key: str, limit: int = 10_000, where: Filter | None = None) -> dict:
        return self.base.facet(name, key, limit, self._where(name, where))

    # -- writes: only outside the images ----------------------------------------------------------------------------

    def _writable(self, name: str) -> None:
        if name == IMAGES:
            raise PermissionError("The images cannot be changed through a view limited to folders.")

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        self._writable(name)
        self.base.upsert(name, points)

    def set_payloads(self, name: str, updates: dict[str, dict]) -> None:
        self._writable(name)
        self.base.set_payloads(name, updates)

    def set_payload(self, name: str, ids: Sequence[str], payload: dict) -> None:
        self._writable(name)
        self.base.set_payload(name, ids, payload)

    def delete(self, name: str, ids: Iterable[str]) -> None:
        self._writable(name)
        self.base.delete(name, ids)

    def drop_collection(self, name: str, resolve: bool = True) -> None:
        raise PermissionError("Collections cannot be dropped through a view limited to folders.")

    def close(self) -> None:
        """The view owns nothing: the library it was made from closes the store."""
