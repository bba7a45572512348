"""The admin's view of the library (admin only): where it lives, what it holds, disk use, runs; the failure report."""

from __future__ import annotations

import marshmallow as ma
from flask import jsonify

from indexer import admin

from ..openapi import ADMIN, Query, access, integer
from .base import api, services

OBJECT = {"type": "object"}


class FailuresQuery(Query):
    contains = ma.fields.String(load_default="", validate=ma.validate.Length(max=500),
                                metadata={"description": "Only files whose path or reason holds this"})
    limit = integer(1, admin.MAX_FAILURES, load_default=200)


class FailureReport(ma.Schema):
    total = ma.fields.Integer(metadata={"description": "Files that failed, in all"})
    matching = ma.fields.Integer(metadata={"description": "Of those, the ones that match `contains`"})
    files = ma.fields.List(ma.fields.Dict(), metadata={"description": "{path, reason}, by path"})


@api.get("/admin/overview", tags=["admin"])
@api.response(200, OBJECT, description="Model, store, counts, folders, disk use per part, the last concept run")
@access(api, ADMIN)
def overview():
    """The library at a glance, for its admin"""
    return jsonify(admin.overview(services().library))


@api.get("/admin/failures", tags=["admin"])
@api.arguments(FailuresQuery, location="query")
@api.response(200, FailureReport, description="The files indexing could not read, with reasons")
@access(api, ADMIN)
def failures(query: dict):
    """The failure report of indexing, filtered"""
    return admin.failures(services().library, query["contains"], query["limit"])
