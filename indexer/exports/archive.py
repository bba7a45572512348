"""ZIP archives of the original files, streamed: `zip` (the originals under images/ with the manifest) and
`imagefolder` (one folder per concept, as torchvision's ImageFolder loads it). CVAT and COCO build on `Archive`.

Archives are stored, not compressed (photos do not compress), and streamed by zipstream-ng: nothing is copied to
disk and one file at a time to memory, and the size is known before the first byte, so a download shows its
progress. A name taken twice (the same file name in two folders) gets -2, -3...: nothing is overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from ..library import Library
from .base import Contents, Export, slug
from .records import Classes, Record, Source
from .table import csv_bytes, json_bytes

CHUNK = 1 << 20
READ_AT_ONCE = 64 << 20  # originals up to this size are read (and hashed) once, larger ones in parts


class Archive:
    """One streamed ZIP: the originals of the records present on disk, files made here, the manifest."""

    def __init__(self, library: Library):
        import zipstream

        self.library = library
        self.stream = zipstream.ZipStream(compress_type=zipstream.ZIP_STORED, sized=True)
        self.present: list[Record] = []
        self.missing: list[str] = []  # paths of originals gone or changed since indexing: left out
        self._taken: set[str] = set()

    def add_originals(self, found: list[Record], folder_of: Callable[[Record], str]) -> dict[str, str]:
        """Add each record's original file in its folder; {record ID: its path in the archive}."""
        names = {}
        for record in self.check_originals(found):
            names[record.id] = self._unique(f"{folder_of(record)}/{record.name}")
            self.stream.add(self._original_chunks(record), names[record.id], size=_file_size(record))
        return names

    def check_originals(self, found: list[Record]) -> list[Record]:
        """The records whose original is where it was indexed (kept as present; the others' paths as missing)."""
        present = []
        for record in found:
            if self.library.original_unchanged(record.payload):
                present.append(record)
            else:
                self.missing.append(record.path)
        self.present += present
        return present

    def add(self, data: bytes, name: str) -> None:
        self.stream.add(data, name)

    def add_manifest(self, source: Source) -> None:
        """manifest.csv and manifest.json of the images the archive holds (and the paths of those it could not)."""
        self.add(csv_bytes(self.present), "manifest.csv")
        self.add(json_bytes(source, self.present, self.missing), "manifest.json")

    def export(self, filename: str) -> Export:
        return Export(filename, "application/zip", self.stream, len(self.stream), len(self.present), self.missing)

    def _original_chunks(self, record: Record) -> Iterator[bytes]:
        size = _file_size(record) or 0
        data = self.library.read_original(record.payload, READ_AT_ONCE) if size <= READ_AT_ONCE else None
        if data is not None:
            view = memoryview(data)
            for start in range(0, len(view), CHUNK):
                yield bytes(view[start:start + CHUNK])
            return
        with self.library.open_original(record.payload) as handle:  # large, or it moved: NotFoundError ends it
            while chunk := handle.read(CHUNK):
                yield chunk

    def _unique(self, name: str) -> str:
        """`name`, or name-2, name-3... when an earlier file took it."""
        stem, suffix, parent = Path(name).stem, Path(name).suffix, str(Path(name).parent)
        candidate, n = name, 1
        while candidate.lower() in self._taken:
            n += 1
            candidate = f"{parent}/{stem}-{n}{suffix}"
        self._taken.add(candidate.lower())
        return candidate


def _file_size(record: Record) -> int | None:
    files = record.payload.get("files") or []
    return int(files[0]["size"]) if files and "size" in files[0] else record.size


def zip_export(contents: Contents) -> Export:
    archive = Archive(contents.library)
    archive.add_originals(contents.records, lambda record: "images")
    archive.add_manifest(contents.source)
    return archive.export(f"{slug(contents.source.title)}.zip")


def imagefolder_export(contents: Contents) -> Export:
    classes = Classes.of_records(contents.records)
    archive = Archive(contents.library)
    archive.add_originals(contents.records,
                          lambda record: slug(classes.of(record) or "unsorted"))
    archive.add_manifest(contents.source)
    return archive.export(f"{slug(contents.source.title)}-imagefolder.zip")
