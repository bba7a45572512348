"""The `pixcept` command line."""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path

import click

from .config import CollectionOptions, Settings, default_data_dir
from .errors import PixceptError
from .library import Library
from .progress import Progress

log = logging.getLogger("indexer")


def _data_dir(option: str | None) -> Path:
    return Path(option or default_data_dir()).expanduser()


def _settings(params: dict) -> Settings:
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
        data_dir=_data_dir(params.pop("data_dir")),
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


def _open(params: dict, command: str) -> Library:
    return Library.open(_settings(params), command=command)


class _Bar(Progress):
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
        self.exit_code = error.exit_code


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


@click.group(cls=PixceptGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.version_option(package_name="pixcept")
def cli(verbose: bool) -> None:
    """pixcept: semantic image search with concepts, self-hosted."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        # open_clip logs download failures on the root logger; pixcept reports them itself, with advice.
        logging.getLogger().addFilter(lambda record: record.name != "root")


@cli.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Remove images whose files are gone from these folders.")
@click.option("--reindex", is_flag=True, help="Rebuild every image and word with the (new) model, beside the current "
                                              "vectors, switching when done.")
@click.option("--force", is_flag=True, help="Prune or reindex even where folders lost most of their images.")
@click.option("--batch-size", type=click.IntRange(1, 1024), default=32, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), help="Decoding threads (default: one per core, up to 8).")
@library_options
@collection_options
def index(folders, prune, reindex, force, batch_size, workers, **params) -> None:
    """Index the images under FOLDERS (recursively, incrementally)."""
    from .roots import check_roots

    roots = check_roots(folders, data_dir=_data_dir(params.get("data_dir")))
    job = {"folders": [str(r) for r in roots], "prune": prune, "reindex": reindex, "force": force,
           "batch_size": batch_size, "workers": workers}
    result = _run_job(params, "index", job, _Bar("img"), "pixcept index")
    click.echo(result["summary"])
    for problem in result["problems"][:10]:
        click.echo(f"  {problem['path']}: {problem['reason']}", err=True)
    if result["problem_count"] > 10:
        click.echo(f"  ... and {result['problem_count'] - 10} more", err=True)
    if result["report_path"]:
        click.echo(f"Files not indexed, with reasons: {result['report_path']}", err=True)
    if result["missing"]:
        click.echo(f"{result['missing']} indexed images were not found in these folders any more; "
                   "`pixcept index --prune FOLDER` removes them.", err=True)


def _server_client(params: dict):
    """The running server that holds this library, if any: then commands go through it (it owns the store)."""
    from server.client import ServerClient

    if params.get("qdrant_url"):
        return None
    client = ServerClient.for_data_dir(_data_dir(params.get("data_dir")))
    if client:
        click.echo(f"The pixcept server at {client.url} holds this library; asking it.", err=True)
    return client


def _refuse_model_change(client, model: str | None) -> None:
    """A server indexes with its own model; asking for another through it would silently be ignored."""
    served = (client.request("GET", "/api/status").get("model") or {}).get("spec")
    if model and served and model != served:
        raise PixceptError(f"The server at {client.url} indexes with {served}, not {model}. To change the model, stop "
                           "the server, run `pixcept index --reindex --model ...` and start it again.")


def _job_result(job: dict) -> dict:
    if job["state"] == "done":
        return job["result"]
    if job["state"] == "interrupted":  # the server stopped or restarted its worker; Ctrl-C here cancels instead
        raise PixceptError(f"The server's {job['kind']} job was interrupted (the server stopped or restarted). "
                           f"What it saved is kept: `pixcept jobs --resume {job['id']}` finishes it.")
    if job["state"] == "cancelled":
        raise KeyboardInterrupt
    raise PixceptError(f"The server's {job['kind']} job failed: {job.get('error')}")


@cli.command()
@click.argument("action", required=False, type=click.Choice(["add"]))
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@library_options
@collection_options
def vocab(action, file, **params) -> None:
    """Embed the vocabulary that labels concepts.

    `pixcept vocab` embeds pixcept's default vocabulary (several thousand visual words); `pixcept vocab add FILE`
    adds your own words and phrases (one a line, # for comments). Words already embedded are skipped.
    """
    from .vocab import DEFAULT_SOURCE, USER_SOURCE, default_vocabulary, read_entries_file

    if action == "add":
        if file is None:
            raise click.UsageError("`pixcept vocab add` needs a FILE with one word or phrase a line.")
        _add_vocabulary(params, read_entries_file(file), USER_SOURCE, f"user:{file.name}", "pixcept vocab add")
        return
    if file is not None:
        raise click.UsageError("Did you mean `pixcept vocab add FILE`?")
    version, entries = default_vocabulary()
    _add_vocabulary(params, entries, DEFAULT_SOURCE, version, "pixcept vocab")


def _add_vocabulary(params: dict, entries: list[str], source: str, version: str, command: str) -> None:
    from .vocab import USER_SOURCE

    job = {"entries": entries, "version": version} if source == USER_SOURCE else {}
    click.echo(_run_job(params, "vocab", job, _Bar("word"), command)["summary"])


def _run_job(params: dict, kind: str, job: dict, bar: "_Bar", command: str) -> dict:
    """Run a job through the server that holds the library, or here when none does; its result either way."""
    from .jobs import run_here

    client = _server_client(params)
    try:
        if client:
            if kind == "index":
                _refuse_model_change(client, params.get("model"))
            return _job_result(client.run_job(kind, job, bar))
        with _open(params, command) as library:
            _say_loading(library)
            return run_here(library, kind, job, bar)
    finally:
        bar.close()


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@library_options
def status(as_json, **params) -> None:
    """Where the library is, which model built it, and what it holds."""
    from .lock import LOCK_NAME, StoreLockedError
    from .manifest import read_manifest

    client = _server_client(params)
    if client:
        info = client.request("GET", "/api/status")
        info["server"] = client.url
        _print_status(info, as_json)
        return
    settings = _settings(params)
    manifest = read_manifest(settings.data_dir)
    if not manifest and not (settings.data_dir / LOCK_NAME).exists():  # opening it would make a library here
        raise click.ClickException(f"{settings.data_dir} is not a pixcept library (it has no manifest.json). "
                                   "`pixcept index FOLDER` makes one; --data-dir or PIXCEPT_DATA_DIR points elsewhere.")
    info = {
        "data_dir": str(settings.data_dir),
        "store": settings.qdrant_url or (manifest.get("store") or {}).get("kind", "-"),
        "model": manifest.get("model"),
        "roots": manifest.get("roots", []),
        "vocabularies": manifest.get("vocabularies") or {},
    }
    try:
        with Library.open(settings, command="pixcept status") as library:
            info = library.status()
    except StoreLockedError as exc:
        info["in_use"] = str(exc)
    _print_status(info, as_json)


def _print_status(info: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    model = info["model"]
    lines = [
        f"data dir:    {info['data_dir']}",
        f"store:       {info['store']}",
        f"model:       {model['name'] + ' ' + model['pretrained'] + ' (' + str(model['dim']) + '-d)' if model else '-'}",
        f"images:      {info.get('images', '?')}",
        f"vocabulary:  {info.get('vocabulary', '?')} words",
        f"folders:     {', '.join(info['roots']) or '-'}",
    ]
    if "server" in info:
        lines.append(f"served at:   {info['server']}")
    if "in_use" in info:
        lines.append(f"note:        {info['in_use']}")
    click.echo("\n".join(lines))


@cli.command()
@click.option("--resume", "resume_id", metavar="ID", help="Run an interrupted, failed or cancelled job again.")
@click.option("--cancel", "cancel_id", metavar="ID", help="Stop a running or queued job (finished work is kept).")
@click.option("--json", "as_json", is_flag=True)
@library_options
def jobs(resume_id, cancel_id, as_json, **params) -> None:
    """The jobs a running `pixcept serve` ran for this library (indexing, vocabulary), newest first."""
    from .jobs import read_jobs

    client = _server_client(params)
    if client is None:
        if resume_id or cancel_id:
            raise PixceptError("No pixcept server holds this library, and jobs run in a server. Without one, run the "
                               "command again (`pixcept index FOLDER`...): it continues where it stopped.")
        listing = [job.to_dict() for job in reversed(read_jobs(_data_dir(params.get("data_dir")) / "jobs"))]
    elif cancel_id:
        listing = [client.request("POST", f"/api/jobs/{cancel_id}/cancel")]
    elif resume_id:
        bar = _Bar("item")
        try:
            job = client.follow(client.request("POST", f"/api/jobs/{resume_id}/resume"), bar)
        finally:
            bar.close()
        click.echo(_job_result(job)["summary"])
        return
    else:
        listing = client.request("GET", "/api/jobs")["jobs"]
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    if not listing:
        click.echo("No jobs yet.", err=True)
    for job in listing:
        progress = f"{job['done']}/{job['total']}" if job["total"] else ""
        outcome = (job.get("result") or {}).get("summary") or job.get("error") or ""
        click.echo(f"{job['id']}  {job['kind']:<6} {job['state']:<11} {progress:>11}  {outcome}")


@cli.command()
@click.option("--host", envvar="PIXCEPT_HOST", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but localhost needs --read-token.")
@click.option("--port", envvar="PIXCEPT_PORT", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--threads", envvar="PIXCEPT_THREADS", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Requests served at once.")
@click.option("--workers", envvar="PIXCEPT_WORKERS", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes; more than 1 only with a Qdrant server (QDRANT_URL).")
@click.option("--read-token", envvar="PIXCEPT_READ_TOKEN", help="Token needed to search (required off localhost).")
@click.option("--admin-token", envvar="PIXCEPT_ADMIN_TOKEN",
              help="Token needed to run jobs. Default: one made in the data directory for this user's CLI.")
@click.option("--max-upload-mb", envvar="PIXCEPT_MAX_UPLOAD_MB", type=click.FloatRange(0.1, 1000), default=20,
              show_default=True)
@click.option("--searches-per-minute", envvar="PIXCEPT_SEARCHES_PER_MINUTE", type=click.FloatRange(0), default=300,
              show_default=True, help="Per client, for requests that run the model; 0: no limit.")
@click.option("--session-lifetime", envvar="PIXCEPT_SESSION_LIFETIME", default="7d", show_default=True,
              help="How long a browser stays signed in (30m, 12h, 7d).")
@click.option("--quiet", is_flag=True, help="No access log.")
@library_options
@collection_options
def serve(host, port, threads, workers, read_token, admin_token, max_upload_mb, searches_per_minute,
          session_lifetime, quiet, **params) -> None:
    """Serve the web app and JSON API (gunicorn). This process then owns the library: other pixcept commands on the
    same data directory go through it."""
    from server.app import ServerConfig
    from server.serve import serve as run_server

    from .concepts.schedule import parse_duration

    config = ServerConfig(read_token=read_token, admin_token=admin_token, max_upload_mb=max_upload_mb,
                          searches_per_minute=searches_per_minute,
                          session_lifetime=parse_duration(session_lifetime, "--session-lifetime"))
    run_server(_settings(params), config, host=host, port=port, workers=workers, threads=threads,
               access_log=not quiet)


@cli.command()
@click.option("--to", "url", help="Copy the library to the Qdrant server at this URL (API key: --qdrant-api-key).")
@library_options
@collection_options
def migrate(url, **params) -> None:
    """Move the library to another store without re-embedding.

    Without --to: from qdrant-client local mode to Qdrant Edge, the faster embedded engine. With --to URL: from the
    embedded store to a Qdrant server (or cluster), which the library then uses. The old embedded folder is kept,
    renamed, as a backup.
    """
    from .migrate import migrate_to_edge, migrate_to_server

    settings = _settings(params)

    def progress(name: str, done: int, total: int) -> None:
        click.echo(f"\r{name}: {done}/{total}", nl=False, err=True)

    if url:
        counts, backup = migrate_to_server(settings, url, progress)
        where = f"the Qdrant server at {url}; set QDRANT_API_KEY when the server needs it"
    else:
        counts, backup = migrate_to_edge(settings, progress)
        where = "Qdrant Edge"
    click.echo("", err=True)
    moved = ", ".join(f"{n} {name}" for name, n in counts.items())
    click.echo(f"Moved {moved} to {where}. The old store is kept in {backup}; delete it once all is well.")


@cli.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path, file_okay=False), default="pixcept-demo")
@click.option("--per-pair", type=click.IntRange(1, 50), default=4, show_default=True,
              help="Pictures of each colour x shape pair.")
def demo(folder: Path, per_pair: int) -> None:
    """Try pixcept offline: generate a sample library of coloured shapes in FOLDER and index it with the demo model.

    The demo model is a tiny CLIP trained on this closed world only: it knows 8 colours and 6 shapes, nothing else.
    """
    from .demo import demo_model_spec, demo_vocabulary
    from .demo.world import write_library
    from .index import index_folders
    from .vocab import add_entries

    photos, data_dir = folder / "photos", folder / "data"
    click.echo(f"Drawing {per_pair * 48} pictures into {photos}...", err=True)
    written = write_library(photos, per_pair=per_pair)
    settings = Settings(data_dir=data_dir, model=demo_model_spec())
    with Library.open(settings, command="pixcept demo") as library:
        summary = index_folders(library, [photos])
        add_entries(library, demo_vocabulary(), "demo", "demo-1")
    sample = next(iter(written))
    env = f"PIXCEPT_DATA_DIR={data_dir}"
    click.echo(f"{summary.describe()}.\n\nTry next:\n"
               f"  {env} pixcept search red circle\n"
               f"  {env} pixcept search star -yellow\n"
               f"  {env} pixcept search --image {sample}\n"
               f"  {env} pixcept status")


def _say_loading(library: Library) -> None:
    spec = library.settings.model or library.recorded_model_spec()
    click.echo(f"Loading CLIP model {spec or 'ViT-B-32:laion2b_s34b_b79k (default)'}...", err=True)


from . import cli_concepts, cli_search  # noqa: E402,F401  (register `search`, `cluster` and `concepts` on `cli`)


def main() -> None:
    cli(prog_name="pixcept")


if __name__ == "__main__":  # `python -m indexer.cli`: the commands in other modules registered on `indexer.cli`
    from indexer.cli import main as registered_main

    registered_main()
