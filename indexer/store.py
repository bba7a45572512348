"""The one place that knows Qdrant: collections, payload schema, queries.

Callers see `Store` and plain data (`Point`, `Hit`, `Filter`). Backends behind it:
- "edge": Qdrant Edge, Qdrant's engine in-process, in `<data dir>/edge` (the embedded default, one process);
- "local": qdrant-client local mode in `<data dir>/qdrant` (embedded, one process; pure Python, brute force);
- "server": a Qdrant server or cluster at QDRANT_URL (shards, replicas, quantization honoured there).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import uuid
import warnings
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

import numpy as np

from .config import CollectionOptions, Settings
from .errors import PixceptError
from .paths import display_path, exact_path, path_entry

log = logging.getLogger(__name__)

IMAGES = "images"
VOCABULARY = "vocabulary"
COLLECTIONS = (IMAGES, VOCABULARY)  # what a library's generation consists of

# Payload fields that search filters on, with their Qdrant index types (built by a server and by Edge; local mode
# has none).
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

_GENERATION = re.compile(r"(?P<base>[a-z]+)(?:_g(?P<generation>[0-9]+))?")


def generation_name(name: str, generation: int) -> str:
    """The stored name of collection `name` in a generation: generation 0 is the plain name (libraries made before
    generations existed), later ones are suffixed: images, images_g1, images_g2..."""
    return name if generation == 0 else f"{name}_g{generation}"


def generation_names(generation: int) -> dict[str, str]:
    """The aliases through which a library reads one generation of its collections."""
    return {name: generation_name(name, generation) for name in COLLECTIONS}


def payload_indexes(name: str) -> dict[str, str]:
    """The payload indexes of a collection, in any generation."""
    return PAYLOAD_INDEXES.get((parse_generation(name) or (name, 0))[0], {})


def parse_generation(stored: str) -> tuple[str, int] | None:
    """("images", 2) for "images_g2"; None for a name that is not one of a library's collections."""
    match = _GENERATION.fullmatch(stored)
    if not match or match["base"] not in COLLECTIONS:
        return None
    return match["base"], int(match["generation"] or 0)


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
class HasId:
    """The point is one of `ids`."""

    ids: tuple


@dataclass(frozen=True)
class Filter:
    must: tuple = ()
    must_not: tuple = ()

    def __bool__(self) -> bool:
        return bool(self.must or self.must_not)


class Store(Protocol):
    """What every backend offers. Collections are named without the prefix (IMAGES, VOCABULARY)."""

    kind: str  # "edge", "local" or "server"
    location: str
    aliases: dict[str, str]  # IMAGES -> "images_g2": the generation readers see (`generation_names`)

    def collection(self, name: str) -> str: ...
    def collection_names(self) -> list[str]: ...
    def has_collection(self, name: str) -> bool: ...
    def create_collection(self, name: str, dim: int, metadata: dict | None = None) -> None: ...
    def collection_metadata(self, name: str) -> dict: ...
    def drop_collection(self, name: str, resolve: bool = True) -> None: ...
    def upsert(self, name: str, points: Sequence[Point]) -> None: ...
    def set_payloads(self, name: str, updates: dict[str, dict]) -> None: ...
    def delete(self, name: str, ids: Iterable[str]) -> None: ...
    def scroll(self, name: str, fields: Sequence[str] | bool = True, with_vectors: bool = False,
               where: Filter | None = None, page_size: int = 1000) -> Iterator[Point]: ...
    def retrieve(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[Point]: ...
    def search(self, name: str, vector: np.ndarray, limit: int = 20, offset: int = 0,
               where: Filter | None = None, with_payload: bool = True) -> list[Hit]: ...
    def count(self, name: str, where: Filter | None = None) -> int: ...
    def index_due(self) -> bool: ...
    def build_index(self) -> None: ...
    def close(self) -> None: ...


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
    def delete(self, name: str, ids: Iterable[str]) -> None:
        from qdrant_client import models

        ids = list(ids)
        if ids:
            self.client.delete(self.collection(name), points_selector=models.PointIdsList(points=ids), wait=True)

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
        return [Point(str(r.id), r.payload or {}, _vector(r.vector)) for r in records], offset

    @_server_errors
    def retrieve(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        records = self.client.retrieve(self.collection(name), ids=list(ids), with_payload=True,
                                       with_vectors=with_vectors)
        return [Point(str(r.id), r.payload or {}, _vector(r.vector)) for r in records]

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

    def index_due(self) -> bool:
        """A server optimises by itself, and local mode has no indexes to build."""
        return False

    def build_index(self) -> None:
        pass

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


class EdgeStore:
    """The embedded default: Qdrant Edge (Qdrant's engine in-process), one shard folder per collection.

    Edge has no collection metadata, so it lives in a JSON file beside each shard. A shard can be opened once per
    process, so this object opens each on first use and keeps it until `close()`. Edge builds no HNSW index by
    itself: the writer asks `index_due()` after a run of writes and calls `build_index()`.
    """

    kind = "edge"
    # Measured (bench/store_backends.py, 2 cores): exact search over unindexed segments takes 1 ms at 10k points and
    # 19 ms at 100k (filtered 0.2-0.4 ms, thanks to the payload indexes); an HNSW index brings 100k to 1.6 ms but
    # takes 21 s to build, during which the whole process stalls (1.7 s at 10k). So it is built from 50k points on.
    HNSW_MIN_POINTS = 50_000
    REBUILD_SHARE = 0.1  # rebuild once a tenth of the points changed

    def __init__(self, folder: Path, prefix: str = "pixcept"):
        self.folder = Path(folder)
        self.location = str(self.folder)
        self.prefix = prefix
        self.aliases: dict[str, str] = {}
        self._shards: dict[str, Any] = {}  # by collection name (aliases resolved)
        self._lock = threading.Lock()
        self._writes: dict[str, int] = {}

    def collection(self, name: str, resolve: bool = True) -> str:
        return f"{self.prefix}_{self.aliases.get(name, name) if resolve else name}"

    def collection_names(self) -> list[str]:
        start = f"{self.prefix}_"
        found = {p.name for p in self.folder.iterdir() if p.is_dir()} if self.folder.is_dir() else set()
        return sorted(n[len(start):] for n in found | set(self._shards) if n.startswith(start))

    def _path(self, name: str) -> Path:
        return self.folder / self.collection(name)

    def _shard(self, name: str):
        key = self.collection(name)
        with self._lock:
            if key not in self._shards:
                from qdrant_edge import EdgeShard

                if not self._path(name).is_dir():
                    raise StoreUnavailableError(f"The collection {key} does not exist yet.")
                self._shards[key] = EdgeShard.load(str(self._path(name)))
            return self._shards[key]

    # -- collections ------------------------------------------------------------------------------------------------

    def has_collection(self, name: str) -> bool:
        return self.collection(name) in self._shards or self._path(name).is_dir()

    def create_collection(self, name: str, dim: int, metadata: dict | None = None) -> None:
        import qdrant_edge as edge

        config = edge.EdgeConfig(vectors=edge.EdgeVectorParams(size=dim, distance=edge.Distance.Cosine))
        shard = edge.EdgeShard.create(str(self._path(name)), config)
        for key, schema in payload_indexes(name).items():
            shard.update(edge.UpdateOperation.create_field_index(key, _EDGE_SCHEMAS[schema]))
        with self._lock:
            self._shards[self.collection(name)] = shard
        _write_json(self._path(name).with_suffix(".json"), {"metadata": metadata or {}})

    def collection_metadata(self, name: str) -> dict:
        try:
            return json.loads(self._path(name).with_suffix(".json").read_text()).get("metadata", {})
        except (OSError, ValueError):
            return {}

    def drop_collection(self, name: str, resolve: bool = True) -> None:
        stored = self.collection(name, resolve)
        with self._lock:
            shard = self._shards.pop(stored, None)
            self._writes.pop(stored, None)
        if shard is not None:
            shard.close()
        path = self.folder / stored
        shutil.rmtree(path, ignore_errors=True)
        path.with_suffix(".json").unlink(missing_ok=True)

    # -- writes -----------------------------------------------------------------------------------------------------

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        import qdrant_edge as edge

        if points:
            self._shard(name).update(edge.UpdateOperation.upsert_points(
                [edge.Point(p.id, np.asarray(p.vector, np.float32).tolist(), p.payload) for p in points]))
            self._wrote(name, len(points))

    def set_payloads(self, name: str, updates: dict[str, dict]) -> None:
        import qdrant_edge as edge

        shard = self._shard(name) if updates else None
        for pid, payload in updates.items():
            shard.update(edge.UpdateOperation.set_payload([pid], payload))
        self._wrote(name, len(updates))

    def delete(self, name: str, ids: Iterable[str]) -> None:
        import qdrant_edge as edge

        ids = list(ids)
        if ids:
            self._shard(name).update(edge.UpdateOperation.delete_points(ids))
            self._wrote(name, len(ids))

    # -- reads ------------------------------------------------------------------------------------------------------

    def scroll(self, name: str, fields: Sequence[str] | bool = True, with_vectors: bool = False,
               where: Filter | None = None, page_size: int = 1000) -> Iterator[Point]:
        import qdrant_edge as edge

        if not self.has_collection(name):
            return
        shard = self._shard(name)
        with_payload = list(fields) if isinstance(fields, (list, tuple)) else bool(fields)
        offset = None
        while True:
            records, offset = shard.scroll(edge.ScrollRequest(
                offset=offset, limit=page_size, filter=_edge_filter(where), with_payload=with_payload,
                with_vector=with_vectors))
            for record in records:
                yield Point(str(record.id), record.payload or {}, _vector(record.vector) if with_vectors else None)
            if offset is None:
                return

    def retrieve(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        records = self._shard(name).retrieve(list(ids), with_payload=True, with_vector=with_vectors)
        return [Point(str(r.id), r.payload or {}, _vector(r.vector) if with_vectors else None) for r in records]

    def search(self, name: str, vector: np.ndarray, limit: int = 20, offset: int = 0,
               where: Filter | None = None, with_payload: bool = True) -> list[Hit]:
        import qdrant_edge as edge

        points = self._shard(name).query(edge.QueryRequest(
            limit=limit, offset=offset or None, query=edge.Query.Nearest(np.asarray(vector, np.float32).tolist()),
            filter=_edge_filter(where), with_payload=with_payload))
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in points]

    def count(self, name: str, where: Filter | None = None) -> int:
        import qdrant_edge as edge

        if not self.has_collection(name):
            return 0
        return int(self._shard(name).count(edge.CountRequest(exact=True, filter=_edge_filter(where))))

    # -- lifetime ---------------------------------------------------------------------------------------------------

    def _wrote(self, name: str, count: int) -> None:
        key = self.collection(name)
        self._writes[key] = self._writes.get(key, 0) + count

    def index_due(self) -> bool:
        """True when a collection is large enough for an HNSW index and has changed enough since the last build."""
        return any(self._due(key, shard) for key, shard in list(self._shards.items()))

    def _due(self, key: str, shard) -> bool:
        import qdrant_edge as edge

        points = int(shard.count(edge.CountRequest(exact=True)))
        return points >= self.HNSW_MIN_POINTS and self._writes.get(key, 0) >= self.REBUILD_SHARE * points

    def build_index(self) -> None:
        """Build the HNSW and payload indexes of the collections that are due. Blocks: qdrant-edge-py 0.9's
        optimize() holds the GIL for all of its run (20 s at 100k points), so a thread would not help."""
        for key, shard in list(self._shards.items()):
            if self._due(key, shard):
                shard.optimize()
                self._writes[key] = 0

    def close(self) -> None:
        with self._lock:
            shards, self._shards = list(self._shards.values()), {}
        for shard in shards:
            try:
                shard.flush()
                shard.close()
            except Exception:  # noqa: BLE001 - closing must never hide the real outcome of a command
                log.debug("closing an Edge shard failed", exc_info=True)


def _edge_filter(where: Filter | None):
    import qdrant_edge as edge

    if not where:
        return None

    def condition(c):
        if isinstance(c, Match):
            return edge.FieldCondition(c.key, match=edge.MatchAny(list(c.values)))
        if isinstance(c, HasId):
            return edge.HasIdCondition(set(c.ids))
        return edge.FieldCondition(c.key, range=edge.RangeFloat(gte=c.gte, lt=c.lt))

    return edge.Filter(must=[condition(c) for c in where.must] or None,
                       must_not=[condition(c) for c in where.must_not] or None)


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def _edge_schemas() -> dict:
    try:
        import qdrant_edge as edge
    except ImportError:  # pragma: no cover
        return {}
    types = edge.PayloadSchemaType
    return {"keyword": types.Keyword, "integer": types.Integer, "float": types.Float, "geo": types.Geo}


_EDGE_SCHEMAS = _edge_schemas()


STORE_KINDS = ("edge", "local")


def embedded_kind(settings: Settings, recorded: str | None = None) -> str:
    """Which embedded backend a data folder uses: the one it was built with, else the requested one, else Edge."""
    data_dir = Path(settings.data_dir)
    found = recorded if recorded in STORE_KINDS else \
        "local" if (data_dir / "qdrant").is_dir() else "edge" if (data_dir / "edge").is_dir() else None
    if settings.store and found and settings.store != found:
        raise StoreUnavailableError(
            f"The library in {data_dir} uses the '{found}' store, not '{settings.store}'. "
            + ("Run `pixcept migrate` to move it to Qdrant Edge." if found == "local" else
               "Leave out --store to keep using it."))
    return settings.store or found or "edge"


def open_store(settings: Settings, recorded_kind: str | None = None, **client_kwargs):
    """Open the store that `settings` name. `client_kwargs` reach qdrant-client (tests pass an httpx transport)."""
    if settings.uses_server:
        from qdrant_client import QdrantClient

        client = QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key or None,
                              check_compatibility=False, **client_kwargs)
        store = QdrantClientStore(client, "server", settings.qdrant_url, settings.collection_prefix,
                                  settings.collection_options)
        store.has_collection(IMAGES)  # fail now, with a clear message, when the server is unreachable
        return store
    kind = embedded_kind(settings, recorded_kind)
    if kind == "edge":
        return EdgeStore(Path(settings.data_dir) / "edge", settings.collection_prefix)
    from qdrant_client import QdrantClient

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
    `folders` every ancestor folder of those files, so a folder filter matches its subfolders too. Paths that are
    not valid UTF-8 appear in their display form there; `files` keeps their exact bytes (`indexer/paths.py`).
    """
    paths = sorted(files)
    folders: set[str] = set()
    for path in paths:
        parent = Path(path).parent
        folders.update(display_path(str(p)) for p in (parent, *parent.parents))
    return {
        "path": display_path(paths[0]) if paths else None,
        "paths": [display_path(p) for p in paths],
        "files": [{**path_entry(p), "size": files[p]["size"], "mtime": files[p]["mtime"]} for p in paths],
        "folders": sorted(folders),
    }


def indexed_files(payload: dict) -> dict[str, dict]:
    """The inverse of `files_payload`: {exact path: {"size", "mtime"}} of an image point."""
    return {exact_path(f): {"size": f["size"], "mtime": f["mtime"]} for f in payload.get("files", [])}
