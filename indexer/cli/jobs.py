"""`pixcept status` and `pixcept jobs`: what the library holds, and the jobs a running server ran."""

from __future__ import annotations

import json

import click

from ..errors import PixceptError
from ..library import Library
from .common import Bar, data_dir_of, echo_listing, job_result, library_options, server_client, settings_of


@click.command()
@click.option("--json", "as_json", is_flag=True)
@library_options
def status(as_json, **params) -> None:
    """Where the library is, which model built it, and what it holds."""
    from ..lock import LOCK_NAME, StoreLockedError
    from ..manifest import read_manifest

    client = server_client(params)
    if client:
        info = client.request("GET", "/api/status")
        info["server"] = client.url
        _print_status(info, as_json)
        return
    settings = settings_of(params)
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
        f"model:       {_model_text(model)}",
        f"images:      {info.get('images', '?')}",
        f"vocabulary:  {info.get('vocabulary', '?')} words",
        f"folders:     {', '.join(info['roots']) or '-'}",
    ]
    if "server" in info:
        lines.append(f"served at:   {info['server']}")
    if "in_use" in info:
        lines.append(f"note:        {info['in_use']}")
    click.echo("\n".join(lines))


@click.command()
@click.option("--resume", "resume_id", metavar="ID", help="Run an interrupted, failed or cancelled job again.")
@click.option("--cancel", "cancel_id", metavar="ID", help="Stop a running or queued job (finished work is kept).")
@click.option("--json", "as_json", is_flag=True)
@library_options
def jobs(resume_id, cancel_id, as_json, **params) -> None:
    """The jobs a running `pixcept serve` ran for this library (indexing, vocabulary), newest first."""
    from ..jobs import read_jobs

    client = server_client(params)
    if client is None:
        if resume_id or cancel_id:
            raise PixceptError("No pixcept server holds this library, and jobs run in a server. Without one, run the "
                               "command again (`pixcept index FOLDER`...): it continues where it stopped.")
        listing = [job.to_dict() for job in reversed(read_jobs(data_dir_of(params.get("data_dir")) / "jobs"))]
    elif cancel_id:
        listing = [client.request("POST", f"/api/jobs/{cancel_id}/cancel")]
    elif resume_id:
        bar = Bar("item")
        try:
            job = client.follow(client.request("POST", f"/api/jobs/{resume_id}/resume"), bar)
        finally:
            bar.close()
        click.echo(job_result(job)["summary"])
        return
    else:
        listing = client.request("GET", "/api/jobs")["jobs"]
    echo_listing(listing, as_json, "No jobs yet.", _job_line)


def _job_line(job: dict) -> str:
    progress = f"{job['done']}/{job['total']}" if job["total"] else ""
    outcome = (job.get("result") or {}).get("summary") or job.get("error") or ""
    return f"{job['id']}  {job['kind']:<6} {job['state']:<11} {progress:>11}  {outcome}"


def _model_text(model: dict | None) -> str:
    return f"{model['name']} {model['pretrained']} ({model['dim']}-d)" if model else "-"
