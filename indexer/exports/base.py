"""What every format gets (`Contents`) and gives back (`Export`): the records of one source, and a stream of bytes
written as it is read (a download, a file)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from ..library import Library
from .records import Record, Source


@dataclass(frozen=True)
class Links:
    """Where the people who open the export reach this pixcept (formats that link to images instead of holding
    them), and the export token that lets them in."""

    base_url: str  # e.g. "https://photos.example.org/"
    by: str  # who exports: recorded with the token
    days: int  # how long the token opens the images


@dataclass
class Contents:
    library: Library
    source: Source
    records: list[Record]
    links: Links | None = None


@dataclass
class Export:
    filename: str
    mimetype: str
    chunks: Iterable[bytes]
    size: int | None  # bytes, when known before streaming
    count: int  # images
    missing: list[str]  # paths of images whose original file is gone (left out of archives)


def slug(text: str) -> str:
    """`text` as a file or folder name on any system."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "export"


def whole(filename: str, mimetype: str, data: bytes, count: int) -> Export:
    """An export made in memory at once (a manifest, a task list)."""
    return Export(filename, mimetype, [data], len(data), count, [])
