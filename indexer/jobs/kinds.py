"""What each kind of job does and which parameters it takes (checked before it is queued), and running one here."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from ..config import Settings
from ..errors import UsageError
from ..library import Library
from ..progress import Progress
from ..roots import within
from .params import TUNING_LIMITS, load_params

MEGABYTE = 1 << 20


def _run_index(library: Library, params: dict, progress: Progress, embedder) -> dict:
    from ..index import index_folders
    from ..reindex import reindex_library

    tuning = {key: params[key] for key in TUNING_LIMITS if key in params}  # else the indexer's defaults
    folders, force = [Path(f) for f in params["folders"]], bool(params.get("force"))
    model = params.get("model") or library.settings.model  # the CLI's --model, or a switch asked for of a server
    if params.get("reindex") and model:
        _download_weights(model, progress)
    if params.get("reindex"):
        summary = reindex_library(library, folders, force=force, progress=progress, embedder=embedder,
                                  model=params.get("model"), **tuning)
    else:
        summary = index_folders(library, folders, prune=bool(params.get("prune")), force=force, progress=progress,
                                embedder=embedder, **tuning)
    return summary.to_dict()


def _download_weights(model: str, progress: Progress) -> None:
    """A model switch fetches the new weights first, as the job's progress in megabytes (a download of a large model
    takes minutes); weights already in the cache are not fetched again."""
    from ..embed import fetch_weights

    shown: dict[str, int] = {}

    def report(name: str, done: int, total: int | None) -> None:
        megabytes = done // MEGABYTE
        if total is not None and total < MEGABYTE:  # a config file: no time to show
            return
        if name not in shown:
            size = f" ({total / MEGABYTE:,.0f} MB)" if total else ""
            progress.note(f"Downloading {name} of {model}{size}; the progress counts megabytes.")
            progress.start(total=-(-total // MEGABYTE) if total else 0, done=megabytes)
        elif megabytes > shown[name]:
            progress.advance(megabytes - shown[name])
        shown[name] = megabytes

    fetch_weights(model, report)


def _run_vocab(library: Library, params: dict, progress: Progress, embedder) -> dict:
    from ..vocab import DEFAULT_SOURCE, USER_SOURCE, add_entries
    from ..words import default_vocabulary

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


def _run_remove_folder(library: Library, params: dict, progress: Progress, embedder) -> dict:
    from ..index import remove_folder

    return remove_folder(library, Path(params["folder"]), bool(params.get("prune")), progress)


def _run_thumbnails(library: Library, params: dict, progress: Progress, embedder) -> dict:
    from ..thumbnails import rebuild_thumbnails

    return rebuild_thumbnails(library, progress)


def _run_check(library: Library, params: dict, progress: Progress, embedder) -> dict:
    from ..integrity import problems

    progress.note("Checking points, paths and the published concept run...")
    return {"problems": problems(library)}


def _run_backup(library: Library, params: dict, progress: Progress, embedder) -> dict:
    from ..backup import backup_library

    return backup_library(library, Path(params["destination"]), params.get("thumbnails", True), progress)


def rescan_due(library: Library) -> tuple[str, dict] | None:
    """A server's scheduled index of every folder (new, changed and removed files), `schedule.index_every` after
    the last index finished (pruning keeps its guard: a folder that lost most of its images, an unplugged disk, is
    left alone)."""
    due = next_rescan(library)
    if due is None or due > datetime.now(timezone.utc):
        return None
    return "index", {"folders": list(library.manifest["roots"]), "prune": True}


def watched_changes(library: Library, folders: list[str]) -> tuple[str, dict] | None:
    """The index job for the folders the watcher found changed (`indexer.watch`): each, or where it was deleted the
    nearest folder above it that is left, within the library's folders; pruned as a rescan is."""
    roots = [Path(root) for root in library.manifest.get("roots") or []]
    wanted = set()
    for folder in map(Path, folders):
        while not folder.is_dir() and folder.parent != folder:
            folder = folder.parent
        if any(within(folder, root) for root in roots):
            wanted.add(str(folder))
    return ("index", {"folders": sorted(wanted), "prune": True}) if wanted else None


def next_rescan(library: Library) -> datetime | None:
    """When the scheduled index of every folder is due (now or earlier: at once); None when not scheduled."""
    every, roots = library.settings.schedule.index_every, library.manifest.get("roots") or []
    if every is None or not roots:
        return None
    manifest = library.manifest
    last = (manifest.get("last_full_index") or manifest.get("last_index") or {}).get("finished_at")
    return datetime.fromisoformat(last) + timedelta(seconds=every) if last else datetime.now(timezone.utc)


def index_rebuild_due(library: Library) -> tuple[str, dict] | None:
    """A server's scheduled search-index job, when writes left the store's index due."""
    return ("search-index", {}) if library.store.rebuild_pending() else None


RUNNERS: dict[str, Callable] = {"index": _run_index, "vocab": _run_vocab, "cluster": _run_cluster,
                                "search-index": _run_search_index, "backup": _run_backup,
                                "remove-folder": _run_remove_folder, "thumbnails": _run_thumbnails,
                                "check": _run_check}


def check_params(kind: str, params: dict, settings: Settings) -> dict:
    """Refuse a job that cannot run before it is queued, with the message the person needs: its parameters by its
    kind's schema (`params`), then what only this machine can judge. A job's folders come from another process,
    maybe over the network: they must be absolute, and in a place photos may be indexed from (`roots.check_roots`)."""
    from ..roots import check_roots
    from ..words import check_entries

    checked = load_params(kind, params)
    if kind == "index":
        checked["folders"] = [str(p) for p in check_roots(checked["folders"], settings.data_dir, absolute=True,
                                                          allowed=settings.allow_folders)]
        if checked.get("model"):
            from ..embed import ModelSpec, ModelUnavailableError

            if not checked.get("reindex"):
                raise UsageError("Another model means new vectors for every image: ask for a reindex with it.")
            try:
                checked["model"] = ModelSpec.parse(checked["model"]).text  # a malformed spec is refused now
            except ModelUnavailableError as exc:
                raise UsageError(str(exc)) from None
    if kind == "backup":
        from ..backup import check_destination

        checked["destination"] = str(check_destination(Path(checked["destination"]), settings.data_dir))
    if kind == "vocab" and checked.get("entries"):
        checked["entries"] = check_entries(checked["entries"])
    elif kind == "vocab":
        checked.pop("version", None)
    return checked


def run_here(library: Library, kind: str, params: dict, progress: Progress | None = None) -> dict:
    """Run a job in this process, now (the CLI when no server holds the library); its result."""
    return RUNNERS[kind](library, check_params(kind, params, library.settings), progress or Progress(), None)
