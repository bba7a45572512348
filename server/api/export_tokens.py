"""Export tokens (admin): the keys in Label Studio exports' image links, listed and revoked."""

from __future__ import annotations

import marshmallow as ma

from indexer.exports import tokens

from ..openapi import ADMIN, NOT_FOUND, access
from .base import api, services


class ExportToken(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String(metadata={"description": "What was exported"})
    images = ma.fields.Integer(metadata={"description": "Images whose files it opens"})
    created_at = ma.fields.String()
    created_by = ma.fields.String()
    expires_at = ma.fields.String()
    revoked_at = ma.fields.String(allow_none=True)
    active = ma.fields.Boolean()


class ExportTokenList(ma.Schema):
    tokens = ma.fields.List(ma.fields.Nested(ExportToken))


@api.get("/export-tokens", tags=["exports"])
@api.response(200, ExportTokenList, description="Every export token, the newest first")
@access(api, ADMIN)
def export_tokens():
    """The export tokens of Label Studio exports"""
    return {"tokens": [t.to_dict() for t in tokens.list_all(services().library)]}


@api.post("/export-tokens/<token_id>/revoke", tags=["exports"])
@api.response(200, ExportToken, description="The token, revoked")
@access(api, ADMIN, errors=NOT_FOUND)
def revoke_export_token(token_id: str):
    """Stop an export token from opening its images, at once"""
    return tokens.revoke(services().library, token_id).to_dict()
