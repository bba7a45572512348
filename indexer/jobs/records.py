"""A job's record: what it is, how far it got, how it ended; a JSON file per job under `<data dir>/jobs/`."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..clock import utc_now
from ..errors import NotFoundError

log = logging.getLogger(__name__)

FINISHED = ("done", "failed", "cancelled", "interrupted")


class JobNotFound(NotFoundError):
    pass


@dataclass
class Job:
    id: str
    kind: str
    params: dict
    state: str = "queued"  # queued -> running -> done | failed | cancelled; interrupted (server stopped)
    created_at: str = field(default_factory=utc_now)
    started_at: str | None = None
    finished_at: str | None = None
    total: int = 0
    done: int = 0
    notes: list[str] = field(default_factory=list)
    result: dict | None = None
    error: str | None = None
    resumed_from: str | None = None
    version: int = 0  # bumped on every change, so watchers can wait for the next one

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED



def read_jobs(folder: Path, pattern: str = "*.json") -> list[Job]:
    """The jobs recorded in `folder` (those whose file names match `pattern`), oldest first (unreadable files are
    skipped with a warning)."""
    jobs = []
    for path in sorted(Path(folder).glob(pattern)):
        try:
            jobs.append(Job(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            log.warning("ignoring unreadable job file %s", path)
    return jobs
