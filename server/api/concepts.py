"""Concepts: the published run's concepts (paged, sortable), one concept with its members, text/image -> concept
search, montages, and the run history."""

from __future__ import annotations

import marshmallow as ma
from flask import redirect, send_file, url_for

from indexer.concepts import read
from indexer.errors import NotFoundError, UsageError
from indexer.search import MAX_EXAMPLES, RELATIVE_CUTOFF

from ..openapi import BINARY, NO_CONCEPTS, NOT_FOUND, Query, access, integer, number, pattern, repeated, text
from .base import ID_PATTERN, UPLOAD_PATTERN, Image, answer_run, api, image_json, matches, services

F = ma.fields
CONCEPT_PATTERN = r"-?[0-9]{1,9}"
# the path parameter as the document states it: a number, so no client reads /concepts/search as concept "search"
CONCEPT_PATH = [{"in": "path", "name": "concept_id", "required": True,
                 "schema": {"type": "string", "pattern": f"^{CONCEPT_PATTERN}$"}}]
LABELS = "[word, score], best first"


class Concept(ma.Schema):
    id = F.Integer(required=True)
    title = F.String(metadata={"description": "The curated name, else the labels that hold for most of its images "
                                              "(\"mixed, ...\" when none does)"})
    name = F.String(allow_none=True)
    labels = F.List(F.List(F.Raw()), required=True, metadata={"description": LABELS})
    held = F.Integer(allow_none=True, metadata={
        "description": "How many of the first labels hold for most of its images (a search for each would show "
                       "them); 0: none does"})
    mixed = F.Boolean(metadata={"description": "No word describes most of its images: the title says so"})
    ctfidf_labels = F.List(F.List(F.Raw()), metadata={"description": LABELS + " (from the members' tags)"})
    size = F.Integer(required=True)
    exemplars = F.List(F.String(), metadata={"description": "Image IDs, most typical first"})
    parent = F.Integer(metadata={"description": "Its group in the concept hierarchy (-1: none); see /concepts/groups"})
    siblings = F.List(F.Integer())
    threshold = F.Float(allow_none=True, metadata={"description": "Similarity needed to join it between runs"})
    cohesion = F.Float(allow_none=True)
    separation = F.Float(allow_none=True)
    nearest = F.Integer(allow_none=True)
    label_margin = F.Float(allow_none=True)
    split_from = F.Integer(allow_none=True)
    merged_from = F.List(F.Integer(), allow_none=True)
    hidden = F.Boolean()
    created_at = F.String(allow_none=True)
    updated_at = F.String(allow_none=True)
    run = F.Integer(allow_none=True)
    score = F.Float()
    montage_url = F.String()


class ConceptList(ma.Schema):
    run = F.Integer()
    total = F.Integer()
    outliers = F.Integer(metadata={"description": "Images in no concept"})
    concepts = F.List(F.Nested(Concept))


class Member(Image):
    nearest_concept = F.Dict(allow_none=True, metadata={
        "description": "Images in no concept (-1): the concept it is most similar to, {id, title, score}"})


class ConceptDetail(Concept):
    size_over_runs = F.List(F.Dict(), metadata={"description": "Its size in each kept run: {run, size}, oldest first"})
    members = F.List(F.Nested(Member))
    members_total = F.Integer()
    next_offset = F.Integer(allow_none=True)


class Paging(Query):
    offset = integer(0, 10_000_000, load_default=0)
    limit = integer(1, 500, load_default=100)


class ConceptListQuery(Paging):
    sort = F.String(validate=ma.validate.OneOf(read.SORTS), load_default="size")


class ConceptSearchQuery(Query):
    q = text(500, "Words.", load_default="")
    upload = repeated(pattern(UPLOAD_PATTERN), "Uploaded query images.")
    like = repeated(pattern(ID_PATTERN), "Indexed images: concepts like them.")
    limit = integer(1, 100, load_default=10)
    cutoff = number(0, 1, "Keep the concepts that stand out (relative to the top score; 0 keeps the nearest "
                          "`limit`).", load_default=RELATIVE_CUTOFF)


CONCEPT_ERRORS = {**NOT_FOUND, **NO_CONCEPTS}  # one concept: missing, or no concepts at all


def concept_with_urls(concept: dict) -> dict:
    return {**concept, "montage_url": url_for("api.concept_montage", concept_id=concept["id"])}


def concept_number(text: str) -> int:
    if not matches(CONCEPT_PATTERN, text):
        raise NotFoundError(f"No concept {text[:20]!r}.")
    return int(text)


@api.get("/concepts", tags=["concepts"])
@api.arguments(ConceptListQuery, location="query")
@api.response(200, ConceptList, description="Concepts")
@access(api, errors=NO_CONCEPTS)
def concepts(query: dict):
    """The concepts of the published run"""
    page = read.list_concepts(services().library, query["sort"], query["offset"], query["limit"])
    return {"run": page.run, "total": page.total, "outliers": page.outliers,
            "concepts": [concept_with_urls(c) for c in page.concepts]}


class ConceptMatches(ma.Schema):
    concepts = F.List(F.Nested(Concept))
    no_good_match = F.Boolean(metadata={"description": "The library holds nothing like the query (as image search "
                                                       "judges it): the concepts are the closest few, weak "
                                                       "(cutoff=0 lists the nearest regardless)"})


@api.get("/concepts/search", tags=["concepts"])
@api.arguments(ConceptSearchQuery, location="query")
@api.response(200, ConceptMatches, description="Concepts, best first")
@access(api, errors=NO_CONCEPTS)
def search_concepts(query: dict):
    """Concepts nearest to words, uploaded images and/or indexed images, best first"""
    uploads, like = tuple(query["upload"][:MAX_EXAMPLES]), tuple(query["like"][:MAX_EXAMPLES])
    if not (query["q"] or "").strip() and not uploads and not like:
        raise UsageError("Give words (q), an uploaded image (upload) or an indexed image (like) to search concepts by.")
    vector = services().query(query["q"] or "", uploads, like).vector
    found = read.search_concepts(services().library, vector, query["limit"], query["cutoff"] or None,
                                 answer_run(required=True))
    return {"concepts": [concept_with_urls(c) for c in found.concepts], "no_good_match": found.no_good_match}


class Runs(ma.Schema):
    runs = F.List(F.Dict(), metadata={"description": "Oldest first: run, kind, time, counts, model, ..."})


@api.get("/concepts/runs", tags=["concepts"])
@api.response(200, Runs, description="Runs")
@access(api)
def concept_runs():
    """Every concept run (published, skipped, relabelled, rolled back)"""
    return {"runs": read.history(services().library)}


class Group(ma.Schema):
    id = F.Integer(required=True, metadata={"description": "Stable across runs while it holds the same concepts"})
    parent = F.Integer(metadata={"description": "-1 at the top"})
    children = F.List(F.Integer(), metadata={"description": "Its sub-groups"})
    concepts = F.List(F.Integer(), metadata={"description": "Every concept under it"})
    size = F.Integer()
    labels = F.List(F.List(F.Raw()), metadata={"description": LABELS})
    title = F.String()
    parts = F.List(F.String(), metadata={"description": "When mixed: its largest concepts' headings"})
    held = F.Integer(allow_none=True, metadata={
        "description": "How many of the first labels hold for most of its images (a search for each would show "
                       "them); 0: none does"})
    mixed = F.Boolean(metadata={"description": "No word describes most of its images: the title says so"})


class Groups(ma.Schema):
    groups = F.List(F.Nested(Group), metadata={"description": "Broad to fine"})


@api.get("/concepts/groups", tags=["concepts"])
@api.response(200, Groups, description="The hierarchy")
@access(api, errors=NO_CONCEPTS)
def concept_groups():
    """The concept hierarchy: groups of concepts that HDBSCAN's tree joins, broad to fine"""
    return {"groups": read.concept_groups(services().library)}


@api.get("/concepts/<concept_id>", tags=["concepts"], parameters=CONCEPT_PATH)
@api.arguments(Paging, location="query")
@api.response(200, ConceptDetail, description="The concept")
@api.alt_response(301, description="Retired: redirects to the concept that took its images", success=True)
@access(api, errors=CONCEPT_ERRORS)
def concept(query: dict, concept_id: str):
    """One concept with a page of its members (-1: images in no concept)

    A retired ID redirects to the concept that took most of its images."""
    library = services().library
    number = concept_number(concept_id)
    current = answer_run(required=True)  # the concept, its members and their concepts from the same run
    if number == -1:
        info = {"id": -1, "title": "Unsorted", "labels": [], "size": 0, "exemplars": []}
    else:
        try:
            info = concept_with_urls(read.get_concept(library, number, current))
        except read.RetiredConcept as retired:
            if retired.went_to is None:
                raise
            return redirect(url_for("api.concept", concept_id=retired.went_to), 301)
    members, total = read.concept_members(library, number, query["offset"], query["limit"], current)
    end = query["offset"] + len(members)
    nearest = read.nearest_concepts(library, [p.id for p in members], current) if number == -1 else {}
    return {**info, "size": total if number == -1 else info["size"],
            "size_over_runs": read.size_over_runs(library, number),
            "members": [{**image_json(p.id, p.payload), "nearest_concept": nearest.get(p.id)} for p in members],
            "members_total": total,
            "next_offset": end if end < total else None}


@api.get("/concepts/<concept_id>/montage", tags=["concepts"], parameters=CONCEPT_PATH)
@api.response(200, BINARY, content_type="image/jpeg", description="JPEG")
@access(api, errors=CONCEPT_ERRORS)
def concept_montage(concept_id: str):
    """The concept's montage of exemplars (JPEG)"""
    return send_file(read.montage_path(services().library, concept_number(concept_id)), mimetype="image/jpeg",
                     max_age=3600)
