"""When a library's concepts are due for a new run: never made yet, enough images changed since the published run
(PIXCEPT_CLUSTER_CHANGED, default 5 %), or the run is older than PIXCEPT_CLUSTER_EVERY (default 1d; "off" stops the
server's schedule) and anything changed at all. The server asks this while idle; `pixcept cluster --if-changed`
asks it once (cron)."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

from ..errors import UsageError
from ..library import Library
from ..store import IMAGES
from . import publish
from .algorithm import default_min_concept_size

DEFAULT_EVERY = "1d"
DEFAULT_CHANGED = 0.05
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


OFF = ("off", "never", "no", "0")


def scheduled() -> bool:
    """False when PIXCEPT_CLUSTER_EVERY is off: then only people (or cron: `pixcept cluster --if-changed`) start
    runs."""
    return (os.environ.get("PIXCEPT_CLUSTER_EVERY") or DEFAULT_EVERY).strip().lower() not in OFF


def scheduled_job(library: Library) -> tuple[str, dict] | None:
    """The job a server's runner should start now, if any (asked while it is idle)."""
    return ("cluster", {"if_changed": True}) if scheduled() and due_reason(library) else None


def parse_duration(text: str, name: str = "PIXCEPT_CLUSTER_EVERY") -> float:
    """Seconds in "90", "30m", "6h", "1d"; `name` is the setting the text came from, for the message."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*", text or "")
    if not match:
        raise UsageError(f"{name} must be a duration like 30m, 6h or 1d, not {text!r}.")
    return float(match[1]) * _UNITS[match[2] or "s"]


def parse_share(text: str) -> float:
    """0.05 or "5%"."""
    try:
        value = float(text.strip().rstrip("%")) / (100 if text.strip().endswith("%") else 1)
    except ValueError:
        value = -1
    if not 0 <= value <= 1:
        raise UsageError(f"PIXCEPT_CLUSTER_CHANGED must be a share like 0.05 or 5%, not {text!r}.")
    return value


def every_seconds() -> float:
    return parse_duration(os.environ.get("PIXCEPT_CLUSTER_EVERY") or DEFAULT_EVERY)


def changed_share() -> float:
    value = os.environ.get("PIXCEPT_CLUSTER_CHANGED")
    return parse_share(value) if value else DEFAULT_CHANGED


def due_reason(library: Library) -> str | None:
    """Why a run is due now, or None."""
    images = library.store.count(IMAGES)
    record = publish.state(library)
    current = publish.published(library)
    if current is None:
        needed = 3 * default_min_concept_size(images)
        last = (record.get("history") or [{}])[-1]
        if images < needed or (last.get("state") == "skipped" and last.get("images", -1) == images):
            return None
        return "no concepts yet"
    changed = int(record.get("changed_since", 0))
    at_run = max(1, int(record.get("images_at_run", images) or 1))
    if changed >= changed_share() * at_run:
        return f"{changed} images changed since run {current.run} ({changed / at_run:.0%})"
    published_at = record.get("published_at")
    if changed and published_at:
        age = (datetime.now(timezone.utc) - datetime.fromisoformat(published_at)).total_seconds()
        if age >= every_seconds():
            return f"run {current.run} is {age / 3600:.0f} h old and {changed} images changed since"
    return None
