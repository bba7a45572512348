"""What one serving process holds: the open library (and its lock), the warm model, the job runner with its worker
process, and the uploaded query images. Started once per process, after gunicorn forks its worker."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
from pathlib import Path

from cachetools import LRUCache
from flask import Flask, has_request_context
from PIL import Image

from indexer.concepts.schedule import scheduled_job
from indexer.config import Settings
from indexer.durable import atomic_write_bytes
from indexer.errors import NotFoundError, UsageError
from indexer.images import BadImage, clean_staging, decode_image, read_opened, thumbnail_path, write_thumbnail
from indexer.jobs import JobRunner, index_rebuild_due, rescan_due, watched_changes
from indexer.library import Library
from indexer.live_settings import change_settings
from indexer.scope import scope_of, within
from indexer.search import Query, build_query
from indexer.store import IMAGES
from indexer.watch import FolderWatcher
from indexer.worker import JobWorker, WorkerEmbedder

from .auth import request_folders
from .ratelimit import set_search_limit

log = logging.getLogger(__name__)

PREVIEW_SIDE = 1600
UPLOAD_DAYS = 7
UPLOAD_SIDE = 512  # uploaded query images are kept this big: enough for CLIP and for showing the query
QUERY_CACHE_SIZE = 256
VIEWS_KEPT = 64  # folder scopes whose views (and caches) are kept


class Services:
    def __init__(self, settings: Settings, run_jobs: bool = True, run_jobs_in_worker: bool = True,
                 shared: bool = False):
        self.settings = settings
        self.run_jobs = run_jobs
        self.run_jobs_in_worker = run_jobs_in_worker
        self.shared = shared  # one of several worker processes on one data folder (a Qdrant server's library)
        self._library: Library | None = None
        self.runner: JobRunner | None = None
        self.worker: JobWorker | None = None
        self.watcher: FolderWatcher | None = None
        self.ready = False
        self._queries: LRUCache[tuple, Query] = LRUCache(maxsize=QUERY_CACHE_SIZE)
        self._queries_lock = threading.Lock()
        self._views: LRUCache[tuple[str, ...], Library] = LRUCache(maxsize=VIEWS_KEPT)
        self._views_lock = threading.Lock()

    @property
    def whole_library(self) -> Library:
        """The open library, every folder of it (routes run only once `ready`)."""
        if self._library is None:
            raise RuntimeError("The library is not open: Services.start() first.")
        return self._library

    def refresh(self) -> None:
        """With several workers, or machines on one Qdrant server, take in what another's job changed (a new
        concept run, a new generation): once per request, a stat when nothing changed (and a request to the server
        at most once a second: `Library.refresh`)."""
        if self.ready and self._library is not None:
            self._library.refresh()

    @property
    def library(self) -> Library:
        """The open library as this request may see it: a token limited to folders sees only those, whatever the
        route asks (`indexer.scope`: the store filters every read of the images). Views are kept per scope, with
        their caches (filter counts, concept sizes, the map's points)."""
        library = self.whole_library
        folders = request_folders() if has_request_context() else ()
        if not folders:
            return library
        with self._views_lock:
            view = self._views.get(folders)
            if view is None:
                view = self._views[folders] = within(library, folders)
        return view

    # -- lifecycle --------------------------------------------------------------------------------------------------

    def start(self, url: str | None = None) -> "Services":
        self._library = Library.open(self.settings, command="pixcept serve")
        if url and self.whole_library.lock:
            self.whole_library.lock.update(url=url)
        if self.whole_library.recorded_identity() is not None:  # no model loading on a first search
            self._query_embedder(self.whole_library.embedder()).embed_text("warm up")
        self._forget_old_files()
        if self.run_jobs:
            # Edge's index builds run as jobs of their own, on a copy in the worker: built in place by the jobs
            # that wrote, they would hold this process's interpreter (searches) for minutes at 1M images
            self.whole_library.store.build_elsewhere = self.run_jobs_in_worker
            self.runner = JobRunner(self.whole_library, self._job_embedder if self.run_jobs_in_worker else None,
                                    schedule=self._scheduled_job, shared=self.shared).start()
            self.watcher = FolderWatcher(ignore=[self.whole_library.data_dir], wake=self.runner.check_schedule_now)
            self._follow_folders(self.whole_library)
        self.ready = True
        return self

    def _scheduled_job(self) -> tuple[str, dict] | None:
        """Concepts first when due (their writes may make the index due again), then a rescan of the folders, then
        the search index."""
        self.refresh()
        library = self.whole_library
        return scheduled_job(library) or self._watched_changes(library) or rescan_due(library) or \
            index_rebuild_due(library)

    def _follow_folders(self, library: Library) -> None:
        """Watch the library's folders (as they are now: one may have been added or removed), or none when
        `schedule.watch` is off."""
        if self.watcher is not None:
            self.watcher.follow(library.manifest.get("roots", []) if library.settings.schedule.watch else [])

    def _watched_changes(self, library: Library) -> tuple[str, dict] | None:
        if self.watcher is None:
            return None
        self._follow_folders(library)
        return watched_changes(library, self.watcher.due())

    def watch_state(self) -> dict:
        """What the admin page says of the folder watcher: on, how many folders, why some are not watched."""
        watcher = self.watcher
        return {"on": bool(watcher and self.whole_library.settings.schedule.watch),
                "folders": len(watcher.watched) if watcher else 0, "problem": watcher.problem if watcher else None}

    def stop(self) -> None:
        """Interrupt the running job (it keeps what it saved) and end the worker process at once: a job that went on
        in the worker after the server went would finish without anyone recording it."""
        self.ready = False
        if self.runner:
            self.runner.request_stop()
        if self.worker:
            self.worker.kill()
        if self.runner:
            self.runner.stop()
        if self.watcher:
            self.watcher.stop()
        if self.worker:
            self.worker.close()
        if self._library:
            self._library.close()
            self._library = None

    def _query_embedder(self, embedder):
        if self.run_jobs_in_worker:  # jobs' big batches run elsewhere: this process only answers queries
            embedder.serve_concurrently(os.cpu_count() or 1)
        return embedder

    def _job_embedder(self, model: str | None = None):
        """The model for jobs, run in the worker process (restarted with another model for a switch, and after
        it): the library's, or `model` a rebuild switches to."""
        local = self._query_embedder(self.whole_library.writing_embedder(model))  # a new library's first model
        if self.worker is None or self.worker.model_spec != local.spec.text:
            if self.worker:
                self.worker.close()
            self.worker = JobWorker(local.spec.text, device=self.settings.device,
                                    idle_seconds=self.whole_library.settings.worker_idle_seconds)
        return WorkerEmbedder(local, self.worker)

    def change_settings(self, app: Flask, changes: dict) -> Settings:
        """Runtime settings changed on the admin page: saved and put in the library's settings
        (`indexer.live_settings`), then followed by what this process holds elsewhere: the worker's idle time, the
        search rate limit."""
        settings = change_settings(self.whole_library, changes)
        self.settings = settings
        if self.worker is not None:
            self.worker.idle_seconds = settings.worker_idle_seconds  # from its next idle check on
        set_search_limit(app, settings.server.searches_per_minute, app.config["PIXCEPT_SEARCH_BURST"])
        return settings

    # -- queries ----------------------------------------------------------------------------------------------------

    def image_count(self) -> int:
        return self.library.store.count(IMAGES)

    def query(self, text: str, uploads: tuple[str, ...], like: tuple[str, ...], unlike: tuple[str, ...] = ()) -> Query:
        """The query (its vector and examples), cached: "load more" pages and repeated queries skip the model."""
        library = self.library
        key = (text, uploads, like, unlike, library.recorded_model_spec(), scope_of(library))
        with self._queries_lock:  # cachetools' caches are not thread-safe
            cached = self._queries.get(key)
        if cached is not None:
            return cached
        images = [self.upload_image(upload) for upload in uploads]
        query = build_query(library, text, images, like, unlike)
        with self._queries_lock:
            self._queries[key] = query
        return query

    # -- images -----------------------------------------------------------------------------------------------------

    @property
    def preview_dir(self) -> Path:
        return self.library.data_dir / "previews"

    def preview(self, payload: dict) -> Path:
        """A screen-size JPEG of the image, made on first request and kept: originals can be 24 MP, or HEIC/TIFF
        that browsers do not show. Made only from a verified original (`Library.open_original`), and served only
        while the original is still in place (a cheap check; a hash when that fails)."""
        target = thumbnail_path(self.preview_dir, payload["sha256"])
        if target.is_file() and self.library.original_unchanged(payload):
            return target
        with self.library.open_original(payload) as original:  # NotFoundError when no path holds it any more
            if target.is_file():
                return target  # touched since it was indexed, but the same content
            try:
                decoded = decode_image(read_opened(original), min_side=PREVIEW_SIDE)
            except BadImage as exc:
                raise NotFoundError(f"The file cannot be shown any more: {exc}.") from exc
        write_thumbnail(decoded.image, target, PREVIEW_SIDE, self.preview_dir)
        return target

    # -- uploads ----------------------------------------------------------------------------------------------------

    @property
    def upload_dir(self) -> Path:
        return self.library.data_dir / "uploads"

    def save_upload(self, data: bytes) -> str:
        """Check an uploaded query image and keep a small copy; its ID (content hash) goes into shareable URLs."""
        if not data:
            raise UsageError("The uploaded file is empty.")
        try:
            decoded = decode_image(data, min_side=UPLOAD_SIDE)
        except BadImage as exc:
            raise UsageError(f"The upload cannot be used as a query image: {exc}.") from exc
        image = decoded.image
        image.thumbnail((UPLOAD_SIDE, UPLOAD_SIDE))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        upload_id = hashlib.sha256(buffer.getvalue()).hexdigest()[:32]
        path = self.upload_path(upload_id)
        if not path.exists():
            atomic_write_bytes(path, buffer.getvalue())
        return upload_id

    def _forget_old_files(self) -> None:
        """Uploaded query images are kept UPLOAD_DAYS for shared links, then removed at the next start; so is what
        a killed process left half-written."""
        cutoff = time.time() - UPLOAD_DAYS * 86400
        for path in self.upload_dir.glob("*.jpg") if self.upload_dir.is_dir() else ():
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        for path in self.upload_dir.glob("*.tmp") if self.upload_dir.is_dir() else ():
            path.unlink(missing_ok=True)  # this process owns the library: no other writer is at work
        clean_staging(self.preview_dir)

    def upload_path(self, upload_id: str) -> Path:
        return self.upload_dir / f"{upload_id}.jpg"

    def upload_image(self, upload_id: str) -> Image.Image:
        path = self.upload_path(upload_id)
        if not path.is_file():
            raise NotFoundError(f"No uploaded image {upload_id}; upload it again.")
        with Image.open(path) as image:
            return image.convert("RGB")
