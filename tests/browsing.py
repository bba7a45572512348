"""Shared by the browser tests: Debian's Chromium driven by Playwright, one browser per module, one page per test
(failing on any JavaScript error), and what the tests read from pages."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import ROOT

CHROMIUM = os.environ.get("PIXCEPT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


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
    return page.locator(".result .result-name").evaluate_all("names => names.map(n => n.dataset.name)")


def wait_for_results(page, timeout_ms: float = 5000) -> list[str]:
    page.wait_for_function("() => document.querySelectorAll('.result').length > 0 && "
                           "!document.getElementById('status').textContent.startsWith('Search')", timeout=timeout_ms)
    return result_names(page)


def next_frame(page) -> None:
    """Return once the browser has laid out and painted a frame after what came before (a resize, a scroll)."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


# the outermost elements reaching past the viewport's right edge (their parent does not), to say what scrolls sideways
WIDEST = """(width) => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > width && e.parentElement.getBoundingClientRect().right <= width)
  .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`)"""


def screenshots(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        next_frame(page)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        wide = page.evaluate(WIDEST, width)
        assert overflow <= width, f"{name} is {overflow} px wide at {label} width {width}: it scrolls sideways ({wide})"
    page.set_viewport_size({"width": 1280, "height": 900})


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in violations
            if v["impact"] in ("serious", "critical")]


def selection_from_one(page, server: str, name: str, query: str, wanted) -> None:
    """A selection made on /selections, started from the first result of `query` that `wanted(result)` picks
    (accepted through the API, as the pages' own buttons do), then the page shown again with it."""
    page.goto(server + "/selections")
    page.get_by_label("New selection").fill(name)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"**/selections/{quote(name)}")
    token = page.request.get(server + "/api/session").json()["csrf_token"]
    found = page.request.get(server + f"/api/search?q={query}&limit=20").json()["results"]
    first = next(image for image in found if wanted(image))
    added = page.request.post(server + f"/api/selections/{quote(name)}/images", headers={"X-CSRF-Token": token},
                              data={"ids": [first["id"]], "state": "accepted"})
    assert added.ok and added.json()["accepted"] == 1
    page.reload()


def box_select_concept_core(page, server: str, words: str) -> list[str]:
    """On the map page: box-select the densest half (at least five) of the points of the concept that best matches
    `words`, by dragging with the mouse; the names of the images selected."""
    concept = page.request.get(server + f"/api/concepts/search?q={quote(words)}&limit=1").json()["concepts"][0]["id"]
    points = page.evaluate("""id => { const m = window.pixceptMap, out = [];
        for (let i = 0; i < m.count; i += 1) if (m.conceptOf[i] === id) out.push(m.screenOf(i));
        return out; }""", concept)
    middle = sorted(p[0] for p in points)[len(points) // 2], sorted(p[1] for p in points)[len(points) // 2]
    core = sorted(points, key=lambda p: (p[0] - middle[0]) ** 2 + (p[1] - middle[1]) ** 2)[: max(5, len(points) // 2)]
    frame = page.locator("#map-frame").bounding_box()
    left, right = min(p[0] for p in core) - 2, max(p[0] for p in core) + 2
    top, bottom = min(p[1] for p in core) - 2, max(p[1] for p in core) + 2
    page.get_by_role("button", name="Box select").click()
    page.mouse.move(frame["x"] + left, frame["y"] + top)
    page.mouse.down()
    page.mouse.move(frame["x"] + right, frame["y"] + bottom, steps=5)
    page.mouse.up()
    page.wait_for_function("() => window.pixceptMap.selectedImages.length > 0")
    names = [image["name"] for image in page.evaluate("window.pixceptMap.selectedImages")]
    assert len(names) >= len(core), (len(names), len(core))
    return names
