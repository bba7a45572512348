"""Jobs and the worker process: real child process, real model, real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from indexer.jobs import JobRunner, kinds
from indexer.manifest import read_manifest, write_manifest
from indexer.store import IMAGES
from indexer.worker import JobWorker, WorkerEmbedder, WorkerError

from conftest import ROOT
from helpers import make_library, process_alive


@pytest.fixture(scope="module")
def worker(tiny_model_spec):
    worker = JobWorker(tiny_model_spec, device="cpu")
    yield worker
    worker.close()


def test_worker_computes_what_the_local_model_does(worker, embedder, tmp_path):
    from PIL import Image

    remote = WorkerEmbedder(embedder, worker)
    images = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue", "green")]
    tensors = [embedder.preprocess_image(image) for image in images]
    np.testing.assert_allclose(remote.embed_tensors(tensors), embedder.embed_tensors(tensors), atol=1e-5)
    texts = ["a red circle", "blue", "a photo of a dog on a beach"]
    np.testing.assert_allclose(remote.embed_texts(texts), embedder.embed_texts(texts), atol=1e-5)
    assert remote.embed_tensors([]).shape == (0, embedder.dim)
    assert remote.dim == embedder.dim  # everything else is the local embedder's


def test_worker_runs_niced_and_comes_back_after_being_killed(worker):
    pid = worker.call("ping")
    assert os.getpriority(os.PRIO_PROCESS, pid) >= 10
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while worker.pid is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.call("ping") not in (None, pid)


PARENT = """
import sys
import numpy as np
from indexer.concepts import ConceptSettings
from indexer.worker import JobWorker
worker = JobWorker(sys.argv[1], device="cpu", idle_seconds=0)
print(worker.call("ping"), flush=True)
worker.fit_concepts(np.random.default_rng(0).normal(size=(4000, 64)).astype(np.float32), ConceptSettings(seed=1))
"""


def test_the_worker_ends_the_moment_its_parent_is_killed_even_mid_fit(tiny_model_spec):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, tiny_model_spec], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)
    try:
        child = int(parent.stdout.readline())
        time.sleep(1)  # the child is busy fitting (UMAP holds its interpreter)
        assert process_alive(child)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 5
        while process_alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(child), "the job worker outlived the serving process"
    finally:
        parent.kill()


def test_worker_errors_are_reported(worker):
    with pytest.raises(WorkerError, match="unknown worker request"):
        worker.call("no-such-thing")
    assert worker.call("ping")  # and it keeps serving


def wait_for(runner: JobRunner, job_id: str, timeout: float = 60):
    job = runner.get(job_id)
    deadline = time.monotonic() + timeout
    while not job.finished and time.monotonic() < deadline:
        job = runner.wait(job_id, job.version, 5)
    return job


def test_index_job_in_the_worker_matches_a_local_run(library, worker, tmp_path):
    make_library(tmp_path / "photos", 8)
    runner = JobRunner(library, lambda model: WorkerEmbedder(library.embedder(for_writing=True), worker)).start()
    try:
        job = wait_for(runner, runner.submit("index", {"folders": [str(tmp_path / "photos")]}).id)
        assert job.state == "done", job.error
        assert job.result["indexed"] == 8 and job.done == job.total == 8
        stored = {p.payload["path"]: p.vector for p in library.store.scroll(IMAGES, fields=["path"], with_vectors=True)}
        path = str(tmp_path / "photos" / "red" / "img_000.jpg")
        from indexer.images import decode_image, read_file

        local = library.embedder().embed_images([decode_image(read_file(path), min_side=224).image])[0]
        assert float(stored[path] @ local) > 0.9999
        saved = json.loads((library.data_dir / "jobs" / f"{job.id}.json").read_text())
        assert saved["state"] == "done" and saved["result"]["indexed"] == 8
    finally:
        runner.stop()


def test_a_failed_scheduled_job_holds_back_only_the_same_work(library, tmp_path):
    due: list[tuple[str, dict]] = []
    idle = JobRunner(library, schedule=lambda: due[-1])  # not started: what it submits stays queued
    idle.folder.mkdir(parents=True, exist_ok=True)
    for folder in ("photos", "new"):
        (tmp_path / folder).mkdir()
    rescan = ("index", {"folders": [str(tmp_path / "photos")], "prune": True})
    failed = idle.submit(*rescan)
    idle.cancel(failed.id)
    idle._finish(idle.get(failed.id), "failed", error="a file could not be read")
    due.append(rescan)
    idle._submit_scheduled()
    assert idle._queue == []  # the same work failed a moment ago
    due.append(("index", {"folders": [str(tmp_path / "new")], "prune": True}))  # a watched folder changed
    idle._submit_scheduled()
    assert [idle.get(job).params["folders"] for job in idle._queue] == [due[-1][1]["folders"]]


def test_queued_jobs_cancel_and_interrupted_jobs_resume(library, tmp_path):
    make_library(tmp_path / "photos", 4)
    idle = JobRunner(library)  # not started: jobs stay queued
    idle.folder.mkdir(parents=True, exist_ok=True)
    queued = idle.submit("index", {"folders": [str(tmp_path / "photos")]})
    assert idle.cancel(queued.id).state == "cancelled"
    running = idle.submit("index", {"folders": [str(tmp_path / "photos")]})
    running.state = "running"  # as a server killed mid-job leaves it on disk
    idle._save(running)

    runner = JobRunner(library).start()  # the next server start
    try:
        interrupted = runner.get(running.id)
        assert interrupted.state == "interrupted" and "Resume" in interrupted.notes[-1]
        resumed = wait_for(runner, runner.resume(running.id).id)
        assert resumed.state == "done" and resumed.resumed_from == running.id and resumed.result["indexed"] == 4
        assert runner.get(queued.id).state == "cancelled"
    finally:
        runner.stop()


def test_failed_job_reports_why(library, tmp_path):
    folder = tmp_path / "photos"
    make_library(folder, 2)
    for path in folder.rglob("*.jpg"):
        path.unlink()  # an emptied folder (unmounted disk?) must not be pruned
    runner = JobRunner(library).start()
    try:
        job = wait_for(runner, runner.submit("index", {"folders": [str(folder)], "prune": True}).id)
        assert job.state == "failed" and "Refusing to prune" in job.error
    finally:
        runner.stop()


def test_an_idle_worker_exits_and_comes_back_on_demand(tiny_model_spec):
    idle = JobWorker(tiny_model_spec, device="cpu", idle_seconds=0.5)
    try:
        first = idle.call("ping")
        for _ in range(3):  # calls keep it alive
            time.sleep(0.3)
            assert idle.call("ping") == first
        deadline = time.monotonic() + 10
        while idle.pid is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert idle.pid is None  # gone, memory given back
        assert idle.call("ping") not in (None, first)  # a new one on demand
    finally:
        idle.close()


def test_worker_idle_setting_must_be_a_number():
    from indexer.config import load_settings
    from indexer.errors import UsageError

    with pytest.raises(UsageError, match="PIXCEPT_WORKER_IDLE_SECONDS must be a number at least 0, not 'soon'"):
        load_settings({}, {"PIXCEPT_WORKER_IDLE_SECONDS": "soon"})
    assert load_settings({}, {"PIXCEPT_WORKER_IDLE_SECONDS": "0"}).worker_idle_seconds == 0


def test_a_server_builds_the_search_index_beside_the_live_shard_in_the_worker(library, worker, tmp_path,
                                                                              monkeypatch):
    """After an index job leaves Edge's index due, the runner's schedule starts a search-index job: the copy is
    optimised in the worker process and swapped in; the job that wrote did not build in place."""
    from indexer.jobs import index_rebuild_due
    from indexer.store.edge import EdgeStore

    monkeypatch.setattr(EdgeStore, "HNSW_MIN_POINTS", 5)  # every library counts as big here
    library.store.build_elsewhere = True
    make_library(tmp_path / "photos", 8)
    runner = JobRunner(library, lambda model: WorkerEmbedder(library.embedder(for_writing=True), worker),
                       schedule=lambda: index_rebuild_due(library)).start()
    try:
        job = wait_for(runner, runner.submit("index", {"folders": [str(tmp_path / "photos")]}).id)
        assert job.state == "done" and not any("Building the search index" in n for n in job.notes)
        deadline = time.monotonic() + 60
        while not any(j.kind == "search-index" and j.finished for j in runner.jobs.values()):
            assert time.monotonic() < deadline, "no search-index job ran"
            time.sleep(0.2)
        built = next(j for j in runner.jobs.values() if j.kind == "search-index")
        assert built.state == "done", built.error
        assert built.result["built"] == ["pixcept_images"] and "beside the live one" in built.notes[0]
        assert not library.store.rebuild_pending()
        assert library.store.count(IMAGES) == 8
        assert [r.payload["path"] for r in library.store.search(IMAGES, library.embedder().embed_text("red"), 3)]
    finally:
        runner.stop()


def test_workers_of_one_server_share_one_queue_run_one_job_at_a_time_and_report_the_same(library, tmp_path,
                                                                                          monkeypatch):
    """Two shared runners stand for two gunicorn workers on one data folder: jobs queued through either run one
    at a time, in order, by whichever holds the running lock; each reports every job; a cancel sent to the one
    that does not run the job stops it; a job left running by a dead worker is reported interrupted."""
    make_library(tmp_path / "photos", 4)
    running, most = [], []

    def slow(library, params, progress, embedder):  # the job's work: long enough to overlap if the queue let it
        running.append(1)
        most.append(len(running))
        progress.start(total=20)
        try:
            for _ in range(20 if params.get("missing_only", True) else 2):
                time.sleep(0.03)
                progress.advance(1)
        finally:
            running.pop()
        return {"ran": True}

    monkeypatch.setitem(kinds.RUNNERS, "thumbnails", slow)
    stale = JobRunner(library)
    stale.folder.mkdir(parents=True, exist_ok=True)
    dead = stale.submit("index", {"folders": [str(tmp_path / "photos")]})
    dead.state = "running"  # as a worker killed mid-job leaves it on disk
    stale._save(dead)
    first, second = JobRunner(library, shared=True).start(), JobRunner(library, shared=True).start()
    try:
        assert first.get(dead.id).state == "interrupted" and second.get(dead.id).state == "interrupted"
        jobs = [runner.submit("thumbnails", {}) for runner in (first, second, first, second)]
        for job in jobs:
            assert wait_for(first, job.id).state == "done" and wait_for(second, job.id).state == "done"
        assert max(most) == 1  # never two at once, whichever worker was asked
        assert [second.get(j.id).started_at for j in jobs] == sorted(second.get(j.id).started_at for j in jobs)
        assert {first.get(j.id).result["ran"] for j in jobs} == {True}
        long = first.submit("thumbnails", {})
        deadline = time.monotonic() + 10
        while second.get(long.id).state != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        second.cancel(long.id)  # the other worker asks; the one running it stops at its next step
        assert wait_for(first, long.id).state == "cancelled" and wait_for(second, long.id).state == "cancelled"
    finally:
        first.stop()
        second.stop()


def test_a_library_reads_the_manifest_again_when_another_process_changed_it(library):
    library.update_manifest(note="mine")
    other = {**read_manifest(library.data_dir), "note": "theirs", "generation": 0}
    time.sleep(0.01)
    write_manifest(library.data_dir, other)  # as another worker's job would
    library.refresh()
    assert library.manifest["note"] == "theirs"
