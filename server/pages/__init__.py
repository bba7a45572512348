"""The HTML pages, one module and blueprint per area: search (search, image, sign-in) and concepts (the grid, one
concept). Pages render from `indexer/` reads; their scripts in web/static/ load the rest from the JSON API."""

from .concepts import concept_pages
from .search import pages

BLUEPRINTS = (pages, concept_pages)

__all__ = ["BLUEPRINTS", "concept_pages", "pages"]
