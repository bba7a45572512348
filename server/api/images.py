"""One indexed image: metadata, thumbnail, screen-size preview, the original file; the indexed folders."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import send_file

from indexer.concepts.publish import SLOT_FIELDS
from indexer.concepts.read import image_concept
from indexer.errors import NotFoundError
from indexer.files import thumbnail_path
from indexer.paths import display_path

from .base import IMAGE, IMAGE_ID, json_content, api, image_json, indexed_point, services, spec


@api.get("/images/<image_id>")
@spec.operation("/images/<image_id>", "GET", "One image's metadata", tags=("images",), params=IMAGE_ID,
                responses={200: json_content("The image", IMAGE), 404: "Not found"})
def image(query, image_id: str):
    point = indexed_point(image_id)
    internal = ("files", "folders", "tags", *SLOT_FIELDS)
    return {**image_json(point.id, point.payload),
            "concept": image_concept(services().library, point.payload), "tags": point.payload.get("tags") or [],
            "metadata": {k: v for k, v in point.payload.items() if k not in internal}}


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
