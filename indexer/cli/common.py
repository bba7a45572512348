"""The `pixcept` command line."""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import click

from ..config import CollectionOptions, Settings, default_data_dir
from ..errors import PixceptError
from ..library import Library
from ..progress import Progress

log = logging.getLogger("indexer")


def data_dir_of(option: str | None) -> Path:
    return Path(option or default_data_dir()).expanduser()


def settings_of(params: dict) -> Settings:
    options = CollectionOptions(
        shard_number=params.pop("shards", None),
        replication_factor=params.pop("replicas", None),
        write_consistency_factor=params.pop("write_consistency", None),
        on_disk=bool(params.pop("on_disk", False)),
        quantization=(lambda q: None if q in (None, "none") else q)(params.pop("quantization", None)),
        hnsw_m=params.pop("hnsw_m", None),
        hnsw_ef_construct=params.pop("hnsw_ef_construct", None),
    )
    return Settings(
        data_dir=data_dir_of(params.pop("data_dir")),
        model=params.pop("model") or None,
        qdrant_url=params.pop("qdrant_url") or None,
        qdrant_api_key=params.pop("qdrant_api_key") or None,
        collection_prefix=params.pop("collection_prefix"),
        collection_options=options,
        device=params.pop("device") or None,
        store=params.pop("store") or None,
    )


def library_options(command):
    """Options every command shares: where the library is and which model reads it."""
    decorators = [
        click.option("--data-dir", envvar="PIXCEPT_DATA_DIR", type=click.Path(file_okay=False),
                     help="Library folder (manifest, thumbnails, embedded store). Default: per-user data folder."),
        click.option("--model", envvar="PIXCEPT_MODEL",
                     help="CLIP model: ARCH:TAG (default ViT-B-32:laion2b_s34b_b79k), ARCH:/weights.pt, "
                          "local-dir:/folder or hf-hub:org/repo. Read commands default to the library's model."),
        click.option("--qdrant-url", envvar="QDRANT_URL", help="Use this Qdrant server instead of the embedded store."),
        click.option("--qdrant-api-key", envvar="QDRANT_API_KEY", help="API key for the Qdrant server."),
        click.option("--collection-prefix", envvar="PIXCEPT_COLLECTION_PREFIX", default="pixcept", show_default=True,
                     help="Prefix of the collection names, so several libraries can share one server."),
        click.option("--device", envvar="PIXCEPT_DEVICE", help="torch device (default: cuda when available)."),
        click.option("--store", envvar="PIXCEPT_STORE", type=click.Choice(["edge", "local"]),
                     help="Embedded store for a new library: Qdrant Edge (default) or qdrant-client local mode."),
    ]
    return functools.reduce(lambda cmd, deco: deco(cmd), reversed(decorators), command)


def collection_options(command):
    """Server-only collection settings, applied when a command creates the collections."""
    decorators = [
        click.option("--shards", envvar="PIXCEPT_QDRANT_SHARDS", type=click.IntRange(1), help="Qdrant shard_number."),
        click.option("--replicas", envvar="PIXCEPT_QDRANT_REPLICAS", type=click.IntRange(1),
                     help="Qdrant replication_factor."),
        click.option("--write-consistency", envvar="PIXCEPT_QDRANT_WRITE_CONSISTENCY", type=click.IntRange(1),
                     help="Qdrant write_consistency_factor."),
        click.option("--on-disk/--in-memory", envvar="PIXCEPT_QDRANT_ON_DISK", default=False,
                     help="Keep vectors on disk (server)."),
        click.option("--quantization", envvar="PIXCEPT_QDRANT_QUANTIZATION", type=click.Choice(["none", "int8"]),
                     help="Scalar int8 quantization (server)."),
        click.option("--hnsw-m", envvar="PIXCEPT_QDRANT_HNSW_M", type=click.IntRange(4), help="HNSW m (server)."),
        click.option("--hnsw-ef-construct", envvar="PIXCEPT_QDRANT_HNSW_EF_CONSTRUCT", type=click.IntRange(4),
                     help="HNSW ef_construct (server)."),
    ]
    return functools.reduce(lambda cmd, deco: deco(cmd), reversed(decorators), command)


def open_library(params: dict, command: str) -> Library:
    return Library.open(settings_of(params), command=command)


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


def server_client(params: dict):
    """The running server that holds this library, if any: then commands go through it (it owns the store)."""
    from .client import ServerClient

    if params.get("qdrant_url"):
        return None
    client = ServerClient.for_data_dir(data_dir_of(params.get("data_dir")))
    if client:
        click.echo(f"The pixcept server at {client.url} holds this library; asking it.", err=True)
    return client


def refuse_model_change(client, model: str | None) -> None:
    """A server indexes with its own model; asking for another through it would silently be ignored."""
    served = (client.request("GET", "/api/status").get("model") or {}).get("spec")
    if model and served and model != served:
        raise PixceptError(f"The server at {client.url} indexes with {served}, not {model}. To change the model, stop "
                           "the server, run `pixcept index --reindex --model ...` and start it again.")


def job_result(job: dict) -> dict:
    if job["state"] == "done":
        return job["result"]
    if job["state"] == "interrupted":  # the server stopped or restarted its worker; Ctrl-C here cancels instead
        raise PixceptError(f"The server's {job['kind']} job was interrupted (the server stopped or restarted). "
                           f"What it saved is kept: `pixcept jobs --resume {job['id']}` finishes it.")
    if job["state"] == "cancelled":
        raise KeyboardInterrupt
    raise PixceptError(f"The server's {job['kind']} job failed: {job.get('error')}")


def run_job(params: dict, kind: str, job: dict, bar: "Bar", command: str) -> dict:
    """Run a job through the server that holds the library, or here when none does; its result either way."""
    from ..jobs import run_here

    client = server_client(params)
    try:
        if client:
            if kind == "index":
                refuse_model_change(client, params.get("model"))
            return job_result(client.run_job(kind, job, bar))
        with open_library(params, command) as library:
            say_loading(library)
            return run_here(library, kind, job, bar)
    finally:
        bar.close()


def echo_listing(items: list, as_json: bool, empty: str, line: Callable[[Any], str]) -> None:
    """A listing as every command prints one: JSON with --json; else a line per item, or `empty` on stderr."""
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo(empty, err=True)
    for item in items:
        click.echo(line(item))


def say_loading(library: Library) -> None:
    spec = library.settings.model or library.recorded_model_spec()
    click.echo(f"Loading CLIP model {spec or 'ViT-B-32:laion2b_s34b_b79k (default)'}...", err=True)


