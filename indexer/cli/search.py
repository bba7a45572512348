"""`pixcept search`: images by words and/or example images, here or through a running server, printed for people
and for pipes (SCORE<tab>PATH, --paths, --json; exit 1 when nothing matched)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import library_options, open_library, server_client


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
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {path, score, ...}, best first.")
@click.option("--paths", "paths_only", is_flag=True, help="Print only the paths, one a line (for xargs).")
@library_options
def search(words, images, limit, offset, folders, cameras, formats, taken_from, taken_to, dated, show_all, concept,
           as_json, paths_only, **params) -> None:
    """Search by WORDS and/or --image PATH. A word starting with '-' excludes: pixcept search beach -people

    Like the web app, results stop where relevance drops (relative to the best match); --all lists on regardless.
    Prints SCORE<tab>PATH lines, best first; exits with 1 when nothing matched (as grep does).
    """
    from ..concepts.read import concept_filter
    from ..filters import SearchFilters, check_indexed_folders
    from ..search import RELATIVE_CUTOFF, load_query_image, search_page

    unknown = [w for w in words if w.startswith("--")]
    if unknown:
        raise click.UsageError(f"No such option: {unknown[0]}")
    text = " ".join(words)
    relative = None if show_all else RELATIVE_CUTOFF
    filters = SearchFilters(folders, cameras, formats, taken_from and taken_from.date(), taken_to and taken_to.date(),
                            dated)
    client = server_client(params)
    if client:
        if folders:
            check_indexed_folders(folders, client.request("GET", "/api/folders")["folders"])
        results, weak = client.search(text, images, limit=limit, offset=offset, filters=filters, relative=relative,
                                      concept=concept)
    else:
        with open_library(params, "pixcept search") as library:
            if folders:
                check_indexed_folders(folders, library.manifest.get("roots", []))
            query_images = []
            if images:
                size = library.embedder().image_size
                query_images = [load_query_image(path, size) for path in images]
            within = concept_filter(library, concept) if concept is not None else None
            page = search_page(library, text, query_images, limit=limit, offset=offset,
                               where=filters.where(within), relative=relative)
            results, weak = [r.to_dict() for r in page.results], page.no_good_match
    if weak:  # the closest are not matches: nothing on stdout for pipes, the closest named for people
        closest = ", ".join(Path(r["path"]).name for r in results[:3])
        click.echo("No good match: the library holds nothing like this, or the model does not know the words."
                   + (f" Closest, but weak: {closest}." if closest else "") + " --all lists them anyway.", err=True)
        if as_json:
            click.echo("[]")
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    elif paths_only:
        click.echo("".join(f"{result['path']}\n" for result in results), nl=False)
    else:
        click.echo("".join(f"{result['score']:.4f}\t{result['path']}\n" for result in results), nl=False)
    if not results:
        click.echo("No matching images.", err=True)
        sys.exit(1)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print {images, undated, folders, cameras, formats} as JSON.")
@library_options
def filters(as_json, **params) -> None:
    """The folders, cameras and file types search can be narrowed to (--folder, --camera, --format), each with its
    number of images, and how many images have no date taken."""
    from ..filters import library_facets

    client = server_client(params)
    if client:
        facets = client.request("GET", "/api/filters")
    else:
        with open_library(params, "pixcept filters") as library:
            facets = library_facets(library).to_dict()
    if as_json:
        click.echo(json.dumps(facets, indent=2))
        return
    click.echo(f"{facets['images']} images, {facets['undated']} without a date taken (--undated)")
    for title, key in (("Folders", "folders"), ("Cameras", "cameras"), ("File types", "formats")):
        if facets[key]:
            click.echo(f"\n{title}:")
            click.echo("".join(f"{entry['count']:>8}\t{entry['value']}\n" for entry in facets[key]), nl=False)
