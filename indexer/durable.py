"""Files written whole or not at all: the one way pixcept replaces a file (manifest, job records, failed files,
pending index writes, montages, thumbnails, revoked sessions, uploads), and copies folders (shards, backups)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any], staging: Path | None = None,
                 durable: bool = True) -> None:
    """Replace `path` with what `write(file)` writes: into a temporary file beside it (or in `staging`, on the same
    file system), then renamed over it, so readers and a crash see the old file or the new one, never a part. With
    `durable`, the file and its folder's entry are flushed to disk first, so a power loss cannot leave an empty
    file either; files that can be made again (thumbnails) skip that cost."""
    path = Path(path)
    folder = Path(staging) if staging is not None else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if durable:
        fsync_folder(path.parent)


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    atomic_write(path, lambda out: out.write(data), durable=durable)


def atomic_write_json(path: Path, data: Any, **dumps: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, **dumps).encode("utf-8"))


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename in it) to disk; a no-op where folders cannot be opened (Windows)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_COPY_BLOCK = 1 << 16  # small enough to keep the holes of 4 KiB-page files


def copy_file_keeping_holes(source: str, target: str) -> None:
    """Copy a file, leaving its all-zero blocks as holes: Qdrant pre-allocates write-ahead logs and storage pages
    (32 MB each, mostly zeros), which a plain copy would write out in full, several times the data per shard."""
    with open(source, "rb") as read, open(target, "wb") as out:
        while block := read.read(_COPY_BLOCK):
            if block.count(0) == len(block):
                out.seek(len(block), os.SEEK_CUR)
            else:
                out.write(block)
        out.truncate()
    shutil.copystat(source, target)


def copy_tree(source: Path, target: Path, **copytree: Any) -> None:
    """`shutil.copytree` that keeps the holes of sparse files (see `copy_file_keeping_holes`)."""
    shutil.copytree(source, target, copy_function=copy_file_keeping_holes, **copytree)
