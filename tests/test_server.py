"""The web app and JSON API through Flask's test client, on a real library (tiny model, Qdrant Edge)."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
from PIL import Image

from indexer.config import ServerConfig, Settings
from indexer.demo.hostile import jpeg_claiming, png_claiming
from indexer.index import index_folders
from indexer.library import Library
from server import auth
from server.app import create_app, json_depth
from server.ratelimit import per_window

from conftest import NO_SCHEDULE
from helpers import make_image, make_library

DATED = {"2019-05-01": "red", "2021-07-14": "blue"}


def exif_dated(day: str) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = day.replace("-", ":") + " 12:00:00"
    return exif


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory, tiny_model_spec):
    root = tmp_path_factory.mktemp("served")
    make_library(root / "photos", 12)
    for i, (day, colour) in enumerate(DATED.items()):
        make_image(root / "dated" / f"{day}.jpg", colour, seed=100 + i, exif=exif_dated(day))
    settings = Settings(data_dir=root / "data", model=tiny_model_spec, device="cpu", schedule=NO_SCHEDULE)
    with Library.open(settings) as library:
        index_folders(library, [root / "photos", root / "dated"])
    return root, settings


@pytest.fixture(scope="module")
def app(library_dir):
    app = create_app(library_dir[1], ServerConfig(run_jobs_in_worker=False, searches_per_minute=0))
    yield app
    app.extensions["pixcept"].stop()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin(app):
    return {"Authorization": f"Bearer {app.config['PIXCEPT_ADMIN_TOKEN']}"}


def csrf(client) -> dict:
    return {"X-CSRF-Token": client.get("/api/session").get_json()["csrf_token"]}


def jpeg_bytes(colour=(200, 20, 20), size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def upload(client, data: bytes, name="q.jpg", headers=None):
    return client.post("/api/uploads", data={"image": (io.BytesIO(data), name)},
                       headers=headers if headers is not None else csrf(client), content_type="multipart/form-data")


def error_of(response) -> str:
    return response.get_json()["error"]["message"]


# -- status and pages -------------------------------------------------------------------------------------------------

def test_health_ready_and_status(client, admin, library_dir):
    assert client.get("/api/health").get_json() == {"status": "ok"}
    assert client.get("/api/ready").get_json() == {"ready": True}
    status = client.get("/api/status").get_json()
    assert status["images"] == 14 and status["model"]["dim"] == 64 and status["folders"] == 2
    assert status["concepts"]["run"] is None
    assert len(client.get("/api/folders").get_json()["folders"]) == 2
    # a reader learns counts, not where the library lives, its folders, failures or the jobs admins ran
    assert not {"data_dir", "store", "roots", "failed_files", "jobs"} & set(status)
    assert str(library_dir[0]) not in json.dumps(status)
    detail = client.get("/api/status", headers=admin).get_json()
    assert {"data_dir", "store", "roots", "failed_files", "jobs"} <= set(detail) and len(detail["roots"]) == 2


def test_pages_render_with_security_headers(client):
    page = client.get("/?q=red")
    assert page.status_code == 200 and b'value="red"' in page.data
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/static/search.js").status_code == 200


def test_every_page_has_an_icon_and_a_way_to_the_api_reference(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and Image.open(io.BytesIO(icon.data)).format == "ICO"
    page = client.get("/").data.decode()
    assert 'rel="icon"' in page and 'href="/api/docs"' in page
    assert client.get(re.search(r'rel="icon" href="([^"]+)"', page)[1]).status_code == 200
    info = client.get("/api/openapi.json").get_json()["info"]
    assert info["title"] == "pixcept API" and info["version"] not in ("1", "")  # ReDoc's heading: "pixcept API (0.1.0)"


def test_an_image_page_says_when_it_was_indexed_as_people_write_times(client):
    first = client.get("/api/search?q=red&cutoff=0&limit=1").get_json()["results"][0]
    page = client.get(first["page_url"]).data.decode()
    indexed = re.search(r"<dt>Indexed</dt><dd>([^<]+)</dd>", page)[1]
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC", indexed), indexed
    assert 'aria-current="page">Search' not in page  # an image is no search; its script marks where it came from


def test_a_folder_outside_the_library_is_a_400_as_in_the_cli(client):
    response = client.get("/api/search?q=red&folder=/etc")
    assert response.status_code == 400 and "Not an indexed folder: /etc" in error_of(response)


def test_search_page_escapes_the_query(client):
    page = client.get("/?q=<script>alert(1)</script>")
    assert b"<script>alert(1)" not in page.data and b"&lt;script&gt;" in page.data


# -- search -----------------------------------------------------------------------------------------------------------

def test_text_search_returns_scored_images_with_urls(client):
    body = client.get("/api/search?q=red&cutoff=0&limit=5").get_json()
    assert len(body["results"]) == 5 and body["has_more"] and body["next_offset"] == 5
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    first = body["results"][0]
    assert client.get(first["thumbnail_url"]).content_type == "image/jpeg"
    assert client.get(first["file_url"]).data[:2] == b"\xff\xd8"
    preview = Image.open(io.BytesIO(client.get(first["preview_url"]).data))
    assert preview.size == (320, 240)  # never enlarged
    assert client.get(first["page_url"]).status_code == 200


def test_pages_continue_where_the_last_ended(client):
    everything = client.get("/api/search?q=red&cutoff=0&limit=14").get_json()["results"]
    first = client.get("/api/search?q=red&cutoff=0&limit=6").get_json()
    second = client.get(f"/api/search?q=red&cutoff=0&limit=6&offset={first['next_offset']}").get_json()
    assert [r["id"] for r in first["results"] + second["results"]] == [r["id"] for r in everything[:12]]


def test_cutoff_keeps_fewer_than_everything_and_reports_its_threshold(client):
    cut = client.get("/api/search?q=red&limit=200").get_json()
    assert cut["threshold"] is not None
    assert all(r["score"] >= cut["threshold"] for r in cut["results"])
    again = client.get(f"/api/search?q=red&limit=200&threshold={cut['threshold']}").get_json()
    assert [r["id"] for r in again["results"]] == [r["id"] for r in cut["results"]]


def test_more_like_this_shows_the_image_itself_first_marked_and_once(client):
    image_id = client.get("/api/search?q=red&limit=1").get_json()["results"][0]["id"]
    answer = client.get(f"/api/search?like={image_id}&cutoff=0&limit=5").get_json()
    ids = [r["id"] for r in answer["results"]]
    assert ids[0] == image_id and answer["results"][0]["example"] is True and "example" not in answer["results"][1]
    assert len(ids) == 6 and answer["next_offset"] == 5  # the example comes on top of the page, not in its count
    rest = client.get(f"/api/search?like={image_id}&cutoff=0&limit=20&offset=5").get_json()["results"]
    assert len(ids) + len(rest) == 14 and image_id not in [r["id"] for r in rest]  # all 14, each once
    assert len(set(ids + [r["id"] for r in rest])) == 14


def test_folder_and_date_filters(client, library_dir):
    root = library_dir[0]
    only_dated = client.get("/api/search", query_string={"q": "red", "cutoff": 0, "folder": str(root / "dated")})
    assert {r["name"] for r in only_dated.get_json()["results"]} == {"2019-05-01.jpg", "2021-07-14.jpg"}
    in_2021 = client.get("/api/search?q=red&cutoff=0&from=2021-01-01&to=2021-12-31").get_json()["results"]
    assert [r["name"] for r in in_2021] == ["2021-07-14.jpg"]
    assert in_2021[0]["taken_at"].startswith("2021-07-14")
    one_day = client.get("/api/search?q=red&cutoff=0&from=2019-05-01&to=2019-05-01").get_json()["results"]
    assert [r["name"] for r in one_day] == ["2019-05-01.jpg"]


@pytest.mark.parametrize("query, message", [
    ("q=", "Give something to search for"),
    ("q=-people", "negative terms alone"),
    ("q=" + "a" * 501, "too long"),
    ("q=red&limit=0", "between 1 and 200"),
    ("q=red&limit=abc", "must be an integer"),
    ("q=red&offset=-1", "between"),
    ("q=red&cutoff=2", "between"),
    ("q=red&cutoff=nan", "must be a number"),
    ("q=red&from=2021-13-45", "must be a date"),
    ("q=red&from=yesterday", "not valid"),
    ("q=red&from=2022-01-01&to=2021-01-01", "date range is empty"),
    ("like=not-an-id", "not valid"),
    ("upload=../../etc/passwd", "not valid"),
])
def test_bad_search_requests_are_400_with_a_message(client, query, message):
    response = client.get(f"/api/search?{query}")
    assert response.status_code == 400, response.data
    assert message in error_of(response)


def test_unknown_ids_are_404(client):
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/api/search?like={missing}").status_code == 404
    assert client.get(f"/api/images/{missing}").status_code == 404
    assert client.get("/api/images/..%2F..%2Fetc%2Fpasswd/file").status_code == 404
    assert client.get("/image/nope").status_code == 404
    assert b"<h1>404</h1>" in client.get("/image/nope").data  # pages get an HTML error page
    assert client.get("/api/uploads/" + "0" * 32).status_code == 404
    assert client.get("/api/nothing-here").get_json()["error"]["status"] == 404


def test_image_metadata(client):
    image_id = client.get("/api/search?q=blue&cutoff=0&from=2021-07-14&to=2021-07-14").get_json()["results"][0]["id"]
    info = client.get(f"/api/images/{image_id}").get_json()
    assert info["metadata"]["taken_at"].startswith("2021-07-14") and info["width"] == 320
    page = client.get(f"/image/{image_id}").get_data(as_text=True)
    assert "2021-07-14" in page and "More like this" in page


# -- uploads ----------------------------------------------------------------------------------------------------------

def test_upload_then_search_by_it(client):
    response = upload(client, jpeg_bytes())
    assert response.status_code == 201
    upload_id = response.get_json()["id"]
    assert client.get(f"/api/uploads/{upload_id}").content_type == "image/jpeg"
    results = client.get(f"/api/search?upload={upload_id}&cutoff=0&limit=3").get_json()["results"]
    assert len(results) == 3
    combined = client.get(f"/api/search?upload={upload_id}&q=red&cutoff=0&limit=3").get_json()["results"]
    assert len(combined) == 3


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"not an image at all", "cannot be used"),
    (jpeg_bytes()[:200], "cannot be used"),
])
def test_bad_uploads_are_400(client, data, message):
    response = upload(client, data)
    assert response.status_code == 400 and message in error_of(response)


def test_decompression_bomb_upload_is_400(client):
    buffer = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, "PNG")  # 144 MP, a few kB on the wire
    response = upload(client, buffer.getvalue(), "bomb.png")
    assert response.status_code == 400 and "pixels" in error_of(response)


@pytest.mark.parametrize("name, data, reason", [
    ("claims.png", png_claiming(100_000, 100_000), "decompression bomb"),
    ("claims.jpg", jpeg_claiming(65_500, 65_500), "decompression bomb"),
    ("strip.png", png_claiming(100_000, 1), "extreme aspect ratio"),
])
def test_header_bomb_uploads_are_400_without_decoding(client, name, data, reason):
    response = upload(client, data, name)
    assert response.status_code == 400 and reason in error_of(response)


def test_oversized_upload_is_413(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 10_000)
    response = upload(client, jpeg_bytes(size=(400, 400)) + b"\0" * 20_000)
    assert response.status_code == 413 and "too large" in error_of(response)


def test_upload_without_csrf_token_is_refused(client):
    response = upload(client, jpeg_bytes(), headers={})
    assert response.status_code == 403 and "CSRF" in error_of(response)


def test_upload_field_is_required(client):
    response = client.post("/api/uploads", data={}, headers=csrf(client))
    assert response.status_code == 400 and "`image`" in error_of(response)


# -- auth -------------------------------------------------------------------------------------------------------------

def test_jobs_need_the_admin_token(client, admin):
    assert client.get("/api/jobs").status_code == 403  # open reading on localhost, but no jobs
    assert client.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/jobs", headers=admin).status_code == 200


def test_read_token_guards_everything_but_health(app, monkeypatch):
    monkeypatch.setitem(app.config, "PIXCEPT_READ_TOKEN", "s3cret-read")
    client = app.test_client()
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/search?q=red").status_code == 401
    assert client.get("/metrics").status_code == 401
    assert client.get("/api/search?q=red", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = client.get("/api/search?q=red", headers={"Authorization": "Bearer s3cret-read"})
    assert ok.status_code == 200
    page = client.get("/?q=red")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    bearer_read = {"Authorization": "Bearer s3cret-read"}
    assert client.get("/api/jobs", headers=bearer_read).status_code == 403

    login = client.get("/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', login.data).group(1).decode()
    wrong = client.post("/login", data={"token": "guess", "csrf_token": token, "next": "/concepts"})
    assert wrong.status_code == 401 and b"not valid" in wrong.data
    assert b'name="next" value="/concepts"' in wrong.data  # a mistyped token keeps where it was going
    assert client.post("/login", data={"token": "s3cret-read"}).status_code == 403  # no CSRF token
    signed_in = client.post("/login", data={"token": "s3cret-read", "csrf_token": token, "next": "//evil.example"})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
    assert client.get("/?q=red").status_code == 200
    assert client.get("/api/search?q=red").status_code == 200  # the session cookie now reads


def login_form_token(client) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', client.get("/login").data).group(1).decode()


@pytest.fixture
def signing_in(app, monkeypatch):
    """The app with a read token, and sign-in attempts unlimited (the limit itself is tested below)."""
    monkeypatch.setitem(app.config, "PIXCEPT_READ_TOKEN", "s3cret-read")
    monkeypatch.setitem(app.config, "PIXCEPT_LOGIN_LIMIT", "1000 per 1 minute")
    return app


def sign_in(client, token: str, next_page: str = "/"):
    return client.post("/login", data={"token": token, "csrf_token": login_form_token(client), "next": next_page})


def test_a_session_ends_when_the_token_it_was_made_from_changes(app, monkeypatch):
    monkeypatch.setitem(app.config, "PIXCEPT_LOGIN_LIMIT", "1000 per 1 minute")
    monkeypatch.setitem(app.config, "PIXCEPT_ADMIN_TOKEN", "admin-token-one")
    client = app.test_client()
    assert sign_in(client, "admin-token-one").status_code == 302
    assert client.get("/api/jobs").status_code == 200  # the admin session starts jobs
    assert client.get("/api/session").get_json()["level"] == "admin"
    monkeypatch.setitem(app.config, "PIXCEPT_ADMIN_TOKEN", "admin-token-two")  # a restart with another token
    assert client.get("/api/jobs").status_code == 403  # reading is open on localhost; the admin session is over
    assert client.get("/api/session").get_json()["level"] == "edit"  # open localhost: reading and editing
    assert "admin-token-one" not in str(client.get_cookie("pixcept_session").value)


def test_signing_out_ends_the_session_even_for_a_copied_cookie(signing_in, monkeypatch):
    app = signing_in
    client = app.test_client()
    sign_in(client, "s3cret-read")
    assert client.get("/api/search?q=red").status_code == 200
    copied = client.get_cookie("pixcept_session").value
    signed_out = client.post("/logout", data={"csrf_token": login_form_token(client)})
    assert signed_out.status_code == 302 and signed_out.headers["Location"] == "/login"
    assert client.get("/api/search?q=red").status_code == 401
    thief = app.test_client()
    thief.set_cookie("pixcept_session", copied)
    assert thief.get("/api/search?q=red").status_code == 401
    again = app.test_client()  # signing in again works, in another session
    sign_in(again, "s3cret-read")
    assert again.get("/api/search?q=red").status_code == 200


def test_a_session_ends_after_its_lifetime(signing_in, monkeypatch):
    app = signing_in
    client = app.test_client()
    sign_in(client, "s3cret-read")
    assert client.get("/api/search?q=red").status_code == 200
    assert client.get_cookie("pixcept_session").expires is not None  # the browser drops it too
    lifetime = app.config["PIXCEPT_SESSION_LIFETIME"]
    now = time.time()
    monkeypatch.setattr(auth.time, "time", lambda: now + lifetime + 1)
    assert client.get("/api/search?q=red").status_code == 401


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\r/evil.example", "/\n/evil.example", "//evil.example",
                                    "/\\evil.example", "https://evil.example/", "javascript:alert(1)", "evil.example",
                                    " //evil.example", "/\x00/x", "/\u2028/evil.example"])
def test_sign_in_goes_only_to_paths_on_this_server(signing_in, target):
    client = signing_in.test_client()
    page = client.get("/login", query_string={"next": target})
    assert page.status_code == 200 and b'name="next" value=""' in page.data
    response = sign_in(client, "s3cret-read", target)
    assert response.status_code == 302 and response.headers["Location"] == "/", response.headers["Location"]


def test_sign_in_returns_to_the_page_it_came_from(signing_in):
    app = signing_in
    client = app.test_client()
    response = sign_in(client, "s3cret-read", "/concepts?sort=size&q=red%20car")
    assert response.headers["Location"] == "/concepts?sort=size&q=red%20car"


def test_sign_in_attempts_are_rate_limited(app, monkeypatch):
    monkeypatch.setitem(app.config, "PIXCEPT_READ_TOKEN", "s3cret-read")
    monkeypatch.setitem(app.config, "PIXCEPT_LOGIN_LIMIT", "2 per 1 minute")
    client = app.test_client()
    token = re.search(rb'name="csrf_token" value="([^"]+)"', client.get("/login").data).group(1).decode()
    codes = [client.post("/login", data={"token": "guess", "csrf_token": token}).status_code for _ in range(3)]
    assert codes == [401, 401, 429]


def test_model_endpoints_are_rate_limited(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PIXCEPT_MODEL_LIMIT", per_window(per_minute=60, burst=3))
    codes = [client.get("/api/search?q=red").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    limited = client.get("/api/search?q=red")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    admin = {"Authorization": f"Bearer {app.config['PIXCEPT_ADMIN_TOKEN']}"}
    assert client.get("/api/search?q=red", headers=admin).status_code == 200
    assert client.get("/api/images/00000000-0000-0000-0000-000000000000").status_code == 404  # not limited


def test_metrics_count_requests_and_images(client):
    client.get("/api/search?q=red")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'pixcept_http_requests_total{endpoint="api.search",method="GET",status="200"}' in text
    assert "pixcept_images 14.0" in text
    assert 'pixcept_search_seconds_count{kind="text"}' in text


# -- jobs -------------------------------------------------------------------------------------------------------------

def wait_finished(client, admin, job_id, timeout=60) -> dict:
    deadline = time.monotonic() + timeout
    job = client.get(f"/api/jobs/{job_id}", headers=admin).get_json()
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}?after={job['version']}&wait=5", headers=admin).get_json()
    return job


def test_index_job_runs_and_reports(client, admin, tmp_path):
    make_library(tmp_path / "more", 4, offset=50)
    response = client.post("/api/jobs", json={"kind": "index", "params": {"folders": [str(tmp_path / "more")]}},
                           headers=admin)
    assert response.status_code == 202
    job = wait_finished(client, admin, response.get_json()["id"])
    assert job["state"] == "done" and job["result"]["indexed"] == 4 and job["done"] == job["total"] == 4
    assert client.get("/api/status").get_json()["images"] == 18
    assert response.get_json()["id"] in [j["id"] for j in client.get("/api/jobs", headers=admin).get_json()["jobs"]]


@pytest.mark.parametrize("body, message", [
    ({"kind": "nope"}, "`kind`: must be one of: index, vocab, cluster, search-index"),
    ({"kind": "index", "params": {"folders": ["/no/such/folder"]}}, "Folder not found"),
    ({"kind": "index", "params": {"folders": "not a list"}}, "`folders`: not a valid list"),
    ({"kind": "vocab", "params": {"entries": [1, 2]}}, "`entries`: not a valid string"),
    ({"kind": "cluster", "params": {"seed": "seven"}}, "`seed`: not a valid integer"),
    ({"kind": "cluster", "params": {"min_concept_size": 1}}, "`min_concept_size`: must be greater than or equal to 2"),
    ({"kind": "cluster", "params": {"sample_size": True}}, "`sample_size`: not a valid integer"),
    ({"kind": "cluster", "params": {"relabel": True, "rollback": True}}, "choose one of if_changed, relabel"),
    ({"kind": "index", "params": {"folders": ["/tmp"], "prunne": True}}, "`prunne`: unknown field"),
    ({"kind": "search-index", "params": {"anything": 1}}, "`anything`: unknown field"),
    ("not json", "Send JSON"),
    ({"kind": "index", "params": {"folders": ["../../.."]}}, "must be absolute paths"),
    ({"kind": "index", "params": {"folders": ["photos"]}}, "must be absolute paths"),
    ({"kind": "index", "params": {"folders": ["/"]}}, "the whole file system"),
    ({"kind": "index", "params": {"folders": ["/etc"]}}, "/etc holds the system's files"),
    ({"kind": "index", "params": {"folders": ["/proc/self"]}}, "/proc holds the system's files"),
    ({"kind": "index", "params": {"folders": ["/root"]}}, "PIXCEPT_ALLOW_FOLDERS"),
    ({"kind": "vocab", "params": {"entries": ["x" * 2000]}}, "too long (2000 characters, limit 100)"),
    ({"kind": "vocab", "params": {"entries": ["red\x00car"]}}, "words or phrases"),
])
def test_bad_job_requests_are_400(client, admin, body, message):
    response = client.post("/api/jobs", json=body, headers=admin)
    assert response.status_code == 400 and message in error_of(response)


def test_a_deeply_nested_or_huge_json_body_is_refused_before_parsing(client, admin):
    nested = b"[" * 100_000 + b"]" * 100_000
    response = client.post("/api/jobs", data=nested, headers={**admin, "Content-Type": "application/json"})
    assert response.status_code == 400 and "nested too deeply" in error_of(response)
    brackets_in_strings = json.dumps({"kind": "vocab", "params": {"entries": ["[" * 60 + "]" * 60]}})
    assert client.post("/api/jobs", data=brackets_in_strings, headers={**admin, "Content-Type": "application/json"}
                       ).status_code == 400  # parsed: too long a word, not too deep
    huge = json.dumps({"kind": "vocab", "params": {"entries": ["word"] * 300_000}})
    response = client.post("/api/jobs", data=huge, headers={**admin, "Content-Type": "application/json"})
    assert response.status_code == 413 and "JSON body is too large" in error_of(response)
    assert json_depth(b'{"a": [1, {"b": "]]]"}], "c": "\\"[["}') == 3


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/nothing/here", "/api/images/x/y/z", "/api/images/%ff%fe"])
def test_unknown_api_paths_answer_json(client, path):
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.is_json and error_of(response)


def test_the_data_folder_is_never_a_library_root(client, admin, library_dir):
    data_dir = library_dir[1].data_dir
    for folder in (data_dir, data_dir / "thumbnails"):
        response = client.post("/api/jobs", json={"kind": "index", "params": {"folders": [str(folder)]}},
                               headers=admin)
        assert response.status_code == 400 and "pixcept's own data folder" in error_of(response)
    assert str(data_dir) not in client.get("/api/status", headers=admin).get_json()["roots"]


def test_a_search_index_job_starts_from_the_api(client, admin):
    response = client.post("/api/jobs", json={"kind": "search-index"}, headers=admin)
    assert response.status_code == 202
    done = wait_finished(client, admin, response.get_json()["id"])
    assert done["state"] == "done" and done["result"]["built"] == []  # a small library needs no index


def test_vocab_job_and_unknown_job(client, admin):
    job = client.post("/api/jobs", json={"kind": "vocab", "params": {"entries": ["red", "blue car"]}},
                      headers=admin).get_json()
    done = wait_finished(client, admin, job["id"])
    assert done["state"] == "done" and done["result"]["added"] + done["result"]["present"] == 2
    assert client.get("/api/jobs/20200101-000000-abcdef", headers=admin).status_code == 404
    assert client.post("/api/jobs/20200101-000000-abcdef/cancel", headers=admin).status_code == 404
    assert client.post(f"/api/jobs/{job['id']}/resume", headers=admin).status_code == 400  # done: nothing to resume


def test_api_docs_page_serves_the_vendored_reference(client):
    response = client.get("/api/docs")
    assert response.status_code == 200 and b"vendor/redoc/redoc.standalone.js" in response.data
    assert b'spec-url="/api/openapi.json"' in response.data
    assert "'unsafe-inline'" in response.headers["Content-Security-Policy"]  # this page only
    assert "'unsafe-inline'" not in client.get("/").headers["Content-Security-Policy"]
    assert client.get("/static/vendor/redoc/redoc.standalone.js").status_code == 200


def test_concept_routes_say_when_there_are_no_concepts_yet(client):
    for path in ("/api/concepts", "/api/concepts/1", "/api/concepts/search?q=red", "/api/search?q=red&concept=1"):
        response = client.get(path)
        assert response.status_code == 409 and "pixcept cluster" in response.get_json()["error"]["message"], path


def test_a_server_without_jobs_says_why(app, client, admin, monkeypatch):
    monkeypatch.setattr(app.extensions["pixcept"], "runner", None)  # as ServerConfig(run_jobs=False) makes it
    response = client.post("/api/jobs", json={"kind": "vocab"}, headers=admin)
    assert response.status_code == 409 and "runs no jobs" in error_of(response)
    assert client.get("/api/status", headers=admin).get_json()["jobs"] == []


def test_an_empty_library_serves_and_says_what_to_do(tmp_path, tiny_model_spec):
    app = create_app(Settings(data_dir=tmp_path / "empty", model=tiny_model_spec, device="cpu",
                              schedule=NO_SCHEDULE),
                     ServerConfig(run_jobs_in_worker=False))
    try:
        client = app.test_client()
        assert client.get("/api/ready").status_code == 200
        assert b"Nothing is indexed yet" in client.get("/").data
        response = client.get("/api/search?q=red")
        assert response.status_code == 409 and "pixcept index FOLDER" in error_of(response)
        assert client.get("/api/status").get_json()["images"] == 0
    finally:
        app.extensions["pixcept"].stop()


def test_messages_in_pages_show_code_not_markdown(client):
    page = client.get("/concepts")  # this library has no concepts: the message names the command to run
    html = page.get_data(as_text=True)
    assert "<code>pixcept cluster</code>" in html and "`" not in html.split("<main")[1]
