"""Settings changed while a server runs (the admin page's schedule and settings): saved in the data folder, where the
next start reads them (`config.load_settings`), and applied to the open library at once."""

from __future__ import annotations

from typing import Mapping

from .config import Settings, runtime_settings, save_settings, with_values
from .errors import UsageError
from .images import limits as image_limits
from .library import Library


def change_settings(library: Library, changes: Mapping[str, str]) -> Settings:
    """Save and apply runtime settings ({name: text as typed}; blank: back to the default). Settings the environment
    sets are refused: the environment would win again at the next start. Returns the library's new settings."""
    fixed = [row for row in runtime_settings(library.settings) if row["name"] in changes and not row["editable"]]
    if fixed:
        raise UsageError("Set by the environment, so not changed here: " + ", ".join(
            f"{row['name']} ({row['variable']})" for row in fixed) + ". Change the variable and restart the server.")
    values = save_settings(library.data_dir, changes)
    library.settings = with_values(library.settings, values)
    image_limits.configure(library.settings.limits)
    return library.settings
