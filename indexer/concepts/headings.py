"""What a concept or a group of concepts is called: its most distinctive words among those that hold for most of its
images, or "mixed" when none does.

A word holds for an image when searching the library for that word would show the image: above search's own
relevance threshold for the word, and the word rises above chance at all (`indexer.search`). Distinctiveness alone
named a concept of 5 red, 4 orange and 4 yellow circles "red circle"; the words each image lists among its suggested
tags did no better with a small vocabulary (a red circle lists "orange circle" among its five).
"""

from __future__ import annotations

import numpy as np

from ..library import Library
from ..store import VOCABULARY
from . import publish
from .algorithm import MAJORITY, distinctive_words, true_first

LABELS_KEPT = 10  # words a concept's record keeps, most telling first
GROUP_LABELS = 5
ALL_WORDS = 20_000  # vocabularies up to this size have every word checked
CANDIDATES_PER_ROW = 20  # words checked per concept or group in larger ones: the most distinctive
WORD_BLOCK = 128  # words scored against the sample at a time (memory: sample x block floats)


def vocabulary(library: Library) -> tuple[list[str], np.ndarray]:
    """The library's vocabulary: its words and their vectors."""
    points = list(library.store.scroll(VOCABULARY, fields=["word"], with_vectors=True))
    return [p.payload["word"] for p in points], np.asarray([p.vector for p in points], np.float32)


def ranked_words(embeddings: np.ndarray, words: list[str], word_vectors: np.ndarray | None) -> list[list]:
    """Per row, every word, most distinctive first (empty without a vocabulary)."""
    if not words or word_vectors is None or not len(embeddings):
        return [[] for _ in range(len(embeddings))]
    return distinctive_words(np.asarray(embeddings, np.float32), word_vectors, words, len(words))


def search_holds(library: Library, vectors: np.ndarray, labels: np.ndarray, count: int, words: list[str],
                 word_vectors: np.ndarray, ranked: list[list], bars: dict[str, float] | None = None
                 ) -> tuple[np.ndarray, dict[str, int], dict[str, float]]:
    """(count x candidates) how many images of each concept (`labels` per row of `vectors`, -1: none) a search for
    each candidate word would show, each candidate's column, and each candidate's bar (`word_bars`). Candidates:
    every word of a vocabulary of up to ALL_WORDS (a few seconds per cluster job); beyond that, the most distinctive
    words of every row of `ranked` (concepts and groups). Distinctiveness alone misses words: where a model's words
    sit close together, the word that holds for a concept's images can be close to the others too ("flag" for the
    flags of the emoji demo model, behind "barbed wire"). A word search itself answers "no good match" for holds for
    nothing (`search_disowns`). Given `bars` (a run's, over the whole library), only the words they hold are
    candidates and `vectors` need not be the whole library's."""
    if len(words) <= ALL_WORDS:
        chosen = list(range(len(words)))
    else:
        index = {word: j for j, word in enumerate(words)}
        chosen = sorted({index[w] for row in ranked for w, _ in row[:CANDIDATES_PER_ROW] if w in index})
    if bars is not None:
        chosen = [j for j in chosen if words[j] in bars]
    column = {words[j]: c for c, j in enumerate(chosen)}
    holds = np.zeros((count, len(chosen)), np.int64)
    vectors = np.asarray(vectors, np.float32)
    if bars is None:
        needed = word_bars(library, vectors, word_vectors, chosen)
        judged = np.flatnonzero(np.isfinite(needed))
        needed[judged[search_disowns(library, vectors, [words[chosen[c]] for c in judged])]] = np.inf
    else:
        needed = np.array([bars[words[j]] for j in chosen], np.float32)
    members = labels >= 0
    for start in range(0, len(chosen) if len(vectors) else 0, WORD_BLOCK):
        block = slice(start, start + WORD_BLOCK)
        shown = members[:, None] & (vectors @ np.asarray(word_vectors[chosen[block]], np.float32).T >= needed[block])
        for c in range(shown.shape[1]):
            holds[:, start + c] = np.bincount(labels[shown[:, c]], minlength=count)
    return holds, column, {words[j]: float(bar) for j, bar in zip(chosen, needed)}


def word_bars(library: Library, vectors: np.ndarray, word_vectors: np.ndarray, chosen: list[int]) -> np.ndarray:
    """Per chosen word, the score an image of `vectors` needs for a search for the word to show it: search's
    relevance threshold over its best scores there (inf where search says "no good match")."""
    from ..search import CANDIDATES, RELATIVE_CUTOFF, below_chance, chance_level, relevance_threshold

    bars = np.full(len(chosen), np.inf, np.float32)
    centroid, chance = library.image_centroid(), chance_level(library)
    if centroid is None or not len(vectors):
        return bars
    best = min(CANDIDATES, len(vectors))  # the scores search sets a word's threshold from
    for start in range(0, len(chosen), WORD_BLOCK):
        block = np.asarray(word_vectors[chosen[start:start + WORD_BLOCK]], np.float32)
        scores = vectors @ block.T
        for c in range(len(block)):
            top = -np.sort(-np.partition(scores[:, c], -best)[-best:])
            baseline = float(centroid @ block[c])
            if not below_chance(top[0], baseline, chance):
                bars[start + c] = relevance_threshold(top, baseline, RELATIVE_CUTOFF)
    return bars


def search_disowns(library: Library, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
    """Per text, whether a search for it as a person types it says "no good match" (judged on `vectors`). The
    vocabulary's vectors average each word over prompt templates, search embeds the bare words: the two mostly
    agree, but 11 of the 118 held labels of one emoji demo run ("american black bear" for a family) rose above chance
    only templated, so a label named a concept that a search for the label does not show."""
    from ..search import no_good_match

    disowned = np.zeros(len(texts), bool)
    if not texts or not len(vectors):
        return disowned
    bare = library.embedder().embed_texts(texts)
    for start in range(0, len(texts), WORD_BLOCK):
        block = bare[start:start + WORD_BLOCK]
        best = (vectors @ block.T).max(axis=0)  # the best score search would find, on `vectors`
        disowned[start:start + len(block)] = [no_good_match(library, vector, float(score))
                                              for score, vector in zip(best, block)]
    return disowned


def true_labels(ranked: list, holds: np.ndarray, sizes: np.ndarray, column: dict[str, int], keep: int
                ) -> tuple[list, int]:
    """One row's labels (words that hold for most of its images first) and how many lead that hold."""
    return true_first(ranked, holds / max(int(sizes), 1), column, keep)


def keep_heading(ranked: list, held: int, before: dict) -> tuple[list, int]:
    """A continuing concept keeps the heading people know while its words still hold for most of its images: the
    previous heading's words lead, in their order (a refit moves the scores a little, and a heading that reshuffles
    reads as a different concept; it would also rewrite every member's record)."""
    previous = publish.heading_words(before) if before.get("held") else []
    leading = [w for w, _ in ranked[:held]]
    if not previous or not set(previous) <= set(leading):
        return ranked, held
    order = {word: n for n, word in enumerate(previous)}
    head = sorted(ranked[:held], key=lambda pair: order.get(pair[0], len(order)))
    return head + ranked[held:], held


def label_all(library: Library, vectors: np.ndarray, rows: np.ndarray, embeddings: np.ndarray, groups: list[dict],
              ids: list[int], words: list[str], word_vectors: np.ndarray | None, bars: dict[str, float] | None = None
              ) -> tuple[list, list, list[list[int]], dict[str, float]]:
    """The labels of every concept (`ids`, with `embeddings`) and of every group, each with how many lead that hold
    for most of its images (judged on `vectors`, each in concept row `rows`, as search would show them, or by `bars`),
    each group's concept rows, and the words' bars (`search_holds`). The cluster job labels a run with it; a folder
    scope labels the concepts it sees."""
    sample_sizes = np.bincount(rows[rows >= 0], minlength=len(ids))
    means, members = group_means(groups, embeddings, sample_sizes, ids)
    ranked = ranked_words(embeddings, words, word_vectors)
    group_ranked = ranked_words(means, words, word_vectors)
    if not words or word_vectors is None:
        labels, group_labels, bars = [(r, 0) for r in ranked], [(r, 0) for r in group_ranked], {}
    else:
        holds, column, bars = search_holds(library, vectors, rows, len(ids), words, word_vectors,
                                           ranked + group_ranked, bars)
        labels = [true_labels(ranked[k], holds[k], sample_sizes[k], column, LABELS_KEPT) for k in range(len(ids))]
        group_labels = [true_labels(group_ranked[i], holds[rows_i].sum(axis=0), sample_sizes[rows_i].sum(), column,
                                    GROUP_LABELS) for i, rows_i in enumerate(members)]
    return labels, group_labels, members, bars


def group_words(labels: tuple[list, int], rows: list[int], sizes: np.ndarray, concept_labels: list[tuple[list, int]]
                ) -> dict:
    """A group's labels as its record holds them (`rows`: its concepts' rows in `sizes` and `concept_labels`); a group
    no word holds for also says what it mixes (`parts`: its largest concepts' headings, "mixed: orange, yellow")."""
    record: dict = {"labels": [[w, round(s, 4)] for w, s in labels[0]], "held": labels[1]}
    if labels[1] == 0:
        by_size = sorted(rows, key=lambda k: -int(sizes[k]))
        heads = [publish.heading_words({"labels": concept_labels[k][0], "held": concept_labels[k][1]})[:1]
                 for k in by_size]
        record["parts"] = list(dict.fromkeys(w for head in heads for w in head if w != "mixed"))[:3]
    return record


def group_means(groups: list[dict], embeddings: np.ndarray, sizes: np.ndarray, ids: list[int]
                ) -> tuple[np.ndarray, list[list[int]]]:
    """Each group's size-weighted mean embedding of its concepts, and its concepts' rows."""
    index = {concept: k for k, concept in enumerate(ids)}
    rows = [[index[c] for c in group["concepts"]] for group in groups]
    means = []
    for members in rows:
        mean = (embeddings[members] * sizes[members, None]).sum(axis=0)
        means.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
    return np.asarray(means, np.float32).reshape(len(groups), embeddings.shape[1]), rows


__all__ = ["GROUP_LABELS", "LABELS_KEPT", "MAJORITY", "group_means", "group_words", "keep_heading", "label_all",
           "ranked_words", "search_disowns", "search_holds", "true_labels", "vocabulary", "word_bars"]
