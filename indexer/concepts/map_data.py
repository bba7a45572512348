"""What the concept map draws, from the current run's files: every image's 2-D position (scaled to [-1, 1], the
square a WebGL scatterplot draws), its concept, and each concept's and group's centre for labels.

Positions go to the browser as one compact binary block (`points_bytes`), not as JSON: 1M points are 12 MB of
float32/int32 instead of ~60 MB of text. A point is named by its index in the run's layout; `images_at` turns indices
back into image IDs for hovering, clicking and selections.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import NotFoundError, UsageError
from ..library import Library
from ..scope import scope_of, visible_rows
from ..store import IMAGES
from . import read
from .publish import Published, require_published

POINT_FORMAT = "x: float32[n], y: float32[n], concept: int32[n] (-1: in none), little-endian, one after another"


@dataclass
class MapLayout:
    run: int
    ids: np.ndarray  # (n,) S36 image IDs, the layout's order
    positions: np.ndarray  # (n, 2) float32 in [-1, 1]
    concepts: np.ndarray  # (n,) int32 stable concept IDs, -1 for none

    def points_bytes(self) -> bytes:
        """The binary block of POINT_FORMAT."""
        little = np.dtype("<f4"), np.dtype("<i4")
        return b"".join([np.ascontiguousarray(self.positions[:, 0], little[0]).tobytes(),
                         np.ascontiguousarray(self.positions[:, 1], little[0]).tobytes(),
                         np.ascontiguousarray(self.concepts, little[1]).tobytes()])

    def centres(self) -> dict[int, tuple[float, float]]:
        """Each concept's label position: the median of its points (robust to a few strays far away)."""
        order = np.argsort(self.concepts, kind="stable")
        ordered = self.concepts[order]
        bounds = np.flatnonzero(np.diff(ordered)) + 1
        centres = {}
        for chunk in np.split(order, bounds):
            concept = int(self.concepts[chunk[0]]) if len(chunk) else -1
            if concept >= 0:
                x, y = np.median(self.positions[chunk], axis=0)
                centres[concept] = (round(float(x), 5), round(float(y), 5))
        return centres


_cache: dict[Path, tuple[float, MapLayout]] = {}
_lock = threading.Lock()


def map_layout(library: Library, current: Published | None = None) -> MapLayout:
    """The current run's layout, read once per run and process (the file does not change once published). Under a
    folder scope, the images in scope only (their indices are the scope's own)."""
    current = current or require_published(library)
    layout = _run_layout(current)
    if not scope_of(library):
        return layout
    key = (layout.run, id(layout), library.store.count(IMAGES))
    cached = library.memo.get("map_layout")
    if cached and cached[0] == key:
        return cached[1]
    visible = visible_rows(library, layout.ids)
    scoped = MapLayout(layout.run, layout.ids[visible], layout.positions[visible], layout.concepts[visible])
    library.memo["map_layout"] = (key, scoped)
    return scoped


def _run_layout(current: Published) -> MapLayout:
    path = current.folder / "layout.npz"
    try:
        stamp = path.stat().st_mtime
    except OSError:
        raise NotFoundError(f"Run {current.run} has no map layout; `pixcept cluster` makes one.") from None
    with _lock:
        cached = _cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
    with np.load(path) as saved:
        layout = MapLayout(current.run, saved["ids"], _unit_square(saved["positions"]),
                           saved["concepts"].astype(np.int32))
    with _lock:
        _cache.clear()  # one run is current at a time: keep its layout only
        _cache[path] = (stamp, layout)
    return layout


def _unit_square(positions: np.ndarray) -> np.ndarray:
    """Positions scaled uniformly (keeping the shape) and centred into [-1, 1], with a small margin."""
    positions = np.asarray(positions, np.float32).reshape(-1, 2)
    if not len(positions):
        return positions
    low, high = positions.min(axis=0), positions.max(axis=0)
    span = float(max(high - low)) or 1.0
    return ((positions - (low + high) / 2) * (1.9 / span)).astype(np.float32)


def map_summary(library: Library) -> dict:
    """The map's labels: per concept and per group its centre, title, size and montage; the point count and run."""
    current = require_published(library)
    layout = map_layout(library, current)
    centres = layout.centres()
    concepts = read.list_concepts(library, "size", 0, 1_000_000, current).concepts
    placed = [{"id": c["id"], "title": c["title"], "size": c["size"], "parent": c.get("parent", -1),
               "x": centres[c["id"]][0], "y": centres[c["id"]][1]} for c in concepts if c["id"] in centres]
    sizes = {c["id"]: c["size"] for c in placed}
    groups = []
    for group in read.informative_groups(read.concept_groups(library, current, concepts), sizes):
        under = set(group["concepts"])
        members = [c for c in placed if c["id"] in under]
        if not members:
            continue
        weights = np.array([sizes[c["id"]] for c in members], np.float64)
        x = float(np.average([c["x"] for c in members], weights=weights))
        y = float(np.average([c["y"] for c in members], weights=weights))
        groups.append({"id": group["id"], "title": group["title"], "size": group["size"], "parent": group["parent"],
                       "concepts": group["concepts"], "x": round(x, 5), "y": round(y, 5)})
    return {"run": current.run, "count": len(layout.ids), "point_format": POINT_FORMAT, "concepts": placed,
            "groups": groups}


MAX_AREA_CORNERS = 2000  # a lasso drawn by hand, simplified by the browser, stays well below


def ids_in_area(library: Library, corners: Sequence[tuple[float, float]]) -> list[str]:
    """The IDs of the images whose points lie inside the polygon `corners` (map coordinates, as /api/map/points
    gives them: a box or a lasso), in layout order. Even-odd rule: a lasso that crosses itself leaves out what it
    encloses twice, as it is drawn."""
    polygon = np.asarray(corners, np.float64).reshape(-1, 2)
    if not 3 <= len(polygon) <= MAX_AREA_CORNERS:
        raise UsageError(f"An area is a polygon of 3 to {MAX_AREA_CORNERS:,} corners, not {len(polygon):,}.")
    layout = map_layout(library)
    return [image.decode() for image in layout.ids[inside_polygon(layout.positions, polygon)]]


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which of the (n, 2) points lie inside the polygon (its corners in order), by the even-odd rule: a ray from
    each point crosses the polygon's edges an odd number of times."""
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    inside = np.zeros(len(x), bool)
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0)):
        if y0 == y1:
            continue  # a horizontal edge is crossed by no horizontal ray
        crosses = (y0 > y) != (y1 > y)
        at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def images_at(library: Library, indices: list[int]) -> list:
    """The indexed images at these layout indices, in that order (images removed since the run are left out)."""
    layout = map_layout(library)
    wanted = [layout.ids[i].decode() for i in indices if 0 <= i < len(layout.ids)]
    found = {p.id: p for p in library.store.retrieve(IMAGES, wanted)} if wanted else {}
    return [found[i] for i in wanted if i in found]
