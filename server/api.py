"""The JSON API under /api: everything the web pages do, plus the jobs the CLI runs through a serving process."""

from __future__ import annotations

import mimetypes
import re
import time
from datetime import date
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, send_file, url_for

from indexer.errors import NotFoundError, PixceptError, UsageError
from indexer.files import thumbnail_path
from indexer.paths import display_path
from indexer.search import MAX_QUERY_CHARS, RELATIVE_CUTOFF, search_filter, search_page
from indexer.store import IMAGES

from . import auth
from .openapi import ApiSpec, Param
from .ratelimit import limit_model_use

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
    "id": {"type": "string"}, "kind": {"type": "string", "enum": ["index", "vocab"]},
    "state": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled", "interrupted"]},
    "params": {"type": "object"}, "done": {"type": "integer"}, "total": {"type": "integer"},
    "notes": {"type": "array", "items": {"type": "string"}}, "result": {"type": ["object", "null"]},
    "error": {"type": ["string", "null"]}, "version": {"type": "integer"}}})
JOB_REQUEST = spec.schema("JobRequest", {"type": "object", "required": ["kind"], "properties": {
    "kind": {"type": "string", "enum": ["index", "vocab"]},
    "params": {"type": "object", "description": "index: {folders: [path], prune, reindex, force}; vocab: {entries: [word]} "
                                                "(none: the default vocabulary)"}}})


def _json(description: str, schema: dict) -> tuple:
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


# -- health -----------------------------------------------------------------------------------------------------------

@api.get("/health")
@spec.operation("/health", "GET", "Liveness: the process answers", tags=("status",), auth=None,
                responses={200: _json("Alive", {"type": "object"})})
def health(query):
    return {"status": "ok"}


@api.get("/ready")
@spec.operation("/ready", "GET", "Readiness: store open and model warm", tags=("status",), auth=None,
                responses={200: _json("Ready", {"type": "object"})})
def ready(query):
    if not services().ready:
        return {"error": {"status": 503, "message": "Starting: opening the library and loading the model."}}, 503
    return {"ready": True}


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
                tags=("search",), params=SEARCH_PARAMS, responses={200: _json("Results, best first", SEARCH)})
def search(query):
    started = time.perf_counter()
    like, uploads = tuple(query["like"][:MAX_QUERY_IMAGES]), tuple(query["upload"][:MAX_QUERY_IMAGES])
    text = query["q"] or ""
    kind = "image" if (uploads or like) and not text.strip() else "text"
    limit_model_use()
    where = search_filter(query["folder"], _day(query["from"], "from"), _day(query["to"], "to"))
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
                responses={201: _json("Stored", {"type": "object", "required": ["id"], "properties": {
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
    if not _valid(UPLOAD_PATTERN, upload_id):
        raise NotFoundError("No such upload.")
    path = services().upload_path(upload_id)
    if not path.is_file():
        raise NotFoundError("No such upload; upload the image again.")
    return send_file(path, mimetype="image/jpeg", max_age=86400)


# -- images -----------------------------------------------------------------------------------------------------------

IMAGE_ID = (Param("image_id", {"type": "string"}, location="path"),)


def _valid(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def indexed_point(image_id: str):
    """The stored point of an image ID from a URL; 404 for anything that is not one (never a store query)."""
    points = services().library.store.retrieve(IMAGES, [image_id]) if _valid(ID_PATTERN, image_id) else []
    if not points:
        raise NotFoundError(f"No indexed image with ID {image_id[:60]}.")
    return points[0]


@api.get("/images/<image_id>")
@spec.operation("/images/<image_id>", "GET", "One image's metadata", tags=("images",), params=IMAGE_ID,
                responses={200: _json("The image", IMAGE), 404: "Not found"})
def image(query, image_id: str):
    point = indexed_point(image_id)
    return {**image_json(point.id, point.payload), "metadata": {
        k: v for k, v in point.payload.items() if k not in ("files", "folders")}}


@api.get("/images/<image_id>/thumbnail")
@spec.operation("/images/<image_id>/thumbnail", "GET", "The image's thumbnail (JPEG, 256 px)", tags=("images",),
                params=IMAGE_ID, responses={200: ("JPEG", "image/jpeg", {"type": "string", "format": "binary"}),
                                            404: "Not found"})
def thumbnail(query, image_id: str):
    point = indexed_point(image_id)
    path = thumbnail_path(services().library.thumbnail_dir, point.payload["sha256"])
    if not path.is_file():
        raise NotFoundError("This image has no thumbnail; `pixcept index` makes it again.")
    return send_file(path, mimetype="image/jpeg", max_age=86400)


@api.get("/images/<image_id>/preview")
@spec.operation("/images/<image_id>/preview", "GET", "The image at screen size (JPEG, at most 1600 px)",
                tags=("images",), params=IMAGE_ID,
                responses={200: ("JPEG", "image/jpeg", {"type": "string", "format": "binary"}), 404: "Not found"})
def preview(query, image_id: str):
    point = indexed_point(image_id)
    return send_file(services().preview(point.payload), mimetype="image/jpeg", max_age=86400)


@api.get("/images/<image_id>/file")
@spec.operation("/images/<image_id>/file", "GET", "The original file", tags=("images",), params=IMAGE_ID,
                responses={200: ("The file", "application/octet-stream", {"type": "string", "format": "binary"}),
                           404: "Not found"})
def image_file(query, image_id: str):
    payload = indexed_point(image_id).payload
    original = services().library.open_original(payload)
    return send_file(original, mimetype=mimetypes.guess_type(original.name)[0] or "application/octet-stream",
                     max_age=3600, etag=payload["sha256"],
                     download_name=display_path(Path(original.name).name))


@api.get("/folders")
@spec.operation("/folders", "GET", "The indexed folders", tags=("images",),
                responses={200: _json("Folders", {"type": "object", "properties": {
                    "folders": {"type": "array", "items": {"type": "string"}}}})})
def folders(query):
    return {"folders": services().library.manifest.get("roots", [])}


@api.get("/status")
@spec.operation("/status", "GET", "What the library holds and which model reads it", tags=("status",),
                responses={200: _json("Status", {"type": "object"})})
def status(query):
    runner = services().runner
    return {**services().library.status(), "jobs": [j.to_dict() for j in runner.list(limit=5)] if runner else []}


# -- jobs (admin) -----------------------------------------------------------------------------------------------------

JOB_ID = (Param("job_id", {"type": "string"}, location="path"),)


@api.get("/jobs")
@spec.operation("/jobs", "GET", "Recent jobs, newest first", tags=("jobs",), auth="admin",
                responses={200: _json("Jobs", {"type": "object", "properties": {
                    "jobs": {"type": "array", "items": JOB}}})})
def jobs(query):
    return {"jobs": [j.to_dict() for j in runner().list()]}


@api.post("/jobs")
@spec.operation("/jobs", "POST", "Start a job (index folders on the server, embed vocabulary)", tags=("jobs",),
                auth="admin", body=JOB_REQUEST, responses={202: _json("Queued", JOB)})
def start_job(query):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
        raise UsageError("Send JSON like {\"kind\": \"index\", \"params\": {\"folders\": [\"/photos\"]}}.")
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise UsageError("`params` must be an object.")
    return runner().submit(body["kind"], params).to_dict(), 202


@api.get("/jobs/<job_id>")
@spec.operation("/jobs/<job_id>", "GET", "A job; with `after`, waits until it changes (long poll)", tags=("jobs",),
                auth="admin", params=JOB_ID + (
                    Param("after", {"type": "integer", "minimum": -1, "maximum": 2**53},
                          "Wait until the job's version passes this."),
                    Param("wait", {"type": "number", "minimum": 0, "maximum": JOB_WAIT_LIMIT, "default": 10},
                          "Longest wait in seconds.")),
                responses={200: _json("The job", JOB), 404: "Not found"})
def job(query, job_id: str):
    if query["after"] is None:
        return runner().get(job_id).to_dict()
    return runner().wait(job_id, query["after"], query["wait"]).to_dict()


@api.post("/jobs/<job_id>/cancel")
@spec.operation("/jobs/<job_id>/cancel", "POST", "Stop a job; what it finished is kept", tags=("jobs",),
                auth="admin", params=JOB_ID, responses={200: _json("The job", JOB), 404: "Not found"})
def cancel_job(query, job_id: str):
    return runner().cancel(job_id).to_dict()


@api.post("/jobs/<job_id>/resume")
@spec.operation("/jobs/<job_id>/resume", "POST", "Run an interrupted, failed or cancelled job again",
                tags=("jobs",), auth="admin", params=JOB_ID, responses={202: _json("The new job", JOB),
                                                                        404: "Not found"})
def resume_job(query, job_id: str):
    return runner().resume(job_id).to_dict(), 202


@api.get("/session")
@spec.operation("/session", "GET", "This session's CSRF token and access level", tags=("status",), auth=None,
                responses={200: _json("Session", {"type": "object", "properties": {
                    "csrf_token": {"type": "string"}, "level": {"type": ["string", "null"]}}})})
def session_info(query):
    return {"csrf_token": auth.csrf_token(), "level": auth.current_level()}


@api.get("/openapi.json")
@spec.operation("/openapi.json", "GET", "This document", tags=("status",), auth=None,
                responses={200: _json("OpenAPI 3.1", {"type": "object"})})
def openapi(query):
    return jsonify(spec.document())
