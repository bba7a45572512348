"""Which folders may become library roots.

A root is walked recursively and its indexed files can be served (`/api/images/{id}/file`), so a careless or hostile
request must not make one of `/`, pixcept's own data folder or the system's folders. Folders that come over the
network (the jobs API) must also be absolute: a relative one would resolve against the server's working folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .errors import UsageError

# The system's own files, never photos; PIXCEPT_ALLOW_FOLDERS lets a folder below them be indexed all the same
# (photos under /root/Pictures of a server run as root).
SYSTEM_FOLDERS = ("/etc", "/proc", "/sys", "/dev", "/root", "/boot")
ALLOW_VARIABLE = "PIXCEPT_ALLOW_FOLDERS"  # the setting `allow_folders`


def check_roots(roots: Iterable[Path | str], data_dir: Path | None = None, absolute: bool = False,
                allowed: Iterable[Path] = ()) -> list[Path]:
    """The folders resolved (symlinks followed), each an existing folder in a place photos may be indexed from.
    `absolute`: refuse relative paths (they came from another machine); `allowed`: folders that may be indexed
    although they lie in a refused place (the setting `allow_folders`). Raises UsageError naming what is wrong."""
    allowed = [Path(folder).resolve() for folder in allowed]
    resolved = []
    for root in roots:
        path = Path(root).expanduser()
        if absolute and not path.is_absolute():
            raise UsageError(f"Folders sent to a server must be absolute paths, not {str(root)!r}: a relative path "
                             "would mean the server's working folder. (`pixcept index` resolves them for you.)")
        if not path.is_dir():
            raise UsageError(f"Folder not found: {root}" if not path.exists() else f"Not a folder: {root}")
        path = path.resolve()
        if not any(within(path, folder) for folder in allowed):
            _refuse_risky(path, root, data_dir)
        resolved.append(path)
    if not resolved:
        raise UsageError("Name at least one folder to index.")
    return resolved


def with_roots(known: Iterable[str], indexed: Iterable[Path]) -> list[str]:
    """The library's folders once `indexed` were: a folder inside one it has already is part of that one (indexing a
    subfolder, as the folder watcher does, adds no folder to the library)."""
    known = set(known)
    added = {str(path) for path in indexed if not any(within(Path(path), Path(root)) for root in known)}
    return sorted(known | added)


def _refuse_risky(path: Path, given: Path | str, data_dir: Path | None) -> None:
    named = f"{given}" if str(given) == str(path) else f"{given} (that is {path})"
    if path == Path(path.anchor):
        raise UsageError(f"Refusing to index {named}: the whole file system. Name the folders that hold your photos.")
    if data_dir is not None and within(path, Path(data_dir).resolve()):
        raise UsageError(f"Refusing to index {named}: it is pixcept's own data folder. Name the folders that hold "
                         "your photos.")
    for system in SYSTEM_FOLDERS:
        if within(path, Path(system)):
            raise UsageError(f"Refusing to index {named}: {system} holds the system's files, not photos. To index it "
                             f"all the same, add it to {ALLOW_VARIABLE}.")


def within(path: Path, folder: Path) -> bool:
    """`path` is `folder` or lies inside it (as paths: no file system access)."""
    return path == folder or folder in path.parents
