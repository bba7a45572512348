"""`pixcept serve`: gunicorn running the app, with the process rules an embedded store needs.

- Embedded store: ONE worker process with threads (the store can be opened by one process), never --preload (a
  torch model loaded before the fork hangs the workers). With a Qdrant server, several workers are fine: they
  share one job queue (the jobs folder; one runs at a time, `indexer/jobs/runner.py`).
- The worker opens the library and warms the model in `post_worker_init`, before it accepts requests, and closes
  them in `worker_exit`; the lock file then says where the server listens, so the CLI can go through it.
- Listening beyond localhost needs a read token, so private photos are never open to the network by accident.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import sys

import gunicorn.util
from gunicorn.app.base import BaseApplication

from indexer.config import ServerConfig, Settings
from indexer.errors import UsageError

from . import logs
from .app import SECURITY_HEADERS, create_app

log = logging.getLogger(__name__)

# A worker busy in a long GIL-holding call (Qdrant Edge's index build: ~20 s per 100k images) misses heartbeats;
# the timeout must be longer than that so gunicorn does not kill it mid-write.
WORKER_TIMEOUT = 300
WORKER_BOOT_ERROR = 3  # gunicorn's exit code for "the worker could not boot": the master stops instead of looping


def is_loopback(host: str) -> bool:
    """Only loopback addresses count; an empty host (or "0.0.0.0", "::") listens on every interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(name: str, token: str | None) -> None:
    """A token is typed and compared as it is: one that is blank, or has spaces or control characters at its ends,
    could never be matched (clients strip them), or is no secret at all."""
    if token is not None and (not token.strip() or token != token.strip() or not token.isprintable()):
        raise UsageError(f"{name} is blank, or has spaces at its ends or control characters: use a long random "
                         "string, e.g. from `openssl rand -hex 24`.")


def check_serving_options(settings: Settings, config: ServerConfig) -> None:
    host, workers = config.host, config.workers
    check_token("--read-token (PIXCEPT_READ_TOKEN)", config.read_token)
    check_token("--admin-token (PIXCEPT_ADMIN_TOKEN)", config.admin_token)
    check_token("--edit-token (PIXCEPT_EDIT_TOKEN)", config.edit_token)
    if config.session_lifetime <= 0:
        raise UsageError("--session-lifetime (PIXCEPT_SESSION_LIFETIME) must be longer than 0.")
    if not is_loopback(host) and not config.read_token:
        raise UsageError(
            f"Refusing to listen on {host} without a read token: anyone on the network could see your photos. Set "
            "PIXCEPT_READ_TOKEN (or --read-token) to a long random string, or listen on 127.0.0.1.")
    if workers > 1 and not settings.uses_server:
        raise UsageError(
            f"--workers {workers} needs a Qdrant server (QDRANT_URL): an embedded store can be opened by one process "
            "only. Use --threads to serve more requests at once.")


def write_error_with_headers(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own error response (a request it refuses before the app sees it: a bad request line, 414, 431),
    as the JSON error body every /api/ answer has (gunicorn cannot tell which path was asked: the request line is
    what failed), sent with the security headers every app response has."""
    body = json.dumps({"error": {"status": status_int, "message": f"{reason}: {mesg}" if mesg else reason}}
                      ).encode("utf-8")
    head = [f"HTTP/1.1 {status_int} {reason}", "Connection: close", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(f"{key}: {value}" for key, value in SECURITY_HEADERS.items())]
    gunicorn.util.write_nonblock(sock, "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body)


class PixceptServer(BaseApplication):
    def __init__(self, settings: Settings, config: ServerConfig):
        self.settings, self.server_config = settings, config
        host, port = config.host, config.port
        reach = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # where local clients connect
        self.url = f"http://{reach if ':' not in reach else f'[{reach}]'}:{port}"
        self.options = {
            "bind": f"{host}:{port}" if ":" not in host else f"[{host}]:{port}",
            "workers": config.workers,
            "threads": config.threads,
            "worker_class": "gthread",
            "timeout": WORKER_TIMEOUT,
            "graceful_timeout": 30,
            "preload_app": False,
            # in json, the app writes the access log itself (with request IDs): logs.py
            "accesslog": None if config.quiet or config.log_format == "json" else "-",
            "post_worker_init": self._post_worker_init,
            "worker_exit": self._worker_exit,
            "proc_name": "pixcept",
            # gunicorn's control socket sits at one path per user: a second server (another library) would take it
            "control_socket_disable": True,
        }
        super().__init__()

    def load_config(self) -> None:
        # gunicorn writes its error pages through this module function; no setting adds headers to them
        gunicorn.util.write_error = write_error_with_headers
        for key, value in self.options.items():
            if value is not None and key in self.cfg.settings:  # older gunicorns lack some settings
                self.cfg.set(key, value)

    def load(self):
        return create_app(self.settings, self.server_config, start=False)

    def _post_worker_init(self, worker) -> None:
        logs.configure(self.server_config.log_format)
        services = worker.wsgi.extensions["pixcept"]
        try:
            services.start(url=self.url)
        except Exception as exc:  # noqa: BLE001 - said once, clearly, then the whole server stops
            print(f"Error: {exc}", file=sys.stderr, flush=True)
            os._exit(WORKER_BOOT_ERROR)
        print(f"pixcept is serving {services.library.data_dir} at {self.url}", file=sys.stderr, flush=True)

    @staticmethod
    def _worker_exit(server, worker) -> None:
        services = getattr(worker, "wsgi", None) and worker.wsgi.extensions.get("pixcept")
        if services:
            services.stop()


def serve(settings: Settings) -> None:
    """Serve as `settings.server` says, until stopped."""
    config = settings.server
    check_serving_options(settings, config)
    if not settings.uses_server:
        _check_free(settings)
    PixceptServer(settings, config).run()


def _check_free(settings: Settings) -> None:
    """Say who holds the library before gunicorn starts, rather than from inside a worker."""
    from indexer.lock import DataDirLock

    with DataDirLock(settings.data_dir, "pixcept serve (checking)"):
        pass
