"""The plain data every backend speaks (`Point`, `Hit`, `Filter`...) and the `Store` protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

from ..errors import PixceptError
from .schema import PAYLOAD_ONLY


class StoreUnavailableError(PixceptError):
    """The store cannot be opened or reached."""


@dataclass
class Point:
    id: str
    payload: dict
    vector: np.ndarray | None = None


@dataclass
class Hit:
    id: str
    score: float
    payload: dict


@dataclass(frozen=True)
class Match:
    """Payload `key` equals any of `values` (for list fields: any element does)."""

    key: str
    values: tuple


@dataclass(frozen=True)
class Range:
    key: str
    gte: float | None = None
    lt: float | None = None


@dataclass(frozen=True)
class Missing:
    """The point has no value for payload `key` (absent, null or empty)."""

    key: str


@dataclass(frozen=True)
class HasId:
    """The point is one of `ids`."""

    ids: tuple


@dataclass(frozen=True)
class Filter:
    must: tuple = ()
    must_not: tuple = ()

    def __bool__(self) -> bool:
        return bool(self.must or self.must_not)

    def __and__(self, other: "Filter | None") -> "Filter":
        """Both filters at once."""
        return Filter(self.must + other.must, self.must_not + other.must_not) if other else self


class Store(Protocol):
    """What every backend offers. Collections are named without the prefix (IMAGES, VOCABULARY)."""

    kind: str  # "edge", "local" or "server"
    location: str
    aliases: dict[str, str]  # IMAGES -> "images_g2": the generation readers see (`generation_names`)
    # True in a server's process: writers leave a due search-index build to a job that builds it beside the live
    # collection (Edge; a Qdrant server builds its own index and ignores it)
    build_elsewhere: bool

    def collection(self, name: str) -> str: ...
    def collection_names(self) -> list[str]: ...
    def has_collection(self, name: str) -> bool: ...
    def create_collection(self, name: str, dim: int, metadata: dict | None = None) -> None: ...
    def collection_metadata(self, name: str) -> dict: ...
    def drop_collection(self, name: str, resolve: bool = True) -> None: ...
    def upsert(self, name: str, points: Sequence[Point]) -> None: ...
    def set_payloads(self, name: str, updates: dict[str, dict]) -> None: ...
    def set_payload(self, name: str, ids: Sequence[str], payload: dict) -> None: ...
    def ensure_payload_indexes(self, name: str) -> None: ...
    def delete(self, name: str, ids: Iterable[str]) -> None: ...
    def scroll(self, name: str, fields: Sequence[str] | bool = True, with_vectors: bool = False,
               where: Filter | None = None, page_size: int = 1000) -> Iterator[Point]: ...
    def retrieve(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[Point]: ...
    def search(self, name: str, vector: np.ndarray, limit: int = 20, offset: int = 0,
               where: Filter | None = None, with_payload: bool = True) -> list[Hit]: ...
    def count(self, name: str, where: Filter | None = None) -> int: ...
    def facet(self, name: str, key: str, limit: int = 10_000, where: Filter | None = None) -> dict: ...
    def index_due(self) -> bool: ...
    def build_index(self) -> list[str]: ...
    def rebuild_pending(self) -> bool: ...
    def rebuild_beside(self, optimize: Callable[[str], None], note: Callable[[str], None]) -> list[str]: ...
    def close(self) -> None: ...


def kept_point(name: str, point_id: str, payload: dict) -> Point:
    """A point of a kept collection (selections, export tokens, accounts: `schema.KEPT_COLLECTIONS`) or of the state
    collection: found by ID and payload only, so its vector is a placeholder of the collection's size."""
    return Point(point_id, payload, np.ones(PAYLOAD_ONLY[name], np.float32))


def ensure_kept_collection(store: Store, name: str) -> None:
    """Create the kept collection `name` on first use."""
    if not store.has_collection(name):
        store.create_collection(name, PAYLOAD_ONLY[name])


def retrieve_all(store: Store, name: str, ids: Sequence[str], with_vectors: bool = False, part: int = 1000
                 ) -> list[Point]:
    """`store.retrieve` for any number of IDs, `part` at a time (each request stays bounded); IDs not stored are
    left out."""
    found: list[Point] = []
    for start in range(0, len(ids), part):
        found += store.retrieve(name, ids[start:start + part], with_vectors=with_vectors)
    return found


def as_vector(value) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, dict):  # named vectors; pixcept uses the unnamed default
        value = next(iter(value.values()), None)
    return None if value is None else np.asarray(value, np.float32)
