"""Every export format by name, and making an export of one source in one of them."""

from __future__ import annotations

from typing import Callable

from ..errors import UsageError
from ..library import Library
from .archive import imagefolder_export, zip_export
from .base import Contents, Export, Links
from .coco import coco_export
from .cvat import cvat_export
from .labelstudio import labelstudio_export
from .records import Source, records
from .table import csv_export, json_export

FORMATS: dict[str, Callable[[Contents], Export]] = {
    "csv": csv_export, "json": json_export, "zip": zip_export, "imagefolder": imagefolder_export,
    "labelstudio": labelstudio_export, "cvat": cvat_export, "coco": coco_export}
TITLES = {"csv": "CSV: a table of the images", "json": "JSON: the same as a document",
          "zip": "ZIP: the original files + a manifest", "imagefolder": "ImageFolder ZIP: a folder per concept",
          "cvat": "CVAT for images 1.1 (ZIP)", "coco": "COCO image labels (ZIP)",
          "labelstudio": "Label Studio tasks (images linked, not copied)"}
LINKED = {"labelstudio"}  # formats that link to pixcept (an export token) instead of holding the files
MEDIA_TYPES = ("text/csv", "application/json", "application/zip")


def export(library: Library, source: Source, fmt: str, links: Links | None = None) -> Export:
    """The export of the source's images in format `fmt` (FORMATS); linked formats need `links`."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    if fmt in LINKED and links is None:
        raise UsageError(f"A {fmt} export links to this pixcept's address: give it (--base-url).")
    return FORMATS[fmt](Contents(library, source, records(library, source), links))
