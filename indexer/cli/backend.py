"""Where a command's work happens: in this process on the library (`LocalBackend`), or through the running server
that holds it (`ServerBackend`). Both answer the same calls with the same JSON-shaped values, so each command has
one path and prints one way, wherever the library is."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Protocol
from urllib.parse import quote

import click

from ..config import Settings
from ..errors import PixceptError
from ..filters import SearchFilters, check_indexed_folders
from ..library import Library
from ..progress import Progress
from .client import ServerClient, write_chunks


class Backend(Protocol):
    def status(self) -> dict: ...

    def run_job(self, kind: str, params: dict, progress: Progress) -> dict: ...

    def jobs(self) -> list[dict]: ...

    def cancel_job(self, job_id: str) -> dict: ...

    def resume_job(self, job_id: str, progress: Progress) -> dict: ...

    def search(self, text: str, images: tuple[Path, ...], limit: int, offset: int, filters: SearchFilters,
               relative: float | None, concept: int | None, selection: str | None = None
               ) -> tuple[list[dict], bool, bool]:
        """(results as dicts, no good match, more follow)"""

    def facets(self) -> dict: ...

    def concept_runs(self) -> list[dict]: ...

    def concept_page(self, sort: str, limit: int) -> dict: ...

    def concept(self, concept_id: int) -> dict: ...

    def concept_groups(self) -> list[dict]: ...

    def search_concepts(self, text: str, image: Path | None, limit: int, cutoff: float) -> tuple[list[dict], bool]:
        """(concepts, no good match)"""

    def selections(self) -> list[dict]: ...

    def selection_create(self, name: str, query: dict | None) -> dict: ...

    def selection_images(self, name: str, state: str) -> list[dict]:
        """Every image of the selection in `state`: {id, path}"""

    def selection_mark(self, name: str, ids: list[str], state: str | None) -> dict: ...

    def selection_gather(self, name: str, limit: int) -> dict:
        """The next candidates: {candidates: [{id, path, score}], threshold, unmarked}"""

    def selection_delete(self, name: str) -> None: ...

    def export(self, source: dict, fmt: str, output: Path, links: dict | None = None) -> dict:
        """Write the export to `output` ("-": stdout): {count, bytes, missing}. Linked formats take {base_url (None:
        this pixcept's), days}."""

    def export_tokens(self) -> list[dict]: ...

    def export_token_revoke(self, token_id: str) -> dict: ...

    def accounts(self) -> list[dict]: ...

    def account_create(self, name: str, role: str, folders: tuple[str, ...] = ()) -> dict:
        """The account made, with its `token`; limited to `folders` when given"""

    def account_revoke(self, account_id: str) -> dict: ...


@contextlib.contextmanager
def open_backend(settings: Settings, command: str) -> Iterator[Backend]:
    """The server holding this library, if one runs on this machine (it owns the store then); else the library
    here, opened on first use and closed at the end."""
    client = None if settings.uses_server else ServerClient.for_data_dir(settings.data_dir,
                                                                        settings.server.admin_token)
    if client:
        click.echo(f"The pixcept server at {client.url} holds this library; asking it.", err=True)
        with contextlib.closing(client.http):
            yield ServerBackend(client, settings)
        return
    local = LocalBackend(settings, command)
    try:
        yield local
    finally:
        local.close()


EMBEDDING_JOBS = ("index", "vocab")  # the kinds that load the model


def job_result(job: dict) -> dict:
    """A finished server job's result, or the error that ended it."""
    if job["state"] == "done":
        return job["result"]
    if job["state"] == "interrupted":  # the server stopped or restarted its worker; Ctrl-C here cancels instead
        raise PixceptError(f"The server's {job['kind']} job was interrupted (the server stopped or restarted). "
                           f"What it saved is kept: `pixcept jobs --resume {job['id']}` finishes it.")
    if job["state"] == "cancelled":
        raise KeyboardInterrupt
    raise PixceptError(f"The server's {job['kind']} job failed: {job.get('error')}")


class ServerBackend:
    def __init__(self, client: ServerClient, settings: Settings):
        self.client = client
        self.settings = settings

    def status(self) -> dict:
        return self.client.request("GET", "/api/status") | {"server": self.client.url}

    def run_job(self, kind: str, params: dict, progress: Progress) -> dict:
        if kind == "index":
            self._refuse_model_change()
        return job_result(self.client.run_job(kind, params, progress))

    def _refuse_model_change(self) -> None:
        """A server indexes with its own model; asking for another through it would silently be ignored."""
        served = (self.client.request("GET", "/api/status").get("model") or {}).get("spec")
        model = self.settings.model
        if model and served and model != served:
            raise PixceptError(f"The server at {self.client.url} indexes with {served}, not {model}. To change the "
                               "model, stop the server, run `pixcept index --reindex --model ...` and start it again.")

    def jobs(self) -> list[dict]:
        return self.client.request("GET", "/api/jobs")["jobs"]

    def cancel_job(self, job_id: str) -> dict:
        return self.client.request("POST", f"/api/jobs/{job_id}/cancel")

    def resume_job(self, job_id: str, progress: Progress) -> dict:
        return job_result(self.client.follow(self.client.request("POST", f"/api/jobs/{job_id}/resume"), progress))

    def search(self, text, images, limit, offset, filters, relative, concept, selection=None):
        if filters.folders:
            check_indexed_folders(filters.folders, self.client.request("GET", "/api/folders")["folders"])
        return self.client.search(text, images, limit=limit, offset=offset, filters=filters, relative=relative,
                                  concept=concept, selection=selection)

    def facets(self) -> dict:
        return self.client.request("GET", "/api/filters")

    def concept_runs(self) -> list[dict]:
        return self.client.request("GET", "/api/concepts/runs")["runs"]

    def concept_page(self, sort: str, limit: int) -> dict:
        return self.client.request("GET", "/api/concepts", params={"sort": sort, "limit": min(limit, 500)})

    def concept(self, concept_id: int) -> dict:
        return self.client.request("GET", f"/api/concepts/{concept_id}", params={"limit": 1})

    def concept_groups(self) -> list[dict]:
        return self.client.request("GET", "/api/concepts/groups")["groups"]

    def search_concepts(self, text, image, limit, cutoff):
        query = [("q", text), ("limit", limit), ("cutoff", cutoff)]
        query += [("upload", self.client.upload(image))] if image else []
        answer = self.client.request("GET", "/api/concepts/search", params=query)
        return answer["concepts"], bool(answer.get("no_good_match"))

    def selections(self) -> list[dict]:
        return self.client.request("GET", "/api/selections")["selections"]

    def selection_create(self, name: str, query: dict | None) -> dict:
        return self.client.request("POST", "/api/selections", {"name": name, "query": query})

    def selection_images(self, name: str, state: str) -> list[dict]:
        images: list[dict] = []
        offset: int | None = 0
        while offset is not None:
            page = self.client.request("GET", f"/api/selections/{quote(name, safe='')}/images",
                                       params={"state": state, "offset": offset, "limit": 200})
            images += [{"id": i["id"], "path": i["path"]} for i in page["images"]]
            offset = page["next_offset"]
        return images

    def selection_mark(self, name: str, ids: list[str], state: str | None) -> dict:
        return self.client.request("POST", f"/api/selections/{quote(name, safe='')}/images",
                                   {"ids": ids, "state": state})

    def selection_gather(self, name: str, limit: int) -> dict:
        page = self.client.request("GET", f"/api/selections/{quote(name, safe='')}/gather", params={"limit": limit})
        return {"candidates": [{"id": c["id"], "path": c["path"], "score": c["score"]} for c in page["candidates"]],
                "threshold": page["threshold"], "unmarked": page["unmarked"]}

    def selection_delete(self, name: str) -> None:
        self.client.request("DELETE", f"/api/selections/{quote(name, safe='')}")

    def export(self, source: dict, fmt: str, output: Path, links: dict | None = None) -> dict:
        params: dict[str, str] = {}
        if source.get("selection") is not None:
            path = f"/api/selections/{quote(source['selection'], safe='')}/export"
        elif source.get("concept") is not None:
            path = f"/api/concepts/{int(source['concept'])}/export"
        else:
            path, params = "/api/search/export", {"q": source.get("q") or ""}
        if links:
            params |= {"days": str(links["days"])} | ({"base_url": links["base_url"]} if links["base_url"] else {})
        return self.client.download(path, params | {"format": fmt}, output)

    def export_tokens(self) -> list[dict]:
        return self.client.request("GET", "/api/export-tokens")["tokens"]

    def export_token_revoke(self, token_id: str) -> dict:
        return self.client.request("POST", f"/api/export-tokens/{quote(token_id, safe='')}/revoke")

    def accounts(self) -> list[dict]:
        return self.client.request("GET", "/api/tokens")["tokens"]

    def account_create(self, name: str, role: str, folders: tuple[str, ...] = ()) -> dict:
        return self.client.request("POST", "/api/tokens", {"name": name, "role": role, "folders": list(folders)})

    def account_revoke(self, account_id: str) -> dict:
        return self.client.request("POST", f"/api/tokens/{quote(account_id, safe='')}/revoke")


class LocalBackend:
    def __init__(self, settings: Settings, command: str):
        self.settings = settings
        self.command = command
        self._library: Library | None = None

    @property
    def library(self) -> Library:
        if self._library is None:
            self._library = Library.open(self.settings, command=self.command)
        return self._library

    def close(self) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None

    def status(self) -> dict:
        from ..lock import LOCK_NAME, StoreLockedError
        from ..manifest import read_manifest

        data_dir = self.settings.data_dir
        manifest = read_manifest(data_dir)
        if not manifest and not (data_dir / LOCK_NAME).exists():  # opening it would make a library here
            raise PixceptError(f"{data_dir} is not a pixcept library (it has no manifest.json). `pixcept index "
                               "FOLDER` makes one; --data-dir or PIXCEPT_DATA_DIR points elsewhere.")
        from ..status import library_status

        try:
            return library_status(self.library)
        except StoreLockedError as exc:
            return {"data_dir": str(data_dir), "in_use": str(exc), "model": manifest.get("model"),
                    "store": self.settings.qdrant_url or (manifest.get("store") or {}).get("kind", "-"),
                    "roots": manifest.get("roots", []), "vocabularies": manifest.get("vocabularies") or {}}

    def run_job(self, kind: str, params: dict, progress: Progress) -> dict:
        from ..jobs import run_here

        if kind in EMBEDDING_JOBS:
            spec = self.settings.model or self.library.recorded_model_spec()
            click.echo(f"Loading CLIP model {spec or 'ViT-B-32:laion2b_s34b_b79k (default)'}...", err=True)
        return run_here(self.library, kind, params, progress)

    def jobs(self) -> list[dict]:
        from ..jobs import read_jobs

        return [job.to_dict() for job in reversed(read_jobs(self.settings.data_dir / "jobs"))]

    def cancel_job(self, job_id: str) -> dict:
        raise self._no_server()

    def resume_job(self, job_id: str, progress: Progress) -> dict:
        raise self._no_server()

    @staticmethod
    def _no_server() -> PixceptError:
        return PixceptError("No pixcept server holds this library, and jobs run in a server. Without one, run the "
                            "command again (`pixcept index FOLDER`...): it continues where it stopped.")

    def search(self, text, images, limit, offset, filters, relative, concept, selection=None):
        from .. import selections
        from ..concepts.read import concept_filter
        from ..search import load_query_image, search_page

        library = self.library
        if filters.folders:
            check_indexed_folders(filters.folders, library.manifest.get("roots", []))
        size = library.embedder().image_size if images else 0
        query_images = [load_query_image(path, size) for path in images]
        within = concept_filter(library, concept) if concept is not None else None
        if selection:
            within = selections.search_filter(library, selection) & within
        page = search_page(library, text, query_images, limit=limit, offset=offset, where=filters.where(within),
                           relative=relative)
        return [result.to_dict() for result in page.results], page.no_good_match, page.has_more

    def facets(self) -> dict:
        from ..filters import library_facets

        return library_facets(self.library).to_dict()

    def concept_runs(self) -> list[dict]:
        from ..concepts.read import history

        return history(self.library)

    def concept_page(self, sort: str, limit: int) -> dict:
        from ..concepts.read import list_concepts

        page = list_concepts(self.library, sort, 0, limit)
        return {"run": page.run, "total": page.total, "outliers": page.outliers, "concepts": page.concepts}

    def concept(self, concept_id: int) -> dict:
        from ..concepts.read import get_concept, montage_path
        from ..store import IMAGES

        concept = get_concept(self.library, concept_id)
        found = {p.id: p.payload for p in self.library.store.retrieve(IMAGES, concept["exemplars"])}
        concept["exemplar_images"] = [{"id": i, "path": found[i].get("path")} for i in concept["exemplars"]
                                      if i in found]
        concept["montage"] = str(montage_path(self.library, concept_id))
        return concept

    def concept_groups(self) -> list[dict]:
        from ..concepts.read import concept_groups

        return concept_groups(self.library)

    def search_concepts(self, text, image, limit, cutoff):
        from ..concepts.read import search_concepts
        from ..search import load_query_image, query_vector

        images = [load_query_image(image, self.library.embedder().image_size)] if image else []
        found = search_concepts(self.library, query_vector(self.library, text, images), limit, cutoff or None)
        return found.concepts, found.no_good_match

    def selections(self) -> list[dict]:
        from .. import selections

        return [s.to_dict() for s in selections.list_all(self.library)]

    def selection_create(self, name: str, query: dict | None) -> dict:
        from .. import selections

        return selections.create(self.library, name, local_user(), query).to_dict()

    def selection_images(self, name: str, state: str) -> list[dict]:
        from .. import selections

        every = selections.members_page(self.library, name, state, limit=None)
        return [{"id": p.id, "path": p.payload.get("path")} for p in every.images]

    def selection_mark(self, name: str, ids: list[str], state: str | None) -> dict:
        from .. import selections

        return selections.mark(self.library, name, ids, state, local_user()).to_dict()

    def selection_gather(self, name: str, limit: int) -> dict:
        from .. import selections

        page = selections.gather(self.library, name, limit)
        return {"candidates": [{"id": r.id, "path": r.payload.get("path"), "score": round(r.score, 4)}
                               for r in page.candidates.results],
                "threshold": page.threshold, "unmarked": page.unmarked}

    def selection_delete(self, name: str) -> None:
        from .. import selections

        selections.delete(self.library, name)

    def export(self, source: dict, fmt: str, output: Path, links: dict | None = None) -> dict:
        from ..exports import Links, Source, export

        server = self.settings.server
        link = Links(links["base_url"] or f"http://{server.host}:{server.port}/", local_user(), links["days"]) \
            if links else None
        made = export(self.library, Source(source.get("selection"), source.get("concept"), source.get("q")), fmt,
                      link)
        written = write_chunks(made.chunks, output)
        return {"count": made.count, "bytes": written, "missing": len(made.missing)}

    def export_tokens(self) -> list[dict]:
        from ..exports import tokens

        return [t.to_dict() for t in tokens.list_all(self.library)]

    def export_token_revoke(self, token_id: str) -> dict:
        from ..exports import tokens

        return tokens.revoke(self.library, token_id).to_dict()

    def accounts(self) -> list[dict]:
        from .. import accounts

        return [a.to_dict() for a in accounts.list_all(self.library)]

    def account_create(self, name: str, role: str, folders: tuple[str, ...] = ()) -> dict:
        from .. import accounts

        token, account = accounts.create(self.library, name, role, local_user(), folders)
        return {**account.to_dict(), "token": token}

    def account_revoke(self, account_id: str) -> dict:
        from .. import accounts

        return accounts.revoke(self.library, account_id).to_dict()


def local_user() -> str:
    """Who changes a selection from this machine's CLI, as its history records it."""
    import getpass

    try:
        return f"{getpass.getuser()} (CLI)"
    except (KeyError, OSError):
        return "CLI"
