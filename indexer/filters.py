"""What can narrow a search (folder, camera, file type, date taken, whether there is a date) and how many images each
choice holds, so a person sees the choices a library offers and what a filter leaves out."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

from .errors import UsageError
from .images import wall_clock_seconds
from .library import Library
from .paths import display_path
from .store import IMAGES, Filter, Match, Missing, Range

log = logging.getLogger(__name__)

FACETS_FRESH_SECONDS = 60  # counts are recomputed sooner when the image count or the manifest changes
MAX_FOLDERS = 20_000  # the commonest folders listed; counting is ~80 ms per 100k images


@dataclass(frozen=True)
class SearchFilters:
    """The filters of one search. Each list matches any of its values; different kinds must all hold."""

    folders: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()  # PIL's names: JPEG, PNG, WEBP...
    taken_from: date | None = None  # days on the photo's own clock (as taken), both ends included
    taken_to: date | None = None
    dated: bool | None = None  # True: only images with a date taken; False: only those without

    def __post_init__(self):
        if self.taken_from and self.taken_to and self.taken_from > self.taken_to:
            raise UsageError(f"The date range is empty: {self.taken_from} is after {self.taken_to}.")
        if self.dated is False and self.has_dates:
            raise UsageError("Images without a date cannot fall in a date range: choose one or the other.")

    @property
    def has_dates(self) -> bool:
        return bool(self.taken_from or self.taken_to)

    def where(self, also: Filter | None = None) -> Filter | None:
        """The store filter, combined with `also` (a concept's filter, say)."""
        must = list(also.must) if also else []
        must_not = list(also.must_not) if also else []
        if self.folders:
            must.append(Match("folders", tuple(folder_value(f) for f in self.folders)))
        if self.cameras:
            must.append(Match("camera", tuple(self.cameras)))
        if self.formats:
            must.append(Match("format", tuple(f.upper() for f in self.formats)))
        if self.has_dates:
            must.append(Range("taken_ts", gte=_day_start(self.taken_from) if self.taken_from else None,
                              lt=_day_start(self.taken_to + timedelta(days=1)) if self.taken_to else None))
        if self.dated is True:
            must_not.append(Missing("taken_ts"))
        elif self.dated is False:
            must.append(Missing("taken_ts"))
        return Filter(must=tuple(must), must_not=tuple(must_not)) if must or must_not else None

    def params(self) -> list[tuple[str, str]]:
        """The query parameters of /api/search that ask for these filters."""
        pairs = [("folder", folder_value(f)) for f in self.folders] + [("camera", c) for c in self.cameras]
        pairs += [("format", f) for f in self.formats]
        pairs += [(name, day.isoformat()) for name, day in (("from", self.taken_from), ("to", self.taken_to)) if day]
        return pairs + ([("dated", "yes" if self.dated else "no")] if self.dated is not None else [])

    def undated_left_out(self, library: Library, also: Filter | None = None) -> int:
        """How many images a date range leaves out only for having no date (0 without a range)."""
        if not self.has_dates:
            return 0
        rest = SearchFilters(self.folders, self.cameras, self.formats, dated=False)
        return library.store.count(IMAGES, rest.where(also))


def folder_value(folder: str) -> str:
    """A folder as the payload's `folders` hold it (resolved, display form of names that are not UTF-8)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in str(folder)):
        raise UsageError("A folder name cannot contain control characters.")
    return display_path(str(Path(folder).expanduser().resolve()))


def check_indexed_folders(folders: Sequence[str], roots: Sequence[str]) -> None:
    """A UsageError naming any of `folders` that lies under none of the indexed `roots`: a filter on it would match
    nothing, which reads as "no results" rather than as the typo or wrong folder it is."""
    indexed = [Path(root) for root in roots]
    outside = [f for f in folders if not any(Path(folder_value(f)).is_relative_to(root) for root in indexed)]
    if outside:
        raise UsageError(f"Not an indexed folder: {', '.join(outside)}. Indexed folders: "
                         f"{', '.join(map(str, roots)) or 'none yet'}.")


def _day_start(day: date) -> float:
    # taken_ts counts the photo's own clock as if it were UTC (files.wall_clock_seconds): a day is a day as taken
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


# -- the choices a library offers, with counts -----------------------------------------------------------------------

@dataclass
class Facets:
    images: int
    undated: int
    folders: list[tuple[str, int]] = field(default_factory=list)  # every folder at or under an indexed one, sorted
    cameras: list[tuple[str, int]] = field(default_factory=list)  # commonest first
    formats: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        def listed(pairs):
            return [{"value": value, "count": count} for value, count in pairs]

        return {"images": self.images, "undated": self.undated, "folders": listed(self.folders),
                "cameras": listed(self.cameras), "formats": listed(self.formats)}


def library_facets(library: Library) -> Facets:
    """The folders, cameras and file types of the library's images with their counts, and how many have no date.
    Cached per library; recounted after an index run, a change in the image count, or a minute."""
    images = library.store.count(IMAGES)
    key = (images, library.manifest.get("updated_at"))
    cached = library.memo.get("facets")
    if cached and cached[0] == key and time.monotonic() - cached[1] < FACETS_FRESH_SECONDS:
        return cached[2]
    roots = [Path(root) for root in library.manifest.get("roots", [])]
    folders = sorted((folder, count) for folder, count in _counts(library, "folders", MAX_FOLDERS).items()
                     if any(Path(folder).is_relative_to(root) for root in roots))
    facets = Facets(images=images, undated=library.store.count(IMAGES, Filter(must=(Missing("taken_ts"),))),
                    folders=folders, cameras=_commonest(_counts(library, "camera")),
                    formats=_commonest(_counts(library, "format")))
    library.memo["facets"] = (key, time.monotonic(), facets)
    return facets


def _counts(library: Library, key: str, limit: int = 1000) -> dict:
    try:
        return library.store.facet(IMAGES, key, limit=limit)
    except Exception as exc:  # noqa: BLE001 - a missing payload index costs the counts, not the page
        log.warning("cannot count the images by %s: %s", key, exc)
        return {}


def _commonest(counts: dict) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))


# -- the stored date taken: the photo's own clock ---------------------------------------------------------------------

def local_taken_times(library: Library) -> int:
    """Rewrite `taken_ts` of images indexed before it counted the photo's own clock (it was UTC for photos whose
    EXIF records a time zone), so date filters match the day as taken. Returns the number of images changed."""
    updates = {}
    for point in library.store.scroll(IMAGES, fields=["taken_at", "taken_ts"],
                                      where=Filter(must_not=(Missing("taken_ts"),))):
        try:
            wall_clock = wall_clock_seconds(datetime.fromisoformat(point.payload["taken_at"]))
        except (KeyError, TypeError, ValueError):
            continue
        if wall_clock != point.payload.get("taken_ts"):
            updates[point.id] = {"taken_ts": wall_clock}
    library.store.set_payloads(IMAGES, updates)
    return len(updates)
