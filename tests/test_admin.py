"""The admin's API: the overview, the failure report, and every job live as Server-Sent Events; readers and editors
get 403, anonymous callers 401 where reading needs a token."""

from __future__ import annotations

import json

import pytest

from indexer.config import ServerConfig, Settings
from indexer.index import index_folders
from indexer.library import Library
from server.app import create_app

from conftest import NO_SCHEDULE
from helpers import make_library


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_model_spec):
    root = tmp_path_factory.mktemp("admin")
    make_library(root / "photos", 6)
    (root / "photos" / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (root / "photos" / "empty.png").write_bytes(b"")
    settings = Settings(data_dir=root / "data", model=tiny_model_spec, device="cpu", schedule=NO_SCHEDULE)
    with Library.open(settings) as library:
        index_folders(library, [root / "photos"])
    app = create_app(settings, ServerConfig(run_jobs_in_worker=False, searches_per_minute=0, read_token="r3ad",
                                            edit_token="ed1t"))
    yield app
    app.extensions["pixcept"].stop()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_the_overview_and_the_failure_report_are_for_admins(app):
    client, admin = app.test_client(), bearer(app.config["PIXCEPT_ADMIN_TOKEN"])
    for url in ("/api/admin/overview", "/api/admin/failures", "/api/jobs/events", "/admin"):
        assert client.get(url, headers=bearer("r3ad")).status_code == 403
        assert client.get(url, headers=bearer("ed1t")).status_code == 403
    assert client.get("/api/admin/overview", headers={"Accept": "application/json"}).status_code == 401
    overview = client.get("/api/admin/overview", headers=admin).get_json()
    assert overview["images"] == 6 and overview["failed_files"] == 2 and overview["disk"]["thumbnails"] > 0
    assert set(overview["disk"]) == {"store", "thumbnails", "previews", "concept runs", "exports"}
    report = client.get("/api/admin/failures?contains=TRUNCATED", headers=admin).get_json()
    assert (report["total"], report["matching"]) == (2, 1) and report["files"][0]["path"].endswith("truncated.jpg")
    assert client.get("/api/admin/failures?limit=0", headers=admin).status_code == 400
    page = client.get("/admin", headers=admin)
    assert page.status_code == 200 and "Files not indexed" in page.get_data(as_text=True)


def test_jobs_arrive_live_as_server_sent_events(app):
    client, admin = app.test_client(), bearer(app.config["PIXCEPT_ADMIN_TOKEN"])
    started = client.post("/api/jobs", json={"kind": "search-index", "params": {}}, headers=admin)
    assert started.status_code == 202
    answer = client.get("/api/jobs/events", headers=admin, buffered=False)
    assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
    first = next(iter(answer.response)).decode()
    answer.close()
    lines = dict(line.split(": ", 1) for line in first.strip().splitlines())
    assert lines["event"] == "jobs" and int(lines["id"]) >= 1
    assert started.get_json()["id"] in [job["id"] for job in json.loads(lines["data"])]
