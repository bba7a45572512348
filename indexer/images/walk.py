"""Finding image files under the user's folders, and what was found or passed over."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from .formats import is_image_name


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    failure: bool = True  # False for files passed over on purpose (symlinks out of the folders)



def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def walk_images(roots: list[Path], exclude: Sequence[Path] = ()) -> Iterator[FoundFile | Skipped]:
    """Every image file under the roots, in a stable order. Hidden files and folders are passed over, and so are
    the `exclude` folders (the library's own data folder: its thumbnails are not photos, its secrets not images).

    Folder symlinks are not followed; a file symlink is indexed only when its target lies inside one of the roots.
    A folder that cannot be read (permissions, a path longer than the system allows) is reported, not passed over.
    """
    resolved_roots = [str(Path(root).resolve()) for root in roots]
    excluded = [str(Path(folder).resolve()) for folder in exclude]
    for root in resolved_roots:
        errors: list[OSError] = []
        for folder, dirs, files in os.walk(root, onerror=errors.append, followlinks=False):
            yield from _walk_errors(errors)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                             and not _inside(os.path.join(folder, d), excluded))
            for name in sorted(files):
                if not is_image_name(name):
                    continue
                path = os.path.join(folder, name)
                yield _stat_file(path, resolved_roots)
        yield from _walk_errors(errors)


def _walk_errors(errors: list[OSError]) -> Iterator[Skipped]:
    for error in errors:
        yield Skipped(str(error.filename), f"folder not readable: {error.strerror or error}")
    errors.clear()


def _stat_file(path: str, roots: list[str]) -> FoundFile | Skipped:
    try:
        if os.path.islink(path):
            target = os.path.realpath(path, strict=True)
            if not _inside(target, roots):
                return Skipped(path, "symlink points outside the indexed folders (not followed)", failure=False)
        info = os.stat(path)
    except RuntimeError:
        return Skipped(path, "symlink loop")
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return Skipped(path, "symlink loop")
        return Skipped(path, f"unreadable: {exc.strerror or exc}")
    if not os.path.isfile(path):
        return Skipped(path, "not a regular file")
    return FoundFile(path, info.st_size, info.st_mtime)

