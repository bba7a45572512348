"""Benchmark: how well the relevance cutoff answers, on the demo world (`pixcept demo`: 192 pictures, the demo model).

    .venv/bin/python bench/cutoff.py [--work-dir DIR]

Queries: the 48 colour + shape pairs ("red circle": relevant are the red circles), the 14 single words (8 colours,
6 shapes: "red" -> every red picture), and words the demo model never learnt ("giraffe": nothing is relevant; the
right answer is "no good match"). Per group: mean precision and recall of what the cutoff shows (an unknown word
counts as answered when search says "no good match"), and how many queries were answered exactly. The baseline in
the same run is no cutoff at the same number of results as the relevant set (precision at R).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from common import table

UNKNOWN = ["giraffe", "banana", "piano", "volcano", "bicycle", "violin", "castle", "penguin", "umbrella", "dragon"]


def build(root: Path, per_pair: int = 4) -> tuple[Path, dict[str, tuple[str, str]]]:
    from indexer.config import Settings
    from indexer.demo import demo_model_spec, demo_vocabulary
    from indexer.demo.world import write_library
    from indexer.index import index_folders
    from indexer.library import Library
    from indexer.vocab import add_entries

    scenes = write_library(root / "photos", per_pair=per_pair)
    with Library.open(Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu")) as library:
        index_folders(library, [root / "photos"])
        add_entries(library, demo_vocabulary(), "demo", "demo-1")
    return root / "data", {path.name: (scene.main.colour, scene.main.shape) for path, scene in scenes.items()}


def queries() -> list[tuple[str, str, callable]]:
    from indexer.demo.world import COLOURS, SHAPES

    pairs = [("pair", f"{c} {s}", lambda t, c=c, s=s: t == (c, s)) for c in COLOURS for s in SHAPES]
    words = [("word", c, lambda t, c=c: t[0] == c) for c in COLOURS] + \
            [("word", s, lambda t, s=s: t[1] == s) for s in SHAPES]
    unknown = [("unknown", w, lambda t: False) for w in UNKNOWN]
    return pairs + words + unknown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path)
    parser.add_argument("--per-pair", type=int, default=4, help="pictures per colour x shape (4: `pixcept demo`)")
    args = parser.parse_args()
    from indexer.config import Settings
    from indexer.library import Library
    from indexer.search import search_page

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-cutoff-"))
    data_dir, truth = build(work, args.per_pair) if not (work / "data").exists() else (work / "data", _truth(work))
    rows: dict[str, dict] = {}
    with Library.open(Settings(data_dir=data_dir)) as library:
        for group, text, relevant in queries():
            wanted = {name for name, t in truth.items() if relevant(t)}
            page = search_page(library, text, limit=1000)
            shown = {Path(r.path).name for r in page.results}
            weak = getattr(page, "no_good_match", False)
            if group == "unknown":
                precision = recall = 1.0 if weak or not shown else 0.0
            else:
                hits = len(shown & wanted)
                precision = hits / len(shown) if shown and not weak else 0.0
                recall = hits / len(wanted) if not weak else 0.0
            baseline = search_page(library, text, limit=max(1, len(wanted) or 10), relative=None)
            at_r = ({Path(r.path).name for r in baseline.results} & wanted)
            row = rows.setdefault(group, {"group": group, "queries": 0, "p": [], "r": [], "exact": 0, "p_at_r": []})
            row["queries"] += 1
            row["p"].append(precision)
            row["r"].append(recall)
            row["exact"] += int(precision == recall == 1.0)
            row["p_at_r"].append(len(at_r) / len(wanted) if wanted else float("nan"))
    out = []
    for row in rows.values():
        p_at_r = np.nanmean(row["p_at_r"]) if not all(np.isnan(row["p_at_r"])) else None
        out.append({"group": row["group"], "queries": row["queries"], "precision": f"{np.mean(row['p']):.3f}",
                    "recall": f"{np.mean(row['r']):.3f}", "answered exactly": f"{row['exact']}/{row['queries']}",
                    "baseline P@R": f"{p_at_r:.3f}" if p_at_r is not None else "-"})
    print(table(out, ["group", "queries", "precision", "recall", "answered exactly", "baseline P@R"]))


def _truth(work: Path) -> dict[str, tuple[str, str]]:
    lines = (work / "photos" / "labels.csv").read_text().splitlines()[1:]
    return {f: (c, s) for f, c, s, *_ in (line.split(",") for line in lines)}


if __name__ == "__main__":
    main()
