"""The CLI's way into a running `pixcept serve`: when a server holds the library, commands go through its API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

import httpx

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
        headers = {"Accept": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
        # the server is on this machine (its lock file says where): no proxy from the environment applies
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, trust_env=False)

    @classmethod
    def for_data_dir(cls, data_dir: Path, token: str | None = None) -> "ServerClient | None":
        """The server holding `data_dir` on this machine, if one does, with `token` (the setting
        `server.admin_token`) or else the admin token the server left for its user."""
        info = live_holder(data_dir)
        if not info or not info.get("url"):
            return None
        token_file = Path(data_dir) / ADMIN_TOKEN_FILE
        if not token and token_file.exists():
            try:
                token = token_file.read_text().strip()
            except OSError:
                token = None
        return cls(info["url"], token)

    def request(self, method: str, path: str, body: dict | None = None, params: dict | list | None = None,
                timeout: float | None = None, files: dict | None = None) -> dict:
        """One API call. A GET that loses its connection is tried once more: gunicorn restarts a worker that died
        (its master keeps the socket, so the retry waits in the queue until the new worker is ready)."""
        try:
            return self._request(method, path, body, params, timeout, files)
        except ServerUnreachable:
            if method != "GET":
                raise
            time.sleep(RETRY_PAUSE)
            return self._request(method, path, body, params, timeout or RESTART_TIMEOUT, files)

    def _request(self, method: str, path: str, body: dict | None, params: dict | list | None,
                 timeout: float | None, files: dict | None = None) -> dict:
        try:
            response = self.http.request(method, path, json=body, params=params, files=files,
                                         timeout=timeout or self.timeout)
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"Cannot reach the pixcept server at {self.url} ({exc}). Is it still running? If it restarted, "
                "`pixcept jobs` lists its jobs and `pixcept jobs --resume ID` finishes an interrupted one.") from None
        if response.is_success:
            return response.json() if response.content else {}
        self._raise_for(response)
        return {}

    def _raise_for(self, response: httpx.Response) -> None:
        """The server's error message as a ServerError (exit 2 for the caller's mistakes)."""
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code}"
        if response.status_code in (401, 403):
            message += (" The CLI uses PIXCEPT_ADMIN_TOKEN, or the token the server keeps in its data directory "
                        "for the user who started it.")
        error = ServerError(f"The pixcept server at {self.url} answered: {message}")
        error.exit_code = 2 if 400 <= response.status_code < 500 else 1
        raise error

    def download(self, path: str, params: dict, output: Path) -> dict:
        """A streamed GET written to `output` as it arrives: {count, bytes, missing} from pixcept's headers."""
        try:
            with self.http.stream("GET", path, params=params, timeout=None) as response:
                if not response.is_success:
                    response.read()
                    self._raise_for(response)
                written = write_chunks(response.iter_bytes(), output)
                return {"count": int(response.headers.get("X-Pixcept-Images", 0)), "bytes": written,
                        "missing": int(response.headers.get("X-Pixcept-Missing", 0))}
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"Cannot reach the pixcept server at {self.url} ({exc}).") from None

    def upload(self, path: Path) -> str:
        """Upload a query image (multipart, as a browser would); returns its upload ID."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PixceptError(f"Cannot read {path}: {exc.strerror}.") from None
        files = {"image": (Path(path).name, data, "application/octet-stream")}
        return self.request("POST", "/api/uploads", files=files)["id"]

    def search(self, text: str, images=(), limit: int = 20, offset: int = 0, filters: SearchFilters | None = None,
               relative: float | None = None, concept: int | None = None, selection: str | None = None
               ) -> tuple[list[dict], bool, bool]:
        """(results, no good match, more follow): the pages of /api/search up to `limit` results."""
        query = [("q", text), ("cutoff", relative or 0)] + ([("concept", concept)] if concept is not None else [])
        query += [("selection", selection)] if selection else []
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
        return results, bool(page.get("no_good_match")), bool(page["has_more"])

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


def write_chunks(chunks: Iterable[bytes], output: Path) -> int:
    """Write the chunks to `output` ("-": stdout) through a temporary file beside it, so a failed export leaves no
    half file where a whole one was; returns the bytes written."""
    import os
    import sys
    import tempfile

    if str(output) == "-":
        written = 0
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
            written += len(chunk)
        return written
    output = Path(output)
    fd, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent or ".")
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return written
