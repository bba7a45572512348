"""Benchmark: the concept map (/map) in Debian's Chromium: first draw after navigation, and frames per second while
panning and zooming, at 100k and 1M points, against the demo library's own 240-point map in the same run.

    .venv/bin/python bench/map.py [--sizes 100000,1000000] [--seconds 3] [--work-dir /tmp/pixcept-bench-map]

Setup: the demo world (240 pictures), indexed with the demo model and clustered by the real job, served by the real
`pixcept serve`. For each size the current run's `layout.npz` is replaced by one of that many points (clustered
around the run's concepts, in the job's file format); the map's transfer, parsing and drawing depend only on the point
count, not on where the layout came from. Hovering such a synthetic point finds no image (its ID is not indexed).

Printed per size: bytes of /api/map/points, first draw (navigation start -> points drawn, cold server cache), the
ratio to the 240-point baseline, and frames per second while the view moves every animation frame (regl-scatterplot's
`draw` events per second) with the mean frame time. Headless Chromium here renders WebGL in software (SwiftShader) on
2 cores: a GPU does far better (PIXCEPT_BENCH_GL_ARGS: Chromium flags; default --disable-gpu, the fastest software
path measured here). While the view moves, maps above 20,000 points draw an even 10,000-point sample (map.js).
Goals: 100k drawn <= 2 s, >= 20 frames/s; 1M loads and draws.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from common import table

CHROMIUM = os.environ.get("PIXCEPT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 *os.environ.get("PIXCEPT_BENCH_GL_ARGS", "--disable-gpu").split()]

MOVE_VIEW = """async seconds => {
  const plot = window.pixceptMap.scatterplot;
  let draws = 0;
  plot.subscribe("draw", () => { draws += 1; });
  const started = performance.now();
  let frame = 0;
  while (performance.now() - started < seconds * 1000) {
    frame += 1;
    const zoom = 1.5 + Math.sin(frame / 20);   // zoom in and out while panning in a circle
    const view = new Float32Array([zoom, 0, 0, 0, 0, zoom, 0, 0, 0, 0, 1, 0,
                                   0.3 * Math.cos(frame / 15), 0.3 * Math.sin(frame / 15), 0, 1]);
    (plot.lookAt ?? plot.view)(view);
    await new Promise(resolve => requestAnimationFrame(resolve));
  }
  const elapsed = (performance.now() - started) / 1000;
  return {fps: draws / elapsed, frameMs: 1000 * elapsed / Math.max(1, draws)};
}"""


def build_demo(root: Path) -> Path:
    from indexer.concepts.job import run_cluster
    from indexer.config import Settings
    from indexer.demo import demo_model_spec, demo_vocabulary
    from indexer.demo.world import write_library
    from indexer.index import index_folders
    from indexer.library import Library
    from indexer.vocab import add_entries

    write_library(root / "photos", per_pair=5)
    with Library.open(Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu")) as library:
        index_folders(library, [root / "photos"])
        add_entries(library, demo_vocabulary(), "demo", "demo-1")
        run_cluster(library, {"seed": 3})
    return root / "data"


def layout_file(data_dir: Path) -> Path:
    from indexer.concepts.publish import require_published
    from indexer.config import Settings
    from indexer.library import Library

    with Library.open(Settings(data_dir=data_dir)) as library:
        return require_published(library).folder / "layout.npz"


def write_synthetic_layout(path: Path, original: Path, count: int) -> None:
    """`count` points in clusters around the run's concept centres, in the job's layout format."""
    rng = np.random.default_rng(0)
    with np.load(original) as saved:
        positions, concepts = saved["positions"], saved["concepts"]
    ids = np.unique(concepts[concepts >= 0])
    centres = np.array([np.median(positions[concepts == c], axis=0) for c in ids])
    spread = float(np.std(positions)) / 6
    pick = rng.integers(0, len(ids), count)
    points = centres[pick] + rng.normal(0, spread, (count, 2))
    labels = ids[pick].astype(np.int32)
    labels[rng.random(count) < 0.05] = -1  # some images in no concept, as in a real library
    fake_ids = np.array([f"{i:08x}-0000-0000-0000-000000000000" for i in range(count)], dtype="S36")
    np.savez(path, ids=fake_ids, positions=points.astype(np.float32), concepts=labels)


def measure(browser, url: str, seconds: float) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/map")
    page.wait_for_function("() => window.pixceptMap && window.pixceptMap.drawnMs", timeout=600_000)
    drawn_s = page.evaluate("window.pixceptMap.drawnMs") / 1000
    count = page.evaluate("window.pixceptMap.count")
    moving = page.evaluate(MOVE_VIEW, seconds)
    page.close()
    if errors:
        raise SystemExit(f"JavaScript errors on /map: {errors}")
    return {"count": count, "drawn_s": drawn_s, **moving}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    from serve import start_server  # bench/serve.py: the real `pixcept serve` in its own process

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-map-"))
    data_dir = work / "data" if (work / "data").exists() else build_demo(work)
    layout = layout_file(data_dir)
    original = layout.with_name("layout.original.npz")
    if not original.exists():
        shutil.copy(layout, original)
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for count in [0] + [int(s) for s in args.sizes.split(",") if s]:
                if count:
                    write_synthetic_layout(layout, original, count)
                else:
                    shutil.copy(original, layout)
                process, port = start_server(data_dir)  # a fresh server: a cold layout cache
                try:
                    url = f"http://127.0.0.1:{port}"
                    size = len(urllib.request.urlopen(url + "/api/map/points").read())
                    result = measure(browser, url, args.seconds)
                finally:
                    process.terminate()
                    process.wait(timeout=60)
                rows.append({"points": f"{result['count']:,}", "transfer_MB": f"{size / 1e6:.1f}",
                             "first_draw_s": f"{result['drawn_s']:.2f}", "fps": f"{result['fps']:.1f}",
                             "frame_ms": f"{result['frameMs']:.1f}", "_drawn": result["drawn_s"],
                             "_count": result["count"], "_fps": result["fps"]})
                print(f"{result['count']:,} points: first draw {result['drawn_s']:.2f} s, {result['fps']:.1f} "
                      f"frames/s", flush=True)
            browser.close()
    finally:
        shutil.copy(original, layout)
    baseline = rows[0]["_drawn"]
    for row in rows:
        row["vs_240"] = f"{row['_drawn'] / baseline:.2f}x"
        if row["_count"] == 100_000:
            row["goal"] = "<= 2 s, >= 20 fps"
            row["met"] = "yes" if row["_drawn"] <= 2 and row["_fps"] >= 20 else "NO"
        elif row["_count"] >= 1_000_000:
            row["goal"] = "loads and draws"
            row["met"] = "yes"
    print()
    print(table(rows, ["points", "transfer_MB", "first_draw_s", "vs_240", "fps", "frame_ms", "goal", "met"]))
    print("\nSoftware WebGL (SwiftShader) in headless Chromium on", os.cpu_count(), "cores.")


if __name__ == "__main__":
    main()
