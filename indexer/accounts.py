"""Accounts: named tokens with a role (reader, editor, admin), made and revoked by an admin, beside the tokens of the
settings (PIXCEPT_READ_TOKEN...). A token reads `pxt_ID.SECRET` (`keys.py`: only a hash of the secret is kept).
Accounts live in the store's `accounts` collection (kept across generations, seen by every worker and by every
machine using a Qdrant server), one point per account, found by ID: checking a request is one retrieve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from .clock import utc_now
from .errors import NotFoundError, UsageError
from .keys import matches, new_key, split_key
from .library import Library
from .scope import normalised_scope
from .store import ACCOUNTS, Filter, Match, ensure_kept_collection, kept_point, point_id

ROLES = ("reader", "editor", "admin")
PREFIX = "pxt_"
MAX_NAME = 64
NAME = re.compile(r"[\w][\w .@'()+-]*", re.UNICODE)
LAST_USED_EVERY = 60  # seconds: how stale "last used" may be (a write per request would be wasteful)


@dataclass
class Account:
    id: str
    name: str
    role: str
    created_at: str
    created_by: str
    last_used_at: str | None
    revoked_at: str | None
    key: str  # the hash of the secret: what sessions made from this token are bound to
    folders: tuple[str, ...] = ()  # the folders it sees (`indexer/scope.py`); none: every folder

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "created_at": self.created_at,
                "created_by": self.created_by, "last_used_at": self.last_used_at, "revoked_at": self.revoked_at,
                "active": self.active, "folders": list(self.folders)}


def create(library: Library, name: str, role: str, by: str, folders: Sequence[str] = ()) -> tuple[str, Account]:
    """A new account: (its token, the only time it is seen; the account). With `folders`, it sees only the images
    in those (indexed) folders, as if the others did not exist; an admin always sees every folder."""
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise UsageError(f"A token's name is 1 to {MAX_NAME} characters: letters, digits, spaces and . @ ' ( ) + -, "
                         f"starting with a letter or digit; not {name[:80]!r}.")
    if role not in ROLES:
        raise UsageError(f"The role is one of {', '.join(ROLES)}, not {role!r}.")
    folders = normalised_scope(library, folders)
    if folders and role == "admin":
        raise UsageError("An admin sees every folder: limit a reader's or an editor's token to folders instead.")
    if any(account.name == name and account.active for account in list_all(library)):
        raise UsageError(f"An active token named {name!r} exists already: revoke it first, or choose another name.")
    ensure_kept_collection(library.store, ACCOUNTS)
    account_id, secret, hashed = new_key()
    payload = {"kind": "account", "account": account_id, "name": name, "role": role, "hash": hashed,
               "created_at": utc_now(), "created_by": by, "last_used_at": None, "revoked_at": None,
               "folders": list(folders)}
    library.store.upsert(ACCOUNTS, [kept_point(ACCOUNTS, _point(account_id), payload)])
    return f"{PREFIX}{account_id}.{secret}", _account(payload)


def is_account_token(token: str | None) -> bool:
    return token is not None and token.startswith(PREFIX)


def check(library: Library, token: str) -> Account | None:
    """The active account of `token`, or None (wrong, revoked, unknown). Notes when it was used."""
    account_id, secret = split_key(token.removeprefix(PREFIX))
    account = find(library, account_id)
    if account is None or not matches(account.key, secret):
        return None
    now = datetime.now(timezone.utc)
    if account.last_used_at is None or (now - datetime.fromisoformat(account.last_used_at)).total_seconds() > \
            LAST_USED_EVERY:
        account.last_used_at = now.isoformat(timespec="seconds")
        library.store.set_payload(ACCOUNTS, [_point(account.id)], {"last_used_at": account.last_used_at})
    return account


def find(library: Library, account_id: str) -> Account | None:
    """The active account `account_id`, or None."""
    if not account_id or not library.store.has_collection(ACCOUNTS):
        return None
    points = library.store.retrieve(ACCOUNTS, [_point(account_id)])
    account = _account(points[0].payload) if points else None
    return account if account is not None and account.active else None


def list_all(library: Library) -> list[Account]:
    """Every account, revoked ones too, the newest first."""
    if not library.store.has_collection(ACCOUNTS):
        return []
    points = library.store.scroll(ACCOUNTS, where=Filter(must=(Match("kind", ("account",)),)))
    return sorted((_account(p.payload) for p in points), key=lambda a: a.created_at, reverse=True)


def revoke(library: Library, account_id: str) -> Account:
    """End an account at once: its token and every session made with it stop working."""
    points = library.store.retrieve(ACCOUNTS, [_point(account_id)]) if library.store.has_collection(ACCOUNTS) else []
    if not points:
        raise NotFoundError(f"No token {account_id[:40]!r}. `pixcept tokens` lists them.")
    account = _account(points[0].payload)
    if account.revoked_at is None:
        account.revoked_at = utc_now()
        library.store.set_payload(ACCOUNTS, [_point(account_id)], {"revoked_at": account.revoked_at})
    return account


def _account(payload: dict) -> Account:
    return Account(payload["account"], payload["name"], payload["role"], payload["created_at"],
                   payload.get("created_by", ""), payload.get("last_used_at"), payload.get("revoked_at"),
                   payload["hash"], tuple(payload.get("folders") or ()))


def _point(account_id: str) -> str:
    return point_id(f"account:{account_id}")
