"""The indexing pipeline end to end: real tiny CLIP, real Qdrant local mode, generated photo folders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.demo.models import write_tiny_model
from indexer.errors import UsageError
from indexer.images import thumbnail_path
from indexer.index import index_folders
from indexer.library import Library, ModelMismatchError
from indexer.reindex import reindex_library
from indexer.store import IMAGES

from conftest import pixcept_process
from helpers import make_image, make_library


def points_by_path(library) -> dict[str, dict]:
    out = {}
    for point in library.store.scroll(IMAGES, with_vectors=True):
        for path in point.payload["paths"]:
            assert path not in out, f"{path} is in two points"
            out[path] = {"id": point.id, **point.payload, "vector": point.vector}
    return out


def test_index_then_rerun_reads_nothing_new(library, photos):
    first = index_folders(library, [photos])
    assert (first.indexed, first.unchanged, len(first.failed)) == (12, 0, 0)
    indexed = points_by_path(library)
    assert len(indexed) == 12
    some = indexed[str(photos / "red" / "img_000.jpg")]
    assert some["width"] == 320 and some["height"] == 240 and some["format"] == "JPEG"
    assert some["folders"][:2] == sorted(some["folders"])[:2] and str(photos) in some["folders"]
    assert np.linalg.norm(some["vector"]) == pytest.approx(1.0, abs=1e-5)
    assert all(thumbnail_path(library.thumbnail_dir, p["sha256"]).is_file() for p in indexed.values())
    second = index_folders(library, [photos])
    assert (second.indexed, second.updated, second.unchanged) == (0, 0, 12)
    assert library.manifest["roots"] == [str(photos.resolve())]


def test_mtime_change_rehashes_without_embedding(library, photos):
    index_folders(library, [photos])
    target = photos / "red" / "img_000.jpg"
    before = points_by_path(library)[str(target)]
    os.utime(target, (time.time() + 100, time.time() + 100))
    summary = index_folders(library, [photos])
    assert (summary.indexed, summary.updated, summary.unchanged) == (0, 1, 11)
    after = points_by_path(library)[str(target)]
    assert after["id"] == before["id"] and after["indexed_at"] == before["indexed_at"]
    assert after["files"][0]["mtime"] == pytest.approx(target.stat().st_mtime)


def test_content_change_reembeds_and_drops_the_old_content(library, photos):
    index_folders(library, [photos])
    target = photos / "red" / "img_000.jpg"
    old = points_by_path(library)[str(target)]
    make_image(target, "blue", seed=999)
    summary = index_folders(library, [photos])
    assert (summary.indexed, summary.removed) == (1, 1)
    new = points_by_path(library)[str(target)]
    assert new["id"] != old["id"]
    assert library.store.count(IMAGES) == 12
    assert not thumbnail_path(library.thumbnail_dir, old["sha256"]).exists()


def test_identical_content_is_stored_once_with_every_path(library, photos):
    copy = photos / "copies" / "same.jpg"
    copy.parent.mkdir()
    shutil.copy(photos / "red" / "img_000.jpg", copy)
    summary = index_folders(library, [photos])
    assert summary.indexed == 12 and summary.updated == 1
    point = points_by_path(library)[str(copy)]
    assert point["paths"] == sorted([str(copy), str(photos / "red" / "img_000.jpg")])
    assert library.store.count(IMAGES) == 12


def test_rename_moves_the_path_without_embedding(library, photos):
    index_folders(library, [photos])
    old, new = photos / "red" / "img_000.jpg", photos / "red" / "renamed.jpg"
    before = points_by_path(library)[str(old)]
    old.rename(new)
    summary = index_folders(library, [photos])
    assert (summary.indexed, summary.updated, summary.missing) == (0, 1, 0)
    after = points_by_path(library)
    assert str(old) not in after
    assert after[str(new)]["id"] == before["id"] and after[str(new)]["paths"] == [str(new)]


def test_deleted_files_are_kept_until_prune(library, photos):
    index_folders(library, [photos])
    gone = photos / "blue" / "img_002.jpg"
    sha = points_by_path(library)[str(gone)]["sha256"]
    gone.unlink()
    kept = index_folders(library, [photos])
    assert kept.missing == 1 and library.store.count(IMAGES) == 12
    pruned = index_folders(library, [photos], prune=True)
    assert pruned.removed == 1 and library.store.count(IMAGES) == 11
    assert not thumbnail_path(library.thumbnail_dir, sha).exists()


def test_prune_keeps_a_point_while_any_of_its_paths_exists(library, photos):
    copy = photos / "copy.jpg"
    shutil.copy(photos / "red" / "img_000.jpg", copy)
    index_folders(library, [photos])
    copy.unlink()
    summary = index_folders(library, [photos], prune=True)
    assert summary.removed == 0
    first = str(photos / "red" / "img_000.jpg")
    assert points_by_path(library)[first]["paths"] == [first]


def test_prune_refuses_an_empty_or_missing_folder(library, photos, tmp_path):
    index_folders(library, [photos])
    empty = tmp_path / "unmounted"
    empty.mkdir()
    with pytest.raises(UsageError, match="Refusing to prune"):
        index_folders(library, [photos, empty], prune=True)
    with pytest.raises(UsageError, match="Folder not found"):
        index_folders(library, [tmp_path / "nope"], prune=True)
    for path in photos.rglob("*.jpg"):
        path.unlink()
    with pytest.raises(UsageError, match="Refusing to prune"):
        index_folders(library, [photos], prune=True)
    assert library.store.count(IMAGES) == 12


def test_bad_files_are_reported_and_never_stop_the_run(run, photos, data_dir):
    bad = photos / "bad"
    bad.mkdir()
    (bad / "zero.jpg").write_bytes(b"")
    (bad / "text.png").write_text("hello")
    whole = (photos / "red" / "img_000.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    os.symlink("loop.jpg", bad / "loop.jpg")
    result = run("index", photos)
    assert result.exit_code == 0, result.output
    assert "12 indexed" in result.stdout and "4 failed" in result.stdout
    reports = list((data_dir / "reports").glob("index-*.tsv"))
    assert len(reports) == 1
    rows = dict(line.split("\t") for line in reports[0].read_text().splitlines()[1:])
    assert rows[str(bad / "zero.jpg")] == "empty file (0 bytes)"
    assert rows[str(bad / "text.png")].startswith("not an image")
    assert rows[str(bad / "truncated.jpg")] == "truncated image file"
    assert rows[str(bad / "loop.jpg")] == "symlink loop"


def test_a_file_that_turns_bad_keeps_its_indexed_version(library, photos):
    index_folders(library, [photos])
    target = photos / "red" / "img_000.jpg"
    before = points_by_path(library)[str(target)]
    target.write_bytes(target.read_bytes()[:500])
    summary = index_folders(library, [photos])
    assert [f.path for f in summary.failed] == [str(target)]
    assert points_by_path(library)[str(target)]["id"] == before["id"]


def test_another_model_is_refused_until_reindex(library, photos, tmp_path, settings):
    index_folders(library, [photos])
    library.close()
    other = write_tiny_model(tmp_path / "other-model", seed=7)
    other_settings = type(settings)(data_dir=settings.data_dir, model=f"local-dir:{other}", device="cpu")
    with Library.open(other_settings) as reopened:
        with pytest.raises(ModelMismatchError, match="--reindex"):
            index_folders(reopened, [photos])
        assert reopened.store.count(IMAGES) == 12
        summary = reindex_library(reopened, [photos])
        assert summary.indexed == 12
        assert reopened.recorded_identity() == reopened.embedder().identity
    # reads use the recorded model, not the environment's
    with Library.open(type(settings)(data_dir=settings.data_dir, device="cpu")) as plain:
        assert plain.embedder().spec.text == f"local-dir:{other}"


def test_search_cli_json_and_status(run, photos, tmp_path):
    assert run("index", photos).exit_code == 0
    result = run("search", "--image", photos / "green" / "img_001.jpg", "--limit", "5", "--all", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 5
    assert hits[0]["path"] == str(photos / "green" / "img_001.jpg") and hits[0]["score"] == pytest.approx(1, abs=1e-4)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    text = run("search", "a red circle", "--limit", "3", "--all")
    assert text.exit_code == 0 and len(text.stdout.strip().splitlines()) == 3
    score, path = text.stdout.splitlines()[0].split("\t")  # score <tab> path: names with spaces survive `cut`
    assert float(score) > 0 and Path(path).is_file()
    paths = run("search", "a red circle", "--limit", "3", "--all", "--paths").stdout.splitlines()
    assert paths == [line.split("\t")[1] for line in text.stdout.splitlines()]
    nothing = run("search", "circle", "--all", "--offset", "500")
    assert nothing.exit_code == 1 and nothing.stdout == "" and "No matching images" in nothing.stderr
    elsewhere = run("search", "circle", "--folder", tmp_path / "not-indexed")
    assert elsewhere.exit_code == 2 and "Not an indexed folder" in elsewhere.stderr and str(photos) in elsewhere.stderr
    only_blue = json.loads(run("search", "circle", "--folder", photos / "blue", "--all", "--json").stdout)
    assert only_blue and all("/blue/" in h["path"] for h in only_blue)
    status = json.loads(run("status", "--json").stdout)
    assert status["images"] == 12 and status["model"]["dim"] == 64
    not_a_library = tmp_path / "no-library-here"
    missing = run("status", "--data-dir", not_a_library)
    assert missing.exit_code == 1 and "is not a pixcept library" in missing.stderr
    assert not not_a_library.exists()  # asking did not create one
    cut = json.loads(run("search", "--image", photos / "green" / "img_001.jpg", "--limit", "12", "--json").stdout)
    assert 1 <= len(cut) < 12 and cut[0]["score"] == pytest.approx(1, abs=1e-4)  # the relevance cutoff applies


def test_an_indexed_image_is_always_a_match_for_itself(run, photos):
    """The random tiny model finds every picture alike: words it never learnt rise as far as anything, so the probe
    rule would call an image's own file "no good match". A near-exact match is a match."""
    assert run("index", photos).exit_code == 0
    for picture in sorted(photos.rglob("*.jpg")):
        found = run("search", "--image", picture, "--paths")
        assert found.exit_code == 0 and found.stdout.splitlines()[0] == str(picture), (picture, found.output)


def test_search_errors_are_messages(run, photos, tmp_path):
    empty = run("search", "anything")
    assert empty.exit_code == 1 and "Nothing is indexed" in empty.stderr
    run("index", photos)
    assert "Give something to search for" in run("search", "-people").stderr
    assert "too long" in run("search", "x" * 600).stderr
    (tmp_path / "fake.jpg").write_text("no")
    bad = run("search", "--image", tmp_path / "fake.jpg")
    assert bad.exit_code == 2 and "Cannot use" in bad.stderr and "not an image" in bad.stderr


def test_kill_at_any_moment_then_rerun_loses_nothing(tmp_path, cli_env):
    photos = tmp_path / "many"
    make_library(photos, 80)
    process = pixcept_process("index", photos, "--batch-size", "4", "--workers", "2", env=cli_env)
    thumbs = Path(cli_env["PIXCEPT_DATA_DIR"]) / "thumbnails"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(thumbs.rglob("*.jpg"))) < 20:
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed; make it longer"
    process.send_signal(signal.SIGKILL)
    process.wait()
    rerun = pixcept_process("index", photos, env=cli_env)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "Traceback" not in err
    with Library.open(type_settings(cli_env)) as library:
        indexed = points_by_path(library)  # asserts no path sits in two points
        assert len(indexed) == 80 and library.store.count(IMAGES) == 80
    first_run_saved = 80 - int(out.split(" indexed")[0].split()[-1])
    assert first_run_saved >= 4  # the killed run's finished batches were kept, not redone


def type_settings(env: dict):
    from indexer.config import Settings

    return Settings(data_dir=Path(env["PIXCEPT_DATA_DIR"]), model=env["PIXCEPT_MODEL"], device="cpu")
