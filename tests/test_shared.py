"""Two machines serving one library from one Qdrant server: each with its own data folder, both see the same
generation and concept run at once, whichever made it (`indexer.shared`).

No Qdrant server binary exists on the build machines: qdrant-client's local mode answers behind the URL every
machine is given (the client API a server answers, the same pixcept code on top).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import qdrant_client

from indexer.concepts import publish, read
from indexer.concepts.identity import id_stability
from indexer.concepts.job import run_cluster
from indexer.concepts.map_data import map_layout
from indexer.config import ServerConfig, Settings
from indexer.demo import demo_model_spec, demo_vocabulary
from indexer.demo.world import write_library
from indexer.index import index_folders
from indexer.jobs import JobRunner
from indexer.library import SHARED_CHECK_SECONDS, Library
from indexer.reindex import reindex_library
from indexer.search import search_images
from indexer.shared import (
    STATE,
    job_lease,
    kept_folders,
    lease_holder,
    machine_name,
    read_entries,
    release_lease,
    take_lease,
)
from indexer.store import IMAGES
from indexer.vocab import add_entries
from server.app import create_app

from conftest import NO_SCHEDULE
from helpers import fit_seed

URL = "http://qdrant.test:6333"
SEED = fit_seed(3)


class _Connection:
    """One machine's connection to the shared server: closing it leaves the server (and the others') running."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    client = qdrant_client.QdrantClient(":memory:")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(qdrant_client, "QdrantClient", lambda url, **kwargs: _Connection(client))
        yield client


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shared-photos")
    write_library(root, per_pair=4)
    return root


@pytest.fixture(scope="module")
def machines(server, photos, tmp_path_factory):
    """Machine A indexes the pictures into the server; machine B, its own data folder, opens the same library."""
    made = tmp_path_factory.mktemp("machines")
    a = Library.open(machine(made / "a"))
    index_folders(a, [photos])
    add_entries(a, demo_vocabulary(), "demo", "demo-1")
    b = Library.open(machine(made / "b"))
    yield a, b
    a.close()
    b.close()


def machine(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, qdrant_url=URL, model=demo_model_spec(), schedule=NO_SCHEDULE)


def concepts_of(library: Library) -> dict[int, int]:
    return {c["id"]: c["size"] for c in read.list_concepts(library, limit=1000).concepts}


def test_a_recluster_on_one_machine_is_what_the_other_answers_from(machines):
    a, b = machines
    assert b.manifest["roots"] == a.manifest["roots"] and b.store.count(IMAGES) == 192
    with pytest.raises(publish.NoConceptsError):
        read.list_concepts(b)

    run_cluster(a, {"seed": SEED})
    b.refresh()  # within SHARED_CHECK_SECONDS of its last look: not asked yet
    time.sleep(SHARED_CHECK_SECONDS)
    b.refresh()
    assert concepts_of(b) == concepts_of(a) and len(concepts_of(b)) >= 6
    current = publish.published(b)
    assert current.folder.is_relative_to(b.data_dir)  # fetched into B's own data folder
    first = next(iter(concepts_of(b)))
    assert read.montage_path(b, first).read_bytes() == read.montage_path(a, first).read_bytes()
    assert len(map_layout(b).ids) == len(map_layout(a).ids) == 192  # the map's layout came along

    run_cluster(b, {"seed": SEED})  # B's run continues A's: the same concepts keep their IDs
    a.refresh(now=True)
    assert publish.published(a).run == publish.published(b).run == 2
    assert concepts_of(a) == concepts_of(b)
    kept, continuing = id_stability(*aligned(assignments(a, 1), assignments(a, 2)))
    assert continuing >= 5 and kept >= continuing - 1
    assert kept_folders(a.store) == {"concepts/runs/0001", "concepts/runs/0002"}


def test_a_rebuild_on_one_machine_moves_the_other_to_the_new_generation(machines, photos):
    a, b = machines
    before = [h.id for h in search(b, "red circle")]
    reindex_library(a, [photos])
    b.refresh(now=True)
    assert a.generation == b.generation >= 1
    assert b.store.aliases[IMAGES] == a.store.aliases[IMAGES]
    assert [h.id for h in search(b, "red circle")] == before
    assert concepts_of(b) == concepts_of(a)  # the concepts carried into the new generation


def test_a_second_machines_server_answers_what_the_first_changes(machines):
    a, b = machines
    app = create_app(b.settings, ServerConfig(run_jobs=False, searches_per_minute=0))
    client = app.test_client()
    try:
        listed = client.get("/api/concepts?limit=500").get_json()
        assert {c["id"] for c in listed["concepts"]} == set(concepts_of(a))
        run_cluster(a, {"seed": SEED + 1})
        time.sleep(SHARED_CHECK_SECONDS)
        listed = client.get("/api/concepts?limit=500").get_json()
        assert listed["run"] == publish.published(a).run
        first = listed["concepts"][0]["id"]
        assert client.get(f"/api/concepts/{first}/montage").status_code == 200
    finally:
        app.extensions["pixcept"].stop()


def search(library: Library, text: str) -> list:
    return search_images(library, text=text, limit=10)


def assignments(library: Library, run: int) -> dict[str, int]:
    with np.load(publish.run_files(library, run) / "assignments.npz") as saved:
        return dict(zip((i.decode() for i in saved["ids"]), saved["concepts"].tolist()))


def aligned(first: dict[str, int], second: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    ids = sorted(first)
    return np.array([first[i] for i in ids]), np.array([second.get(i, -1) for i in ids])


def test_jobs_of_two_machines_run_one_at_a_time(machines, photos):
    a, b = machines
    runner = JobRunner(b).start()
    try:
        with job_lease(a.store, machine_name(a.data_dir), waiting=pytest.fail):  # A runs a job
            job = runner.submit("index", {"folders": [str(photos)]})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not job.notes:
                time.sleep(0.1)
            assert not job.finished and machine_name(a.data_dir) in job.notes[0]
            assert lease_holder(b.store) == machine_name(a.data_dir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not job.finished:
            time.sleep(0.1)
        assert job.state == "done", job.to_dict()
        assert lease_holder(b.store) is None  # released when the job ended
    finally:
        runner.stop()


def test_of_two_machines_taking_the_lease_at_once_one_holds_it(machines):
    a, b = machines
    names = [machine_name(a.data_dir), machine_name(b.data_dir)]
    outcome: dict[str, str | None] = {}
    threads = [threading.Thread(target=lambda n=name: outcome.__setitem__(n, take_lease(a.store, n))) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    holder = lease_holder(a.store)
    assert holder in names and outcome[holder] is None
    assert outcome[next(n for n in names if n != holder)] == holder
    release_lease(a.store, holder)
    assert lease_holder(a.store) is None


def test_a_library_on_the_server_from_before_machines_shared_is_shared_by_the_first_to_open_it(machines, tmp_path):
    a, _ = machines
    a.store.drop_collection(STATE)
    a.close()
    reopened = Library.open(a.settings)  # gives the server its entries and, when first read, its current run
    try:
        assert read_entries(reopened.store)[1]["concepts"]["run"] == publish.published(reopened).run
        third = Library.open(machine(tmp_path / "c"))
        try:
            assert concepts_of(third) == concepts_of(reopened)
            assert read.montage_path(third, next(iter(concepts_of(third)))).is_file()
        finally:
            third.close()
    finally:
        reopened.close()
