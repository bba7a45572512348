"""Running jobs one after another in a background thread of the process that owns the library, with their
progress, cancellation, resumption and the idle-time schedule.

Shared (`shared=True`: a server of several worker processes on a Qdrant server): the jobs folder is the queue. Any
worker queues a job by writing its file; the one that holds `running.lock` (an OS lock, released by a dying process)
claims the oldest queued job and runs it, so exactly one job runs at a time whichever worker was asked. Every worker
reads the files again as they change (progress, ends), so each reports the same; a cancel for a job another worker
runs is a marker file beside it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import portalocker

from ..clock import utc_now
from ..durable import atomic_write_json
from ..errors import PixceptError, UsageError
from ..library import Library
from ..progress import Cancelled, Progress
from ..shared import job_lease, lease_holder, machine_name, shares
from .kinds import RUNNERS, check_params
from .records import Job, JobNotFound, read_jobs

log = logging.getLogger(__name__)

JOB_NICENESS = 10  # the job thread (and the decode threads it starts) yield the cores to request threads
SAVE_INTERVAL = 1.0  # seconds between progress writes of a job's file
KEEP_JOBS = 200  # finished job files kept on disk
SCHEDULE_CHECK_SECONDS = 60.0  # how often an idle runner asks whether scheduled work is due
SCHEDULE_BACKOFF_SECONDS = 3600.0  # a scheduled job that failed is not scheduled again for this long
SHARED_POLL_SECONDS = 0.5  # how often a shared runner reads the jobs folder for other workers' changes
RUNNING_LOCK, CLAIM_LOCK = "running.lock", "claim.lock"


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

    def __init__(self, library: Library, embedder_factory: Callable[[str | None], object] | None = None,
                 schedule: Callable[[], tuple[str, dict] | None] | None = None, shared: bool = False):
        self.library = library
        self.shared = shared  # several processes share the jobs folder (see the module's docstring)
        self.embedder_factory = embedder_factory  # (a job's model or None) -> what it computes with; None: in here
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
        self._seen: dict[str, int] = {}  # job file -> its mtime when read (shared: what changed since)
        self._running: portalocker.Lock | None = None
        self._current: str | None = None  # the job this process runs now
        self._check_now = False  # someone (the folder watcher) asks for a look at the schedule before the minute

    # -- lifecycle --------------------------------------------------------------------------------------------------

    def start(self) -> "JobRunner":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._load()
        self._thread = threading.Thread(target=self._loop, name="pixcept-jobs", daemon=True)
        self._thread.start()
        return self

    def check_schedule_now(self) -> None:
        """Ask the schedule what is due at once, not at the next minute (the folder watcher: changes are quiet)."""
        with self._changed:
            self._check_now = True
            self._changed.notify_all()

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
        if self.shared:
            self._load_shared()
            return
        for job in read_jobs(self.folder):
            if not job.finished:
                job.state, job.finished_at = "interrupted", utc_now()
                job.notes.append("The server stopped before this job finished; what it saved is kept. Resume it "
                                 "to finish the rest.")
                self._save(job)
            self.jobs[job.id] = job

    def _load_shared(self) -> None:
        """Every job on disk; those left running by a process that died (nobody holds the running lock) are marked
        interrupted. Queued ones stay queued: another worker may have queued them a moment ago."""
        self._sync()
        if not self._take_running_lock():
            return
        try:
            for job in list(self.jobs.values()):
                if job.state == "running":
                    self._finish(job, "interrupted", notes=job.notes + [
                        "The server stopped before this job finished; what it saved is kept. Resume it to finish "
                        "the rest."])
        finally:
            self._release_running_lock()

    # -- requests ---------------------------------------------------------------------------------------------------

    def submit(self, kind: str, params: dict, resumed_from: str | None = None) -> Job:
        params = check_params(kind, params, self.library.settings)
        job = Job(id=f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}", kind=kind,
                  params=params, resumed_from=resumed_from)
        with self._changed:
            if self._stopping:
                raise PixceptError("The server is shutting down; the job was not started.")
            self.jobs[job.id] = job
            if not self.shared:  # shared: the file is the queue
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
        if self.shared:
            return self._cancel_shared(job)
        with self._changed:
            if job.state == "queued":
                self._queue.remove(job_id)
                self._finish(job, "cancelled")
            elif job.state == "running":
                self._cancel.add(job_id)
        return job

    def _cancel_shared(self, job: Job) -> Job:
        with portalocker.Lock(str(self.folder / CLAIM_LOCK), timeout=10):  # not claimed meanwhile
            self._sync()
            if job.state == "queued":
                self._finish(job, "cancelled")
            elif job.state == "running" and job.id == self._current:
                self._cancel.add(job.id)
            elif job.state == "running":
                self._cancel_marker(job.id).touch()  # the worker running it stops at its next step
        return job

    def _cancel_marker(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.cancel"

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None and self.shared:  # queued through another worker a moment ago
            self._sync()
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
        return job_id in self._cancel or (self.shared and self._cancel_marker(job_id).exists())

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
        if self.shared:
            self._cancel_marker(job.id).unlink(missing_ok=True)

    def _save(self, job: Job) -> None:
        path = self.folder / f"{job.id}.json"
        with self._save_lock:
            atomic_write_json(path, job.to_dict())
            self._saved_at[job.id] = time.monotonic()
            self._seen[job.id] = path.stat().st_mtime_ns  # this process's own write: nothing to read back

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
        if self.shared:
            self._loop_shared()
            return
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._stopping or self._check_now,
                                       SCHEDULE_CHECK_SECONDS if self.schedule else None)
                if self._stopping:
                    return
                self._check_now = False
                job = self.jobs[self._queue.pop(0)] if self._queue else None
            if job is None:
                self._submit_scheduled()
            else:
                self._run(job)
                self._submit_scheduled()  # right after indexing, concepts may be due

    def _loop_shared(self) -> None:
        """Read what other workers changed; while holding the running lock, run the oldest queued job (or, idle,
        the scheduled work that is due)."""
        last_schedule_check = 0.0
        while True:
            with self._changed:
                self._changed.wait(SHARED_POLL_SECONDS)
                if self._stopping:
                    return
            self._sync()
            if not any(j.state == "queued" for j in self.jobs.values()) and not self._check_now and \
                    time.monotonic() - last_schedule_check < SCHEDULE_CHECK_SECONDS:
                continue
            self._check_now = False
            if not self._take_running_lock():
                continue  # another worker runs a job: it takes the next one too
            try:
                job = self._claim_next()
                if job is None and self.schedule:
                    last_schedule_check = time.monotonic()
                    self._submit_scheduled()
                    job = self._claim_next()
                if job is not None:
                    self._run(job)
            finally:
                self._release_running_lock()

    def _take_running_lock(self) -> bool:
        lock = portalocker.Lock(str(self.folder / RUNNING_LOCK), timeout=0, fail_when_locked=True)
        try:
            lock.acquire()
        except portalocker.LockException:
            return False
        self._running = lock
        return True

    def _release_running_lock(self) -> None:
        if self._running is not None:
            self._running.release()
            self._running = None

    def _claim_next(self) -> Job | None:
        """The oldest job queued on disk, marked running by this process (under the claim lock, against a cancel)."""
        with portalocker.Lock(str(self.folder / CLAIM_LOCK), timeout=10):
            self._sync()
            # in the order queued: a queued job's file is written once, by the worker that queued it
            queued = sorted((j for j in self.jobs.values() if j.state == "queued"),
                            key=lambda j: (self._seen.get(j.id, 0), j.id))
            if not queued:
                return None
            self.update(queued[0], save=True, state="running", started_at=utc_now())
            return queued[0]

    def _sync(self) -> None:
        """Read the job files that changed since this process last read or wrote them (other workers' jobs, their
        progress and ends); the job this process runs is its own to write."""
        changed = False
        known, present = set(self._seen), set()  # known before listing: a job queued meanwhile is not "gone"
        for path in self.folder.glob("*.json"):
            job_id = path.stem
            present.add(job_id)
            try:
                stamp = path.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            if self._seen.get(job_id) == stamp or job_id == self._current:
                continue
            found = read_jobs(path.parent, path.name)
            if not found:
                continue
            self._seen[job_id] = stamp
            with self._changed:
                job = self.jobs.get(job_id)
                if job is None:
                    self.jobs[job_id] = found[0]
                else:
                    job.__dict__.update(found[0].__dict__)
            changed = True
        with self._changed:  # files seen before and gone now: pruned by another worker
            for job_id in [j for j in self.jobs if j in known and j not in present and j != self._current]:
                self.jobs.pop(job_id, None)
                self._seen.pop(job_id, None)
        if changed:
            with self._changed:
                self.version += 1
                self._changed.notify_all()

    def _lease(self, job: Job) -> contextlib.AbstractContextManager:
        """For a Qdrant server's library, the job lease (`indexer.shared`): while another machine runs a job, this
        one waits, saying so, and can be cancelled."""
        if not shares(self.library.store):
            return contextlib.nullcontext()
        said: list[str] = []

        def waiting(other: str) -> None:
            if self.cancel_requested(job.id) or self._stopping:
                raise Cancelled()
            if other not in said:
                said.append(other)
                self.update(job, notes=job.notes + [f"Waiting: the machine {other} is running a job of this "
                                                    "library; this one starts when it ends."])

        return job_lease(self.library.store, machine_name(self.library.data_dir), waiting)

    def _submit_scheduled(self) -> None:
        """Queue the scheduled work that is due, only when nothing else waits (and not again soon after the same work
        failed: a failed rescan of every folder holds back neither the watcher's job for one folder nor the reverse),
        and no other machine runs a job: what it does may make the work no longer due."""
        if not self.schedule or self._queue:
            return
        store = self.library.store
        if shares(store) and lease_holder(store) not in (None, machine_name(self.library.data_dir)):
            return
        try:
            due = self.schedule()
        except Exception:  # noqa: BLE001 - a broken schedule check must not stop the runner
            log.exception("checking the job schedule failed")
            return
        if due is None:
            return
        kind, params = due
        try:
            params = check_params(kind, params, self.library.settings)  # as the failed job's were kept
        except PixceptError as exc:
            log.warning("the scheduled %s job cannot run: %s", kind, exc)
            return
        failed = [j.finished_at for j in self.jobs.values()
                  if (j.kind, j.params) == (kind, params) and j.state == "failed" and j.finished_at]
        if failed and time.time() - datetime.fromisoformat(max(failed)).timestamp() \
                < SCHEDULE_BACKOFF_SECONDS:
            return
        log.info("scheduled %s job is due", kind)
        self.submit(kind, params)

    def _run(self, job: Job) -> None:
        self._current = job.id
        if not self.shared:
            self.update(job, state="running", started_at=utc_now())
        log.info("job %s (%s) started", job.id, job.kind)
        try:
            with self._lease(job):
                self.library.refresh(now=True)  # another worker's or machine's job may have changed the library
                embedder = self.embedder_factory(job.params.get("model")) if self.embedder_factory else None
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
        finally:
            self._current = None
        log.info("job %s %s", job.id, job.state)
