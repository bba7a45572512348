"""Health, readiness, status, session and the OpenAPI document itself."""

from __future__ import annotations

from flask import jsonify, make_response, render_template

from .. import auth
from .base import json_content, api, services, spec


# -- health -----------------------------------------------------------------------------------------------------------

@api.get("/health")
@spec.operation("/health", "GET", "Liveness: the process answers", tags=("status",), auth=None,
                responses={200: json_content("Alive", {"type": "object"})})
def health(query):
    return {"status": "ok"}


@api.get("/ready")
@spec.operation("/ready", "GET", "Readiness: store open and model warm", tags=("status",), auth=None,
                responses={200: json_content("Ready", {"type": "object"})})
def ready(query):
    if not services().ready:
        return {"error": {"status": 503, "message": "Starting: opening the library and loading the model."}}, 503
    return {"ready": True}


@api.get("/folders")
@spec.operation("/folders", "GET", "The indexed folders", tags=("images",),
                responses={200: json_content("Folders", {"type": "object", "properties": {
                    "folders": {"type": "array", "items": {"type": "string"}}}})})
def folders(query):
    return {"folders": services().library.manifest.get("roots", [])}


@api.get("/status")
@spec.operation("/status", "GET", "What the library holds and which model reads it", tags=("status",),
                responses={200: json_content("Status", {"type": "object"})})
def status(query):
    runner = services().runner
    return {**services().library.status(), "jobs": [j.to_dict() for j in runner.list(limit=5)] if runner else []}


@api.get("/session")
@spec.operation("/session", "GET", "This session's CSRF token and access level", tags=("status",), auth=None,
                responses={200: json_content("Session", {"type": "object", "properties": {
                    "csrf_token": {"type": "string"}, "level": {"type": ["string", "null"]}}})})
def session_info(query):
    return {"csrf_token": auth.csrf_token(), "level": auth.current_level()}


@api.get("/openapi.json")
@spec.operation("/openapi.json", "GET", "This document", tags=("status",), auth=None,
                responses={200: json_content("OpenAPI 3.1", {"type": "object"})})
def openapi(query):
    return jsonify(spec.document())


# ReDoc styles itself at run time (inline styles) and renders in a worker: this page alone allows both.
DOCS_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
               "worker-src 'self' blob:; font-src 'self' data:; frame-ancestors 'none'")


@api.get("/docs")
@spec.operation("/docs", "GET", "This document for people (HTML, rendered by the vendored ReDoc)", tags=("status",),
                auth=None, responses={200: ("The reference", "text/html", {"type": "string"})})
def docs(query):
    response = make_response(render_template("api_docs.html"))
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response
