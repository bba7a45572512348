"""Migration without re-embedding: local mode -> Qdrant Edge, and an embedded library -> a Qdrant server."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from qdrant_client import models

from indexer import selections
from indexer.errors import UsageError
from indexer.index import index_folders
from indexer.library import Library
from indexer.manifest import read_manifest
from indexer.migrate import migrate_to_edge, migrate_to_server
from indexer.search import search_images
from indexer.store import IMAGES, SELECTIONS, VOCABULARY
from indexer.vocab import add_entries

from helpers import FakeQdrantServer


@pytest.fixture
def local_library(settings, photos):
    """A library built with qdrant-client local mode, as pixcept made them before Edge became the default."""
    local = replace(settings, store="local")
    with Library.open(local) as library:
        index_folders(library, [photos])
        add_entries(library, ["red", "blue", "kayak"], "user", "user:w.txt")
        before = [(r.id, r.score) for r in search_images(library, "red", limit=12)]
        selections.create(library, "kept", by="test")
        selections.mark(library, "kept", [i for i, _ in before[:2]], "accepted", by="test")
    return local, before


def test_local_mode_library_moves_to_edge(local_library, settings, photos, run):
    local, before = local_library
    result = run("migrate")
    assert result.exit_code == 0, result.output
    assert "Moved 12 images, 3 vocabulary, 3 selection entries to Qdrant Edge" in result.stdout
    assert read_manifest(settings.data_dir)["store"]["kind"] == "edge"
    assert list(settings.data_dir.glob("qdrant.migrated-*"))  # the old store, kept as a backup
    with Library.open(settings) as library:
        assert library.store.kind == "edge"
        assert library.store.count(IMAGES) == 12 and library.store.count(VOCABULARY) == 3
        after = [(r.id, r.score) for r in search_images(library, "red", limit=12)]
        assert [i for i, _ in after] == [i for i, _ in before]
        assert [s for _, s in after] == pytest.approx([s for _, s in before], abs=1e-5)
        again = index_folders(library, [photos])
        assert (again.indexed, again.unchanged) == (0, 12)  # nothing re-embedded
        assert sorted(selections.member_ids(library, "kept")) == sorted(i for i, _ in before[:2])
    assert "already uses the 'edge' store" in run("migrate").stderr


def test_interrupted_migration_leaves_the_library_as_it_was(local_library, settings, monkeypatch):
    import indexer.migrate as migrate

    local, _ = local_library

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(migrate, "_retire", fail)
    with pytest.raises(KeyboardInterrupt):
        migrate_to_edge(settings)
    with Library.open(settings) as library:  # still the local-mode store, with everything in it
        assert library.store.kind == "local" and library.store.count(IMAGES) == 12
    monkeypatch.undo()
    counts, _ = migrate_to_edge(settings)  # and a second try completes
    assert counts == {IMAGES: 12, VOCABULARY: 3, SELECTIONS: 3}


def test_embedded_library_moves_to_a_server(local_library, settings):
    fake = FakeQdrantServer()
    counts, backup = migrate_to_server(replace(settings, qdrant_api_key="key"), "https://qdrant.test:6333",
                                       transport=httpx.MockTransport(fake))
    assert counts == {IMAGES: 12, VOCABULARY: 3, SELECTIONS: 3} and backup.name.startswith("qdrant.migrated-")
    assert len(fake.points["pixcept_images"]) == 12 and len(fake.points["pixcept_selections"]) == 3
    created = models.CreateCollection(**fake.bodies("PUT", "/collections/pixcept_images")[0])
    assert created.vectors.size == 64 and created.metadata["pixcept_model"]["dim"] == 64
    assert models.CreateCollection(**fake.bodies("PUT", "/collections/pixcept_selections")[0]).vectors.size == 1
    upserted = [models.PointsList(**b) for b in fake.bodies("PUT", "/collections/pixcept_images/points")]
    assert all(len(p.vector) == 64 for body in upserted for p in body.points)
    assert read_manifest(settings.data_dir)["store"] == {"kind": "server", "location": "https://qdrant.test:6333"}


def test_nothing_to_migrate(settings):
    with pytest.raises(UsageError, match="nothing to migrate"):
        migrate_to_server(settings, "https://qdrant.test:6333")
