"""Benchmark: the embedded stores side by side, qdrant-client local mode vs Qdrant Edge, through pixcept's store API.

    .venv/bin/python bench/store_backends.py [--sizes 10000,100000] [--queries 100] [--million]

Data: clustered, anisotropic 512-d unit vectors (200 clusters, each spread along its own 24 random directions with
decaying scales, plus a little isotropic noise: closer to CLIP image embeddings than isotropic random data, on which
HNSW recall is misleadingly poor), with a folder payload per cluster group (1 % of the points each).
Per backend and size, in fresh processes: upsert rate, query p50, folder-filtered query p50, recall@10 against exact
numpy search, reopen time (open + first query) and peak RSS of a process that reopens and queries. For Edge also
with its HNSW index built (`optimize`), how long that took, and how long it kept the process's other threads waiting.
Goals vs local mode at 100k: >= 10x faster query, >= 100x faster filtered query, reopen <= 1 s and <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from common import peak_rss_mb  # noqa: E402  (also puts the project on sys.path)

DIM = 512
CLUSTERS = 200
FOLDERS = 100


def make_data(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(CLUSTERS, DIM)).astype(np.float32)
    bases = rng.normal(size=(CLUSTERS, 24, DIM)).astype(np.float32) / np.sqrt(DIM)
    scales = (0.9 ** np.arange(24)).astype(np.float32) * 2.5

    def sample(count: int) -> tuple[np.ndarray, np.ndarray]:
        cluster = rng.integers(0, CLUSTERS, count)
        coefficients = rng.normal(size=(count, 24)).astype(np.float32) * scales
        points = centers[cluster] / np.sqrt(DIM) * 6 + np.einsum("nk,nkd->nd", coefficients, bases[cluster])
        points += rng.normal(scale=0.02, size=points.shape).astype(np.float32)
        return points / np.linalg.norm(points, axis=1, keepdims=True), cluster

    vectors, clusters = sample(n)
    query_vectors, _ = sample(queries)
    return vectors, clusters, query_vectors


def _settings(kind: str, folder: Path):
    from indexer.config import Settings

    return Settings(data_dir=folder, store=kind)


def child_build(kind: str, folder: Path, data: Path, queries: int) -> dict:
    from indexer.store import IMAGES, Filter, Match, Point, open_store

    arrays = np.load(data)
    vectors, clusters, query_vectors = arrays["vectors"], arrays["clusters"], arrays["queries"][:queries]
    store = open_store(_settings(kind, folder))
    store.create_collection(IMAGES, DIM)
    started = time.perf_counter()
    for start in range(0, len(vectors), 1000):
        store.upsert(IMAGES, [Point(str(_uuid(i)), {"folders": [f"/photos/f{clusters[i] % FOLDERS}"],
                                                    "concept_id": int(clusters[i])}, vectors[i])
                              for i in range(start, min(start + 1000, len(vectors)))])
    result = {"upsert_per_s": len(vectors) / (time.perf_counter() - started)}
    exact = np.argsort(-(query_vectors @ vectors.T), axis=1)[:, :10]
    folder_filter = Filter(must=(Match("folders", ("/photos/f7",)),))
    filtered_queries = query_vectors[: max(5, queries // 5)] if kind == "local" else query_vectors

    def measure(prefix: str) -> None:
        latencies, found = [], []
        for q in query_vectors:
            t = time.perf_counter()
            hits = store.search(IMAGES, q, limit=10)
            latencies.append(time.perf_counter() - t)
            found.append({int(h.id.split("-")[-1], 16) for h in hits})
        result[f"{prefix}query_ms"] = 1000 * statistics.median(latencies)
        result[f"{prefix}recall"] = float(np.mean([len(f & set(e.tolist())) / 10 for f, e in zip(found, exact)]))
        filtered = []
        for q in filtered_queries:
            t = time.perf_counter()
            store.search(IMAGES, q, limit=10, where=folder_filter)
            filtered.append(time.perf_counter() - t)
        result[f"{prefix}filtered_ms"] = 1000 * statistics.median(filtered)

    measure("")
    if kind == "edge":
        # Force the HNSW build that pixcept does above EdgeStore.HNSW_MIN_POINTS, and watch how long a thread that
        # wants to run every 5 ms is kept waiting meanwhile (qdrant-edge-py 0.9's optimize() holds the GIL).
        store.HNSW_MIN_POINTS, store._writes[store.collection(IMAGES)] = 0, len(vectors)
        ticks, stop = [time.perf_counter()], threading.Event()

        def probe() -> None:
            while not stop.is_set():
                ticks.append(time.perf_counter())
                time.sleep(0.005)

        prober = threading.Thread(target=probe)
        prober.start()
        t = time.perf_counter()
        store.build_index()
        result["optimize_s"] = time.perf_counter() - t
        stop.set()
        prober.join()
        result["longest_stall_s"] = float(np.max(np.diff(ticks))) if len(ticks) > 1 else result["optimize_s"]
        measure("optimized_")
    store.close()
    return result


def child_reopen(kind: str, folder: Path, data: Path) -> dict:
    from indexer.store import IMAGES, open_store

    query = np.load(data)["queries"][0]
    t = time.perf_counter()
    store = open_store(_settings(kind, folder))
    store.count(IMAGES)
    store.search(IMAGES, query, limit=10)
    seconds = time.perf_counter() - t
    for _ in range(20):
        store.search(IMAGES, query, limit=10)
    rss = peak_rss_mb()
    store.close()
    return {"reopen_s": seconds, "rss_mb": rss}


def _uuid(i: int):
    import uuid

    return uuid.UUID(int=i)


def run_child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--million", action="store_true", help="also 1M points, Edge only (local mode: hours)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        phase, kind, folder, data, *rest = args.child
        result = child_build(kind, Path(folder), Path(data), int(rest[0])) if phase == "build" else \
            child_reopen(kind, Path(folder), Path(data))
        print(json.dumps(result))
        return
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.million else [])
    rows = []
    with tempfile.TemporaryDirectory(prefix="pixcept-store-bench-") as work:
        for n in sizes:
            data = Path(work) / f"data-{n}.npz"
            vectors, clusters, queries = make_data(n, args.queries)
            np.savez(data, vectors=vectors, clusters=clusters, queries=queries)
            del vectors
            for kind in ("local", "edge") if n <= 100_000 else ("edge",):
                folder = Path(work) / f"{kind}-{n}"
                result = {"backend": kind, "points": n, **run_child("build", kind, folder, data, args.queries),
                          **run_child("reopen", kind, folder, data)}
                rows.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    local = {r["points"]: r for r in rows if r["backend"] == "local"}
    header = ["backend", "points", "upsert/s", "query p50 ms", "filtered p50 ms", "recall@10", "reopen s", "RSS MB",
              "query x", "filtered x"]
    lines = []
    for r in rows:
        base = local.get(r["points"])
        for label, prefix in ((r["backend"], ""),) + ((("edge + HNSW", "optimized_"),) if "optimize_s" in r else ()):
            lines.append([label, f"{r['points']:,}", f"{r['upsert_per_s']:,.0f}", f"{r[prefix + 'query_ms']:.2f}",
                          f"{r[prefix + 'filtered_ms']:.2f}", f"{r[prefix + 'recall']:.3f}", f"{r['reopen_s']:.2f}",
                          f"{r['rss_mb']:,.0f}",
                          f"{base['query_ms'] / r[prefix + 'query_ms']:.1f}" if base else "",
                          f"{base['filtered_ms'] / r[prefix + 'filtered_ms']:.0f}" if base else ""])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for line in lines:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)))
    print("(x = local mode's p50 / this p50 at the same size)")
    for r in rows:
        if "optimize_s" in r:
            print(f"edge {r['points']:,}: HNSW build (optimize) {r['optimize_s']:.1f} s; other threads of the process "
                  f"were stalled for up to {r['longest_stall_s']:.1f} s meanwhile")


if __name__ == "__main__":
    main()
