"""Times as pixcept records them: UTC, to the second, ISO 8601."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> str:
    """Now, e.g. "2026-12-03T21:08:22+00:00"."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
