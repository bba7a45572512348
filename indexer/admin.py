"""What an admin sees of a library at a glance: where it lives, what it holds, how much disk each part takes, the
last runs and what is due, and the files the indexer could not read (with reasons, filterable)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from .concepts import publish
from .failures import FailedFiles
from .jobs import next_rescan
from .library import Library
from .status import library_status

DISK_CACHE_SECONDS = 60  # walking a million thumbnails takes a while: measured at most once a minute
PARTS = {"store": ("edge", "qdrant"), "thumbnails": ("thumbnails",), "previews": ("previews",),
         "concept runs": ("concepts",), "exports": ("exports",)}
MAX_FAILURES = 1000  # rows of the failure report one answer holds

_disk: dict[Path, tuple[float, dict[str, int]]] = {}
_disk_lock = threading.Lock()


def overview(library: Library, watch: dict | None = None) -> dict:
    """The library for its admin: status (model, store, counts, folders), disk use per part, the concept runs'
    state (the last, and why one is due), whether the search index has writes pending, the number of failed files;
    `watch`: the server's folder watcher ({on, folders, problem})."""
    info = library_status(library, detail=True)
    record = publish.state(library)
    history = record.get("history") or []
    info["disk"] = disk_use(library.data_dir)
    info["last_cluster"] = history[-1] if history else None
    info["last_index"] = library.manifest.get("last_index")  # {finished_at, folders, summary}; from any process
    info["cluster_due"] = info["concepts"]["due"]  # library_status asked `due_reason` already
    rescan = next_rescan(library)
    info["next_index"] = rescan.isoformat(timespec="seconds") if rescan else None  # the scheduled rescan
    info["search_index_pending"] = library.store.rebuild_pending()  # writes the search index has not taken in yet
    info["watch"] = watch or {"on": False, "folders": 0, "problem": None}
    return info


def disk_use(data_dir: Path) -> dict[str, int]:
    """Bytes per part of the data folder (store, thumbnails, previews, concept runs, exports), cached a minute."""
    data_dir = Path(data_dir)
    with _disk_lock:
        cached = _disk.get(data_dir)
        if cached and time.monotonic() - cached[0] < DISK_CACHE_SECONDS:
            return cached[1]
    sizes = {part: sum(_folder_bytes(data_dir / name) for name in names) for part, names in PARTS.items()}
    with _disk_lock:
        _disk[data_dir] = (time.monotonic(), sizes)
    return sizes


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:  # what the disk holds: Qdrant's pre-allocated files are mostly holes
                found = os.lstat(os.path.join(root, name))
                total += found.st_blocks * 512 if hasattr(found, "st_blocks") else found.st_size
            except OSError:
                continue  # removed meanwhile
    return total


def failures(library: Library, contains: str = "", limit: int = MAX_FAILURES) -> dict:
    """The files the indexer could not read, with reasons: those whose path or reason contains `contains`
    (case-insensitive), at most `limit`, by path; and how many there are in all and matching."""
    entries = FailedFiles(library.data_dir).entries
    needle = contains.casefold()
    matching = sorted((path, entry.get("reason", "")) for path, entry in entries.items()
                      if needle in path.casefold() or needle in str(entry.get("reason", "")).casefold())
    return {"total": len(entries), "matching": len(matching),
            "files": [{"path": path, "reason": reason} for path, reason in matching[:limit]]}
