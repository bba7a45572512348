"""Benchmark: a library's first concept run as `pixcept serve` runs it, and whether searches stay answered.

    .venv/bin/python bench/served_cluster.py [--sizes 100000,1000000] [--modes in-place,beside]

A first run writes every image's concept, so Qdrant Edge's HNSW index must be built again afterwards. Two ways:
"in place" (the job builds it in the serving process: Edge's optimize() holds the interpreter, so searches stall for
the whole build) and "beside" (the server's way: the job leaves it, and a search-index job builds it on a copy in the
worker process and swaps it in). For each, on a real Edge library of N synthetic 512-d images (50 concepts of uneven
size, 10 % background; the library's index built first, as after indexing): the cluster job's time, the index build's
time, searches sampled every 0.25 s from a thread of the serving process throughout (median time, and the longest
a search waited: the longest gap between answers beyond the pause, which counts the stalls between samples), and
the peak of each process's own memory (RssAnon: what it allocates beyond the store's mapped files; for the serving
process "A + B": A with the store open and searched before the job, B what the job added at its peak; "job beyond
store": the peak of both processes together while the job ran, less A). Goals at 1M images on 2 cores: the job
<= 10 minutes and <= 4 GB beyond the store.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from cluster_job import build

from indexer.demo.models import write_random_checkpoint

from common import ROOT, table

PAUSE = 0.25  # between the sampled searches
COLUMNS = ["images", "index built", "job s", "index build s", "search p50 ms", "longest search wait s",
           "serving process own MB", "worker own MB", "job beyond store MB", "concepts", "payload writes"]


def served_first_run(data_dir: Path, model: str, mode: str) -> dict:
    """In a fresh process (run with --child): the first cluster run with UMAP in the worker process, then the index
    build (`mode`: in-place or beside), searched meanwhile."""
    from indexer.concepts.job import run_cluster
    from indexer.config import Settings
    from indexer.library import Library
    from indexer.progress import Progress
    from indexer.store import IMAGES
    from indexer.worker import JobWorker

    peaks = {"self": 0, "worker": 0, "together": 0}  # "together": both at the same moment, during the job
    in_job = threading.Event()
    waits: list[float] = []  # each search's own time
    answered: list[float] = []  # when each search was answered: a gap longer than the pause is a stall
    done = threading.Event()
    worker = JobWorker(model, device="cpu")
    rng = np.random.default_rng(5)

    def own_mb(pid: str | int) -> int:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return 0
        return int(status.split("RssAnon:")[1].split()[0]) // 1024

    def sample(library) -> None:
        while not done.is_set():
            mine, workers = own_mb("self"), own_mb(worker.pid) if worker.pid else 0
            peaks["self"], peaks["worker"] = max(peaks["self"], mine), max(peaks["worker"], workers)
            if in_job.is_set():
                peaks["together"] = max(peaks["together"], mine + workers)
            started = time.perf_counter()
            library.store.search(IMAGES, rng.normal(size=512).astype(np.float32), limit=20, with_payload=False)
            waits.append(time.perf_counter() - started)
            answered.append(time.perf_counter())
            time.sleep(PAUSE)

    with Library.open(Settings(data_dir=data_dir, model=model, device="cpu")) as library:
        library.store.build_elsewhere = mode == "beside"
        library.store.search(IMAGES, rng.normal(size=512).astype(np.float32), limit=20, with_payload=False)
        store_mb = own_mb("self")  # the serving process with the store open and searched: what the job adds is beyond
        sampler = threading.Thread(target=sample, args=(library,), daemon=True)
        sampler.start()
        started = time.monotonic()
        in_job.set()
        summary = run_cluster(library, {}, Progress(), fitter=worker.fit_concepts)
        in_job.clear()
        job_seconds = time.monotonic() - started
        index_seconds = None
        if mode == "beside":  # as the server's search-index job does next
            started = time.monotonic()
            library.store.rebuild_beside(worker.optimize_shard)
            index_seconds = time.monotonic() - started
        done.set()
        sampler.join()
    worker.close()
    return {"store_mb": store_mb, "job_seconds": job_seconds, "index_seconds": index_seconds, "summary": summary,
            "search_p50_ms": float(np.median(waits)) * 1000,
            "longest_wait_s": max(float(np.diff(answered).max()) - PAUSE, max(waits)), **peaks}


def measure(size: int, mode: str, model: str) -> dict:
    with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "results") as tmp:
        data = Path(tmp) / "data"
        built = build(data, model, size)
        print(f"{size:,} images ({mode}): library built and indexed in {built:.0f} s", flush=True)
        process = subprocess.run([sys.executable, __file__, "--child", str(data), model, mode], capture_output=True,
                                 text=True, cwd=ROOT / "bench")
        if process.returncode:
            raise SystemExit(f"the served run failed: {process.stderr[-3000:]}")
        result = json.loads(process.stdout.strip().splitlines()[-1])
    summary = result["summary"]
    publish = summary["seconds"]["publish"]
    return {
        "images": f"{size:,}", "index built": mode, "job s": round(result["job_seconds"], 1),
        # in place, the build is the tail of the job's publish phase; beside, a job of its own
        "index build s": round(result["index_seconds"], 1) if result["index_seconds"] is not None
        else f"in the job ({publish:.0f} s publish)",
        "search p50 ms": round(result["search_p50_ms"], 1), "longest search wait s": round(result["longest_wait_s"], 2),
        "serving process own MB": f"{result['store_mb']} + {result['self'] - result['store_mb']}",
        "worker own MB": result["worker"],
        "job beyond store MB": result["together"] - result["store_mb"], "concepts": summary["concepts"],
        "payload writes": f"{summary['payload_writes']:,}",
    }


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        data, model, mode = sys.argv[2:5]
        print(json.dumps(served_first_run(Path(data), model, mode)))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--modes", default="in-place,beside")
    args = parser.parse_args()
    model = write_random_checkpoint(ROOT / "bench" / "results" / "vit-b-32-random")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for mode in args.modes.split(","):
            rows.append(measure(size, mode, model))
            print(table(rows[-1:], COLUMNS), flush=True)  # each row as soon as it is measured
    print(table(rows, COLUMNS))


if __name__ == "__main__":
    main()
