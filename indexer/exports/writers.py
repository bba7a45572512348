"""The export formats: each turns records into a stream of bytes, written as it is read (a download, a file).

- csv, json: the manifest (`Record.row`): in CSV, lists (paths, tags) are JSON arrays in their cell;
- zip: the original files under images/ (a name taken twice gets -2, -3...) with manifest.csv and manifest.json;
- imagefolder: the originals in one folder per concept (its title; "unsorted" for none), as torchvision's
  ImageFolder loads them, with the manifest beside them.
ZIPs are stored, not compressed (photos do not compress), and streamed by zipstream-ng: nothing is copied to memory
or disk, and the size is known before the first byte, so a download shows its progress.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..clock import utc_now
from ..errors import UsageError
from ..library import Library
from .records import COLUMNS, Record, Source, records

CHUNK = 1 << 20
MEDIA_TYPES = ("text/csv", "application/json", "application/zip")


@dataclass
class Export:
    filename: str
    mimetype: str
    chunks: Iterable[bytes]
    size: int | None  # bytes, when known before streaming
    count: int  # images
    missing: list[str]  # paths of images whose original file is gone (left out of archives)


def export(library: Library, source: Source, fmt: str) -> Export:
    """The export of the source's images in format `fmt` (FORMATS)."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    found = records(library, source)
    return FORMATS[fmt](library, source, found)


def csv_bytes(found: list[Record]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in found:
        row = record.row()
        writer.writerow({**row, "paths": json.dumps(row["paths"]), "tags": json.dumps(row["tags"])})
    return out.getvalue().encode()


def json_bytes(source: Source, found: list[Record], missing: Iterable[str] = ()) -> bytes:
    return json.dumps({"source": source.title, "exported_at": utc_now(), "count": len(found),
                       "missing": list(missing), "images": [r.row() for r in found]}, indent=1).encode()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "export"


def _csv(library: Library, source: Source, found: list[Record]) -> Export:
    data = csv_bytes(found)
    return Export(f"{_slug(source.title)}.csv", "text/csv", [data], len(data), len(found), [])


def _json(library: Library, source: Source, found: list[Record]) -> Export:
    data = json_bytes(source, found)
    return Export(f"{_slug(source.title)}.json", "application/json", [data], len(data), len(found), [])


def _original_chunks(library: Library, record: Record) -> Iterator[bytes]:
    with library.open_original(record.payload) as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _archive(library: Library, source: Source, found: list[Record], folder_of: Callable[[Record], str]) -> Export:
    import zipstream

    stream = zipstream.ZipStream(compress_type=zipstream.ZIP_STORED, sized=True)
    taken: set[str] = set()
    present, missing = [], []
    for record in found:
        if not library.original_unchanged(record.payload):
            missing.append(record.path)
            continue
        present.append(record)
        stream.add(_original_chunks(library, record), _unique(f"{folder_of(record)}/{record.name}", taken),
                   size=_file_size(record))
    stream.add(csv_bytes(present), "manifest.csv")
    stream.add(json_bytes(source, present, missing), "manifest.json")
    return Export(f"{_slug(source.title)}.zip", "application/zip", stream, len(stream), len(present), missing)


def _file_size(record: Record) -> int | None:
    files = record.payload.get("files") or []
    return int(files[0]["size"]) if files and "size" in files[0] else record.size


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or name-2, name-3... when an earlier file took it: two photos of one name never overwrite."""
    stem, suffix = Path(name).stem, Path(name).suffix
    parent = str(Path(name).parent)
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{parent}/{stem}-{n}{suffix}"
    taken.add(candidate.lower())
    return candidate


def _zip(library: Library, source: Source, found: list[Record]) -> Export:
    return _archive(library, source, found, lambda record: "images")


def _imagefolder(library: Library, source: Source, found: list[Record]) -> Export:
    def class_of(record: Record) -> str:
        return _slug(record.concept_name) if record.concept is not None and record.concept >= 0 and \
            record.concept_name else "unsorted"

    export = _archive(library, source, found, class_of)
    export.filename = export.filename.replace(".zip", "-imagefolder.zip")
    return export


FORMATS: dict[str, Callable[[Library, Source, list[Record]], Export]] = {
    "csv": _csv, "json": _json, "zip": _zip, "imagefolder": _imagefolder}
