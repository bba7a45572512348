"""Benchmark: `pixcept serve` under concurrent clients, idle and while an indexing job runs.

    .venv/bin/python bench/serve.py [--images 20000] [--clients 4] [--seconds 20] [--work-dir /tmp/pixcept-bench]

Setup: a library of `--images` points (clustered synthetic 512-d vectors with real payloads and thumbnails, so
building it takes seconds, not hours) whose recorded model is open_clip ViT-B-32 with random weights: text queries
run the real text tower, similar-image queries the real store lookups. The server is the real `pixcept serve`
(gunicorn, one worker, 8 threads, Qdrant Edge), started in its own process; clients are threads on loopback with
keep-alive connections, each asking for a new word from the vocabulary (no query-cache hits) or a random image.

Printed per phase: QPS, p50/p99 latency, the serving worker's CPU time per query (from /proc), and serving efficiency
= QPS / (cores / CPU per query): 1.0 means every core did nothing but answer queries. Then the same load while the
server indexes a folder of generated photos (its worker process at nice 10), and p99 during indexing / idle p99.
Goals: efficiency >= 0.6 idle; p99 during indexing <= 3x idle p99.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from indexer.demo.models import write_random_checkpoint

from common import ROOT, synthetic_image_points, table, write_photos

CORES = os.cpu_count() or 1


def build_library(data_dir: Path, spec: str, count: int) -> None:
    from PIL import Image

    from indexer.config import Settings
    from indexer.demo.synthetic import clustered_embeddings
    from indexer.images import thumbnail_path, write_thumbnail
    from indexer.library import Library
    from indexer.store import IMAGES

    with Library.open(Settings(data_dir=data_dir, model=spec, device="cpu")) as library:
        library.prepare_for_indexing()
        vectors = clustered_embeddings(count, dim=512, seed=0)[0]
        thumb = Image.new("RGB", (256, 192), (120, 140, 160))
        for start in range(0, count, 1000):
            points = synthetic_image_points(vectors[start:start + 1000], start)
            for point in points[:max(0, 2000 - start)]:  # enough distinct thumbnails for what clients fetch
                sha = point.payload["sha256"]
                write_thumbnail(thumb, thumbnail_path(library.thumbnail_dir, sha), 256, library.thumbnail_dir)
            library.store.upsert(IMAGES, points)
        if library.store.index_due():
            library.store.build_index()
        library.update_manifest(store={"kind": library.store.kind, "location": library.store.location})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "PIXCEPT_DATA_DIR": str(data_dir), "PIXCEPT_DEVICE": "cpu"}
    env.pop("PIXCEPT_MODEL", None)
    process = subprocess.Popen([sys.executable, "-m", "indexer.cli", "serve", "--port", str(port), "--quiet",
                                "--searches-per-minute", "0"], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            status, _ = request(port, "/api/ready")
            if status == 200:
                return process, port
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"the server did not start: {process.stderr.read()}")


def request(port: int, path: str, method: str = "GET", body: dict | None = None, token: str | None = None,
            connection: http.client.HTTPConnection | None = None) -> tuple[int, dict]:
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if connection is None:
        conn.close()
    return response.status, json.loads(data or b"{}")


def worker_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the serving worker process (its threads included, its children not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, kind: str, clients: int, seconds: float, words: list[str], ids: list[str]) -> dict:
    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while time.monotonic() < stop:
            if kind == "text":
                path = f"/api/search?q={rng.choice(words).replace(' ', '+')}&limit=20"
            else:
                path = f"/api/search?like={rng.choice(ids)}&limit=20"
            started = time.perf_counter()
            status, _ = request(port, path, connection=conn)
            mine.append(time.perf_counter() - started)
            if status != 200:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"queries": len(latencies), "qps": len(latencies) / elapsed, "errors": errors[0],
            "p50": statistics.median(latencies), "p99": latencies[int(0.99 * (len(latencies) - 1))]}


def phase(port: int, pid: int, kind: str, label: str, args, words, ids) -> dict:
    cpu_before = worker_cpu_seconds(pid)
    result = load(port, kind, args.clients, args.seconds, words, ids)
    cpu_per_query = (worker_cpu_seconds(pid) - cpu_before) / max(1, result["queries"])
    return {"phase": label, "query": kind, "QPS": f"{result['qps']:.1f}", "p50 ms": f"{result['p50'] * 1e3:.0f}",
            "p99 ms": f"{result['p99'] * 1e3:.0f}", "errors": result["errors"],
            "CPU ms/query": f"{cpu_per_query * 1e3:.1f}",
            "efficiency": f"{result['qps'] * cpu_per_query / CORES:.2f}", "_p99": result["p99"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--index-photos", type=int, default=400, help="Photos the indexing job embeds meanwhile.")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "pixcept-bench")
    args = parser.parse_args()

    from indexer.words import default_vocabulary

    spec = write_random_checkpoint(args.work_dir / "vit-b-32")
    data_dir = args.work_dir / f"serve-{args.images}"
    shutil.rmtree(data_dir, ignore_errors=True)  # fresh, so each indexing phase has all its photos to do
    print(f"building a library of {args.images} images...", file=sys.stderr)
    build_library(data_dir, spec, args.images)
    folders = {kind: write_photos(args.work_dir / f"serve-photos-{kind}", args.index_photos, (1024, 768), seed=seed)[0]
               .parent for seed, kind in enumerate(("text", "similar"))}
    words = default_vocabulary()[1]
    process, port = start_server(data_dir)
    try:
        pid = json.loads((data_dir / "pixcept.lock").read_text())["pid"]
        ids = [r["id"] for r in request(port, "/api/search?q=photo&cutoff=0&limit=200")[1]["results"]]
        load(port, "text", args.clients, 3, words, ids)  # warm-up: threads, caches, allocator
        rows = [phase(port, pid, kind, "idle", args, words, ids) for kind in ("text", "similar")]

        token = (data_dir / "server-admin-token").read_text().strip()
        for kind in ("text", "similar"):
            _, job = request(port, "/api/jobs", "POST", {"kind": "index", "params": {"folders": [str(folders[kind])]}},
                             token)
            time.sleep(2)  # the worker process starts and loads the model
            row = phase(port, pid, kind, "indexing", args, words, ids)
            _, job = request(port, f"/api/jobs/{job['id']}", token=token)
            row["job"] = f"{job['state']}, {job['done']}/{job['total']}"
            request(port, f"/api/jobs/{job['id']}/cancel", "POST", token=token)
            rows.append(row)
    finally:
        process.terminate()
        process.wait(60)

    idle_p99 = {r["query"]: r["_p99"] for r in rows if r["phase"] == "idle"}
    for row in rows:
        row["p99 / idle p99"] = f"{row['_p99'] / idle_p99[row['query']]:.2f}"
    print(f"\n{args.images} images, ViT-B-32 (random weights), {args.clients} clients, {args.seconds:.0f} s a phase, "
          f"{CORES} cores\n")
    print(table(rows, ["phase", "query", "QPS", "p50 ms", "p99 ms", "p99 / idle p99", "CPU ms/query", "efficiency",
                       "errors", "job"]))
    print("\nCPU ms/query while indexing includes the job's own work in the serving process (file reading,\n"
          "decoding and preprocessing at nice 10), so efficiency is only meaningful for the idle rows.")


if __name__ == "__main__":
    main()
