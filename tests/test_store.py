"""The store module: real Qdrant local mode, and the requests a Qdrant server would receive."""

from __future__ import annotations

import os
import shutil
import time
import uuid

import httpx
import numpy as np
import pytest
from qdrant_client import models

from indexer.config import CollectionOptions, Settings
from indexer.store import (
    IMAGES,
    PAYLOAD_INDEXES,
    VOCABULARY,
    Filter,
    Match,
    Point,
    Range,
    StoreUnavailableError,
    files_payload,
    open_store,
    point_id,
)

from helpers import FakeQdrantServer


def unit(*values) -> np.ndarray:
    vector = np.array(values, np.float32)
    return vector / np.linalg.norm(vector)


BACKENDS = ["edge", "local"] + (["server"] if os.environ.get("QDRANT_URL") else [])


def backend_settings(kind: str, data_dir, prefix: str = "pixcept") -> Settings:
    if kind == "server":  # a real Qdrant server, when the environment names one; collections get a unique prefix
        return Settings(data_dir=data_dir, qdrant_url=os.environ["QDRANT_URL"],
                        qdrant_api_key=os.environ.get("QDRANT_API_KEY"), collection_prefix=prefix)
    return Settings(data_dir=data_dir, store=kind, collection_prefix=prefix)


@pytest.fixture(params=BACKENDS)
def store_settings(request, tmp_path) -> Settings:
    return backend_settings(request.param, tmp_path, prefix=f"test{uuid.uuid4().hex[:8]}")


@pytest.fixture
def store(store_settings):
    opened = open_store(store_settings)
    opened.create_collection(IMAGES, 4)
    yield opened
    if opened.kind == "server":
        opened.drop_collection(IMAGES)
    opened.close()


def test_point_ids_are_deterministic():
    assert point_id("abc") == point_id("abc") != point_id("abd")


def test_files_payload_lists_paths_and_every_ancestor_folder():
    payload = files_payload({"/p/b/2.jpg": {"size": 2, "mtime": 2.0}, "/p/a/1.jpg": {"size": 1, "mtime": 1.0}})
    assert payload["path"] == "/p/a/1.jpg" and payload["paths"] == ["/p/a/1.jpg", "/p/b/2.jpg"]
    assert payload["folders"] == ["/", "/p", "/p/a", "/p/b"]
    assert payload["files"][1] == {"path": "/p/b/2.jpg", "size": 2, "mtime": 2.0}


def test_round_trip(store, store_settings):
    points = [Point(point_id(str(i)), {"sha256": str(i), "folders": [f"/f{i % 2}"], "taken_ts": float(i)},
                    unit(1, i, 0, 0)) for i in range(5)]
    store.upsert(IMAGES, points)
    assert store.has_collection(IMAGES) and not store.has_collection(VOCABULARY)
    assert store.count(IMAGES) == 5
    hits = store.search(IMAGES, unit(1, 0, 0, 0), limit=3)
    assert hits[0].id == point_id("0") and hits[0].score == pytest.approx(1.0)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert [h.id for h in store.search(IMAGES, unit(1, 0, 0, 0), limit=2, offset=1)] == [h.id for h in hits[1:3]]
    in_f1 = store.search(IMAGES, unit(1, 0, 0, 0), where=Filter(must=(Match("folders", ("/f1",)),)))
    assert {h.payload["sha256"] for h in in_f1} == {"1", "3"}
    assert store.count(IMAGES, where=Filter(must_not=(Match("folders", ("/f1",)),))) == 3
    assert store.count(IMAGES, where=Filter(must=(Range("taken_ts", gte=2.0, lt=4.0),))) == 2
    store.set_payloads(IMAGES, {point_id("0"): {"concept_id": 7}, point_id("1"): {"concept_id": 8}})
    kept = store.retrieve(IMAGES, [point_id("0")], with_vectors=True)[0]
    assert kept.payload == {"sha256": "0", "folders": ["/f0"], "taken_ts": 0.0, "concept_id": 7}
    np.testing.assert_allclose(kept.vector, unit(1, 0, 0, 0), atol=1e-6)
    scrolled = list(store.scroll(IMAGES, fields=["sha256"], page_size=2))
    assert sorted(p.payload["sha256"] for p in scrolled) == ["0", "1", "2", "3", "4"]
    assert all(set(p.payload) == {"sha256"} and p.vector is None for p in scrolled)
    eights = {p.id for p in store.scroll(IMAGES, fields=False, where=Filter(must=(Match("concept_id", (8,)),)))}
    assert eights == {point_id("1")}
    store.upsert(IMAGES, points[:2])  # same IDs again: replaced, not duplicated
    assert store.count(IMAGES) == 5
    store.delete(IMAGES, [point_id("0"), point_id("1")])
    assert store.count(IMAGES) == 3
    store.close()
    reopened = open_store(store_settings)
    assert reopened.count(IMAGES) == 3 and reopened.count(VOCABULARY) == 0
    assert {p.payload["sha256"] for p in reopened.scroll(IMAGES)} == {"2", "3", "4"}
    reopened.close()


def test_metadata_and_drop(store):
    store.create_collection(VOCABULARY, 4, metadata={"pixcept_model": {"name": "x", "dim": 4}})
    assert store.collection_metadata(VOCABULARY) == {"pixcept_model": {"name": "x", "dim": 4}}
    store.upsert(VOCABULARY, [Point(point_id("w"), {"word": "w"}, unit(0, 0, 1, 0))])
    store.drop_collection(VOCABULARY)
    assert not store.has_collection(VOCABULARY) and store.count(VOCABULARY) == 0
    assert list(store.scroll(VOCABULARY)) == []


@pytest.mark.parametrize("kind", ["edge", "local"])
def test_embedded_stores_lock_their_folder_to_one_process(tmp_path, kind):
    from indexer.library import Library
    from indexer.lock import StoreLockedError

    settings = backend_settings(kind, tmp_path)
    with Library.open(settings, command="first"):
        with pytest.raises(StoreLockedError, match="`first`"):
            Library.open(settings, command="second")


def test_a_library_keeps_its_backend(tmp_path):
    local = open_store(backend_settings("local", tmp_path))
    local.create_collection(IMAGES, 4)
    local.close()
    reopened = open_store(Settings(data_dir=tmp_path))  # no --store: the folder's own backend
    assert reopened.kind == "local" and reopened.has_collection(IMAGES)
    reopened.close()
    with pytest.raises(StoreUnavailableError, match="pixcept migrate"):
        open_store(backend_settings("edge", tmp_path))
    assert open_store(Settings(data_dir=tmp_path / "new")).kind == "edge"


def server_settings(**options) -> Settings:
    return Settings(qdrant_url="https://qdrant.test:6333", qdrant_api_key="secret",
                    collection_options=CollectionOptions(**options))


def test_server_collection_options_are_sent():
    fake = FakeQdrantServer()
    store = open_store(server_settings(shard_number=3, replication_factor=2, write_consistency_factor=2,
                                       on_disk=True, quantization="int8", hnsw_m=32, hnsw_ef_construct=200),
                       transport=httpx.MockTransport(fake))
    store.create_collection(IMAGES, 512, metadata={"pixcept_model": {"name": "ViT-B-32"}})
    (body,) = fake.bodies("PUT", "/collections/pixcept_images")
    created = models.CreateCollection(**body)  # the body is a valid Qdrant request
    assert (created.shard_number, created.replication_factor, created.write_consistency_factor) == (3, 2, 2)
    assert created.vectors.size == 512 and created.vectors.distance == models.Distance.COSINE
    assert created.vectors.on_disk is True
    assert created.quantization_config.scalar.type == models.ScalarType.INT8
    assert (created.hnsw_config.m, created.hnsw_config.ef_construct) == (32, 200)
    assert created.metadata == {"pixcept_model": {"name": "ViT-B-32"}}
    indexes = {models.CreateFieldIndex(**b).field_name: models.CreateFieldIndex(**b).field_schema
               for b in fake.bodies("PUT", "/index")}
    assert set(indexes) == set(PAYLOAD_INDEXES[IMAGES])
    assert indexes["folders"] == models.PayloadSchemaType.KEYWORD
    assert indexes["taken_ts"] == models.PayloadSchemaType.FLOAT
    assert all(r.headers["api-key"] == "secret" for r in fake.requests)


def test_server_defaults_send_no_cluster_options():
    fake = FakeQdrantServer()
    store = open_store(server_settings(), transport=httpx.MockTransport(fake))
    store.create_collection(VOCABULARY, 64)
    (body,) = fake.bodies("PUT", "/collections/pixcept_vocabulary")
    assert "shard_number" not in body and "quantization_config" not in body and "on_disk" not in body["vectors"]


def test_unreachable_server_is_a_clear_error():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(StoreUnavailableError, match="Cannot reach the Qdrant server at https://qdrant.test:6333"):
        open_store(server_settings(), transport=httpx.MockTransport(refuse))


def test_wrong_api_key_is_a_clear_error():
    with pytest.raises(StoreUnavailableError, match="QDRANT_API_KEY"):
        open_store(server_settings(), transport=httpx.MockTransport(FakeQdrantServer(status=403)))


def test_edge_builds_its_index_only_for_large_collections(tmp_path, monkeypatch):
    from indexer.store import EdgeStore

    monkeypatch.setattr(EdgeStore, "HNSW_MIN_POINTS", 50)
    store = open_store(backend_settings("edge", tmp_path))
    store.create_collection(IMAGES, 4)
    store.upsert(IMAGES, [Point(point_id(str(i)), {"folders": ["/a"]}, unit(1, i, 1, 0)) for i in range(30)])
    assert not store.index_due()  # too few points to be worth an index
    store.upsert(IMAGES, [Point(point_id(str(i)), {"folders": ["/b"]}, unit(1, i, 0, 1)) for i in range(30, 60)])
    assert store.index_due()
    store.build_index()
    assert not store.index_due()
    store.set_payloads(IMAGES, {point_id("1"): {"concept_id": 1}})
    assert not store.index_due()  # one change in sixty is not worth a rebuild
    assert store.count(IMAGES, where=Filter(must=(Match("folders", ("/b",)),))) == 30
    assert len(store.search(IMAGES, unit(1, 0, 1, 0), limit=5)) == 5
    store.close()


# -- Edge: building the search index beside the live shard -------------------------------------------------------------

@pytest.fixture
def big_edge(tmp_path, monkeypatch):
    """An Edge store whose 300 images count as big enough for an index, built by someone else (a server)."""
    from indexer.store.edge import EdgeStore

    monkeypatch.setattr(EdgeStore, "HNSW_MIN_POINTS", 100)
    store = EdgeStore(tmp_path / "edge")
    store.build_elsewhere = True
    store.create_collection(IMAGES, 16)
    rng = np.random.default_rng(0)
    store.upsert(IMAGES, [Point(point_id(str(i)), {"n": i}, rng.normal(size=16)) for i in range(300)])
    yield store
    store.close()


def test_an_index_built_beside_replaces_the_live_shard_and_searches_go_on(big_edge, monkeypatch):
    from indexer.store import edge

    monkeypatch.setattr(edge, "RETIRED_GRACE_SECONDS", 0.1)
    query = np.random.default_rng(1).normal(size=16)
    before = [h.id for h in big_edge.search(IMAGES, query, limit=10)]
    assert big_edge.rebuild_pending() and not big_edge.index_due()  # due, but not for the writers to build
    answered_meanwhile = []

    def optimize(folder):
        answered_meanwhile.append([h.id for h in big_edge.search(IMAGES, query, limit=10)])  # the live shard
        edge.optimize_folder(folder)

    assert big_edge.rebuild_beside(optimize) == ["pixcept_images"]
    assert answered_meanwhile == [before]
    assert [h.id for h in big_edge.search(IMAGES, query, limit=10)] == before and big_edge.count(IMAGES) == 300
    assert not big_edge.rebuild_pending()
    time.sleep(0.5)  # the replaced shard is closed and deleted after its grace period
    assert sorted(p.name for p in big_edge.folder.iterdir() if p.is_dir()) == ["pixcept_images"]


def test_a_write_during_the_build_keeps_the_live_shard(big_edge):
    from indexer.store import edge

    def optimize_while_writing(folder):
        big_edge.upsert(IMAGES, [Point(point_id("late"), {"n": -1}, np.ones(16))])
        edge.optimize_folder(folder)

    assert big_edge.rebuild_beside(optimize_while_writing) == []  # the copy lacks the late write: dropped
    assert big_edge.count(IMAGES) == 301 and big_edge.retrieve(IMAGES, [point_id("late")])
    assert big_edge.rebuild_pending() and not (big_edge.folder / "pixcept_images.rebuilding").exists()


def test_what_a_killed_build_left_is_cleaned_up_on_open(big_edge):
    from indexer.store.edge import EdgeStore

    folder = big_edge.folder
    big_edge.close()
    shutil.copytree(folder / "pixcept_images", folder / "pixcept_images.rebuilding")  # killed while optimising
    (folder / "pixcept_images").rename(folder / "pixcept_images.retired")  # ... and mid-swap
    reopened = EdgeStore(folder)
    try:
        assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["pixcept_images"]
        assert reopened.count(IMAGES) == 300
        assert reopened.rebuild_pending()  # the writes since the last build were kept across the restart
    finally:
        reopened.close()


def test_an_index_left_due_by_a_killed_server_is_built_before_anything_opens_the_shard(big_edge, monkeypatch):
    from indexer.store import edge
    from indexer.store.edge import EdgeStore

    monkeypatch.setattr(edge, "RETIRED_GRACE_SECONDS", 0.1)
    folder = big_edge.folder
    big_edge.close()  # the writes are counted in pending-writes.json; the search-index job was killed
    reopened = EdgeStore(folder)
    try:
        assert reopened.rebuild_pending()  # nothing has opened the shard yet: a resumed job must still see it
        assert reopened.rebuild_beside(edge.optimize_folder) == ["pixcept_images"]
        assert not reopened.rebuild_pending() and reopened.count(IMAGES) == 300
    finally:
        reopened.close()
    again = EdgeStore(folder)
    try:
        assert not again.rebuild_pending()  # and the build was recorded
    finally:
        again.close()
