"""The HTML pages, one module and blueprint per area: search (search, image, sign-in), concepts (the grid, one
concept) and the map. Pages render from `indexer/` reads; their scripts in web/static/ load the rest from the JSON
API."""

from .concepts import concept_pages
from .map import map_pages
from .search import pages

BLUEPRINTS = (pages, concept_pages, map_pages)

__all__ = ["BLUEPRINTS", "concept_pages", "map_pages", "pages"]
