"""The one place that knows Qdrant: collections, payload schema, queries.

Callers see `Store` and plain data (`Point`, `Hit`, `Filter`). Backends behind it:
- "edge": Qdrant Edge, Qdrant's engine in-process, in `<data dir>/edge` (the embedded default, one process);
- "local": qdrant-client local mode in `<data dir>/qdrant` (embedded, one process; pure Python, brute force);
- "server": a Qdrant server or cluster at QDRANT_URL (shards, replicas, quantization honoured there).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..config import Settings
from .client import QdrantClientStore
from .edge import EdgeStore
from .schema import (
    ACCOUNTS,
    COLLECTIONS,
    CONCEPTS,
    EXPORT_TOKENS,
    IMAGES,
    KEPT_COLLECTIONS,
    PAYLOAD_INDEXES,
    SELECTIONS,
    STATE,
    VOCABULARY,
    files_payload,
    generation_name,
    generation_names,
    indexed_files,
    parse_generation,
    payload_indexes,
    point_id,
)
from .types import (
    Filter,
    HasId,
    Hit,
    Match,
    Missing,
    Point,
    Range,
    Store,
    StoreUnavailableError,
    ensure_kept_collection,
    kept_point,
    retrieve_all,
)

__all__ = ["ACCOUNTS", "COLLECTIONS", "CONCEPTS", "EXPORT_TOKENS", "IMAGES", "KEPT_COLLECTIONS", "PAYLOAD_INDEXES",
           "SELECTIONS", "STATE", "VOCABULARY", "EdgeStore", "Filter", "HasId", "Hit", "Match", "Missing", "Point",
           "QdrantClientStore", "Range", "Store", "StoreUnavailableError", "embedded_kind", "ensure_kept_collection",
           "files_payload", "generation_name", "generation_names", "indexed_files", "kept_point", "open_store",
           "parse_generation", "payload_indexes", "point_id", "retrieve_all"]


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
        store = QdrantClientStore(client, "server", str(settings.qdrant_url), settings.collection_prefix,
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
