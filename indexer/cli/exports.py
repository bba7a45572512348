"""`pixcept export`: a selection, a concept or a search as a file other tools open; `pixcept export-tokens`: the
keys in Label Studio exports' image links (list, revoke)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..exports import FORMATS, LINKED, Source
from ..exports.tokens import DEFAULT_DAYS, MAX_DAYS
from .backend import open_backend
from .common import echo_listing, library_options, settings_of

FORMAT_HELP = ("csv/json: the manifest; zip: the original files + manifest; imagefolder: one folder per concept; "
               "cvat: CVAT for images 1.1; coco: COCO image labels; labelstudio: Label Studio tasks + labelling "
               "config, the images linked through an export token.")


@click.command("export")
@click.option("--selection", help="Export this selection.")
@click.option("--concept", type=int, help="Export this concept (-1: the images in none).")
@click.option("--query", help="Export this search's results (above its relevance cutoff).")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), required=True, help=FORMAT_HELP)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The file to write (`-`: stdout).")
@click.option("--base-url", help="labelstudio: the address where the labelling tool reaches pixcept (default: "
                                 "the server's, or http://HOST:PORT/ of the serve settings).")
@click.option("--days", type=click.IntRange(1, MAX_DAYS), default=DEFAULT_DAYS, show_default=True,
              help="labelstudio: how long the export token opens the images.")
@library_options
def export(selection, concept, query, fmt, output, base_url, days, **params) -> None:
    """Export a selection, a concept or a search to a file other tools open."""
    settings = settings_of(params)
    Source(selection, concept, query)  # exactly one of them, said before anything is opened
    source = {"selection": selection, "concept": concept, "q": query}
    links = {"base_url": base_url, "days": days} if fmt in LINKED else None
    with open_backend(settings, "pixcept export") as backend:
        written = backend.export(source, fmt, output, links)
    missing = written["missing"]
    click.echo(f"{written['count']:,} images exported to {output} ({written['bytes']:,} bytes)"
               + (f"; {missing} left out: their files are gone or changed since indexing" if missing else "") + ".",
               err=True)
    if written["count"] == 0:
        sys.exit(1)


@click.group("export-tokens", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@library_options
@click.pass_context
def export_tokens(ctx, as_json, **params) -> None:
    """The export tokens of Label Studio exports (`revoke ID` stops one). Without a command, lists them."""
    ctx.obj = settings_of(params)
    if ctx.invoked_subcommand is not None:
        return
    with open_backend(ctx.obj, "pixcept export-tokens") as backend:
        found = backend.export_tokens()
    echo_listing(found, as_json, "No export tokens: a Label Studio export makes one.",
                 lambda t: f"{t['id']}  {'active' if t['active'] else 'revoked' if t['revoked_at'] else 'expired'}  "
                           f"{t['images']:,} images of {t['label']}  (made {t['created_at']} by {t['created_by']}, "
                           f"until {t['expires_at']})")


@export_tokens.command("revoke")
@click.argument("token_id")
@click.pass_obj
def revoke(settings, token_id) -> None:
    """Stop the export token TOKEN_ID from opening its images, at once."""
    with open_backend(settings, "pixcept export-tokens revoke") as backend:
        backend.export_token_revoke(token_id)
    click.echo(f"Export token {token_id} revoked: its links open nothing now.")
