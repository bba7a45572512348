"""Benchmark: what hostile files cost `pixcept index`, against as many ordinary photos, in the same run.

    .venv/bin/python bench/hostile_files.py

The hostile corpus is the test suite's (tests/helpers.py: decompression bombs by header and by real data, a JPEG
claiming 65500x65500, a 100000x1 strip, a sparse 1 GB junk .jpg, empty, text, forged and non-UTF-8 names); the
baseline is the same number of 12 MP camera JPEGs. Each corpus is indexed by a fresh `pixcept index` process with
the demo model and with ViT-B-32 (random weights); reported: wall time and the process's own peak RSS (VmHWM),
then a second run of the hostile corpus, which must not read the failed files again. Goal: hostile peak RSS within
300 MB of the baseline.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from indexer.demo.hostile import write_hostile_corpus
from indexer.demo.measure import run_cli_measured
from indexer.demo.models import write_random_checkpoint

from common import ROOT, table, write_photos

GOAL_MB = 300


def index_measured(folder: Path, data_dir: Path, model: str) -> dict:
    env = {"PIXCEPT_DATA_DIR": str(data_dir), "PIXCEPT_MODEL": model, "PIXCEPT_DEVICE": "cpu"}
    started = time.perf_counter()
    result = run_cli_measured(["index", folder], env, ROOT)
    if result.code:
        raise SystemExit(f"pixcept index failed: {result.err}")
    summary = result.out.strip().splitlines()
    return {"seconds": round(time.perf_counter() - started, 1), "peak MB": round(result.peak_mb),
            "result": summary[0] if summary else ""}


def main() -> None:
    from indexer.demo import demo_model_spec

    cache = ROOT / "bench" / "results"
    # ViT-B-32's loading alone peaks at ~2 GB, which hides what indexing costs; the 9 MB demo model shows it
    models = {"demo (9 MB)": demo_model_spec(), "ViT-B-32": write_random_checkpoint(cache / "vit-b-32-random")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        count = len(write_hostile_corpus(work / "hostile"))
        write_photos(work / "ordinary", count, (4000, 3000))
        for name, model in models.items():
            data = work / name.split()[0]
            runs = [(f"{count} ordinary 12 MP photos", work / "ordinary", data / "ordinary"),
                    (f"{count} hostile files", work / "hostile", data / "hostile"),
                    ("hostile files, second run", work / "hostile", data / "hostile")]
            group = [{"model": name, "corpus": corpus, **index_measured(folder, data_dir, model)}
                     for corpus, folder, data_dir in runs]
            for row in group:
                row["vs ordinary MB"] = f"{row['peak MB'] - group[0]['peak MB']:+d}"
            rows += group
    print(table(rows, ["model", "corpus", "seconds", "peak MB", "vs ordinary MB", "result"]))
    worst = max(int(row["vs ordinary MB"]) for row in rows)
    print(f"goal: hostile peak within {GOAL_MB} MB of ordinary photos: {'met' if worst <= GOAL_MB else 'NOT met'} "
          f"(worst {worst:+d} MB)")


if __name__ == "__main__":
    main()
