"""Filters people can see and trust: every folder of the tree with counts, cameras, file types, images without a
date counted, and days as the photo's own clock shows them."""

from __future__ import annotations

import json
from datetime import date

import pytest
from PIL import Image

from indexer.config import ServerConfig, Settings
from indexer.errors import UsageError
from indexer.filters import SearchFilters, library_facets
from indexer.index import index_folders
from indexer.library import Library
from indexer.search import search_images
from indexer.store import IMAGES
from server.app import create_app

from browsing import screenshots, serious_violations, wait_for_results
from conftest import NO_SCHEDULE
from helpers import make_image
from test_serve import start_server, stop_server


def exif(taken: str | None = None, offset: str | None = None, camera: tuple[str, str] | None = None) -> Image.Exif:
    data = Image.Exif()
    if camera:
        data[0x010F], data[0x0110] = camera
    if taken:
        data.get_ifd(0x8769)[0x9003] = taken
    if offset:
        data.get_ifd(0x8769)[0x9011] = offset
    return data


CANON, PIXEL = ("Canon", "EOS R6"), ("Google", "Pixel 8")


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_spec):
    """photos/2023/summer (3 Canon JPEGs), photos/2023/winter (1 Pixel JPEG, taken after midnight in Tokyo),
    photos/scans (2 PNGs without a date or camera)."""
    root = tmp_path_factory.mktemp("filters")
    photos = root / "photos"
    for i in range(3):
        make_image(photos / "2023" / "summer" / f"beach_{i}.jpg", "blue", seed=i,
                   exif=exif(f"2023:07:0{i + 1} 12:00:00", camera=CANON))
    # 01:30 on 2 Jan in Tokyo is 16:30 on 1 Jan in UTC: the photo's own day is the 2nd
    make_image(photos / "2023" / "winter" / "tokyo.jpg", "red", seed=7,
               exif=exif("2023:01:02 01:30:00", "+09:00", camera=PIXEL))
    for i in range(2):
        make_image(photos / "scans" / f"scan_{i}.png", "green", seed=20 + i)
    settings = Settings(data_dir=root / "data", model=tiny_model_spec, device="cpu", schedule=NO_SCHEDULE)
    with Library.open(settings) as library:
        index_folders(library, [photos])
    return photos, settings


@pytest.fixture
def library(world):
    with Library.open(world[1]) as library:  # per test: the CLI and the app below open it too
        yield library


def names(results) -> set[str]:
    return {r.path.rsplit("/", 1)[-1] for r in results}


def find(library, **filters) -> set[str]:
    return names(search_images(library, "photo", limit=50, where=SearchFilters(**filters).where()))


def test_facets_count_every_folder_of_the_tree_cameras_types_and_undated(library, world):
    photos = world[0]
    facets = library_facets(library)
    assert facets.images == 6 and facets.undated == 2
    assert facets.folders == [(str(photos), 6), (str(photos / "2023"), 4), (str(photos / "2023" / "summer"), 3),
                              (str(photos / "2023" / "winter"), 1), (str(photos / "scans"), 2)]
    assert facets.cameras == [("Canon EOS R6", 3), ("Google Pixel 8", 1)]
    assert facets.formats == [("JPEG", 4), ("PNG", 2)]


def test_each_filter_narrows_and_kinds_combine(library, world):
    photos = world[0]
    assert find(library, folders=(str(photos / "2023"),)) == {"beach_0.jpg", "beach_1.jpg", "beach_2.jpg",
                                                              "tokyo.jpg"}
    assert find(library, cameras=("Google Pixel 8",)) == {"tokyo.jpg"}
    assert find(library, formats=("png",)) == {"scan_0.png", "scan_1.png"}
    assert find(library, dated=False) == {"scan_0.png", "scan_1.png"}
    assert len(find(library, dated=True)) == 4
    assert find(library, folders=(str(photos / "2023"),), cameras=("Canon EOS R6",), formats=("JPEG",),
                dated=True) == {"beach_0.jpg", "beach_1.jpg", "beach_2.jpg"}


def test_days_are_the_photos_own_days(library):
    """The Tokyo photo was taken on 2 January by its own clock (1 January in UTC)."""
    assert find(library, taken_from=_day("2023-01-02"), taken_to=_day("2023-01-02")) == {"tokyo.jpg"}
    assert find(library, taken_from=_day("2023-01-01"), taken_to=_day("2023-01-01")) == set()
    tokyo = next(p for p in library.store.scroll(IMAGES) if p.payload["path"].endswith("tokyo.jpg"))
    assert tokyo.payload["taken_at"] == "2023-01-02T01:30:00+09:00"
    beach = next(p for p in library.store.scroll(IMAGES) if p.payload["path"].endswith("beach_0.jpg"))
    assert beach.payload["taken_at"] == "2023-07-01T12:00:00"  # no zone recorded: none claimed


def test_a_date_range_counts_the_undated_images_it_leaves_out(library, world):
    in_july = SearchFilters(taken_from=_day("2023-07-01"), taken_to=_day("2023-07-31"))
    assert in_july.undated_left_out(library) == 2
    in_summer_folder = SearchFilters(folders=(str(world[0] / "2023"),), taken_from=_day("2023-07-01"))
    assert in_summer_folder.undated_left_out(library) == 0
    assert SearchFilters().undated_left_out(library) == 0
    with pytest.raises(UsageError, match="cannot fall in a date range"):
        SearchFilters(dated=False, taken_from=_day("2023-01-01"))


def test_libraries_indexed_before_own_clock_days_are_upgraded_once(library, world):
    """A library written when taken_ts was UTC gets the photo's own clock on its next index run."""
    tokyo = next(p for p in library.store.scroll(IMAGES) if p.payload["path"].endswith("tokyo.jpg"))
    own_clock = tokyo.payload["taken_ts"]
    library.store.set_payload(IMAGES, [tokyo.id], {"taken_ts": own_clock - 9 * 3600})  # as UTC was stored
    library.update_manifest(payload_version=1)
    index_folders(library, [world[0]])
    assert library.store.retrieve(IMAGES, [tokyo.id])[0].payload["taken_ts"] == own_clock
    assert library.manifest["payload_version"] == 2


def _day(text: str) -> date:
    return date.fromisoformat(text)


# -- through the CLI and the API (the app holds the library from here on) ------------------------------------------

def test_cli_lists_filters_and_searches_with_them(world, monkeypatch):
    from click.testing import CliRunner

    from indexer.cli import cli

    monkeypatch.setenv("PIXCEPT_DATA_DIR", str(world[1].data_dir))
    monkeypatch.setenv("PIXCEPT_MODEL", world[1].model)
    monkeypatch.setenv("PIXCEPT_DEVICE", "cpu")
    monkeypatch.delenv("QDRANT_URL", raising=False)
    runner = CliRunner()
    listed = runner.invoke(cli, ["filters"])
    assert listed.exit_code == 0, listed.output
    assert "6 images, 2 without a date taken" in listed.output and "3\tCanon EOS R6" in listed.output
    facets = json.loads(runner.invoke(cli, ["filters", "--json"]).output)
    assert facets["formats"][1] == {"value": "PNG", "count": 2}
    found = runner.invoke(cli, ["search", "photo", "--all", "--paths", "--camera", "Canon EOS R6", "--from",
                                "2023-07-02"])
    assert found.exit_code == 0, found.output
    assert sorted(line.rsplit("/", 1)[-1] for line in found.output.split()) == ["beach_1.jpg", "beach_2.jpg"]
    undated = runner.invoke(cli, ["search", "photo", "--all", "--paths", "--undated"])
    assert sorted(line.rsplit("/", 1)[-1] for line in undated.output.split()) == ["scan_0.png", "scan_1.png"]


def test_filters_in_the_browser(world, browser, page, tiny_model_spec):
    """A shared link with a subfolder keeps it; the tree picker finds folders by typing, with counts; camera and
    file type list what the library holds; a date range says what it leaves out; dates read as the photo's."""
    photos = world[0]
    env = {"PIXCEPT_DATA_DIR": str(world[1].data_dir), "PIXCEPT_DEVICE": "cpu", "PIXCEPT_MODEL": tiny_model_spec,
           "PIXCEPT_SEARCHES_PER_MINUTE": "0"}
    process, url = start_server(env)
    try:
        winter = photos / "2023" / "winter"
        page.goto(f"{url}/?q=photo&all=1&folder={winter}")
        assert wait_for_results(page) == ["tokyo.jpg"]
        assert page.input_value("#folder") == str(winter)  # shown, not a blank select
        assert page.inner_text("#filters summary") == "Filters (1 on)"
        page.fill("#q", "picture")
        page.press("#q", "Enter")
        page.wait_for_url("**q=picture**")
        assert f"folder={winter}".replace("/", "%2F") in page.url and wait_for_results(page) == ["tokyo.jpg"]

        page.click("#folder")
        page.fill("#folder", "summ")
        options = page.locator("#folder-list [role=option]")
        assert options.evaluate_all("rows => rows.map(r => r.getAttribute('aria-label'))") == [
            f"{photos}, 6 images", f"{photos / '2023'}, 4 images", f"{photos / '2023' / 'summer'}, 3 images"]
        assert page.get_attribute("#folder", "aria-activedescendant") == "folder-list-2"  # the match, not a parent
        assert serious_violations(page) == []
        screenshots(page, "search-folder-picker")  # and nothing wider than a phone
        page.press("#folder", "Enter")
        page.wait_for_url("**summer**")
        assert sorted(wait_for_results(page)) == ["beach_0.jpg", "beach_1.jpg", "beach_2.jpg"]

        page.fill("#folder", "")
        page.press("#folder", "Enter")  # emptied: every folder
        page.wait_for_function("() => !location.search.includes('folder=')")
        assert page.locator("#camera option").all_inner_texts() == ["Any camera", "Canon EOS R6 (3)",
                                                                    "Google Pixel 8 (1)"]
        assert page.locator("#format option").all_inner_texts() == ["Any type", "JPEG (4)", "PNG (2)"]
        assert "Without a date (2)" in page.locator("#dated option").all_inner_texts()
        page.select_option("#camera", "Google Pixel 8")
        page.wait_for_url("**camera=Google**")
        assert wait_for_results(page) == ["tokyo.jpg"]
        page.select_option("#camera", "")
        for field in ("#from", "#to"):  # the day the Tokyo photo shows (UTC would say the 1st)
            page.fill(field, "2023-01-02")
            page.dispatch_event(field, "change")
        page.wait_for_url("**to=2023-01-02**")
        page.wait_for_function("() => document.getElementById('status').textContent.includes('left out')")
        assert wait_for_results(page) == ["tokyo.jpg"]
        assert "2 images without a date taken left out by the dates" in page.inner_text("#status")
        page.click(".result-link")
        assert "Taken 2 Jan 2023, 01:30 (UTC+09:00)" in page.inner_text(".lightbox-meta")
        screenshots(page, "search-filters")
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def client(world):
    app = create_app(world[1], ServerConfig(run_jobs_in_worker=False, searches_per_minute=0))
    yield app.test_client()
    app.extensions["pixcept"].stop()


def test_api_lists_the_filters_with_counts(client, world):
    body = client.get("/api/filters").get_json()
    assert body["images"] == 6 and body["undated"] == 2
    assert {"value": str(world[0] / "scans"), "count": 2} in body["folders"]
    assert body["cameras"][0] == {"value": "Canon EOS R6", "count": 3}
    assert body["formats"] == [{"value": "JPEG", "count": 4}, {"value": "PNG", "count": 2}]


def test_api_search_filters_and_says_what_a_date_range_leaves_out(client):
    def search(query: str) -> dict:
        response = client.get(f"/api/search?q=photo&cutoff=0&{query}")
        assert response.status_code == 200, response.data
        return response.get_json()

    assert {r["name"] for r in search("camera=Google+Pixel+8")["results"]} == {"tokyo.jpg"}
    assert {r["name"] for r in search("format=PNG&format=webp")["results"]} == {"scan_0.png", "scan_1.png"}
    assert {r["name"] for r in search("dated=no")["results"]} == {"scan_0.png", "scan_1.png"}
    dated = search("from=2023-01-02&to=2023-01-02")
    assert [r["name"] for r in dated["results"]] == ["tokyo.jpg"] and dated["undated_left_out"] == 2
    assert search("q=photo")["undated_left_out"] == 0
    for bad, message in (("dated=maybe", "yes or no"), ("format=../x", "not valid"),
                         ("dated=no&from=2023-01-01", "cannot fall in a date range")):
        response = client.get(f"/api/search?q=photo&{bad}")
        assert response.status_code == 400 and message in response.get_json()["error"]["message"]
