"""Reading an original file within its format's size limit, hashing it, and checking that a path still holds the
indexed file before anything made from it is handed out."""

from __future__ import annotations

import hashlib
import os
import stat
from typing import BinaryIO

from .formats import MB, SUFFIX_FORMATS, BadImage, is_image_name
from .limits import DecodeLimits, decode_limits
from .walk import _inside


def read_file(path: str, limits: DecodeLimits | None = None) -> bytes:
    """The file's bytes, refusing (without reading it) a file larger than a photo of its format can be."""
    try:
        with open(path, "rb") as handle:
            return read_opened(handle, limits)
    except OSError as exc:
        raise BadImage(f"unreadable: {exc.strerror or exc}", lasting=False) from exc


def read_opened(handle: BinaryIO, limits: DecodeLimits | None = None) -> bytes:
    """The rest of an open file, refusing (without reading it) more than a photo of its format can be."""
    limit = (limits or decode_limits()).file_limit(handle.name)
    size = os.fstat(handle.fileno()).st_size
    if size > limit:
        raise BadImage(_too_large(handle.name, size, limit))
    data = handle.read(limit + 1)  # the file may have grown since
    if len(data) > limit:
        raise BadImage(_too_large(handle.name, len(data), limit))
    return data


def _too_large(path: str, size: int, limit: int) -> str:
    kind = SUFFIX_FORMATS.get(os.path.splitext(path)[1].lower(), "an image")
    return (f"file too large for {kind}: {size / MB:,.0f} MB (limit {limit / MB:,.0f} MB; PIXCEPT_MAX_FILE_MB "
            "raises it)")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unchanged_in_place(path: str, size: int, mtime: float, inside: list[str], outside: list[str]) -> bool:
    """A cheap check that `path` still is the file that was indexed: after resolving symlinks a regular image file
    inside one of the `inside` folders and in none of the `outside` ones, with the indexed size and mtime. Enough to
    serve what was made from it before (a cached preview); `open_verified` hashes before handing out the file."""
    real = os.path.realpath(path)
    if not _inside(real, inside) or _inside(real, outside) or not is_image_name(os.path.basename(real)):
        return False
    try:
        found = os.stat(real)
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and found.st_size == size and abs(found.st_mtime - mtime) < 1e-6


def open_verified(path: str, sha256: str, inside: list[str], outside: list[str]) -> BinaryIO | None:
    """`path` opened for reading if it still is the indexed image, else None: after resolving symlinks a regular
    image file inside one of the `inside` folders and in none of the `outside` ones, holding exactly the bytes
    whose hash was indexed. The hash is what makes it safe: whatever a path was swapped for (a symlink to a
    secret, another file), only the indexed content is ever handed out."""
    handle = _open_in_place(path, inside, outside)
    if handle is None:
        return None
    digest = hashlib.sha256()
    try:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        if digest.hexdigest() == sha256:
            handle.seek(0)
            return handle
    except OSError:
        pass
    handle.close()
    return None


def read_verified(path: str, sha256: str, inside: list[str], outside: list[str], limit: int) -> bytes | None:
    """The bytes of `path` if it still is the indexed image (the rules of `open_verified`) and holds at most
    `limit` bytes, else None: read once, where opening and then reading reads the file twice."""
    handle = _open_in_place(path, inside, outside)
    if handle is None:
        return None
    with handle:
        try:
            data = handle.read(limit + 1)
        except OSError:
            return None
    return data if len(data) <= limit and hashlib.sha256(data).hexdigest() == sha256 else None


def _open_in_place(path: str, inside: list[str], outside: list[str]) -> BinaryIO | None:
    """`path` opened if, after resolving symlinks, it is a regular image file inside one of the `inside` folders and
    in none of the `outside` ones."""
    real = os.path.realpath(path)
    if not _inside(real, inside) or _inside(real, outside) or not is_image_name(os.path.basename(real)):
        return None
    try:
        handle = open(real, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK))
    except OSError:
        return None
    try:
        if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return handle
    except OSError:
        pass
    handle.close()
    return None
