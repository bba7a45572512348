"""Tokens limited to folders: every route answers as if the other folders did not exist (search, similar, counts,
filters, files and thumbnails, concepts with their sizes, exemplars and montages, the map, selections, exports), and
the CLI and the API make such tokens only for indexed folders."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from indexer import accounts, selections
from indexer.concepts import scoped
from indexer.concepts.job import run_cluster
from indexer.concepts.publish import WORD_BARS, published, word_bars
from indexer.config import ServerConfig, Settings
from indexer.demo import demo_model_spec, demo_vocabulary
from indexer.demo.world import COLOURS, write_library
from indexer.errors import UsageError
from indexer.index import index_folders
from indexer.library import Library
from indexer.scope import narrowed_roots, within
from indexer.store import IMAGES
from indexer.vocab import add_entries
from server.app import create_app

from conftest import NO_SCHEDULE
from helpers import fit_seed

MINE = ("red", "blue")  # the colours of the household member's folder; the other colours lie in "family"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The demo world in two folders, clustered, with a selection holding images of both; a token limited to
    photos/mine and the IDs of the images in each folder."""
    root = tmp_path_factory.mktemp("scope")
    photos = root / "photos"
    for path in write_library(photos, per_pair=2):
        folder = photos / ("mine" if path.name.split("_")[0] in MINE else "family")
        folder.mkdir(exist_ok=True)
        path.rename(folder / path.name)
    settings = Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu", schedule=NO_SCHEDULE)
    with Library.open(settings) as library:
        index_folders(library, [photos])
        add_entries(library, demo_vocabulary(), "demo", "demo-1")
        token, _ = accounts.create(library, "kid", "editor", "test", [str(photos / "mine")])
        run_cluster(library, {"seed": fit_seed(3), "min_concept_size": 3})  # labels the kid's concepts too
        prepared = list((published(library).folder / "scoped").glob("headings-*.json"))
        ids = {p.id: p.payload["path"] for p in library.store.scroll(IMAGES, fields=["path"])}
        mine = {i for i, path in ids.items() if "/mine/" in path}
        selections.create(library, "picked", "test")
        picked = sorted(mine)[:3] + sorted(set(ids) - mine)[:4]
        selections.mark(library, "picked", picked, selections.ACCEPTED, "test")
    app = create_app(settings, ServerConfig(run_jobs_in_worker=False, searches_per_minute=0, read_token="r3ad"))
    yield {"app": app, "token": token, "mine": mine, "all": set(ids), "photos": photos, "settings": settings,
           "prepared": prepared}
    app.extensions["pixcept"].stop()


def get(world, url: str, token: str | None = None, **kwargs):
    answer = world["app"].test_client().get(url, headers={"Authorization": f"Bearer {token or world['token']}"},
                                            **kwargs)
    return answer


def ids_of(images: list[dict]) -> set[str]:
    return {image["id"] for image in images}


def test_search_similar_and_counts_see_only_the_folders_of_the_token(world):
    mine, others = world["mine"], world["all"] - world["mine"]
    found = get(world, "/api/search?q=green+square&limit=200&cutoff=0").get_json()
    assert found["results"] and ids_of(found["results"]) <= mine
    assert get(world, "/api/search?q=green+square&limit=200&cutoff=0", "r3ad").get_json()["results"][0]["id"] in \
        others  # the same search, unlimited, finds the green squares
    assert get(world, f"/api/search?like={min(others)}").status_code == 404
    assert ids_of(get(world, f"/api/search?like={min(mine)}&limit=200").get_json()["results"]) <= mine
    facets = get(world, "/api/filters").get_json()
    assert facets["images"] == len(mine)
    assert {f["value"] for f in facets["folders"]} == {str(world["photos"] / "mine")}
    assert get(world, "/api/status").get_json()["images"] == len(mine)
    assert get(world, "/api/folders").get_json()["folders"] == [str(world["photos"] / "mine")]
    assert get(world, f"/api/search?q=red&folder={world['photos'] / 'family'}").status_code == 400  # not indexed


def test_files_and_thumbnails_outside_the_folders_do_not_exist(world):
    inside, outside = min(world["mine"]), min(world["all"] - world["mine"])
    for route in ("", "/thumbnail", "/file", "/preview"):
        assert get(world, f"/api/images/{inside}{route}").status_code == 200
        assert get(world, f"/api/images/{outside}{route}").status_code == 404
    assert get(world, f"/images/{outside}").status_code == 404  # the image's page


def test_concepts_their_sizes_exemplars_montages_and_the_map_count_the_folders_only(world):
    mine = world["mine"]
    listed = get(world, "/api/concepts?limit=500").get_json()
    whole = get(world, "/api/concepts?limit=500", "r3ad").get_json()
    assert listed["concepts"] and len(listed["concepts"]) < len(whole["concepts"])  # others' colours are gone
    assert sum(c["size"] for c in listed["concepts"]) + listed["outliers"] == len(mine)
    for concept in listed["concepts"]:
        detail = get(world, f"/api/concepts/{concept['id']}?limit=500").get_json()
        assert detail["members_total"] == detail["size"] == concept["size"] > 0
        assert ids_of(detail["members"]) <= mine
        assert detail["size_over_runs"][-1]["size"] == concept["size"]
        assert concept["exemplars"] and set(concept["exemplars"]) <= mine
        montage = get(world, f"/api/concepts/{concept['id']}/montage")
        assert montage.status_code == 200 and Image.open(io.BytesIO(montage.data)).size[0] > 0
    hidden = {c["id"] for c in whole["concepts"]} - {c["id"] for c in listed["concepts"]}
    assert hidden and all(get(world, f"/api/concepts/{c}").status_code == 404 for c in hidden)
    assert all(get(world, f"/api/concepts/{c}/montage").status_code == 404 for c in hidden)
    found = get(world, "/api/concepts/search?q=green&cutoff=0&limit=100").get_json()
    assert {c["id"] for c in found["concepts"]} <= {c["id"] for c in listed["concepts"]}
    assert get(world, "/api/status").get_json()["concepts"]["concepts"] == len(listed["concepts"])
    groups = get(world, "/api/concepts/groups").get_json()["groups"]
    assert all(set(g["concepts"]) <= {c["id"] for c in listed["concepts"]} for g in groups)
    summary = get(world, "/api/map").get_json()
    assert summary["count"] == len(mine) and {c["id"] for c in summary["concepts"]} <= \
        {c["id"] for c in listed["concepts"]}
    assert len(get(world, "/api/map/points").data) == 12 * len(mine)
    runs = get(world, "/api/concepts/runs").get_json()["runs"]
    assert runs and all("images" not in run and "concepts" not in run for run in runs)  # the whole library's
    at = "&".join(f"index={n}" for n in range(len(mine) + 5))
    assert ids_of(get(world, f"/api/map/images?{at}").get_json()["images"]) == mine


def test_concept_and_group_labels_are_the_words_of_the_folders_images(world):
    """A concept's or group's words come from its images in scope: no label names a colour only the other folders
    hold, and every heading that says what a concept is holds for most of its images in scope."""
    others = set(COLOURS) - set(MINE)

    def words(record):  # its title and the labels that hold for most of its images
        held = [label for label, _ in record["labels"][:record["held"] or 0]]
        phrases = [record["title"].removeprefix("mixed:"), *held]
        return {w for phrase in phrases for w in phrase.replace(",", " ").split()}

    listed = get(world, "/api/concepts?limit=500").get_json()["concepts"]
    groups = get(world, "/api/concepts/groups").get_json()["groups"]
    whole = get(world, "/api/concepts/groups", "r3ad").get_json()["groups"]
    assert any(words(g) & others for g in whole)  # the library's groups name the other folders' colours
    for record in [*listed, *groups]:
        assert not words(record) & others, record
    for concept in listed:
        if concept["held"]:
            detail = get(world, f"/api/concepts/{concept['id']}?limit=500").get_json()
            names = [Path(m["path"]).stem.split("_")[:2] for m in detail["members"]]
            first = concept["labels"][0][0].split()
            assert sum(all(w in name for w in first) for name in names) >= len(names) / 2, (concept, names)
    assert len(world["prepared"]) == 1  # the cluster job worked out the kid's labels: its first list does not wait
    library = world["app"].extensions["pixcept"].whole_library  # without the run's bars: measured on its sample
    current = published(library)
    kept = scoped.headings_in_scope(within(library, [str(world["photos"] / "mine")]), current)
    (current.folder / WORD_BARS).rename(current.folder / "bars.npz")
    world["prepared"][0].unlink()
    try:
        assert scoped.headings_in_scope(within(library, [str(world["photos"] / "mine")]), current) == kept
    finally:
        (current.folder / "bars.npz").rename(current.folder / WORD_BARS)
    member = get(world, f"/api/concepts/{listed[0]['id']}?limit=1").get_json()["members"][0]
    image = get(world, f"/api/images/{member['id']}").get_json()
    assert image["concept"]["labels"][:1] == [w for w, _ in listed[0]["labels"][:1]] or not listed[0]["held"]


def test_a_relabel_keeps_its_bars_and_works_out_the_scopes_labels_again(world):
    library = world["app"].extensions["pixcept"].whole_library
    current = published(library)
    add_entries(library, ["crimson disc", "navy tile"], "user", "user:extra")
    before = set((current.folder / "scoped").glob("headings-*.json"))
    run_cluster(library, {"relabel": True})
    assert word_bars(current, library.manifest.get("vocabularies")) is not None  # measured for the new words
    assert len(set((current.folder / "scoped").glob("headings-*.json")) - before) == 1  # the kid's, worked out
    listed = get(world, "/api/concepts?limit=500").get_json()["concepts"]
    assert listed and all(c["size"] > 0 for c in listed)


def test_selections_and_exports_hold_the_folders_images_only(world):
    mine = world["mine"]
    picked = get(world, "/api/selections/picked").get_json()
    assert picked["accepted"] == 3  # 4 more lie in the family folder
    members = get(world, "/api/selections/picked/images?limit=100").get_json()
    assert ids_of(members["images"]) <= mine and members["total"] == 3
    archive = get(world, "/api/selections/picked/export?format=zip")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.data)) as opened:
        images = [n for n in opened.namelist() if n.lower().endswith(".jpg")]
    assert len(images) == 3 and all(Path(n).name.split("_")[0] in ("red", "blue") for n in images)
    concept = get(world, "/api/concepts?limit=1").get_json()["concepts"][0]
    exported = get(world, f"/api/concepts/{concept['id']}/export?format=zip")
    with zipfile.ZipFile(io.BytesIO(exported.data)) as opened:
        names = [n for n in opened.namelist() if n.lower().endswith(".jpg")]
    assert len(names) == concept["size"] and all(Path(n).name.split("_")[0] in MINE for n in names)
    outside = sorted(world["all"] - mine)[:2]
    client, kid = world["app"].test_client(), {"Authorization": f"Bearer {world['token']}"}
    for state in ("accepted", None):  # images it cannot see are not indexed, nor taken out
        assert client.post("/api/selections/picked/images", json={"ids": outside, "state": state},
                           headers=kid).status_code == (404 if state else 200)
    assert client.delete("/api/selections/picked", headers=kid).status_code == 409
    reader = {"Authorization": "Bearer r3ad"}
    theirs = client.post("/api/exports", json={"selection": "picked", "format": "zip"}, headers=reader).json["id"]
    ours = client.post("/api/exports", json={"selection": "picked", "format": "zip"}, headers=kid).json["id"]
    assert [r["id"] for r in client.get("/api/exports", headers=kid).json["exports"]] == [ours]
    assert {theirs, ours} <= {r["id"] for r in client.get("/api/exports", headers=reader).json["exports"]}
    assert client.get(f"/api/exports/{theirs}", headers=kid).status_code == 404
    for _ in range(200):
        if client.get(f"/api/exports/{ours}", headers=kid).json["state"] != "running":
            break
        time.sleep(0.05)
    with zipfile.ZipFile(io.BytesIO(client.get(f"/api/exports/{ours}/file", headers=kid).data)) as opened:
        assert len([n for n in opened.namelist() if n.lower().endswith(".jpg")]) == 3
    assert get(world, "/api/selections/picked", "r3ad").get_json()["accepted"] == 7


def test_scoped_tokens_are_made_for_indexed_folders_only(world, tmp_path):
    library = world["app"].extensions["pixcept"].whole_library
    if True:
        with pytest.raises(UsageError, match="Not an indexed folder"):
            accounts.create(library, "stranger", "reader", "test", [str(tmp_path)])
        with pytest.raises(UsageError, match="admin sees every folder"):
            accounts.create(library, "boss", "admin", "test", [str(world["photos"] / "mine")])
        kid = next(a for a in accounts.list_all(library) if a.name == "kid")
        assert kid.folders == (str(world["photos"] / "mine"),)
        view = within(library, kid.folders)
        assert view.store.count(IMAGES) == len(world["mine"]) < library.store.count(IMAGES)
        with pytest.raises(PermissionError):
            view.store.delete(IMAGES, [min(world["mine"])])
    assert narrowed_roots(["/p"], ["/p/a", "/q"]) == ["/p/a"]
    assert narrowed_roots(["/p/a", "/p/b", "/r"], ["/p"]) == ["/p/a", "/p/b"]


def test_the_cli_makes_and_lists_a_token_limited_to_folders(run, photos, tmp_path):
    assert run("index", photos).exit_code == 0
    made = run("tokens", "create", "kid", "--role", "reader", "--folder", photos / "red")
    assert made.exit_code == 0 and made.stdout.strip().startswith("pxt_"), made.stderr
    assert f"limited to {photos / 'red'}" in made.stderr
    assert f"folders: {photos / 'red'}" in run("tokens").stdout
    (tmp_path / "elsewhere").mkdir()
    wrong = run("tokens", "create", "stranger", "--role", "reader", "--folder", tmp_path / "elsewhere")
    assert wrong.exit_code == 2 and "Not an indexed folder" in wrong.stderr
    boss = run("tokens", "create", "boss", "--role", "admin", "--folder", photos / "red")
    assert boss.exit_code == 2 and "admin sees every folder" in boss.stderr
