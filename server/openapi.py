"""The JSON API's plumbing on flask-smorest: request parsing (webargs + marshmallow), the OpenAPI document (apispec),
and the few rules of ours that no library states: pixcept's error body, control characters, who may call what.

A view declares its query with `@api.arguments(Schema, location="query")` and its answer with `@api.response(...)`;
both parse/serialise and document, so `/api/openapi.json` cannot drift from the code. `access(...)` adds what every
operation shares: its security and the error answers it can give.
"""

from __future__ import annotations

import re
from typing import Callable

import marshmallow as ma
from flask_smorest import Api, Blueprint
from webargs.flaskparser import FlaskParser

from indexer.errors import UsageError

from .auth import ADMIN, EDIT, READ

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, newline and return pass: they are spaces here


class ErrorBody(ma.Schema):
    class Detail(ma.Schema):
        status = ma.fields.Integer(required=True)
        message = ma.fields.String(required=True)

    error = ma.fields.Nested(Detail, required=True)


class PixceptApi(Api):
    """flask-smorest's Api with pixcept's error body; the app's own handlers (app.py) write it."""

    ERROR_SCHEMA = ErrorBody

    def _register_error_handlers(self):  # app.py renders errors as JSON or HTML pages alike
        pass


class ApiParser(FlaskParser):
    """webargs' parser with pixcept's 400 and message style: "`limit`: must be ..." for the first bad field."""

    DEFAULT_VALIDATION_STATUS = 400

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        raise UsageError(_first_message(error.normalized_messages()))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise UsageError("The body is not valid JSON.")


def _first_message(messages) -> str:
    """webargs nests messages as {location: {field: [message]}} (lists: {index: [...]}): the first, with its field."""
    name = ""
    while isinstance(messages, (dict, list)) and messages:
        if isinstance(messages, list):
            messages = messages[0]
            continue
        key, messages = next(iter(messages.items()))
        name = key if isinstance(key, str) and key not in ("query", "json", "form", "files", "_schema") else name
    text = str(messages).rstrip(".")
    return f"`{name}`: {text[:1].lower()}{text[1:]}." if name else f"{text}."


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = ApiParser()


class Query(ma.Schema):
    """A query string: unknown parameters are ignored, strings with control characters refused."""

    class Meta:
        unknown = ma.EXCLUDE

    @ma.validates_schema
    def _no_control_characters(self, data: dict, **kwargs) -> None:
        for name, value in data.items():
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str) and _CONTROL.search(text):
                    raise ma.ValidationError("contains control characters", name)


def _doc(description: str) -> dict:
    return {"description": description} if description else {}


def text(max_length: int, description: str = "", **kwargs) -> ma.fields.String:
    too_long = ma.validate.Length(max=max_length, error="is too long (limit {max} characters)")
    return ma.fields.String(validate=too_long, metadata=_doc(description), **kwargs)


def pattern(regex: str, description: str = "", **kwargs) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Regexp(f"^{regex}$", error="is not valid"),
                            metadata=_doc(description), **kwargs)


def _between(low: float, high: float) -> ma.validate.Range:
    return ma.validate.Range(low, high, error="must be between {min} and {max}")


def integer(low: int, high: int, description: str = "", **kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(validate=_between(low, high), error_messages={"invalid": "must be an integer"},
                             metadata=_doc(description), **kwargs)


def number(low: float, high: float, description: str = "", **kwargs) -> ma.fields.Float:
    return ma.fields.Float(allow_nan=False, validate=_between(low, high),
                           error_messages={"invalid": "must be a number", "special": "must be a number"},
                           metadata=_doc(description), **kwargs)


def repeated(field: ma.fields.Field, description: str = "") -> ma.fields.List:
    """?name=a&name=b"""
    return ma.fields.List(field, load_default=list, metadata=_doc(description))


CSRF_REFUSED = {403: "Missing CSRF token (cookie sessions)"}  # POSTs with a session cookie
NOT_FOUND = {404: "Not found"}
NO_CONCEPTS = {409: "The library has no concepts yet (`pixcept cluster`)"}
COMMON_ERRORS = {400: "Bad request", 401: "Missing or wrong token", 429: "Too many requests", 500: "Server error",
                 503: "Not ready"}
BINARY = {"type": "string", "format": "binary"}


def access(blueprint: Blueprint, level: str | None = READ, errors: dict[int, str] | None = None) -> Callable:
    """Who may call the view (None: anyone, READ, EDIT, ADMIN; the app's guard enforces it) and the errors it
    answers with, both into the document."""
    documented = {**COMMON_ERRORS, **(errors or {})}
    if level is None:
        documented.pop(401)
    if level == ADMIN:
        documented.setdefault(403, "The token may read but not run jobs")
    if level == EDIT:
        documented.setdefault(403, "The token may read but not change selections")

    def decorate(view: Callable) -> Callable:
        for status, description in documented.items():
            view = blueprint.alt_response(status, schema=ErrorBody, description=description)(view)
        view = blueprint.doc(security=[{"bearer": []}, {"cookie": []}] if level else [])(view)
        setattr(view, "auth_level", level)  # read by the app's guard
        return view

    return decorate


def opens_with_export_token(view: Callable) -> Callable:
    """The view also answers a request with an export token for its image (`?export_token=`: the app's guard checks
    it) in place of credentials."""
    setattr(view, "opens_with_export_token", True)
    return view


SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "PIXCEPT_READ_TOKEN to read; PIXCEPT_EDIT_TOKEN to change selections; "
                              "PIXCEPT_ADMIN_TOKEN for jobs (and all else)."},
    "cookie": {"type": "apiKey", "in": "cookie", "name": "pixcept_session",
               "description": "Set by /login; POST requests then need the X-CSRF-Token header."},
}


def install(app, blueprint: Blueprint, title: str, version: str, description: str) -> PixceptApi:
    """Register the API blueprint with its OpenAPI document on `app`."""
    app.config.update(API_TITLE=title, API_VERSION=version, OPENAPI_VERSION="3.1.0",
                      API_SPEC_OPTIONS={"info": {"description": description}})
    ext = PixceptApi(app)
    for name, scheme in SECURITY_SCHEMES.items():
        ext.spec.components.security_scheme(name, scheme)
    ext.register_blueprint(blueprint)
    return ext
