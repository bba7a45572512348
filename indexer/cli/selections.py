"""`pixcept selections`: named sets of images (list, create, show, add, reject, remove, delete)."""

from __future__ import annotations

import sys

import click

from ..selections import MAX_CHANGE
from .backend import open_backend
from .common import echo_listing, library_options, settings_of


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@library_options
@click.pass_context
def selections(ctx, as_json, **params) -> None:
    """Named selections of images: `create NAME`, `add NAME ID...`, `show NAME`... Without a command, lists them."""
    ctx.obj = settings_of(params)
    if ctx.invoked_subcommand is not None:
        return
    with open_backend(ctx.obj, "pixcept selections") as backend:
        found = backend.selections()
    echo_listing(found, as_json, "No selections yet: `pixcept selections create NAME` makes one.",
                 lambda s: f"{s['name']}  {s['accepted']:,} accepted, {s['rejected']:,} rejected  "
                           f"(changed {s['changed_at']} by {s['changed_by']})")


@selections.command("create")
@click.argument("name")
@click.option("--query", help="Make it a saved search: images these words find join it as the library grows.")
@click.pass_obj
def create(settings, name, query) -> None:
    """Make a selection NAME."""
    with open_backend(settings, "pixcept selections create") as backend:
        made = backend.selection_create(name, {"q": query} if query else None)
    click.echo(f"Selection {made['name']!r} made.")


@selections.command("show")
@click.argument("name")
@click.option("--rejected", is_flag=True, help="List the rejected images instead of the accepted ones.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show(settings, name, rejected, as_json) -> None:
    """The paths of a selection's images (ID<tab>PATH), in the order they were added."""
    with open_backend(settings, "pixcept selections show") as backend:
        images = backend.selection_images(name, "rejected" if rejected else "accepted")
    echo_listing(images, as_json, f"No {'rejected' if rejected else 'accepted'} images in {name!r}.",
                 lambda image: f"{image['id']}\t{image['path']}")


def _ids(values: tuple[str, ...]) -> list[str]:
    """Image IDs from the arguments; `-` reads them from stdin, one a line (`pixcept search --json` gives them)."""
    ids: list[str] = []
    for value in values:
        ids += [line.strip() for line in sys.stdin if line.strip()] if value == "-" else [value]
    return ids


def _mark(settings, name: str, values: tuple[str, ...], state: str | None, done: str) -> None:
    with open_backend(settings, "pixcept selections") as backend:
        ids = _ids(values)
        changed = {}
        for start in range(0, len(ids), MAX_CHANGE):  # what one request may name
            changed = backend.selection_mark(name, ids[start:start + MAX_CHANGE], state)
    click.echo(f"{len(set(ids)):,} images {done}; {name!r} holds {changed.get('accepted', 0):,} "
               f"({changed.get('rejected', 0):,} rejected).")


MARKINGS = (  # command, the state it sets (None: out of the selection), what it did, its help
    ("add", "accepted", "accepted", "Accept images into NAME (IDs; `-` reads them from stdin)."),
    ("reject", "rejected", "rejected", "Reject images for NAME: gathering and its saved search leave them out."),
    ("remove", None, "taken out", "Take images out of NAME (accepted, rejected or seen)."),
)


def _marking(state: str | None, done: str):
    @click.argument("name")
    @click.argument("image_ids", nargs=-1, required=True)
    @click.pass_obj
    def command(settings, name, image_ids) -> None:
        _mark(settings, name, image_ids, state, done)

    return command


for _name, _state, _done, _help in MARKINGS:
    selections.command(_name, help=_help)(_marking(_state, _done))


@selections.command("gather")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 200), default=24, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def gather(settings, name, limit, as_json) -> None:
    """The next candidates for NAME (ID<tab>SCORE<tab>PATH): more like its accepted images, less like its rejected
    ones, none marked yet. Mark them with `add` and `reject` (`add NAME -` reads IDs from stdin)."""
    with open_backend(settings, "pixcept selections gather") as backend:
        page = backend.selection_gather(name, limit)
    below = "" if page["threshold"] is None else f" (relevance cutoff {page['threshold']:.3f})"
    left = (f"the {page['unmarked']:,} images not marked are all more like a rejected image than like the accepted "
            "ones" if page["unmarked"] else "every image is marked")
    echo_listing(page["candidates"], as_json, f"No candidates left for {name!r}: {left}.",
                 lambda c: f"{c['id']}\t{c['score']:.3f}\t{c['path']}")
    if page["candidates"] and not as_json:
        click.echo(f"{len(page['candidates'])} candidates, best first{below}.", err=True)


@selections.command("delete")
@click.argument("name")
@click.pass_obj
def delete(settings, name) -> None:
    """Delete the selection NAME (its images stay indexed)."""
    with open_backend(settings, "pixcept selections delete") as backend:
        backend.selection_delete(name)
    click.echo(f"Selection {name!r} deleted.")
