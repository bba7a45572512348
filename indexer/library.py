"""A pixcept library: one data directory (manifest, lock, thumbnails, reports, embedded store) plus its model.

`Library.open` is how every command gets at the store; it takes the one-process lock for embedded stores.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .config import Settings
from .embed import DEFAULT_MODEL, Embedder, ModelIdentity, load_embedder
from .errors import PixceptError
from .lock import DataDirLock
from .manifest import read_manifest, write_manifest
from .store import IMAGES, VOCABULARY, Store, open_store

log = logging.getLogger(__name__)

MODEL_METADATA_KEY = "pixcept_model"
_UNKNOWN = object()  # not looked up yet
CENTROID_CHECK_SECONDS = 30.0


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
        self._recorded: dict | None | object = _UNKNOWN
        self._centroid: tuple[int, np.ndarray | None, float] = (0, None, 0.0)

    @classmethod
    def open(cls, settings: Settings, command: str = "pixcept", **client_kwargs) -> "Library":
        """Open the library; embedded stores are locked to this process until `close()`."""
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
        return cls(settings, store, lock, manifest)

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

    def update_manifest(self, **changes) -> None:
        self.manifest = write_manifest(self.data_dir, {**self.manifest, **changes})
        self._recorded = _UNKNOWN

    def status(self) -> dict:
        """Where the library is, which model built it, and what it holds (`pixcept status`, /api/status)."""
        return {
            "data_dir": str(self.data_dir), "store": f"{self.store.kind} ({self.store.location})",
            "model": self.recorded_model(), "images": self.store.count(IMAGES),
            "vocabulary": self.store.count(VOCABULARY), "roots": self.manifest.get("roots", []),
            "vocabularies": self.manifest.get("vocabularies") or {},
        }

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
            vectors = [p.vector for p in itertools.islice(self.store.scroll(IMAGES, fields=False, with_vectors=True),
                                                          sample)]
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
        return self._recorded

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

    def prepare_for_indexing(self, reindex: bool = False) -> Embedder:
        """Load the model and make sure the collections exist and were built with it (rebuilt when `reindex`)."""
        embedder = self.embedder(for_writing=True)
        recorded = self.recorded_identity()
        if recorded and recorded != embedder.identity:
            if not reindex:
                raise ModelMismatchError(self._mismatch_message(recorded, embedder.identity))
            log.warning("reindexing: dropping vectors of %s", recorded.describe())
        if reindex:
            self.store.drop_collection(IMAGES)
            self.store.drop_collection(VOCABULARY)
            self.update_manifest(model=None, vocabularies=None, templates=None)
        metadata = {MODEL_METADATA_KEY: {**embedder.identity.to_dict(), "spec": embedder.spec.text}}
        for name in (IMAGES, VOCABULARY):
            if not self.store.has_collection(name):
                self.store.create_collection(name, embedder.dim, metadata=metadata)
        self._recorded = _UNKNOWN
        if self.manifest.get("model") != metadata[MODEL_METADATA_KEY]:
            self.update_manifest(model=metadata[MODEL_METADATA_KEY],
                                 store={"kind": self.store.kind, "location": self.store.location})
        return embedder

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
