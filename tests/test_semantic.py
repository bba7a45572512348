"""Meaning, not plumbing: searches on a library of the demo world, embedded with the demo CLIP trained on it.

The demo model knows 8 colours and 6 shapes. It does not know which colour belongs to which shape in two-object
scenes, nor positions, so nothing here asks that.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from indexer.config import Settings
from indexer.demo import demo_model_spec, demo_vocabulary
from indexer.demo.world import COLOURS, SHAPES, write_library
from indexer.index import index_folders
from indexer.library import Library
from indexer.search import search_images
from indexer.vocab import add_entries, search_words


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """576 pictures (12 of each colour x shape), indexed with the demo model; yields (library, truth by path)."""
    root = tmp_path_factory.mktemp("world")
    scenes = write_library(root / "photos", per_pair=12, seed=3)
    library = Library.open(Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu"))
    summary = index_folders(library, [root / "photos"])
    assert summary.indexed == len(scenes)
    add_entries(library, demo_vocabulary(), "demo", "demo-1")
    yield library, {str(path): scene.main for path, scene in scenes.items()}
    library.close()


def labels(results, truth):
    return [truth[r.path] for r in results]


@pytest.mark.parametrize("colour, shape", [("red", "circle"), ("blue", "star"), ("yellow", "square"),
                                           ("green", "triangle"), ("purple", "cross")])
def test_text_to_image_precision_at_10(world, colour, shape):
    library, truth = world
    found = labels(search_images(library, f"{colour} {shape}", limit=10), truth)
    precision = sum(t.colour == colour and t.shape == shape for t in found) / 10
    assert precision >= 0.9, found


def test_colour_words_find_their_colour(world):
    library, truth = world
    for colour in COLOURS:
        found = labels(search_images(library, colour, limit=20), truth)
        assert sum(t.colour == colour for t in found) >= 19, (colour, Counter(t.colour for t in found))


def test_image_to_image_puts_the_same_colour_and_shape_first(world):
    library, truth = world
    for path, thing in list(truth.items())[::97]:
        found = labels(search_images(library, images=[Image.open(path).convert("RGB")], limit=6), truth)
        assert found[0] == thing  # itself
        assert all(t.colour == thing.colour for t in found), (thing, found)
        assert sum(t.shape == thing.shape for t in found) >= 4, (thing, found)


def test_negative_terms_exclude(world):
    library, truth = world
    found = labels(search_images(library, "circle -red", limit=30), truth)
    assert found and not any(t.colour == "red" for t in found)
    assert sum(t.shape == "circle" for t in found) / len(found) >= 0.8
    reds = labels(search_images(library, "red -circle", limit=30), truth)
    assert all(t.colour == "red" and t.shape != "circle" for t in reds[:10])


def test_combined_text_and_image_query(world):
    library, truth = world
    blue_star = next(p for p, t in truth.items() if t.colour == "blue" and t.shape == "star")
    found = labels(search_images(library, "yellow", images=[Image.open(blue_star).convert("RGB")], limit=10), truth)
    # both halves of the query pull: yellow things and blue stars, nothing else near the top
    assert all(t.colour == "yellow" or (t.colour == "blue" and t.shape == "star") for t in found[:5]), found


def test_colour_centroids_are_labelled_with_their_colour_word(world):
    library, truth = world
    vectors = {p.payload["path"]: p.vector for p in library.store.scroll("images", with_vectors=True)}
    for colour in COLOURS:
        members = np.stack([v for path, v in vectors.items() if truth[path].colour == colour])
        centroid = members.mean(axis=0)
        words = [w for w, _ in search_words(library, centroid / np.linalg.norm(centroid), limit=len(SHAPES) + 1)]
        assert words[0] == colour, (colour, words)
