"""The folder watcher: pictures that change are indexed soon after, by a server, without a rescan (real inotify)."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace

import pytest

from indexer import watch
from indexer.config import Schedule, ServerConfig
from indexer.index import index_folders
from indexer.library import Library
from indexer.store import IMAGES
from indexer.watch import FolderWatcher
from server.app import create_app

from helpers import make_image, make_library

QUIET = 0.5


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_changed_picture_marks_its_folder_once_the_folder_is_quiet(tmp_path):
    photos, data = tmp_path / "photos", tmp_path / "photos" / ".pixcept"
    (photos / "trip").mkdir(parents=True)
    data.mkdir()
    woken = []
    watcher = FolderWatcher(ignore=[data], wake=lambda: woken.append(time.monotonic()), quiet=QUIET)
    watcher.follow([str(photos)])
    try:
        (photos / "trip" / "notes.txt").write_text("not a picture")
        make_image(data / "thumb.jpg")  # the data folder's own pictures are not the library's
        time.sleep(QUIET * 2)
        assert watcher.due() == [] and not woken
        started = time.monotonic()
        for n in range(5):  # a copy of several files: one mark, due once the last is quiet
            make_image(photos / "trip" / f"{n}.jpg", seed=n)
        assert watcher.due() == []  # still changing
        assert wait_for(lambda: woken, timeout=5)
        assert woken[0] - started >= QUIET
        assert watcher.due() == [str(photos / "trip")] and watcher.due() == []
        shutil.rmtree(photos / "trip")  # a folder deleted marks the folder that held it
        assert wait_for(lambda: watcher.pending(), timeout=5)
        time.sleep(QUIET * 1.5)
        assert str(photos) in watcher.due()
        watcher.follow([])  # a folder no longer indexed is no longer watched
        assert watcher.watched == []
        make_image(photos / "late.jpg")
        time.sleep(QUIET * 2)
        assert watcher.due() == []
    finally:
        watcher.stop()


def test_a_folder_that_cannot_be_watched_says_why(tmp_path):
    watcher = FolderWatcher(quiet=QUIET)
    try:
        watcher.follow([str(tmp_path / "gone")])
        assert watcher.problem and "gone" in watcher.problem and "rescan interval" in watcher.problem
    finally:
        watcher.stop()


@pytest.fixture
def server(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "QUIET_SECONDS", QUIET)
    make_library(tmp_path / "photos", 6)
    with Library.open(settings) as library:
        index_folders(library, [tmp_path / "photos"])
    app = create_app(replace(settings, schedule=Schedule(cluster_every=None, watch=True)),
                     ServerConfig(run_jobs_in_worker=False, searches_per_minute=0))
    yield app.extensions["pixcept"]
    app.extensions["pixcept"].stop()


def test_a_server_indexes_pictures_added_and_removed_without_being_asked(server, tmp_path):
    photos = tmp_path / "photos"
    library = server.whole_library
    assert server.watch_state() == {"on": True, "folders": 1, "problem": None}
    for n in range(3):
        make_image(photos / "new" / f"{n}.jpg", "blue", seed=100 + n)
    assert wait_for(lambda: library.store.count(IMAGES) == 9), library.store.count(IMAGES)
    job = next(j for j in server.runner.jobs.values() if j.kind == "index")
    assert job.params["folders"] == [str(photos / "new")] and job.params["prune"]
    assert library.manifest["roots"] == [str(photos)]  # the subfolder is part of the indexed folder
    # a subfolder's index does not put off the rescan of every folder
    assert library.manifest["last_index"]["folders"] == [str(photos / "new")]
    assert library.manifest["last_full_index"]["folders"] == [str(photos)]

    (photos / "new" / "0.jpg").unlink()
    assert wait_for(lambda: library.store.count(IMAGES) == 8), library.store.count(IMAGES)


def test_watching_follows_the_setting(server, tmp_path):
    from indexer.live_settings import change_settings

    change_settings(server.whole_library, {"schedule.watch": "off"})
    server.runner.check_schedule_now()
    assert wait_for(lambda: server.watch_state()["on"] is False and server.watcher.watched == [])
    make_image(tmp_path / "photos" / "ignored.jpg", seed=7)
    time.sleep(QUIET * 4)
    assert server.whole_library.store.count(IMAGES) == 6
