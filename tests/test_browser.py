"""User journeys in a real browser (Debian's Chromium driven by Playwright) against `pixcept serve` on the demo world,
indexed with the demo model, so results have meaning: "red" must show red pictures.

Screenshots of every page at two widths go to test-artifacts/screenshots/. These tests fail, never skip, when the
browser is missing: `.ci/install` installs it.
"""

from __future__ import annotations

import csv
import re
import time

import httpx
import pytest

from indexer.concepts.job import run_cluster
from indexer.config import Settings
from indexer.demo import demo_model_spec, demo_vocabulary
from indexer.demo.world import COLOURS, SHAPES, write_library
from indexer.index import index_folders
from indexer.library import Library
from indexer.vocab import add_entries

from browsing import (
    SCREENSHOTS,
    box_select_concept_core,
    next_frame,
    result_names,
    screenshots,
    selection_from_one,
    serious_violations,
    wait_for_results,
)
from helpers import fit_seed, judge_picture, open_export
from test_serve import start_server, stop_server


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The demo world (5 pictures per colour x shape: 240), indexed, with the demo vocabulary and published
    concepts; yields (data dir, colour by file name)."""
    root = tmp_path_factory.mktemp("browser")
    scenes = write_library(root / "photos", per_pair=5)
    first = sorted(scenes)[0]  # one file with a name long enough to overflow a phone's width if anything lets it
    long_name = first.with_name(first.stem + "_" + "holiday-at-the-seaside-with-everyone" * 3 + first.suffix)
    first.rename(long_name)
    scenes[long_name] = scenes.pop(first)
    settings = Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu")
    with Library.open(settings) as library:
        index_folders(library, [root / "photos"])
        add_entries(library, demo_vocabulary(), "demo", "demo-1")
        run_cluster(library, {"seed": fit_seed(3)})
    return root, {path.name: scene.main.colour for path, scene in scenes.items()}


@pytest.fixture(scope="module")
def server(world):
    env = {"PIXCEPT_DATA_DIR": str(world[0] / "data"), "PIXCEPT_DEVICE": "cpu", "PIXCEPT_MODEL": "",
           "PIXCEPT_SEARCHES_PER_MINUTE": "0", "PIXCEPT_EXPORT_AT_ONCE": "12"}  # larger: in the background
    process, url = start_server(env)
    yield url
    stop_server(process)


def test_search_upload_similar_and_share(page, browser, server, world):
    _, colour_of = world
    page.goto(server + "/")
    page.fill("#q", "red")
    started = time.monotonic()
    page.press("#q", "Enter")
    names = wait_for_results(page)
    assert time.monotonic() - started < 2.0
    assert len(names) == 30 and {colour_of[n] for n in names} == {"red"}  # all 30 red pictures, nothing else
    assert "q=red" in page.url
    screenshots(page, "search-results")

    # upload a picture while "red" is in the box: the words stay, and the picture joins them
    query = next(p for p in (world[0] / "photos").rglob("*.jpg") if colour_of[p.name] == "blue")
    page.set_input_files("#image-input", str(query))
    page.wait_for_url("**upload=*")
    assert "q=red" in page.url and page.input_value("#q") == "red"
    wait_for_results(page)
    # without the words, the picture alone: it comes first, and similar (same colour) pictures follow
    page.fill("#q", "")
    page.press("#q", "Enter")
    page.wait_for_url(lambda url: "upload=" in url and "q=" not in url)
    names = wait_for_results(page)
    assert names[0] == query.name
    assert sum(colour_of[n] == "blue" for n in names[:10]) >= 8
    assert page.locator(".query-chip img").count() == 1

    # "more like this" on a result
    target = names[3]
    page.locator(".result").nth(3).get_by_role("button", name=f"More like {target}").click()
    page.wait_for_url("**like=*")
    similar = wait_for_results(page)
    assert similar[0] == target and colour_of[similar[1]] == colour_of[target]  # the example first, in its set
    page.locator("#concept-strip li").first.wait_for()  # "more like this" shows that image's concepts too
    assert page.locator("#concept-strip .concept-title").first.inner_text().startswith(colour_of[target])

    # the URL, opened in a new page, gives the same results
    shared = browser.new_page()
    shared.goto(page.url)
    assert wait_for_results(shared) == similar
    shared.close()

    # back goes to the upload results, then to "red" with the upload, then to "red"
    page.go_back()
    page.wait_for_url(lambda url: "upload=" in url and "q=" not in url)
    page.go_back()
    page.wait_for_url(lambda url: "upload=" in url and "q=red" in url)
    page.go_back()
    page.wait_for_url(lambda url: "upload=" not in url and "q=red" in url)
    assert {colour_of[n] for n in wait_for_results(page)} == {"red"}
    assert page.input_value("#q") == "red"


def test_dropping_and_pasting_an_image_search_by_it(page, server, world):
    _, colour_of = world
    page.goto(server + "/?q=green")
    wait_for_results(page)
    first = result_names(page)[0]
    for event in ("drop", "paste"):
        page.evaluate("""async ([event]) => {
            const blob = await (await fetch(document.querySelector('.result img').src)).blob();
            const data = new DataTransfer();
            data.items.add(new File([blob], 'query.jpg', { type: 'image/jpeg' }));
            const init = event === 'drop' ? { dataTransfer: data } : { clipboardData: data };
            const kind = event === 'drop' ? DragEvent : ClipboardEvent;
            document.dispatchEvent(new kind(event, { ...init, bubbles: true, cancelable: true }));
        }""", [event])
        page.wait_for_url("**upload=*")
        names = wait_for_results(page)
        assert names[0] == first, event  # the thumbnail of the top result finds that picture first
        assert colour_of[names[0]] == "green"
        page.goto(server + "/?q=green")
        wait_for_results(page)


def test_keyboard_only_journey(page, server, world):
    _, colour_of = world
    page.goto(server + "/")
    assert page.evaluate("document.activeElement.id") == "q"  # the search box has focus on arrival
    page.keyboard.type("yellow")
    page.keyboard.press("Enter")
    names = wait_for_results(page)
    assert {colour_of[n] for n in names} == {"yellow"}
    for _ in range(20):  # Tab to the first result
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('result-link')"):
            break
    else:
        pytest.fail("Tab never reached a result")
    page.keyboard.press("/")  # back to the search box from anywhere on the page
    assert page.evaluate("document.activeElement.id") == "q"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('result-link')"):
            break
    page.keyboard.press("Enter")  # opens the result over the results
    page.wait_for_selector("dialog.lightbox[open]")
    assert page.locator("#lightbox-title").inner_text() == names[0]
    page.keyboard.press("ArrowRight")
    assert page.locator("#lightbox-title").inner_text() == names[1]
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('dialog.lightbox').open && "
                           "!location.search.includes('view=')")
    page.keyboard.press("Enter")  # focus came back to the result: open it again, and its full page from there
    page.wait_for_selector("dialog.lightbox[open]")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Open its page":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/image/*")
    assert page.locator("h1").inner_text() == names[0]
    screenshots(page, "image")
    page.keyboard.press("Tab")  # the skip link comes first and leads to the content
    assert page.evaluate("document.activeElement.className") == "skip-link"


def test_results_are_one_tab_stop_and_select_by_keyboard_click_and_lightbox(page, server, world):
    """The result grid costs one tab stop whatever its size; arrows move in it, Space selects, Shift+click selects a
    range, the lightbox selects too; the keep bar then keeps exactly the selected results, in the order shown."""
    _, colour_of = world
    page.goto(server + "/?q=blue")
    names = wait_for_results(page)
    page.locator("#q").focus()
    stops = []
    for _ in range(40):  # Tab from the search box until focus leaves the results behind
        page.keyboard.press("Tab")
        stops.append(page.evaluate("document.activeElement.closest('#results') ? 'result' : "
                                   "document.activeElement.id || document.activeElement.tagName"))
        if stops.count("result") and stops[-1] != "result":
            break
    assert stops.count("result") == 1, stops  # not three per tile
    page.locator("#results .result-link").first.focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.closest('.result').querySelector('.result-name').dataset.name") \
        == names[1]
    page.keyboard.press(" ")  # selects the second
    assert page.locator("#keep-bar label").first.inner_text() == "Keep the 1 selected in"
    page.locator("#results .result").nth(4).click(modifiers=["Shift"])  # the range from the second to the fifth
    assert page.locator("#results .result.selected").count() == 4
    page.locator("#results .result-link").nth(6).click()  # while selecting, a click selects (no lightbox)
    assert page.locator("#results .result.selected").count() == 5 and not page.locator("dialog[open]").count()
    page.locator("#results .result-link").nth(6).click()  # and deselects
    page.keyboard.press("Escape")  # clears the selection
    assert page.locator("#results .result.selected").count() == 0
    page.locator("#results .result-link").first.focus()
    page.keyboard.press("Enter")  # nothing selected: Enter opens the lightbox, whose Select toggles the result
    page.wait_for_selector("dialog.lightbox[open]")
    page.locator("dialog.lightbox").get_by_role("button", name="Select").click()
    assert page.locator("dialog.lightbox [data-action=select]").get_attribute("aria-pressed") == "true"
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('dialog.lightbox').open")
    assert page.locator("#results .result.selected").count() == 1
    page.keyboard.press("Escape")  # focus is back on the result: Escape clears
    page.locator("#results .result").nth(1).locator(".result-select").click()  # the boxes select by mouse
    page.locator("#results .result").nth(4).locator(".result-select").click(modifiers=["Shift"])
    assert page.locator("#results .result.selected").count() == 4
    assert serious_violations(page) == []
    page.once("dialog", lambda dialog: dialog.accept("Blue picks"))
    page.locator("#keep-choice").select_option("")
    with page.expect_response("**/images"):
        page.locator("#keep-bar").get_by_role("button", name="Add").click()
    kept = page.request.get(server + "/api/selections/Blue%20picks/images?limit=100").json()["images"]
    assert [image["name"] for image in kept] == names[1:5]
    assert {colour_of[n] for n in names[1:5]} == {"blue"}
    page.locator("#results .result").nth(1).locator(".result-select").click()  # deselected: the other three go
    with page.expect_response("**/Blue%20picks/images"):
        page.locator("#keep-bar").get_by_role("button", name="Take out").click()
    kept = page.request.get(server + "/api/selections/Blue%20picks/images?limit=100").json()["images"]
    assert [image["name"] for image in kept] == names[1:2]


def test_pages_have_no_serious_accessibility_violations(page, server):
    page.goto(server + "/?q=purple")
    wait_for_results(page)
    assert serious_violations(page) == []
    page.locator(".result-link").first.click()
    page.wait_for_selector("dialog.lightbox[open]")
    assert serious_violations(page) == []  # the lightbox too
    page.get_by_role("link", name="Open its page").click()
    page.wait_for_url("**/image/*")
    page.wait_for_function("() => document.querySelectorAll('#results .result').length > 0")
    assert serious_violations(page) == []
    page.goto(server + "/image/not-an-id")
    assert serious_violations(page) == []
    page.goto(server + "/login")
    assert serious_violations(page) == []
    screenshots(page, "not-found")
    page.goto(server + "/")
    screenshots(page, "empty-search")


def test_the_lightbox_opens_over_the_results_and_back_keeps_them(page, browser, server):
    page.goto(server + "/?q=circle&all=1")  # every picture, by similarity: pages of 40
    wait_for_results(page)
    page.mouse.wheel(0, 20000)  # scroll: a second page of results loads
    page.wait_for_function("() => document.querySelectorAll('.result').length > 40")
    loaded = page.locator(".result").count()
    target = page.locator(".result").nth(38)
    name = target.locator(".result-name").get_attribute("data-name")
    target.locator(".result-link").click()
    page.wait_for_url("**view=*")
    assert page.locator("#lightbox-title").inner_text() == name
    assert page.locator(".lightbox-position").inner_text() == f"39 of {loaded}"
    screenshots(page, "lightbox")
    page.set_viewport_size({"width": 1280, "height": 900})
    shared = browser.new_page()  # the URL opens the same image in the lightbox
    shared.goto(page.url)
    shared.wait_for_selector("dialog.lightbox[open]")
    assert shared.locator("#lightbox-title").inner_text() == name
    shared.close()
    image = page.locator("dialog.lightbox img")  # a swipe to the left shows the next one
    box = image.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    assert page.locator(".lightbox-position").inner_text() == f"40 of {loaded}"
    scrolled = page.evaluate("window.scrollY")
    page.go_back()  # Back closes it; the results stay, where they were
    page.wait_for_function("() => !document.querySelector('dialog.lightbox').open")
    page.wait_for_url(lambda url: "view=" not in url)
    assert page.locator(".result").count() == loaded
    assert abs(page.evaluate("window.scrollY") - scrolled) < 5

    page.locator(".result").nth(38).locator(".result-link").click()  # to the full page and back: all restored
    page.get_by_role("link", name="Open its page").click()
    page.wait_for_url("**/image/*")
    page.go_back()  # back where it was: the same image over the same results
    page.wait_for_selector("dialog.lightbox[open]")
    assert page.locator("#lightbox-title").inner_text() == name
    page.keyboard.press("Escape")
    page.wait_for_function(f"() => document.querySelectorAll('.result').length >= {loaded}")
    # where it was (the scroll is restored on a later frame): the image it came from is on screen
    page.wait_for_function("() => { const box = document.querySelectorAll('.result')[38].getBoundingClientRect();"
                           " return box.top >= 0 && box.bottom <= window.innerHeight; }")
    names = result_names(page)
    assert names[38] == name  # the same results, in the same order

    page.locator(".result").nth(38).locator(".result-link").click()  # its full page knows where it is in them
    page.get_by_role("link", name="Open its page").click()
    page.wait_for_url("**/image/*")
    assert page.locator("#result-position").inner_text().startswith(f"39 of {loaded}")
    assert page.input_value("#q") == "circle"
    assert page.get_attribute("#previous-result", "aria-label") == f"Previous result: {names[37]}"
    assert page.get_attribute("#next-result", "aria-label") == f"Next result: {names[39]}"
    page.keyboard.press("ArrowRight")  # the next result's page
    page.wait_for_function("() => document.getElementById('result-position').textContent.startsWith('40 of')")
    assert page.locator("h1").inner_text() == names[39]
    page.get_by_role("link", name="Back to results").click()
    page.wait_for_function(f"() => document.querySelectorAll('.result').length >= {loaded}")
    assert "view=" not in page.url
    assert result_names(page)[:len(names)] == names  # the same results (scrolled to the end, more may load)


def contrast(one: str, other: str) -> float:
    """WCAG contrast ratio of two CSS rgb() colours."""
    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted([luminance(one), luminance(other)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_phones_get_three_columns_and_focus_rings_stand_out(page, server):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server + "/?q=red")
    wait_for_results(page)
    tops = page.locator(".result").evaluate_all("tiles => tiles.slice(0, 4).map(t => t.getBoundingClientRect().top)")
    assert tops[0] == tops[1] == tops[2] < tops[3]  # three a row
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("""() => { const style = getComputedStyle(document.activeElement);
        return [style.outlineStyle, style.outlineColor, getComputedStyle(document.body).backgroundColor]; }""")
    assert focused[0] != "none" and contrast(focused[1], focused[2]) >= 3, focused


def test_examples_and_not_like_this_refine_a_query(page, server, world):
    """red -> add a red circle as an example -> "not like this" on a red square: the red circles stay (the example
    first, marked), the red squares go, judged from the thumbnails' pixels (colour and roundness)."""
    _, colour_of = world
    page.goto(server + "/?q=red")
    names = wait_for_results(page)
    circle = next(n for n in names if "_circle_" in n)
    page.locator(".result").nth(names.index(circle)).locator(".result-link").click()
    page.get_by_role("button", name="Add as example").click()  # words and an example image together
    page.wait_for_url("**like=*")
    names = wait_for_results(page)
    assert "q=red" in page.url and page.locator(".query-chip:not(.negative)").count() == 1
    assert names[0] == circle and page.locator(".result").first.get_attribute("class") == "result example"
    assert page.locator(".result.example").count() == 1 and "Example" in page.locator(".result").first.inner_text()
    assert all(colour_of[n] == "red" and "_circle_" in n for n in names[:5]), names[:6]  # the example and 4 more

    square = next(n for n in names if "_square_" in n)  # "not like this" on a red square
    page.locator(".result").nth(names.index(square)).locator(".result-link").click()
    page.get_by_role("button", name="Not like this").click()
    page.wait_for_url("**unlike=*")
    after = wait_for_results(page)
    assert page.locator(".query-chip.negative").count() == 1
    judged = [judge_picture(page.request.get(src).body()) for src in
              page.locator(".result img").evaluate_all("images => images.map(i => i.src)")]
    circles = [n for n, (colour, roundness) in zip(after, judged) if colour == "red" and roundness > 0.9]
    red_circles = {n for n in colour_of if colour_of[n] == "red" and "_circle_" in n}
    assert set(circles) == red_circles and all(colour == "red" for colour, _ in judged), (after, judged)
    assert not [n for n in after if "_square_" in n]  # ... and by name: no red square is left
    page.get_by_role("button", name="Remove: Like this image", exact=True).click()  # × removes an example
    page.wait_for_function("() => !new URLSearchParams(location.search).has('like')")
    assert "unlike=" in page.url


def test_a_query_for_nothing_shows_a_clear_message(page, server):
    page.goto(server + "/?q=" + "-red")
    page.wait_for_function("() => document.getElementById('status').textContent.length > 0")
    assert "negative terms alone" in page.locator("#status").inner_text()


def test_a_word_the_model_does_not_know_is_no_good_match_and_weaker_matches_can_be_asked_for(page, server, world):
    _, colour_of = world
    page.goto(server + "/?q=giraffe")
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('No good match')")
    assert 0 < page.locator(".result.weak").count() <= 6  # the closest few, marked weak
    assert page.locator("#concept-strip-section").is_hidden()
    page.goto(server + "/?q=red+circle")  # a good match stops where relevance drops...
    names = wait_for_results(page)
    assert {colour_of[n] for n in names} == {"red"} and page.locator(".result.weak").count() == 0
    page.get_by_role("button", name="Show weaker matches").click()  # ...and weaker matches come on request
    page.wait_for_url("**all=1*")
    page.wait_for_function(f"() => document.querySelectorAll('.result').length > {len(names)}")



def colour_in_pixels(page, url: str) -> str:
    """The demo colour most of an image's coloured pixels are nearest to (backgrounds are grey), from its bytes."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(page.request.get(url).body())).convert("RGB"), np.int32).reshape(-1, 3)
    coloured = pixels[pixels.max(axis=1) - pixels.min(axis=1) > 60]
    palette = np.array(list(COLOURS.values()))
    nearest = np.argmin(((coloured[:, None, :] - palette[None]) ** 2).sum(axis=2), axis=1)
    return list(COLOURS)[int(np.bincount(nearest, minlength=len(palette)).argmax())]


def visible_concepts(page) -> list[str]:
    return page.locator("#concept-grid .concept-card:visible .concept-title").all_inner_texts()


def test_concepts_grid_narrows_by_typing_and_opens_a_pure_concept(page, server):
    page.goto(server + "/concepts")
    titles = visible_concepts(page)
    assert "Unsorted" in titles and len(titles) >= 7
    cards = page.locator("#concept-grid .concept-card:not([data-id='-1'])")
    page.wait_for_function("() => [...document.querySelectorAll('#concept-grid img')].every(i => i.naturalWidth > 0)")
    first_words = [title.split()[0].rstrip(",:") for title in cards.locator(".concept-title").all_inner_texts()]
    # headed by what most of their pictures show (test_concept_job checks it is true): mostly their colour, some a
    # shape ("crescent, yellow" for yellow and orange crescents), "mixed" where nothing is
    assert all(word in COLOURS or word in SHAPES or word == "mixed" for word in first_words), first_words
    assert sum(word in COLOURS for word in first_words) >= len(first_words) / 2, first_words
    screenshots(page, "concepts")

    page.fill("#concept-filter", "red")
    page.wait_for_function("() => document.getElementById('concept-status').textContent.includes('match')")
    narrowed = visible_concepts(page)
    assert narrowed and all(title.startswith("red") for title in narrowed), narrowed
    assert "q=red" in page.url
    page.locator("#concept-grid .concept-card:visible .concept-link").first.click()
    page.wait_for_url("**/concepts/*")
    page.wait_for_function("() => document.querySelectorAll('#results .result').length > 0")
    page.wait_for_function("() => document.getElementById('more-button').hidden")  # every member loaded
    thumbnails = page.locator("#results .result img").evaluate_all("images => images.map(i => i.src)")
    size = int(page.locator(".concept-facts p").first.inner_text().split()[0].replace(",", ""))
    assert len(thumbnails) == size
    assert {colour_in_pixels(page, url) for url in thumbnails} == {"red"}  # judged from the pixels
    assert serious_violations(page) == []
    screenshots(page, "concept")


def test_search_shows_matching_concepts_and_filters_by_one(page, server, world):
    _, colour_of = world
    page.goto(server + "/?q=red+circle")
    wait_for_results(page)
    strip = page.locator("#concept-strip li")
    strip.first.wait_for()
    titles = strip.locator(".concept-title").all_inner_texts()
    assert titles[0].startswith("red"), titles
    assert len(titles) < 4  # only the concepts that stand out, not the nearest eight
    first = page.locator(".result", has=page.locator(".result-concept")).first  # (an outlier has none)
    first.hover()  # each result shows its concept on hover (and on focus)
    assert first.locator(".result-concept").is_visible()
    assert first.locator(".result-concept").inner_text().startswith("red")
    strip.first.get_by_role("button").click()
    page.wait_for_url("**concept=*")
    names = wait_for_results(page)
    assert names and {colour_of[n] for n in names} == {"red"}
    chip = page.locator(".query-chip", has_text="In concept")
    chip.wait_for()
    assert page.locator("#concept-strip-section").is_hidden()  # already within a concept
    chip.get_by_role("button").click()
    page.wait_for_function("() => !location.search.includes('concept=')")
    wait_for_results(page)
    page.locator(".result", has=page.locator(".result-concept")).first.locator(".result-link").click()
    assert page.locator("dialog.lightbox .lightbox-concept").inner_text().startswith("Concept: red")
    page.get_by_role("link", name="Open its page").click()  # the image page names its concept and suggested tags
    page.wait_for_url("**/image/*")
    concept = page.locator(".image-facts dd a").first
    assert concept.inner_text().startswith("red")
    assert page.get_by_role("list", name="Suggested tags with scores").locator("li").count() >= 3
    concept.click()
    page.wait_for_url("**/concepts/*")


def test_concept_pages_by_keyboard_and_for_assistive_technology(page, server):
    page.goto(server + "/concepts")
    assert serious_violations(page) == []
    page.keyboard.press("Tab")  # skip link, then the search box, the areas, the concept filter
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "concept-filter":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "concept-filter"
    page.keyboard.type("green")
    page.wait_for_function("() => document.getElementById('concept-status').textContent.includes('match')")
    page.keyboard.press("Tab")  # sort, apply, then the first visible concept
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('concept-link') || "
                         "document.activeElement.tagName === 'SUMMARY'")
    page.goto(server + "/concepts/-1")
    assert "Unsorted" in page.locator("h1").inner_text()
    page.wait_for_function("() => document.getElementById('status').textContent.includes('images shown')")
    for tile in page.locator("#results .result").all():  # each image in no concept (some fits leave none): its
        # nearest concept shares its colour or shape
        name = tile.locator(".result-name").get_attribute("data-name")
        hint = tile.locator(".nearest-concept").inner_text()
        colour, shape = name.split("_")[:2]
        assert hint.startswith("Nearest: ") and {colour, shape} & set(re.findall(r"[a-z]+", hint)), (name, hint)
    assert serious_violations(page) == []


def test_the_map_draws_every_image_and_a_box_selects_one_colour(page, server, world):
    _, colour_of = world
    page.goto(server + "/map")
    page.wait_for_function("() => window.pixceptMap && window.pixceptMap.count > 0", timeout=15000)
    assert page.evaluate("window.pixceptMap.scatterplot.get('points').length") == len(colour_of) == 240
    assert "240 images" in page.locator("#map-status").inner_text()
    assert page.locator(".map-label").count() >= 2  # labels at concept (or group) centres

    names = box_select_concept_core(page, server, "red")
    assert {colour_of[n] for n in names} == {"red"}, names
    assert page.locator("#selection .result").count() == len(names)
    assert "selected" in page.locator("#selection-summary").inner_text()
    assert "area=" in page.url  # the box is in the URL: Back and a shared link select it again
    page.goto(server + "/concepts")
    page.go_back()
    page.wait_for_function(f"() => window.pixceptMap && window.pixceptMap.selectedImages.length === {len(names)}")
    assert sorted(i["name"] for i in page.evaluate("window.pixceptMap.selectedImages")) == sorted(names)
    page.once("dialog", lambda dialog: dialog.accept("From the map"))
    page.locator("#keep-choice").select_option("")  # a new selection (the newest one is offered first)
    with page.expect_response("**/selections/From%20the%20map/images") as added:
        page.locator("#keep-bar").get_by_role("button", name="Add").click()
    assert added.value.ok, added.value.text()
    kept = page.request.get(server + "/api/selections/From%20the%20map/images?limit=200").json()["images"]
    assert sorted(image["name"] for image in kept) == sorted(names)  # the server finds the same points in the area

    page.locator("#map-frame").focus()  # the keyboard zooms and pans the map
    span = page.evaluate("window.pixceptMap.scatterplot.get('cameraDistance')")
    page.keyboard.press("+")
    page.wait_for_function(f"() => window.pixceptMap.scatterplot.get('cameraDistance') < {span}")
    target = page.evaluate("window.pixceptMap.scatterplot.get('cameraTarget')")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => window.pixceptMap.scatterplot.get('cameraTarget')[0] > {target[0]}")

    page.fill("#fly", "blue")  # fly to the best concept for some words
    page.press("#fly", "Enter")
    page.wait_for_function("() => document.getElementById('map-status').textContent.startsWith('blue')")
    page.fill("#fly", "giraffe")  # nothing like it: said, and the camera stays
    page.wait_for_function("""() => {  // the flight to blue has landed: the camera holds still for 200 ms
        const now = JSON.stringify(window.pixceptMap.scatterplot.get('cameraTarget'));
        const still = window.lastCameraTarget === now;
        window.lastCameraTarget = now;
        return still; }""", polling=200)
    target = page.evaluate("window.pixceptMap.scatterplot.get('cameraTarget')")
    page.press("#fly", "Enter")
    page.wait_for_function("() => document.getElementById('map-status').textContent.startsWith('No concept matches')")
    assert page.evaluate("window.pixceptMap.scatterplot.get('cameraTarget')") == target
    assert serious_violations(page) == []
    screenshots(page, "map")


def test_on_a_phone_the_map_shows_every_point_and_clicks_break_nothing(page, server, world):
    """390 px wide: the whole map in the frame (no point cut off at the sides), the first search results on the first
    screen, and clicks and presses on points raise no script error (the page fixture fails on any) and break no
    content-security rule."""
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server + "/map")
    page.wait_for_function("() => window.pixceptMap && window.pixceptMap.count > 0", timeout=15000)
    next_frame(page)
    frame = page.locator("#map-frame").bounding_box()
    points = page.evaluate("() => Array.from({ length: window.pixceptMap.count }, "
                           "(_, i) => window.pixceptMap.screenOf(i))")
    outside = [p for p in points if not (0 <= p[0] <= frame["width"] and 0 <= p[1] <= frame["height"])]
    assert not outside, f"{len(outside)} of {len(points)} points outside the frame"
    for x, y in points[:: max(1, len(points) // 5)][:5]:
        page.mouse.click(frame["x"] + x, frame["y"] + y)
    page.mouse.move(frame["x"] + points[0][0], frame["y"] + points[0][1])
    page.mouse.down()  # a long press, which once started a lasso whose indicator broke the policy
    page.wait_for_timeout(800)
    page.mouse.up()
    next_frame(page)
    assert refused == []
    page.goto(server + "/?q=red")
    wait_for_results(page)
    assert page.locator(".result").first.bounding_box()["y"] < 844 * 0.6  # results start on the first screen
    screenshots(page, "phone-first-screen")


def test_a_long_file_name_never_widens_the_image_page(page, server, world):
    name = max(world[1], key=len)
    colour = name.split("_")[0]
    results = page.request.get(f"{server}/api/search?q={colour}&cutoff=0&limit=200").json()["results"]
    page.goto(server + next(r["page_url"] for r in results if r["name"] == name))
    for width in (320, 390, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        next_frame(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, width
    screenshots(page, "image-long-name")


def test_errors_read_as_errors_in_place_of_results(page, server, tmp_path):
    page.goto(server + "/?q=red")
    wait_for_results(page)
    fake = tmp_path / "holiday.jpg"
    fake.write_text("not a picture")  # an upload the server refuses: its message replaces the red results
    page.set_input_files("#image-input", str(fake))
    page.wait_for_function("() => document.getElementById('status').classList.contains('error-message')")
    assert page.locator(".result").count() == 0
    assert "image" in page.locator("#status").inner_text().lower()
    page.goto(server + "/?q=red&from=2021-13-45")
    page.wait_for_function("() => document.getElementById('status').classList.contains('error-message')")
    assert page.locator("#status code").inner_text() == "from"  # `from` in the message is code, not backticks
    assert "`" not in page.locator("#status").inner_text()


def test_the_api_reference_renders_every_operation(page, server):
    """/api/docs: the OpenAPI document rendered by the vendored ReDoc, under the page's own CSP, with no script
    errors and no request leaving the server (ReDoc's badge asks a CDN for its logo: the policy blocks it)."""
    requests, blocked = [], []
    page.on("requestfinished", lambda request: requests.append(request.url))  # refused ones never finish
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.goto(server + "/api/docs")
    page.get_by_text("/api/concepts/search").first.wait_for(timeout=15000)
    assert "pixcept" in page.locator("h1").first.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-docs-desktop.png"))
    menu = page.locator(".menu-content").inner_text()  # ReDoc renders the sections as they come into view
    for tag in ("accounts", "admin", "concepts", "exports", "images", "jobs", "map", "search", "selections", "status"):
        assert re.search(rf"^{tag}$", menu, re.M), (tag, menu[:500])  # every area in the menu
    assert page.get_by_text("/api/images/{image_id}/file").count() >= 1
    assert all(url.startswith((server, "blob:", "data:")) for url in requests), requests
    assert all("cdn.redoc.ly" in text for text in blocked), blocked  # only the third-party logo was refused


def test_gather_red_circles_from_one_and_export_them(page, server, world, tmp_path):
    """A selection made on /selections, started from one red circle; gathering page by page with the keyboard
    (a / r), each candidate judged from its thumbnail's pixels, until the red circles are all in and nothing else;
    then the ZIP download holds exactly those files (judged from their pixels)."""
    import zipfile

    _, colour_of = world
    red_circles = {n for n in colour_of if colour_of[n] == "red" and "_circle_" in n}
    selection_from_one(page, server, "Red circles", "red circle", lambda image: image["name"] in red_circles)
    page.get_by_role("button", name="Show candidates").click()
    for _ in range(4):  # pages
        page.wait_for_selector("#candidates .result")
        sources = page.locator("#candidates img").evaluate_all("images => images.map(i => i.src)")
        judged = [judge_picture(page.request.get(src).body()) for src in sources]
        wanted = [colour == "red" and roundness > 0.9 for colour, roundness in judged]
        page.locator("#candidates").focus()
        for keep in wanted:
            page.keyboard.press("a" if keep else "r")
        with page.expect_response("**/gather?*"):
            page.get_by_role("button", name="Next page").click()
        if not any(wanted):
            break
    counts = page.locator("#selection-counts").inner_text()
    assert counts.startswith(f"{len(red_circles)} accepted"), counts
    assert serious_violations(page) == []
    with page.expect_response("**/gather?*"):
        page.get_by_role("button", name="Show candidates").click()
    assert "No candidates left" in page.locator("#gather-status").inner_text() or \
        page.locator("#candidates .result").count()
    assert serious_violations(page) == []  # the candidates listbox, its options and the score curve
    form = page.locator(".export-form")

    def download(fmt: str):
        with page.expect_download() as started:
            form.get_by_label("Export as").select_option(fmt)
            form.get_by_role("button", name="Download").click()
        return started.value.path()

    archive = zipfile.ZipFile(download("zip"))
    pictures = [n for n in archive.namelist() if n.startswith("images/")]
    assert {n.split("/")[-1] for n in pictures} == red_circles
    judged = [judge_picture(archive.read(n)) for n in pictures]
    assert all(colour == "red" and roundness > 0.9 for colour, roundness in judged), judged
    cvat = open_export("cvat", download("cvat"), tmp_path / "cvat")  # Datumaro reads it
    assert {f"{item}.jpg" for item in cvat["items"]} == red_circles
    assert all(len(item["labels"]) == 1 and item["has_data"] for item in cvat["items"].values())
    studio = open_export("labelstudio", download("labelstudio"), tmp_path / "ls")  # the Label Studio SDK reads it
    assert studio["tasks"] == len(red_circles) and studio["errors"] == [] and studio["controls"]["concept"]
    linked = [httpx.get(url) for url in studio["urls"]]  # no cookie, no token but the export's
    assert all(answer.status_code == 200 for answer in linked)
    assert all(judge_picture(answer.content)[0] == "red" for answer in linked)
    screenshots(page, "selection")
    page.goto(server + "/selections")
    assert serious_violations(page) == [] and "Red circles" in page.locator("table.selections").inner_text()
    concept = page.request.get(server + "/api/concepts?limit=1").json()["concepts"][0]  # a whole concept, kept
    page.goto(server + f"/concepts/{concept['id']}")
    page.wait_for_function("() => document.querySelectorAll('#keep-choice option').length > 1")
    page.locator("#keep-choice").select_option("Red circles")
    with page.expect_response("**/images"):
        page.locator("#keep-bar").get_by_role("button", name="Add").click()
    held = page.request.get(server + "/api/selections/Red%20circles").json()["accepted"]
    page.wait_for_function("() => document.querySelector('.keep-status').textContent.includes('holds')")
    assert held >= concept["size"]
    page.goto(server + "/?q=red")  # a search's results, exported as shown
    page.wait_for_selector("#results .result")
    shown = page.locator("#results .result").count()
    page.locator("#keep-bar summary").click()  # "Export…" opens the form
    with page.expect_download() as started:
        page.locator("#keep-bar .export-form").get_by_role("button", name="Download").click()
    rows = list(csv.DictReader(open(started.value.path())))
    assert shown > 12  # more than PIXCEPT_EXPORT_AT_ONCE: exported in the background, then downloaded
    assert page.locator("#keep-bar .export-status a").inner_text().startswith("Download")
    assert len(rows) == shown and colour_of[rows[0]["path"].split("/")[-1]] == "red"  # in the order shown
    page.goto(server + "/selections/Red%20circles")  # selected members move to the other state
    page.wait_for_selector("#results .result")
    before = page.request.get(server + "/api/selections/Red%20circles").json()
    page.locator("#results .result").first.locator(".result-select").click()
    assert page.locator("#member-count").inner_text() == "1 selected:"
    with page.expect_response("**/selections/Red%20circles/images"):
        page.locator("#member-actions").get_by_role("button", name="Reject").click()
    after = page.request.get(server + "/api/selections/Red%20circles").json()
    assert (after["accepted"], after["rejected"]) == (before["accepted"] - 1, before["rejected"] + 1)
    assert serious_violations(page) == []


def test_an_admin_adds_a_folder_follows_jobs_live_cancels_resumes_and_reads_the_failures(page, server, world):
    """Last in this module: it adds pictures to the shared library. The admin page needs the admin token (editors,
    as anonymous users on an open localhost are, get 403); jobs arrive by Server-Sent Events, no reload."""
    root, _ = world
    folder = root / "more"
    write_library(folder, per_pair=3, seed=7)  # 144 more pictures
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert page.goto(server + "/admin").status == 403
    page.goto(server + "/login?next=/admin")
    page.fill("#token", (root / "data" / "server-admin-token").read_text().strip())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin")
    page.wait_for_function("() => document.getElementById('jobs-status').textContent.startsWith('Live')")
    assert serious_violations(page) == []
    page.fill("#new-folder", str(folder))
    page.get_by_role("button", name="Index it").click()
    row = page.locator(f"#jobs tr:has-text('{folder}')").first
    row.wait_for()  # pushed to the page: no reload
    page.wait_for_function("() => [...document.querySelectorAll('#jobs tr')].some(r => r.dataset.state === 'done')",
                           timeout=120_000)
    page.fill("#failure-filter", "broken")
    page.wait_for_function("() => document.getElementById('failures-status').textContent.startsWith('1 of')")
    assert "broken.jpg" in page.locator("#failures").inner_text()
    page.get_by_role("button", name="Recluster").click()  # a long job: cancelled while it runs, then resumed
    cluster = page.locator("#jobs tr:has-text('cluster')").first
    cluster.get_by_role("button", name="Cancel").click()
    page.wait_for_function("() => [...document.querySelectorAll('#jobs tr')].some(r => "
                           "r.textContent.startsWith('cluster') && r.dataset.state === 'cancelled')", timeout=60_000)
    page.locator("#jobs tr[data-state=cancelled]").first.get_by_role("button", name="Resume").click()
    page.wait_for_function("() => [...document.querySelectorAll('#jobs tr')].some(r => "
                           "r.textContent.startsWith('cluster') && ['queued', 'running'].includes(r.dataset.state))")
    page.fill("#account-name", "Bea")  # a named token, shown once
    page.get_by_role("button", name="Make a token").click()
    page.wait_for_function("() => document.getElementById('account-made').textContent.includes('shown this once')")
    token = page.locator("#account-made code").inner_text()
    page.wait_for_function("() => document.getElementById('accounts').textContent.includes('Bea')")  # listed too
    assert token.startswith("pxt_")
    assert httpx.get(server + "/api/search?q=red", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    page.get_by_role("button", name="Revoke the token of Bea").click()
    page.wait_for_function("() => document.getElementById('accounts').textContent.includes('revoked')")
    assert httpx.get(server + "/api/search?q=red", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    page.fill("#account-name", "Kid")  # a reader limited to the new folder (its tick came with the finished job)
    page.locator(f"#account-folder-choices input[value='{folder}']").check()
    page.get_by_role("button", name="Make a token").click()
    page.wait_for_function("() => document.getElementById('account-made').textContent.includes('Kid')")
    assert f"sees {folder}" in page.locator("#account-made").inner_text()
    kid = page.locator("#account-made code").inner_text()
    page.once("dialog", lambda dialog: dialog.accept())  # "Embed every image again with ...?"
    page.fill("#new-model", "not-a-model")  # the switch's form asks the server, which says what is wrong
    page.locator("#model-form").get_by_role("button", name="Switch model").click()
    page.wait_for_function("() => document.getElementById('action-status').textContent.includes('names no weights')")
    page.fill("#setting-schedule-index_every", "12h")  # a rescan schedule, saved and in effect
    page.locator("#settings-form").get_by_role("button", name="Save").click()
    page.wait_for_function("() => document.getElementById('settings-status').textContent.startsWith('Saved')")
    assert "saved here" in page.locator("#setting-schedule-index_every-help").inner_text()
    assert page.locator("#setting-schedule-cluster_every").is_disabled()  # PIXCEPT_CLUSTER_EVERY sets it
    rows = {row["name"]: row for row in page.request.get(server + "/api/admin/settings").json()["settings"]}
    assert (rows["schedule.index_every"]["value"], rows["schedule.index_every"]["source"]) == ("12h", "saved")
    assert serious_violations(page) == []
    screenshots(page, "admin")
    page.goto(server + "/login?next=/")  # signed in as Kid: the library is that folder
    page.fill("#token", kid)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server + "/")
    page.goto(server + "/?q=circle")
    page.wait_for_selector("#results .result")
    found = page.request.get(server + "/api/search?q=circle&limit=200&cutoff=0").json()["results"]
    assert page.locator("#results .result").count() > 0 and found
    assert all(r["path"].startswith(f"{folder}/") for r in found)
    assert page.request.get(server + "/api/filters").json()["images"] == 144
    assert page.goto(server + "/admin").status == 403
