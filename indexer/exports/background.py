"""Large exports in the background: written to a file in the data folder by a thread of the serving process, with
progress, cancel, and the file downloaded when done (kept a day). Small exports stream at once instead (the web
chooses by the `server.export_at_once` setting).

Everything about a run is on disk (`<data dir>/exports/<id>.json`, its file beside it, a `.cancel` marker), so every
worker process of a server answers for every run: the one that writes it and the others that are asked about it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from ..clock import utc_now
from ..durable import atomic_write_json
from ..errors import ConflictError, NotFoundError
from ..library import Library
from ..scope import scope_of
from .base import Links
from .formats import export
from .records import Source, check_source

FOLDER = "exports"
KEEP_SECONDS = 24 * 3600  # a finished run's file is deleted a day after it finished
REPORT_SECONDS = 0.5  # how often the writer records its progress
STALE_SECONDS = 300  # a run not heard from for this long died with its process (a restart): it is interrupted
MAX_RUNNING = 4  # exports written at once, all users together: each holds a thread and a file growing on disk
# Exports share the disk with the library: one never leaves less than this free, so indexing, concept runs and Qdrant
# keep room to write (a full disk mid-write is how a store gets damaged)
DISK_RESERVE = 1 << 30


@dataclass
class ExportRun:
    id: str
    source: str  # what is exported ("selection red circles")
    format: str
    state: str  # running, done, failed, cancelled
    by: str
    started_at: str
    filename: str = ""
    images: int = 0
    written: int = 0  # bytes
    total: int | None = None  # bytes, once known
    finished_at: str | None = None
    error: str | None = None
    folders: list[str] = field(default_factory=list)  # the scope of the token that started it: it sees them only

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def expired(self) -> bool:
        """Finished more than KEEP_SECONDS ago: it goes, with its file."""
        return self.finished_at is not None and \
            (datetime.now(timezone.utc) - datetime.fromisoformat(self.finished_at)).total_seconds() > KEEP_SECONDS


def start(library: Library, source: Source, fmt: str, by: str, links: Links | None = None) -> ExportRun:
    """Start writing the export in a thread of this process; the run as it starts."""
    check_source(library, source)
    folder = _folder(library)
    running = sum(run.state == "running" for run in _kept(folder))  # every user's; expired runs go on the way
    if running >= MAX_RUNNING:
        raise ConflictError(f"{running} exports are being written (at most {MAX_RUNNING} at once): wait for one to "
                            "finish, or cancel one.")
    _check_room(folder, 0)
    run = ExportRun(secrets.token_hex(8), source.title, fmt, "running", by, utc_now(),
                    folders=list(scope_of(library) or ()))
    _save(folder, run)
    threading.Thread(target=_write, args=(library, folder, run, source, links), name=f"export-{run.id}",
                     daemon=True).start()
    return run


def get(library: Library, run_id: str) -> ExportRun:
    try:
        run = _read(_folder(library) / f"{_checked(run_id)}.json")
    except FileNotFoundError:
        run = None
    if run is None or not _visible(library, run):
        raise NotFoundError(f"No export {run_id[:40]!r} (finished ones are kept a day).")
    return run


def _visible(library: Library, run: ExportRun) -> bool:
    """A token limited to folders sees the exports made within the same folders only (they hold those images)."""
    scope = scope_of(library)
    return scope is None or tuple(run.folders) == scope


def list_all(library: Library) -> list[ExportRun]:
    """Every run kept that this token may see, the newest first; expired ones are deleted on the way."""
    runs = [run for run in _kept(_folder(library)) if _visible(library, run)]
    return sorted(runs, key=lambda run: run.started_at, reverse=True)


def _kept(folder: Path) -> list[ExportRun]:
    """Every run in the folder, whoever started it; expired ones are deleted instead."""
    runs = []
    for path in folder.glob("*.json"):
        try:
            run = _read(path)
        except (OSError, ValueError, TypeError):
            continue  # being replaced, or not ours
        if run.expired:
            _delete(folder, run.id)
        else:
            runs.append(run)
    return runs


def _read(path: Path) -> ExportRun:
    known = {f.name for f in fields(ExportRun)}
    run = ExportRun(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})
    if run.state == "running" and time.time() - path.stat().st_mtime > STALE_SECONDS:
        run.state, run.error = "failed", "interrupted: the server stopped while writing it; export again"
    return run


def cancel(library: Library, run_id: str) -> ExportRun:
    """Stop a running export (its writer stops at its next chunk and deletes the part written); a finished one is
    deleted with its file."""
    run = get(library, run_id)
    folder = _folder(library)
    if run.state == "running":
        (folder / f"{run.id}.cancel").touch()
    else:
        _delete(folder, run.id)
    return run


def file_path(library: Library, run_id: str) -> tuple[Path, ExportRun]:
    """The finished export's file; ConflictError while it is being written."""
    run = get(library, run_id)
    if run.state != "done":
        raise ConflictError(f"Export {run.id} is {run.state}" + (f": {run.error}" if run.error else "") + ".")
    return _folder(library) / f"{run.id}.file", run


def _write(library: Library, folder: Path, run: ExportRun, source: Source, links: Links | None) -> None:
    part = folder / f"{run.id}.part"
    try:
        made = export(library, source, run.format, links)
        run.filename, run.images, run.total = made.filename, made.count, made.size
        _check_room(folder, made.size or 0)
        reported = 0.0
        with open(part, "wb") as out:
            for chunk in made.chunks:
                out.write(chunk)
                run.written += len(chunk)
                if time.monotonic() - reported > REPORT_SECONDS:
                    if (folder / f"{run.id}.cancel").exists():
                        raise _Cancelled()
                    if made.size is None:  # a size known at the start was checked then
                        _check_room(folder, 0)
                    _save(folder, run)
                    reported = time.monotonic()
        part.replace(folder / f"{run.id}.file")
        run.state = "done"
    except _Cancelled:
        run.state = "cancelled"
    except Exception as exc:  # noqa: BLE001 - any failure is the run's, reported on it
        run.state, run.error = "failed", str(exc) or type(exc).__name__
    finally:
        part.unlink(missing_ok=True)
        (folder / f"{run.id}.cancel").unlink(missing_ok=True)
        run.finished_at = utc_now()
        _save(folder, run)


class _Cancelled(Exception):
    pass


def _check_room(folder: Path, needed: int) -> None:
    """ConflictError unless writing `needed` more bytes leaves DISK_RESERVE free on the library's disk."""
    free = shutil.disk_usage(folder).free
    if free - needed < DISK_RESERVE:
        wanted = f"{_size(needed)} needed, " if needed else ""
        raise ConflictError(f"Not enough disk space for this export: {wanted}{_size(free)} free, and exports leave "
                            f"{_size(DISK_RESERVE)} for the library. Free some space, or export less.")


def _size(count: int) -> str:
    return f"{count / (1 << 30):.1f} GiB" if count >= 1 << 30 else f"{count / (1 << 20):.0f} MiB"


def _folder(library: Library) -> Path:
    folder = library.data_dir / FOLDER
    folder.mkdir(exist_ok=True)
    return folder


def _save(folder: Path, run: ExportRun) -> None:
    atomic_write_json(folder / f"{run.id}.json", asdict(run))


def _checked(run_id: str) -> str:
    if not (len(run_id) == 16 and all(c in "0123456789abcdef" for c in run_id)):
        raise NotFoundError(f"No export {run_id[:40]!r}.")
    return run_id


def _delete(folder: Path, run_id: str) -> None:
    for suffix in (".file", ".part", ".cancel", ".json"):
        (folder / f"{run_id}{suffix}").unlink(missing_ok=True)
