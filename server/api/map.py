"""The concept map: labels and centres (JSON), every image's position and concept (one binary block), and the images
at map positions (hover, click, selections)."""

from __future__ import annotations

import marshmallow as ma
from flask import make_response, request

from indexer.concepts import map_data

from ..openapi import NO_CONCEPTS, Query, access, integer, repeated
from .base import Image, api, image_json, services

F = ma.fields
MAX_SELECTION_PAGE = 500


class Place(ma.Schema):
    id = F.Integer(required=True)
    title = F.String()
    size = F.Integer()
    parent = F.Integer()
    x = F.Float(required=True)
    y = F.Float(required=True)
    concepts = F.List(F.Integer(), metadata={"description": "Groups: the concepts under it"})


class MapSummary(ma.Schema):
    run = F.Integer(required=True)
    count = F.Integer(required=True, metadata={"description": "Points in /api/map/points"})
    point_format = F.String()
    concepts = F.List(F.Nested(Place), metadata={"description": "Each concept's label position (its median)"})
    groups = F.List(F.Nested(Place), metadata={"description": "Each group's label position, for zoomed-out views"})


class MapImagesQuery(Query):
    index = repeated(integer(0, 2**31), "Positions in /api/map/points, at most 500.")


class MapImages(ma.Schema):
    images = F.List(F.Nested(Image))


@api.get("/map", tags=["map"])
@api.response(200, MapSummary, description="The map's labels")
@access(api, errors=NO_CONCEPTS)
def concept_map():
    """The concept map: its point count and the label positions of concepts and groups"""
    return map_data.map_summary(services().library)


@api.get("/map/points", tags=["map"])
@api.response(200, {"type": "string", "format": "binary", "description": map_data.POINT_FORMAT},
              content_type="application/octet-stream", description="Every point, as one binary block")
@access(api, errors=NO_CONCEPTS)
def map_points():
    """Every image's map position and concept, compactly: float32 x[n], float32 y[n], int32 concept[n]"""
    layout = map_data.map_layout(services().library)
    etag = f"run-{layout.run}-{len(layout.ids)}"
    if request.if_none_match.contains(etag):
        return make_response("", 304)
    response = make_response(layout.points_bytes())
    response.headers.update({"Content-Type": "application/octet-stream", "X-Points": str(len(layout.ids)),
                             "Cache-Control": "private, max-age=0, must-revalidate"})
    response.set_etag(etag)
    return response


@api.get("/map/images", tags=["map"])
@api.arguments(MapImagesQuery, location="query")
@api.response(200, MapImages, description="The images, in the order asked")
@access(api, errors=NO_CONCEPTS)
def map_images(query: dict):
    """The images at map positions (indices into /api/map/points), at most 500 per request"""
    indices = query["index"][:MAX_SELECTION_PAGE]
    return {"images": [image_json(p.id, p.payload) for p in map_data.images_at(services().library, indices)]}
