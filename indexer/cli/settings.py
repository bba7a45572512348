"""`pixcept settings`: every setting, its value here and where that came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..config import SETTINGS, current_values
from .common import setting_options, settings_of


@click.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {name, value, source, variable, flag}.")
@setting_options("library", "collection", "serve")
def settings(as_json, **params) -> None:
    """Every setting: its value (flag, then environment variable, then default), where it came from, and the
    variable and flag that set it. Tokens and keys show only whether they are set."""
    sources: dict[str, str] = {}
    values = current_values(settings_of(params, sources))
    rows = [{"name": s.name, "value": _plain(values[s.name], s.secret), "source": sources.get(s.name, "default"),
             "variable": s.variable, "flag": s.flag, "help": s.help} for s in SETTINGS]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        value = "-" if row["value"] is None else row["value"]
        click.echo(f"{row['name']:<{width}}  {value!s:<28} {row['source']:<12} {row['variable']}")


def _plain(value: Any, secret: bool) -> Any:
    """The value as JSON holds it; a secret as whether it is set."""
    if secret:
        return "(set)" if value else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [str(item) for item in value]
    return value
