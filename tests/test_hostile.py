"""Hostile and careless input: files that try to take gigabytes, paths swapped for symlinks to secrets, names that are
not UTF-8 or forge report rows, folders that vanish before a prune, requests with control characters."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from indexer.config import ServerConfig, Settings, load_settings
from indexer.demo.hostile import write_hostile_corpus
from indexer.demo.measure import run_cli_measured
from indexer.errors import UsageError
from indexer.failures import NOT_READ_AGAIN
from indexer.filters import SearchFilters
from indexer.images import walk_images
from indexer.index import index_folders
from indexer.library import Library
from indexer.roots import check_roots
from indexer.search import search_images
from indexer.store import IMAGES
from server.app import create_app
from server.serve import check_serving_options

from conftest import ROOT, pixcept_process
from helpers import make_image, make_library

MEMORY_ALLOWANCE_MB = 300  # the goal: hostile files cost at most this over as many ordinary photos


def run_measured(args: list, env: dict) -> tuple[int, str, str, float]:
    result = run_cli_measured(args, env, ROOT)
    return result.code, result.out, result.err, result.peak_mb


def report_rows(data_dir: Path) -> dict[str, str]:
    """{path: reason} of the newest failure report, read as the csv module writes it (paths keep their bytes)."""
    newest = max((data_dir / "reports").glob("index-*.tsv"), key=lambda p: p.stat().st_mtime_ns)
    with open(newest, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows[0] == ["path", "reason"]
    return dict(rows[1:])


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, tiny_model_spec):
    """The hostile corpus and as many ordinary photos, each indexed by a fresh `pixcept index` process."""
    root = tmp_path_factory.mktemp("hostile")
    expected = write_hostile_corpus(root / "hostile")
    make_library(root / "ordinary", len(expected))
    runs = {}
    for name in ("ordinary", "hostile"):
        env = {"PIXCEPT_DATA_DIR": str(root / f"data-{name}"), "PIXCEPT_MODEL": tiny_model_spec,
               "PIXCEPT_DEVICE": "cpu"}
        runs[name] = run_measured(["index", root / name], env) + (env,)
    return root, expected, runs


def test_hostile_files_are_reported_and_cost_no_more_memory_than_photos(hostile_run):
    root, expected, runs = hostile_run
    code, out, err, hostile_mb, _ = runs["hostile"]
    assert code == 0, err
    assert "Traceback" not in err
    assert f"0 indexed, 0 updated, 0 unchanged, {len(expected)} failed" in out
    ordinary_code, _, ordinary_err, ordinary_mb, _ = runs["ordinary"]
    assert ordinary_code == 0, ordinary_err
    assert hostile_mb <= ordinary_mb + MEMORY_ALLOWANCE_MB, (hostile_mb, ordinary_mb)
    rows = report_rows(root / "data-hostile")
    assert set(rows) == set(expected)  # the newline and tab in a name did not forge a row
    for path, reason in expected.items():
        assert any(part in rows[path] for part in reason.split("|")), (path, rows[path])


def test_a_rerun_does_not_read_failed_files_again_until_they_change(hostile_run):
    root, expected, runs = hostile_run
    env = runs["hostile"][4]
    junk = root / "hostile" / "junk-1GB.jpg"
    code, out, err, _ = run_measured(["index", root / "hostile"], env)
    assert code == 0, err
    rows = report_rows(root / "data-hostile")
    assert set(rows) == set(expected)
    assert all(reason.endswith(NOT_READ_AGAIN) for reason in rows.values())
    make_image(junk, "blue", fmt="JPEG")  # fixed: a real photo now
    code, out, err, _ = run_measured(["index", root / "hostile"], env)
    assert code == 0 and "1 indexed" in out, out + err
    assert str(junk) not in report_rows(root / "data-hostile")


def test_the_data_folder_inside_an_indexed_folder_is_passed_over(tmp_path, tiny_model_spec):
    photos = tmp_path / "photos"
    make_library(photos, 4)
    settings = Settings(data_dir=photos / "pixcept-data", model=tiny_model_spec, device="cpu")
    with Library.open(settings) as library:
        index_folders(library, [photos])
        summary = index_folders(library, [photos])  # thumbnails now exist in the data folder
        assert summary.unchanged == 4 and summary.indexed == 0
        assert library.store.count(IMAGES) == 4
    assert not [e for e in walk_images([photos], exclude=[photos / "pixcept-data"]) if "pixcept-data" in e.path]


def test_a_folder_deeper_than_the_system_allows_is_reported(tmp_path):
    root = tmp_path / "deep"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    for _ in range(20):  # 20 x 250 characters: past PATH_MAX (4096)
        os.mkdir("d" * 250, dir_fd=fd)
        inner = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    problems = [e for e in walk_images([root]) if getattr(e, "reason", "").startswith("folder not readable")]
    assert problems and "too long" in problems[0].reason.lower()


# -- names that are not UTF-8 ------------------------------------------------------------------------------------------

def test_names_that_are_not_utf8_work_end_to_end(tmp_path, tiny_model_spec):
    photos = tmp_path / "photos"
    make_library(photos, 8)
    odd_folder = Path(os.fsdecode(str(photos).encode() + b"/d\xff"))
    odd_file = make_image(Path(os.fsdecode(str(photos).encode() + b"/caf\xe9.jpg")), "blue", seed=77)
    make_image(odd_folder / "inside.jpg", "green", seed=78)
    settings = Settings(data_dir=tmp_path / "data", model=tiny_model_spec, device="cpu")
    with Library.open(settings) as library:
        summary = index_folders(library, [photos])
        assert summary.indexed == 10 and not summary.failed
        names = {r.path for r in search_images(library, "blue", limit=20)}
        assert str(photos / "caf\ufffd.jpg") in names  # shown in display form
        within = search_images(library, "green", limit=20, where=SearchFilters((str(odd_folder),)).where())
        assert [r.path for r in within] == [str(photos / "d\ufffd" / "inside.jpg")]
        assert index_folders(library, [photos]).unchanged == 10  # the exact path is known again: nothing re-read
    app = create_app(settings, ServerConfig(run_jobs=False, searches_per_minute=0))
    try:
        client = app.test_client()
        hit = client.get("/api/search?q=blue&cutoff=0&limit=20").get_json()["results"]
        image_id = next(r["id"] for r in hit if r["name"] == "caf\ufffd.jpg")
        response = client.get(f"/api/images/{image_id}/file")
        assert response.status_code == 200 and response.data == odd_file.read_bytes()
    finally:
        app.extensions["pixcept"].stop()
    odd_file.unlink()
    with Library.open(settings) as library:
        assert index_folders(library, [photos], prune=True).removed == 1
        assert library.store.count(IMAGES) == 9


# -- reading files the library does not own ----------------------------------------------------------------------------

@pytest.fixture
def served_library(tmp_path, tiny_model_spec):
    photos = tmp_path / "photos"
    make_library(photos, 8)
    settings = Settings(data_dir=tmp_path / "data", model=tiny_model_spec, device="cpu")
    with Library.open(settings) as library:
        index_folders(library, [photos])
    app = create_app(settings, ServerConfig(run_jobs=False, searches_per_minute=0))
    yield app.test_client(), photos, settings.data_dir
    app.extensions["pixcept"].stop()


def _image_id(client, path: Path) -> str:
    results = client.get("/api/search?q=photo&cutoff=0&limit=50").get_json()["results"]
    return next(r["id"] for r in results if r["path"] == str(path))


def test_a_photo_swapped_for_a_symlink_to_a_secret_is_never_served(served_library, tmp_path):
    client, photos, data_dir = served_library
    photo = photos / "red" / "img_000.jpg"
    image_id = _image_id(client, photo)
    original = photo.read_bytes()
    assert client.get(f"/api/images/{image_id}/file").data == original
    secret = (data_dir / "server-secret").read_bytes()
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(original)  # the same content, but outside the library's folders
    for target in (data_dir / "server-secret", Path("/etc/passwd"), photos / "blue" / "img_001.jpg", outside):
        photo.unlink()
        photo.symlink_to(target)
        for route in ("file", "preview"):
            response = client.get(f"/api/images/{image_id}/{route}")
            assert response.status_code == 404, (target, route)
            assert secret not in response.data
    photo.unlink()
    photo.write_bytes(original)
    assert client.get(f"/api/images/{image_id}/file").data == original


def test_a_cached_preview_is_not_served_once_its_original_was_swapped(served_library, tmp_path):
    client, photos, data_dir = served_library
    photo = photos / "green" / "img_001.jpg"
    image_id = _image_id(client, photo)
    original = photo.read_bytes()
    assert client.get(f"/api/images/{image_id}/preview").status_code == 200  # made and cached
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(original)
    for target in (data_dir / "server-secret", outside):
        photo.unlink()
        photo.symlink_to(target)
        assert client.get(f"/api/images/{image_id}/preview").status_code == 404, target
    photo.unlink()
    photo.write_bytes(original)  # back, with a new mtime: verified by its hash, and served again
    assert client.get(f"/api/images/{image_id}/preview").status_code == 200


def test_a_changed_file_is_not_served_as_the_indexed_one(served_library):
    client, photos, _ = served_library
    photo = photos / "red" / "img_004.jpg"
    image_id = _image_id(client, photo)
    photo.write_bytes(photo.read_bytes() + b"appended")
    response = client.get(f"/api/images/{image_id}/file")
    assert response.status_code == 404 and "changed" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "192.0.2.7"])
def test_every_interface_is_public_and_needs_a_token(host, settings):
    with pytest.raises(UsageError, match="without a read token"):
        check_serving_options(settings, ServerConfig(host=host))
    check_serving_options(settings, ServerConfig(host=host, read_token="t" * 32))


@pytest.mark.parametrize("token", ["", "   ", " padded-token", "padded-token\n", "tab\tinside-is-fine-but\x01"])
def test_a_blank_or_padded_token_is_refused(token, settings):
    for config in (ServerConfig(read_token=token), ServerConfig(admin_token=token)):
        with pytest.raises(UsageError, match="is blank, or has spaces at its ends or control characters"):
            check_serving_options(settings, config)


def test_serve_refuses_a_whitespace_read_token_before_it_listens(cli_env):
    process = pixcept_process("serve", "--read-token", "   ", "--port", "8799", env=cli_env)
    try:
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 2 and "--read-token (PIXCEPT_READ_TOKEN) is blank" in err, err


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_token(host, settings):
    check_serving_options(settings, ServerConfig(host=host))


@pytest.mark.parametrize("query", ["folder=%00", "folder=/photos%00/x", "q=red%01", "folder=%1b[2J"])
def test_control_characters_in_requests_are_400(served_library, query):
    client, _, _ = served_library
    response = client.get(f"/api/search?{query}")
    assert response.status_code == 400 and "control characters" in response.get_json()["error"]["message"]


# -- library roots -----------------------------------------------------------------------------------------------------

def test_folders_that_are_no_photo_folders_are_refused_unless_allowed(tmp_path, monkeypatch):
    (tmp_path / "photos").mkdir()
    (tmp_path / "to-etc").symlink_to("/etc")
    assert check_roots([tmp_path / "photos"]) == [(tmp_path / "photos").resolve()]
    monkeypatch.chdir(tmp_path)
    assert check_roots(["photos"]) == [(tmp_path / "photos").resolve()]  # the CLI resolves a relative path here
    with pytest.raises(UsageError, match="must be absolute"):
        check_roots(["photos"], absolute=True)  # a relative path from another machine means nothing
    with pytest.raises(UsageError, match=r"to-etc \(that is /etc\): /etc holds the system's files"):
        check_roots([tmp_path / "to-etc"])
    with pytest.raises(UsageError, match="the whole file system"):
        check_roots(["/"])
    with pytest.raises(UsageError, match="pixcept's own data folder"):
        check_roots([tmp_path / "photos"], data_dir=tmp_path)
    allowed = load_settings({}, {"PIXCEPT_ALLOW_FOLDERS": f"/nowhere:{tmp_path / 'to-etc'}"}).allow_folders
    assert check_roots([tmp_path / "to-etc"], allowed=allowed) == [Path("/etc")]
    with pytest.raises(UsageError, match="/root holds"):
        check_roots(["/root"], allowed=allowed)


def test_index_refuses_the_data_folder(library, run, data_dir):
    (data_dir / "more").mkdir(parents=True)
    result = run("index", data_dir / "more")
    assert result.exit_code == 2 and "pixcept's own data folder" in result.stderr
    assert str(data_dir / "more") not in library.manifest.get("roots", [])


# -- prune -------------------------------------------------------------------------------------------------------------

def test_prune_refuses_when_a_folder_lost_most_of_its_images(library, tmp_path):
    photos = tmp_path / "photos"
    make_library(photos, 40)  # 10 in each of 4 colour folders
    index_folders(library, [photos])
    for path in (photos / "red").iterdir():  # an unmounted subfolder
        path.unlink()
    with pytest.raises(UsageError, match=rf"{photos / 'red'}: 10 of 10 images missing") as refused:
        index_folders(library, [photos], prune=True)
    assert "--force" in str(refused.value)
    assert library.store.count(IMAGES) == 40
    assert index_folders(library, [photos], prune=True, force=True).removed == 10


def test_prune_refuses_a_mount_point_left_with_one_stray_image(library, tmp_path):
    photos = tmp_path / "mount"
    make_library(photos, 12)
    index_folders(library, [photos])
    for path in sorted(photos.rglob("*.jpg"))[1:]:
        path.unlink()
    with pytest.raises(UsageError, match=rf"{photos}: 11 of 12 images missing"):
        index_folders(library, [photos], prune=True)
    assert library.store.count(IMAGES) == 12


def test_prune_of_a_few_deleted_photos_goes_ahead(library, tmp_path):
    photos = tmp_path / "photos"
    make_library(photos, 12)
    index_folders(library, [photos])
    for path in list((photos / "red").iterdir()):  # 3 of 3: more than half, but only a handful
        path.unlink()
    assert index_folders(library, [photos], prune=True).removed == 3
