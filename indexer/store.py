"""The one place that knows Qdrant: collections, payload schema, queries.

Callers see `Store` and plain data (`Point`, `Hit`, `Filter`). Backends behind it:
- "local": qdrant-client local mode in `<data dir>/qdrant` (embedded, one process);
- "server": a Qdrant server or cluster at QDRANT_URL (shards, replicas, quantization honoured there).
A further embedded backend implements the same methods without callers changing.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .config import CollectionOptions, Settings
from .errors import PixceptError

log = logging.getLogger(__name__)

IMAGES = "images"
VOCABULARY = "vocabulary"

# Payload fields that search filters on, with their Qdrant index types. Only a server builds these indexes.
PAYLOAD_INDEXES = {
    IMAGES: {
        "sha256": "keyword",
        "paths": "keyword",
        "folders": "keyword",
        "taken_ts": "float",
        "camera": "keyword",
        "gps": "geo",
        "concept_id": "integer",
    },
    VOCABULARY: {"source": "keyword"},
}

_POINT_NAMESPACE = uuid.UUID("5d3f0c1e-6a53-4a4b-9d1f-70697863657e")


class StoreUnavailableError(PixceptError):
    """The store cannot be opened or reached."""


def point_id(key: str) -> str:
    """Deterministic point ID for a content hash or a vocabulary entry, so re-runs never duplicate."""
    return str(uuid.uuid5(_POINT_NAMESPACE, key))


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
class Filter:
    must: tuple = ()
    must_not: tuple = ()

    def __bool__(self) -> bool:
        return bool(self.must or self.must_not)


def _server_errors(method):
    """Turn qdrant-client's transport and HTTP errors into messages a person can act on."""

    @wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except PixceptError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised with context below
            raise self._translate(exc) from exc

    return wrapper


@dataclass
class QdrantClientStore:
    """A store over qdrant-client: local mode (embedded) or a server, which share one API."""

    client: Any
    kind: str
    location: str
    prefix: str = "pixcept"
    options: CollectionOptions = field(default_factory=CollectionOptions)

    # -- collections ------------------------------------------------------------------------------------------------

    def collection(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    @_server_errors
    def has_collection(self, name: str) -> bool:
        return self.client.collection_exists(self.collection(name))

    @_server_errors
    def create_collection(self, name: str, dim: int, metadata: dict | None = None) -> None:
        from qdrant_client import models

        opts = self.options
        hnsw = None
        if opts.hnsw_m is not None or opts.hnsw_ef_construct is not None:
            hnsw = models.HnswConfigDiff(m=opts.hnsw_m, ef_construct=opts.hnsw_ef_construct)
        quantization = None
        if opts.quantization == "int8":
            quantization = models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True))
        self.client.create_collection(
            self.collection(name),
            vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE, on_disk=opts.on_disk or None),
            shard_number=opts.shard_number,
            replication_factor=opts.replication_factor,
            write_consistency_factor=opts.write_consistency_factor,
            hnsw_config=hnsw,
            quantization_config=quantization,
            metadata=metadata or None,
        )
        if self.kind == "server":  # local mode has no payload indexes and warns about each
            for key, schema in PAYLOAD_INDEXES.get(name, {}).items():
                self.client.create_payload_index(self.collection(name), key, field_schema=schema, wait=True)

    @_server_errors
    def collection_metadata(self, name: str) -> dict:
        info = self.client.get_collection(self.collection(name))
        return dict(getattr(info.config, "metadata", None) or {})

    @_server_errors
    def drop_collection(self, name: str) -> None:
        if self.client.collection_exists(self.collection(name)):
            self.client.delete_collection(self.collection(name))

    # -- writes -----------------------------------------------------------------------------------------------------

    @_server_errors
    def upsert(self, name: str, points: Sequence[Point]) -> None:
        from qdrant_client import models

        if not points:
            return
        structs = [models.PointStruct(id=p.id, vector=np.asarray(p.vector, np.float32).tolist(), payload=p.payload)
                   for p in points]
        self.client.upsert(self.collection(name), points=structs, wait=True)

    @_server_errors
    def set_payloads(self, name: str, updates: dict[str, dict]) -> None:
        """Merge each payload dict into its point (keys not named are kept)."""
        from qdrant_client import models

        if not updates:
            return
        operations = [models.SetPayloadOperation(set_payload=models.SetPayload(payload=payload, points=[pid]))
                      for pid, payload in updates.items()]
        self.client.batch_update_points(self.collection(name), update_operations=operations, wait=True)

    @_server_errors
    def delete(self, name: str, ids: Iterable[str]) -> None:
        from qdrant_client import models

        ids = list(ids)
        if ids:
            self.client.delete(self.collection(name), points_selector=models.PointIdsList(points=ids), wait=True)

    # -- reads ------------------------------------------------------------------------------------------------------

    def scroll(self, name: str, fields: Sequence[str] | bool = True, with_vectors: bool = False,
               where: Filter | None = None, page_size: int = 1000) -> Iterator[Point]:
        """Every point (matching `where`), page by page; `fields` picks payload keys (True: all, False: none)."""
        offset = None
        while True:
            points, offset = self._scroll_page(name, fields, with_vectors, where, page_size, offset)
            yield from points
            if offset is None:
                return

    @_server_errors
    def _scroll_page(self, name, fields, with_vectors, where, page_size, offset):
        from qdrant_client import models

        with_payload = models.PayloadSelectorInclude(include=list(fields)) if isinstance(fields, (list, tuple)) \
            else fields
        records, offset = self.client.scroll(
            self.collection(name), scroll_filter=self._filter(where), limit=page_size, offset=offset,
            with_payload=with_payload, with_vectors=with_vectors)
        return [Point(str(r.id), r.payload or {}, _vector(r.vector)) for r in records], offset

    @_server_errors
    def retrieve(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        records = self.client.retrieve(self.collection(name), ids=list(ids), with_payload=True,
                                       with_vectors=with_vectors)
        return [Point(str(r.id), r.payload or {}, _vector(r.vector)) for r in records]

    @_server_errors
    def search(self, name: str, vector: np.ndarray, limit: int = 20, offset: int = 0, where: Filter | None = None,
               negatives: Sequence[np.ndarray] = ()) -> list[Hit]:
        """Nearest points by cosine. With `negatives`, Qdrant's best-score recommendation: a point closer to a
        negative than to the query gets a negative score."""
        from qdrant_client import models

        query = np.asarray(vector, np.float32).tolist()
        if len(negatives):
            query = models.RecommendQuery(recommend=models.RecommendInput(
                positive=[query], negative=[np.asarray(n, np.float32).tolist() for n in negatives],
                strategy=models.RecommendStrategy.BEST_SCORE))
        response = self.client.query_points(
            self.collection(name), query=query, limit=limit, offset=offset or None,
            query_filter=self._filter(where), with_payload=True)
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    @_server_errors
    def count(self, name: str, where: Filter | None = None) -> int:
        if not self.client.collection_exists(self.collection(name)):
            return 0
        return int(self.client.count(self.collection(name), count_filter=self._filter(where), exact=True).count)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing must never hide the real outcome of a command
            log.debug("closing the Qdrant client failed", exc_info=True)

    # -- translation ------------------------------------------------------------------------------------------------

    @staticmethod
    def _filter(where: Filter | None):
        from qdrant_client import models

        if not where:
            return None

        def condition(c):
            if isinstance(c, Match):
                return models.FieldCondition(key=c.key, match=models.MatchAny(any=list(c.values)))
            return models.FieldCondition(key=c.key, range=models.Range(gte=c.gte, lt=c.lt))

        return models.Filter(must=[condition(c) for c in where.must] or None,
                             must_not=[condition(c) for c in where.must_not] or None)

    def _translate(self, exc: Exception) -> Exception:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        if isinstance(exc, UnexpectedResponse):
            if exc.status_code in (401, 403):
                return StoreUnavailableError(
                    f"The Qdrant server at {self.location} rejected the request ({exc.status_code}): check "
                    "QDRANT_API_KEY.")
            return StoreUnavailableError(f"The Qdrant server at {self.location} answered {exc.status_code}: "
                                         f"{exc.content.decode('utf-8', 'replace')[:300]}")
        if isinstance(exc, ResponseHandlingException) or "connect" in type(exc).__name__.lower():
            return StoreUnavailableError(
                f"Cannot reach the Qdrant server at {self.location} ({exc}). Is it running? "
                "`docker compose up -d qdrant` starts the one in pixcept's docker-compose.yml.")
        return exc


def _vector(value) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, dict):  # named vectors; pixcept uses the unnamed default
        value = next(iter(value.values()), None)
    return None if value is None else np.asarray(value, np.float32)


def open_store(settings: Settings, **client_kwargs) -> QdrantClientStore:
    """Open the store that `settings` name. `client_kwargs` reach qdrant-client (tests pass an httpx transport)."""
    from qdrant_client import QdrantClient

    if settings.uses_server:
        client = QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key or None,
                              check_compatibility=False, **client_kwargs)
        store = QdrantClientStore(client, "server", settings.qdrant_url, settings.collection_prefix,
                                  settings.collection_options)
        store.has_collection(IMAGES)  # fail now, with a clear message, when the server is unreachable
        return store
    path = Path(settings.data_dir) / "qdrant"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = QdrantClient(path=str(path), **client_kwargs)
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise StoreUnavailableError(
                f"The embedded store in {path} is open in another process. Only one process can use it at a time."
            ) from exc
        raise
    return QdrantClientStore(client, "local", str(path), settings.collection_prefix, settings.collection_options)


# -- image payload schema -----------------------------------------------------------------------------------------------

def files_payload(files: dict[str, dict]) -> dict:
    """The path-related payload of an image point, from {path: {"size": .., "mtime": ..}}.

    One point per content; `paths` lists every file with that content (first = `path`, shown to people) and
    `folders` every ancestor folder of those files, so a folder filter matches its subfolders too.
    """
    paths = sorted(files)
    folders: set[str] = set()
    for path in paths:
        parent = Path(path).parent
        folders.update(str(p) for p in (parent, *parent.parents))
    return {
        "path": paths[0] if paths else None,
        "paths": paths,
        "files": [{"path": p, "size": files[p]["size"], "mtime": files[p]["mtime"]} for p in paths],
        "folders": sorted(folders),
    }
