"""Stable concept IDs: a new run's concepts take the IDs of the previous run's concepts they continue.

Each new cluster is matched to at most one previous concept, and each previous concept to at most one cluster, by the
overlap of their members (Jaccard), maximised over all pairs at once (Hungarian assignment). A match at or above
`MIN_JACCARD` keeps the old ID; other clusters get IDs never used before (IDs are not reused, so a link to a retired
concept can say where its images went). Lineage: a cluster that took most of the members of two or more previous
concepts was merged from them; one that took most of its members from a concept that lives on elsewhere split from
it; a retired concept's images went mostly to one concept, which is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_JACCARD = 0.3
MOST = 0.5  # "most of the members"


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
    old_ids = np.unique(previous[previous >= 0])
    if not len(old_ids) or not count:
        return _all_new(count, next_id, old_ids)
    overlap = _overlap(previous, labels, old_ids, count)  # (old, new) member counts
    old_sizes = np.array([(previous == i).sum() for i in old_ids])
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


def _overlap(previous: np.ndarray, labels: np.ndarray, old_ids: np.ndarray, count: int) -> np.ndarray:
    both = (previous >= 0) & (labels >= 0)
    rows = np.searchsorted(old_ids, previous[both])
    table = np.zeros((len(old_ids), count), np.int64)
    np.add.at(table, (rows, labels[both]), 1)
    return table


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
