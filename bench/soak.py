"""Benchmark: a soak of `pixcept serve` under mixed load, with an index and a cluster job during it (issue 22's goals:
0 errors, RSS growth of the serving process < 5 %, p99 latency during jobs <= 3x idle).

    .venv/bin/python bench/soak.py [--clients 16] [--idle 120] [--jobs 360] [--after 120] [--same-size]
                                   [--work-dir DIR]

Library: the demo world (10 pictures per colour x shape: 480), indexed with the demo model and clustered, served
with 16 threads. Clients (threads here, each a loop of requests) mix searches by word, "more like this", thumbnails,
the concept grid, one concept, the map's points and the images at map positions. Phases: idle (load only), jobs
(an index of 480 more pictures, then a recluster, queued at the start; the phase lasts until both are done or
`--jobs` seconds pass), after (load only again). RSS: the gunicorn worker that serves (the job worker child, which
holds its own model and exits when idle, is reported apart), sampled each second; growth compares the mean of the
after phase's last half with the idle phase's last half. With --same-size the index job is a reindex of the
library's own 480 pictures (a new generation of the same size) instead of adding 480: RSS growth is then what serving
kept, not a larger library.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from idle_server import call, start_serve, tree_rss_mb

from common import table


def build(work: Path) -> dict:
    from indexer.concepts.job import run_cluster
    from indexer.config import Settings
    from indexer.demo import demo_model_spec, demo_vocabulary
    from indexer.demo.world import write_library
    from indexer.index import index_folders
    from indexer.library import Library
    from indexer.vocab import add_entries

    if not (work / "data" / "manifest.json").exists():
        write_library(work / "photos", per_pair=10)
        write_library(work / "more", per_pair=10, seed=1)
        with Library.open(Settings(data_dir=work / "data", model=demo_model_spec(), device="cpu")) as library:
            index_folders(library, [work / "photos"])
            add_entries(library, demo_vocabulary(), "demo", "demo-1")
            run_cluster(library, {"seed": 3})
    return {**os.environ, "PIXCEPT_DATA_DIR": str(work / "data"), "PIXCEPT_MODEL": demo_model_spec(),
            "PIXCEPT_DEVICE": "cpu", "PIXCEPT_CLUSTER_EVERY": "off", "PIXCEPT_SEARCHES_PER_MINUTE": "0",
            "PIXCEPT_THREADS": "16", "PIXCEPT_WORKER_IDLE_SECONDS": "30"}


class Load:
    """Client threads making mixed requests, recording (phase, seconds, ok) per request."""

    WORDS = ["red", "blue circle", "green", "a star", "yellow square", "purple", "orange triangle", "cross"]

    def __init__(self, url: str, clients: int):
        self.url, self.clients = url, clients
        self.phase = "warm-up"
        self.records: list[tuple[str, float, bool]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        summary = call(url + "/api/map")
        self.map_count = summary["count"]
        self.concepts = [c["id"] for c in call(url + "/api/concepts?limit=100")["concepts"]]
        self.images = [r["id"] for r in call(url + "/api/search?q=a&cutoff=0&limit=200")["results"]]

    def request(self, rng: random.Random) -> str:
        kind = rng.randrange(7)
        if kind == 0:
            return f"/api/search?q={urllib.request.quote(rng.choice(self.WORDS))}"
        if kind == 1:
            return f"/api/search?like={rng.choice(self.images)}"
        if kind == 2:
            return f"/api/images/{rng.choice(self.images)}/thumbnail"
        if kind == 3:
            return "/api/concepts?limit=60"
        if kind == 4:
            return f"/api/concepts/{rng.choice(self.concepts)}?limit=24"
        if kind == 5:
            return "/api/map/points"
        return "/api/map/images?" + "&".join(f"index={rng.randrange(self.map_count)}" for _ in range(20))

    def client(self, number: int) -> None:
        rng = random.Random(number)
        while not self.stop.is_set():
            path, phase, started = self.request(rng), self.phase, time.perf_counter()
            try:
                with urllib.request.urlopen(self.url + path, timeout=60) as answer:
                    answer.read()
                    ok = answer.status == 200
            except (urllib.error.URLError, OSError) as exc:
                ok = False
                self.errors.append(f"{path}: {exc}")
            self.records.append((phase, time.perf_counter() - started, ok))

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.client, args=(n,), daemon=True) for n in range(self.clients)]
        for thread in threads:
            thread.start()
        return threads


def serving_worker(pid: int) -> int:
    """The gunicorn worker's pid: the master's child that is not the job worker (the child's child)."""
    children = [int(p.parent.name) for p in Path("/proc").glob("[0-9]*/status")
                if f"PPid:\t{pid}\n" in p.read_text()]
    return min(children)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--idle", type=float, default=120)
    parser.add_argument("--jobs", type=float, default=360)
    parser.add_argument("--after", type=float, default=120)
    parser.add_argument("--same-size", action="store_true", help="the index job reindexes, adding nothing")
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-soak-"))
    env = build(work)
    server, url = start_serve(env)
    admin = (work / "data" / "server-admin-token").read_text().strip()
    rss: list[tuple[str, float, float]] = []  # (phase, serving MB, job worker MB)
    try:
        worker = serving_worker(server.pid)
        load = Load(url, args.clients)
        threads = load.start()

        def sample() -> None:
            while not load.stop.is_set():
                sizes = tree_rss_mb(worker)
                own = next(v for k, v in sizes.items() if k.startswith("master"))
                rss.append((load.phase, own, sum(v for k, v in sizes.items() if not k.startswith("master"))))
                time.sleep(1)

        threading.Thread(target=sample, daemon=True).start()
        time.sleep(10)
        load.phase = "idle"
        time.sleep(args.idle)
        load.phase = "jobs"
        index = {"folders": [str(work / "photos")], "reindex": True} if args.same_size else \
            {"folders": [str(work / "more")]}
        jobs = [call(url + "/api/jobs", "POST", {"kind": "index", "params": index}, admin),
                call(url + "/api/jobs", "POST", {"kind": "cluster", "params": {"seed": 3}}, admin)]
        ends = time.monotonic() + args.jobs
        while time.monotonic() < ends and any(
                call(f"{url}/api/jobs/{job['id']}", token=admin)["state"] in ("queued", "running") for job in jobs):
            time.sleep(2)
        states = [call(f"{url}/api/jobs/{job['id']}", token=admin)["state"] for job in jobs]
        load.phase = "after"
        time.sleep(args.after)
        load.stop.set()
        for thread in threads:
            thread.join(60)
    finally:
        server.terminate()
        server.wait(60)
    report(load, rss, states)


def report(load: Load, rss: list[tuple[str, float, float]], job_states: list[str]) -> None:
    rows, p99 = [], {}
    for phase in ("idle", "jobs", "after"):
        seconds = np.array([s for p, s, _ in load.records if p == phase])
        failed = sum(1 for p, _, ok in load.records if p == phase and not ok)
        own = [mb for p, mb, _ in rss if p == phase]
        child = [mb for p, _, mb in rss if p == phase]
        p99[phase] = float(np.percentile(seconds, 99)) if len(seconds) else float("nan")
        rows.append({"phase": phase, "requests": len(seconds), "errors": failed,
                     "p50 ms": round(float(np.percentile(seconds, 50)) * 1000, 1) if len(seconds) else "-",
                     "p99 ms": round(p99[phase] * 1000, 1), "p99 x idle": f"{p99[phase] / p99['idle']:.2f}",
                     "serving RSS MB": round(float(np.mean(own[len(own) // 2:])), 1) if own else "-",
                     "job worker RSS MB": round(float(max(child)), 1) if child else "-"})
    print(table(rows, list(rows[0])))
    idle_rss = float(np.mean([mb for p, mb, _ in rss if p == "idle"][-30:]))
    after_rss = float(np.mean([mb for p, mb, _ in rss if p == "after"][-30:]))
    growth = (after_rss - idle_rss) / idle_rss
    errors = sum(1 for _, _, ok in load.records if not ok)
    print(f"\njobs: {', '.join(job_states)}; errors: {errors}; serving RSS growth {growth:+.1%}; "
          f"p99 during jobs {p99['jobs'] / p99['idle']:.2f}x idle")
    for line in load.errors[:5]:
        print("  " + line)
    met = errors == 0 and growth < 0.05 and p99["jobs"] <= 3 * p99["idle"] and job_states == ["done", "done"]
    print("goals met (0 errors, RSS growth < 5 %, p99 during jobs <= 3x idle)" if met else "goals missed")


if __name__ == "__main__":
    main()
