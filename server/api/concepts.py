"""Concepts: the published run's concepts (paged, sortable), one concept with its members, text/image -> concept
search, montages, and the run history."""

from __future__ import annotations

from flask import redirect, send_file, url_for

from indexer.concepts import read
from indexer.errors import NotFoundError, UsageError

from ..ratelimit import limit_model_use
from .base import (MAX_QUERY_IMAGES, UPLOAD_PATTERN, Param, api, image_json, json_content, matches, services,
                   spec)

CONCEPT_PATTERN = r"-?[0-9]{1,9}"
CONCEPT = spec.schema("Concept", {"type": "object", "required": ["id", "labels", "size"], "properties": {
    "id": {"type": "integer"}, "title": {"type": "string"}, "name": {"type": ["string", "null"]},
    "labels": {"type": "array", "items": {"type": "array"}}, "size": {"type": "integer"},
    "ctfidf_labels": {"type": "array", "items": {"type": "array"}},
    "exemplars": {"type": "array", "items": {"type": "string"}}, "score": {"type": "number"},
    "cohesion": {"type": ["number", "null"]}, "separation": {"type": ["number", "null"]},
    "label_margin": {"type": ["number", "null"]}, "montage_url": {"type": "string"}}})
CONCEPT_ID = (Param("concept_id", {"type": "string", "pattern": CONCEPT_PATTERN}, location="path"),)
NO_CONCEPTS = {409: "The library has no concepts yet (`pixcept cluster`)"}
PAGING = (Param("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0}),
          Param("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}))


def concept_with_urls(concept: dict) -> dict:
    return {**concept, "montage_url": url_for("api.concept_montage", concept_id=concept["id"])}


def _concept_id(text: str) -> int:
    if not matches(CONCEPT_PATTERN, text):
        raise NotFoundError(f"No concept {text[:20]!r}.")
    return int(text)


@api.get("/concepts")
@spec.operation("/concepts", "GET", "The concepts of the published run", tags=("concepts",),
                params=(Param("sort", {"type": "string", "enum": list(read.SORTS), "default": "size"}),) + PAGING,
                responses={200: json_content("Concepts", {"type": "object", "properties": {
                    "run": {"type": "integer"}, "total": {"type": "integer"}, "outliers": {"type": "integer"},
                    "concepts": {"type": "array", "items": CONCEPT}}}), **NO_CONCEPTS})
def concepts(query):
    page = read.list_concepts(services().library, query["sort"], query["offset"], query["limit"])
    return {"run": page.run, "total": page.total, "outliers": page.outliers,
            "concepts": [concept_with_urls(c) for c in page.concepts]}


@api.get("/concepts/search")
@spec.operation("/concepts/search", "GET", "Concepts nearest to words and/or uploaded images, best first",
                tags=("concepts",), params=(
                    Param("q", {"type": "string", "maxLength": 500, "default": ""}, "Words."),
                    Param("upload", {"type": "string", "pattern": UPLOAD_PATTERN}, "Uploaded query images.",
                          repeated=True),
                    Param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10})),
                responses={200: json_content("Concepts", {"type": "object", "properties": {
                    "concepts": {"type": "array", "items": CONCEPT}}}), **NO_CONCEPTS})
def search_concepts(query):
    uploads = tuple(query["upload"][:MAX_QUERY_IMAGES])
    if not (query["q"] or "").strip() and not uploads:
        raise UsageError("Give words (q) or an uploaded image (upload) to search concepts by.")
    limit_model_use()
    vector = services().query_vector(query["q"] or "", uploads, ())
    return {"concepts": [concept_with_urls(c) for c in read.search_concepts(services().library, vector,
                                                                             query["limit"])]}


@api.get("/concepts/runs")
@spec.operation("/concepts/runs", "GET", "Every concept run (published, skipped, relabelled, rolled back)",
                tags=("concepts",), responses={200: json_content("Runs", {"type": "object", "properties": {
                    "runs": {"type": "array", "items": {"type": "object"}}}})})
def concept_runs(query):
    return {"runs": read.history(services().library)}


@api.get("/concepts/<concept_id>")
@spec.operation("/concepts/<concept_id>", "GET", "One concept with a page of its members (-1: images in no concept);"
                " a retired ID redirects to the concept that took its images", tags=("concepts",),
                params=CONCEPT_ID + PAGING, responses={200: json_content("The concept", CONCEPT), 301: "Retired",
                                                        404: "Not found", **NO_CONCEPTS})
def concept(query, concept_id: str):
    library = services().library
    number = _concept_id(concept_id)
    current = read.snapshot(library)  # the concept and its members from the same run
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
    return {**info, "size": total if number == -1 else info["size"],
            "members": [image_json(p.id, p.payload) for p in members], "members_total": total,
            "next_offset": end if end < total else None}


@api.get("/concepts/<concept_id>/montage")
@spec.operation("/concepts/<concept_id>/montage", "GET", "The concept's montage of exemplars (JPEG)",
                tags=("concepts",), params=CONCEPT_ID,
                responses={200: ("JPEG", "image/jpeg", {"type": "string", "format": "binary"}), 404: "Not found",
                           **NO_CONCEPTS})
def concept_montage(query, concept_id: str):
    return send_file(read.montage_path(services().library, _concept_id(concept_id)), mimetype="image/jpeg",
                     max_age=3600)
