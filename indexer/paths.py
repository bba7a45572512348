"""File paths that are not valid UTF-8, kept losslessly.

On Linux a file name is bytes; Python hands an undecodable byte over as a lone surrogate (b'\\xff' -> '\\udcff'),
which no JSON encoder of Qdrant accepts. A payload therefore holds each path twice when it has to: a display form
(U+FFFD for each undecodable byte; shown to people, matched by filters) and, only for such paths, the exact bytes
(hex), from which the path the file system knows is rebuilt.
"""

from __future__ import annotations

import os


def is_exact_text(path: str) -> bool:
    """True when the path is valid Unicode as it is (nearly always)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_path(path: str) -> str:
    """The path as people see it: each byte that is not UTF-8 shown as U+FFFD."""
    return path if is_exact_text(path) else os.fsencode(path).decode("utf-8", "replace")


def path_entry(path: str) -> dict:
    """The payload fields of one path: {"path": display form} plus {"path_bytes": hex} when the two differ."""
    if is_exact_text(path):
        return {"path": path}
    return {"path": display_path(path), "path_bytes": os.fsencode(path).hex()}


def exact_path(entry: dict) -> str:
    """The file system's path of a payload entry made by `path_entry`."""
    raw = entry.get("path_bytes")
    return os.fsdecode(bytes.fromhex(raw)) if raw else entry["path"]
