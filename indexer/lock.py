"""One process at a time may open an embedded store. The lock says who holds it, so others can say so clearly."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import TextIO

import portalocker

from .clock import utc_now
from .errors import PixceptError

LOCK_NAME = "pixcept.lock"


class StoreLockedError(PixceptError):
    """Another live process holds the data directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DataDirLock:
    """An exclusive OS lock on `<data dir>/pixcept.lock`, holding JSON about its owner.

    The OS releases the lock when the owner dies, so a lock file left behind by a killed process is simply taken
    over (stale); the JSON content is only there to explain who holds a live lock.
    """

    def __init__(self, data_dir: Path, command: str):
        self.path = Path(data_dir) / LOCK_NAME
        self.command = command
        self._handle: TextIO | None = None
        self._info: dict = {}
        self.previous_owner: dict | None = None  # set when a stale lock was taken over

    def acquire(self) -> "DataDirLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            portalocker.lock(handle, portalocker.LOCK_EX | portalocker.LOCK_NB)
        except portalocker.LockException:
            handle.close()
            raise StoreLockedError(self._held_message(read_lock_info(self.path))) from None
        handle.seek(0)
        old = _parse(handle.read())
        if old and old.get("pid") != os.getpid():
            self.previous_owner = old
        self._handle = handle
        self._info = {
            "pid": os.getpid(),
            "command": self.command,
            "host": socket.gethostname(),
            "started_at": utc_now(),
        }
        self.update()
        return self

    def update(self, **extra) -> None:
        """Rewrite the owner record, adding `extra` (e.g. the serving URL once it is known)."""
        assert self._handle is not None, "update() of a lock not held"
        self._info.update(extra)
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps(self._info))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def release(self) -> None:
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()  # an empty file reads as "free" even before the OS lock goes
        self._handle.flush()
        portalocker.unlock(self._handle)
        self._handle.close()
        self._handle = None

    def __enter__(self) -> "DataDirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def _held_message(self, info: dict | None) -> str:
        where = self.path.parent
        if not info:
            return (f"The pixcept data directory {where} is in use by another process. Wait for it to finish or stop "
                    f"it, then try again.")
        since = info.get("started_at", "an unknown time")
        who = f"process {info.get('pid')} (`{info.get('command', 'pixcept')}`, started {since} on {info.get('host')})"
        advice = "Wait for it to finish, or stop it, then run this command again."
        if info.get("url"):
            advice = f"It is serving at {info['url']}; use the web app there, or stop it first."
        return (f"The pixcept data directory {where} is in use by {who}. Only one process can open it at a time. "
                f"{advice}")


def _parse(text: str) -> dict | None:
    try:
        value = json.loads(text) if text.strip() else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_lock_info(path: Path) -> dict | None:
    """Who holds (or last held) the lock, or None. Waits briefly for a writer that has just taken the lock."""
    for _ in range(5):
        try:
            info = _parse(Path(path).read_text())
        except OSError:
            return None
        if info:
            return info
        time.sleep(0.05)
    return None


def live_holder(data_dir: Path) -> dict | None:
    """The lock record of a live process on this machine holding `data_dir`; None when free (or held elsewhere)."""
    path = Path(data_dir) / LOCK_NAME
    info = read_lock_info(path)
    if not info or not _pid_alive(int(info.get("pid", 0) or 0)) or info.get("host") != socket.gethostname():
        return None
    return None if _released(path) else info


def _released(path: Path) -> bool:
    """True when nobody holds the OS lock: its holder died (a killed server's worker can linger as a zombie, whose
    PID still looks alive, but the OS let go of its lock)."""
    try:
        handle = open(path, "a+")
    except OSError:
        return False
    try:
        portalocker.lock(handle, portalocker.LOCK_SH | portalocker.LOCK_NB)
    except portalocker.LockException:
        return False
    finally:
        handle.close()  # closing lets go of a lock taken just now
    return True


def describe_holder(data_dir: Path) -> str | None:
    """A one-line description of a live lock holder, for `pixcept status` run elsewhere; None when free."""
    info = live_holder(data_dir)
    return f"pid {info['pid']} ({info.get('command')})" if info else None

