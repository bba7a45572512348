"""Running jobs one after another in a background thread of the process that owns the library, with their
progress, cancellation, resumption and the idle-time schedule."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Callable

from ..clock import utc_now
from ..durable import atomic_write_json
from ..errors import PixceptError, UsageError
from ..library import Library
from ..progress import Cancelled, Progress
from .kinds import RUNNERS, check_params
from .records import Job, JobNotFound, read_jobs

log = logging.getLogger(__name__)

JOB_NICENESS = 10  # the job thread (and the decode threads it starts) yield the cores to request threads
SAVE_INTERVAL = 1.0  # seconds between progress writes of a job's file
KEEP_JOBS = 200  # finished job files kept on disk
SCHEDULE_CHECK_SECONDS = 60.0  # how often an idle runner asks whether scheduled work is due
SCHEDULE_BACKOFF_SECONDS = 3600.0  # a scheduled job that failed is not scheduled again for this long


class _JobProgress(Progress):
    def __init__(self, runner: "JobRunner", job: Job):
        self.runner, self.job = runner, job

    def _check(self) -> None:
        if self.runner.cancel_requested(self.job.id):
            raise Cancelled()

    def start(self, total: int, done: int = 0) -> None:
        self.runner.update(self.job, total=total, done=done)
        self._check()

    def advance(self, n: int) -> None:
        self.runner.update(self.job, done=self.job.done + n)
        self._check()

    def note(self, text: str) -> None:
        self.runner.update(self.job, notes=self.job.notes + [text])


class JobRunner:
    """Runs jobs one after another in a background thread of the process that owns the library."""

    def __init__(self, library: Library, embedder_factory: Callable[[], object] | None = None,
                 schedule: Callable[[], tuple[str, dict] | None] | None = None):
        self.library = library
        self.embedder_factory = embedder_factory  # the embedder jobs compute with (None: the library's own)
        self.schedule = schedule  # asked while idle: (kind, params) of a job that is due, or None
        self.folder = library.data_dir / "jobs"
        self.jobs: dict[str, Job] = {}
        self._cancel: set[str] = set()
        self._changed = threading.Condition()
        self.version = 0  # bumped on every change of any job: what a live view of all jobs waits on
        self._queue: list[str] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._saved_at: dict[str, float] = {}
        self._save_lock = threading.Lock()  # request threads and the job thread may save the same job

    # -- lifecycle --------------------------------------------------------------------------------------------------

    def start(self) -> "JobRunner":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._load()
        self._thread = threading.Thread(target=self._loop, name="pixcept-jobs", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Take no more jobs and cancel the running one (it keeps what it finished); returns at once."""
        with self._changed:
            self._stopping = True  # queued jobs stay queued: the next start reports them interrupted
            self._cancel.update(j.id for j in self.jobs.values() if j.state == "running")
            self._changed.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """`request_stop`, then wait for the thread to end."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def _load(self) -> None:
        for job in read_jobs(self.folder):
            if not job.finished:
                job.state, job.finished_at = "interrupted", utc_now()
                job.notes.append("The server stopped before this job finished; what it saved is kept. Resume it "
                                 "to finish the rest.")
                self._save(job)
            self.jobs[job.id] = job

    # -- requests ---------------------------------------------------------------------------------------------------

    def submit(self, kind: str, params: dict, resumed_from: str | None = None) -> Job:
        params = check_params(kind, params, self.library.settings)
        job = Job(id=f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}", kind=kind,
                  params=params, resumed_from=resumed_from)
        with self._changed:
            if self._stopping:
                raise PixceptError("The server is shutting down; the job was not started.")
            self.jobs[job.id] = job
            self._queue.append(job.id)
            self._save(job)
            self.version += 1
            self._changed.notify_all()
        self._prune_old()
        return job

    def resume(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state not in ("interrupted", "failed", "cancelled"):
            raise UsageError(f"Job {job_id} is {job.state}; only interrupted, failed or cancelled jobs can be resumed.")
        return self.submit(job.kind, job.params, resumed_from=job.id)

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        with self._changed:
            if job.state == "queued":
                self._queue.remove(job_id)
                self._finish(job, "cancelled")
            elif job.state == "running":
                self._cancel.add(job_id)
        return job

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"No job {job_id!r}.")
        return job

    def list(self, limit: int = 50) -> list[Job]:
        return sorted(self.jobs.values(), key=lambda j: j.id, reverse=True)[:limit]

    def wait(self, job_id: str, after_version: int, timeout: float) -> Job:
        """The job once its version passes `after_version` (or it finished, or `timeout` passed): a long poll."""
        job = self.get(job_id)
        with self._changed:
            self._changed.wait_for(lambda: job.version > after_version or job.finished, timeout)
        return job

    def wait_any(self, after_version: int, timeout: float) -> int | None:
        """The runner's version once it passes `after_version` (a job queued, changed or finished), or after
        `timeout`; None once the runner is stopping (a live view ends)."""
        with self._changed:
            self._changed.wait_for(lambda: self.version > after_version or self._stopping, timeout)
            return None if self._stopping else self.version

    def cancel_requested(self, job_id: str) -> bool:
        return job_id in self._cancel

    # -- state ------------------------------------------------------------------------------------------------------

    def update(self, job: Job, save: bool = False, **changes) -> None:
        """Change a job; its file is written before anyone waiting hears of the change (when `save`, a note, or a
        second since the last write), so whoever sees a job finished also finds its file finished."""
        with self._changed:
            for key, value in changes.items():
                setattr(job, key, value)
            job.version += 1
            self.version += 1
            if save or "notes" in changes or time.monotonic() - self._saved_at.get(job.id, 0) >= SAVE_INTERVAL:
                self._save(job)
            self._changed.notify_all()

    def _finish(self, job: Job, state: str, **changes) -> None:
        self._cancel.discard(job.id)
        self.update(job, save=True, state=state, finished_at=utc_now(), **changes)

    def _save(self, job: Job) -> None:
        path = self.folder / f"{job.id}.json"
        with self._save_lock:
            atomic_write_json(path, job.to_dict())
            self._saved_at[job.id] = time.monotonic()

    def _prune_old(self) -> None:
        finished = [j for j in self.list(limit=len(self.jobs)) if j.finished]
        for job in finished[KEEP_JOBS:]:
            (self.folder / f"{job.id}.json").unlink(missing_ok=True)
            self.jobs.pop(job.id, None)

    # -- the thread -------------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        try:  # Linux: per-thread niceness, inherited by the threads this one starts
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_NICENESS)
        except (AttributeError, OSError):
            pass
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._stopping,
                                       SCHEDULE_CHECK_SECONDS if self.schedule else None)
                if self._stopping:
                    return
                job = self.jobs[self._queue.pop(0)] if self._queue else None
            if job is None:
                self._submit_scheduled()
            else:
                self._run(job)
                self._submit_scheduled()  # right after indexing, concepts may be due

    def _submit_scheduled(self) -> None:
        """Queue the scheduled work that is due, only when nothing else waits (and not again soon after it failed)."""
        if not self.schedule or self._queue:
            return
        try:
            due = self.schedule()
        except Exception:  # noqa: BLE001 - a broken schedule check must not stop the runner
            log.exception("checking the job schedule failed")
            return
        if due is None:
            return
        kind, params = due
        failed = [j.finished_at for j in self.jobs.values() if j.kind == kind and j.state == "failed" and j.finished_at]
        if failed and time.time() - datetime.fromisoformat(max(failed)).timestamp() \
                < SCHEDULE_BACKOFF_SECONDS:
            return
        log.info("scheduled %s job is due", kind)
        self.submit(kind, params)

    def _run(self, job: Job) -> None:
        self.update(job, state="running", started_at=utc_now())
        log.info("job %s (%s) started", job.id, job.kind)
        try:
            embedder = self.embedder_factory() if self.embedder_factory else None
            result = RUNNERS[job.kind](self.library, job.params, _JobProgress(self, job), embedder)
        except Cancelled:
            self._finish(job, "interrupted" if self._stopping else "cancelled",
                         notes=job.notes + ["Stopped on request; what was finished is kept."])
        except PixceptError as exc:
            if self._stopping:  # e.g. the worker process ended with the server: resumable, not failed
                self._finish(job, "interrupted", notes=job.notes + [f"Stopped with the server ({exc})."])
            else:
                self._finish(job, "failed", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a job's bug must not kill the runner
            log.exception("job %s failed", job.id)
            self._finish(job, "failed", error=f"Unexpected error: {type(exc).__name__}: {exc}")
        else:
            self._finish(job, "done", result=result)
        log.info("job %s %s", job.id, job.state)
