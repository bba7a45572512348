"""What an export says about each image, gathered once for every format: IDs from a source (a selection, a concept,
a search), then the images' payloads and their concept in one snapshot of the published run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .. import selections
from ..concepts import map_data, publish, read
from ..errors import NotFoundError, UsageError
from ..library import Library
from ..search import search_page
from ..store import IMAGES, retrieve_all

MAX_EXPORT = 100_000  # images one export holds


@dataclass(frozen=True)
class Source:
    """Where the images come from: exactly one of a selection, a concept (-1: in none), words, IDs, or an area of
    the concept map (a polygon in map coordinates)."""

    selection: str | None = None
    concept: int | None = None
    query: str | None = None
    ids: tuple[str, ...] = ()
    area: tuple[tuple[float, float], ...] = ()

    def __post_init__(self):
        given = [self.selection is not None, self.concept is not None, self.query is not None, bool(self.ids),
                 bool(self.area)]
        if sum(given) != 1:
            raise UsageError("Export one thing: a selection, a concept, a search (words), a list of image IDs or "
                             "an area of the map.")

    @property
    def title(self) -> str:
        return (f"selection {self.selection}" if self.selection is not None else
                f"concept {self.concept}" if self.concept is not None else
                f"search {self.query}" if self.query is not None else "map area" if self.area else
                f"{len(self.ids)} images")


@dataclass
class Record:
    id: str
    path: str
    paths: list[str]
    score: float | None
    concept: int | None  # None: the library has no concepts; -1: in none
    concept_name: str | None
    tags: list[str]  # suggested by the vocabulary, best first
    size: int | None
    width: int | None
    height: int | None
    taken_at: str | None
    payload: dict = field(default_factory=dict, repr=False)  # the stored payload, to open the original
    run: int | None = None  # the concept run the concept comes from

    @property
    def name(self) -> str:
        return Path(self.path).name

    def row(self) -> dict:
        """The record as CSV and JSON write it."""
        return {"id": self.id, "path": self.path, "paths": self.paths, "score": self.score, "concept": self.concept,
                "concept_name": self.concept_name, "tags": self.tags, "size": self.size, "width": self.width,
                "height": self.height, "taken_at": self.taken_at}


COLUMNS = list(Record("", "", [], None, None, None, [], None, None, None, None).row())


@dataclass
class Classes:
    """The classes of an export, as labelling tools show them: one per concept, named by the concept's title, with
    its ID added where two concepts share a title (two classes never merge into one)."""

    names: dict[int, str]  # concept ID -> class name, by concept ID

    @classmethod
    def of_records(cls, found: list[Record]) -> Classes:
        titles = {r.concept: r.concept_name or f"concept {r.concept}" for r in found if r.concept is not None}
        titles.pop(-1, None)
        shared = {t for t, n in Counter(titles.values()).items() if n > 1}
        return cls({concept: f"{t} ({concept})" if t in shared else t for concept, t in sorted(titles.items())})

    def of(self, record: Record) -> str | None:
        """The record's class; None for an image in no concept."""
        return self.names.get(record.concept) if record.concept is not None else None


def records(library: Library, source: Source) -> list[Record]:
    """The records of the source's images: a search's in rank order (with scores), others in their own order."""
    scores = _scored_ids(library, source)
    if len(scores) > MAX_EXPORT:
        raise UsageError(f"An export holds at most {MAX_EXPORT:,} images; this one would hold {len(scores):,}.")
    current = publish.published(library)
    ids = list(scores)
    by_id = {p.id: p for p in retrieve_all(library.store, IMAGES, ids)}
    if source.ids and len(by_id) < len(ids):
        raise NotFoundError(f"{len(ids) - len(by_id):,} of the {len(ids):,} image IDs are not indexed images (the "
                            f"first: {next(i for i in ids if i not in by_id)[:60]}).")
    return [_record(point.id, point.payload, scores[point.id], library, current)
            for point in (by_id[i] for i in ids if i in by_id)]


def check_source(library: Library, source: Source) -> None:
    """The errors a person can act on at once, before a background export starts: no such selection, no concepts
    (for a concept or a map area)."""
    if source.selection is not None:
        selections.get(library, source.selection)
    if source.concept is not None or source.area:
        publish.require_published(library)


def _scored_ids(library: Library, source: Source) -> dict[str, float | None]:
    if source.selection is not None:
        where = selections.search_filter(library, source.selection)
        return {i: None for i in where.must[0].ids}
    if source.concept is not None:
        where = read.concept_filter(library, source.concept)
        return {p.id: None for p in library.store.scroll(IMAGES, fields=False, where=where)}
    if source.query is not None:
        page = search_page(library, source.query, limit=1000)
        return {r.id: r.score for r in page.results}
    if source.area:
        return {i: None for i in map_data.ids_in_area(library, source.area)}
    return {i: None for i in dict.fromkeys(source.ids)}


def _record(image_id: str, payload: dict, score: float | None, library: Library, current) -> Record:
    concept = read.image_concept(library, payload, current) if current else None
    path = payload.get("path", "")
    return Record(image_id, path, payload.get("paths") or [path], score,
                  concept["id"] if concept else None, concept["title"] if concept else None,
                  [tag[0] for tag in payload.get("tags") or []], payload.get("size"), payload.get("width"),
                  payload.get("height"), payload.get("taken_at"), payload, concept["run"] if concept else None)
