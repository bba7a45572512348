"""Per-client rate limits (Flask-Limiter, in-process memory): the endpoints that run the model share one budget, so
one client cannot starve the others; sign-in attempts have their own, so a token cannot be guessed quickly."""

from __future__ import annotations

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from . import auth

MODEL_ENDPOINTS = ("api.search", "api.upload", "api.search_concepts")
LOGIN_ENDPOINT = "pages.login"


def per_window(per_minute: float, burst: int) -> str:
    """A token bucket's average and burst as a moving-window limit: `burst` requests in the time the average
    takes to refill them (300/min, burst 60 -> "60 per 12 second")."""
    return f"{burst} per {max(1, round(60 * burst / per_minute))} second"


def _model_limit() -> str:
    return current_app.config["PIXCEPT_MODEL_LIMIT"] or "1 per 1 second"


def _model_exempt() -> bool:
    return not current_app.config["PIXCEPT_MODEL_LIMIT"] or auth.current_level() == auth.ADMIN


def set_search_limit(app: Flask, per_minute: float, burst: int) -> None:
    """The model endpoints' limit per client (0: none), from now on (the admin page changes it)."""
    app.config.update(PIXCEPT_MODEL_LIMIT=per_window(per_minute, burst) if per_minute else None,
                      PIXCEPT_SEARCH_BURST=burst)


def install(app: Flask, per_minute: float, burst: int, login_limit: str) -> Limiter:
    """Limit the model endpoints to `per_minute` with bursts of `burst` (0: unlimited; admin tokens always pass)
    and sign-in POSTs to `login_limit`, both per client address. Call after the views are registered."""
    set_search_limit(app, per_minute, burst)
    app.config.update(PIXCEPT_LOGIN_LIMIT=login_limit)
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://", strategy="moving-window",
                      headers_enabled=True)
    model = limiter.shared_limit(_model_limit, scope="model", exempt_when=_model_exempt,
                                 error_message="Too many searches from this address; wait a few seconds (see "
                                               "Retry-After) and try again.")
    for endpoint in MODEL_ENDPOINTS:
        app.view_functions[endpoint] = model(app.view_functions[endpoint])  # type: ignore[assignment]  # its stub
    login = limiter.limit(lambda: current_app.config["PIXCEPT_LOGIN_LIMIT"], methods=["POST"],
                          error_message="Too many sign-in attempts; wait a minute and try again.")
    app.view_functions[LOGIN_ENDPOINT] = login(app.view_functions[LOGIN_ENDPOINT])  # type: ignore[assignment]
    return limiter
