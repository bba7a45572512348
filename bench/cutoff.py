"""Benchmark: how well the relevance cutoff answers, on the demo worlds (as `pixcept demo` draws them).

    .venv/bin/python bench/cutoff.py [--worlds shapes emoji] [--per-pair 4] [--work-dir DIR]

Shapes world (192 pictures, the demo model): the 48 colour + shape pairs ("red circle": relevant are the red
circles), the 14 single words (8 colours, 6 shapes: "red" -> every red picture). Emoji world (one picture of each
emoji, the emoji model): every Unicode subgroup's name as a query ("animal mammal" -> the mammals; "food fruit" ->
the fruit) and the words "dog", "fruit" and "flag". In both, words the model never learnt ("giraffe" for shapes,
"mortgage" for emoji): nothing is relevant; the right answer is "no good match". Per group: mean precision and
recall of what the cutoff shows (an unknown word counts as answered when search says "no good match"), and how many
queries were answered exactly. The baseline in the same run is no cutoff at the same number of results as the
relevant set (precision at R).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from common import build_world, table

UNKNOWN = {"shapes": ["giraffe", "banana", "piano", "volcano", "bicycle", "violin", "castle", "penguin", "umbrella",
                      "dragon"],
           "emoji": ["mortgage", "algebra", "sonnet", "velocity", "grammar", "pension", "syntax", "bureaucracy",
                     "photosynthesis", "tuesday"]}


def truth_of(world: str):
    """A picture's truth from its file name: (colour, shape), or its Emoji."""
    from indexer.demo.emoji import emoji_of
    from indexer.demo.truth import kind_of

    return emoji_of if world == "emoji" else kind_of


def queries(world: str) -> list[tuple[str, str, callable]]:
    unknown = [("unknown", w, lambda t: False) for w in UNKNOWN[world]]
    if world == "emoji":
        from indexer.demo.emoji import DOGS, load_emoji

        subgroups = sorted({e.subgroup for e in load_emoji()})
        named = [("subgroup", s.replace("-", " "), lambda t, s=s: t.subgroup == s) for s in subgroups]
        words = [("word", "dog", lambda t: t.name in DOGS),
                 ("word", "fruit", lambda t: t.subgroup == "food-fruit"),
                 ("word", "flag", lambda t: t.group == "Flags")]
        return named + words + unknown
    from indexer.demo.world import COLOURS, SHAPES

    pairs = [("pair", f"{c} {s}", lambda t, c=c, s=s: t == (c, s)) for c in COLOURS for s in SHAPES]
    words = [("word", c, lambda t, c=c: t[0] == c) for c in COLOURS] + \
            [("word", s, lambda t, s=s: t[1] == s) for s in SHAPES]
    return pairs + words + unknown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", nargs="+", choices=list(UNKNOWN), default=list(UNKNOWN))
    parser.add_argument("--work-dir", type=Path)
    parser.add_argument("--per-pair", type=int, default=4, help="shapes: pictures per colour x shape")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-cutoff-"))
    for world in args.worlds:
        print(f"\n{world} world\n" + judge(work / world, world, args.per_pair))


def judge(folder: Path, world: str, per_pair: int) -> str:
    from indexer.config import Settings
    from indexer.library import Library
    from indexer.search import search_page

    size = 1 if world == "emoji" else per_pair  # emoji: one picture of each
    data_dir = folder / "data" if (folder / "data").exists() else build_world(folder, world, size)
    truth = {path.name: truth_of(world)(path.name) for path in (folder / "photos").glob("*.jpg")}
    rows: dict[str, dict] = {}
    with Library.open(Settings(data_dir=data_dir)) as library:
        for group, text, relevant in queries(world):
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
    return table(out, ["group", "queries", "precision", "recall", "answered exactly", "baseline P@R"])


if __name__ == "__main__":
    main()
