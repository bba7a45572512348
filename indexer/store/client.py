"""The qdrant-client backend: local mode (embedded, pure Python) or a Qdrant server or cluster, which share one API."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..config import CollectionOptions
from ..errors import PixceptError
from .schema import payload_indexes
from .types import Filter, HasId, Hit, Match, Missing, Point, StoreUnavailableError, as_vector

log = logging.getLogger(__name__)


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
    aliases: dict[str, str] = field(default_factory=dict)
    build_elsewhere: bool = False  # a Qdrant server (or local mode) indexes by itself: nothing to build

    # -- collections ------------------------------------------------------------------------------------------------

    def collection(self, name: str, resolve: bool = True) -> str:
        return f"{self.prefix}_{self.aliases.get(name, name) if resolve else name}"

    @_server_errors
    def collection_names(self) -> list[str]:
        """This library's collections, without the prefix (every generation)."""
        start = f"{self.prefix}_"
        return sorted(c.name[len(start):] for c in self.client.get_collections().collections
                      if c.name.startswith(start))

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
            for key, schema in payload_indexes(name).items():
                self.client.create_payload_index(self.collection(name), key, field_schema=schema, wait=True)

    @_server_errors
    def collection_metadata(self, name: str) -> dict:
        info = self.client.get_collection(self.collection(name))
        return dict(getattr(info.config, "metadata", None) or {})

    @_server_errors
    def drop_collection(self, name: str, resolve: bool = True) -> None:
        """Drop `name` (with `resolve=False`, the stored collection of that name, never what an alias points to)."""
        stored = self.collection(name, resolve)
        if self.client.collection_exists(stored):
            self.client.delete_collection(stored)

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
    def set_payload(self, name: str, ids: Sequence[str], payload: dict) -> None:
        """Merge the same `payload` into every point of `ids`, in one request."""
        if ids:
            self.client.set_payload(self.collection(name), payload=payload, points=list(ids), wait=True)

    @_server_errors
    def ensure_payload_indexes(self, name: str) -> None:
        """Create the payload indexes a collection made by an older pixcept lacks (a server ignores existing ones)."""
        if self.kind == "server":
            for key, schema in payload_indexes(name).items():
                self.client.create_payload_index(self.collection(name), key, field_schema=schema, wait=True)

    @_server_errors
    def delete(self, name: str, ids: Iterable[str]) -> None:
        from qdrant_client import models

        points: list[Any] = list(ids)
        if points:
            self.client.delete(self.collection(name), points_selector=models.PointIdsList(points=points), wait=True)

    # -- reads ------------------------------------------------------------------------------------------------------

    def scroll(self, name: str, fields: Sequence[str] | bool = True, with_vectors: bool = False,
               where: Filter | None = None, page_size: int = 1000) -> Iterator[Point]:
        """Every point (matching `where`), page by page; `fields` picks payload keys (True: all, False: none)."""
        if not self.has_collection(name):
            return
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
        return [Point(str(r.id), r.payload or {}, as_vector(r.vector)) for r in records], offset

    @_server_errors
    def retrieve(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        records = self.client.retrieve(self.collection(name), ids=list(ids), with_payload=True,
                                       with_vectors=with_vectors)
        return [Point(str(r.id), r.payload or {}, as_vector(r.vector)) for r in records]

    @_server_errors
    def search(self, name: str, vector: np.ndarray, limit: int = 20, offset: int = 0,
               where: Filter | None = None, with_payload: bool = True) -> list[Hit]:
        response = self.client.query_points(
            self.collection(name), query=np.asarray(vector, np.float32).tolist(), limit=limit, offset=offset or None,
            query_filter=self._filter(where), with_payload=with_payload)
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    @_server_errors
    def count(self, name: str, where: Filter | None = None) -> int:
        if not self.client.collection_exists(self.collection(name)):
            return 0
        return int(self.client.count(self.collection(name), count_filter=self._filter(where), exact=True).count)

    @_server_errors
    def facet(self, name: str, key: str, limit: int = 10_000, where: Filter | None = None) -> dict:
        """{value: number of points holding it}, the `limit` commonest."""
        if not self.client.collection_exists(self.collection(name)):
            return {}
        response = self.client.facet(self.collection(name), key, facet_filter=self._filter(where), limit=limit,
                                     exact=True)
        return {hit.value: int(hit.count) for hit in response.hits}

    def index_due(self) -> bool:
        """A server optimises by itself, and local mode has no indexes to build."""
        return False

    def build_index(self) -> list[str]:
        return []

    def rebuild_pending(self) -> bool:
        return False

    def rebuild_beside(self, optimize, note=None) -> list[str]:
        return []

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
            if isinstance(c, HasId):
                return models.HasIdCondition(has_id=list(c.ids))
            if isinstance(c, Missing):
                return models.IsEmptyCondition(is_empty=models.PayloadField(key=c.key))
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
