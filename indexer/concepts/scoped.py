"""Concepts as a token limited to folders sees them (`indexer/scope.py`): each concept's size counts only the images in
scope, its exemplars are those in scope (topped up with the members in scope nearest its centre), its montage is
made of them, groups hold only the concepts left, and a concept with no image in scope does not exist. Every number
comes from the scoped store (a facet, a search), never from the run's totals.
"""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path

from ..durable import atomic_write
from ..library import Library
from ..store import CONCEPTS, IMAGES, Filter, Match, Point, retrieve_all
from ..thumbnails import open_thumbnails
from .publish import Published

EXEMPLARS = 9  # a published concept's exemplars, as the job picks them


def visible_sizes(library: Library, current: Published) -> dict[int, int]:
    """{concept: images in scope} for the concepts holding any (-1: the images in none)."""
    cached = library.memo.get("concept_sizes")
    key = (current.run, library.store.count(IMAGES))
    if cached and cached[0] == key:
        return cached[1]
    sizes = {int(value): count for value, count in
             library.store.facet(IMAGES, current.concept_field, limit=1_000_000).items() if count}
    library.memo["concept_sizes"] = (key, sizes)
    return sizes


def visible_filter(library: Library, current: Published) -> Filter:
    """The concept points (of the current run) that hold an image in scope: for concept search, in the store."""
    return Filter(must=(Match("concept", tuple(c for c in visible_sizes(library, current) if c >= 0) or (-2,)),))


def seen(library: Library, current: Published, records: list[Point]) -> list[dict]:
    """The payloads of concept records as the scope sees them; concepts without an image in scope left out."""
    sizes = visible_sizes(library, current)
    records = [r for r in records if sizes.get(r.payload["concept"])]
    key = (current.run, library.store.count(IMAGES))
    cached = library.memo.get("concept_exemplars")
    chosen: dict[int, list[str]] = cached[1] if cached and cached[0] == key else {}
    library.memo["concept_exemplars"] = (key, chosen)
    missing = [r for r in records if r.payload["concept"] not in chosen]
    stored = [e for r in missing for e in r.payload.get("exemplars", [])]
    in_scope = {p.id for p in retrieve_all(library.store, IMAGES, stored)}
    for record in missing:
        concept = record.payload["concept"]
        exemplars = [e for e in record.payload.get("exemplars", []) if e in in_scope]
        if len(exemplars) < min(EXEMPLARS, sizes[concept]):
            exemplars += _nearest_members(library, current, record, exemplars)
        chosen[concept] = exemplars
    return [{**r.payload, "size": sizes[r.payload["concept"]], "exemplars": chosen[r.payload["concept"]]}
            for r in records]


def _nearest_members(library: Library, current: Published, record: Point, have: list[str]) -> list[str]:
    """Members in scope nearest the concept's centre, to stand in for exemplars out of scope."""
    centre = record.vector
    if centre is None:
        found = library.store.retrieve(CONCEPTS, [record.id], with_vectors=True)
        centre = found[0].vector if found else None
    if centre is None:
        return []
    where = Filter(must=(Match(current.concept_field, (record.payload["concept"],)),))
    hits = library.store.search(IMAGES, centre, limit=EXEMPLARS + len(have), where=where, with_payload=False)
    return [h.id for h in hits if h.id not in have][:EXEMPLARS - len(have)]


def groups(groups: list[dict], concepts: list[dict]) -> list[dict]:
    """The run's groups holding a concept in scope, sized by the images in scope."""
    sizes = {c["id"]: c["size"] for c in concepts}
    kept = []
    for group in groups:
        present = [c for c in group["concepts"] if c in sizes]
        if present:
            kept.append({**group, "concepts": present, "size": sum(sizes[c] for c in present)})
    return kept


def montage(library: Library, current: Published, concept: int, exemplars: list[str], stored: list[str]) -> Path:
    """The montage of the concept's exemplars in scope: the run's own when they are its exemplars, else one made of
    them (kept beside the run's montages, named by its exemplars; a path to nothing when none has a thumbnail)."""
    from .algorithm import montage as make_montage

    if exemplars == stored:
        return current.montage_path(concept)
    key = hashlib.sha256(" ".join(exemplars).encode()).hexdigest()[:16]
    path = current.montage_path(concept).parent / "scoped" / f"{concept}-{key}.jpg"
    if not path.is_file():
        pictures = open_thumbnails(library, exemplars)
        tiles = [pictures[image] for image in exemplars if image in pictures]
        if tiles:
            atomic_write(path, partial(make_montage(tiles, size=512).save, format="JPEG", quality=85))
    return path
