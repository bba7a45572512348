"""Logs: every request gets an ID (the client's X-Request-ID when it is a plain token, else a new one), sent back in
X-Request-ID and carried by every log line written while the request runs. With `server.log_format = json` each line
is one JSON object (time, level, logger, message, request_id, and the access line's method, path, status, seconds),
for log collectors; the access log is then written here instead of by gunicorn."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_request_context, request

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
access_log = logging.getLogger("pixcept.access")


class RequestIdFilter(logging.Filter):
    """Adds the current request's ID to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(logging.Formatter):
    FIELDS = ("method", "path", "status", "seconds", "remote")  # the access line's

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                "logger": record.name, "message": record.getMessage(),
                "request_id": getattr(record, "request_id", None)}
        line |= {key: getattr(record, key) for key in self.FIELDS if hasattr(record, key)}
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


def configure(log_format: str) -> None:
    """Log lines to stderr as `log_format` says (text or json), each with its request's ID."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)


def install(app: Flask, log_format: str, quiet: bool) -> None:
    """Request IDs on `app`; with json, its access log too (one line per request)."""

    @app.before_request
    def _request_id():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _answer_with_id(response):
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
            if log_format == "json" and not quiet:
                access_log.info("%s %s %s", request.method, request.path, response.status_code, extra={
                    "method": request.method, "path": request.path, "status": response.status_code,
                    "seconds": round(time.perf_counter() - g.request_started, 4), "remote": request.remote_addr})
        return response
