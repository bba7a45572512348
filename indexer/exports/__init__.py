"""Exports: a set of images (a selection, a concept, a search) as files other tools open.

`records.py` gathers what is said about each image (one `Record`); one module per format writes them:
`table.py` (CSV, JSON), `archive.py` (ZIP of the originals with the manifest, streamed; ImageFolder), `cvat.py`
(CVAT for images 1.1), `coco.py` (COCO image labels), `labelstudio.py` (tasks + labelling config, images linked
through an export token: `tokens.py`). `formats.py` names them all.
"""

from __future__ import annotations

from .base import Export, Links
from .formats import FORMATS, LINKED, MEDIA_TYPES, TITLES, export
from .records import MAX_EXPORT, Record, Source, records

__all__ = ["FORMATS", "LINKED", "MAX_EXPORT", "MEDIA_TYPES", "Export", "Links", "Record", "Source", "TITLES",
           "export", "records"]
