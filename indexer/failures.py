"""Files that failed to index, remembered by size and mtime, so that a rerun does not read a 1 GB junk file or
decode a bomb again: until the file changes, it is reported with its old reason without being opened."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .durable import atomic_write_json
from .images import FoundFile

log = logging.getLogger(__name__)

FILE_NAME = "failed-files.json"
MTIME_TOLERANCE = 1e-6
NOT_READ_AGAIN = " (unchanged since it failed; not read again)"


class FailedFiles:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / FILE_NAME
        self.entries: dict[str, dict] = self._load()
        self.changed = False

    def _load(self) -> dict:
        try:
            entries = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("ignoring the unreadable list of failed files %s", self.path)
            return {}
        return entries if isinstance(entries, dict) else {}

    def reason(self, found: FoundFile) -> str | None:
        """The reason `found` failed before, if it has not changed since."""
        entry = self.entries.get(found.path)
        if entry and entry.get("size") == found.size and abs(entry.get("mtime", 0) - found.mtime) < MTIME_TOLERANCE:
            return entry.get("reason")
        return None

    def record(self, found: FoundFile, reason: str) -> None:
        self.entries[found.path] = {"size": found.size, "mtime": found.mtime, "reason": reason}
        self.changed = True

    def forget(self, paths) -> None:
        for path in paths:
            if self.entries.pop(path, None) is not None:
                self.changed = True

    def save(self) -> None:
        """Written whole or not at all (JSON escapes paths that are not UTF-8 losslessly)."""
        if not self.changed:
            return
        atomic_write_json(self.path, self.entries)
        self.changed = False
