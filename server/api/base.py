"""What every area of the JSON API shares: the blueprint, the OpenAPI document, schemas, ID patterns, helpers."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import marshmallow as ma
from flask import current_app, g, url_for

from indexer.concepts import map_data, publish, read
from indexer.errors import NotFoundError, PixceptError
from indexer.jobs import JOB_KINDS
from indexer.store import IMAGES

from ..openapi import ApiBlueprint

api = ApiBlueprint("api", __name__, url_prefix="/api",
                   description="Semantic image search over a self-hosted photo library.")


class JobsUnavailable(PixceptError):
    """Jobs asked of a server that runs none."""


ID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UPLOAD_PATTERN = r"[0-9a-f]{32}"
JOB_PATTERN = r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}"
JOB_WAIT_LIMIT = 30.0
MAX_PAGE = 200  # results per search request
AREA = ma.fields.List(
    ma.fields.List(ma.fields.Float(validate=ma.validate.Range(-100, 100)), validate=ma.validate.Length(equal=2)),
    validate=ma.validate.Length(3, map_data.MAX_AREA_CORNERS), metadata={
        "description": "An area of the concept map: a polygon [[x, y], ...] in the coordinates of /api/map/points "
                       "(a box or a lasso); the images whose points lie inside it"})
JOB_STATES = ["queued", "running", "done", "failed", "cancelled", "interrupted"]

F = ma.fields


class Image(ma.Schema):
    id = F.String(required=True)
    score = F.Float(allow_none=True)
    path = F.String(required=True)
    paths = F.List(F.String())
    name = F.String()
    width = F.Integer(allow_none=True)
    height = F.Integer(allow_none=True)
    taken_at = F.String(allow_none=True, metadata={"description": "EXIF date taken, ISO 8601; with a UTC offset only "
                                                                  "where the camera recorded one"})
    taken = F.String(allow_none=True, metadata={"description": "The date taken as the photo's own clock shows it, "
                                                               "for people: 2 Jan 2023, 01:30 (UTC+09:00)"})
    camera = F.String(allow_none=True)
    format = F.String(allow_none=True)
    size = F.Integer(allow_none=True)
    thumbnail_url = F.String(required=True)
    file_url = F.String()
    preview_url = F.String()
    page_url = F.String()
    concept = F.Dict(allow_none=True, metadata={"description": "Its concept: id (-1: in none), labels, title, run"})
    example = F.Boolean(metadata={"description": "One of the query's own examples (like=), shown first on the "
                                                 "first page"})


class SearchResults(ma.Schema):
    results = F.List(F.Nested(Image), required=True)
    has_more = F.Boolean(required=True)
    next_offset = F.Integer(allow_none=True)
    threshold = F.Float(required=True, allow_none=True)
    no_good_match = F.Boolean(metadata={"description": "Nothing rose above chance: the results are the closest few, "
                                                       "weak (cutoff=0 lists everything)"})
    undated_left_out = F.Integer(allow_none=True, metadata={
        "description": "With a date range, on the first page: images left out only for having no date taken"})
    took_ms = F.Float()


class Job(ma.Schema):
    id = F.String(required=True)
    kind = F.String(required=True, validate=ma.validate.OneOf(JOB_KINDS))
    state = F.String(required=True, validate=ma.validate.OneOf(JOB_STATES))
    params = F.Dict()
    done = F.Integer(required=True)
    total = F.Integer(required=True)
    notes = F.List(F.String())
    result = F.Dict(allow_none=True)
    error = F.String(allow_none=True)
    version = F.Integer()


def services():
    return current_app.extensions["pixcept"]


def runner():
    """The job runner; 409 in a server started without one."""
    if services().runner is None:
        raise JobsUnavailable("This server runs no jobs. With a Qdrant server (QDRANT_URL), run `pixcept index` "
                              "directly: it writes to Qdrant itself.")
    return services().runner


def answer_run(required: bool = False) -> publish.Published | None:
    """The published concept run, resolved once per request: everything one answer says about concepts (a concept,
    its members, a concept filter, each image's concept) comes from this run, even while a new one is published.
    `required`: NoConceptsError when there is none."""
    if "concept_run" not in g:
        g.concept_run = publish.published(services().library)
    if required and g.concept_run is None:
        return publish.require_published(services().library)  # says why there are none
    return g.concept_run


def image_json(point_id: str, payload: dict, score: float | None = None) -> dict:
    path = payload.get("path", "")
    current = answer_run()
    return {
        "id": point_id, "score": None if score is None else round(score, 6), "path": path,
        "paths": payload.get("paths", [path]), "name": Path(path).name,
        "width": payload.get("width"), "height": payload.get("height"), "taken_at": payload.get("taken_at"),
        "taken": taken_text(payload.get("taken_at")),
        "camera": payload.get("camera"), "format": payload.get("format"), "size": payload.get("size"),
        "thumbnail_url": url_for("api.thumbnail", image_id=point_id),
        "file_url": url_for("api.image_file", image_id=point_id),
        "preview_url": url_for("api.preview", image_id=point_id),
        "page_url": url_for("pages.image_page", image_id=point_id),
        "concept": read.image_concept(services().library, payload, current) if current else None,
    }


def taken_text(taken_at: str | None) -> str | None:
    """A date taken as the photo's own clock shows it, never moved into the reader's zone; the zone only where the
    camera recorded one (and it is not UTC, which older libraries claimed for times without one)."""
    try:
        taken = datetime.fromisoformat(taken_at) if taken_at else None
    except ValueError:
        return taken_at
    if taken is None:
        return None
    offset = taken.strftime("%z")
    zone = f" (UTC{offset[:3]}:{offset[3:]})" if offset and offset != "+0000" else ""
    return f"{taken.day} {taken:%b %Y, %H:%M}{zone}"


def matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def indexed_point(image_id: str):
    """The stored point of an image ID from a URL; 404 for anything that is not one (never a store query)."""
    points = services().library.store.retrieve(IMAGES, [image_id]) if matches(ID_PATTERN, image_id) else []
    if not points:
        raise NotFoundError(f"No indexed image with ID {image_id[:60]}.")
    return points[0]
