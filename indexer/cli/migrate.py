"""`pixcept migrate`: a library to another store, without re-embedding."""

from __future__ import annotations

import click

from .common import collection_options, library_options, settings_of


@click.command()
@click.option("--to", "url", help="Copy the library to the Qdrant server at this URL (API key: --qdrant-api-key).")
@library_options
@collection_options
def migrate(url, **params) -> None:
    """Move the library to another store without re-embedding.

    Without --to: from qdrant-client local mode to Qdrant Edge, the faster embedded engine. With --to URL: from the
    embedded store to a Qdrant server (or cluster), which the library then uses. The old embedded folder is kept,
    renamed, as a backup.
    """
    from ..migrate import migrate_to_edge, migrate_to_server

    settings = settings_of(params)

    def progress(name: str, done: int, total: int) -> None:
        click.echo(f"\r{name}: {done}/{total}", nl=False, err=True)

    if url:
        counts, backup = migrate_to_server(settings, url, progress)
        where = f"the Qdrant server at {url}; set QDRANT_API_KEY when the server needs it"
    else:
        counts, backup = migrate_to_edge(settings, progress)
        where = "Qdrant Edge"
    click.echo("", err=True)
    moved = ", ".join(f"{n} {'selection entries' if name == 'selections' else name}" for name, n in counts.items())
    click.echo(f"Moved {moved} to {where}. The old store is kept in {backup}; delete it once all is well.")


