"""Backups: `pixcept backup` of a library with concepts and selections (here, and through a running server, whose
job copies it consistently), restored into an empty folder: the same search results, concepts and selections."""

from __future__ import annotations

import pytest
from PIL import Image

from indexer import selections
from indexer.backup import restore_library
from indexer.concepts import read
from indexer.concepts.job import run_cluster
from indexer.config import Settings
from indexer.demo import demo_model_spec
from indexer.demo.world import write_library
from indexer.errors import UsageError
from indexer.index import index_folders
from indexer.library import Library
from indexer.search import search_page

from helpers import fit_seed


@pytest.fixture(scope="module")
def clustered(tmp_path_factory):
    """The demo world (2 pictures per colour x shape), with published concepts and a selection."""
    root = tmp_path_factory.mktemp("backup")
    write_library(root / "photos", per_pair=2)
    settings = Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu")
    with Library.open(settings) as library:
        index_folders(library, [root / "photos"])
        run_cluster(library, {"seed": fit_seed(3), "min_concept_size": 3})
        reds = [r.id for r in search_page(library, "red", limit=5).results]
        selections.create(library, "reds", "test")
        selections.mark(library, "reds", reds[:3], selections.ACCEPTED, "test")
        selections.mark(library, "reds", reds[3:], selections.REJECTED, "test")
    return root, settings


def answers(settings: Settings) -> dict:
    """What a person sees: search results with scores, concepts with their images, the selection."""
    with Library.open(settings) as library:
        found = [(r.id, round(r.score, 5)) for r in search_page(library, "blue circle", limit=10).results]
        concepts = {c["id"]: (c["title"], c["size"], sorted(p.id for p in read.concept_members(library, c["id"])[0]))
                    for c in read.list_concepts(library).concepts}
        kept = selections.get(library, "reds").to_dict()
        members = selections.member_ids(library, "reds", (selections.ACCEPTED, selections.REJECTED))
    return {"search": found, "concepts": concepts, "selection": {k: kept[k] for k in ("accepted", "rejected")},
            "members": members}


def disk_use(folder) -> int:
    return sum(path.stat().st_blocks * 512 for path in folder.rglob("*") if path.is_file())


def test_a_backup_restored_into_an_empty_folder_answers_the_same(clustered, run, tmp_path, monkeypatch):
    root, settings = clustered
    before = answers(settings)
    assert before["concepts"] and before["selection"] == {"accepted": 3, "rejected": 2}
    monkeypatch.setenv("PIXCEPT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PIXCEPT_MODEL", demo_model_spec())
    made = run("backup", tmp_path / "backup")
    assert made.exit_code == 0 and "Backed up 96 images" in made.stdout, made.stdout + made.stderr
    deeper = run("backup", tmp_path / "backups" / "2026" / "12-04")  # parent folders made as needed
    assert deeper.exit_code == 0 and (tmp_path / "backups" / "2026" / "12-04" / "manifest.json").is_file()
    assert run("backup", tmp_path / "backup").exit_code == 2  # never over an existing backup
    assert run("backup", settings.data_dir / "inside").exit_code == 2  # never into the library itself
    restored_dir = tmp_path / "restored"
    monkeypatch.setenv("PIXCEPT_DATA_DIR", str(restored_dir))
    done = run("restore", tmp_path / "backup")
    assert done.exit_code == 0 and "Restored 96 images" in done.stdout, done.stdout + done.stderr
    assert answers(Settings(data_dir=restored_dir, model=demo_model_spec(), device="cpu")) == before
    assert run("restore", tmp_path / "backup").exit_code == 2  # the folder holds a library now
    assert (restored_dir / "thumbnails").is_dir() and any((restored_dir / "thumbnails").rglob("*.jpg"))
    # Qdrant pre-allocates 32 MB logs and pages, mostly zeros: copies keep them as holes (a few MB here, not 700)
    assert disk_use(restored_dir) < 3 * disk_use(tmp_path / "backup") < 3 * disk_use(settings.data_dir)
    with pytest.raises(UsageError, match="not a pixcept backup"):
        restore_library(root / "photos", Settings(data_dir=tmp_path / "elsewhere"))


def test_a_running_server_makes_the_backup_as_a_job(clustered, run, tmp_path, monkeypatch):
    """The server owns the embedded store: `pixcept backup` asks it, and its job copies the library it serves."""
    from test_serve import start_server, stop_server

    _, settings = clustered
    before = answers(settings)
    env = {"PIXCEPT_DATA_DIR": str(settings.data_dir), "PIXCEPT_MODEL": demo_model_spec(), "PIXCEPT_DEVICE": "cpu",
           "PIXCEPT_SEARCHES_PER_MINUTE": "0"}
    process, _ = start_server(env)
    try:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        made = run("backup", tmp_path / "served-backup", "--no-thumbnails")
        assert made.exit_code == 0 and "(without thumbnails)" in made.stdout, made.stdout + made.stderr
        assert "holds this library; asking it" in made.stderr
        checked = run("check")  # the consistency check as a job of the server that holds the library
        assert checked.exit_code == 0 and "asking it" in checked.stderr and "No problems" in checked.stderr
    finally:
        stop_server(process)
    assert not (tmp_path / "served-backup" / "thumbnails").exists()
    restored = Settings(data_dir=tmp_path / "restored", model=demo_model_spec(), device="cpu")
    restore_library(tmp_path / "served-backup", restored)
    assert answers(restored) == before
    monkeypatch.setenv("PIXCEPT_DATA_DIR", str(restored.data_dir))  # the thumbnails, made again from the originals
    made = run("thumbnails")
    assert made.exit_code == 0 and "96 thumbnails made again" in made.stdout, made.stdout + made.stderr
    thumbnails = list((restored.data_dir / "thumbnails").rglob("*.jpg"))
    assert len(thumbnails) == 96 and Image.open(thumbnails[0]).size[0] <= 256
    assert "0 thumbnails made again, 96 were there" in run("thumbnails").stdout


def test_a_backup_killed_midway_leaves_no_backup_and_the_next_one_completes(clustered, tmp_path):
    """kill -9 at random points of `pixcept backup`: the destination is either absent or whole, and the next backup
    succeeds (what the killed one left beside it is cleared)."""
    import random
    import signal
    import time

    from conftest import pixcept_process

    _, settings = clustered
    env = {"PIXCEPT_DATA_DIR": str(settings.data_dir), "PIXCEPT_MODEL": demo_model_spec(), "PIXCEPT_DEVICE": "cpu"}
    destination = tmp_path / "killed"
    rng = random.Random(0)
    for _ in range(3):
        process = pixcept_process("backup", destination, env=env)
        time.sleep(rng.uniform(0.5, 3.0))
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        assert not destination.exists() or (destination / "manifest.json").exists()
        if destination.exists():
            break
    process = pixcept_process("backup", tmp_path / "after", env=env)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert not list(tmp_path.glob(".after.partial-*"))
    restored = Settings(data_dir=tmp_path / "restored", model=demo_model_spec(), device="cpu")
    restore_library(tmp_path / "after", restored)
    assert answers(restored) == answers(settings)
