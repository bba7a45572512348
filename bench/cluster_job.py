"""Benchmark: the whole cluster job (`pixcept cluster`) on a real Qdrant Edge library, per phase, with peak memory,
ID stability and the payload writes of reclustering.

    .venv/bin/python bench/cluster_job.py [--sizes 100000,1000000]

Library: N synthetic 512-d image vectors (50 concepts of uneven size and 10 % background images, from
indexer.demo.synthetic) with real payloads, and a vocabulary of 4,400 words (random unit vectors: labels are
meaningless here, their cost is real). Three runs, each in a fresh `pixcept cluster` process. Memory: "peak RSS"
is the process's VmHWM, which counts the store's memory-mapped segment files it read (page cache); "own" is the
peak of its own allocations (RssAnon, sampled every 0.1 s), i.e. what the job costs beyond the store: the first
run; a recluster of the unchanged library (goal: 0 payload writes); a recluster after 10 % new images (ID
stability: of the first run's concepts that continue, Jaccard >= 0.5, the share that kept their ID; goal >= 0.9).
Goals at 1M images on 2 cores: the job <= 10 minutes, <= 4 GB RSS beyond the store.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from indexer.demo.measure import run_cli_measured
from indexer.demo.models import write_random_checkpoint

from common import ROOT, synthetic_image_points, table

CONCEPTS = 50
VOCABULARY_WORDS = 4400
COLUMNS = ["images", "run", "total s", "read s", "fit s", "assign+label s", "montages s", "publish s", "peak RSS MB",
           "own MB", "concepts", "payload writes", "tag writes", "kept IDs"]


def build(data_dir: Path, model: str, count: int, start: int = 0, draw_seed: int | None = None,
          concepts: int = CONCEPTS) -> float:
    """Write `count` images (IDs from `start`) into the library; seconds taken."""
    from indexer.config import Settings
    from indexer.demo.synthetic import clustered_embeddings
    from indexer.library import Library
    from indexer.store import IMAGES, VOCABULARY, Point, point_id

    started = time.perf_counter()
    vectors = clustered_embeddings(count, concepts=concepts, dim=512, seed=0, draw_seed=draw_seed)[0]
    with Library.open(Settings(data_dir=data_dir, model=model, device="cpu")) as library:
        library.prepare_for_indexing()
        for first in range(0, count, 2000):
            library.store.upsert(IMAGES, synthetic_image_points(vectors[first:first + 2000], start + first))
        if not library.store.count(VOCABULARY):
            rng = np.random.default_rng(1)
            words = rng.normal(size=(VOCABULARY_WORDS, 512)).astype(np.float32)
            words /= np.linalg.norm(words, axis=1, keepdims=True)
            library.store.upsert(VOCABULARY, [Point(point_id(f"word:{i}"), {"word": f"word{i}", "source": "bench"}, w)
                                              for i, w in enumerate(words)])
        if library.store.index_due():
            library.store.build_index()
    return time.perf_counter() - started


def cluster(data_dir: Path, *options: str) -> dict:
    result = run_cli_measured(["cluster", "--json", *options], {"PIXCEPT_DATA_DIR": str(data_dir)}, ROOT)
    if result.code:
        raise SystemExit(f"pixcept cluster failed: {result.err[-2000:]}")
    return {**json.loads(result.out), "peak_mb": result.peak_mb, "anon_mb": result.peak_anon_mb}


def clustered_library(work: Path, images: int, concepts: int) -> Path:
    """WORK/data: `images` synthetic images around `concepts` centres (ViT-B-32 with random weights as the model),
    clustered by the real `pixcept cluster`; made once (an existing WORK/data is used as it is)."""
    data = work / "data"
    if not data.exists():
        model = write_random_checkpoint(ROOT / "bench" / "results" / "vit-b-32-random")
        build(data, model, images, concepts=concepts)
        min_size = max(5, images // concepts // 4)
        result = cluster(data, "--min-concept-size", str(min_size), "--seed", "0")
        print(f"{result['images']:,} images -> {result['concepts']} concepts in {result['seconds']['total']:.0f} s",
              flush=True)
    return data


def stability(data_dir: Path, before: int, after: int) -> str:
    from indexer.concepts.identity import id_stability

    def load(run: int) -> dict:
        with np.load(data_dir / "concepts" / "runs" / f"{run:04d}" / "assignments.npz") as saved:
            return dict(zip(saved["ids"].tolist(), saved["concepts"].tolist()))

    old, new = load(before), load(after)
    images = sorted(new)
    kept, continuing = id_stability(np.array([old.get(i, -1) for i in images]), np.array([new[i] for i in images]))
    return f"{kept}/{continuing} = {kept / max(1, continuing):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000")
    args = parser.parse_args()
    model = write_random_checkpoint(ROOT / "bench" / "results" / "vit-b-32-random")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "results") as tmp:
            data = Path(tmp) / "data"
            built = build(data, model, size)
            runs = [("first run", cluster(data)), ("recluster, unchanged", cluster(data))]
            build(data, model, size // 10, start=size, draw_seed=7)
            runs.append(("recluster, +10 % images", cluster(data)))
            for label, result in runs:
                seconds = result["seconds"]
                rows.append({
                    "images": f"{result['images']:,}", "run": label, "total s": seconds["total"],
                    "read s": seconds["read"], "fit s": seconds["reduce_cluster"],
                    "assign+label s": seconds["assign_label"], "montages s": seconds["montages"],
                    "publish s": seconds["publish"], "peak RSS MB": round(result["peak_mb"]),
                    "own MB": round(result["anon_mb"]), "concepts": result["concepts"],
                    "payload writes": f"{result['payload_writes']:,}", "tag writes": f"{result['tag_writes']:,}",
                    "kept IDs": "" if label == "first run" else stability(data, result["run"] - 1, result["run"]),
                })
            print(f"{size:,} images: library built in {built:.0f} s", flush=True)
            print(table(rows[-len(runs):], COLUMNS), flush=True)  # each size as soon as it is measured
    print(table(rows, COLUMNS))


if __name__ == "__main__":
    main()
