"""Accounts (admin): named tokens with a role, made, listed with when they were last used, and revoked."""

from __future__ import annotations

import marshmallow as ma

from indexer import accounts

from ..auth import who
from ..openapi import ADMIN, CSRF_REFUSED, NOT_FOUND, access, text
from .base import api, services


class Account(ma.Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    role = ma.fields.String(metadata={"description": "reader, editor or admin"})
    created_at = ma.fields.String()
    created_by = ma.fields.String()
    last_used_at = ma.fields.String(allow_none=True, metadata={"description": "To the minute"})
    revoked_at = ma.fields.String(allow_none=True)
    active = ma.fields.Boolean()
    folders = ma.fields.List(ma.fields.String(), metadata={"description": "The folders it sees; empty: every one"})


class NewAccount(ma.Schema):
    name = text(accounts.MAX_NAME, "Who or what uses it (a person, a script)", required=True)
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(accounts.ROLES))
    folders = ma.fields.List(text(4096, "An indexed folder (or one inside it)"), load_default=list,
                             validate=ma.validate.Length(max=100),
                             metadata={"description": "Limit the token to these folders: it sees nothing else"})


class MadeAccount(Account):
    token = ma.fields.String(metadata={"description": "The token: shown this once, kept only as a hash"})


class AccountList(ma.Schema):
    tokens = ma.fields.List(ma.fields.Nested(Account))


@api.get("/tokens", tags=["accounts"])
@api.response(200, AccountList, description="Every named token, the newest first")
@access(api, ADMIN)
def list_tokens():
    """Named tokens and their roles"""
    return {"tokens": [a.to_dict() for a in accounts.list_all(services().library)]}


@api.post("/tokens", tags=["accounts"])
@api.arguments(NewAccount)
@api.response(201, MadeAccount, description="Made; its token is in the answer, and nowhere else")
@access(api, ADMIN, CSRF_REFUSED)
def create_token(body: dict):
    """Make a named token with a role"""
    token, account = accounts.create(services().library, body["name"], body["role"], who(), body["folders"])
    return {**account.to_dict(), "token": token}, 201


@api.post("/tokens/<account_id>/revoke", tags=["accounts"])
@api.response(200, Account, description="Revoked: its token and its sessions open nothing now")
@access(api, ADMIN, {**NOT_FOUND, **CSRF_REFUSED})
def revoke_token(account_id: str):
    """Revoke a named token"""
    return accounts.revoke(services().library, account_id).to_dict()
