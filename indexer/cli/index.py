"""`pixcept index` and `pixcept vocab`: images and words into the library, here or through a running server."""

from __future__ import annotations

from pathlib import Path

import click

from ..jobs import TUNING_LIMITS
from .common import Bar, collection_options, library_options, run_job, settings_of


@click.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Remove images whose files are gone from these folders.")
@click.option("--reindex", is_flag=True, help="Rebuild every image and word with the (new) model, beside the current "
                                              "vectors, switching when done.")
@click.option("--force", is_flag=True, help="Prune or reindex even where folders lost most of their images.")
@click.option("--batch-size", type=click.IntRange(1, TUNING_LIMITS["batch_size"]), default=32, show_default=True)
@click.option("--workers", type=click.IntRange(1, TUNING_LIMITS["workers"]),
              help="Decoding threads (default: one per core, up to 8).")
@library_options
@collection_options
def index(folders, prune, reindex, force, batch_size, workers, **params) -> None:
    """Index the images under FOLDERS (recursively, incrementally)."""
    from ..roots import check_roots

    settings = settings_of(params)
    roots = check_roots(folders, data_dir=settings.data_dir, allowed=settings.allow_folders)
    job = {"folders": [str(r) for r in roots], "prune": prune, "reindex": reindex, "force": force,
           "batch_size": batch_size, "workers": workers}
    result = run_job(settings, "index", job, Bar("img"), "pixcept index")
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


@click.command()
@click.argument("action", required=False, type=click.Choice(["add"]))
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@library_options
@collection_options
def vocab(action, file, **params) -> None:
    """Embed the vocabulary that labels concepts.

    `pixcept vocab` embeds pixcept's default vocabulary (several thousand visual words); `pixcept vocab add FILE`
    adds your own words and phrases (one a line, # for comments). Words already embedded are skipped.
    """
    from ..vocab import DEFAULT_SOURCE, USER_SOURCE
    from ..words import default_vocabulary, read_entries_file

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
    from ..vocab import USER_SOURCE

    job = {"entries": entries, "version": version} if source == USER_SOURCE else {}
    click.echo(run_job(settings_of(params), "vocab", job, Bar("word"), command)["summary"])




@click.command("remove-folder")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Also remove its images from the library (the files stay on disk).")
@library_options
def remove_folder(folder, prune, **params) -> None:
    """Stop indexing FOLDER, one of the library's folders (`pixcept status` lists them)."""
    settings = settings_of(params)
    job = {"folder": str(folder.absolute()), "prune": prune}
    click.echo(run_job(settings, "remove-folder", job, Bar("img"), "pixcept remove-folder")["summary"])


@click.command("thumbnails")
@library_options
def thumbnails(**params) -> None:
    """Make missing thumbnails again from the original files (after a backup restored without them, say)."""
    click.echo(run_job(settings_of(params), "thumbnails", {}, Bar("img"), "pixcept thumbnails")["summary"])
