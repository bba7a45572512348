"""The word vocabulary: words and phrases embedded into the image space, later used to label concepts.

Each entry is embedded through several prompt templates ("a photo of a {}."), averaged and re-normalised, which
places a bare word closer to the photos it describes than the word alone would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .embed import Embedder, normalise_rows
from .library import Library
from .progress import Progress
from .store import VOCABULARY, Point, point_id
from .words import TEMPLATES, TEMPLATES_VERSION

DEFAULT_SOURCE = "default"
USER_SOURCE = "user"


@dataclass
class VocabSummary:
    added: int
    present: int
    source: str
    version: str

    def describe(self) -> str:
        return f"{self.added} words added, {self.present} already present ({self.source} vocabulary {self.version})."

    def to_dict(self) -> dict:
        return {"added": self.added, "present": self.present, "source": self.source, "version": self.version,
                "summary": self.describe()}


def entry_id(entry: str) -> str:
    return point_id("word:" + entry.lower())


def embed_entries(embedder: Embedder, entries: list[str]) -> np.ndarray:
    """(N, dim) normalised vectors: the mean over TEMPLATES of each entry's prompt embeddings."""
    prompts = [template.format(entry) for entry in entries for template in TEMPLATES]
    return normalise_rows(embedder.embed_texts(prompts).reshape(len(entries), len(TEMPLATES), -1).mean(axis=1))


def add_entries(library: Library, entries: list[str], source: str, version: str, chunk: int = 256,
                progress: Progress | None = None, embedder: Embedder | None = None) -> VocabSummary:
    """Embed and store the entries not yet in the vocabulary (incremental: present ones cost nothing).
    `embedder` runs the model instead of the library's own (see `index_folders`)."""
    local = library.prepare_for_indexing()
    present: set[str] = set()
    if library.manifest.get("templates") == TEMPLATES_VERSION:  # other templates: every entry is embedded anew
        present = {p.id for p in library.store.scroll(VOCABULARY, fields=False)}
    missing = [e for e in entries if entry_id(e) not in present]
    store_entries(library.store, VOCABULARY, embedder or local, [(e, source, version) for e in missing], chunk,
                  progress)
    if library.store.index_due():
        library.store.build_index()
    vocabularies = dict(library.manifest.get("vocabularies") or {})
    vocabularies[source] = version
    library.update_manifest(vocabularies=vocabularies, templates=TEMPLATES_VERSION)
    return VocabSummary(len(missing), len(entries) - len(missing), source, version)


def store_entries(store, collection: str, embedder: Embedder, entries: list[tuple[str, str, str]],
                  chunk: int = 256, progress: Progress | None = None) -> None:
    """Embed (entry, source, version) rows and upsert them into `collection`, a chunk at a time."""
    progress = progress or Progress()
    progress.start(total=len(entries), done=0)
    for start in range(0, len(entries), chunk):
        batch = entries[start:start + chunk]
        vectors = embed_entries(embedder, [entry for entry, _, _ in batch])
        store.upsert(collection, [
            Point(entry_id(entry), {"word": entry, "source": source, "vocab_version": version,
                                    "templates": TEMPLATES_VERSION}, vector)
            for (entry, source, version), vector in zip(batch, vectors)])
        progress.advance(len(batch))


def copy_vocabulary(library: Library, target: str, embedder: Embedder, progress: Progress | None = None) -> int:
    """Embed every word of the library's vocabulary (default and the user's own) into `target` with `embedder`,
    skipping those already there (a rebuild that was interrupted continues). Returns how many were embedded."""
    present = {p.id for p in library.store.scroll(target, fields=False)}
    rows = [(p.payload["word"], p.payload.get("source", USER_SOURCE), p.payload.get("vocab_version", "user"))
            for p in library.store.scroll(VOCABULARY, fields=["word", "source", "vocab_version"])
            if p.id not in present and p.payload.get("word")]
    store_entries(library.store, target, embedder, rows, progress=progress)
    return len(rows)


def search_words(library: Library, vector: np.ndarray, limit: int = 10) -> list[tuple[str, float]]:
    hits = library.store.search(VOCABULARY, vector, limit=limit)
    return [(hit.payload["word"], hit.score) for hit in hits]
