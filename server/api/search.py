"""Searching images: by words, uploaded images, similar images, or all combined; uploads of query images."""

from __future__ import annotations

import math
import time
from datetime import date

import marshmallow as ma
from flask import current_app, send_file, url_for
from flask_smorest.fields import Upload

from indexer import selections
from indexer.concepts.read import concept_filter
from indexer.errors import NotFoundError, UsageError
from indexer.filters import SearchFilters, check_indexed_folders, library_facets
from indexer.search import MAX_EXAMPLES, MAX_QUERY_CHARS, RELATIVE_CUTOFF, search_page

from ..openapi import BINARY, CSRF_REFUSED, Query, access, integer, number, pattern, repeated, text
from .base import (
    ID_PATTERN,
    MAX_PAGE,
    UPLOAD_PATTERN,
    SearchResults,
    answer_run,
    api,
    image_json,
    matches,
    services,
)

DATE = r"\d{4}-\d{2}-\d{2}"


class SearchQuery(Query):
    q = text(MAX_QUERY_CHARS, "Words; a word starting with '-' is excluded (beach -people).", load_default="")
    upload = repeated(pattern(UPLOAD_PATTERN), "IDs of uploaded query images (POST /api/uploads).")
    like = repeated(pattern(ID_PATTERN), "Indexed image IDs to find more like (examples).")
    unlike = repeated(pattern(ID_PATTERN), "Indexed image IDs to find less like (\"not like this\").")
    folder = repeated(text(4096), "Only images under this folder (any of them).")
    camera = repeated(text(200), "Only images from this camera (GET /api/filters lists them).")
    format = repeated(pattern("[A-Za-z0-9]{1,16}", "Only files of this type: JPEG, PNG, WEBP..."))
    from_ = pattern(DATE, "Taken on or after this day (EXIF, the photo's own clock), YYYY-MM-DD.", data_key="from")
    to = pattern(DATE, "Taken on or before this day (EXIF, the photo's own clock), YYYY-MM-DD.")
    dated = ma.fields.String(validate=ma.validate.OneOf(["yes", "no"], error="must be yes or no"),
                             metadata={"description": "yes: only images with a date taken; no: only those without."})
    limit = integer(1, MAX_PAGE, load_default=40)
    offset = integer(0, 100_000, load_default=0)
    cutoff = number(0, 1, "Relevance cutoff relative to the top score (0 keeps everything).",
                    load_default=RELATIVE_CUTOFF)
    threshold = number(-1, 1, "The first page's threshold, passed back with later pages.")
    concept = integer(-1, 2**31, "Only images of this concept (-1: in none).")
    selection = text(64, "Only images of this selection (its accepted ones; a saved search's finds).")


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"`{name}` must be a date like 2024-07-31.") from None


@api.get("/search", tags=["search"])
@api.arguments(SearchQuery, location="query")
@api.response(200, SearchResults, description="Results, best first")
@access(api, errors={409: "Filtering by concept, but no concepts yet"})
def search(query: dict):
    """Search images by text, uploaded image, similar images, or all combined"""
    started = time.perf_counter()
    like, uploads = tuple(query["like"][:MAX_EXAMPLES]), tuple(query["upload"][:MAX_EXAMPLES])
    unlike = tuple(query["unlike"][:MAX_EXAMPLES])
    words = query["q"] or ""
    kind = "image" if (uploads or like) and not words.strip() else "text"
    concept = query.get("concept")
    filters = SearchFilters(tuple(query["folder"]), tuple(query["camera"]), tuple(query["format"]),
                            _day(query.get("from_"), "from"), _day(query.get("to"), "to"),
                            {"yes": True, "no": False}.get(query.get("dated") or ""))
    if filters.folders:  # a folder outside the library is a mistake to name, not an empty answer
        check_indexed_folders(filters.folders, services().library.manifest.get("roots", []))
    within = concept_filter(services().library, concept, answer_run(required=True)) if concept is not None else None
    if query.get("selection"):
        within = selections.search_filter(services().library, query["selection"]) & within
    where = filters.where(within)
    asked = services().query(words, uploads, like, unlike)
    cutoff = query["cutoff"] or None
    page = search_page(services().library, like=like, unlike=unlike, limit=query["limit"], offset=query["offset"],
                       where=where, relative=cutoff, threshold=query.get("threshold") if cutoff else None,
                       query=asked)
    took = time.perf_counter() - started
    current_app.extensions["pixcept_metrics"].searches.labels(kind).observe(took)
    return {
        "results": [image_json(r.id, r.payload, r.score) | ({"example": True} if r.example else {})
                    for r in page.results],
        "has_more": page.has_more,
        "next_offset": page.next_offset,
        # rounded down as the scores are rounded: every result shown is at or above it, and passed back it keeps them
        "threshold": math.floor(page.threshold * 1e6) / 1e6 if page.threshold is not None else None,
        "no_good_match": page.no_good_match,
        "undated_left_out": filters.undated_left_out(services().library, within) if query["offset"] == 0 else None,
        "took_ms": round(took * 1000, 1),
    }


class Count(ma.Schema):
    value = ma.fields.String(required=True)
    count = ma.fields.Integer(required=True)


class Filters(ma.Schema):
    images = ma.fields.Integer(required=True)
    undated = ma.fields.Integer(required=True, metadata={"description": "Images without a date taken"})
    folders = ma.fields.List(ma.fields.Nested(Count), metadata={
        "description": "Every folder at or under an indexed one, by path, with the images in it and its subfolders"})
    cameras = ma.fields.List(ma.fields.Nested(Count), metadata={"description": "Commonest first"})
    formats = ma.fields.List(ma.fields.Nested(Count), metadata={"description": "File types, commonest first"})


@api.get("/filters", tags=["search"])
@api.response(200, Filters, description="The choices, with counts")
@access(api)
def filters():
    """What searches can be narrowed by: folders, cameras, file types, with their image counts"""
    return library_facets(services().library).to_dict()


class UploadForm(ma.Schema):
    image = Upload(required=True, metadata={"description": "The image file"})


class Uploaded(ma.Schema):
    id = ma.fields.String(required=True)
    url = ma.fields.String()
    search_url = ma.fields.String()


@api.post("/uploads", tags=["search"])
@api.arguments(UploadForm, location="files")
@api.response(201, Uploaded, description="Stored")
@access(api, errors={413: "Too large", **CSRF_REFUSED})
def upload(form: dict):
    """Upload a query image; search with its ID (?upload=ID)"""
    upload_id = services().save_upload(form["image"].read())
    return {"id": upload_id, "url": url_for("api.upload_file", upload_id=upload_id),
            "search_url": url_for("pages.search_page", upload=upload_id)}, 201


@api.get("/uploads/<upload_id>", tags=["search"])
@api.response(200, BINARY, content_type="image/jpeg", description="JPEG")
@access(api, errors={404: "Not found"})
def upload_file(upload_id: str):
    """An uploaded query image (JPEG)"""
    if not matches(UPLOAD_PATTERN, upload_id):
        raise NotFoundError("No such upload.")
    path = services().upload_path(upload_id)
    if not path.is_file():
        raise NotFoundError("No such upload; upload the image again.")
    return send_file(path, mimetype="image/jpeg", max_age=86400)
