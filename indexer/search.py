"""Searching the library by text, by image, or both, with negative terms ("beach -people")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .embed import normalise_rows
from .errors import NotFoundError, UsageError
from .images import BadImage, decode_image, read_file
from .library import Library
from .store import IMAGES, Filter, HasId

MAX_QUERY_CHARS = 500
MAX_EXAMPLES = 8  # example images (uploads, "add as example", "not like this") one query may combine
MAX_TERMS = 16
CANDIDATES = 1024  # best scores looked at to set the relevance threshold (more cost 4 ms per 1000 at 20k)
MAX_CANDIDATES = 16_384  # hits looked through when "not like this" leaves out many
RELATIVE_CUTOFF = 0.5
MIN_RESULTS = 2  # a gap may end the results after this many (an image's own near-duplicate is not a group)
GAP_SHARE = 0.1
GAP_APART = 3.0  # ... and only a gap this many times wider than the other drops: smooth scores are not cut
# A narrower gap also ends the results when it stands out far more from the other drops: in a larger library a group
# ("red circle": 55 red circles, then the red squares) ends with a drop a twentieth of the rise, but 50 times the
# drops between its own members
GAP_SHARE_NARROW = 0.04
GAP_APART_NARROW = 20.0
# Words no model knows. What they match in a library shows how far a query rises above the library's mean score by
# chance; a query that rises no more (within the margin), and whose best picture scores no higher than theirs do,
# matched nothing ("giraffe" to a model that never saw one).
PROBES = ("qzxv", "blorft", "vreemk", "ptaxil", "wug", "zorpin", "fleem", "grastch", "xylq", "mbopt")
# A word the model never saw rises up to 1.23x their median in some drawings of the emoji world (with an emoji model
# whose image tower learnt on after its words were fixed); the words it knows rise 1.46x and more, or their best
# picture clears the line. 1.3 (1.2 for a while, when an earlier emoji model's "dog" rose 1.26x) left every figure of
# bench/cutoff.py unchanged: shapes at 2 and 4 pictures per pair, and the emoji world
PROBE_MARGIN = 1.3
WEAK_SHOWN = 6  # with no good match, the closest few, marked weak
# The probe rule is a rule for words. An image this similar to the query is the query's own picture or a copy of it:
# always a match, whatever the library's spread (with a model whose pictures all look alike, the probe words rise
# as far as anything).
NEAR_EXACT = 0.95


@dataclass(frozen=True)
class TextQuery:
    positive: str
    negatives: tuple[str, ...] = ()


@dataclass
class SearchResult:
    id: str
    score: float
    path: str
    payload: dict
    example: bool = False  # one of the query's own example pictures, shown first

    def to_dict(self) -> dict:
        return {"id": self.id, "score": round(self.score, 6), "path": self.path,
                "paths": self.payload.get("paths", [self.path]), **({"example": True} if self.example else {})}


def parse_text_query(text: str) -> TextQuery:
    """Words starting with '-' are things the images must not show; the rest is one positive phrase."""
    text = " ".join((text or "").split())
    if len(text) > MAX_QUERY_CHARS:
        raise UsageError(f"The query is too long ({len(text)} characters, limit {MAX_QUERY_CHARS}).")
    words = text.split(" ") if text else []
    if len(words) > MAX_TERMS * 4:
        raise UsageError(f"The query has too many words ({len(words)}).")
    negatives = tuple(w[1:] for w in words if w.startswith("-") and len(w) > 1)
    positive = " ".join(w for w in words if not (w.startswith("-") and len(w) > 1))
    if len(negatives) > MAX_TERMS:
        raise UsageError(f"Too many negative terms ({len(negatives)}, limit {MAX_TERMS}).")
    return TextQuery(positive, negatives)


def load_query_image(path: Path, min_side: int) -> Image.Image:
    try:
        return decode_image(read_file(str(path)), min_side=min_side).image
    except BadImage as exc:
        raise UsageError(f"Cannot use {path} as a query image: {exc}.") from exc


@dataclass(frozen=True)
class Query:
    """What one search asks: the vector ranked by, and what a result must be more like: one of `positives` (the
    words, the example pictures) rather than any of `negatives` ("-word", "not like this" pictures)."""

    vector: np.ndarray
    positives: np.ndarray  # (k, d)
    negatives: np.ndarray  # (m, d), m may be 0

    def vetoed(self, vectors: np.ndarray) -> np.ndarray:
        """Which of these image vectors are more like a negative than like any positive (left out of results)."""
        if not len(self.negatives) or not len(vectors):
            return np.zeros(len(vectors), bool)
        return (vectors @ self.negatives.T).max(axis=1) >= (vectors @ self.positives.T).max(axis=1)


def combine(positives: Sequence[np.ndarray], word_negatives: Sequence[np.ndarray] = (),
            picture_negatives: Sequence[np.ndarray] = ()) -> Query:
    """The query of these vectors (bench/refine.py measured the ways on the demo world):
    - ranked by the mean of the positives;
    - a negative word moves the vector away from what distinguishes it from the positives (negative - positives),
      not from everything it shares with them: "circle -red" keeps ranking circles;
    - a negative picture leaves out what is more like it than like any positive (Qdrant's best-score rule), and does
      not move the vector: "not like this" on a red square, after "red" and a red circle, drops the squares and
      keeps the red circles (subtracting the square removed "red" as well)."""
    mean = normalise_rows(np.mean(positives, axis=0))
    vector = mean
    if len(word_negatives):
        vector = normalise_rows(mean - (np.mean(word_negatives, axis=0) - mean))
    negatives = [*word_negatives, *picture_negatives]
    dim = len(mean)
    return Query(vector, np.asarray(positives, np.float32).reshape(-1, dim),
                 np.asarray(negatives, np.float32).reshape(-1, dim))


def build_query(library: Library, text: str | None = None, images: Sequence[Image.Image] = (),
                like: Sequence[str] = (), unlike: Sequence[str] = ()) -> Query:
    """The query of words ("-word" excludes), query images, `like` (indexed image IDs: examples) and `unlike`
    (indexed image IDs: "not like this")."""
    parsed = parse_text_query(text or "")
    if not parsed.positive and not images and not like:
        raise UsageError("Give something to search for: words, an image, or both (negative terms alone "
                         "match nothing).")
    embedder = library.embedder()
    positives = []
    if parsed.positive:
        positives.append(embedder.embed_text(parsed.positive))
    if images:
        positives.extend(embedder.embed_images(list(images)))
    if like:
        positives.extend(indexed_vectors(library, like))
    word_negatives = list(embedder.embed_texts(list(parsed.negatives))) if parsed.negatives else []
    return combine(positives, word_negatives, indexed_vectors(library, unlike) if unlike else [])


def query_vector(library: Library, text: str | None = None, images: Sequence[Image.Image] = (),
                 like: Sequence[str] = (), unlike: Sequence[str] = ()) -> np.ndarray:
    """The vector of `build_query`: what concept search ranks by."""
    return build_query(library, text, images, like, unlike).vector


def indexed_vectors(library: Library, ids: Sequence[str]) -> list[np.ndarray]:
    points = {p.id: p for p in library.store.retrieve(IMAGES, list(ids), with_vectors=True)}
    missing = [i for i in ids if i not in points]
    if missing:
        raise NotFoundError(f"No indexed image with ID {missing[0]}.")
    return [np.asarray(points[i].vector) for i in ids]


def relevance_threshold(scores: np.ndarray, baseline: float, relative: float = RELATIVE_CUTOFF,
                        min_results: int = MIN_RESULTS, gap_share: float = GAP_SHARE,
                        apart: float = GAP_APART) -> float:
    """The lowest score still worth showing, from the best scores (sorted, best first) and the library's mean score
    for the same query (`baseline`). Relative, never a fixed cosine: models and queries differ in scale.

    1. Keep what rises at least `relative` of the way from the baseline to the top score.
    2. Within that, cut at the widest drop between neighbours, after at least `min_results` results, if it is at
       least `gap_share` of the top's rise above the baseline and `apart` times the mean of the other drops: a group
       that stands apart ("red circle": 4 red circles, then red squares) ends there; smooth scores are not cut. A
       narrower drop (GAP_SHARE_NARROW of the rise) ends it too when it is GAP_APART_NARROW times the other drops
       and the drops between the members above it: two flags 0.01 apart, 0.02 above 250 flags, are not a group.
    """
    if len(scores) == 0:
        return 1.0
    top = float(scores[0])
    rise = top - baseline
    if rise <= 0:
        return top
    threshold = baseline + relative * rise
    kept = scores[scores >= threshold]
    if len(kept) > min_results:
        steps = kept[:-1] - kept[1:]
        drops = steps[min_results - 1:]
        widest = int(np.argmax(drops))
        others = np.delete(drops, widest)
        typical = float(others.mean()) if len(others) else 0.0
        members = steps[:min_results - 1 + widest]  # the steps between the members of the group above the gap
        inside = float(members.mean()) if len(members) else 0.0
        gap = drops[widest]
        if (gap >= gap_share * rise and gap >= apart * typical) or \
                (gap >= GAP_SHARE_NARROW * rise and gap >= GAP_APART_NARROW * max(typical, inside)):
            threshold = float(kept[min_results + widest - 1])
    return float(threshold)


@dataclass(frozen=True)
class Chance:
    """What words no model knows match in a library (`PROBES`): how far they rise above the library's mean score
    (their median), and the score above which an image stands out from all of them (their best score, plus how far
    the best of them stands above their median)."""

    rise: float
    best_line: float


def chance_level(library: Library) -> Chance | None:
    """What matches by chance in this library, per model; recomputed when the library's centroid is."""
    centroid = library.image_centroid()
    if centroid is None:
        return None
    cached = library.memo.get("chance")
    if cached and cached[0] is centroid:
        return cached[1]
    rises, bests = [], []
    for vector in library.embedder().embed_texts(list(PROBES)):
        best = library.store.search(IMAGES, vector, limit=1, with_payload=False)
        if best:
            rises.append(best[0].score - float(centroid @ vector))
            bests.append(best[0].score)
    value = Chance(float(np.median(rises)), 2 * max(bests) - float(np.median(bests))) if rises else None
    library.memo["chance"] = (centroid, value)
    return value


@dataclass
class SearchPage:
    results: list[SearchResult]
    threshold: float | None  # lowest score shown; None without a cutoff
    has_more: bool
    no_good_match: bool = False  # nothing rose above chance: `results` are the closest few, weak
    next_offset: int | None = None  # where the next page starts (examples shown first are not counted)


def search_page(library: Library, text: str | None = None, images: Sequence[Image.Image] = (),
                like: Sequence[str] = (), limit: int = 20, offset: int = 0, where: Filter | None = None,
                relative: float | None = RELATIVE_CUTOFF, threshold: float | None = None,
                query: Query | None = None, unlike: Sequence[str] = ()) -> SearchPage:
    """One page of results, best first. With `relative` (0..1), results below the relevance threshold are left
    out (pass the first page's `threshold` back with later pages to skip recomputing it); None returns everything.
    The `like` examples come first on the first page, marked; `unlike` pictures, and whatever is more like them than
    like what was asked (`Query.vetoed`), never come."""
    if not 1 <= limit <= 1000:
        raise UsageError("The limit must be between 1 and 1000.")
    if relative is not None and not 0 <= relative <= 1:
        raise UsageError("The relevance cutoff must be between 0 and 1.")
    if query is None:
        query = build_query(library, text, images, like, unlike)
    if like or unlike:
        excluded = Filter(must_not=(HasId(tuple(like) + tuple(unlike)),))
        where = Filter(must=where.must, must_not=where.must_not + excluded.must_not) if where else excluded
    if relative is None:
        threshold = None
    window = offset + limit + 1  # one more than the page tells whether there is more
    needs_threshold = relative is not None and threshold is None
    # One store query for scores (and the threshold), then payloads for this page only: Qdrant Edge holds the GIL
    # while it searches, so each query spared is served concurrency gained.
    best = _candidates(library, query, max(window, CANDIDATES if needs_threshold else 0), where)
    no_good_match = False
    if needs_threshold and relative is not None:
        threshold, no_good_match = _threshold(library, query.vector, best, relative)
    hits = [h for h in best[offset:window] if threshold is None or h.score >= threshold]
    if no_good_match:
        hits = hits[:WEAK_SHOWN] if offset == 0 else []
    has_more = len(hits) > limit and not no_good_match
    hits = hits[:limit]
    examples = list(like) if offset == 0 else []
    payloads = {p.id: p for p in library.store.retrieve(IMAGES, examples + [h.id for h in hits],
                                                        with_vectors=bool(examples))}
    results = [SearchResult(i, float(query.vector @ np.asarray(payloads[i].vector)),
                            payloads[i].payload.get("path", ""), payloads[i].payload, example=True)
               for i in examples if i in payloads]
    results += [SearchResult(h.id, h.score, payloads[h.id].payload.get("path", ""), payloads[h.id].payload)
                for h in hits if h.id in payloads]  # a point deleted meanwhile is left out
    return SearchPage(results, threshold, has_more=has_more, no_good_match=no_good_match,
                      next_offset=offset + len(hits) if has_more else None)


def _candidates(library: Library, query: Query, wanted: int, where: Filter | None) -> list:
    """The best `wanted` hits (scores only) not vetoed by the query's negatives; asks the store for more while the
    negatives leave too few."""
    asked = wanted
    while True:
        best = library.store.search(IMAGES, query.vector, limit=asked, where=where, with_payload=False)
        if not len(query.negatives):
            return best
        vectors = {p.id: p.vector for p in library.store.retrieve(IMAGES, [h.id for h in best], with_vectors=True)}
        present = [h for h in best if h.id in vectors]  # a point deleted meanwhile is left out
        found = np.asarray([vectors[h.id] for h in present], np.float32).reshape(-1, len(query.vector))
        kept = [h for h, vetoed in zip(present, query.vetoed(found)) if not vetoed]
        if len(kept) >= wanted or len(best) < asked or asked >= MAX_CANDIDATES:
            return kept[:wanted]
        asked = min(asked * 4, MAX_CANDIDATES)


def _threshold(library: Library, vector: np.ndarray, best: list, relative: float) -> tuple[float | None, bool]:
    """(the relevance threshold, whether nothing rose above chance) for a first page."""
    centroid = library.image_centroid()
    if not best or centroid is None:
        return None, False
    baseline = float(centroid @ vector)
    weak = no_good_match(library, vector, best[0].score)
    threshold = relevance_threshold(np.array([h.score for h in best[:CANDIDATES]]), baseline, relative)
    return (best[min(WEAK_SHOWN, len(best)) - 1].score if weak else threshold), weak


def no_good_match(library: Library, vector: np.ndarray, best_score: float | None = None) -> bool:
    """Whether nothing in the library matches the query better than words no model knows do (`chance_level`), unless
    its best image is a near-exact match. Image search and concept search ask the same question."""
    centroid = library.image_centroid()
    if centroid is None:
        return False
    if best_score is None:
        best = library.store.search(IMAGES, vector, limit=1, with_payload=False)
        if not best:
            return False
        best_score = best[0].score
    if best_score >= NEAR_EXACT:
        return False
    return below_chance(best_score, float(centroid @ vector), chance_level(library))


def below_chance(best_score: float, baseline: float, chance: Chance | None) -> bool:
    """The probe rule: the best match rises above the library's mean score for the query (`baseline`) no more than
    words no model knows do (with PROBE_MARGIN), and it does not stand out above their best matches either. The
    second part keeps broad words: "flag" where flags are a seventh of the library lifts the mean with it, so it
    rises little above the mean, yet its best picture scores far above anything a made-up word reaches."""
    return chance is not None and best_score - baseline < PROBE_MARGIN * chance.rise and best_score < chance.best_line


def search_images(library: Library, text: str | None = None, images: Sequence[Image.Image] = (), limit: int = 20,
                  offset: int = 0, where: Filter | None = None, relative: float | None = None,
                  like: Sequence[str] = ()) -> list[SearchResult]:
    """The results of `search_page` alone; no cutoff unless `relative` is given."""
    return search_page(library, text, images, like, limit=limit, offset=offset, where=where,
                       relative=relative).results
