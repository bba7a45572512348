"""`pixcept cluster` and `pixcept concepts`: making concepts and reading them, here or through a running server."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..jobs import CLUSTER_NUMBERS
from .backend import open_backend
from .common import Bar, echo_listing, library_options, no_good_match, run_job, settings_of


@click.command()
@click.option("--if-changed", is_flag=True, help="Only when due: no concepts yet, 5 % of the images changed "
                                                 "(PIXCEPT_CLUSTER_CHANGED), or older than PIXCEPT_CLUSTER_EVERY.")
@click.option("--relabel", is_flag=True, help="New labels from the current vocabulary, without refitting.")
@click.option("--rollback", is_flag=True, help="Make the previous run current again.")
@click.option("--history", is_flag=True, help="List every run with its summary.")
@click.option("--seed", type=click.IntRange(*CLUSTER_NUMBERS["seed"]),
              help="Reproducible: same images and seed, same concepts, IDs and labels (UMAP then runs on one core).")
@click.option("--min-concept-size", type=click.IntRange(*CLUSTER_NUMBERS["min_concept_size"]),
              help="Smallest concept (default: grows with the library, half the square root of its size).")
@click.option("--sample-size", type=click.IntRange(*CLUSTER_NUMBERS["sample_size"]),
              help="Fit on at most this many images (a deterministic sample; default 100,000).")
@click.option("--json", "as_json", is_flag=True)
@library_options
def cluster(if_changed, relabel, rollback, history, seed, min_concept_size, sample_size, as_json, **params) -> None:
    """Group the library's images into concepts and publish them (labels, exemplars, montages, a map).

    Concepts keep their IDs from run to run where they continue; readers see the new run only once it is complete.
    A server makes them by itself after indexing and daily; this runs one now.
    """
    settings = settings_of(params)
    if history:
        with open_backend(settings, "pixcept cluster") as backend:
            _print_history(backend.concept_runs(), as_json)
        return
    job = {key: value for key, value in (("if_changed", if_changed), ("relabel", relabel), ("rollback", rollback),
                                         ("seed", seed), ("min_concept_size", min_concept_size),
                                         ("sample_size", sample_size)) if value not in (None, False)}
    result = run_job(settings, "cluster", job, Bar("img"), "pixcept cluster")
    click.echo(json.dumps(result, indent=2) if as_json else result["summary"])


@click.group(invoke_without_command=True)
@click.option("--sort", type=click.Choice(["size", "name", "recent", "id"]), default="size", show_default=True)
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@library_options
@click.pass_context
def concepts(ctx, sort, limit, as_json, **params) -> None:
    """The published concepts (ID, size, labels); `show ID` and `search WORDS` for more."""
    ctx.obj = settings_of(params)
    if ctx.invoked_subcommand is not None:
        return
    with open_backend(ctx.obj, "pixcept concepts") as backend:
        page = backend.concept_page(sort, limit)
    if as_json:
        click.echo(json.dumps(page, indent=2))
        return
    for concept in page["concepts"]:
        labels = ", ".join(w for w, _ in concept["labels"][:5])
        click.echo(f"{concept['id']:>6}  {concept['size']:>8,}  {concept.get('name') or labels}")
    click.echo(f"{page['total']} concepts (run {page['run']}); {page['outliers']:,} images in none.", err=True)


@concepts.command("show")
@click.argument("concept_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show(settings, concept_id, as_json) -> None:
    """One concept: labels with scores, size, quality, exemplars, montage, group, lineage."""
    with open_backend(settings, "pixcept concepts show") as backend:
        concept = backend.concept(concept_id)
    if as_json:
        click.echo(json.dumps(concept, indent=2))
        return
    lines = [f"concept {concept['id']}: {concept['title']} ({concept['size']:,} images)",
             "labels:      " + ", ".join(f"{w} {s:.3f}" for w, s in concept["labels"]),
             f"quality:     cohesion {concept['cohesion']}, similarity to the nearest concept ({concept['nearest']}) "
             f"{concept['separation']}, label margin {concept['label_margin']}"]
    if concept.get("parent", -1) >= 0:
        lines.append(f"group:       {concept['parent']} (`pixcept concepts groups`), with concepts "
                     + ", ".join(map(str, concept["siblings"])))
    for key in ("split_from", "merged_from"):
        if concept.get(key) is not None:
            lines.append(f"{key.replace('_', ' ')}:  {concept[key]}")
    lines.append("montage:     " + concept.get("montage", concept.get("montage_url", "-")))
    lines += ["exemplars:"] + [f"  {image['path']}" for image in concept.get("exemplar_images", [])]
    click.echo("\n".join(lines))


@concepts.command("groups")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def groups(settings, as_json) -> None:
    """The concept hierarchy: groups of concepts, broad to fine, as a tree."""
    with open_backend(settings, "pixcept concepts groups") as backend:
        found = backend.concept_groups()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("The concepts form no groups.", err=True)
    by_id = {group["id"]: group for group in found}

    def show_group(group: dict, depth: int) -> None:
        click.echo(f"{'  ' * depth}group {group['id']}: {group['title']} ({group['size']:,} images; concepts "
                   f"{', '.join(map(str, group['concepts']))})")
        for child in group["children"]:
            show_group(by_id[child], depth + 1)

    for group in found:
        if group["parent"] == -1:
            show_group(group, 0)


@concepts.command("search", context_settings={"ignore_unknown_options": True})
@click.argument("words", nargs=-1)
@click.option("--image", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="Query image.")
@click.option("--limit", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--all", "show_all", is_flag=True, help="The nearest --limit, also those that do not stand out.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def search_concepts(settings, words, image, limit, show_all, as_json) -> None:
    """The concepts nearest to WORDS and/or --image that stand out from the rest, best first; exits with 1 when the
    library holds nothing like them (as `pixcept search` does)."""
    from ..search import RELATIVE_CUTOFF

    cutoff = 0 if show_all else RELATIVE_CUTOFF
    text = " ".join(words)
    if not text and image is None:
        raise click.UsageError("Give words or --image to search concepts by.")
    with open_backend(settings, "pixcept concepts search") as backend:
        found, weak = backend.search_concepts(text, image, limit, cutoff)
    if weak:
        no_good_match([concept["title"] for concept in found], as_json)
    echo_listing(found, as_json, "No concepts.",
                 lambda concept: f"{concept['score']:.4f}\t{concept['id']}\t{concept['title']}")


# -- printing ----------------------------------------------------------------------------------------------------------

def _print_history(runs: list, as_json: bool) -> None:
    echo_listing(runs, as_json, "No concept runs yet.", _history_line)


def _history_line(run: dict) -> str:
    if run["state"] in ("published", "rolled back"):
        detail = (f"{run.get('concepts', 0)} concepts: {run.get('kept', 0)} kept, {run.get('new', 0)} new, "
                  f"{run.get('split', 0)} split, {run.get('merged', 0)} merged, {run.get('retired', 0)} retired; "
                  f"{run.get('images', 0):,} images, {run.get('outliers', 0):,} in none; model "
                  f"{run.get('model')}")
    else:
        detail = run.get("reason") or f"{run.get('relabelled_concepts', 0)} concepts relabelled"
    return f"run {run['run']:>4}  {run['state']:<11}  {run.get('started_at') or run.get('finished_at', '')}  {detail}"
