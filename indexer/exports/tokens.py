"""Export tokens: the key in the image links of an export that a labelling tool opens (Label Studio), so the tool
can fetch exactly those images' original files, and nothing else, until the token expires or an admin revokes it.

A token reads `ID.SECRET`: the ID names it in lists (and on revoking), only a hash of the secret is kept. Tokens live
in the store's `export_tokens` collection beside selections (kept across generations, seen by every worker): one
point per token, and one per image it opens, found by a computed ID, so checking a request is one retrieve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Sequence

from ..clock import utc_now
from ..errors import NotFoundError, UsageError
from ..keys import matches, new_key, split_key
from ..library import Library
from ..store import EXPORT_TOKENS, Filter, Match, ensure_kept_collection, kept_point, point_id

DEFAULT_DAYS = 30
MAX_DAYS = 365


class Grant(Enum):
    """What a token says about one image."""

    OPENS = "opens"
    NOT_IN_EXPORT = "not in export"  # a valid token, another image: answered as if the image did not exist
    INVALID = "invalid"  # wrong, expired or revoked


@dataclass
class ExportToken:
    id: str
    label: str  # what was exported ("selection red circles")
    images: int
    created_at: str
    created_by: str
    expires_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > utc_now()

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "images": self.images, "created_at": self.created_at,
                "created_by": self.created_by, "expires_at": self.expires_at, "revoked_at": self.revoked_at,
                "active": self.active}


def create(library: Library, image_ids: Sequence[str], label: str, by: str, days: int = DEFAULT_DAYS
           ) -> tuple[str, ExportToken]:
    """A new token opening these images' files for `days`: (`ID.SECRET`, the only time the secret is seen; the
    token as lists show it)."""
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"An export token lasts 1 to {MAX_DAYS} days, not {days}.")
    ensure_kept_collection(library.store, EXPORT_TOKENS)
    token_id, secret, hashed = new_key()
    expires = datetime.now(timezone.utc) + timedelta(days=days)
    ids = list(dict.fromkeys(image_ids))
    for start in range(0, len(ids), 1000):  # the images first: a token is usable only once they all are in
        library.store.upsert(EXPORT_TOKENS, [kept_point(EXPORT_TOKENS, _image_point(token_id, i),
                                                        {"kind": "image", "token": token_id, "image": i})
                                             for i in ids[start:start + 1000]])
    header = {"kind": "token", "token": token_id, "hash": hashed, "label": label, "images": len(ids),
              "created_at": utc_now(), "created_by": by, "expires_at": expires.isoformat(timespec="seconds"),
              "revoked_at": None}
    library.store.upsert(EXPORT_TOKENS, [kept_point(EXPORT_TOKENS, _token_point(token_id), header)])
    return f"{token_id}.{secret}", _token(header)


def check(library: Library, token: str, image_id: str) -> Grant:
    """Whether `token` opens the file of image `image_id`."""
    token_id, secret = split_key(token)
    if not token_id or not secret or not library.store.has_collection(EXPORT_TOKENS):
        return Grant.INVALID
    found = {p.id: p.payload for p in library.store.retrieve(EXPORT_TOKENS, [_token_point(token_id),
                                                                              _image_point(token_id, image_id)])}
    header = found.get(_token_point(token_id))
    if header is None or not matches(header["hash"], secret) or not _token(header).active:
        return Grant.INVALID
    return Grant.OPENS if _image_point(token_id, image_id) in found else Grant.NOT_IN_EXPORT


def list_all(library: Library) -> list[ExportToken]:
    """Every export token, the newest first (revoked and expired ones too, until deleted)."""
    if not library.store.has_collection(EXPORT_TOKENS):
        return []
    headers = library.store.scroll(EXPORT_TOKENS, where=Filter(must=(Match("kind", ("token",)),)))
    return sorted((_token(p.payload) for p in headers), key=lambda t: t.created_at, reverse=True)


def revoke(library: Library, token_id: str) -> ExportToken:
    """Stop a token from opening anything, at once; it stays listed as revoked."""
    header = _header(library, token_id)
    if header["revoked_at"] is None:
        header["revoked_at"] = utc_now()
        library.store.set_payload(EXPORT_TOKENS, [_token_point(token_id)], {"revoked_at": header["revoked_at"]})
    return _token(header)


def _header(library: Library, token_id: str) -> dict:
    points = library.store.retrieve(EXPORT_TOKENS, [_token_point(token_id)]) \
        if library.store.has_collection(EXPORT_TOKENS) else []
    if not points:
        raise NotFoundError(f"No export token {token_id[:40]!r}. `pixcept export-tokens` lists them.")
    return points[0].payload


def _token(header: dict) -> ExportToken:
    return ExportToken(header["token"], header.get("label", ""), header.get("images", 0), header["created_at"],
                       header.get("created_by", ""), header["expires_at"], header.get("revoked_at"))


def _token_point(token_id: str) -> str:
    return point_id(f"export-token:{token_id}")


def _image_point(token_id: str, image_id: str) -> str:
    return point_id(f"export-token:{token_id}:{image_id}")
