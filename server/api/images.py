"""One indexed image: metadata, thumbnail, screen-size preview, the original file; the indexed folders."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import marshmallow as ma
from flask import send_file

from indexer.concepts.publish import SLOT_FIELDS
from indexer.errors import NotFoundError
from indexer.images import thumbnail_path
from indexer.paths import display_path

from ..openapi import BINARY, NOT_FOUND, Query, access, opens_with_export_token
from .base import Image, api, image_json, indexed_point, services


class ImageDetail(Image):
    tags = ma.fields.List(ma.fields.List(ma.fields.Raw()), metadata={"description": "Suggested tags: [word, score]"})
    metadata = ma.fields.Dict(metadata={"description": "Everything else indexed about it (EXIF, folder, ...)"})


@api.get("/images/<image_id>", tags=["images"])
@api.response(200, ImageDetail, description="The image")
@access(api, errors=NOT_FOUND)
def image(image_id: str):
    """One image's metadata, concept and suggested tags"""
    point = indexed_point(image_id)
    internal = ("files", "folders", "tags", *SLOT_FIELDS)
    return {**image_json(point.id, point.payload), "tags": point.payload.get("tags") or [],
            "metadata": {k: v for k, v in point.payload.items() if k not in internal}}


@api.get("/images/<image_id>/thumbnail", tags=["images"])
@api.response(200, BINARY, content_type="image/jpeg", description="JPEG")
@access(api, errors=NOT_FOUND)
def thumbnail(image_id: str):
    """The image's thumbnail (JPEG, 256 px)"""
    point = indexed_point(image_id)
    path = thumbnail_path(services().library.thumbnail_dir, point.payload["sha256"])
    if not path.is_file():
        raise NotFoundError("This image has no thumbnail; `pixcept index` makes it again.")
    return send_file(path, mimetype="image/jpeg", max_age=86400)


@api.get("/images/<image_id>/preview", tags=["images"])
@api.response(200, BINARY, content_type="image/jpeg", description="JPEG")
@access(api, errors=NOT_FOUND)
def preview(image_id: str):
    """The image at screen size (JPEG, at most 1600 px)"""
    point = indexed_point(image_id)
    return send_file(services().preview(point.payload), mimetype="image/jpeg", max_age=86400)


class FileQuery(Query):
    export_token = ma.fields.String(metadata={"description": "An export token (from a Label Studio export) in "
                                                             "place of credentials: opens the files of its images"})


@api.get("/images/<image_id>/file", tags=["images"])
@api.arguments(FileQuery, location="query")
@api.response(200, BINARY, content_type="application/octet-stream", description="The file")
@access(api, errors=NOT_FOUND)
@opens_with_export_token
def image_file(query: dict, image_id: str):
    """The original file"""
    payload = indexed_point(image_id).payload
    original = services().library.open_original(payload)
    return send_file(original, mimetype=mimetypes.guess_type(original.name)[0] or "application/octet-stream",
                     max_age=3600, etag=payload["sha256"],
                     download_name=display_path(Path(original.name).name))
