"""`pixcept search`: images by words and/or example images, here or through a running server, printed for people
and for pipes (SCORE<tab>PATH, --paths, --json; exit 1 when nothing matched)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .backend import open_backend
from .common import library_options, no_good_match, settings_of


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("words", nargs=-1)
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Query image (repeat to combine; combines with TEXT too).")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--folder", "folders", multiple=True, help="Only images under this folder (repeatable).")
@click.option("--camera", "cameras", multiple=True, help="Only images from this camera, as `pixcept filters` names "
                                                        "it (repeatable).")
@click.option("--format", "formats", multiple=True, help="Only files of this type: jpeg, png, webp... (repeatable).")
@click.option("--from", "taken_from", type=click.DateTime(["%Y-%m-%d"]), help="Taken on or after this day "
                                                                               "(YYYY-MM-DD, the photo's own clock).")
@click.option("--to", "taken_to", type=click.DateTime(["%Y-%m-%d"]), help="Taken on or before this day.")
@click.option("--dated/--undated", default=None, help="Only images with / without a date taken.")
@click.option("--all", "show_all", is_flag=True, help="No relevance cutoff: list up to --limit images whatever "
                                                     "their scores.")
@click.option("--concept", type=int, help="Only images of this concept (`pixcept concepts`; -1: in none).")
@click.option("--selection", help="Only images of this selection (`pixcept selections`).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {path, score, ...}, best first.")
@click.option("--paths", "paths_only", is_flag=True, help="Print only the paths, one a line (for xargs).")
@library_options
def search(words, images, limit, offset, folders, cameras, formats, taken_from, taken_to, dated, show_all, concept,
           selection, as_json, paths_only, **params) -> None:
    """Search by WORDS and/or --image PATH. A word starting with '-' excludes: pixcept search beach -people

    Like the web app, results stop where relevance drops (relative to the best match); --all lists on regardless.
    Prints SCORE<tab>PATH lines, best first; exits with 1 when nothing matched (as grep does).
    """
    from ..filters import SearchFilters
    from ..search import RELATIVE_CUTOFF

    unknown = [w for w in words if w.startswith("--")]
    if unknown:
        raise click.UsageError(f"No such option: {unknown[0]}")
    text = " ".join(words)
    relative = None if show_all else RELATIVE_CUTOFF
    filters = SearchFilters(folders, cameras, formats, taken_from and taken_from.date(), taken_to and taken_to.date(),
                            dated)
    with open_backend(settings_of(params), "pixcept search") as backend:
        results, weak, more = backend.search(text, images, limit, offset, filters, relative, concept, selection)
    if weak:
        no_good_match([Path(result["path"]).name for result in results], as_json)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    elif paths_only:
        click.echo("".join(f"{result['path']}\n" for result in results), nl=False)
    else:
        click.echo("".join(f"{result['score']:.4f}\t{result['path']}\n" for result in results), nl=False)
    if not results:
        click.echo("No matching images.", err=True)
        sys.exit(1)
    if more:  # people see where the list stopped; pipes get exactly the lines asked for
        click.echo(f"{len(results)} shown; more match. --limit {2 * limit} or --offset "
                   f"{offset + len(results)} for more.", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print {images, undated, folders, cameras, formats} as JSON.")
@library_options
def filters(as_json, **params) -> None:
    """The folders, cameras and file types search can be narrowed to (--folder, --camera, --format), each with its
    number of images, and how many images have no date taken."""
    with open_backend(settings_of(params), "pixcept filters") as backend:
        facets = backend.facets()
    if as_json:
        click.echo(json.dumps(facets, indent=2))
        return
    click.echo(f"{facets['images']} images, {facets['undated']} without a date taken (--undated)")
    for title, key in (("Folders", "folders"), ("Cameras", "cameras"), ("File types", "formats")):
        if facets[key]:
            click.echo(f"\n{title}:")
            click.echo("".join(f"{entry['count']:>8}\t{entry['value']}\n" for entry in facets[key]), nl=False)
