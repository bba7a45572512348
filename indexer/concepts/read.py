"""Reading the published concepts: lists, one concept with its members, text/image -> concept search, an image's
concept, the run history. Every answer comes from one run: the current one, resolved once per call; a reader that
makes several calls for one answer (a page: the concept, then its members) resolves it once with `snapshot` and
passes it to each, so a new run published in between cannot mix into the answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np

from ..errors import NotFoundError, UsageError
from ..library import Library
from ..scope import scope_of, visible_rows
from ..store import CONCEPTS, IMAGES, Filter, Match, Point
from . import publish, scoped
from .publish import Published, current_filter, require_published

if TYPE_CHECKING:
    from .algorithm import Concepts

SORTS = ("size", "name", "recent", "id")


class RetiredConcept(NotFoundError):
    """A concept ID of an earlier run that no run continues; says where its images went."""

    def __init__(self, concept: int, went_to: int | None, run: int):
        self.concept, self.went_to, self.run = concept, went_to, run
        where = f" Most of its images are now in concept {went_to}." if went_to is not None else ""
        super().__init__(f"Concept {concept} was retired in run {run}.{where}")


@dataclass
class ConceptPage:
    run: int
    total: int
    concepts: list[dict]
    outliers: int


def title(words: list[str], fallback: str) -> str:
    """How a concept or group is called without a curated name: its heading words (`publish.heading_words`),
    "mixed: orange, yellow" when it is mixed."""
    if words[:1] == ["mixed"]:
        return "mixed: " + ", ".join(words[1:3]) if len(words) > 1 else "mixed"
    return ", ".join(words[:3]) or fallback


def concept_json(payload: dict, score: float | None = None) -> dict:
    """A concept record as readers see it (the store's payload, the current run's view)."""
    labels = payload.get("labels") or []
    return {"id": payload["concept"], "name": payload.get("name"), "labels": labels,
            "ctfidf_labels": payload.get("ctfidf_labels") or [],
            "title": payload.get("name") or title(publish.heading_words(payload), f"concept {payload['concept']}"),
            "held": payload.get("held"), "mixed": payload.get("held") == 0,
            "size": payload.get("size", 0), "exemplars": payload.get("exemplars", []),
            "parent": payload.get("parent", -1), "siblings": payload.get("siblings", []),
            "threshold": payload.get("threshold"), "cohesion": payload.get("cohesion"),
            "separation": payload.get("separation"), "nearest": payload.get("nearest"),
            "label_margin": payload.get("label_margin"), "split_from": payload.get("split_from"),
            "merged_from": payload.get("merged_from"), "hidden": payload.get("hidden", False),
            "created_at": payload.get("created_at"), "updated_at": payload.get("updated_at"),
            "run": payload.get("run"), **({"score": round(score, 6)} if score is not None else {})}


def _records(library: Library, current: Published, with_vectors: bool = False, where: Filter | None = None
             ) -> list:
    """The run's concept points (those `where` matches), under a folder scope only those holding an image in
    scope."""
    where = current_filter(current) & where
    if scope_of(library):
        where = where & scoped.visible_filter(library, current)
    return list(library.store.scroll(CONCEPTS, where=where, with_vectors=with_vectors))


def _payloads(library: Library, current: Published, where: Filter | None = None) -> list[dict]:
    """The run's concept records as this view of the library sees them: under a folder scope, sizes and exemplars
    of the images in scope (`scoped.seen`)."""
    points = _records(library, current, where=where)
    return scoped.seen(library, current, points) if scope_of(library) else [p.payload for p in points]


def snapshot(library: Library) -> Published:
    """The current run, to read several things from the same run."""
    return require_published(library)


def list_concepts(library: Library, sort: str = "size", offset: int = 0, limit: int = 100,
                  current: Published | None = None) -> ConceptPage:
    current = current or require_published(library)
    if sort not in SORTS:
        raise UsageError(f"Sort by one of {', '.join(SORTS)}.")
    concepts = [concept_json(payload) for payload in _payloads(library, current)]
    key = {"size": lambda c: (-c["size"], c["id"]), "id": lambda c: c["id"],
           "name": lambda c: (c["title"].casefold(), c["id"]),
           "recent": lambda c: (c["updated_at"] or "", c["id"])}[sort]
    concepts.sort(key=key, reverse=sort == "recent")
    outliers = library.store.count(IMAGES, where=publish.outliers_filter(current))
    return ConceptPage(current.run, len(concepts), concepts[offset:offset + limit], outliers)


def get_concept(library: Library, concept: int, current: Published | None = None) -> dict:
    """One concept of the current run; a retired ID raises RetiredConcept (with where its images went)."""
    current = current or require_published(library)
    found = _payloads(library, current, Filter(must=(Match("concept", (concept,)),)))
    if found:
        return concept_json(found[0])
    went_to, retired_in = _retired(library, concept)
    if retired_in is not None:
        raise RetiredConcept(concept, went_to, retired_in)
    raise NotFoundError(f"No concept {concept} in this library.")


def size_over_runs(library: Library, concept: int) -> list[dict]:
    """The concept's size in each kept run, oldest first ({run, size}), from the runs' assignment files; runs whose
    files are gone are left out."""
    sizes = []
    for run in sorted(set(publish.kept_runs(library))):
        try:
            with np.load(publish.run_files(library, run) / "assignments.npz") as saved:
                members = (saved["concepts"] == concept) & visible_rows(library, saved["ids"])
                sizes.append({"run": run, "size": int(members.sum())})
        except (OSError, KeyError, ValueError):
            continue
    return sizes


def concept_groups(library: Library, current: Published | None = None, concepts: list[dict] | None = None
                   ) -> list[dict]:
    """The current run's concept hierarchy, broad to fine: groups of concepts that HDBSCAN's tree joins, each
    {id (stable across runs), parent (-1 at the top), children (group IDs), concepts (IDs), size, labels, title}.
    Under a folder scope, only groups holding one of `concepts` (the scope's, as `list_concepts` gives them)."""
    current = current or require_published(library)
    groups = publish.run_groups(current.folder)
    if scope_of(library):
        groups = scoped.groups(library, current, groups, concepts if concepts is not None else
                               list_concepts(library, "id", 0, 1_000_000, current).concepts)
    children: dict[int, list[int]] = {}
    for group in groups:
        children.setdefault(group["parent"], []).append(group["id"])
    return [{**group, "children": children.get(group["id"], []), "labels": group.get("labels", []),
             "title": title(publish.heading_words(group), f"group {group['id']}"), "mixed": group.get("held") == 0}
            for group in groups]


def informative_groups(groups: list[dict], concepts: Iterable[int]) -> list[dict]:
    """The groups that tell something about `concepts`: one holding every one of them (often the tree's root) says
    nothing and is left out; its sub-groups are then at the top (parent -1)."""
    present = set(concepts)
    everything = {g["id"] for g in groups if present <= set(g["concepts"])}
    return [{**g, "parent": -1 if g["parent"] in everything else g["parent"]} for g in groups
            if g["id"] not in everything]


def concept_grid(library: Library, sort: str = "size") -> tuple[ConceptPage, list[dict]]:
    """Every concept of the current run (one snapshot) and the grid's sections (`concept_tree`)."""
    current = snapshot(library)
    page = list_concepts(library, sort, 0, 100_000, current)
    return page, concept_tree(page.concepts, concept_groups(library, current, page.concepts))


def concept_tree(concepts: list[dict], groups: list[dict]) -> list[dict]:
    """Top-level sections for the grid: each top group with its sub-groups and the concepts directly under it (in the
    `concepts` order), then the concepts in no group."""
    by_id = {c["id"]: c for c in concepts}
    groups = informative_groups(groups, by_id)
    groups_by_id = {g["id"]: g for g in groups}
    direct: dict[int, list[dict]] = {}
    for concept in concepts:
        direct.setdefault(concept.get("parent", -1) if concept.get("parent", -1) in groups_by_id else -1,
                          []).append(concept)

    position = {c["id"]: n for n, c in enumerate(concepts)}

    def node(group: dict) -> dict:
        members = list(direct.get(group["id"], []))
        subgroups = [node(groups_by_id[child]) for child in group["children"] if child in groups_by_id]
        while len(subgroups) == 1:  # HDBSCAN peels concepts off one by one: a chain reads better as one section
            members += subgroups[0]["members"]
            subgroups = subgroups[0]["subgroups"]
        return {**group, "members": sorted(members, key=lambda c: position[c["id"]]), "subgroups": subgroups}

    top = [node(g) for g in groups if g["parent"] == -1 and any(c in by_id for c in g["concepts"])]
    top.sort(key=lambda g: min(position[c] for c in g["concepts"] if c in position))  # in the sort's order
    return top + ([{"id": None, "title": "Not in a group", "members": direct[-1], "subgroups": [], "size": None}]
                  if direct.get(-1) else [])


def _retired(library: Library, concept: int) -> tuple[int | None, int | None]:
    """(where most of its images went, the run that retired it) from the kept runs' lineage, newest first."""
    for run in reversed(publish.kept_runs(library)):
        summary = publish.run_files(library, run) / "run.json"
        try:
            retired_into = json.loads(summary.read_text()).get("retired_into", {})
        except (OSError, ValueError):
            continue
        if str(concept) in retired_into:
            return retired_into[str(concept)], run
    return None, None


def concept_members(library: Library, concept: int, offset: int = 0, limit: int = 50,
                    current: Published | None = None) -> tuple[list, int]:
    """(points, total) of the concept's images (concept -1: the images in no concept), in store order."""
    current = current or require_published(library)
    where = Filter(must=(Match(current.concept_field, (concept,)),))
    total = library.store.count(IMAGES, where=where)
    points = []
    for n, point in enumerate(library.store.scroll(IMAGES, where=where, page_size=min(1000, offset + limit))):
        if n >= offset + limit:
            break
        if n >= offset:
            points.append(point)
    return points, total


def nearest_concepts(library: Library, image_ids: list[str], current: Published | None = None) -> dict[str, dict]:
    """For images (typically those in no concept), the concept each is most similar to: {image ID: {id, title,
    score}}, a suggestion for people sorting what the clustering left out."""
    current = current or require_published(library)
    records = _records(library, current, with_vectors=True)
    points = library.store.retrieve(IMAGES, image_ids, with_vectors=True) if image_ids else []
    if not records or not points:
        return {}
    concepts = np.asarray([r.vector for r in records], np.float32)
    similarity = np.asarray([p.vector for p in points], np.float32) @ concepts.T
    best = similarity.argmax(axis=1)
    return {point.id: {"id": records[k].payload["concept"], "title": concept_json(records[k].payload)["title"],
                       "score": round(float(similarity[n, k]), 4)} for n, (point, k) in enumerate(zip(points, best))}


@dataclass
class ConceptMatches:
    concepts: list[dict]  # best first
    no_good_match: bool = False  # nothing in the library matches the query: `concepts` are the closest, weak


def search_concepts(library: Library, vector: np.ndarray, limit: int = 10, relative: float | None = None,
                    current: Published | None = None) -> ConceptMatches:
    """The concepts nearest a query vector (text or image), best first. With `relative` (0..1), only those that
    stand out from the rest (search's relevance threshold over every concept's score, at least one kept), and
    `no_good_match` when the library holds nothing like the query, as image search judges it (then the closest
    few, weak, so people see what "closest" means)."""
    from ..search import WEAK_SHOWN, no_good_match, relevance_threshold

    current = current or require_published(library)
    where = current_filter(current) & (scoped.visible_filter(library, current) if scope_of(library) else None)
    hits = library.store.search(CONCEPTS, vector, limit=limit if relative is None else 100_000, where=where)
    if relative is not None and no_good_match(library, vector):
        hits = hits[:min(limit, WEAK_SHOWN)]
        return ConceptMatches(_hits_json(library, current, hits), True)
    if relative is not None:
        scores = np.array([h.score for h in hits], np.float32)
        threshold = relevance_threshold(scores, float(scores.mean()) if len(scores) else 0.0, relative,
                                        min_results=1)
        hits = [h for h in hits[:limit] if h.score >= threshold]
    return ConceptMatches(_hits_json(library, current, hits))


def _hits_json(library: Library, current: Published, hits: list) -> list[dict]:
    if not scope_of(library):
        return [concept_json(h.payload, h.score) for h in hits]
    seen = {p["concept"]: p for p in scoped.seen(library, current, [Point(h.id, h.payload, None) for h in hits])}
    return [concept_json(seen[h.payload["concept"]], h.score) for h in hits if h.payload["concept"] in seen]


def concept_filter(library: Library, concept: int, current: Published | None = None) -> Filter:
    """A search filter: images of `concept` in the current run."""
    current = current or require_published(library)
    return Filter(must=(Match(current.concept_field, (int(concept),)),))


def image_concept(library: Library, payload: dict, current: Published | None = None) -> dict | None:
    """An image's concept in the current run: {id (-1: in none), labels (words), title, run}; None without
    concepts. Pass `current` (a snapshot) when describing many images for one answer."""
    current = current or publish.published(library)
    if current is None:
        return None
    concept = payload.get(current.concept_field)
    concept = concept if concept is not None else -1
    labels = payload.get(current.labels_field) or []
    if scope_of(library) and concept >= 0:  # the words that hold for the concept's images in scope
        heading = scoped.heading_in_scope(library, current, concept)
        labels = publish.heading_words(heading) if heading else labels
    named = title(labels, f"concept {concept}") if concept >= 0 else "Unsorted"  # the image keeps the top words
    return {"id": concept, "labels": labels, "title": named, "run": current.run}


RUN_FACTS_IN_SCOPE = ("run", "state", "reason", "model", "finished_at", "started_at", "rolled_back_at")


def history(library: Library) -> list[dict]:
    """Every run (published, skipped, relabelled, rolled back), oldest first, with its summary; under a folder scope
    without its counts, lineage and timings (they are the whole library's)."""
    runs = publish.state(library).get("history", [])
    if scope_of(library):
        return [{k: v for k, v in run.items() if k in RUN_FACTS_IN_SCOPE} for run in runs]
    return runs


def montage_path(library: Library, concept: int, current: Published | None = None):
    """The concept's montage; under a folder scope, made of its exemplars in scope (`scoped.montage`)."""
    current = current or require_published(library)
    path = current.montage_path(concept)
    if scope_of(library):
        records = _records(library, current, where=Filter(must=(Match("concept", (concept,)),)))
        if not records:
            raise NotFoundError(f"No concept {concept} in this library.")  # none of its images in scope
        exemplars = scoped.seen(library, current, records)[0]["exemplars"]
        path = scoped.montage(library, current, concept, exemplars, records[0].payload.get("exemplars", []))
    if not path.is_file():
        raise NotFoundError(f"No montage for concept {concept}.")
    return path


@dataclass
class LibraryConcepts:
    """The current run in the shape of an algorithm result, for `ConceptModel.from_library`."""

    concepts: Concepts  # rows in `ids` order
    ids: list[int]
    labels: list[list]
    paths: list[str]
    tags: list[list]
    model_spec: str


def library_concepts(library: Library) -> LibraryConcepts:
    from .algorithm import Concepts

    current = require_published(library)
    records = sorted(_records(library, current, with_vectors=True), key=lambda p: p.payload["concept"])
    ids = [p.payload["concept"] for p in records]
    index = {concept: k for k, concept in enumerate(ids)}
    with np.load(current.folder / "assignments.npz") as saved:
        images = [i.decode() for i in saved["ids"]]
        labels = np.array([index.get(int(c), -1) for c in saved["concepts"]], np.int64)
    row = {image: n for n, image in enumerate(images)}
    payloads = {p.id: p.payload for p in library.store.scroll(IMAGES, fields=["path", "tags"])}
    summary = json.loads((current.folder / "run.json").read_text())
    hierarchy = [{**group, "concepts": [index[c] for c in group["concepts"] if c in index]}
                 for group in summary.get("hierarchy", [])]
    concepts = Concepts(
        labels=labels, embeddings=np.asarray([p.vector for p in records], np.float32),
        thresholds=np.array([p.payload.get("threshold", 0.0) for p in records], np.float32),
        exemplars=[[row[e] for e in p.payload.get("exemplars", []) if e in row] for p in records],
        parents=np.array([p.payload.get("parent", -1) for p in records]), hierarchy=hierarchy,
        min_concept_size=int(summary.get("min_concept_size", 0)))
    return LibraryConcepts(concepts, ids, [p.payload.get("labels", []) for p in records],
                           [payloads.get(i, {}).get("path", "") for i in images],
                           [[tuple(t) for t in payloads.get(i, {}).get("tags") or []] for i in images],
                           library.recorded_model_spec() or "")
