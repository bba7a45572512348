"""Journeys in a real browser on the emoji world, where words mean what people mean: "dog" shows dogs, concepts are
called by real words, and an annotation team gathers the fruit from one apple and exports them.

The library: the emoji of three Unicode groups (animals and nature, food and drink, flags: 554 pictures), indexed with
the emoji demo model and pixcept's default vocabulary. Truth comes from Unicode (the file names), never from pixcept.
"""

from __future__ import annotations

import zipfile

import pytest

from indexer.concepts.job import run_cluster
from indexer.config import Settings
from indexer.demo import emoji as world
from indexer.demo import emoji_model_spec
from indexer.demo.emoji import DOGS
from indexer.demo.emoji_truth import label_true
from indexer.index import index_folders
from indexer.library import Library
from indexer.vocab import DEFAULT_SOURCE, add_entries
from indexer.words import default_vocabulary

from browsing import (
    box_select_concept_core,
    screenshots,
    selection_from_one,
    serious_violations,
    wait_for_results,
)
from helpers import fit_seed
from test_serve import start_server, stop_server

GROUPS = {"Animals & Nature", "Food & Drink", "Flags"}


@pytest.fixture(scope="module")
def library_root(tmp_path_factory):
    try:
        world.require_data()
    except world.MissingWorldData as error:
        pytest.fail(f"{error}: `bash .ci/install` installs both")
    root = tmp_path_factory.mktemp("browser-emoji")
    world.write_library(root / "photos", emoji=tuple(e for e in world.load_emoji() if e.group in GROUPS))
    with Library.open(Settings(data_dir=root / "data", model=emoji_model_spec(), device="cpu")) as library:
        index_folders(library, [root / "photos"])
        version, words = default_vocabulary()
        add_entries(library, words, DEFAULT_SOURCE, version)
        run_cluster(library, {"seed": fit_seed(0)})
    return root


@pytest.fixture(scope="module")
def server(library_root):
    env = {"PIXCEPT_DATA_DIR": str(library_root / "data"), "PIXCEPT_DEVICE": "cpu", "PIXCEPT_MODEL": "",
           "PIXCEPT_SEARCHES_PER_MINUTE": "0"}
    process, url = start_server(env)
    yield url
    stop_server(process)


def test_dog_shows_the_dogs_first(page, server):
    page.goto(server + "/?q=dog")
    names = [world.emoji_of(n).name for n in wait_for_results(page)]
    assert set(names[:5]) == DOGS, names[:10]
    screenshots(page, "emoji-search")


def flags_share(names: list[str]) -> float:
    return sum(world.emoji_of(n).group == "Flags" for n in names) / max(len(names), 1)


def test_search_shows_the_flags_concept_and_filters_by_it(page, server):
    """"flag" shows, above the results, the concepts that stand out for it; the first is the flags (judged from its
    members by Unicode's groups), and following it keeps the search within that concept: flags."""
    page.goto(server + "/?q=flag")
    wait_for_results(page)
    strip = page.locator("#concept-strip li")
    strip.first.wait_for()
    strip.first.get_by_role("button").click()
    page.wait_for_url("**concept=*")
    names = wait_for_results(page)
    assert len(names) >= 10 and flags_share(names) >= 0.9, names


def test_a_box_on_the_map_around_the_flags_selects_flags_and_keeps_them(page, server):
    page.goto(server + "/map")
    page.wait_for_function("() => window.pixceptMap && window.pixceptMap.count > 0", timeout=15000)
    names = box_select_concept_core(page, server, "flag")
    assert len(names) >= 20 and flags_share(names) >= 0.9, names
    page.once("dialog", lambda dialog: dialog.accept("Flags from the map"))
    page.locator("#keep-choice").select_option("")
    with page.expect_response("**/selections/Flags%20from%20the%20map/images") as added:
        page.locator("#keep-bar").get_by_role("button", name="Add").click()
    assert added.value.ok, added.value.text()
    kept: list[str] = []
    while len(kept) < len(names) + 1:  # page by page, until a short page
        page_of = page.request.get(server + f"/api/selections/Flags%20from%20the%20map/images?limit=200"
                                            f"&offset={len(kept)}").json()["images"]
        kept += [image["name"] for image in page_of]
        if len(page_of) < 200:
            break
    assert sorted(kept) == sorted(names)
    assert serious_violations(page) == []


def test_the_concept_grid_is_called_by_real_words(page, server):
    page.goto(server + "/concepts")
    page.wait_for_selector(".concept-card")
    concepts = page.request.get(server + "/api/concepts?limit=500").json()["concepts"]
    right = 0
    for concept in concepts:
        exemplars = page.request.get(server + f"/api/concepts/{concept['id']}").json()["exemplars"]
        paths = [page.request.get(server + f"/api/images/{image}").json()["path"] for image in exemplars]
        right += label_true(concept["labels"][0][0], [world.emoji_of(path) for path in paths])
    assert right / len(concepts) >= 0.3, [c["labels"][0][0] for c in concepts]
    assert serious_violations(page) == []
    screenshots(page, "emoji-concepts")


def test_gather_the_fruit_from_one_apple_and_export_them(page, server):
    """Start from one red apple; accept each candidate Unicode calls a fruit and reject the rest, page by page,
    with the keyboard; the selection ends holding fruit only, most of them, and the ZIP holds exactly those."""
    fruit = {f"{e.subgroup}_{e.slug}_1.jpg" for e in world.load_emoji() if e.subgroup == "food-fruit"}
    selection_from_one(page, server, "Fruit", "red apple", lambda image: image["name"] == "food-fruit_red-apple_1.jpg")
    page.get_by_role("button", name="Show candidates").click()
    for _ in range(5):
        page.wait_for_selector("#candidates .result, #gather-status:has-text('No candidates')")
        names = page.locator("#candidates .result-name").evaluate_all("names => names.map(n => n.dataset.name)")
        if not names:
            break
        page.locator("#candidates").focus()
        for name in names:
            page.keyboard.press("a" if name in fruit else "r")
        with page.expect_response("**/gather?*"):
            page.get_by_role("button", name="Next page").click()
    selection = page.request.get(server + "/api/selections/Fruit").json()
    assert selection["accepted"] >= 0.7 * len(fruit), selection
    form = page.locator(".export-form")
    with page.expect_download() as started:
        form.get_by_label("Export as").select_option("zip")
        form.get_by_role("button", name="Download").click()
    archive = zipfile.ZipFile(started.value.path())
    exported = {n.split("/")[-1] for n in archive.namelist() if n.startswith("images/")}
    assert exported <= fruit and len(exported) == selection["accepted"]
    assert serious_violations(page) == []
