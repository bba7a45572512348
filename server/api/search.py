"""Searching images: by words, uploaded images, similar images, or all combined; uploads of query images."""

from __future__ import annotations

import time
from datetime import date

from flask import current_app, request, send_file, url_for

from indexer.errors import NotFoundError, UsageError
from indexer.concepts.read import concept_filter
from indexer.search import MAX_QUERY_CHARS, RELATIVE_CUTOFF, search_filter, search_page

from ..ratelimit import limit_model_use
from .base import (DATE, ID_PATTERN, MAX_PAGE, MAX_QUERY_IMAGES, SEARCH, UPLOAD_PATTERN, Param, json_content, matches, api,
                   image_json, services, spec)


# -- search -----------------------------------------------------------------------------------------------------------

SEARCH_PARAMS = (
    Param("q", {"type": "string", "maxLength": MAX_QUERY_CHARS, "default": ""},
          "Words; a word starting with '-' is excluded (beach -people)."),
    Param("upload", {"type": "string", "pattern": UPLOAD_PATTERN}, "IDs of uploaded query images (POST /api/uploads).",
          repeated=True),
    Param("like", {"type": "string", "pattern": ID_PATTERN}, "Indexed image IDs to find more like.", repeated=True),
    Param("folder", {"type": "string", "maxLength": 4096}, "Only images under this folder.", repeated=True),
    Param("from", DATE, "Taken on or after this day (EXIF)."),
    Param("to", DATE, "Taken on or before this day (EXIF)."),
    Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 40}),
    Param("offset", {"type": "integer", "minimum": 0, "maximum": 100_000, "default": 0}),
    Param("cutoff", {"type": "number", "minimum": 0, "maximum": 1, "default": RELATIVE_CUTOFF},
          "Relevance cutoff relative to the top score (0 keeps everything)."),
    Param("threshold", {"type": "number", "minimum": -1, "maximum": 1},
          "The first page's threshold, passed back with later pages."),
    Param("concept", {"type": "integer", "minimum": -1, "maximum": 2**31}, "Only images of this concept (-1: in none)."),
)


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"`{name}` must be a date like 2024-07-31.") from None


@api.get("/search")
@spec.operation("/search", "GET", "Search images by text, uploaded image, similar images, or all combined",
                tags=("search",), params=SEARCH_PARAMS, responses={200: json_content("Results, best first", SEARCH),
                                                      409: "Filtering by concept, but no concepts yet"})
def search(query):
    started = time.perf_counter()
    like, uploads = tuple(query["like"][:MAX_QUERY_IMAGES]), tuple(query["upload"][:MAX_QUERY_IMAGES])
    text = query["q"] or ""
    kind = "image" if (uploads or like) and not text.strip() else "text"
    limit_model_use()
    concept = query["concept"]
    where = search_filter(query["folder"], _day(query["from"], "from"), _day(query["to"], "to"),
                          concept_filter(services().library, concept) if concept is not None else None)
    vector = services().query_vector(text, uploads, like)
    cutoff = query["cutoff"] or None
    page = search_page(services().library, like=like, limit=query["limit"], offset=query["offset"], where=where,
                       relative=cutoff, threshold=query["threshold"] if cutoff else None, vector=vector)
    took = time.perf_counter() - started
    current_app.extensions["pixcept_metrics"].searches.labels(kind).observe(took)
    return {
        "results": [image_json(r.id, r.payload, r.score) for r in page.results],
        "has_more": page.has_more,
        "next_offset": query["offset"] + len(page.results) if page.has_more else None,
        "threshold": page.threshold,
        "took_ms": round(took * 1000, 1),
    }


@api.post("/uploads")
@spec.operation("/uploads", "POST", "Upload a query image; search with its ID (?upload=ID)", tags=("search",),
                body={"type": "object", "required": ["image"],
                      "properties": {"image": {"type": "string", "contentMediaType": "application/octet-stream"}}},
                body_type="multipart/form-data",
                responses={201: json_content("Stored", {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string"}, "url": {"type": "string"}, "search_url": {"type": "string"}}}),
                    413: "Too large"})
def upload(query):
    limit_model_use()
    file = request.files.get("image")
    if file is None:
        raise UsageError("Send the image as the multipart form field `image`.")
    upload_id = services().save_upload(file.read())
    return {"id": upload_id, "url": url_for("api.upload_file", upload_id=upload_id),
            "search_url": url_for("pages.search_page", upload=upload_id)}, 201


@api.get("/uploads/<upload_id>")
@spec.operation("/uploads/<upload_id>", "GET", "An uploaded query image (JPEG)", tags=("search",),
                params=(Param("upload_id", {"type": "string"}, location="path"),),
                responses={200: ("JPEG", "image/jpeg", {"type": "string", "format": "binary"}), 404: "Not found"})
def upload_file(query, upload_id: str):
    if not matches(UPLOAD_PATTERN, upload_id):
        raise NotFoundError("No such upload.")
    path = services().upload_path(upload_id)
    if not path.is_file():
        raise NotFoundError("No such upload; upload the image again.")
    return send_file(path, mimetype="image/jpeg", max_age=86400)
