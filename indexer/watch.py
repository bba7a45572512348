"""Watching the indexed folders, so that a server indexes what changed soon after it changed rather than at the next
rescan: watchdog's observer (inotify on Linux, FSEvents on macOS, ReadDirectoryChangesW on Windows).

Each picture created, changed, moved or deleted marks its folder (a folder created marks itself; one deleted or moved
away, the folder that held it); a marked folder is due once nothing changed in it for QUIET_SECONDS (a copy of a
thousand files is one job, not a thousand), and is then indexed with pruning, as a rescan would. Events can be lost
(a network file system sends none, a queue can overflow): the rescan interval stays the safety net.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from .images import is_image_name

log = logging.getLogger(__name__)

QUIET_SECONDS = 10.0
FILE_CHANGES = (FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent)
FOLDER_CHANGES = (DirCreatedEvent, DirDeletedEvent, DirMovedEvent)


class FolderWatcher(FileSystemEventHandler):
    """Marks the folders where pictures changed; `due()` hands over those quiet for long enough."""

    def __init__(self, ignore: Sequence[Path] = (), wake: Callable[[], None] | None = None,
                 quiet: float | None = None):
        self.ignore = [str(Path(p).resolve()) for p in ignore]  # e.g. the data folder: its thumbnails change
        self.wake = wake  # told when a change arrives, so the scheduler looks again once it is quiet
        self.quiet = QUIET_SECONDS if quiet is None else quiet
        self.problem: str | None = None  # why some folder is not watched (shown to admins)
        self._observer = Observer()
        self._observer.daemon = True
        self._started = False
        self._watches: dict[str, ObservedWatch] = {}
        self._marked: dict[str, float] = {}  # folder -> time of its last change
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    # -- what is watched --------------------------------------------------------------------------------------------

    def follow(self, roots: Sequence[str]) -> None:
        """Watch exactly `roots` (the library's indexed folders), recursively."""
        wanted = {str(root) for root in roots}
        for root in set(self._watches) - wanted:
            self._observer.unschedule(self._watches.pop(root))
        if wanted and not self._started:  # started first: a watch scheduled on a running observer fails at once
            self._observer.start()
            self._started = True
        problems = []
        for root in sorted(wanted - set(self._watches)):
            try:
                self._watches[root] = self._observer.schedule(self, root, recursive=True)
            except OSError as exc:  # gone, unreadable, or the system's watch limit (fs.inotify.max_user_watches)
                problems.append(f"{root}: {exc}")
        if problems:
            self.problem = "Not watched, so indexed at the rescan interval only: " + "; ".join(problems)
            log.warning(self.problem)
        else:
            self.problem = None

    @property
    def watched(self) -> list[str]:
        return sorted(self._watches)

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        if self._started:
            self._observer.stop()
            self._observer.join(timeout=5)

    # -- changes ----------------------------------------------------------------------------------------------------

    def on_any_event(self, event: FileSystemEvent) -> None:
        folders = _changed_folders(event)
        if not folders:
            return
        now = time.monotonic()
        with self._lock:
            for folder in folders:
                if not any(_inside(folder, ignored) for ignored in self.ignore):
                    self._marked[folder] = now
        self._arm()

    def _arm(self) -> None:
        """Wake the scheduler when the newest change still settling is `quiet` seconds old: one timer at a time, and
        none for folders already quiet (they wait for the scheduler, which also looks every minute and after each
        job)."""
        with self._lock:
            now = time.monotonic()
            settling = [at for at in self._marked.values() if now - at < self.quiet]
            if self.wake is None or self._timer is not None or not settling:
                return
            self._timer = threading.Timer(max(settling) + self.quiet - now + 0.1, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            now = time.monotonic()
            quiet = any(now - at >= self.quiet for at in self._marked.values())
        if quiet and self.wake:
            self.wake()
        self._arm()  # folders that changed again meanwhile

    def due(self, now: float | None = None) -> list[str]:
        """The marked folders quiet for `quiet` seconds (none inside another: it covers them), unmarked."""
        now = time.monotonic() if now is None else now
        with self._lock:
            quiet = sorted(f for f, at in self._marked.items() if now - at >= self.quiet)
            for folder in quiet:
                del self._marked[folder]
        return [f for f in quiet if not any(_inside(f, other) for other in quiet if other != f)]

    def pending(self) -> bool:
        with self._lock:
            return bool(self._marked)


def _inside(folder: str, other: str) -> bool:
    """`folder` is `other` or lies inside it (paths as the observer reports them: strings, no file system access)."""
    return folder == other or folder.startswith(other.rstrip("/") + "/")


def _changed_folders(event: FileSystemEvent) -> list[str]:
    paths = [os.fsdecode(p) for p in (event.src_path, getattr(event, "dest_path", "")) if p]
    if isinstance(event, DirCreatedEvent):
        return paths  # all it holds is new
    if isinstance(event, FOLDER_CHANGES):  # gone from its folder; moved to a new place, all of it new there
        return [str(Path(paths[0]).parent), *paths[1:]]
    if isinstance(event, FILE_CHANGES):
        return [str(Path(p).parent) for p in paths if is_image_name(Path(p).name)]
    return []  # opened, closed without writing: nothing changed
