"""The cluster job: the library's image vectors -> concepts published in the store (`pixcept cluster`, the server's
`cluster` jobs). Phases: read, reduce and cluster, assign, label, identify, montages, publish.

Above `sample_size` images the fit runs on a deterministic sample (a hash of the point ID picks it, so reruns pick
the same images) and the other images are assigned to their nearest concept, as new images are between runs.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .. import accounts
from ..clock import utc_now
from ..library import Library
from ..progress import Progress
from ..store import CONCEPTS, IMAGES
from ..thumbnails import open_thumbnails
from . import headings, publish, scoped
from .algorithm import (
    Concepts,
    ConceptSettings,
    assign,
    ctfidf_words,
    default_min_concept_size,
    fit_concepts,
    montage,
    top_words,
    word_means,
)
from .headings import LABELS_KEPT, vocabulary
from .identity import keep_previous_splits, match_concepts, match_groups
from .layout import place_near
from .sample import DEFAULT_SAMPLE, in_sample, members_sample

log = logging.getLogger(__name__)

PAGE = 2000
MIN_CONCEPTS = 3  # a library smaller than this many minimum-size concepts is not clustered
DEFAULT_SEED = 0
TAGS_PER_IMAGE = 5
TAG_MEAN_SAMPLE = 20_000  # images a relabel measures each word's mean similarity over
ANCHORS = 5000  # fitted images that place the others on the map


@dataclass
class ClusterOptions:
    # Seeded by default: the same images give the same concepts, IDs, labels and no image write (issue 20's goal for
    # an unchanged recluster); UMAP then runs on one core, a few seconds more on a 100,000-image sample.
    seed: int = DEFAULT_SEED
    min_concept_size: int | None = None  # None: grows with the library (`default_min_concept_size`)
    sample_size: int = DEFAULT_SAMPLE

    @classmethod
    def from_params(cls, params: dict) -> "ClusterOptions":
        return cls(**{k: params[k] for k in ("seed", "min_concept_size", "sample_size") if params.get(k) is not None})


Fitter = Callable[[np.ndarray, ConceptSettings], Concepts]


def run_cluster(library: Library, params: dict, progress: Progress | None = None, fitter: Fitter | None = None
                ) -> dict:
    """What a `cluster` job does with its params: rollback, relabel, a check of whether a run is due
    (`if_changed`), or a run."""
    from .schedule import due_reason

    progress = progress or Progress()
    if params.get("rollback"):
        return publish.rollback(library, progress)
    if params.get("relabel"):
        return relabel(library, progress)
    if params.get("if_changed"):
        reason = due_reason(library)
        if reason is None:
            return {"state": "not due", "summary": "The concepts are up to date; nothing to do."}
        progress.note(f"Clustering: {reason}.")
    return cluster(library, ClusterOptions.from_params(params), progress, fitter or fit_concepts)


def _label_scopes(library: Library, progress: Progress) -> None:
    """The published concepts' labels as each token limited to folders sees them, worked out now so that its reader
    does not wait for them on the first list (`scoped.work_out_headings`)."""
    scopes = {account.folders for account in accounts.list_all(library) if account.folders and account.active}
    if scopes:
        progress.note(f"Labelling the concepts as {len(scopes)} tokens limited to folders see them...")
        try:
            scoped.work_out_headings(library, scopes)
        except Exception:  # noqa: BLE001 - the run is published; a scope's first list works them out instead
            log.exception("working out the labels of folder scopes failed")


def min_images(min_size: int) -> int:
    return MIN_CONCEPTS * min_size


def cluster(library: Library, options: ClusterOptions, progress: Progress, fitter: Fitter) -> dict:
    started, started_at = time.monotonic(), utc_now()
    timings: dict[str, float] = {}
    total = library.store.count(IMAGES)
    min_size = options.min_concept_size or default_min_concept_size(total)
    run = publish.begin_run(library)
    if total < min_images(min_size):
        reason = (f"too few images for concepts: {total} indexed, at least {min_images(min_size)} needed "
                  f"({MIN_CONCEPTS} x the minimum concept size, {min_size})")
        return {**publish.record_skipped(library, run, reason), "summary": f"No concepts made: {reason}."}
    slot = publish.target_slot(library)
    share = min(1.0, options.sample_size / total)

    progress.note(f"Reading {total:,} image vectors...")
    tick = time.monotonic()
    read = _read(library, slot, share, progress)
    timings["read"] = time.monotonic() - tick

    progress.note(f"Reducing and clustering {len(read.sample_rows):,} images (UMAP + HDBSCAN)...")
    tick = time.monotonic()
    sample_min_size = max(5, round(min_size * len(read.sample_rows) / total)) if share < 1 else min_size
    settings = ConceptSettings(min_concept_size=sample_min_size, seed=options.seed, layout=True)
    fit = fitter(read.sample_vectors, settings)
    previous = _previous_concepts(library, read.ids)
    fit, kept_apart = keep_previous_splits(read.sample_vectors, fit, previous[read.sample_rows])
    timings["reduce_cluster"] = time.monotonic() - tick

    tick = time.monotonic()
    words, word_vectors = vocabulary(library)
    if not words:
        progress.note("No vocabulary: concepts get no word labels. `pixcept vocab` embeds the default one.")
    assigned = _assign(library, read, fit, words, word_vectors, progress)
    timings["assign_label"] = time.monotonic() - tick

    record = publish.state(library)
    matching = match_concepts(previous, assigned.labels, fit.count, int(record.get("next_id", 0)))
    stable = np.array(matching.ids + [-1], np.int64)  # index -1 -> -1
    concepts = stable[assigned.labels]
    ctfidf = ctfidf_words(assigned.word_counts, words, LABELS_KEPT) if words else [[] for _ in range(fit.count)]
    sizes = np.bincount(assigned.labels[assigned.labels >= 0], minlength=fit.count)
    groups, next_group_id = match_groups(fit.hierarchy, matching.ids, _previous_groups(library),
                                         int(record.get("next_group_id", 0)))
    labels, group_labels, rows, bars = headings.label_all(library, read.sample_vectors, fit.labels, fit.embeddings,
                                                          groups, matching.ids, words, word_vectors)
    groups = _describe_groups(groups, rows, sizes, group_labels, labels)

    tick = time.monotonic()
    records = _records(library, run, fit, read, assigned, matching, labels, ctfidf, sizes, groups)
    montages = _montages(library, fit, read, matching.ids, progress)
    timings["montages"] = time.monotonic() - tick

    summary = {
        "run": run, "model": (library.recorded_model() or {}).get("spec"),
        "vocabularies": library.manifest.get("vocabularies") or {}, "images": total,
        "fitted_on": len(read.sample_rows), "concepts": fit.count, "outliers": int((concepts < 0).sum()),
        "min_concept_size": min_size, "seed": options.seed, **matching.summary(), "kept_apart": kept_apart,
        "next_id": matching.next_id,
        "lineage": {str(k): v for k, v in matching.lineage.items()},
        "retired_into": {str(k): v for k, v in matching.retired_into.items()},
        "hierarchy": groups, "next_group_id": next_group_id,
        "started_at": started_at,
    }
    output = publish.RunOutput(run, read.ids, concepts, assigned.positions, records, fit.embeddings, summary,
                               montages, assigned.tags, bars if words else None)
    progress.note("Publishing...")
    tick = time.monotonic()
    summary = publish.publish(library, output, read.held, progress)
    timings["publish"] = time.monotonic() - tick
    timings["total"] = time.monotonic() - started
    summary["seconds"] = {k: round(v, 2) for k, v in timings.items()}
    # publish wrote the summary readers need before the switch; this adds how long publishing took
    (publish.run_folder(library, run) / "run.json").write_text(json.dumps(summary))
    _label_scopes(library, progress)
    summary["summary"] = (f"Run {run}: {fit.count} concepts ({matching.kept} kept, {matching.new} new, "
                          f"{matching.split} split, {matching.merged} merged, {len(matching.retired)} retired"
                          f"{f'; {kept_apart} merges of unchanged concepts undone' if kept_apart else ''}), "
                          f"{summary['outliers']:,} of {total:,} images in none; {summary['payload_writes']:,} image "
                          f"payloads written in {timings['total']:.1f} s.")
    return {k: v for k, v in summary.items() if k not in ("lineage", "hierarchy", "retired_into")}


# -- reading -----------------------------------------------------------------------------------------------------------

@dataclass
class _Read:
    ids: list[str]
    sample_rows: np.ndarray  # rows of `ids` in the fit
    sample_vectors: np.ndarray
    held: publish.SlotState  # what the target slot holds now, per row
    tag_hashes: np.ndarray  # fingerprint of each image's suggested tag words (0: none)
    all_in_sample: bool


def _read(library: Library, slot: str, share: float, progress: Progress) -> _Read:
    """One pass over the images: IDs, the sample's vectors, and per image (as arrays: a million images cost tens of
    MB) what the target slot holds and which tags it has."""
    fields = [publish.slot_field(slot), publish.labels_field(slot), "tags"]
    ids, rows, vectors, concepts, label_hashes, tag_hashes = [], [], [], [], [], []
    progress.start(total=library.store.count(IMAGES), done=0)
    for n, point in enumerate(library.store.scroll(IMAGES, fields=fields, with_vectors=True, page_size=PAGE)):
        ids.append(point.id)
        concept, labels = publish.slot_value(point.payload, slot)
        concepts.append(concept)
        label_hashes.append(labels)
        tags = point.payload.get("tags")
        tag_hashes.append(publish.labels_hash([word for word, _ in tags]) if tags else 0)
        if in_sample(point.id, share):
            rows.append(n)
            vectors.append(point.vector)
        if n % PAGE == PAGE - 1:
            progress.advance(PAGE)
    progress.advance(len(ids) % PAGE)
    held = publish.SlotState(np.array(concepts, np.int64), np.array(label_hashes, np.int64))
    return _Read(ids, np.array(rows, np.int64), np.asarray(vectors, np.float32), held, np.array(tag_hashes, np.int64),
                 len(rows) == len(ids))


def _pages(library: Library, read: _Read) -> Iterator[tuple[np.ndarray, list[str], np.ndarray]]:
    """(rows, ids, vectors) page by page: from memory when every image was fitted, else read again."""
    if read.all_in_sample:
        for start in range(0, len(read.ids), PAGE):
            rows = np.arange(start, min(start + PAGE, len(read.ids)))
            yield rows, read.ids[start:start + PAGE], read.sample_vectors[start:start + PAGE]
        return
    batch: list = []
    for n, point in enumerate(library.store.scroll(IMAGES, fields=False, with_vectors=True, page_size=PAGE)):
        batch.append((n, point))
        if len(batch) == PAGE:
            yield _page(batch)
            batch = []
    if batch:
        yield _page(batch)


def _page(batch: list) -> tuple[np.ndarray, list[str], np.ndarray]:
    return (np.array([n for n, _ in batch]), [p.id for _, p in batch],
            np.asarray([p.vector for _, p in batch], np.float32))


# -- assigning, tags and map positions for every image -----------------------------------------------------------------

@dataclass
class _Assigned:
    labels: np.ndarray  # (N,) concept index of the fit, -1 outlier
    positions: np.ndarray  # (N, 2)
    tags: publish.TagWrites | None  # images whose suggested words changed
    cohesion_sums: np.ndarray  # per concept: sum of member similarity to the embedding, over all images
    word_counts: np.ndarray  # (concepts, words): how often each word is among a member's suggested tags


def _assign(library: Library, read: _Read, fit: Concepts, words: list[str], word_vectors: np.ndarray,
            progress: Progress) -> _Assigned:
    fitted_positions = fit.positions
    assert fitted_positions is not None, "the concept job fits with a layout"
    n = len(read.ids)
    labels = np.full(n, -1, np.int64)
    positions = np.zeros((n, 2), np.float32)
    fitted = np.full(n, -1, np.int64)
    fitted[read.sample_rows] = np.arange(len(read.sample_rows))
    mean = word_means(read.sample_vectors, word_vectors) if words else None
    anchors = np.linspace(0, len(read.sample_rows) - 1, min(ANCHORS, len(read.sample_rows))).astype(int)
    spread = float(np.std(fitted_positions)) * 0.02 if len(fitted_positions) else 0.0
    cohesion = np.zeros(fit.count)
    word_counts = np.zeros((fit.count, len(words)), np.int64)
    tag_rows, tag_words, tag_scores = [], [], []
    progress.start(total=n, done=0)
    for rows, ids, vectors in _pages(library, read):
        inside = fitted[rows]
        page_labels = np.where(inside >= 0, fit.labels[np.maximum(inside, 0)], -1)
        outside = inside < 0
        if outside.any():
            page_labels[outside] = assign(vectors[outside], fit.embeddings, fit.thresholds)
            seeds = np.array([int(i[:8], 16) for i, out in zip(ids, outside) if out], np.uint64)
            positions[rows[outside]] = place_near(read.sample_vectors[anchors], fitted_positions[anchors],
                                                  vectors[outside], seeds, spread)
        positions[rows[~outside]] = fitted_positions[inside[~outside]]
        labels[rows] = page_labels
        members = page_labels >= 0
        np.add.at(cohesion, page_labels[members],
                  np.einsum("ij,ij->i", vectors[members], fit.embeddings[page_labels[members]]))
        if words:  # tags are rewritten only where their words changed (scores move with the library's mean)
            indices, scores = top_words(vectors, word_vectors, TAGS_PER_IMAGE, mean=mean)
            np.add.at(word_counts, (np.repeat(page_labels[members], indices.shape[1]), indices[members].ravel()), 1)
            hashes = np.array([publish.labels_hash([words[j] for j in row]) for row in indices], np.int64)
            changed = hashes != read.tag_hashes[rows]
            tag_rows.append(rows[changed])
            tag_words.append(indices[changed])
            tag_scores.append(scores[changed])
        progress.advance(len(rows))
    tags = publish.TagWrites(np.concatenate(tag_rows), np.concatenate(tag_words), np.concatenate(tag_scores),
                             words) if tag_rows else None
    return _Assigned(labels, positions, tags, cohesion, word_counts)


# -- describing and naming ---------------------------------------------------------------------------------------------

def _last_run_folder(library: Library) -> Path | None:
    """The folder of the last published run: the run a new one continues (its IDs, its groups)."""
    last = publish.state(library).get("run")
    return publish.run_files(library, int(last)) if last else None


def _previous_concepts(library: Library, ids: list[str]) -> np.ndarray:
    """Per image (in `ids` order), its concept in the last published run (-1: none, or new since). That run may be
    of the generation before a reindex: point IDs are content hashes, so concepts keep their IDs across it."""
    folder = _last_run_folder(library)
    if folder is None or not (folder / "assignments.npz").is_file():
        return np.full(len(ids), -1, np.int64)
    with np.load(folder / "assignments.npz") as saved:
        previous = dict(zip((i.decode() for i in saved["ids"]), saved["concepts"].tolist()))
    return np.array([previous.get(i, -1) for i in ids], np.int64)


def _previous_groups(library: Library) -> list[dict]:
    """The last published run's concept groups (stable IDs), to match this run's to."""
    folder = _last_run_folder(library)
    return publish.run_groups(folder) if folder else []


def _describe_groups(groups: list[dict], rows: list[list[int]], sizes: np.ndarray, labels: list[tuple[list, int]],
                     concept_labels: list[tuple[list, int]]) -> list[dict]:
    """Each group as the run records it: its concepts, size (their images) and labels (`headings.group_words`), so a
    map zoomed out or a grouped grid can name it, or say that it is mixed and of what."""
    return [{"id": group["id"], "parent": group["parent"], "concepts": group["concepts"],
             "size": int(sizes[rows[i]].sum()), **headings.group_words(labels[i], rows[i], sizes, concept_labels)}
            for i, group in enumerate(groups)]


def _records(library: Library, run: int, fit: Concepts, read: _Read, assigned: _Assigned, matching,
             labels: list, ctfidf: list, sizes: np.ndarray, groups: list[dict]) -> list[dict]:
    """The payload of each concept's point: labels (by embedding, and by c-TF-IDF over its members' suggested tags),
    size, exemplars, parent group (stable ID), threshold, quality, lineage, and the curation fields (name, hidden)
    carried over from the concept's earlier record."""
    earlier = {}
    current = publish.published(library)
    if current:
        earlier = {p.payload["concept"]: p.payload
                   for p in library.store.scroll(CONCEPTS, where=publish.current_filter(current))}
    stable_group = {local["id"]: group["id"] for local, group in zip(fit.hierarchy, groups)}  # same order
    parent_of = {concept: stable_group.get(int(fit.parents[k]), -1) for k, concept in enumerate(matching.ids)}
    similarity = fit.embeddings @ fit.embeddings.T
    np.fill_diagonal(similarity, -1.0)
    stamp = utc_now()
    records = []
    for k, concept in enumerate(matching.ids):
        before = earlier.get(concept, {})
        ranked, held = headings.keep_heading(labels[k][0], labels[k][1], before)
        words = [[w, round(s, 4)] for w, s in ranked]
        margin = words[0][1] - words[1][1] if len(words) > 1 else None
        exemplars = [read.ids[read.sample_rows[i]] for i in fit.exemplars[k]]
        group = parent_of.get(concept, -1)
        siblings = [c for c in matching.ids if c != concept and parent_of.get(c, -1) == group >= 0]
        nearest = int(np.argmax(similarity[k])) if fit.count > 1 else -1
        changed = before.get("size") != int(sizes[k]) or before.get("labels") != words
        records.append({
            "concept": concept, "run": run, "labels": words, "held": held, "size": int(sizes[k]),
            "exemplars": exemplars,
            "ctfidf_labels": [[w, round(s, 4)] for w, s in ctfidf[k]],
            "parent": group, "siblings": siblings, "threshold": round(float(fit.thresholds[k]), 5),
            "cohesion": round(float(assigned.cohesion_sums[k] / max(1, sizes[k])), 5),
            "separation": round(float(similarity[k, nearest]), 5) if nearest >= 0 else None,
            "nearest": matching.ids[nearest] if nearest >= 0 else None,
            "label_margin": round(margin, 5) if margin is not None else None,
            **matching.lineage.get(concept, {}),
            "created_at": before.get("created_at", stamp), "created_run": before.get("created_run", run),
            "updated_at": stamp if changed else before.get("updated_at", stamp),
            "name": before.get("name"), "hidden": bool(before.get("hidden", False)),
        })
    return records


def _montages(library: Library, fit: Concepts, read: _Read, ids: list[int], progress: Progress) -> dict:
    """One montage per concept, of its exemplars' thumbnails (letterboxed, never cropped; a lost thumbnail makes
    one tile fewer)."""
    chosen = [[read.ids[read.sample_rows[i]] for i in exemplars] for exemplars in fit.exemplars]
    pictures = open_thumbnails(library, sorted({image for images in chosen for image in images}))
    montages = {}
    for k, images in enumerate(chosen):
        tiles = [pictures[image] for image in images if image in pictures]
        if tiles:
            montages[ids[k]] = montage(tiles, size=512)
    return montages


# -- relabelling -------------------------------------------------------------------------------------------------------

def relabel(library: Library, progress: Progress) -> dict:
    """New labels for the published concepts and new suggested tags for the images, from the current vocabulary,
    without refitting. Written in place, concept by concept; tags only where their words changed. The images are
    tagged first; a concept's heading is its distinctive words that hold for most of its images (`headings`)."""
    current = publish.require_published(library)
    words, word_vectors = vocabulary(library)
    if not words:
        return {"summary": "No vocabulary to label with: run `pixcept vocab` first."}
    retagged = _retag(library, words, word_vectors, progress)
    points = list(library.store.scroll(CONCEPTS, where=publish.current_filter(current), with_vectors=True))
    embeddings = np.asarray([p.vector for p in points], np.float32)
    ids = [p.payload["concept"] for p in points]
    sample = members_sample(library, current, ids)
    relabelled, _, _, bars = headings.label_all(library, sample.vectors, sample.rows, embeddings, [], ids, words,
                                                word_vectors)
    changed = 0
    for point, (labels, held) in zip(points, relabelled):
        words_now = [[w, round(s, 4)] for w, s in labels]
        if words_now == point.payload.get("labels") and held == point.payload.get("held"):
            continue
        changed += 1
        scores = [round(s, 4) for _, s in labels]
        margin = scores[0] - scores[1] if len(scores) > 1 else None
        record = {"labels": words_now, "held": held, "label_margin": margin, "updated_at": utc_now()}
        library.store.set_payload(CONCEPTS, [point.id], record)
        members = [p.id for p in library.store.scroll(
            IMAGES, fields=False, where=_members_filter(current, point.payload["concept"]))]
        library.store.set_payload(IMAGES, members, {current.labels_field: publish.heading_words(record)})
    record = publish.state(library)
    record["history"] = [*record.get("history", []), {
        "run": current.run, "state": "relabelled", "relabelled_concepts": changed, "retagged_images": retagged,
        "vocabularies": library.manifest.get("vocabularies") or {}, "finished_at": utc_now()}]
    library.update_manifest(**{publish.MANIFEST_KEY: record})
    publish.keep_word_bars(current.folder, bars, library.manifest.get("vocabularies"))
    _label_scopes(library, progress)
    return {"run": current.run, "relabelled": changed, "retagged": retagged,
            "summary": f"Relabelled {changed} of {len(points)} concepts of run {current.run}; new suggested tags "
                       f"for {retagged} images."}


def _retag(library: Library, words: list[str], word_vectors: np.ndarray, progress: Progress) -> int:
    """Each image's suggested tags from the current vocabulary, written where their words changed (as a run does,
    distinctiveness measured against a sample of the library); the number of images written."""
    scroll = library.store.scroll(IMAGES, fields=False, with_vectors=True, page_size=PAGE)
    sample = np.asarray([p.vector for p, _ in zip(scroll, range(TAG_MEAN_SAMPLE))], np.float32)
    mean = word_means(sample, word_vectors)
    written, batch = 0, []
    progress.start(total=library.store.count(IMAGES), done=0)
    for point in library.store.scroll(IMAGES, fields=["tags"], with_vectors=True, page_size=PAGE):
        batch.append(point)
        if len(batch) == PAGE:
            written += _retag_page(library, batch, words, word_vectors, mean)
            progress.advance(len(batch))
            batch = []
    written += _retag_page(library, batch, words, word_vectors, mean)
    progress.advance(len(batch))
    return written


def _retag_page(library: Library, batch: list, words: list[str], word_vectors: np.ndarray, mean: np.ndarray) -> int:
    if not batch:
        return 0
    indices, scores = top_words(np.asarray([p.vector for p in batch], np.float32), word_vectors, TAGS_PER_IMAGE,
                                mean=mean)
    updates = {point.id: {"tags": [[words[j], round(float(score), 4)] for j, score in zip(row, row_scores)]}
               for point, row, row_scores in zip(batch, indices, scores)
               if [word for word, _ in point.payload.get("tags") or []] != [words[j] for j in row]}
    library.store.set_payloads(IMAGES, updates)
    return len(updates)


def _members_filter(current: publish.Published, concept: int):
    from ..store import Filter, Match

    return Filter(must=(Match(current.concept_field, (concept,)),))
