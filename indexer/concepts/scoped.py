"""Concepts as a token limited to folders sees them (`indexer/scope.py`): each concept's size counts only the images in
scope, its exemplars are those in scope (topped up with the members in scope nearest its centre), its montage is
made of them, its labels and its group's are the words that hold for its images in scope (`headings_in_scope`), groups
hold only the concepts left, and a concept with no image in scope does not exist. Every number comes from the scoped
store (a facet, a search), never from the run's totals.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from functools import partial
from pathlib import Path

import numpy as np

from ..durable import atomic_write, atomic_write_json
from ..library import Library
from ..scope import scope_of, within
from ..store import CONCEPTS, IMAGES, Filter, Match, Point, retrieve_all
from ..thumbnails import open_thumbnails
from . import headings
from .algorithm import ctfidf_words
from .publish import Published, current_filter, published, run_groups, vocabularies_key, word_bars
from .sample import members_sample

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
    named = headings_in_scope(library, current)["concepts"]
    return [{**r.payload, **named.get(r.payload["concept"], {}), "size": sizes[r.payload["concept"]],
             "exemplars": chosen[r.payload["concept"]]} for r in records]


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


def groups(library: Library, current: Published, groups: list[dict], concepts: list[dict]) -> list[dict]:
    """The run's groups holding a concept in scope, sized by the images in scope and labelled by the words that hold
    for them."""
    sizes = {c["id"]: c["size"] for c in concepts}
    named = headings_in_scope(library, current)["groups"]
    return [{**{k: v for k, v in group.items() if k != "parts"}, **named.get(group["id"], {}), "concepts": present,
             "size": sum(sizes[c] for c in present)} for group, present in _present(groups, sizes)]


def _present(groups: list[dict], concepts) -> list[tuple[dict, list[int]]]:
    """The groups holding any of `concepts`, each with those it holds."""
    kept = [(group, [c for c in group["concepts"] if c in concepts]) for group in groups]
    return [(group, present) for group, present in kept if present]


def headings_in_scope(library: Library, current: Published) -> dict[str, dict[int, dict]]:
    """{"concepts": {concept: labels, held, ctfidf_labels}, "groups": {group: labels, held, parts}} as the images in
    scope have them: the words that hold for most of a concept's images in scope (`headings.label_all`, as the cluster
    job labels a run). Whether a word holds for an image is judged as search over the whole library would show it
    (the bars the run kept, `publish.word_bars`): judged within a few folders, a word's best matches there pass
    search's relative cutoff whatever they are ("yellow circle" held for the blue circles of a folder without yellow).
    Only images in scope are counted, so no word comes from the other folders. A concept keeps the library's heading
    while its words still hold in scope (`headings.keep_heading`). Worked out once per run, vocabulary and set of
    concepts in scope from the run's sample (`members_sample`), kept in the view's memo (8 s for 30,000 images in
    scope of 60,000: bench/scoped_concepts.py)."""
    visible = tuple(sorted(c for c in visible_sizes(library, current) if c >= 0))
    key = (current.run, vocabularies_key(library.manifest.get("vocabularies")), visible)
    cached = library.memo.get("concept_headings")
    if cached and cached[0] == key:
        return cached[1]
    kept = _headings_file(library, current, key)
    try:  # worked out by the cluster job (`work_out_headings`) or another serving process
        saved = json.loads(kept.read_text())
        found = {part: {int(k): v for k, v in saved[part].items()} for part in ("concepts", "groups")}
    except (OSError, ValueError, KeyError):
        found = _work_out_headings(library, current)
        with contextlib.suppress(OSError):  # a run folder that cannot be written to: kept in the memo only
            atomic_write_json(kept, found)
    library.memo["concept_headings"] = (key, found)
    return found


def heading_in_scope(library: Library, current: Published, concept: int) -> dict | None:
    """A concept's labels and held count in scope (`headings_in_scope`), for describing images: looked up once per
    answer (`current`, the snapshot an answer describes its images with), not once per image, since checking that
    the kept headings are current counts the images in scope."""
    last = library.memo.get("headings_for_answer")
    if last is None or last[0] is not current:
        last = (current, headings_in_scope(library, current)["concepts"])
        library.memo["headings_for_answer"] = last
    return last[1].get(concept)


def work_out_headings(library: Library, scopes: set[tuple[str, ...]]) -> int:
    """Work out the current run's labels for each folder scope in `scopes` (those tokens have) and keep them in the
    run's folder, so that a scoped reader's first concept list after a run does not wait for them; returns how many."""
    current = published(library)
    if current is None:
        return 0
    for folders in scopes:
        headings_in_scope(within(library, folders), current)
    return len(scopes)


def _headings_file(library: Library, current: Published, key: tuple) -> Path:
    scope = json.dumps([list(scope_of(library) or ()), *key[1:]])
    return current.folder / "scoped" / f"headings-{hashlib.sha256(scope.encode()).hexdigest()[:16]}.json"


def _work_out_headings(library: Library, current: Published) -> dict[str, dict[int, dict]]:
    points = list(library.store.scroll(CONCEPTS, where=current_filter(current) & visible_filter(library, current),
                                       with_vectors=True))
    ids = [p.payload["concept"] for p in points]
    if not ids:
        return {"concepts": {}, "groups": {}}
    whole = getattr(library, "base", library)
    bars = word_bars(current, library.manifest.get("vocabularies"))
    if bars is not None:  # the run's: only the sample's images in scope are needed
        sample = members_sample(library, current, ids)
        rows = sample.rows
    else:  # a run from before bars were kept, or a vocabulary changed since: measured on the run's whole sample
        sample = members_sample(whole, current, ids)
        inside = {p.id for p in retrieve_all(library.store, IMAGES, sample.ids)}
        rows = np.where([image in inside for image in sample.ids], sample.rows, -1)
    words, word_vectors = headings.vocabulary(library)
    groups_seen = [{**g, "concepts": present} for g, present in _present(run_groups(current.folder), set(ids))]
    labels, group_labels, group_rows, _ = headings.label_all(whole, sample.vectors, rows,
                                                             _centres(points, sample.vectors, rows), groups_seen, ids,
                                                             words, word_vectors, bars)
    ctfidf = _ctfidf(rows, sample.tags, len(ids), words)
    sizes = np.bincount(rows[rows >= 0], minlength=len(ids))
    concepts = {}
    for k, point in enumerate(points):
        ranked, held = headings.keep_heading(labels[k][0], labels[k][1], point.payload)
        concepts[ids[k]] = {"labels": [[w, round(s, 4)] for w, s in ranked], "held": held, "ctfidf_labels": ctfidf[k]}
    named_groups = {group["id"]: headings.group_words(group_labels[i], group_rows[i], sizes, labels)
                    for i, group in enumerate(groups_seen)}
    return {"concepts": concepts, "groups": named_groups}


def _centres(points: list[Point], vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each concept's centre in scope: the mean of its sampled images in scope (normalised), or the run's centre when
    none was sampled."""
    centres = np.asarray([p.vector for p in points], np.float32).reshape(len(points), -1)
    for k in np.unique(rows[rows >= 0]):
        mean = vectors[rows == k].mean(axis=0)
        centres[k] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return centres


def _ctfidf(rows: np.ndarray, tags: list[list[str]], count: int, words: list[str]) -> list[list]:
    """Each concept's c-TF-IDF words over the suggested tags of its sampled images in scope."""
    if not words:
        return [[] for _ in range(count)]
    column = {word: j for j, word in enumerate(words)}
    counts = np.zeros((count, len(words)), np.int64)
    for row, image_tags in zip(rows.tolist(), tags):
        for word in image_tags:
            if row >= 0 and word in column:
                counts[row, column[word]] += 1
    return [[[w, round(s, 4)] for w, s in found] for found in ctfidf_words(counts, words, headings.LABELS_KEPT)]


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
