"""Benchmark: kill -9 of the whole server (gunicorn's master, its worker, the job worker) during index, cluster and
backup jobs, ten rounds at random points (issue 22: nothing lost, no duplicate points, no mixed concept runs).

    .venv/bin/python bench/kill.py [--rounds 10] [--seed 0] [--work-dir DIR]

Library: the demo world (2 pictures per colour x shape: 96), indexed with the demo model and clustered. Each round
starts `pixcept serve` in a session of its own, queues a job (index: 144 new pictures in a folder of their own;
cluster; backup into a new folder), kills the session with SIGKILL after a random delay within the job's measured
length, runs `pixcept check`, then restarts the server, runs the same job to the end and checks again. The baseline,
measured first in the same run: each kind's time uninterrupted; "finish x" is the restarted job's time over it (what
resuming after a kill costs).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from idle_server import call, start_serve

from common import ROOT, table

KINDS = ("index", "cluster", "backup")


def build(work: Path) -> dict:
    from indexer.concepts.job import run_cluster
    from indexer.config import Settings
    from indexer.demo import demo_model_spec
    from indexer.demo.world import write_library
    from indexer.index import index_folders
    from indexer.library import Library

    write_library(work / "photos", per_pair=2)
    with Library.open(Settings(data_dir=work / "data", model=demo_model_spec(), device="cpu")) as library:
        index_folders(library, [work / "photos"])
        run_cluster(library, {"seed": 3, "min_concept_size": 3})
    return {**os.environ, "PIXCEPT_DATA_DIR": str(work / "data"), "PIXCEPT_MODEL": demo_model_spec(),
            "PIXCEPT_DEVICE": "cpu", "PIXCEPT_CLUSTER_EVERY": "off"}


def job_params(kind: str, work: Path, round_: int) -> dict:
    """A job with work to do in this round: index a new folder, recluster, back up into a new folder."""
    from indexer.demo.world import write_library

    if kind == "index":
        folder = work / f"more-{round_}"
        if not folder.exists():
            write_library(folder, per_pair=3, seed=100 + round_)
        return {"folders": [str(folder)], "batch_size": 4}
    if kind == "backup":
        return {"destination": str(work / "backups" / f"round-{round_}")}
    return {"seed": 3, "min_concept_size": 3}


def run_job(url: str, token: str, kind: str, params: dict) -> tuple[dict, float]:
    started = time.monotonic()
    job = call(url + "/api/jobs", "POST", {"kind": kind, "params": params}, token)
    while job["state"] in ("queued", "running"):
        job = call(f"{url}/api/jobs/{job['id']}?after={job['version']}&wait=30", token=token)
    return job, time.monotonic() - started


def check(env: dict) -> str:
    """`pixcept check`'s verdict: "ok", or its first problem."""
    done = subprocess.run([sys.executable, "-m", "indexer.cli", "check"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    return "ok" if done.returncode == 0 else (done.stdout + done.stderr).strip().splitlines()[-1][:60]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-kill-"))
    env = build(work)
    token = lambda: (work / "data" / "server-admin-token").read_text().strip()  # noqa: E731 - made at first start
    server, url = start_serve(env, start_new_session=True)
    try:
        baseline = {kind: run_job(url, token(), kind, job_params(kind, work, -1))[1] for kind in KINDS}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(120)
    rows = []
    for round_ in range(args.rounds):
        kind = KINDS[round_ % len(KINDS)]
        params = job_params(kind, work, round_)
        server, url = start_serve(env, start_new_session=True)
        call(url + "/api/jobs", "POST", {"kind": kind, "params": params}, token())
        delay = rng.uniform(0.2, max(0.5, baseline[kind]))
        time.sleep(delay)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(30)
        after_kill = check(env)
        server, url = start_serve(env, start_new_session=True)
        try:
            job, seconds = run_job(url, token(), kind, params)
            images = call(url + "/api/status", token=token())["images"]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(120)
        rows.append({"round": round_ + 1, "kind": kind, "killed after s": f"{delay:.1f}",
                     "check after kill": after_kill, "restarted job": job["state"],
                     "finish s": f"{seconds:.1f}", "finish x": f"{seconds / baseline[kind]:.2f}",
                     "check after": check(env), "images": images})
        print(table(rows[-1:], list(rows[-1])), flush=True)
    print()
    print(table(rows, list(rows[0])))
    print("\nbaseline (uninterrupted, s): " + ", ".join(f"{k} {v:.1f}" for k, v in baseline.items()))
    clean = sum(r["check after kill"] == "ok" and r["check after"] == "ok" and r["restarted job"] == "done"
                for r in rows)
    print(f"{clean} of {len(rows)} rounds: consistent after the kill, the job finished after a restart")


if __name__ == "__main__":
    main()
