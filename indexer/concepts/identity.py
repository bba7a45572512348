"""Stable concept IDs: a new run's concepts take the IDs of the previous run's concepts they continue.

Each new cluster is matched to at most one previous concept, and each previous concept to at most one cluster, by the
overlap of their members (Jaccard), maximised over all pairs at once (Hungarian assignment). A match at or above
`MIN_JACCARD` keeps the old ID; other clusters get IDs never used before (IDs are not reused, so a link to a retired
concept can say where its images went). Lineage: a cluster that took most of the members of two or more previous
concepts was merged from them; one that took most of its members from a concept that lives on elsewhere split from
it; a retired concept's images went mostly to one concept, which is recorded.

Before matching, a cluster that took nearly all of two or more previous concepts with little new among it is split
back into them (`keep_previous_splits`): on a small library a refit merges two neighbouring concepts now and then
from nothing but another random layout, and every link and curation on the second ID would be lost to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..embed import normalise_rows
from .algorithm import Concepts, describe, mmr

MIN_JACCARD = 0.3
MOST = 0.5  # "most of the members"
MERGE_NEW_SHARE = 0.25  # a merge of previous concepts stands when at least this share of its members is new to them
SEPARABLE = 0.9  # ... or when fewer of a previous concept's members than this are nearest to its own part


@dataclass
class Matching:
    ids: list[int]  # the stable ID of each new concept (index order)
    next_id: int  # the first ID not used yet
    kept: int = 0
    new: int = 0
    split: int = 0
    merged: int = 0
    retired: list[int] = field(default_factory=list)
    lineage: dict[int, dict] = field(default_factory=dict)  # new ID -> {"split_from": ID} | {"merged_from": [IDs]}
    retired_into: dict[int, int] = field(default_factory=dict)  # retired ID -> the ID that took most of its images

    def summary(self) -> dict:
        return {"kept": self.kept, "new": self.new, "split": self.split, "merged": self.merged,
                "retired": len(self.retired)}


def match_concepts(previous: np.ndarray, labels: np.ndarray, count: int, next_id: int) -> Matching:
    """Stable IDs for `count` new concepts.

    `previous`: per image, the previous run's concept ID (-1: none or not in that run); `labels`: per image (same
    order), the new concept index (-1: outlier). Deterministic: the same inputs give the same IDs.
    """
    previous = np.asarray(previous, np.int64)
    labels = np.asarray(labels, np.int64)
    old_ids, old_sizes, overlap = _overlap(previous, labels, count)  # overlap: (old, new) member counts
    if not len(old_ids) or not count:
        return _all_new(count, next_id, old_ids)
    new_sizes = np.bincount(labels[labels >= 0], minlength=count)
    union = old_sizes[:, None] + new_sizes[None, :] - overlap
    jaccard = np.divide(overlap, union, out=np.zeros_like(overlap, dtype=float), where=union > 0)
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-jaccard)
    matched = {int(c): int(r) for r, c in zip(rows, cols) if jaccard[r, c] >= MIN_JACCARD}
    result = Matching(ids=[0] * count, next_id=next_id)
    for k in range(count):
        if k in matched:
            result.ids[k] = int(old_ids[matched[k]])
            result.kept += 1
        else:
            result.ids[k] = result.next_id
            result.next_id += 1
    continued = {result.ids[k] for k in matched}
    for k in range(count):
        absorbed = [int(old_ids[r]) for r in np.flatnonzero(overlap[:, k] >= MOST * old_sizes)
                    if matched.get(k) != r]
        if k in matched:
            if absorbed:
                result.lineage[result.ids[k]] = {"merged_from": absorbed}
            continue
        source = int(np.argmax(overlap[:, k]))
        if len(absorbed) >= 2:
            result.lineage[result.ids[k]] = {"merged_from": absorbed}
            result.merged += 1
        elif overlap[source, k] >= MOST * new_sizes[k] and int(old_ids[source]) in continued:
            result.lineage[result.ids[k]] = {"split_from": int(old_ids[source])}
            result.split += 1
        else:
            result.new += 1
    matched_rows = set(matched.values())
    for r, old in enumerate(old_ids):
        if r in matched_rows:
            continue
        result.retired.append(int(old))
        if overlap[r].max() > 0:
            result.retired_into[int(old)] = result.ids[int(np.argmax(overlap[r]))]
    return result


def keep_previous_splits(vectors: np.ndarray, fit: Concepts, previous: np.ndarray) -> tuple[Concepts, int]:
    """`fit` with each cluster that merged previous concepts without reason split back into them, and how many
    clusters were split. `vectors`: the fitted (unit) vectors; `previous`: per fitted vector, its concept in the last
    run (-1: none). A cluster is split when it holds at least `MOST` of each of two or more previous concepts, fewer
    than `MERGE_NEW_SHARE` of its members came from elsewhere (new images, outliers, other concepts), the parts
    stay apart in the original space (`SEPARABLE`) and each is of the minimum concept size; its other members go to
    the nearest part."""
    previous = np.asarray(previous, np.int64)
    old_ids, old_sizes, overlap = _overlap(previous, fit.labels, fit.count)
    labels = fit.labels.copy()
    origin = list(range(fit.count))  # per concept, the cluster of `fit` it comes from
    for k in range(fit.count):
        absorbed = old_ids[overlap[:, k] >= MOST * old_sizes].tolist()  # as `match_concepts` calls a merge
        parts = _merged_parts(vectors, np.flatnonzero(fit.labels == k), previous, absorbed, fit.min_concept_size)
        for part in parts[1:] if parts else []:
            labels[part] = len(origin)
            origin.append(k)
    if len(origin) == fit.count:
        return fit, 0
    return _with_labels(vectors, fit, labels, origin), len({origin[j] for j in range(fit.count, len(origin))})


def _merged_parts(vectors: np.ndarray, members: np.ndarray, previous: np.ndarray, absorbed: list[int],
                  min_size: int) -> list[np.ndarray] | None:
    """The members of one cluster as the previous concepts it `absorbed` (others joining the nearest), or None when
    it merged nothing worth undoing (a part below this run's minimum concept size: a larger minimum asks for coarser
    concepts)."""
    before = previous[members]
    from_absorbed = np.isin(before, absorbed)
    if len(absorbed) < 2 or from_absorbed.mean() < 1 - MERGE_NEW_SHARE:
        return None
    centres = normalise_rows(np.stack([vectors[members[before == old]].mean(axis=0) for old in absorbed]))
    nearest = np.argmax(vectors[members] @ centres.T, axis=1)
    own = np.array([absorbed.index(old) if old in absorbed else -1 for old in before])
    if (nearest[from_absorbed] == own[from_absorbed]).mean() < SEPARABLE:
        return None
    part_of = np.where(from_absorbed, own, nearest)
    parts = [members[part_of == p] for p in range(len(absorbed))]
    return parts if min(len(part) for part in parts) >= min_size else None


def _with_labels(vectors: np.ndarray, fit: Concepts, labels: np.ndarray, origin: list[int]) -> Concepts:
    """`fit` redescribed for `labels`, where concept j came from cluster `origin[j]` of `fit`: the parts of a split
    cluster share its place in the hierarchy, under a new group of their own."""
    settings = fit.settings
    embeddings, thresholds = describe(vectors, labels, settings.outlier_mads)
    parents = np.array([fit.parents[k] for k in origin])
    hierarchy = [dict(group, concepts=list(group["concepts"])) for group in fit.hierarchy]
    exemplars = [fit.exemplars[k] for k in origin]
    for k in sorted(set(origin[fit.count:])):
        parts = [j for j, source in enumerate(origin) if source == k]
        for group in hierarchy:
            if k in group["concepts"]:
                group["concepts"] = sorted(set(group["concepts"]) | set(parts))
        hierarchy.append({"id": len(hierarchy), "parent": int(fit.parents[k]), "concepts": parts,
                          "size": int(np.isin(labels, parts).sum())})
        for part in parts:
            parents[part] = len(hierarchy) - 1
            exemplars[part] = mmr(vectors, np.flatnonzero(labels == part), embeddings[part], settings.n_exemplars,
                                  settings.diversity)
    return replace(fit, labels=labels, embeddings=embeddings, thresholds=thresholds, exemplars=exemplars,
                   parents=parents, hierarchy=hierarchy)


def _overlap(previous: np.ndarray, labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the previous concept IDs, their sizes, the (old, new) table of members they share with the `count` new
    concepts of `labels`)."""
    old_ids, old_sizes = np.unique(previous[previous >= 0], return_counts=True)
    both = (previous >= 0) & (labels >= 0)
    rows = np.searchsorted(old_ids, previous[both])
    table = np.zeros((len(old_ids), count), np.int64)
    np.add.at(table, (rows, labels[both]), 1)
    return old_ids, old_sizes, table


def _all_new(count: int, next_id: int, old_ids: np.ndarray) -> Matching:
    return Matching(ids=list(range(next_id, next_id + count)), next_id=next_id + count, new=count,
                    retired=[int(i) for i in old_ids])


def id_stability(previous: np.ndarray, current: np.ndarray) -> tuple[int, int]:
    """(kept, continuing): of the previous run's concepts that continue (a concept of the new run overlaps them with
    Jaccard >= 0.5), how many the new run calls by their old ID. Both arrays: per image, the stable concept ID in
    that run (-1: none or not in it)."""
    previous, current = np.asarray(previous), np.asarray(current)
    continuing = kept = 0
    for old in np.unique(previous[previous >= 0]):
        members = previous == old
        for new in np.unique(current[members & (current >= 0)]):
            both = int((members & (current == new)).sum())
            if both / int((members | (current == new)).sum()) >= 0.5:
                continuing += 1
                kept += int(new == old)
                break
    return kept, continuing


def match_groups(groups: list[dict], concept_ids: list[int], previous: list[dict], next_id: int
                 ) -> tuple[list[dict], int]:
    """The run's concept groups (HDBSCAN's tree, see `algorithm._hierarchy`) with stable IDs, and the next free ID.

    A group is its set of concepts (stable concept IDs); it keeps the ID of the previous run's group whose set it
    overlaps most, one-to-one, when the Jaccard of the two sets is at least `MOST`. `parent` becomes the parent's
    stable ID (-1 at the top)."""
    sets = [{concept_ids[k] for k in group["concepts"]} for group in groups]
    stable = list(range(len(groups)))  # placeholder until matched or numbered
    matched: dict[int, int] = {}
    if groups and previous:
        old_sets = [set(group["concepts"]) for group in previous]
        jaccard = np.array([[len(a & b) / len(a | b) for b in old_sets] for a in sets])
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(-jaccard)
        matched = {int(r): int(previous[c]["id"]) for r, c in zip(rows, cols) if jaccard[r, c] >= MOST}
    for i in range(len(groups)):
        if i in matched:
            stable[i] = matched[i]
        else:
            stable[i], next_id = next_id, next_id + 1
    result = [{**group, "id": stable[i], "parent": stable[group["parent"]] if group["parent"] >= 0 else -1,
               "concepts": sorted(sets[i])} for i, group in enumerate(groups)]
    return result, next_id
