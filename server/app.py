"""The Flask app factory: pages, JSON API, metrics, auth and error handling around one `Services`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask, jsonify, make_response, redirect, render_template, request, url_for
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from indexer.concepts.publish import NoConceptsError
from indexer.config import Settings
from indexer.errors import NotFoundError, PixceptError, UsageError
from indexer.library import EmptyLibraryError, ModelMismatchError
from indexer.lock import StoreLockedError
from indexer.search import MAX_QUERY_CHARS

from . import auth, openapi, ratelimit
from .api import JobsUnavailable, api
from .metrics import Metrics
from .pages import BLUEPRINTS
from .ratelimit import per_window
from .services import Services

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parents[1] / "web"
LOGIN_LIMIT = "10 per 1 minute"  # sign-in attempts per client address
# Sent with every response, gunicorn's own error pages included (serve.py).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'",
}
ERROR_STATUS = {UsageError: 400, NotFoundError: 404, EmptyLibraryError: 409, ModelMismatchError: 409,
                StoreLockedError: 503, JobsUnavailable: 409, NoConceptsError: 409}


@dataclass(frozen=True)
class ServerConfig:
    read_token: str | None = None  # None: reading is open (only allowed on localhost: see serve.py)
    admin_token: str | None = None  # None: a local one is made in the data directory
    max_upload_mb: float = 20.0
    searches_per_minute: float = 300.0  # per client; 0 turns the limit off
    search_burst: int = 60
    run_jobs_in_worker: bool = True
    run_jobs: bool = True  # False with several gunicorn workers: each would run its own queue
    session_lifetime: float = 7 * 86400.0  # seconds a browser stays signed in


def create_app(settings: Settings, config: ServerConfig = ServerConfig(), start: bool = True) -> Flask:
    """The app. With `start=False` the library is opened later by `app.extensions["pixcept"].start()` (gunicorn
    does it in each worker process after forking: an open store or a loaded model must never cross a fork)."""
    app = Flask(__name__, template_folder=str(WEB / "templates"), static_folder=str(WEB / "static"),
                static_url_path="/static")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=auth.session_secret(settings.data_dir),
        SESSION_COOKIE_NAME="pixcept_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session: a search page left open still uploads
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=config.session_lifetime),
        PIXCEPT_SESSION_LIFETIME=int(config.session_lifetime),
        MAX_CONTENT_LENGTH=int(config.max_upload_mb * 1024 * 1024),
        PIXCEPT_READ_TOKEN=config.read_token,
        PIXCEPT_ADMIN_TOKEN=config.admin_token or auth.local_admin_token(settings.data_dir),
    )
    app.json.sort_keys = False
    services = Services(settings, run_jobs=config.run_jobs, run_jobs_in_worker=config.run_jobs_in_worker)
    app.extensions["pixcept"] = services
    app.extensions["pixcept_revoked_sessions"] = auth.RevokedSessions(settings.data_dir / auth.REVOKED_FILE)
    metrics = Metrics()
    metrics.install(app)
    app.extensions["pixcept_metrics"] = metrics

    openapi.install(app, api, "pixcept", "1", "Semantic image search over a self-hosted photo library.")
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    model_limit = per_window(config.searches_per_minute, config.search_burst) if config.searches_per_minute else None
    ratelimit.install(app, model_limit, LOGIN_LIMIT)
    _install_guards(app)
    _install_error_handlers(app)

    @app.get("/metrics")
    def metrics_view():
        images = services.image_count() if services.ready else None
        states = [j.state for j in services.runner.jobs.values()] if services.runner else []
        return metrics.exposition(images, states)

    app.add_template_filter(code_spans)

    @app.context_processor
    def template_globals():
        return {"csrf_token": auth.csrf_token, "max_query": MAX_QUERY_CHARS}

    if start:
        services.start()
    return app


def code_spans(text: str) -> Markup:
    """A message for HTML: `code` spans (the CLI's notation in pixcept's messages) as <code>, the rest escaped."""
    parts = str(text).split("`")
    return Markup("").join(escape(part) if n % 2 == 0 else Markup("<code>%s</code>") % part
                           for n, part in enumerate(parts))


def _install_guards(app: Flask) -> None:
    @app.before_request
    def _guard():
        view = app.view_functions.get(request.endpoint)
        if view is None or request.endpoint == "static":
            return None
        level = getattr(view, "auth_level", auth.READ)
        if level is not None and auth.current_level() is None and not _wants_json():
            return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
        if level is not None:
            auth.require(level)
        auth.check_csrf()
        if level is not None and not app.extensions["pixcept"].ready:
            return _error(503, "Starting: opening the library and loading the model. Try again in a moment.")
        return None

    @app.after_request
    def _headers(response):
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/metrics" or request.accept_mimetypes.best == \
        "application/json"


def _error(status: int, message: str, headers: dict | None = None):
    if _wants_json():
        response = jsonify({"error": {"status": status, "message": message}})
    else:
        response = make_response(render_template("error.html", status=status, message=message))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        headers = {k: v for k, v in exc.get_headers() if k == "Retry-After"}
        message = exc.description or exc.name
        if exc.code == 413:
            message = (f"The upload is too large (limit {app.config['MAX_CONTENT_LENGTH'] // (1024 * 1024)} MB). "
                       "Use a smaller image.")
        return _error(exc.code or 500, message, headers)

    @app.errorhandler(PixceptError)
    def _pixcept_error(exc: PixceptError):
        status = next((code for kind, code in ERROR_STATUS.items() if isinstance(exc, kind)), 500)
        return _error(status, str(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s", request.path)
        return _error(500, "Something went wrong on the server; the log has details.")
