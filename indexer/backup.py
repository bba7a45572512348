"""Backups: a library copied into a folder that is itself a complete data folder (manifest, an embedded Qdrant Edge
store, the concept runs, the last index's reports, the thumbnails unless left out), and restored from one.

A backup copies the current generation's collections (images, vocabulary, concepts) and what people made
(selections, export tokens) point by point, from any store (embedded or a Qdrant server), into Qdrant Edge in the
backup folder. Run as a job of the serving process (which owns the store), it runs alone in the job queue: no index or
cluster run changes the library meanwhile. It is written beside its destination and renamed into place when
complete, so a folder named as a backup is always a whole one.

Restore copies a backup into a data folder that holds no library yet (embedded), or its collections into a Qdrant
server (QDRANT_URL) that holds none of them yet; it never overwrites a library.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from .clock import utc_now
from .concepts.publish import kept_runs, run_files
from .config import Settings
from .durable import copy_tree
from .errors import UsageError
from .library import MODEL_METADATA_KEY, Library
from .manifest import read_manifest, write_manifest
from .migrate import copy_collections
from .progress import Progress
from .store import EdgeStore, open_store

COPIED_FOLDERS = ("concepts", "reports")  # besides the store; thumbnails on request
THUMBNAILS = "thumbnails"


def check_destination(destination: Path, data_dir: Path) -> Path:
    """The absolute destination of a backup: a folder that does not exist yet (or is empty), outside the data
    folder; UsageError saying why not."""
    destination = Path(destination)
    if not destination.is_absolute():
        raise UsageError(f"A backup's destination must be an absolute path, not {destination}.")
    destination = destination.resolve()
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise UsageError(f"{destination} exists and is not an empty folder: a backup never overwrites anything.")
    if destination.is_relative_to(Path(data_dir).resolve()):
        raise UsageError(f"{destination} lies inside the data folder it would back up.")
    return destination


def backup_library(library: Library, destination: Path, thumbnails: bool = True,
                   progress: Progress | None = None) -> dict:
    """Back the library up into `destination` (see `check_destination`); a summary of what was copied."""
    progress = progress or Progress()
    destination = check_destination(destination, library.data_dir)
    model = library.manifest.get("model")
    if not model:
        raise UsageError(f"Nothing is indexed in {library.data_dir} yet: there is nothing to back up.")
    with _beside(destination) as partial:
        partial.mkdir()
        progress.note("Copying the store's collections...")
        target = EdgeStore(partial / "edge", library.settings.collection_prefix)
        try:
            counts = copy_collections(library.store, target, int(model["dim"]), {MODEL_METADATA_KEY: model},
                                      lambda name, done, total: progress.note(f"{name}: {done:,} of {total:,}"))
            if target.index_due():
                target.build_index()
        finally:
            target.close()
        for run in kept_runs(library):  # a server's library: runs another machine made are fetched first
            run_files(library, run)
        folders = (*COPIED_FOLDERS, *((THUMBNAILS,) if thumbnails else ()))
        for name in folders:
            if (library.data_dir / name).is_dir():
                progress.note(f"Copying {name}...")
                copy_tree(library.data_dir / name, partial / name)
        write_manifest(partial, _backup_manifest(library, counts, thumbnails))
    return {"destination": str(destination), "points": counts, "thumbnails": thumbnails}


def _backup_manifest(library: Library, counts: dict, thumbnails: bool) -> dict:
    """The library's manifest as the backup's own: its collections under plain names (generation 0) in Edge."""
    manifest = {key: value for key, value in library.manifest.items() if key not in ("rebuild", "store")}
    manifest["generation"] = 0
    concepts = manifest.get("concepts")
    if concepts and concepts.get("generation", 0) == library.generation:
        manifest["concepts"] = {**concepts, "generation": 0}
    manifest["store"] = {"kind": "edge"}
    manifest["backup"] = {"made_at": utc_now(), "from": str(library.data_dir), "points": counts,
                          "thumbnails": thumbnails}
    return manifest


def restore_library(source: Path, settings: Settings) -> dict:
    """Restore the backup in `source` as the library of `settings` (its data folder; its Qdrant server, if any)."""
    source = Path(source).resolve()
    manifest = read_manifest(source)
    if "backup" not in manifest or not (source / "edge").is_dir():
        raise UsageError(f"{source} is not a pixcept backup (`pixcept backup DEST` makes one).")
    data_dir = Path(settings.data_dir).resolve()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise UsageError(f"{data_dir} is not empty: restore into a new data folder (--data-dir), or move this one "
                         "away first. A restore never overwrites anything.")
    with _beside(data_dir) as partial:
        copy_tree(source, partial, ignore=shutil.ignore_patterns("edge") if settings.uses_server else None)
        counts, store = manifest["backup"]["points"], manifest["store"]
        if settings.uses_server:
            counts, store = _restore_to_server(source, settings, manifest), {"kind": "server",
                                                                              "location": settings.qdrant_url}
        restored = {k: v for k, v in manifest.items() if k != "backup"}
        write_manifest(partial, {**restored, "store": store, "restored": {"at": utc_now(), "from": str(source)}})
    return {"data_dir": str(data_dir), "points": counts}


@contextlib.contextmanager
def _beside(destination: Path) -> Iterator[Path]:
    """A folder path beside `destination` (absent or empty) to write into: renamed to `destination` when the block
    ends, removed when it fails. What a killed run left beside it is cleared first; missing parent folders are made
    (a backup into /backups/2026-12-04 on a fresh volume)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    for stale in destination.parent.glob(f".{destination.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    try:
        yield partial
        if destination.exists():
            destination.rmdir()  # empty, as checked
        partial.rename(destination)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _restore_to_server(source: Path, settings: Settings, manifest: dict) -> dict:
    backup_store = EdgeStore(source / "edge", settings.collection_prefix)
    target = open_store(replace(settings, store=None))
    try:
        model = manifest["model"]
        return copy_collections(backup_store, target, int(model["dim"]), {MODEL_METADATA_KEY: model})
    finally:
        target.close()
        backup_store.close()
