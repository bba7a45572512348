"""The store module: real Qdrant local mode, and the requests a Qdrant server would receive."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from qdrant_client import models

from indexer.config import CollectionOptions, Settings
from indexer.store import (IMAGES, PAYLOAD_INDEXES, VOCABULARY, Filter, Match, Point, Range, StoreUnavailableError,
                           files_payload, open_store, point_id)


def unit(*values) -> np.ndarray:
    vector = np.array(values, np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def store(tmp_path):
    opened = open_store(Settings(data_dir=tmp_path))
    opened.create_collection(IMAGES, 4)
    yield opened
    opened.close()


def test_point_ids_are_deterministic():
    assert point_id("abc") == point_id("abc") != point_id("abd")


def test_files_payload_lists_paths_and_every_ancestor_folder():
    payload = files_payload({"/p/b/2.jpg": {"size": 2, "mtime": 2.0}, "/p/a/1.jpg": {"size": 1, "mtime": 1.0}})
    assert payload["path"] == "/p/a/1.jpg" and payload["paths"] == ["/p/a/1.jpg", "/p/b/2.jpg"]
    assert payload["folders"] == ["/", "/p", "/p/a", "/p/b"]
    assert payload["files"][1] == {"path": "/p/b/2.jpg", "size": 2, "mtime": 2.0}


def test_local_store_round_trip(store, tmp_path):
    points = [Point(point_id(str(i)), {"sha256": str(i), "folders": [f"/f{i % 2}"], "taken_ts": float(i)},
                    unit(1, i, 0, 0)) for i in range(5)]
    store.upsert(IMAGES, points)
    assert store.count(IMAGES) == 5
    hits = store.search(IMAGES, unit(1, 0, 0, 0), limit=3)
    assert hits[0].id == point_id("0") and hits[0].score == pytest.approx(1.0)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    in_f1 = store.search(IMAGES, unit(1, 0, 0, 0), where=Filter(must=(Match("folders", ("/f1",)),)))
    assert {h.payload["sha256"] for h in in_f1} == {"1", "3"}
    recent = store.count(IMAGES, where=Filter(must=(Range("taken_ts", gte=2.0, lt=4.0),)))
    assert recent == 2
    store.set_payloads(IMAGES, {point_id("0"): {"concept_id": 7}})
    kept = store.retrieve(IMAGES, [point_id("0")], with_vectors=True)[0]
    assert kept.payload == {"sha256": "0", "folders": ["/f0"], "taken_ts": 0.0, "concept_id": 7}
    np.testing.assert_allclose(kept.vector, unit(1, 0, 0, 0), atol=1e-6)
    assert len(list(store.scroll(IMAGES, fields=["sha256"], page_size=2))) == 5
    store.delete(IMAGES, [point_id("0"), point_id("1")])
    assert store.count(IMAGES) == 3
    store.close()
    reopened = open_store(Settings(data_dir=tmp_path))
    assert reopened.count(IMAGES) == 3 and reopened.count(VOCABULARY) == 0
    reopened.close()


def test_negative_vectors_push_matches_below_zero(store):
    store.upsert(IMAGES, [Point(point_id("a"), {"n": "a"}, unit(1, 0.1, 0, 0)),
                          Point(point_id("b"), {"n": "b"}, unit(0.1, 1, 0, 0))])
    hits = store.search(IMAGES, unit(1, 1, 0, 0), negatives=[unit(0, 1, 0, 0)])
    scores = {h.payload["n"]: h.score for h in hits}
    assert scores["a"] > 0 > scores["b"]


class FakeQdrantServer:
    """Answers qdrant-client's HTTP calls and keeps every request, to check what a real server would be sent."""

    def __init__(self, status: int = 200):
        self.requests: list[httpx.Request] = []
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"status": {"error": "forbidden"}, "time": 0})
        if request.url.path.endswith("/exists"):
            return httpx.Response(200, json={"result": {"exists": False}, "status": "ok", "time": 0})
        if request.url.path.endswith("/index"):
            return httpx.Response(200, json={"result": {"operation_id": 1, "status": "completed"}, "status": "ok",
                                             "time": 0})
        return httpx.Response(200, json={"result": True, "status": "ok", "time": 0})

    def bodies(self, method: str, suffix: str) -> list[dict]:
        return [json.loads(r.content) for r in self.requests if r.method == method and r.url.path.endswith(suffix)]


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
