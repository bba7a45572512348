"""The HTML pages, one module and blueprint per area: search (search, image, sign-in), concepts (the grid, one
concept), the map, selections and the admin page. Pages render from `indexer/` reads; their scripts in web/static/
load the rest from the JSON API."""

from .admin import admin_pages
from .concepts import concept_pages
from .map import map_pages
from .search import pages
from .selections import selection_pages

BLUEPRINTS = (pages, concept_pages, map_pages, selection_pages, admin_pages)

__all__ = ["BLUEPRINTS", "admin_pages", "concept_pages", "map_pages", "pages", "selection_pages"]
