"""Selections: kept, marked, gathered and searched within, on the demo world with the demo model (no fakes)."""

from __future__ import annotations

import pytest

from indexer import selections
from indexer.config import Settings
from indexer.demo import demo_model_spec
from indexer.demo.truth import kind_of
from indexer.demo.world import write_library
from indexer.errors import ConflictError, NotFoundError, UsageError
from indexer.index import index_folders
from indexer.library import Library
from indexer.search import search_page
from indexer.store import IMAGES


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """192 demo pictures (4 per colour x shape) in a library; yields (library, kind by image ID, settings)."""
    root = tmp_path_factory.mktemp("selections")
    write_library(root / "photos", per_pair=4)
    settings = Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu")
    library = Library.open(settings)
    index_folders(library, [root / "photos"])
    kinds = {p.id: kind_of(p.payload["path"]) for p in library.store.scroll(IMAGES, fields=["path"])}
    yield library, kinds, settings
    library.close()  # a second close does nothing


def of_kind(kinds: dict, colour: str, shape: str | None = None) -> list[str]:
    return sorted(i for i, (c, s) in kinds.items() if c == colour and shape in (None, s))


def test_a_selection_keeps_what_people_mark_and_who_did(world):
    library, kinds, _ = world
    made = selections.create(library, "Red circles", by="editor")
    assert made.to_dict()["accepted"] == 0 and made.created_by == "editor"
    with pytest.raises(ConflictError, match="exists already"):
        selections.create(library, "Red circles", by="editor")
    circles, squares = of_kind(kinds, "red", "circle"), of_kind(kinds, "red", "square")
    selections.mark(library, "Red circles", circles, selections.ACCEPTED, by="editor")
    changed = selections.mark(library, "Red circles", squares[:2], selections.REJECTED, by="admin")
    assert (changed.counts["accepted"], changed.counts["rejected"], changed.changed_by) == (4, 2, "admin")
    assert sorted(selections.member_ids(library, "Red circles")) == circles
    assert selections.states_of(library, "Red circles", [circles[0], squares[0], squares[3]]) == \
        {circles[0]: "accepted", squares[0]: "rejected"}
    selections.mark(library, "Red circles", squares[:1], None, by="editor")  # taken out again
    assert selections.get(library, "Red circles").counts["rejected"] == 1
    assert [s.name for s in selections.list_all(library)][0] == "Red circles"


def test_bad_changes_are_refused_whole(world):
    library, kinds, _ = world
    selections.create(library, "checked", by="editor")
    some = of_kind(kinds, "blue")[:3]
    with pytest.raises(NotFoundError, match="1 of the 4 image IDs are not indexed"):
        selections.mark(library, "checked", some + ["00000000-0000-0000-0000-000000000000"], "accepted", by="x")
    assert selections.get(library, "checked").counts["accepted"] == 0  # nothing was changed
    with pytest.raises(UsageError, match="at most 10,000"):
        selections.mark(library, "checked", [f"{n:032x}" for n in range(100_000)], "accepted", by="x")
    with pytest.raises(UsageError, match="state must be one of"):
        selections.mark(library, "checked", some, "liked", by="x")
    with pytest.raises(NotFoundError, match="No selection named"):
        selections.mark(library, "no such", some, "accepted", by="x")
    for bad in ("", "a/b", "x" * 65, " -dash first"):
        with pytest.raises(UsageError, match="A selection name"):
            selections.create(library, bad, by="x")
    selections.delete(library, "checked")
    with pytest.raises(NotFoundError):
        selections.get(library, "checked")


def test_gathering_from_one_example_finds_its_kind_and_leaves_out_what_was_marked(world):
    """A person starts from one green star, accepts the green stars and rejects the rest, page by page."""
    library, kinds, _ = world
    wanted = set(of_kind(kinds, "green", "star"))
    selections.create(library, "green stars", by="editor")
    selections.mark(library, "green stars", [min(wanted)], "accepted", by="editor")
    pages = 0
    while set(selections.member_ids(library, "green stars")) != wanted and pages < 5:
        page = selections.gather(library, "green stars", limit=8)
        shown = [r.id for r in page.candidates.results]
        assert not set(shown) & set(selections.member_ids(library, "green stars", selections.STATES))
        assert page.scores == sorted(page.scores, reverse=True) and page.threshold is not None
        for state in ("accepted", "rejected"):
            chosen = [i for i in shown if (i in wanted) == (state == "accepted")]
            if chosen:
                selections.mark(library, "green stars", chosen, state, by="editor")
        pages += 1
    assert set(selections.member_ids(library, "green stars")) == wanted and pages == 1
    within = search_page(library, "green", where=selections.search_filter(library, "green stars"), relative=None)
    assert {r.id for r in within.results} == wanted  # a selection is a search filter


def test_a_saved_search_follows_its_query_less_what_was_rejected(world):
    library, kinds, _ = world
    reds = set(of_kind(kinds, "red"))
    selections.create(library, "all red", by="editor", query={"q": "red"})
    selections.mark(library, "all red", [min(reds)], "rejected", by="editor")
    found = set(selections.search_filter(library, "all red").must[0].ids)
    assert found == reds - {min(reds)}
    with pytest.raises(UsageError, match="saved search holds"):
        selections.create(library, "odd", by="editor", query={"folder": "/x"})


def test_gathering_and_exporting_change_nothing_indexed(world):
    """Everything they write goes to the selections and export-token collections: every image point (payload and
    vector) and every other stored collection stays as it was."""
    from indexer.exports import Links, Source, export

    library, kinds, _ = world

    def snapshot():
        points = library.store.scroll(IMAGES, with_vectors=True)
        return {p.id: (p.payload, p.vector.tobytes()) for p in points}

    before = snapshot()
    selections.create(library, "untouched", "test")
    selections.mark(library, "untouched", of_kind(kinds, "green", "star")[:1], selections.ACCEPTED, "test")
    page = selections.gather(library, "untouched", limit=10)
    selections.mark(library, "untouched", [r.id for r in page.candidates.results], selections.REJECTED, "test")
    selections.gather(library, "untouched", limit=10)
    for fmt in ("zip", "cvat", "coco", "labelstudio"):
        b"".join(export(library, Source(selection="untouched"), fmt, Links("http://pix/", "test", 1)).chunks)
    assert snapshot() == before


def test_selections_survive_a_restart(world):  # last: it closes the module's library
    library, kinds, settings = world
    selections.create(library, "kept", by="editor")
    selections.mark(library, "kept", of_kind(kinds, "pink"), "accepted", by="editor")
    library.close()
    reopened = Library.open(settings)
    try:
        assert reopened.store.count(IMAGES) == len(kinds)
        assert sorted(selections.member_ids(reopened, "kept")) == of_kind(kinds, "pink")
    finally:
        reopened.close()
