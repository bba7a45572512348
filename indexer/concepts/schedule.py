"""When a library's concepts are due for a new run: never made yet, enough images changed since the published run
(the setting `schedule.cluster_changed`, PIXCEPT_CLUSTER_CHANGED, default 5 %), or the run is older than
`schedule.cluster_every` (PIXCEPT_CLUSTER_EVERY, default 1d; "off" stops the server's schedule) and anything changed
at all. The server asks this while idle; `pixcept cluster --if-changed`
asks it once (cron)."""

from __future__ import annotations

from datetime import datetime, timezone

from ..library import Library
from ..store import IMAGES
from . import publish
from .algorithm import default_min_concept_size


def scheduled(library: Library) -> bool:
    """False when the cluster schedule is off: then only people (or cron: `pixcept cluster --if-changed`) start
    runs."""
    return library.settings.schedule.cluster_every is not None


def scheduled_job(library: Library) -> tuple[str, dict] | None:
    """The job a server's runner should start now, if any (asked while it is idle)."""
    return ("cluster", {"if_changed": True}) if scheduled(library) and due_reason(library) else None


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
    schedule = library.settings.schedule
    if changed >= schedule.cluster_changed * at_run:
        return f"{changed} images changed since run {current.run} ({changed / at_run:.0%})"
    published_at = record.get("published_at")
    if changed and published_at and schedule.cluster_every is not None:
        age = (datetime.now(timezone.utc) - datetime.fromisoformat(published_at)).total_seconds()
        if age >= schedule.cluster_every:
            return f"run {current.run} is {age / 3600:.0f} h old and {changed} images changed since"
    return None
