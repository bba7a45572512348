"""`pixcept serve`: the web app and JSON API."""

from __future__ import annotations

import click

from .common import collection_options, library_options, setting_options, settings_of


@click.command()
@setting_options("serve")
@library_options
@collection_options
def serve(**params) -> None:
    """Serve the web app and JSON API (gunicorn). This process then owns the library: other pixcept commands on the
    same data directory go through it."""
    from server.serve import serve as run_server

    run_server(settings_of(params))
