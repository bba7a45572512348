"""Benchmark: an emoji model's search, over several drawings of the emoji world, against the shipped model.

    .venv/bin/python bench/emoji_model.py [CHECKPOINT ...] [--renders 6] [--work-dir DIR]

Each drawing is the world as `pixcept demo --world emoji` makes it (one picture of each of 1,870 emoji), with draw
seeds 0 (the demo's own) to RENDERS-1, indexed with each model. Per model: for "dog", how many of the first five are
the five dogs (dog face, dog, guide dog, service dog, poodle), how many of them search shows (its relevance cutoff
may end the results sooner) and where the poodle ranks (per drawing); the mean
precision of the first ten for "cat", "car", "fruit", "flag", "bird" and "heart", and its ratio to the shipped model's
(the baseline, first row); over all drawings, how many of "dog" and those words search answers, and how many of
the words the model never saw (`cutoff.UNKNOWN`) it says "no good match" to. One drawing decides little: the demo's
poodle is small and white on white, found 59th by "dog" with the fourth model stage where the three other drawings put
it 7th to 13th. Then the cutoff's margins in the demo drawing (seed 0): the best score of the weakest of those words
and of the strongest unknown word, the made-up words' line (`indexer.search.chance_level`), and how far the least
rising word and the most rising unknown word rise above the library's mean, in made-up words' median rises. Search
says "no good match" when a query rises less than PROBE_MARGIN (1.3) times that median and its best picture stays
under the line: a broad word ("fruit", "flag": their pictures lift the library's mean score for them) is answered by
its best picture, a narrow one by its rise; a model needs its words well clear of the words it never saw on one of
the two for search to judge both right.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from common import build_world, table
from cutoff import UNKNOWN

WORDS = {"cat": lambda e: "cat" in e.name_words, "car": lambda e: e.subgroup == "transport-ground",
         "fruit": lambda e: e.subgroup == "food-fruit", "flag": lambda e: e.group == "Flags",
         "bird": lambda e: e.subgroup == "animal-bird", "heart": lambda e: "heart" in e.name_words}


def main() -> None:
    from indexer.demo import EMOJI_MODEL_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="*", type=Path, help="open_clip local-dir folders to compare")
    parser.add_argument("--renders", type=int, default=6, help="drawings of the world (seeds 0..N-1)")
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-emoji-model-"))
    rows, margins = [], []
    for n, folder in enumerate([EMOJI_MODEL_DIR, *args.checkpoints]):
        name = "shipped" if n == 0 else folder.name
        model = f"local-dir:{folder.resolve()}"
        found = [judge(build_world(work / f"{n}-{seed}", "emoji", 1, model, seed, vocabulary=False), seed == 0)
                 for seed in range(args.renders)]
        precision = float(np.mean([f["precision"] for f in found]))
        baseline = rows[0]["mean P@10"] if rows else precision
        rows.append({"model": name, "dogs in first 5": " ".join(str(f["dogs"]) for f in found),
                     "dogs shown": " ".join(str(f["shown"]) for f in found),
                     "poodle rank": " ".join(str(f["poodle"]) for f in found), "mean P@10": round(precision, 3),
                     "vs shipped": f"{precision / baseline:.2f}x",
                     "words answered": f"{sum(f['answered'] for f in found)}/{len(found) * (1 + len(WORDS))}",
                     "unknown refused": f"{sum(f['refused'] for f in found)}/{len(found) * len(UNKNOWN['emoji'])}"})
        margins.append({"model": name, **found[0]["margins"]})
    print(table(rows, ["model", "dogs in first 5", "dogs shown", "poodle rank", "mean P@10", "vs shipped",
                       "words answered", "unknown refused"]))
    print("\nIn the demo drawing (seed 0): best scores, the made-up words' line, rises over the made-up words' median")
    print(table(margins, ["model", "weakest word", "strongest unknown", "made-up line", "least word rise",
                          "most unknown rise"]))


def judge(data_dir: Path, demo: bool) -> dict:
    from indexer.config import Settings
    from indexer.demo.emoji import DOGS, emoji_of
    from indexer.library import Library
    from indexer.search import chance_level, search_page
    from indexer.store import IMAGES

    with Library.open(Settings(data_dir=data_dir)) as library:
        words, unknown = ["dog", *WORDS], UNKNOWN["emoji"]
        vectors = dict(zip([*words, *unknown], library.embedder().embed_texts([*words, *unknown])))

        def ranked(text: str, limit: int) -> list:
            return library.store.search(IMAGES, vectors[text], limit=limit, with_payload=True)

        hits = {word: ranked(word, 2000 if word == "dog" else 10) for word in words}
        pages = {text: search_page(library, text, limit=5) for text in [*words, *unknown]}  # what search shows
        dogs = [emoji_of(hit.payload["path"]).name for hit in hits["dog"]]
        shown = [emoji_of(result.path).name for result in pages["dog"].results]
        found = {"dogs": len(DOGS & set(dogs[:5])), "shown": len(DOGS & set(shown)),
                 "poodle": dogs.index("poodle") + 1,
                 "precision": np.mean([sum(map(truth, (emoji_of(h.payload["path"]) for h in hits[word]))) / 10
                                       for word, truth in WORDS.items()]),
                 "answered": sum(not pages[word].no_good_match for word in words),
                 "refused": sum(pages[word].no_good_match for word in unknown)}
        if demo:
            chance, centroid = chance_level(library), library.image_centroid()
            best = {word: hits[word][0].score for word in words}
            best |= {word: ranked(word, 1)[0].score for word in unknown}

            def rise(text: str) -> float:  # above the library's mean, in made-up words' median rises
                return (best[text] - float(centroid @ vectors[text])) / chance.rise

            found["margins"] = {"weakest word": f"{min(best[w] for w in words):.3f}",
                                "strongest unknown": f"{max(best[w] for w in unknown):.3f}",
                                "made-up line": f"{chance.best_line:.3f}",
                                "least word rise": f"{min(map(rise, words)):.2f}x",
                                "most unknown rise": f"{max(map(rise, unknown)):.2f}x"}
    return found


if __name__ == "__main__":
    main()
