"""A long-lived child process for the CPU-heavy parts of jobs, so a serving process stays responsive.

Why a process and not a thread: CLIP batches keep every core busy and UMAP holds the GIL for tens of seconds. In a
child process, at a lower scheduling priority (nice), that work runs on its own torch thread pool and interpreter, and
the OS gives the search requests of the serving process the cores first. The child loads the model once and stays
warm between jobs. The embedded store stays in the parent (it can only be opened by one process); the child only
computes.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import tempfile
import threading
import time
from typing import Any, Sequence

import numpy as np

from .config import Settings
from .errors import PixceptError

log = logging.getLogger(__name__)

WORKER_NICENESS = 10  # CFS weight 110 against 1024: searches get ~90 % of a contended core
# An idle worker exits after this long (it holds the model: 1.1 GB with ViT-B-32) and comes back on the next job.
DEFAULT_IDLE_SECONDS = Settings.worker_idle_seconds
MODEL_REQUESTS = ("embed_tensors", "embed_texts")
PR_SET_PDEATHSIG = 1  # Linux prctl option: a signal for this process when its parent ends


class WorkerError(PixceptError):
    """The worker process failed or died; the job that used it stops with this message."""


def _child_main(conn, model_spec: str, device: str | None, niceness: int) -> None:
    """The child's loop: one request at a time, ("name", args) -> ("ok", result) | ("error", message)."""
    _die_with_parent()
    try:
        os.nice(niceness)
    except OSError:
        pass
    from .embed import load_embedder

    embedder = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if message is None:
            return
        name, args = message
        try:
            if name == "ping":
                conn.send(("ok", os.getpid()))
                continue
            if name == "fit_concepts":  # no model needed: UMAP's compiled code stays warm here between runs
                conn.send(("ok", _fit_concepts(*args)))
                continue
            if name == "optimize_shard":  # Edge's index build holds the interpreter: here, not in the server
                from .store.edge import optimize_folder

                optimize_folder(args)
                conn.send(("ok", None))
                continue
            if name not in MODEL_REQUESTS:
                raise ValueError(f"unknown worker request {name!r}")
            if embedder is None:  # loaded on the first job, then kept warm
                embedder = load_embedder(model_spec, device=device)
            if name == "embed_tensors":
                import torch

                result = embedder.embed_tensors(list(torch.from_numpy(args)))
            else:
                result = embedder.embed_texts(args)
            conn.send(("ok", result))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _die_with_parent() -> None:
    """End this child the moment its parent (the serving process) ends, killed or gone with gunicorn's master: work
    nobody will record must not run on. On Linux the kernel kills it (PR_SET_PDEATHSIG; that works while UMAP holds
    the interpreter, and the parent spawns it from its long-lived job thread, whose end the kernel also counts as
    the parent's); everywhere a thread waits on the parent's sentinel as well."""
    parent = multiprocessing.parent_process()
    libc = _libc()
    if libc is not None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is None:
        return
    if os.getppid() != parent.pid:  # the parent ended before the kernel was asked to watch it
        os._exit(1)

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="pixcept-parent-watch", daemon=True).start()


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _fit_concepts(input_path: str, settings: dict, output: str) -> str:
    from .concepts.algorithm import ConceptSettings, fit_concepts, save_concepts

    vectors = np.load(input_path, mmap_mode="r")  # no copy: the fit reads unit-length float32 rows as they are
    save_concepts(fit_concepts(vectors, ConceptSettings(**settings)), output)
    return output


class JobWorker:
    """The parent's handle on the child: started on first use, restarted after a crash, one request at a time."""

    def __init__(self, model_spec: str, device: str | None = None, niceness: int = WORKER_NICENESS,
                 idle_seconds: float | None = None):
        self.model_spec = model_spec
        self.device = device
        self.niceness = niceness
        self.idle_seconds = DEFAULT_IDLE_SECONDS if idle_seconds is None else max(0.0, idle_seconds)
        self._lock = threading.Lock()
        self._process: Any = None  # a spawn context's Process
        self._conn: Any = None  # its end of the pipe
        self._last_used = 0.0
        self._idle_timer: threading.Timer | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def call(self, name: str, args: Any = None) -> Any:
        with self._lock:
            self._ensure_started()
            try:
                self._conn.send((name, args))
                status, result = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                code = self._process.exitcode if self._process else None
                self._stop()
                raise WorkerError(f"The job worker process died (exit code {code}); out of memory? The job stops "
                                  "here and can be resumed.") from None
            self._last_used = time.monotonic()
            self._schedule_idle_exit()
        if status != "ok":
            raise WorkerError(f"The job worker failed: {result}")
        return result

    def _schedule_idle_exit(self) -> None:
        """One pending timer at a time; it re-arms itself while calls keep coming."""
        if self.idle_seconds > 0 and (self._idle_timer is None or not self._idle_timer.is_alive()):
            self._arm_idle_timer(self.idle_seconds)

    def _arm_idle_timer(self, seconds: float) -> None:
        self._idle_timer = threading.Timer(seconds, self._exit_if_idle)
        self._idle_timer.daemon = True
        self._idle_timer.start()

    def _exit_if_idle(self) -> None:
        """Stop the child when no call came for `idle_seconds`; the next call starts it again."""
        with self._lock:
            if self._process is None:
                return
            idle = time.monotonic() - self._last_used
            if idle >= self.idle_seconds:
                log.info("job worker idle for %.0f s: stopping it", idle)
                self._stop()
                return
        self._arm_idle_timer(self.idle_seconds - idle)

    def embed_tensors(self, tensors: Sequence) -> np.ndarray:
        import torch

        return self.call("embed_tensors", torch.stack(list(tensors)).numpy())

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.call("embed_texts", list(texts))

    def fit_concepts(self, vectors: np.ndarray, settings) -> object:
        """`fit_concepts` in the worker: UMAP holds the GIL for tens of seconds, which would stall a serving
        process. The vectors go over by a temporary .npy file (memory-mapped there), the result comes back by files."""
        from dataclasses import asdict

        from .concepts.algorithm import load_concepts

        with tempfile.TemporaryDirectory(prefix="pixcept-fit-") as folder:
            np.save(os.path.join(folder, "vectors.npy"), np.ascontiguousarray(vectors, np.float32))
            output = self.call("fit_concepts", (os.path.join(folder, "vectors.npy"), asdict(settings),
                                                os.path.join(folder, "fit")))
            return load_concepts(output)

    def optimize_shard(self, folder: str) -> None:
        """Build the search index of a copy of an Edge shard (`EdgeStore.rebuild_beside`)."""
        self.call("optimize_shard", folder)

    def _ensure_started(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        self._stop()
        # spawn, not fork: a fork of a process with torch and Qdrant threads running can deadlock
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_child_main, name="pixcept-worker", daemon=True,
                                        args=(child, self.model_spec, self.device, self.niceness))
        self._process.start()
        child.close()
        self._conn = parent
        log.info("job worker started (pid %s)", self._process.pid)

    def _stop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except (OSError, BrokenPipeError):
                pass
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None

    def kill(self) -> None:
        """End the child now, even in the middle of a call (which then fails with WorkerError): for a server going
        down, so no job work goes on that nobody will record."""
        process = self._process
        if process is not None and process.is_alive():
            process.kill()

    def close(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        with self._lock:
            self._stop()


class WorkerEmbedder:
    """An Embedder whose model runs in the worker; cheap per-image work (preprocessing) stays here."""

    def __init__(self, local, worker: JobWorker):
        self._local = local
        self._worker = worker

    def __getattr__(self, name: str):
        return getattr(self._local, name)

    @property
    def worker(self) -> JobWorker:
        return self._worker

    def embed_tensors(self, tensors: Sequence) -> np.ndarray:
        if not tensors:
            return np.zeros((0, self._local.dim), np.float32)
        return self._worker.embed_tensors(tensors)

    def embed_texts(self, texts: Sequence[str], **_) -> np.ndarray:
        return self._worker.embed_texts(texts)
