"""`pixcept index --reindex`: the rebuild happens beside the current library, keeps every word of the vocabulary,
and an interruption at any point leaves a whole library (the old one, or the new one)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from indexer import index as index_module
from indexer import vocab as vocab_module
from indexer.config import Settings
from indexer.demo.models import write_tiny_model
from indexer.index import index_folders
from indexer.library import Library
from indexer.reindex import reindex_library
from indexer.search import search_images
from indexer.store import IMAGES, VOCABULARY
from indexer.vocab import USER_SOURCE, add_entries

from conftest import pixcept_process
from helpers import make_library

WORDS = ["cat", "red thing", "my own phrase"]


@pytest.fixture(scope="module")
def other_model_spec(tmp_path_factory) -> str:
    return f"local-dir:{write_tiny_model(tmp_path_factory.mktemp('models') / 'other', seed=7)}"


@pytest.fixture
def built(tmp_path, tiny_model_spec):
    """A library of 12 photos and three words of the user's, made with the tiny model."""
    photos = tmp_path / "photos"
    make_library(photos, 12)
    settings = Settings(data_dir=tmp_path / "data", model=tiny_model_spec, device="cpu")
    with Library.open(settings) as library:
        index_folders(library, [photos])
        add_entries(library, WORDS, USER_SOURCE, "user:mine")
        vectors = {p.id: p.vector for p in library.store.scroll(VOCABULARY, with_vectors=True)}
    return photos, settings, vectors


def _with_model(settings: Settings, spec: str | None) -> Settings:
    return Settings(data_dir=settings.data_dir, model=spec, device="cpu")


def _assert_whole(settings: Settings, model_spec: str) -> None:
    """The library answers with every image and word, read with the model it records."""
    with Library.open(_with_model(settings, None)) as library:
        assert library.recorded_model_spec() == model_spec
        assert library.store.count(IMAGES) == 12
        assert sorted(p.payload["word"] for p in library.store.scroll(VOCABULARY)) == sorted(WORDS)
        assert len(search_images(library, "red", limit=5)) == 5


def test_reindex_rebuilds_beside_and_keeps_the_vocabulary(built, other_model_spec, tiny_model_spec):
    photos, settings, old_vectors = built
    with Library.open(_with_model(settings, other_model_spec)) as library:
        summary = reindex_library(library, [photos])
        assert summary.indexed == 12
        assert library.generation == 1
        # the old collections are gone
        assert library.store.collection_names() == ["concepts_g1", "images_g1", "vocabulary_g1"]
        new_vectors = {p.id: p.vector for p in library.store.scroll(VOCABULARY, with_vectors=True)}
    assert set(new_vectors) == set(old_vectors)  # the user's words too
    assert all(not np.allclose(new_vectors[k], old_vectors[k]) for k in new_vectors)  # embedded by the new model
    _assert_whole(settings, other_model_spec)


def _interrupt(monkeypatch, point: str) -> None:
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    if point == "images":
        calls = {"n": 0}
        original = index_module.Indexer._embed

        def embed_then_stop(self, works):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            return original(self, works)

        monkeypatch.setattr(index_module.Indexer, "_embed", embed_then_stop)
    elif point == "vocabulary":
        monkeypatch.setattr(vocab_module, "embed_entries", boom)
    elif point == "before-switch":
        monkeypatch.setattr(Library, "switch_generation", boom)
    elif point == "after-switch":
        original_drop = Library.drop_stale_generations

        def drop_after_switch(self):
            if not self.manifest.get("rebuild"):  # the switch is written: die before the old ones are dropped
                raise KeyboardInterrupt
            return original_drop(self)

        monkeypatch.setattr(Library, "drop_stale_generations", drop_after_switch)


@pytest.mark.parametrize("point", ["images", "vocabulary", "before-switch", "after-switch"])
def test_an_interrupted_reindex_leaves_a_whole_library_and_finishes_later(built, other_model_spec, tiny_model_spec,
                                                                        monkeypatch, point):
    photos, settings, _ = built
    with monkeypatch.context() as patch:
        _interrupt(patch, point)
        with Library.open(_with_model(settings, other_model_spec)) as library:
            with pytest.raises(KeyboardInterrupt):
                reindex_library(library, [photos], batch_size=4)
    switched = point == "after-switch"
    _assert_whole(settings, other_model_spec if switched else tiny_model_spec)
    with Library.open(_with_model(settings, other_model_spec)) as library:
        if not switched:
            summary = reindex_library(library, [photos], batch_size=4)
            if point == "images":
                assert summary.unchanged >= 4  # the first batch of the interrupted rebuild was kept
        else:
            index_folders(library, [photos])  # any writer drops what the kill left behind
        assert library.store.collection_names() == ["concepts_g1", "images_g1", "vocabulary_g1"]
    _assert_whole(settings, other_model_spec)


def test_a_reindex_killed_by_the_os_keeps_the_old_library(tmp_path, cli_env, other_model_spec, tiny_model_spec, run):
    photos = tmp_path / "photos"
    make_library(photos, 300)
    assert run("index", photos).exit_code == 0
    settings = Settings(data_dir=Path(cli_env["PIXCEPT_DATA_DIR"]), device="cpu")
    process = pixcept_process("index", photos, "--reindex", "--batch-size", "2", "--workers", "1",
                              env={**cli_env, "PIXCEPT_MODEL": other_model_spec})
    manifest = settings.data_dir / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not json.loads(manifest.read_text()).get("rebuild"):
        time.sleep(0.05)
    time.sleep(0.5)  # some batches of the new generation written
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert json.loads(manifest.read_text()).get("rebuild"), "the reindex switched before it was killed; make it longer"
    with Library.open(settings) as library:
        assert library.recorded_model_spec() == tiny_model_spec
        assert library.store.count(IMAGES) == 300
        assert len(search_images(library, "red", limit=3)) == 3
    rerun = pixcept_process("index", photos, "--reindex", env={**cli_env, "PIXCEPT_MODEL": other_model_spec})
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    with Library.open(settings) as library:
        assert library.recorded_model_spec() == other_model_spec and library.store.count(IMAGES) == 300


def test_a_reindex_refuses_to_lose_a_missing_folder(built, other_model_spec, tmp_path):
    photos, settings, _ = built
    other = tmp_path / "other"
    make_library(other, 4, offset=50)
    with Library.open(_with_model(settings, None)) as library:
        index_folders(library, [other])
    other.rename(tmp_path / "unmounted")
    with Library.open(_with_model(settings, other_model_spec)) as library:
        with pytest.raises(Exception, match="Refusing to reindex.*unmounted disk"):
            reindex_library(library, [photos])
        assert library.store.count(IMAGES) == 16
        summary = reindex_library(library, [photos], force=True)
        assert summary.indexed == 12 and library.store.count(IMAGES) == 12


@pytest.mark.parametrize("in_worker", [False, True])
def test_a_server_switches_model_by_a_job_while_search_answers(built, other_model_spec, tiny_model_spec, in_worker):
    """The admin page's model switch: an index job with reindex and another model builds the new vectors beside the
    current ones (searches answer with the old model meanwhile), then the library, its searches and its next jobs
    use the new one, without a restart."""
    from indexer.config import ServerConfig
    from server.app import create_app

    from conftest import NO_SCHEDULE

    photos, settings, _ = built
    app = create_app(Settings(data_dir=settings.data_dir, model=tiny_model_spec, device="cpu", schedule=NO_SCHEDULE),
                     ServerConfig(run_jobs_in_worker=in_worker, searches_per_minute=0))
    try:
        client = app.test_client()
        admin = {"Authorization": f"Bearer {app.config['PIXCEPT_ADMIN_TOKEN']}"}
        wrong = client.post("/api/jobs", headers=admin, json={"kind": "index", "params": {
            "folders": [str(photos)], "model": other_model_spec}})
        assert wrong.status_code == 400 and "reindex" in wrong.json["error"]["message"]
        job = client.post("/api/jobs", headers=admin, json={"kind": "index", "params": {
            "folders": [str(photos)], "reindex": True, "model": other_model_spec}}).json
        answered = []
        while job["state"] in ("queued", "running"):
            answered.append(client.get("/api/search?q=red&limit=5").status_code)
            job = client.get(f"/api/jobs/{job['id']}?after={job['version']}&wait=1", headers=admin).json
        assert job["state"] == "done", job
        assert answered and set(answered) == {200}  # search never stopped
        assert client.get("/api/status", headers=admin).json["model"]["spec"] == other_model_spec
        assert len(client.get("/api/search?q=red&limit=5").json["results"]) == 5  # with the new model, at once
        again = client.post("/api/jobs", headers=admin, json={"kind": "index", "params": {"folders": [str(photos)]}})
        job = again.json
        while job["state"] in ("queued", "running"):
            job = client.get(f"/api/jobs/{job['id']}?after={job['version']}&wait=5", headers=admin).json
        assert job["state"] == "done" and job["result"]["unchanged"] == 12  # the next job writes with it too
    finally:
        app.extensions["pixcept"].stop()
    _assert_whole(settings, other_model_spec)
