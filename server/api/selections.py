"""Selections: named sets of images people gather (accepted / rejected / seen), gathering more like them, and
searching within them (`/api/search?selection=NAME`). Reading needs the read role, changing the editor role."""

from __future__ import annotations

import marshmallow as ma
from flask import url_for

from indexer import selections
from indexer.concepts import map_data
from indexer.concepts.read import concept_filter

from ..auth import who
from ..openapi import CSRF_REFUSED, EDIT, NOT_FOUND, Query, access, integer, pattern, text
from .base import AREA, ID_PATTERN, MAX_PAGE, Image, answer_run, api, image_json, services

F = ma.fields
STATE = ma.validate.OneOf(selections.STATES, error="must be one of " + ", ".join(selections.STATES))


class SavedQuery(ma.Schema):
    q = text(500, "Words, as in a search")
    like = F.List(pattern(ID_PATTERN), load_default=list)
    unlike = F.List(pattern(ID_PATTERN), load_default=list)


class Selection(ma.Schema):
    name = F.String(required=True)
    created_at = F.String()
    created_by = F.String(metadata={"description": "The role that made it: reader, editor or admin"})
    changed_at = F.String()
    changed_by = F.String()
    accepted = F.Integer(metadata={"description": "Images in the selection"})
    rejected = F.Integer(metadata={"description": "Images turned down (left out of gathering and saved searches)"})
    seen = F.Integer(metadata={"description": "Candidates passed without a decision (not offered again)"})
    query = F.Nested(SavedQuery, allow_none=True, metadata={"description": "A saved search: evaluated again as the "
                                                                            "library grows, less the rejected images"})
    url = F.String()


class SelectionList(ma.Schema):
    selections = F.List(F.Nested(Selection))


class NewSelection(ma.Schema):
    name = text(selections.MAX_NAME, "Letters, digits, spaces and - _ . , ' ( ) +", required=True)
    query = F.Nested(SavedQuery, allow_none=True, load_default=None)


class Change(ma.Schema):
    ids = F.List(pattern(ID_PATTERN), load_default=list, metadata={
        "description": f"Image IDs (at most {selections.MAX_CHANGE:,} per request)"})
    concept = integer(-1, 2**31, "Every image of this concept of the published run, instead of ids", allow_none=True)
    area = AREA
    state = F.String(allow_none=True, required=True, validate=STATE, metadata={
        "description": "accepted, rejected or seen; null takes the images out of the selection"})


class MembersQuery(Query):
    state = F.String(load_default=selections.ACCEPTED, validate=STATE)
    limit = integer(1, MAX_PAGE, load_default=60)
    offset = integer(0, 10**7, load_default=0)


class Members(ma.Schema):
    selection = F.Nested(Selection)
    state = F.String()
    total = F.Integer()
    images = F.List(F.Nested(Image))
    next_offset = F.Integer(allow_none=True)


class GatherQuery(Query):
    limit = integer(1, MAX_PAGE, load_default=24)


class Candidates(ma.Schema):
    selection = F.Nested(Selection)
    candidates = F.List(F.Nested(Image), metadata={"description": "Best first; none of them marked yet"})
    has_more = F.Boolean()
    scores = F.List(F.Float(), metadata={"description": "How the best remaining candidates' scores fall (the first "
                                                        f"{selections.SCORE_CURVE})"})
    threshold = F.Float(allow_none=True, metadata={"description": "Where search's relevance cutoff would end them"})
    unmarked = F.Integer(metadata={"description": "Images not marked yet; those not among the candidates are more "
                                                  "like a rejected image than like any accepted one"})


def selection_json(selection: selections.Selection) -> dict:
    return {**selection.to_dict(), "url": url_for("selection_pages.selection_page", name=selection.name)}


@api.get("/selections", tags=["selections"])
@api.response(200, SelectionList)
@access(api)
def list_selections():
    """Every selection, the most recently changed first"""
    return {"selections": [selection_json(s) for s in selections.list_all(services().library)]}


@api.post("/selections", tags=["selections"])
@api.arguments(NewSelection)
@api.response(201, Selection)
@access(api, EDIT, {409: "A selection of that name exists", **CSRF_REFUSED})
def create_selection(body: dict):
    """Make a selection (empty, or a saved search with `query`)"""
    return selection_json(selections.create(services().library, body["name"], who(), body.get("query"))), 201


@api.get("/selections/<name>", tags=["selections"])
@api.response(200, Selection)
@access(api, errors=NOT_FOUND)
def get_selection(name: str):
    """One selection's counts and history"""
    return selection_json(selections.get(services().library, name))


@api.delete("/selections/<name>", tags=["selections"])
@api.response(204)
@access(api, EDIT, {**NOT_FOUND, **CSRF_REFUSED})
def delete_selection(name: str):
    """Delete a selection (its images stay indexed)"""
    selections.delete(services().library, name)
    return "", 204


@api.get("/selections/<name>/images", tags=["selections"])
@api.arguments(MembersQuery, location="query")
@api.response(200, Members)
@access(api, errors=NOT_FOUND)
def selection_images(query: dict, name: str):
    """A page of the selection's images in one state, in the order they were marked"""
    library = services().library
    page = selections.members_page(library, name, query["state"], query["offset"], query["limit"])
    return {"selection": selection_json(selections.get(library, name)), "state": query["state"], "total": page.total,
            "images": [image_json(p.id, p.payload) for p in page.images], "next_offset": page.next_offset}


@api.post("/selections/<name>/images", tags=["selections"])
@api.arguments(Change)
@api.response(200, Selection)
@access(api, EDIT, {**NOT_FOUND, **CSRF_REFUSED})
def change_selection(body: dict, name: str):
    """Mark images (by ID, a whole concept, or an area of the map) accepted, rejected or seen, or take them out
    (state null)"""
    library = services().library
    if body.get("area"):
        return selection_json(selections.mark_many(library, name, map_data.ids_in_area(library, body["area"]),
                                                   body["state"], who()))
    if body.get("concept") is not None:
        where = concept_filter(library, body["concept"], answer_run(required=True))
        return selection_json(selections.mark_where(library, name, where, body["state"], who()))
    return selection_json(selections.mark(library, name, body["ids"], body["state"], who()))


@api.get("/selections/<name>/gather", tags=["selections"])
@api.arguments(GatherQuery, location="query")
@api.response(200, Candidates)
@access(api, errors={**NOT_FOUND, 400: "The selection has no accepted images to gather from"})
def gather(query: dict, name: str):
    """The next candidates: more like the accepted images, less like the rejected ones, none marked yet"""
    page = selections.gather(services().library, name, query["limit"])
    return {"selection": selection_json(page.selection),
            "candidates": [image_json(r.id, r.payload, r.score) for r in page.candidates.results],
            "has_more": page.candidates.has_more, "scores": page.scores, "threshold": page.threshold,
            "unmarked": page.unmarked}
