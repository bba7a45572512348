"""Moving a library between stores without re-embedding: local mode -> Qdrant Edge, embedded -> a Qdrant server.

Vectors and payloads are copied as they are, page by page, and the counts are checked before the library switches.
Until then the manifest still names the old store, so an interrupted migration leaves the library as it was; the
old embedded folder is kept, renamed, as a backup.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Callable

from .config import Settings
from .errors import UsageError
from .library import MODEL_METADATA_KEY, Library
from .store import COLLECTIONS, KEPT_COLLECTIONS, EdgeStore, Store, open_store

log = logging.getLogger(__name__)

PAGE = 512


def copy_collections(source: Store, target: Store, dim: int, metadata: dict,
                     progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]:
    """Copy every collection of the current generation, and what people made (selections), from `source` to
    `target` (which must not hold them yet); returns the counts."""
    copied = {}
    for name in (*COLLECTIONS, *KEPT_COLLECTIONS):
        if not source.has_collection(name) or not source.count(name):
            continue  # an empty one is made by the next writer
        if target.has_collection(name) and target.count(name):
            raise UsageError(f"The target already has a non-empty {target.collection(name)} collection "
                             f"({target.location}). Choose another --collection-prefix, or remove it first.")
        if not target.has_collection(name):
            target.create_collection(name, KEPT_COLLECTIONS.get(name, dim), metadata=metadata)
        total, done, page = source.count(name), 0, []
        for point in source.scroll(name, with_vectors=True, page_size=PAGE):
            page.append(point)
            if len(page) == PAGE:
                target.upsert(name, page)
                done, page = done + len(page), []
                if progress:
                    progress(name, done, total)
        target.upsert(name, page)
        done += len(page)
        if target.count(name) != total:
            raise UsageError(f"Copying {name} left {target.count(name)} of {total} points in {target.location}; "
                             "the library was not switched. Run the migration again.")
        copied[name] = done
    return copied


def _model_metadata(library: Library) -> tuple[int, dict]:
    model = library.manifest.get("model")
    if not model:
        raise UsageError(f"Nothing is indexed in {library.data_dir} yet: there is nothing to migrate.")
    return int(model["dim"]), {MODEL_METADATA_KEY: model}


def _retire(folder: Path) -> Path:
    backup = folder.with_name(f"{folder.name}.migrated-{datetime.now():%Y%m%d-%H%M%S}")
    folder.rename(backup)
    return backup


def migrate_to_edge(settings: Settings, progress=None) -> tuple[dict[str, int], Path]:
    """Move a local-mode library to Qdrant Edge in the same data folder. Returns counts and the backup folder."""
    with Library.open(replace(settings, store=None), command="pixcept migrate") as library:
        if library.store.kind != "local":
            raise UsageError(f"The library in {library.data_dir} already uses the '{library.store.kind}' store; "
                             "only qdrant-client local mode is migrated to Edge.")
        dim, metadata = _model_metadata(library)
        edge_folder = library.data_dir / "edge"
        shutil.rmtree(edge_folder, ignore_errors=True)  # left by an interrupted migration; the library never used it
        target = EdgeStore(edge_folder, settings.collection_prefix)
        try:
            counts = copy_collections(library.store, target, dim, metadata, progress)
            if target.index_due():
                target.build_index()
        finally:
            target.close()
        library.store.close()
        backup = _retire(library.data_dir / "qdrant")
        library.update_manifest(store={"kind": "edge", "location": str(edge_folder)}, generation=0)  # plain names
    return counts, backup


def migrate_to_server(settings: Settings, url: str, progress=None, **client_kwargs) -> tuple[dict[str, int], Path]:
    """Copy an embedded library to the Qdrant server at `url`; from then on the library uses the server.
    `client_kwargs` reach qdrant-client."""
    if settings.uses_server:
        raise UsageError("This library already uses a Qdrant server.")
    with Library.open(settings, command="pixcept migrate --to") as library:
        dim, metadata = _model_metadata(library)
        target = open_store(replace(settings, qdrant_url=url), **client_kwargs)
        try:
            counts = copy_collections(library.store, target, dim, metadata, progress)
        finally:
            target.close()
        library.store.close()
        embedded = Path(library.store.location)
        backup = _retire(embedded)
        library.update_manifest(store={"kind": "server", "location": url}, generation=0)  # plain names
    return counts, backup
