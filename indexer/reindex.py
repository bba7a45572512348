"""Rebuilding a library (`pixcept index --reindex`, e.g. with another model) beside the old vectors.

The rebuild writes a new generation of the collections (images, vocabulary) while the current one keeps answering
searches. When both are complete, one manifest write makes the new generation current, and the old collections are
dropped. Killed before that write, the old library is whole and current, and the next `--reindex` continues the new
generation where it stopped (indexing is incremental). Killed after it, the next writer drops the old collections.
The library is never empty, and the vocabulary's words (the user's own too) are embedded again with the new model.
"""

from __future__ import annotations

from pathlib import Path

from .concepts.carry import carry_into
from .concepts.publish import MANIFEST_KEY as CONCEPTS_KEY
from .embed import Embedder
from .errors import UsageError
from .index import Indexer, IndexSummary, write_failure_report
from .library import Library
from .progress import Progress
from .roots import check_roots
from .store import IMAGES, VOCABULARY, generation_name
from .vocab import copy_vocabulary


def rebuild_roots(library: Library, roots: list[Path], force: bool = False) -> list[Path]:
    """The folders a rebuild indexes: the ones asked for and every folder indexed before, since what the new
    generation lacks is gone after the switch. A recorded folder that is missing stops the rebuild (unless
    `force`): its images would be lost."""
    known = [Path(root) for root in library.manifest.get("roots", [])]
    missing = [root for root in known if not root.is_dir() and root not in roots]
    if missing and not force:
        listed = ", ".join(str(root) for root in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise UsageError(
            f"Refusing to reindex: the library also holds images from {listed}, which cannot be found now (an "
            "unmounted disk?); the rebuilt library would lose them. Nothing was changed. Mount the folders, or run "
            "with --force to leave their images out.")
    return sorted({*roots, *(root for root in known if root.is_dir())})


def reindex_library(library: Library, roots: list[Path], force: bool = False, batch_size: int = 32,
                    workers: int | None = None, progress: Progress | None = None,
                    embedder: Embedder | None = None, model: str | None = None) -> IndexSummary:
    """Rebuild the library from `roots` (and the folders indexed before) with the library's model for writing
    (the one asked for; `model`: another one, loaded beside it), switching to it only when images and vocabulary are
    complete: searches use the current vectors and model until then. Files that failed are reported as by
    `index_folders`."""
    roots = check_roots(roots, data_dir=library.data_dir)
    summary = _rebuild(library, roots, force, batch_size, workers, progress or Progress(), embedder, model)
    write_failure_report(library, summary)
    return summary


def _rebuild(library: Library, roots: list[Path], force: bool, batch_size: int, workers: int | None,
             progress: Progress, embedder: Embedder | None, model: str | None = None) -> IndexSummary:
    local = library.writing_embedder(model)
    embedder = embedder or local
    folders = rebuild_roots(library, roots, force)
    generation = library.begin_rebuild(local)
    progress.note(f"Rebuilding the library with {local.identity.describe()}; searches use the current vectors "
                  "until it is done.")
    indexer = Indexer(library, embedder, batch_size=batch_size, workers=workers, progress=progress,
                      collection=generation_name(IMAGES, generation))
    summary = indexer.run(folders)
    progress.note("Embedding the vocabulary again with the new model...")
    copy_vocabulary(library, generation_name(VOCABULARY, generation), embedder, progress)
    concepts = carry_into(library, generation, progress)  # the published concepts survive the model change
    library.switch_generation(generation, local, {CONCEPTS_KEY: concepts} if concepts else None)
    library.update_manifest(roots=[str(root) for root in folders])
    return summary
