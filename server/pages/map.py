"""The concept map page (/map): the library as WebGL points (web/static/map.js draws /api/map/points)."""

from __future__ import annotations

from flask import Blueprint, make_response, render_template

from indexer.concepts import read
from indexer.concepts.publish import NoConceptsError

from ..api import services

map_pages = Blueprint("map_pages", __name__)

# regl (under regl-scatterplot) compiles its draw calls with `Function` and builds its spatial index in a blob worker:
# this page alone allows both; everything else keeps the strict policy.
MAP_POLICY = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self' 'unsafe-eval'; "
              "worker-src 'self' blob:; frame-ancestors 'none'")


@map_pages.get("/map")
def map_page():
    try:
        read.snapshot(services().library)
        empty = None
    except NoConceptsError as error:
        empty = str(error)
    response = make_response(render_template("map.html", empty=empty))
    response.headers["Content-Security-Policy"] = MAP_POLICY
    return response
