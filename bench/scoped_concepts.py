"""Benchmark: the concept list as a token limited to folders sees it, against the whole library's, in the same run.

    .venv/bin/python bench/scoped_concepts.py [--images 60000] [--concepts 500] [--share 0.5] [--work-dir DIR]

Setup: a Qdrant Edge library of synthetic 512-d image vectors drawn around `--concepts` centres (as
bench/concepts_page.py; 1,000 images per folder) and 4,400 vocabulary words, clustered by the real `pixcept cluster`.
Measured in one process: `list_concepts` of the whole library, then of a view limited to the first `--share` of its
folders, the first time (sizes, exemplars and labels worked out for the scope: `concepts/scoped.py`), again (kept
in the view's memo), and through a new view (another serving process: the labels read from the run's folder, where
the first list or the cluster job keeps them), with the model loaded as a serving process has it. A scoped reader
waits for the first figure only for a scope no token had at the last run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cluster_job import clustered_library

from common import table


def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    found = call()
    return time.perf_counter() - started, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--concepts", type=int, default=500)
    parser.add_argument("--share", type=float, default=0.5, help="share of the folders the token sees")
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args()
    from indexer.concepts.read import list_concepts
    from indexer.config import Settings
    from indexer.library import Library
    from indexer.scope import within
    from indexer.search import chance_level

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-scoped-"))
    data = clustered_library(work, args.images, args.concepts)
    folders = [f"/photos/bench/{n:04d}" for n in range(round(args.images / 1000 * args.share))]
    rows = []
    with Library.open(Settings(data_dir=data, device="cpu")) as library:
        list_concepts(library, "size", 0, 1_000_000)  # the store's first reads
        chance_level(library)  # loads the model, as a serving process has at its first search
        whole_s, whole = timed(lambda: list_concepts(library, "size", 0, 1_000_000))
        view = within(library, folders)
        cold_s, cold = timed(lambda: list_concepts(view, "size", 0, 1_000_000))
        warm_s, _ = timed(lambda: list_concepts(view, "size", 0, 1_000_000))
        kept_s, _ = timed(lambda: list_concepts(within(library, folders), "size", 0, 1_000_000))  # a new view
        images = library.store.count("images")
        seen = view.store.count("images")
    rows.append({"view": "whole library", "images": f"{images:,}", "concepts": len(whole.concepts),
                 "seconds": f"{whole_s:.2f}", "vs_whole": "1.00x"})
    for name, seconds in (("scoped, first", cold_s), ("scoped, again", warm_s), ("scoped, kept", kept_s)):
        rows.append({"view": name, "images": f"{seen:,}", "concepts": len(cold.concepts), "seconds": f"{seconds:.2f}",
                     "vs_whole": f"{seconds / max(whole_s, 1e-6):.2f}x"})
    print(table(rows, ["view", "images", "concepts", "seconds", "vs_whole"]))


if __name__ == "__main__":
    main()
