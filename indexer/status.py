"""What a library holds, for `pixcept status` and /api/status: counts and concepts for everyone who may read it; where
it lives, its folders and its failures only for admins (a reader of a shared library learns nothing of the server's
file system from it)."""

from __future__ import annotations

from typing import Any

from .concepts import publish, scoped
from .concepts.schedule import due_reason
from .failures import FailedFiles
from .library import Library
from .scope import scope_of
from .store import CONCEPTS, IMAGES, VOCABULARY


def library_status(library: Library, detail: bool = True) -> dict:
    """The status; `detail` (admins, the CLI on its own library) adds paths, the store's location and failures."""
    roots = library.manifest.get("roots", [])
    info: dict[str, Any] = {"model": library.recorded_model(), "images": library.store.count(IMAGES),
            "vocabulary": library.store.count(VOCABULARY), "folders": len(roots),
            "concepts": concepts_status(library)}
    if detail:
        info |= {"data_dir": str(library.data_dir), "store": f"{library.store.kind} ({library.store.location})",
                 "roots": roots, "vocabularies": library.manifest.get("vocabularies") or {},
                 "failed_files": len(FailedFiles(library.data_dir).entries)}
    return info


def concepts_status(library: Library) -> dict:
    """The published run (its size and date), what the last run did when it made none, and whether one is due."""
    record = publish.state(library)
    last = (record.get("history") or [{}])[-1]
    current = publish.published(library)
    status: dict = {"run": None, "concepts": 0, "outliers": 0}
    if current is not None:
        status |= {"run": current.run, "published_at": record.get("published_at"),
                   "concepts": library.store.count(CONCEPTS, where=publish.current_filter(current) & (
                       scoped.visible_filter(library, current) if scope_of(library) else None)),
                   "outliers": library.store.count(IMAGES, where=publish.outliers_filter(current))}
    if last.get("state") == "skipped":
        status["last_run"] = {"run": last.get("run"), "state": "skipped", "reason": last.get("reason")}
    status["due"] = due_reason(library)
    return status
