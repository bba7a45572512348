"""What each kind of job does and which parameters it takes (checked before it is queued), and running one here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..errors import UsageError
from ..library import Library
from ..progress import Progress

JOB_KINDS = ("index", "vocab", "cluster", "search-index")
CLUSTER_FLAGS = ("if_changed", "relabel", "rollback")
CLUSTER_NUMBERS = {"seed": (0, 2**31), "min_concept_size": (2, 100_000), "sample_size": (1000, 10_000_000)}
TUNING_LIMITS = {"batch_size": 1024, "workers": 64}  # index job options, capped as the CLI caps them


def _run_index(library: Library, params: dict, progress: Progress, embedder) -> dict:
    from ..index import index_folders
    from ..reindex import reindex_library

    tuning = {key: params[key] for key in TUNING_LIMITS if key in params}  # else the indexer's defaults
    folders, force = [Path(f) for f in params["folders"]], bool(params.get("force"))
    if params.get("reindex"):
        summary = reindex_library(library, folders, force=force, progress=progress, embedder=embedder, **tuning)
    else:
        summary = index_folders(library, folders, prune=bool(params.get("prune")), force=force, progress=progress,
                                embedder=embedder, **tuning)
    return summary.to_dict()


def _run_vocab(library: Library, params: dict, progress: Progress, embedder) -> dict:
    from ..vocab import DEFAULT_SOURCE, USER_SOURCE, add_entries, default_vocabulary

    if params.get("entries"):
        entries, source, version = params["entries"], USER_SOURCE, params.get("version") or "user"
    else:
        (version, entries), source = default_vocabulary(), DEFAULT_SOURCE
    return add_entries(library, entries, source, version, progress=progress, embedder=embedder).to_dict()


def _run_cluster(library: Library, params: dict, progress: Progress, embedder) -> dict:
    from ..concepts.job import run_cluster

    worker = getattr(embedder, "worker", None)  # in a server, UMAP runs in the worker process
    return run_cluster(library, params, progress, fitter=worker.fit_concepts if worker else None)


def _run_search_index(library: Library, params: dict, progress: Progress, embedder) -> dict:
    """Build the store's search index where writes left it due: in a server on a copy, in the worker process, while
    searches go on; elsewhere in place."""
    worker = getattr(embedder, "worker", None)
    store = library.store
    started = time.monotonic()
    if worker is not None:
        built = store.rebuild_beside(worker.optimize_shard, progress.note)
    else:
        if store.rebuild_pending():
            progress.note("Building the search index (searches wait meanwhile)...")
        built = store.build_index()
    return {"built": built, "seconds": round(time.monotonic() - started, 1)}


def index_rebuild_due(library: Library) -> tuple[str, dict] | None:
    """A server's scheduled search-index job, when writes left the store's index due."""
    return ("search-index", {}) if library.store.rebuild_pending() else None


RUNNERS: dict[str, Callable] = {"index": _run_index, "vocab": _run_vocab, "cluster": _run_cluster,
                                "search-index": _run_search_index}


def check_params(kind: str, params: dict, data_dir: Path) -> dict:
    """Refuse a job that cannot run before it is queued, with the message the person needs. A job's folders come
    from another process, maybe over the network: they must be absolute, and in a place photos may be indexed from
    (`roots.check_roots`)."""
    from ..roots import check_roots

    if kind not in JOB_KINDS:
        raise UsageError(f"Unknown job kind {kind!r}; known: {', '.join(JOB_KINDS)}.")
    if kind == "index":
        folders = params.get("folders")
        if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
            raise UsageError("An index job needs `folders`: a list of folder paths on the server.")
        tuning = {k: min(params[k], limit) for k, limit in TUNING_LIMITS.items()
                  if isinstance(params.get(k), int) and params[k] > 0}
        return {"folders": [str(p) for p in check_roots(folders, data_dir, absolute=True)],
                "prune": bool(params.get("prune")),
                "reindex": bool(params.get("reindex")), "force": bool(params.get("force")), **tuning}
    if kind == "cluster":
        return _cluster_params(params)
    if kind == "search-index":
        return {}
    from ..vocab import check_entries

    entries = params.get("entries") or []
    if not isinstance(entries, list) or not all(isinstance(e, str) and e.strip() for e in entries):
        raise UsageError("`entries` must be a list of words or phrases.")
    return {"entries": check_entries(entries), "version": str(params.get("version") or "user")} if entries else {}


def _cluster_params(params: dict) -> dict:
    checked: dict[str, bool | int] = {flag: True for flag in CLUSTER_FLAGS if params.get(flag)}
    if len(checked) > 1:
        raise UsageError("Choose one of if_changed, relabel and rollback.")
    for key, (low, high) in CLUSTER_NUMBERS.items():
        value = params.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise UsageError(f"`{key}` must be a whole number from {low} to {high}.")
        checked[key] = value
    return checked



def run_here(library: Library, kind: str, params: dict, progress: Progress | None = None) -> dict:
    """Run a job in this process, now (the CLI when no server holds the library); its result."""
    return RUNNERS[kind](library, check_params(kind, params, library.data_dir), progress or Progress(), None)
