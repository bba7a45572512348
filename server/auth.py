"""Who may do what: a read token for searching (required when listening beyond localhost), an admin token for jobs,
and CSRF protection for requests authenticated by the session cookie.

Credentials: `Authorization: Bearer TOKEN` (API clients, the CLI), or the session cookie that /login sets after the
token was typed once (browsers). A cookie rides along with cross-site requests, so every POST that relies on it must
also carry the page's CSRF token (header X-CSRF-Token or form field csrf_token); a bearer token cannot be forged by
another site, so bearer requests need none.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from flask import abort, current_app, request, session
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

READ, ADMIN = "read", "admin"
ADMIN_TOKEN_FILE = "server-admin-token"
SECRET_FILE = "server-secret"


def private_file(path: Path, make: callable) -> str:
    """The content of a file only this user can read, created with `make()` if missing."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value)
    return value


def local_admin_token(data_dir: Path) -> str:
    """Without PIXCEPT_ADMIN_TOKEN, the server makes one and keeps it in the data directory (mode 0600), where the
    CLI of the same user finds it: local commands work, nobody else can start jobs."""
    return private_file(Path(data_dir) / ADMIN_TOKEN_FILE, lambda: secrets.token_urlsafe(32))


def session_secret(data_dir: Path) -> str:
    return private_file(Path(data_dir) / SECRET_FILE, lambda: secrets.token_hex(32))


def _matches(given: str | None, expected: str | None) -> bool:
    return bool(given and expected) and hmac.compare_digest(given.encode(), expected.encode())


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def level_for(token: str | None) -> str | None:
    config = current_app.config
    if _matches(token, config["PIXCEPT_ADMIN_TOKEN"]):
        return ADMIN
    if _matches(token, config["PIXCEPT_READ_TOKEN"]):
        return READ
    return None


def current_level() -> str | None:
    """ADMIN, READ or None for this request. Reading needs no token when no read token is configured (localhost)."""
    token = bearer_token()
    if token is not None:
        return level_for(token)  # a wrong bearer token is refused even where reading is open
    level = session.get("level")
    if level in (READ, ADMIN):
        return level
    return READ if not current_app.config["PIXCEPT_READ_TOKEN"] else None


def require(level: str) -> None:
    """401 without valid credentials, 403 with credentials too weak for `level`."""
    have = current_level()
    if have is None:
        abort(401, "A valid token is needed: `Authorization: Bearer TOKEN`, or sign in at /login.")
    if level == ADMIN and have != ADMIN:
        abort(403, "This needs the admin token (PIXCEPT_ADMIN_TOKEN).")


def csrf_token() -> str:
    """This session's CSRF token (Flask-WTF: signed, bound to the session)."""
    return generate_csrf()


def check_csrf() -> None:
    """Only cookie sessions need it: Flask-WTF's CSRFProtect would refuse bearer-token POSTs too."""
    if request.method in ("GET", "HEAD", "OPTIONS") or bearer_token() is not None:
        return
    try:
        validate_csrf(request.headers.get("X-CSRF-Token") or request.form.get("csrf_token"))
    except ValidationError:
        abort(403, "The form's CSRF token is missing or out of date; reload the page and try again.")
