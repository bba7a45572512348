"""Benchmark: a ZIP export of a large selection from a running `pixcept serve`, against `zip -0 -r` of the same
files (issue 21's goals: within +100 MB of the server's RSS, at >= 0.8x the speed of zip -0).

    .venv/bin/python bench/export.py [--images 10000] [--work-dir DIR]

Library: N generated 1024x768 JPEGs (quality 90, ~100-200 KB each) in two folders with the same file names (so every
name clashes once), indexed with the tiny demo model (the export does not depend on the model). The selection holds
every image. Both runs write to the same disk; the page cache is warm for both (each reads the files once before).
The download is made by curl where it is installed (a native client, as a browser is), else by httpx.
RSS: the sum over the server's processes, sampled every 20 ms during the download, against the moment before (after a
JSON export of the same selection has warmed the server: imports, store segments).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from idle_server import call, start_serve, tree_rss_mb

from common import table, write_photos


def build(work: Path, count: int) -> dict:
    from indexer import selections
    from indexer.config import Settings
    from indexer.demo import demo_model_spec
    from indexer.index import index_folders
    from indexer.library import Library
    from indexer.store import IMAGES

    for half in ("a", "b"):
        write_photos(work / "photos" / half, count // 2, (1024, 768), seed=0 if half == "a" else 1)
    env = {**os.environ, "PIXCEPT_DATA_DIR": str(work / "data"), "PIXCEPT_MODEL": demo_model_spec(),
           "PIXCEPT_DEVICE": "cpu", "PIXCEPT_CLUSTER_EVERY": "off"}
    if not (work / "data" / "manifest.json").exists():
        with Library.open(Settings(data_dir=work / "data", model=demo_model_spec(), device="cpu")) as library:
            index_folders(library, [work / "photos"])
            ids = [p.id for p in library.store.scroll(IMAGES, fields=False)]
            selections.create(library, "all", by="bench")
            for start in range(0, len(ids), selections.MAX_CHANGE):
                selections.mark(library, "all", ids[start:start + selections.MAX_CHANGE], "accepted", by="bench")
    return env


def timed_zip(work: Path) -> tuple[float, int]:
    out = work / "baseline.zip"
    out.unlink(missing_ok=True)
    started = time.monotonic()
    subprocess.run(["zip", "-0", "-r", "-q", str(out), "photos"], cwd=work, check=True)
    return time.monotonic() - started, out.stat().st_size


def timed_export(url: str, pid: int, out: Path) -> tuple[float, int, float, float]:
    """(seconds, bytes, RSS before MB, peak RSS during MB) of downloading the selection's ZIP."""
    import httpx

    before = sum(tree_rss_mb(pid).values())
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(tree_rss_mb(pid).values()))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    address = url + "/api/selections/all/export?format=zip"
    if shutil.which("curl"):  # a native client, as a browser is: Python's would be the slower end on two cores
        subprocess.run(["curl", "-sSf", "-o", str(out), address], check=True)
    else:
        with httpx.stream("GET", address, timeout=None) as answer:
            answer.raise_for_status()
            with open(out, "wb") as sink:
                for chunk in answer.iter_raw(1 << 20):  # as sent: a ZIP is sent without content encoding
                    sink.write(chunk)
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    return seconds, out.stat().st_size, before, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-export-"))
    env = build(work, args.images)
    timed_zip(work)  # warm the page cache, as the export's own first read would not be
    server, url = start_serve(env)
    try:
        call(url + "/api/selections/all/export?format=json")  # first use: imports, store segments, caches
        zip_seconds, zip_bytes = timed_zip(work)
        seconds, size, before, peak = timed_export(url, server.pid, work / "export.zip")
    finally:
        server.terminate()
        server.wait(60)
    with zipfile.ZipFile(work / "export.zip") as archive:
        held = len([n for n in archive.namelist() if n.startswith("images/")])
    rows = [{"run": "zip -0 -r (baseline)", "files": args.images, "MB": round(zip_bytes / 2**20), "seconds":
             round(zip_seconds, 2), "MB/s": round(zip_bytes / 2**20 / zip_seconds), "speed x": "1.00", "RSS +MB": "-"},
            {"run": "pixcept ZIP export", "files": held, "MB": round(size / 2**20), "seconds": round(seconds, 2),
             "MB/s": round(size / 2**20 / seconds), "speed x": f"{zip_seconds / seconds:.2f}",
             "RSS +MB": round(peak - before)}]
    print(table(rows, ["run", "files", "MB", "seconds", "MB/s", "speed x", "RSS +MB"]))
    goals = zip_seconds / seconds >= 0.8 and peak - before <= 100 and held == args.images
    print("\ngoals met (>= 0.8x zip -0, <= +100 MB, every file)" if goals else "\ngoals missed")


if __name__ == "__main__":
    main()
