"""The Flask app factory: pages, JSON API, metrics, auth and error handling around one `Services`."""

from __future__ import annotations

import importlib.metadata
import logging
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
from flask import Flask, abort, jsonify, make_response, redirect, render_template, request, url_for
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from indexer import exports
from indexer.concepts.publish import NoConceptsError
from indexer.config import ServerConfig, Settings
from indexer.errors import ConflictError, NotFoundError, PixceptError, UsageError
from indexer.exports import tokens
from indexer.library import EmptyLibraryError, ModelMismatchError
from indexer.lock import StoreLockedError
from indexer.search import MAX_EXAMPLES, MAX_QUERY_CHARS

from . import auth, logs, openapi, ratelimit
from .api import JobsUnavailable, api
from .metrics import Metrics
from .pages import BLUEPRINTS
from .services import Services

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parents[1] / "web"
LOGIN_LIMIT = "10 per 1 minute"  # sign-in attempts per client address
MAX_JSON_BYTES = 1024 * 1024  # a JSON request body: job parameters, or a selection change of 10,000 IDs (~400 KB)
MAX_JSON_DEPTH = 32  # brackets within brackets: ours need 3; 100,000 would exhaust the parser's recursion
# Sent with every response, gunicorn's own error pages included (serve.py).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'",
}
ERROR_STATUS = {UsageError: 400, NotFoundError: 404, ConflictError: 409, EmptyLibraryError: 409,
                ModelMismatchError: 409, StoreLockedError: 503, JobsUnavailable: 409, NoConceptsError: 409}


def create_app(settings: Settings, config: ServerConfig | None = None, start: bool = True) -> Flask:
    """The app, served as `settings.server` (or `config`, when given) says. With `start=False` the library is opened
    later by `app.extensions["pixcept"].start()` (gunicorn
    does it in each worker process after forking: an open store or a loaded model must never cross a fork)."""
    config = config or settings.server
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
        PIXCEPT_EDIT_TOKEN=config.edit_token,
        PIXCEPT_ADMIN_TOKEN=config.admin_token or auth.local_admin_token(settings.data_dir),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # the default provider's setting
    services = Services(settings, run_jobs=config.run_jobs, run_jobs_in_worker=config.run_jobs_in_worker,
                        shared=config.workers > 1)
    app.extensions["pixcept"] = services
    app.extensions["pixcept_revoked_sessions"] = auth.RevokedSessions(settings.data_dir / auth.REVOKED_FILE)
    logs.install(app, config.log_format, config.quiet)
    metrics = Metrics()
    metrics.install(app)
    app.extensions["pixcept_metrics"] = metrics

    openapi.install(app, api, "pixcept API", _version(), "Semantic image search over a self-hosted photo library.")
    # browsers ask for /favicon.ico on every page whatever the pages link: the same file as /static/favicon.ico
    app.add_url_rule("/favicon.ico", endpoint="static", defaults={"filename": "favicon.ico"})
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    ratelimit.install(app, config.searches_per_minute, config.search_burst, LOGIN_LIMIT)
    _install_guards(app)
    _install_error_handlers(app)

    @app.get("/metrics")
    def metrics_view():
        images = services.image_count() if services.ready else None
        return metrics.exposition(images, list(services.runner.jobs.values()) if services.runner else [])

    app.add_template_filter(code_spans)

    @app.context_processor
    def template_globals():
        return {"csrf_token": auth.csrf_token, "max_query": MAX_QUERY_CHARS, "max_examples": MAX_EXAMPLES,
                "export_formats": exports.TITLES, "linked_formats": exports.LINKED, "can_edit": auth.can_edit,
                "is_admin": auth.is_admin,
                "export_at_once": config.export_at_once}

    if start:
        services.start()
    return app


def _version() -> str:
    try:
        return importlib.metadata.version("pixcept")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "dev"


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
        app.extensions["pixcept"].refresh()
        token = request.args.get("export_token") if getattr(view, "opens_with_export_token", False) else None
        if token is not None:
            return _check_export_token(app.extensions["pixcept"], token)
        level = getattr(view, "auth_level", auth.READ)
        if level is not None and auth.current_level() is None and not _wants_json():
            return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
        if level is not None:
            auth.require(level)
        auth.check_csrf()
        _check_json_body()
        if level is not None and not app.extensions["pixcept"].ready:
            return _error(503, "Starting: opening the library and loading the model. Try again in a moment.")
        return None

    @app.after_request
    def _headers(response):
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response


def _check_export_token(services: Services, token: str):
    """A request with an export token in place of credentials: 401 unless the token is valid, 404 for an image
    outside its export (as if it did not exist)."""
    if not services.ready:
        return _error(503, "Starting: opening the library and loading the model. Try again in a moment.")
    image_id = str((request.view_args or {}).get("image_id", ""))
    grant = tokens.check(services.library, token, image_id)
    if grant is tokens.Grant.INVALID:
        abort(401, "This export token is wrong, expired or revoked: export again for a new one.")
    if grant is tokens.Grant.NOT_IN_EXPORT:
        raise NotFoundError(f"No indexed image with ID {image_id[:60]}.")
    return None


def _check_json_body() -> None:
    """A JSON body is bounded in size and in depth before anything parses it."""
    if request.method not in ("POST", "PUT", "PATCH") or not request.is_json:
        return
    request.max_content_length = MAX_JSON_BYTES  # reading more raises 413, also for a body without a length
    if json_depth(request.get_data(cache=True)) > MAX_JSON_DEPTH:
        abort(400, f"The JSON body is nested too deeply (more than {MAX_JSON_DEPTH} levels).")


def json_depth(data: bytes) -> int:
    """How deeply brackets nest in a JSON text, strings left out: counted without parsing, in C-speed steps."""
    brackets = np.frombuffer(re.sub(rb'"(?:[^"\\]|\\.)*"|[^\[\]{}]', b"", data), np.uint8)
    if not len(brackets):
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _wants_json() -> bool:
    return request.path in ("/api", "/metrics") or request.path.startswith("/api/") or \
        request.accept_mimetypes.best == "application/json"


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
        if exc.code == 413 and request.is_json:
            message = f"The JSON body is too large (limit {MAX_JSON_BYTES // 1024} kB)."
        elif exc.code == 413:
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
