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
CANDIDATES = 256  # best scores looked at to set the relevance threshold (more cost 4 ms per 1000 at 20k)
RELATIVE_CUTOFF = 0.5
MIN_RESULTS = 2  # a gap may end the results after this many (an image's own near-duplicate is not a group)
GAP_SHARE = 0.1
GAP_APART = 3.0  # ... and only a gap this many times wider than the other drops: smooth scores are not cut
# Words no model knows. What they match in a library shows how far a query rises above the library's mean score by
# chance; a query that rises no more (within the margin) matched nothing ("giraffe" to a model that never saw one).
PROBES = ("qzxv", "blorft", "vreemk", "ptaxil", "wug", "zorpin", "fleem", "grastch", "xylq", "mbopt")
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

    def to_dict(self) -> dict:
        return {"id": self.id, "score": round(self.score, 6), "path": self.path,
                "paths": self.payload.get("paths", [self.path])}


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


def query_vector(library: Library, text: str | None = None, images: Sequence[Image.Image] = (),
                 like: Sequence[str] = (), unlike: Sequence[str] = ()) -> np.ndarray:
    """One query vector: the mean of the text, image and `like` (indexed image IDs) vectors, minus the mean of the
    negative terms' and `unlike` images' vectors ("not like this").

    Subtracting ranks by (similarity to what was asked) - (similarity to what was excluded), so "circle -red" puts
    circles of every other colour before red ones. (Measured on the demo world: Qdrant's best-score recommendation
    kept red circles, since a red circle is closer to "circle" than to "red".)
    """
    parsed = parse_text_query(text or "")
    if not parsed.positive and not images and not like:
        raise UsageError("Give something to search for: words, an image, or both (negative terms alone "
                         "match nothing).")
    embedder = library.embedder()
    parts = []
    if parsed.positive:
        parts.append(embedder.embed_text(parsed.positive))
    if images:
        parts.extend(embedder.embed_images(list(images)))
    if like:
        parts.extend(indexed_vectors(library, like))
    vector = normalise_rows(np.mean(parts, axis=0))
    negatives = list(embedder.embed_texts(list(parsed.negatives))) if parsed.negatives else []
    negatives += indexed_vectors(library, unlike) if unlike else []
    if negatives:
        vector = normalise_rows(vector - np.mean(negatives, axis=0))
    return vector


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
       that stands apart ("red circle": 4 red circles, then red squares) ends there; smooth scores are not cut.
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
        drops = kept[min_results - 1:-1] - kept[min_results:]
        widest = int(np.argmax(drops))
        others = np.delete(drops, widest)
        typical = float(others.mean()) if len(others) else 0.0
        if drops[widest] >= gap_share * rise and drops[widest] >= apart * typical:
            threshold = float(kept[min_results + widest - 1])
    return float(threshold)


def chance_rise(library: Library) -> float | None:
    """How far words no model knows rise above the library's mean score (the median over PROBES): a query that does
    no better matched nothing. Per model and library; recomputed when the library's centroid is."""
    centroid = library.image_centroid()
    if centroid is None:
        return None
    cached = library.memo.get("chance_rise")
    if cached and cached[0] is centroid:
        return cached[1]
    rises = []
    for vector in library.embedder().embed_texts(list(PROBES)):
        best = library.store.search(IMAGES, vector, limit=1, with_payload=False)
        if best:
            rises.append(best[0].score - float(centroid @ vector))
    value = float(np.median(rises)) if rises else None
    library.memo["chance_rise"] = (centroid, value)
    return value


@dataclass
class SearchPage:
    results: list[SearchResult]
    threshold: float | None  # lowest score shown; None without a cutoff
    has_more: bool
    no_good_match: bool = False  # nothing rose above chance: `results` are the closest few, weak


def search_page(library: Library, text: str | None = None, images: Sequence[Image.Image] = (),
                like: Sequence[str] = (), limit: int = 20, offset: int = 0, where: Filter | None = None,
                relative: float | None = RELATIVE_CUTOFF, threshold: float | None = None,
                vector: np.ndarray | None = None, unlike: Sequence[str] = ()) -> SearchPage:
    """One page of results, best first. With `relative` (0..1), results below the relevance threshold are left
    out (pass the first page's `threshold` back with later pages to skip recomputing it); None returns everything.
    Images given by `like` or `unlike` are left out of the results."""
    if not 1 <= limit <= 1000:
        raise UsageError("The limit must be between 1 and 1000.")
    if relative is not None and not 0 <= relative <= 1:
        raise UsageError("The relevance cutoff must be between 0 and 1.")
    if vector is None:
        vector = query_vector(library, text, images, like, unlike)
    if like or unlike:
        excluded = Filter(must_not=(HasId(tuple(like) + tuple(unlike)),))
        where = Filter(must=where.must, must_not=where.must_not + excluded.must_not) if where else excluded
    if relative is None:
        threshold = None
    window = offset + limit + 1  # one more than the page tells whether there is more
    needs_threshold = relative is not None and threshold is None
    # One store query for scores (and the threshold), then payloads for this page only: Qdrant Edge holds the GIL
    # while it searches, so each query spared is served concurrency gained.
    best = library.store.search(IMAGES, vector, limit=max(window, CANDIDATES if needs_threshold else 0),
                                where=where, with_payload=False)
    no_good_match = False
    if needs_threshold and relative is not None:
        threshold, no_good_match = _threshold(library, vector, best, relative)
    hits = [h for h in best[offset:window] if threshold is None or h.score >= threshold]
    if no_good_match:
        hits = hits[:WEAK_SHOWN] if offset == 0 else []
    payloads = {p.id: p.payload for p in library.store.retrieve(IMAGES, [h.id for h in hits[:limit]])}
    results = [SearchResult(h.id, h.score, payloads[h.id].get("path", ""), payloads[h.id])
               for h in hits[:limit] if h.id in payloads]  # a point deleted meanwhile is left out
    return SearchPage(results, threshold, has_more=len(hits) > limit and not no_good_match,
                      no_good_match=no_good_match)


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
    """Whether nothing in the library matches the query better than words no model knows do (`chance_rise`), unless
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
    chance = chance_rise(library)
    return chance is not None and best_score - float(centroid @ vector) < PROBE_MARGIN * chance


def search_images(library: Library, text: str | None = None, images: Sequence[Image.Image] = (), limit: int = 20,
                  offset: int = 0, where: Filter | None = None, relative: float | None = None,
                  like: Sequence[str] = ()) -> list[SearchResult]:
    """The results of `search_page` alone; no cutoff unless `relative` is given."""
    return search_page(library, text, images, like, limit=limit, offset=offset, where=where,
                       relative=relative).results
