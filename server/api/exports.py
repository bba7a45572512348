"""Exports: a selection, a concept or a search as CSV, JSON, a ZIP of the originals, or an ImageFolder ZIP, streamed
as it is written (nothing copied to memory or disk). One route per source, each with its own required parameter."""

from __future__ import annotations

import re

import marshmallow as ma
from flask import Response

from indexer import exports
from indexer.search import MAX_QUERY_CHARS

from ..openapi import BINARY, NO_CONCEPTS, NOT_FOUND, Query, access
from .base import api, services
from .concepts import CONCEPT_PATH, concept_number

FORMAT = ma.fields.String(required=True, validate=ma.validate.OneOf(list(exports.FORMATS)), metadata={
    "description": "csv, json: the manifest; zip: the originals + manifest; imagefolder: one folder per concept"})
FILE = "The file, as an attachment (X-Pixcept-Images: images in it; X-Pixcept-Missing: left out, file gone)"
DOWNLOAD = {200: {"description": FILE, "content": {
    kind: {"schema": {"type": "object"} if kind == "application/json" else BINARY} for kind in exports.MEDIA_TYPES}}}


class FormatQuery(Query):
    format = FORMAT


class SearchExportQuery(Query):
    format = FORMAT
    q = ma.fields.String(required=True, validate=[
        ma.validate.Length(max=MAX_QUERY_CHARS, error="is too long (limit {max} characters)"),
        # at least one word that is not excluded ("-word"): negative terms alone match nothing
        ma.validate.Regexp(r"^(.*\s)?[^\s-].*$", flags=re.S, error="needs a word to search for")],
        metadata={"description": "The search's words (its results above the relevance cutoff, up to 1,000)"})


def _download(source: exports.Source, fmt: str) -> Response:
    made = exports.export(services().library, source, fmt)
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
    return _download(exports.Source(selection=name), query["format"])


@api.get("/concepts/<concept_id>/export", tags=["exports"], parameters=CONCEPT_PATH)
@api.arguments(FormatQuery, location="query")
@api.doc(responses=DOWNLOAD)
@access(api, errors={**NOT_FOUND, **NO_CONCEPTS})
def export_concept(query: dict, concept_id: str):
    """Download a concept's images (-1: the images in none) in one format"""
    return _download(exports.Source(concept=concept_number(concept_id)), query["format"])


@api.get("/search/export", tags=["exports"])
@api.arguments(SearchExportQuery, location="query")
@api.doc(responses=DOWNLOAD)
@access(api)
def export_search(query: dict):
    """Download a search's results in one format"""
    return _download(exports.Source(query=query["q"]), query["format"])
