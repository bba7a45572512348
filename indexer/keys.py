"""Secret keys people hand out (named tokens, export tokens): `ID.SECRET`, where the ID names the key in lists and
only a hash of the secret is kept. Secrets are random, so a plain SHA-256 cannot be guessed back."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_key() -> tuple[str, str, str]:
    """(ID, secret, the secret's hash) of a new key; the key reads `ID.SECRET`."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
    return key_id, secret, secret_hash(secret)


def split_key(key: str) -> tuple[str, str]:
    """(ID, secret) of `ID.SECRET`; empty parts where the key has none."""
    key_id, _, secret = key.partition(".")
    return key_id, secret


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(stored_hash: str, secret: str) -> bool:
    """Whether `secret` is the one `stored_hash` was made from (compared in constant time)."""
    return bool(secret) and hmac.compare_digest(stored_hash, secret_hash(secret))
