"""Exports: a set of images (a selection, a concept, a search) as files other tools open.

`records.py` gathers what is said about each image (one `Record`); one module per format writes them:
`table.py` (CSV, JSON), `archive.py` (ZIP of the original files with the manifest, streamed), `imagefolder.py`
(a ZIP with one folder per class, as torchvision's ImageFolder loads it).
"""

from __future__ import annotations

from .records import MAX_EXPORT, Record, Source, records
from .writers import FORMATS, MEDIA_TYPES, Export, export

__all__ = ["FORMATS", "MAX_EXPORT", "MEDIA_TYPES", "Export", "Record", "Source", "export", "records"]
