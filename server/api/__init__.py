"""The JSON API under /api: everything the web pages do, plus the jobs the CLI runs through a serving process. One
module per area registers its routes on the blueprint of `base`."""

from . import accounts, admin, concepts, export_tokens, exports, images, jobs, map, search, selections, status  # noqa: F401
from .base import MAX_PAGE, JobsUnavailable, api, image_json, indexed_point, services

__all__ = ["MAX_PAGE", "JobsUnavailable", "api", "image_json", "indexed_point", "services"]
