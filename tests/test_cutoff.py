"""The relevance cutoff on the world `pixcept demo` makes (192 pictures, 4 of each colour x shape, the demo model):
README's examples hold, every colour + shape and single-word query shows its pictures and no others, and words the
model never learnt say "no good match" instead of showing confident-looking pictures."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from indexer.cli import cli
from indexer.config import Settings
from indexer.demo import demo_model_spec, demo_vocabulary
from indexer.demo.world import COLOURS, SHAPES, write_library
from indexer.index import index_folders
from indexer.library import Library
from indexer.search import WEAK_SHOWN, Chance, below_chance, relevance_threshold, search_page
from indexer.store import IMAGES
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




# -- refining with examples (bench/refine.py measures the ways) --------------------------------------------------------

def _ids_by_kind(library) -> dict[tuple[str, str], list[str]]:
    by_kind: dict[tuple[str, str], list[str]] = {}
    for point in sorted(library.store.scroll(IMAGES), key=lambda p: p.payload["path"]):
        by_kind.setdefault(tuple(Path(point.payload["path"]).name.split("_")[:2]), []).append(point.id)
    return by_kind


def test_not_like_this_drops_its_kind_and_keeps_what_the_example_shares(library):
    """The journey of issue 20: "red", a red circle as an example, then "not like this" on a red square. The red
    circles stay (the example first, marked), the red squares go; subtracting the square once removed "red" too
    and led with a green crescent."""
    by_kind = _ids_by_kind(library)
    circle, square = by_kind[("red", "circle")][0], by_kind[("red", "square")][0]
    page = search_page(library, "red", like=[circle], unlike=[square], limit=100)
    kinds = [_kind(r.path) for r in page.results]
    assert page.results[0].id == circle and page.results[0].example and not page.results[1].example
    assert kinds.count(("red", "circle")) == 4 and ("red", "square") not in kinds
    assert {colour for colour, _ in kinds} == {"red"}
    cases = kept = dropped = 0  # every colour x shape x other shape, with the cutoff as people see it
    for colour in COLOURS:
        for shape in SHAPES:
            for other in SHAPES:
                if other != shape:
                    shown = [_kind(r.path) for r in search_page(
                        library, colour, like=[by_kind[(colour, shape)][0]], unlike=[by_kind[(colour, other)][0]],
                        limit=100).results]
                    cases += 1
                    kept += shown.count((colour, shape)) == 4
                    dropped += (colour, other) not in shown
    # measured: 213 and 234 of 240 (226 and 237 with other pictures as the examples); subtracting: see bench/refine.py
    assert kept >= 0.85 * cases and dropped >= 0.95 * cases, (kept, dropped, cases)


def test_a_negative_word_still_excludes_only_what_it_names(library, demo):
    """"circle -red": every circle but the red ones, first."""
    truth = demo[1]
    for colour in COLOURS:
        page = search_page(library, f"circle -{colour}", limit=100, relative=None)
        first = [truth[Path(r.path).name] for r in page.results[:28]]
        assert sum(t == ("circle", colour)[::-1] for t in first) == 0, colour
        assert sum(t[1] == "circle" for t in first) >= 26, (colour, first)


def test_more_like_this_shows_the_example_first_and_pages_after_it(library):
    by_kind = _ids_by_kind(library)
    example = by_kind[("blue", "star")][0]
    first = search_page(library, like=[example], limit=5, relative=None)
    assert first.results[0].id == example and first.results[0].example and len(first.results) == 6
    following = search_page(library, like=[example], limit=5, offset=first.next_offset, relative=None)
    shown = [r.id for r in first.results + following.results]
    assert len(shown) == len(set(shown)) == 11 and not any(r.example for r in following.results)


def _kind(path: str) -> tuple[str, str]:
    return tuple(Path(path).name.split("_")[:2])


def test_a_broad_word_matches_when_its_best_picture_stands_above_every_made_up_words():
    """The probe rule has two parts: a query matched nothing when it rises above the library's mean score no more
    than made-up words do AND its best picture scores no higher than theirs. "flag" where flags are a seventh of the
    library lifts the mean with it (the emoji world: rise 0.30, chance 0.44), yet its best picture (0.74) stands
    far above any made-up word's."""
    chance = Chance(rise=0.44, best_line=0.70)
    assert below_chance(0.60, 0.10, chance)  # rises 0.50 < 1.3 x 0.44, below the line: nothing matched
    assert not below_chance(0.74, 0.44, chance)  # rises 0.30 only, but above the line: a broad word
    assert not below_chance(0.69, 0.05, chance)  # rises 0.64: a narrow word
    assert not below_chance(0.60, 0.10, None)  # an empty library has no chance level: never "no match"


def test_a_narrow_gap_ends_a_group_that_holds_together_not_two_pictures_on_a_long_run():
    """The narrow-gap rule ("red circle": 55 red circles, then red squares a twentieth of the rise lower) cuts where
    the drop dwarfs the steps between the group's own members. Two flags 0.01 apart standing 0.02 above 250 more
    flags (within the emoji model's flags concept) are no group: the search shows the flags."""
    circles = np.linspace(0.80, 0.79, 55)
    red = np.concatenate([circles, np.linspace(0.77, 0.74, 40)])  # then the red squares, 0.02 lower
    assert relevance_threshold(red, baseline=0.40) == pytest.approx(0.79)  # rise 0.40: the drop is 1/20 of it
    flags = np.concatenate([[0.791, 0.781], np.linspace(0.761, 0.62, 250)])
    assert relevance_threshold(flags, baseline=0.383) == pytest.approx(0.383 + 0.5 * (0.791 - 0.383))
    with warnings.catch_warnings():  # concept search lets a gap end the list after one: no group above it to weigh
        warnings.simplefilter("error")
        assert relevance_threshold(np.array([0.9, 0.6, 0.59, 0.58]), 0.2, min_results=1) == pytest.approx(0.9)
