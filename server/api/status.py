"""Health, readiness, status, session and the OpenAPI document itself."""

from __future__ import annotations

import marshmallow as ma
from flask import jsonify, make_response, render_template
from flask_smorest import current_api
from werkzeug.exceptions import ServiceUnavailable

from indexer.status import library_status

from .. import auth
from ..openapi import access
from .base import api, services

OBJECT = {"type": "object"}


class Folders(ma.Schema):
    folders = ma.fields.List(ma.fields.String())


class SessionInfo(ma.Schema):
    csrf_token = ma.fields.String(required=True)
    level = ma.fields.String(allow_none=True)


# -- health -----------------------------------------------------------------------------------------------------------

@api.get("/health", tags=["status"])
@api.response(200, OBJECT, description="Alive")
@access(api, None)
def health():
    """Liveness: the process answers"""
    return jsonify({"status": "ok"})


@api.get("/ready", tags=["status"])
@api.response(200, OBJECT, description="Ready")
@access(api, None)
def ready():
    """Readiness: store open and model warm"""
    if not services().ready:
        raise ServiceUnavailable("Starting: opening the library and loading the model.")
    return jsonify({"ready": True})


@api.get("/folders", tags=["images"])
@api.response(200, Folders, description="Folders")
@access(api)
def folders():
    """The indexed folders"""
    return {"folders": services().library.manifest.get("roots", [])}


@api.get("/status", tags=["status"])
@api.response(200, OBJECT, description="Status")
@access(api)
def status():
    """What the library holds, its concepts and which model reads it; for admins also where it lives, its folders,
    failures and recent jobs"""
    admin = auth.current_level() == auth.ADMIN
    info = library_status(services().library, detail=admin)
    runner = services().runner
    if admin:
        info["jobs"] = [j.to_dict() for j in runner.list(limit=5)] if runner else []
    return jsonify(info)


@api.get("/session", tags=["status"])
@api.response(200, SessionInfo, description="Session")
@access(api, None)
def session_info():
    """This session's CSRF token and access level"""
    return {"csrf_token": auth.csrf_token(), "level": auth.current_level()}


@api.get("/openapi.json", tags=["status"])
@api.response(200, OBJECT, description="OpenAPI 3.1")
@access(api, None)
def openapi():
    """This document"""
    return jsonify(current_api.spec.to_dict())


# ReDoc styles itself at run time (inline styles) and renders in a worker: this page alone allows both.
DOCS_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
               "worker-src 'self' blob:; font-src 'self' data:; frame-ancestors 'none'")


@api.get("/docs", tags=["status"])
@api.response(200, {"type": "string"}, content_type="text/html", description="The reference")
@access(api, None)
def docs():
    """This document for people (HTML, rendered by the vendored ReDoc)"""
    response = make_response(render_template("api_docs.html"))
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response
