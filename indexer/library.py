"""A pixcept library: one data directory (manifest, lock, thumbnails, reports, embedded store) plus its model.

`Library.open` is how every command gets at the store; it takes the one-process lock for embedded stores.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .config import Settings
from .embed import DEFAULT_MODEL, Embedder, ModelIdentity, load_embedder
from .errors import NotFoundError, PixceptError
from .images import limits as image_limits
from .images import open_verified, read_verified, unchanged_in_place
from .lock import DataDirLock
from .manifest import manifest_stamp, read_manifest, write_manifest
from .paths import exact_path
from .shared import library_entries, read_entries, shares, write_entries
from .store import (
    COLLECTIONS,
    IMAGES,
    Store,
    generation_name,
    generation_names,
    open_store,
    parse_generation,
)

log = logging.getLogger(__name__)

MODEL_METADATA_KEY = "pixcept_model"
_UNKNOWN = object()  # not looked up yet
CENTROID_CHECK_SECONDS = 30.0
SHARED_CHECK_SECONDS = 1.0  # how often a server's library asks whether another machine changed its entries


class ModelMismatchError(PixceptError):
    """The requested model differs from the one the library's vectors came from."""


class EmptyLibraryError(PixceptError):
    """A read command ran on a library that has nothing indexed yet."""


class Library:
    def __init__(self, settings: Settings, store: Store, lock: DataDirLock | None, manifest: dict):
        self.settings = settings
        self.store = store
        self.lock = lock
        self.manifest = manifest
        self._embedder: Embedder | None = None
        self._switching: Embedder | None = None  # another model a rebuild writes with, until it is switched to
        self._recorded: dict | None | object = _UNKNOWN
        self._centroid: tuple[int, np.ndarray | None, float] = (0, None, 0.0)
        self._resolved_data_dir: str | None = None
        # what readers derive from the library and keep while it is open (search's chance rise, filters' counts),
        # each under its own key, so the library holds no reader's logic
        self.memo: dict[str, Any] = {}
        self._manifest_stamp = manifest_stamp(settings.data_dir)
        self._shared_stamp: str | None = None  # the stamp of the server's entries this manifest holds
        self._shared_checked = 0.0
        if shares(store):
            self._take_shared_entries()

    @classmethod
    def open(cls, settings: Settings, command: str = "pixcept", **client_kwargs) -> "Library":
        """Open the library; embedded stores are locked to this process until `close()`."""
        image_limits.configure(settings.limits)
        manifest = read_manifest(settings.data_dir)  # a broken manifest is reported before anything is opened
        recorded = manifest.get("store") or {}
        if recorded.get("kind") == "server" and not settings.uses_server:  # moved by `pixcept migrate --to URL`
            settings = replace(settings, qdrant_url=recorded["location"])
        lock = None
        if not settings.uses_server:
            lock = DataDirLock(settings.data_dir, command).acquire()
            if lock.previous_owner:
                log.info("took over a stale lock left by pid %s", lock.previous_owner.get("pid"))
        try:
            store = open_store(settings, recorded.get("kind"), **client_kwargs)
        except BaseException:
            if lock:
                lock.release()
            raise
        library = cls(settings, store, lock, manifest)
        store.aliases = generation_names(library.generation)
        return library

    def close(self) -> None:
        self.store.close()
        if self.lock:
            self.lock.release()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- folders ----------------------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    @property
    def thumbnail_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    def open_original(self, payload: dict) -> BinaryIO:
        """The original file of an indexed image, opened, if one of its paths still holds the indexed content inside
        the library's folders (never a file a path was swapped for, never the data folder: `open_verified`)."""
        roots, outside = self._original_places()
        for entry in payload.get("files", []):
            handle = open_verified(exact_path(entry), payload.get("sha256", ""), roots, outside)
            if handle is not None:
                return handle
        raise NotFoundError("The file is no longer where it was indexed, or it changed since; index its folder "
                            "again.")

    def read_original(self, payload: dict, limit: int) -> bytes | None:
        """The bytes of an indexed image's original file (the rules of `open_original`), read once; None when no
        path holds it any more or it is larger than `limit` (then open it and read it in parts)."""
        roots, outside = self._original_places()
        for entry in payload.get("files", []):
            data = read_verified(exact_path(entry), payload.get("sha256", ""), roots, outside, limit)
            if data is not None:
                return data
        return None

    def original_unchanged(self, payload: dict) -> bool:
        """True when one of the image's paths still is its indexed file (same place rules, size and mtime): cheap
        enough to check before every answer made from the original earlier, such as a cached preview."""
        roots, outside = self._original_places()
        return any(unchanged_in_place(exact_path(entry), entry.get("size", -1), entry.get("mtime", -1.0), roots,
                                      outside) for entry in payload.get("files", []))

    def _original_places(self) -> tuple[list[str], list[str]]:
        """(where originals may lie: the indexed folders, where they never may: the data folder). Asked once per
        file of an export: the data folder is resolved once."""
        if self._resolved_data_dir is None:
            self._resolved_data_dir = str(self.data_dir.resolve())
        return [str(Path(root)) for root in self.manifest.get("roots", [])], [self._resolved_data_dir]

    def update_manifest(self, **changes) -> None:
        """Change manifest entries: in the data folder, and for a server's library in the server too (only the
        entries changed: what another machine changed meanwhile stays)."""
        if shares(self.store) and library_entries(changes):
            self._shared_stamp = write_entries(self.store, changes)
        self.manifest = write_manifest(self.data_dir, {**self.manifest, **changes})
        self._recorded = _UNKNOWN
        self._manifest_stamp = manifest_stamp(self.data_dir)

    def refresh(self, now: bool = False) -> None:
        """Take in what another process changed: the workers of one server share a data folder, and a job in one of
        them may publish concepts or switch generations for all (a stat when nothing changed); the machines serving
        one Qdrant server share its entries there (asked at most once a second, or `now`)."""
        stamp = manifest_stamp(self.data_dir)
        changed = stamp != self._manifest_stamp
        if changed:
            self.manifest = read_manifest(self.data_dir)
            self._manifest_stamp = stamp
        if shares(self.store) and (changed or now or
                                   time.monotonic() - self._shared_checked >= SHARED_CHECK_SECONDS):
            changed = self._take_shared_entries(again=changed) or changed
        if changed:
            self.store.aliases = generation_names(self.generation)
            self._recorded = _UNKNOWN

    def _take_shared_entries(self, again: bool = False) -> bool:
        """Hold the server's library entries (changed since last asked, or `again` after the manifest was read
        anew). A server that holds none yet (a library made before they were shared, or migrated to the server)
        is given this machine's. True when the entries changed."""
        self._shared_checked = time.monotonic()
        stamp, entries = read_entries(self.store)
        if stamp is None:
            if library_entries(self.manifest):
                self._shared_stamp = write_entries(self.store, self.manifest)
            return False
        if stamp == self._shared_stamp and not again:
            return False
        self.manifest = {**self.manifest, **entries}
        self._shared_stamp = stamp
        return True

    # -- statistics -------------------------------------------------------------------------------------------------

    def image_centroid(self, sample: int = 5000) -> np.ndarray | None:
        """The mean image vector, from a sample (point IDs are hashes, so the first IDs are a random sample).
        A query's mean score over the library is `centroid @ query`, the baseline of the relevance cutoff.
        Recomputed when the number of images changed by more than a twentieth (counted at most every 30 s)."""
        cached_count, centroid, checked_at = self._centroid
        if centroid is not None and time.monotonic() - checked_at < CENTROID_CHECK_SECONDS:
            return centroid
        count = self.store.count(IMAGES)
        if centroid is None or abs(count - cached_count) > cached_count / 20:
            points = itertools.islice(self.store.scroll(IMAGES, fields=False, with_vectors=True), sample)
            vectors = [p.vector for p in points if p.vector is not None]
            centroid = np.mean(vectors, axis=0) if vectors else None
            cached_count = count
        self._centroid = (cached_count, centroid, time.monotonic())
        return centroid

    # -- model ------------------------------------------------------------------------------------------------------

    def recorded_model(self) -> dict | None:
        """The model the stored vectors came from ({name, pretrained, dim, spec}). A server's collection metadata wins
        over the local manifest, since other machines may write to the same server. Asked once per open library
        (a server lookup is two requests), and again after `prepare_for_indexing` or a manifest change."""
        if self._recorded is _UNKNOWN:
            recorded = None
            if self.store.kind == "server" and self.store.has_collection(IMAGES):
                recorded = self.store.collection_metadata(IMAGES).get(MODEL_METADATA_KEY)
            self._recorded = recorded or self.manifest.get("model") or None
        return self._recorded if isinstance(self._recorded, dict) else None

    def recorded_identity(self) -> ModelIdentity | None:
        recorded = self.recorded_model()
        return ModelIdentity.from_dict(recorded) if recorded else None

    def recorded_model_spec(self) -> str | None:
        return (self.recorded_model() or {}).get("spec")

    def embedder(self, for_writing: bool = False) -> Embedder:
        """The library's CLIP model, loaded once. Refuses a model whose vectors would not match the stored ones."""
        recorded = self.recorded_identity()
        if recorded is None and not for_writing:
            raise EmptyLibraryError(self._empty_message())
        if self._embedder is None:
            spec = self.settings.model or self.recorded_model_spec() or DEFAULT_MODEL
            self._embedder = load_embedder(spec, device=self.settings.device)
        if recorded and recorded != self._embedder.identity and not for_writing:
            raise ModelMismatchError(self._mismatch_message(recorded, self._embedder.identity))
        return self._embedder

    def writing_embedder(self, model: str | None = None) -> Embedder:
        """The model a job writes with: the library's, or `model` for a rebuild that switches to it (loaded beside
        the library's, which answers searches until the switch)."""
        current = self.embedder(for_writing=True)
        if not model or model == current.spec.text:
            return current
        if self._switching is None or self._switching.spec.text != model:
            self._switching = load_embedder(model, device=self.settings.device)
        return self._switching

    def prepare_for_indexing(self) -> Embedder:
        """Load the model and make sure the current collections exist and were built with it."""
        embedder = self.embedder(for_writing=True)
        recorded = self.recorded_identity()
        if recorded and recorded != embedder.identity:
            raise ModelMismatchError(self._mismatch_message(recorded, embedder.identity))
        self._create_collections(embedder, self.generation)
        self.drop_stale_generations()  # what a kill between a rebuild's switch and its clean-up left
        self._recorded = _UNKNOWN
        metadata = _model_metadata(embedder)
        if self.manifest.get("model") != metadata:
            self.update_manifest(model=metadata, store={"kind": self.store.kind, "location": self.store.location})
        return embedder

    # -- generations: a reindex builds beside the current collections and switches when done ------------------------

    @property
    def generation(self) -> int:
        return int(self.manifest.get("generation", 0))

    def begin_rebuild(self, embedder: Embedder) -> int:
        """The generation a rebuild with `embedder` writes to, with its collections created: the one an interrupted
        rebuild with the same model left (indexing is incremental, so it continues), else a new one."""
        model = _model_metadata(embedder)
        pending = self.manifest.get("rebuild") or {}
        if pending.get("model") == model and pending.get("generation", 0) > self.generation:
            generation = int(pending["generation"])
        else:
            generation = max([self.generation, *self._stored_generations()]) + 1
            self.update_manifest(rebuild={"generation": generation, "model": model})
            self.drop_stale_generations()  # an interrupted rebuild with another model
        self._create_collections(embedder, generation)
        return generation

    def switch_generation(self, generation: int, embedder: Embedder, carried: dict | None = None) -> None:
        """Make a finished rebuild the library (one manifest write: a kill leaves the old or the new one whole),
        then drop the collections of the old generation. `carried`: other manifest entries that hold from the same
        moment on (the concepts carried into the new generation)."""
        self.update_manifest(generation=generation, rebuild=None, model=_model_metadata(embedder),
                             store={"kind": self.store.kind, "location": self.store.location}, **(carried or {}))
        self.store.aliases = generation_names(generation)
        self._centroid = (0, None, 0.0)
        if self._embedder is not None and embedder.spec.text != self._embedder.spec.text:  # a model switch
            self._embedder, self._switching = embedder, None
            if self.settings.model:
                self.settings = replace(self.settings, model=embedder.spec.text)
        self.drop_stale_generations()

    def drop_stale_generations(self) -> list[str]:
        """Drop collections of generations that are neither current nor being rebuilt (left by a kill between a
        rebuild's switch and its clean-up, or by an abandoned rebuild). Returns their names."""
        keep = {self.generation, int((self.manifest.get("rebuild") or {}).get("generation", self.generation))}
        dropped = []
        for stored in self.store.collection_names():
            parsed = parse_generation(stored)
            if parsed and parsed[1] not in keep:
                self.store.drop_collection(stored, resolve=False)
                dropped.append(stored)
        if dropped:
            log.info("dropped the collections of old generations: %s", ", ".join(dropped))
        return dropped

    def _stored_generations(self) -> set[int]:
        return {parsed[1] for parsed in map(parse_generation, self.store.collection_names()) if parsed}

    def _create_collections(self, embedder: Embedder, generation: int) -> None:
        metadata = {MODEL_METADATA_KEY: _model_metadata(embedder)}
        for name in COLLECTIONS:
            stored = generation_name(name, generation)
            if not self.store.has_collection(stored):
                self.store.create_collection(stored, embedder.dim, metadata=metadata)

    def _mismatch_message(self, recorded: ModelIdentity, requested: ModelIdentity) -> str:
        return (
            f"This library was indexed with {recorded.describe()}, but the model asked for is "
            f"{requested.describe()}. Vectors of different models cannot be compared. Use the library's model "
            "(leave out --model / PIXCEPT_MODEL), or rebuild the library with the new one: "
            "`pixcept index --reindex FOLDER...`."
        )

    def _empty_message(self) -> str:
        where = self.settings.qdrant_url or self.data_dir
        return f"Nothing is indexed in {where} yet. Run `pixcept index FOLDER` first."


def _model_metadata(embedder: Embedder) -> dict:
    return {**embedder.identity.to_dict(), "spec": embedder.spec.text}
