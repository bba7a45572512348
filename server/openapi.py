"""The API's OpenAPI document, built from the same declarations that parse each request.

Every `/api` view is declared with `spec.operation(...)`: its parameters (which the wrapper parses and checks, so a
bad value is a 400 before the view runs), its request body and its responses. `/api/openapi.json` is that registry
written out, so the document cannot drift from the code.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import request

from indexer.errors import UsageError


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict
    description: str = ""
    required: bool = False
    location: str = "query"  # or "path"
    repeated: bool = False  # ?folder=a&folder=b


def error_schema() -> dict:
    return {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["status", "message"],
        "properties": {"status": {"type": "integer"}, "message": {"type": "string"}}}}}


COMMON_ERRORS = {400: "Bad request", 401: "Missing or wrong token", 429: "Too many requests",
                 500: "Server error", 503: "Not ready"}


@dataclass
class ApiSpec:
    title: str
    version: str
    description: str = ""
    paths: dict = field(default_factory=dict)
    schemas: dict = field(default_factory=dict)

    def schema(self, name: str, definition: dict) -> dict:
        """Register a named schema; returns a $ref to it."""
        self.schemas[name] = definition
        return {"$ref": f"#/components/schemas/{name}"}

    def operation(self, rule: str, method: str, summary: str, *, tags: tuple = (), params: tuple[Param, ...] = (),
                  body: dict | None = None, body_type: str = "application/json", responses: dict | None = None,
                  auth: str | None = "read") -> Callable:
        """Declare one operation; the returned decorator parses its parameters into the view's `query` argument."""
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", "/api" + rule)
        operation: dict[str, Any] = {"summary": summary, "operationId": _operation_id(method, rule),
                                     "tags": list(tags), "responses": {}}
        if params:
            operation["parameters"] = [_param_doc(p) for p in params]
        if body is not None:
            operation["requestBody"] = {"required": True, "content": {body_type: {"schema": body}}}
        for status, response in {**(responses or {})}.items():
            operation["responses"][str(status)] = _response_doc(response)
        for status, text in COMMON_ERRORS.items():
            if auth is None and status == 401:
                continue
            operation["responses"].setdefault(str(status), _response_doc(text))
        if auth == "admin":
            operation["responses"].setdefault("403", _response_doc("The token may read but not run jobs"))
        if auth:
            operation["security"] = [{"bearer": []}, {"cookie": []}]
        else:
            operation["security"] = []
        if method.upper() == "POST" and auth:
            operation["responses"].setdefault("403", _response_doc("Missing CSRF token (cookie sessions)"))
        self.paths.setdefault(path, {})[method.lower()] = operation
        query_params = tuple(p for p in params if p.location == "query")

        def decorate(view):
            @functools.wraps(view)
            def wrapper(**kwargs):
                return view(query=parse_query(query_params), **kwargs)

            wrapper.auth_level = auth
            return wrapper

        return decorate

    def document(self) -> dict:
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version, "description": self.description},
            "paths": self.paths,
            "components": {
                "schemas": {"Error": error_schema(), **self.schemas},
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer",
                               "description": "PIXCEPT_READ_TOKEN to read; PIXCEPT_ADMIN_TOKEN for jobs."},
                    "cookie": {"type": "apiKey", "in": "cookie", "name": "pixcept_session",
                               "description": "Set by /login; POST requests then need the X-CSRF-Token header."},
                },
            },
        }


def _operation_id(method: str, rule: str) -> str:
    words = [w for w in re.split(r"[^a-zA-Z]+", re.sub(r"<(?:\w+:)?(\w+)>", r"by_\1", rule)) if w]
    return method.lower() + "_" + "_".join(words)


def _param_doc(p: Param) -> dict:
    schema = {"type": "array", "items": p.schema} if p.repeated else p.schema
    doc = {"name": p.name, "in": p.location, "required": p.required or p.location == "path", "schema": schema}
    if p.description:
        doc["description"] = p.description
    if p.repeated:
        doc.update(style="form", explode=True)
    return doc


def _response_doc(response) -> dict:
    if isinstance(response, str):
        return {"description": response,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    description, content_type, schema = response
    return {"description": description, "content": {content_type: {"schema": schema}}}


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, newline and return pass: they are spaces here


def parse_query(params: tuple[Param, ...]) -> dict:
    """The declared query parameters of this request, typed and range-checked (UsageError -> 400)."""
    values = {}
    for p in params:
        raw = request.args.getlist(p.name)
        if not raw:
            if p.required:
                raise UsageError(f"The parameter `{p.name}` is required.")
            values[p.name] = [] if p.repeated else p.schema.get("default")
            continue
        converted = [_convert(p.name, p.schema, r) for r in raw]
        values[p.name] = converted if p.repeated else converted[-1]
    return values


def _convert(name: str, schema: dict, raw: str):
    kind = schema.get("type", "string")
    try:
        if kind == "integer":
            value = int(raw)
        elif kind == "number":
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
        elif kind == "boolean":
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            value = raw.lower() in ("true", "1")
        else:
            value = raw
    except ValueError:
        raise UsageError(f"`{name}` must be {'an' if kind == 'integer' else 'a'} {kind}, not {raw[:40]!r}.") from None
    if "minimum" in schema and value < schema["minimum"] or "maximum" in schema and value > schema["maximum"]:
        low, high = schema.get("minimum", "-inf"), schema.get("maximum", "inf")
        raise UsageError(f"`{name}` must be between {low} and {high}.")
    if kind == "string":
        if _CONTROL.search(value):
            raise UsageError(f"`{name}` contains control characters.")
        if len(value) > schema.get("maxLength", 10_000):
            raise UsageError(f"`{name}` is too long (limit {schema['maxLength']} characters).")
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            raise UsageError(f"`{name}` is not valid: {value[:40]!r}.")
        if "enum" in schema and value not in schema["enum"]:
            raise UsageError(f"`{name}` must be one of {', '.join(schema['enum'])}.")
    return value
