"""The CLI's way into a running `pixcept serve`: when a server holds the library, commands go through its API."""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from indexer.errors import PixceptError
from indexer.filters import SearchFilters
from indexer.lock import live_holder
from indexer.progress import Progress
from server.api import MAX_PAGE
from server.auth import ADMIN_TOKEN_FILE

POLL_SECONDS = 10
RETRY_PAUSE = 1.0
RESTART_TIMEOUT = 180.0  # a restarted worker opens the library and warms the model before it answers


class ServerError(PixceptError):
    """The server answered with an error, or could not be reached."""


class ServerUnreachable(ServerError):
    """No answer: the server stopped, or its worker process died (and gunicorn is restarting it)."""


class ServerClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> "ServerClient | None":
        """The server holding `data_dir` on this machine, if one does, with the admin token it left for its user."""
        info = live_holder(data_dir)
        if not info or not info.get("url"):
            return None
        token = os.environ.get("PIXCEPT_ADMIN_TOKEN")
        token_file = Path(data_dir) / ADMIN_TOKEN_FILE
        if not token and token_file.exists():
            try:
                token = token_file.read_text().strip()
            except OSError:
                token = None
        return cls(info["url"], token)

    def request(self, method: str, path: str, body: dict | None = None, params: dict | list | None = None,
                timeout: float | None = None, raw: tuple[bytes, str] | None = None) -> dict:
        """One API call. A GET that loses its connection is tried once more: gunicorn restarts a worker that died
        (its master keeps the socket, so the retry waits in the queue until the new worker is ready)."""
        try:
            return self._request(method, path, body, params, timeout, raw)
        except ServerUnreachable:
            if method != "GET":
                raise
            time.sleep(RETRY_PAUSE)
            return self._request(method, path, body, params, timeout or RESTART_TIMEOUT, raw)

    def _request(self, method: str, path: str, body: dict | None, params: dict | list | None,
                 timeout: float | None, raw: tuple[bytes, str] | None) -> dict:
        url = self.url + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        elif raw is not None:
            data, headers["Content-Type"] = raw
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {exc.code}"
            if exc.code in (401, 403):
                message += (" The CLI uses PIXCEPT_ADMIN_TOKEN, or the token the server keeps in its data directory "
                            "for the user who started it.")
            error = ServerError(f"The pixcept server at {self.url} answered: {message}")
            error.exit_code = 2 if 400 <= exc.code < 500 else 1
            raise error from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise ServerUnreachable(
                f"Cannot reach the pixcept server at {self.url} ({exc}). Is it still running? If it restarted, "
                "`pixcept jobs` lists its jobs and `pixcept jobs --resume ID` finishes an interrupted one.") from None

    def upload(self, path: Path) -> str:
        """Upload a query image (multipart, as a browser would); returns its upload ID."""
        boundary = uuid.uuid4().hex
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{Path(path).name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PixceptError(f"Cannot read {path}: {exc.strerror}.") from None
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        return self.request("POST", "/api/uploads", raw=(body, f"multipart/form-data; boundary={boundary}"))["id"]

    def search(self, text: str, images=(), limit: int = 20, offset: int = 0, filters: SearchFilters | None = None,
               relative: float | None = None, concept: int | None = None) -> tuple[list[dict], bool]:
        """(results, no good match): the pages of /api/search up to `limit` results."""
        query = [("q", text), ("cutoff", relative or 0)] + ([("concept", concept)] if concept is not None else [])
        query += [("upload", self.upload(path)) for path in images]
        query += filters.params() if filters else []
        results: list[dict] = []
        threshold = None
        while len(results) < limit:
            paging = [("limit", min(MAX_PAGE, limit - len(results))), ("offset", offset + len(results))]
            if threshold is not None:  # later pages reuse the first page's relevance threshold
                paging.append(("threshold", threshold))
            page = self.request("GET", "/api/search", params=query + paging)
            results += [{key: r[key] for key in ("id", "score", "path", "paths")} for r in page["results"]]
            threshold = page["threshold"]
            if not page["has_more"]:
                break
        return results, bool(page.get("no_good_match"))

    def run_job(self, kind: str, params: dict, progress: Progress) -> dict:
        """Start a job on the server and follow it until it ends; Ctrl-C cancels it there (finished work is kept)."""
        return self.follow(self.request("POST", "/api/jobs", {"kind": kind, "params": params}), progress)

    def follow(self, job: dict, progress: Progress) -> dict:
        """Show a server job's progress until it ends (a long poll per change); Ctrl-C cancels it."""
        seen_notes, started = 0, False
        try:
            while True:
                if job["total"] and not started:
                    progress.start(total=job["total"], done=job["done"])
                    started, shown = True, job["done"]
                if started and job["done"] > shown:
                    progress.advance(job["done"] - shown)
                    shown = job["done"]
                for note in job["notes"][seen_notes:]:
                    progress.note(note)
                seen_notes = len(job["notes"])
                if job["state"] not in ("queued", "running"):
                    return job
                job = self.request("GET", f"/api/jobs/{job['id']}", params={"after": job["version"],
                                                                            "wait": POLL_SECONDS},
                                   timeout=POLL_SECONDS + 30)
        except KeyboardInterrupt:
            self.request("POST", f"/api/jobs/{job['id']}/cancel")
            raise
