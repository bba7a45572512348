"""Publishing a concept run to the library so that readers never see a mix of two runs.

Where a run lives:
- `concepts` collection: one point per concept and run (its vector the concept's embedding); readers ask for the
  current run's points only, so a run's points are invisible until it is current.
- each image's payload: its concept in one of two slots, `concept_a` / `concept_b` (with `concept_labels_a|b`). A run
  writes the slot readers are not using, and only where it differs from what the slot holds (stable IDs make that
  little), then becomes current with one atomic manifest write that names the run and its slot. Readers that began
  before keep reading the other slot, which no later write touches until the run after next.
- `DATA_DIR/concepts/runs/NNNN/`: the run's assignments (to match the next run and to roll back), 2-D layout,
  montages and summary. A Qdrant server's library keeps them in the server too (`indexer.shared`), written before
  the run becomes current: another machine serving the library fetches a run's folder when it first needs it.

A run killed at any point leaves the current run whole; the next run deletes what it left. Rolling back makes a kept
run current again the same way (its slot usually still holds it: nothing to write).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from ..clock import utc_now
from ..durable import atomic_write
from ..errors import PixceptError
from ..library import Library
from ..progress import Progress
from ..shared import drop_folder, fetch_folder, kept_folders, put_folder, shares
from ..store import CONCEPTS, IMAGES, Filter, Match, Point, point_id

log = logging.getLogger(__name__)

SLOTS = ("a", "b")
NO_VALUE = -2  # an image whose slot holds nothing yet
TAG_CHUNK = 1000  # images whose tags are written per store call
# Images per payload write: Edge holds the interpreter for a whole call (a call per concept wrote up to the 100k
# background images of a 1M library at once)
SLOT_CHUNK = 2000
KEEP_RUNS = 5  # published runs kept for rollback and lineage (older ones keep only their summary in the history)
MANIFEST_KEY = "concepts"


class NoConceptsError(PixceptError):
    """Concepts were asked for, but none are published in this library (yet)."""


def slot_field(slot: str) -> str:
    return f"concept_{slot}"


def labels_field(slot: str) -> str:
    return f"concept_labels_{slot}"


SLOT_FIELDS = tuple(field(slot) for slot in SLOTS for field in (slot_field, labels_field))


@dataclass
class Published:
    """The current run, as the manifest names it."""

    run: int
    slot: str
    folder: Path

    @property
    def concept_field(self) -> str:
        return slot_field(self.slot)

    @property
    def labels_field(self) -> str:
        return labels_field(self.slot)

    def montage_path(self, concept_id: int) -> Path:
        return self.folder / "montages" / f"{concept_id}.jpg"


def state(library: Library) -> dict:
    """The manifest's record of concept runs: current run and slot, ID counter, history, changes since."""
    return dict(library.manifest.get(MANIFEST_KEY) or {})


def runs_dir(library: Library) -> Path:
    return library.data_dir / "concepts" / "runs"


def run_folder(library: Library, run: int) -> Path:
    return runs_dir(library) / f"{run:04d}"


def run_files(library: Library, run: int) -> Path:
    """The folder of a published run, to read: for a server's library, fetched from the server the first time this
    machine needs it (another machine made the run), or given to the server when this machine has it and the server
    does not (a library made before runs were shared). Asked once per run and open library."""
    folder = run_folder(library, run)
    checked = library.memo.setdefault("shared_runs", set())
    if run in checked or not shares(library.store):
        return folder
    key = _run_key(run)
    if folder.is_dir():
        if key not in kept_folders(library.store):
            put_folder(library.store, key, folder)
    else:
        fetch_folder(library.store, key, folder)
    checked.add(run)
    return folder


def published(library: Library) -> Published | None:
    """The current run, or None when this generation of the library has none (never clustered, or reindexed)."""
    record = state(library)
    if not record.get("run") or record.get("generation", 0) != library.generation:
        return None
    return Published(int(record["run"]), record["slot"], run_files(library, int(record["run"])))


def require_published(library: Library) -> Published:
    current = published(library)
    if current is None:
        raise NoConceptsError(no_concepts_reason(library))
    return current


def no_concepts_reason(library: Library) -> str:
    """Why a library has no concepts, and what would make them: a run that was skipped says why (too few images:
    how many are needed), rather than sending the person to a `pixcept cluster` that would be skipped again."""
    last = (state(library).get("history") or [{}])[-1]
    if last.get("state") == "skipped" and last.get("generation", library.generation) == library.generation:
        return (f"This library has no concepts yet: the last run was skipped, {last.get('reason')}. Index more "
                "images; concepts are then made by a server after indexing, or by `pixcept cluster`.")
    return ("This library has no concepts yet. Run `pixcept cluster` (a server makes them by itself after "
            "indexing).")


def heading_words(record: dict) -> list[str]:
    """The words a concept (or group) is called by, as its images carry them: those most of its images show, up to
    three; when no word does, "mixed" and what it mixes (a group's `parts`: its largest concepts' headings), else its
    two most distinctive words. Records from before `held` existed: the first three."""
    words = [w for w, _ in record.get("labels") or []]
    held = record.get("held")
    if held is None:
        return words[:3]
    return words[:min(held, 3)] if held else ["mixed", *(record.get("parts") or words)[:2]]


def labels_hash(labels) -> int:
    """A stable fingerprint of a list of words (the same in every process, unlike hash())."""
    digest = hashlib.blake2b("\x1f".join(labels).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class SlotState:
    """What a slot holds for each image (rows in the order of the run's `ids`): concept (NO_VALUE: nothing) and a
    fingerprint of its labels. Arrays, not dicts: a million images cost 16 MB."""

    concepts: np.ndarray
    label_hashes: np.ndarray

    @classmethod
    def of(cls, payloads, slot: str) -> "SlotState":
        """From image payloads (an iterable, in `ids` order)."""
        values = [slot_value(payload, slot) for payload in payloads]
        return cls(np.array([concept for concept, _ in values], np.int64),
                   np.array([labels for _, labels in values], np.int64))


def slot_value(payload: dict, slot: str) -> tuple[int, int]:
    """(concept, labels fingerprint) an image payload holds in `slot`; (NO_VALUE, ...) when it holds nothing."""
    concept = payload.get(slot_field(slot))
    return (NO_VALUE if concept is None else int(concept)), labels_hash(payload.get(labels_field(slot)) or [])


@dataclass
class TagWrites:
    """Suggested tags to write: for each changed row, its words (vocabulary indices) and scores, best first."""

    rows: np.ndarray
    words: np.ndarray
    scores: np.ndarray
    vocabulary: list[str]

    def payloads(self, ids: list[str], start: int, stop: int) -> dict[str, dict]:
        return {ids[row]: {"tags": [[self.vocabulary[j], round(float(score), 4)] for j, score in zip(words, scores)]}
                for row, words, scores in zip(self.rows[start:stop], self.words[start:stop], self.scores[start:stop])}


# -- a run being written -----------------------------------------------------------------------------------------------

@dataclass
class RunOutput:
    """Everything a run publishes. Rows of the per-image arrays follow `ids`."""

    run: int
    ids: list[str]
    concepts: np.ndarray  # (N,) stable concept ID per image, -1 for outliers
    positions: np.ndarray  # (N, 2) map positions
    records: list[dict]  # one payload per concept (the job's `_records`)
    vectors: np.ndarray  # (K, dim) concept embeddings, in the order of `records`
    summary: dict  # counts, lineage, hierarchy, timings: kept in the run folder and the history
    montages: dict[int, Image.Image] = field(default_factory=dict)  # concept ID -> its montage
    tags: TagWrites | None = None  # suggested tags, only of the images where they changed
    word_bars: dict[str, float] | None = None  # per vocabulary word, the score search shows an image from


def begin_run(library: Library) -> int:
    """A new run number (never reused), after deleting what an unpublished earlier run left."""
    drop_old_runs(library)
    record = state(library)
    run = int(record.get("last_run", 0)) + 1
    record["last_run"] = run
    library.update_manifest(**{MANIFEST_KEY: record})
    return run


def target_slot(library: Library) -> str:
    current = published(library)
    return SLOTS[1] if current and current.slot == SLOTS[0] else SLOTS[0]


def publish(library: Library, output: RunOutput, held: SlotState, progress: Progress | None = None) -> dict:
    """Write `output` beside the current run and make it current. `held` is what the target slot holds now (as the
    job read it), so only differences are written. Returns the summary."""
    progress = progress or Progress()
    slot = target_slot(library)
    first = published(library) is None  # nobody reads either slot yet: fill both, so the next run writes nothing
    folder = run_folder(library, output.run)
    _write_run_files(folder, output)
    store = library.store
    store.ensure_payload_indexes(IMAGES)
    store.ensure_payload_indexes(CONCEPTS)
    store.upsert(CONCEPTS, [Point(concept_point_id(output.run, r["concept"]), r, v)
                            for r, v in zip(output.records, output.vectors)])
    labels_of = {r["concept"]: heading_words(r) for r in output.records}
    writes = write_slot(library, slot, output.ids, output.concepts, labels_of, held, progress, both_slots=first)
    tags = output.tags
    if tags is not None:
        for start in range(0, len(tags.rows), TAG_CHUNK):
            store.set_payloads(IMAGES, tags.payloads(output.ids, start, start + TAG_CHUNK))
    summary = {**output.summary, "payload_writes": writes, "tag_writes": len(tags.rows) if tags else 0}
    (folder / "run.json").write_text(json.dumps(summary))
    if shares(store):  # before it is current: no machine is pointed at a run whose files it cannot fetch
        put_folder(store, _run_key(output.run), folder)
    _make_current(library, output.run, slot, summary, images=len(output.ids))
    drop_old_runs(library)
    if store.index_due():
        progress.note("Rebuilding the search index after the concept writes...")
        store.build_index()
    return summary


def write_slot(library: Library, slot: str, ids: list[str], concepts: np.ndarray, labels_of: dict[int, list[str]],
               held: SlotState, progress: Progress, both_slots: bool = False, collection: str = IMAGES) -> int:
    """Make `slot` (with `both_slots`, both) hold `concepts` (per row of `ids`, with each concept's `labels_of`),
    writing only the rows where it holds something else, a store call per concept and SLOT_CHUNK members, into the
    images `collection` (another generation's, for a reindex). Returns the number of images written."""
    unique, inverse = np.unique(concepts, return_inverse=True)
    hashes = np.array([labels_hash(labels_of.get(int(c), [])) for c in unique], np.int64)[inverse]
    changed = (held.concepts != concepts) | (held.label_hashes != hashes)
    progress.start(total=int(changed.sum()), done=0)
    for concept in unique:
        rows = np.flatnonzero(changed & (concepts == concept))
        if not len(rows):
            continue
        labels = labels_of.get(int(concept), [])
        payload = {}
        for each in SLOTS if both_slots else (slot,):
            payload.update({slot_field(each): int(concept), labels_field(each): list(labels)})
        for start in range(0, len(rows), SLOT_CHUNK):
            chunk = rows[start:start + SLOT_CHUNK]
            library.store.set_payload(collection, [ids[r] for r in chunk], payload)
            progress.advance(len(chunk))
    return int(changed.sum())


def _write_run_files(folder: Path, output: RunOutput) -> None:
    montages = folder / "montages"
    montages.mkdir(parents=True, exist_ok=True)
    ids = np.array(output.ids, dtype="S36")
    np.savez(folder / "assignments.npz", ids=ids, concepts=output.concepts.astype(np.int32))
    np.savez(folder / "layout.npz", ids=ids, positions=output.positions.astype(np.float32),
             concepts=output.concepts.astype(np.int32))
    for concept, image in output.montages.items():
        atomic_write(montages / f"{concept}.jpg", partial(image.save, format="JPEG", quality=85))
    if output.word_bars is not None:
        keep_word_bars(folder, output.word_bars, output.summary.get("vocabularies"))


def keep_word_bars(folder: Path, bars: dict[str, float], vocabularies: dict | None) -> None:
    """Keep a run's word bars (`word_bars`) in its folder, with the vocabulary they were measured for."""
    def write(out) -> None:
        np.savez(out, words=np.array(list(bars), dtype=str), bars=np.array(list(bars.values()), np.float32),
                 vocabularies=np.array(vocabularies_key(vocabularies)))

    atomic_write(folder / WORD_BARS, write)


WORD_BARS = "word_bars.npz"


def run_groups(folder: Path) -> list[dict]:
    """A run's concept groups as its run.json records them (stable IDs, concepts, labels); none when unreadable."""
    try:
        return json.loads((folder / "run.json").read_text()).get("hierarchy", [])
    except (OSError, ValueError):
        return []


def vocabularies_key(vocabularies: dict | None) -> str:
    """The library's vocabularies (sources and versions) as one string, to tell whether they changed."""
    return json.dumps(vocabularies or {}, sort_keys=True)


def word_bars(current: Published, vocabularies: dict | None) -> dict[str, float] | None:
    """The run's bars (per word, the score an image of the whole library needed for a search for it to show the
    image; inf: no good match), or None when the run kept none or the vocabulary changed since."""
    try:
        with np.load(current.folder / WORD_BARS) as saved:
            if str(saved["vocabularies"]) != vocabularies_key(vocabularies):
                return None
            return dict(zip(saved["words"].tolist(), saved["bars"].tolist()))
    except (OSError, KeyError, ValueError):
        return None


def _make_current(library: Library, run: int, slot: str, summary: dict, images: int) -> None:
    record = state(library)
    history = [h for h in record.get("history", []) if h.get("run") != run]
    history.append({"run": run, "state": "published", **{k: v for k, v in summary.items()
                                                          if k not in ("lineage", "hierarchy", "retired_into")}})
    record.update(run=run, slot=slot, generation=library.generation, history=history, images_at_run=images,
                  changed_since=0, published_at=utc_now(), next_id=summary.get("next_id", record.get("next_id", 0)),
                  next_group_id=summary.get("next_group_id", record.get("next_group_id", 0)))
    library.update_manifest(**{MANIFEST_KEY: record})


def record_skipped(library: Library, run: int, reason: str) -> dict:
    record = state(library)
    entry = {"run": run, "state": "skipped", "reason": reason, "images": library.store.count(IMAGES),
             "finished_at": utc_now()}
    record["history"] = [*record.get("history", []), entry]
    library.update_manifest(**{MANIFEST_KEY: record})
    return entry


def record_changes(library: Library, changed: int) -> None:
    """Indexing tells how many images it added or removed, so the scheduler knows when a new run is due."""
    record = state(library)
    if changed and record.get("run"):
        record["changed_since"] = int(record.get("changed_since", 0)) + changed
        library.update_manifest(**{MANIFEST_KEY: record})


def concept_payloads(library: Library, vectors: list) -> list[dict]:
    """Image payload fields that put new images (between runs) into the nearest published concept, or -1 when it
    is below that concept's threshold; nothing when no run is published. One small query per image."""
    current = published(library)
    if current is None:
        return [{} for _ in vectors]
    payloads = []
    for vector in vectors:
        hits = library.store.search(CONCEPTS, vector, limit=1, where=current_filter(current))
        best = hits[0] if hits else None
        if best is not None and best.score >= best.payload.get("threshold", 1.0):
            payloads.append({current.concept_field: best.payload["concept"],
                             current.labels_field: heading_words(best.payload)})
        else:
            payloads.append({current.concept_field: -1, current.labels_field: []})
    return payloads


# -- keeping the store tidy --------------------------------------------------------------------------------------------

def kept_runs(library: Library) -> list[int]:
    """Published runs whose records are kept (the current one and up to KEEP_RUNS - 1 before it)."""
    record = state(library)
    runs = [h["run"] for h in record.get("history", []) if h.get("state") in ("published", "rolled back")]
    kept = runs[-KEEP_RUNS:]
    if record.get("run") and record["run"] not in kept:
        kept.append(record["run"])
    return kept


def _concept_points_of(library: Library, keep: set[int]) -> list[str]:
    return [p.id for p in library.store.scroll(CONCEPTS, fields=["run"]) if p.payload.get("run") not in keep]


def drop_old_runs(library: Library) -> None:
    """Delete the concept points and folders of runs that are not kept: old ones, and what runs that never became
    current left (killed, failed)."""
    keep = set(kept_runs(library))
    stale = _concept_points_of(library, keep)
    if stale:
        library.store.delete(CONCEPTS, stale)
    folder = runs_dir(library)
    for run in folder.iterdir() if folder.is_dir() else ():
        if run.name.isdigit() and int(run.name) not in keep:
            shutil.rmtree(run, ignore_errors=True)
    if shares(library.store):
        for key in kept_folders(library.store) - {_run_key(run) for run in keep}:
            drop_folder(library.store, key)


def _run_key(run: int) -> str:
    return f"concepts/runs/{run:04d}"


def concept_point_id(run: int, concept: int) -> str:
    return point_id(f"concept:{run}:{concept}")


def current_filter(current: Published) -> Filter:
    """The run's concept points."""
    return Filter(must=(Match("run", (current.run,)),))


def outliers_filter(current: Published) -> Filter:
    """The images the run put in no concept."""
    return Filter(must=(Match(current.concept_field, (-1,)),))


# -- rollback ----------------------------------------------------------------------------------------------------------

def rollback(library: Library, progress: Progress | None = None) -> dict:
    """Make the run before the current one current again (its slot is rewritten only where it no longer holds it)."""
    current = require_published(library)
    earlier = [r for r in kept_runs(library) if r < current.run and _is_published(library, r)]
    # a run made before a reindex has no concepts in the rebuilt library (only the current run is carried over):
    # making it current would point every image at concepts that do not exist
    whole = [r for r in earlier if library.store.count(CONCEPTS, where=Filter(must=(Match("run", (r,)),)))]
    if earlier and not whole:
        raise NoConceptsError(f"Run {earlier[-1]} was made before the library was rebuilt with its current model, "
                              "so its concepts are not in it; there is no earlier run to roll back to.")
    earlier = whole
    if not earlier:
        raise NoConceptsError("There is no earlier run to roll back to (`pixcept cluster --history` lists them).")
    run = earlier[-1]
    folder = run_files(library, run)
    if not (folder / "assignments.npz").is_file():
        raise NoConceptsError(f"The files of run {run} are gone ({folder}); it cannot be made current again.")
    with np.load(folder / "assignments.npz") as saved:
        ids = [i.decode() for i in saved["ids"]]
        concepts = saved["concepts"]
    labels_of = {p.payload["concept"]: heading_words(p.payload)
                 for p in library.store.scroll(CONCEPTS, where=Filter(must=(Match("run", (run,)),)))}
    slot = SLOTS[1] if current.slot == SLOTS[0] else SLOTS[0]
    stored = {p.id: p.payload for p in library.store.scroll(IMAGES, fields=[slot_field(slot), labels_field(slot)])}
    present = [n for n, image in enumerate(ids) if image in stored]  # images deleted since are left out
    ids = [ids[n] for n in present]
    held = SlotState.of((stored[image] for image in ids), slot)
    writes = write_slot(library, slot, ids, concepts[present], labels_of, held, progress or Progress())
    record = state(library)
    for entry in record.get("history", []):
        if entry.get("run") == current.run:
            entry["state"] = "rolled back"
    record.update(run=run, slot=slot, published_at=utc_now())
    library.update_manifest(**{MANIFEST_KEY: record})
    return {"run": run, "rolled_back": current.run, "payload_writes": writes,
            "summary": f"Run {run} is current again (run {current.run} rolled back; {writes} image payloads written)."}


def _is_published(library: Library, run: int) -> bool:
    return any(h.get("run") == run and h.get("state") == "published" for h in state(library).get("history", []))
