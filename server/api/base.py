"""What every area of the JSON API shares: the blueprint, the OpenAPI document, schemas, ID patterns, helpers."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, current_app, url_for

from indexer.errors import NotFoundError, PixceptError
from indexer.store import IMAGES

from ..openapi import ApiSpec, Param

api = Blueprint("api", __name__, url_prefix="/api")


class JobsUnavailable(PixceptError):
    """Jobs asked of a server that runs none."""


spec = ApiSpec("pixcept", "1", "Semantic image search over a self-hosted photo library.")

ID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UPLOAD_PATTERN = r"[0-9a-f]{32}"
JOB_PATTERN = r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}"
DATE = {"type": "string", "pattern": r"\d{4}-\d{2}-\d{2}", "description": "YYYY-MM-DD"}
JOB_WAIT_LIMIT = 30.0
MAX_QUERY_IMAGES = 8
MAX_PAGE = 200  # results per search request

IMAGE = spec.schema("Image", {"type": "object", "required": ["id", "path", "thumbnail_url"], "properties": {
    "id": {"type": "string"}, "score": {"type": ["number", "null"]}, "path": {"type": "string"},
    "paths": {"type": "array", "items": {"type": "string"}}, "name": {"type": "string"},
    "width": {"type": ["integer", "null"]}, "height": {"type": ["integer", "null"]},
    "taken_at": {"type": ["string", "null"]}, "camera": {"type": ["string", "null"]},
    "format": {"type": ["string", "null"]}, "size": {"type": ["integer", "null"]},
    "thumbnail_url": {"type": "string"}, "file_url": {"type": "string"}, "preview_url": {"type": "string"},
    "page_url": {"type": "string"}}})
SEARCH = spec.schema("SearchResults", {"type": "object", "required": ["results", "has_more", "threshold"],
                                       "properties": {
    "results": {"type": "array", "items": IMAGE}, "has_more": {"type": "boolean"},
    "next_offset": {"type": ["integer", "null"]}, "threshold": {"type": ["number", "null"]},
    "took_ms": {"type": "number"}}})
JOB = spec.schema("Job", {"type": "object", "required": ["id", "kind", "state", "done", "total"], "properties": {
    "id": {"type": "string"}, "kind": {"type": "string", "enum": ["index", "vocab", "cluster"]},
    "state": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled", "interrupted"]},
    "params": {"type": "object"}, "done": {"type": "integer"}, "total": {"type": "integer"},
    "notes": {"type": "array", "items": {"type": "string"}}, "result": {"type": ["object", "null"]},
    "error": {"type": ["string", "null"]}, "version": {"type": "integer"}}})
JOB_REQUEST = spec.schema("JobRequest", {"type": "object", "required": ["kind"], "properties": {
    "kind": {"type": "string", "enum": ["index", "vocab", "cluster"]},
    "params": {"type": "object", "description": "index: {folders: [path], prune, reindex, force}; vocab: {entries: "
                                                "[word]} (none: the default vocabulary); cluster: {if_changed | relabel "
                                                "| rollback, seed, min_concept_size, sample_size}"}}})


def json_content(description: str, schema: dict) -> tuple:
    return description, "application/json", schema


def services():
    return current_app.extensions["pixcept"]


def runner():
    """The job runner; 409 in a server with several workers (each would run its own queue)."""
    if services().runner is None:
        raise JobsUnavailable("This server runs several worker processes, so it runs no jobs. With a Qdrant server "
                              "(QDRANT_URL), run `pixcept index` directly: it writes to Qdrant itself.")
    return services().runner


def image_json(point_id: str, payload: dict, score: float | None = None) -> dict:
    path = payload.get("path", "")
    return {
        "id": point_id, "score": None if score is None else round(score, 6), "path": path,
        "paths": payload.get("paths", [path]), "name": Path(path).name,
        "width": payload.get("width"), "height": payload.get("height"), "taken_at": payload.get("taken_at"),
        "camera": payload.get("camera"), "format": payload.get("format"), "size": payload.get("size"),
        "thumbnail_url": url_for("api.thumbnail", image_id=point_id),
        "file_url": url_for("api.image_file", image_id=point_id),
        "preview_url": url_for("api.preview", image_id=point_id),
        "page_url": url_for("pages.image_page", image_id=point_id),
    }


IMAGE_ID = (Param("image_id", {"type": "string"}, location="path"),)


def matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def indexed_point(image_id: str):
    """The stored point of an image ID from a URL; 404 for anything that is not one (never a store query)."""
    points = services().library.store.retrieve(IMAGES, [image_id]) if matches(ID_PATTERN, image_id) else []
    if not points:
        raise NotFoundError(f"No indexed image with ID {image_id[:60]}.")
    return points[0]
