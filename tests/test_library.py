"""The data directory: one-process lock with a clear message, stale locks, atomic manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from indexer.library import Library
from indexer.lock import LOCK_NAME, DataDirLock, StoreLockedError
from indexer.manifest import MANIFEST_NAME, ManifestError, read_manifest, write_manifest

from conftest import pixcept_process


def test_second_open_names_the_holder(settings):
    with Library.open(settings, command="pixcept serve"):
        with pytest.raises(StoreLockedError) as caught:
            Library.open(settings, command="pixcept index")
    message = str(caught.value)
    assert f"process {os.getpid()}" in message and "`pixcept serve`" in message and str(settings.data_dir) in message
    with Library.open(settings):  # released on close
        pass


def test_lock_held_by_another_process_is_a_message_not_a_trace(settings, cli_env, photos):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from indexer.lock import DataDirLock; "
        f"lock = DataDirLock(Path({str(settings.data_dir)!r}), 'pixcept serve').acquire(); print('held', flush=True); "
        "time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        process = pixcept_process("index", photos, env=cli_env)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 1
        assert "Traceback" not in err
        assert f"in use by process {holder.pid} (`pixcept serve`" in err
        status = pixcept_process("status", env=cli_env)
        out, err = status.communicate(timeout=60)
        assert status.returncode == 0 and "in use by process" in out
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_a_dead_process_is_taken_over(settings):
    settings.data_dir.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (settings.data_dir / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "command": "pixcept index"}))
    lock = DataDirLock(settings.data_dir, "pixcept status").acquire()
    try:
        assert lock.previous_owner["pid"] == dead.pid
        info = json.loads((settings.data_dir / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid() and info["command"] == "pixcept status"
        lock.update(url="http://127.0.0.1:8000")
        assert json.loads((settings.data_dir / LOCK_NAME).read_text())["url"] == "http://127.0.0.1:8000"
    finally:
        lock.release()


def test_manifest_is_written_atomically(tmp_path):
    written = write_manifest(tmp_path, {"roots": ["/photos"]})
    assert read_manifest(tmp_path) == written
    assert written["schema_version"] == 1 and written["created_at"]
    time.sleep(1.1)
    again = write_manifest(tmp_path, {**written, "roots": []})
    assert again["created_at"] == written["created_at"] != again["updated_at"]
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST_NAME]  # no temporary files left


def test_broken_or_newer_manifest_is_reported(settings):
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ManifestError, match="cannot be read"):
        Library.open(settings)
    (settings.data_dir / MANIFEST_NAME).write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ManifestError, match="newer pixcept"):
        Library.open(settings)
    with Library.open(type(settings)(data_dir=settings.data_dir.parent / "fresh")):  # the lock was released
        pass
