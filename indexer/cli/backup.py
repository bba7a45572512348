"""`pixcept backup` and `pixcept restore`: the library copied into a folder that is a data folder of its own, and
back (`indexer.backup`). A backup runs as a job of the server that holds the library, or here when none does."""

from __future__ import annotations

from pathlib import Path

import click

from .common import Bar, library_options, run_job, settings_of


@click.command()
@click.argument("destination", type=click.Path(path_type=Path, file_okay=False))
@click.option("--no-thumbnails", is_flag=True, help="Leave the thumbnails out (`pixcept index` makes them again).")
@library_options
def backup(destination, no_thumbnails, **params) -> None:
    """Back the library up into DESTINATION, a folder that does not exist yet (consistent while a server runs)."""
    settings = settings_of(params)
    job = {"destination": str(destination.absolute()), "thumbnails": not no_thumbnails}
    result = run_job(settings, "backup", job, Bar("pt"), "pixcept backup")
    points = result["points"]
    click.echo(f"Backed up {points.get('images', 0):,} images, {points.get('selections', 0):,} selection entries and "
               f"the concept runs to {result['destination']}" + ("" if result["thumbnails"] else
                                                                  " (without thumbnails)") + ".")


@click.command()
@click.argument("source", type=click.Path(path_type=Path, file_okay=False, exists=True))
@library_options
def restore(source, **params) -> None:
    """Restore the backup in SOURCE as the library of --data-dir (which must be empty), or into the Qdrant server of
    QDRANT_URL (which must not hold its collections yet)."""
    from ..backup import restore_library

    settings = settings_of(params)
    restored = restore_library(source, settings)
    click.echo(f"Restored {restored['points'].get('images', 0):,} images into {restored['data_dir']}; "
               "`pixcept serve` serves it.")
