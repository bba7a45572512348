"""Concept pages: the grid of every concept, grouped by the hierarchy (/concepts), and one concept (/concepts/ID).
Rendered on the server from one run's snapshot, so the first paint needs no API round trip; montages load lazily and
are cached by the browser (ETags); members and the live filter come from the JSON API (web/static/concepts.js)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from indexer.concepts import read
from indexer.concepts.publish import NoConceptsError
from indexer.errors import NotFoundError

from ..api import services

concept_pages = Blueprint("concept_pages", __name__)
UNSORTED = -1


@concept_pages.get("/concepts")
def concepts_page():
    library = services().library
    sort = request.args.get("sort", "size")
    sort = sort if sort in read.SORTS else "size"
    try:
        current = read.snapshot(library)
    except NoConceptsError as error:
        return render_template("concepts.html", empty=str(error), sort=sort)
    page = read.list_concepts(library, sort, 0, 100_000, current)
    groups = read.concept_groups(library, current)
    return render_template("concepts.html", page=page, sort=sort, tree=concept_tree(page.concepts, groups),
                           filter=request.args.get("q", ""))


def concept_tree(concepts: list[dict], groups: list[dict]) -> list[dict]:
    """Top-level sections for the grid: each top group with its sub-groups and the concepts directly under it (in the
    `concepts` order), then the concepts in no group."""
    by_id = {c["id"]: c for c in concepts}
    groups = read.informative_groups(groups, by_id)
    groups_by_id = {g["id"]: g for g in groups}
    direct: dict[int, list[dict]] = {}
    for concept in concepts:
        direct.setdefault(concept.get("parent", -1) if concept.get("parent", -1) in groups_by_id else -1,
                          []).append(concept)

    position = {c["id"]: n for n, c in enumerate(concepts)}

    def node(group: dict) -> dict:
        members = list(direct.get(group["id"], []))
        subgroups = [node(groups_by_id[child]) for child in group["children"] if child in groups_by_id]
        while len(subgroups) == 1:  # HDBSCAN peels concepts off one by one: a chain reads better as one section
            members += subgroups[0]["members"]
            subgroups = subgroups[0]["subgroups"]
        return {**group, "members": sorted(members, key=lambda c: position[c["id"]]), "subgroups": subgroups}

    top = [node(g) for g in groups if g["parent"] == -1 and any(c in by_id for c in g["concepts"])]
    top.sort(key=lambda g: min(position[c] for c in g["concepts"] if c in position))  # in the sort's order
    return top + ([{"id": None, "title": "Not in a group", "members": direct[-1], "subgroups": [], "size": None}]
                  if direct.get(-1) else [])


@concept_pages.get("/concepts/<int(signed=True):concept_id>")
def concept_page(concept_id: int):
    library = services().library
    current = read.snapshot(library)
    if concept_id == UNSORTED:
        concept: dict = {"id": UNSORTED, "title": "Unsorted", "labels": [], "parent": -1, "cohesion": None,
                   "split_from": None, "merged_from": None,
                   "size": read.list_concepts(library, "size", 0, 0, current).outliers}
        return render_template("concept.html", concept=concept, parent=None, related=[], run=current.run)
    try:
        concept = read.get_concept(library, concept_id, current)
    except read.RetiredConcept as retired:
        if retired.went_to is None:
            raise
        return redirect(url_for("concept_pages.concept_page", concept_id=retired.went_to, retired=concept_id), 301)
    groups = {g["id"]: g for g in read.concept_groups(library, current)}
    siblings: list[int] = concept.get("siblings") or []
    related_ids = [i for i in [concept.get("nearest"), *siblings] if i is not None]
    related = [_maybe_concept(library, i, current) for i in dict.fromkeys(related_ids)]
    return render_template("concept.html", concept=concept, parent=groups.get(concept.get("parent", -1)),
                           related=[c for c in related if c], run=current.run,
                           sizes=read.size_over_runs(library, concept_id),
                           retired=request.args.get("retired", type=int))


def _maybe_concept(library, concept_id: int, current) -> dict | None:
    try:
        return read.get_concept(library, concept_id, current)
    except NotFoundError:
        return None
