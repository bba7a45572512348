"""`pixcept status` and `pixcept jobs`: what the library holds, and the jobs a running server ran."""

from __future__ import annotations

import json
import sys

import click

from .backend import open_backend
from .common import Bar, echo_listing, library_options, run_job, settings_of


@click.command()
@click.option("--json", "as_json", is_flag=True)
@library_options
def status(as_json, **params) -> None:
    """Where the library is, which model built it, and what it holds."""
    with open_backend(settings_of(params), "pixcept status") as backend:
        _print_status(backend.status(), as_json)


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
        f"concepts:    {_concepts_text(info.get('concepts'))}",
    ]
    if info.get("failed_files"):
        lines.append(f"failed:      {info['failed_files']} files could not be indexed (`pixcept index` lists why)")
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
    """The jobs a running `pixcept serve` ran for this library (index, vocab, cluster, search-index), newest
    first."""
    with open_backend(settings_of(params), "pixcept jobs") as backend:
        if resume_id:
            bar = Bar("item")
            try:
                click.echo(backend.resume_job(resume_id, bar)["summary"])
            finally:
                bar.close()
            return
        listing = [backend.cancel_job(cancel_id)] if cancel_id else backend.jobs()
    echo_listing(listing, as_json, "No jobs yet.", _job_line)


def _job_line(job: dict) -> str:
    progress = f"{job['done']}/{job['total']}" if job["total"] else ""
    outcome = (job.get("result") or {}).get("summary") or job.get("error") or ""
    return f"{job['id']}  {job['kind']:<6} {job['state']:<11} {progress:>11}  {outcome}"


def _concepts_text(concepts: dict | None) -> str:
    if not concepts:
        return "?"
    if concepts["run"] is None:
        last = concepts.get("last_run")
        made = f"none; run {last['run']} was skipped: {last['reason']}" if last else "none yet (`pixcept cluster`)"
    else:
        made = (f"{concepts['concepts']} (run {concepts['run']}, {concepts.get('published_at') or '-'}), "
                f"{concepts['outliers']:,} images in none")
    return made + (f"; a new run is due: {concepts['due']}" if concepts.get("due") else "")


def _model_text(model: dict | None) -> str:
    return f"{model['name']} {model['pretrained']} ({model['dim']}-d)" if model else "-"


@click.command("check")
@library_options
def check(**params) -> None:
    """Check the library's consistency (points, paths, the published concept run); exit 1 when something is wrong.
    Through the server when one holds the library (a job there)."""
    found = run_job(settings_of(params), "check", {}, Bar("points"), "pixcept check")["problems"]
    for problem in found:
        click.echo(problem)
    if found:
        sys.exit(1)
    click.echo("No problems found.", err=True)
