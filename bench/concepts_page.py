"""Benchmark: the concepts page (/concepts) with hundreds of concepts, first paint in Debian's Chromium, against the
search page of the same server in the same run.

    .venv/bin/python bench/concepts_page.py [--images 60000] [--concepts 500] [--work-dir DIR]

Setup: a Qdrant Edge library of synthetic 512-d image vectors drawn around `--concepts` centres (indexer.demo.synthetic,
10 % background) with real payloads, clustered by the real `pixcept cluster`, served by the real `pixcept serve`.
Measured per page, on a fresh browser page: the server's time for the HTML, first contentful paint, and the load
event (montages are lazy: only those near the screen load). Goal: /concepts painted within 1 s with 500 concepts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
from pathlib import Path

from cluster_job import clustered_library
from map import CHROMIUM, CHROMIUM_ARGS
from serve import start_server

from common import table

PAINT = """() => new Promise(resolve => {
  const done = () => {
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    const nav = performance.getEntriesByType("navigation")[0];
    resolve({fcp: paint ? paint.startTime : null, load: nav.loadEventEnd, cards: document.querySelectorAll(
      ".concept-card").length, montages: [...document.images].filter(i => i.complete && i.naturalWidth).length});
  };
  if (document.readyState === "complete") setTimeout(done, 50);
  else addEventListener("load", () => setTimeout(done, 50));
})"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--concepts", type=int, default=500)
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-concepts-"))
    data = clustered_library(work, args.images, args.concepts)
    process, port = start_server(data)
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for path in ["/", "/concepts"]:
                urllib.request.urlopen(url + path).read()  # warm: the first request of a process imports templates
                started = time.perf_counter()
                html = urllib.request.urlopen(url + path).read()
                server_ms = (time.perf_counter() - started) * 1000
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url + path)
                measured = page.evaluate(PAINT)
                page.close()
                rows.append({"page": path, "concepts": measured["cards"], "html_KB": f"{len(html) / 1e3:.0f}",
                             "server_ms": f"{server_ms:.0f}", "first_paint_s": f"{measured['fcp'] / 1000:.2f}",
                             "load_s": f"{measured['load'] / 1000:.2f}", "montages_loaded": measured["montages"],
                             "_fcp": measured["fcp"]})
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=60)
    for row in rows:
        row["vs_search"] = f"{row['_fcp'] / rows[0]['_fcp']:.2f}x"
    rows[-1]["goal"] = "<= 1 s"
    rows[-1]["met"] = "yes" if rows[-1]["_fcp"] <= 1000 else "NO"
    print(table(rows, ["page", "concepts", "html_KB", "server_ms", "first_paint_s", "vs_search", "load_s",
                       "montages_loaded", "goal", "met"]))


if __name__ == "__main__":
    main()
