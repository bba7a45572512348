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
        page, tree = read.concept_grid(library, sort)
    except NoConceptsError as error:
        return render_template("concepts.html", empty=str(error), sort=sort)
    return render_template("concepts.html", page=page, sort=sort, tree=tree, filter=request.args.get("q", ""))


@concept_pages.get("/concepts/<int(signed=True):concept_id>")
def concept_page(concept_id: int):
    library = services().library
    try:
        current = read.snapshot(library)
    except NoConceptsError as error:  # the page says why, as the grid does
        return render_template("concepts.html", empty=str(error), sort="size"), 200 if concept_id == UNSORTED else 404
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
