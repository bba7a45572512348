"""Who may do what: a read token for searching (required when listening beyond localhost), an edit token for changing
selections (the editor role), an admin token for jobs (and everything else), and CSRF protection for requests
authenticated by the session cookie. Where reading is open (localhost, no read token) and no edit token is set,
editing is open too: one person's own machine.

Credentials: `Authorization: Bearer TOKEN` (API clients, the CLI), or the session cookie that /login sets after the
token was typed once (browsers). A cookie rides along with cross-site requests, so every POST that relies on it must
also carry the page's CSRF token (header X-CSRF-Token or form field csrf_token); a bearer token cannot be forged by
another site, so bearer requests need none.

A session holds a keyed hash of the token it was made from, so a changed token ends every session made with the old
one; it ends after the session lifetime, and signing out ends it on the server too (its ID is kept as revoked until
it would have expired), so a copy of the cookie is worth nothing after that.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Callable

import portalocker
from flask import abort, current_app, g, request, session
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

from indexer import accounts
from indexer.durable import atomic_write_json

READ, EDIT, ADMIN = "read", "edit", "admin"
RANK = {READ: 0, EDIT: 1, ADMIN: 2}
ROLE_NAMES = {READ: "reader", EDIT: "editor", ADMIN: "admin"}
ADMIN_TOKEN_FILE = "server-admin-token"
SECRET_FILE = "server-secret"
REVOKED_FILE = "revoked-sessions.json"


def private_file(path: Path, make: Callable[[], str]) -> str:
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
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


ROLE_LEVELS = {"reader": READ, "editor": EDIT, "admin": ADMIN}  # an account's role -> its level


def level_for(token: str | None) -> str | None:
    """The level of a token: one of the settings' tokens, or an account's (`indexer.accounts`)."""
    config = current_app.config
    if _matches(token, config["PIXCEPT_ADMIN_TOKEN"]):
        return ADMIN
    if _matches(token, config["PIXCEPT_EDIT_TOKEN"]):
        return EDIT
    if _matches(token, config["PIXCEPT_READ_TOKEN"]):
        return READ
    account = _library_call(accounts.check, token) if accounts.is_account_token(token) else None
    if account is None:
        return None
    g.pixcept_account = account
    return ROLE_LEVELS[account.role]


def _library_call(function: Callable, *args):
    """`function(library, *args)` on the whole library, or None while it is still opening."""
    services = current_app.extensions["pixcept"]
    return function(services.whole_library, *args) if services.ready else None


def current_level() -> str | None:
    """ADMIN, EDIT, READ or None for this request (worked out once per request). Reading needs no token when no
    read token is configured (localhost); editing neither, unless an edit token is."""
    if "pixcept_level" not in g:
        g.pixcept_level = _request_level()
    return g.pixcept_level


def _request_level() -> str | None:
    token = bearer_token()
    if token is not None:
        return level_for(token)  # a wrong bearer token is refused even where reading is open
    level = session_level()
    if level is not None:
        return level
    config = current_app.config
    if config["PIXCEPT_READ_TOKEN"]:
        return None
    return READ if config["PIXCEPT_EDIT_TOKEN"] else EDIT


def token_key(token: str) -> str:
    """A keyed hash of a token: what a session keeps of the token it was made from (never the token itself)."""
    return hmac.new(str(current_app.secret_key).encode(), token.encode(), "sha256").hexdigest()


def sign_in(token: str) -> str | None:
    """Start a browser session for a valid token; its level, or None for a wrong token."""
    level = level_for(token)
    if level is not None:
        session.clear()
        session.permanent = True  # the cookie expires with the session, not only when the browser closes
        account = g.get("pixcept_account")
        # an account's session is bound to its token's hash: revoking the account ends it
        key = token_key(account.key) if account else token_key(token)
        session.update(level=level, key=key, sid=secrets.token_urlsafe(16), since=int(time.time()),
                       account=account.id if account else None)
    return level


def sign_out() -> None:
    """End this browser's session here and on the server: a copied cookie no longer signs anyone in."""
    sid, since = session.get("sid"), session.get("since")
    if isinstance(sid, str) and isinstance(since, int):
        revoked_sessions().add(sid, since + current_app.config["PIXCEPT_SESSION_LIFETIME"])
    session.clear()


def session_level() -> str | None:
    """The level of this request's session cookie while it is valid: made from the token now configured for that
    level, younger than the session lifetime, not signed out."""
    level, since, sid = session.get("level"), session.get("since"), session.get("sid")
    config = current_app.config
    if session.get("account"):
        account = _library_call(accounts.find, str(session["account"]))
        if account is None or not _matches(session.get("key"), token_key(account.key)):
            return None
        g.pixcept_account, level = account, ROLE_LEVELS[account.role]
    else:
        token = {ADMIN: config["PIXCEPT_ADMIN_TOKEN"], EDIT: config["PIXCEPT_EDIT_TOKEN"],
                 READ: config["PIXCEPT_READ_TOKEN"]}.get(str(level))
        if not token or not _matches(session.get("key"), token_key(token)):
            return None
    if not isinstance(since, int) or not 0 <= time.time() - since < config["PIXCEPT_SESSION_LIFETIME"]:
        return None
    return None if sid in revoked_sessions() else level


class RevokedSessions:
    """Signed-out session IDs, each until the session would have expired, in a file every worker process reads
    (re-read when it changed) and changes under a lock."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: tuple[int, dict[str, float]] = (-1, {})
        self._lock = threading.Lock()

    def __contains__(self, sid: object) -> bool:
        return isinstance(sid, str) and sid in self._read()

    def add(self, sid: str, until: float) -> None:
        with portalocker.Lock(str(self.path) + ".lock", timeout=10):
            now = time.time()
            revoked = {s: t for s, t in self._read().items() if t > now}
            revoked[sid] = until
            atomic_write_json(self.path, revoked)

    def _read(self) -> dict[str, float]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        with self._lock:
            if mtime != self._seen[0]:
                try:
                    self._seen = (mtime, json.loads(self.path.read_text()))
                except (OSError, ValueError):
                    self._seen = (mtime, {})
            return self._seen[1]


def revoked_sessions() -> RevokedSessions:
    return current_app.extensions["pixcept_revoked_sessions"]


def require(level: str) -> None:
    """401 without valid credentials, 403 with credentials too weak for `level`."""
    have = current_level()
    if have is None:
        abort(401, "A valid token is needed: `Authorization: Bearer TOKEN`, or sign in at /login.")
    if RANK[have] < RANK[level]:
        abort(403, "This needs the admin token (PIXCEPT_ADMIN_TOKEN)." if level == ADMIN else
              "Changing selections needs an editor token (PIXCEPT_EDIT_TOKEN) or the admin token.")


def can_edit() -> bool:
    """Whether this request may change selections (pages show the controls that do only then)."""
    return RANK.get(current_level() or "", -1) >= RANK[EDIT]


def is_admin() -> bool:
    """Whether this request has the admin's credentials (pages show the admin link only then)."""
    return current_level() == ADMIN


def request_folders() -> tuple[str, ...]:
    """The folders this request's token is limited to (`indexer.scope`); empty: every folder."""
    if current_level() is None:
        return ()
    account = g.get("pixcept_account")
    return account.folders if account is not None else ()


def who() -> str:
    """Who is making this request, as a selection's history records it: the account's name, else the role of the
    settings' token."""
    level = current_level()
    account = g.get("pixcept_account")
    return account.name if account is not None else ROLE_NAMES.get(level or READ, "reader")


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
