"""`pixcept serve`: the web app and JSON API."""

from __future__ import annotations

import click

from .common import collection_options, library_options, settings_of


@click.command()
@click.option("--host", envvar="PIXCEPT_HOST", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but localhost needs --read-token.")
@click.option("--port", envvar="PIXCEPT_PORT", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--threads", envvar="PIXCEPT_THREADS", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Requests served at once.")
@click.option("--workers", envvar="PIXCEPT_WORKERS", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes; more than 1 only with a Qdrant server (QDRANT_URL).")
@click.option("--read-token", envvar="PIXCEPT_READ_TOKEN", help="Token needed to search (required off localhost).")
@click.option("--admin-token", envvar="PIXCEPT_ADMIN_TOKEN",
              help="Token needed to run jobs. Default: one made in the data directory for this user's CLI.")
@click.option("--max-upload-mb", envvar="PIXCEPT_MAX_UPLOAD_MB", type=click.FloatRange(0.1, 1000), default=20,
              show_default=True)
@click.option("--searches-per-minute", envvar="PIXCEPT_SEARCHES_PER_MINUTE", type=click.FloatRange(0), default=300,
              show_default=True, help="Per client, for requests that run the model; 0: no limit.")
@click.option("--session-lifetime", envvar="PIXCEPT_SESSION_LIFETIME", default="7d", show_default=True,
              help="How long a browser stays signed in (30m, 12h, 7d).")
@click.option("--quiet", is_flag=True, help="No access log.")
@library_options
@collection_options
def serve(host, port, threads, workers, read_token, admin_token, max_upload_mb, searches_per_minute,
          session_lifetime, quiet, **params) -> None:
    """Serve the web app and JSON API (gunicorn). This process then owns the library: other pixcept commands on the
    same data directory go through it."""
    from server.app import ServerConfig
    from server.serve import serve as run_server

    from ..concepts.schedule import parse_duration

    config = ServerConfig(read_token=read_token, admin_token=admin_token, max_upload_mb=max_upload_mb,
                          searches_per_minute=searches_per_minute,
                          session_lifetime=parse_duration(session_lifetime, "--session-lifetime"))
    run_server(settings_of(params), config, host=host, port=port, workers=workers, threads=threads,
               access_log=not quiet)


