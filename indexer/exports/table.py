"""The manifest as CSV and JSON (`Record.row`): in CSV, lists (paths, tags) are JSON arrays in their cell."""

from __future__ import annotations

import csv
import io
import json
from typing import Iterable

from ..clock import utc_now
from .base import Contents, Export, slug, whole
from .records import COLUMNS, Record, Source


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


def csv_export(contents: Contents) -> Export:
    return whole(f"{slug(contents.source.title)}.csv", "text/csv", csv_bytes(contents.records),
                 len(contents.records))


def json_export(contents: Contents) -> Export:
    return whole(f"{slug(contents.source.title)}.json", "application/json",
                 json_bytes(contents.source, contents.records), len(contents.records))
