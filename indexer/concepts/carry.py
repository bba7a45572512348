"""Concepts across a reindex. `pixcept index --reindex` builds a new generation of the collections with another
model; the published run's assignments (which image is in which concept) are the same images, so they are written
into the new generation before it becomes current: the concept IDs, pages, links and everything people built on them
survive the model change. Each concept's vector is its members' mean in the new model's space (what a fit would
give for the same members); labels, exemplars and montages are the run's own. Image IDs are content hashes, the same
in every generation."""

from __future__ import annotations

import numpy as np

from ..clock import utc_now
from ..library import Library
from ..progress import Progress
from ..store import CONCEPTS, IMAGES, Point, generation_name
from . import publish

CHUNK = 4096  # image vectors read at a time: a million images never sit in memory at once


def carry_into(library: Library, generation: int, progress: Progress | None = None) -> dict | None:
    """Write the current run into `generation` (being built, not yet current). Returns the manifest's concepts
    record as it must be once `generation` is current (for the same manifest write that makes it so), or None when
    there is no run to carry."""
    current = publish.published(library)
    if current is None:
        return None
    progress = progress or Progress()
    images, concepts = generation_name(IMAGES, generation), generation_name(CONCEPTS, generation)
    with np.load(current.folder / "assignments.npz") as saved:
        ids = [i.decode() for i in saved["ids"]]
        assigned = saved["concepts"].astype(np.int64)
    records = {p.payload["concept"]: p for p in library.store.scroll(CONCEPTS, where=publish.current_filter(current))}
    progress.note(f"Carrying concept run {current.run} ({len(records)} concepts) into the rebuilt library...")
    sums: dict[int, np.ndarray] = {}
    kept_ids, kept_concepts = [], []
    for start in range(0, len(ids), CHUNK):
        row = {image: start + n for n, image in enumerate(ids[start:start + CHUNK])}
        for point in library.store.retrieve(images, list(row), with_vectors=True):  # images gone are left out
            concept = int(assigned[row[point.id]])
            kept_ids.append(point.id)
            kept_concepts.append(concept)
            if concept >= 0:
                vector = np.asarray(point.vector, np.float32)
                sums[concept] = sums[concept] + vector if concept in sums else vector
    library.store.ensure_payload_indexes(concepts)
    library.store.upsert(concepts, [Point(records[c].id, records[c].payload, total / np.linalg.norm(total))
                                    for c, total in sums.items() if c in records])
    labels_of = {c: publish.heading_words(p.payload) for c, p in records.items()}
    empty = publish.SlotState(np.full(len(kept_ids), publish.NO_VALUE, np.int64), np.zeros(len(kept_ids), np.int64))
    library.store.ensure_payload_indexes(images)
    publish.write_slot(library, current.slot, kept_ids, np.asarray(kept_concepts, np.int64), labels_of, empty,
                       progress, collection=images)
    _copy_tags(library, kept_ids, images)
    record = publish.state(library)
    record["generation"] = generation
    record["history"] = [*record.get("history", []), {
        "run": current.run, "state": "carried", "finished_at": utc_now(), "generation": generation,
        "reason": f"carried into the rebuilt library (generation {generation}): {len(sums)} concepts, "
                  f"{len(kept_ids):,} images"}]
    return record


def _copy_tags(library: Library, ids: list[str], target: str) -> None:
    """Each image's suggested words, as the run left them (words describe the picture whatever the model)."""
    for start in range(0, len(ids), CHUNK):
        found = library.store.retrieve(IMAGES, ids[start:start + CHUNK])
        updates = {p.id: {"tags": p.payload["tags"]} for p in found if p.payload.get("tags")}
        if updates:
            library.store.set_payloads(target, updates)
