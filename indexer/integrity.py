"""Checking a library's consistency: what a crash at the wrong moment could break, said plainly. Used by `pixcept
check`, by the kill tests and by `bench/kill.py`:
- every image point holds its own content (IDs are content hashes) and no path is held by two points;
- the published concept run is whole: its folder exists, its concepts are stored, and every image's concept in the
  published slot is one of that run's concepts (or -1): never a concept of another run (a mixed publication).
"""

from __future__ import annotations

from collections import Counter

from .concepts import publish
from .library import Library
from .store import CONCEPTS, IMAGES, point_id

SHOWN = 5  # examples named per kind of problem


def problems(library: Library) -> list[str]:
    """What is inconsistent in the library, one sentence each; empty when nothing is."""
    points = list(library.store.scroll(IMAGES, fields=True))
    found = _images(points)
    current = publish.published(library)
    if current is not None:
        found += _published_run(library, current, points)
    return found


def _images(points: list) -> list[str]:
    found = []
    foreign = [p.id for p in points if p.payload.get("sha256") and point_id(p.payload["sha256"]) != p.id]
    if foreign:
        found.append(f"{len(foreign)} image points are not named by their content (e.g. {foreign[:SHOWN]}).")
    paths = Counter(path for p in points for path in (p.payload.get("paths") or []))
    shared = [path for path, n in paths.items() if n > 1]
    if shared:
        found.append(f"{len(shared)} paths are held by more than one image (e.g. {shared[:SHOWN]}).")
    return found


def _published_run(library: Library, current: publish.Published, points: list) -> list[str]:
    found = []
    if not current.folder.is_dir():
        found.append(f"The published concept run {current.run} has no folder ({current.folder}).")
    concepts = {p.payload.get("concept") for p in library.store.scroll(CONCEPTS, fields=["concept"],
                                                                      where=publish.current_filter(current))}
    if not concepts:
        found.append(f"The published concept run {current.run} has no concepts stored.")
    strays = [p.id for p in points if p.payload.get(current.concept_field) not in (*concepts, -1, None)]
    if strays:
        found.append(f"{len(strays)} images name a concept that run {current.run} does not have (a mixed "
                     f"publication; e.g. {strays[:SHOWN]}).")
    return found
