"""Benchmark: ways to use a negative example ("Not like this"), on the demo world (`pixcept demo`: 192 pictures, the
demo model).

    .venv/bin/python bench/refine.py [--work-dir DIR]

The journey of issue 20: a person searches a colour ("red"), adds one picture as an example (a red circle), then
marks another as "not like this" (a red square). Every colour x shape x other shape of the world is one case
(8 x 6 x 5 = 240): relevant are the pictures of the example's colour and shape; wrong are those of the negative's.
Also text negatives ("circle -red": relevant are the circles of the other colours) in every shape x colour (48),
which search has answered by subtraction since the beginning.

Per way: P@R (relevant share of the first R results, R = the number of relevant pictures), how many of the
negative's kind come in the first R, and how many results of another colour come in the first R. The ways:
- subtract: the query minus the negative (what search did: it removes "red" too, which the example shares);
- difference: the query minus what distinguishes the negative from the positives, (negative - positive);
- project: the query with the component along (negative - positive) removed, no further push;
- average_vector: Qdrant's recommend, avg(positives) + (avg(positives) - avg(negatives)), positives: words, example;
- best_score: Qdrant's recommend scoring (best positive if above best negative, else minus best negative);
- sum_scores: Qdrant's recommend, sum of similarities to positives minus to negatives;
- mean + veto: ranked by the positives' mean, leaving out what is more like a negative than like any positive
  (best_score's rule for the bottom of the list, with search's own scores for the rest);
- pixcept: what search now does (`indexer.search.combine`): difference for negative words, veto for all negatives.
Ranks are computed here over every picture's vector (192: exact, as the store's exact search would).
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from common import table


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def subtract(words, positives, negatives, images, **_):
    query = _unit(np.mean([words, *positives], axis=0))
    return images @ _unit(query - np.mean(negatives, axis=0))


def difference(words, positives, negatives, images, **_):
    query = _unit(np.mean([words, *positives], axis=0))
    anchor = np.mean(positives, axis=0) if positives else words
    return images @ _unit(query - (np.mean(negatives, axis=0) - anchor))


def project(words, positives, negatives, images, **_):
    query = _unit(np.mean([words, *positives], axis=0))
    anchor = np.mean(positives, axis=0) if positives else words
    direction = _unit(np.mean(negatives, axis=0) - anchor)
    return images @ _unit(query - (query @ direction) * direction)


def average_vector(words, positives, negatives, images, **_):
    average = np.mean([words, *positives], axis=0)
    return images @ (2 * average - np.mean(negatives, axis=0))


def best_score(words, positives, negatives, images, **_):
    best_positive = (images @ np.array([words, *positives]).T).max(axis=1)
    best_negative = (images @ np.array(negatives).T).max(axis=1)
    return np.where(best_positive > best_negative, best_positive, -1 - best_negative)


def sum_scores(words, positives, negatives, images, **_):
    return images @ (np.sum([words, *positives], axis=0) - np.sum(negatives, axis=0))


def _veto(scores, words, positives, negatives, images):
    """best_score's rule for what goes to the bottom, keeping `scores`' order for the rest: a picture more like a
    negative than like any positive (the words, the examples) is left out."""
    best_positive = (images @ np.array([words, *positives]).T).max(axis=1)
    best_negative = (images @ np.array(negatives).T).max(axis=1)
    return np.where(best_positive > best_negative, scores, -2 - best_negative)


def mean_veto(words, positives, negatives, images, **_):
    return _veto(images @ _unit(np.mean([words, *positives], axis=0)), words, positives, negatives, images)


def difference_veto(words, positives, negatives, images, **_):
    return _veto(difference(words, positives, negatives, images), words, positives, negatives, images)


def pixcept(words, positives, negatives, images, word_negative=False):
    """What search does (`indexer.search.combine`), chosen from the rows above."""
    from indexer.search import combine

    query = combine([words, *positives], negatives if word_negative else [], [] if word_negative else negatives)
    return np.where(query.vetoed(images), -3.0, images @ query.vector)


WAYS = {"subtract": subtract, "difference": difference, "project": project, "average_vector": average_vector,
        "best_score": best_score, "sum_scores": sum_scores, "mean + veto": mean_veto,
        "difference + veto": difference_veto, "pixcept": pixcept}


def build(root: Path) -> Path:
    from indexer.config import Settings
    from indexer.demo import demo_model_spec
    from indexer.demo.world import write_library
    from indexer.index import index_folders
    from indexer.library import Library

    write_library(root / "photos", per_pair=4)
    with Library.open(Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu")) as library:
        index_folders(library, [root / "photos"])
    return root / "data"


def cases(kinds: list[tuple[str, str]]):
    """(group, words, positive example index or None, negative: index or word, relevant mask, wrong mask)."""
    from indexer.demo.world import COLOURS, SHAPES

    kinds_arr = np.array(kinds)
    colour, shape = kinds_arr[:, 0], kinds_arr[:, 1]
    for c in COLOURS:
        for s in SHAPES:
            example = int(np.flatnonzero((colour == c) & (shape == s))[0])
            for other in SHAPES:
                if other == s:
                    continue
                negative = int(np.flatnonzero((colour == c) & (shape == other))[0])
                yield ("example", c, example, negative, (colour == c) & (shape == s), (colour == c) & (shape == other))
            yield ("words", s, None, c, (shape == s) & (colour != c), (shape == s) & (colour == c))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args()
    from indexer.config import Settings
    from indexer.library import Library
    from indexer.store import IMAGES

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pixcept-bench-refine-"))
    data_dir = build(work) if not (work / "data").exists() else work / "data"
    with Library.open(Settings(data_dir=data_dir)) as library:
        points = sorted(library.store.scroll(IMAGES, with_vectors=True), key=lambda p: p.payload["path"])
        images = np.asarray([p.vector for p in points], np.float32)
        kinds = [tuple(Path(p.payload["path"]).name.split("_")[:2]) for p in points]
        embedder = library.embedder()
        words_cache: dict[str, np.ndarray] = {}

        def text(words: str) -> np.ndarray:
            if words not in words_cache:
                words_cache[words] = embedder.embed_text(words)
            return words_cache[words]

        totals: dict[tuple[str, str], list] = defaultdict(list)
        for group, words, example, negative, relevant, wrong in cases(kinds):
            positives = [images[example]] if example is not None else []
            negatives = [images[negative]] if isinstance(negative, int) else [text(negative)]
            size = int(relevant.sum())
            colour_of_query = kinds[example][0] if example is not None else None
            for name, way in WAYS.items():
                scores = way(text(words), positives, negatives, images, word_negative=example is None)
                order = np.argsort(-scores, kind="stable")
                first = order[:size]
                other_colour = (sum(kinds[i][0] != colour_of_query for i in first) / size
                                if colour_of_query else 0.0)
                totals[(group, name)].append((relevant[first].mean(), wrong[first].sum() / wrong.sum(),
                                              other_colour, float(relevant[first].all())))
    columns = ["case", "way", "cases", "P@R", "negative's kind in first R", "other colour in first R", "all R right"]
    rows = []
    for (group, name), values in totals.items():
        precision, wrong_kept, other, exact = np.mean(values, axis=0)
        rows.append(dict(zip(columns, [group, name, len(values), f"{precision:.3f}", f"{wrong_kept:.3f}",
                                       f"{other:.3f}", f"{round(exact * len(values))}/{len(values)}"])))
    print(table(rows, columns))

if __name__ == "__main__":
    main()
