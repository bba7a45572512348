"""Benchmark: `pixcept index` end-to-end throughput vs the model alone, and vocabulary text embedding speed.

    .venv/bin/python bench/index_throughput.py [--images 64] [--work-dir /tmp/pixcept-bench]

Model: open_clip ViT-B-32 with random weights (speed does not depend on the weights). In the same run it measures
1. model-only image throughput (preprocessed tensors straight into the model, batch 32);
2. `index_folders` end to end on fresh libraries of generated JPEGs (read, hash, decode, thumbnail, preprocess,
   embed, upsert into the embedded store) at camera size (12 MP, 24 MP) and at 1024x768;
3. vocabulary embedding (default words x prompt templates) with pixcept's sorted, trimmed batches vs the naive
   loop (one prompt at a time at the full 77-token context) and vs full-length batches.
Targets: end-to-end / model-only >= 0.9 at camera size; vocabulary >= 5x the naive loop.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import indexer  # noqa: F401  - before torch: pixcept's thread policy applies to both sides of the comparison
from indexer.demo.models import write_random_checkpoint

from common import table, write_photos


def model_only(embedder, seconds: float = 8.0, batch: int = 32) -> float:
    import torch

    tensors = list(torch.randn(batch, 3, embedder.image_size, embedder.image_size))
    embedder.embed_tensors(tensors)  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        embedder.embed_tensors(tensors)
        done += batch
    return done / (time.perf_counter() - started)


def end_to_end(spec: str, photos: Path, work: Path) -> tuple[float, float]:
    """(images/s of `index_folders` on a fresh library, CPU seconds per image of the per-file work alone)."""
    from indexer.config import Settings
    from indexer.images import FoundFile
    from indexer.index import Indexer, index_folders
    from indexer.library import Library

    data_dir = work / f"data-{photos.name}"
    shutil.rmtree(data_dir, ignore_errors=True)
    with Library.open(Settings(data_dir=data_dir, model=spec)) as library:
        embedder = library.prepare_for_indexing()  # model load is not indexing work
        started = time.perf_counter()
        summary = index_folders(library, [photos])
        elapsed = time.perf_counter() - started
        sample = sorted(photos.glob("*.jpg"))[:16]
        indexer = Indexer(library, embedder)  # knows no content yet: every file is decoded
        cpu = time.process_time()
        for path in sample:
            indexer.prepare_file(FoundFile(str(path), path.stat().st_size, path.stat().st_mtime))
        per_file = (time.process_time() - cpu) / len(sample)
    assert summary.indexed == len(list(photos.glob("*.jpg"))), summary.describe()
    return summary.indexed / elapsed, per_file


def text_rates(embedder, words: list[str]) -> dict[str, float]:
    import numpy as np

    from indexer.vocab import embed_entries
    from indexer.words import TEMPLATES

    prompts = [t.format(w) for w in words for t in TEMPLATES]
    started = time.perf_counter()
    embed_entries(embedder, words)
    trimmed = len(prompts) / (time.perf_counter() - started)
    started = time.perf_counter()
    embedder.embed_texts(prompts, trim=False)
    batched_full = len(prompts) / (time.perf_counter() - started)
    sample = prompts[:140]
    started = time.perf_counter()
    naive = np.stack([embedder.embed_texts([p], trim=False)[0] for p in sample])
    naive_rate = len(sample) / (time.perf_counter() - started)
    exact = float(np.abs(naive - embedder.embed_texts(sample)).max())
    return {"trimmed": trimmed, "full": batched_full, "naive": naive_rate, "max_diff": exact}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64, help="images per size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is shown)")
    parser.add_argument("--words", type=int, default=300, help="vocabulary words (x7 prompts)")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "pixcept-bench")
    args = parser.parse_args()

    import torch

    from indexer.embed import load_embedder
    from indexer.words import default_vocabulary

    spec = write_random_checkpoint(args.work_dir / "vit-b-32-random")
    embedder = load_embedder(spec)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {embedder.device}")
    cores = torch.get_num_threads()
    # This machine's speed wanders by +-20 % from minute to minute, so every figure is a median of repeats.
    base = statistics.median(model_only(embedder, seconds=4) for _ in range(args.repeat))
    rows = [{"case": "model only (batch 32)", "images/s": f"{base:.1f}", "ratio": "1.00"}]
    for label, size in (("12 MP camera JPEG", (4000, 3000)), ("24 MP camera JPEG", (6000, 4000)),
                        ("1024x768 JPEG", (1024, 768))):
        photos = args.work_dir / f"photos-{size[0]}x{size[1]}"
        write_photos(photos, args.images, size)
        runs = [end_to_end(spec, photos, args.work_dir) for _ in range(args.repeat)]
        rate, per_file = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        # On a CPU the model already keeps every core busy, so file work adds to it: at best the run reaches
        # cores / (cores / base + per_file) images/s. On a GPU the ceiling is the decoders' rate instead.
        ceiling = 1 / (1 + per_file * base / cores) if embedder.device == "cpu" else float("nan")
        rows.append({"case": f"pixcept index, {label}", "images/s": f"{rate:.1f}", "ratio": f"{rate / base:.2f}",
                     "file work ms/img": f"{per_file * 1000:.0f}", "CPU-bound ceiling": f"{ceiling:.2f}"})
    print("\nImage indexing (ratio = end-to-end / model only; target >= 0.90 at camera size)")
    print(table(rows, ["case", "images/s", "ratio", "file work ms/img", "CPU-bound ceiling"]))

    _, words = default_vocabulary()
    rates = text_rates(embedder, words[:: max(1, len(words) // args.words)][: args.words])
    print(f"\nVocabulary embedding ({args.words} words x 7 prompts; target >= 5x the naive loop)")
    print(table([
        {"method": "naive loop, one prompt at 77 tokens", "texts/s": f"{rates['naive']:.1f}", "vs naive": "1.0x"},
        {"method": "batches at 77 tokens", "texts/s": f"{rates['full']:.1f}",
         "vs naive": f"{rates['full'] / rates['naive']:.1f}x"},
        {"method": "pixcept: sorted, trimmed batches", "texts/s": f"{rates['trimmed']:.1f}",
         "vs naive": f"{rates['trimmed'] / rates['naive']:.1f}x"},
    ], ["method", "texts/s", "vs naive"]))
    print(f"max |trimmed - full| = {rates['max_diff']:.1e}")


if __name__ == "__main__":
    main()
