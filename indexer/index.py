"""Indexing: folders of files -> CLIP vectors and payloads in the store, incrementally and safely.

How a run works:
1. One scroll loads what is indexed (content hash and files of every point), never one query per file.
2. The folders are walked; a file whose size and mtime match its record is unchanged and not even read.
3. Other files are read and hashed in worker threads; only content never seen before is decoded, thumbnailed and
   preprocessed there, while the main thread runs the model on full batches (decoding overlaps the model).
4. Each batch is written in an order that survives a kill at any point: thumbnails, then new points, then path moves,
   then points whose content is gone from every path. A re-run repairs whatever a kill left half-done.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable

import numpy as np

from .clock import utc_now
from .concepts.publish import concept_payloads, record_changes
from .embed import Embedder
from .errors import UsageError
from .failures import NOT_READ_AGAIN, FailedFiles
from .filters import local_taken_times
from .images import (
    THUMBNAIL_SIZE,
    BadImage,
    FoundFile,
    Skipped,
    clean_staging,
    content_hash,
    decode_image,
    read_file,
    thumbnail_path,
    walk_images,
    write_thumbnail,
)
from .library import Library
from .progress import Cancelled, Progress
from .roots import check_roots, with_roots
from .store import IMAGES, Point, files_payload, indexed_files, point_id

log = logging.getLogger(__name__)

MTIME_TOLERANCE = 1e-6
PRUNE_HANDFUL = 5  # a folder that lost more images than this, and more than half of them, stops a prune


@dataclass
class IndexSummary:
    indexed: int = 0  # new content embedded
    updated: int = 0  # known content at a new or changed path: no embedding needed
    unchanged: int = 0
    failed: list[Skipped] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    removed: int = 0  # points deleted: content no longer at any path (changed files, --prune)
    missing: int = 0  # points whose every file is gone, kept because --prune was not given
    report_path: Path | None = None
    seconds: float = 0.0

    def describe(self) -> str:
        parts = [f"{self.indexed} indexed", f"{self.updated} updated", f"{self.unchanged} unchanged",
                 f"{len(self.failed)} failed"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.removed:
            parts.append(f"{self.removed} removed")
        return ", ".join(parts) + f" in {self.seconds:.1f} s"

    def to_dict(self, problems: int = 20) -> dict:
        """JSON-ready, with the first `problems` files that were not indexed (the report file has them all)."""
        listed = self.failed + self.skipped
        return {
            "indexed": self.indexed, "updated": self.updated, "unchanged": self.unchanged,
            "failed": len(self.failed), "skipped": len(self.skipped), "removed": self.removed,
            "missing": self.missing, "seconds": round(self.seconds, 2), "summary": self.describe(),
            "problems": [{"path": p.path, "reason": p.reason} for p in listed[:problems]],
            "problem_count": len(listed),
            "report_path": str(self.report_path) if self.report_path else None,
        }


@dataclass
class _Record:
    """What the run knows about one point."""

    sha256: str
    files: dict[str, dict]
    new: bool = False
    vector: np.ndarray | None = None
    extra: dict = field(default_factory=dict)  # payload beyond the path fields, for new points


@dataclass
class _Work:
    found: FoundFile
    sha256: str = ""  # set once the file was read
    tensor: object = None
    extra: dict | None = None
    error: str | None = None
    lasting: bool = False  # the error lies in the content: remembered until the file changes


class Indexer:
    def __init__(self, library: Library, embedder: Embedder | None, batch_size: int = 32,
                 workers: int | None = None, progress: Progress | None = None, collection: str = IMAGES):
        self.library = library
        self.store = library.store
        self.collection = collection  # a reindex writes to the next generation's images
        self.embedder = embedder  # None: this indexer only forgets (`forget_folder`)
        self.batch_size = batch_size
        # One decoder per core: more only preempt the model's threads (measured on 2 cores: 2 > 4 > 1).
        self.workers = workers or max(1, min(8, os.cpu_count() or 1))
        self.progress = progress or Progress()
        self.records: dict[str, _Record] = {}
        self.by_sha: dict[str, str] = {}
        self.by_path: dict[str, set[str]] = {}
        self.dirty: set[str] = set()
        self.summary = IndexSummary()
        self.failed_before = FailedFiles(library.data_dir)

    @property
    def model(self) -> Embedder:
        if self.embedder is None:
            raise RuntimeError("This indexer was made to forget paths, not to embed images.")
        return self.embedder

    # -- state ------------------------------------------------------------------------------------------------------

    def load_state(self) -> None:
        for point in self.store.scroll(self.collection, fields=["sha256", "files"]):
            files = indexed_files(point.payload)
            self.records[point.id] = _Record(point.payload["sha256"], files)
            self.by_sha[point.payload["sha256"]] = point.id
            for path in files:
                self.by_path.setdefault(path, set()).add(point.id)

    def is_unchanged(self, found: FoundFile) -> bool:
        owners = self.by_path.get(found.path, ())
        if len(owners) != 1:  # unknown, or left in two points by a killed run: look again
            return False
        known = self.records[next(iter(owners))].files[found.path]
        return known["size"] == found.size and abs(known["mtime"] - found.mtime) < MTIME_TOLERANCE

    # -- the run ----------------------------------------------------------------------------------------------------

    def run(self, roots: list[Path], prune: bool = False, force: bool = False) -> IndexSummary:
        """Index the (resolved, existing: see `check_roots`) folders. With `prune`, images whose files are gone
        are removed, unless a folder lost most of its images (an unmounted disk?) and `force` is not given."""
        started = time.monotonic()
        clean_staging(self.library.thumbnail_dir)
        self.load_state()
        listing = list(walk_images(roots, exclude=[self.library.data_dir]))
        found = [f for f in listing if isinstance(f, FoundFile)]
        self.summary.failed = [s for s in listing if isinstance(s, Skipped) and s.failure]
        self.summary.skipped = [s for s in listing if isinstance(s, Skipped) and not s.failure]
        seen = {entry.path for entry in listing}
        if prune and not force:
            refuse_risky_prune(roots, found, self.by_path, seen)
        todo = [entry for entry in found if not self.is_unchanged(entry)]
        self.summary.unchanged = len(found) - len(todo)
        todo = self._pass_over_known_failures(todo)
        self.progress.start(total=len(found), done=len(found) - len(todo))
        try:
            self._process(todo)
        except (KeyboardInterrupt, Cancelled):
            self._flush()  # keep every batch already embedded
            self.failed_before.save()
            raise
        self._forget_paths_not_seen(roots, seen, prune)
        self._flush(final=True)
        self.failed_before.forget([path for path in self.failed_before.entries if path not in seen
                                   and path.startswith(_prefixes(roots))])
        self.failed_before.save()
        if self.store.index_due():
            self.progress.note("Building the search index for fast queries (about 20 s per 100k images)...")
            self.store.build_index()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _pass_over_known_failures(self, todo: list[FoundFile]) -> list[FoundFile]:
        """Files that failed before and have not changed are reported again without being read."""
        rest = []
        for entry in todo:
            reason = self.failed_before.reason(entry)
            if reason is None:
                rest.append(entry)
            else:
                self.summary.failed.append(Skipped(entry.path, reason + NOT_READ_AGAIN))
        return rest

    def _process(self, todo: list[FoundFile]) -> None:
        pending: list[_Work] = []
        for work in self._prepared(todo):
            self.progress.advance(1)
            if work.error:
                self.summary.failed.append(Skipped(work.found.path, work.error))
                if work.lasting:
                    self.failed_before.record(work.found, work.error)
                continue
            self.failed_before.forget([work.found.path])
            if self._attach(work):
                pending.append(work)
            if len(pending) >= self.batch_size:
                self._embed(pending)
                self._flush()
                pending = []
        self._embed(pending)

    def _prepared(self, todo: list[FoundFile]) -> Iterable[_Work]:
        """Works read, hashed and (for new content) decoded in threads, yielded in order with bounded look-ahead."""
        window = self.workers * 4
        with ThreadPoolExecutor(self.workers, thread_name_prefix="pixcept-decode") as pool:
            queue: deque[Future] = deque()
            for item in todo:
                queue.append(pool.submit(self.prepare_file, item))
                if len(queue) >= window:
                    yield queue.popleft().result()
            while queue:
                yield queue.popleft().result()

    def prepare_file(self, found: FoundFile) -> _Work:
        """Read and hash one file; if its content is new, decode, thumbnail and preprocess it. Thread-safe."""
        work = _Work(found)
        try:
            data = read_file(found.path)
            work.sha256 = content_hash(data)
            if work.sha256 in self.by_sha:
                return work  # known content: no decoding, no embedding
            decoded = decode_image(data, min_side=max(self.model.image_size, THUMBNAIL_SIZE))
            root = self.library.thumbnail_dir
            write_thumbnail(decoded.image, thumbnail_path(root, work.sha256), THUMBNAIL_SIZE, root)
            work.tensor = self.model.preprocess_image(decoded.image)
            work.extra = {"width": decoded.width, "height": decoded.height, "format": decoded.format,
                          "size": found.size, **decoded.metadata}
        except BadImage as exc:
            work.error, work.lasting = str(exc), exc.lasting
        except Exception as exc:  # noqa: BLE001 - one odd file must never stop the run
            log.debug("unexpected failure on %s", found.path, exc_info=True)
            work.error = f"could not be processed ({type(exc).__name__}: {exc})"
        return work

    def _attach(self, work: _Work) -> bool:
        """Record `work`'s path under its content. True when the content is new and needs embedding."""
        path, stat = work.found.path, {"size": work.found.size, "mtime": work.found.mtime}
        pid = self.by_sha.get(work.sha256)  # only grows while files are processed, so a worker's "known" holds
        is_new = pid is None
        if pid is None:
            pid = point_id(work.sha256)
            self.records[pid] = _Record(work.sha256, {}, new=True, extra=work.extra or {})
            self.by_sha[work.sha256] = pid
            self.summary.indexed += 1
        else:
            self.summary.updated += 1
        for other in self.by_path.get(path, set()) - {pid}:
            self._drop_path(other, path)
        self.records[pid].files[path] = stat
        self.by_path[path] = {pid}
        self.dirty.add(pid)
        return is_new

    def _drop_path(self, pid: str, path: str) -> None:
        self.records[pid].files.pop(path, None)
        owners = self.by_path.get(path)
        if owners:
            owners.discard(pid)
        self.dirty.add(pid)

    def _embed(self, works: list[_Work]) -> None:
        if not works:
            return
        vectors = self.model.embed_tensors([w.tensor for w in works])
        for work, vector in zip(works, vectors):
            self.records[point_id(work.sha256)].vector = vector
            work.tensor = None

    def _flush(self, final: bool = False) -> None:
        """Write every dirty point, in the kill-safe order described in the module docstring.

        Points left without files are removed only at the end of a run: their content may still turn up at a path
        not processed yet (a file renamed while another took its name).
        """
        now = utc_now()
        new_points, moved, emptied = [], {}, []
        for pid in sorted(self.dirty):
            record = self.records[pid]
            if record.new:
                if record.vector is None:
                    continue  # waits for its batch's embedding
                payload = {"sha256": record.sha256, "indexed_at": now, **record.extra, **files_payload(record.files)}
                new_points.append(Point(pid, payload, record.vector))
            elif record.files:
                moved[pid] = files_payload(record.files)
            elif final:
                emptied.append(pid)
        if new_points and self.collection == IMAGES:  # between concept runs, new images join the nearest concept
            for point, concept in zip(new_points, concept_payloads(self.library, [p.vector for p in new_points])):
                point.payload.update(concept)
        self.store.upsert(self.collection, new_points)
        self.store.set_payloads(self.collection, moved)
        self._remove(emptied)
        for point in new_points:
            self.records[point.id].new = False
            self.records[point.id].vector = None
        self.dirty -= {p.id for p in new_points} | set(moved) | set(emptied)

    def _remove(self, pids: list[str]) -> None:
        if not pids:
            return
        self.store.delete(self.collection, pids)
        for pid in pids:
            record = self.records.pop(pid)
            if self.by_sha.get(record.sha256) == pid:
                del self.by_sha[record.sha256]
            thumbnail_path(self.library.thumbnail_dir, record.sha256).unlink(missing_ok=True)
        self.summary.removed += len(pids)

    def forget_folder(self, root: Path) -> int:
        """Remove the paths under `root` from the library: an image with no file left elsewhere goes, one with a
        file in another folder keeps that path. The files themselves are never touched. Returns images removed."""
        self.load_state()
        self._forget_paths_not_seen([root], set(), prune=True)
        self._flush(final=True)
        self.failed_before.forget([path for path in self.failed_before.entries if path.startswith(_prefix(root))])
        self.failed_before.save()
        return self.summary.removed

    def _forget_paths_not_seen(self, roots: list[Path], seen: set[str], prune: bool) -> None:
        """Paths under this run's roots that no longer exist: moved files lose their old path; points with no file
        left are removed with --prune and otherwise kept (an unmounted disk must not wipe the library)."""
        prefixes = _prefixes(roots)
        for pid, record in list(self.records.items()):
            gone = [p for p in record.files if p.startswith(prefixes) and p not in seen]
            if not gone:
                continue
            if len(gone) < len(record.files) or prune:
                for path in gone:
                    self._drop_path(pid, path)
            else:
                self.summary.missing += 1


def _prefix(root: Path) -> str:
    """What every path below `root` starts with."""
    return str(root).rstrip(os.sep) + os.sep


def _prefixes(roots: list[Path]) -> tuple[str, ...]:
    return tuple(_prefix(root) for root in roots)


def refuse_risky_prune(roots: list[Path], found: list[FoundFile], indexed: Iterable[str], seen: set[str]) -> None:
    """A prune removes every image whose file was not seen. Refuse when that looks like a disk that is not there
    rather than photos that were deleted: a root with no images at all, or a root or subfolder that lost more than
    half of its indexed images and more than a handful (a mount point with one stray image, an unmounted subfolder).
    """
    for root in roots:
        if not any(f.path.startswith(_prefix(root)) for f in found):
            raise UsageError(
                f"Refusing to prune: {root} holds no images (an unmounted disk or an emptied folder?). Nothing was "
                "removed. Check the folder, or run with --force to remove its images from the library.")
    lost = vanished_folders(roots, indexed, seen)
    if lost:
        listed = "; ".join(f"{folder}: {gone} of {total} images missing" for folder, gone, total in lost[:10])
        more = f" (and {len(lost) - 10} more folders)" if len(lost) > 10 else ""
        raise UsageError(
            f"Refusing to prune: these folders lost most of their images, as an unmounted disk would: {listed}{more}. "
            "Nothing was removed. Check the folders, or run with --force to remove the missing images.")


def vanished_folders(roots: list[Path], indexed: Iterable[str], seen: set[str]) -> list[tuple[str, int, int]]:
    """(folder, missing, indexed) for each folder under `roots` (roots included) that lost more than half of its
    indexed images and more than PRUNE_HANDFUL; only the topmost of nested ones, largest loss first."""
    totals: Counter[Path] = Counter()
    missing: Counter[Path] = Counter()
    root_paths = [Path(root) for root in roots]
    for path in indexed:
        root = next((r for r in root_paths if path.startswith(_prefix(r))), None)
        if root is None:
            continue
        gone = path not in seen
        folder = Path(path).parent
        while True:
            totals[folder] += 1
            missing[folder] += gone
            if folder == root or folder == folder.parent:
                break
            folder = folder.parent
    flagged = {f for f, gone in missing.items() if gone > PRUNE_HANDFUL and gone * 2 > totals[f]}
    topmost = [f for f in flagged if not any(parent in flagged for parent in f.parents)]
    return sorted(((str(f), missing[f], totals[f]) for f in topmost), key=lambda row: (-row[1], row[0]))


def write_failure_report(library: Library, summary: IndexSummary) -> Path | None:
    """A tab-separated list of every file that could not be indexed, and why. Written with the csv module, so a
    file name holding a tab or a newline is quoted instead of forging a row; names that are not UTF-8 keep their
    bytes."""
    problems = summary.failed + summary.skipped
    if not problems:
        return None
    library.reports_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = library.reports_dir / f"index-{stamp}-{os.getpid()}.tsv"
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "reason"])
        writer.writerows([problem.path, problem.reason] for problem in problems)
    summary.report_path = path
    return path


def index_folders(library: Library, roots: list[Path], prune: bool = False, force: bool = False,
                  batch_size: int = 32, workers: int | None = None, progress: Progress | None = None,
                  embedder: Embedder | None = None) -> IndexSummary:
    """Index `roots` into the library, reporting to `progress`. `embedder` runs the model instead of the library's
    own (the server passes one that runs it in its worker process); `force` lets a prune go on where folders went
    missing. (`reindex.reindex_library` rebuilds the whole library beside the current one instead.)"""
    roots = check_roots(roots, data_dir=library.data_dir)
    local = library.prepare_for_indexing()
    _upgrade_payloads(library)
    if library.manifest.get("rebuild"):
        (progress or Progress()).note("An interrupted reindex is pending; `pixcept index --reindex` finishes it.")
    indexer = Indexer(library, embedder or local, batch_size=batch_size, workers=workers, progress=progress)
    try:
        summary = indexer.run(roots, prune=prune, force=force)
    finally:
        known = library.manifest.get("roots", [])
        last = {"finished_at": utc_now(), "folders": [str(r) for r in roots], "summary": indexer.summary.describe()}
        # the rescan interval counts from the last index of every folder (one of a subfolder covers too little)
        every = {"last_full_index": last} if set(known) <= {str(r) for r in roots} else {}
        library.update_manifest(roots=with_roots(known, roots), last_index=last, **every)
        record_changes(library, indexer.summary.indexed + indexer.summary.removed)
    write_failure_report(library, summary)
    return summary


def remove_folder(library: Library, folder: Path, prune: bool = False, progress: Progress | None = None) -> dict:
    """Stop indexing `folder`, one of the library's folders; with `prune`, also remove its images from the library
    (as if its files were gone). Without, its images stay searchable and are no longer rescanned."""
    roots = library.manifest.get("roots", [])
    if str(folder) not in roots:
        raise UsageError(f"{folder} is not one of the indexed folders ({', '.join(roots) or 'none yet'}).")
    removed = 0
    if prune:
        (progress or Progress()).note(f"Removing the images of {folder} from the library...")
        removed = Indexer(library, None, progress=progress).forget_folder(Path(folder))
        record_changes(library, removed)
    library.update_manifest(roots=[root for root in roots if root != str(folder)])
    return {"folder": str(folder), "pruned": prune, "removed": removed,
            "summary": f"{folder} is no longer indexed" + (f"; {removed:,} images removed." if prune else
                                                            "; its images stay in the library.")}


PAYLOAD_VERSION = 2  # 2: taken_ts counts the photo's own clock; `format` has a payload index


def _upgrade_payloads(library: Library) -> None:
    """Bring payloads written by older versions up to date, once per library (few points change)."""
    if library.manifest.get("payload_version", 1) >= PAYLOAD_VERSION:
        return
    library.store.ensure_payload_indexes(IMAGES)
    changed = local_taken_times(library)
    if changed:
        log.info("%d images: date taken now counted on the photo's own clock", changed)
    library.update_manifest(payload_version=PAYLOAD_VERSION)
