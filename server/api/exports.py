"""Exports: a selection, a concept or a search in one format (CSV, JSON, a ZIP of the originals, ImageFolder, CVAT,
COCO, Label Studio), streamed as it is written. One route per source, each with its own required parameter; and the
export tokens that Label Studio exports link with (admin: list, revoke)."""

from __future__ import annotations

import re

import marshmallow as ma
from flask import Response, request

from indexer import exports
from indexer.exports import tokens
from indexer.search import MAX_QUERY_CHARS

from ..auth import ADMIN, EDIT, require, who
from ..openapi import BINARY, NO_CONCEPTS, NOT_FOUND, Query, access, pattern
from .base import AREA, ID_PATTERN, api, services
from .concepts import CONCEPT_PATH, concept_number

FORMAT = ma.fields.String(required=True, validate=ma.validate.OneOf(list(exports.FORMATS)), metadata={
    "description": "csv, json: the manifest; zip: the originals + manifest; imagefolder: one folder per concept; "
                   "cvat: CVAT for images 1.1; coco: COCO image labels; labelstudio: tasks + labelling config with "
                   "image links through a new export token (needs the editor role)"})
MAX_IDS = 20_000  # images named in one request (a JSON body of ~800 KB: within the body limit)
FILE = "The file, as an attachment (X-Pixcept-Images: images in it; X-Pixcept-Missing: left out, file gone)"
DOWNLOAD = {200: {"description": FILE, "content": {
    kind: {"schema": {"type": "object"} if kind == "application/json" else BINARY} for kind in exports.MEDIA_TYPES}}}


DAYS = ma.fields.Integer(load_default=tokens.DEFAULT_DAYS, validate=ma.validate.Range(1, tokens.MAX_DAYS),
                         metadata={"description": "labelstudio: days the export token opens the images"})
# an http(s) address without query or fragment: the image links are made by appending to it
BASE_URL = pattern(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?",
                   "labelstudio: where the labelling tool reaches pixcept (default: this request's address)")


class FormatQuery(Query):
    format = FORMAT
    days = DAYS
    base_url = BASE_URL


class SearchExportQuery(FormatQuery):
    q = ma.fields.String(required=True, validate=[
        ma.validate.Length(max=MAX_QUERY_CHARS, error="is too long (limit {max} characters)"),
        # at least one word that is not excluded ("-word"): negative terms alone match nothing
        ma.validate.Regexp(r"^(.*\s)?[^\s-].*$", flags=re.S, error="needs a word to search for")],
        metadata={"description": "The search's words (its results above the relevance cutoff, up to 1,000)"})


def _download(source: exports.Source, query: dict) -> Response:
    fmt, links = query["format"], None
    if fmt in exports.LINKED:  # it hands out a key to the images: more than reading
        require(EDIT)
        links = exports.Links(query.get("base_url") or request.host_url, who(), query["days"])
    made = exports.export(services().library, source, fmt, links)
    headers = {"Content-Disposition": f"attachment; filename=\"{made.filename}\"",
               "X-Pixcept-Images": str(made.count), "X-Pixcept-Missing": str(len(made.missing))}
    if made.size is not None:
        headers["Content-Length"] = str(made.size)
    return Response(iter(made.chunks), mimetype=made.mimetype, headers=headers)


@api.get("/selections/<name>/export", tags=["exports"])
@api.arguments(FormatQuery, location="query")
@api.doc(responses=DOWNLOAD)
@access(api, errors=NOT_FOUND)
def export_selection(query: dict, name: str):
    """Download a selection's images in one format"""
    return _download(exports.Source(selection=name), query)


@api.get("/concepts/<concept_id>/export", tags=["exports"], parameters=CONCEPT_PATH)
@api.arguments(FormatQuery, location="query")
@api.doc(responses=DOWNLOAD)
@access(api, errors={**NOT_FOUND, **NO_CONCEPTS})
def export_concept(query: dict, concept_id: str):
    """Download a concept's images (-1: the images in none) in one format"""
    return _download(exports.Source(concept=concept_number(concept_id)), query)


@api.get("/search/export", tags=["exports"])
@api.arguments(SearchExportQuery, location="query")
@api.doc(responses=DOWNLOAD)
@access(api)
def export_search(query: dict):
    """Download a search's results in one format"""
    return _download(exports.Source(query=query["q"]), query)


class ImagesExport(ma.Schema):
    ids = ma.fields.List(pattern(ID_PATTERN), validate=ma.validate.Length(1, MAX_IDS), metadata={
        "description": f"The images, in this order (at most {MAX_IDS:,}); or give an area"})
    area = AREA
    format = FORMAT
    days = DAYS
    base_url = BASE_URL


@api.post("/images/export", tags=["exports"])
@api.arguments(ImagesExport)
@api.doc(responses=DOWNLOAD)
@access(api, errors=NOT_FOUND)
def export_images(body: dict):
    """Download these images (the results on a page) or those in an area of the map, in one format"""
    area = tuple((x, y) for x, y in body.get("area") or ())
    return _download(exports.Source(ids=tuple(body.get("ids") or ()), area=area), body)


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
