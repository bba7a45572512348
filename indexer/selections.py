"""Named selections: sets of images people gather (accepted), with the ones they turned down (rejected) and the ones
they looked at and passed (seen), who changed them and when; and gathering more like them.

A selection lives in the store's `selections` collection, outside the library's generations, so it survives restarts,
reclusters and a reindex to a new model (image IDs are content hashes), and every worker of a server with a Qdrant
server sees the same state. One point per selection (its header: name, saved query, who made and last changed it)
and one per image marked in it (state, who, when); counts are counted, never kept, so two writers cannot skew them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from .clock import utc_now
from .errors import ConflictError, NotFoundError, UsageError
from .library import Library
from .scope import in_scope, scope_of
from .search import SearchPage, combine, relevance_threshold, search_page
from .store import (
    IMAGES,
    SELECTIONS,
    Filter,
    HasId,
    Match,
    Point,
    ensure_kept_collection,
    kept_point,
    point_id,
    retrieve_all,
)

ACCEPTED, REJECTED, SEEN = "accepted", "rejected", "seen"
STATES = (ACCEPTED, REJECTED, SEEN)
MAX_CHANGE = 10_000  # images one change may name (a larger set is sent in parts)
MAX_NAME = 64
NAME = re.compile(r"[\w][\w .,'()+-]*", re.UNICODE)
MAX_POSITIVES = 2000  # accepted images a gather ranks by (the most recent); their mean moves little past this
SCORE_CURVE = 200  # scores of the best remaining candidates returned with a gather page


@dataclass
class Selection:
    name: str
    created_at: str
    created_by: str
    changed_at: str
    changed_by: str
    counts: dict[str, int] = field(default_factory=dict)  # per state
    query: dict | None = None  # a saved search: {"q", "like", "unlike"}, evaluated again as the library grows

    def to_dict(self) -> dict:
        return {"name": self.name, "created_at": self.created_at, "created_by": self.created_by,
                "changed_at": self.changed_at, "changed_by": self.changed_by,
                **{state: self.counts.get(state, 0) for state in STATES}, "query": self.query}


def check_name(name: str) -> str:
    """The name as kept (spaces at the ends dropped), or UsageError saying what a name may hold."""
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise UsageError(f"A selection name is 1 to {MAX_NAME} characters: letters, digits, spaces and - _ . , ' ( ) "
                         f"+, starting with a letter or digit; not {name[:80]!r}.")
    return name


def create(library: Library, name: str, by: str, query: dict | None = None) -> Selection:
    """A new, empty selection (or a saved search when `query` is given); ConflictError when the name is taken."""
    name = check_name(name)
    ensure_kept_collection(library.store, SELECTIONS)
    if _header(library, name) is not None:
        raise ConflictError(f"A selection named {name!r} exists already.")
    now = utc_now()
    payload = {"kind": "selection", "selection": name, "created_at": now, "created_by": by, "changed_at": now,
               "changed_by": by, "query": _checked_query(query)}
    library.store.upsert(SELECTIONS, [kept_point(SELECTIONS, _header_id(name), payload)])
    return _selection(library, payload)


def get(library: Library, name: str) -> Selection:
    header = _header(library, name)
    if header is None:
        raise _no_such(name)
    return _selection(library, header)


def list_all(library: Library) -> list[Selection]:
    """Every selection, the most recently changed first."""
    if not library.store.has_collection(SELECTIONS):
        return []
    headers = [p.payload for p in library.store.scroll(SELECTIONS, where=Filter(must=(Match("kind", ("selection",)),)))]
    return sorted((_selection(library, h) for h in headers), key=lambda s: s.changed_at, reverse=True)


def delete(library: Library, name: str) -> None:
    get(library, name)
    members = [p.id for p in library.store.scroll(SELECTIONS, fields=False, where=_members_of(name))]
    if scope_of(library) and len(members) > len(_marks(library, name, STATES)):
        raise ConflictError(f"Selection {name!r} holds images of folders this token does not see: only a token "
                            "that sees them all can delete it.")
    library.store.delete(SELECTIONS, members)
    library.store.delete(SELECTIONS, [_header_id(name)])


def mark(library: Library, name: str, image_ids: Sequence[str], state: str | None, by: str) -> Selection:
    """Put images in `state` in the selection (None: take them out of it). Every ID put in must be an indexed
    image, or nothing changes."""
    if state is not None and state not in STATES:
        raise UsageError(f"The state must be one of {', '.join(STATES)}, not {state!r}.")
    ids = list(dict.fromkeys(image_ids))
    if len(ids) > MAX_CHANGE:
        raise UsageError(f"One change names at most {MAX_CHANGE:,} images ({len(ids):,} given): send them in parts.")
    header = _header(library, name)
    if header is None:
        raise _no_such(name)
    if state is not None:  # taking out needs no check: an image pruned since can leave too
        _check_indexed(library, ids)
    elif scope_of(library):  # ... but a token limited to folders takes out only what it sees
        ids = in_scope(library, ids)
    now = utc_now()
    if state is None:
        library.store.delete(SELECTIONS, [_member_id(name, i) for i in ids])
    else:
        library.store.upsert(SELECTIONS, [
            kept_point(SELECTIONS, _member_id(name, i), {"kind": "member", "selection": name, "image": i,
                                                         "state": state, "at": now, "seq": n, "by": by})
            for n, i in enumerate(ids)])
    library.store.set_payload(SELECTIONS, [_header_id(name)], {"changed_at": now, "changed_by": by})
    return get(library, name)


def mark_where(library: Library, name: str, where: Filter, state: str | None, by: str) -> Selection:
    """Mark every indexed image that `where` matches (a concept, say), in parts of MAX_CHANGE."""
    return mark_many(library, name, [p.id for p in library.store.scroll(IMAGES, fields=False, where=where)], state,
                     by)


def mark_many(library: Library, name: str, image_ids: Sequence[str], state: str | None, by: str) -> Selection:
    """`mark` for any number of images (a map area, a whole concept), in parts of MAX_CHANGE."""
    selection = get(library, name)
    for start in range(0, len(image_ids), MAX_CHANGE):
        selection = mark(library, name, image_ids[start:start + MAX_CHANGE], state, by)
    return selection


@dataclass
class MembersPage:
    images: list[Point]  # in the order they were marked; an image pruned since is left out
    total: int
    next_offset: int | None


def members_page(library: Library, name: str, state: str = ACCEPTED, offset: int = 0, limit: int | None = 60
                 ) -> MembersPage:
    """A page of the selection's images in `state` (`limit` None: all from `offset` on)."""
    ids = member_ids(library, name, (state,))
    page = ids[offset:None if limit is None else offset + limit]
    points = {p.id: p for p in retrieve_all(library.store, IMAGES, page)}
    end = offset + len(page)
    return MembersPage([points[i] for i in page if i in points], len(ids), end if end < len(ids) else None)


def member_ids(library: Library, name: str, states: Iterable[str] = (ACCEPTED,)) -> list[str]:
    """The IDs of the selection's images in `states`, oldest mark first."""
    if _header(library, name) is None:
        raise _no_such(name)
    return [image for image, _ in _marks(library, name, states)]


def _marks(library: Library, name: str, states: Iterable[str]) -> list[tuple[str, str]]:
    """(image ID, state) of the selection's images in `states`, oldest mark first, those of one change in the order
    they were given (one scroll)."""
    where = Filter(must=(*_members_of(name).must, Match("state", tuple(states))))
    marked = [(p.payload.get("at", ""), p.payload.get("seq", 0), p.payload["image"], p.payload["state"])
              for p in library.store.scroll(SELECTIONS, fields=["image", "at", "seq", "state"], where=where)]
    marks = [(image, state) for _, _, image, state in sorted(marked)]
    if scope_of(library):  # a token limited to folders sees the marks of the images in them only
        visible = set(in_scope(library, [image for image, _ in marks]))
        marks = [(image, state) for image, state in marks if image in visible]
    return marks


def states_of(library: Library, name: str, image_ids: Sequence[str]) -> dict[str, str]:
    """The state of each of these images in the selection (images not in it are left out)."""
    points = library.store.retrieve(SELECTIONS, [_member_id(name, i) for i in image_ids]) if image_ids else []
    return {p.payload["image"]: p.payload["state"] for p in points}


def search_filter(library: Library, name: str) -> Filter:
    """The store filter of "images in this selection": its accepted images, and for a saved search the images its
    query finds, less the rejected ones."""
    header = _header(library, name)
    if header is None:
        raise _no_such(name)
    marks = _marks(library, name, (ACCEPTED, REJECTED))
    ids = [image for image, state in marks if state == ACCEPTED]
    if header.get("query"):
        rejected = {image for image, state in marks if state == REJECTED}
        found = [r.id for r in _saved_search(library, header["query"]).results if r.id not in rejected]
        ids = list(dict.fromkeys(ids + found))
    return Filter(must=(HasId(tuple(ids)),))


@dataclass
class GatherPage:
    """Candidates for a selection, best first: images it does not hold yet, in any state."""

    candidates: SearchPage
    selection: Selection
    scores: list[float]  # how the best remaining candidates' scores fall (the first SCORE_CURVE)
    threshold: float | None  # where search's relevance cutoff would end the results
    unmarked: int  # images not marked in the selection (candidates or not: more like a rejected one)


def gather(library: Library, name: str, limit: int = 20) -> GatherPage:
    """The next page of candidates: ranked by the accepted images (positives) and the rejected ones (negatives) as
    search ranks examples ("more like these, not like those"), leaving out every image already marked. Pages move on
    as a person marks each candidate (accepted, rejected, or seen when passed)."""
    selection = get(library, name)
    marks = _marks(library, name, STATES)
    marked = [image for image, _ in marks]
    accepted = [image for image, state in marks if state == ACCEPTED]
    if not accepted:
        raise UsageError(f"Selection {name!r} has no accepted images yet: gathering starts from examples. Add some "
                         "from a search, a concept or the map.")
    positives = _vectors(library, accepted[-MAX_POSITIVES:])
    if not positives:
        raise UsageError(f"None of the accepted images of {name!r} is indexed any more: add new examples.")
    query = combine(positives, (), _vectors(library, [image for image, state in marks if state == REJECTED]))
    curve = search_page(library, limit=SCORE_CURVE, where=Filter(must_not=(HasId(tuple(marked)),)), relative=None,
                        query=query)
    scores = np.array([r.score for r in curve.results])
    centroid = library.image_centroid()
    threshold = relevance_threshold(scores, float(centroid @ query.vector)) if centroid is not None else None
    page = SearchPage(curve.results[:limit], threshold, has_more=len(curve.results) > limit)
    unmarked = max(0, library.store.count(IMAGES) - len(marked))
    return GatherPage(page, selection, [round(float(score), 4) for score in scores], threshold, unmarked)


def _vectors(library: Library, ids: list[str]) -> list[np.ndarray]:
    """The vectors of these images that are still indexed (a pruned image stays marked, and is left out here)."""
    return [p.vector for p in retrieve_all(library.store, IMAGES, ids, with_vectors=True) if p.vector is not None]


def _saved_search(library: Library, query: dict, limit: int = 1000) -> SearchPage:
    return search_page(library, text=query.get("q"), like=query.get("like") or (), unlike=query.get("unlike") or (),
                       limit=limit)


def _checked_query(query: dict | None) -> dict | None:
    if not query:
        return None
    unknown = set(query) - {"q", "like", "unlike"}
    if unknown:
        raise UsageError(f"A saved search holds q, like and unlike, not {', '.join(sorted(unknown))}.")
    return {"q": str(query.get("q") or ""), "like": list(query.get("like") or []),
            "unlike": list(query.get("unlike") or [])}


def _check_indexed(library: Library, ids: list[str]) -> None:
    found = {p.id for p in retrieve_all(library.store, IMAGES, ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"{len(missing):,} of the {len(ids):,} image IDs are not indexed images (the first: "
                            f"{missing[0][:60]}); nothing was changed.")


def _selection(library: Library, header: dict) -> Selection:
    name = header["selection"]
    if scope_of(library):
        marked = Counter(state for _, state in _marks(library, name, STATES))
        counts = {state: marked[state] for state in STATES}
    else:
        counts = {state: library.store.count(SELECTIONS, Filter(must=(*_members_of(name).must,
                                                                      Match("state", (state,)))))
                  for state in STATES}
    return Selection(name, header.get("created_at", ""), header.get("created_by", ""), header.get("changed_at", ""),
                     header.get("changed_by", ""), counts, header.get("query"))


def _header(library: Library, name: str) -> dict | None:
    if not library.store.has_collection(SELECTIONS):
        return None
    points = library.store.retrieve(SELECTIONS, [_header_id(name)])
    return points[0].payload if points else None


def _no_such(name: str) -> NotFoundError:
    return NotFoundError(f"No selection named {name[:80]!r}. `pixcept selections` lists them.")


def _members_of(name: str) -> Filter:
    return Filter(must=(Match("kind", ("member",)), Match("selection", (name,))))


def _header_id(name: str) -> str:
    return point_id(f"selection:{name}")


def _member_id(name: str, image: str) -> str:
    return point_id(f"selection:{name}:{image}")

