"""The relevance cutoff on the world `pixcept demo` makes (192 pictures, 4 of each colour x shape, the demo model):
README's examples hold, every colour + shape and single-word query shows its pictures and no others, and words the
model never learnt say "no good match" instead of showing confident-looking pictures."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import cli
from indexer.config import Settings
from indexer.demo import demo_model_spec, demo_vocabulary
from indexer.demo.world import COLOURS, SHAPES, write_library
from indexer.index import index_folders
from indexer.library import Library
from indexer.search import WEAK_SHOWN, search_page
from indexer.vocab import add_entries

UNKNOWN = ["giraffe", "banana", "piano", "volcano", "bicycle", "violin", "castle", "penguin", "umbrella", "dragon"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """What `pixcept demo` makes; yields (its data folder, (colour, shape) by file name)."""
    root = tmp_path_factory.mktemp("demo")
    scenes = write_library(root / "photos", per_pair=4)
    with Library.open(Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu")) as library:
        index_folders(library, [root / "photos"])
        add_entries(library, demo_vocabulary(), "demo", "demo-1")
    return root / "data", {path.name: (scene.main.colour, scene.main.shape) for path, scene in scenes.items()}


def test_the_cli_says_no_good_match_and_exits_1(demo, monkeypatch):
    """First in the module: the CLI opens the library itself, before the fixture below holds it."""
    monkeypatch.setenv("PIXCEPT_DATA_DIR", str(demo[0]))
    monkeypatch.delenv("PIXCEPT_MODEL", raising=False)
    result = CliRunner().invoke(cli, ["search", "giraffe"])
    assert result.exit_code == 1 and result.stdout == "" and "No good match" in result.stderr
    anyway = CliRunner().invoke(cli, ["search", "giraffe", "--all", "--limit", "5"])
    assert anyway.exit_code == 0 and len(anyway.stdout.splitlines()) == 5
    reds = CliRunner().invoke(cli, ["search", "red"])  # 24 red pictures, 20 a page: the person is told
    assert reds.exit_code == 0 and len(reds.stdout.splitlines()) == 20
    assert "20 shown; more match. --limit 40 or --offset 20" in reds.stderr
    rest = CliRunner().invoke(cli, ["search", "red", "--offset", "20"])
    assert len(rest.stdout.splitlines()) == 4 and "more match" not in rest.stderr


@pytest.fixture(scope="module")
def library(demo):
    with Library.open(Settings(data_dir=demo[0])) as library:
        yield library


def shown(library, text: str) -> tuple[set[str], bool]:
    page = search_page(library, text, limit=200)
    return {Path(r.path).name for r in page.results}, page.no_good_match


def test_readme_examples(library, demo):
    truth = demo[1]
    red_circles, weak = shown(library, "red circle")
    assert not weak and red_circles == {n for n, t in truth.items() if t == ("red", "circle")}  # the 4 red circles
    reds, _ = shown(library, "red")
    assert reds == {n for n, t in truth.items() if t[0] == "red"} and len(reds) == 24


def test_every_colour_and_shape_query_shows_its_pictures_and_no_others(library, demo):
    truth = demo[1]
    exact, precision = 0, []
    for colour in COLOURS:
        for shape in SHAPES:
            found, weak = shown(library, f"{colour} {shape}")
            wanted = {n for n, t in truth.items() if t == (colour, shape)}
            assert not weak and found, (colour, shape)
            precision.append(len(found & wanted) / len(found))
            exact += found == wanted
    assert exact >= 44 and sum(precision) / len(precision) >= 0.95, (exact, precision)  # measured: 46, 0.987


def test_every_single_word_shows_all_its_pictures(library, demo):
    truth = demo[1]
    for word in [*COLOURS, *SHAPES]:
        found, weak = shown(library, word)
        assert not weak and found == {n for n, t in truth.items() if word in t}, word


def test_words_the_model_never_learnt_are_no_good_match(library):
    for word in UNKNOWN:
        found, weak = shown(library, word)
        assert weak and len(found) <= WEAK_SHOWN, word


