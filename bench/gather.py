"""Benchmark: which ranking gathers a kind of picture fastest, page by page, from one example (issue 21).

    .venv/bin/python bench/gather.py [--per-pair 10] [--page 20] [--pages 12] [--work-dir DIR]

The demo world (8 colours x 6 shapes, `--per-pair` pictures of each, indexed with the demo model). Three groups of
cases: every colour x shape ("kind": one tight cluster), every colour (its six shapes: a target of several
clusters) and every shape (its eight colours). A person starts a selection from one picture of the target and
gathers the rest; each page
shows `--page` candidates, the person accepts those of the kind and rejects the others (as the gathering page's
`a` / `r` keys do), and the next page is ranked again from everything marked. A case ends when every picture of
the kind is in, when no candidate is left, or after `--pages` pages.

Per way: how many candidates a person judged until the selection was complete (cases never completed count
`--pages` pages), recall after pages 1, 2 and 3, cases completed, and the judging effort as a ratio of the
baseline (pixcept's ranking when this bench was written, the first row). The ways:
- mean + veto (baseline): ranked by the mean of the accepted images; a candidate more like a rejected image than
  like any accepted one is left out (`indexer.search.combine`: what search does with "not like this");
- average_vector: Qdrant's recommend, 2 x mean(accepted) - mean(rejected);
- best_score: Qdrant's recommend scoring (best accepted similarity if above the best rejected one, else minus the
  square of the best rejected one);
- classifier: a logistic regression on the vectors, accepted against rejected (and a sample of the library as
  weak negatives until enough are rejected), trained again after every page; its weight vector is the query, so a
  store ranks by it as by any query vector;
- classifier from 40: mean + veto until 40 images are accepted, then the classifier.
Scores are computed here over every picture's vector (exact, as the store's exact search would).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from common import table

BACKGROUND = 200  # library images the classifier takes as weak negatives
BACKGROUND_WEIGHT = 0.2


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def mean_veto(images, accepted, rejected, rng):
    from indexer.search import combine

    query = combine(list(images[accepted]), (), list(images[rejected]))
    return np.where(query.vetoed(images), -np.inf, images @ query.vector)  # left out: never offered


def average_vector(images, accepted, rejected, rng):
    negative = images[rejected].mean(axis=0) if rejected else 0
    return images @ (2 * images[accepted].mean(axis=0) - negative)


def best_score(images, accepted, rejected, rng):
    best_positive = (images @ images[accepted].T).max(axis=1)
    if not rejected:
        return best_positive
    best_negative = (images @ images[rejected].T).max(axis=1)
    return np.where(best_positive > best_negative, best_positive, -(best_negative ** 2))


def classifier(images, accepted, rejected, rng):
    from sklearn.linear_model import LogisticRegression

    marked = set(accepted) | set(rejected)
    background = [i for i in rng.choice(len(images), min(BACKGROUND, len(images)), replace=False) if i not in marked]
    rows = [*accepted, *rejected, *background]
    labels = [1] * len(accepted) + [0] * (len(rejected) + len(background))
    weights = [1.0] * (len(accepted) + len(rejected)) + [BACKGROUND_WEIGHT] * len(background)
    model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=1000)
    model.fit(images[rows], labels, sample_weight=weights)
    return images @ _unit(model.coef_[0])


def classifier_later(images, accepted, rejected, rng):
    """mean + veto while the selection is small, the classifier from CLASSIFIER_FROM accepted images on."""
    return (classifier if len(accepted) >= CLASSIFIER_FROM else mean_veto)(images, accepted, rejected, rng)


CLASSIFIER_FROM = 40
WAYS = {"mean + veto": mean_veto, "average_vector": average_vector, "best_score": best_score,
        "classifier": classifier, f"classifier from {CLASSIFIER_FROM}": classifier_later}


def gather(way, images: np.ndarray, relevant: np.ndarray, start: int, page: int, pages: int, seed: int) -> dict:
    """Simulate one person gathering the relevant pictures from `start`: candidates judged, recall per page."""
    rng = np.random.default_rng(seed)
    accepted, rejected = [start], []
    recall, judged = [], 0
    for _ in range(pages):
        scores = way(images, accepted, rejected, rng)
        scores[accepted + rejected] = -np.inf
        offered = [i for i in np.argsort(-scores, kind="stable")[:page] if np.isfinite(scores[i])]
        if not offered:
            break
        judged += len(offered)
        accepted += [i for i in offered if relevant[i]]
        rejected += [i for i in offered if not relevant[i]]
        recall.append(len(accepted) / relevant.sum())
        if recall[-1] == 1.0:
            break
    complete = bool(recall) and recall[-1] == 1.0
    return {"judged": judged if complete else pages * page, "complete": complete,
            "recall": [recall[min(n, len(recall) - 1)] if recall else 0 for n in range(3)]}


def build(root: Path, per_pair: int) -> Path:
    from indexer.config import Settings
    from indexer.demo import demo_model_spec
    from indexer.demo.world import write_library
    from indexer.index import index_folders
    from indexer.library import Library

    write_library(root / "photos", per_pair=per_pair)
    with Library.open(Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu")) as library:
        index_folders(library, [root / "photos"])
    return root / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-pair", type=int, default=10)
    parser.add_argument("--page", type=int, default=20)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args()
    from indexer.config import Settings
    from indexer.library import Library
    from indexer.store import IMAGES

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-gather-"))
    data_dir = build(work, args.per_pair) if not (work / "data").exists() else work / "data"
    with Library.open(Settings(data_dir=data_dir)) as library:
        points = sorted(library.store.scroll(IMAGES, with_vectors=True), key=lambda p: p.payload["path"])
    images = np.asarray([p.vector for p in points], np.float32)
    names = [Path(p.payload["path"]).name.split("_") for p in points]
    colour, shape = np.array([n[0] for n in names]), np.array([n[1] for n in names])
    groups = {"kind": [(colour == c) & (shape == s) for c in sorted(set(colour)) for s in sorted(set(shape))],
              "colour": [colour == c for c in sorted(set(colour))], "shape": [shape == s for s in sorted(set(shape))]}
    columns = ["target", "way", "cases", "judged until complete", "vs baseline", "recall p1", "recall p2",
               "recall p3", "complete"]
    rows = []
    for group, targets in groups.items():
        results: dict[str, list[dict]] = {name: [] for name in WAYS}
        for number, relevant in enumerate(targets):
            start = int(np.flatnonzero(relevant)[0])
            for name, way in WAYS.items():
                results[name].append(gather(way, images, relevant, start, args.page, args.pages, seed=number))
        baseline = np.mean([r["judged"] for r in results["mean + veto"]])
        for name, found in results.items():
            judged = np.mean([r["judged"] for r in found])
            recall = np.mean([r["recall"] for r in found], axis=0)
            rows.append(dict(zip(columns, [group, name, len(found), f"{judged:.1f}", f"{judged / baseline:.2f}x",
                                           f"{recall[0]:.3f}", f"{recall[1]:.3f}", f"{recall[2]:.3f}",
                                           f"{sum(r['complete'] for r in found)}/{len(found)}"])))
    print(f"{len(images)} pictures ({args.per_pair} of each colour x shape), pages of {args.page}, at most "
          f"{args.pages} pages")
    print(table(rows, columns))


if __name__ == "__main__":
    main()
