"""User journeys in a real browser (Debian's Chromium driven by Playwright) against `pixcept serve` on the demo world,
indexed with the demo model, so results have meaning: "red" must show red pictures.

Screenshots of every page at two widths go to test-artifacts/screenshots/. These tests fail, never skip, when the
browser is missing: `.ci/install` installs it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conftest import ROOT
from test_serve import start_server, stop_server

from indexer.config import Settings
from indexer.demo import demo_model_spec
from indexer.demo.world import write_library
from indexer.index import index_folders
from indexer.library import Library

CHROMIUM = os.environ.get("PIXCEPT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The demo world (4 pictures per colour x shape: 192), indexed; yields (data dir, colour by file name)."""
    root = tmp_path_factory.mktemp("browser")
    scenes = write_library(root / "photos", per_pair=4, seed=5)
    settings = Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu")
    with Library.open(settings) as library:
        index_folders(library, [root / "photos"])
    return root, {path.name: scene.main.colour for path, scene in scenes.items()}


@pytest.fixture(scope="module")
def server(world):
    env = {"PIXCEPT_DATA_DIR": str(world[0] / "data"), "PIXCEPT_DEVICE": "cpu", "PIXCEPT_MODEL": "",
           "PIXCEPT_SEARCHES_PER_MINUTE": "0"}
    process, url = start_server(env)
    yield url
    stop_server(process)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: run `bash .ci/install` (installs Debian's chromium), or set "
                    "PIXCEPT_CHROMIUM.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def result_names(page) -> list[str]:
    return page.locator(".result .result-name").all_inner_texts()


def wait_for_results(page, timeout_ms: float = 5000) -> list[str]:
    page.wait_for_function("() => document.querySelectorAll('.result').length > 0 && "
                           "!document.getElementById('status').textContent.startsWith('Search')", timeout=timeout_ms)
    return result_names(page)


def screenshots(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(100)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} is {overflow} px wide at {label} width {width}: it scrolls sideways"
    page.set_viewport_size({"width": 1280, "height": 900})


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in violations
            if v["impact"] in ("serious", "critical")]


def test_search_upload_similar_and_share(page, browser, server, world):
    _, colour_of = world
    page.goto(server + "/")
    page.fill("#q", "red")
    started = time.monotonic()
    page.press("#q", "Enter")
    names = wait_for_results(page)
    assert time.monotonic() - started < 2.0
    assert len(names) == 24 and {colour_of[n] for n in names} == {"red"}  # all 24 red pictures, nothing else
    assert "q=red" in page.url
    screenshots(page, "search-results")

    # upload a picture from the library: it comes first, and similar (same colour) pictures follow
    query = next(p for p in (world[0] / "photos").rglob("*.jpg") if colour_of[p.name] == "blue")
    page.set_input_files("#image-input", str(query))
    page.wait_for_url("**upload=*")
    names = wait_for_results(page)
    assert names[0] == query.name
    assert sum(colour_of[n] == "blue" for n in names[:10]) >= 8
    assert page.locator(".query-chip img").count() == 1

    # "more like this" on a result
    target = names[3]
    page.locator(".result").nth(3).get_by_role("button", name=f"More like {target}").click()
    page.wait_for_url("**like=*")
    similar = wait_for_results(page)
    assert target not in similar and colour_of[similar[0]] == colour_of[target]

    # the URL, opened in a new page, gives the same results
    shared = browser.new_page()
    shared.goto(page.url)
    assert wait_for_results(shared) == similar
    shared.close()

    # back goes to the upload results, then to "red"
    page.go_back()
    page.wait_for_url("**upload=*")
    page.go_back()
    page.wait_for_url("**q=red*")
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
    page.keyboard.press("Enter")
    page.wait_for_url("**/image/*")
    assert page.locator("h1").inner_text() == names[0]
    screenshots(page, "image")
    page.keyboard.press("Tab")  # the skip link comes first and leads to the content
    assert page.evaluate("document.activeElement.className") == "skip-link"


def test_pages_have_no_serious_accessibility_violations(page, server):
    page.goto(server + "/?q=purple")
    wait_for_results(page)
    assert serious_violations(page) == []
    page.locator(".result-link").first.click()
    page.wait_for_url("**/image/*")
    page.wait_for_function("() => document.querySelectorAll('#results .result').length > 0")
    assert serious_violations(page) == []
    page.goto(server + "/image/not-an-id")
    assert serious_violations(page) == []
    screenshots(page, "not-found")
    page.goto(server + "/")
    screenshots(page, "empty-search")


def test_a_query_for_nothing_shows_a_clear_message(page, server):
    page.goto(server + "/?q=" + "-red")
    page.wait_for_function("() => document.getElementById('status').textContent.length > 0")
    assert "negative terms alone" in page.locator("#status").inner_text()



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
    for tag in ("concepts", "images", "jobs", "search", "status"):  # every area, each with its operations
        assert page.get_by_role("heading", name=tag).count() >= 1, tag
    assert page.get_by_text("/api/images/{image_id}/file").count() >= 1
    assert all(url.startswith((server, "blob:", "data:")) for url in requests), requests
    assert all("cdn.redoc.ly" in text for text in blocked), blocked  # only the third-party logo was refused
