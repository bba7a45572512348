"""Exports: a selection, a concept or a search in one format (CSV, JSON, a ZIP of the originals, ImageFolder, CVAT,
COCO, Label Studio), streamed as it is written (one route per source, each with its own required parameter), or
written in the background (progress, cancel, the file kept a day). Export tokens: `export_tokens.py`."""

from __future__ import annotations

import mimetypes
import re

import marshmallow as ma
from flask import Response, request, send_file, url_for

from indexer import exports
from indexer.exports import background, tokens
from indexer.search import MAX_QUERY_CHARS

from ..auth import EDIT, require, who
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



def words(**kwargs) -> ma.fields.String:
    return ma.fields.String(validate=[
        ma.validate.Length(max=MAX_QUERY_CHARS, error="is too long (limit {max} characters)"),
        # at least one word that is not excluded ("-word"): negative terms alone match nothing
        ma.validate.Regexp(r"^(.*\s)?[^\s-].*$", flags=re.S, error="needs a word to search for")],
        metadata={"description": "The search's words (its results above the relevance cutoff, up to 1,000)"},
        **kwargs)


IMAGE_IDS = ma.fields.List(pattern(ID_PATTERN), validate=ma.validate.Length(1, MAX_IDS), metadata={
    "description": f"The images, in this order (at most {MAX_IDS:,})"})


class FormatQuery(Query):
    format = FORMAT
    days = DAYS
    base_url = BASE_URL


class SearchExportQuery(FormatQuery):
    q = words(required=True)


def _links(query: dict) -> exports.Links | None:
    """Where a linked format's links point, for the format asked; a linked format hands out a key to the images,
    which needs the editor role."""
    if query["format"] not in exports.LINKED:
        return None
    require(EDIT)
    return exports.Links(query.get("base_url") or request.host_url, who(), query["days"])


def _area(body: dict) -> tuple[tuple[float, float], ...]:
    return tuple((x, y) for x, y in body.get("area") or ())


def _download(source: exports.Source, query: dict) -> Response:
    fmt = query["format"]
    made = exports.export(services().library, source, fmt, _links(query))
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
    ids = IMAGE_IDS
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
    return _download(exports.Source(ids=tuple(body.get("ids") or ()), area=_area(body)), body)


class NewExport(ma.Schema):
    selection = ma.fields.String(validate=ma.validate.Length(1, 200))
    concept = ma.fields.Integer(validate=ma.validate.Range(-1, 2**31))
    q = words()
    ids = IMAGE_IDS
    area = AREA
    format = FORMAT
    days = DAYS
    base_url = BASE_URL


class ExportRun(ma.Schema):
    id = ma.fields.String()
    source = ma.fields.String(metadata={"description": "What is exported"})
    format = ma.fields.String()
    state = ma.fields.String(metadata={"description": "running, done, failed or cancelled"})
    by = ma.fields.String()
    started_at = ma.fields.String()
    finished_at = ma.fields.String(allow_none=True)
    filename = ma.fields.String()
    images = ma.fields.Integer()
    written = ma.fields.Integer(metadata={"description": "Bytes written so far"})
    total = ma.fields.Integer(allow_none=True, metadata={"description": "Bytes in all, once known"})
    error = ma.fields.String(allow_none=True)
    url = ma.fields.String()
    file_url = ma.fields.String(metadata={"description": "The file, once done"})


class ExportRunList(ma.Schema):
    exports = ma.fields.List(ma.fields.Nested(ExportRun))


def _run_json(run) -> dict:
    return {**run.to_dict(), "url": url_for("api.export_run", run_id=run.id),
            "file_url": url_for("api.export_run_file", run_id=run.id)}


@api.post("/exports", tags=["exports"])
@api.arguments(NewExport)
@api.response(202, ExportRun, description="Started: follow its url; download its file_url once done")
@access(api, errors={**NOT_FOUND, 409: f"{NO_CONCEPTS[409]}; or {background.MAX_RUNNING} exports are being "
                     "written already; or the disk has no room for it"})
def start_export(body: dict):
    """Export in the background (large archives): progress, cancel, and the file kept a day"""
    source = exports.Source(body.get("selection"), body.get("concept"), body.get("q"), tuple(body.get("ids") or ()),
                            _area(body))
    links = _links(body)
    return _run_json(background.start(services().library, source, body["format"], who(), links)), 202


@api.get("/exports", tags=["exports"])
@api.response(200, ExportRunList, description="Every export kept, the newest first")
@access(api)
def export_runs():
    """Exports running in the background, and those done in the last day"""
    return {"exports": [_run_json(run) for run in background.list_all(services().library)]}


@api.get("/exports/<run_id>", tags=["exports"])
@api.response(200, ExportRun)
@access(api, errors=NOT_FOUND)
def export_run(run_id: str):
    """An export's progress"""
    return _run_json(background.get(services().library, run_id))


@api.get("/exports/<run_id>/file", tags=["exports"])
@api.doc(responses=DOWNLOAD)
@access(api, errors={**NOT_FOUND, 409: "Not done (running, failed or cancelled)"})
def export_run_file(run_id: str):
    """A finished export's file"""
    path, run = background.file_path(services().library, run_id)
    return send_file(path, mimetype=mimetypes.guess_type(run.filename)[0] or "application/octet-stream",
                     as_attachment=True, download_name=run.filename)


@api.delete("/exports/<run_id>", tags=["exports"])
@api.response(200, ExportRun, description="Cancelled (running) or deleted with its file (finished)")
@access(api, errors=NOT_FOUND)
def cancel_export(run_id: str):
    """Cancel a running export, or delete a finished one"""
    return _run_json(background.cancel(services().library, run_id))
