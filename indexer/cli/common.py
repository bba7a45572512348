"""What every command shares: its setting flags (from the one settings table), progress, errors, listings."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Callable, NoReturn

import click

from ..config import BY_PARAM, SETTINGS, Setting, Settings, boolean, current_values, load_settings
from ..errors import PixceptError
from ..progress import Progress
from .backend import open_backend

log = logging.getLogger("indexer")


class SettingType(click.ParamType):
    """A flag's text read as its settings row reads the environment's: one rule, one message, for both."""

    def __init__(self, setting: Setting):
        self.setting = setting
        self.name = setting.param

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return self.setting.parse(value)
        except PixceptError as exc:
            self.fail(str(exc), param, ctx)


def setting_options(*groups: str) -> Callable:
    """The flags of the settings rows in these groups (`indexer.config.SETTINGS`), each defaulting to None so
    `settings_of` can tell "not given" (then the environment or the default decides) from a value."""
    defaults = current_values(Settings())

    def decorate(command):
        for setting in reversed([s for s in SETTINGS if s.flag and s.group in groups]):
            default = setting.default_text or (defaults[setting.name] if setting.name != "data_dir" else None)
            shown = f"; default: {_shown(default)}" if default not in (None, (), False) else ""
            help_text = f"{setting.help} [env: {setting.variable}{shown}]"
            metavar = setting.flag.lstrip("-").upper().replace("-", "_")
            if "/" in setting.flag or setting.read is boolean:
                switch = {} if "/" in setting.flag else {"is_flag": True, "flag_value": True}
                command = click.option(setting.flag, setting.param, default=None, help=help_text, **switch)(command)
            else:
                command = click.option(setting.flag, setting.param, type=SettingType(setting), default=None,
                                       metavar=metavar, help=help_text)(command)
        return command
    return decorate


def _shown(value: Any) -> str:
    return str(value) if not isinstance(value, float) or value != int(value) else str(int(value))


library_options = setting_options("library")
collection_options = setting_options("collection")


def settings_of(params: dict, sources: dict[str, str] | None = None) -> Settings:
    """The settings from the command's setting flags (taken out of `params`), the environment and the defaults;
    `sources` is filled with where each came from."""
    given = {name: params.pop(name) for name in list(params) if name in BY_PARAM}
    return load_settings(given, sources=sources)


class Bar(Progress):
    """tqdm progress for the terminal (silent when stderr is not a terminal)."""

    def __init__(self, unit: str):
        self.unit = unit
        self.bar = None

    def start(self, total: int, done: int = 0) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, unit=self.unit, file=sys.stderr, disable=None, dynamic_ncols=True)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def note(self, text: str) -> None:
        self.close()
        click.echo(text, err=True)


class _PixceptError(click.ClickException):
    def __init__(self, error: PixceptError):
        super().__init__(str(error))
        self.exit_code = error.exit_code  # type: ignore[misc]  # click declares it on the class: 1


class PixceptGroup(click.Group):
    """pixcept's own errors become one clear message and an exit code, never a stack trace."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PixceptError as exc:
            raise _PixceptError(exc) from exc
        except KeyboardInterrupt:
            click.echo("Interrupted. Everything finished so far is saved; run the command again to continue.",
                       err=True)
            raise click.exceptions.Exit(130) from None


def run_job(settings: Settings, kind: str, job: dict, bar: "Bar", command: str) -> dict:
    """Run a job through the server that holds the library, or here when none does; its result either way."""
    try:
        with open_backend(settings, command) as backend:
            return backend.run_job(kind, job, bar)
    finally:
        bar.close()


def no_good_match(closest: list[str], as_json: bool) -> NoReturn:
    """The library holds nothing like the query: nothing on stdout for pipes (an empty list with --json), the
    closest named for people on stderr, exit 1 (as grep does)."""
    named = ", ".join(closest[:3])
    click.echo("No good match: the library holds nothing like this, or the model does not know the words."
               + (f" Closest, but weak: {named}." if named else "") + " --all lists them anyway.", err=True)
    if as_json:
        click.echo("[]")
    sys.exit(1)


def echo_listing(items: list, as_json: bool, empty: str, line: Callable[[Any], str]) -> None:
    """A listing as every command prints one: JSON with --json; else a line per item, or `empty` on stderr."""
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo(empty, err=True)
    for item in items:
        click.echo(line(item))
