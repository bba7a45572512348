"""The admin's API: the overview, the failure report, and every job live as Server-Sent Events; readers and editors
get 403, anonymous callers 401 where reading needs a token."""

from __future__ import annotations

import json

import pytest

from indexer.config import ServerConfig, Settings, load_settings
from indexer.index import index_folders
from indexer.jobs import rescan_due
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
    assert overview["search_index_pending"] in (True, False)
    assert overview["last_index"]["summary"].startswith("6 indexed") and overview["last_index"]["folders"]
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


def test_named_tokens_carry_their_role_and_name_until_revoked(app):
    client, admin = app.test_client(), bearer(app.config["PIXCEPT_ADMIN_TOKEN"])
    assert client.post("/api/tokens", json={"name": "alice", "role": "editor"}, headers=bearer("ed1t")).status_code \
        == 403
    made = {}
    for name, role in (("alice", "editor"), ("bob", "reader"), ("ops", "admin")):
        answer = client.post("/api/tokens", json={"name": name, "role": role}, headers=admin)
        assert answer.status_code == 201 and answer.get_json()["token"].startswith("pxt_")
        made[name] = answer.get_json()
    assert client.post("/api/tokens", json={"name": "alice", "role": "reader"}, headers=admin).status_code == 400
    assert client.post("/api/tokens", json={"name": "x", "role": "owner"}, headers=admin).status_code == 400
    alice, bob, ops = (bearer(made[n]["token"]) for n in ("alice", "bob", "ops"))
    assert client.get("/api/search?q=a photo", headers=bob).status_code == 200
    assert client.post("/api/selections", json={"name": "by bob"}, headers=bob).status_code == 403
    kept = client.post("/api/selections", json={"name": "by alice"}, headers=alice)
    assert kept.status_code == 201 and kept.get_json()["created_by"] == "alice"  # named people in the history
    assert client.get("/api/jobs", headers=alice).status_code == 403
    assert client.get("/api/jobs", headers=ops).status_code == 200
    listed = {t["name"]: t for t in client.get("/api/tokens", headers=admin).get_json()["tokens"]}
    assert listed["alice"]["last_used_at"] and listed["bob"]["role"] == "reader" and "hash" not in listed["alice"]
    wrong = made["bob"]["token"][:-4] + "AAAA"
    assert client.get("/api/search?q=a photo", headers=bearer(wrong)).status_code == 401
    browser = app.test_client()  # a browser signed in with bob's token
    csrf = browser.get("/api/session").get_json()["csrf_token"]
    signed = browser.post("/login", data={"token": made["bob"]["token"], "csrf_token": csrf, "next": "/"})
    assert signed.status_code == 302
    assert browser.get("/api/search?q=a photo", headers={"Accept": "application/json"}).status_code == 200
    assert client.post(f"/api/tokens/{made['bob']['id']}/revoke", headers=admin).get_json()["active"] is False
    assert client.get("/api/search?q=a photo", headers=bob).status_code == 401  # the token, at once
    signed_out = browser.get("/api/search?q=a photo", headers={"Accept": "application/json"})
    assert signed_out.status_code == 401  # and its browser session
    assert client.post("/api/tokens/nope/revoke", headers=admin).status_code == 404


def test_the_cli_makes_lists_and_revokes_tokens(run, photos):
    assert run("index", photos).exit_code == 0
    made = run("tokens", "create", "carol", "--role", "reader")
    assert made.exit_code == 0 and made.stdout.strip().startswith("pxt_")
    token_id = made.stdout.strip().removeprefix("pxt_").partition(".")[0]
    assert f"{token_id}  carol  reader  active" in run("tokens").stdout
    assert run("tokens", "revoke", token_id).exit_code == 0
    assert f"{token_id}  carol  reader  revoked" in run("tokens").stdout
    assert run("tokens", "create", "dave", "--role", "owner").exit_code == 2


def test_requests_carry_an_id_into_json_log_lines(app):
    import io
    import logging

    from server import logs
    from server.logs import JsonFormatter, RequestIdFilter

    client = app.test_client()
    assert client.get("/api/health", headers={"X-Request-ID": "trace-42"}).headers["X-Request-ID"] == "trace-42"
    made = client.get("/api/health", headers={"X-Request-ID": "bad id\\n"}).headers["X-Request-ID"]
    assert len(made) == 32 and made != "bad id"  # not a plain token: a new one
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("pixcept.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logs.access_log.info("%s", "probe", extra={"method": "GET", "path": "/x", "status": 200, "seconds": 0.1})
        with app.test_request_context("/api/health", headers={"X-Request-ID": "ctx-7"}):
            app.preprocess_request()
            logs.access_log.info("inside a request")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["path"] == "/x" and lines[0]["status"] == 200 and lines[0]["request_id"] is None
    assert lines[1]["request_id"] == "ctx-7" and lines[1]["level"] == "INFO"


def test_metrics_cover_jobs_and_routes(app):
    client, admin = app.test_client(), bearer(app.config["PIXCEPT_ADMIN_TOKEN"])
    job = client.post("/api/jobs", json={"kind": "search-index", "params": {}}, headers=admin).get_json()
    client.get(f"/api/jobs/{job['id']}?after={job['version']}&wait=30", headers=admin)
    while client.get(f"/api/jobs/{job['id']}", headers=admin).get_json()["state"] in ("queued", "running"):
        pass
    text = client.get("/metrics", headers=admin).get_data(as_text=True)
    assert 'pixcept_job_seconds_count{kind="search-index",state="done"}' in text
    assert "pixcept_job_queue_length 0.0" in text
    assert 'pixcept_http_request_seconds_bucket{endpoint="api.health"' in text


def test_removing_a_folder_stops_indexing_it_and_prunes_its_images_on_request(run, tmp_path):
    from helpers import make_library

    make_library(tmp_path / "kept", 3)
    make_library(tmp_path / "gone", 4, offset=10)
    make_library(tmp_path / "stays", 2, offset=20)
    assert run("index", tmp_path / "kept", tmp_path / "gone", tmp_path / "stays").exit_code == 0
    assert run("remove-folder", tmp_path / "nope").exit_code == 2
    removed = run("remove-folder", tmp_path / "gone", "--prune")
    assert removed.exit_code == 0 and "4 images removed" in removed.stdout, removed.stdout + removed.stderr
    kept = run("remove-folder", tmp_path / "stays")
    assert kept.exit_code == 0 and "stay in the library" in kept.stdout
    status = json.loads(run("status", "--json").stdout)
    assert status["images"] == 5 and status["roots"] == [str(tmp_path / "kept")]
    assert (tmp_path / "gone").is_dir() and len(list((tmp_path / "gone").rglob("*.jpg"))) == 4  # files untouched


def test_the_schedule_and_settings_change_at_once_and_hold_after_a_restart(app, monkeypatch):
    client, admin = app.test_client(), bearer(app.config["PIXCEPT_ADMIN_TOKEN"])
    services = app.extensions["pixcept"]
    rows = {row["name"]: row for row in client.get("/api/admin/settings", headers=admin).json["settings"]}
    assert rows["schedule.index_every"]["value"] == "off" and rows["schedule.index_every"]["editable"]
    for token in ("r3ad", "ed1t"):
        assert client.get("/api/admin/settings", headers=bearer(token)).status_code == 403
        assert client.put("/api/admin/settings", json={"settings": {}}, headers=bearer(token)).status_code == 403
    changed = client.put("/api/admin/settings", headers=admin, json={"settings": {
        "schedule.index_every": "2h", "worker_idle_seconds": "60", "server.searches_per_minute": "120"}})
    assert changed.status_code == 200, changed.json
    assert {r["name"]: r["value"] for r in changed.json["settings"]}["schedule.index_every"] == "2h"
    library = services.whole_library
    assert library.settings.schedule.index_every == 7200 and library.settings.worker_idle_seconds == 60
    assert app.config["PIXCEPT_MODEL_LIMIT"] == "60 per 30 second"  # the search limit, at once
    restarted = load_settings({"data_dir": library.data_dir}, {})
    assert restarted.schedule.index_every == 7200 and restarted.server.searches_per_minute == 120
    assert rescan_due(library) is None  # indexed just now
    assert client.get("/api/admin/overview", headers=admin).json["next_index"] > \
        library.manifest["last_index"]["finished_at"]
    library.update_manifest(last_full_index={**library.manifest["last_full_index"],
                                             "finished_at": "2020-01-01T00:00:00+00:00"})
    assert rescan_due(library) == ("index", {"folders": library.manifest["roots"], "prune": True})
    bad = client.put("/api/admin/settings", headers=admin, json={"settings": {"schedule.cluster_changed": "lots"}})
    assert bad.status_code == 400 and "a share like 0.05" in bad.json["error"]["message"]
    monkeypatch.setenv("PIXCEPT_MAX_ASPECT", "10")
    fixed = client.put("/api/admin/settings", headers=admin, json={"settings": {"limits.max_aspect": "20"}})
    assert fixed.status_code == 400 and "PIXCEPT_MAX_ASPECT" in fixed.json["error"]["message"]
    client.put("/api/admin/settings", headers=admin, json={"settings": {
        "schedule.index_every": "", "worker_idle_seconds": "", "server.searches_per_minute": "0"}})
    assert library.settings.schedule.index_every is None and app.config["PIXCEPT_MODEL_LIMIT"] is None
    assert client.get("/api/admin/overview", headers=admin).json["next_index"] is None
