"""Every setting of pixcept, in one table (`SETTINGS`), and the one `Settings` object made from it.

A row names its field, its default, how its text is read, its environment variable and, for those a command takes,
its command-line flag. The command line builds its options from the rows (`indexer/cli/common.py`), `load_settings`
reads the environment by them (a flag first, then the environment, then what an admin saved on the admin page for the
settings a running server may change, then the default), and everything else reads the `Settings` object it is
handed: no other module reads the environment. `pixcept settings` shows each value and where it came from. A
`Settings` built in code (tests, notebooks) holds its defaults and what it was given, never the environment.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from .durable import atomic_write_json
from .errors import UsageError


def default_data_dir() -> Path:
    """The per-user data folder, following each platform's convention."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "pixcept"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "pixcept"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "pixcept"


# -- the sections of the settings object -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CollectionOptions:
    """Collection settings that only a Qdrant server honours (local mode accepts and drops them)."""

    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    on_disk: bool = False
    quantization: str | None = None  # None or "int8"
    hnsw_m: int | None = None
    hnsw_ef_construct: int | None = None


@dataclass(frozen=True)
class ImageLimits:
    """What pixcept agrees to decode (`indexer.images.limits` applies them)."""

    max_megapixels: float = 120.0  # a 100 MP medium-format camera passes
    max_aspect: float = 50.0  # a long screenshot passes; a 100000 x 1 strip would make CLIP's resize gigabytes
    max_file_mb: float | None = None  # None: each format's own limit (indexer.images.formats)


@dataclass(frozen=True)
class Schedule:
    """When a server starts a concept run by itself (`indexer.concepts.schedule`)."""

    cluster_every: float | None = 86400.0  # seconds; None: never by itself (people, or cron, start runs)
    cluster_changed: float = 0.05  # share of the images changed since the published run
    index_every: float | None = None  # seconds between scans of the indexed folders for changes; None: never
    watch: bool = True  # watch the indexed folders (inotify...) and index a changed one once it is quiet


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 8
    workers: int = 1
    read_token: str | None = None  # None: reading is open (only allowed on localhost: see server/serve.py)
    admin_token: str | None = None  # None: a local one is made in the data directory
    edit_token: str | None = None  # None: editing (selections) is open wherever reading is open without a token
    max_upload_mb: float = 20.0
    export_at_once: int = 2000  # images: larger exports from the web run in the background
    searches_per_minute: float = 300.0  # per client; 0 turns the limit off
    session_lifetime: float = 7 * 86400.0  # seconds a browser stays signed in
    quiet: bool = False  # no access log
    log_format: str = "text"  # or "json": one JSON object a line
    # how the process runs, not settings a person chooses: tests and `serve` set them
    search_burst: int = 60
    run_jobs_in_worker: bool = True
    run_jobs: bool = True  # False: this server runs no jobs (several workers share one queue: jobs/runner.py)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    model: str | None = None  # None: the library's recorded model, or the default for a new library
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    collection_prefix: str = "pixcept"
    collection_options: CollectionOptions = field(default_factory=CollectionOptions)
    device: str | None = None
    store: str | None = None  # embedded backend for a new library: "edge" (default) or "local"
    limits: ImageLimits = field(default_factory=ImageLimits)
    schedule: Schedule = field(default_factory=Schedule)
    worker_idle_seconds: float = 300.0  # the job worker's child exits after this long unused; 0: never
    allow_folders: tuple[Path, ...] = ()  # folders that may be indexed although they lie in a refused place
    server: ServerConfig = field(default_factory=ServerConfig)

    @property
    def uses_server(self) -> bool:
        return bool(self.qdrant_url)


# -- how a setting's text is read --------------------------------------------------------------------------------------
# Each reader takes the text of a flag or a variable and returns the value, or raises ValueError saying what the text
# must be ("a positive number"); `load_settings` turns that into one message naming the flag and the variable.

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OFF = ("off", "never", "no", "0")


def text(value: str) -> str:
    return value


def optional_text(value: str) -> str | None:
    return value.strip() or None


def path(value: str) -> Path:
    return Path(value).expanduser()


def folders(value: str) -> tuple[Path, ...]:
    """Folders separated by the path separator (':' on Linux), resolved."""
    return tuple(Path(part).expanduser().resolve() for part in value.split(os.pathsep) if part.strip())


def number_at_least(low: float, high: float | None = None, above: bool = False) -> Callable[[str], float]:
    def read(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not (number > low if above else number >= low) or (high is not None and number > high):
            bound = f"above {low:g}" if above else f"at least {low:g}"
            raise ValueError(f"a number {bound}" + (f" and at most {high:g}" if high is not None else ""))
        return number
    return read


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    def read(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if number < low or (high is not None and number > high):
            raise ValueError(f"a whole number from {low}" + (f" to {high}" if high is not None else " up"))
        return number
    return read


def choice(*values: str) -> Callable[[str], str]:
    def read(value: str) -> str:
        if value.strip().lower() not in values:
            raise ValueError(f"one of {', '.join(values)}")
        return value.strip().lower()
    return read


def boolean(value: str) -> bool:
    word = value.strip().lower()
    if word not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError("true or false")
    return word in ("1", "true", "yes", "on")


def duration(value: str) -> float:
    """Seconds in "90", "30m", "6h", "1d"."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*", value or "")
    if not match:
        raise ValueError("a duration like 30m, 6h or 1d")
    return float(match[1]) * _UNITS[match[2] or "s"]


def duration_or_off(value: str) -> float | None:
    if value.strip().lower() in OFF:
        return None
    try:
        return duration(value)
    except ValueError:
        raise ValueError("a duration like 30m, 6h or 1d, or off") from None


def share(value: str) -> float:
    """0.05 or "5%"."""
    try:
        number = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
    except ValueError:
        number = -1
    if not 0 <= number <= 1:
        raise ValueError("a share like 0.05 or 5%")
    return number


# -- the table ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    name: str  # the field in Settings, dotted for a section: "server.read_token"
    help: str
    read: Callable[[str], Any] = optional_text
    env: str = ""  # default: PIXCEPT_ and the field's name in capitals
    flag: str | None = None  # the command-line flag ("--on-disk/--in-memory" for a switch); None: environment only
    group: str = "library"  # which commands take the flag: library, collection, serve
    secret: bool = False  # never shown, only whether it is set
    keep_blank: bool = False  # a blank variable is a value (refused later), not "unset"
    runtime: bool = False  # may change while a server runs (the admin page edits these)
    default_text: str = ""  # the default as a person would type it ("7d"), where the value alone is unclear

    @property
    def variable(self) -> str:
        return self.env or "PIXCEPT_" + self.name.rsplit(".", 1)[-1].upper()

    @property
    def param(self) -> str:
        """The click parameter's name."""
        return self.name.replace(".", "__")

    @property
    def label(self) -> str:
        return f"{self.flag.split('/')[0]} ({self.variable})" if self.flag else self.variable

    def parse(self, value: str) -> Any:
        try:
            return self.read(value)
        except ValueError as exc:
            raise UsageError(f"{self.label} must be {exc}, not {value!r}.") from None


SETTINGS: tuple[Setting, ...] = (
    # where the library is and which model reads it: every command
    Setting("data_dir", "Library folder (manifest, thumbnails, embedded store). Default: per-user data folder.",
            path, flag="--data-dir"),
    Setting("model", "CLIP model: ARCH:TAG (default ViT-B-32:laion2b_s34b_b79k), ARCH:/weights.pt, local-dir:/folder "
            "or hf-hub:org/repo. Read commands default to the library's model.", flag="--model"),
    Setting("qdrant_url", "Use this Qdrant server instead of the embedded store.", env="QDRANT_URL",
            flag="--qdrant-url"),
    Setting("qdrant_api_key", "API key for the Qdrant server.", env="QDRANT_API_KEY", flag="--qdrant-api-key",
            secret=True),
    Setting("collection_prefix", "Prefix of the collection names, so several libraries can share one server.",
            text, flag="--collection-prefix"),
    Setting("device", "torch device (default: cuda when available).", flag="--device"),
    Setting("store", "Embedded store for a new library: Qdrant Edge (default) or qdrant-client local mode.",
            choice("edge", "local"), flag="--store"),
    # collections a command creates on a Qdrant server
    Setting("collection_options.shard_number", "Qdrant shard_number.", whole_number(1), "PIXCEPT_QDRANT_SHARDS",
            "--shards", "collection"),
    Setting("collection_options.replication_factor", "Qdrant replication_factor.", whole_number(1),
            "PIXCEPT_QDRANT_REPLICAS", "--replicas", "collection"),
    Setting("collection_options.write_consistency_factor", "Qdrant write_consistency_factor.", whole_number(1),
            "PIXCEPT_QDRANT_WRITE_CONSISTENCY", "--write-consistency", "collection"),
    Setting("collection_options.on_disk", "Keep vectors on disk (server).", boolean, "PIXCEPT_QDRANT_ON_DISK",
            "--on-disk/--in-memory", "collection"),
    Setting("collection_options.quantization", "Scalar int8 quantization (server).",
            lambda value: None if choice("none", "int8")(value) == "none" else "int8", "PIXCEPT_QDRANT_QUANTIZATION",
            "--quantization", "collection"),
    Setting("collection_options.hnsw_m", "HNSW m (server).", whole_number(4), "PIXCEPT_QDRANT_HNSW_M", "--hnsw-m",
            "collection"),
    Setting("collection_options.hnsw_ef_construct", "HNSW ef_construct (server).", whole_number(4),
            "PIXCEPT_QDRANT_HNSW_EF_CONSTRUCT", "--hnsw-ef-construct", "collection"),
    # `pixcept serve`
    Setting("server.host", "Address to listen on. Anything but localhost needs --read-token.", text,
            flag="--host", group="serve"),
    Setting("server.port", "Port to listen on.", whole_number(1, 65535), flag="--port", group="serve"),
    Setting("server.threads", "Requests served at once.", whole_number(1, 256), flag="--threads", group="serve"),
    Setting("server.workers", "Worker processes; more than 1 only with a Qdrant server (QDRANT_URL).",
            whole_number(1, 64), flag="--workers", group="serve"),
    Setting("server.read_token", "Token needed to search (required off localhost).", text, flag="--read-token",
            group="serve", secret=True, keep_blank=True),
    Setting("server.edit_token", "Token needed to change selections (the editor role; the admin token may too). "
            "Default: editing is open where reading is (localhost without a read token), else admin only.", text,
            flag="--edit-token", group="serve", secret=True, keep_blank=True),
    Setting("server.admin_token", "Token needed to run jobs. Default: one made in the data directory for this "
            "user's CLI (which the CLI also sends to a server it finds there).", text, flag="--admin-token",
            group="serve", secret=True, keep_blank=True),
    Setting("server.max_upload_mb", "Largest upload, in MB.", number_at_least(0.1, 1000), flag="--max-upload-mb",
            group="serve"),
    Setting("server.export_at_once", "Exports from the web of more images than this run in the background "
            "(progress, cancel, the file kept a day); smaller ones download as they are written.", whole_number(1),
            flag="--export-at-once", group="serve"),
    Setting("server.searches_per_minute", "Per client, for requests that run the model; 0: no limit.",
            number_at_least(0), flag="--searches-per-minute", group="serve", runtime=True),
    Setting("server.session_lifetime", "How long a browser stays signed in (30m, 12h, 7d).", duration,
            flag="--session-lifetime", group="serve", default_text="7d"),
    Setting("server.quiet", "No access log.", boolean, flag="--quiet", group="serve"),
    Setting("server.log_format", "Log lines as text or json (one JSON object a line, with request IDs).",
            choice("text", "json"), flag="--log-format", group="serve"),
    # read where they are used, by every command; the environment only
    Setting("limits.max_megapixels", "Largest image decoded, in megapixels (from its header, before decoding).",
            number_at_least(0, above=True), runtime=True),
    Setting("limits.max_aspect", "Most extreme aspect ratio decoded (50 means 50:1).",
            number_at_least(0, above=True), runtime=True),
    Setting("limits.max_file_mb", "Largest file read, in MB, for every format (default: each format's own "
            "limit).", number_at_least(0, above=True), runtime=True),
    Setting("schedule.cluster_every", "A server reclusters by itself when its concepts are this old and anything "
            "changed (30m, 6h, 1d; off: never by itself).", duration_or_off, runtime=True, default_text="1d"),
    Setting("schedule.cluster_changed", "... or at once when this share of the images changed (0.05 or 5%).", share,
            runtime=True),
    Setting("schedule.index_every", "A server indexes its folders again (new, changed and removed files) this "
            "long after the last index (30m, 6h, 1d; off: only when asked).", duration_or_off, runtime=True,
            default_text="off"),
    Setting("schedule.watch", "A server watches its folders (inotify on Linux) and indexes a folder soon after "
            "pictures in it changed; off: only the rescan interval (network file systems send no changes).",
            boolean, runtime=True, default_text="on"),
    Setting("worker_idle_seconds", "The job worker process exits after this many seconds unused, giving its "
            "memory back (0: never).", number_at_least(0), runtime=True),
    Setting("allow_folders", "Folders that may be indexed although they lie in a refused place (/root, /etc...), "
            "separated by ':' (';' on Windows).", folders),
)
BY_PARAM = {setting.param: setting for setting in SETTINGS}


RUNTIME = {setting.name: setting for setting in SETTINGS if setting.runtime}
SAVED_FILE = "settings.json"  # in the data folder: the runtime settings an admin saved, as typed


def load_settings(given: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
                  sources: dict[str, str] | None = None) -> Settings:
    """The settings: each from `given` (command-line values by parameter name; None: not given), else the
    environment, else (runtime settings) what was saved in the data folder, else its default. `sources`, when
    passed, is filled with where each came from."""
    given = given or {}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        value, source = given.get(setting.param), "flag"
        if value is None:
            raw = environ.get(setting.variable)
            if raw is None or (not raw.strip() and not setting.keep_blank):
                continue
            value, source = setting.parse(raw), "environment"
        values[setting.name] = value
        if sources is not None:
            sources[setting.name] = source
    saved = saved_settings(values.get("data_dir") or default_data_dir())
    for name, value in saved.items():
        if name not in values:
            values[name] = value
            if sources is not None:
                sources[name] = "saved"
    return with_values(Settings(), values)


def saved_texts(data_dir: Path) -> dict[str, str]:
    """The runtime settings saved in the data folder, as they were typed ({name: text})."""
    path = Path(data_dir) / SAVED_FILE
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} cannot be read ({exc}): correct it, or delete it to use the defaults.") from None
    return {name: text for name, text in saved.items() if name in RUNTIME and isinstance(text, str)} \
        if isinstance(saved, dict) else {}


def saved_settings(data_dir: Path) -> dict[str, Any]:
    """The runtime settings saved in the data folder, read ({name: value})."""
    try:
        return {name: RUNTIME[name].parse(text) for name, text in saved_texts(data_dir).items()}
    except UsageError as exc:
        raise UsageError(f"{Path(data_dir) / SAVED_FILE}: {exc}") from None


def save_settings(data_dir: Path, changes: Mapping[str, str]) -> dict[str, Any]:
    """Save runtime settings (as typed; a blank text goes back to the default) in the data folder, where every
    command and a restarted server read them; nothing is saved unless every change reads. Returns the changed
    settings' values."""
    unknown = [name for name in changes if name not in RUNTIME]
    if unknown:
        raise UsageError(f"Not a setting a running server can change: {', '.join(map(str, unknown))}. These can: "
                         f"{', '.join(RUNTIME)}.")
    defaults = current_values(Settings())
    values = {name: RUNTIME[name].parse(text.strip()) if text.strip() else defaults[name]
              for name, text in changes.items()}
    saved = {**saved_texts(data_dir), **{name: text.strip() for name, text in changes.items()}}
    atomic_write_json(Path(data_dir) / SAVED_FILE, {name: text for name, text in saved.items() if text}, indent=1)
    return values


def with_values(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """`settings` with the named fields (dotted for a section) changed."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        section, _, key = name.rpartition(".")
        if section:
            sections.setdefault(section, {})[key] = value
        else:
            top[key] = value
    for section, changes in sections.items():
        top[section] = replace(getattr(settings, section), **changes)
    return replace(settings, **top)


def current_values(settings: Settings) -> dict[str, Any]:
    """Each row's value in `settings`, by name."""
    def value_of(name: str) -> Any:
        target: Any = settings
        for part in name.split("."):
            target = getattr(target, part)
        return target
    return {setting.name: value_of(setting.name) for setting in SETTINGS}


def setting_text(setting: Setting, value: Any) -> str:
    """A value as a person types it for `setting`: "6h", "off", "0.05"."""
    if setting.read in (duration, duration_or_off):
        if value is None:
            return "off"
        unit = next((u for u in ("d", "h", "m") if value >= _UNITS[u] and value % _UNITS[u] == 0), "s")
        return f"{value / _UNITS[unit]:g}{unit}"
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def runtime_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> list[dict]:
    """The settings a running server may change (the admin page's form): each with its value as typed, where it
    comes from (environment, saved, default) and whether the page may change it (not when the environment sets
    it: that would win again at the next start)."""
    environ = os.environ if environ is None else environ
    saved, values = saved_texts(settings.data_dir), current_values(settings)
    rows = []
    for name, setting in RUNTIME.items():
        fixed = bool(environ.get(setting.variable, "").strip())
        rows.append({"name": name, "help": setting.help, "value": setting_text(setting, values[name]),
                     "source": "environment" if fixed else "saved" if name in saved else "default",
                     "variable": setting.variable, "editable": not fixed})
    return rows


def _check_table() -> None:
    """Every row names a field, and every field a person sets has a row (an import-time check: a new field without
    a row would silently never be read)."""
    names = {setting.name for setting in SETTINGS}
    internal = {"server.search_burst", "server.run_jobs_in_worker", "server.run_jobs"}

    def walk(instance: Any, prefix: str) -> set[str]:
        found = set()
        for item in fields(instance):
            value = getattr(instance, item.name)
            name = prefix + item.name
            found |= walk(value, name + ".") if is_dataclass(value) else {name}
        return found

    missing = walk(Settings(), "") - names - internal
    unknown = names - walk(Settings(), "")
    if missing or unknown:
        raise RuntimeError(f"settings without a row: {missing}; rows without a field: {unknown}")


_check_table()
