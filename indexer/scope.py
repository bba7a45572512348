"""Folder scopes: a library as a token limited to folders sees it (a household member: their own folders and the
shared ones). `within(library, folders)` is a view of the library whose store filters every read of the images by
folder (`store/scoped.py`), so search, counts, filters, similar images, files, thumbnails, selections' members and
exports answer as if the other folders did not exist; concepts, montages and the map compute their sizes, exemplars
and points through it (`concepts/read.py`, `concepts/map_data.py`). The view shares the open library's model, lock and
manifest; it writes no image and no manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .config import Settings
from .embed import Embedder
from .errors import UsageError
from .filters import folder_value
from .library import Library
from .store import IMAGES, Filter, HasId
from .store.scoped import ScopedStore


class ScopedLibrary(Library):
    def __init__(self, library: Library, folders: Sequence[str]):
        super().__init__(library.settings, ScopedStore(library.store, folders), None, library.manifest)
        self.base = library
        self.scope = tuple(folders)

    @property
    def settings(self) -> Settings:
        return self.base.settings  # the open library's: changed on the admin page while the view is kept

    @settings.setter
    def settings(self, value: Settings) -> None:
        pass  # Library.__init__ sets it

    @property
    def manifest(self) -> dict:
        """The library's manifest (always the current one), its indexed folders narrowed to the scope."""
        manifest = self.base.manifest
        return {**manifest, "roots": narrowed_roots(manifest.get("roots", []), self.scope)}

    @manifest.setter
    def manifest(self, value: dict) -> None:
        pass  # Library.__init__ sets it; the open library's manifest is the one that counts

    def refresh(self, now: bool = False) -> None:
        self.base.refresh(now)

    def update_manifest(self, **changes: Any) -> None:
        raise PermissionError("A view limited to folders changes nothing of the library.")

    def embedder(self, for_writing: bool = False) -> Embedder:
        if for_writing:
            raise PermissionError("A view limited to folders writes no vectors.")
        return self.base.embedder()

    def recorded_model(self) -> dict | None:
        return self.base.recorded_model()

    def close(self) -> None:
        """The open library the view was made from owns the store and the lock."""


def within(library: Library, folders: Sequence[str] | None) -> Library:
    """The library as a token limited to `folders` sees it; the library itself for no limit."""
    if not folders:
        return library
    return ScopedLibrary(getattr(library, "base", library), folders)


def scope_of(library: Library) -> tuple[str, ...] | None:
    """The folders a library view is limited to; None when it sees everything."""
    return getattr(library, "scope", None)


def normalised_scope(library: Library, folders: Iterable[str]) -> tuple[str, ...]:
    """Folders for a token's scope, checked and resolved as the images' payloads hold them: each must be an indexed
    folder or lie inside one (a scope on a typo would show nothing, which reads as an empty library)."""
    values = tuple(dict.fromkeys(folder_value(f) for f in folders if str(f).strip()))
    roots = [Path(root) for root in library.manifest.get("roots", [])]
    outside = [f for f in values if not any(Path(f).is_relative_to(root) or root.is_relative_to(f) for root in roots)]
    if outside:
        raise UsageError(f"Not an indexed folder: {', '.join(outside)}. A token can be limited to indexed folders "
                         f"and folders inside them: {', '.join(map(str, roots)) or 'none indexed yet'}.")
    return values


def narrowed_roots(roots: Iterable[str], folders: Sequence[str]) -> list[str]:
    """The indexed folders as a scope sees them: roots inside a scope folder, and scope folders inside a root."""
    roots = [str(r) for r in roots]
    inside = [r for r in roots if any(Path(r).is_relative_to(f) for f in folders)]
    deeper = [f for f in folders if any(Path(f).is_relative_to(r) for r in roots) and f not in inside]
    return sorted(set(inside + deeper))


def visible_image_ids(library: Library) -> set[str]:
    """The IDs of the images a scoped view sees (asked by the store), kept per view until the image count changes:
    what the concept map and the runs' files (which list every image) are narrowed by."""
    count = library.store.count(IMAGES)
    cached = library.memo.get("visible_ids")
    if cached and cached[0] == count:
        return cached[1]
    ids = {p.id for p in library.store.scroll(IMAGES, fields=False)}
    library.memo["visible_ids"] = (count, ids)
    return ids


def in_scope(library: Library, image_ids: Sequence[str], part: int = 1000) -> list[str]:
    """The IDs among `image_ids` that the view sees, in their order (all of them without a scope): asked of the
    store, for what other collections list by image ID (a selection's members)."""
    if scope_of(library) is None:
        return list(image_ids)
    ids = list(image_ids)
    seen: set[str] = set()
    for start in range(0, len(ids), part):
        where = Filter(must=(HasId(tuple(ids[start:start + part])),))
        seen.update(p.id for p in library.store.scroll(IMAGES, fields=False, where=where, page_size=part))
    return [i for i in ids if i in seen]


def visible_rows(library: Library, ids: np.ndarray) -> np.ndarray:
    """Which of a run file's image IDs (bytes, as the run saved them) the view sees: a boolean mask, every row
    without a scope (the map's layout, the runs' assignments list every image of the library)."""
    if scope_of(library) is None:
        return np.ones(len(ids), bool)
    return np.isin(np.char.decode(ids), list(visible_image_ids(library)))
