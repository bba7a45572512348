"""The Qdrant Edge backend: Qdrant's engine in-process, one shard folder per collection (the embedded default)."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ..durable import atomic_write_json, copy_tree
from .schema import payload_indexes
from .types import Filter, HasId, Hit, Match, Missing, Point, StoreUnavailableError, as_vector

log = logging.getLogger(__name__)

REBUILDING, RETIRED = ".rebuilding", ".retired"  # suffixes of a shard's folder while its index is built beside it
PENDING_FILE = "pending-writes.json"  # writes since each shard's last index build, kept across restarts
RETIRED_GRACE_SECONDS = 30.0  # a replaced shard stays open this long for the reads that already hold it


class EdgeStore:
    """The embedded default: Qdrant Edge (Qdrant's engine in-process), one shard folder per collection.

    Edge has no collection metadata, so it lives in a JSON file beside each shard. A shard can be opened once per
    process, so this object opens each on first use and keeps it until `close()`. Edge builds no HNSW index by
    itself: the writer asks `index_due()` after a run of writes and calls `build_index()`, which holds the interpreter
    for its whole run. A server sets `build_elsewhere` instead: its writers leave the build, and a job of its own
    builds on a copy in another process and swaps it in (`rebuild_beside`), while the live shard keeps answering.
    """

    kind = "edge"
    # Measured (bench/store_backends.py, 2 cores): exact search over unindexed segments takes 1 ms at 10k points and
    # 19 ms at 100k (filtered 0.2-0.4 ms, thanks to the payload indexes); an HNSW index brings 100k to 1.6 ms but
    # takes 21 s to build, during which the whole process stalls (1.7 s at 10k). So it is built from 50k points on.
    HNSW_MIN_POINTS = 50_000
    REBUILD_SHARE = 0.1  # rebuild once a tenth of the points changed
    build_elsewhere = False

    def __init__(self, folder: Path, prefix: str = "pixcept"):
        self.folder = Path(folder)
        self.location = str(self.folder)
        self.prefix = prefix
        self.aliases: dict[str, str] = {}
        self._shards: dict[str, Any] = {}  # by collection name (aliases resolved)
        self._lock = threading.Lock()  # opening and swapping shards
        self._write_lock = threading.RLock()  # no write between copying a shard and swapping the copy in
        self._writes: dict[str, int] = _read_pending(self.folder)
        _recover_swaps(self.folder)

    def collection(self, name: str, resolve: bool = True) -> str:
        return f"{self.prefix}_{self.aliases.get(name, name) if resolve else name}"

    def collection_names(self) -> list[str]:
        start = f"{self.prefix}_"
        found = {p.name for p in self.folder.iterdir() if p.is_dir()} if self.folder.is_dir() else set()
        return sorted(n[len(start):] for n in found | set(self._shards)
                      if n.startswith(start) and not n.endswith((REBUILDING, RETIRED)))

    def _path(self, name: str) -> Path:
        return self.folder / self.collection(name)

    def _shard(self, name: str):
        return self._open(self.collection(name))

    def _open(self, key: str):
        """The shard stored under `key` (a collection name with prefix and generation), opened on first use."""
        with self._lock:
            if key not in self._shards:
                from qdrant_edge import EdgeShard

                if not (self.folder / key).is_dir():
                    raise StoreUnavailableError(f"The collection {key} does not exist yet.")
                shard = EdgeShard.load(str(self.folder / key))
                # the indexes added to the schema since it was made; a no-op for the rest
                _create_indexes(shard, key.removeprefix(f"{self.prefix}_"))
                self._shards[key] = shard
            return self._shards[key]

    # -- collections ------------------------------------------------------------------------------------------------

    def has_collection(self, name: str) -> bool:
        return self.collection(name) in self._shards or self._path(name).is_dir()

    def create_collection(self, name: str, dim: int, metadata: dict | None = None) -> None:
        import qdrant_edge as edge

        config = edge.EdgeConfig(vectors=edge.EdgeVectorParams(size=dim, distance=edge.Distance.Cosine))
        shard = edge.EdgeShard.create(str(self._path(name)), config)
        _create_indexes(shard, name)
        with self._lock:
            self._shards[self.collection(name)] = shard
        atomic_write_json(self._path(name).with_suffix(".json"), {"metadata": metadata or {}})

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
            self._update(name, [edge.UpdateOperation.upsert_points(
                [edge.Point(p.id, np.asarray(p.vector, np.float32).tolist(), p.payload) for p in points])],
                len(points))

    def set_payloads(self, name: str, updates: dict[str, dict]) -> None:
        import qdrant_edge as edge

        if updates:
            self._update(name, (edge.UpdateOperation.set_payload([pid], payload) for pid, payload in updates.items()),
                         len(updates))

    def set_payload(self, name: str, ids: Sequence[str], payload: dict) -> None:
        import qdrant_edge as edge

        if ids:
            self._update(name, [edge.UpdateOperation.set_payload(list(ids), payload)], len(ids))

    def _update(self, name: str, operations: Iterable, count: int) -> None:
        with self._write_lock:
            shard = self._shard(name)
            for operation in operations:
                shard.update(operation)
            self._wrote(name, count)

    def ensure_payload_indexes(self, name: str) -> None:
        with self._write_lock:
            _create_indexes(self._shard(name), name)

    def delete(self, name: str, ids: Iterable[str]) -> None:
        import qdrant_edge as edge

        points: list[Any] = list(ids)
        if points:
            self._update(name, [edge.UpdateOperation.delete_points(points)], len(points))

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
                yield Point(str(record.id), record.payload or {}, as_vector(record.vector) if with_vectors else None)
            if offset is None:
                return

    def retrieve(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[Point]:
        records = self._shard(name).retrieve(list(ids), with_payload=True, with_vector=with_vectors)
        return [Point(str(r.id), r.payload or {}, as_vector(r.vector) if with_vectors else None) for r in records]

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

    def facet(self, name: str, key: str, limit: int = 10_000, where: Filter | None = None) -> dict:
        """{value: number of points holding it} for a keyword field with a payload index, the `limit` commonest."""
        import qdrant_edge as edge

        if not self.has_collection(name):
            return {}
        response = self._shard(name).facet(edge.FacetRequest(key, limit=limit, exact=True,
                                                              filter=_edge_filter(where)))
        return {hit.value: int(hit.count) for hit in response.hits}

    # -- lifetime ---------------------------------------------------------------------------------------------------

    def _wrote(self, name: str, count: int) -> None:
        key = self.collection(name)
        self._writes[key] = self._writes.get(key, 0) + count

    def index_due(self) -> bool:
        """True when a collection is large enough for an HNSW index and has changed enough since the last build, and
        this store's writers build it (not with `build_elsewhere`)."""
        return not self.build_elsewhere and self.rebuild_pending()

    def rebuild_pending(self) -> bool:
        """True when a collection's index is due, whoever builds it."""
        return bool(self._due_shards())

    def _due_shards(self) -> list[tuple[str, Any]]:
        """(key, shard) of each collection whose index is due: the open ones, and those that writes before a restart
        left due (kept in PENDING_FILE) although nothing has opened them since."""
        import qdrant_edge as edge

        due = []
        for key in sorted(set(self._shards) | {key for key, count in self._writes.items() if count > 0}):
            if key not in self._shards and not (self.folder / key).is_dir():
                self._writes.pop(key, None)  # a collection dropped meanwhile
                continue
            shard = self._open(key)
            points = int(shard.count(edge.CountRequest(exact=True)))
            if points >= self.HNSW_MIN_POINTS and self._writes.get(key, 0) >= self.REBUILD_SHARE * points:
                due.append((key, shard))
        return due

    def build_index(self) -> list[str]:
        """Build the HNSW and payload indexes of the collections that are due; returns them. Blocks: qdrant-edge-py
        0.9's optimize() holds the GIL for all of its run (20 s at 100k points), so a thread would not help."""
        built = []
        for key, shard in self._due_shards():
            shard.optimize()
            self._writes[key] = 0
            built.append(key)
        return built

    def rebuild_beside(self, optimize: Callable[[str], None], note: Callable[[str], None] = log.info) -> list[str]:
        """Build the index of each due collection on a copy of its shard (`optimize(folder)`, e.g. in another process:
        Edge's optimize() holds the interpreter) and swap the copy in, unless a write came meanwhile (then the copy is
        dropped and the collection stays due). The live shard answers throughout, unindexed parts searched exactly.
        Needs room for a copy of the shard on disk. Returns the collections swapped."""
        swapped = []
        for key, shard in self._due_shards():
            live = self.folder / key
            copy = live.with_name(key + REBUILDING)
            shutil.rmtree(copy, ignore_errors=True)
            with self._write_lock:
                shard.flush()
                writes = self._writes.get(key, 0)
                copy_tree(live, copy)
            note(f"Building the search index of {key} beside the live one; searches go on meanwhile.")
            started = time.monotonic()
            optimize(str(copy))
            with self._write_lock, self._lock:
                if self._writes.get(key, 0) != writes or self._shards.get(key) is not shard:
                    note(f"{key} changed while its index was built; it is built again later.")
                    shutil.rmtree(copy, ignore_errors=True)
                    continue
                from qdrant_edge import EdgeShard

                retired = live.with_name(key + RETIRED)
                live.rename(retired)
                copy.rename(live)
                self._shards[key] = EdgeShard.load(str(live))
                self._writes[key] = 0
            _retire_later(shard, retired)
            note(f"Search index of {key} built in {time.monotonic() - started:.0f} s and in use.")
            swapped.append(key)
        atomic_write_json(self.folder / PENDING_FILE, self._writes)
        return swapped

    def close(self) -> None:
        with self._lock:
            shards, self._shards = list(self._shards.values()), {}
        if self.folder.is_dir():
            atomic_write_json(self.folder / PENDING_FILE, self._writes)
        for shard in shards:
            try:
                shard.flush()
                shard.close()
            except Exception:  # noqa: BLE001 - closing must never hide the real outcome of a command
                log.debug("closing an Edge shard failed", exc_info=True)


def optimize_folder(folder: str) -> None:
    """Build the indexes of the shard in `folder`, which no other process has open (the job worker runs this)."""
    from qdrant_edge import EdgeShard

    shard = EdgeShard.load(folder)
    try:
        shard.optimize()
        shard.flush()
    finally:
        shard.close()


def _retire_later(shard, folder: Path) -> None:
    """Close a replaced shard and delete its folder once the reads that may still hold it are done."""
    def retire():
        try:
            shard.close()
        except Exception:  # noqa: BLE001 - closing a replaced shard must not disturb the live one
            log.debug("closing a replaced Edge shard failed", exc_info=True)
        shutil.rmtree(folder, ignore_errors=True)

    timer = threading.Timer(RETIRED_GRACE_SECONDS, retire)
    timer.daemon = True
    timer.start()


def _recover_swaps(folder: Path) -> None:
    """What a process killed while building beside left: a half-built copy is dropped; a shard renamed away but not
    replaced is put back; an old shard left after a finished swap is deleted."""
    if not folder.is_dir():
        return
    for path in list(folder.iterdir()):
        live = path.with_name(path.name.removesuffix(REBUILDING).removesuffix(RETIRED))
        if path.name.endswith(REBUILDING):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.endswith(RETIRED):
            if live.exists():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.rename(live)


def _read_pending(folder: Path) -> dict[str, int]:
    try:
        return {str(k): int(v) for k, v in json.loads((folder / PENDING_FILE).read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _create_indexes(shard, name: str) -> None:
    import qdrant_edge as edge

    for key, schema in payload_indexes(name).items():  # creating an existing index is a no-op in Edge
        shard.update(edge.UpdateOperation.create_field_index(key, _EDGE_SCHEMAS[schema]))


def _edge_filter(where: Filter | None):
    import qdrant_edge as edge

    if not where:
        return None

    def condition(c):
        if isinstance(c, Match):
            return edge.FieldCondition(c.key, match=edge.MatchAny(list(c.values)))
        if isinstance(c, HasId):
            return edge.HasIdCondition(set(c.ids))
        if isinstance(c, Missing):
            return edge.IsEmptyCondition(c.key)
        return edge.FieldCondition(c.key, range=edge.RangeFloat(gte=c.gte, lt=c.lt))

    return edge.Filter(must=[condition(c) for c in where.must] or None,
                       must_not=[condition(c) for c in where.must_not] or None)


def _edge_schemas() -> dict:
    try:
        import qdrant_edge as edge
    except ImportError:  # pragma: no cover
        return {}
    types = edge.PayloadSchemaType
    return {"keyword": types.Keyword, "integer": types.Integer, "float": types.Float, "geo": types.Geo}


_EDGE_SCHEMAS = _edge_schemas()
