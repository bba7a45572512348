"""The admin's view of the library (admin only): where it lives, what it holds, disk use, runs; the failure report."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app, jsonify

from indexer import admin
from indexer.config import runtime_settings

from ..openapi import ADMIN, CSRF_REFUSED, Query, access, integer
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
    return jsonify(admin.overview(services().library, services().watch_state()))


@api.get("/admin/failures", tags=["admin"])
@api.arguments(FailuresQuery, location="query")
@api.response(200, FailureReport, description="The files indexing could not read, with reasons")
@access(api, ADMIN)
def failures(query: dict):
    """The failure report of indexing, filtered"""
    return admin.failures(services().library, query["contains"], query["limit"])


class SettingRow(ma.Schema):
    name = ma.fields.String()
    help = ma.fields.String()
    value = ma.fields.String(metadata={"description": "As typed: 6h, off, 0.05"})
    source = ma.fields.String(metadata={"description": "environment, saved or default"})
    variable = ma.fields.String(metadata={"description": "The environment variable that would set it"})
    editable = ma.fields.Boolean(metadata={"description": "False where the environment sets it"})


class SettingRows(ma.Schema):
    settings = ma.fields.List(ma.fields.Nested(SettingRow))


class SettingChanges(ma.Schema):
    settings = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.Length(max=100)),
                              values=ma.fields.String(validate=ma.validate.Length(max=100)), required=True,
                              metadata={"description": "{name: value as typed}; a blank value goes back to the "
                                                       "default"})


@api.get("/admin/settings", tags=["admin"])
@api.response(200, SettingRows, description="The schedule and the settings a running server may change")
@access(api, ADMIN)
def settings():
    """The schedule and the settings a running server may change, with where each comes from"""
    return {"settings": runtime_settings(services().whole_library.settings)}


@api.put("/admin/settings", tags=["admin"])
@api.arguments(SettingChanges)
@api.response(200, SettingRows, description="Saved (they hold after a restart) and in effect")
@access(api, ADMIN, CSRF_REFUSED)
def change_settings_now(body: dict):
    """Change the schedule and settings: saved in the data folder and applied at once"""
    return {"settings": runtime_settings(services().change_settings(current_app, body["settings"]))}
